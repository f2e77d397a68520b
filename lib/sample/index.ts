export { dikin } from './dikin.js';
export type { DikinOptions, DikinResult, DikinProgress } from './dikin.js';
export { Target, uniform, linear, gaussian, logistic, callback } from './targets.js';
export type { BatchFunction, CallbackOptions } from './targets.js';
