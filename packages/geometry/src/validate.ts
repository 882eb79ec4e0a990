import { invalidArgument, invalidArgumentText, expectInteger } from '@kqkd/common';

/** Input of one layer's geometry: a row-major feature matrix, its labels, and the two KQ subsets. */
export interface GeometryInput {
  /** Row-major [rows × dim] float32 features. */
  features: Float32Array;
  rows: number;
  dim: number;
  /** One integer label per row, in [0, numClasses). */
  labels: Int32Array | ArrayLike<number>;
  /** Number of classes C; defaults to max(label) + 1 as in KQ-SPEC §0. */
  numClasses?: number;
  /** Subset M (row indices), distinct. */
  mainIndices: ArrayLike<number> | BigInt64Array;
  /** Subset P (row indices), distinct. */
  classIndices: ArrayLike<number> | BigInt64Array;
}

export interface ValidatedInput {
  features: Float32Array;
  rows: number;
  dim: number;
  labels: Int32Array;
  numClasses: number;
  mainIndices: BigInt64Array;
  classIndices: BigInt64Array;
}

function toInt32Labels(labels: unknown, rows: number): Int32Array {
  if (!(labels instanceof Int32Array) && !(ArrayBuffer.isView(labels) || Array.isArray(labels))) {
    invalidArgument('labels', 'an Int32Array or array of integers', labels);
  }
  const src = labels as ArrayLike<number | bigint>;
  if (src.length !== rows) {
    invalidArgumentText('labels', `${rows} labels (one per feature row)`, `${src.length} labels`);
  }
  if (labels instanceof Int32Array) return labels;
  const out = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const v = Number(src[i]);
    if (!Number.isInteger(v)) invalidArgumentText('labels', 'integer labels', `${String(src[i])} at index ${i}`);
    out[i] = v;
  }
  return out;
}

function toIndexArray(argument: string, indices: unknown, rows: number): BigInt64Array {
  if (!(ArrayBuffer.isView(indices) || Array.isArray(indices))) {
    invalidArgument(argument, 'an array of row indices', indices);
  }
  const src = indices as ArrayLike<number | bigint>;
  if (src.length === 0) invalidArgumentText(argument, 'at least one row index', 'an empty list');
  const out = new BigInt64Array(src.length);
  const seen = new Uint8Array(rows);
  for (let i = 0; i < src.length; i++) {
    const v = Number(src[i]);
    if (!Number.isInteger(v) || v < 0 || v >= rows) {
      invalidArgumentText(argument, `row indices in [0, ${rows})`, `${String(src[i])} at position ${i}`);
    }
    if (seen[v]) invalidArgumentText(argument, 'distinct row indices', `row ${v} twice (position ${i})`);
    seen[v] = 1;
    out[i] = BigInt(v);
  }
  return out;
}

/**
 * Checks everything KQ-SPEC §5 and the engine require; returns clean typed buffers for the addon. `values: 'native'`
 * leaves the one O(N·D) rule — every feature finite — to the addon, which checks it on all threads with the same
 * message (computeLayerGeometry does that: one pass less over a layer of hundreds of MB on the main thread).
 */
export function validateGeometryInput(input: GeometryInput, options: { values?: 'here' | 'native' } = {}): ValidatedInput {
  if (typeof input !== 'object' || input === null) invalidArgument('input', 'an object', input);
  const { features } = input;
  if (!(features instanceof Float32Array)) invalidArgument('features', 'a Float32Array', features);
  const rows = expectInteger('rows', input.rows, 1);
  const dim = expectInteger('dim', input.dim, 1);
  if (features.length !== rows * dim) {
    invalidArgumentText('features', `rows × dim = ${rows} × ${dim} = ${rows * dim} values`, `${features.length} values`);
  }
  if (options.values !== 'native') {
    for (let r = 0; r < rows; r++) {
      // float32 squares cannot overflow a double: a non-finite sum means a NaN/Inf in that row
      let sq = 0;
      for (let j = r * dim, end = j + dim; j < end; j++) sq += features[j] * features[j];
      if (!Number.isFinite(sq)) {
        let j = 0;
        while (Number.isFinite(features[r * dim + j])) j++;
        invalidArgumentText('features', 'finite values', `${features[r * dim + j]} at row ${r}, column ${j}`);
      }
    }
  }
  /** A zero row (zero norm) has no cosine; nonzero rows usually show it in their first values. */
  const isZeroRow = (r: number) => {
    for (let j = r * dim, end = j + dim; j < end; j++) if (features[j] !== 0) return false;
    return true;
  };
  const labels = toInt32Labels(input.labels, rows);
  let maxLabel = -1;
  for (let i = 0; i < rows; i++) {
    if (labels[i] < 0) invalidArgumentText('labels', 'labels >= 0', `${labels[i]} at row ${i}`);
    if (labels[i] > maxLabel) maxLabel = labels[i];
  }
  const numClasses = input.numClasses === undefined ? maxLabel + 1 : expectInteger('numClasses', input.numClasses, 2, 2 ** 31 - 1);
  if (numClasses < 2) invalidArgumentText('labels', 'at least 2 classes', `${numClasses} class`);
  if (maxLabel >= numClasses) {
    invalidArgumentText('labels', `labels in [0, ${numClasses})`, `${maxLabel} at row ${Array.prototype.indexOf.call(labels, maxLabel)}`);
  }
  const mainIndices = toIndexArray('mainIndices', input.mainIndices, rows);
  const classIndices = toIndexArray('classIndices', input.classIndices, rows);

  const mainPerClass = new Array<number>(numClasses).fill(0);
  for (const i of mainIndices) {
    const r = Number(i);
    mainPerClass[labels[r]]++;
    if (isZeroRow(r)) {
      invalidArgumentText('features', 'no zero-norm row in the main subset (KQ-SPEC §5: its cosines are undefined)',
        `an all-zero row ${r} (class ${labels[r]})`);
    }
  }
  const classPerClass = new Array<number>(numClasses).fill(0);
  for (const i of classIndices) classPerClass[labels[Number(i)]]++;
  for (let c = 0; c < numClasses; c++) {
    if (mainPerClass[c] < 2) {
      invalidArgumentText('mainIndices', 'at least 2 samples of every class in the main subset M (KQ-SPEC §5)',
        `${mainPerClass[c]} sample(s) of class ${c}`);
    }
    if (classPerClass[c] < 1) {
      invalidArgumentText('classIndices', 'at least 1 sample of every class in the class-PCA subset P (KQ-SPEC §5)',
        `no sample of class ${c}`);
    }
  }
  return { features, rows, dim, labels, numClasses, mainIndices, classIndices };
}
