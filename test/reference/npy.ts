/**
 * Tiny test-only .npy reader (format versions 1–3, little-endian, C order).
 * Supports float32, float64, int32 and int64. Deliberately independent of production code.
 */
import { readFileSync } from 'node:fs';

export type NpyData = Float32Array | Float64Array | Int32Array | BigInt64Array;

export interface NpyArray {
  dtype: 'f4' | 'f8' | 'i4' | 'i8';
  shape: number[];
  data: NpyData;
}

const BYTES: Record<NpyArray['dtype'], number> = { f4: 4, f8: 8, i4: 4, i8: 8 };

export function parseNpy(buf: Uint8Array): NpyArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  for (let i = 0; i < magic.length; i++) {
    if (buf[i] !== magic[i]) throw new Error('npy: bad magic');
  }
  const major = buf[6];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new Error(`npy: unsupported version ${major}`);
  }
  const header = new TextDecoder('latin1').decode(buf.subarray(headerStart, headerStart + headerLen));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeStr = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeStr === undefined) {
    throw new Error(`npy: cannot parse header ${header}`);
  }
  if (fortran !== 'False') throw new Error('npy: Fortran order not supported');
  const m = /^([<|=])([fi][48])$/.exec(descr);
  if (!m) throw new Error(`npy: unsupported dtype ${descr} (little-endian f4/f8/i4/i8 only)`);
  const dtype = m[2] as NpyArray['dtype'];
  const shape = shapeStr
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => Number.parseInt(s, 10));
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = headerStart + headerLen;
  const nbytes = count * BYTES[dtype];
  if (buf.byteLength < dataStart + nbytes) throw new Error('npy: truncated data');
  // Copy into a fresh, aligned ArrayBuffer (Node's Buffer#slice is a view, so copy explicitly).
  const ab = new ArrayBuffer(nbytes);
  new Uint8Array(ab).set(buf.subarray(dataStart, dataStart + nbytes));
  let data: NpyData;
  switch (dtype) {
    case 'f4': data = new Float32Array(ab); break;
    case 'f8': data = new Float64Array(ab); break;
    case 'i4': data = new Int32Array(ab); break;
    case 'i8': data = new BigInt64Array(ab); break;
  }
  return { dtype, shape, data };
}

export function readNpy(path: string): NpyArray {
  return parseNpy(readFileSync(path));
}

/** Converts any supported array (int64 included) to plain JS numbers. */
export function npyToNumbers(a: NpyArray): number[] {
  const out = new Array<number>(a.data.length);
  for (let i = 0; i < a.data.length; i++) out[i] = Number(a.data[i]);
  return out;
}
