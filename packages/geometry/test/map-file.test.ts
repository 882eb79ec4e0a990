/**
 * The addon's mapFile (through nativeFileMapper) and @kqkd/data readNpy over it: the mapped bytes are the file's, a
 * write through the buffer never reaches the file, bad paths are errors naming them (never a crash), and a mapped
 * .npy reads the same arrays as a read one.
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readNpy, writeNpy } from '@kqkd/data';
import { KqkdError } from '@kqkd/common';
import { loadAddon } from '@kqkd/native';
import { nativeFileMapper } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'kqkd-map-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const mapFile = nativeFileMapper()!;

describe('mapFile (native)', () => {
  it('is available when the addon is built', () => expect(typeof mapFile).toBe('function'));

  it('maps the file\'s bytes; writes through the buffer stay private (copy-on-write)', () => {
    const file = join(dir, 'bytes.bin');
    const bytes = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 37 + 11) & 255);
    writeFileSync(file, bytes);
    const mapped = new Uint8Array(mapFile(file));
    expect(mapped.length).toBe(bytes.length);
    expect(Buffer.compare(Buffer.from(mapped), Buffer.from(bytes))).toBe(0);
    mapped[0] ^= 0xff;
    mapped[9_999] ^= 0xff;
    expect(mapped[0]).toBe(bytes[0] ^ 0xff);
    expect(Buffer.compare(readFileSync(file), Buffer.from(bytes))).toBe(0);
  });

  it('empty file: an empty buffer; missing file or a folder: an Error naming the path', () => {
    const empty = join(dir, 'empty.bin');
    writeFileSync(empty, new Uint8Array(0));
    expect(mapFile(empty).byteLength).toBe(0);
    const missing = join(dir, 'missing.bin');
    expect(() => mapFile(missing)).toThrow(new RegExp(`cannot open ${missing}: No such file`));
    const folder = join(dir, 'folder');
    mkdirSync(folder);
    expect(() => mapFile(folder)).toThrow(new RegExp(`${folder} is not a regular file`));
  });

  it('a path that is not a non-empty string without NUL bytes: a KqkdError naming path before the addon, which refuses it too', () => {
    const file = join(dir, 'real.bin');
    writeFileSync(file, new Uint8Array([1, 2, 3]));
    for (const [path, received] of [[42, '42 of type number'], ['', '"" of type string'], [`${file}\0.txt`, `"${file}\0.txt" of type string`]] as const) {
      const message = `Expected a file path (a non-empty string without NUL bytes) for path but received ${received}`;
      // without the check a NUL cuts the path short: the addon would map real.bin for "real.bin\0.txt"
      expect(() => (mapFile as unknown as (p: unknown) => ArrayBuffer)(path)).toThrow(KqkdError);
      expect(() => (mapFile as unknown as (p: unknown) => ArrayBuffer)(path)).toThrow(message);
      expect(() => (loadAddon().mapFile as unknown as (p: unknown) => ArrayBuffer)(path))
        .toThrow(expect.objectContaining({ name: 'TypeError', code: 'KQKD_INVALID_ARGUMENT', argument: 'path', message }));
    }
  });

  it('readNpy with mapFile: the same arrays as reading, for float32, int64 and big-endian (read) files', () => {
    const f32 = join(dir, 'f32.npy');
    const values = Float32Array.from({ length: 6 * 7 }, (_, i) => Math.sin(i) * 1e3);
    writeNpy(f32, values, [6, 7]);
    const mapped = readNpy(f32, { mapFile });
    expect(mapped.dtype).toBe('float32');
    expect(mapped.shape).toEqual([6, 7]);
    expect(Array.from(mapped.data as Float32Array)).toEqual(Array.from(values));
    expect((mapped.data as Float32Array).buffer.byteLength).toBe(readFileSync(f32).length); // a view of the whole mapping

    const i64 = join(dir, 'i64.npy');
    writeNpy(i64, BigInt64Array.from([3n, -1n, 2n ** 40n]), [3]);
    expect(Array.from(readNpy(i64, { mapFile }).data as BigInt64Array)).toEqual([3n, -1n, 2n ** 40n]);

    // big-endian float32 '>f4': byte-swapped on read, so never a view of the file
    const be = join(dir, 'be.npy');
    const plain = readFileSync(f32);
    const header = plain.subarray(0, plain.length - values.byteLength).toString('latin1').replace("'<f4'", "'>f4'");
    const body = Buffer.from(plain.subarray(plain.length - values.byteLength));
    for (let i = 0; i < body.length; i += 4) body.subarray(i, i + 4).reverse();
    writeFileSync(be, Buffer.concat([Buffer.from(header, 'latin1'), body]));
    const swapped = readNpy(be, { mapFile });
    expect(Array.from(swapped.data as Float32Array)).toEqual(Array.from(values));
    expect((swapped.data as Float32Array).buffer.byteLength).toBe(values.byteLength);
  });
});
