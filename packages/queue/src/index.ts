/**
 * @kqkd/queue — an experiment's student runs spread over machines: a coordinator queues them on Redis (BullMQ) and
 * `kqkd worker`s on any machine that mounts the experiment folder train them. Only this package talks to Redis.
 */
export { runQueuedExperiment, type QueuedExperimentOptions } from './coordinator.js';
export { startWorker, type WorkerOptions, type WorkerEvent, type WorkerSummary } from './worker.js';
export { parseQueueUrl, connectionOptions, reconnectDelayMs, DEFAULT_REDIS_PORT, DEFAULT_REDIS_WAIT_SECONDS, type RedisTarget } from './connection.js';
export { jobId, parseJobData, QUEUE_NAME, JOB_FORMAT, JOB_VERSION, type StudentJobData, type JobProgress } from './jobs.js';
