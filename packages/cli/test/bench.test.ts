import { afterEach, describe, expect, it, vi } from 'vitest';
import { runCli } from './run-cli.js';

const run = runCli;
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
