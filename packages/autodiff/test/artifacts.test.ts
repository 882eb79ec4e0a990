import { describe, expect, it } from 'vitest';
import { KqkdError } from '@kqkd/common';
import { decodeModel } from '@kqkd/onnx';
import {
  CHECKPOINT_VERSION, OPTIMIZER_INPUTS, OptimizerStateMirror, buildOptimizerModelProto, kernelSettings, learningRateAt,
  readCheckpoint, writeCheckpoint, buildOptimizerModel, type CheckpointSpec,
} from '../src/index.js';

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe('checkpoint', () => {
  const spec: CheckpointSpec = {
    trainable: [
      { name: 'conv.W', dims: [2, 1, 3, 3], data: Float32Array.from({ length: 18 }, (_, i) => Math.sin(i) * 1e-3) },
      { name: 'b', dims: [2], data: Float32Array.from([-0, Number.MIN_VALUE]) },
    ],
    frozen: [{ name: 'bn.running_var', dims: [2], data: Float32Array.from([1, 3.4028234663852886e38]) }],
    optimizer: {
      step: 123456789012, initialLearningRate: 0.001,
      states: [
        { paramName: 'conv.W', momentums: [
          { name: 'momentum0', dims: [2, 1, 3, 3], data: Float32Array.from({ length: 18 }, (_, i) => i / 7) },
          { name: 'momentum1', dims: [2, 1, 3, 3], data: Float32Array.from({ length: 18 }, (_, i) => i * 1e-9) },
        ] },
        { paramName: 'b', momentums: [
          { name: 'momentum0', dims: [2], data: Float32Array.from([NaN, -Infinity]) },
          { name: 'momentum1', dims: [2], data: Float32Array.from([0.5, 0.25]) },
        ] },
      ],
    },
    properties: {
      ints: [{ name: 'epoch', value: 7n }, { name: 'rng.state', value: -(2n ** 63n) }, { name: '1', value: 2 ** 53 - 1 }],
      floats: [{ name: 'best', value: Math.fround(0.8912) }],
      strings: [{ name: 'model', value: 'small-cnn ✓' }],
    },
  };

  it('round-trips bit-exactly: values, optimizer moments, property bag, and the bytes themselves', () => {
    const bytes = writeCheckpoint(spec);
    expect(new TextDecoder().decode(bytes.subarray(4, 8))).toBe('ODTC');
    const back = readCheckpoint(bytes);
    expect(back.version).toBe(CHECKPOINT_VERSION);
    expect(back.trainable.map((t) => [t.name, t.dims, bits(t.data)])).toEqual(spec.trainable.map((t) => [t.name, t.dims, bits(t.data)]));
    expect(back.frozen.map((t) => [t.name, bits(t.data)])).toEqual([['bn.running_var', bits(spec.frozen![0].data)]]);
    expect(back.optimizer!.groupName).toBe('group0');
    expect(back.optimizer!.step).toBe(123456789012);
    expect(back.optimizer!.initialLearningRate).toBe(Math.fround(0.001));
    back.optimizer!.states.forEach((s, i) => {
      expect(s.paramName).toBe(spec.optimizer!.states[i].paramName);
      expect(s.momentums.map((m) => [m.name, bits(m.data)])).toEqual(spec.optimizer!.states[i].momentums.map((m) => [m.name, bits(m.data)]));
    });
    expect(back.properties).toEqual({
      ints: [{ name: 'epoch', value: 7n }, { name: 'rng.state', value: -(2n ** 63n) }, { name: '1', value: 2n ** 53n - 1n }],
      floats: [{ name: 'best', value: Math.fround(0.8912) }],
      strings: [{ name: 'model', value: 'small-cnn ✓' }],
    });
    expect(Buffer.from(writeCheckpoint(back)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('always writes frozen_params (even empty) and reads a parameters-only checkpoint', () => {
    const back = readCheckpoint(writeCheckpoint({ trainable: spec.trainable }));
    expect(back.frozen).toEqual([]);
    expect(back.optimizer).toBeUndefined();
    expect(back.properties).toBeUndefined();
  });

  it('rejects malformed input with errors that name the problem', () => {
    expect(() => readCheckpoint(new Uint8Array(16))).toThrow(/file identifier "ODTC"/);
    expect(() => writeCheckpoint({ trainable: [{ name: 'W', dims: [2, 2], data: new Float32Array(3) }] })).toThrow(/4 values/);
    expect(() => writeCheckpoint({ trainable: [{ name: 'W', dims: [1], data: new Float32Array(1) }, { name: 'W', dims: [1], data: new Float32Array(1) }] }))
      .toThrow(/unique names/);
    expect(() => writeCheckpoint({ ...spec, optimizer: { ...spec.optimizer!, states: [{ paramName: 'nope', momentums: [] }] } }))
      .toThrow(KqkdError);
    const bytes = writeCheckpoint(spec);
    expect(() => readCheckpoint(bytes.subarray(0, 40))).toThrow(KqkdError);
  });
});

describe('learning-rate schedules (closed forms)', () => {
  it('constant', () => {
    expect(learningRateAt({ kind: 'constant', lr: 0.1 }, 0)).toBe(0.1);
    expect(learningRateAt({ kind: 'constant', lr: 0.1 }, 99999)).toBe(0.1);
  });

  it('multistep: lr · gamma^(milestones passed)', () => {
    const s = { kind: 'multistep', lr: 0.1, milestones: [3, 6], gamma: 0.1 } as const;
    expect([0, 2, 3, 5, 6, 100].map((t) => learningRateAt(s, t))).toEqual([0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1, 0.1 * 0.1 * 0.1, 0.1 * 0.1 * 0.1]);
    expect(() => learningRateAt({ ...s, milestones: [6, 3] }, 0)).toThrow(/increasing/);
  });

  it('one-cycle: 30 % cosine warm-up from max/25 to max, cosine decay to max/25/1e4 (PyTorch OneCycleLR)', () => {
    const s = { kind: 'one-cycle', maxLr: 0.1, totalSteps: 101 } as const;
    const e1 = 0.3 * 101 - 1, e2 = 100; // 29.3, 100
    const initial = 0.1 / 25, min = initial / 1e4;
    expect(learningRateAt(s, 0)).toBeCloseTo(initial, 15);
    expect(learningRateAt(s, 100)).toBeCloseTo(min, 15);
    expect(learningRateAt(s, 1000)).toBeCloseTo(min, 15); // clamped past the end
    // middle of the warm-up: halfway between initial and max on the cosine
    const t1 = 10;
    expect(learningRateAt(s, t1)).toBeCloseTo(0.1 + (initial - 0.1) / 2 * (1 + Math.cos(Math.PI * t1 / e1)), 15);
    const t2 = 60;
    expect(learningRateAt(s, t2)).toBeCloseTo(min + (0.1 - min) / 2 * (1 + Math.cos(Math.PI * (t2 - e1) / (e2 - e1))), 15);
    // the peak is right at the end of the warm-up (t = 29 just before 29.3, t = 30 just after)
    expect(learningRateAt(s, 29)).toBeGreaterThan(0.0999);
    expect(learningRateAt(s, 30)).toBeGreaterThan(0.0999);
    expect(() => learningRateAt({ kind: 'one-cycle', maxLr: 0.1, totalSteps: 3 }, 0)).toThrow(/warm-up/);
  });
});

describe('optimizer model', () => {
  it('declares the ORT inputs in order and an AdamWOptimizer with FLOAT attributes and a BOOL output', () => {
    const m = decodeModel(buildOptimizerModel({ kind: 'adamw', weightDecay: 0 }, { kind: 'one-cycle', maxLr: 0.01, totalSteps: 100 }));
    expect(m.graph!.input!.map((i) => i.name)).toEqual([...OPTIMIZER_INPUTS]);
    const node = m.graph!.node!.find((n) => n.opType === 'AdamWOptimizer')!;
    expect(node.domain).toBe('com.microsoft');
    expect(node.input).toEqual(['lr_eff', ...OPTIMIZER_INPUTS.slice(1)]);
    const attrs = Object.fromEntries(node.attribute!.map((a) => [a.name, a.type]));
    expect(attrs).toEqual({ alpha: 1, beta: 1, epsilon: 1, weight_decay: 1, correct_bias: 2, adam_mode: 2 });
    expect(m.graph!.output![0].type!.tensorType!.elemType).toBe(9);
    expect(buildOptimizerModelProto({ kind: 'sgd' }, { kind: 'constant', lr: 0.1 }).graph!.node!.length).toBe(3);
  });

  it('SGD maps to the AdamW kernel with beta = 1, epsilon = 1 and lr/(1 − μ)', () => {
    const k = kernelSettings({ kind: 'sgd', momentum: 0.9, weightDecay: 5e-4 });
    expect(k).toMatchObject({ alpha: 0.9, beta: 1, epsilon: 1, correctBias: 0, adamMode: 1 });
    expect(k.rateMultiplier).toBeCloseTo(10, 12);
    expect(k.weightDecay).toBeCloseTo(5e-5, 15);
    expect(() => kernelSettings({ kind: 'sgd', momentum: 1 })).toThrow(/optimizer.momentum/);
  });

  it('the state mirror refuses a step without gradients and needs each gradient output', () => {
    const mirror = new OptimizerStateMirror({ kind: 'adamw' }, [{ name: 'W', dims: [2], offset: 0, size: 2 }]);
    expect(() => mirror.recordOptimizerStep()).toThrow(/train step/);
    expect(() => mirror.recordTrainStep({ loss: { data: new Float32Array(1) } })).toThrow(/"W.gradient"/);
    mirror.recordTrainStep({ 'W.gradient': { data: Float32Array.from([1, -2]) } });
    mirror.recordOptimizerStep();
    const g = mirror.toOptimizerGroup();
    expect(g.step).toBe(1);
    const oneMinusBeta1 = Math.fround(1 - Math.fround(0.9)); // float32 arithmetic, as the kernel
    expect(Array.from(g.states[0].momentums[0].data)).toEqual([oneMinusBeta1, Math.fround(oneMinusBeta1 * -2)]);
  });
});
