import { Command } from 'commander';
import { expectInteger, invalidArgumentText } from '@kqkd/common';
import { models, onnxLayers } from '@kqkd/kqkd';
import { withFlagNames } from '../flags.js';

interface ModelsFlags { json?: boolean; classes: string; input: string; width: string; onnx?: string }

/** "3x32x32" (or 3×32×32, 3,32,32) → [3, 32, 32]. */
export function parseInputShape(text: string): [number, number, number] {
  const parts = text.trim().split(/[x×,]/i);
  const dims = parts.map(Number);
  if (parts.length !== 3 || dims.some((d) => !Number.isInteger(d) || d < 1)) {
    invalidArgumentText('--input', 'a shape CxHxW of positive integers such as 3x32x32', `"${text}"`);
  }
  return [dims[0], dims[1], dims[2]];
}

export function registerModels(program: Command): void {
  program
    .command('models')
    .description('List the model zoo: parameter count, generalized layers (index, tensor, shape) and where the head starts; ' +
      'or, with --onnx, the generalized layers kqkd finds in any ONNX model and why each counts.')
    .option('--json', 'print [{name, params, generalizedLayers: [{index, tensor, shape}], headStartsAfter}] (with --onnx: {model, source, layers: [{index, tensor, opType, kind, shape, why}], headStartsAfter})')
    .option('--onnx <file>', 'list the generalized layers of this ONNX model instead of the zoo')
    .option('--classes <n>', 'number of classes', '10')
    .option('--input <CxHxW>', 'input shape of one sample (3x32x32 CIFAR, 1x28x28 Fashion-MNIST, 3x64x64 Tiny ImageNet)', '3x32x32')
    .option('--width <x>', 'width multiplier', '1')
    .action(async (flags: ModelsFlags) => {
      if (flags.onnx !== undefined) {
        const r = await withFlagNames({ model: '--onnx' }, () => onnxLayers({ model: flags.onnx! }));
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(r)}\n`);
          return;
        }
        const shape = (s: readonly (number | string | null)[] | null) => (s === null ? '?' : s.map((d) => d ?? '?').join('×'));
        const rows = r.layers.map((l) => [String(l.index), l.tensor, l.opType, shape(l.shape), l.kind, l.why]);
        const widths = [0, 1, 2, 3, 4].map((c) => Math.max(['layer', 'tensor', 'op', 'shape', 'kind'][c].length, ...rows.map((row) => row[c].length)));
        const line = (cells: string[]) => cells.map((c, i) => (i < 5 ? c.padEnd(widths[i]) : c)).join('  ').trimEnd();
        const lines = [
          `${r.model}: ${r.layers.length} generalized layers (${r.source === 'metadata' ? 'declared in its kqkd.generalized_layers metadata' : 'found from its graph structure'}), head starts after layer ${r.headStartsAfter}`,
          line(['layer', 'tensor', 'op', 'shape', 'kind', 'why it counts']),
          ...rows.map((row, i) => `${line(row)}${i === r.headStartsAfter ? '  ← head after' : ''}`),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
        return;
      }
      const n = Number(flags.classes);
      const classes = expectInteger('--classes', Number.isInteger(n) ? n : flags.classes, 2);
      const input = parseInputShape(flags.input);
      const width = Number(flags.width);
      if (!(width > 0) || !Number.isFinite(width)) invalidArgumentText('--width', 'a positive number', `"${flags.width}"`);
      const listing = models({ classes, input, width });
      if (flags.json) {
        const out = listing.map((m) => ({
          name: m.name, params: m.params,
          generalizedLayers: m.generalizedLayers.map((l) => ({ index: l.index, tensor: l.tensor, shape: l.shape })),
          headStartsAfter: m.headStartsAfter,
        }));
        process.stdout.write(`${JSON.stringify(out)}\n`);
        return;
      }
      const lines: string[] = [`model zoo for ${input.join('×')} inputs, ${classes} classes, width ${width}`];
      for (const m of listing) {
        lines.push('', `${m.name}: ${m.description}`,
          `  ${m.params.toLocaleString('en-US')} parameters (+ ${m.statistics.toLocaleString('en-US')} BN running statistics), `
          + `${m.generalizedLayers.length} generalized layers, head starts after layer ${m.headStartsAfter}`);
        const w = String(m.generalizedLayers.length - 1).length;
        const tw = Math.max(...m.generalizedLayers.map((l) => l.tensor.length));
        for (const l of m.generalizedLayers) {
          lines.push(`  ${String(l.index).padStart(w)}  ${l.tensor.padEnd(tw)}  ${l.shape.join('×')}${l.index === m.headStartsAfter ? '  ← head after' : ''}`);
        }
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
