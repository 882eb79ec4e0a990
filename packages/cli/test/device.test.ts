/**
 * `--device` reaches ONNX Runtime's execution-provider choice (@kqkd/runtime): on a machine without onnxruntime-node's
 * CUDA provider library, `--device cuda` is refused there — by the session that would run the step — with the install
 * instructions, naming --device; with the library installed, the step runs on CUDA. The web-training backend (wasm)
 * has no CUDA: refused before any work.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cudaProviderInstalled } from '@kqkd/runtime';
import { runCli } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'kqkd-cli-device-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BENCH = ['bench', 'train-step', '--model', 'small-cnn', '--input', '1x8x8', '--classes', '4', '--batch', '4', '--steps', '1', '--warmup', '0', '--threads', '1', '--json'];
const TRAIN = ['train', '--model', 'small-cnn', '--widths', '4,8', '--epochs', '1', '--train-limit', '128', '--test-limit', '32', '--batch-size', '32', '--threads', '1', '--quiet'];
const NOT_INSTALLED = /Expected an execution provider onnxruntime-node can load here for --device but received "cuda" \(its provider library is not installed\) \(onnxruntime-node ships its CUDA execution provider only through its postinstall download/;

describe('--device', () => {
  it.runIf(!cudaProviderInstalled())('bench train-step --device cuda without the CUDA provider (this machine has none): refused by the runtime, naming --device (exit 2)', async () => {
    const r = await runCli([...BENCH, '--device', 'cuda']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(NOT_INSTALLED);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const cpu = await runCli([...BENCH, '--device', 'cpu']);
    expect(cpu.code, cpu.stderr).toBe(0);
    expect(JSON.parse(cpu.stdout)).toMatchObject({ executionProvider: 'cpu', backend: 'native' });
  }, 120_000);

  it.runIf(!cudaProviderInstalled())('train --device cuda without the CUDA provider (this machine has none): refused by the runtime, naming --device; nothing left in --out', async () => {
    const out = join(dir, 'cuda-run');
    const r = await runCli([...TRAIN, '--device', 'cuda', '--out', out]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(NOT_INSTALLED);
    expect(existsSync(out)).toBe(false);
  }, 120_000);

  it.runIf(cudaProviderInstalled())('bench train-step --device cuda with the CUDA provider (runs only where onnxruntime-node\'s CUDA library is installed): the CPU step\'s loss, computed on the GPU', async () => {
    const r = await runCli([...BENCH, '--device', 'cuda']);
    expect(r.code, r.stderr).toBe(0);
    const cuda = JSON.parse(r.stdout);
    expect(cuda).toMatchObject({ executionProvider: 'cuda', backend: 'native' });
    // The provider name is the program's own word; the value check is the same step's loss on the CPU.
    const cpu = JSON.parse((await runCli([...BENCH, '--device', 'cpu'])).stdout);
    expect(Math.abs(cuda.lastLoss - cpu.lastLoss) / cpu.lastLoss, `cuda ${cuda.lastLoss} vs cpu ${cpu.lastLoss}`).toBeLessThan(1e-3);
  }, 300_000);

  it('--device cuda with the web-training backend: refused before any work, naming --device', async () => {
    const b = await runCli([...BENCH, '--device', 'cuda', '--backend', 'web-training']);
    expect(b.code, b.stderr).toBe(2);
    expect(b.stderr).toMatch(/Expected "cpu" for the web-training backend for --device but received "cuda"/);
    const out = join(dir, 'web-cuda');
    const t = await runCli([...TRAIN, '--device', 'cuda', '--backend', 'web-training', '--out', out]);
    expect(t.code, t.stderr).toBe(2);
    expect(t.stderr).toMatch(/Expected "cpu" with the web-training backend \(CUDA runs the native backend only\) for --device but received "cuda"/);
    expect(existsSync(out)).toBe(false);
  });
});
