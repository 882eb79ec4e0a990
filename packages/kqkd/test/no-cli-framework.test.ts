/**
 * The public API loads no command-line framework: a fresh Node process imports @kqkd/kqkd and lists the CommonJS
 * modules it loaded (commander and cli-progress are CommonJS, so an ESM import of them lands in require.cache). The
 * control: @kqkd/cli with all its commands does load commander and cli-progress, so the probe can see them.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const repo = resolve(__dirname, '..', '..', '..');

function loadedFrameworks(entry: string, then = ''): string[] {
  const script = `
    import { createRequire } from 'node:module';
    const require = createRequire(import.meta.url);
    const loaded = await import(${JSON.stringify(entry)});
    ${then}
    const hits = Object.keys(require.cache).filter((k) => /[\\\\/]node_modules[\\\\/](commander|cli-progress)[\\\\/]/.test(k));
    process.stdout.write(JSON.stringify([...new Set(hits.map((k) => k.match(/node_modules[\\\\/](commander|cli-progress)/)[1]))]));
  `;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repo, encoding: 'utf8' })) as string[];
}

describe('@kqkd/kqkd', () => {
  it('importing the API loads neither commander nor cli-progress', () => {
    expect(loadedFrameworks('@kqkd/kqkd')).toEqual([]);
  }, 60_000);

  it('control: the CLI with all its commands loads them (the probe sees CommonJS modules)', () => {
    // buildProgram() without argv registers every command (each command's module is imported only when needed)
    expect(loadedFrameworks('@kqkd/cli', 'await loaded.buildProgram();')).toEqual(expect.arrayContaining(['commander', 'cli-progress']));
  }, 60_000);
});
