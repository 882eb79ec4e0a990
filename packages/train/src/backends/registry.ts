/**
 * The training backends under their names: `native` (the gradient graph lowered to standard ops in onnxruntime-node,
 * optimizer on the host; the default) and `web-training` (onnxruntime-web 1.19.2's training build). Both share the
 * student graph (student-graph.ts) and the checkpoint format, so a run resumes on either.
 */
import { invalidArgument } from '@kqkd/common';
import { BACKENDS, type BackendName } from './names.js';
import { createNativeBackend } from './native.js';
import type { BackendFactory } from './types.js';
import { createWebTrainingBackend } from './web-training.js';

export { BACKENDS, DEFAULT_BACKEND, type BackendName } from './names.js';

const FACTORIES: Readonly<Record<BackendName, BackendFactory>> = {
  native: createNativeBackend,
  'web-training': createWebTrainingBackend,
};

/** The backend factory of a backend name. */
export function backendFactory(name: BackendName): BackendFactory {
  const f = FACTORIES[name];
  if (!f) invalidArgument('backend', `one of ${BACKENDS.join(', ')}`, name);
  return f;
}
