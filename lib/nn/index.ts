export { attentionStack, AttentionStack, WEIGHT_NAMES } from './attention-stack.js';
export type { AttentionStackOptions, LayerWeights, StackTape, StackForwardResult, StackGradients } from './attention-stack.js';
