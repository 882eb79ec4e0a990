/**
 * OUTSIDE-IN TEST OF THE NPM PACKAGE (issue 25): `npm run pack`, then a fresh project in the system's temp folder,
 * outside the repository, installs the tarballs from dist/npm/ (third-party dependencies from the npm registry) and
 * uses kqkd as anyone would: `npx kqkd --version`, `npx kqkd score`, the README's API example verbatim, a script
 * calling `score` and a few steps of `train`, and a TypeScript file type-checked against the shipped declarations.
 *
 * Kind of expectation (CONTRIBUTING.md, "How we test"): another implementation — the repository's own build (the
 * workspace packages' dist/, native/build) on the same files. The computations are deterministic, so the installed
 * package must print and return exactly the same numbers; only wall-clock fields (`seconds`, `imagesPerSecond`, …)
 * and the working folder's path are left out of the comparison. The package's parts that the repository does not
 * have — the native install script, the prebuilt binary's shared libraries — are checked against what the README
 * promises (the install line, the message without a compiler).
 *
 * Needs the npm registry (a real install); skipped, saying so in the title, when `npm ping` fails. Takes about two
 * minutes here (the npm install about 45 s of it).
 */
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFashionMnist, writeNpy } from '@kqkd/data';
import { stripes } from './support/stripes.js';

const repo = resolve(__dirname, '..');
const EXAMPLE = join(repo, 'docs/examples/api-example.mjs');

const ping = spawnSync('npm', ['ping', '--loglevel=error'], { encoding: 'utf8', timeout: 60_000 });
const online = ping.status === 0;

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
}
function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The README's fenced block right after the marker line, as the file it quotes. */
function readmeExample(): string {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const m = readme.match(/<!-- docs\/examples\/api-example\.mjs -->\n```js\n([\s\S]*?)```\n/);
  if (!m) throw new Error('README.md: no ```js block after <!-- docs/examples/api-example.mjs -->');
  return m[1];
}

describe('the README quotes docs/examples/api-example.mjs', () => {
  it('the block under "Use kqkd in your project" is the file, byte for byte', () => {
    expect(readmeExample()).toBe(readFileSync(EXAMPLE, 'utf8'));
  });
});

/** Same inputs in two folders: the installed package runs in one, the repository's build in the other. */
function writeInputs(dir: string): void {
  mkdirSync(join(dir, 'fmnist'), { recursive: true });
  const N = 300;
  const labels = Array.from({ length: N }, (_, i) => i % 5);
  for (const [k, dim] of [[1, 12], [2, 20]] as const) {
    let s = 777 + k;
    const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
    const x = new Float32Array(N * dim);
    for (let i = 0; i < N; i++) for (let j = 0; j < dim; j++) x[i * dim + j] = (j % 5 === labels[i] ? k : 0) + rand();
    writeNpy(join(dir, `layer${k}.npy`), x, [N, dim]);
  }
  writeNpy(join(dir, 'labels.npy'), BigInt64Array.from(labels, BigInt), [N]);
  writeFashionMnist(join(dir, 'fmnist'), 'train', stripes(256, 1));
  writeFashionMnist(join(dir, 'fmnist'), 'test', stripes(100, 2));
}

/** Drops wall-clock fields and the folder's own path, so two runs of one deterministic computation compare equal. */
function timeless(v: unknown, dir: string): unknown {
  if (typeof v === 'string') return v.split(dir).join('<dir>');
  if (Array.isArray(v)) return v.map((x) => timeless(x, dir));
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).filter(([k]) => !/seconds|PerSecond|wall|elapsed|time|date/i.test(k))
      .map(([k, x]) => [k, timeless(x, dir)]));
  }
  return v;
}

/** A user's script: `score` and one epoch (8 steps) of `train`, everything they return, as JSON. */
const API_SCRIPT = `import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { score, train } from 'kqkd';
const kq = await score({ features: ['layer1.npy', 'layer2.npy'], labels: 'labels.npy', datasetSize: 5000, seed: 3, topK: 1 });
const losses = [];
const run = await train({
  modelSpec: { name: 'small-cnn', widths: [4, 8] }, dataset: { name: 'fashion-mnist', dir: 'fmnist' }, epochs: 1, batchSize: 32,
  optimizer: { type: 'adamw', lr: 0.01 }, schedule: 'constant', seed: 5, runDir: 'api-run',
  onProgress: (e) => { if (e.kind === 'batch') losses.push(e.loss); },
});
const metrics = readFileSync('api-run/metrics.jsonl', 'utf8').trim().split('\\n').map((l) => JSON.parse(l));
const model = createHash('sha256').update(readFileSync('api-run/' + run.model)).digest('hex');
console.log(JSON.stringify({ kq: kq.report, run, losses, metrics, model }));
`;
const inRepo = (script: string) => script.replace(/from 'kqkd'/g, `from '${pathToFileURL(join(repo, 'packages/kqkd/dist/index.js')).href}'`);

/** A user's TypeScript: the API's options and results through the shipped types; a misspelt option must not compile. */
const TS_FILE = `import { score, train, KqkdError, MODEL_NAMES, type ScoreResult, type TrainResults } from 'kqkd';
const r: ScoreResult = await score({ features: ['layer1.npy'], labels: 'labels.npy', datasetSize: 5000, topK: 1 });
const q: number = r.report.layers[0].Q;
const t: TrainResults = await train({ modelSpec: { name: 'small-cnn' }, dataset: { name: 'fashion-mnist' }, epochs: 1, optimizer: { type: 'sgd', lr: 0.1 }, runDir: 'x' });
const top1: number = t.top1Last;
const names: readonly string[] = MODEL_NAMES;
// @ts-expect-error: not an option of score
await score({ features: ['layer1.npy'], labels: 'labels.npy', datasetSize: 5000, topk: 1 });
// @ts-expect-error: top1Last is a number
const wrong: string = t.top1Last;
export { q, top1, names, wrong, KqkdError };
`;

describe.skipIf(!online)(`kqkd from the outside: npm run pack, npm install of the tarballs in a fresh project${online ? '' : ' — SKIPPED: the npm registry is unreachable (npm ping failed)'}`, () => {
  let project = '';
  let inside = '';
  let outside = '';
  let manifest: { tarballs: string[]; unpackedSize: number; dependencies: Record<string, string> };

  beforeAll(() => {
    ok(sh('npm', ['run', 'pack', '--', '--quiet'], repo), 'npm run pack');
    manifest = JSON.parse(readFileSync(join(repo, 'dist/npm/manifest.json'), 'utf8'));
    project = mkdtempSync(join(tmpdir(), 'kqkd-npm-'));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'kqkd-outside-test', private: true, type: 'module' }, null, 2));
    const rootPkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
    ok(sh('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...manifest.tarballs.map((t) => join(repo, 'dist/npm', t)),
      `typescript@${rootPkg.devDependencies.typescript}`, `@types/node@${rootPkg.devDependencies['@types/node']}`], project,
    { ONNXRUNTIME_NODE_INSTALL: 'skip' }), 'npm install of the tarballs');
    outside = join(project, 'work');
    inside = mkdtempSync(join(tmpdir(), 'kqkd-npm-repo-'));
    writeInputs(outside);
    writeInputs(inside);
  }, 1_200_000);
  afterAll(() => {
    for (const d of [project, inside]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('installs one package, kqkd, with no @kqkd/* package and the third-party dependencies from the registry', () => {
    expect(manifest.tarballs).toEqual(['kqkd-0.1.0.tgz']);
    const nm = join(project, 'node_modules');
    expect(existsSync(join(nm, '@kqkd'))).toBe(false);
    for (const dep of Object.keys(manifest.dependencies)) expect(existsSync(join(nm, dep, 'package.json')), dep).toBe(true);
    const pkg = JSON.parse(readFileSync(join(nm, 'kqkd/package.json'), 'utf8'));
    expect(pkg.dependencies).toEqual(manifest.dependencies);
    expect(Object.keys(pkg.dependencies).filter((d) => d.startsWith('@kqkd/'))).toEqual([]);
  });

  it('npx kqkd --version prints the version the repository\'s CLI prints', () => {
    const v = ok(sh('npx', ['--no-install', 'kqkd', '--version'], outside), 'npx kqkd --version').trim();
    expect(v).toBe(JSON.parse(readFileSync(join(repo, 'packages/cli/package.json'), 'utf8')).version);
    expect(v).toBe(ok(sh(process.execPath, [join(repo, 'packages/cli/bin/kqkd.js'), '--version'], inside), 'repo kqkd --version').trim());
  });

  it('npx kqkd score on .npy files prints and writes exactly what the repository\'s CLI does on the same files', () => {
    const args = ['score', '--features', 'layer1.npy', '--features', 'layer2.npy', '--labels', 'labels.npy', '--dataset-size', '5000',
      '--top-k', '1', '--seed', '7', '--out', 'kq'];
    const out = ok(sh('npx', ['--no-install', 'kqkd', ...args], outside), 'npx kqkd score');
    const ref = ok(sh(process.execPath, [join(repo, 'packages/cli/bin/kqkd.js'), ...args], inside), 'repo kqkd score');
    const report = JSON.parse(readFileSync(join(outside, 'kq/kq.json'), 'utf8'));
    expect(report.layers.map((l: { name: string; Q: number }) => l.name)).toEqual(['layer1', 'layer2']);
    expect(report.layers.every((l: { Q: unknown }) => typeof l.Q === 'number')).toBe(true);
    expect(timeless(report, outside)).toEqual(timeless(JSON.parse(readFileSync(join(inside, 'kq/kq.json'), 'utf8')), inside));
    expect(readFileSync(join(outside, 'kq/kq-curves.svg'), 'utf8')).toBe(readFileSync(join(inside, 'kq/kq-curves.svg'), 'utf8'));
    const table = (s: string, dir: string) => s.split(dir).join('<dir>').split('\n').filter((l) => /^\s*\d+\s+layer/.test(l));
    expect(table(out, outside)).toHaveLength(2);
    expect(table(out, outside)).toEqual(table(ref, inside));
  });

  it('a script importing kqkd: score and 8 steps of train (the loss of each step, the metrics, the exported model bytes) return exactly the repository\'s numbers, on the packaged prebuilt addon', () => {
    writeFileSync(join(outside, 'api.mjs'), `${API_SCRIPT}import { createRequire } from 'node:module';\nconsole.log(createRequire(import.meta.url).resolve('kqkd'));\n`);
    writeFileSync(join(inside, 'api.mjs'), inRepo(API_SCRIPT));
    const [out, where] = ok(sh(process.execPath, ['api.mjs'], outside), 'the API script (package)').trim().split('\n');
    const ref = ok(sh(process.execPath, ['api.mjs'], inside), 'the API script (repository)').trim();
    expect(where).toBe(join(project, 'node_modules/kqkd/dist/index.js'));
    const a = JSON.parse(out);
    const b = JSON.parse(ref);
    expect(a.losses).toHaveLength(8); // 256 images, batch 32: 8 optimizer steps, each loss compared below
    expect(a.losses.every((l: number) => Number.isFinite(l) && l > 0)).toBe(true);
    expect(a.metrics).toHaveLength(1);
    expect(a.run.completedEpochs).toBe(1);
    expect(a.kq.layers.map((l: { name: string }) => l.name)).toEqual(['layer1', 'layer2']);
    expect(timeless(a, outside)).toEqual(timeless(b, inside));
    // the addon the package loads is its prebuilt binary (no build from source happened at install)
    const loaded = ok(sh(process.execPath, ['-e', `const n = require(${JSON.stringify(join(project, 'node_modules/kqkd/native/index.cjs'))}); n.loadAddon(); console.log(n.loadedAddonPath())`], outside), 'loader');
    expect(loaded.trim()).toBe(join(project, 'node_modules/kqkd/native/prebuilds/linux-x64/kqkd_native.node'));
    expect(existsSync(join(project, 'node_modules/kqkd/native/build'))).toBe(false);
  });

  it('the README\'s API example runs verbatim and prints what the same code prints in the repository', () => {
    cpSync(EXAMPLE, join(outside, 'example.mjs'));
    writeFileSync(join(inside, 'example.mjs'), inRepo(readFileSync(EXAMPLE, 'utf8')));
    const out = ok(sh(process.execPath, ['example.mjs'], outside), 'the README example (package)');
    const ref = ok(sh(process.execPath, ['example.mjs'], inside), 'the README example (repository)');
    expect(out).toMatch(/^layer1: S .* Q .*\nlayer2: S .*\nsmall-cnn, 1 epoch: test top-1 \d/);
    expect(out.split(outside).join('<dir>')).toBe(ref.split(inside).join('<dir>'));
  });

  it('a TypeScript file type-checks against the shipped declarations (tsc --noEmit, strict), and a wrong use does not', () => {
    writeFileSync(join(outside, 'check.ts'), TS_FILE);
    writeFileSync(join(outside, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: ['node'], skipLibCheck: false },
      files: ['check.ts'],
    }));
    const tsc = join(project, 'node_modules/typescript/bin/tsc');
    const r = sh(process.execPath, [tsc, '-p', 'tsconfig.json'], outside);
    // onnx-proto's own declarations name a global Long they do not declare (the repository builds with skipLibCheck);
    // every other line must be clean, kqkd's dist/index.d.ts included.
    const errors = r.stdout.split('\n').filter((l) => /error TS/.test(l) && !l.startsWith('../node_modules/onnx-proto/'));
    expect(errors).toEqual([]);
    ok(sh(process.execPath, [tsc, '-p', 'tsconfig.json', '--skipLibCheck'], outside), 'tsc --skipLibCheck');
    // the @ts-expect-error lines are real errors: without them tsc fails (the types are not `any`)
    writeFileSync(join(outside, 'check.ts'), TS_FILE.replace(/\/\/ @ts-expect-error.*\n/g, ''));
    const bad = sh(process.execPath, [tsc, '-p', 'tsconfig.json', '--skipLibCheck'], outside);
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toMatch(/check\.ts\(7,.*'topk' does not exist/);
    expect(bad.stdout).toMatch(/check\.ts\(8,.*Type 'number' is not assignable to type 'string'/);
  });

  it('the prebuilt binary needs only OpenBLAS and the GNU OpenMP and C/C++ runtimes (the README\'s install line)', () => {
    const ldd = execFileSync('ldd', [join(project, 'node_modules/kqkd/native/prebuilds/linux-x64/kqkd_native.node')], { encoding: 'utf8' });
    const libs = ldd.split('\n').map((l) => l.trim().split(/\s/)[0]).filter(Boolean).map((l) => l.replace(/.*\//, '')).sort();
    expect(ldd).not.toMatch(/not found/);
    const allowed = /^(linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|lib(c|m|stdc\+\+|gcc_s|gomp|openblas|gfortran|quadmath|pthread|dl|rt)\.so\.\d+)$/;
    expect(libs.filter((l) => !allowed.test(l))).toEqual([]);
    expect(libs).toContain('libopenblas.so.0');
  });

  it('without the prebuilt binary, cmake and a C++ compiler, the install script stops and names what is missing and the fix', () => {
    const pkg = mkdtempSync(join(tmpdir(), 'kqkd-npm-nocc-'));
    try {
      cpSync(join(project, 'node_modules/kqkd/native'), join(pkg, 'native'), { recursive: true });
      rmSync(join(pkg, 'native/prebuilds'), { recursive: true });
      symlinkSync(join(project, 'node_modules'), join(pkg, 'node_modules')); // cmake-js, as installed beside kqkd
      const bin = join(pkg, 'bin');
      mkdirSync(bin);
      symlinkSync(process.execPath, join(bin, 'node')); // a PATH with node and nothing else
      const r = sh(process.execPath, ['native/install.cjs'], pkg, { PATH: bin, CXX: '' });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('kqkd: the native addon could not be installed.');
      expect(r.stderr).toContain('Building it from source needs what is missing here: cmake (≥ 3.18); a C++17 compiler (g++ ≥ 9 or clang++ ≥ 14).');
      expect(r.stderr).toContain('apt-get install cmake g++ libopenblas-dev, then npm rebuild kqkd');
      const skipped = sh(process.execPath, ['native/install.cjs'], pkg, { PATH: bin, CXX: '', KQKD_SKIP_NATIVE_BUILD: '1' });
      expect(skipped.status).toBe(0);
      const load = sh(process.execPath, ['-e', "try { require('./native/index.cjs').loadAddon() } catch (e) { console.log(e.code + ': ' + e.message) }"], pkg);
      expect(load.stdout).toMatch(/^KQKD_NATIVE_NOT_BUILT: @kqkd\/native: the native addon is not built .*`npm rebuild kqkd` builds it from source/);
    } finally {
      rmSync(pkg, { recursive: true, force: true });
    }
  });

  it('ships only dist, bin, the native loader, sources and prebuilt binary, the presets\' teachers, README and LICENSE', () => {
    const list = execFileSync('tar', ['tzf', join(repo, 'dist/npm', manifest.tarballs[0])], { encoding: 'utf8' }).trim().split('\n').sort();
    const top = [...new Set(list.map((f) => f.split('/').slice(1, 2)[0]))].sort();
    expect(top).toEqual(['LICENSE', 'README.md', 'bin', 'dist', 'models', 'native', 'package.json']);
    // the teachers the presets import (quick's, the VGG and ViT pairs'), nothing else of models/
    const teachers = ['fashion-mnist-resnet34-w025.onnx', 'fashion-mnist-vgg19-w022.onnx', 'fashion-mnist-vit_et-w05.onnx'];
    expect(list.filter((f) => f.startsWith('package/models/'))).toEqual(teachers.map((t) => `package/models/${t}`));
    expect(list.filter((f) => /\/(test|bench|build[^/]*)\//.test(f))).toEqual([]);
    const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
    for (const t of teachers) expect(sha(join(project, 'node_modules/kqkd/models', t)), t).toBe(sha(join(repo, 'models', t)));
    expect(readdirSync(join(project, 'node_modules/kqkd/dist')).filter((f) => f.endsWith('.map'))).toEqual([]);
    // the quick presets find it in the package (the bundle's rewritten path), not beside a repository
    const teacher = ok(sh(process.execPath, ['--input-type=module', '-e',
      "const { resolveExperimentConfig } = await import('kqkd'); console.log(resolveExperimentConfig({ preset: 'quick' }).config.teacher.onnx)"], outside), 'quick preset');
    expect(teacher.trim()).toBe(join(project, 'node_modules/kqkd/models/fashion-mnist-resnet34-w025.onnx'));
  });
});
