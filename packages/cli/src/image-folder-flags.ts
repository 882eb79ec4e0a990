/**
 * The image-folder flags shared by train, eval, score, experiment and distill (`--data image-folder --data-dir DIR`):
 * `--image-size N --channels 1|3 --test-fraction F --split-seed N --cache-dir DIR --skip-bad`, refused for other datasets.
 */
import type { Command } from 'commander';
import { KqkdError } from '@kqkd/common';
import { intFlag } from './flags.js';

export interface ImageFolderFlags {
  data?: string;
  imageSize?: string;
  channels?: string;
  testFraction?: string;
  splitSeed?: string;
  cacheDir?: string;
  skipBad?: boolean;
}

/** Option name → flag, for withFlagNames. */
export const IMAGE_FOLDER_FLAGS = {
  imageSize: '--image-size', channels: '--channels', testFraction: '--test-fraction', splitSeed: '--split-seed', cacheDir: '--cache-dir', skipBad: '--skip-bad',
} as const;

/** Adds the image-folder flags to `command` (a `--cache-dir` it already has is kept) and returns it. */
export function withImageFolderFlags(command: Command): Command {
  const has = (flag: string) => command.options.some((o) => o.long === flag);
  command
    .option('--image-size <n>', 'image-folder: side of the square images (shorter side resized to it, centre-cropped; default 32, or the model\'s)')
    .option('--channels <n>', 'image-folder: 3 = RGB (default), 1 = greyscale')
    .option('--test-fraction <x>', 'image-folder with one folder per class: fraction of each class held out as the test split (default 0.2)')
    .option('--split-seed <n>', 'image-folder: seed of that held-out split and of the training order (default 0)');
  if (!has('--cache-dir')) command.option('--cache-dir <dir>', 'image-folder: folder of the decoded cache (default DIR/.kqkd-cache)');
  command.option('--skip-bad', 'image-folder: skip unreadable, corrupt and non-image files (listed in the cache folder) instead of refusing');
  return command;
}

/** The image-folder options the flags give (empty when none is given); refused with another dataset. */
export function imageFolderOptions(flags: ImageFolderFlags, o: { cacheDirIsShared?: boolean } = {}): {
  imageSize?: number; channels?: 1 | 3; testFraction?: number; splitSeed?: number; cacheDir?: string; skipBad?: boolean;
} {
  const out: ReturnType<typeof imageFolderOptions> = {};
  if (flags.imageSize !== undefined) out.imageSize = intFlag('--image-size', flags.imageSize, 1);
  if (flags.channels !== undefined) {
    if (flags.channels !== '1' && flags.channels !== '3') throw new KqkdError('--channels', '1 (greyscale) or 3 (RGB)', `"${flags.channels}"`);
    out.channels = Number(flags.channels) as 1 | 3;
  }
  if (flags.testFraction !== undefined) {
    const f = Number(flags.testFraction);
    if (!/^[0-9.eE+-]+$/.test(flags.testFraction) || !(f > 0 && f < 1)) throw new KqkdError('--test-fraction', 'a number > 0 and < 1', `"${flags.testFraction}"`);
    out.testFraction = f;
  }
  if (flags.splitSeed !== undefined) out.splitSeed = intFlag('--split-seed', flags.splitSeed, 0);
  if (flags.cacheDir !== undefined && (flags.data === 'image-folder' || !o.cacheDirIsShared)) out.cacheDir = flags.cacheDir;
  if (flags.skipBad) out.skipBad = true;
  if (flags.data !== undefined && flags.data !== 'image-folder') {
    const given = Object.keys(out).filter((k) => k !== 'cacheDir' || !o.cacheDirIsShared);
    if (given.length > 0) {
      const flag = IMAGE_FOLDER_FLAGS[given[0] as keyof typeof IMAGE_FOLDER_FLAGS];
      throw new KqkdError(flag, `no ${flag} with --data ${flags.data} (an image-folder flag)`, given.map((k) => IMAGE_FOLDER_FLAGS[k as keyof typeof IMAGE_FOLDER_FLAGS]).join(', '));
    }
  }
  return out;
}
