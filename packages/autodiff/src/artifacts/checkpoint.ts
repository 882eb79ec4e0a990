/**
 * ONNX Runtime training checkpoints (flatbuffers, file identifier "ODTC", schema ort_training_checkpoint.fbs):
 * read and write. Field ids follow the schema exactly:
 *
 * ```
 * table Tensor          { name:string (0); doc_string:string (1); dims:[int64] (2); data_type:int32 (3); raw_data:[uint8] (4);
 *                         string_data:[string] (5); external_data_offset:int64 = -1 (6) }
 * table ModuleState     { requires_grad_params:[Tensor] (0); frozen_params:[Tensor] (1); is_nominal_state:bool (2);
 *                         has_external_data:bool (3) }
 * table ParameterOptimizerState { param_name:string (0); momentums:[Tensor] (1) }
 * table OptimizerGroup  { group_name:string (0); step:int64 (1); initial_learning_rate:float (2);
 *                         optimizer_states:[ParameterOptimizerState] (3) }
 * table IntProperty / FloatProperty / StringProperty { name:string (0); value:int64 | float | string (1) }
 * table PropertyBag     { ints (0); floats (1); strings (2) }
 * table Checkpoint      { version:int32 (0); module_state (1); optimizer_groups:[OptimizerGroup] (2); property_bag (3) }
 * ```
 *
 * `writeCheckpoint(readCheckpoint(bytes))` reproduces bytes written by `writeCheckpoint` bit for bit; values (tensor
 * bytes, int64 and float32 properties) always round-trip exactly.
 */
import * as flatbuffers from 'flatbuffers';
import { KqkdError, invalidArgument } from '@kqkd/common';

/** The checkpoint version onnxruntime-web 1.19.2 accepts (it must match exactly). */
export const CHECKPOINT_VERSION = 2;
export const CHECKPOINT_FILE_IDENTIFIER = 'ODTC';
/** ORT keeps exactly one optimizer group, with this name. */
export const OPTIMIZER_GROUP_NAME = 'group0';
/** Names of the per-parameter optimizer states: AdamW first/second moment (SGD momentum uses momentum0). */
export const MOMENTUM_NAMES = ['momentum0', 'momentum1'] as const;
const FLOAT = 1;

/** A float32 tensor stored in a checkpoint. */
export interface CheckpointTensor {
  name: string;
  dims: readonly number[];
  data: Float32Array;
}

export interface ParameterOptimizerState {
  paramName: string;
  /** Tensors named `momentum0` (and `momentum1` for AdamW), shaped like the parameter. */
  momentums: readonly CheckpointTensor[];
}

export interface OptimizerGroup {
  /** Always "group0" for ORT. */
  groupName: string;
  /** Optimizer steps already taken (ORT feeds `step + 1` to the optimizer graph at the next update). */
  step: number;
  /** Stored as float32; ORT reads it back but its web API still feeds learning_rate = 0.001. */
  initialLearningRate: number;
  states: readonly ParameterOptimizerState[];
}

export interface PropertyBag {
  ints: readonly { name: string; value: bigint }[];
  /** float32 values. */
  floats: readonly { name: string; value: number }[];
  strings: readonly { name: string; value: string }[];
}

export interface Checkpoint {
  version: number;
  trainable: readonly CheckpointTensor[];
  frozen: readonly CheckpointTensor[];
  isNominalState?: boolean;
  optimizer?: OptimizerGroup;
  properties?: PropertyBag;
}

/** What `writeCheckpoint` accepts: version defaults to 2, frozen to none, ints may be numbers. */
export interface CheckpointSpec {
  version?: number;
  trainable: readonly CheckpointTensor[];
  frozen?: readonly CheckpointTensor[];
  isNominalState?: boolean;
  optimizer?: Omit<OptimizerGroup, 'groupName'> & { groupName?: string };
  properties?: {
    ints?: readonly { name: string; value: bigint | number }[];
    floats?: readonly { name: string; value: number }[];
    strings?: readonly { name: string; value: string }[];
  };
}

function checkTensor(t: CheckpointTensor, where: string): void {
  if (!t || typeof t !== 'object') invalidArgument(where, 'a tensor {name, dims, data}', t);
  if (typeof t.name !== 'string' || t.name.length === 0) invalidArgument(`${where}.name`, 'a non-empty string', t.name);
  if (!Array.isArray(t.dims) || t.dims.some((d) => !Number.isInteger(d) || d < 0)) {
    invalidArgument(`${where}.dims`, 'an array of non-negative integers', t.dims);
  }
  if (!(t.data instanceof Float32Array)) invalidArgument(`${where}.data`, 'a Float32Array', t.data);
  const size = t.dims.reduce((a, d) => a * d, 1);
  if (size !== t.data.length) {
    throw new KqkdError(`${where}.data`, `${size} values (dims [${t.dims.join(', ')}])`, `${t.data.length} values`,
      `tensor "${t.name}"`);
  }
}

function uniqueNames(list: readonly { name: string }[], where: string): void {
  const seen = new Set<string>();
  for (const { name } of list) {
    if (seen.has(name)) throw new KqkdError(where, 'unique names', `"${name}" twice`);
    seen.add(name);
  }
}

function validateSpec(spec: CheckpointSpec): void {
  if (!spec || typeof spec !== 'object') invalidArgument('checkpoint', 'a checkpoint spec object', spec);
  if (!Array.isArray(spec.trainable)) invalidArgument('checkpoint.trainable', 'an array of tensors', spec.trainable);
  if (spec.frozen !== undefined && !Array.isArray(spec.frozen)) invalidArgument('checkpoint.frozen', 'an array of tensors', spec.frozen);
  const version = spec.version ?? CHECKPOINT_VERSION;
  if (!Number.isInteger(version) || version < 0 || version > 0x7fffffff) invalidArgument('checkpoint.version', 'an int32', version);
  spec.trainable.forEach((t, i) => checkTensor(t, `checkpoint.trainable[${i}]`));
  (spec.frozen ?? []).forEach((t, i) => checkTensor(t, `checkpoint.frozen[${i}]`));
  uniqueNames([...spec.trainable, ...(spec.frozen ?? [])], 'checkpoint parameter names');
  const o = spec.optimizer;
  if (o !== undefined) {
    if (!Number.isSafeInteger(o.step) || o.step < 0) invalidArgument('checkpoint.optimizer.step', 'a non-negative integer', o.step);
    if (typeof o.initialLearningRate !== 'number' || !Number.isFinite(o.initialLearningRate)) {
      invalidArgument('checkpoint.optimizer.initialLearningRate', 'a finite number', o.initialLearningRate);
    }
    if (!Array.isArray(o.states)) invalidArgument('checkpoint.optimizer.states', 'an array', o.states);
    const shapes = new Map(spec.trainable.map((t) => [t.name, t.dims.join(',')]));
    o.states.forEach((s: ParameterOptimizerState, i: number) => {
      if (!shapes.has(s.paramName)) {
        throw new KqkdError(`checkpoint.optimizer.states[${i}].paramName`, 'the name of a trainable parameter', `"${s.paramName}"`);
      }
      s.momentums.forEach((m: CheckpointTensor, j: number) => {
        checkTensor(m, `checkpoint.optimizer.states[${i}].momentums[${j}]`);
        if (m.dims.join(',') !== shapes.get(s.paramName)) {
          throw new KqkdError(`checkpoint.optimizer.states[${i}].momentums[${j}].dims`, `[${shapes.get(s.paramName)}] like "${s.paramName}"`,
            `[${m.dims.join(',')}]`);
        }
      });
    });
    uniqueNames(o.states.map((s) => ({ name: s.paramName })), 'checkpoint.optimizer.states paramName');
  }
  const p = spec.properties;
  if (p !== undefined) {
    for (const [i, { name, value }] of (p.ints ?? []).entries()) {
      if (typeof name !== 'string') invalidArgument(`checkpoint.properties.ints[${i}].name`, 'a string', name);
      const ok = typeof value === 'bigint' ? value >= -(2n ** 63n) && value < 2n ** 63n : Number.isSafeInteger(value);
      if (!ok) invalidArgument(`checkpoint.properties.ints[${i}].value`, 'an int64 (bigint or safe integer)', value);
    }
    for (const [i, { name, value }] of (p.floats ?? []).entries()) {
      if (typeof name !== 'string') invalidArgument(`checkpoint.properties.floats[${i}].name`, 'a string', name);
      if (typeof value !== 'number') invalidArgument(`checkpoint.properties.floats[${i}].value`, 'a number (stored as float32)', value);
    }
    for (const [i, { name, value }] of (p.strings ?? []).entries()) {
      if (typeof name !== 'string') invalidArgument(`checkpoint.properties.strings[${i}].name`, 'a string', name);
      if (typeof value !== 'string') invalidArgument(`checkpoint.properties.strings[${i}].value`, 'a string', value);
    }
  }
}

function tensorOffset(b: flatbuffers.Builder, t: CheckpointTensor): flatbuffers.Offset {
  const name = b.createString(t.name);
  b.startVector(8, t.dims.length, 8);
  for (let i = t.dims.length - 1; i >= 0; i--) b.addInt64(BigInt(t.dims[i]));
  const dims = b.endVector();
  const raw = b.createByteVector(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  b.startObject(7);
  b.addFieldOffset(0, name, 0);
  b.addFieldOffset(2, dims, 0);
  b.addFieldInt32(3, FLOAT, 0);
  b.addFieldOffset(4, raw, 0);
  return b.endObject();
}

function offsetVector(b: flatbuffers.Builder, offsets: readonly flatbuffers.Offset[]): flatbuffers.Offset {
  b.startVector(4, offsets.length, 4);
  for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i]);
  return b.endVector();
}

/** Serialises a checkpoint that onnxruntime-web 1.19.2 loads (frozen_params is always written, even empty). */
export function writeCheckpoint(spec: CheckpointSpec): Uint8Array {
  validateSpec(spec);
  const b = new flatbuffers.Builder(1024);
  const trainable = offsetVector(b, spec.trainable.map((t) => tensorOffset(b, t)));
  const frozen = offsetVector(b, (spec.frozen ?? []).map((t) => tensorOffset(b, t)));
  b.startObject(4);
  b.addFieldOffset(0, trainable, 0);
  b.addFieldOffset(1, frozen, 0);
  b.addFieldInt8(2, spec.isNominalState ? 1 : 0, 0);
  const moduleState = b.endObject();

  let groups = 0;
  if (spec.optimizer) {
    const o = spec.optimizer;
    const states = o.states.map((s) => {
      const name = b.createString(s.paramName);
      const moms = offsetVector(b, s.momentums.map((m) => tensorOffset(b, m)));
      b.startObject(2);
      b.addFieldOffset(0, name, 0);
      b.addFieldOffset(1, moms, 0);
      return b.endObject();
    });
    const stateVec = offsetVector(b, states);
    const groupName = b.createString(o.groupName ?? OPTIMIZER_GROUP_NAME);
    b.startObject(4);
    b.addFieldOffset(0, groupName, 0);
    b.addFieldInt64(1, BigInt(o.step), 0n);
    b.addFieldFloat32(2, o.initialLearningRate, 0);
    b.addFieldOffset(3, stateVec, 0);
    groups = offsetVector(b, [b.endObject()]);
  }

  let bag = 0;
  if (spec.properties) {
    const p = spec.properties;
    const entries = <T>(list: readonly { name: string; value: T }[] | undefined, add: (v: T, valueOffset: number) => void,
      pre: (v: T) => number) => offsetVector(b, (list ?? []).map(({ name, value }) => {
      const n = b.createString(name);
      const v = pre(value);
      b.startObject(2);
      b.addFieldOffset(0, n, 0);
      add(value, v);
      return b.endObject();
    }));
    const ints = entries(p.ints, (v) => b.addFieldInt64(1, BigInt(v), 0n), () => 0);
    const floats = entries(p.floats, (v) => b.addFieldFloat32(1, v, 0), () => 0);
    const strings = entries(p.strings, (_v, off) => b.addFieldOffset(1, off, 0), (v) => b.createString(v));
    b.startObject(3);
    b.addFieldOffset(0, ints, 0);
    b.addFieldOffset(1, floats, 0);
    b.addFieldOffset(2, strings, 0);
    bag = b.endObject();
  }

  b.startObject(4);
  b.addFieldInt32(0, spec.version ?? CHECKPOINT_VERSION, 0);
  b.addFieldOffset(1, moduleState, 0);
  if (groups) b.addFieldOffset(2, groups, 0);
  if (bag) b.addFieldOffset(3, bag, 0);
  b.finish(b.endObject(), CHECKPOINT_FILE_IDENTIFIER);
  return b.asUint8Array().slice();
}

/** Minimal typed access to one flatbuffers table. */
class Table {
  constructor(private readonly bb: flatbuffers.ByteBuffer, private readonly pos: number) {}
  private off(field: number): number {
    return this.bb.__offset(this.pos, 4 + 2 * field);
  }
  has(field: number): boolean {
    return this.off(field) !== 0;
  }
  string(field: number): string | null {
    const o = this.off(field);
    return o ? (this.bb.__string(this.pos + o) as string) : null;
  }
  int32(field: number, def: number): number {
    const o = this.off(field);
    return o ? this.bb.readInt32(this.pos + o) : def;
  }
  int64(field: number, def: bigint): bigint {
    const o = this.off(field);
    return o ? this.bb.readInt64(this.pos + o) : def;
  }
  float32(field: number, def: number): number {
    const o = this.off(field);
    return o ? this.bb.readFloat32(this.pos + o) : def;
  }
  bool(field: number): boolean {
    const o = this.off(field);
    return o ? this.bb.readInt8(this.pos + o) !== 0 : false;
  }
  table(field: number): Table | null {
    const o = this.off(field);
    return o ? new Table(this.bb, this.bb.__indirect(this.pos + o)) : null;
  }
  tables(field: number): Table[] | null {
    const o = this.off(field);
    if (!o) return null;
    const start = this.bb.__vector(this.pos + o);
    const n = this.bb.__vector_len(this.pos + o);
    return Array.from({ length: n }, (_, i) => new Table(this.bb, this.bb.__indirect(start + 4 * i)));
  }
  int64s(field: number): bigint[] {
    const o = this.off(field);
    if (!o) return [];
    const start = this.bb.__vector(this.pos + o);
    const n = this.bb.__vector_len(this.pos + o);
    return Array.from({ length: n }, (_, i) => this.bb.readInt64(start + 8 * i));
  }
  bytes(field: number): Uint8Array {
    const o = this.off(field);
    if (!o) return new Uint8Array(0);
    const start = this.bb.__vector(this.pos + o);
    const n = this.bb.__vector_len(this.pos + o);
    return this.bb.bytes().slice(start, start + n);
  }
}

function readTensor(t: Table, where: string): CheckpointTensor {
  const name = t.string(0);
  if (name === null) throw new KqkdError(where, 'a tensor with a name', 'a tensor without one');
  const dataType = t.int32(3, 0);
  if (dataType !== FLOAT) throw new KqkdError(`${where} "${name}"`, 'a float32 tensor (data_type 1)', `data_type ${dataType}`);
  if (t.has(5) || t.int64(6, -1n) !== -1n) {
    throw new KqkdError(`${where} "${name}"`, 'raw tensor data inside the checkpoint', 'string or external data');
  }
  const dims = t.int64s(2).map((d) => {
    if (d < 0n || d > BigInt(Number.MAX_SAFE_INTEGER)) throw new KqkdError(`${where} "${name}" dims`, 'non-negative sizes', String(d));
    return Number(d);
  });
  const raw = t.bytes(4);
  const size = dims.reduce((a, d) => a * d, 1);
  if (raw.byteLength !== 4 * size) {
    throw new KqkdError(`${where} "${name}"`, `${4 * size} bytes of float32 data for dims [${dims.join(', ')}]`, `${raw.byteLength} bytes`);
  }
  return { name, dims, data: new Float32Array(raw.buffer, raw.byteOffset, size) };
}

/** Parses an ORT checkpoint; errors name the part of the file that is wrong. */
export function readCheckpoint(bytes: Uint8Array, source = 'checkpoint'): Checkpoint {
  if (!(bytes instanceof Uint8Array)) invalidArgument(source, 'checkpoint bytes (Uint8Array)', bytes);
  if (bytes.byteLength < 8) throw new KqkdError(source, 'an ORT training checkpoint', `${bytes.byteLength} bytes`);
  const bb = new flatbuffers.ByteBuffer(bytes);
  if (!bb.__has_identifier(CHECKPOINT_FILE_IDENTIFIER)) {
    const id = new TextDecoder('latin1').decode(bytes.subarray(4, 8));
    throw new KqkdError(source, `a flatbuffer with file identifier "${CHECKPOINT_FILE_IDENTIFIER}"`, `identifier ${JSON.stringify(id)}`);
  }
  try {
    const root = new Table(bb, bb.readInt32(bb.position()) + bb.position());
    const version = root.int32(0, 0);
    const ms = root.table(1);
    const trainable: CheckpointTensor[] = [];
    const frozen: CheckpointTensor[] = [];
    let isNominalState = false;
    if (ms) {
      const rg = ms.tables(0);
      const fr = ms.tables(1);
      if (!rg) throw new KqkdError(`${source} module_state`, 'requires_grad_params', 'none');
      if (!fr) throw new KqkdError(`${source} module_state`, 'frozen_params (present even if empty)', 'none');
      rg.forEach((t, i) => trainable.push(readTensor(t, `${source} requires_grad_params[${i}]`)));
      fr.forEach((t, i) => frozen.push(readTensor(t, `${source} frozen_params[${i}]`)));
      isNominalState = ms.bool(2);
      if (ms.bool(3)) throw new KqkdError(`${source} module_state`, 'parameters stored inside the checkpoint', 'has_external_data = true');
    }
    const out: Checkpoint = { version, trainable, frozen };
    if (isNominalState) out.isNominalState = true;
    const groups = root.tables(2);
    if (groups && groups.length > 0) {
      if (groups.length !== 1) throw new KqkdError(`${source} optimizer_groups`, 'exactly one group', `${groups.length} groups`);
      const g = groups[0];
      const step = g.int64(1, 0n);
      if (step < 0n || step > BigInt(Number.MAX_SAFE_INTEGER)) throw new KqkdError(`${source} optimizer step`, 'a safe integer', String(step));
      out.optimizer = {
        groupName: g.string(0) ?? '',
        step: Number(step),
        initialLearningRate: g.float32(2, 0),
        states: (g.tables(3) ?? []).map((s, i) => ({
          paramName: s.string(0) ?? '',
          momentums: (s.tables(1) ?? []).map((m, j) => readTensor(m, `${source} optimizer_states[${i}].momentums[${j}]`)),
        })),
      };
    }
    const bag = root.table(3);
    if (bag) {
      out.properties = {
        ints: (bag.tables(0) ?? []).map((p) => ({ name: p.string(0) ?? '', value: p.int64(1, 0n) })),
        floats: (bag.tables(1) ?? []).map((p) => ({ name: p.string(0) ?? '', value: p.float32(1, 0) })),
        strings: (bag.tables(2) ?? []).map((p) => ({ name: p.string(0) ?? '', value: p.string(1) ?? '' })),
      };
    }
    return out;
  } catch (err) {
    if (err instanceof KqkdError) throw err;
    throw new KqkdError(source, 'a well-formed ORT training checkpoint', `${bytes.byteLength} bytes that do not parse`, (err as Error).message);
  }
}
