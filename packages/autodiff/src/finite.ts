import { KqkdError } from '@kqkd/common';

/**
 * Throws a clear error when a loss value is NaN or infinite (the training build has no IsAllFinite kernel, so the
 * check runs on the returned loss): names the step and, when given, the batch, so a diverging run stops loudly.
 */
export function checkFiniteLoss(loss: number | Float32Array, where: { step?: number; epoch?: number; batch?: number } = {}): number {
  const v = typeof loss === 'number' ? loss : loss[0];
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    const at = Object.entries(where).map(([k, x]) => `${k} ${x}`).join(', ');
    throw new KqkdError(`loss${at ? ` at ${at}` : ''}`, 'a finite number (lower the learning rate or check the inputs for NaN)', String(v));
  }
  return v;
}
