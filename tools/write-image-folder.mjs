#!/usr/bin/env node
// Writes Fashion-MNIST as a PNG image folder: OUT/train/<class>/<index>.png and OUT/test/<class>/<index>.png
// (greyscale 28×28, <index> = the image's index in its split), for trying `--data image-folder` on real images.
// Usage: node tools/write-image-folder.mjs --out DIR [--dir /usr/share/datasets/fashion-mnist] [--limit-train N] [--limit-test N]
// (build first: npx tsc -b packages/data). Class folder names are the label, then the dataset's class name made
// file-system safe ("0-T-shirt_top", …, "9-Ankle_boot"): image folders label classes by their SORTED folder names,
// and the prefix keeps that order the dataset's own, so a model trained on the IDX files (the committed teacher)
// predicts the same class indices on the folder.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { loadFashionMnist } from '@kqkd/data';

const args = process.argv.slice(2);
const known = new Set(['--out', '--dir', '--limit-train', '--limit-test']);
for (let i = 0; i < args.length; i += 2) {
  if (!known.has(args[i]) || i + 1 >= args.length) {
    console.error(`Expected ${[...known].join(', ')} each with a value but received "${args[i]}"`);
    process.exit(2);
  }
}
const option = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const out = option('--out');
if (!out) {
  console.error('Expected an output folder for --out but received nothing');
  process.exit(2);
}
const limit = (name) => {
  const v = option(name);
  if (v === undefined) return Infinity;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`Expected an integer ≥ 1 for ${name} but received "${v}"`);
    process.exit(2);
  }
  return n;
};

/** A folder name on every file system: no separators, reserved characters, control characters or leading/trailing dots and spaces. */
export function safeName(name) {
  const s = name.replace(/[/\\:*?"<>|\x00-\x1f]/g, '_').replace(/^[. ]+|[. ]+$/g, '').trim();
  return s.length > 0 ? s : '_';
}

const root = resolve(out);
for (const [split, max] of [['train', limit('--limit-train')], ['test', limit('--limit-test')]]) {
  const ds = loadFashionMnist({ ...(option('--dir') ? { dir: option('--dir') } : {}), split });
  const digits = String(ds.classNames.length - 1).length;
  const names = ds.classNames.map((n, c) => `${String(c).padStart(digits, '0')}-${safeName(n)}`);
  if (new Set(names).size !== names.length) throw new Error(`class names collide once made safe: ${names.join(', ')}`);
  names.forEach((n) => mkdirSync(join(root, split, n), { recursive: true }));
  const n = Math.min(max, ds.count);
  const size = ds.height * ds.width * ds.channels;
  const width = String(ds.count - 1).length;
  for (let i = 0; i < n; i++) {
    const px = ds.images.subarray(i * size, (i + 1) * size);
    const png = await sharp(Buffer.from(px), { raw: { width: ds.width, height: ds.height, channels: ds.channels } }).png().toBuffer();
    writeFileSync(join(root, split, names[ds.labels[i]], `${String(i).padStart(width, '0')}.png`), png);
  }
  console.log(`${split}: ${n} images in ${names.length} class folders under ${join(root, split)}`);
}
