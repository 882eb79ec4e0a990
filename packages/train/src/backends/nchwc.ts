/**
 * The NCHWc block size of this process's ONNX Runtime CPU build, asked once: a ReorderInput of 4 channels pads them
 * to one block (16 with AVX-512F, 8 with AVX2). 0 when the build or the CPU has no NCHWc kernels — the lowering then
 * keeps standard Conv nodes. `KQKD_NCHWC=0` turns the blocked convolutions off (for A/B measurements).
 */
import { encodeModel } from '@kqkd/onnx';
import { nchwcProbeModel } from '@kqkd/autodiff';
import { createInferenceSession } from '@kqkd/runtime';

let cached: Promise<number> | undefined;

async function probe(): Promise<number> {
  try {
    const session = await createInferenceSession(encodeModel(nchwcProbeModel()), { threads: 1, name: '<NCHWc probe>' });
    try {
      const { y } = await session.run({ x: { data: new Float32Array([1, 2, 3, 4]), shape: [1, 4, 1, 1] } });
      const block = y.shape[1];
      // A usable block holds the 4 channels first, in order, then zeros.
      const ok = Number.isInteger(block) && block >= 4 && y.data[0] === 1 && y.data[3] === 4;
      return ok ? block : 0;
    } finally {
      await session.release();
    }
  } catch {
    return 0;
  }
}

export function nchwcBlockSize(): Promise<number> {
  if (process.env.KQKD_NCHWC === '0') return Promise.resolve(0);
  cached ??= probe();
  return cached;
}
