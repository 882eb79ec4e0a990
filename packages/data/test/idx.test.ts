import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { loadFashionMnist, parseIdx, readIdx } from '../src/index.js';

function idx(type: number, dims: number[], body: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = type;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, body]);
}

/** A tiny Fashion-MNIST-shaped folder: `n` images of 2×3 pixels. */
function fakeFashion(dir: string, n: number, { gz = true, split = 'train' } = {}) {
  const prefix = split === 'train' ? 'train' : 't10k';
  const images = Uint8Array.from({ length: n * 6 }, (_, i) => (i * 7) % 256);
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
  const wrap = (b: Buffer) => (gz ? gzipSync(b) : b);
  const ext = gz ? '.gz' : '';
  writeFileSync(join(dir, `${prefix}-images-idx3-ubyte${ext}`), wrap(idx(0x08, [n, 2, 3], images)));
  writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte${ext}`), wrap(idx(0x08, [n], labels)));
  return { images, labels };
}

const tmp = () => mkdtempSync(join(tmpdir(), 'kqkd-idx-'));

describe('IDX', () => {
  it('reads uint8, int16, int32, float32, float64 (big-endian) raw and gzipped', () => {
    const body16 = Buffer.alloc(4);
    body16.writeInt16BE(-3, 0);
    body16.writeInt16BE(300, 2);
    expect(parseIdx(idx(0x0b, [2], body16), 'a')).toEqual({ dims: [2], data: Int16Array.from([-3, 300]) });
    const body32 = Buffer.alloc(8);
    body32.writeInt32BE(-70000, 0);
    body32.writeFloatBE(1.5, 4);
    expect(parseIdx(idx(0x0c, [1], body32.subarray(0, 4)), 'b').data).toEqual(Int32Array.from([-70000]));
    expect(parseIdx(gzipSync(idx(0x0d, [1, 1], body32.subarray(4))), 'c')).toEqual({ dims: [1, 1], data: Float32Array.from([1.5]) });
    const body64 = Buffer.alloc(8);
    body64.writeDoubleBE(-0.125);
    expect(parseIdx(idx(0x0e, [1], body64), 'd').data).toEqual(Float64Array.from([-0.125]));
    expect(parseIdx(idx(0x08, [2, 2], Buffer.from([1, 2, 3, 4])), 'e')).toEqual({ dims: [2, 2], data: Uint8Array.from([1, 2, 3, 4]) });
  });

  it('names the file and the rule for corrupt and truncated input', () => {
    const dir = tmp();
    const good = idx(0x08, [4, 2, 3], new Uint8Array(24));
    const cases: [string, Buffer, RegExp][] = [
      ['short.idx', good.subarray(0, good.length - 1), /40 bytes for uint8 dims \[4, 2, 3\] for IDX file ".*short\.idx" but received 39 bytes \(truncated\)/],
      ['long.idx', Buffer.concat([good, Buffer.from([1])]), /trailing data/],
      ['magic.idx', Buffer.from([1, 2, 8, 1, 0, 0, 0, 0]), /magic.*magic\.idx.*0x01020801/],
      ['type.idx', Buffer.from([0, 0, 0x0a, 1, 0, 0, 0, 0]), /element type.*type\.idx.*0x0a/],
      ['header.idx', good.subarray(0, 9), /16-byte header.*header\.idx/],
      ['tiny.idx', Buffer.from([0, 0]), /4-byte header/],
      ['cut.gz', gzipSync(good).subarray(0, 20), /complete gzip stream for IDX file ".*cut\.gz"/],
    ];
    for (const [name, bytes, re] of cases) {
      writeFileSync(join(dir, name), bytes);
      expect(() => readIdx(join(dir, name)), name).toThrow(re);
    }
    expect(() => readIdx(join(dir, 'absent.idx'))).toThrow(/readable file for IDX file ".*absent\.idx" but received ENOENT/);
  });
});

describe('loadFashionMnist on generated files', () => {
  it.each([true, false])('gz=%s', (gz) => {
    const dir = tmp();
    const { images, labels } = fakeFashion(dir, 12, { gz, split: 'test' });
    const ds = loadFashionMnist({ dir, split: 'test' });
    expect(ds).toMatchObject({ count: 12, height: 2, width: 3, channels: 1, classes: 10 });
    expect(ds.images).toEqual(images);
    expect(ds.labels).toEqual(labels);
    expect(ds.classNames[9]).toBe('Ankle boot');
  });

  it('clear errors: missing folder file, count mismatch, bad label, bad split', () => {
    const dir = tmp();
    expect(() => loadFashionMnist({ dir, split: 'train' })).toThrow(/existing file for Fashion-MNIST file ".*train-images-idx3-ubyte\[\.gz\]"/);
    fakeFashion(dir, 5);
    writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(idx(0x08, [4], Buffer.from([0, 1, 2, 3]))));
    expect(() => loadFashionMnist({ dir, split: 'train' })).toThrow(/5 labels \(one per image.*but received 4/);
    writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(idx(0x08, [5], Buffer.from([0, 1, 12, 3, 4]))));
    expect(() => loadFashionMnist({ dir, split: 'train' })).toThrow(/labels 0\.\.9.*12 at index 2/);
    expect(() => loadFashionMnist({ dir, split: 'val' as 'train' })).toThrow(/split/);
  });
});
