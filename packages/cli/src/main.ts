import { Command, CommanderError, Option } from 'commander';
import { KqkdError, RunFailedError, systemError } from '@kqkd/common';
import { Interrupted, withInterruption } from './interrupt.js';
const VERSION = '0.1.0';

type Register = (program: Command) => void;

/**
 * Every command, in the order `kqkd --help` lists them, with the module that defines it. A module is imported only
 * when its command runs (or for the full help): each pulls in its own part of the API, and `kqkd score` on feature
 * files should not pay for loading the training code (docs/benchmarks.md, score-process).
 */
const COMMANDS: ReadonlyArray<readonly [name: string, load: () => Promise<Register>]> = [
  ['distill', async () => (await import('./commands/distill.js')).registerDistill],
  ['score', async () => (await import('./commands/score.js')).registerScore],
  ['train', async () => (await import('./commands/train.js')).registerTrain],
  ['experiment', async () => (await import('./commands/experiment.js')).registerExperiment],
  ['worker', async () => (await import('./commands/worker.js')).registerWorker],
  ['eval', async () => (await import('./commands/eval.js')).registerEval],
  ['predict', async () => (await import('./commands/predict.js')).registerPredict],
  ['models', async () => (await import('./commands/models.js')).registerModels],
  ['bench', async () => (await import('./commands/bench.js')).registerBench],
];

/** The command argv names (its first operand; the program's own options take no value), if it is one of ours. */
function invokedCommand(argv: readonly string[]): string | undefined {
  const first = argv.slice(2).find((a) => !a.startsWith('-'));
  return COMMANDS.some(([name]) => name === first) ? first : undefined;
}

/**
 * Builds the `kqkd` program: with `argv`, only the command it invokes (every command when it names none: help, an
 * unknown command). Exported for tests (they run commands in-process).
 */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('kqkd')
    .description('Feature-exclusive knowledge distillation guided by Knowledge Quality (arXiv 2511.14981).')
    .version(VERSION)
    .addOption(new Option('--verbose', 'print stack traces with errors'))
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const wanted = invokedCommand(argv);
  for (const [name, load] of COMMANDS) if (wanted === undefined || wanted === name) (await load())(program);
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
  const program = await buildProgram(argv);
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
