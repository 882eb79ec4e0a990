/**
 * An ONNX student in an experiment config (issue 21, point 2): the student model spec takes { name: "onnx", file }
 * as `kqkd train` does (file resolved and recorded absolute, sha256 filled in), and the experiment hash follows the
 * file's content, not its path. Independent reference: the sha256 of the file's bytes, recomputed here.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { experimentHash, parseExperimentConfig, type ExperimentConfigInput } from '../src/config.js';
import { presetConfig } from '../src/presets.js';

const DIR = join(__dirname, '..', '..', '..', 'models', 'students');

describe('experiment config: ONNX student', () => {
  it('fills in the file\'s sha256, hashes the content (a copy elsewhere: same hash; another file: another), and refuses an "onnx" teacher model', () => {
    const file = join(DIR, 'mobilenet_eval_op13.onnx');
    const quick = presetConfig('quick') as ExperimentConfigInput;
    const withStudent = (f: string) => parseExperimentConfig({ ...quick, student: { ...quick.student, model: { name: 'onnx', file: f } } });
    const c = withStudent(file);
    expect(c.student.model).toEqual({ name: 'onnx', file, sha256: createHash('sha256').update(readFileSync(file)).digest('hex') });
    const copy = join(mkdtempSync(join(tmpdir(), 'kqkd-exp-onnx-')), 's.onnx');
    copyFileSync(file, copy);
    expect(experimentHash(withStudent(copy))).toBe(experimentHash(c));
    expect(experimentHash(withStudent(join(DIR, 'mobilenet_train_op13.onnx')))).not.toBe(experimentHash(c));
    expect(() => parseExperimentConfig({ ...quick, teacher: { model: { name: 'onnx', file } } })).toThrow(/teacher\.onnx/);
  });
});
