/**
 * lemma.io: exchange tensors with Python. NumPy .npy and .npz files and safetensors files, read
 * and written in pure TypeScript (float32, float64, int32 and bool; C order; little-endian).
 */
export { readNpy, readNpySync, writeNpy, toNpy } from './npy.js';
export { readNpz, readNpzSync, writeNpz, toNpz } from './npz.js';
export { readSafetensors, readSafetensorsSync, writeSafetensors, toSafetensors } from './safetensors.js';
export type { ReadSafetensorsOptions, Safetensors } from './safetensors.js';
export type { IoDtype, IoData, IoTensor, IoTensorInput, IoSource } from './common.js';
