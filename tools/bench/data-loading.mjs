// data-loading: the target "after the first epoch, reading batches takes < 5 % of a training step", measured
// in one run: the time to read + normalise one 128-image batch from the image-folder cache (@kqkd/data `batches`,
// no prefetch, so the read is not hidden behind anything) vs one ResNet9 ×1/8 training step (native backend) at batch
// 128 on 3×32×32. The folder (BENCH_IMAGES PNGs of 40×32, 10 classes, default 2560) is written to a temp dir and
// decoded once (that time is reported too). Env: BENCH_BATCHES (timed batches, default 40), BENCH_STEPS (timed
// training steps, default 5), BENCH_THREADS (default all cores), BENCH_WIDTH (default 0.125).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { batches, loadDataset, shuffledIndices } from '@kqkd/data';
import { benchTrainStep } from '@kqkd/train';
import { record } from './lib.mjs';

const images = Number(process.env.BENCH_IMAGES ?? 2560);
const timedBatches = Number(process.env.BENCH_BATCHES ?? 40);
const steps = Number(process.env.BENCH_STEPS ?? 5);
const threads = Number(process.env.BENCH_THREADS ?? availableParallelism());
const width = Number(process.env.BENCH_WIDTH ?? 0.125);
const batch = 128;

const dir = mkdtempSync(join(tmpdir(), 'kqkd-bench-folder-'));
try {
  for (let i = 0; i < images; i++) {
    const cls = `class${i % 10}`;
    mkdirSync(join(dir, cls), { recursive: true });
    const px = Buffer.from(Uint8Array.from({ length: 40 * 32 * 3 }, (_, k) => (i * 31 + k * 7 + (k >> 7) * 13) & 255));
    writeFileSync(join(dir, cls, `${i}.png`), await sharp(px, { raw: { width: 40, height: 32, channels: 3 } }).png().toBuffer());
  }
  let t = performance.now();
  const ds = await loadDataset('image-folder', { dir, split: 'train', imageSize: 32 });
  const decodeSeconds = (performance.now() - t) / 1000;
  // The target is for reading "after the first epoch": one untimed epoch first (the cache's pages, the JIT warm).
  let epoch = 0;
  for await (const _ of batches(ds, { indices: shuffledIndices(ds.count, epoch++), batchSize: batch, dropLast: true, prefetch: false })) { /* untimed */ }
  const times = [];
  while (times.length < timedBatches) {
    const order = shuffledIndices(ds.count, epoch++);
    const it = batches(ds, { indices: order, batchSize: batch, dropLast: true, prefetch: false });
    for (;;) {
      t = performance.now();
      const { done } = await it.next();
      if (done) break;
      times.push((performance.now() - t) / 1000);
      if (times.length >= timedBatches) { await it.return(undefined); break; }
    }
  }
  times.sort((a, b) => a - b);
  const readSeconds = times[Math.floor(times.length / 2)];
  const step = await benchTrainStep({ model: 'resnet9', width, input: [3, 32, 32], classes: 10, batch, steps, backend: 'native', threads });
  const result = {
    images: ds.count, batch, threads, width, decodeSecondsFirstOpen: decodeSeconds, readNormaliseSecondsMedian: readSeconds,
    readNormaliseSecondsMin: times[0], trainStepSeconds: step.secondsPerStep, ratio: readSeconds / step.secondsPerStep.median,
    versions: { node: process.version },
  };
  console.log(JSON.stringify(record('data-loading', result)));
  console.log(`\nread + normalise of a ${batch}-image batch from the cache: ${(readSeconds * 1000).toFixed(2)} ms (median of ${times.length}); ` +
    `ResNet9 ×${width} training step at batch ${batch}: ${(step.secondsPerStep.median * 1000).toFixed(0)} ms (median); ratio ${(100 * result.ratio).toFixed(2)} % (target < 5 %); ` +
    `first open decoded ${ds.count} PNGs in ${decodeSeconds.toFixed(2)} s`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
