/** IDX files (the MNIST family's format), raw or gzip-compressed: big-endian header, then row-major data. */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { KqkdError } from '@kqkd/common';

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  dims: number[];
  data: IdxData;
}

const TYPES: Record<number, { name: string; size: number }> = {
  0x08: { name: 'uint8', size: 1 }, 0x09: { name: 'int8', size: 1 }, 0x0b: { name: 'int16', size: 2 },
  0x0c: { name: 'int32', size: 4 }, 0x0d: { name: 'float32', size: 4 }, 0x0e: { name: 'float64', size: 8 },
};

function corrupt(file: string, rule: string, received: string): never {
  throw new KqkdError(`IDX file "${file}"`, rule, received);
}

/** Parses IDX bytes (gunzipping first when they start with the gzip magic). `file` names the source in errors. */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  let buf = bytes;
  if (buf.byteLength >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (err) {
      corrupt(file, 'a complete gzip stream', `a damaged or truncated one (${(err as Error).message})`);
    }
  }
  if (buf.byteLength < 4) corrupt(file, 'at least a 4-byte header', `${buf.byteLength} bytes`);
  if (buf[0] !== 0 || buf[1] !== 0) {
    corrupt(file, 'the IDX magic number 0x0000TTDD', `0x${Buffer.from(buf.subarray(0, 4)).toString('hex')}`);
  }
  const type = TYPES[buf[2]];
  if (!type) corrupt(file, 'an IDX element type of 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E', `0x${buf[2].toString(16).padStart(2, '0')}`);
  const rank = buf[3];
  if (rank === 0) corrupt(file, 'at least one dimension', '0 dimensions');
  const headerSize = 4 + 4 * rank;
  if (buf.byteLength < headerSize) corrupt(file, `a ${headerSize}-byte header for ${rank} dimensions`, `${buf.byteLength} bytes`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((p, d) => p * d, 1);
  const expected = headerSize + count * type.size;
  if (buf.byteLength !== expected) {
    corrupt(file, `${expected} bytes for ${type.name} dims [${dims.join(', ')}]`,
      `${buf.byteLength} bytes (${buf.byteLength < expected ? 'truncated' : 'trailing data'})`);
  }
  if (type.size === 1) {
    const data = type.name === 'uint8' ? new Uint8Array(buf.buffer, buf.byteOffset + headerSize, count)
      : new Int8Array(buf.buffer, buf.byteOffset + headerSize, count);
    return { dims, data };
  }
  const out = type.name === 'int16' ? new Int16Array(count) : type.name === 'int32' ? new Int32Array(count)
    : type.name === 'float32' ? new Float32Array(count) : new Float64Array(count);
  for (let i = 0, off = headerSize; i < count; i++, off += type.size) {
    out[i] = type.name === 'int16' ? view.getInt16(off, false) : type.name === 'int32' ? view.getInt32(off, false)
      : type.name === 'float32' ? view.getFloat32(off, false) : view.getFloat64(off, false);
  }
  return { dims, data: out };
}

const TYPE_OF: Record<string, number> = { Uint8Array: 0x08, Int8Array: 0x09, Int16Array: 0x0b, Int32Array: 0x0c, Float32Array: 0x0d, Float64Array: 0x0e };

/** IDX bytes (uncompressed) of an array: the inverse of parseIdx. */
export function encodeIdx(a: IdxArray): Uint8Array {
  const type = TYPE_OF[a.data?.constructor?.name];
  if (type === undefined) throw new KqkdError('idx.data', 'a Uint8Array, Int8Array, Int16Array, Int32Array, Float32Array or Float64Array', String(a.data?.constructor?.name));
  if (!Array.isArray(a.dims) || a.dims.length === 0 || a.dims.length > 255 || a.dims.some((d) => !Number.isInteger(d) || d < 0 || d > 0xffffffff)) {
    throw new KqkdError('idx.dims', '1 to 255 dimensions, each an integer 0…2³²−1', JSON.stringify(a.dims));
  }
  const count = a.dims.reduce((p, d) => p * d, 1);
  if (count !== a.data.length) throw new KqkdError('idx.data', `${count} values for dims [${a.dims.join(', ')}]`, `${a.data.length}`);
  const size = TYPES[type].size;
  const header = 4 + 4 * a.dims.length;
  const out = new Uint8Array(header + count * size);
  const view = new DataView(out.buffer);
  out[2] = type;
  out[3] = a.dims.length;
  a.dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  if (size === 1) out.set(new Uint8Array(a.data.buffer, a.data.byteOffset, count), header);
  else {
    for (let i = 0, off = header; i < count; i++, off += size) {
      const v = a.data[i];
      if (type === 0x0b) view.setInt16(off, v, false);
      else if (type === 0x0c) view.setInt32(off, v, false);
      else if (type === 0x0d) view.setFloat32(off, v, false);
      else view.setFloat64(off, v, false);
    }
  }
  return out;
}

/** Reads an IDX file (raw or .gz). */
export function readIdx(path: string): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new KqkdError(`IDX file "${path}"`, 'a readable file', (err as NodeJS.ErrnoException).code ?? 'an unreadable path', (err as Error).message);
  }
  return parseIdx(bytes, path);
}
