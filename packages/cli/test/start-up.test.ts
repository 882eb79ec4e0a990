/**
 * What a command loads: `kqkd score --features` must not load the training code or ONNX Runtime (its whole-process
 * cost is benchmarked against a bare X·Xᵀ, docs/benchmarks.md score-process), while `kqkd score --model` does need
 * ONNX Runtime — the control that shows the probe can see it. A fresh Node process runs the command through the
 * CLI's `main` and lists the CommonJS packages it loaded (onnxruntime-node and zod are CommonJS, so an ESM import of
 * them lands in require.cache).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeNpy } from '@kqkd/data';

const repo = resolve(__dirname, '..', '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'kqkd-start-up-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `kqkd ARGS` in a fresh process; its exit code and which of the watched packages it loaded. */
function loadedBy(args: string[]): { code: number; loaded: string[] } {
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire(import.meta.url);
    const { main } = await import('@kqkd/cli');
    const code = await main(['node', 'kqkd', ...${JSON.stringify(args)}]);
    const names = Object.keys(require.cache).map((k) => k.match(/node_modules[\\\\/](onnxruntime-node|onnxruntime-web|zod)[\\\\/]/)?.[1]);
    process.stdout.write('\\n' + JSON.stringify({ code, loaded: [...new Set(names.filter(Boolean))].sort() }));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repo, encoding: 'utf8' });
  return JSON.parse(out.slice(out.lastIndexOf('\n') + 1)) as { code: number; loaded: string[] };
}

describe('kqkd start-up', () => {
  it('score --features loads neither ONNX Runtime nor the training code', () => {
    const n = 40;
    const labels = Array.from({ length: n }, (_, i) => i % 2);
    writeNpy(join(dir, 'x.npy'), Float32Array.from({ length: n * 3 }, (_, i) => (i % 3 === labels[Math.floor(i / 3)] ? 1 : 0) + (i % 7) / 10), [n, 3]);
    writeNpy(join(dir, 'y.npy'), BigInt64Array.from(labels, BigInt), [n]);
    const r = loadedBy(['score', '--features', join(dir, 'x.npy'), '--labels', join(dir, 'y.npy'), '--dataset-size', '1000',
      '--top-k', '1', '--out', join(dir, 'features'), '--quiet']);
    expect(r).toEqual({ code: 0, loaded: [] });
  }, 120_000);

  it('control: score --model loads ONNX Runtime (the probe sees it)', () => {
    const r = loadedBy(['score', '--model', join(repo, 'models', 'tiny-cnn.onnx'), '--data', 'fashion-mnist', '--samples', '40',
      '--batch-size', '20', '--top-k', '1', '--out', join(dir, 'model'), '--quiet']);
    expect(r.code).toBe(0);
    expect(r.loaded).toContain('onnxruntime-node');
  }, 120_000);
});
