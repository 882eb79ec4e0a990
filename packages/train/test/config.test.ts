import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { configHash, DATASET_NAMES, MODEL_NAMES, parseTrainConfig } from '../src/config.js';

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
      [{ ...base, epochs: 2.5 }, /Expected an integer ≥ 1 for config\.epochs but received 2\.5/],
      [{ ...base, batchSize: 'big' }, /config\.batchSize but received "big"/],
      [{ ...base, optimizer: { type: 'adam', lr: 0.1 } }, /config\.optimizer\.type but received "adam"/],
      [{ ...base, optimizer: { type: 'adamw', lr: -1 } }, /Expected a number > 0 for config\.optimizer\.lr but received -1/],
      [{ ...base, schedule: 'cosine' }, /config\.schedule but received "cosine"/],
      [{ ...base, modelSpec: { name: 'resnet' } }, /config\.modelSpec\.name but received "resnet"/],
      [{ ...base, runDir: undefined }, /config\.runDir but received nothing/],
      [{ ...base, epocs: 3 }, /for config but received unknown key\(s\) "epocs"/],
      [{ ...base, schedule: 'multistep', milestones: [5] }, /config\.milestones/],
      [{ ...base, accumulationSteps: 0 }, /Expected an integer ≥ 1 for config\.accumulationSteps but received 0/],
      [{ ...base, accumulationSteps: 1.5 }, /Expected an integer ≥ 1 for config\.accumulationSteps but received 1\.5/],
      [{ ...base, accumulationSteps: '2' }, /config\.accumulationSteps but received "2"/],
      [{ ...base, accumulationSteps: 4096 }, /Expected a number ≤ 1024 for config\.accumulationSteps but received 4096/],
      [{ ...base, modelSpec: { name: 'small-cnn', batchNorm: 'no' } }, /Expected true or false for config\.modelSpec\.batchNorm/],
    ];
    for (const [input, re] of cases) expect(() => parseTrainConfig(input), JSON.stringify(input)).toThrow(re);
  });

  it('hash = the first 16 hex digits of sha256 over the config as JSON with sorted keys (computed here independently)', () => {
    const c = parseTrainConfig({ ...base, modelSpec: { name: 'small-cnn', widths: [4, 8] }, oneCycle: { cycleMomentum: false } });
    const sorted = (v: unknown): unknown => (Array.isArray(v) ? v.map(sorted)
      : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined).map((k) => [k, sorted((v as Record<string, unknown>)[k])])) : v);
    // What the hash covers (config.ts): everything but runDir, backend, the dataset's folders, accumulationSteps = 1
    // and the pre-cycle one-cycle defaults; small-cnn carries no init version.
    const { runDir: _r, backend: _b, accumulationSteps: _a, oneCycle: _o, ...rest } = c;
    const { dir: _d, cacheDir: _c, ...dataset } = c.dataset;
    const body = { ...rest, dataset };
    expect(configHash(c)).toBe(createHash('sha256').update(JSON.stringify(sorted(body))).digest('hex').slice(0, 16));
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

describe('zoo models and datasets', () => {
  it('every zoo name and every dataset is accepted; width, patch, cacheDir', () => {
    expect([...MODEL_NAMES]).toEqual(['resnet9', 'resnet34', 'vgg11', 'vgg19', 'mobilenetv2', 'vit_b', 'vit_et', 'vit_ett', 'small-cnn']);
    expect([...DATASET_NAMES]).toEqual(['fashion-mnist', 'cifar10', 'cifar100', 'tiny-imagenet', 'image-folder']);
    for (const name of MODEL_NAMES) expect(parseTrainConfig({ ...base, modelSpec: { name, width: 0.5 } }).modelSpec).toEqual({ name, width: 0.5 });
    for (const name of DATASET_NAMES) expect(parseTrainConfig({ ...base, dataset: { name, dir: '/d' } }).dataset.name).toBe(name);
    expect(parseTrainConfig({ ...base, modelSpec: { name: 'vit_et', patch: 8 } }).modelSpec.patch).toBe(8);
    expect(parseTrainConfig({ ...base, dataset: { name: 'tiny-imagenet', dir: '/d', cacheDir: '/c' } }).dataset.cacheDir).toBe('/c');
    const folder = { name: 'image-folder', dir: '/d', imageSize: 64, channels: 1, testFraction: 0.1, splitSeed: 3, cacheDir: '/c', skipBad: true };
    expect(parseTrainConfig({ ...base, dataset: folder }).dataset).toEqual(folder);
  });

  it('errors: unknown model/dataset list the valid names; dir required except for fashion-mnist; options of other models', () => {
    const cases: [unknown, RegExp][] = [
      [{ ...base, modelSpec: { name: 'resnet18' } },
        /Expected a model of the zoo \(resnet9, resnet34, vgg11, vgg19, mobilenetv2, vit_b, vit_et, vit_ett, small-cnn\) or "onnx" with a file for config\.modelSpec\.name but received "resnet18"/],
      [{ ...base, dataset: { name: 'imagenet' } },
        /Expected a dataset \(fashion-mnist, cifar10, cifar100, tiny-imagenet, image-folder\) for config\.dataset\.name but received "imagenet"/],
      [{ ...base, dataset: { name: 'cifar10' } }, /Expected the CIFAR-10 folder \(cifar10 is not installed by default.* for config\.dataset\.dir but received nothing/],
      [{ ...base, dataset: { name: 'cifar100' } }, /the CIFAR-100 folder .* for config\.dataset\.dir/],
      [{ ...base, dataset: { name: 'tiny-imagenet' } }, /the Tiny ImageNet folder .* for config\.dataset\.dir/],
      [{ ...base, dataset: { name: 'cifar10', dir: '/d', cacheDir: '/c' } }, /only tiny-imagenet and image-folder have a decoded cache\) for config\.dataset\.cacheDir/],
      [{ ...base, dataset: { name: 'image-folder' } }, /Expected the image folder \(DIR\/<class>\/\* .* for config\.dataset\.dir but received nothing/],
      [{ ...base, dataset: { name: 'cifar10', dir: '/d', imageSize: 32 } }, /Expected nothing for cifar10 \(an image-folder option\) for config\.dataset\.imageSize but received 32/],
      [{ ...base, dataset: { name: 'fashion-mnist', skipBad: true } }, /an image-folder option\) for config\.dataset\.skipBad but received true/],
      [{ ...base, dataset: { name: 'image-folder', dir: '/d', channels: 2 } }, /Expected 1 \(greyscale\) or 3 \(RGB\) for config\.dataset\.channels but received 2/],
      [{ ...base, dataset: { name: 'image-folder', dir: '/d', testFraction: 1 } }, /Expected a number < 1 for config\.dataset\.testFraction but received 1/],
      [{ ...base, dataset: { name: 'image-folder', dir: '/d', imageSize: 0 } }, /Expected an integer ≥ 1 for config\.dataset\.imageSize but received 0/],
      [{ ...base, modelSpec: { name: 'resnet9', widths: [4, 8] } }, /Expected nothing for resnet9 \(a small-cnn option\) for config\.modelSpec\.widths but received \[4,8\]/],
      [{ ...base, modelSpec: { name: 'vgg11', batchNorm: false } }, /config\.modelSpec\.batchNorm/],
      [{ ...base, modelSpec: { name: 'small-cnn', widths: [4], width: 2 } }, /either widths or width for small-cnn/],
      [{ ...base, modelSpec: { name: 'resnet9', patch: 4 } }, /a ViT option\) for config\.modelSpec\.patch/],
      [{ ...base, modelSpec: { name: 'resnet9', width: 0 } }, /Expected a number > 0 for config\.modelSpec\.width but received 0/],
      [{ ...base, modelSpec: { name: 'resnet9', width: 32 } }, /Expected a number ≤ 16 for config\.modelSpec\.width but received 32/],
    ];
    for (const [input, re] of cases) expect(() => parseTrainConfig(input), JSON.stringify(input)).toThrow(re);
  });

  it('regression golden (hashes recorded from the code at commit 745dc86): runs made before the zoo keep their hash; width 1 = absent; dir and cacheDir left out; model, width and dataset in', () => {
    // Recorded from the code before the zoo was wired in (commit 745dc86): small-cnn / fashion-mnist runs keep them
    // when they run as they did then (one-cycle without the beta1 cycle, which AdamW runs have by default since).
    const legacy = { ...base, oneCycle: { cycleMomentum: false } };
    expect(configHash(parseTrainConfig(legacy))).toBe('b27a3ccfd63a3547');
    expect(configHash(parseTrainConfig({
      ...legacy, modelSpec: { name: 'small-cnn', widths: [4, 8], batchNorm: false }, dataset: { name: 'fashion-mnist', trainLimit: 300, testLimit: 100 },
      accumulationSteps: 2,
    }))).toBe('5516c28302543742');
    // the beta1 cycle (default for AdamW), other one-cycle phases, and the paper initialisation of the ResNets change the hash
    expect(configHash(parseTrainConfig(base))).not.toBe('b27a3ccfd63a3547');
    expect(configHash(parseTrainConfig({ ...legacy, oneCycle: { cycleMomentum: false, pctStart: 0.25 } }))).not.toBe('b27a3ccfd63a3547');
    const a = configHash(parseTrainConfig(base));
    expect(configHash(parseTrainConfig({ ...base, modelSpec: { name: 'small-cnn', width: 1 } }))).toBe(a);
    expect(configHash(parseTrainConfig({ ...base, modelSpec: { name: 'small-cnn', width: 0.5 } }))).not.toBe(a);
    const r9 = (o: object = {}, d: object = {}) => configHash(parseTrainConfig({
      ...base, modelSpec: { name: 'resnet9', ...o }, dataset: { name: 'tiny-imagenet', dir: '/a', ...d },
    }));
    expect(r9()).not.toBe(a);
    expect(r9({}, { dir: '/b', cacheDir: '/c' })).toBe(r9());
    expect(r9({ width: 1 })).toBe(r9());
    expect(r9({ width: 0.25 })).not.toBe(r9());
    expect(configHash(parseTrainConfig({ ...base, modelSpec: { name: 'resnet9' }, dataset: { name: 'cifar10', dir: '/a' } }))).not.toBe(r9());
  });
});

describe('protocol options', () => {
  it('oneCycle: PyTorch defaults; beta1 cycled for AdamW, not for SGD (where asking for it is an error)', () => {
    expect(parseTrainConfig(base).oneCycle).toEqual({ pctStart: 0.3, divFactor: 25, finalDivFactor: 1e4, cycleMomentum: true, baseMomentum: 0.85, maxMomentum: 0.95 });
    const sgd = parseTrainConfig({ ...base, optimizer: { type: 'sgd', lr: 0.1 } });
    expect(sgd.oneCycle.cycleMomentum).toBe(false);
    // the default object is not shared: an SGD parse after an AdamW one still gets false, and vice versa
    expect(parseTrainConfig(base).oneCycle.cycleMomentum).toBe(true);
    expect(() => parseTrainConfig({ ...base, optimizer: { type: 'sgd', lr: 0.1 }, oneCycle: { cycleMomentum: true } }))
      .toThrow(/Expected false with SGD \(beta1 cycling is for AdamW\) for config\.oneCycle\.cycleMomentum but received true/);
    expect(() => parseTrainConfig({ ...base, oneCycle: { baseMomentum: 0.9, maxMomentum: 0.8 } }))
      .toThrow(/Expected ≥ baseMomentum 0\.9 for config\.oneCycle\.maxMomentum but received 0\.8/);
    expect(() => parseTrainConfig({ ...base, oneCycle: { pctStart: 1 } })).toThrow(/Expected a number < 1 for config\.oneCycle\.pctStart but received 1/);
  });

  it('augment and dataset.validation: validated; validation excludes testLimit', () => {
    expect(parseTrainConfig({ ...base, augment: { crop: { padding: 2 }, flip: true } }).augment).toEqual({ crop: { padding: 2 }, flip: true });
    expect(parseTrainConfig({ ...base, augment: { crop: { padding: 4 } } }).augment).toEqual({ crop: { padding: 4 }, flip: false });
    expect(() => parseTrainConfig({ ...base, augment: { crop: { padding: 0 } } })).toThrow(/for config\.augment\.crop\.padding but received 0/);
    expect(() => parseTrainConfig({ ...base, augment: { rotate: 5 } })).toThrow(/for config\.augment but received unknown key\(s\) "rotate"/);
    expect(parseTrainConfig({ ...base, dataset: { name: 'fashion-mnist', validation: 5000 } }).dataset.validation).toBe(5000);
    expect(() => parseTrainConfig({ ...base, dataset: { name: 'fashion-mnist', validation: 5000, testLimit: 100 } }))
      .toThrow(/for config\.dataset\.testLimit but received 100/);
  });

  it('hash: augment, validation and oneCycle settings are in it; equal settings written differently hash the same', () => {
    const h = (o: object) => configHash(parseTrainConfig({ ...base, ...o }));
    const r9 = { modelSpec: { name: 'resnet9' } };
    expect(h(r9)).not.toBe(h({ ...r9, oneCycle: { cycleMomentum: false } }));
    expect(h(r9)).not.toBe(h({ ...r9, augment: { flip: true } }));
    expect(h(r9)).not.toBe(h({ ...r9, dataset: { name: 'fashion-mnist', validation: 100 } }));
    expect(h(r9)).not.toBe(h({ ...r9, oneCycle: { baseMomentum: 0.8 } }));
    // the same settings written differently hash the same
    expect(h(r9)).toBe(h({ ...r9, oneCycle: { pctStart: 0.3, cycleMomentum: true } }));
  });
});
