/** Types of the @kqkd/native addon (native/src/binding). */

/** Raw geometry of one layer (see native/src/binding and @kqkd/geometry, which validates and interprets it). */
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

/** Sizes of `convWeightGradient` (integers; the bottom/right pads follow from the output size). */
export interface ConvWeightGradientShape {
  batch: number; inChannels: number; inHeight: number; inWidth: number;
  outChannels: number; outHeight: number; outWidth: number;
  kernelHeight: number; kernelWidth: number; strideHeight: number; strideWidth: number;
  padTop: number; padLeft: number; dilationHeight: number; dilationWidth: number;
}

/**
 * Every entry point checks its arguments (native/src/binding/args.h) and refuses a bad one with ONE error: a TypeError
 * with code "KQKD_INVALID_ARGUMENT", `argument` naming it, and the message "Expected <what> for <name> but received
 * <value>". kqkd's TypeScript callers check the same rules first (KqkdError), so from kqkd it only fires on a direct call.
 */
export interface NativeArgumentError extends TypeError {
  code: 'KQKD_INVALID_ARGUMENT';
  argument: string;
}

export interface NativeAddon {
  /**
   * Rejects with an Error carrying `code` and `argument` (the core's GeometryError: KQKD_INVALID_ARGUMENT or
   * KQKD_BACKEND_UNAVAILABLE; KQKD_INTERNAL otherwise); throws NativeArgumentError for bad argument types and ranges.
   */
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
  /**
   * One AdamW-kernel update in place, from the float32 constants of @kqkd/autodiff `adamwScalars` (names as there). Equal
   * lengths, non-overlapping buffers, finite float32 scalars, threads in [0, 1024] (else NativeArgumentError).
   * threads: 0 = automatic (≤ 4), 1 = serial; results do not depend on it.
   */
  adamwUpdate(param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, scalars: Readonly<Record<'adamMode' | 'alpha' | 'beta' | 'oneMinusAlpha' | 'oneMinusBeta' | 'epsilon' | 'lrCorrected' | 'lrWeightDecay' | 'lr' | 'weightDecay' | 'alphaCorrection' | 'betaCorrection', number>>, threads: number): void;
  /** The thread count `threads` resolves to (0 = automatic). */
  optimThreads(threads?: number): number;
  /**
   * The whole file as an ArrayBuffer over a private copy-on-write memory mapping: no read, no copy; writes through it
   * never reach the file; unmapped when the buffer is collected. A path that is not a non-empty string without NUL
   * bytes: NativeArgumentError; a file that cannot be opened or mapped: an Error naming the path and the reason.
   */
  mapFile(path: string): ArrayBuffer;
  /**
   * dW [M, C, kh, kw] of a 2-D ungrouped convolution from its input x [N, C, H, W] and output gradient dy
   * [N, M, Ho, Wo] (im2col + OpenBLAS SGEMM; overwrites dw). Shape fields integers in [1, 2^31 - 1] (pads from 0),
   * arrays of exactly the shape's sizes, dw overlapping neither, threads in [0, 1024] (else NativeArgumentError; the
   * native backend checks them first: packages/train/src/backends/conv-weight-gradient.ts). threads: 0 = OpenBLAS's default.
   */
  convWeightGradient(x: Float32Array, dy: Float32Array, dw: Float32Array, shape: ConvWeightGradientShape, threads: number): void;
}

/**
 * The addon, from the packaged prebuilt binary (prebuilds/<platform>-<arch>/, npm package only) or else the build from
 * source (build/Release/); throws with code KQKD_NATIVE_NOT_BUILT (neither there) or KQKD_NATIVE_LOAD_FAILED (a binary
 * that does not load, with the loader's reason), and the build command.
 */
export function loadAddon(): NativeAddon;
/** The addon, or why it cannot be loaded. */
export function tryLoadAddon(): { addon: NativeAddon; reason?: undefined } | { addon: null; reason: string };
/** Where the build from source puts the addon (build/Release/kqkd_native.node). */
export const addonPath: string;
/** Where the npm package's prebuilt binary for this platform lies (looked at first). */
export const prebuiltPath: string;
/** The file the addon was loaded from (undefined before the first successful load). */
export function loadedAddonPath(): string | undefined;
