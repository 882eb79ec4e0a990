/**
 * @kqkd/data — datasets as typed arrays: Fashion-MNIST (IDX), CIFAR-10/100 (binary), Tiny ImageNet (JPEG folders), image
 * folders (JPEG/PNG/WebP, one sub-folder per class),
 * .npy files, a registry with streaming normalised batches, seeded shuffling and class-balanced samples.
 */
export { encodeIdx, parseIdx, readIdx, type IdxArray, type IdxData } from './idx.js';
export {
  loadFashionMnist, writeFashionMnist, FASHION_MNIST_DIR, FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_STD,
  type ImageDataset, type LoadFashionMnistOptions,
} from './fashion-mnist.js';
export {
  loadCifar10, loadCifar100, openCifar, CIFAR10_CLASSES, CIFAR100_CLASSES, CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN,
  CIFAR100_STD, type CifarSource, type CifarVariant, type LoadCifarOptions,
} from './cifar.js';
export {
  openTinyImageNet, decodeTinyImageNetImage, TINY_IMAGENET_MEAN, TINY_IMAGENET_STD,
  type OpenTinyImageNetOptions, type TinyImageNetSource,
} from './tiny-imagenet.js';
export {
  loadDataset, batches, datasetFromImages, sliceDataset, readAllImages, shuffledIndices, DATASETS, DATASET_NAMES, NORMALIZATION,
  FIXED_DATASET_NAMES, datasetNormalization,
  type Batch, type BatchesOptions, type Dataset, type DatasetName, type FixedDatasetName, type FixedDatasetInfo, type LoadDatasetOptions,
  type Normalization,
} from './registry.js';
export {
  openImageFolder, preprocessImage, IMAGE_FOLDER_EXTENSIONS, IMAGE_FOLDER_CACHE_DIR, IMAGE_RESIZE,
  type ImageFolderSource, type ImageFolderSplit, type OpenImageFolderOptions, type PreprocessOptions,
} from './image-folder.js';
export { toFloatBatch, classBalancedIndices, type FloatBatchOptions } from './batch.js';
export {
  readNpy, readNpyHeader, writeNpy, decodeNpy, npyHeader, type NpyArray, type NpyData, type NpyDtype, type WriteNpyOptions,
} from './npy.js';
export { augmentBatch, augmentImages, augmentSeed, augments, validateAugmentSpec, type AugmentSpec } from './augment.js';
