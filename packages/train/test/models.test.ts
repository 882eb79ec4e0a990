/**
 * One small-cnn: @kqkd/models' zoo definition is what distill trains. The graphs buildForward makes for small-cnn
 * must stay byte-identical to the ones distill's own definition built before the move (names, op order, seeded
 * initial values), or earlier runs' checkpoints would no longer load. The hashes below were recorded from that old
 * definition (commit 745dc86, packages/distill/src/models/small-cnn.ts) with `encodeModel(buildForward(...).g.build())`.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeModel } from '@kqkd/onnx';
import { buildForward, type ModelSpec } from '../src/index.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex').slice(0, 16);

describe('buildForward', () => {
  it('regression golden (hashes recorded from the pre-zoo code, commit 745dc86): small-cnn graphs are byte-identical to that definition', () => {
    const cases: [ModelSpec, number, boolean, string][] = [
      [{ name: 'small-cnn' }, 0, false, '281441165a372c77'],
      [{ name: 'small-cnn', widths: [4, 8] }, 7, true, '9328140816ffecef'],
      [{ name: 'small-cnn', widths: [4, 8], batchNorm: false }, 11, true, 'e8068f19bb6402b2'],
    ];
    for (const [spec, seed, loss, want] of cases) {
      expect(sha(encodeModel(buildForward(spec, [1, 28, 28], 10, seed, undefined, loss ? { batchSize: 32 } : undefined).g.build())), JSON.stringify(spec)).toBe(want);
    }
  });

  it('small-cnn width multiplier scales the default widths [16, 32]', () => {
    const { g } = buildForward({ name: 'small-cnn', width: 0.5 }, [1, 28, 28], 10, 0);
    const dims = Object.fromEntries(g.build().graph!.initializer!.map((t) => [t.name, t.dims!.map(Number)]));
    expect(dims['block0.conv.weight']).toEqual([8, 1, 3, 3]);
    expect(dims['block1.conv.weight']).toEqual([16, 8, 3, 3]);
  });

  it('zoo models take the dataset\'s input shape and classes', () => {
    for (const [name, shape, classes] of [['resnet9', [3, 32, 32], 100], ['vgg11', [1, 28, 28], 10], ['vit_et', [3, 64, 64], 200]] as const) {
      const { logits } = buildForward({ name, width: 0.0625 }, [...shape], classes, 0);
      expect(logits.shape, name).toEqual(['N', classes]);
    }
  });
});
