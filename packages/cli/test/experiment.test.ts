// `kqkd experiment` refuses bad invocations before anything runs: exit code 2, a message naming the flag or the
// config field, no stack trace, nothing written. (runExperiment itself is covered end to end in @kqkd/distill's
// test/experiment.test.ts.)
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { runCli as run } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'kqkd-cli-experiment-'));
afterEach(() => vi.restoreAllMocks());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A valid experiment file (tiny; never run here), with `patch` applied to its top level. */
function configFile(name: string, patch: Record<string, unknown> = {}): string {
  const config = {
    version: 1,
    dataset: { name: 'fashion-mnist', trainLimit: 200, testLimit: 100 },
    teacher: { model: { name: 'resnet34', width: 0.0625 } },
    student: { model: { name: 'resnet9', width: 0.0625 } },
    methods: ['ce', 'fkd-kq'],
    seeds: 1,
    training: { epochs: 1, batchSize: 32, optimizer: { type: 'adamw', lr: 0.01 } },
    kq: { samples: 40 },
    ...patch,
  };
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(config));
  return path;
}

describe('kqkd experiment: usage errors', () => {
  const cases: [string, string[], RegExp][] = [
    ['neither --preset nor --config', [], /exactly one of a preset name or an experiment file for --preset\/--config but received neither/],
    ['both --preset and --config', ['--preset', 'quick', '--config', 'x.json'], /exactly one of a preset name or an experiment file .* received both/],
    ['an unknown preset', ['--preset', 'quickest'], /one of quick, quick-tune, (fmnist-[^,]+, )+paper-cifar10-resnet34-resnet9, .* for preset but received "quickest"/],
    ['an unknown method in --methods', ['--preset', 'quick', '--methods', 'ce,fkd-kq,fitnet'], /--methods but received "fitnet"/],
    ['--seeds 0', ['--preset', 'quick', '--seeds', '0'], /--seeds/],
    ['--epochs two', ['--preset', 'quick', '--epochs', 'two'], /--epochs/],
    ['a paper preset without --data-dir', ['--preset', 'paper-cifar10-resnet34-resnet9'], /the cifar10 folder for preset paper-cifar10-resnet34-resnet9 for --data-dir but received nothing/],
    ['a missing config file', ['--config', join(dir, 'missing.json')], /a readable experiment JSON file for --config/],
    ['--tune-lr without a validation split', ['--preset', 'quick', '--tune-lr', '0.01,0.05'],
      /dataset\.validation > 0: the learning rates are chosen on held-out training images, never on the test set for experiment\.tuning but received no validation split \(in preset quick; add "validation": N to the dataset block \(or --validation N\)/],
    ['--tune-lr with one rate', ['--preset', 'quick', '--validation', '5000', '--tune-lr', '0.01'], /at least 2 learning rates > 0.* for --tune-lr but received "0.01"/],
    ['--tune-lr with a word', ['--preset', 'quick', '--validation', '5000', '--tune-lr', '0.01,fast'], /for --tune-lr but received "fast" in "0.01,fast"/],
    ['--tune-lr with a rate twice', ['--preset', 'quick', '--validation', '5000', '--tune-lr', '0.01,0.01'], /each learning rate once for experiment\.tuning\.lr but received 0\.01, 0\.01/],
    ['--tune-seeds without a grid', ['--preset', 'quick', '--tune-seeds', '3'], /a tuning grid too .* for --tune-seeds but received 3/],
    ['--validation 0', ['--preset', 'quick', '--validation', '0'], /--validation/],
    ['--attempts without --queue', ['--preset', 'quick', '--attempts', '2'], /nothing without queue .* for --attempts but received 2/],
    ['a --queue that is not a Redis URL', ['--preset', 'quick', '--queue', 'http://redis:6379'], /a Redis URL redis:\/\/.* for --queue but received the scheme "http:"/],
    ['a --queue with a password and a bad db (the password is not printed)', ['--preset', 'quick', '--queue', 'redis://u:hunter2@redis/99'],
      /a database number 0…15 .* for --queue but received "99" in "redis:\/\/u:\*\*\*@redis\/99"/],
  ];
  for (const [what, args, re] of cases) {
    it(`${what}: exit code 2 and a message naming it`, async () => {
      const out = join(dir, 'out');
      const r = await run(['experiment', ...args, '--out', out]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stderr).not.toContain('hunter2');
      expect(existsSync(out)).toBe(false);
    });
  }

  const badFields: [string, Record<string, unknown>, RegExp][] = [
    ['training.epochs = 0', { training: { epochs: 0, optimizer: { type: 'adamw', lr: 0.01 } } }, /experiment\.training\.epochs/],
    ['an unknown method', { methods: ['ce', 'fitnet'] }, /experiment\.methods\.1/],
    ['an unknown top-level key', { epochs: 3 }, /for experiment but received unknown key\(s\) "epochs"/],
    ['kq.samples below 20', { kq: { samples: 10 } }, /experiment\.kq\.samples/],
    ['version 2', { version: 2 }, /experiment\.version/],
    ['a teacher with neither onnx nor model', { teacher: {} }, /experiment\.teacher/],
    ['student.layers not k long', { student: { model: { name: 'resnet9' }, layers: [1, 2] } }, /experiment\.student\.layers/],
    ['a method twice', { methods: ['ce', 'ce'] }, /experiment\.methods/],
  ];
  for (const [what, patch, re] of badFields) {
    it(`a config file with ${what}: exit code 2 and a message naming the field`, async () => {
      const out = join(dir, 'out');
      const r = await run(['experiment', '--config', configFile(what.replace(/\W+/g, '-'), patch), '--out', out]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(out)).toBe(false);
    });
  }

  it('an unparsable config file: exit code 2 naming --config', async () => {
    const path = join(dir, 'broken.json');
    writeFileSync(path, '{ "version": 1, ');
    const r = await run(['experiment', '--config', path, '--out', join(dir, 'out')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/JSON for --config but received unparsable text/);
  });

  it('--help lists the presets and flags', async () => {
    const r = await run(['experiment', '--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--preset', '--config', '--methods', '--seeds', '--epochs', '--teacher', '--data-dir', '--out', '--tune-lr', '--tune-seeds', '--validation']) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout).toContain('quick-tune');
  });
});
