/**
 * @kqkd/geometry — the ONE entry point to the native Gram geometry of a layer's features (KQ-SPEC §1–§3).
 * Validation happens here; the addon computes on a worker thread and never sees unchecked input.
 */
import { expectInteger, expectOneOf, KqkdError } from '@kqkd/common';
import { nativeAddon, type NativeGeometry } from './native.js';
export { nativeFileMapper } from './native.js';
import { validateGeometryInput, type GeometryInput } from './validate.js';

export { validateGeometryInput, type GeometryInput, type ValidatedInput } from './validate.js';

export type BackendChoice = 'cpu' | 'cuda' | 'auto';
export const BACKENDS: readonly BackendChoice[] = ['cpu', 'cuda', 'auto'];

export interface GeometryOptions {
  /** 'cpu' (default), 'cuda', or 'auto' = cuda when a device is usable, else cpu. */
  backend?: BackendChoice;
  /** Threads for BLAS and reductions; 0 (default) = all cores. */
  threads?: number;
  /** Gram tile size in rows; 0 (default) = automatic. Exposed for tests and memory tuning. */
  tileRows?: number;
}

/** Everything KQ needs about one layer, per class (C) or per ordered class pair (C×C, row-major). */
export interface LayerGeometry extends Omit<NativeGeometry, 'minInterPair'> {
  /** The backend that actually ran. */
  backend: 'cpu' | 'cuda';
  /** C×2 row indices (into the features) of each class's nearest inter-class pair. */
  minInterPair: Float64Array;
}

export function cudaStatus(): { available: boolean; reason: string } {
  return nativeAddon().cudaAvailable();
}

export function buildInfo(): { cuda: boolean; blas: string; openmp: boolean; version: string } {
  return nativeAddon().buildInfo();
}

/** Resolves the requested backend to the one that will run, or explains why it cannot. */
export function resolveBackend(choice: BackendChoice = 'cpu'): 'cpu' | 'cuda' {
  expectOneOf('options.backend', choice, BACKENDS);
  if (choice === 'cpu') return 'cpu';
  const status = cudaStatus();
  if (choice === 'auto') return status.available ? 'cuda' : 'cpu';
  if (!status.available) {
    throw new KqkdError('options.backend', 'a usable CUDA device for backend "cuda"', `none: ${status.reason}`,
      'use backend "cpu" or "auto"');
  }
  return 'cuda';
}

/** Computes the geometry of one layer. Rejects with a KqkdError naming the argument for bad input. */
export async function computeLayerGeometry(input: GeometryInput, options: GeometryOptions = {}): Promise<LayerGeometry> {
  const threads = expectInteger('options.threads', options.threads ?? 0, 0, 1024);
  const tileRows = expectInteger('options.tileRows', options.tileRows ?? 0, 0, 2 ** 31 - 1);
  const backend = resolveBackend(options.backend ?? 'cpu');
  const v = validateGeometryInput(input, { values: 'native' });
  try {
    const raw = await nativeAddon().computeGeometry(v.features, v.rows, v.dim, v.labels, v.numClasses,
      v.mainIndices, v.classIndices, { backend, threads, tileRows });
    return { ...raw, backend };
  } catch (err) {
    const e = err as Error & { argument?: string };
    // The addon re-validates; anything it rejects is reported with the argument it names.
    if (e && typeof e.argument === 'string') {
      const wrapped = new KqkdError(e.argument, 'input accepted by the native engine', 'a rejected value', e.message);
      wrapped.message = e.message;
      throw wrapped;
    }
    throw err;
  }
}
