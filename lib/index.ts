/**
 * lemma: attention, sampling and privacy operations for Node.js (TypeScript over a C++ core
 * with CUDA kernels). Re-exports only.
 */
export * as attention from './attention/index.js';
export * as polyAttention from './poly-attention/index.js';
export * as nn from './nn/index.js';
export * as polytope from './polytope/index.js';
export * as sample from './sample/index.js';
export * as sparse from './sparse/index.js';
export * as cuda from './cuda/index.js';
export * as dp from './dp/index.js';
export * as prune from './prune/index.js';
export * as looped from './looped/index.js';
export * as games from './games/index.js';
export * as io from './io/index.js';
export { capabilities, setNumThreads, setSimdLevel, cudaAvailable } from './device.js';
export type { Capabilities, Device } from './device.js';
export { LemmaError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { tensor, MAX_ELEMENTS } from './tensor.js';
export type { Tensor, FloatArray } from './tensor.js';
