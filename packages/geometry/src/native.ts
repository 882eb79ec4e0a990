import { createRequire } from 'node:module';

/** Raw result object produced by the addon (see native/src/binding). */
export interface NativeGeometry {
  numClasses: number;
  mainClassCount: Float64Array;
  normMin: Float64Array;
  normAvg: Float64Array;
  normMax: Float64Array;
  dpsMin: Float64Array;
  dpsAvg: Float64Array;
  dpsMax: Float64Array;
  avgIntraDist: Float64Array;
  minInterDist: Float64Array;
  minInterPair: Float64Array;
  pcagid: number;
  pcaClassCount: Float64Array;
  zeroColumns: Float64Array;
  spectrum: Float64Array[];
  classGramFromMain: boolean;
}

export interface NativeAddon {
  computeGeometry(
    features: Float32Array,
    rows: number,
    dim: number,
    labels: Int32Array,
    numClasses: number,
    mainIndices: BigInt64Array,
    classIndices: BigInt64Array,
    options: { backend: 'cpu' | 'cuda'; threads: number; tileRows: number },
  ): Promise<NativeGeometry>;
  cudaAvailable(): { available: boolean; reason: string };
  buildInfo(): { cuda: boolean; blas: string; openmp: boolean; version: string };
}

let cached: NativeAddon | undefined;

/** Loads the addon once; @kqkd/native throws a clear "build it with ..." error when it is missing. */
export function nativeAddon(): NativeAddon {
  if (!cached) {
    const require = createRequire(import.meta.url);
    cached = require('@kqkd/native') as NativeAddon;
  }
  return cached;
}
