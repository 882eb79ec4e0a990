/** @kqkd/onnx — ONNX model I/O, a small graph builder for fixtures, generalized layers of any classifier. */
export {
  onnx, DataType, toInt, tensorValues, firstNonFiniteWeight, type NonFiniteWeight,
  type ModelProto, type GraphProto, type NodeProto, type TensorProto, type ValueInfoProto, type AttributeProto,
} from './proto.js';
export { type Dim, type Shape, type TensorType, formatShape, valueInfoType, makeValueInfo } from './shapes.js';
export {
  loadModel, readModelFile, saveModel, decodeModel, encodeModel, cloneModel, graphInputs, graphOutputs, tensorTypes,
  topologicalNodes, countParameters, type TensorInfo,
} from './io.js';
export {
  GraphBuilder, DEFAULT_OPSET, IR_VERSION, MS_DOMAIN, STOP_GRADIENT, FROZEN_STATS,
  type Tensor, type GraphBuilderOptions, type ConvOptions, type WeightInit, type BatchNormOptions, type PoolOptions, type ParamOptions,
  type ParameterInfo,
} from './builder.js';
export { broadcastShapes, broadcastAxes, shapeError, numel, type OpSite } from './builder-infer.js';
export { attrInt, attrInts, attrFloat, attrString, getAttribute, AttributeType } from './proto.js';
export {
  findGeneralizedLayers, closestNames, withGeneralizedLayers, readGeneralizedLayersMetadata, GENERALIZED_LAYERS_METADATA_KEY,
  LAYER_KIND_REASONS, type GeneralizedLayer, type GeneralizedLayers, type GeneralizedLayerKind, type FindLayersOptions,
  type GeneralizedLayersMetadata,
} from './layers.js';
export { exposeOutputs } from './expose.js';
export { importSubgraph, importNode, type ImportSubgraphOptions, type NodeContext } from './subgraph.js';
export { buildTinyCnn, TINY_CNN_INPUT, TINY_CNN_OUTPUT } from './fixtures/tiny-cnn.js';
export { checkClassifier, type ImageData } from './classifier.js';
export {
  withImageMetadata, readImageMetadata, CLASS_NAMES_METADATA_KEY, NORMALIZATION_METADATA_KEY, INPUT_METADATA_KEY, IMAGE_METADATA_KEYS,
  IMAGE_RESIZE_RULES, type ImageMetadata, type ImageMetadataInput,
} from './image-metadata.js';
