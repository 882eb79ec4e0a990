/** @kqkd/plots — every picture kqkd draws goes through here (vega-lite → SVG → PNG). */
export { preloadRenderers, renderChart, writeChart } from './render.js';
export { kqCurvesSpec, teachersKqSpec, type KqCurvePoint, type TeacherQCurve } from './kq-curves.js';
export { trainingCurvesSpec, methodBarSpec, lrTuningSpec, type TrainingCurvePoint, type MethodBarRow, type LrTuningPoint } from './experiment.js';
export { confusionMatrixSpec } from './confusion.js';
