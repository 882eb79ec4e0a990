/**
 * The API's own work: `.npy` labels read without truncation (a value of 2^31 or more, or one that does not fit the
 * class count, is refused naming the file, the rule and the value), index files, `score` writing its files and
 * returning their paths, the option checks of `train`, `benchTrainStep` and `evaluate`, and the options that must
 * reach the training sessions: `threads` and `executionProvider` arrive at the backend factory of `train`, and
 * `runExperiment`'s `threads` arrives at every training run of the experiment (@kqkd/train's `train`, wrapped here).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { kqkdError } from '../../../test/support/kqkd-error.js';
import { KqkdError } from '@kqkd/common';
import { writeNpy } from '@kqkd/data';
import { drawSubsets, scoreLayers } from '@kqkd/kq';
import { referenceKq } from '../../../test/reference/kq-reference.js';
import type { BackendOptions, TrainOptions } from '@kqkd/train';
import { benchTrainStep, evaluate, readIndicesNpy, readLabelsNpy, resolveExperimentConfig, runExperiment, score, train } from '../src/index.js';

/** Every options object @kqkd/train's `train` received (it still trains: the wrapper calls through). */
const trainCalls = vi.hoisted(() => [] as Record<string, unknown>[]);
vi.mock('@kqkd/train', async (importOriginal) => {
  const real = await importOriginal<typeof import('@kqkd/train')>();
  return { ...real, train: (o: TrainOptions) => { trainCalls.push({ ...o }); return real.train(o); } };
});

const dir = mkdtempSync(join(tmpdir(), 'kqkd-api-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const repo = resolve(__dirname, '..', '..', '..');


async function rejected(p: Promise<unknown>): Promise<KqkdError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(KqkdError);
  return err as KqkdError;
}

/** int64 labels as a .npy file. */
function labelsFile(name: string, values: bigint[]): string {
  const p = join(dir, `${name}.npy`);
  writeNpy(p, BigInt64Array.from(values), [values.length]);
  return p;
}

describe('readLabelsNpy', () => {
  const base = Array.from({ length: 60 }, (_, i) => BigInt(i % 3));

  it('reads int64 and int32 labels as class indices', () => {
    expect(Array.from(readLabelsNpy(labelsFile('ok', base)))).toEqual(base.map(Number));
    const p32 = join(dir, 'ok32.npy');
    writeNpy(p32, Int32Array.from(base, Number), [60]);
    expect(Array.from(readLabelsNpy(p32))).toEqual(base.map(Number));
  });

  it('refuses an int64 label of 2^31 or more instead of truncating it, naming the file, the rule and the value', () => {
    for (const big of [2n ** 31n, 2n ** 32n + 1n, 2n ** 62n]) {
      const p = labelsFile(`big-${big}`, base.map((v, i) => (i === 7 ? big : v)));
      const e = kqkdError(() => readLabelsNpy(p, '--labels'));
      expect(e.argument).toBe('--labels');
      expect(e.message).toBe(`Expected class indices below 2^31 (int64 labels are not truncated) for --labels but received ${big} at row 7 of ${p}`);
    }
    const neg = labelsFile('negative', base.map((v, i) => (i === 3 ? -1n : v)));
    expect(kqkdError(() => readLabelsNpy(neg)).message).toMatch(/Expected class indices ≥ 0 for labels but received -1 at row 3 of .*negative\.npy/);
  });

  it('refuses a label that does not fit the class count (a class between 0 and the largest label without samples)', () => {
    for (const [value, empty] of [[4n, 3], [2n ** 31n - 1n, 3], [5n, 3]] as const) {
      const p = labelsFile(`gap-${value}`, base.map((v, i) => (i === 11 ? value : v)));
      const e = kqkdError(() => readLabelsNpy(p, '--labels'));
      expect(e.message).toContain('labels that fit the class count (the file holds 4 distinct labels, so classes 0 … 3) for --labels');
      expect(e.message).toContain(`but received ${value} at row 11 of ${p} (class ${empty} has no sample)`);
    }
    // 0 … 3 with every class present is fine
    expect(readLabelsNpy(labelsFile('four', base.map((v, i) => (i === 11 ? 3n : v))))[11]).toBe(3);
  });

  it('refuses labels of another dtype or rank', () => {
    const f = join(dir, 'float-labels.npy');
    writeNpy(f, new Float32Array(6), [6]);
    expect(kqkdError(() => readLabelsNpy(f)).message).toMatch(/int64 or int32 labels for labels but received float32 in .*float-labels\.npy/);
    const m = join(dir, 'matrix-labels.npy');
    writeNpy(m, new BigInt64Array(6), [2, 3]);
    expect(kqkdError(() => readLabelsNpy(m)).message).toMatch(/a 1-D array \[N\] for labels but received shape \[2, 3\]/);
  });
});

describe('readIndicesNpy', () => {
  it('an empty index file is refused naming the option and the file', () => {
    const p = join(dir, 'empty-idx.npy');
    writeNpy(p, new BigInt64Array(0), [0]);
    expect(kqkdError(() => readIndicesNpy(p, 'idxMain')).message).toBe(`Expected at least one row index for idxMain but received an empty array in ${p}`);
  });
});

describe('score', () => {
  const N = 120;
  const labels = Array.from({ length: N }, (_, i) => i % 3);
  const features = Float32Array.from({ length: N * 6 }, (_, i) => Math.sin(i * 1.3) + (i % 6 === labels[Math.floor(i / 6)] ? 2 : 0));
  const x = join(dir, 'layer.npy');
  const y = labelsFile('score-y', labels.map(BigInt));
  writeNpy(x, features, [N, 6]);

  it('scores .npy features to the float64 reference\'s S, I, E and Q, writes kq.json and the curves, and returns their paths', async () => {
    const out = join(dir, 'score-out');
    const r = await score({ features: [x], labels: y, datasetSize: 1000, seed: 2, topK: 1, out });
    // Independent: test/reference/kq-reference.ts (float64 loops, proved on the paper code's golden vectors) on the
    // subsets seed 2 draws; KQ-SPEC's tolerance.
    const subsets = drawSubsets(labels, 2);
    const ref = referenceKq({ features, shape: [N, 6], labels, mainIndices: subsets.mainIndices, classIndices: subsets.classIndices, datasetSize: 1000 });
    for (const k of ['S', 'I', 'E', 'Q'] as const) {
      const got = r.report.layers[0][k]!;
      expect(Math.abs(got - ref[k]) <= 1e-6 || Math.abs(got - ref[k]) <= 1e-4 * Math.abs(ref[k]), `${k}: ${got} vs reference ${ref[k]}`).toBe(true);
    }
    const direct = await scoreLayers([{ name: 'layer', index: 0, features, shape: [N, 6] }], labels, { datasetSize: 1000, seed: 2, topK: 1 });
    expect(r.report.layers[0].Q).toBe(direct.layers[0].Q); // the API is the engine, unchanged
    expect(r.files).toEqual({ json: join(out, 'kq.json'), svg: join(out, 'kq-curves.svg'), png: join(out, 'kq-curves.png') });
    expect(JSON.parse(readFileSync(r.files!.json, 'utf8')).layers[0].Q).toBeCloseTo(direct.layers[0].Q, 12);
    expect(readFileSync(r.files!.png).subarray(1, 4).toString()).toBe('PNG');
    // without out: nothing written, no paths
    expect((await score({ features: [x], labels: y, datasetSize: 1000, seed: 2, topK: 1 })).files).toBeUndefined();
  });

  it('one source of features; labels with features; an aborted signal stops before any work and leaves no folder', async () => {
    expect((await rejected(score({ features: [x], labels: y, datasetSize: 200, model: 'm.onnx' } as never))).message).toMatch(/one source of features for features\/model but received both/);
    expect((await rejected(score({ out: join(dir, 'x') } as never))).argument).toBe('features/model');
    expect((await rejected(score({ features: [x], datasetSize: 200 } as never))).message).toMatch(/with features for labels but received nothing/);
    expect((await rejected(score({ features: [x], labels: y, datasetSize: 200, idxMain: [1, 2] }))).message).toMatch(/both index sets or neither for idxMain\/idxClass/);
    expect((await rejected(score({ model: 'm.onnx', data: 'mnist' as never }))).message).toMatch(/for data but received "mnist"/);
    const controller = new AbortController();
    controller.abort(new KqkdError('signal', 'no abort', 'an abort'));
    const out = join(dir, 'aborted');
    await expect(score({ features: [x], labels: y, datasetSize: 200, out, signal: controller.signal })).rejects.toThrow(/an abort/);
    expect(existsSync(out)).toBe(false);
  });
});

/** A small-cnn run on the first 256 Fashion-MNIST images. */
const runConfig = (name: string): TrainOptions => ({
  modelSpec: { name: 'small-cnn', widths: [4, 8] }, dataset: { name: 'fashion-mnist', trainLimit: 256, testLimit: 100 }, epochs: 1, batchSize: 32,
  optimizer: { type: 'adamw', lr: 0.01, weightDecay: 0.01 }, runDir: join(dir, name),
});

describe('train', () => {
  it('threads and executionProvider arrive at the backend factory, i.e. at the training sessions', async () => {
    const received: BackendOptions[] = [];
    const stop = new KqkdError('backend', 'a spy', 'the options');
    const err = await rejected(train({
      ...runConfig('spy'), threads: 3, executionProvider: 'cpu',
      createBackend: async (o) => { received.push(o); throw stop; },
    }));
    expect(err).toBe(stop);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ threads: 3, executionProvider: 'cpu', batchSize: 32, inputShape: [1, 28, 28] });
    expect(existsSync(join(dir, 'spy'))).toBe(false); // a refusal before the first checkpoint leaves nothing
  });

  it('CUDA is the native backend\'s: refused with the web-training backend, and an unknown provider is refused', async () => {
    expect((await rejected(train({ ...runConfig('web-cuda'), backend: 'web-training', executionProvider: 'cuda' }))).message)
      .toBe('Expected "cpu" with the web-training backend (CUDA runs the native backend only) for executionProvider but received "cuda"');
    expect((await rejected(train({ ...runConfig('tpu'), executionProvider: 'tpu' as never }))).message).toMatch(/one of "cpu", "cuda" for executionProvider but received "tpu"/);
    for (const d of ['web-cuda', 'tpu']) expect(existsSync(join(dir, d))).toBe(false);
  });
});

describe('benchTrainStep', () => {
  it('an aborted signal rejects before any session is built; distill and objective together are refused', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stopped by the caller'));
    const o = { model: 'small-cnn', input: [1, 8, 8], classes: 4, batch: 4, steps: 1, backend: 'native' as const };
    await expect(benchTrainStep({ ...o, signal: controller.signal })).rejects.toThrow('stopped by the caller');
    expect((await rejected(benchTrainStep({ ...o, distill: { method: 'vkd' } as never, objective: {} as never }))).argument).toBe('distill/objective');
  });
});

describe('evaluate', () => {
  it('refuses an unknown dataset or split, naming the option', async () => {
    const model = join(repo, 'models', 'tiny-cnn.onnx');
    expect((await rejected(evaluate({ model, data: 'mnist' as never }))).argument).toBe('data');
    expect((await rejected(evaluate({ model, data: 'fashion-mnist', split: 'val' as never }))).message).toBe('Expected "test" or "train" ("val" is for image-folder) for split but received "val"');
  });
});

describe('runExperiment', () => {
  it('resolves a preset with overrides into a validated config', () => {
    const { config, preset } = resolveExperimentConfig({ preset: 'quick', overrides: { methods: ['ce'], seeds: 1, epochs: 2, lrPolicy: 'shared' } });
    expect(preset).toBe('quick');
    expect(config.methods).toEqual(['ce']);
    expect(config.seeds).toBe(1);
    expect(config.training.epochs).toBe(2);
    expect(kqkdError(() => resolveExperimentConfig({ preset: 'quick', overrides: { methods: ['fitnet'] } })).argument).toBe('methods');
    // another policy replaces quick's tuned table (one shared rate means one shared rate); tuned keeps it
    expect(config.training.lrPolicy).toBe('shared');
    expect(config.training.methodLr).toBeUndefined();
    expect(config.training.lrSource).toBeUndefined();
    const tuned = resolveExperimentConfig({ preset: 'quick', overrides: { methods: ['ce', 'sp-vkd'] } }).config;
    expect([tuned.training.lrPolicy, tuned.training.methodLr?.['sp-vkd']]).toEqual(['tuned', 0.1]);
    // --tune-lr on quick: a tuning block, the table gone, and the validation split it needs
    const sweep = resolveExperimentConfig({ preset: 'quick', overrides: { tuneLr: [0.01, 0.05], validation: 5000 } }).config;
    expect([sweep.tuning, sweep.training.lrPolicy, sweep.training.methodLr, sweep.dataset.validation]).toEqual([{ lr: [0.01, 0.05], seeds: 2 }, 'shared', undefined, 5000]);
  });

  it('threads reaches every training run of the experiment (teacher imported, one CE student)', async () => {
    trainCalls.length = 0;
    const out = join(dir, 'experiment');
    const r = await runExperiment({
      config: {
        version: 1,
        dataset: { name: 'fashion-mnist', trainLimit: 200, testLimit: 100 },
        teacher: { onnx: join(repo, 'models', 'tiny-cnn.onnx') },
        student: { model: { name: 'small-cnn', widths: [4, 8] } },
        methods: ['ce'],
        seeds: 1,
        training: { epochs: 1, batchSize: 50, optimizer: { type: 'adamw', lr: 0.01 } },
        kq: { samples: 40 },
        distill: { k: 2 }, // tiny-cnn has two candidate teacher layers
      },
      out, threads: 1,
    });
    expect(r.methods.ce.runs).toHaveLength(1);
    expect(trainCalls).toHaveLength(1); // the student run (the teacher is imported)
    expect(trainCalls[0]).toMatchObject({ threads: 1, runDir: expect.stringContaining(join(out, 'runs')) });
  }, 300_000);

  it('parallel: a count ≥ 1 or auto, and not with queue (workers run one job each)', async () => {
    const out = join(dir, 'never');
    const queued = await runExperiment({ preset: 'quick', out, queue: 'redis://127.0.0.1:1', parallel: 2 }).catch((e: unknown) => e);
    expect(queued).toMatchObject({ argument: 'parallel', expected: expect.stringContaining('queue') });
    const zero = await runExperiment({ preset: 'quick', out, parallel: 0 }).catch((e: unknown) => e);
    expect(zero).toMatchObject({ argument: 'parallel' });
    expect(existsSync(out)).toBe(false);
  });
});
