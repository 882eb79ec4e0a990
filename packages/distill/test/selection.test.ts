/**
 * Teacher-layer selection rules (@kqkd/distill selection/): top-k by Q, S, sqrt(I·E), I, E (ties → deeper, NaN never
 * selected) and the baselines' evenly spread layers (`evenlySpread`), on hand-made tables; the registry's checks.
 */
import { describe, expect, it } from 'vitest';
import { expectError } from '../../../test/support/kqkd-error.js';
import { evenlySpread, getSelectionRule, selectTeacherLayers, SELECTION_RULE_KEYS, type ScoredLayer } from '../src/index.js';


/** Top-k by rule over a table (its backbone = every row; the last is the Flatten). */
const selectLayers = (layers: readonly ScoredLayer[], rule: string, k: number) =>
  getSelectionRule(rule).select({ layers, headStartsAfter: Math.max(...layers.map((l) => l.index)), k });

// ------------------------------------------------------------------ layer selection

/**
 * Eight teacher layers. I and E are dyadic fractions, so the products I·E (and their square roots) tie exactly where
 * the table says so. Layer 4 has no I (NaN: its score failed) and so no Q.
 *        S     I      E      sqrt(I·E)  Q
 *   0   0.1   0.25   1      0.5        0.5
 *   1   0.3   0.5    0.75   0.612      0.8
 *   2   0.3   1      0.125  0.354      0.6
 *   3   0.5   0.5    0.5    0.5        0.9
 *   4   0.2   NaN    1      NaN        NaN
 *   5   0.5   0.75   0.75   0.75       1.1
 *   6   0.4   0.125  1      0.354      0.7
 *   7   0.1   1      0.25   0.5        0.9
 */
const TABLE = [
  [0.1, 0.25, 1, 0.5], [0.3, 0.5, 0.75, 0.8], [0.3, 1, 0.125, 0.6], [0.5, 0.5, 0.5, 0.9],
  [0.2, NaN, 1, NaN], [0.5, 0.75, 0.75, 1.1], [0.4, 0.125, 1, 0.7], [0.1, 1, 0.25, 0.9],
].map(([S, I, E, Q], index) => ({ index, S, I, E, Q }));

describe('selectLayers: top-k teacher layers by a metric of the KQ table (ties → deeper, NaN never selected), in depth order', () => {
  it('by Q (kq, the paper\'s rule)', () => {
    expect(selectLayers(TABLE, 'kq', 1)).toEqual([5]);
    expect(selectLayers(TABLE, 'kq', 2)).toEqual([5, 7]); // 3 and 7 tie at 0.9: the deeper one
    expect(selectLayers(TABLE, 'kq', 3)).toEqual([3, 5, 7]);
    expect(selectLayers(TABLE, 'kq', 4)).toEqual([1, 3, 5, 7]);
    expect(selectLayers(TABLE, 'kq', 8)).toEqual([0, 1, 2, 3, 5, 6, 7]); // layer 4 (Q NaN) never
    expect(selectLayers(TABLE, 'kq', 0)).toEqual([]);
  });

  it('by S (fkd-s)', () => {
    expect(selectLayers(TABLE, 's', 1)).toEqual([5]); // 3 and 5 tie at 0.5
    expect(selectLayers(TABLE, 's', 3)).toEqual([3, 5, 6]);
    expect(selectLayers(TABLE, 's', 4)).toEqual([2, 3, 5, 6]); // 1 and 2 tie at 0.3
    expect(selectLayers(TABLE, 's', 8)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]); // S of layer 4 is a number
  });

  it('by sqrt(I·E) (fkd-ie)', () => {
    expect(selectLayers(TABLE, 'ie', 2)).toEqual([1, 5]);
    expect(selectLayers(TABLE, 'ie', 3)).toEqual([1, 5, 7]); // 0, 3, 7 tie at 0.5
    expect(selectLayers(TABLE, 'ie', 4)).toEqual([1, 3, 5, 7]);
    expect(selectLayers(TABLE, 'ie', 6)).toEqual([0, 1, 3, 5, 6, 7]); // 2 and 6 tie at sqrt(1/8)
    expect(selectLayers(TABLE, 'ie', 8)).toEqual([0, 1, 2, 3, 5, 6, 7]); // I of layer 4 is NaN
  });

  it('by I (fkd-i) and by E (fkd-e)', () => {
    expect(selectLayers(TABLE, 'i', 1)).toEqual([7]); // 2 and 7 tie at 1
    expect(selectLayers(TABLE, 'i', 3)).toEqual([2, 5, 7]);
    expect(selectLayers(TABLE, 'i', 4)).toEqual([2, 3, 5, 7]); // 1 and 3 tie at 0.5
    expect(selectLayers(TABLE, 'i', 8)).not.toContain(4);
    expect(selectLayers(TABLE, 'e', 1)).toEqual([6]); // 0, 4, 6 tie at 1
    expect(selectLayers(TABLE, 'e', 3)).toEqual([0, 4, 6]); // E of layer 4 is a number: selectable by E
    expect(selectLayers(TABLE, 'e', 4)).toEqual([0, 4, 5, 6]); // 1 and 5 tie at 0.75
  });

  it('reads only index and the metric: the order of the table does not matter', () => {
    const shuffled = [TABLE[6], TABLE[1], TABLE[7], TABLE[4], TABLE[0], TABLE[3], TABLE[5], TABLE[2]];
    for (const rule of ['kq', 's', 'ie', 'i', 'e'] as const) {
      for (const k of [1, 2, 3, 4, 5]) expect(selectLayers(shuffled, rule, k), `${rule} top-${k}`).toEqual(selectLayers(TABLE, rule, k));
    }
  });
});

describe('evenlySpread: k of the candidate layers, evenly over depth, the deepest included', () => {
  it('on contiguous and gapped candidate lists', () => {
    const resnet34Backbone = Array.from({ length: 17 }, (_, i) => i); // stem + 16 BasicBlocks
    expect(evenlySpread(resnet34Backbone, 4)).toEqual([3, 8, 12, 16]); // the paper's: 3, 7, 13, 16
    expect(evenlySpread(resnet34Backbone, 1)).toEqual([16]);
    expect(evenlySpread([0, 1, 2, 3, 4, 5, 6, 7], 4)).toEqual([1, 3, 5, 7]);
    expect(evenlySpread([2, 5, 9, 11, 20], 2)).toEqual([9, 20]);
    expect(evenlySpread([0, 1, 2, 3, 4], 4)).toEqual([0, 2, 3, 4]);
  });

  it('k distinct, increasing candidates, the deepest included, for every k below the number of candidates (up to 20)', () => {
    for (let n = 2; n <= 20; n++) {
      const candidates = Array.from({ length: n }, (_, i) => 10 + 2 * i);
      for (let k = 1; k < n; k++) {
        const got = evenlySpread(candidates, k);
        expect(got, `n = ${n}, k = ${k}`).toHaveLength(k);
        for (let j = 1; j < k; j++) expect(got[j], `n = ${n}, k = ${k}`).toBeGreaterThan(got[j - 1]);
        expect(got.every((v) => candidates.includes(v))).toBe(true);
        expect(got[k - 1]).toBe(candidates[n - 1]);
      }
    }
  });

  it('k = the number of candidates: every candidate', () => {
    for (let n = 2; n <= 20; n++) {
      const candidates = Array.from({ length: n }, (_, i) => i);
      expect(evenlySpread(candidates, n), `n = ${n}`).toEqual(candidates);
    }
  });

  it('more layers than candidates: a KqkdError naming distill.k', () => {
    expectError(() => evenlySpread([3, 4, 5], 4), 'distill.k', 'at most the 3 candidate layers', '4');
  });
});


describe('the registry', () => {
  it('knows the rules the methods use, and names an unknown one', () => {
    expect(SELECTION_RULE_KEYS).toEqual(expect.arrayContaining(['kq', 's', 'ie', 'i', 'e', 'baseline', 'paper']));
    expectError(() => getSelectionRule('qk'), 'layer selection rule', SELECTION_RULE_KEYS.join(', '), /"qk"/);
  });

  it('baseline: the configured layers, else evenly spread over the layers before the Flatten; paper: the configured ones only', () => {
    const layers = TABLE.map((l) => ({ ...l }));
    expect(selectTeacherLayers('baseline', { layers, headStartsAfter: 7, k: 3 })).toEqual(evenlySpread([0, 1, 2, 3, 4, 5, 6], 3));
    expect(selectTeacherLayers('baseline', { layers, headStartsAfter: 7, k: 2, configured: { baseline: [2, 6] } })).toEqual([2, 6]);
    expect(selectTeacherLayers('paper', { layers, headStartsAfter: 7, k: 2, configured: { paper: [5, 6] } })).toEqual([5, 6]);
    expectError(() => selectTeacherLayers('paper', { layers, headStartsAfter: 7, k: 2 }), 'teacher.paperLayers', 'the paper\'s layers', 'none configured');
    expectError(() => selectTeacherLayers('paper', { layers, headStartsAfter: 7, k: 2, configured: { paper: [5, 6, 7] } }), 'teacher.paperLayers', '2 layers', '5, 6, 7');
    // a configured layer the teacher does not have is refused
    expectError(() => selectTeacherLayers('baseline', { layers, headStartsAfter: 7, k: 2, configured: { baseline: [2, 9] } }), 'layers of rule "baseline"', 'backbone layers', /9/);
  });
});

describe('variants for feature-exclusive training', () => {
  // TABLE's backbone: layers 0…7 with 7 as the Flatten (headStartsAfter 7): the blocks are 0…6, the last block 6.
  const ctx = (k: number) => ({ layers: TABLE, headStartsAfter: 7, k });
  it('kq-last: the last block before the Flatten + the top-(k−1) by Q before it', () => {
    expect(selectTeacherLayers('kq-last', ctx(1))).toEqual([6]);
    expect(selectTeacherLayers('kq-last', ctx(2))).toEqual([5, 6]); // Q before 6: 5 (1.1) first
    expect(selectTeacherLayers('kq-last', ctx(4))).toEqual([1, 3, 5, 6]); // then 3 (0.9), 1 (0.8); layer 7 (Flatten) never
  });
  it('kq-nostem: top-k by Q without layer 0', () => {
    expect(selectTeacherLayers('kq-nostem', ctx(4))).toEqual([1, 3, 5, 7]);
    expect(selectTeacherLayers('kq-nostem', ctx(7))).toEqual([1, 2, 3, 5, 6, 7]); // 0 excluded, 4 has no Q
  });
  it('last-k: the k deepest blocks before the Flatten; more than there are is an error naming distill.k', () => {
    expect(selectTeacherLayers('last-k', ctx(4))).toEqual([3, 4, 5, 6]);
    expectError(() => selectTeacherLayers('last-k', ctx(8)), 'distill.k', 'at most the 7 blocks', '8');
  });
});
