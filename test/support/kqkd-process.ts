/**
 * Runs the real `kqkd` command in a child process (what a user types), for the tests that interrupt it: `interrupt(child,
 * output)` is called on every chunk of its output until it returns true (it may kill the child there).
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

export const repo = resolve(__dirname, '..', '..');
const bin = join(repo, 'packages', 'cli', 'bin', 'kqkd.js');

export function kqkd(args: string[], interrupt?: (child: ReturnType<typeof spawn>, output: string) => boolean): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let done = !interrupt;
    const on = (d: Buffer) => {
      out += d;
      if (!done) done = interrupt!(child, out);
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.on('exit', (code, signal) => res({ code, signal, out }));
  });
}
