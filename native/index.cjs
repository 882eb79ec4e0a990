'use strict';
// The one loader of the compiled Node-API addon (see README.md), shared by @kqkd/geometry (the KQ geometry) and
// @kqkd/train (the host optimizer step). CommonJS so both require() and import work; types in index.d.cts.
const path = require('node:path');

const addonPath = path.join(__dirname, 'build', 'Release', 'kqkd_native.node');

let cached;

/** The addon; throws an error with code KQKD_NATIVE_NOT_BUILT and the build command when it is not built. */
function loadAddon() {
  if (cached) return cached;
  try {
    cached = require(addonPath);
  } catch (err) {
    if (err && err.code === 'MODULE_NOT_FOUND') {
      const e = new Error(
        `@kqkd/native: the native addon is not built (missing ${addonPath}). ` +
          'Run `npm run build -w @kqkd/native` from the repository root (needs cmake, a C++17 compiler and libopenblas-dev).',
      );
      e.code = 'KQKD_NATIVE_NOT_BUILT';
      e.cause = err;
      throw e;
    }
    throw err;
  }
  return cached;
}

/** The addon, or why it cannot be loaded (for callers with a slower fallback). */
function tryLoadAddon() {
  try {
    return { addon: loadAddon() };
  } catch (err) {
    return { addon: null, reason: err instanceof Error ? err.message : String(err) };
  }
}

module.exports = { loadAddon, tryLoadAddon, addonPath };
