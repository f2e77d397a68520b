export { attentionStack, AttentionStack, WEIGHT_NAMES } from './attention-stack.js';
export { DeviceAttentionStack } from './attention-stack-device.js';
export type { DeviceStackTape, DeviceStackForwardResult, DeviceStackGradients, DeviceLayerWeights, AdamOptions } from './attention-stack-device.js';
export type { AttentionStackOptions, LayerWeights, StackTape, StackForwardResult, StackGradients } from './attention-stack.js';
