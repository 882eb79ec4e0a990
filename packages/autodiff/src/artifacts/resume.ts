/**
 * Exact resume. The web training API has no SaveCheckpoint (the 1.19.2 wasm exports no such function), so the
 * optimizer moments inside wasm cannot be read back. `OptimizerStateMirror` keeps a host copy of them, updated from
 * the per-step gradients the training model exposes as extra outputs `<param>.gradient`, with the exact float32
 * arithmetic of ORT's AdamWOptimizer kernel. Parameters are read from the session (`getParameters`), so the mirror
 * never needs the learning rate. `checkpointWithState` writes parameters + moments + step into a checkpoint; a
 * new session created from it continues bit-identically (ORT's Optimizer::LoadStateDict takes the moments and the
 * step from the checkpoint's "group0").
 */
import { KqkdError, invalidArgument } from '@kqkd/common';
import { decodeModel, type ModelProto } from '@kqkd/onnx';
import {
  MOMENTUM_NAMES, OPTIMIZER_GROUP_NAME, writeCheckpoint,
  type Checkpoint, type CheckpointSpec, type CheckpointTensor, type OptimizerGroup,
} from './checkpoint.js';
import { adamwScalars, adamwUpdateScalars, kernelSettings, type AdamWKernelSettings, type OptimizerConfig } from './optimizer.js';

/** Name of the training-model output that carries the gradient of `param` for this step (not hidden by ORT). */
export const gradientOutputName = (param: string): string => `${param}.gradient`;

/** Where each trainable parameter sits in the contiguous buffer of `TrainingSession.getParameters()`. */
export interface ParameterSlot {
  name: string;
  dims: readonly number[];
  offset: number;
  size: number;
}

/** Trainable parameters in training-model input order (the order ORT lays them out contiguously). */
export function parameterLayout(trainingModel: Uint8Array | ModelProto, checkpoint: Pick<Checkpoint, 'trainable'>): ParameterSlot[] {
  const model = trainingModel instanceof Uint8Array ? decodeModel(trainingModel, 'trainingModel') : trainingModel;
  const byName = new Map(checkpoint.trainable.map((t) => [t.name, t]));
  const slots: ParameterSlot[] = [];
  let offset = 0;
  for (const input of model.graph?.input ?? []) {
    const t = input.name ? byName.get(input.name) : undefined;
    if (!t) continue;
    slots.push({ name: t.name, dims: t.dims, offset, size: t.data.length });
    offset += t.data.length;
    byName.delete(t.name);
  }
  if (byName.size > 0) {
    throw new KqkdError('trainingModel', 'an input for every trainable checkpoint parameter', `no input for ${[...byName.keys()].map((n) => `"${n}"`).join(', ')}`);
  }
  return slots;
}

interface SlotState { slot: ParameterSlot; m: Float32Array; v: Float32Array; grad: Float32Array; scratch?: Float32Array }

/** Host copy of ORT's optimizer state (moments and step), kept bit-identical to the one inside wasm. */
export class OptimizerStateMirror {
  readonly settings: AdamWKernelSettings;
  private readonly slots: SlotState[];
  private stepCount: number;
  private resetPending = true;
  private accumulated = 0;

  /** `state` (from a checkpoint) restores moments and step; without it they start at zero like ORT's. */
  constructor(readonly optimizer: OptimizerConfig, readonly layout: readonly ParameterSlot[], state?: OptimizerGroup) {
    this.settings = kernelSettings(optimizer);
    if (!Array.isArray(layout) || layout.length === 0) invalidArgument('layout', 'a non-empty parameter layout', layout);
    const states = new Map((state?.states ?? []).map((s) => [s.paramName, s]));
    this.slots = layout.map((slot) => {
      const m = new Float32Array(slot.size), v = new Float32Array(slot.size);
      const s = states.get(slot.name);
      if (state && !s) throw new KqkdError('state.states', `moments for "${slot.name}"`, 'none');
      for (const [i, key] of MOMENTUM_NAMES.entries()) {
        const t = s?.momentums.find((x) => x.name === key);
        if (s && !t) throw new KqkdError(`state "${slot.name}"`, `a momentum named "${key}"`, 'none');
        if (t) {
          if (t.data.length !== slot.size) throw new KqkdError(`state "${slot.name}".${key}`, `${slot.size} values`, `${t.data.length}`);
          (i === 0 ? m : v).set(t.data);
        }
      }
      return { slot, m, v, grad: new Float32Array(slot.size) };
    });
    this.stepCount = state?.step ?? 0;
  }

  /** Optimizer steps taken (the checkpoint's step). */
  get step(): number {
    return this.stepCount;
  }

  /** Mirror of `lazyResetGrad()`: the next `recordTrainStep` overwrites the gradient buffers. */
  resetGradients(): void {
    this.resetPending = true;
  }

  /** Mirror of one `trainStep`: adds (or, after a reset, copies) each `<param>.gradient` output, as InPlaceAccumulatorV2. */
  recordTrainStep(outputs: Readonly<Record<string, { data: Float32Array }>>): void {
    for (const s of this.slots) {
      const out = outputs[gradientOutputName(s.slot.name)];
      if (!out || !(out.data instanceof Float32Array)) {
        throw new KqkdError('outputs', `a training output "${gradientOutputName(s.slot.name)}" (float32)`, out ? 'a non-float tensor' : 'none',
          'the training model must expose each parameter gradient for exact resume');
      }
      if (out.data.length !== s.slot.size) {
        throw new KqkdError(`outputs["${gradientOutputName(s.slot.name)}"]`, `${s.slot.size} values`, `${out.data.length} values`);
      }
      if (this.resetPending) s.grad.set(out.data);
      else for (let i = 0; i < s.grad.length; i++) s.grad[i] = Math.fround(s.grad[i] + out.data[i]);
    }
    this.resetPending = false;
    this.accumulated++;
  }

  /** Mirror of `optimizerStep()`: updates the moments from the accumulated gradients and counts the step. */
  recordOptimizerStep(): void {
    if (this.accumulated === 0 && this.resetPending) {
      throw new KqkdError('recordOptimizerStep', 'a recorded train step since the last gradient reset', 'none');
    }
    // The moments do not depend on the rate or the parameters: the kernel's update on a scratch copy advances them
    // exactly as ORT does.
    const scalars = adamwScalars(this.settings, this.stepCount + 1, 0);
    for (const s of this.slots) adamwUpdateScalars(scalars, (s.scratch ??= new Float32Array(s.m.length)), s.grad, s.m, s.v);
    this.stepCount++;
  }

  /** The optimizer group to store in a checkpoint (momentum0 = m, momentum1 = v). */
  toOptimizerGroup(): OptimizerGroup {
    return {
      groupName: OPTIMIZER_GROUP_NAME,
      step: this.stepCount,
      initialLearningRate: 0.001,
      states: this.slots.map((s) => ({
        paramName: s.slot.name,
        momentums: [
          { name: MOMENTUM_NAMES[0], dims: s.slot.dims, data: s.m.slice() },
          { name: MOMENTUM_NAMES[1], dims: s.slot.dims, data: s.v.slice() },
        ],
      })),
    };
  }
}

/** Splits a contiguous parameter buffer into named tensors following `layout`. */
export function splitParameters(layout: readonly ParameterSlot[], params: Float32Array): CheckpointTensor[] {
  const total = layout.reduce((a, s) => a + s.size, 0);
  if (!(params instanceof Float32Array) || params.length !== total) invalidArgument('params', `a Float32Array of ${total} values`, params);
  return layout.map((s) => ({ name: s.name, dims: s.dims, data: params.slice(s.offset, s.offset + s.size) }));
}

/**
 * A checkpoint that resumes training exactly: the current trainable parameters (from `getParameters()`), the
 * frozen ones and properties of `base`, and the mirrored optimizer state.
 */
export function checkpointWithState(base: Checkpoint, layout: readonly ParameterSlot[], params: Float32Array,
  mirror: OptimizerStateMirror, properties?: CheckpointSpec['properties']): Uint8Array {
  const trainable = splitParameters(layout, params);
  if (trainable.length !== base.trainable.length) {
    throw new KqkdError('layout', `${base.trainable.length} trainable parameters like the checkpoint`, `${trainable.length}`);
  }
  return writeCheckpoint({
    trainable, frozen: base.frozen, optimizer: mirror.toOptimizerGroup(), properties: properties ?? base.properties,
  });
}
