/**
 * The entry of a worker thread that trains student runs of a prepared experiment (parallel.ts): it opens the
 * experiment folder read-only once, then runs the jobs the main thread sends, one at a time, reporting progress. An
 * `abort` message stops the running job at its next optimizer step with a checkpoint.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { KqkdError } from '@kqkd/common';
import type { ExperimentConfig } from './config.js';
import { openExperiment, type PreparedExperiment } from './prepare.js';
import { runStudent, type StudentJob } from './student-run.js';
import type { MethodRun } from './types.js';
import type { TrainProgress } from '@kqkd/train';

export interface StudentThreadData {
  out: string;
  config: ExperimentConfig;
  threads?: number;
}

export type ToThread = { kind: 'run'; job: StudentJob } | { kind: 'abort' } | { kind: 'close' };
export type FromThread =
  | { kind: 'ready' }
  | { kind: 'progress'; job: StudentJob; event: TrainProgress }
  | { kind: 'done'; job: StudentJob; run: MethodRun }
  | { kind: 'error'; job?: StudentJob; error: SerializedError };

/** An error across the thread boundary; KqkdErrors keep their class and fields. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  kqkd?: { argument: string; expected: string; received: string; detail?: string };
}

export function serializeError(err: unknown): SerializedError {
  const e = err instanceof Error ? err : new Error(String(err));
  return {
    name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}),
    ...(err instanceof KqkdError ? { kqkd: { argument: err.argument, expected: err.expected, received: err.received, ...(err.detail !== undefined ? { detail: err.detail } : {}) } } : {}),
  };
}

if (parentPort) {
  const port = parentPort;
  const data = workerData as StudentThreadData;
  const post = (m: FromThread) => port.postMessage(m);
  let controller = new AbortController();
  let prep: PreparedExperiment | undefined;
  let queue = Promise.resolve();
  port.on('message', (m: ToThread) => {
    if (m.kind === 'abort') {
      controller.abort(new Error('stopped'));
    } else if (m.kind === 'close') {
      queue = queue.then(() => { prep?.close(); port.close(); });
    } else {
      queue = queue.then(async () => {
        if (controller.signal.aborted) controller = new AbortController();
        try {
          prep ??= await openExperiment({ config: data.config, out: data.out, ...(data.threads !== undefined ? { threads: data.threads } : {}) });
          const run = await runStudent(prep, m.job, {
            ...(data.threads !== undefined ? { threads: data.threads } : {}), signal: controller.signal,
            onProgress: (event) => post({ kind: 'progress', job: m.job, event }),
          });
          post({ kind: 'done', job: m.job, run });
        } catch (err) {
          post({ kind: 'error', job: m.job, error: serializeError(err) });
        }
      });
    }
  });
  post({ kind: 'ready' });
}
