import { describe, expect, it } from 'vitest';
import { configHash, parseTrainConfig } from '../src/config.js';

const base = {
  modelSpec: { name: 'small-cnn' }, dataset: { name: 'fashion-mnist' }, epochs: 2, batchSize: 32,
  optimizer: { type: 'adamw', lr: 0.001 }, schedule: 'one-cycle', seed: 1, runDir: '/tmp/x',
};

describe('parseTrainConfig', () => {
  it('fills defaults', () => {
    const c = parseTrainConfig(base);
    expect(c.optimizer.weightDecay).toBe(0.01);
    expect(c.evalBatchSize).toBe(1000);
    expect(c.accumulationSteps).toBe(1);
    expect(parseTrainConfig({ ...base, accumulationSteps: 4 }).accumulationSteps).toBe(4);
    expect(parseTrainConfig({ ...base, modelSpec: { name: 'small-cnn', batchNorm: false } }).modelSpec.batchNorm).toBe(false);
    const sgd = parseTrainConfig({ ...base, optimizer: { type: 'sgd', lr: 0.05 } });
    expect(sgd.optimizer.momentum).toBe(0.9);
    const ms = parseTrainConfig({ ...base, epochs: 240, schedule: 'multistep' });
    expect(ms.milestones).toEqual([150, 180, 210]);
  });

  it('names the field, the rule and the value', () => {
    const cases: [unknown, RegExp][] = [
      [{ ...base, epochs: 0 }, /for config\.epochs but received 0/],
      [{ ...base, epochs: 2.5 }, /epochs must be an integer for config\.epochs but received 2\.5/],
      [{ ...base, batchSize: 'big' }, /config\.batchSize but received "big"/],
      [{ ...base, optimizer: { type: 'adam', lr: 0.1 } }, /config\.optimizer\.type but received "adam"/],
      [{ ...base, optimizer: { type: 'adamw', lr: -1 } }, /lr must be > 0 for config\.optimizer\.lr but received -1/],
      [{ ...base, schedule: 'cosine' }, /config\.schedule but received "cosine"/],
      [{ ...base, modelSpec: { name: 'resnet' } }, /config\.modelSpec\.name but received "resnet"/],
      [{ ...base, runDir: undefined }, /config\.runDir but received nothing/],
      [{ ...base, epocs: 3 }, /for config but received unknown key\(s\) "epocs"/],
      [{ ...base, schedule: 'multistep', milestones: [5] }, /config\.milestones/],
      [{ ...base, accumulationSteps: 0 }, /accumulationSteps must be ≥ 1 for config\.accumulationSteps but received 0/],
      [{ ...base, accumulationSteps: 1.5 }, /accumulationSteps must be an integer for config\.accumulationSteps but received 1\.5/],
      [{ ...base, accumulationSteps: '2' }, /config\.accumulationSteps but received "2"/],
      [{ ...base, accumulationSteps: 4096 }, /accumulationSteps must be ≤ 1024 for config\.accumulationSteps but received 4096/],
      [{ ...base, modelSpec: { name: 'small-cnn', batchNorm: 'no' } }, /batchNorm must be true or false for config\.modelSpec\.batchNorm/],
    ];
    for (const [input, re] of cases) expect(() => parseTrainConfig(input), JSON.stringify(input)).toThrow(re);
  });

  it('hash ignores runDir and dataset.dir, not the numbers', () => {
    const a = configHash(parseTrainConfig(base));
    expect(configHash(parseTrainConfig({ ...base, runDir: '/elsewhere', dataset: { name: 'fashion-mnist', dir: '/d' } }))).toBe(a);
    expect(configHash(parseTrainConfig({ ...base, seed: 2 }))).not.toBe(a);
    expect(configHash(parseTrainConfig({ ...base, optimizer: { lr: 0.001, type: 'adamw' } }))).toBe(a);
  });

  it('hash: accumulationSteps is in it when ≠ 1; 1 (the default) keeps the hash of runs made before the option', () => {
    const a = configHash(parseTrainConfig(base));
    expect(configHash(parseTrainConfig({ ...base, accumulationSteps: 1 }))).toBe(a);
    // the hash of the same config as it was parsed before accumulationSteps existed (no such key)
    const { accumulationSteps: _a, ...old } = parseTrainConfig(base);
    expect(configHash(old as ReturnType<typeof parseTrainConfig>)).toBe(a);
    const two = configHash(parseTrainConfig({ ...base, accumulationSteps: 2 }));
    expect(two).not.toBe(a);
    expect(configHash(parseTrainConfig({ ...base, accumulationSteps: 4 }))).not.toBe(two);
    expect(configHash(parseTrainConfig({ ...base, modelSpec: { name: 'small-cnn', batchNorm: false } }))).not.toBe(a);
  });
});
