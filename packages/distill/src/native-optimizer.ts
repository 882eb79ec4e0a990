/**
 * The host optimizer step in @kqkd/native (native/src/optim): ORT's AdamW kernel in C++, float32 operation for
 * operation as `adamwUpdate` (no FMA contraction, vectorised, OpenMP over parameter chunks), bit-identical to it.
 * Loaded lazily through `require('@kqkd/native')`; when the addon is not built (or predates the optimizer step) the
 * reason is returned instead and `HostOptimizer` keeps the TypeScript path.
 */
import { createRequire } from 'node:module';

/** The float32 constants of one kernel update (`adamwScalars` in host-optimizer.ts). */
export interface AdamWScalars {
  adamMode: 0 | 1;
  alpha: number;
  beta: number;
  oneMinusAlpha: number;
  oneMinusBeta: number;
  epsilon: number;
  /** adam_mode 1: lr · sqrt(1 − β₂ᵗ)/(1 − β₁ᵗ) (or lr without bias correction), and lr · weightDecay */
  lrCorrected: number;
  lrWeightDecay: number;
  /** adam_mode 0 */
  lr: number;
  weightDecay: number;
  alphaCorrection: number;
  betaCorrection: number;
}

export interface NativeOptimizerAddon {
  /**
   * One update in place. Equal lengths, non-overlapping buffers, finite scalars (else RangeError; wrong types:
   * TypeError). threads: 0 = automatic (≤ 4), 1 = serial; results do not depend on it.
   */
  adamwUpdate(param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, scalars: AdamWScalars, threads: number): void;
  /** The thread count `threads` resolves to (0 = automatic). */
  optimThreads(threads?: number): number;
}

let cached: { addon: NativeOptimizerAddon; reason?: undefined } | { addon: null; reason: string } | undefined;

/** The addon's optimizer step, or why it is unavailable (cached after the first call). */
export function nativeOptimizer(): { addon: NativeOptimizerAddon; reason?: undefined } | { addon: null; reason: string } {
  if (!cached) {
    try {
      const require = createRequire(import.meta.url);
      const addon = require('@kqkd/native') as Partial<NativeOptimizerAddon>;
      cached = typeof addon.adamwUpdate === 'function' && typeof addon.optimThreads === 'function'
        ? { addon: addon as NativeOptimizerAddon }
        : { addon: null, reason: '@kqkd/native is built without adamwUpdate (rebuild it: npm run build -w @kqkd/native)' };
    } catch (err) {
      cached = { addon: null, reason: err instanceof Error ? err.message : String(err) };
    }
  }
  return cached;
}
