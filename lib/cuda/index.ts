export { DeviceTensor, tensor, memory, synchronize, isDeviceTensor, DEVICE_DTYPES } from './device-tensor.js';
/** Uploads a host tensor: the name API.md gives it (`tensor` stays as an alias). */
export { tensor as upload } from './device-tensor.js';
export type { DeviceDtype } from './device-tensor.js';
