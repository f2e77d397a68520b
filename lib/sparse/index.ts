export { KeyIndex, keyIndex, keyIndexSync } from './key-index.js';
export type {
  AttendOptions, AttendResult, AttendStats, BackwardResult, KeyIndexOptions, KeyOrder, ReportResult,
  SparseActivation,
} from './key-index.js';
export { reluAttention, reluAttentionBackward, softmaxTopAttention } from './attention.js';
export type { OneShotBackwardResult, OneShotOptions, OneShotResult } from './attention.js';
