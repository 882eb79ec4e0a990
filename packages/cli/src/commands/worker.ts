import { Command, Option } from 'commander';
import { startWorker, type WorkerEvent } from '@kqkd/kqkd';
import { intFlag, withFlagNames } from '../flags.js';
import { commandSignal } from '../interrupt.js';

interface WorkerFlags {
  queue: string;
  concurrency: string;
  threads?: string;
  lockSeconds: string;
  redisWait: string;
  name?: string;
  quiet?: boolean;
}

const FLAGS = {
  queue: '--queue', concurrency: '--concurrency', threads: '--threads', lockSeconds: '--lock-seconds', stalledCheckSeconds: '--lock-seconds',
  redisWaitSeconds: '--redis-wait', name: '--name',
};

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('Train the student runs an `experiment --queue` coordinator queued, on this machine, until stopped. The experiment folder ' +
      'must be mounted here at the same path as on the coordinator. SIGTERM/SIGINT: the runs checkpoint and their jobs go back to the queue ' +
      '(exit 0); a killed worker\'s job is resumed by another worker after --lock-seconds.')
    .addOption(new Option('--queue <url>', 'the Redis of the coordinator: redis://[user:password@]host[:port][/db] (rediss:// for TLS); ' +
      'from the environment variable KQKD_QUEUE when not given (keeps the password out of the process list)').env('KQKD_QUEUE').makeOptionMandatory())
    .option('--concurrency <n>', 'runs at once in this process', '1')
    .option('--threads <n>', 'onnxruntime intra-op threads of each run')
    .option('--lock-seconds <s>', 'how long a job stays this worker\'s without a sign of life before another worker takes it over', '60')
    .option('--redis-wait <seconds>', 'how long to wait for Redis when it goes away before stopping', '300')
    .option('--name <name>', 'this worker\'s name in progress and logs (default host:pid)')
    .option('--quiet', 'print only errors')
    .action(async (flags: WorkerFlags) => {
      const say = (line: string) => { if (!flags.quiet) process.stdout.write(`${new Date().toISOString()} ${line}\n`); };
      const lockSeconds = intFlag('--lock-seconds', flags.lockSeconds, 2);
      const summary = await withFlagNames(FLAGS, () => startWorker({
        queue: flags.queue, concurrency: intFlag('--concurrency', flags.concurrency, 1),
        ...(flags.threads !== undefined ? { threads: intFlag('--threads', flags.threads, 1) } : {}),
        lockSeconds, stalledCheckSeconds: Math.max(1, Math.min(30, Math.floor(lockSeconds / 2))),
        redisWaitSeconds: intFlag('--redis-wait', flags.redisWait, 1), ...(flags.name ? { name: flags.name } : {}),
        ...(commandSignal() ? { signal: commandSignal() } : {}),
        onEvent: (e: WorkerEvent) => {
          if (e.kind === 'ready') say(`worker ${e.worker} waiting for runs on ${e.queue} (${e.concurrency} at once)`);
          else if (e.kind === 'stopping') say(`stopping: ${e.reason}`);
          else if (e.what === 'epoch') say(`${e.run} [${e.folder}] epoch ${e.detail}`);
          else say(`${e.run} [${e.folder}] ${e.what}${e.detail ? `: ${e.detail}` : ''}`);
        },
      }));
      say(`worker ${summary.worker} stopped: ${summary.finished} runs finished, ${summary.failed} failed, ${summary.handedBack} handed back`);
    });
}
