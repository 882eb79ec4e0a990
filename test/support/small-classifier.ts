/**
 * A small untrained ONNX classifier of any input shape and class count (conv → ReLU → global average pool → Flatten →
 * Gemm), written to a file: the candidate teachers a test needs that do not fit the data (another input size, another
 * number of classes), or a symbolic class dimension.
 */
import { GraphBuilder, saveModel } from '@kqkd/onnx';

export function writeSmallClassifier(path: string, o: { channels: number; side: number; classes: number; seed?: number; symbolicClasses?: boolean }): string {
  const b = new GraphBuilder({ name: 'small_classifier', seed: o.seed ?? 7 });
  const x = b.input('input', ['N', o.channels, o.side, o.side]);
  const a = b.relu(b.conv(x, 8, { name: 'conv1' }), 'relu1');
  const c = b.relu(b.conv(a, 8, { name: 'conv2' }), 'relu2');
  const f = b.flatten(b.globalAveragePool(c, 'gap'), 1, 'flatten');
  b.output(b.gemm(f, o.classes, 'fc'), 'logits');
  const model = b.build();
  if (o.symbolicClasses) {
    const dims = model.graph!.output![0].type!.tensorType!.shape!.dim!;
    dims[dims.length - 1] = { dimParam: 'classes' };
  }
  saveModel(model, path);
  return path;
}
