import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  buildTinyCnn, encodeModel, graphInputs, graphOutputs, loadModel, saveModel, tensorTypes, topologicalNodes,
} from '../src/index.js';
import { residualCnn, tinyTransformer } from './models.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'kqkd-onnx-'));
const committed = resolve(import.meta.dirname, '../../../models/tiny-cnn.onnx');

describe('model I/O', () => {
  it('round-trips through a file with identical bytes and graph', () => {
    const model = residualCnn();
    const path = join(tmp(), 'sub', 'm.onnx');
    saveModel(model, path);
    const back = loadModel(path);
    expect(encodeModel(back)).toEqual(encodeModel(model));
    expect(back.graph!.node!.map((n) => n.opType)).toEqual(model.graph!.node!.map((n) => n.opType));
    expect(loadModel(readFileSync(path)).graph!.initializer!.length).toBe(model.graph!.initializer!.length);
  });

  it('reports graph inputs and outputs with types', () => {
    const model = loadModel(encodeModel(tinyTransformer()));
    expect(graphInputs(model)).toEqual([{ name: 'tokens', elemType: 1, shape: ['N', 4, 6] }]);
    expect(graphOutputs(model)).toEqual([{ name: 'logits', elemType: 1, shape: ['N', 10] }]);
    expect(tensorTypes(model).get('block0.softmax')?.shape).toEqual(['N', 4, 4]);
  });

  it('sorts nodes topologically even when the file is not', () => {
    const model = residualCnn();
    const nodes = model.graph!.node!;
    expect(topologicalNodes(model)).toEqual(nodes); // already sorted: order kept
    model.graph!.node = nodes.slice().reverse();
    const sorted = topologicalNodes(model);
    expect(sorted).toHaveLength(nodes.length);
    const seen = new Set(['input', ...model.graph!.initializer!.map((t) => t.name!)]);
    for (const n of sorted) {
      for (const i of n.input!) expect(seen.has(i), `${n.name} reads ${i} before it is computed`).toBe(true);
      for (const o of n.output!) seen.add(o);
    }
  });

  it('reports a cycle instead of looping', () => {
    const model = residualCnn();
    model.graph!.node![0].input = ['stem.relu', 'stem.conv.weight'];
    expect(() => topologicalNodes(model)).toThrow(/acyclic/);
  });

  it('names the file when it is missing or not an ONNX model', () => {
    const dir = tmp();
    expect(() => loadModel(join(dir, 'nope.onnx'))).toThrow(/readable \.onnx file for source.*nope\.onnx/);
    writeFileSync(join(dir, 'bad.onnx'), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]));
    expect(() => loadModel(join(dir, 'bad.onnx'))).toThrow(/ONNX file ".*bad\.onnx"/);
    expect(() => loadModel('')).toThrow(/source/);
  });

  it('the tiny-cnn fixture is deterministic per seed and small', () => {
    const a = encodeModel(buildTinyCnn(0));
    expect(encodeModel(buildTinyCnn(0))).toEqual(a);
    expect(encodeModel(buildTinyCnn(1))).not.toEqual(a);
    expect(a.byteLength).toBeLessThan(200 * 1024);
  });

  it('regression golden: buildTinyCnn(0) is byte-identical to the committed models/tiny-cnn.onnx (recorded from this code; its layers are checked independently in layers.test.ts)', () => {
    expect(existsSync(committed)).toBe(true);
    expect(Buffer.compare(readFileSync(committed), Buffer.from(encodeModel(buildTinyCnn(0))))).toBe(0);
  });
});
