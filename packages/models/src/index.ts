/**
 * @kqkd/models — the paper's model zoo on the graph builder: ResNet9/34, VGG11/19-BN, MobileNetV2, ViT_B/ET/ETT
 * (and the small CNN), each returning its logits and its generalized layers (METHOD.md §1, §7).
 */
export {
  ZOO, ZOO_NAMES, isOnnxModelPath, getModel, buildZooModel, ZeroInitBuilder, listModels, countParameters, checkInputShape,
  type ZooName, type ParameterCount, type BuildZooModelOptions, type BuiltZooModel, type ModelListing,
} from './zoo.js';
export type { InputShape, ZooBuildOptions, ZooLayer, ZooModel, ZooFamily, ModelDefinition } from './types.js';
export { LayerTaps, scaled } from './taps.js';
export { resnet, BN_MOMENTUM } from './resnet.js';
export { vgg, VGG_CONFIGS } from './vgg.js';
export { mobilenetv2, makeDivisible, MOBILENETV2_TABLE } from './mobilenetv2.js';
export { vit, VIT_CONFIGS, defaultPatch, type VitConfig } from './vit.js';
export { smallCnn, SMALL_CNN_DEFAULT_WIDTHS, type SmallCnnOptions } from './small-cnn.js';
export { loadOnnxStudent, ONNX_STUDENT_OPS, type OnnxStudent, type OnnxStudentInfo } from './onnx-student.js';
