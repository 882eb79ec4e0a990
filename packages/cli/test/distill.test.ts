/**
 * `kqkd distill`'s refusals: each bad flag is refused before any work (exit 2), naming the flag, what was expected and
 * what came, and the output folder is left as it was. (The whole command, its report and its resume after kill -9
 * are in test/distill.test.ts.)
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'kqkd-cli-distill-'));
const repo = resolve(__dirname, '..', '..', '..');
const teacher = join(repo, 'models', 'fashion-mnist-resnet34-w025.onnx');
const student = join(repo, 'models', 'students', 'resnet8_train_op13.onnx');
const base = ['distill', '--teacher', teacher, '--data', 'fashion-mnist', '--quiet'];

describe('kqkd distill refuses before any work', () => {
  const cases: [string, string[], RegExp][] = [
    ['an unknown student', ['--student', 'resnet10'], /Expected a zoo model \(resnet9, resnet34, .*\) or the path of an ONNX student \(\*\.onnx\) for --student but received "resnet10"/],
    ['a width for an ONNX student', ['--student', student, '--width', '0.5'], /Expected no width for an ONNX student \(its file fixes its size\) for --width but received 0\.5/],
    ['a missing ONNX student', ['--student', join(dir, 'none.onnx')], /student.*none\.onnx/],
    // the same rule as kqkd train --model (isOnnxModelPath): any case of .onnx, or a path, is a file
    ['a missing ONNX student named in capitals', ['--student', join(dir, 'None.ONNX')], /Expected a readable \.onnx file for --student but received ".*None\.ONNX" \(it does not exist\)/],
    ['an unknown comparison', ['--student', 'resnet9', '--compare', 'vkd'], /Expected one of "ce" for --compare\[0\] but received "vkd"/],
    ['a validation split as large as the training split', ['--student', 'resnet9', '--validation', '60000'], /Expected integer between 1 and 59999 for --validation but received 60000/],
    ['a training part too small', ['--student', 'resnet9', '--train-limit', '15'], /Expected at least 20 training images to train on \(2 per class\) besides the 5000 validation images for --train-limit but received 15 \(60000 in the training split\)/],
    ['an unknown selection rule', ['--student', 'resnet9', '--selection', 'best'], /error: option '--selection <rule>' argument 'best' is invalid/],
  ];
  for (const [what, args, message] of cases) {
    it(what, async () => {
      const out = join(dir, what.replace(/\W+/g, '-'));
      const r = await runCli([...base, ...args, '--out', out]);
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }, 120_000);
  }
});
