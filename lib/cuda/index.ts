export { DeviceTensor, tensor, memory, isDeviceTensor, DEVICE_DTYPES } from './device-tensor.js';
export type { DeviceDtype } from './device-tensor.js';
