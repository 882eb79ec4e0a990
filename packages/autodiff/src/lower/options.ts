/** The options of `lowerTrainingGraph` and the ops it knows. */
export interface LowerOptions {
  /**
   * Add a `<p>.gradient` output for every accumulated parameter that lacks one (default true), so a model built
   * without `exposeGradients` still returns its gradients once the accumulators are gone.
   */
  exposeGradients?: boolean;
  /**
   * Rewrite com.microsoft Gelu into 0.5·x·(1 + Erf(x/√2)) (default false: onnxruntime-node's CPU build runs the
   * contrib Gelu kernel, verified in test/lower.test.ts).
   */
  lowerGelu?: boolean;
  /**
   * How ConvGrad's dW is computed. "auto" (default) picks per node: "matmul" (one MatMul per kernel offset of
   * dY(M, N·O) against the shifted strided slice of the channels-last padded X(N·O, C); 1×1 stride-1 convs are one
   * MatMul; depthwise convolutions use one NCHWc depthwise Conv over the (sample, channel) planes with nchwcBlockSize,
   * else Mul + ReduceSum per offset) whenever the group's channels make those MatMuls
   * wide enough, else "conv" (a Conv over transposed tensors, any groups; MLAS runs it as a huge im2col and a GEMM
   * only K columns wide, which was the dominant cost of ResNet9 training). "gemm": explicit im2col columns by
   * strided Slices + one GEMM (group 1 and depthwise; slower than both).
   */
  convWeightGradient?: 'auto' | 'matmul' | 'gemm' | 'conv';
  /**
   * How ConvGrad's dX is computed: "auto" (default: for stride 1, a Conv of dY with the flipped, channel-transposed
   * kernel and "full" padding; otherwise ConvTranspose), "conv" (that Conv where it applies) or "convtranspose".
   */
  convInputGradient?: 'auto' | 'conv' | 'convtranspose';
  /**
   * Run the 2-D ungrouped and depthwise k×k convolutions (the forward ones and the stride-1 input gradients) and the
   * depthwise weight gradients on ONNX Runtime's NCHWc kernels with this block size (./nchwc.ts). It must be the
   * runtime's own (ask it with `nchwcProbeModel`); 0 or absent: standard Conv nodes. CPU execution provider only
   * (the nchwc ops have no other kernels).
   */
  nchwcBlockSize?: number;
  /**
   * Leave the weight gradient of every 2-D ungrouped k×k convolution (k > 1, or strided) whose gradient is its
   * parameter's whole gradient to the host (./host-weight-gradients.ts): the graph outputs the convolution's input X
   * and output gradient dY instead and writes zeros to `<p>.gradient`; the caller computes dW (im2col + SGEMM in
   * @kqkd/native) into that buffer. The list is in the model's metadata (`hostConvWeightGradients(model)`).
   */
  hostConvWeightGradient?: boolean;
}

/** Training-only ops this pass rewrites (domain com.microsoft, or the ONNX domain for the pool gradients). */
export const LOWERED_OPS = [
  'ReluGrad', 'LeakyReluGrad', 'SigmoidGrad', 'TanhGrad', 'GeluGrad', 'SoftmaxGrad_13', 'LogSoftmaxGrad_13', 'ConvGrad',
  'MaxPoolGrad', 'AveragePoolGrad', 'BatchNormInternal', 'BatchNormalizationGrad', 'LayerNormalizationGrad',
  'SoftmaxCrossEntropyLossGrad', 'GatherGrad', 'SliceGrad', 'InPlaceAccumulatorV2',
] as const;

/**
 * com.microsoft ops the lowered graph may hold (onnxruntime-node's CPU build runs them): Gelu kept as it is,
 * FusedMatMul written for 1×1 weight gradients.
 */
export const KEPT_MICROSOFT_OPS = ['Gelu', 'FusedMatMul'] as const;

