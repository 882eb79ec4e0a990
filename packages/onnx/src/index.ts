/** @kqkd/onnx — ONNX model I/O, a small graph builder for fixtures, generalized layers of any classifier. */
export {
  onnx, DataType, toInt, tensorValues,
  type ModelProto, type GraphProto, type NodeProto, type TensorProto, type ValueInfoProto, type AttributeProto,
} from './proto.js';
export { type Dim, type Shape, type TensorType, formatShape, valueInfoType, makeValueInfo } from './shapes.js';
export {
  loadModel, saveModel, decodeModel, encodeModel, cloneModel, graphInputs, graphOutputs, tensorTypes,
  topologicalNodes, type TensorInfo,
} from './io.js';
export {
  GraphBuilder, DEFAULT_OPSET, IR_VERSION,
  type Tensor, type GraphBuilderOptions, type ConvOptions, type BatchNormOptions,
} from './builder.js';
export {
  findGeneralizedLayers, closestNames,
  type GeneralizedLayer, type GeneralizedLayers, type GeneralizedLayerKind, type FindLayersOptions,
} from './layers.js';
export { exposeOutputs } from './expose.js';
export { buildTinyCnn, TINY_CNN_INPUT, TINY_CNN_OUTPUT } from './fixtures/tiny-cnn.js';
