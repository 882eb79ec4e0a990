import { mkdtempSync, readdirSync, readFileSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkOutputFolder, createRng, describeValue, expectInteger, expectOneOf, formatBytes, invalidArgument, KqkdError, systemError, writeFileAtomic } from '../src/index.js';

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

describe('system faults in the user\'s terms', () => {
  const errno = (code: string, extra: Record<string, unknown>) => Object.assign(new Error(`${code}: raw, write`), { code, ...extra });

  it('a full disk names the file, says what happened in words and the way out', () => {
    const e = systemError(errno('ENOSPC', { path: '/data/run/kq-work/layer-2.f32', syscall: 'write' })) as KqkdError;
    expect(e).toBeInstanceOf(KqkdError);
    expect([e.argument, e.received]).toEqual(['file "/data/run/kq-work/layer-2.f32"', 'no space left on the device']);
    expect(e.detail).toMatch(/free some space there .* run the same command again/);
  });

  it('permission, a read-only file system, a device error; a refused connection names the address', () => {
    expect((systemError(errno('EACCES', { path: '/x', syscall: 'open' })) as KqkdError).received).toBe('permission denied');
    expect((systemError(errno('EROFS', { path: '/x', syscall: 'open' })) as KqkdError).received).toBe('a read-only file system');
    expect((systemError(errno('EIO', { path: '/x', syscall: 'read' })) as KqkdError).received).toBe('an input/output error of the device');
    const c = systemError(errno('ECONNREFUSED', { address: '127.0.0.1', port: 6399, syscall: 'connect' })) as KqkdError;
    expect([c.argument, c.expected]).toEqual(['127.0.0.1:6399', 'a reachable server']);
  });

  it('leaves other errors and kqkd\'s own as they are', () => {
    const plain = new Error('something else');
    expect(systemError(plain)).toBe(plain);
    const own = new KqkdError('a', 'b', 'c');
    expect(systemError(own)).toBe(own);
    expect(systemError(errno('ENOENT', { path: '/x' }))).toBeInstanceOf(Error);
    expect(systemError(errno('ENOENT', { path: '/x' }))).not.toBeInstanceOf(KqkdError);
  });
});

describe('free space', () => {
  it('formatBytes keeps three significant digits', () => {
    expect([formatBytes(512), formatBytes(83251), formatBytes(9.31 * 2 ** 20), formatBytes(1.25 * 2 ** 30)]).toEqual(['512 B', '81.3 KiB', '9.31 MiB', '1.25 GiB']);
  });

  it('a refusal keeps a margin and never prints the same figure for the need and the free space', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kqkd-space-'));
    const s = statfsSync(dir);
    const free = Number(s.bavail) * Number(s.bsize);
    // the outputs alone would fit; with the margin they do not
    const err = (() => { try { checkOutputFolder(dir, 'out', { needBytes: free - 1024 }); } catch (e) { return e as KqkdError; } return undefined; })();
    expect(err).toBeInstanceOf(KqkdError);
    const m = /at least (.+) free \(.* of outputs \+ 10 % \+ 16 MiB\)/.exec(err!.expected)!;
    const f = /with (.+) free/.exec(err!.received)!;
    expect(m[1]).not.toBe(f[1]);
  });
});
