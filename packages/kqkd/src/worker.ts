/**
 * `startWorker`: a `kqkd worker` that trains queued student runs (@kqkd/queue). BullMQ and ioredis load on the call,
 * so importing the API does not pay for them.
 */
import type { WorkerOptions, WorkerSummary } from '@kqkd/queue';

export async function startWorker(o: WorkerOptions): Promise<WorkerSummary> {
  const { startWorker: start } = await import('@kqkd/queue');
  return start(o);
}
