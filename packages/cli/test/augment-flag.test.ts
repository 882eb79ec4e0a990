/** `kqkd train --augment`: the flag's grammar, with an error naming the flag for anything else. */
import { describe, expect, it } from 'vitest';
import { parseAugmentFlag } from '../src/commands/train.js';

describe('parseAugmentFlag', () => {
  it('crop (default padding 4), crop=P and flip, in any order', () => {
    expect(parseAugmentFlag('crop=2,flip')).toEqual({ crop: { padding: 2 }, flip: true });
    expect(parseAugmentFlag('flip, crop')).toEqual({ crop: { padding: 4 }, flip: true });
    expect(parseAugmentFlag('flip')).toEqual({ flip: true });
  });
  it('refuses unknown parts, empty parts, repeated parts and a negative or non-integer padding, naming --augment', () => {
    for (const [value, why] of [
      ['rotate', /crop\[=PADDING\] and flip/], ['crop=x', /crop\[=PADDING\] and flip/], ['crop=-1', /crop\[=PADDING\] and flip/],
      ['crop=2,flip,', /crop\[=PADDING\] and flip/], ['flip,flip', /at most once.*flip twice/], ['crop=2,crop=4', /crop twice/], ['', /crop\[=PADDING\] and flip/],
    ] as const) {
      expect(() => parseAugmentFlag(value), value).toThrow(/--augment/);
      expect(() => parseAugmentFlag(value), value).toThrow(why);
    }
  });
});
