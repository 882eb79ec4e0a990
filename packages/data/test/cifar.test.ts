import { appendFileSync, mkdirSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, CIFAR100_CLASSES, loadCifar10, loadCifar100, openCifar, toFloatBatch,
} from '../src/index.js';
import { cifarPixel, cifarRecords, tempDir, writeCifar10, writeCifar100 } from './formats.js';

const made: string[] = [];
const fresh = (p: string) => { const d = tempDir(p); made.push(d); return d; };
afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

const TRAIN = [3, 9, 0, 1, 2, 5, 7];

/** Every HWC byte of image `i` equals the CHW byte the file holds for record `r`. */
function expectImage(images: Uint8Array, i: number, r: number): void {
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      for (let c = 0; c < 3; c++) {
        const got = images[i * 3072 + (y * 32 + x) * 3 + c];
        if (got !== cifarPixel(r, c, y, x)) throw new Error(`image ${i} (record ${r}) y=${y} x=${x} c=${c}: ${got} != ${cifarPixel(r, c, y, x)}`);
      }
    }
  }
}

describe('CIFAR-10', () => {
  const root = writeCifar10(fresh('c10'));

  it('reads data_batch_1..5 in order, CHW records to HWC images, labels and meta names', () => {
    const ds = loadCifar10({ dir: root, split: 'train' });
    expect(ds).toMatchObject({ count: 7, height: 32, width: 32, channels: 3, classes: 10 });
    expect(Array.from(ds.labels)).toEqual(TRAIN);
    expect(ds.classNames[0]).toBe('plane'); // from batches.meta.txt, trailing blank lines ignored
    expect(ds.images.length).toBe(7 * 3072);
    for (let i = 0; i < 7; i++) expectImage(ds.images, i, i);
    // Spot checks written out: image 2, row 1, column 2 → HWC offset (1*32+2)*3 + c.
    expect(ds.images[2 * 3072 + 34 * 3 + 0]).toBe((2 * 7 + 0 + 3 + 10) % 256);
    expect(ds.images[2 * 3072 + 34 * 3 + 1]).toBe((2 * 7 + 85 + 3 + 10) % 256);
    expect(ds.images[2 * 3072 + 34 * 3 + 2]).toBe((2 * 7 + 170 + 3 + 10) % 256);
  });

  it('accepts the extracted folder itself and reads the test split', () => {
    const ds = loadCifar10({ dir: join(root, 'cifar-10-batches-bin'), split: 'test' });
    expect(ds.count).toBe(2);
    expect(Array.from(ds.labels)).toEqual([4, 6]);
    expectImage(ds.images, 1, 1);
  });

  it('falls back to the official class names without batches.meta.txt', () => {
    const dir = writeCifar10(fresh('c10-nometa'));
    unlinkSync(join(dir, 'cifar-10-batches-bin', 'batches.meta.txt'));
    expect(loadCifar10({ dir, split: 'test' }).classNames).toEqual(CIFAR10_CLASSES);
  });

  it('openCifar reads records on demand, in any order, into HWC bytes', () => {
    const src = openCifar('cifar10', { dir: root, split: 'train' });
    expect(src.count).toBe(7);
    expect(src.files.map((f) => f.records)).toEqual([2, 1, 1, 1, 2]);
    expect(Array.from(src.labels)).toEqual(TRAIN);
    const order = [6, 0, 3, 3, 1];
    const bytes = src.readImages(order);
    order.forEach((r, i) => expectImage(bytes, i, r));
    const out = new Uint8Array(10 * 3072);
    expect(src.readImages([5], out).buffer).toBe(out.buffer);
    expectImage(out, 0, 5);
    expect(() => src.readImages([7])).toThrow(/index in \[0, 7\) for indices\[0\]/);
    expect(() => src.readImages([0, 1], new Uint8Array(3072))).toThrow(/out/);
  });

  it('toFloatBatch on the HWC images gives NCHW planes normalised per channel', () => {
    const ds = loadCifar10({ dir: root, split: 'train' });
    const { data, shape } = toFloatBatch(ds, [4, 1], { mean: CIFAR10_MEAN, std: CIFAR10_STD });
    expect(shape).toEqual([2, 3, 32, 32]);
    for (const [b, r] of [[0, 4], [1, 1]]) {
      for (const [c, y, x] of [[0, 0, 0], [1, 5, 17], [2, 31, 30], [2, 0, 31]]) {
        const want = (cifarPixel(r, c, y, x) / 255 - CIFAR10_MEAN[c]) / CIFAR10_STD[c];
        expect(data[((b * 3 + c) * 32 + y) * 32 + x]).toBeCloseTo(want, 5);
      }
    }
  });

  describe('errors name the file and what was wrong', () => {
    it('missing folder and missing batch file', () => {
      expect(() => loadCifar10({ dir: join(root, 'nope'), split: 'train' })).toThrow(/CIFAR-10 folder ".*nope" but received nothing at that path/);
      const dir = writeCifar10(fresh('c10-missing'));
      unlinkSync(join(dir, 'cifar-10-batches-bin', 'data_batch_3.bin'));
      expect(() => loadCifar10({ dir, split: 'train' })).toThrow(/existing file for CIFAR-10 file ".*data_batch_3\.bin" but received nothing at that path/);
      const empty = fresh('c10-empty');
      expect(() => loadCifar10({ dir: empty, split: 'test' })).toThrow(/test_batch\.bin" but received nothing at that path nor at ".*cifar-10-batches-bin\/test_batch\.bin"/);
    });

    it('truncated record', () => {
      const dir = writeCifar10(fresh('c10-trunc'));
      const path = join(dir, 'cifar-10-batches-bin', 'data_batch_5.bin');
      truncateSync(path, 3073 + 1000);
      expect(() => loadCifar10({ dir, split: 'train' })).toThrow(
        /whole number of 3073-byte records .* for CIFAR-10 file ".*data_batch_5\.bin" but received 4073 bytes: 1 record\(s\) and a truncated record of 1000 bytes/);
      expect(() => openCifar('cifar10', { dir, split: 'train' })).toThrow(/data_batch_5\.bin/);
    });

    it('wrong record size (CIFAR-100 records given to the CIFAR-10 reader) and empty file', () => {
      const dir = fresh('c10-wrong');
      mkdirSync(join(dir, 'x'));
      writeFileSync(join(dir, 'x', 'test_batch.bin'), cifarRecords([[1, 2], [3, 4]]));
      expect(() => loadCifar10({ dir: join(dir, 'x'), split: 'test' })).toThrow(/test_batch\.bin" but received 6148 bytes.*\(its size fits CIFAR-100 records of 3074 bytes\)/);
      writeFileSync(join(dir, 'x', 'test_batch.bin'), new Uint8Array(0));
      expect(() => loadCifar10({ dir: join(dir, 'x'), split: 'test' })).toThrow(/at least one record .* but received an empty file/);
    });

    it('label out of range', () => {
      const dir = writeCifar10(fresh('c10-label'), [0, 1, 2, 3, 4, 5, 10]);
      expect(() => loadCifar10({ dir, split: 'train' })).toThrow(/labels 0\.\.9 for CIFAR-10 file ".*data_batch_5\.bin" but received 10 in record 1 \(byte offset 3073\)/);
      expect(() => openCifar('cifar10', { dir, split: 'train' })).toThrow(/data_batch_5\.bin" but received 10 in record 1/);
    });

    it('wrong class-name file, wrong split', () => {
      const dir = writeCifar10(fresh('c10-meta'));
      writeFileSync(join(dir, 'cifar-10-batches-bin', 'batches.meta.txt'), 'a\nb\n');
      expect(() => loadCifar10({ dir, split: 'test' })).toThrow(/10 class names, one a line for CIFAR-10 file ".*batches\.meta\.txt" but received 2/);
      expect(() => loadCifar10({ dir, split: 'val' as 'test' })).toThrow(/"train", "test" for split/);
      expect(() => loadCifar10({ dir: '', split: 'test' })).toThrow(/folder path for dir/);
    });

    it('a file that changes after indexing', () => {
      const dir = writeCifar10(fresh('c10-changed'));
      const src = openCifar('cifar10', { dir, split: 'test' });
      appendFileSync(join(dir, 'cifar-10-batches-bin', 'test_batch.bin'), new Uint8Array(5));
      expect(() => src.readImages([0])).toThrow(/test_batch\.bin" but received 6151 bytes \(the file changed\)/);
    });
  });
});

describe('CIFAR-100', () => {
  const train = [[0, 4], [19, 99], [7, 30], [4, 55]];
  const names = CIFAR100_CLASSES.map((n) => `${n}!`);
  const root = writeCifar100(fresh('c100'), train, [[2, 8]], names);

  it('the official fine-label list has 100 distinct names', () => {
    expect(CIFAR100_CLASSES).toHaveLength(100);
    expect(new Set(CIFAR100_CLASSES).size).toBe(100);
    expect([CIFAR100_CLASSES[0], CIFAR100_CLASSES[30], CIFAR100_CLASSES[99]]).toEqual(['apple', 'dolphin', 'worm']);
  });

  it('uses the fine labels, keeps the coarse ones, names from fine_label_names.txt', () => {
    const ds = loadCifar100({ dir: root, split: 'train' });
    expect(ds).toMatchObject({ count: 4, channels: 3, classes: 100 });
    expect(Array.from(ds.labels)).toEqual([4, 99, 30, 55]);
    expect(Array.from(ds.coarseLabels)).toEqual([0, 19, 7, 4]);
    expect(ds.classNames[99]).toBe('worm!');
    for (let i = 0; i < 4; i++) expectImage(ds.images, i, i);
    const test = loadCifar100({ dir: join(root, 'cifar-100-binary'), split: 'test' });
    expect(Array.from(test.labels)).toEqual([8]);
    expectImage(test.images, 0, 0);
  });

  it('openCifar matches the eager reader', () => {
    const src = openCifar('cifar100', { dir: root, split: 'train' });
    expect(Array.from(src.labels)).toEqual([4, 99, 30, 55]);
    expect(Array.from(src.coarseLabels!)).toEqual([0, 19, 7, 4]);
    const eager = loadCifar100({ dir: root, split: 'train' });
    expect(src.readImages([3, 1])).toEqual(Uint8Array.from([...eager.images.subarray(3 * 3072, 4 * 3072), ...eager.images.subarray(3072, 2 * 3072)]));
  });

  it('falls back to the official names without fine_label_names.txt', () => {
    const dir = writeCifar100(fresh('c100-nonames'), train, [[0, 0]]);
    expect(loadCifar100({ dir, split: 'test' }).classNames).toEqual(CIFAR100_CLASSES);
  });

  it('errors: fine and coarse label out of range, CIFAR-10 records, truncated file', () => {
    const fine = writeCifar100(fresh('c100-fine'), [[0, 1], [3, 100]], [[0, 0]]);
    expect(() => loadCifar100({ dir: fine, split: 'train' })).toThrow(/fine labels 0\.\.99 for CIFAR-100 file ".*train\.bin" but received 100 in record 1 \(byte offset 3075\)/);
    const coarse = writeCifar100(fresh('c100-coarse'), [[20, 1]], [[0, 0]]);
    expect(() => loadCifar100({ dir: coarse, split: 'train' })).toThrow(/coarse labels 0\.\.19 for CIFAR-100 file ".*train\.bin" but received 20 in record 0/);
    const wrong = fresh('c100-wrong');
    writeFileSync(join(wrong, 'test.bin'), cifarRecords([[1], [2]]));
    expect(() => loadCifar100({ dir: wrong, split: 'test' })).toThrow(/3074-byte records \(coarse \+ fine label bytes \+ 3072 pixel bytes\) for CIFAR-100 file ".*test\.bin" but received 6146 bytes: 1 record\(s\) and a truncated record of 3072 bytes \(its size fits CIFAR-10 records of 3073 bytes\)/);
    const missing = fresh('c100-missing');
    expect(() => loadCifar100({ dir: missing, split: 'train' })).toThrow(/train\.bin" but received nothing at that path nor at ".*cifar-100-binary\/train\.bin"/);
  });
});
