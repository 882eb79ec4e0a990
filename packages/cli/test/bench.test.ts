import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../src/main.js';

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => { stdout += String(c); return true; });
  vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => { stderr += String(c); return true; });
  const code = await main(['node', 'kqkd', ...args]);
  vi.restoreAllMocks();
  return { code, stdout, stderr };
}
afterEach(() => vi.restoreAllMocks());

describe('kqkd bench train-step --json', () => {
  for (const backend of ['native', 'web-training']) {
    it(`prints {model, backend, batch, steps, imagesPerSecond, ...} for ${backend}`, async () => {
      const r = await run(['bench', 'train-step', '--model', 'small-cnn', '--input', '1x12x12', '--classes', '4', '--batch', '8',
        '--steps', '2', '--warmup', '1', '--backend', backend, '--threads', '1', '--json']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const j = JSON.parse(r.stdout.trim());
      expect(j).toMatchObject({ model: 'small-cnn', backend, batch: 8, steps: 2, input: [1, 12, 12], classes: 4, threads: 1, warmupSteps: 1 });
      expect(j.imagesPerSecond).toBeGreaterThan(0);
      expect(Number.isFinite(j.lastLoss)).toBe(true);
    }, 60_000);
  }

  it('rejects a malformed --input naming the flag', async () => {
    const r = await run(['bench', 'train-step', '--input', '3x32', '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--input/);
  });
});
