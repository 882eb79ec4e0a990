/**
 * Execution providers of native training. CPU always; CUDA only when onnxruntime-node's CUDA provider library
 * (`libonnxruntime_providers_cuda.so`) sits beside its binding. onnxruntime-node fetches that library in its
 * postinstall step, which kqkd skips (nothing downloads at install time), so a user enables CUDA with
 *
 *   ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js
 *
 * (CUDA 12 and cuDNN 9 runtime libraries must be on the library path), then passes `executionProvider: 'cuda'`
 * (`kqkd train --device cuda`, `kqkd bench train-step --device cuda`).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import ort from 'onnxruntime-node';
import { KqkdError } from '@kqkd/common';

export const TRAINING_EXECUTION_PROVIDERS = ['cpu', 'cuda'] as const;
export type TrainingExecutionProvider = (typeof TRAINING_EXECUTION_PROVIDERS)[number];

export const CUDA_INSTALL_HINT = 'onnxruntime-node ships its CUDA execution provider only through its postinstall download, which kqkd ' +
  'skips; install it with `ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js` ' +
  '(needs the CUDA 12 and cuDNN 9 libraries on the library path), or use the CPU provider';

/** Where onnxruntime-node's binding (and the CUDA provider library, when installed) lives. */
function bindingDir(): string | null {
  try {
    const require = createRequire(import.meta.url);
    const pkg = dirname(require.resolve('onnxruntime-node/package.json'));
    return join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return null;
  }
}

/** Whether this onnxruntime-node install can use the CUDA execution provider (binaries present; no GPU check). */
export function cudaProviderInstalled(): boolean {
  const listed = ort.listSupportedBackends?.().some((b) => b.name === 'cuda') ?? false;
  if (!listed) return false;
  const dir = bindingDir();
  if (!dir) return false;
  const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  return existsSync(join(dir, lib)) || existsSync(join(dirname(dir), lib));
}

/** ORT `executionProviders` for a provider; throws a KqkdError with the install instructions when CUDA is missing. */
export function ortExecutionProviders(provider: TrainingExecutionProvider): string[] {
  if (provider === 'cpu') return ['cpu'];
  if (!cudaProviderInstalled()) {
    throw new KqkdError('executionProvider', 'an execution provider onnxruntime-node can load here', '"cuda" (its provider library is not installed)', CUDA_INSTALL_HINT);
  }
  return ['cuda', 'cpu'];
}
