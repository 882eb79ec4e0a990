/**
 * The run checkpoint: ONE file, `<runDir>/checkpoint/checkpoint.ortckpt`, written atomically (temp + fsync + rename)
 * at the end of every epoch. It is an ONNX Runtime training checkpoint (so ORT loads it directly): trainable
 * parameters, frozen tensors (BatchNorm running statistics), the optimizer group (both AdamW moments or the SGD
 * momentum, and the step), plus a property bag entry `kqkd.run` holding the rest of the run state as JSON: completed
 * epochs, the shuffling RNG state, the config hash and the metrics history. Keeping everything in one file means a
 * `kill -9` at any moment leaves either the previous complete state or the new one, never a mix.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KqkdError, writeFileAtomic } from '@kqkd/common';
import { readCheckpoint, writeCheckpoint, type CheckpointTensor, type ParameterOptimizerState } from '@kqkd/autodiff';
import type { TrainConfig } from './config.js';

/** A training config as a run records it: with a training objective's settings under its key (e.g. `distill`). */
export type RecordedConfig = TrainConfig & { readonly [objectiveKey: string]: unknown };

export const CHECKPOINT_DIR = 'checkpoint';
export const CHECKPOINT_FILE = 'checkpoint.ortckpt';
/**
 * The checkpoint's sha256, checked on resume. It lists the new hash AND the previous one and is written before the
 * checkpoint, so a crash between the two writes leaves a checkpoint whose hash is still listed, while bytes changed
 * afterwards (a damaged disk, an edit) match neither.
 */
export const CHECKPOINT_MANIFEST = 'manifest.json';
const RUN_PROPERTY = 'kqkd.run';
/**
 * The second, independent record: a sha256 of everything the checkpoint holds (the run JSON, every tensor's name,
 * dims and bytes, the optimizer step), stored inside the file. A checkpoint verifies against its manifest AND its own
 * digest, so deleting the manifest does not turn the check off.
 */
const DIGEST_PROPERTY = 'kqkd.digest';
const RUN_FORMAT = 1;

/** One epoch's record (one line of metrics.jsonl). `testTop1` is in percent. */
export interface EpochMetrics {
  epoch: number;
  /** Mean training loss over the epoch's (micro-)batches, each loss a mean over its batchSize images. */
  trainLoss: number;
  testLoss: number;
  /** Test top-1 accuracy in percent (0–100). */
  testTop1: number;
  testCorrect: number;
  testCount: number;
  /** Learning rate of the epoch's last update. */
  lr: number;
  /** Optimizer steps taken so far (whole run). */
  step: number;
  /** Wall seconds of this epoch (training + evaluation); not reproducible, unlike every other field. */
  seconds: number;
  /** Training images per second in this epoch. */
  imagesPerSecond: number;
}

/** Everything needed to continue a run exactly. */
export interface RunState {
  configHash: string;
  /** Completed epochs. */
  epoch: number;
  /**
   * Progress inside epoch `epoch + 1` when a run was stopped between optimizer steps (an AbortSignal, SIGTERM): the
   * micro-batches done, their summed loss and the seconds spent. `rngState` then still holds the state before that
   * epoch's shuffle, so a resumed run redraws the same order and skips the batches done.
   */
  partialEpoch?: { batches: number; lossSum: number; seconds: number };
  /** The mean loss of the run's first batches, the reference divergence is judged by (absent until known). */
  lossReference?: number;
  /** Optimizer updates taken. */
  step: number;
  /** State of the shuffling generator after the last completed epoch. */
  rngState: number[];
  /** Wall seconds spent so far (all sessions). */
  seconds: number;
  history: EpochMetrics[];
  /** The run's config as recorded: the training config plus a training objective's settings under its key. */
  config: RecordedConfig;
  trainable: CheckpointTensor[];
  frozen: CheckpointTensor[];
  moments: ParameterOptimizerState[];
}

export function checkpointPath(runDir: string): string {
  return join(runDir, CHECKPOINT_DIR, CHECKPOINT_FILE);
}

/** sha256 of the run JSON, the optimizer step and every tensor (name, dims, bytes), in checkpoint order. */
function contentDigest(runJson: string, step: number, trainable: readonly CheckpointTensor[], frozen: readonly CheckpointTensor[],
  moments: readonly ParameterOptimizerState[]): string {
  const h = createHash('sha256').update(runJson).update(`\nstep ${step}\n`);
  const add = (t: CheckpointTensor) => {
    h.update(`${t.name} ${t.dims.join('x')}\n`);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  };
  for (const t of trainable) add(t);
  for (const t of frozen) add(t);
  for (const m of moments) {
    h.update(`moments of ${m.paramName}\n`);
    for (const t of m.momentums) add(t);
  }
  return h.digest('hex');
}

export function encodeRunState(s: RunState): Uint8Array {
  const run = JSON.stringify({
    format: RUN_FORMAT, configHash: s.configHash, epoch: s.epoch, step: s.step, rngState: s.rngState,
    ...(s.partialEpoch ? { partialEpoch: s.partialEpoch } : {}),
    ...(s.lossReference !== undefined ? { lossReference: s.lossReference } : {}),
    seconds: s.seconds, history: s.history, config: s.config,
  });
  return writeCheckpoint({
    trainable: s.trainable,
    frozen: s.frozen,
    optimizer: { step: s.step, initialLearningRate: s.config.optimizer.lr, states: s.moments },
    properties: {
      strings: [{ name: RUN_PROPERTY, value: run }, { name: DIGEST_PROPERTY, value: contentDigest(run, s.step, s.trainable, s.frozen, s.moments) }],
      ints: [{ name: 'kqkd.epoch', value: s.epoch }],
    },
  });
}

/** A decoded run state and whether the checkpoint carried its own digest (it matched: a mismatch throws). */
export function decodeRunState(bytes: Uint8Array, source: string): RunState & { digested: boolean } {
  const ck = readCheckpoint(bytes, source);
  const prop = ck.properties?.strings.find((p) => p.name === RUN_PROPERTY);
  if (!prop) throw new KqkdError(source, `a kqkd run checkpoint (property "${RUN_PROPERTY}")`, 'an ORT checkpoint without it');
  const digest = ck.properties?.strings.find((p) => p.name === DIGEST_PROPERTY)?.value;
  if (digest !== undefined && ck.optimizer
    && digest !== contentDigest(prop.value, ck.optimizer.step, ck.trainable, ck.frozen, ck.optimizer.states)) {
    throw new KqkdError(`checkpoint "${source}"`, 'the content kqkd wrote (its digest is recorded inside the checkpoint)',
      'tensors or run state that no longer match it, changed or damaged since', 'restore it, or delete its checkpoint folder to restart the run from its first epoch');
  }
  let run: Record<string, unknown>;
  try {
    run = JSON.parse(prop.value);
  } catch (err) {
    throw new KqkdError(`${source} property "${RUN_PROPERTY}"`, 'JSON', 'text that does not parse', (err as Error).message);
  }
  if (run.format !== RUN_FORMAT) throw new KqkdError(`${source} run format`, String(RUN_FORMAT), String(run.format));
  if (!ck.optimizer) throw new KqkdError(source, 'an optimizer group (moments and step)', 'none');
  if (ck.optimizer.step !== run.step) {
    throw new KqkdError(`${source} optimizer step`, `the run's step ${String(run.step)}`, String(ck.optimizer.step));
  }
  return {
    configHash: run.configHash as string,
    epoch: run.epoch as number,
    ...(run.partialEpoch ? { partialEpoch: run.partialEpoch as RunState['partialEpoch'] } : {}),
    ...(typeof run.lossReference === 'number' ? { lossReference: run.lossReference } : {}),
    step: run.step as number,
    rngState: run.rngState as number[],
    seconds: run.seconds as number,
    history: run.history as EpochMetrics[],
    config: run.config as RecordedConfig,
    trainable: [...ck.trainable],
    frozen: [...ck.frozen],
    moments: [...ck.optimizer.states],
    digested: digest !== undefined,
  };
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function readManifest(runDir: string): string[] | undefined {
  const p = join(runDir, CHECKPOINT_DIR, CHECKPOINT_MANIFEST);
  if (!existsSync(p)) return undefined;
  try {
    const m = JSON.parse(readFileSync(p, 'utf8')) as { sha256?: unknown };
    return Array.isArray(m.sha256) ? m.sha256.filter((h): h is string => typeof h === 'string') : [];
  } catch {
    return [];
  }
}

export function saveRunState(runDir: string, s: RunState): void {
  const bytes = encodeRunState(s);
  const previous = readManifest(runDir)?.[0];
  writeFileAtomic(join(runDir, CHECKPOINT_DIR, CHECKPOINT_MANIFEST), `${JSON.stringify({
    format: 'kqkd-checkpoint-manifest', file: CHECKPOINT_FILE, sha256: [sha256(bytes), ...(previous ? [previous] : [])],
  }, null, 2)}\n`);
  writeFileAtomic(checkpointPath(runDir), bytes);
}

/**
 * The last complete state in `runDir`, or undefined for a fresh run. The checkpoint is checked against both of its
 * records: its bytes against the manifest's sha256, its content against the digest inside it. One record may be
 * missing (a crash between writes cannot cause that, a deleted manifest can); a checkpoint with neither — written
 * before digests existed, and its manifest gone — is resumed only when `trust` says so (`--force`).
 */
export function loadRunState(runDir: string, o: { trust?: boolean } = {}): RunState | undefined {
  const path = checkpointPath(runDir);
  if (!existsSync(path)) return undefined;
  const bytes = new Uint8Array(readFileSync(path));
  const listed = readManifest(runDir);
  const restart = `delete ${join(runDir, CHECKPOINT_DIR)} to restart the run from its first epoch`;
  if (listed !== undefined && !listed.includes(sha256(bytes))) {
    throw new KqkdError(`checkpoint "${path}"`, 'the bytes kqkd wrote (its sha256 is recorded in checkpoint/manifest.json)',
      `a file with sha256 ${sha256(bytes).slice(0, 16)}…, changed or damaged since`, `restore it, or ${restart}`);
  }
  const { digested, ...state } = decodeRunState(bytes, path);
  if (!digested && listed === undefined && !o.trust) {
    throw new KqkdError(`checkpoint "${path}"`, 'a checkpoint kqkd can verify (a digest inside it, or its sha256 in checkpoint/manifest.json)',
      'one with neither (its manifest is gone)', `pass --force (force: true) to trust it as it is, or ${restart}`);
  }
  return state;
}
