import { defineConfig } from 'vitest/config';

/**
 * The one vitest configuration of every package (each package's vitest.config.ts re-exports it). Tests must pass on a
 * slow, busy 2-core machine: no test depends on wall-clock speed, so the per-test and per-hook limits are only there
 * to stop a test that hangs.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    environment: 'node',
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
  },
});
