import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { writeNpy } from '@kqkd/data';
import { drawSubsets, explicitSubsets, scoreLayers } from '@kqkd/kq';
import { runCli } from './run-cli.js';
import { referenceKq } from '../../../test/reference/kq-reference.js';

const dir = mkdtempSync(join(tmpdir(), 'kqkd-cli-'));
const N = 400;
const labels = Array.from({ length: N }, (_, i) => i % 4);

/** Layer k: class centres scaled by k + 1 plus uniform noise, so Q changes with depth. */
function layer(k: number, dim: number): Float32Array {
  let s = 12345 + k;
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
  const x = new Float32Array(N * dim);
  for (let i = 0; i < N; i++) for (let j = 0; j < dim; j++) x[i * dim + j] = (j % 4 === labels[i] ? k + 1 : 0) + rand();
  return x;
}

const run = runCli;

beforeAll(() => {
  for (let k = 0; k < 3; k++) writeNpy(join(dir, `l${k}.npy`), layer(k, 8 + 4 * k), [N, 8 + 4 * k]);
  writeNpy(join(dir, 'y.npy'), BigInt64Array.from(labels, BigInt), [N]);
  const s = drawSubsets(labels, 5);
  writeNpy(join(dir, 'm.npy'), BigInt64Array.from(s.mainIndices, BigInt), [s.mainIndices.length]);
  writeNpy(join(dir, 'p.npy'), BigInt64Array.from(s.classIndices, BigInt), [s.classIndices.length]);
  writeNpy(join(dir, 'y32.npy'), Float32Array.from(labels), [N]);
});
afterEach(() => vi.restoreAllMocks());

describe('kqkd score --features', () => {
  it('writes kq.json, the SVG and the PNG, prints the table, and agrees with the API', async () => {
    const out = join(dir, 'out');
    const files = [0, 1, 2].map((k) => join(dir, `l${k}.npy`));
    const r = await run(['score', ...files.flatMap((f) => ['--features', f]), '--labels', join(dir, 'y.npy'),
      '--dataset-size', '50000', '--idx-main', join(dir, 'm.npy'), '--idx-class', join(dir, 'p.npy'), '--top-k', '2', '--out', out, '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'kq.json'), 'utf8'));
    expect(report.layers.map((l: { name: string }) => l.name)).toEqual(['l0', 'l1', 'l2']);
    expect(report.selected).toHaveLength(2);
    expect(report.layers.filter((l: { selected: boolean }) => l.selected).map((l: { index: number }) => l.index)).toEqual(report.selected);
    expect(existsSync(join(out, 'kq-curves.svg'))).toBe(true);
    expect(readFileSync(join(out, 'kq-curves.png')).subarray(1, 4).toString()).toBe('PNG');
    const s = drawSubsets(labels, 5);
    const api = await scoreLayers(files.map((f, k) => ({ name: `l${k}`, features: layer(k, 8 + 4 * k), shape: [N, 8 + 4 * k] })),
      labels, { datasetSize: 50000, subsets: explicitSubsets(s.mainIndices, s.classIndices), topK: 2 });
    report.layers.forEach((l: { Q: number }, k: number) => expect(l.Q).toBeCloseTo(api.layers[k].Q, 12));
    // and the numbers themselves: the float64 reference (test/reference) on the same features and subsets
    report.layers.forEach((l: Record<'S' | 'I' | 'E' | 'Q', number>, k: number) => {
      const ref = referenceKq({ features: layer(k, 8 + 4 * k), shape: [N, 8 + 4 * k], labels, mainIndices: s.mainIndices, classIndices: s.classIndices, datasetSize: 50000 });
      for (const q of ['S', 'I', 'E', 'Q'] as const) {
        expect(Math.abs(l[q] - ref[q]) <= 1e-6 || Math.abs(l[q] - ref[q]) <= 1e-4 * Math.abs(ref[q]), `l${k} ${q}: ${l[q]} vs reference ${ref[q]}`).toBe(true);
      }
    });
  });

  it('draws the same subsets from --seed as explicit index files of that draw', async () => {
    const a = join(dir, 'seeded');
    await run(['score', '--features', join(dir, 'l1.npy'), '--labels', join(dir, 'y.npy'), '--dataset-size', '50000', '--seed', '5', '--out', a, '--quiet']);
    const b = join(dir, 'explicit');
    await run(['score', '--features', join(dir, 'l1.npy'), '--labels', join(dir, 'y.npy'), '--dataset-size', '50000',
      '--idx-main', join(dir, 'm.npy'), '--idx-class', join(dir, 'p.npy'), '--out', b, '--quiet']);
    const qa = JSON.parse(readFileSync(join(a, 'kq.json'), 'utf8')).layers[0].Q;
    const qb = JSON.parse(readFileSync(join(b, 'kq.json'), 'utf8')).layers[0].Q;
    expect(qa).toBe(qb);
  });

  it('bad flags: exit code 2 and a message naming the flag, no stack trace', async () => {
    const cases: [string[], RegExp][] = [
      [['--features', join(dir, 'l0.npy'), '--dataset-size', '10'], /for --labels but received nothing/],
      [['--features', join(dir, 'l0.npy'), '--labels', join(dir, 'y32.npy'), '--dataset-size', '10'], /int64 or int32 labels for --labels but received float32/],
      [['--features', join(dir, 'l0.npy'), '--labels', join(dir, 'y.npy'), '--dataset-size', 'many'], /integer >= 1 for --dataset-size but received "many"/],
      [['--features', join(dir, 'l0.npy'), '--labels', join(dir, 'y.npy'), '--dataset-size', '9', '--idx-main', join(dir, 'm.npy')], /both index sets or neither for --idx-main\/--idx-class but received only one of them/],
      [['--features', join(dir, 'missing.npy'), '--labels', join(dir, 'y.npy'), '--dataset-size', '9'], /missing\.npy/],
      [[], /--features or --model/],
    ];
    for (const [args, pattern] of cases) {
      const r = await run(['score', ...args, '--out', join(dir, 'bad'), '--quiet']);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(pattern);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    const usage = await run(['score', '--backend', 'tpu', '--out', join(dir, 'bad')]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/Allowed choices are cpu, cuda, auto/);
  });
});
