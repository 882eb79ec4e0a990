import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRng, describeValue, expectInteger, expectOneOf, invalidArgument, KqkdError, writeFileAtomic } from '../src/index.js';

describe('errors', () => {
  it('name the argument, the rule and the received value', () => {
    expect(() => invalidArgument('sigma', 'number between 0.3 and 1000', 0)).toThrow(
      'Expected number between 0.3 and 1000 for sigma but received 0 of type number');
    const err = (() => { try { expectInteger('topK', 2.5, 0); } catch (e) { return e as KqkdError; } })()!;
    expect(err).toBeInstanceOf(KqkdError);
    expect(err.argument).toBe('topK');
    expect(err.message).toBe('Expected integer >= 0 for topK but received 2.5 of type number');
    expect(() => expectOneOf('backend', 'tpu', ['cpu', 'cuda'])).toThrow('Expected one of "cpu", "cuda" for backend but received "tpu" of type string');
    expect(describeValue(new Float64Array(3))).toBe('Float64Array(3)');
    expect(describeValue(null)).toBe('null');
  });
});

describe('writeFileAtomic', () => {
  it('writes strings, bytes and chunk lists completely and leaves no temp file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kqkd-common-'));
    writeFileAtomic(join(dir, 'a', 'x.txt'), 'hello');
    writeFileAtomic(join(dir, 'y.bin'), [Uint8Array.of(1, 2), Uint8Array.of(3)]);
    expect(readFileSync(join(dir, 'a', 'x.txt'), 'utf8')).toBe('hello');
    expect([...readFileSync(join(dir, 'y.bin'))]).toEqual([1, 2, 3]);
    writeFileAtomic(join(dir, 'y.bin'), Uint8Array.of(9));
    expect([...readFileSync(join(dir, 'y.bin'))]).toEqual([9]);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('createRng', () => {
  it('is deterministic per seed, resumable from its state, and unbiased enough', () => {
    const a = createRng(42);
    const b = createRng(42);
    const xs = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(xs);
    expect(createRng(43).nextUint32()).not.toBe(xs[0]);
    const resumed = createRng(0, a.state());
    expect(resumed.nextUint32()).toBe(a.nextUint32());
    // Chi-square of 60 000 draws over 10 bins: 99.9% quantile for 9 dof is 27.9.
    const rng = createRng(7);
    const bins = new Array(10).fill(0);
    for (let i = 0; i < 60000; i++) bins[rng.nextInt(10)]++;
    const chi2 = bins.reduce((s, o) => s + (o - 6000) ** 2 / 6000, 0);
    expect(chi2).toBeLessThan(27.9);
  });
  it('sample draws distinct items without replacement', () => {
    const rng = createRng(1);
    const items = Array.from({ length: 100 }, (_, i) => i);
    const s = rng.sample(items, 30);
    expect(new Set(s).size).toBe(30);
    expect(rng.sample(items, 500)).toHaveLength(100);
    expect(items).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});
