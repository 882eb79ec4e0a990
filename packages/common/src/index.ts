/** @kqkd/common — the one place for argument errors, atomic writes and seeded randomness. */
export { KqkdError, describeValue, invalidArgument, invalidArgumentText, expectInteger, expectOneOf } from './errors.js';
export { writeFileAtomic } from './atomic.js';
export { createRng, type Rng } from './rng.js';
export { keyedRegistry, type Registry } from './registry.js';
