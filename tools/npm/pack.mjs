#!/usr/bin/env node
// `npm run pack`: the public package `kqkd` as one tarball in dist/npm/ (docs/architecture.md, "The npm package").
//
//  1. builds the TypeScript packages (tsc -b) and the native addon for this platform (cmake-js, the same CMake build as
//     `npm run build -w @kqkd/native`, into native/build-npm, tests off);
//  2. bundles the workspace packages' compiled JavaScript with esbuild into dist/ of a staged package (entries: the API,
//     the CLI, the experiment's worker thread; shared code split into chunks, so the API loads no CLI framework) and
//     their declarations with dts-bundle-generator into dist/index.d.ts. Third-party packages stay imports and become
//     the package's dependencies, with the ranges the workspace packages declare;
//  3. stages the native loader, its install script and the sources it builds from when the prebuilt binary does not
//     load, the prebuilt binary, the committed teacher of the quick presets, README.md and LICENSE;
//  4. `npm pack`s it into dist/npm/ and prints the tarball, its size and its unpacked size.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const OUT = join(ROOT, 'dist', 'npm');
const STAGE = join(ROOT, 'dist', 'npm-stage', 'kqkd');
const quiet = process.argv.includes('--quiet');
const log = (s) => { if (!quiet) console.log(`pack: ${s}`); };
const fail = (s) => { console.error(`pack: ${s}`); process.exit(1); };
const run = (cmd, args, cwd = ROOT) => execFileSync(cmd, args, { cwd, stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit' });
const readJson = (p) => JSON.parse(readFileSync(p, 'utf8'));

// The workspace packages by name (npm workspaces: native + packages/*).
const workspaces = new Map();
for (const dir of ['native', ...readdirSync(join(ROOT, 'packages')).map((d) => join('packages', d))]) {
  const pj = join(ROOT, dir, 'package.json');
  if (existsSync(pj)) workspaces.set(readJson(pj).name, { dir: join(ROOT, dir), pkg: readJson(pj) });
}
const api = workspaces.get('@kqkd/kqkd');
const cli = workspaces.get('@kqkd/cli');

// ---- 1. build ---------------------------------------------------------------------------------------------------
if (!process.argv.includes('--no-build')) {
  log('building the TypeScript packages (tsc -b packages/cli)');
  run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b', 'packages/cli/tsconfig.json']);
}
if (process.platform !== 'linux' || process.arch !== 'x64' || !process.report?.getReport().header.glibcVersionRuntime) {
  fail(`the prebuilt binary is for linux-x64 (glibc); this is ${process.platform}-${process.arch}`);
}
log('building the native addon for the prebuilt binary (cmake-js, native/build-npm)');
run(process.execPath, [join(ROOT, 'node_modules/cmake-js/bin/cmake-js'), 'compile', '--out', 'build-npm', '--config', 'Release',
  '--parallel', '2', '--CDKQKD_BUILD_TESTS=OFF', ...(quiet ? ['--log-level', 'error'] : [])], join(ROOT, 'native'));
const prebuilt = join(ROOT, 'native/build-npm/Release/kqkd_native.node');

// ---- 2. bundle ---------------------------------------------------------------------------------------------------
rmSync(join(ROOT, 'dist', 'npm-stage'), { recursive: true, force: true });
mkdirSync(STAGE, { recursive: true });

const packageName = (spec) => spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');
const workspaceOf = (file) => [...workspaces.values()].find((w) => file.startsWith(w.dir + sep));
const modelsDir = join(ROOT, 'models');
const shippedModels = new Set();
const threadEntries = { '@kqkd/experiment/student-thread': 'student-thread.js' };

// Paths that the compiled code finds at run time relative to its own file: rewritten for the bundle's layout (every
// chunk lies in dist/), and the build fails on one it does not know, so a new one cannot slip through unnoticed.
const rewriteRuntimePaths = {
  name: 'kqkd-runtime-paths',
  setup(build) {
    build.onLoad({ filter: /[\\/]packages[\\/][^\\/]+[\\/]dist[\\/].*\.js$/ }, (args) => {
      let code = readFileSync(args.path, 'utf8');
      code = code.replace(/new URL\((['"])([^'"]+)\1, import\.meta\.url\)/g, (m, q, rel) => {
        const target = resolve(dirname(args.path), rel);
        if (!target.startsWith(modelsDir + sep)) fail(`${relative(ROOT, args.path)}: unknown run-time path ${rel}`);
        shippedModels.add(relative(modelsDir, target));
        return `new URL(${q}../models/${relative(modelsDir, target).split(sep).join('/')}${q}, import.meta.url)`;
      });
      code = code.replace(/createRequire\(import\.meta\.url\)\.resolve\((['"])([^'"]+)\1\)/g, (m, q, spec) => {
        if (!spec.startsWith('@kqkd/')) return m; // a third-party package: resolved from node_modules as in the repo
        if (!threadEntries[spec]) fail(`${relative(ROOT, args.path)}: unknown run-time entry ${spec}`);
        return `fileURLToPath(new URL(${q}./${threadEntries[spec]}${q}, import.meta.url))`;
      });
      if (code.includes('fileURLToPath(new URL(') && !/\bfileURLToPath\b.*from ['"]node:url['"]/.test(code)) {
        code = `import { fileURLToPath } from 'node:url';\n${code}`;
      }
      return { contents: code, loader: 'js', resolveDir: dirname(args.path) };
    });
  },
};
// Workspace packages are bundled, except the native loader: it stays a CommonJS file beside the binary (native/).
const externals = {
  name: 'kqkd-externals',
  setup(build) {
    build.onResolve({ filter: /^@kqkd\/native$/ }, () => ({ path: '../native/index.cjs', external: true }));
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:') || args.path.startsWith('@kqkd/')) return undefined;
      return { path: args.path, external: true };
    });
  },
};

log('bundling the API, the CLI and the worker thread (esbuild)');
const result = await esbuild.build({
  absWorkingDir: ROOT,
  entryPoints: {
    index: join(api.dir, 'dist/index.js'),
    cli: join(cli.dir, 'dist/main.js'),
    'student-thread': join(workspaces.get('@kqkd/experiment').dir, 'dist/student-thread.js'),
  },
  outdir: join(STAGE, 'dist'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: '[name]-[hash]',
  plugins: [rewriteRuntimePaths, externals],
  metafile: true,
  logLevel: 'warning',
});
if (result.errors.length) fail('esbuild failed');
// The rewritten '../models/…' and './student-thread.js' paths assume every output file lies directly in dist/.
for (const out of Object.keys(result.metafile.outputs)) {
  if (dirname(resolve(ROOT, out)) !== join(STAGE, 'dist')) fail(`esbuild wrote ${out} outside dist/ itself`);
}

// The third-party packages the bundle imports, with the ranges the workspace packages declare for them; a package
// bundled from the workspace brings its runtime dependencies (a dynamic import('sharp') included).
const bundled = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const w = workspaceOf(resolve(ROOT, input));
  if (w) bundled.add(w.pkg.name);
}
const dependencies = {};
const declare = (name, range, by) => {
  if (dependencies[name] && dependencies[name] !== range) fail(`${name}: ${by} declares ${range}, another ${dependencies[name]}`);
  dependencies[name] = range;
};
for (const name of [...bundled].sort()) {
  for (const [dep, range] of Object.entries(workspaces.get(name).pkg.dependencies ?? {})) {
    if (!dep.startsWith('@kqkd/')) declare(dep, range, name);
  }
}
for (const out of Object.values(result.metafile.outputs)) {
  for (const imp of out.imports) {
    if (!imp.external || imp.path.startsWith('node:') || imp.path.startsWith('.')) continue;
    if (!dependencies[packageName(imp.path)]) fail(`the bundle imports ${imp.path}, which no bundled workspace package declares`);
  }
}
// The build from source at install time (native/install.cjs) needs cmake-js and the Node-API headers.
const rootPkg = readJson(join(ROOT, 'package.json'));
for (const dep of ['cmake-js', 'node-addon-api', 'node-api-headers']) declare(dep, rootPkg.devDependencies[dep], 'package.json');

// ---- declarations --------------------------------------------------------------------------------------------------
log('bundling the declarations (dts-bundle-generator)');
const dtsOut = join(STAGE, 'dist', 'index.d.ts');
const dtsConfig = join(ROOT, 'dist', 'npm-stage', 'dts.config.cjs');
const inlined = [...workspaces.keys()].filter((n) => n.startsWith('@kqkd/'));
writeFileSync(dtsConfig, `module.exports = ${JSON.stringify({
  compilationOptions: { preferredConfigPath: join(api.dir, 'tsconfig.json') },
  entries: [{ filePath: join(api.dir, 'dist/index.d.ts'), outFile: dtsOut, libraries: { inlinedLibraries: inlined }, output: { noBanner: true }, noCheck: true }],
}, null, 2)};\n`);
run(process.execPath, [join(ROOT, 'node_modules/dts-bundle-generator/dist/bin/dts-bundle-generator.js'), '--silent', '--config', dtsConfig]);
// Not checked here (onnx-proto's own declarations need skipLibCheck); test/npm-package.test.ts type-checks a user's
// file against the installed package.
const dts = readFileSync(dtsOut, 'utf8');
const leaked = dts.match(/from ['"]@kqkd\/[^'"]*['"]|import\(['"]@kqkd\/[^'"]*['"]\)/g);
if (leaked) fail(`dist/index.d.ts still refers to workspace packages: ${[...new Set(leaked)].join(', ')}`);

// ---- 3. the rest of the package -------------------------------------------------------------------------------------
mkdirSync(join(STAGE, 'bin'));
writeFileSync(join(STAGE, 'bin', 'kqkd.js'), [
  '#!/usr/bin/env node',
  '// The kqkd command (the bundled @kqkd/cli).',
  "import { main } from '../dist/cli.js';",
  '',
  'process.exitCode = await main(process.argv);',
  '',
].join('\n'), { mode: 0o755 });

const nat = join(ROOT, 'native');
const stageNative = join(STAGE, 'native');
for (const p of ['index.cjs', 'install.cjs', 'CMakeLists.txt', 'cmake', 'include', 'src']) cpSync(join(nat, p), join(stageNative, p), { recursive: true });
// cmake-js reads binary.napi_versions here (Node-API headers from node-api-headers: no download at install time).
writeFileSync(join(stageNative, 'package.json'), `${JSON.stringify({
  name: 'kqkd-native', private: true, description: 'the native addon of kqkd: sources for the build from source (install.cjs)',
  binary: readJson(join(nat, 'package.json')).binary,
}, null, 2)}\n`);
mkdirSync(join(stageNative, 'prebuilds', 'linux-x64'), { recursive: true });
cpSync(prebuilt, join(stageNative, 'prebuilds', 'linux-x64', 'kqkd_native.node'));

for (const m of shippedModels) cpSync(join(modelsDir, m), join(STAGE, 'models', m));
cpSync(join(ROOT, 'README.md'), join(STAGE, 'README.md'));
cpSync(join(ROOT, 'LICENSE'), join(STAGE, 'LICENSE'));

const pkg = {
  name: 'kqkd',
  version: api.pkg.version,
  description: rootPkg.description,
  license: rootPkg.license,
  type: 'module',
  main: './dist/index.js',
  types: './dist/index.d.ts',
  exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' }, './package.json': './package.json' },
  bin: { kqkd: 'bin/kqkd.js' },
  files: ['dist', 'bin', 'native', ...(shippedModels.size ? ['models'] : [])],
  scripts: { install: 'node native/install.cjs' },
  engines: rootPkg.engines,
  dependencies: Object.fromEntries(Object.entries(dependencies).sort(([a], [b]) => a.localeCompare(b))),
};
writeFileSync(join(STAGE, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);

// ---- 4. the tarball ------------------------------------------------------------------------------------------------
mkdirSync(OUT, { recursive: true });
for (const f of readdirSync(OUT)) if (f.endsWith('.tgz')) rmSync(join(OUT, f));
const [info] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', OUT, '--loglevel=error'], { cwd: STAGE, encoding: 'utf8' }));
const tarball = join(OUT, info.filename);
writeFileSync(join(OUT, 'manifest.json'), `${JSON.stringify({
  tarballs: [info.filename], size: info.size, unpackedSize: info.unpackedSize, entryCount: info.entryCount,
  dependencies: pkg.dependencies, models: [...shippedModels],
}, null, 2)}\n`);
const mb = (n) => `${(n / 1e6).toFixed(2)} MB`;
console.log(`pack: ${relative(ROOT, tarball)}: ${mb(statSync(tarball).size)} (unpacked ${mb(info.unpackedSize)}, ${info.entryCount} files)`);
