/**
 * NumPy `.npy` files (format versions 1.0, 2.0, 3.0): C-order arrays of float32, float64, int32, int64, uint8
 * and bool, any rank. Reading allocates the result once and reads the data straight into it.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { KqkdError, invalidArgument, invalidArgumentText, writeFileAtomic } from '@kqkd/common';

export type NpyDtype = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'bool';
export type NpyData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  /** bool arrays are Uint8Array of 0/1. */
  data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

type DtypeSpec = { code: string; size: number; make: (n: number) => NpyData; view: (b: ArrayBuffer, offset: number, n: number) => NpyData };
const DTYPES: Record<NpyDtype, DtypeSpec> = {
  float32: { code: 'f4', size: 4, make: (n) => new Float32Array(n), view: (b, o, n) => new Float32Array(b, o, n) },
  float64: { code: 'f8', size: 8, make: (n) => new Float64Array(n), view: (b, o, n) => new Float64Array(b, o, n) },
  int32: { code: 'i4', size: 4, make: (n) => new Int32Array(n), view: (b, o, n) => new Int32Array(b, o, n) },
  int64: { code: 'i8', size: 8, make: (n) => new BigInt64Array(n), view: (b, o, n) => new BigInt64Array(b, o, n) },
  uint8: { code: 'u1', size: 1, make: (n) => new Uint8Array(n), view: (b, o, n) => new Uint8Array(b, o, n) },
  bool: { code: 'b1', size: 1, make: (n) => new Uint8Array(n), view: (b, o, n) => new Uint8Array(b, o, n) },
};

interface Header {
  dtype: NpyDtype;
  bigEndian: boolean;
  shape: number[];
  dataOffset: number;
}

function fail(file: string, expected: string, received: string): never {
  throw new KqkdError(`.npy file "${file}"`, expected, received);
}

/** Parses the preamble + header dict from the first bytes of a file; `prefix` must hold at least the header. */
function parseHeader(prefix: Uint8Array, file: string): Header | { need: number } {
  if (prefix.byteLength < 10) return { need: 10 };
  if (!MAGIC.every((b, i) => prefix[i] === b)) {
    fail(file, 'the .npy magic "\\x93NUMPY"', `0x${Buffer.from(prefix.subarray(0, 6)).toString('hex')}`);
  }
  const major = prefix[6];
  if (major < 1 || major > 3) fail(file, 'format version 1.0, 2.0 or 3.0', `${major}.${prefix[7]}`);
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (prefix.byteLength < 8 + lenBytes) return { need: 8 + lenBytes };
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataOffset = 8 + lenBytes + headerLen;
  if (prefix.byteLength < dataOffset) return { need: dataOffset };
  const text = Buffer.from(prefix.subarray(8 + lenBytes, dataOffset)).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]+)['"]/.exec(text)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    fail(file, "a header dict with 'descr', 'fortran_order' and 'shape'", JSON.stringify(text.trim().slice(0, 120)));
  }
  if (fortran === 'True') fail(file, 'a C-order array (fortran_order False)', 'a Fortran-order array; save it with np.ascontiguousarray');
  const shape = shapeText.split(',').map((s) => s.trim().replace(/L$/, '')).filter((s) => s.length > 0).map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) fail(file, 'non-negative integer dimensions', `(${shapeText})`);
  const order = descr[0];
  const code = '<>|='.includes(order) ? descr.slice(1) : descr;
  const entry = (Object.entries(DTYPES) as [NpyDtype, (typeof DTYPES)[NpyDtype]][]).find(([, d]) => d.code === code);
  if (!entry) fail(file, `a dtype of ${Object.values(DTYPES).map((d) => `<${d.code}`).join(', ')}`, `'${descr}'`);
  return { dtype: entry[0], bigEndian: order === '>' && entry[1].size > 1, shape, dataOffset };
}

function byteswap(data: NpyData, size: number): void {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

function checkBool(data: NpyData, file: string): void {
  const bytes = data as Uint8Array;
  const bad = bytes.findIndex((v) => v > 1);
  if (bad >= 0) fail(file, 'bool values 0 or 1', `${bytes[bad]} at flat index ${bad}`);
}

/** Reads and parses the header of an open file (re-reading when the header is longer than the first 4 KB). */
function headerOf(fd: number, size: number, path: string): Header {
  let prefix = new Uint8Array(Math.min(size, 4096));
  readSync(fd, prefix, 0, prefix.byteLength, 0);
  let header = parseHeader(prefix, path);
  if ('need' in header && header.need > prefix.byteLength && header.need <= size) {
    prefix = new Uint8Array(header.need);
    readSync(fd, prefix, 0, prefix.byteLength, 0);
    header = parseHeader(prefix, path);
  }
  if ('need' in header) fail(path, `a header of ${header.need} bytes`, `a file of ${size} bytes (truncated)`);
  return header;
}

function openNpy(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (err) {
    throw new KqkdError(`.npy file "${path}"`, 'a readable file', (err as NodeJS.ErrnoException).code ?? 'an unreadable path', (err as Error).message);
  }
}

/** Reads a `.npy` file: one allocation of the result, data read straight into it. */
export interface ReadNpyOptions {
  /**
   * Maps a whole file into memory as an ArrayBuffer (@kqkd/native `mapFile`): little-endian numeric data is then a
   * view of the mapping — no read, no copy, pages shared with the page cache — instead of a copy read into a fresh
   * array. Files it cannot serve that way (big-endian, bool, unaligned data) are read as usual.
   */
  mapFile?: (path: string) => ArrayBuffer;
}

export function readNpy(path: string, options: ReadNpyOptions = {}): NpyArray {
  const fd = openNpy(path);
  try {
    const size = fstatSync(fd).size;
    const header = headerOf(fd, size, path);
    const spec = DTYPES[header.dtype];
    const count = header.shape.reduce((p, d) => p * d, 1);
    const expected = header.dataOffset + count * spec.size;
    if (size !== expected) {
      fail(path, `${expected} bytes for ${header.dtype} shape (${header.shape.join(', ')})`,
        `${size} bytes (${size < expected ? 'truncated' : 'trailing data'})`);
    }
    if (options.mapFile && !header.bigEndian && header.dtype !== 'bool' && header.dataOffset % spec.size === 0) {
      const mapped = options.mapFile(path);
      // The file could change between the size check and the mapping: only a mapping of the checked size is used.
      if (mapped.byteLength === size) return { dtype: header.dtype, shape: header.shape, data: spec.view(mapped, header.dataOffset, count) };
    }
    const data = spec.make(count);
    const target = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let off = 0;
    while (off < target.byteLength) {
      const n = readSync(fd, target, off, Math.min(target.byteLength - off, 1 << 30), header.dataOffset + off);
      if (n === 0) fail(path, `${expected} bytes`, `end of file after ${header.dataOffset + off}`);
      off += n;
    }
    if (header.bigEndian) byteswap(data, spec.size);
    if (header.dtype === 'bool') checkBool(data, path);
    return { dtype: header.dtype, shape: header.shape, data };
  } finally {
    closeSync(fd);
  }
}

/** The dtype, shape and data offset of a `.npy` file, from its header alone (the data is not read or checked). */
export function readNpyHeader(path: string): { dtype: NpyDtype; shape: number[]; dataOffset: number } {
  const fd = openNpy(path);
  try {
    const size = fstatSync(fd).size;
    const header = headerOf(fd, size, path);
    return { dtype: header.dtype, shape: header.shape, dataOffset: header.dataOffset };
  } finally {
    closeSync(fd);
  }
}

/** Parses `.npy` bytes already in memory (copies the data into an aligned array of its type). */
export function decodeNpy(bytes: Uint8Array, source = 'npy bytes'): NpyArray {
  const header = parseHeader(bytes, source);
  if ('need' in header) fail(source, `a header of ${header.need} bytes`, `${bytes.byteLength} bytes (truncated)`);
  const spec = DTYPES[header.dtype];
  const count = header.shape.reduce((p, d) => p * d, 1);
  const expected = header.dataOffset + count * spec.size;
  if (bytes.byteLength !== expected) {
    fail(source, `${expected} bytes for ${header.dtype} shape (${header.shape.join(', ')})`,
      `${bytes.byteLength} bytes (${bytes.byteLength < expected ? 'truncated' : 'trailing data'})`);
  }
  const data = spec.make(count);
  new Uint8Array(data.buffer).set(bytes.subarray(header.dataOffset, expected));
  if (header.bigEndian) byteswap(data, spec.size);
  if (header.dtype === 'bool') checkBool(data, source);
  return { dtype: header.dtype, shape: header.shape, data };
}

function dtypeOf(data: unknown): NpyDtype | null {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Uint8Array) return 'uint8';
  return null;
}

/** The `.npy` version 1.0 (2.0 for huge headers) preamble + header for an array, padded to 64 bytes. */
export function npyHeader(dtype: NpyDtype, shape: number[]): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const descr = `${DTYPES[dtype].size === 1 ? '|' : '<'}${DTYPES[dtype].code}`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  let preamble = 10;
  let total = Math.ceil((preamble + dict.length + 1) / 64) * 64;
  if (total - preamble > 0xffff) {
    preamble = 12;
    total = Math.ceil((preamble + dict.length + 1) / 64) * 64;
  }
  const v1 = preamble === 10;
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  out[6] = v1 ? 1 : 2;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (v1) view.setUint16(8, total - preamble, true);
  else view.setUint32(8, total - preamble, true);
  const text = dict.padEnd(total - preamble - 1, ' ') + '\n';
  out.set(Buffer.from(text, 'latin1'), preamble);
  return out;
}

export interface WriteNpyOptions {
  /** Needed only to write a Uint8Array as 'bool'; otherwise taken from the array type. */
  dtype?: NpyDtype;
}

/** Writes `data` with `shape` as a C-order `.npy` file, atomically, without copying the data. */
export function writeNpy(path: string, data: NpyData, shape: number[], options: WriteNpyOptions = {}): void {
  const inferred = dtypeOf(data);
  if (inferred === null) {
    invalidArgument('data', 'a Float32Array, Float64Array, Int32Array, BigInt64Array or Uint8Array', data);
  }
  const dtype = options.dtype ?? inferred;
  if (dtype !== inferred && !(dtype === 'bool' && inferred === 'uint8')) {
    invalidArgument('options.dtype', `"${inferred}" for a ${data.constructor.name} (or "bool" for a Uint8Array)`, dtype);
  }
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    invalidArgument('shape', 'an array of non-negative integers', shape);
  }
  const count = shape.reduce((p, d) => p * d, 1);
  if (count !== data.length) {
    invalidArgumentText('shape', `dimensions whose product is data.length = ${data.length}`, `[${shape.join(', ')}] (product ${count})`);
  }
  if (dtype === 'bool') checkBool(data, path);
  writeFileAtomic(path, [npyHeader(dtype, shape), new Uint8Array(data.buffer, data.byteOffset, data.byteLength)]);
}
