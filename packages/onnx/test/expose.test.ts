import { describe, expect, it } from 'vitest';
import { exposeOutputs, findGeneralizedLayers, graphOutputs } from '../src/index.js';
import { residualCnn } from './models.js';

describe('exposeOutputs', () => {
  it('adds the tensors after the original outputs, with their types, and leaves the input model alone', () => {
    const model = residualCnn();
    const names = findGeneralizedLayers(model).layers.map((l) => l.tensor);
    const exposed = exposeOutputs(model, names);
    expect(graphOutputs(exposed)).toEqual([
      { name: 'logits', elemType: 1, shape: ['N', 5] },
      { name: 'stem.relu', elemType: 1, shape: ['N', 8, 8, 8] },
      { name: 'layer1.relu2', elemType: 1, shape: ['N', 8, 8, 8] },
      { name: 'layer2.relu2', elemType: 1, shape: ['N', 16, 4, 4] },
      { name: 'flatten', elemType: 1, shape: ['N', 16] },
    ]);
    expect(graphOutputs(model)).toHaveLength(1);
  });

  it('does not duplicate an existing output, and declares unknown shapes as float', () => {
    const model = residualCnn();
    model.graph!.valueInfo = [];
    const node = model.graph!.node!.find((n) => n.name === 'layer1.relu1')!;
    node.opType = 'SomeCustomOp'; // no inference rule: shapes after it are unknown
    const exposed = exposeOutputs(model, ['logits', 'layer1.relu1']);
    expect(graphOutputs(exposed)).toEqual([
      { name: 'logits', elemType: 1, shape: ['N', 5] },
      { name: 'layer1.relu1', elemType: 1, shape: null },
    ]);
  });

  it('a misspelt name is an error naming the argument and close matches', () => {
    expect(() => exposeOutputs(residualCnn(), ['stem.relu', 'stem.rleu'])).toThrow(/tensorNames\[1\].*closest matches: "stem\.relu"/);
  });
});
