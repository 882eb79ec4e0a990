#!/usr/bin/env node
// Writes models/tiny-cnn.onnx (the committed test fixture) from @kqkd/onnx's seeded builder.
// Usage: node tools/make-fixture-model.mjs [--seed N] [--out path]   (build @kqkd/onnx first: npx tsc -b packages/onnx)
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildTinyCnn, encodeModel, saveModel } from '@kqkd/onnx';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
function option(name, fallback) {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
}
const seed = Number(option('--seed', '0'));
if (!Number.isInteger(seed) || seed < 0) {
  console.error(`Expected a non-negative integer for --seed but received "${option('--seed', '')}"`);
  process.exit(2);
}
const out = resolve(option('--out', resolve(root, 'models/tiny-cnn.onnx')));
const model = buildTinyCnn(seed);
saveModel(model, out);
console.log(`wrote ${out} (${encodeModel(model).byteLength} bytes, seed ${seed})`);
