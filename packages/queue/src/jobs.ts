/**
 * What a queued student run carries: only the experiment folder (shared by every machine at the same path), the
 * experiment's hash and the run's key (method, seed) with the run's config hash. The worker reads everything else
 * from the folder, so a job holds no data, no model and no credentials.
 */
import { UnrecoverableError } from 'bullmq';

/** The queue every kqkd coordinator and worker on a Redis uses (jobs of many experiments can share it). */
export const QUEUE_NAME = 'kqkd-students';
export const JOB_FORMAT = 'kqkd-student-run';
export const JOB_VERSION = 2;

export interface StudentJobData {
  format: typeof JOB_FORMAT;
  version: typeof JOB_VERSION;
  /** The experiment folder, an absolute path every machine mounts. */
  folder: string;
  experimentHash: string;
  method: string;
  seed: number;
  /** The run's peak learning rate when the experiment's tuning set it: a tuning run's grid point or the chosen rate. */
  lr?: number;
  /** A tuning run (evaluated on the validation split). */
  tuning?: boolean;
  /** The run's config hash: its folder runs/<runHash>. */
  runHash: string;
}

/** One job per run of an experiment: adding it twice is a no-op, and a coordinator re-attaches to it. */
export const jobId = (experimentHash: string, runHash: string): string => `${experimentHash}-${runHash}`;

/** The job's data, checked; a job this worker does not know is refused for good (UnrecoverableError), with why. */
export function parseJobData(data: unknown): StudentJobData {
  const d = (data ?? {}) as Partial<StudentJobData>;
  if (d.format !== JOB_FORMAT || d.version !== JOB_VERSION) {
    throw new UnrecoverableError(`a job of format ${JSON.stringify(d.format)} version ${JSON.stringify(d.version)}; this kqkd worker runs ${JOB_FORMAT} version ${JOB_VERSION} (is the coordinator another kqkd version?)`);
  }
  const ok = typeof d.folder === 'string' && d.folder.startsWith('/') && typeof d.experimentHash === 'string' && typeof d.method === 'string'
    && Number.isInteger(d.seed) && typeof d.runHash === 'string'
    && (d.lr === undefined || (typeof d.lr === 'number' && Number.isFinite(d.lr) && d.lr > 0)) && (d.tuning === undefined || typeof d.tuning === 'boolean');
  if (!ok) throw new UnrecoverableError(`a ${JOB_FORMAT} job without a valid folder, experimentHash, method, seed, lr, tuning or runHash: ${JSON.stringify(data).slice(0, 300)}`);
  return d as StudentJobData;
}

/** What a worker reports while it runs a job (job.progress). */
export interface JobProgress {
  worker: string;
  epoch: number;
  epochs: number;
  top1?: number;
}
