// Paths in an experiment file are relative to the file's folder (not to where the command runs).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveExperimentConfig } from '../src/experiment.js';

const root = mkdtempSync(join(tmpdir(), 'kqkd-resolve-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const file = (name: string, content: object) => {
  mkdirSync(join(root, 'examples'), { recursive: true });
  const p = join(root, 'examples', name);
  writeFileSync(p, JSON.stringify(content));
  return p;
};
const base = {
  version: 1, student: { model: { name: 'resnet9', width: 0.125 } }, methods: ['ce', 'fkd-kq'], seeds: 1,
  training: { epochs: 1, batchSize: 32, optimizer: { type: 'adamw', lr: 0.01 } },
};

describe('resolveExperimentConfig: paths in a file', () => {
  it('resolves teacher.onnx, dataset.dir and dataset.cacheDir against the file\'s folder; absolute paths stay', () => {
    const p = file('rel.json', { ...base, dataset: { name: 'tiny-imagenet', dir: 'data/tin', cacheDir: '/var/cache/tin' }, teacher: { onnx: '../models/t.onnx' } });
    const { config } = resolveExperimentConfig({ config: p });
    expect(config.teacher.onnx).toBe(join(root, 'models', 't.onnx'));
    expect(config.dataset.dir).toBe(join(root, 'examples', 'data', 'tin'));
    expect(config.dataset.cacheDir).toBe('/var/cache/tin');
  });
  it('leaves an object config and --teacher as given (relative to the working folder)', () => {
    const { config } = resolveExperimentConfig({ config: { ...base, dataset: { name: 'fashion-mnist' }, teacher: { onnx: 'models/t.onnx' } } as never });
    expect(config.teacher.onnx).toBe('models/t.onnx');
    const p = file('flag.json', { ...base, dataset: { name: 'fashion-mnist' }, teacher: { onnx: 'x.onnx' } });
    expect(resolveExperimentConfig({ config: p, overrides: { teacher: 'given.onnx' } }).config.teacher.onnx).toBe('given.onnx');
  });
});
