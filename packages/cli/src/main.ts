import { Command, CommanderError, Option } from 'commander';
import { KqkdError, RunFailedError, systemError } from '@kqkd/common';
import { Interrupted, withInterruption } from './interrupt.js';
import { registerScore } from './commands/score.js';
import { registerTrain } from './commands/train.js';
import { registerModels } from './commands/models.js';
import { registerBench } from './commands/bench.js';
import { registerExperiment } from './commands/experiment.js';
import { registerEval } from './commands/eval.js';
import { registerPredict } from './commands/predict.js';
import { registerDistill } from './commands/distill.js';
import { registerWorker } from './commands/worker.js';

const VERSION = '0.1.0';

/** Builds the `kqkd` program. Exported for tests (they run commands in-process). */
export function buildProgram(): Command {
  const program = new Command('kqkd')
    .description('Feature-exclusive knowledge distillation guided by Knowledge Quality (arXiv 2511.14981).')
    .version(VERSION)
    .addOption(new Option('--verbose', 'print stack traces with errors'))
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerDistill(program);
  registerScore(program);
  registerTrain(program);
  registerExperiment(program);
  registerWorker(program);
  registerEval(program);
  registerPredict(program);
  registerModels(program);
  registerBench(program);
  return program;
}

/** Exit codes of the `kqkd` command (docs/reliability.md). */
export const EXIT = {
  ok: 0,
  /** The run failed although its inputs were valid (it diverged), or an unexpected error. */
  runFailure: 1,
  /** The command was refused before doing any work: a flag, file, folder or config (the message names it). */
  refused: 2,
  /** Interrupted by SIGINT / SIGTERM: stopped at a step with a checkpoint; the same command resumes. */
  sigint: 130,
  sigterm: 143,
} as const;

/** Runs the CLI; returns the exit code (EXIT). Errors print without a stack unless --verbose. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const verbose = argv.includes('--verbose');
  try {
    await withInterruption(() => program.parseAsync(argv));
    return EXIT.ok;
  } catch (caught) {
    // A system fault deep in a library (a full disk, a failing device, a refused connection) in the user's terms.
    const err = systemError(caught);
    const fault = err !== caught;
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.ok : EXIT.refused; // commander already printed the message
    }
    if (err instanceof Interrupted) {
      process.stderr.write(`kqkd: ${err.message}: stopped with a checkpoint; run the same command to resume\n`);
      return err.signalName === 'SIGINT' ? EXIT.sigint : EXIT.sigterm;
    }
    if (err instanceof KqkdError && !verbose) {
      process.stderr.write(`kqkd: ${err.message}\n`);
      return err instanceof RunFailedError || fault ? EXIT.runFailure : EXIT.refused;
    }
    const e = (fault ? caught : err) as Error;
    process.stderr.write(`kqkd: ${verbose && e?.stack ? e.stack : (err as Error)?.message ?? String(err)}\n`);
    return err instanceof RunFailedError || fault ? EXIT.runFailure : err instanceof KqkdError ? EXIT.refused : EXIT.runFailure;
  }
}
