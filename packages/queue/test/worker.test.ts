/**
 * startWorker against a real Redis, on jobs it must not run: a job of another format or of an experiment the folder no
 * longer holds is failed for good with the reason (the worker goes on); a job whose folder this machine does not have
 * goes back to the queue for other workers and this worker stops naming the folder; a stop request ends an idle worker.
 * (Training jobs, killed and stopped workers: test/distributed.test.ts.)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type WorkerEvent } from '../src/worker.js';
import { JOB_FORMAT, JOB_VERSION, QUEUE_NAME } from '../src/jobs.js';
import { startRedis } from '../../../test/support/redis-server.js';

let redis: Awaited<ReturnType<typeof startRedis>>;
let queue: Queue;
const dir = mkdtempSync(join(tmpdir(), 'kqkd-queue-worker-'));
beforeAll(async () => {
  redis = await startRedis();
  queue = new Queue(QUEUE_NAME, { connection: { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null } });
}, 60_000);
afterAll(async () => {
  await queue?.close();
  redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const job = (over: Record<string, unknown>) => ({ format: JOB_FORMAT, version: JOB_VERSION, folder: dir, experimentHash: 'e1', method: 'ce', seed: 0, runHash: 'r1', ...over });

async function waitForState(id: string, states: string[]): Promise<string> {
  for (let i = 0; i < 600; i++) {
    const s = await (await queue.getJob(id))?.getState();
    if (s && states.includes(s)) return s;
    await sleep(50);
  }
  throw new Error(`job ${id} never reached ${states.join('/')}`);
}

describe('startWorker', () => {
  it('fails, for good and with the reason, a job of another format and a job of an experiment the folder no longer holds', async () => {
    writeFileSync(join(dir, 'experiment.json'), JSON.stringify({ hash: 'e2', config: {} }));
    const stop = new AbortController();
    const events: WorkerEvent[] = [];
    const running = startWorker({ queue: redis.url, signal: stop.signal, name: 'w1', onEvent: (e) => events.push(e) });
    await queue.add('old', job({ version: 99 }), { jobId: 'bad-format', attempts: 3 });
    await queue.add('moved', job({}), { jobId: 'other-experiment', attempts: 3 });
    expect(await waitForState('bad-format', ['failed'])).toBe('failed');
    expect(await waitForState('other-experiment', ['failed'])).toBe('failed');
    const a = (await queue.getJob('bad-format'))!;
    const b = (await queue.getJob('other-experiment'))!;
    expect(a.failedReason).toMatch(/a job of format "kqkd-student-run" version 99; this kqkd worker runs kqkd-student-run version 2/);
    expect(b.failedReason).toMatch(new RegExp(`the job is for experiment e1, but ${dir} now holds experiment e2`));
    expect([a.attemptsMade, b.attemptsMade]).toEqual([1, 1]); // not retried
    stop.abort();
    expect(await running).toEqual({ worker: 'w1', finished: 0, failed: 0, handedBack: 0 });
    expect(events[0]).toEqual({ kind: 'ready', worker: 'w1', queue: redis.url, concurrency: 1 });
  }, 120_000);

  it('hands back a job whose folder this machine does not have, and stops naming the folder', async () => {
    const missing = join(dir, 'not-mounted');
    await queue.add('elsewhere', job({ folder: missing }), { jobId: 'not-here', attempts: 3 });
    const err = await startWorker({ queue: redis.url, name: 'w2' }).then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(new RegExp(`no experiment at ${missing} on this machine .*: every machine must mount the experiment folder at the same path`));
    const j = (await queue.getJob('not-here'))!;
    expect(await j.getState()).toBe('waiting');
    expect(j.attemptsMade).toBe(0);
    await j.remove();
  }, 120_000);

  it('refuses bad options naming them, before connecting', async () => {
    await expect(startWorker({ queue: 'http://x' })).rejects.toThrow(/for queue but received the scheme "http:"/);
    await expect(startWorker({ queue: redis.url, concurrency: 0 })).rejects.toThrow(/integer between 1 and 64 for concurrency but received 0/);
    await expect(startWorker({ queue: redis.url, lockSeconds: 0.5 })).rejects.toThrow(/lockSeconds/);
  });
});
