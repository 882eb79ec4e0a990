/**
 * What an image classifier needs to be used on its own (`kqkd predict`, `kqkd eval`): its class names, its input
 * normalisation and its input geometry, in ONNX `metadata_props` (keys `kqkd.class_names`, `kqkd.normalization`,
 * `kqkd.input`, JSON values), as `withGeneralizedLayers` stores `kqkd.generalized_layers`.
 */
import { KqkdError, invalidArgument } from '@kqkd/common';
import { graphInputs, graphOutputs } from './io.js';
import type { ModelProto } from './proto.js';

export const CLASS_NAMES_METADATA_KEY = 'kqkd.class_names';
export const NORMALIZATION_METADATA_KEY = 'kqkd.normalization';
export const INPUT_METADATA_KEY = 'kqkd.input';
export const IMAGE_METADATA_KEYS = [CLASS_NAMES_METADATA_KEY, NORMALIZATION_METADATA_KEY, INPUT_METADATA_KEY] as const;
/** The resize rules a model may declare (the one @kqkd/data `preprocessImage` applies). */
export const IMAGE_RESIZE_RULES = ['shorter-side-center-crop'] as const;

export interface ImageMetadata {
  /** One name per output class, in logit order. */
  classNames: string[];
  /** Per-channel mean and std of pixel/255: the model's input is (pixel/255 − mean) / std. */
  normalization: { mean: number[]; std: number[] };
  /** [height, width] of the input images. */
  imageSize: [number, number];
  /** 1 (greyscale) or 3 (RGB). */
  channels: 1 | 3;
  resize: (typeof IMAGE_RESIZE_RULES)[number];
}

/** What `withImageMetadata` takes (checked: channels 1 or 3, the one resize rule, a mean and std per channel). */
export interface ImageMetadataInput {
  classNames: readonly string[];
  normalization: { mean: readonly number[]; std: readonly number[] };
  imageSize: readonly number[];
  channels: number;
  resize: string;
}

/** The checked metadata, or a KqkdError naming `where` and the field. */
function check(m: unknown, where: string): ImageMetadata {
  const o = m as Partial<ImageMetadata> | null;
  if (!o || typeof o !== 'object') invalidArgument(where, 'an object { classNames, normalization, imageSize, channels, resize }', o);
  const { classNames, normalization, imageSize, channels, resize } = o as ImageMetadata;
  if (!Array.isArray(classNames) || classNames.length === 0 || !classNames.every((c) => typeof c === 'string' && c.length > 0)) {
    invalidArgument(`${where}.classNames`, 'a non-empty array of non-empty class names', classNames);
  }
  const dup = classNames.find((c, i) => classNames.indexOf(c) !== i);
  if (dup !== undefined) throw new KqkdError(`${where}.classNames`, 'distinct class names', `"${dup}" twice`);
  if (channels !== 1 && channels !== 3) invalidArgument(`${where}.channels`, '1 or 3', channels);
  if (!Array.isArray(imageSize) || imageSize.length !== 2 || !imageSize.every((s) => Number.isInteger(s) && s >= 1)) {
    invalidArgument(`${where}.imageSize`, '[height, width], integers ≥ 1', imageSize);
  }
  const n = normalization;
  if (!n || !Array.isArray(n.mean) || n.mean.length !== channels || !n.mean.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    invalidArgument(`${where}.normalization.mean`, `${channels} finite numbers (one per channel)`, n?.mean);
  }
  if (!Array.isArray(n.std) || n.std.length !== channels || !n.std.every((v) => typeof v === 'number' && Number.isFinite(v) && v > 0)) {
    invalidArgument(`${where}.normalization.std`, `${channels} finite numbers > 0 (one per channel)`, n?.std);
  }
  if (!(IMAGE_RESIZE_RULES as readonly unknown[]).includes(resize)) invalidArgument(`${where}.resize`, `one of ${IMAGE_RESIZE_RULES.map((r) => `"${r}"`).join(', ')}`, resize);
  return {
    classNames: [...classNames], normalization: { mean: [...n.mean], std: [...n.std] }, imageSize: [imageSize[0], imageSize[1]], channels, resize: resize!,
  };
}

/**
 * `model` with its image metadata in `metadata_props` (replacing earlier kqkd image keys): `kqkd.class_names` (JSON
 * array), `kqkd.normalization` (JSON {mean, std}), `kqkd.input` (JSON {channels, height, width, resize}). Checked
 * against the graph where its shapes are static: the first input [N, channels, height, width], the first output
 * [N, classNames.length]. Returns a shallow copy; `model` is not modified.
 */
export function withImageMetadata(model: ModelProto, metadata: ImageMetadataInput): ModelProto {
  if (!model?.graph) invalidArgument('model', 'an ONNX ModelProto with a graph', model);
  const m = check(metadata, 'metadata');
  const input = graphInputs(model)[0];
  const shape = input?.shape;
  if (shape && shape.length === 4) {
    const want = [m.channels, m.imageSize[0], m.imageSize[1]];
    shape.slice(1).forEach((d, i) => {
      if (typeof d === 'number' && d !== want[i]) {
        throw new KqkdError('metadata', `the model's input geometry [N, ${shape.slice(1).join(', ')}] (input "${input.name}")`,
          `channels ${m.channels}, imageSize [${m.imageSize.join(', ')}]`);
      }
    });
  }
  const out = graphOutputs(model)[0];
  const classes = out?.shape && out.shape.length === 2 ? out.shape[1] : undefined;
  if (typeof classes === 'number' && classes !== m.classNames.length) {
    throw new KqkdError('metadata.classNames', `${classes} names (the model's output "${out.name}" has ${classes} classes)`, `${m.classNames.length}`);
  }
  const others = (model.metadataProps ?? []).filter((p) => !(IMAGE_METADATA_KEYS as readonly string[]).includes(p.key ?? ''));
  return {
    ...model,
    metadataProps: [
      ...others,
      { key: CLASS_NAMES_METADATA_KEY, value: JSON.stringify(m.classNames) },
      { key: NORMALIZATION_METADATA_KEY, value: JSON.stringify(m.normalization) },
      { key: INPUT_METADATA_KEY, value: JSON.stringify({ channels: m.channels, height: m.imageSize[0], width: m.imageSize[1], resize: m.resize }) },
    ],
  };
}

/**
 * The model's kqkd image metadata, or null when it has none of the keys. A model with some keys but not all, or with
 * a value that is not valid JSON of the expected form, is refused with a KqkdError naming the key (`where`: how to
 * name the model in it).
 */
export function readImageMetadata(model: ModelProto, where = 'model'): ImageMetadata | null {
  const props = model?.metadataProps ?? [];
  const get = (key: string) => props.find((p) => p.key === key)?.value;
  const values = IMAGE_METADATA_KEYS.map(get);
  if (values.every((v) => v === undefined || v === null)) return null;
  const missing = IMAGE_METADATA_KEYS.filter((_, i) => values[i] === undefined || values[i] === null);
  if (missing.length > 0) {
    throw new KqkdError(`${where} metadata`, `all of ${IMAGE_METADATA_KEYS.join(', ')} (kqkd image metadata)`, `no ${missing.join(', ')}`);
  }
  const parsed = IMAGE_METADATA_KEYS.map((key, i) => {
    try {
      return JSON.parse(values[i]!) as unknown;
    } catch {
      throw new KqkdError(`${where} metadata ${key}`, 'JSON', `"${values[i]!.slice(0, 60)}"`);
    }
  });
  const input = parsed[2] as { channels?: unknown; height?: unknown; width?: unknown; resize?: unknown } | null;
  if (!input || typeof input !== 'object') invalidArgument(`${where} metadata ${INPUT_METADATA_KEY}`, 'JSON {channels, height, width, resize}', input);
  return check({
    classNames: parsed[0], normalization: parsed[1], imageSize: [input.height, input.width], channels: input.channels, resize: input.resize,
  }, `${where} metadata`);
}
