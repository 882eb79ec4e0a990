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

  it('--profile: the op-type and node tables (text), the summary in --json; --backend web-training refused naming --profile', async () => {
    const args = ['bench', 'train-step', '--model', 'small-cnn', '--input', '1x12x12', '--classes', '4', '--batch', '8', '--steps', '2', '--warmup', '1',
      '--threads', '1', '--profile'];
    const text = await run(args);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/profile of the 2 timed steps \(warm-up excluded/);
    expect(text.stdout).toMatch(/^op type +calls\/step +ms\/step +share$/m);
    expect(text.stdout).toMatch(/^Conv +\d+ +[\d.]+ +[\d.]+ %$/m);
    expect(text.stdout).toMatch(/^node +op +ms\/step +share$/m);
    expect(text.stdout).toMatch(/trace: removed with its temporary folder/);
    const json = await run([...args, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const p = JSON.parse(json.stdout.trim()).profile;
    expect(p).toMatchObject({ file: null, steps: 2, runsInTrace: 3 });
    expect(p.byOp.map((o: { op: string }) => o.op)).toContain('Conv');
    const web = await run([...args, '--backend', 'web-training']);
    expect(web.code).toBe(2);
    expect(web.stderr).toMatch(/for --profile but received backend "web-training"/);
  }, 60_000);

  it('rejects a malformed --input naming the flag', async () => {
    const r = await run(['bench', 'train-step', '--input', '3x32', '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--input/);
  });
});
