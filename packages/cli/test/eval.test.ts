/**
 * `kqkd eval`: top-1, per-class accuracy and the confusion matrix of an ONNX classifier, against an independent count
 * (the model run here through onnxruntime-node with the dataset's published normalisation, argmax by hand), and the
 * bad inputs a user meets (no file, not ONNX, the wrong input shape, an unknown dataset).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FASHION_MNIST_MEAN, FASHION_MNIST_STD, loadFashionMnist, toFloatBatch } from '@kqkd/data';
import { encodeModel, GraphBuilder, tensorValues } from '@kqkd/onnx';
import { createInferenceSession } from '@kqkd/runtime';
import { runCli } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'kqkd-cli-eval-'));

describe('kqkd eval', () => {
  it('top-1, per-class accuracy and confusion matrix equal an independent count; eval.json and the picture are written', async () => {
    // a small trained classifier: 1 epoch of small-cnn on 1 024 images
    const run = join(dir, 'run');
    const t = await runCli(['train', '--model', 'small-cnn', '--widths', '4,8', '--epochs', '1', '--train-limit', '1024', '--test-limit', '200',
      '--batch-size', '64', '--lr', '0.01', '--threads', '1', '--quiet', '--out', run]);
    expect(t.code, t.stderr).toBe(0);
    const model = join(run, 'model.onnx');
    const out = join(dir, 'eval');
    const r = await runCli(['eval', '--model', model, '--data', 'fashion-mnist', '--threads', '1', '--out', out]);
    expect(r.code, r.stderr).toBe(0);

    // independent: every test image through onnxruntime-node, argmax, counts
    const test = loadFashionMnist({ split: 'test' });
    const session = await createInferenceSession(readFileSync(model), { threads: 1 });
    const confusion = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
    for (let start = 0; start < test.count; start += 1000) {
      const idx = Array.from({ length: Math.min(1000, test.count - start) }, (_, i) => start + i);
      const { data } = toFloatBatch(test, idx, { mean: FASHION_MNIST_MEAN, std: FASHION_MNIST_STD });
      const logits = (await session.run({ input: { data, shape: [idx.length, 1, 28, 28] } }, ['logits'])).logits.data;
      idx.forEach((img, b) => {
        let arg = 0;
        for (let j = 1; j < 10; j++) if (logits[b * 10 + j] > logits[b * 10 + arg]) arg = j;
        confusion[test.labels[img]][arg]++;
      });
    }
    await session.release();
    const correct = confusion.reduce((s, row, c) => s + row[c], 0);

    const json = JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8'));
    expect(json.confusion).toEqual(confusion);
    expect(json.correct).toBe(correct);
    expect(json.count).toBe(10000);
    expect(json.top1).toBeCloseTo((100 * correct) / 10000, 10);
    expect(json.top1).toBeGreaterThan(50); // a trained model, not chance: the test can tell rows from columns
    json.perClass.forEach((p: { class: number; name: string; top1: number }, c: number) => {
      expect(p.class).toBe(c);
      expect(p.name).toBe(test.classNames[c]);
      expect(p.top1).toBeCloseTo((100 * confusion[c][c]) / confusion[c].reduce((a, b) => a + b, 0), 10);
    });
    expect(json.split).toBe('test');
    expect(json.model.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(r.stdout).toContain(`top-1 ${((100 * correct) / 10000).toFixed(2)} % (${correct} / 10000)`);
    expect(r.stdout).toContain('Ankle boot');
    for (const f of ['confusion.svg', 'confusion.png']) expect(readFileSync(join(out, f)).length).toBeGreaterThan(1000);
  }, 180_000);

  it('bad inputs: exit code 2 and a message naming the flag or the file', async () => {
    const text = join(dir, 'notes.onnx');
    writeFileSync(text, 'not a model');
    // a classifier of 3×32×32 images (CIFAR-sized) cannot read Fashion-MNIST
    const g = new GraphBuilder({ seed: 1 });
    g.output(g.gemm(g.flatten(g.input('input', ['N', 3, 32, 32]), 1, 'flat'), 10, 'fc'), 'logits');
    const cifar = join(dir, 'cifar.onnx');
    writeFileSync(cifar, encodeModel(g.build()));
    // Fashion-MNIST classifiers that must not be scored: NaN in a weight, two inputs, 5 classes, NaN logits from
    // finite weights (the log of negative numbers)
    const fmnist = (build: (g: GraphBuilder, x: ReturnType<GraphBuilder['input']>) => void, file: string) => {
      const b = new GraphBuilder({ seed: 2 });
      build(b, b.input('input', ['N', 1, 28, 28]));
      const m = b.build();
      writeFileSync(join(dir, file), encodeModel(m));
      return { path: join(dir, file), model: m };
    };
    const nanWeights = fmnist((b, x) => b.output(b.gemm(b.flatten(x, 1, 'flat'), 10, 'fc'), 'logits'), 'nan-weights.onnx');
    const w = nanWeights.model.graph!.initializer!.find((t) => (t.dims ?? []).length === 2)!;
    const values = tensorValues(w)!;
    values[37] = NaN;
    w.rawData = new Uint8Array(new Float32Array(values).buffer);
    w.floatData = [];
    writeFileSync(nanWeights.path, encodeModel(nanWeights.model));
    const twoInputs = fmnist((b, x) => b.output(b.add(b.gemm(b.flatten(x, 1, 'flat'), 10, 'fc'), b.input('bias', ['N', 10]), 'sum'), 'logits'), 'two-inputs.onnx');
    const fiveClasses = fmnist((b, x) => b.output(b.gemm(b.flatten(x, 1, 'flat'), 5, 'fc'), 'logits'), 'five.onnx');
    const nanLogits = fmnist((b, x) => b.output(b.log(b.gemm(b.flatten(x, 1, 'flat'), 10, 'fc')), 'logits'), 'nan-logits.onnx');
    const cases: [string[], RegExp][] = [
      [['eval', '--model', nanWeights.path], /Expected finite numbers .* for ONNX file ".*nan-weights\.onnx" weights but received NaN in "fc\.weight" at flat index 37/],
      [['eval', '--model', twoInputs.path], /Expected an ONNX classifier with ONE image input \[N, 1, 28, 28\] for ONNX file ".*two-inputs\.onnx" but received 2 inputs: "input", "bias"/],
      [['eval', '--model', fiveClasses.path], /Expected logits \[N, 10\] \(fashion-mnist has 10 classes\) for ONNX file ".*five\.onnx" output "logits" but received \[N, 5\]/],
      [['eval', '--model', nanLogits.path], /Expected finite logits for ONNX file ".*nan-logits\.onnx" output "logits" but received NaN for image \d+ of the fashion-mnist test split \(class \d\).*no accuracy is reported/],
      [['eval', '--model', join(dir, 'missing.onnx')], /Expected a readable \.onnx file for --model but received ".*missing\.onnx" \(it does not exist\)/],
      [['eval', '--model', text], /notes\.onnx/],
      [['eval', '--model', cifar], /\[N, 1, 28, 28\] \(fashion-mnist images\) for ONNX file ".*cifar\.onnx" input "input" but received \[N, 3, 32, 32\]/],
      [['eval', '--model', cifar, '--data', 'mnist'], /option '--data <name>' argument 'mnist' is invalid\. Allowed choices are fashion-mnist, cifar10, cifar100, tiny-imagenet, image-folder/],
      [['eval', '--model', cifar, '--split', 'val'], /Expected "test" or "train" \("val" is for image-folder\) for --split but received "val"/],
      [['eval', '--data', 'fashion-mnist'], /required option '--model <file\.onnx>' not specified/],
      [['eval', '--model', cifar, '--batch-size', '0'], /--batch-size/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(re);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  }, 60_000);
});
