import { Command } from 'commander';
import { KqkdError } from '@kqkd/common';
import { predict } from '@kqkd/kqkd';
import { intFlag, withFlagNames } from '../flags.js';

interface PredictFlags {
  model: string;
  top: string;
  json?: boolean;
  imageSize?: string;
  channels?: string;
  mean?: string;
  std?: string;
  threads?: string;
}

const FLAGS = { model: '--model', top: '--top', imageSize: '--image-size', channels: '--channels', mean: '--mean', std: '--std', threads: '--threads', images: 'IMAGES' };

function numberList(flag: string, value: string): number[] {
  const parts = value.split(',').map((p) => p.trim());
  const bad = parts.find((p) => !/^[0-9.eE+-]+$/.test(p) || !Number.isFinite(Number(p)));
  if (bad !== undefined) throw new KqkdError(flag, 'comma-separated numbers, one per channel (e.g. 0.485,0.456,0.406)', `"${value}"`);
  return parts.map(Number);
}

export function registerPredict(program: Command): void {
  program
    .command('predict')
    .description('The class of each image (JPEG, PNG, WebP) under an ONNX classifier, preprocessed as its image-folder training data was ' +
      '(the model\'s kqkd metadata: class names, normalisation, input size; kqkd distill writes it).')
    .requiredOption('--model <file.onnx>', 'an ONNX image classifier, with kqkd image metadata or with --image-size/--channels/--mean/--std')
    .argument('<images...>', 'image files')
    .option('--top <k>', 'classes shown per image, most probable first', '1')
    .option('--json', 'print the result as JSON')
    .option('--image-size <n>', 'side of the square model input (default: the model\'s metadata, else its input shape)')
    .option('--channels <n>', '1 (greyscale) or 3 (RGB) (default: the model\'s metadata, else its input shape)')
    .option('--mean <list>', 'per-channel mean of pixel/255 (default: the model\'s metadata)')
    .option('--std <list>', 'per-channel std of pixel/255 (default: the model\'s metadata)')
    .option('--threads <n>', 'onnxruntime intra-op threads')
    .action(async (images: string[], flags: PredictFlags) => {
      const r = await withFlagNames(FLAGS, () => {
        if (flags.channels !== undefined && flags.channels !== '1' && flags.channels !== '3') throw new KqkdError('--channels', '1 or 3', `"${flags.channels}"`);
        return predict({
          model: flags.model, images, top: intFlag('--top', flags.top, 1),
          ...(flags.imageSize !== undefined ? { imageSize: intFlag('--image-size', flags.imageSize, 1) } : {}),
          ...(flags.channels !== undefined ? { channels: Number(flags.channels) as 1 | 3 } : {}),
          ...(flags.mean !== undefined ? { mean: numberList('--mean', flags.mean) } : {}),
          ...(flags.std !== undefined ? { std: numberList('--std', flags.std) } : {}),
          ...(flags.threads !== undefined ? { threads: intFlag('--threads', flags.threads, 1) } : {}),
        });
      });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        return;
      }
      for (const p of r.predictions) {
        const [best, ...rest] = p.top;
        process.stdout.write(`${p.image}: ${best.name} ${(100 * best.probability).toFixed(2)} %\n`);
        for (const t of rest) process.stdout.write(`  ${t.name} ${(100 * t.probability).toFixed(2)} %\n`);
      }
    });
}
