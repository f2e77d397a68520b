export { forward, backward, kernelErrorBound, featureCount, MAX_DEGREE, MAX_FEATURES } from './attention.js';
export type { PolyAttentionOptions, PolyAttentionContext, PolyForwardResult, PolyBackwardResult } from './attention.js';
export { error } from './error.js';
export type { ErrorMeasure, PolyErrorOptions, PolyErrorResult } from './error.js';
