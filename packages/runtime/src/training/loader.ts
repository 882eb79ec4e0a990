/**
 * Loads onnxruntime-web 1.19.2's training build in Node. Its package `exports` map "./training" to null for Node,
 * so the CommonJS dist file is read by absolute path, two bugs of its JS glue are patched in the source string, and
 * the result is compiled as a module with the dist file's own filename (so it still finds its .mjs/.wasm beside
 * itself). node_modules is never edited.
 */
import { readFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { KqkdError, expectInteger } from '@kqkd/common';

/** The parts of onnxruntime-web's training API this package uses (its own types resolve to null under Node). */
export interface OrtTensor {
  readonly type: string;
  readonly data: unknown;
  readonly dims: readonly number[];
}
export interface OrtTrainingSessionHandle {
  readonly trainingInputNames: readonly string[];
  readonly trainingOutputNames: readonly string[];
  readonly evalInputNames: readonly string[];
  readonly evalOutputNames: readonly string[];
  runTrainStep(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  runOptimizerStep(): Promise<void>;
  runEvalStep(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  lazyResetGrad(): Promise<void>;
  getParametersSize(trainableOnly: boolean): Promise<number>;
  getContiguousParameters(trainableOnly: boolean): Promise<OrtTensor>;
  loadParametersBuffer(buffer: Uint8Array, trainableOnly: boolean): Promise<void>;
  release(): Promise<void>;
}
export interface OrtTrainingModule {
  env: { wasm: { numThreads?: number } };
  Tensor: new (type: string, data: Float32Array | BigInt64Array | Int32Array | Uint8Array, dims: readonly number[]) => OrtTensor;
  TrainingSession: {
    create(artifacts: { checkpointState: Uint8Array; trainModel: Uint8Array; evalModel?: Uint8Array; optimizerModel?: Uint8Array }):
      Promise<OrtTrainingSessionHandle>;
  };
}

/** The only onnxruntime-web version whose glue these patches fit (training was removed upstream after it). */
export const ORT_WEB_TRAINING_VERSION = '1.19.2';
export const TRAINING_DIST_FILE = 'ort.training.wasm.min.js';

export interface GluePatch {
  name: string;
  why: string;
  find: string;
  replace: string;
}

/** The two glue fixes, as exact source substitutions in `ort.training.wasm.min.js` 1.19.2. */
export const GLUE_PATCHES: readonly GluePatch[] = [
  {
    name: 'getContiguousParameters: no _free() of a stackAlloc pointer',
    why: 'freeing the stack-allocated dims array corrupts the wasm heap ("table index is out of bounds" later)',
    find: 'n._free(u),n._free(l),n.stackRestore(o)',
    replace: 'n._free(u),n.stackRestore(o)',
  },
  {
    name: 'loadParametersBuffer: no _free() of a stackAlloc pointer',
    why: 'same heap corruption as getContiguousParameters',
    find: 'o.stackRestore(r),o._free(u),o._free(f)}',
    replace: 'o.stackRestore(r),o._free(u)}',
  },
  {
    name: 'runEvalStep: name results with the eval output names',
    why: 'the glue labels eval results with the training model\'s output names',
    find: 'u=await _n(this.sessionId,r,a,i,c,o);return this.convertTensorMetadataToReturnType(u,s,i)}',
    replace: 'u=await _n(this.sessionId,r,a,i,c,o);let kqkdNames=this.outputNames;this.outputNames=this.evalOutputNames;'
      + 'try{return this.convertTensorMetadataToReturnType(u,s,i)}finally{this.outputNames=kqkdNames}}',
  },
];

/** Applies every patch exactly once; a missing or repeated patch site throws, naming the patch and the version. */
export function applyGluePatches(source: string, version: string, patches: readonly GluePatch[] = GLUE_PATCHES): string {
  let out = source;
  for (const p of patches) {
    const first = out.indexOf(p.find);
    if (first < 0 || out.indexOf(p.find, first + 1) >= 0) {
      throw new KqkdError(`onnxruntime-web ${version} ${TRAINING_DIST_FILE}`,
        `exactly one site for the glue patch "${p.name}" (written for onnxruntime-web ${ORT_WEB_TRAINING_VERSION})`,
        first < 0 ? 'no such site' : 'several sites',
        `install onnxruntime-web@${ORT_WEB_TRAINING_VERSION} exactly; the patch fixes: ${p.why}`);
    }
    out = out.slice(0, first) + p.replace + out.slice(first + p.find.length);
  }
  return out;
}

/** Just what is used of WebAssembly.Memory (the DOM/WebAssembly lib types are not part of this build). */
interface WasmMemory { readonly buffer: ArrayBuffer }
type WasmMemoryCtor = new (desc: unknown) => WasmMemory;
const wasmGlobal = globalThis as unknown as { WebAssembly: { Memory: WasmMemoryCtor } };
const memories: WasmMemory[] = [];

function printable(u8: Uint8Array, p: number, max: number): string | null {
  let s = '';
  for (let i = p; i < u8.length && i < p + max; i++) {
    const c = u8[i];
    if (c === 0) return s;
    if (c < 9 || (c > 13 && c < 32) || c > 126) return null;
    s += String.fromCharCode(c);
  }
  return s;
}

/** Text that looks like an ORT exception message: a source location (`file.cc:123`) or ORT's own prefixes. */
const ORT_MESSAGE = /\.(cc|cpp|h):\d+|onnxruntime|\[ONNXRuntimeError\]|Exception/;

/**
 * The wasm build throws C++ exceptions to JS as a bare number: the address of the exception object. ORT's
 * OnnxRuntimeException keeps its message in std::strings (pointer to heap text, or short text inline), so the words
 * after that address are scanned for readable text. A word can also point INTO unrelated text (operator schema
 * docs live in the same memory), so candidates that start mid-string are dropped, text shaped like an ORT message
 * (a source location such as `graph.cc:123`) is preferred, and the longest such text wins.
 */
export function decodeWasmException(err: unknown): string {
  if (typeof err !== 'number') {
    if (err instanceof Error) return err.message;
    return String(err);
  }
  const found: string[] = [];
  for (const mem of memories) {
    const u8 = new Uint8Array(mem.buffer);
    if (err <= 0 || err + 160 > u8.length) continue;
    const dv = new DataView(mem.buffer);
    for (let off = 0; off < 160; off += 4) {
      const p = dv.getUint32(err + off, true);
      // A std::string's data pointer points at the START of its text: a printable byte just before means mid-text.
      const startsText = p > 1024 && p < u8.length && !(u8[p - 1] >= 32 && u8[p - 1] <= 126);
      if (startsText) {
        const s = printable(u8, p, 4096);
        if (s && s.length > 12) found.push(s);
      }
      const inline = printable(u8, err + off, 23);
      if (inline && inline.length > 12) found.push(inline);
    }
  }
  const unique = [...new Set(found)];
  const ranked = unique.sort((a, b) => Number(ORT_MESSAGE.test(b)) - Number(ORT_MESSAGE.test(a)) || b.length - a.length);
  const best = ranked[0];
  return best ? `ONNX Runtime error: ${best.trim()}` : 'ONNX Runtime raised a C++ exception whose message could not be decoded';
}

interface LoadedRuntime { ort: OrtTrainingModule; threads: number; version: string; dist: string }
let loaded: LoadedRuntime | null = null;
let initialized = false;

export interface TrainingRuntimeOptions {
  /** wasm threads; default 1 (threads gave no gain on 2 cores). Fixed by the first load in a process. */
  threads?: number;
}

/** The patched training build, loaded once per process. */
export function loadTrainingRuntime(options: TrainingRuntimeOptions = {}): LoadedRuntime {
  const threads = expectInteger('options.threads', options.threads ?? 1, 1, 64);
  if (loaded) {
    if (options.threads !== undefined && threads !== loaded.threads) {
      throw new KqkdError('options.threads', `${loaded.threads} (the training runtime is already loaded with that many threads)`, String(threads));
    }
    return loaded;
  }
  const require = createRequire(import.meta.url);
  const dist = dirname(require.resolve('onnxruntime-web'));
  const version = (JSON.parse(readFileSync(join(dist, '..', 'package.json'), 'utf8')) as { version: string }).version;
  const file = join(dist, TRAINING_DIST_FILE);
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (err) {
    throw new KqkdError('onnxruntime-web', `the training build ${TRAINING_DIST_FILE} (onnxruntime-web@${ORT_WEB_TRAINING_VERSION})`,
      `version ${version} without it`, (err as Error).message);
  }
  const patched = applyGluePatches(source, version);
  type InternalModule = { filename: string; paths: string[]; exports: unknown; _compile(src: string, file: string): void };
  const M = Module as unknown as {
    new(id: string, parent?: unknown): InternalModule;
    _nodeModulePaths(dir: string): string[];
  };
  const mod = new M(file);
  mod.filename = file;
  mod.paths = M._nodeModulePaths(dist);
  mod._compile(patched, file);
  const ort = mod.exports as OrtTrainingModule;
  ort.env.wasm.numThreads = threads;
  loaded = { ort, threads, version, dist };
  return loaded;
}

/**
 * Runs the first session creation with `WebAssembly.Memory` observed, so the wasm memory is known to
 * `decodeWasmException`; the constructor is restored right after.
 */
export async function withMemoryCapture<T>(fn: () => Promise<T>): Promise<T> {
  if (initialized) return fn();
  const Original = wasmGlobal.WebAssembly.Memory;
  function Capturing(this: unknown, desc: unknown): WasmMemory {
    const m = new Original(desc);
    memories.push(m);
    return m;
  }
  Capturing.prototype = Original.prototype;
  wasmGlobal.WebAssembly.Memory = Capturing as unknown as WasmMemoryCtor;
  try {
    return await fn();
  } finally {
    initialized = memories.length > 0;
    wasmGlobal.WebAssembly.Memory = Original;
  }
}
