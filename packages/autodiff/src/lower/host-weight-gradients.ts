/**
 * Convolution weight gradients left to the host by `lowerTrainingGraph({ hostConvWeightGradient: true })`: standard
 * ONNX has no weight-gradient op, and its k·k shifted-copy MatMuls were ~35 % of a ResNet step in ONNX Runtime, while
 * im2col + one SGEMM on the host (@kqkd/native `convWeightGradient`) does the same arithmetic without them. The
 * lowered graph outputs each such convolution's input X and output gradient dY and writes zeros to `<p>.gradient`;
 * the caller overwrites that buffer with dW after every run. The list travels in the model's metadata.
 */
import type { ModelProto } from '@kqkd/onnx';

export const HOST_CONV_WEIGHT_GRADIENTS_KEY = 'kqkd.host_conv_weight_gradients';

export interface HostConvWeightGradient {
  /** The weight (a graph input) whose `<p>.gradient` the host fills. */
  parameter: string;
  /** Graph outputs: the convolution's input [N, C, H, W] and the gradient of its output [N, M, Ho, Wo]. */
  x: string;
  dy: string;
  xShape: number[];
  dyShape: number[];
  /** [M, C, kh, kw] */
  weightShape: number[];
  strides: number[];
  /** Top and left pads (the bottom/right ones follow from the output size). */
  padsBegin: number[];
  dilations: number[];
}

/** The host weight gradients a lowered model expects (none when it was lowered without the option). */
export function hostConvWeightGradients(model: ModelProto): HostConvWeightGradient[] {
  const entry = (model.metadataProps ?? []).find((m) => m.key === HOST_CONV_WEIGHT_GRADIENTS_KEY);
  return entry?.value ? (JSON.parse(entry.value) as HostConvWeightGradient[]) : [];
}
