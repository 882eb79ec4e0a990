'use strict';
// The one loader of the compiled Node-API addon (see README.md), shared by @kqkd/geometry (the KQ geometry) and
// @kqkd/train (the host optimizer step). CommonJS so both require() and import work; types in index.d.cts.
//
// It looks in two places, in order:
//   1. prebuilds/<platform>-<arch>/kqkd_native.node — the binary built at pack time and shipped in the npm package
//      `kqkd` (tools/npm/pack.mjs; only linux-x64, glibc); absent in the repository;
//   2. build/Release/kqkd_native.node — a build from source: the repository's `npm run build -w @kqkd/native`, or
//      the package's install script (install.cjs) when the prebuilt binary does not load on this machine.
const fs = require('node:fs');
const path = require('node:path');

const prebuiltPath = path.join(__dirname, 'prebuilds', `${process.platform}-${process.arch}`, 'kqkd_native.node');
const addonPath = path.join(__dirname, 'build', 'Release', 'kqkd_native.node');
const candidates = [prebuiltPath, addonPath];
const BUILD_HINT = 'In the kqkd repository run `npm run build -w @kqkd/native`; in a project that installed the kqkd package, ' +
  '`npm rebuild kqkd` builds it from source. Either needs cmake, a C++17 compiler and OpenBLAS ' +
  '(Debian/Ubuntu: apt-get install cmake g++ libopenblas-dev); the prebuilt binary needs only libopenblas0 and libgomp1.';

let cached;
let loadedFrom;

/**
 * The addon; throws an error with code KQKD_NATIVE_NOT_BUILT (no binary in either place) or KQKD_NATIVE_LOAD_FAILED
 * (a binary is there but does not load, e.g. a shared library missing: the message names it) and the build command.
 */
function loadAddon() {
  if (cached) return cached;
  const failures = [];
  for (const file of candidates) {
    if (!fs.existsSync(file)) continue;
    try {
      cached = require(file);
      loadedFrom = file;
      return cached;
    } catch (err) {
      failures.push({ file, err });
    }
  }
  const e = failures.length
    ? new Error(`@kqkd/native: the native addon does not load: ${failures.map((f) => `${f.file}: ${f.err && f.err.message}`).join('; ')}. ${BUILD_HINT}`)
    : new Error(`@kqkd/native: the native addon is not built (missing ${addonPath}). ${BUILD_HINT}`);
  e.code = failures.length ? 'KQKD_NATIVE_LOAD_FAILED' : 'KQKD_NATIVE_NOT_BUILT';
  if (failures.length) e.cause = failures[failures.length - 1].err;
  throw e;
}

/** The addon, or why it cannot be loaded (for callers with a slower fallback). */
function tryLoadAddon() {
  try {
    return { addon: loadAddon() };
  } catch (err) {
    return { addon: null, reason: err instanceof Error ? err.message : String(err) };
  }
}

/** The file the addon was loaded from (undefined before the first successful load). */
function loadedAddonPath() {
  return loadedFrom;
}

module.exports = { loadAddon, tryLoadAddon, loadedAddonPath, addonPath, prebuiltPath };
