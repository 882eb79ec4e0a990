'use strict';
// The install script of the npm package `kqkd` (tools/npm/pack.mjs ships it as native/install.cjs; not used in the
// repository). Keeps the prebuilt binary when it loads here; otherwise builds the addon from the shipped sources with
// cmake-js (the repository's CMake build, tests off) into build/Release, where index.cjs looks next. When that cannot
// work it stops the install with a message naming what is missing.
//
//   KQKD_BUILD_FROM_SOURCE=1   build from source even when the prebuilt binary loads (e.g. for the CUDA backend:
//                              the prebuilt binary is CPU-only unless nvcc was present at pack time); the prebuilt
//                              binary is then removed so the loader takes the new build
//   KQKD_SKIP_NATIVE_BUILD=1   install without a working addon (kqkd score then fails, naming the build command)
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');
const { prebuiltPath, addonPath } = require('./index.cjs');

const say = (s) => console.log(`kqkd: ${s}`);
const env = (name) => /^(1|true|yes)$/i.test(process.env[name] ?? '');
const forced = env('KQKD_BUILD_FROM_SOURCE') || env('npm_config_build_from_source');

/** Loads a binary in a child process (a failed dlopen must not poison this one); returns why not, or null. */
function loadError(file) {
  if (!fs.existsSync(file)) return `no ${path.relative(path.join(__dirname, '..'), file)}`;
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)}).buildInfo()`], { encoding: 'utf8' });
  return r.status === 0 ? null : (r.stderr.split('\n').find((l) => /Error/.test(l)) ?? r.stderr.trim()).trim();
}

function onPath(cmd) {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

function main() {
  if (env('KQKD_SKIP_NATIVE_BUILD')) {
    say('KQKD_SKIP_NATIVE_BUILD is set: the native addon is not checked or built');
    return 0;
  }
  let prebuiltReason = null;
  if (!forced) {
    prebuiltReason = loadError(prebuiltPath);
    if (prebuiltReason === null) return 0; // the prebuilt binary loads: nothing to do
    if (loadError(addonPath) === null) return 0; // an earlier build from source loads
  }

  const missing = [];
  if (!onPath('cmake')) missing.push('cmake (≥ 3.18)');
  const cxx = process.env.CXX;
  if (!(cxx ? onPath(cxx) : ['c++', 'g++', 'clang++'].some(onPath))) missing.push('a C++17 compiler (g++ ≥ 9 or clang++ ≥ 14)');
  let log = '';
  if (!missing.length) {
    say(forced ? 'building the native addon from source (KQKD_BUILD_FROM_SOURCE)' : 'the prebuilt native addon does not load here; building it from source with cmake-js');
    const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
    const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', 'build', '--config', 'Release',
      '--parallel', String(Math.max(1, Math.min(os.availableParallelism(), 8))), '--CDKQKD_BUILD_TESTS=OFF'],
    { cwd: __dirname, encoding: 'utf8', maxBuffer: 64 << 20 });
    log = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
    if (r.status === 0 && loadError(addonPath) === null) {
      if (forced) fs.rmSync(path.join(__dirname, 'prebuilds'), { recursive: true, force: true });
      say(`built the native addon from source: ${addonPath}`);
      return 0;
    }
    if (/KQKD_OPENBLAS_LIB|KQKD_CBLAS_INCLUDE|cblas\.h|openblas/i.test(log)) missing.push('OpenBLAS with its headers (libopenblas-dev)');
    else if (/No CMAKE_CXX_COMPILER|CMAKE_CXX_COMPILER.*not|compiler.*not found/i.test(log)) missing.push('a working C++17 compiler');
  }

  const lines = ['the native addon could not be installed.'];
  if (prebuiltReason) lines.push(`The prebuilt binary (linux-x64, glibc) does not load here: ${prebuiltReason}`);
  if (prebuiltReason && /lib(openblas|gomp|gfortran|quadmath)/.test(prebuiltReason)) {
    lines.push('It needs OpenBLAS and the GNU OpenMP runtime: apt-get install libopenblas0 libgomp1 (then npm rebuild kqkd).');
  }
  lines.push(missing.length
    ? `Building it from source needs what is missing here: ${missing.join('; ')}.`
    : `Building it from source failed; the end of cmake-js's output:\n${log.trim().split('\n').slice(-25).join('\n')}`);
  lines.push('On Debian/Ubuntu: apt-get install cmake g++ libopenblas-dev, then npm rebuild kqkd.');
  lines.push('To install kqkd without the addon: KQKD_SKIP_NATIVE_BUILD=1 (kqkd score then fails; training uses its TypeScript optimizer step).');
  console.error(lines.map((l, i) => (i ? `  ${l}` : `kqkd: ${l}`)).join('\n'));
  return 1;
}

process.exitCode = main();
