'use strict';
// Loads the compiled Node-API addon (see README.md). CommonJS so both require() and import work.
const path = require('node:path');

const addonPath = path.join(__dirname, 'build', 'Release', 'kqkd_native.node');

let addon;
try {
  addon = require(addonPath);
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

module.exports = addon;
