/**
 * Deterministic xoshiro128** generator seeded through splitmix32, so a seed gives the same draws on every
 * platform and Node version (Math.random cannot be seeded).
 */
export interface Rng {
  /** Uniform integer in [0, 2^32). */
  nextUint32(): number;
  /** Uniform float in [0, 1). */
  nextFloat(): number;
  /** Uniform integer in [0, n). */
  nextInt(n: number): number;
  /** Standard normal (Box-Muller). */
  nextNormal(): number;
  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(items: T[]): T[];
  /** `k` distinct items drawn without replacement, in draw order (partial Fisher-Yates on a copy). */
  sample<T>(items: readonly T[], k: number): T[];
  /** Current internal state (4 uint32), for checkpoints. */
  state(): number[];
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export function createRng(seed: number, state?: number[]): Rng {
  const init = splitmix32(seed);
  const s = state ? Uint32Array.from(state) : Uint32Array.from([init(), init(), init(), init()]);
  const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;
  const nextUint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  };
  const nextFloat = () => nextUint32() / 4294967296;
  const nextInt = (n: number) => {
    // Rejection sampling: no modulo bias.
    const limit = 4294967296 - (4294967296 % n);
    let x = nextUint32();
    while (x >= limit) x = nextUint32();
    return x % n;
  };
  let spare: number | null = null;
  const nextNormal = () => {
    if (spare !== null) {
      const v = spare;
      spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = nextFloat();
    const v = nextFloat();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
  const shuffle = <T>(items: T[]) => {
    for (let i = items.length - 1; i > 0; i--) {
      const j = nextInt(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  };
  const sample = <T>(items: readonly T[], k: number) => {
    const copy = items.slice();
    const n = Math.min(k, copy.length);
    for (let i = 0; i < n; i++) {
      const j = i + nextInt(copy.length - i);
      const tmp = copy[i];
      copy[i] = copy[j];
      copy[j] = tmp;
    }
    return copy.slice(0, n);
  };
  return { nextUint32, nextFloat, nextInt, nextNormal, shuffle, sample, state: () => Array.from(s) };
}
