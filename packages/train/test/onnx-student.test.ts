/**
 * ONNX students in training (issue 21, point 2). Kinds of check (CONTRIBUTING "How we test"):
 * - another implementation: PyTorch trains the same model from the same weights (models/students/sgd_reference.py
 *   rebuilds it from export.py's seed and checks it against the file's initializers) on the same three batches with
 *   plain SGD; the native backend trains the imported training-mode export: losses, parameters and BN running means
 *   agree within float tolerance. Running variances: both normalise with the biased batch variance, but PyTorch updates
 *   the running variance with the unbiased one (× n/(n − 1)) while ONNX Runtime's training BatchNormalization kernel
 *   (kqkd's, zoo models included) uses the biased one; kqkd's are checked against a PyTorch run with that update
 *   (`biasedRunningVar`), and the gap to stock PyTorch is measured and bounded by what n/(n − 1) explains;
 * - an independent reference for the config hash: sha256 of the file's bytes recomputed here.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRng } from '@kqkd/common';
import { decodeModel } from '@kqkd/onnx';
import { createInferenceSession } from '@kqkd/runtime';
import { configHash, createNativeBackend, parseTrainConfig, type BackendOptions } from '../src/index.js';

const ROOT = join(__dirname, '..', '..', '..');
const DIR = join(ROOT, 'models', 'students');
const PY = '/usr/bin/python3';
const torchAvailable = spawnSync(PY, ['-c', 'import torch, onnx'], { encoding: 'utf8' }).status === 0;

const base = {
  dataset: { name: 'fashion-mnist' }, epochs: 1, optimizer: { type: 'sgd', lr: 0.05, momentum: 0, weightDecay: 0 }, schedule: 'constant', runDir: '/tmp/x',
} as const;

describe('ONNX student model spec', () => {
  it('resolves the file against the working directory (recorded absolute), fills in its sha256, and hashes the content, not the path', () => {
    const file = join(DIR, 'resnet_eval_op13.onnx');
    const sha = createHash('sha256').update(readFileSync(file)).digest('hex');
    const c = parseTrainConfig({ ...base, modelSpec: { name: 'onnx', file: relative(process.cwd(), file) } });
    expect(c.modelSpec).toEqual({ name: 'onnx', file, sha256: sha });
    // a copy elsewhere: same hash; another file: another hash
    const copy = join(mkdtempSync(join(tmpdir(), 'kqkd-onnx-')), 'student.onnx');
    copyFileSync(file, copy);
    const h = configHash(c);
    expect(configHash(parseTrainConfig({ ...base, modelSpec: { name: 'onnx', file: copy } }))).toBe(h);
    expect(configHash(parseTrainConfig({ ...base, modelSpec: { name: 'onnx', file: join(DIR, 'resnet_train_op13.onnx') } }))).not.toBe(h);
    // the zoo's hash does not see the new fields
    expect(parseTrainConfig({ ...base, modelSpec: { name: 'small-cnn' } }).modelSpec).toEqual({ name: 'small-cnn' });
  });

  it('errors: no file, a changed file, a file for a zoo model, zoo options for a file', () => {
    const file = join(DIR, 'resnet_eval_op13.onnx');
    expect(() => parseTrainConfig({ ...base, modelSpec: { name: 'onnx' } })).toThrow(/the student .onnx file \(name "onnx"\) for config\.modelSpec\.file but received nothing/);
    expect(() => parseTrainConfig({ ...base, modelSpec: { name: 'onnx', file, sha256: '0'.repeat(64) } })).toThrow(/config\.modelSpec\.sha256.*the file changed/);
    expect(() => parseTrainConfig({ ...base, modelSpec: { name: 'resnet9', file } })).toThrow(/nothing for the zoo model resnet9.*config\.modelSpec\.file/);
    expect(() => parseTrainConfig({ ...base, modelSpec: { name: 'onnx', file, width: 2 } })).toThrow(/nothing for an ONNX student.*config\.modelSpec\.width/);
    expect(() => parseTrainConfig({ ...base, modelSpec: { name: 'onnx', file: '/nonexistent/x.onnx' } })).toThrow(/a readable .onnx file for config\.modelSpec\.file but received \/nonexistent\/x.onnx \(ENOENT\)/);
  });
});

const B = 8;
const LR = 0.05;
const STEPS = 3;

describe('ONNX students train as in PyTorch (3 plain-SGD steps, CE, batch 8, native backend)', () => {
  for (const name of ['resnet', 'mobilenet', 'vit'] as const) {
    it.skipIf(!torchAvailable)(`${name}_train_op13: same losses, parameters and BN running statistics as PyTorch 1.13 (skipped when ${PY} cannot import torch: apt python3-torch python3-onnx)`, async () => {
      const file = join(DIR, `${name}_train_op13.onnx`);
      const rng = createRng(31);
      const batches = Array.from({ length: STEPS }, () => ({
        x: Array.from({ length: B * 784 }, () => Math.fround(rng.nextNormal())),
        y: Array.from({ length: B }, () => rng.nextInt(10)),
      }));
      const spec = join(mkdtempSync(join(tmpdir(), 'kqkd-onnx-sgd-')), 'batches.json');
      writeFileSync(spec, JSON.stringify({ lr: LR, shape: [B, 1, 28, 28], batches }));
      const py = spawnSync(PY, [join(DIR, 'sgd_reference.py'), name, file, spec], { encoding: 'utf8', timeout: 300_000, maxBuffer: 64 << 20 });
      expect(py.status, py.stderr).toBe(0);
      const ref = JSON.parse(py.stdout) as { losses: number[]; tensors: Record<string, number[]>; biasedRunningVar: Record<string, number[]> };

      const o: BackendOptions = {
        modelSpec: { name: 'onnx', file }, classes: 10, inputShape: [1, 28, 28], batchSize: B, evalBatchSize: B,
        optimizer: { type: 'sgd', lr: LR, momentum: 0, weightDecay: 0 }, schedule: { kind: 'constant', lr: LR }, seed: 0, threads: 1,
      };
      const be = await createNativeBackend(o);
      const losses: number[] = [];
      for (const b of batches) losses.push(await be.step(Float32Array.from(b.x), BigInt64Array.from(b.y.map(BigInt))));
      const s = await be.state();
      // the inference export (the replayed graph with the trained values) run alone by onnxruntime-node gives the
      // backend's own evaluation logits
      const x0 = Float32Array.from(batches[0].x);
      const evalLogits = await be.evalLogits(x0, B);
      const exported = await createInferenceSession(await be.exportInference());
      const alone = (await exported.run({ input: { data: x0, shape: [B, 1, 28, 28] } })).logits.data;
      await exported.release();
      await be.release();
      expect(Math.max(...evalLogits.map((v, i) => Math.abs(v - alone[i])))).toBeLessThan(1e-5);
      expect(Math.max(...evalLogits.map(Math.abs))).toBeGreaterThan(0.05);

      const lossErr = Math.max(...losses.map((l, i) => Math.abs(l - ref.losses[i]) / ref.losses[i]));
      // every tensor of the file: trained parameters, and the BN running statistics (frozen in the checkpoint)
      const ours = new Map([...s.trainable, ...s.frozen].map((t) => [t.name, t.data]));
      const initial = new Map((decodeModel(readFileSync(file)).graph!.initializer ?? []).map((t) => [t.name!, t]));
      let paramErr = 0;
      let statErr = 0;
      let stockVarGap = 0;
      let moved = 0;
      for (const [k, stock] of Object.entries(ref.tensors)) {
        const want = ref.biasedRunningVar[k] ?? stock;
        const got = ours.get(k);
        expect(got, k).toBeDefined();
        expect(got!.length, k).toBe(want.length);
        const scale = Math.max(...want.map(Math.abs), 1e-3);
        let err = 0;
        for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got![i] - want[i]) / scale);
        if (k.endsWith('running_mean') || k.endsWith('running_var')) statErr = Math.max(statErr, err); else paramErr = Math.max(paramErr, err);
        if (k in ref.biasedRunningVar) for (let i = 0; i < stock.length; i++) stockVarGap = Math.max(stockVarGap, Math.abs(got![i] - stock[i]) / Math.abs(stock[i]));
        if (initial.has(k)) moved++;
      }
      expect(moved).toBe(Object.keys(ref.tensors).length);
      console.log(`${name}: losses ${losses.map((l) => l.toFixed(6)).join(' ')} vs torch ${ref.losses.map((l) => l.toFixed(6)).join(' ')}; max rel loss err ${lossErr.toExponential(2)}, param err ${paramErr.toExponential(2)}, stat err ${statErr.toExponential(2)} (relative to each tensor's largest |value|); running var vs stock PyTorch (unbiased update) ${stockVarGap.toExponential(2)} relative`);
      expect(losses[0]).toBeGreaterThan(1);
      expect(lossErr).toBeLessThan(1e-5);
      expect(paramErr).toBeLessThan(1e-5);
      expect(statErr).toBeLessThan(1e-5);
      // stock PyTorch: 3 updates with weight 0.1 of a variance larger by 1/(n − 1), n ≥ 8 × 7 × 7 = 392 values per channel
      expect(stockVarGap).toBeLessThan(3 * 0.1 / 391 + 1e-5);
    }, 300_000);
  }
});
