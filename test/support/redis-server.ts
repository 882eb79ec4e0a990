// A real redis-server on a free port for the tests (installed by tools/setup.sh; the tests fail, naming it, without it).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

export async function startRedis(extraArgs: string[] = []): Promise<{ port: number; url: string; process: ChildProcess; stop(): void }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((res, rej) => {
    let out = '';
    const timer = setTimeout(() => rej(new Error(`redis-server did not start:\n${out}`)), 30_000);
    child.on('error', (err) => { clearTimeout(timer); rej(new Error(`redis-server could not start (${err.message}); tools/setup.sh installs it`)); });
    child.stdout!.on('data', (d) => {
      out += d;
      if (/Ready to accept connections/.test(out)) { clearTimeout(timer); res(); }
    });
  });
  return { port, url: `redis://127.0.0.1:${port}`, process: child, stop: () => { child.kill('SIGKILL'); } };
}
