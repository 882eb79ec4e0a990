import { cpSync, existsSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTinyImageNet, readNpy } from '../src/index.js';
import {
  TINY_WNIDS, quadrants, tempDir, trainColours, valColours, writeGreyJpeg, writeJpeg, writeTinyImageNet, type Rgb,
} from './formats.js';

const made: string[] = [];
const fresh = (p: string) => { const d = tempDir(p); made.push(d); return d; };
afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

const PIXELS = 64 * 64 * 3;
let root = '';
/** A fresh copy of the reference tree, for tests that damage it. */
const copy = (p: string) => { const d = fresh(p); cpSync(root, d, { recursive: true }); return join(d, 'tiny-imagenet-200'); };

beforeAll(async () => {
  root = await writeTinyImageNet(fresh('tin'));
});

const at = (bytes: Uint8Array, image: number, y: number, x: number): number[] =>
  Array.from(bytes.subarray(image * PIXELS + (y * 64 + x) * 3, image * PIXELS + (y * 64 + x) * 3 + 3));

/** Each quadrant's centre pixel is its colour within JPEG's error (quality 100, 4:4:4, blocks of one colour). */
function expectQuadrants(bytes: Uint8Array, image: number, q: [Rgb, Rgb, Rgb, Rgb]): void {
  const centres: [number, number][] = [[16, 16], [16, 48], [48, 16], [48, 48]];
  centres.forEach(([y, x], k) => at(bytes, image, y, x).forEach((v, c) => expect(Math.abs(v - q[k][c])).toBeLessThanOrEqual(2)));
}

/** The bytes sharp decodes from the file, in HWC, as an independent reference (greyscale replicated). */
async function reference(path: string): Promise<Uint8Array> {
  const { data, info } = await sharp(readFileSync(path)).raw().toBuffer({ resolveWithObject: true });
  if (info.channels === 3) return Uint8Array.from(data);
  return Uint8Array.from({ length: PIXELS }, (_, i) => data[Math.floor(i / 3)]);
}

describe('Tiny ImageNet', () => {
  it('train: classes in wnids.txt order, names from words.txt, files by class then number', async () => {
    const ds = await openTinyImageNet({ dir: root, split: 'train' });
    expect(ds).toMatchObject({ split: 'train', count: 6, height: 64, width: 64, channels: 3, classes: 3 });
    expect(ds.wnids).toEqual(TINY_WNIDS);
    expect(ds.classNames).toEqual(['goldfish', 'European fire salamander', 'bullfrog']);
    expect(Array.from(ds.labels)).toEqual([0, 0, 1, 1, 2, 2]);
    expect(ds.files.map((f) => f.split('/').slice(-3).join('/'))).toEqual([
      'n01443537/images/n01443537_0.JPEG', 'n01443537/images/n01443537_1.JPEG',
      'n01629819/images/n01629819_0.JPEG', 'n01629819/images/n01629819_1.JPEG',
      'n01641577/images/n01641577_0.JPEG', 'n01641577/images/n01641577_1.JPEG',
    ]);
    const bytes = await ds.readImages([0, 1, 2, 3, 4, 5]);
    expect(bytes.length).toBe(6 * PIXELS);
    for (const [b, c, i] of [[0, 0, 0], [1, 0, 1], [2, 1, 0], [4, 2, 0], [5, 2, 1]]) expectQuadrants(bytes, b, trainColours(c, i));
    for (let b = 0; b < 6; b++) expect(bytes.subarray(b * PIXELS, (b + 1) * PIXELS)).toEqual(await reference(ds.files[b]));
  });

  it('a greyscale JPEG becomes RGB with R = G = B', async () => {
    const ds = await openTinyImageNet({ dir: root, split: 'train' });
    const meta = await sharp(ds.files[3]).metadata();
    expect(meta.channels).toBe(1); // the fixture really is single-channel
    const bytes = await ds.readImages([3]);
    for (let p = 0; p < 64 * 64; p++) {
      expect(bytes[3 * p]).toBe(bytes[3 * p + 1]);
      expect(bytes[3 * p]).toBe(bytes[3 * p + 2]);
    }
    expect(Math.abs(at(bytes, 0, 10, 10)[0] - 40)).toBeLessThanOrEqual(2);
    expect(Math.abs(at(bytes, 0, 50, 60)[0] - 220)).toBeLessThanOrEqual(2);
  });

  it('val (also as "test"): labels from val_annotations.txt, files by number; the folder itself accepted', async () => {
    for (const [dir, split] of [[root, 'val'], [join(root, 'tiny-imagenet-200'), 'test']] as const) {
      const ds = await openTinyImageNet({ dir, split });
      expect(ds.split).toBe('val');
      expect(ds.count).toBe(3);
      expect(Array.from(ds.labels)).toEqual([2, 0, 1]);
      expect(ds.files.map((f) => f.split('/').pop())).toEqual(['val_0.JPEG', 'val_1.JPEG', 'val_2.JPEG']);
      const bytes = await ds.readImages([2, 0]);
      expectQuadrants(bytes, 0, valColours(2));
      expectQuadrants(bytes, 1, valColours(0));
    }
  });

  it('builds a decoded .npy cache in chunks, then reads from it without decoding', async () => {
    const dir = copy('tin-cache');
    const cache = join(dir, '..', 'train.npy');
    const ds = await openTinyImageNet({ dir, split: 'train', cache, cacheChunk: 4 });
    expect(ds.cache).toBe(cache);
    const npy = readNpy(cache);
    expect(npy.dtype).toBe('uint8');
    expect(npy.shape).toEqual([6, 64, 64, 3]);
    const direct = await (await openTinyImageNet({ dir, split: 'train' })).readImages([0, 1, 2, 3, 4, 5]);
    expect(npy.data).toEqual(direct);
    expect(JSON.parse(readFileSync(`${cache}.json`, 'utf8'))).toMatchObject({ format: 'kqkd-tiny-imagenet-cache', split: 'train', count: 6 });
    expect(await ds.readImages([5, 2])).toEqual(Uint8Array.from([...direct.subarray(5 * PIXELS), ...direct.subarray(2 * PIXELS, 3 * PIXELS)]));
    // Reused: a JPEG damaged after the cache was built is never decoded again.
    const mtime = statSync(cache).mtimeMs;
    writeFileSync(ds.files[0], 'not a jpeg');
    const again = await openTinyImageNet({ dir, split: 'train', cache });
    expect(statSync(cache).mtimeMs).toBe(mtime);
    expect(await again.readImages([0])).toEqual(direct.subarray(0, PIXELS));
    // Rebuilt when the file list changes (here the rebuild meets the damaged JPEG and says so).
    await writeJpeg(join(dir, 'train', TINY_WNIDS[0], 'images', `${TINY_WNIDS[0]}_2.JPEG`), quadrants(trainColours(0, 2)));
    await expect(openTinyImageNet({ dir, split: 'train', cache })).rejects.toThrow(/n01443537_0\.JPEG" but received unreadable image data/);
    expect(existsSync(cache)).toBe(true); // the old cache stays until a rebuild succeeds
  });

  it('readImages checks indices and the output buffer', async () => {
    const ds = await openTinyImageNet({ dir: root, split: 'val' });
    await expect(ds.readImages([3])).rejects.toThrow(/index in \[0, 3\) for indices\[0\]/);
    await expect(ds.readImages([0, 1], new Uint8Array(PIXELS))).rejects.toThrow(/out/);
    const out = new Uint8Array(2 * PIXELS);
    expect((await ds.readImages([1], out)).buffer).toBe(out.buffer);
  });

  describe('errors name the file and what was wrong', () => {
    it('missing folder, wnids.txt, class folder, annotations', async () => {
      await expect(openTinyImageNet({ dir: join(root, 'nope'), split: 'train' })).rejects.toThrow(/Tiny ImageNet folder ".*nope" but received nothing at that path/);
      const empty = fresh('tin-empty');
      await expect(openTinyImageNet({ dir: empty, split: 'train' })).rejects.toThrow(/wnids\.txt" but received nothing at that path nor at ".*tiny-imagenet-200\/wnids\.txt"/);
      const noClass = copy('tin-noclass');
      rmSync(join(noClass, 'train', TINY_WNIDS[1]), { recursive: true });
      await expect(openTinyImageNet({ dir: noClass, split: 'train' })).rejects.toThrow(/existing folder \(the training images of class n01629819\) for Tiny ImageNet folder ".*train\/n01629819\/images" but received nothing at that path/);
      const noAnn = copy('tin-noann');
      unlinkSync(join(noAnn, 'val', 'val_annotations.txt'));
      await expect(openTinyImageNet({ dir: noAnn, split: 'val' })).rejects.toThrow(/existing file \(the labels of val\/images\) for Tiny ImageNet file ".*val_annotations\.txt" but received nothing at that path/);
    });

    it('annotations: unknown wnid, image not annotated, annotated image missing, bad line, duplicate', async () => {
      const dir = copy('tin-ann');
      const ann = join(dir, 'val', 'val_annotations.txt');
      const good = readFileSync(ann, 'utf8');
      writeFileSync(ann, good.replace(`val_1.JPEG\t${TINY_WNIDS[0]}`, 'val_1.JPEG\tn99999999'));
      await expect(openTinyImageNet({ dir, split: 'val' })).rejects.toThrow(/wnid listed in wnids\.txt for Tiny ImageNet file ".*val_annotations\.txt" but received "n99999999" for val_1\.JPEG on line 2 \(label out of range\)/);
      writeFileSync(ann, good.split('\n').slice(0, 2).join('\n'));
      await expect(openTinyImageNet({ dir, split: 'val' })).rejects.toThrow(/a line for every image in val\/images .* but received no annotation for 1 image\(s\): val_2\.JPEG/);
      writeFileSync(ann, `${good}val_9.JPEG\t${TINY_WNIDS[0]}\t0\t0\t1\t1\n`);
      await expect(openTinyImageNet({ dir, split: 'val' })).rejects.toThrow(/"val_9\.JPEG" on line 4, which is not in/);
      writeFileSync(ann, `${good}garbage\n`);
      await expect(openTinyImageNet({ dir, split: 'val' })).rejects.toThrow(/"garbage" on line 4/);
      writeFileSync(ann, `${good}val_0.JPEG\t${TINY_WNIDS[0]}\n`);
      await expect(openTinyImageNet({ dir, split: 'val' })).rejects.toThrow(/one line per image .* "val_0\.JPEG" again on line 4/);
    });

    it('wnids.txt and words.txt problems', async () => {
      const dir = copy('tin-wnids');
      writeFileSync(join(dir, 'wnids.txt'), `${TINY_WNIDS[0]}\n${TINY_WNIDS[0]}\n`);
      await expect(openTinyImageNet({ dir, split: 'train' })).rejects.toThrow(/distinct ids for Tiny ImageNet file ".*wnids\.txt" but received "n01443537" twice \(line 2\)/);
      writeFileSync(join(dir, 'wnids.txt'), '\n');
      await expect(openTinyImageNet({ dir, split: 'train' })).rejects.toThrow(/wnids\.txt" but received no ids/);
      writeFileSync(join(dir, 'wnids.txt'), `${TINY_WNIDS.join('\n')}\n`);
      writeFileSync(join(dir, 'words.txt'), `${TINY_WNIDS[0]}\tgoldfish\n`);
      await expect(openTinyImageNet({ dir, split: 'train' })).rejects.toThrow(/words\.txt" but received none for "n01629819"/);
      unlinkSync(join(dir, 'words.txt'));
      expect((await openTinyImageNet({ dir, split: 'train' })).classNames).toEqual(TINY_WNIDS);
    });

    it('unreadable JPEG, truncated JPEG, wrong image size, missing image (at read time)', async () => {
      const dir = copy('tin-jpeg');
      const ds = await openTinyImageNet({ dir, split: 'train' });
      writeFileSync(ds.files[1], Buffer.from('definitely not an image'));
      await expect(ds.readImages([0, 1])).rejects.toThrow(/decodable JPEG image for Tiny ImageNet file ".*n01443537_1\.JPEG" but received unreadable image data/);
      const whole = readFileSync(ds.files[2]);
      writeFileSync(ds.files[2], whole.subarray(0, Math.floor(whole.length * 0.8)));
      await expect(ds.readImages([2])).rejects.toThrow(/n01629819_0\.JPEG" but received unreadable image data \(.*premature end of JPEG image\)$/);
      await writeJpeg(ds.files[4], quadrants(trainColours(2, 0), 32), 32);
      await expect(ds.readImages([4])).rejects.toThrow(/64×64 image for Tiny ImageNet file ".*n01641577_0\.JPEG" but received 32×32/);
      await writeGreyJpeg(ds.files[3], 1, 2, 48);
      await expect(ds.readImages([3])).rejects.toThrow(/but received 48×48/);
      unlinkSync(ds.files[5]);
      await expect(ds.readImages([5])).rejects.toThrow(/readable image file for Tiny ImageNet file ".*n01641577_1\.JPEG" but received nothing at that path/);
      await expect(openTinyImageNet({ dir, split: 'trian' as 'train' })).rejects.toThrow(/"train", "val", "test" for split/);
    });
  });
});
