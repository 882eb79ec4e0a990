/**
 * The import rules of the monorepo (docs/architecture.md), read from every source file's import specifiers:
 * - only packages/runtime imports ONNX Runtime; only packages/cli imports the CLI framework;
 * - no file reaches into another package's internals (`@kqkd/x/src/…`, `@kqkd/x/dist/…`, or a relative path that
 *   leaves its package);
 * - every @kqkd package a source file imports is a declared dependency of its package;
 * - packages import only packages on lower floors (cli → kqkd → experiment → distill/kq → train →
 *   models/autodiff/geometry/data → onnx/runtime/plots → common/native), so there is no cycle.
 * `checkImports` is pure and is also run on planted violations, so the rules are seen to bite.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const repo = resolve(__dirname, '..');

/** Floor of each package: a package may import only packages on lower floors (same-floor pairs below). */
const FLOORS: Readonly<Record<string, number>> = {
  common: 0, native: 0,
  onnx: 1, runtime: 1, plots: 1,
  models: 2, autodiff: 2, geometry: 2, data: 2,
  train: 3,
  distill: 4, kq: 4,
  experiment: 5,
  kqkd: 6,
  cli: 7,
};
/** Same-floor imports that exist and make sense: distillation selects teacher layers with Knowledge Quality's top-k. */
const SAME_FLOOR: readonly string[] = ['distill→kq'];
const ORT = /^onnxruntime-(node|web|common)(\/|$)/;
const CLI_FRAMEWORK = /^(commander|cli-progress)(\/|$)/;

export interface SourceFile {
  pkg: string;
  /** Path relative to the repository root. */
  path: string;
  text: string;
}

/** Every module specifier of a source file: static and dynamic imports, re-exports, require(). */
export function specifiers(text: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)['"]([^'"]+)['"]/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[1]);
  return out;
}

/** The violations of the rules in these files, given each package's declared @kqkd dependencies. */
export function checkImports(files: readonly SourceFile[], declared: Readonly<Record<string, readonly string[]>>): string[] {
  const problems: string[] = [];
  for (const f of files) {
    for (const s of specifiers(f.text)) {
      if (ORT.test(s) && f.pkg !== 'runtime') problems.push(`${f.path}: imports ${s} (only packages/runtime imports ONNX Runtime)`);
      if (CLI_FRAMEWORK.test(s) && f.pkg !== 'cli') problems.push(`${f.path}: imports ${s} (only packages/cli imports the CLI framework)`);
      if (s.startsWith('.')) {
        const target = resolve(repo, f.path, '..', s);
        const root = resolve(repo, f.pkg === 'native' ? 'native' : join('packages', f.pkg));
        if (!target.startsWith(root + sep)) problems.push(`${f.path}: imports ${s}, outside its package`);
        continue;
      }
      const m = /^@kqkd\/([^/]+)(\/.*)?$/.exec(s);
      if (!m) continue;
      const [, dep, deep] = m;
      if (deep) problems.push(`${f.path}: imports ${s} (another package's internals; import its entry)`);
      if (dep === f.pkg) continue;
      if (!(declared[f.pkg] ?? []).includes(dep)) problems.push(`${f.path}: imports @kqkd/${dep}, not a dependency in packages/${f.pkg}/package.json`);
      const from = FLOORS[f.pkg], to = FLOORS[dep];
      if (from === undefined || to === undefined) problems.push(`${f.path}: @kqkd/${f.pkg} → @kqkd/${dep}: a package without a floor (add it to FLOORS)`);
      else if (to > from || (to === from && !SAME_FLOOR.includes(`${f.pkg}→${dep}`))) {
        problems.push(`${f.path}: @kqkd/${f.pkg} (floor ${from}) imports @kqkd/${dep} (floor ${to}): imports go down the floors only`);
      }
    }
  }
  return problems;
}

function walk(dir: string, keep: (p: string) => boolean): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p, keep) : keep(p) ? [p] : [];
  });
}

function repoSources(): { files: SourceFile[]; declared: Record<string, string[]> } {
  const files: SourceFile[] = [];
  const declared: Record<string, string[]> = {};
  for (const pkg of readdirSync(join(repo, 'packages'))) {
    const meta = JSON.parse(readFileSync(join(repo, 'packages', pkg, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    declared[pkg] = Object.keys(meta.dependencies ?? {}).filter((d) => d.startsWith('@kqkd/')).map((d) => d.slice('@kqkd/'.length));
    for (const p of walk(join(repo, 'packages', pkg, 'src'), (x) => x.endsWith('.ts'))) {
      files.push({ pkg, path: relative(repo, p), text: readFileSync(p, 'utf8') });
    }
  }
  declared.native = [];
  files.push({ pkg: 'native', path: 'native/index.cjs', text: readFileSync(join(repo, 'native', 'index.cjs'), 'utf8') });
  return { files, declared };
}

describe('import rules', () => {
  it('hold for every source file of every package', () => {
    const { files, declared } = repoSources();
    expect(files.length).toBeGreaterThan(100);
    expect(Object.keys(declared).sort()).toEqual(Object.keys(FLOORS).filter((p) => p !== 'native').concat('native').sort());
    expect(checkImports(files, declared)).toEqual([]);
  });

  it('bite on planted violations', () => {
    const declared = { kq: ['common'], cli: ['kqkd'], onnx: ['common'], train: ['onnx'], kqkd: ['cli'] };
    const planted: [SourceFile, RegExp][] = [
      [{ pkg: 'kq', path: 'packages/kq/src/a.ts', text: "import * as ort from 'onnxruntime-node';" }, /only packages\/runtime/],
      [{ pkg: 'kq', path: 'packages/kq/src/a.ts', text: "const c = await import('commander');" }, /only packages\/cli/],
      [{ pkg: 'train', path: 'packages/train/src/a.ts', text: "export { x } from '@kqkd/onnx/src/builder.js';" }, /internals/],
      [{ pkg: 'train', path: 'packages/train/src/a.ts', text: "import { y } from '../../onnx/src/io.js';" }, /outside its package/],
      [{ pkg: 'kq', path: 'packages/kq/src/a.ts', text: "import { z } from '@kqkd/data';" }, /not a dependency/],
      [{ pkg: 'onnx', path: 'packages/onnx/src/a.ts', text: "import { t } from '@kqkd/train';" }, /down the floors only/],
      [{ pkg: 'kqkd', path: 'packages/kqkd/src/a.ts', text: "require('@kqkd/cli');" }, /down the floors only/],
    ];
    for (const [file, re] of planted) {
      const problems = checkImports([file], declared);
      expect(problems, file.text).toHaveLength(problems.length || 1);
      expect(problems.join('\n'), file.text).toMatch(re);
    }
    // and a clean file passes
    expect(checkImports([{ pkg: 'cli', path: 'packages/cli/src/a.ts', text: "import { Command } from 'commander';\nimport { score } from '@kqkd/kqkd';" }], declared)).toEqual([]);
  });
});
