/**
 * Student runs on worker threads (`parallel`): the same tiny experiment run one run at a time and two at a time (one
 * thread per run both ways) gives the same results.json; stopped by its AbortSignal in the middle, the parallel
 * experiment rejects, leaves checkpoints, and the same call finishes with the same results; `parallel` with in-memory
 * data is refused.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { datasetFromImages, writeFashionMnist } from '@kqkd/data';
import { stripes } from '../../../test/support/stripes.js';
import { loadRunState } from '@kqkd/train';
import { parseExperimentConfig } from '../src/config.js';
import { runExperiment, type RunExperimentOptions } from '../src/run.js';
import type { ExperimentProgress } from '../src/prepare.js';
import type { ExperimentResults } from '../src/types.js';

const root = mkdtempSync(join(tmpdir(), 'kqkd-parallel-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const dataDir = join(root, 'data');
writeFashionMnist(dataDir, 'train', stripes(256, 1));
writeFashionMnist(dataDir, 'test', stripes(100, 2));

const training = { epochs: 3, batchSize: 32, evalBatchSize: 50, optimizer: { type: 'adamw' as const, lr: 0.01 }, schedule: 'one-cycle' as const };
const config = parseExperimentConfig({
  version: 1, dataset: { name: 'fashion-mnist', dir: dataDir },
  teacher: { model: { name: 'resnet34', width: 0.0625 }, training: { ...training, epochs: 2 } },
  student: { model: { name: 'resnet9', width: 0.0625 } }, methods: ['ce', 'vkd', 'fkd-kq'], seeds: 2, training, kq: { samples: 40, seed: 0 },
});
const stable = (r: ExperimentResults) => {
  const { seconds: _s, ...rest } = JSON.parse(JSON.stringify(r)) as ExperimentResults;
  for (const m of Object.values(rest.methods)) for (const run of m.runs) delete run.seconds;
  return rest;
};
const run = (out: string, o: Partial<RunExperimentOptions> = {}) => runExperiment({ config, out: join(root, out), threads: 1, ...o });

describe('runExperiment with parallel student runs', () => {
  let sequential: ExperimentResults;

  it('two runs at a time give the results of one at a time', async () => {
    sequential = await run('sequential');
    const events: ExperimentProgress[] = [];
    const parallel = await run('parallel', { parallel: 2, onProgress: (e) => events.push(e) });
    expect(stable(parallel)).toEqual(stable(sequential));
    expect(events).toContainEqual({ kind: 'stage', stage: 'students', detail: '6 runs, 2 at once, 1 thread each' });
    // progress comes from the threads, named by run
    const who = new Set(events.flatMap((e) => (e.kind === 'train' && e.who !== 'teacher' && e.event.kind === 'epoch' ? [e.who] : [])));
    expect([...who].sort()).toEqual(['ce seed 0', 'ce seed 1', 'fkd-kq seed 0', 'fkd-kq seed 1', 'vkd seed 0', 'vkd seed 1']);
    expect(JSON.parse(readFileSync(join(root, 'parallel', 'results.json'), 'utf8')).methods['fkd-kq'].top1Last.runs)
      .toEqual(sequential.methods['fkd-kq'].top1Last.runs);
  }, 600_000);

  it('stopped by its signal in the middle: rejects, keeps the checkpoints, and the same call finishes identically', async () => {
    const controller = new AbortController();
    let epochs = 0;
    const stopped = run('stopped', {
      parallel: 2, signal: controller.signal,
      onProgress: (e) => { if (e.kind === 'train' && e.event.kind === 'epoch' && ++epochs === 3) controller.abort(new Error('stop now')); },
    });
    await expect(stopped).rejects.toThrow('stop now');
    const partial = JSON.parse(readFileSync(join(root, 'stopped', 'experiment.json'), 'utf8'));
    expect(partial.hash).toBeDefined();
    const states = sequential.methods.ce.runs.map((r) => loadRunState(join(root, 'stopped', r.runDir)));
    expect(states.some((s) => s !== undefined)).toBe(true);
    const again = await run('stopped', { parallel: 2 });
    expect(stable(again)).toEqual(stable(sequential));
  }, 600_000);

  it('refuses parallel runs over datasets given in memory', async () => {
    const data = { train: datasetFromImages(stripes(64, 1), { name: 'fashion-mnist', split: 'train' }), test: datasetFromImages(stripes(20, 2), { name: 'fashion-mnist', split: 'test' }) };
    await expect(run('memory', { parallel: 2, data })).rejects.toThrow(/1 when datasets are given in memory \(data\) for parallel but received 2/);
    await expect(run('memory', { parallel: 0 })).rejects.toThrow(/for parallel but received 0/);
  });
});
