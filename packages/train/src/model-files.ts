/**
 * The inference models a run writes: `model.onnx` at the end, `model-best.onnx` (validation runs) and
 * `model-epoch-<N>.onnx` after each epoch listed in `saveEpochs` — the same export with the same image metadata.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@kqkd/common';
import type { Dataset, Normalization } from '@kqkd/data';
import { decodeModel, encodeModel, withImageMetadata } from '@kqkd/onnx';
import type { TrainBackend } from './backends/types.js';

/** The file keeping the model of epoch `epoch` (`saveEpochs`): `model-epoch-<epoch>.onnx`. */
export function epochModelFile(epoch: number): string {
  return `model-epoch-${epoch}.onnx`;
}

/**
 * The inference model with what a user of the file needs to run it on images (ONNX metadata `kqkd.class_names`,
 * `kqkd.normalization`, `kqkd.input`: `kqkd predict` and `kqkd eval` read them). A dataset the metadata cannot describe
 * (not 1 or 3 channels, repeated class names) exports the model as it is.
 */
export async function exportModel(backend: TrainBackend, data: { trainSet: Dataset; norm: Normalization }): Promise<Uint8Array> {
  const bytes = await backend.exportInference();
  const { trainSet: t, norm } = data;
  const names = [...t.classNames];
  if ((t.channels !== 1 && t.channels !== 3) || new Set(names).size !== names.length || names.some((n) => n.length === 0)) return bytes;
  return encodeModel(withImageMetadata(decodeModel(bytes, 'the exported model'), {
    classNames: names, normalization: { mean: [...norm.mean], std: [...norm.std] }, imageSize: [t.height, t.width], channels: t.channels,
    resize: 'shorter-side-center-crop',
  }));
}

/**
 * After epoch `epoch` (before its checkpoint, so a kill between the two redoes the epoch and writes the file again):
 * `model-epoch-<epoch>.onnx` when `saveEpochs` lists the epoch. A resumed run keeps a file already there (written by
 * the call that was killed before this epoch's checkpoint: the same bytes, resume being exact); a new run writes over
 * one (left by whatever the folder held before, e.g. with `force`).
 */
export async function saveEpochModel(o: {
  saveEpochs: readonly number[] | undefined; epoch: number; runDir: string; resumed: boolean; backend: TrainBackend; trainSet: Dataset; norm: Normalization;
}): Promise<void> {
  if (!o.saveEpochs?.includes(o.epoch)) return;
  const path = join(o.runDir, epochModelFile(o.epoch));
  if (o.resumed && existsSync(path)) return;
  writeFileAtomic(path, await exportModel(o.backend, o));
}

/**
 * The epochs `saveEpochs` lists that a run resumed after `completed` epochs can no longer keep (its checkpoint holds
 * only the latest epoch) and whose file is missing: said as a notice, not an error (the list does not change the run).
 */
export function missedEpochModels(saveEpochs: readonly number[] | undefined, completed: number, runDir: string): string | undefined {
  const missed = (saveEpochs ?? []).filter((e) => e <= completed && !existsSync(join(runDir, epochModelFile(e))));
  if (missed.length === 0) return undefined;
  return `${missed.map(epochModelFile).join(', ')} cannot be written: the run resumes after epoch ${completed} and its checkpoint ` +
    'holds only that epoch (a run in a new folder with these saveEpochs from its start keeps them)';
}
