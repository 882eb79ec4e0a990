import { Command, CommanderError, Option } from 'commander';
import { KqkdError } from '@kqkd/common';
import { registerScore } from './commands/score.js';
import { registerTrain } from './commands/train.js';
import { registerModels } from './commands/models.js';
import { registerBench } from './commands/bench.js';
import { registerExperiment } from './commands/experiment.js';
import { registerEval } from './commands/eval.js';

const VERSION = '0.1.0';

/** Builds the `kqkd` program. Exported for tests (they run commands in-process). */
export function buildProgram(): Command {
  const program = new Command('kqkd')
    .description('Feature-exclusive knowledge distillation guided by Knowledge Quality (arXiv 2511.14981).')
    .version(VERSION)
    .addOption(new Option('--verbose', 'print stack traces with errors'))
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerScore(program);
  registerTrain(program);
  registerExperiment(program);
  registerEval(program);
  registerModels(program);
  registerBench(program);
  return program;
}

/** Runs the CLI; returns the exit code (0 ok, 1 failure, 2 usage). Errors print without a stack unless --verbose. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : 2; // commander already printed the message
    }
    const verbose = argv.includes('--verbose');
    if (err instanceof KqkdError && !verbose) {
      process.stderr.write(`kqkd: ${err.message}\n`);
      return 2;
    }
    const e = err as Error;
    process.stderr.write(`kqkd: ${verbose && e?.stack ? e.stack : e?.message ?? String(err)}\n`);
    return 1;
  }
}
