/**
 * The bad inputs and faults a user meets, each ending in a clear error before any work (exit code 2, a message that
 * names the flag or file, what was expected and what came, no stack trace) or in a run failure (exit code 1) — and
 * nothing written where the command refused. docs/reliability.md lists them with what the user sees.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeNpy } from '@kqkd/data';
import { encodeModel, GraphBuilder, loadModel, tensorValues } from '@kqkd/onnx';
import { runCli } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'kqkd-cli-reliability-'));
const refused = async (args: string[], re: RegExp) => {
  const r = await runCli(args);
  expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(2);
  expect(r.stderr, args.join(' ')).toMatch(re);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  return r;
};
const TRAIN = ['train', '--model', 'small-cnn', '--widths', '4,8', '--epochs', '1', '--train-limit', '256', '--test-limit', '100',
  '--batch-size', '32', '--threads', '1', '--quiet'];

/** Features of 60 samples, 3 classes, and int64 labels, as .npy files. */
function featureFiles(name: string, labels: bigint[] = Array.from({ length: 60 }, (_, i) => BigInt(i % 3))) {
  const f = join(dir, `${name}-x.npy`), l = join(dir, `${name}-y.npy`);
  writeNpy(f, Float32Array.from({ length: labels.length * 8 }, (_, i) => Math.sin(i) + (i % 8 === 0 ? Number(labels[Math.floor(i / 8)] % 3n) : 0)), [labels.length, 8]);
  writeNpy(l, BigInt64Array.from(labels), [labels.length]);
  return { f, l };
}

describe('output folders are checked before any work', () => {
  it('a folder on /proc is refused at once (it used to hang)', async () => {
    const { f, l } = featureFiles('proc');
    await refused(['score', '--features', f, '--labels', l, '--dataset-size', '60', '--out', '/proc/kqkd-x'], /a folder on a real file system for --out but received "\/proc\/kqkd-x"/);
  });

  it('a second process on the same run folder is refused, naming the pid; a stale lock of a dead process is taken over', async () => {
    const run = join(dir, 'locked');
    mkdirSync(run, { recursive: true });
    writeFileSync(join(run, '.kqkd.lock'), JSON.stringify({ pid: process.pid, host: hostname(), since: 'now', command: 'kqkd train' }));
    await refused([...TRAIN, '--out', run], new RegExp(`a folder no other kqkd process is using for --out but received ".*locked", locked by pid ${process.pid}`));
    // a dead pid: a child that has exited
    const child = spawn(process.execPath, ['-e', '0']);
    const pid = child.pid!;
    await new Promise((res) => child.on('exit', res));
    writeFileSync(join(run, '.kqkd.lock'), JSON.stringify({ pid, host: hostname(), since: 'earlier', command: 'kqkd train' }));
    const r = await runCli([...TRAIN.filter((a) => a !== '--quiet'), '--out', run]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`took over the lock of pid ${pid}`);
    expect(existsSync(join(run, '.kqkd.lock'))).toBe(false); // released
  }, 120_000);

  it('a folder holding the user\'s own files is refused unless --force', async () => {
    const run = join(dir, 'users');
    mkdirSync(run, { recursive: true });
    writeFileSync(join(run, 'results.json'), '{"mine": true}');
    await refused([...TRAIN, '--out', run], /an empty folder or one kqkd made for this run for --out but received ".*users", which holds files kqkd did not write for it \("results.json"\)/);
    expect(JSON.parse(readFileSync(join(run, 'results.json'), 'utf8'))).toEqual({ mine: true }); // untouched
    const r = await runCli([...TRAIN, '--out', run, '--force']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(run, 'results.json'), 'utf8')).completedEpochs).toBe(1);
  }, 120_000);

  it('a refused command leaves nothing behind: experiment --teacher notes.txt', async () => {
    const notes = join(dir, 'notes.txt');
    writeFileSync(notes, 'not a model');
    const out = join(dir, 'never-made');
    await refused(['experiment', '--preset', 'quick', '--teacher', notes, '--out', out], /notes\.txt/);
    expect(existsSync(out)).toBe(false);
    const existing = join(dir, 'existing-empty');
    mkdirSync(existing);
    await refused(['experiment', '--preset', 'quick', '--teacher', notes, '--out', existing], /notes\.txt/);
    expect(readdirSync(existing)).toEqual([]);
  });
});

describe('experiment: a teacher or a config that cannot work is refused before anything is written', () => {
  /** A Fashion-MNIST-shaped (or other) teacher: conv → ReLU → flatten → linear. */
  const teacher = (file: string, o: { input?: number[]; classes?: number; nan?: boolean; extraInput?: boolean; nanLogits?: boolean } = {}) => {
    const g = new GraphBuilder({ seed: 3 });
    const x = g.input('input', ['N', ...(o.input ?? [1, 28, 28])]);
    let logits = g.gemm(g.flatten(g.relu(g.conv(x, 2, { name: 'c' }), 'r'), 1, 'flat'), o.classes ?? 10, 'fc');
    if (o.nanLogits) logits = g.log(logits); // finite weights, NaN logits wherever the linear layer is negative
    if (o.extraInput) logits = g.add(logits, g.input('bias', ['N', o.classes ?? 10]), 'sum');
    g.output(logits, 'logits');
    const m = g.build();
    if (o.nan) {
      const w = m.graph!.initializer!.find((t) => t.name === 'fc.weight')!;
      const v = tensorValues(w)!;
      v[5] = NaN;
      w.rawData = new Uint8Array(new Float32Array(v).buffer);
      w.floatData = [];
    }
    const path = join(dir, file);
    writeFileSync(path, encodeModel(m));
    return path;
  };
  const cases: [string, string[], RegExp][] = [
    ['a teacher with a NaN weight', ['--teacher', teacher('nan-teacher.onnx', { nan: true })],
      /finite numbers .* for teacher\.onnx ".*nan-teacher\.onnx" weights but received NaN in "fc\.weight" at flat index 5/],
    ['a teacher with two inputs', ['--teacher', teacher('two-input-teacher.onnx', { extraInput: true })],
      /ONE image input \[N, 1, 28, 28\] for teacher\.onnx ".*two-input-teacher\.onnx" but received 2 inputs: "input", "bias"/],
    ['a teacher of 3×32×32 images', ['--teacher', teacher('cifar-teacher.onnx', { input: [3, 32, 32] })],
      /\[N, 1, 28, 28\] \(fashion-mnist images\) for teacher\.onnx ".*cifar-teacher\.onnx" input "input" but received \[N, 3, 32, 32\]/],
    ['a teacher whose logits are NaN (finite weights)', ['--teacher', teacher('nan-logits-teacher.onnx', { nanLogits: true })],
      /finite logits for teacher\.onnx ".*nan-logits-teacher\.onnx" output "logits" but received NaN for image \d+ of the fashion-mnist test split/],
    ['a teacher of 5 classes', ['--teacher', teacher('five-teacher.onnx', { classes: 5 })],
      /logits \[N, 10\] \(fashion-mnist has 10 classes\) for teacher\.onnx ".*five-teacher\.onnx" output "logits" but received \[N, 5\]/],
  ];
  for (const [what, args, re] of cases) {
    it(`${what}: exit 2, the teacher file named, no folder left`, async () => {
      const out = join(dir, `pre-${what.replace(/\W+/g, '-')}`);
      await refused(['experiment', '--preset', 'quick', ...args, '--out', out], re);
      expect(existsSync(out)).toBe(false);
    }, 60_000);
  }

  it('a batch larger than the training set: refused before the teacher, KQ or the cache run', async () => {
    const config = join(dir, 'big-batch.json');
    writeFileSync(config, JSON.stringify({
      version: 1, dataset: { name: 'fashion-mnist', trainLimit: 200 }, teacher: { onnx: teacher('ok-teacher.onnx') },
      student: { model: { name: 'small-cnn', widths: [4, 8] } }, methods: ['ce'], seeds: 1,
      training: { epochs: 1, batchSize: 256, optimizer: { type: 'adamw', lr: 0.01 } }, kq: { samples: 40 }, distill: { k: 2 },
    }));
    const out = join(dir, 'big-batch-out');
    await refused(['experiment', '--config', config, '--out', out], /at most the 200 training images \(fashion-mnist, trainLimit 200\) for experiment\.training\.batchSize but received 256/);
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it('--queue with nothing listening: refused at once, before the teacher, KQ or the cache are prepared', async () => {
    const server = createServer();
    const port = await new Promise<number>((res) => server.listen(0, '127.0.0.1', () => res((server.address() as { port: number }).port)));
    await new Promise((res) => server.close(res));
    const out = join(dir, 'queue-refused');
    await refused(['experiment', '--preset', 'quick', '--queue', `redis://127.0.0.1:${port}`, '--out', out],
      new RegExp(`a Redis reachable at redis://127\\.0\\.0\\.1:${port} that accepts this connection for --queue but received connection refused`));
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it('messages state the bound that was broken, and name the flag that set the value', async () => {
    await refused([...TRAIN, '--epochs', '100000', '--out', join(dir, 'b1')], /Expected at most 10000 for --epochs but received 100000/);
    await refused([...TRAIN, '--batch-size', '100000', '--out', join(dir, 'b2')], /Expected at most 4096 for --batch-size but received 100000/);
    await refused([...TRAIN, '--epochs', '0', '--out', join(dir, 'b3')], /Expected integer >= 1 for --epochs but received 0/);
    await refused(['experiment', '--preset', 'quick', '--methods', '', '--out', join(dir, 'b4')], /at least one method key among ce, .* for --methods but received none \(an empty list\)/);
    const { f } = featureFiles('negative');
    const l = join(dir, 'negative-y.npy');
    writeNpy(l, BigInt64Array.from({ length: 60 }, (_, i) => (i === 4 ? -1n : BigInt(i % 3))), [60]);
    await refused(['score', '--features', f, '--labels', l, '--dataset-size', '60', '--out', join(dir, 'b5')], /Expected class indices ≥ 0 for --labels but received -1 at row 4 of/);
    for (const b of ['b1', 'b2', 'b3', 'b4', 'b5']) expect(existsSync(join(dir, b))).toBe(false);
  }, 60_000);
});

describe('inputs', () => {
  it('kqkd score: --dataset-size below the samples, --top-k 0, labels beyond 32 bits, an empty --idx-main', async () => {
    const { f, l } = featureFiles('inputs');
    await refused(['score', '--features', f, '--labels', l, '--dataset-size', '59', '--out', join(dir, 's1')], /integer >= 60 for --dataset-size but received 59/);
    await refused(['score', '--features', f, '--labels', l, '--dataset-size', '60', '--top-k', '0', '--out', join(dir, 's2')], /--top-k/);
    for (const big of [2n ** 32n + 1n, 2n ** 31n + 1n]) {
      const bad = featureFiles(`big${big}`, Array.from({ length: 60 }, (_, i) => (i === 7 ? big : BigInt(i % 3))));
      await refused(['score', '--features', bad.f, '--labels', bad.l, '--dataset-size', '60', '--out', join(dir, 's3')],
        new RegExp(`class indices below 2\\^31 \\(int64 labels are not truncated\\) for --labels but received ${big} at row 7 of .*big${big}-y\\.npy`));
    }
    const gap = featureFiles('gap', Array.from({ length: 60 }, (_, i) => (i === 9 ? 5n : BigInt(i % 3))));
    await refused(['score', '--features', gap.f, '--labels', gap.l, '--dataset-size', '60', '--out', join(dir, 's3')],
      /labels that fit the class count \(the file holds 4 distinct labels, so classes 0 … 3\) for --labels but received 5 at row 9 of .*gap-y\.npy \(class 3 has no sample\)/);
    const empty = join(dir, 'empty-idx.npy');
    writeNpy(empty, new BigInt64Array(0), [0]);
    await refused(['score', '--features', f, '--labels', l, '--dataset-size', '60', '--idx-main', empty, '--idx-class', empty, '--out', join(dir, 's4')],
      /at least one row index for --idx-main but received an empty array/);
    for (const s of ['s1', 's2', 's3', 's4']) expect(existsSync(join(dir, s))).toBe(false);
  });

  it('a model with a fixed batch size is refused naming the file, not "<N model bytes>"', async () => {
    const g = new GraphBuilder({ seed: 2 });
    const x = g.input('input', [1, 1, 28, 28]);
    g.output(g.gemm(g.flatten(g.relu(g.conv(x, 2, { name: 'c' }), 'r'), 1, 'flat'), 10, 'fc'), 'logits');
    const fixed = join(dir, 'fixed-batch.onnx');
    writeFileSync(fixed, encodeModel(g.build()));
    const r = await refused(['score', '--model', fixed, '--data', 'fashion-mnist', '--samples', '40', '--out', join(dir, 'fixed-out')], /fixed-batch\.onnx: a fixed batch of 1/);
    expect(r.stderr).not.toMatch(/model bytes/);
  });

  it('external tensor data in the model\'s own folder is read; a data file outside the folder is refused', async () => {
    // the committed tiny CNN with its conv weight moved to a file next to it
    const model = loadModel(join(__dirname, '..', '..', '..', 'models', 'tiny-cnn.onnx'));
    const init = model.graph!.initializer!.find((t) => (t.dims ?? []).length === 4)!;
    const raw = init.rawData!;
    const folder = join(dir, 'external');
    mkdirSync(join(folder, 'weights'), { recursive: true });
    writeFileSync(join(folder, 'weights', 'conv.bin'), raw);
    init.rawData = new Uint8Array(0);
    init.dataLocation = 1;
    init.externalData = [{ key: 'location', value: 'weights/conv.bin' }, { key: 'offset', value: '0' }, { key: 'length', value: String(raw.byteLength) }];
    writeFileSync(join(folder, 'model.onnx'), encodeModel(model));
    const inside = await runCli(['eval', '--model', join(folder, 'model.onnx'), '--quiet']);
    const plain = await runCli(['eval', '--model', join(__dirname, '..', '..', '..', 'models', 'tiny-cnn.onnx'), '--quiet']);
    expect(inside.code, inside.stderr).toBe(0);
    expect(inside.stdout.split(': ')[1]).toBe(plain.stdout.split(': ')[1]); // same accuracy line
    init.externalData = [{ key: 'location', value: '../outside.bin' }];
    writeFileSync(join(dir, 'outside.bin'), raw);
    writeFileSync(join(folder, 'escape.onnx'), encodeModel(model));
    await refused(['eval', '--model', join(folder, 'escape.onnx')], /a data file inside the model's folder .* but received "\.\.\/outside\.bin" \(outside it\)/);
  }, 120_000);
});

describe('runs that fail', () => {
  it('a diverging run (SGD, lr 10) stops with exit code 1, and results.json records where and why', async () => {
    const run = join(dir, 'diverged');
    const r = await runCli(['train', '--model', 'small-cnn', '--widths', '4,8', '--optimizer', 'sgd', '--lr', '10', '--schedule', 'constant',
      '--epochs', '2', '--train-limit', '512', '--test-limit', '100', '--batch-size', '32', '--threads', '1', '--quiet', '--out', run]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/the run diverged at learning rate 10\.00/);
    const results = JSON.parse(readFileSync(join(run, 'results.json'), 'utf8'));
    expect(results.failed.reason).toMatch(/diverged/);
    expect(results.failed.epoch).toBe(1);
    expect(existsSync(join(run, 'model.onnx'))).toBe(false);
  }, 120_000);
});
