/**
 * SIGINT / SIGTERM during a command: the first one aborts the running work through an AbortSignal (training stops at
 * the next optimizer step with a checkpoint, so the same command resumes); a second one exits at once.
 */
export class Interrupted extends Error {
  constructor(readonly signalName: NodeJS.Signals) {
    super(`interrupted by ${signalName}`);
    this.name = 'Interrupted';
  }
}

let controller: AbortController | undefined;

/** The signal of the command being run (commands pass it to the API). */
export function commandSignal(): AbortSignal | undefined {
  return controller?.signal;
}

/** Installs the handlers for the duration of `run`. Exit codes: 130 after SIGINT, 143 after SIGTERM. */
export async function withInterruption<T>(run: () => Promise<T>): Promise<T> {
  controller = new AbortController();
  const c = controller;
  const handler = (sig: NodeJS.Signals) => {
    if (c.signal.aborted) process.exit(sig === 'SIGINT' ? 130 : 143);
    process.stderr.write(`\nkqkd: ${sig}: stopping at the next step (a checkpoint is written; run the same command to resume; again to quit now)\n`);
    c.abort(new Interrupted(sig));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  try {
    return await run();
  } finally {
    process.removeListener('SIGINT', handler);
    process.removeListener('SIGTERM', handler);
    controller = undefined;
  }
}
