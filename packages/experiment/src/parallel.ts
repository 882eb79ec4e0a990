/**
 * Student runs of a prepared experiment on several worker threads at once (`parallel` > 1). Small students barely
 * use a second intra-op thread (ResNet9/8 on Fashion-MNIST: 2 runs × 1 thread train 1.9× the images of 1 run ×
 * 2 threads on two cores), so running P single-thread runs side by side is the faster way to use the cores. Each run
 * is the same deterministic computation as when run alone with the same thread count, so the results are identical
 * to a sequential run's.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { FolderBusyError, KqkdError, RunFailedError } from '@kqkd/common';
import type { TrainProgress } from '@kqkd/train';
import type { PreparedExperiment } from './prepare.js';
import type { StudentJob } from './student-run.js';
import type { FromThread, SerializedError, StudentThreadData, ToThread } from './student-thread.js';
import type { MethodRun } from './types.js';

/** The compiled worker entry (resolved through the package's exports, so tests running the sources use it too). */
const THREAD_ENTRY = createRequire(import.meta.url).resolve('@kqkd/experiment/student-thread');

export interface ParallelOptions {
  parallel: number;
  threads?: number;
  signal?: AbortSignal;
  onProgress?: (job: StudentJob, index: number, event: TrainProgress) => void;
}

function revive(e: SerializedError): Error {
  if (e.kqkd) {
    const Class = e.name === 'RunFailedError' ? RunFailedError : e.name === 'FolderBusyError' ? FolderBusyError : KqkdError;
    const err = new Class(e.kqkd.argument, e.kqkd.expected, e.kqkd.received, e.kqkd.detail);
    if (e.stack) err.stack = e.stack;
    return err;
  }
  const err = new Error(e.message);
  err.name = e.name;
  if (e.stack) err.stack = e.stack;
  return err;
}

/** Runs `jobs` on `parallel` threads; resolves with every job's run, in the order of `jobs`. */
export async function runStudentsInParallel(prep: PreparedExperiment, jobs: readonly StudentJob[], o: ParallelOptions): Promise<MethodRun[]> {
  const data: StudentThreadData = { out: prep.out, config: prep.config, ...(o.threads !== undefined ? { threads: o.threads } : {}) };
  const runs: (MethodRun | undefined)[] = jobs.map(() => undefined);
  const count = Math.min(o.parallel, jobs.length);
  let next = 0;
  let failure: Error | undefined;
  const workers: Worker[] = [];
  const stopAll = () => { for (const w of workers) w.postMessage({ kind: 'abort' } satisfies ToThread); };
  const onAbort = () => stopAll();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await Promise.all(Array.from({ length: count }, () => new Promise<void>((resolve) => {
      const worker = new Worker(THREAD_ENTRY, { workerData: data });
      workers.push(worker);
      let current = -1;
      const send = (m: ToThread) => worker.postMessage(m);
      const takeNext = () => {
        if (failure || o.signal?.aborted || next >= jobs.length) {
          send({ kind: 'close' });
          return;
        }
        current = next++;
        send({ kind: 'run', job: jobs[current] });
      };
      worker.on('message', (m: FromThread) => {
        if (m.kind === 'ready') takeNext();
        else if (m.kind === 'progress') o.onProgress?.(jobs[current], current, m.event);
        else if (m.kind === 'done') {
          runs[current] = m.run;
          takeNext();
        } else {
          // The first error stops the others at their next step (they keep their checkpoints).
          failure ??= revive(m.error);
          stopAll();
          send({ kind: 'close' });
        }
      });
      worker.on('error', (err) => {
        failure ??= err;
        stopAll();
      });
      worker.on('exit', () => resolve());
    })));
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
  if (o.signal?.aborted) throw o.signal.reason ?? new Error('aborted');
  if (failure) throw failure;
  return runs.map((r, i) => {
    if (!r) throw new KqkdError(`student run ${jobs[i].method} seed ${jobs[i].seed}`, 'a finished or failed run', 'nothing (its thread ended early)');
    return r;
  });
}
