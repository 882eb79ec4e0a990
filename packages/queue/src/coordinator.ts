/**
 * `kqkd experiment --queue URL`: prepares the shared parts once in the experiment folder (teacher, kq.json, teacher
 * cache — exactly as a local run), enqueues one job per student run (method × seed; with a tuning block, first every
 * tuning run, then the final runs at the chosen rates) on Redis, follows them while
 * workers on any machine train them, and writes exactly the files a local run writes. Running the same command again
 * re-attaches to the jobs already queued; finished runs are read back, failed ones queued again (as a local re-run
 * retries them).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, type Job } from 'bullmq';
import { expectInteger, KqkdError, makeDirs } from '@kqkd/common';
import {
  experimentResults, experimentStages, groupByMethod, inExperimentFolder, jobTitle, planStudentRun, readStudentRun, writeExperimentResults, RUNS_DIR,
  type ExperimentProgress, type ExperimentResults, type MethodRun, type PreparedExperiment, type RunExperimentOptions, type StudentJob,
} from '@kqkd/experiment';
import { join } from 'node:path';
import { connectionOptions, parseQueueUrl, redisGoneError, DEFAULT_REDIS_WAIT_SECONDS, type RedisTarget } from './connection.js';
import { probeRedis } from './probe.js';
import { jobId, JOB_FORMAT, JOB_VERSION, QUEUE_NAME, type JobProgress, type StudentJobData } from './jobs.js';

export interface QueuedExperimentOptions extends RunExperimentOptions {
  /** The Redis the runs are queued on: redis://[user:password@]host[:port][/db] or rediss://… */
  queue: string;
  /** Tries of a run before it is marked failed (a run that diverges or gets bad input fails at once). Default 3. */
  attempts?: number;
  /** Wait before the first retry, doubled each time (seconds). Default 30. */
  backoffSeconds?: number;
  /** How long to wait for Redis when it goes away before stopping (seconds). Default 300. */
  redisWaitSeconds?: number;
  /** How often the queue is looked at (ms). Default 2000. */
  pollMs?: number;
}

/** A completed job whose run the coordinator cannot see this many polls in a row: the folder is not shared. */
const UNSEEN_POLLS = 15;
/** How long the first connection may take before the URL is reported unreachable (seconds). */
const CONNECT_SECONDS = 20;

interface Tracked {
  id: string;
  job: StudentJob;
  runHash: string;
  run?: MethodRun;
  unseen: number;
}

/** Runs an experiment with its student runs queued on Redis for `kqkd worker`s; resolves with the results once all ended. */
export async function runQueuedExperiment(o: QueuedExperimentOptions): Promise<ExperimentResults> {
  const target = parseQueueUrl(o.queue, 'queue');
  const attempts = o.attempts === undefined ? 3 : expectInteger('attempts', o.attempts, 1, 100);
  const backoffSeconds = o.backoffSeconds === undefined ? 30 : expectNumberAtLeast('backoffSeconds', o.backoffSeconds, 0);
  const redisWaitSeconds = o.redisWaitSeconds === undefined ? DEFAULT_REDIS_WAIT_SECONDS : expectNumberAtLeast('redisWaitSeconds', o.redisWaitSeconds, 1);
  const pollMs = o.pollMs === undefined ? 2000 : expectInteger('pollMs', o.pollMs, 10);
  const emit = o.onProgress ?? (() => {});
  const t0 = performance.now();
  // Pre-flight: Redis reachable and accepting us within seconds, before the teacher, KQ or the cache are prepared.
  await probeRedis(target, { arg: 'queue', ...(o.signal ? { signal: o.signal } : {}) });
  return inExperimentFolder(o, async (prep) => {
    makeDirs(join(prep.out, RUNS_DIR), 'out');
    const stop = new AbortController();
    const outer = o.signal;
    const onOuter = () => stop.abort(outer!.reason);
    outer?.addEventListener('abort', onOuter, { once: true });
    const queue = new Queue(QUEUE_NAME, {
      connection: connectionOptions(target, { maxWaitSeconds: redisWaitSeconds, onGiveUp: (s) => stop.abort(redisGoneError(target, s)) }),
    });
    // Connection errors are retried by the connection itself (connection.ts); the bounded wait ends in `stop`.
    queue.on('error', () => {});
    try {
      emit({ kind: 'stage', stage: 'queue', detail: `connecting to ${target.display}` });
      await connect(queue, target, stop.signal);
      // The same stages as a local run (run.ts): the tuning runs, the choice, then the final runs.
      const { jobs, runs, tuning } = await experimentStages(prep, async (stageJobs) => {
        const tracked = await enqueue(queue, prep, stageJobs, { attempts, backoffSeconds }, emit);
        await follow(queue, prep, tracked, { pollMs, signal: stop.signal, emit });
        return tracked.map((t) => t.run!);
      }, emit, (n) => `${n} runs on the queue, scored on ${prep.validationCount} validation images`);
      const runsByMethod = groupByMethod(jobs, runs);
      emit({ kind: 'stage', stage: 'report', detail: 'results.json, results.md, pictures' });
      return await writeExperimentResults(prep, experimentResults(prep, runsByMethod, {
        ...(o.preset !== undefined ? { preset: o.preset } : {}), seconds: (performance.now() - t0) / 1000, ...(tuning ? { tuning } : {}),
      }));
    } finally {
      outer?.removeEventListener('abort', onOuter);
      await queue.close().catch(() => {});
    }
  });
}

function expectNumberAtLeast(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw new KqkdError(name, `a number ≥ ${min}`, JSON.stringify(v));
  return v;
}

async function connect(queue: Queue, target: RedisTarget, signal: AbortSignal): Promise<void> {
  const ready = queue.waitUntilReady().then(() => queue.getJobCounts());
  const timeout = sleep(CONNECT_SECONDS * 1000, 'timeout', { signal }).catch(() => 'aborted');
  const first = await Promise.race([ready.then(() => 'ready'), timeout]);
  if (first === 'ready') return;
  if (signal.aborted) throw signal.reason;
  throw new KqkdError('queue', `a Redis reachable at ${target.display}`, `no answer within ${CONNECT_SECONDS} s`,
    'check the host, port, password and that redis-server runs (and, for rediss://, that it speaks TLS)');
}

/** Queues every run of `jobs` not finished yet (or re-attaches to its job); finished runs are read back. */
async function enqueue(queue: Queue, prep: PreparedExperiment, jobs: readonly StudentJob[], o: { attempts: number; backoffSeconds: number },
  emit: (e: ExperimentProgress) => void): Promise<Tracked[]> {
  const tracked: Tracked[] = [];
  const toAdd: { name: string; data: StudentJobData; opts: { jobId: string } & Record<string, unknown> }[] = [];
  let attached = 0;
  let readBack = 0;
  for (const job of jobs) {
    const plan = planStudentRun(prep, job);
    const id = jobId(prep.hash, plan.configHash);
    const t: Tracked = { id, job, runHash: plan.configHash, unseen: 0 };
    tracked.push(t);
    const existing = await queue.getJob(id);
    const done = readStudentRun(prep, job);
    if (done && !done.failed) {
      t.run = done;
      readBack++;
      continue;
    }
    if (existing) {
      const state = await existing.getState();
      if (state === 'failed') {
        // A re-run retries failed runs, as a local re-run does.
        await existing.retry('failed');
        attached++;
        continue;
      }
      if (state !== 'completed') {
        attached++;
        continue;
      }
      // Completed, but its run is not in this folder (deleted, or another folder at this path): run it again.
      await existing.remove();
    }
    toAdd.push({
      name: jobTitle(job),
      data: {
        format: JOB_FORMAT, version: JOB_VERSION, folder: prep.out, experimentHash: prep.hash, method: job.method, seed: job.seed,
        ...(job.lr !== undefined ? { lr: job.lr } : {}), ...(job.tuning ? { tuning: true } : {}), runHash: plan.configHash,
      },
      opts: {
        jobId: id, attempts: o.attempts, backoff: { type: 'exponential', delay: o.backoffSeconds * 1000 },
        // Kept a while so a coordinator started again re-attaches to finished jobs, then dropped.
        removeOnComplete: { age: 30 * 24 * 3600 }, removeOnFail: { age: 30 * 24 * 3600 },
      },
    });
  }
  if (toAdd.length > 0) await queue.addBulk(toAdd);
  emit({ kind: 'stage', stage: 'queue', detail: `${tracked.length} runs: ${toAdd.length} queued, ${attached} already queued, ${readBack} finished earlier` });
  return tracked;
}

/** Follows the jobs until every run has ended, reading each run back from the folder as its job completes. */
async function follow(queue: Queue, prep: PreparedExperiment, tracked: Tracked[], o: { pollMs: number; signal: AbortSignal; emit: (e: ExperimentProgress) => void }): Promise<void> {
  let last = '';
  for (;;) {
    if (o.signal.aborted) throw o.signal.reason;
    const counts = { waiting: 0, active: 0, done: 0, failed: 0 };
    const running: { who: string; worker: string; epoch: number; epochs: number }[] = [];
    for (const t of tracked) {
      if (t.run) {
        counts[t.run.failed ? 'failed' : 'done']++;
        continue;
      }
      const job = await queue.getJob(t.id);
      const state = job ? await job.getState() : 'unknown';
      if (!job || state === 'unknown') {
        throw new KqkdError(`queue job ${t.id}`, 'a job of this experiment', 'nothing (it was removed from Redis)', 'run the same command again to queue it anew');
      }
      if (state === 'completed') {
        t.run = readStudentRun(prep, t.job);
        if (!t.run && ++t.unseen >= UNSEEN_POLLS) throw unseenRun(prep, t, job);
      } else if (state === 'failed') {
        t.run = readStudentRun(prep, t.job) ?? {
          seed: t.job.seed, ...(t.job.tuning ? { lr: t.job.lr } : {}), runDir: join(RUNS_DIR, t.runHash), configHash: t.runHash, failed: job.failedReason || 'failed', history: [],
        };
        if (!t.run.failed) t.run = { ...t.run, failed: job.failedReason || 'failed' };
      } else if (state === 'active') {
        counts.active++;
        const p = job.progress as Partial<JobProgress> | undefined;
        running.push({ who: job.name, worker: p?.worker ?? '?', epoch: p?.epoch ?? 0, epochs: p?.epochs ?? prep.config.training.epochs });
        continue;
      } else {
        counts.waiting++;
        continue;
      }
      if (t.run) counts[t.run.failed ? 'failed' : 'done']++;
      else counts.active++;
    }
    const now = JSON.stringify([counts, running]);
    if (now !== last) {
      o.emit({ kind: 'queue', total: tracked.length, ...counts, running });
      last = now;
    }
    if (tracked.every((t) => t.run)) return;
    await sleep(o.pollMs, undefined, { signal: o.signal }).catch(() => {});
  }
}

function unseenRun(prep: PreparedExperiment, t: Tracked, job: Job): KqkdError {
  const worker = (job.progress as Partial<JobProgress> | undefined)?.worker ?? 'a worker';
  return new KqkdError(`experiment folder "${prep.out}"`, `the finished run ${join(RUNS_DIR, t.runHash)} (job ${t.id} completed on ${worker})`,
    'no finished run there', 'every machine must mount the same experiment folder at the same path (docs/distributed.md)');
}
