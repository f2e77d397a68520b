export { forward, forwardSync, backward, backwardSync, MATERIALIZED_LIMIT_BYTES } from './attention.js';
export type { AttentionOptions, AttentionAlgorithm, AnyTensor, ForwardResult, ForwardDeviceResult, BackwardInputs, BackwardDeviceInputs, BackwardResult, BackwardDeviceResult } from './attention.js';
export { ioCost } from './io-cost.js';
export type { IoCostResult } from './io-cost.js';
