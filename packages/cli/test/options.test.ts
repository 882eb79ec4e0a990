/**
 * What the flags become: each command hands the API the options its flags say (the API is replaced by spies here, so
 * nothing runs). `--threads` and `--device` of `kqkd train`, `--threads` of `kqkd experiment` and `--device` of
 * `kqkd bench train-step` arrive as `threads` / `executionProvider`; the API's own tests follow them to the training
 * sessions (packages/kqkd/test/api.test.ts), and device.test.ts sees `--device cuda` reach ONNX Runtime's provider choice.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { runCli } from './run-cli.js';

const calls = vi.hoisted(() => ({ train: [] as Record<string, unknown>[], runExperiment: [] as Record<string, unknown>[], benchTrainStep: [] as Record<string, unknown>[], evaluate: [] as Record<string, unknown>[] }));

vi.mock('@kqkd/kqkd', async (importOriginal) => {
  const real = await importOriginal<typeof import('@kqkd/kqkd')>();
  return {
    ...real,
    train: async (o: Record<string, unknown>) => {
      calls.train.push(o);
      return { top1Best: 50, bestEpoch: 1, top1Last: 50, completedEpochs: 1, seconds: 1, imagesPerSecond: 100 };
    },
    runExperiment: async (o: Record<string, unknown>) => {
      calls.runExperiment.push(o);
      return {
        teacher: { model: 'teacher', top1: 90 }, dataset: { evaluatedOn: 'test' }, selectionRule: 'kq-topk', selectedTeacherLayers: [1],
        methods: {}, ari: { value: null }, pictures: {}, seconds: 1,
      };
    },
    benchTrainStep: async (o: Record<string, unknown>) => {
      calls.benchTrainStep.push(o);
      return { ...o, imagesPerSecond: 1, secondsPerStep: { median: 1, min: 1, mean: 1 } };
    },
    evaluate: async (o: Record<string, unknown>) => {
      calls.evaluate.push(o);
      return { top1: 50, correct: 1, count: 2, classes: 2, classNames: ['a', 'b'], perClass: [100, 0], confusion: [[1, 0], [1, 0]], split: o.split };
    },
  };
});

const dir = mkdtempSync(join(tmpdir(), 'kqkd-cli-options-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => { for (const list of Object.values(calls)) list.length = 0; });

describe('flags → API options', () => {
  it('kqkd train --threads --device: threads and executionProvider', async () => {
    const r = await runCli(['train', '--model', 'small-cnn', '--epochs', '1', '--threads', '3', '--device', 'cuda', '--quiet', '--out', join(dir, 't')]);
    expect(r.code, r.stderr).toBe(0);
    expect(calls.train).toHaveLength(1);
    expect(calls.train[0]).toMatchObject({ threads: 3, executionProvider: 'cuda', runDir: join(dir, 't'), epochs: 1 });
    expect(calls.train[0].signal).toBeInstanceOf(AbortSignal);
    // without the flags, the API's defaults
    await runCli(['train', '--epochs', '1', '--quiet', '--out', join(dir, 't2')]);
    expect(calls.train[1]).not.toHaveProperty('threads');
    expect(calls.train[1]).not.toHaveProperty('executionProvider');
    const bad = await runCli(['train', '--device', 'tpu', '--out', join(dir, 't3')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/option '--device <name>' argument 'tpu' is invalid\. Allowed choices are cpu, cuda/);
  });

  it('kqkd experiment --threads: threads, with the preset and overrides', async () => {
    const r = await runCli(['experiment', '--preset', 'quick', '--methods', 'ce,fkd-kq', '--seeds', '1', '--threads', '2', '--quiet', '--out', join(dir, 'e')]);
    expect(r.code, r.stderr).toBe(0);
    expect(calls.runExperiment).toHaveLength(1);
    expect(calls.runExperiment[0]).toMatchObject({ preset: 'quick', threads: 2, out: join(dir, 'e'), overrides: { methods: ['ce', 'fkd-kq'], seeds: 1 } });
    expect(calls.runExperiment[0].signal).toBeInstanceOf(AbortSignal);
  });

  it('kqkd experiment --tune-lr --tune-seeds --validation: the tuning overrides', async () => {
    const r = await runCli(['experiment', '--preset', 'quick', '--validation', '5000', '--tune-lr', '0.005, 0.01,5e-2', '--tune-seeds', '3', '--quiet', '--out', join(dir, 't')]);
    expect(r.code, r.stderr).toBe(0);
    expect(calls.runExperiment.at(-1)).toMatchObject({ overrides: { validation: 5000, tuneLr: [0.005, 0.01, 0.05], tuneSeeds: 3 } });
  });

  it('kqkd experiment --parallel: a count or auto; anything else names the flag', async () => {
    await runCli(['experiment', '--preset', 'quick', '--parallel', '3', '--quiet', '--out', join(dir, 'p1')]);
    await runCli(['experiment', '--preset', 'quick', '--parallel', 'auto', '--quiet', '--out', join(dir, 'p2')]);
    await runCli(['experiment', '--preset', 'quick', '--quiet', '--out', join(dir, 'p3')]);
    expect(calls.runExperiment.map((c) => c.parallel)).toEqual([3, 'auto', undefined]);
    const bad = await runCli(['experiment', '--preset', 'quick', '--parallel', 'two', '--quiet', '--out', join(dir, 'p4')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--parallel/);
    expect(calls.runExperiment).toHaveLength(3);
  });

  it('kqkd bench train-step --device --threads --distill: executionProvider, threads and the distillation spec', async () => {
    const distill = { method: 'fkd-kq', pairs: [{ student: 1, teacher: 2, teacherShape: [8, 4, 4] }], teacherClasses: 10 };
    const r = await runCli(['bench', 'train-step', '--device', 'cuda', '--threads', '4', '--distill', JSON.stringify(distill), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(calls.benchTrainStep[0]).toMatchObject({ executionProvider: 'cuda', threads: 4, backend: 'native', distill });
    await runCli(['bench', 'train-step', '--json']);
    expect(calls.benchTrainStep[1]).toMatchObject({ executionProvider: 'cpu' });
    expect(calls.benchTrainStep[1]).not.toHaveProperty('profile');
  });

  it('kqkd bench train-step --profile [dir]: profile true (a temporary folder) or the folder that keeps the trace', async () => {
    await runCli(['bench', 'train-step', '--profile', '--json']);
    await runCli(['bench', 'train-step', '--profile', join(dir, 'p'), '--json']);
    expect(calls.benchTrainStep.map((c) => c.profile)).toEqual([true, join(dir, 'p')]);
  });

  it('kqkd eval: model, data, split, batch size, threads and out', async () => {
    const r = await runCli(['eval', '--model', 'm.onnx', '--data', 'cifar10', '--data-dir', '/data/c10', '--split', 'train', '--batch-size', '64', '--threads', '2', '--out', join(dir, 'ev')]);
    expect(r.code, r.stderr).toBe(0);
    expect(calls.evaluate[0]).toMatchObject({ model: 'm.onnx', data: 'cifar10', dataDir: '/data/c10', split: 'train', batchSize: 64, threads: 2, out: join(dir, 'ev') });
    expect(r.stdout).toContain('m.onnx on cifar10 train: top-1 50.00 % (1 / 2)');
    expect(r.stdout).toMatch(/a\s+1\s+100\.00\nb\s+1\s+0\.00/);
  });
});
