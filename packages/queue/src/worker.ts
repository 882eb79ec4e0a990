/**
 * `kqkd worker`: takes student runs off the queue and trains them in the experiment folder they name (a folder every
 * machine mounts at the same path), checkpointing every epoch like any run.
 *
 * - Stopped (SIGTERM/SIGINT, or the API's AbortSignal): the runs stop at the next step with a checkpoint and their
 *   jobs go back to the queue, where any worker resumes them.
 * - Killed (`kill -9`, power loss): its job's lock expires and BullMQ's stalled check gives the job to another worker,
 *   which resumes the run from its last checkpoint (the run lock of a job holder on another host is taken over).
 * - A run that diverges or gets bad input fails its job for good (no retries); other errors are retried with backoff.
 * - A job this worker cannot run on this machine (folder not mounted, another kqkd version) is handed back and the
 *   worker stops with the reason; a job it does not understand is failed with the reason.
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { expectInteger, FolderBusyError, KqkdError } from '@kqkd/common';
import {
  experimentHash, jobTitle, openExperiment, parseExperimentConfig, planStudentRun, runStudent, EXPERIMENT_JSON, type PreparedExperiment,
} from '@kqkd/experiment';
import { connectionOptions, parseQueueUrl, redisGoneError, DEFAULT_REDIS_WAIT_SECONDS } from './connection.js';
import { probeRedis } from './probe.js';
import { parseJobData, QUEUE_NAME, type JobProgress, type StudentJobData } from './jobs.js';

export interface WorkerOptions {
  /** The Redis the runs are queued on (the coordinator's --queue). */
  queue: string;
  /** Runs at once in this process. Default 1. */
  concurrency?: number;
  /** ONNX Runtime intra-op threads of each run. */
  threads?: number;
  /** Stops the worker: its runs checkpoint and their jobs go back to the queue. */
  signal?: AbortSignal;
  /** How long a job stays this worker's without a sign of life before another worker may take it over (seconds). Default 60. */
  lockSeconds?: number;
  /** How often workers look for jobs whose worker died (seconds). Default 30. */
  stalledCheckSeconds?: number;
  /** How long to wait for Redis when it goes away before stopping (seconds). Default 300. */
  redisWaitSeconds?: number;
  /** The worker's name in progress and logs. Default `<host>:<pid>`. */
  name?: string;
  onEvent?: (e: WorkerEvent) => void;
}

export type WorkerEvent =
  | { kind: 'ready'; worker: string; queue: string; concurrency: number }
  | { kind: 'job'; id: string; run: string; folder: string; what: 'started' | 'resumed' | 'epoch' | 'finished' | 'failed' | 'handed back' | 'retry'; detail?: string }
  | { kind: 'stopping'; reason: string };

export interface WorkerSummary {
  worker: string;
  finished: number;
  failed: number;
  handedBack: number;
}

/** A machine-level problem: the job is fine, this worker cannot run it here. */
class CannotRunHere extends Error {}

/**
 * Runs a worker until `signal` aborts (resolves with what it did) or it cannot go on (rejects: Redis gone for longer
 * than `redisWaitSeconds`, or a job it cannot run on this machine).
 */
export async function startWorker(o: WorkerOptions): Promise<WorkerSummary> {
  const s = workerSettings(o);
  const emit = o.onEvent ?? (() => {});
  const summary: WorkerSummary = { worker: s.name, finished: 0, failed: 0, handedBack: 0 };
  if (o.signal?.aborted) return summary;
  if (!(await redisAnswers(s.target, o.signal))) return summary;

  // Aborted to stop: by the caller's signal, by Redis gone for too long, or by a job that cannot run here.
  const stop = new WorkerStop();
  const experiments = new ExperimentCache(s.threads);
  const worker = new Worker(QUEUE_NAME, jobProcessor({ settings: s, emit, summary, stop, experiments }), {
    connection: connectionOptions(s.target, { maxWaitSeconds: s.redisWaitSeconds, onGiveUp: (secs) => stop.with(redisGoneError(s.target, secs)) }),
    concurrency: s.concurrency, name: s.name, autorun: false,
    lockDuration: s.lockSeconds * 1000, stalledInterval: s.stalledCheckSeconds * 1000,
    // A job whose worker died twice is still resumed; a third time it fails (something kills workers on it).
    maxStalledCount: 2,
  });
  const lastRedisError = watchConnection(worker);

  const onAbort = () => stop.shutdown.abort(o.signal!.reason);
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await worker.waitUntilReady();
    emit({ kind: 'ready', worker: s.name, queue: s.target.display, concurrency: s.concurrency });
    const running = worker.run();
    await new Promise<void>((resolve) => {
      if (stop.shutdown.signal.aborted) resolve();
      else stop.shutdown.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    emit({ kind: 'stopping', reason: stop.fatal ? stop.fatal.message : 'stop requested: running jobs checkpoint and go back to the queue' });
    await closeWorker(worker, running, stop.fatal, lastRedisError());
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    experiments.closeAll();
  }
  if (stop.fatal) throw stop.fatal;
  return summary;
}

/** The worker's options, checked, with their defaults. */
function workerSettings(o: WorkerOptions) {
  const lockSeconds = o.lockSeconds === undefined ? 60 : expectInteger('lockSeconds', o.lockSeconds, 1);
  return {
    target: parseQueueUrl(o.queue, 'queue'),
    concurrency: o.concurrency === undefined ? 1 : expectInteger('concurrency', o.concurrency, 1, 64),
    threads: o.threads === undefined ? undefined : expectInteger('threads', o.threads, 1, 1024),
    lockSeconds,
    stalledCheckSeconds: o.stalledCheckSeconds === undefined ? Math.min(30, lockSeconds) : expectInteger('stalledCheckSeconds', o.stalledCheckSeconds, 1),
    redisWaitSeconds: o.redisWaitSeconds === undefined ? DEFAULT_REDIS_WAIT_SECONDS : expectInteger('redisWaitSeconds', o.redisWaitSeconds, 1),
    name: o.name ?? `${hostname()}:${process.pid}`,
  };
}
type WorkerSettings = ReturnType<typeof workerSettings>;

/**
 * Pre-flight: a Redis that refuses us (down, wrong password) is reported now, not after --redis-wait. False when the
 * caller's signal stopped the worker meanwhile.
 */
async function redisAnswers(target: WorkerSettings['target'], signal: AbortSignal | undefined): Promise<boolean> {
  try {
    await probeRedis(target, { arg: 'queue', ...(signal ? { signal } : {}) });
    return true;
  } catch (err) {
    if (signal?.aborted) return false;
    throw err;
  }
}

/** Why and how the worker stops: the first fatal error (Redis gone, a job that cannot run here) aborts `shutdown`. */
class WorkerStop {
  readonly shutdown = new AbortController();
  fatal: Error | undefined;
  with(err: Error): void {
    if (!this.fatal) this.fatal = err;
    this.shutdown.abort(err);
  }
}

interface WorkerContext {
  settings: WorkerSettings;
  emit: (e: WorkerEvent) => void;
  summary: WorkerSummary;
  stop: WorkerStop;
  experiments: ExperimentCache;
}

type Tell = (what: Extract<WorkerEvent, { kind: 'job' }>['what'], detail?: string) => void;

/** BullMQ's processor: runs a job's student, hands the job back when the worker stops, and sorts its failures. */
function jobProcessor(w: WorkerContext) {
  return async (job: Job, token?: string, jobSignal?: AbortSignal) => {
    const data = parseJobData(job.data);
    const studentJob = { method: data.method, seed: data.seed, ...(data.lr !== undefined ? { lr: data.lr } : {}), ...(data.tuning ? { tuning: true } : {}) };
    const run = jobTitle(studentJob);
    const tell: Tell = (what, detail) =>
      w.emit({ kind: 'job', id: String(job.id), run, folder: data.folder, what, ...(detail !== undefined ? { detail } : {}) });
    const handBack = async () => {
      await job.moveToWait(token);
      w.summary.handedBack++;
      tell('handed back');
      throw new WaitingError();
    };
    if (w.stop.shutdown.signal.aborted) return handBack();
    let prep: PreparedExperiment;
    let release: () => void;
    try {
      ({ prep, release } = await w.experiments.acquire(data));
    } catch (err) {
      if (err instanceof UnrecoverableError) throw err;
      w.stop.with(err as Error);
      return handBack();
    }
    const stop = AbortSignal.any([w.stop.shutdown.signal, ...(jobSignal ? [jobSignal] : [])]);
    try {
      return await runJob(w, { job, data, studentJob, run, prep, stop, tell });
    } catch (err) {
      if (err instanceof WaitingError) throw err;
      // Stopped: the run has its checkpoint; the job goes back for any worker to resume.
      if (w.stop.shutdown.signal.aborted) return handBack();
      throw jobFailure(w.summary, err, jobSignal, tell);
    } finally {
      release();
    }
  };
}

/** A job's student run, checked to be the run the coordinator planned, with its progress told and recorded on the job. */
async function runJob(w: WorkerContext, j: {
  job: Job; data: StudentJobData; studentJob: Parameters<typeof runStudent>[1]; run: string; prep: PreparedExperiment; stop: AbortSignal; tell: Tell;
}) {
  const { job, data, studentJob, prep, tell } = j;
  const { name, threads } = w.settings;
  // The coordinator named the run by its hash: a worker that would train another run (another kqkd) refuses it.
  const planned = planStudentRun(prep, studentJob).configHash;
  if (planned !== data.runHash) {
    throw new UnrecoverableError(`job ${job.id} is run ${data.runHash}, but this worker plans ${planned} for ${j.run} (is the coordinator another kqkd version?)`);
  }
  const result = await runStudent(prep, studentJob, {
    ...(threads !== undefined ? { threads } : {}), signal: j.stop, lockOwner: `queue-job:${job.id}`, who: `${name}, job ${job.id}`,
    onProgress: (event) => {
      if (event.kind === 'start') {
        tell(event.resumed ? 'resumed' : 'started', event.resumed ? `at epoch ${event.fromEpoch}` : undefined);
        void job.updateProgress({ worker: name, epoch: event.fromEpoch, epochs: event.epochs } satisfies JobProgress).catch(() => {});
      } else if (event.kind === 'epoch') {
        tell('epoch', `${event.metrics.epoch}/${prep.config.training.epochs}: ${data.tuning ? 'validation' : prep.evaluatedOn} top-1 ${event.metrics.testTop1.toFixed(2)}%`);
        void job.updateProgress({ worker: name, epoch: event.metrics.epoch, epochs: prep.config.training.epochs, top1: event.metrics.testTop1 } satisfies JobProgress).catch(() => {});
      }
    },
  });
  if (result.failed) throw new UnrecoverableError(result.failed);
  w.summary.finished++;
  tell('finished', `best ${result.top1Best!.toFixed(2)}%, last ${result.top1Last!.toFixed(2)}%`);
  return { worker: name, top1Best: result.top1Best, top1Last: result.top1Last };
}

/**
 * The error a failed run's job fails with: for good (UnrecoverableError: the run's own failure, bad input, a
 * checkpoint this version cannot read) or for a retry (a busy run folder, anything else).
 */
function jobFailure(summary: WorkerSummary, err: unknown, jobSignal: AbortSignal | undefined, tell: Tell): unknown {
  if (jobSignal?.aborted) return new Error(`the worker lost the job's lock (${String(jobSignal.reason)}); another worker resumes it`);
  if (err instanceof UnrecoverableError) {
    summary.failed++;
    tell('failed', err.message);
    return err;
  }
  // The run folder is held by a live process (the job's earlier holder on this host): try again later.
  if (err instanceof FolderBusyError) {
    tell('retry', err.message);
    return err;
  }
  // Bad input or a checkpoint this version cannot read: retrying cannot help.
  if (err instanceof KqkdError) {
    summary.failed++;
    tell('failed', err.message);
    return new UnrecoverableError(err.message);
  }
  tell('retry', (err as Error).message);
  return err;
}

/**
 * Reconnects are the connection's (connection.ts); a lost lock cancels the job, so two machines do not train one run.
 * Returns the time of the last connection error, which tells a stop request whether Redis is away.
 */
function watchConnection(worker: Worker): () => number {
  let lastRedisError = -Infinity;
  worker.on('error', () => { lastRedisError = Date.now(); });
  worker.on('lockRenewalFailed', (ids: string[]) => { for (const id of ids) worker.cancelJob(id, 'lock renewal failed'); });
  return () => lastRedisError;
}

/**
 * close() stops fetching and waits for the running jobs, which stop at their next step and hand their job back.
 * Without Redis, BullMQ's close and run() can wait forever on a connection that gave up (no handle left: Node
 * would exit 13 with the error unsaid): they get REDIS_GONE_SETTLE_MS — time for a running step to end and
 * write its checkpoint, which is on disk — and then the worker stops with its error anyway.
 */
async function closeWorker(worker: Worker, running: Promise<unknown>, fatal: Error | undefined, lastRedisError: number): Promise<void> {
  const redisGone = fatal !== undefined && fatal.message.includes('Redis');
  // A stop requested (SIGTERM/SIGINT) while Redis is away must not wait for it to come back (--redis-wait): when a
  // quick probe finds no Redis, the running jobs get a few seconds to checkpoint and the worker stops.
  // (Judged from the connection's own recent errors: a probe here would give BullMQ time to fetch the job just
  // handed back.)
  const away = !redisGone && !fatal && Date.now() - lastRedisError < REDIS_AWAY_MS;
  const bound = redisGone ? REDIS_GONE_SETTLE_MS : away ? STOP_WITHOUT_REDIS_MS : undefined;
  await settleWithin(redisGone || away ? worker.close(true) : worker.close(), bound);
  await settleWithin(running, bound);
}

/** How long a worker whose Redis is gone waits for BullMQ to close and its running jobs to stop. */
const REDIS_GONE_SETTLE_MS = 30_000;
/** How long a worker asked to stop while Redis is away gives its running jobs to checkpoint (they stop at their next step). */
const STOP_WITHOUT_REDIS_MS = 5_000;
/** A connection error this recent means Redis is away (the connection retries every 0.5–5 s while it is). */
const REDIS_AWAY_MS = 10_000;

/** Waits for `p` to settle (either way), or `ms` at most; the timer keeps the process alive meanwhile. */
async function settleWithin(p: Promise<unknown>, ms?: number): Promise<void> {
  const settled = p.then(() => {}, () => {});
  if (ms === undefined) return settled;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([settled, new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); })]);
  clearTimeout(timer);
}

/** Experiments kept open (dataset, teacher cache) while no job uses them. */
const KEEP_OPEN = 4;

/** The experiments this worker has opened, by folder; idle ones beyond KEEP_OPEN are closed. */
class ExperimentCache {
  private readonly open_ = new Map<string, { hash: string; prep: Promise<PreparedExperiment>; users: number }>();
  constructor(private readonly threads: number | undefined) {}

  /** The experiment of a job, opened read-only; `release` when the job is done with it. */
  async acquire(d: StudentJobData): Promise<{ prep: PreparedExperiment; release: () => void }> {
    let entry = this.open_.get(d.folder);
    if (!entry || entry.hash !== d.experimentHash) {
      if (entry) this.open_.delete(d.folder);
      entry = { hash: d.experimentHash, prep: this.open(d), users: 0 };
      this.open_.set(d.folder, entry);
      this.evictIdle();
    }
    const e = entry;
    e.users++;
    try {
      const prep = await e.prep;
      let released = false;
      return { prep, release: () => { if (!released) { released = true; e.users--; } } };
    } catch (err) {
      e.users--;
      if (this.open_.get(d.folder) === e) this.open_.delete(d.folder);
      throw err;
    }
  }

  private async open(d: StudentJobData): Promise<PreparedExperiment> {
    const file = join(d.folder, EXPERIMENT_JSON);
    if (!existsSync(file)) {
      throw new CannotRunHere(`no experiment at ${d.folder} on this machine (${hostname()}): every machine must mount the experiment folder at the same path (docs/distributed.md)`);
    }
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { hash?: string; config?: unknown };
    if (stored.hash !== d.experimentHash) {
      throw new UnrecoverableError(`the job is for experiment ${d.experimentHash}, but ${d.folder} now holds experiment ${stored.hash}`);
    }
    let hash: string;
    const config = (() => {
      try {
        return parseExperimentConfig(stored.config);
      } catch (err) {
        throw new CannotRunHere(`this worker's kqkd cannot read ${file} (${(err as Error).message}); is it another kqkd version than the coordinator's?`);
      }
    })();
    if ((hash = experimentHash(config)) !== d.experimentHash) {
      throw new CannotRunHere(`this worker's kqkd computes experiment hash ${hash} for ${file}, the job says ${d.experimentHash}: the worker runs another kqkd version than the coordinator; update it`);
    }
    try {
      return await openExperiment({ config, out: d.folder, ...(this.threads !== undefined ? { threads: this.threads } : {}) });
    } catch (err) {
      // The coordinator prepared it; what is missing or unreadable here is this machine's (a dataset, a mount).
      throw err instanceof KqkdError ? new CannotRunHere(err.message) : err;
    }
  }

  private evictIdle(): void {
    for (const [folder, e] of this.open_) {
      if (this.open_.size <= KEEP_OPEN) return;
      if (e.users > 0) continue;
      this.open_.delete(folder);
      void e.prep.then((p) => p.close(), () => {});
    }
  }

  closeAll(): void {
    for (const e of this.open_.values()) void e.prep.then((p) => p.close(), () => {});
    this.open_.clear();
  }
}
