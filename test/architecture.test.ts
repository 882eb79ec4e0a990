/**
 * The import rules of the monorepo (docs/architecture.md), read from the import specifiers of every source file
 * (packages/<pkg>/src/**, and the addon's loader native/index.cjs):
 * - only packages/runtime imports ONNX Runtime (onnxruntime-node / -web / -common); only packages/queue imports
 *   bullmq and ioredis;
 * - only packages/cli imports the CLI framework (commander, cli-progress), and the CLI imports nothing but
 *   @kqkd/kqkd, @kqkd/common, commander, cli-progress and Node's built-ins (it is a thin layer over the API);
 * - no file reaches into another package's internals (`@kqkd/x/src/…`, `@kqkd/x/dist/…`, or a relative path that
 *   leaves its package); a subpath the package declares public in its package.json `exports` is an entry too;
 * - every @kqkd package a source file imports is a declared dependency of its package;
 * - imports and declared dependencies go down the floors (FLOORS), same-floor edges only as listed (SAME_FLOOR), and
 *   the @kqkd dependency graph has no cycle.
 * Specifiers are read from the raw text, comments included: a comment that reads like an import counts (stricter,
 * never blind). `problems(root)` is pure over a folder: the repository here, a generated fixture with planted
 * violations below (so the rules are seen to bite), or any tree given in KQKD_ARCHITECTURE_ROOT (to try one by hand).
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cppFunctions, documentedBlock, figuresBlock, filesPerRun, largeFiles, linesPerPackage, longFunctions, MAX_FILE_LINES,
  MAX_FUNCTION_LINES,
} from '../tools/code-size.mjs';

const repo = resolve(process.env.KQKD_ARCHITECTURE_ROOT ?? resolve(__dirname, '..'));

/**
 * Floor of each package (docs/architecture.md): a package may import only packages on lower floors. The layers of
 * the design card (cli → kqkd → experiment → distill/kq → train → models/autodiff/geometry/data → onnx/runtime), with
 * the two bottom layers split by what they import (common and the addon import nothing; onnx, runtime and plots
 * only common), and queue — an experiment's runs spread over machines — between experiment and the API.
 */
const FLOORS: Readonly<Record<string, number>> = {
  common: 0, native: 0,
  onnx: 1, runtime: 1, plots: 1,
  models: 2, autodiff: 2, geometry: 2, data: 2,
  train: 3,
  distill: 4, kq: 4,
  experiment: 5,
  queue: 6,
  kqkd: 7,
  cli: 8,
};

/**
 * The same-floor imports that exist and make sense (every other same-floor import is refused, and a pair in both
 * directions would be a cycle): distill → kq, the distillation methods select their teacher layers by Knowledge
 * Quality's top-k.
 */
const SAME_FLOOR: readonly string[] = ['distill→kq'];

const ORT = /^onnxruntime-(node|web|common)(\/|$)/;
const CLI_FRAMEWORK = /^(commander|cli-progress)(\/|$)/;
const REDIS = /^(bullmq|ioredis)(\/|$)/;
/** All the CLI may import besides relative paths and node: built-ins. */
// and the API's public subpaths (@kqkd/kqkd/score: a command that loads only its part of the API)
const CLI_IMPORTS: readonly string[] = ['@kqkd/kqkd', '@kqkd/common', 'commander', 'cli-progress'];
const SOURCE = /\.(ts|mts|cts|js|mjs|cjs)$/;

export interface SourceFile {
  pkg: string;
  /** Path relative to the root. */
  path: string;
  text: string;
}

/** Every module specifier of a source file: static and dynamic imports, re-exports, side-effect imports, require(). */
export function specifiers(text: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire(?:\.resolve)?\s*\(\s*)['"]([^'"]+)['"]/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[1]);
  return out;
}

/** The subpaths a package declares public in its package.json `exports` ("./connection" → "/connection"). */
function publicSubpaths(root: string, pkg: string): string[] {
  const file = join(root, 'packages', pkg, 'package.json');
  if (!existsSync(file)) return [];
  const exports = (JSON.parse(readFileSync(file, 'utf8')) as { exports?: Record<string, unknown> }).exports ?? {};
  return Object.keys(exports).filter((k) => k.startsWith('./')).map((k) => k.slice(1));
}

function floorProblem(where: string, from: string, to: string): string | undefined {
  const a = FLOORS[from], b = FLOORS[to];
  if (a === undefined || b === undefined) return `${where}: @kqkd/${from} → @kqkd/${to}: a package without a floor (add it to FLOORS)`;
  if (b > a || (b === a && !SAME_FLOOR.includes(`${from}→${to}`))) {
    return `${where}: @kqkd/${from} (floor ${a}) → @kqkd/${to} (floor ${b}): dependencies go down the floors only`;
  }
  return undefined;
}

/** The violations of the rules in these files, given each package's declared @kqkd dependencies. */
export function checkImports(root: string, files: readonly SourceFile[], declared: Readonly<Record<string, readonly string[]>>): string[] {
  const problems: string[] = [];
  const edges = new Map<string, Set<string>>();
  for (const f of files) {
    for (const s of specifiers(f.text)) {
      if (ORT.test(s) && f.pkg !== 'runtime') problems.push(`${f.path}: imports ${s} (only packages/runtime imports ONNX Runtime)`);
      if (CLI_FRAMEWORK.test(s) && f.pkg !== 'cli') problems.push(`${f.path}: imports ${s} (only packages/cli imports the CLI framework)`);
      if (REDIS.test(s) && f.pkg !== 'queue') problems.push(`${f.path}: imports ${s} (only packages/queue talks to Redis)`);
      if (f.pkg === 'cli' && !s.startsWith('.') && !s.startsWith('node:') && !CLI_IMPORTS.includes(s) && !s.startsWith('@kqkd/kqkd/')) {
        problems.push(`${f.path}: imports ${s} (the CLI imports only ${CLI_IMPORTS.join(', ')}: everything else goes through the API)`);
      }
      if (s.startsWith('.')) {
        const target = resolve(root, dirname(f.path), s);
        const home = resolve(root, f.pkg === 'native' ? 'native' : join('packages', f.pkg));
        if (!target.startsWith(home + sep)) problems.push(`${f.path}: imports ${s}, outside its package`);
        continue;
      }
      const m = /^@kqkd\/([^/]+)(\/.*)?$/.exec(s);
      if (!m) continue;
      const [, dep, deep] = m;
      if (deep && !publicSubpaths(root, dep).includes(deep)) problems.push(`${f.path}: imports ${s} (another package's internals; import its entry)`);
      if (dep === f.pkg) continue;
      if (!(declared[f.pkg] ?? []).includes(dep)) {
        problems.push(`${f.path}: imports @kqkd/${dep}, not a dependency ${f.pkg === 'native' ? 'of the addon (it has none)' : `in packages/${f.pkg}/package.json`}`);
      }
      const floor = floorProblem(f.path, f.pkg, dep);
      if (floor) problems.push(floor);
      if (!edges.has(f.pkg)) edges.set(f.pkg, new Set());
      edges.get(f.pkg)!.add(dep);
    }
  }
  for (const [pkg, deps] of Object.entries(declared)) {
    for (const dep of deps) {
      const floor = floorProblem(`packages/${pkg}/package.json`, pkg, dep);
      if (floor) problems.push(floor);
      if (!edges.has(pkg)) edges.set(pkg, new Set());
      edges.get(pkg)!.add(dep);
    }
  }
  for (const cycle of cycles(edges)) problems.push(`the @kqkd dependency graph has a cycle: ${cycle.join(' → ')}`);
  return problems;
}

/** Each cycle of a directed graph once (by depth-first search), as the path that closes it. */
export function cycles(edges: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (n: string) => {
    state.set(n, 'open');
    path.push(n);
    for (const next of [...(edges.get(n) ?? [])].sort()) {
      if (state.get(next) === 'open') found.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    path.pop();
    state.set(n, 'done');
  };
  for (const n of [...edges.keys()].sort()) if (!state.has(n)) visit(n);
  return found;
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : SOURCE.test(p) ? [p] : [];
  });
}

/** The source files and declared @kqkd dependencies of every package under `root`. */
export function sourcesOf(root: string): { files: SourceFile[]; declared: Record<string, string[]> } {
  const files: SourceFile[] = [];
  const declared: Record<string, string[]> = {};
  for (const pkg of readdirSync(join(root, 'packages')).sort()) {
    const manifest = join(root, 'packages', pkg, 'package.json');
    if (!existsSync(manifest)) continue;
    const meta = JSON.parse(readFileSync(manifest, 'utf8')) as { dependencies?: Record<string, string> };
    declared[pkg] = Object.keys(meta.dependencies ?? {}).filter((d) => d.startsWith('@kqkd/')).map((d) => d.slice('@kqkd/'.length));
    for (const p of walk(join(root, 'packages', pkg, 'src'))) files.push({ pkg, path: relative(root, p), text: readFileSync(p, 'utf8') });
  }
  declared.native = [];
  for (const loader of ['index.cjs', 'index.d.cts']) {
    const p = join(root, 'native', loader);
    if (existsSync(p)) files.push({ pkg: 'native', path: relative(root, p), text: readFileSync(p, 'utf8') });
  }
  return { files, declared };
}

/** Everything wrong under `root`. */
export function problems(root: string): string[] {
  const { files, declared } = sourcesOf(root);
  const unplaced = Object.keys(declared).filter((p) => FLOORS[p] === undefined).map((p) => `packages/${p}: a package without a floor (add it to FLOORS)`);
  return [...unplaced, ...checkImports(root, files, declared)];
}

describe('import rules', () => {
  it('hold for every source file of every package', () => {
    const { files, declared } = sourcesOf(repo);
    expect(files.length).toBeGreaterThan(100);
    expect(files.some((f) => f.path === join('native', 'index.cjs'))).toBe(true);
    expect(Object.keys(declared).sort()).toEqual(Object.keys(FLOORS).sort());
    expect(problems(repo)).toEqual([]);
  });

  describe('bite on a fixture with planted violations', () => {
    const root = mkdtempSync(join(tmpdir(), 'kqkd-architecture-'));
    afterAll(() => rmSync(root, { recursive: true, force: true }));
    const pkg = (name: string, deps: string[], sources: Record<string, string>) => {
      const dir = join(root, 'packages', name);
      mkdirSync(join(dir, 'src'), { recursive: true });
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `@kqkd/${name}`, dependencies: Object.fromEntries(deps.map((d) => [`@kqkd/${d}`, '0.1.0'])) }));
      for (const [file, text] of Object.entries(sources)) {
        mkdirSync(dirname(join(dir, 'src', file)), { recursive: true });
        writeFileSync(join(dir, 'src', file), text);
      }
    };
    pkg('common', [], { 'index.ts': "import { readFileSync } from 'node:fs';\nexport const x = 1;\n" });
    pkg('onnx', ['common'], { 'index.ts': "import { x } from '@kqkd/common';\nimport * as ort from 'onnxruntime-node';\n" });
    pkg('runtime', ['common'], { 'index.ts': "import * as ort from 'onnxruntime-node';\nimport { x } from '@kqkd/common';\n" });
    pkg('models', ['onnx', 'train'], { 'zoo/index.ts': "import { t } from '@kqkd/train';\nimport { a } from './local.js';\n" });
    pkg('train', ['onnx'], {
      'index.ts': "export { b } from '@kqkd/onnx/src/builder.js';\nimport { io } from '../../onnx/src/io.js';\nconst d = await import('@kqkd/data');\n",
    });
    pkg('kq', ['common', 'distill'], { 'index.ts': "const c = require('commander');\nimport { m } from '@kqkd/distill';\n" });
    pkg('distill', ['kq'], { 'index.ts': "import { q } from '@kqkd/kq';\n" });
    pkg('cli', ['kqkd', 'common'], { 'main.ts': "import { Command } from 'commander';\nimport { score } from '@kqkd/kqkd';\nimport { train } from '@kqkd/train';\nimport { join } from 'node:path';\n" });
    pkg('kqkd', ['common'], { 'index.ts': "import 'cli-progress';\nimport { Queue } from 'bullmq';\n" });
    pkg('mystery', [], { 'index.ts': '' });
    mkdirSync(join(root, 'native'));
    writeFileSync(join(root, 'native', 'index.cjs'), "const c = require('@kqkd/common');\nconst p = require('node:path');\n");

    const found = problems(root);
    const expected: [string, RegExp][] = [
      ['ONNX Runtime outside runtime', /^packages\/onnx\/src\/index\.ts: imports onnxruntime-node \(only packages\/runtime imports ONNX Runtime\)$/],
      ['the CLI framework outside cli (require)', /^packages\/kq\/src\/index\.ts: imports commander \(only packages\/cli/],
      ['the CLI framework outside cli (side-effect import)', /^packages\/kqkd\/src\/index\.ts: imports cli-progress \(only packages\/cli/],
      ['Redis outside queue', /^packages\/kqkd\/src\/index\.ts: imports bullmq \(only packages\/queue talks to Redis\)$/],
      ['the CLI past the API', /^packages\/cli\/src\/main\.ts: imports @kqkd\/train \(the CLI imports only @kqkd\/kqkd, @kqkd\/common, commander, cli-progress/],
      ['another package\'s src', /^packages\/train\/src\/index\.ts: imports @kqkd\/onnx\/src\/builder\.js \(another package's internals/],
      ['a relative path out of the package', /^packages\/train\/src\/index\.ts: imports \.\.\/\.\.\/onnx\/src\/io\.js, outside its package$/],
      ['an undeclared dependency (dynamic import)', /^packages\/train\/src\/index\.ts: imports @kqkd\/data, not a dependency in packages\/train\/package\.json$/],
      ['an upward import', /^packages\/models\/src\/zoo\/index\.ts: @kqkd\/models \(floor 2\) → @kqkd\/train \(floor 3\): dependencies go down the floors only$/],
      ['an upward declared dependency', /^packages\/models\/package\.json: @kqkd\/models \(floor 2\) → @kqkd\/train \(floor 3\)/],
      ['a same-floor import not listed', /^packages\/kq\/src\/index\.ts: @kqkd\/kq \(floor 4\) → @kqkd\/distill \(floor 4\)/],
      ['a cycle', /^the @kqkd dependency graph has a cycle: distill → kq → distill$/],
      ['an undeclared dependency of the CLI', /^packages\/cli\/src\/main\.ts: imports @kqkd\/train, not a dependency in packages\/cli\/package\.json$/],
      ['a same-floor declared dependency not listed', /^packages\/kq\/package\.json: @kqkd\/kq \(floor 4\) → @kqkd\/distill \(floor 4\)/],
      ['the addon loader importing a package', /^native\/index\.cjs: imports @kqkd\/common, not a dependency of the addon \(it has none\)$/],
      ['the addon loader on the same floor as common', /^native\/index\.cjs: @kqkd\/native \(floor 0\) → @kqkd\/common \(floor 0\)/],
      ['a package without a floor', /^packages\/mystery: a package without a floor/],
    ];
    for (const [what, re] of expected) {
      it(what, () => expect(found.filter((p) => re.test(p)), found.join('\n')).toHaveLength(1));
    }
    it('and nothing else: the clean imports pass (declared, downward, the listed same-floor edge, local, node:, ORT in runtime)', () => {
      expect(found.filter((p) => !expected.some(([, re]) => re.test(p))), found.join('\n')).toEqual([]);
      expect(found).toHaveLength(expected.length);
    });
  });
});

/**
 * Sizes (issue 23), measured by tools/code-size.mjs: no source file over 600 lines (packages/*\/src, native/src,
 * tools), no function over 80 lines outside tests, and docs/architecture.md's figures block equal to what the script
 * generates from the code (lines per package, largest share, packages, files on the path of one run).
 * KNOWN_LONG lists the functions and files still over the limits when the check landed, with their length then: the
 * test fails when one of them grows, when any other passes the limit, and when a listed one is now within it (so the
 * list only shrinks: delete its line).
 */
const KNOWN_LONG: Readonly<Record<string, number>> = {
};

/** The size problems under `root`, given the known exceptions. */
export function sizeProblems(root: string, known: Readonly<Record<string, number>> = {}): string[] {
  const found = [
    ...largeFiles(root).map((f) => ({ key: f.path, lines: f.lines, what: `${f.path}: ${f.lines} lines (at most ${MAX_FILE_LINES})` })),
    ...longFunctions(root).map((f) => ({ key: `${f.name} ${f.path}`, lines: f.lines, what: `${f.path}:${f.line} ${f.name}: ${f.lines} lines (at most ${MAX_FUNCTION_LINES} outside tests)` })),
  ];
  const out: string[] = [];
  for (const f of found) {
    const was = known[f.key];
    if (was === undefined) out.push(f.what);
    else if (f.lines > was) out.push(`${f.what}; it was ${was} when the check landed and may only shrink`);
  }
  for (const key of Object.keys(known)) {
    if (!found.some((f) => f.key === key)) out.push(`${key}: now within the limit — delete its line from KNOWN_LONG`);
  }
  return out;
}

describe('sizes and the documented figures (tools/code-size.mjs)', () => {
  it('no source file over 600 lines and no function over 80 lines outside tests (but the shrinking KNOWN_LONG list)', () => {
    expect(sizeProblems(repo, KNOWN_LONG)).toEqual([]);
  });
  it("docs/architecture.md's figures block is the one generated from the code", () => {
    expect(filesPerRun(repo).missing).toEqual([]);
    expect(documentedBlock(repo), 'run: node tools/code-size.mjs --write').toBe(figuresBlock(repo));
  });

  describe('bite on a fixture', () => {
    const root = mkdtempSync(join(tmpdir(), 'kqkd-sizes-'));
    afterAll(() => rmSync(root, { recursive: true, force: true }));
    const write = (file: string, text: string) => {
      mkdirSync(dirname(join(root, file)), { recursive: true });
      writeFileSync(join(root, file), text);
    };
    write('packages/a/package.json', '{"name":"@kqkd/a"}');
    write('packages/a/src/long.ts', `export function long(): number {\n${'  let x = 1;\n'.repeat(80)}  return 1;\n}\n`);
    write('packages/a/src/ok.ts', `export const f = (): number => {\n${'  let y = 1;\n'.repeat(77)}  return 1;\n};\n`);
    write('packages/a/src/big.ts', 'export const v = 1;\n'.repeat(601));
    write('packages/a/test/long.test.ts', `export function t(): number {\n${'  let x = 1;\n'.repeat(100)}  return 1;\n}\n`);
    write('tools/script.mjs', '// x\n'.repeat(700));
    write('native/src/k.cc', '// x\n'.repeat(10));
    write('native/src/cuda/k.cu', `__global__ void k(float* x) {\n${'  x[0] += 1;\n'.repeat(80)}}\n`);
    write('docs/architecture.md', '# A\n\n## One experiment, from the command line to an ONNX Runtime step\n\n1. `packages/a/src/ok.ts` → `gone.ts`\n\n<!-- code-size:begin (generated by `node tools/code-size.mjs --write`; the architecture test checks it) -->\nold\n<!-- code-size:end -->\n');
    const found = sizeProblems(root, { 'packages/a/src/big.ts': 600, 'f packages/a/src/gone.ts': 90 });
    it('a function of 83 lines, a CUDA kernel of 82, a file of 700 lines, a listed file that grew, a listed one now gone; not the 80-line arrow or the test', () => {
      expect(found).toEqual([
        'tools/script.mjs: 700 lines (at most 600)',
        'packages/a/src/big.ts: 601 lines (at most 600); it was 600 when the check landed and may only shrink',
        'packages/a/src/long.ts:1 long: 83 lines (at most 80 outside tests)',
        'native/src/cuda/k.cu:1 k: 82 lines (at most 80 outside tests)',
        'f packages/a/src/gone.ts: now within the limit — delete its line from KNOWN_LONG',
      ]);
    });
    it('a stale figures block and a file named on the path that does not exist', () => {
      expect(documentedBlock(root)).not.toBe(figuresBlock(root));
      expect(filesPerRun(root)).toEqual({ paths: ['packages/a/src/ok.ts', 'packages/a/src/gone.ts'], missing: ['packages/a/src/gone.ts'] });
      // big 601 + long 83 + ok 80 lines (the test file is not source), native 10 + 82
      expect(linesPerPackage(root)).toEqual({ total: 856, rows: [
        { pkg: 'a', lines: 601 + 83 + 80, share: 764 / 856 }, { pkg: 'native', lines: 92, share: 92 / 856 },
      ] });
    });
  });
});

/** The C++/CUDA function scanner of tools/code-size.mjs on a hand-written snippet: what is a function, and its length. */
describe('cppFunctions (C++/CUDA function lengths)', () => {
  const snippet = [
    '#include <string>  // {',                                         // 1  a directive and a comment: no brace
    'namespace demo {',                                                // 2  a namespace is no function
    'int three(int x) {',                                              // 3  three: 3 lines
    '  return x + 1;',                                                 // 4
    '}',                                                               // 5
    'struct Point {',                                                  // 6  a struct is no function
    '  int x = 0, y{0};',                                              // 7  a brace initializer is none either
    '  Point(int a, int b) : x(a), y{b} {',                            // 8  the constructor: 3 lines
    '    x += 1;',                                                     // 9
    '  }',                                                             // 10
    '  int sum() const { return x + y; }',                             // 11 sum: 1 line
    '};',                                                              // 12
    '/* a comment { with braces',                                      // 13
    '   on two lines { */',                                            // 14
    'template <typename T>',                                           // 15 braces: 7 lines, from its template line
    'std::string braces(T t) {',                                       // 16
    '  const char* s = "}{ \\" {";  // }}',                          // 17 a string and a comment with braces
    "  char c = '{';",                                                 // 18 a char literal
    '  enum E { A, B };',                                              // 19 an enum is no function
    '  return std::string(s) + c + T{t};',                             // 20
    '}',                                                               // 21
    'auto twice = [](int v) {',                                        // 22 twice (a lambda): 3 lines
    '  return 2 * v;',                                                 // 23
    '};',                                                              // 24
    'void order(std::vector<int>& v) {',                               // 25 order: 9 lines
    '  std::sort(v.begin(), v.end(), [](int a, int b) { return a < b; });', // 26 (lambda): 1 line
    '  for (int i = 0; i < 3; ++i) {',                                 // 27 control blocks are no functions
    '    if (i) { v.push_back(i); } else { v.clear(); }',              // 28
    '  }',                                                             // 29
    '  int arr[2] = {1, 2};',                                          // 30
    '  v.push_back(arr[1]);',                                          // 31
    '  v.push_back(1\'000);',                                          // 32 a digit separator, not a char literal
    '}',                                                               // 33
    '}  // namespace demo',                                            // 34
  ].join('\n');
  it('finds each function, method, constructor and lambda with its exact length, and nothing else', () => {
    expect(cppFunctions(snippet)).toEqual([
      { line: 3, name: 'three', lines: 3 },
      { line: 8, name: 'Point', lines: 3 },
      { line: 11, name: 'sum', lines: 1 },
      { line: 15, name: 'braces', lines: 7 },
      { line: 22, name: 'twice', lines: 3 },
      { line: 25, name: 'order', lines: 9 },
      { line: 26, name: '(lambda)', lines: 1 },
    ]);
  });
  it('reads a CUDA kernel: __global__ and __launch_bounds__(...) before the name, a #pragma inside', () => {
    const kernel = '__global__ void __launch_bounds__(256) k(float* x) {\n#pragma unroll\n  for (int i = 0; i < 2; ++i) x[i] = 0;\n}\n';
    expect(cppFunctions(kernel)).toEqual([{ line: 1, name: 'k', lines: 4 }]);
  });
});
