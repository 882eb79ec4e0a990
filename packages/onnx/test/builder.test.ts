import { describe, expect, it } from 'vitest';
import { GraphBuilder, tensorValues } from '../src/index.js';

describe('GraphBuilder', () => {
  it('tracks shapes through conv, pool, flatten and gemm', () => {
    const b = new GraphBuilder();
    const x = b.input('x', ['N', 3, 9, 9]);
    const c = b.conv(x, 4, { kernel: 3, stride: 2, pad: 1 });
    expect(c.shape).toEqual(['N', 4, 5, 5]);
    const p = b.maxPool(c, 2, 2);
    expect(p.shape).toEqual(['N', 4, 2, 2]);
    const f = b.flatten(p);
    expect(f.shape).toEqual(['N', 16]);
    expect(b.gemm(f, 7).shape).toEqual(['N', 7]);
  });

  it('writes opset 17, named initializers and value_info for intermediates', () => {
    const b = new GraphBuilder({ seed: 5 });
    const x = b.input('x', ['N', 2, 4, 4]);
    const y = b.relu(b.batchNorm(b.conv(x, 3, { name: 'c', bias: true }), { name: 'bn' }), 'r');
    b.output(y);
    const m = b.build();
    expect(m.opsetImport).toEqual([{ domain: '', version: 17 }]);
    expect(m.graph!.initializer!.map((t) => t.name)).toEqual([
      'c.weight', 'c.bias', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var',
    ]);
    expect(m.graph!.valueInfo!.map((v) => v.name)).toEqual(['c', 'bn']);
    expect(tensorValues(m.graph!.initializer!.find((t) => t.name === 'bn.running_var')!)).toEqual([1, 1, 1]);
  });

  it('He init has the right scale', () => {
    const w = new GraphBuilder({ seed: 9 }).heNormal(20000, 50);
    const variance = w.reduce((s, v) => s + v * v, 0) / w.length;
    expect(variance).toBeGreaterThan(0.036);
    expect(variance).toBeLessThan(0.044);
  });

  it('rejects reused names, missing outputs and shapes it cannot follow', () => {
    const b = new GraphBuilder();
    const x = b.input('x', ['N', 2, 4, 4]);
    b.relu(x, 'r');
    expect(() => b.relu(x, 'r')).toThrow(/tensor name.*"r"/);
    expect(() => b.build()).toThrow(/graph outputs/);
    expect(() => b.op('Unknown', [x])).toThrow(/Unknown node/);
    expect(() => b.conv(b.flatten(x), 2)).toThrow(/conv input/);
  });
});
