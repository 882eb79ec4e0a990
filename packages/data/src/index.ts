/** @kqkd/data — datasets as typed arrays: Fashion-MNIST (IDX), .npy files, batching and class-balanced samples. */
export { parseIdx, readIdx, type IdxArray, type IdxData } from './idx.js';
export {
  loadFashionMnist, FASHION_MNIST_DIR, FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_STD,
  type ImageDataset, type LoadFashionMnistOptions,
} from './fashion-mnist.js';
export { toFloatBatch, classBalancedIndices, type FloatBatchOptions } from './batch.js';
export { readNpy, writeNpy, decodeNpy, npyHeader, type NpyArray, type NpyData, type NpyDtype, type WriteNpyOptions } from './npy.js';
