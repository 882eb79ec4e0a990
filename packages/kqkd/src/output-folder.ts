/** The output folder of `score` and `evaluate` (private to the API): checked, locked and claimed before any work. */
import { resolve } from 'node:path';
import { KqkdError, ownFolder, RunFailedError } from '@kqkd/common';

/**
 * Runs `work` with `out` checked, locked and claimed for `kind`; a refusal (a KqkdError that is not a run failure)
 * leaves the folder as it was. Without `out`, just runs `work`.
 */
export async function inOutputFolder<T>(out: string | undefined, kind: string, ownFiles: readonly string[], force: boolean | undefined,
  work: () => Promise<T>): Promise<T> {
  if (out === undefined) return work();
  const folder = ownFolder(resolve(out), 'out', { kind, configHash: kind, ownFiles, ...(force ? { force } : {}) });
  try {
    const result = await work();
    folder.release();
    return result;
  } catch (err) {
    if (err instanceof KqkdError && !(err instanceof RunFailedError) && !folder.resumed) folder.rollback();
    else folder.release();
    throw err;
  }
}

/** Throws the signal's reason when it has aborted (checked between units of work). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new Error('aborted');
}
