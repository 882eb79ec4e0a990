/**
 * A disk-backed cache of teacher features for the training set (METHOD.md §3, issue 5 point 2).
 *
 * `buildTeacherCache` runs the teacher once through onnxruntime-node (via @kqkd/runtime, one batch in flight) and
 * appends each requested layer's float32 features, row after row, to `dir/<layer-index>.f32`; `dir/manifest.json` is
 * written atomically LAST, so a folder without a manifest is an interrupted build and is rebuilt, and a folder whose
 * manifest matches (model hash, layers, dataset identity, indices, normalisation) is reused without a forward pass.
 *
 * `openTeacherCache` reads only the requested rows with positional `fs.readSync` (contiguous runs coalesced into one
 * read), so memory is bounded by the batch being read whatever the dataset size.
 *
 * Row r of every layer file holds the features of dataset sample `indices[r]` (by default r itself).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { KqkdError, expectInteger, writeAllSync, invalidArgument, invalidArgumentText, writeFileAtomic } from '@kqkd/common';
import { batches as datasetBatches, type Dataset, type Normalization } from '@kqkd/data';
import { encodeModel, exposeOutputs, loadModel, readModelFile } from '@kqkd/onnx';
import { createInferenceSession, runFeatureExtraction, type FloatTensor } from '@kqkd/runtime';

export const TEACHER_CACHE_MANIFEST = 'manifest.json';
export const TEACHER_CACHE_FORMAT = 'kqkd-teacher-cache';
/** 2: every layer file's sha256 in the manifest (caches of version 1 are rebuilt). */
export const TEACHER_CACHE_VERSION = 2;

export interface TeacherCacheLayer {
  /** Tensor name in the teacher graph. */
  name: string;
  /** File name inside the cache folder (`<layer-index>.f32`). */
  file: string;
  /** Per-sample shape (the output's shape without the batch dimension). */
  shape: number[];
  /** Floats per sample (product of `shape`). */
  rowFloats: number;
  /** sha256 of the file as written; checked whenever the cache is opened. */
  sha256: string;
}

export interface TeacherCacheDatasetIdentity {
  name: string;
  split: string;
  count: number;
  height: number;
  width: number;
  channels: number;
  /** sha256 of the label bytes: two datasets with the same name but other contents do not match. */
  labelsSha256: string;
}

export interface TeacherCacheManifest {
  format: typeof TEACHER_CACHE_FORMAT;
  version: number;
  /** sha256 of the teacher model bytes as given (before outputs are exposed). */
  modelSha256: string;
  inputName: string;
  layers: TeacherCacheLayer[];
  /** Rows per layer file (= indices.length). */
  count: number;
  dataset: TeacherCacheDatasetIdentity;
  /** sha256 of the indices as little-endian int32 (row r ↔ dataset sample indices[r]). */
  indicesSha256: string;
  normalization: 'dataset' | 'none' | Normalization;
}

export interface TeacherCacheProgress {
  /** Samples done so far. */
  done: number;
  total: number;
  batch: number;
}

export interface BuildTeacherCacheOptions {
  /** The teacher: a path to an .onnx file or its bytes. */
  model: string | Uint8Array;
  /** Tensor names of the teacher layers to cache (exposed as graph outputs for the forward pass). */
  layers: string[];
  dataset: Dataset;
  /** Which dataset samples, in which row order (default all, in order). */
  indices?: ArrayLike<number>;
  batchSize: number;
  /** Cache folder (created when missing). */
  dir: string;
  /** Input normalisation, as in `batches` of @kqkd/data (default 'dataset'). */
  normalization?: 'dataset' | 'none' | Normalization;
  /** Graph input to feed (default the model's first input). */
  inputName?: string;
  /** Intra-op threads for the session (default: ONNX Runtime's choice). */
  threads?: number;
  /** Called after every batch written. */
  onProgress?: (progress: TeacherCacheProgress) => void;
}

export interface TeacherCache {
  readonly dir: string;
  readonly manifest: TeacherCacheManifest;
  readonly layers: readonly TeacherCacheLayer[];
  /** Rows per layer. */
  readonly count: number;
  /** True when `buildTeacherCache` found a matching finished cache and ran no forward pass. */
  readonly reused: boolean;
  /**
   * Features of cache rows `sampleIndices` of `layer` (name or position in `layers`), row after row, into `out` when
   * given (at least `sampleIndices.length × rowFloats` floats; the returned array is a view of its first part).
   */
  read(layer: string | number, sampleIndices: ArrayLike<number>, out?: Float32Array): Float32Array;
  /** Closes the layer files. */
  close(): void;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function indicesBytes(indices: ArrayLike<number>): Uint8Array {
  const a = Int32Array.from(indices as ArrayLike<number>);
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

const canonical = (value: unknown): string => JSON.stringify(value, (_k, v) => (
  v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v));

/** The parts of a manifest that must match for a cache to be reused (shapes come from the run, so they are left out). */
function manifestKey(m: Pick<TeacherCacheManifest, 'format' | 'version' | 'modelSha256' | 'inputName' | 'count' | 'dataset' | 'indicesSha256' | 'normalization'> & { layerNames: string[] }): string {
  return canonical({
    format: m.format, version: m.version, modelSha256: m.modelSha256, inputName: m.inputName, layerNames: m.layerNames,
    count: m.count, dataset: m.dataset, indicesSha256: m.indicesSha256, normalization: m.normalization,
  });
}

const layerFile = (i: number) => `${i}.f32`;

/** The options of `buildTeacherCache` checked, with their defaults (every index, the dataset's normalisation). */
function checkBuildOptions(options: BuildTeacherCacheOptions) {
  const { model, layers, dataset, dir, onProgress } = options ?? ({} as BuildTeacherCacheOptions);
  if (!(model instanceof Uint8Array) && (typeof model !== 'string' || model.length === 0)) {
    invalidArgument('model', 'a path to an .onnx file or its bytes (Uint8Array)', model);
  }
  if (!Array.isArray(layers) || layers.length === 0 || !layers.every((l) => typeof l === 'string' && l.length > 0)) {
    invalidArgument('layers', 'a non-empty array of tensor names', layers);
  }
  if (new Set(layers).size !== layers.length) invalidArgument('layers', 'distinct tensor names', layers);
  if (!dataset || typeof dataset.readImages !== 'function') invalidArgument('dataset', 'a Dataset from loadDataset or datasetFromImages', dataset);
  const batchSize = expectInteger('batchSize', options.batchSize, 1);
  if (typeof dir !== 'string' || dir.length === 0) invalidArgument('dir', 'a folder path', dir);
  if (onProgress !== undefined && typeof onProgress !== 'function') invalidArgument('onProgress', 'a callback function', onProgress);
  const indices = Array.from(options.indices ?? Array.from({ length: dataset.count }, (_, i) => i));
  indices.forEach((idx, b) => {
    if (!Number.isInteger(idx) || idx < 0 || idx >= dataset.count) {
      invalidArgumentText(`indices[${b}]`, `an integer index in [0, ${dataset.count})`, String(idx));
    }
  });
  const normalization = options.normalization ?? 'dataset';

  return { model, layers, dataset, dir, onProgress, batchSize, indices, normalization };
}

/**
 * One batch of one layer checked: batch-first, the same per-sample shape in every batch (returned), finite values —
 * the cache feeds every student's loss: a NaN here would surface as a "diverged" student, blamed on its LR.
 */
function checkLayerBatch(t: FloatTensor, c: { i: number; name: string; n: number; offset: number; prev: number[] | undefined; indices: readonly number[] }): number[] {
  const { i, name, n, offset, prev, indices } = c;
  const sample = t.shape.slice(1);
  if (t.shape[0] !== n) {
    throw new KqkdError(`layers[${i}]`, `a tensor whose first dimension is the batch (${n})`, `"${name}" of shape [${t.shape.join(', ')}]`);
  }
  if (prev !== undefined && (prev.length !== sample.length || prev.some((d, k) => d !== sample[k]))) {
    throw new KqkdError(`layers[${i}]`, `the same per-sample shape [${prev.join(', ')}] in every batch`,
      `[${sample.join(', ')}] for "${name}" at sample ${offset}`);
  }
  const bad = t.data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) {
    const row = t.data.length / n;
    throw new KqkdError(`teacher tensor "${name}"`, 'finite values (the teacher computes NaN or Infinity on a training image)',
      `${String(t.data[bad])} for training image ${indices[offset + Math.floor(bad / row)]} at flat index ${bad % row}`);
  }
  return prev ?? sample;
}

/**
 * Runs the teacher once over `dataset` (at `indices`) and writes its features to `dir`, or reuses a finished cache
 * there whose manifest matches. An interrupted build (no manifest) or a stale one (manifest for another model, layer
 * list, dataset or index order) is deleted and rebuilt.
 */
export async function buildTeacherCache(options: BuildTeacherCacheOptions): Promise<TeacherCache> {
  const { model, layers, dataset, dir, onProgress, batchSize, indices, normalization } = checkBuildOptions(options);

  // a file's external tensor data is read in (and refused when it lies outside the model's folder)
  const modelBytes = model instanceof Uint8Array ? model : readModelFile(model).bytes;
  const proto = loadModel(modelBytes);
  const graphInputs = (proto.graph?.input ?? []).map((v) => v.name ?? '')
    .filter((n) => !(proto.graph?.initializer ?? []).some((t) => t.name === n));
  const inputName = options.inputName ?? graphInputs[0];
  if (typeof inputName !== 'string' || !graphInputs.includes(inputName)) {
    invalidArgument('inputName', `an input of the model (${graphInputs.map((n) => `"${n}"`).join(', ')})`, inputName);
  }
  const identity: TeacherCacheDatasetIdentity = {
    name: dataset.name, split: dataset.split, count: dataset.count, height: dataset.height, width: dataset.width,
    channels: dataset.channels, labelsSha256: sha256(dataset.labels),
  };
  const base = {
    format: TEACHER_CACHE_FORMAT, version: TEACHER_CACHE_VERSION, modelSha256: sha256(modelBytes), inputName,
    count: indices.length, dataset: identity, indicesSha256: sha256(indicesBytes(indices)), normalization,
  } as const;
  const wantedKey = manifestKey({ ...base, layerNames: layers });

  const manifestPath = join(dir, TEACHER_CACHE_MANIFEST);
  if (existsSync(manifestPath)) {
    let existing: TeacherCacheManifest | undefined;
    try {
      existing = readManifest(dir);
    } catch { existing = undefined; }
    if (existing && manifestKey({ ...existing, layerNames: existing.layers.map((l) => l.name) }) === wantedKey) {
      try {
        return openCache(dir, existing, true);
      } catch { /* a layer file damaged after the build: rebuild below */ }
    }
  }

  // Fresh build: the manifest goes first (an interrupted build must never look finished), then the layer files.
  mkdirSync(dir, { recursive: true });
  rmSync(manifestPath, { force: true });
  const exposed = encodeModel(exposeOutputs(proto, layers));
  const session = await createInferenceSession(exposed, { ...(options.threads !== undefined ? { threads: options.threads } : {}), name: typeof model === 'string' ? model : 'the teacher model' });
  const fds: number[] = [];
  const shapes: (number[] | undefined)[] = layers.map(() => undefined);
  // Each file's sha256 is computed from the bytes as they are written (no second read of gigabytes).
  const hashes = layers.map(() => createHash('sha256'));
  try {
    for (let i = 0; i < layers.length; i++) fds.push(openSync(join(dir, layerFile(i)), 'w'));
    const inputs = (async function* (): AsyncGenerator<FloatTensor> {
      for await (const b of datasetBatches(dataset, { indices, batchSize, normalization })) yield { data: b.data, shape: b.shape };
    })();
    let batchNo = 0;
    await runFeatureExtraction(session, {
      inputName, batches: inputs, outputs: layers,
      onBatch: ({ batchSize: n, offset, outputs }) => {
        layers.forEach((name, i) => {
          const t = outputs[name];
          shapes[i] = checkLayerBatch(t, { i, name, n, offset, prev: shapes[i], indices });
          const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
          hashes[i].update(bytes);
          writeAllSync(fds[i], bytes, join(dir, layerFile(i)), `the teacher cache of "${name}"`);
        });
        batchNo++;
        onProgress?.({ done: offset + n, total: indices.length, batch: batchNo });
      },
    });
    for (const fd of fds) fsyncSync(fd);
  } finally {
    for (const fd of fds) closeSync(fd);
    await session.release();
  }
  const manifest: TeacherCacheManifest = {
    ...base,
    layers: layers.map((name, i) => {
      const shape = shapes[i] ?? [];
      return { name, file: layerFile(i), shape, rowFloats: shape.reduce((p, d) => p * d, 1), sha256: hashes[i].digest('hex') };
    }),
  };
  writeFileAtomic(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return openCache(dir, manifest, false);
}

function readManifest(dir: string): TeacherCacheManifest {
  const path = join(dir, TEACHER_CACHE_MANIFEST);
  if (!existsSync(path)) {
    throw new KqkdError('dir', `a finished teacher cache with ${path}`, `"${dir}"`,
      'the manifest is missing: the build was interrupted or never ran; rebuild it with buildTeacherCache');
  }
  let m: TeacherCacheManifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as TeacherCacheManifest;
  } catch (err) {
    throw new KqkdError(path, 'a teacher-cache manifest in JSON', 'unreadable text', (err as Error).message);
  }
  if (!m || m.format !== TEACHER_CACHE_FORMAT || m.version !== TEACHER_CACHE_VERSION || !Array.isArray(m.layers)
    || !Number.isInteger(m.count) || m.count < 0
    || !m.layers.every((l) => l && typeof l.name === 'string' && typeof l.file === 'string' && Array.isArray(l.shape) && Number.isInteger(l.rowFloats)
      && typeof l.sha256 === 'string')) {
    throw new KqkdError(path, `a ${TEACHER_CACHE_FORMAT} manifest of version ${TEACHER_CACHE_VERSION}`,
      `format ${JSON.stringify(m?.format)} version ${JSON.stringify(m?.version)}`, 'stale or foreign cache: rebuild it with buildTeacherCache');
  }
  return m;
}

/**
 * Opens a finished cache. When `expect` is given (e.g. the model hash or the dataset identity), every listed field
 * must equal the manifest's, or the error names the manifest and the first mismatching field.
 */
export function openTeacherCache(dir: string, expect?: Partial<Pick<TeacherCacheManifest, 'modelSha256' | 'count' | 'dataset' | 'indicesSha256' | 'normalization'>> & { layers?: string[] }): TeacherCache {
  if (typeof dir !== 'string' || dir.length === 0) invalidArgument('dir', 'a teacher-cache folder', dir);
  const manifest = readManifest(dir);
  if (expect) {
    const path = join(dir, TEACHER_CACHE_MANIFEST);
    for (const [key, want] of Object.entries(expect)) {
      if (want === undefined) continue;
      const have = key === 'layers' ? manifest.layers.map((l) => l.name) : (manifest as unknown as Record<string, unknown>)[key];
      if (canonical(have) !== canonical(want)) {
        throw new KqkdError(`${path} ${key}`, canonical(want), canonical(have), 'stale teacher cache: rebuild it with buildTeacherCache');
      }
    }
  }
  return openCache(dir, manifest, false);
}

function openCache(dir: string, manifest: TeacherCacheManifest, reused: boolean): TeacherCache {
  const fds: number[] = [];
  const paths = manifest.layers.map((l) => join(dir, l.file));
  try {
    manifest.layers.forEach((l, i) => {
      const path = paths[i];
      if (!existsSync(path)) {
        throw new KqkdError(path, `layer file of "${l.name}" listed in ${join(dir, TEACHER_CACHE_MANIFEST)}`, 'a missing file',
          'rebuild the cache with buildTeacherCache');
      }
      const expected = manifest.count * l.rowFloats * 4;
      const size = statSync(path).size;
      if (size !== expected) {
        throw new KqkdError(path, `${expected} bytes (${manifest.count} rows × ${l.rowFloats} floats of "${l.name}")`,
          `${size} bytes`, size < expected ? 'truncated teacher cache: rebuild it with buildTeacherCache' : 'teacher cache file of another build: rebuild it');
      }
      fds.push(openSync(path, 'r'));
      const got = fileSha256(fds[fds.length - 1], size);
      if (got !== l.sha256) {
        throw new KqkdError(path, `the bytes of "${l.name}" written by the build (sha256 in ${join(dir, TEACHER_CACHE_MANIFEST)})`,
          `a file with sha256 ${got.slice(0, 16)}…, changed or damaged since`, `delete ${dir} to rebuild the cache`);
      }
    });
  } catch (err) {
    for (const fd of fds) closeSync(fd);
    throw err;
  }
  let closed = false;
  const layerIndex = (layer: string | number): number => {
    if (typeof layer === 'number') {
      if (Number.isInteger(layer) && layer >= 0 && layer < manifest.layers.length) return layer;
    } else {
      const i = manifest.layers.findIndex((l) => l.name === layer);
      if (i >= 0) return i;
    }
    return invalidArgument('layer', `a cached layer (${manifest.layers.map((l) => `"${l.name}"`).join(', ')}) or its position`, layer);
  };
  return {
    dir, manifest, layers: manifest.layers, count: manifest.count, reused,
    read(layer, sampleIndices, out) {
      if (closed) throw new KqkdError('cache', 'an open teacher cache', `one closed at ${dir}`);
      const li = layerIndex(layer);
      const { rowFloats } = manifest.layers[li];
      if (!sampleIndices || typeof sampleIndices.length !== 'number') invalidArgument('sampleIndices', 'an array of cache rows', sampleIndices);
      const n = sampleIndices.length;
      if (out !== undefined && (!(out instanceof Float32Array) || out.length < n * rowFloats)) {
        invalidArgument('out', `a Float32Array of at least ${n * rowFloats}`, out);
      }
      const dst = out ? out.subarray(0, n * rowFloats) : new Float32Array(n * rowFloats);
      const bytes = new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength);
      const rowBytes = rowFloats * 4;
      for (let b = 0; b < n;) {
        const first = sampleIndices[b];
        if (!Number.isInteger(first) || first < 0 || first >= manifest.count) {
          invalidArgumentText(`sampleIndices[${b}]`, `an integer cache row in [0, ${manifest.count})`, String(first));
        }
        let run = 1;
        while (b + run < n && first + run < manifest.count && sampleIndices[b + run] === first + run) run++;
        const want = run * rowBytes;
        let got = 0;
        while (got < want) {
          const r = readSync(fds[li], bytes, b * rowBytes + got, want - got, first * rowBytes + got);
          if (r === 0) {
            throw new KqkdError(paths[li], `${manifest.count * rowBytes} bytes`, `${fstatSync(fds[li]).size} bytes`,
              'truncated teacher cache (changed after it was opened): rebuild it with buildTeacherCache');
          }
          got += r;
        }
        b += run;
      }
      return dst;
    },
    close() {
      if (closed) return;
      closed = true;
      for (const fd of fds) closeSync(fd);
    },
  };
}

/** sha256 of an open file, read in 16 MiB blocks. */
function fileSha256(fd: number, size: number): string {
  const h = createHash('sha256');
  const buf = new Uint8Array(Math.min(size, 16 << 20) || 1);
  for (let pos = 0; pos < size;) {
    const r = readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos);
    if (r === 0) break;
    h.update(buf.subarray(0, r));
    pos += r;
  }
  return h.digest('hex');
}

/** sha256 of model bytes or file, as stored in `manifest.modelSha256` (for `openTeacherCache`'s `expect`). */
export function teacherModelSha256(model: string | Uint8Array): string {
  return sha256(model instanceof Uint8Array ? model : readFileSync(model));
}
