import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Root-level cross-package tests. The float64 reference (test/reference) is O(N²·D), so timeouts are generous.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  test: {
    include: ['**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    environment: 'node',
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
  },
});
