export { DeviceTensor, tensor, memory, synchronize, isDeviceTensor, DEVICE_DTYPES } from './device-tensor.js';
export type { DeviceDtype } from './device-tensor.js';
