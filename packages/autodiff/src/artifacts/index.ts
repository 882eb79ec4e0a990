/** ONNX Runtime training artifacts: checkpoint I/O, optimizer model, LR schedules, exact-resume state mirror. */
export {
  readCheckpoint, writeCheckpoint, CHECKPOINT_VERSION, CHECKPOINT_FILE_IDENTIFIER, OPTIMIZER_GROUP_NAME, MOMENTUM_NAMES,
  type Checkpoint, type CheckpointSpec, type CheckpointTensor, type OptimizerGroup, type ParameterOptimizerState, type PropertyBag,
} from './checkpoint.js';
export { learningRateAt, momentumAt, scheduleGraph, validateSchedule, type LrSchedule, type ScheduleGraph } from './schedule.js';
export {
  buildOptimizerModel, buildOptimizerModelProto, kernelSettings, constantScheduleRate, adamwKernelUpdate,
  adamwScalars, adamwUpdateScalars, type AdamWScalars,
  ORT_WEB_LEARNING_RATE, OPTIMIZER_INPUTS, type OptimizerConfig, type AdamWKernelSettings,
} from './optimizer.js';
export {
  OptimizerStateMirror, parameterLayout, splitParameters, checkpointWithState, gradientOutputName, type ParameterSlot,
} from './resume.js';
