/**
 * `kqkd train --save-epochs`: the flag reaches the API (the listed epochs' models written, said in the output), its
 * refusals — the list's grammar here, the epochs' range and duplicates from the API — name --save-epochs, and
 * `kqkd train --help` lists it. What the files hold is packages/train/test/save-epochs.test.ts's.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'kqkd-cli-save-epochs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const small = ['--model', 'small-cnn', '--widths', '4,8', '--train-limit', '300', '--test-limit', '100', '--batch-size', '32', '--epochs', '3',
  '--lr', '0.01', '--seed', '3', '--threads', '1'];

describe('kqkd train --save-epochs', () => {
  it('--save-epochs 3,1 of 3 epochs: exactly model-epoch-1.onnx and model-epoch-3.onnx (= model.onnx), said in the output', async () => {
    const out = join(dir, 'run');
    const r = await runCli(['train', ...small, '--save-epochs', '3,1', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out).filter((f) => f.startsWith('model-epoch-')).sort()).toEqual(['model-epoch-1.onnx', 'model-epoch-3.onnx']);
    expect(readFileSync(join(out, 'model-epoch-3.onnx')).equals(readFileSync(join(out, 'model.onnx')))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')).config.saveEpochs).toEqual([1, 3]);
    expect(r.stdout).toContain(`wrote ${join(out, 'metrics.jsonl')}, ${join(out, 'model.onnx')}, ${join(out, 'model-epoch-1.onnx')}, ` +
      `${join(out, 'model-epoch-3.onnx')}, ${join(out, 'results.json')}`);
  }, 300_000);

  it('refusals name --save-epochs, what it expects and what came: exit code 2, no stack trace, no folder', async () => {
    const grammar = (v: string) => `Expected a comma-separated list of epochs, each an integer ≥ 1 (e.g. 2,4,8) for --save-epochs but received "${v}"`;
    const range = 'Expected a list of distinct epochs, each an integer from 1 to epochs (3) for --save-epochs but received';
    const cases: [string, string][] = [
      ['two', grammar('two')], ['1,,3', grammar('1,,3')], ['', grammar('')], ['1.5', grammar('1.5')], ['2;4', grammar('2;4')],
      ['0', 'Expected a list of epochs, each an integer ≥ 1 for --save-epochs but received [0] (item 1: 0)'],
      ['2,4', `${range} [2,4] (4 > 3)`],
      ['1, 3,1', `${range} [1,3,1] (1 twice)`],
    ];
    for (const [value, message] of cases) {
      const out = join(dir, 'refused');
      const r = await runCli(['train', ...small, '--save-epochs', value, '--out', out]);
      expect(r.code, value).toBe(2);
      expect(r.stderr, value).toContain(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(out), value).toBe(false);
    }
  });

  it('kqkd train --help lists --save-epochs', async () => {
    const r = await runCli(['train', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout.replace(/\s+/g, ' ')).toContain('--save-epochs <list> also keep the model after these epochs as model-epoch-<N>.onnx in --out');
  });
});
