/**
 * The teacher-feature cache: built once through onnxruntime-node on the committed tiny CNN fixture, its rows equal a
 * direct forward of the same samples bit for bit, in any read order; a finished cache is reused without a forward
 * pass; an interrupted, truncated or stale cache is detected with an error naming the file.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_DIR, datasetFromImages, loadDataset, toFloatBatch, type Dataset } from '@kqkd/data';
import { buildTinyCnn, encodeModel, exposeOutputs } from '@kqkd/onnx';
import { createInferenceSession } from '@kqkd/runtime';
import { KqkdError } from '@kqkd/common';
import { buildTeacherCache, openTeacherCache, teacherModelSha256, TEACHER_CACHE_MANIFEST } from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'kqkd-teacher-cache-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const LAYERS = ['relu1', 'block1.relu', 'relu4', 'flatten'];
const modelBytes = encodeModel(buildTinyCnn(3));

function generated(count: number, seed = 7): Dataset {
  let s = seed >>> 0;
  const images = new Uint8Array(count * 28 * 28);
  for (let i = 0; i < images.length; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; images[i] = s >>> 24; }
  const labels = Uint8Array.from({ length: count }, (_, i) => i % 10);
  return datasetFromImages({ images, labels, count, height: 28, width: 28, channels: 1, classes: 10, classNames: [...'0123456789'] },
    { name: 'fashion-mnist', split: 'train' });
}

/** Direct forward of dataset samples `idx` (one batch) through onnxruntime-node: layer → [n, ...] data. */
async function direct(dataset: Dataset, idx: number[], layers = LAYERS): Promise<Record<string, Float32Array>> {
  const session = await createInferenceSession(encodeModel(exposeOutputs(buildTinyCnn(3), layers)));
  try {
    const bytes = await dataset.readImages(idx);
    const x = toFloatBatch({ images: bytes, count: idx.length, height: 28, width: 28, channels: 1 }, Array.from(idx, (_, i) => i), dataset.normalization);
    const out = await session.run({ input: x }, layers);
    return Object.fromEntries(layers.map((l) => [l, out[l].data]));
  } finally {
    await session.release();
  }
}

describe('teacher cache', () => {
  const dataset = generated(300);
  const dir = join(root, 'gen');

  it('writes one file per layer and rows equal a direct forward exactly, in any read order', async () => {
    const progress: number[] = [];
    const cache = await buildTeacherCache({ model: modelBytes, layers: LAYERS, dataset, batchSize: 64, dir, onProgress: (p) => progress.push(p.done) });
    expect(cache.reused).toBe(false);
    expect(cache.count).toBe(300);
    expect(progress).toEqual([64, 128, 192, 256, 300]);
    expect(cache.layers.map((l) => l.shape)).toEqual([[16, 28, 28], [16, 28, 28], [32, 14, 14], [32]]);
    for (const [i, l] of cache.layers.entries()) expect(statSync(join(dir, `${i}.f32`)).size).toBe(300 * l.rowFloats * 4);
    const manifest = JSON.parse(readFileSync(join(dir, TEACHER_CACHE_MANIFEST), 'utf8'));
    expect(manifest.modelSha256).toBe(teacherModelSha256(modelBytes));

    // Shuffled rows with some contiguous runs (5,6,7 and 298,299) and a repeat.
    const rows = [201, 5, 6, 7, 0, 299, 63, 64, 65, 150, 5, 298, 299];
    const want = await direct(dataset, rows);
    for (const [li, l] of cache.layers.entries()) {
      const got = cache.read(l.name, rows);
      expect(got.length).toBe(rows.length * l.rowFloats);
      expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(
        Buffer.from(want[l.name].buffer, want[l.name].byteOffset, want[l.name].byteLength))).toBe(true);
      // by position and into a caller's buffer (larger than needed)
      const out = new Float32Array(rows.length * l.rowFloats + 5);
      const view = cache.read(li, rows, out);
      expect(view.buffer).toBe(out.buffer);
      expect(Array.from(view)).toEqual(Array.from(got));
    }
    // The whole file in order equals the whole forward.
    const all = Array.from({ length: 300 }, (_, i) => i);
    const full = await direct(dataset, all, ['relu4']);
    expect(Array.from(cache.read('relu4', all))).toEqual(Array.from(full.relu4));
    expect(() => cache.read('relu4', [300])).toThrow(/sampleIndices\[0\]/);
    expect(() => cache.read('nope', [0])).toThrow(/cached layer/);
    cache.close();
  });

  it('reuses a finished cache without a forward pass, and rebuilds an interrupted one', async () => {
    const before = statSync(join(dir, '0.f32')).mtimeMs;
    let calls = 0;
    const again = await buildTeacherCache({ model: modelBytes, layers: LAYERS, dataset, batchSize: 32, dir, onProgress: () => { calls++; } });
    expect(again.reused).toBe(true);
    expect(calls).toBe(0);
    expect(statSync(join(dir, '0.f32')).mtimeMs).toBe(before);
    again.close();

    // Interrupted build: layer files present, manifest missing → open names the manifest; build recomputes.
    rmSync(join(dir, TEACHER_CACHE_MANIFEST));
    expect(() => openTeacherCache(dir)).toThrow(new RegExp(`${TEACHER_CACHE_MANIFEST}.*manifest is missing`));
    const rebuilt = await buildTeacherCache({ model: modelBytes, layers: LAYERS, dataset, batchSize: 128, dir, onProgress: () => { calls++; } });
    expect(rebuilt.reused).toBe(false);
    expect(calls).toBe(3);
    rebuilt.close();
  });

  it('names the file whose bytes changed after the build (sha256 in the manifest), and rebuilds it', async () => {
    const file = join(dir, '1.f32');
    const bytes = readFileSync(file);
    bytes.fill(0, 100, 140); // same size, other bytes
    writeFileSync(file, bytes);
    let err: unknown;
    try { openTeacherCache(dir); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(KqkdError);
    expect((err as Error).message).toMatch(new RegExp(`for ${file.replace(/[.]/g, '\\.')} but received a file with sha256 [0-9a-f]{16}…, changed or damaged since`));
    const cache = await buildTeacherCache({ model: modelBytes, layers: LAYERS, dataset, batchSize: 100, dir });
    expect(cache.reused).toBe(false);
    cache.close();
    expect(openTeacherCache(dir).reused).toBe(false); // opens cleanly again
  });

  it('names the file of a truncated cache, and rebuilds it', async () => {
    const file = join(dir, '2.f32');
    truncateSync(file, statSync(file).size - 4);
    let err: unknown;
    try { openTeacherCache(dir); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(KqkdError);
    expect((err as Error).message).toContain(file);
    expect((err as Error).message).toMatch(/truncated/);
    const cache = await buildTeacherCache({ model: modelBytes, layers: LAYERS, dataset, batchSize: 100, dir });
    expect(cache.reused).toBe(false);
    expect(statSync(file).size).toBe(300 * 32 * 14 * 14 * 4);
    cache.close();
  });

  it('detects a manifest mismatch: another model, layer list or dataset is rebuilt; openTeacherCache names the field', async () => {
    const other = encodeModel(buildTinyCnn(4));
    expect(() => openTeacherCache(dir, { modelSha256: teacherModelSha256(other) })).toThrow(
      new RegExp(`${join(dir, TEACHER_CACHE_MANIFEST).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} modelSha256.*stale`));
    expect(() => openTeacherCache(dir, { layers: ['relu1'] })).toThrow(/layers.*stale/);
    expect(() => openTeacherCache(dir, { count: 10 })).toThrow(/count.*stale/);
    expect(openTeacherCache(dir, { modelSha256: teacherModelSha256(modelBytes), count: 300, layers: LAYERS }).count).toBe(300);

    let calls = 0;
    const otherCache = await buildTeacherCache({ model: other, layers: ['relu4'], dataset: generated(300, 8), batchSize: 100, dir, onProgress: () => { calls++; } });
    expect(otherCache.reused).toBe(false);
    expect(calls).toBe(3);
    expect(otherCache.layers.map((l) => l.name)).toEqual(['relu4']);
    otherCache.close();

    // Damaged manifest → named error.
    writeFileSync(join(dir, TEACHER_CACHE_MANIFEST), '{"format":"something-else"}');
    expect(() => openTeacherCache(dir)).toThrow(new RegExp(`${TEACHER_CACHE_MANIFEST}.*stale or foreign`));
  });

  it.runIf(existsSync(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz')))(
    'caches a subset of real Fashion-MNIST by indices from a model file, rows following indices (needs Debian\'s dataset-fashion-mnist, which tools/setup.sh installs)', async () => {
    const fm = await loadDataset('fashion-mnist', { split: 'test' });
    const indices = Array.from({ length: 256 }, (_, i) => (i * 37) % fm.count);
    const modelPath = join(root, 'teacher.onnx');
    writeFileSync(modelPath, modelBytes);
    const cache = await buildTeacherCache({ model: modelPath, layers: ['relu3', 'flatten'], dataset: fm, indices, batchSize: 50, dir: join(root, 'fm') });
    expect(cache.count).toBe(256);
    const rows = [255, 3, 4, 100, 17];
    const want = await direct(fm, rows.map((r) => indices[r]), ['relu3', 'flatten']);
    expect(Array.from(cache.read('relu3', rows))).toEqual(Array.from(want.relu3));
    expect(Array.from(cache.read('flatten', rows))).toEqual(Array.from(want.flatten));
    cache.close();
    // Another index order is another cache.
    const reordered = await buildTeacherCache({ model: modelPath, layers: ['relu3', 'flatten'], dataset: fm, indices: indices.slice().reverse(), batchSize: 50, dir: join(root, 'fm') });
    expect(reordered.reused).toBe(false);
    reordered.close();
  });
});
