/**
 * The typed face of the native addon: the only untyped `require` in lemma.
 * Nothing outside lib/ should import this file; the public API validates first, then calls here.
 */
import bindings from 'bindings';

export type FloatArray = Float32Array | Float64Array;

export interface NativeGpuDevice {
  index: number;
  name: string;
  totalMemory: number;
  computeCapability: string;
  multiprocessors: number;
}

export interface NativeCapabilities {
  nativeVersion: string;
  threads: number;
  simd: 'avx512' | 'avx2' | 'scalar';
  simdSupported: 'avx512' | 'avx2' | 'scalar';
  cuda: {
    compiled: boolean;
    deviceCount: number;
    errorCode: number;
    reason: string;
    runtimeVersion: number;
    driverVersion: number;
    architectures: string;
    devices: NativeGpuDevice[];
  };
}

/** Attention sizes as the native layer reads them (see native/attention/attention.h). */
export interface NativeAttentionParams {
  B: number;
  Hq: number;
  Hkv: number;
  Nq: number;
  Nk: number;
  D: number;
  scale: number;
  causal: boolean;
  deterministic: boolean;
  materialized: boolean;
}

/** Tree sizes as the native dp layer reads them (see native/dp/dp.h). */
export interface NativeDpParams {
  n?: number;
  d: number;
  levels: number;
  gridBits: number;
  lo: Float64Array;
  hi: Float64Array;
  alpha?: number;
  prefixBands?: boolean;
  ref?: boolean;
  device?: 'cpu' | 'cuda';
  quantised?: boolean;
}

/** An opaque, type-tagged native handle to a device buffer. */
export type DeviceHandle = { readonly __deviceHandle: unique symbol };

export interface Native {
  cudaMemory(): { bytesInUse: number };
  cudaAlloc(elements: number, dtype: 0 | 1 | 2): DeviceHandle;
  cudaUpload(data: FloatArray, dtype: 0 | 1 | 2): Promise<DeviceHandle>;
  cudaDownload(h: DeviceHandle, out: FloatArray): Promise<void>;
  cudaFree(h: DeviceHandle): void;
  attentionForwardCuda(q: DeviceHandle, k: DeviceHandle, v: DeviceHandle, out: DeviceHandle, lse: DeviceHandle,
    p: NativeAttentionParams, precision: 0 | 1 | 2 | 3): Promise<void>;
  attentionBackwardCuda(q: DeviceHandle, k: DeviceHandle, v: DeviceHandle, out: DeviceHandle, lse: DeviceHandle,
    dOut: DeviceHandle, dq: DeviceHandle, dk: DeviceHandle, dv: DeviceHandle, p: NativeAttentionParams,
    precision: 0 | 1 | 2 | 3): Promise<void>;
  capabilities(): NativeCapabilities;
  setNumThreads(n: number): number;
  setSimdLevel(level: string): string;
  fmaPeak(threads: number, seconds: number): Promise<number>;
  attentionForward(q: FloatArray, k: FloatArray, v: FloatArray, out: FloatArray, lse: FloatArray,
    p: NativeAttentionParams): Promise<void>;
  attentionForwardSync(q: FloatArray, k: FloatArray, v: FloatArray, out: FloatArray, lse: FloatArray,
    p: NativeAttentionParams): void;
  attentionBackward(q: FloatArray, k: FloatArray, v: FloatArray, out: FloatArray, lse: FloatArray,
    dOut: FloatArray, dq: FloatArray, dk: FloatArray, dv: FloatArray, p: NativeAttentionParams): Promise<void>;
  attentionBackwardSync(q: FloatArray, k: FloatArray, v: FloatArray, out: FloatArray, lse: FloatArray,
    dOut: FloatArray, dq: FloatArray, dk: FloatArray, dv: FloatArray, p: NativeAttentionParams): void;
  attentionWorkspaceBytes(p: NativeAttentionParams, pass: 0 | 1): number;
  dpL1Build(X: FloatArray, cnt: Float64Array, sum: Float64Array, p: NativeDpParams): Promise<void>;
  dpL1BuildSync(X: FloatArray, cnt: Float64Array, sum: Float64Array, p: NativeDpParams): void;
  dpL1Query(cnt: Float64Array, sum: Float64Array, Y: Float64Array, out: Float64Array, p: NativeDpParams): Promise<void>;
  dpL1QuerySync(cnt: Float64Array, sum: Float64Array, Y: Float64Array, out: Float64Array, p: NativeDpParams): void;
  dpL1BaselineQuery(cnt: Float64Array, Y: Float64Array, out: Float64Array, p: NativeDpParams): Promise<void>;
  dpL1BaselineQuerySync(cnt: Float64Array, Y: Float64Array, out: Float64Array, p: NativeDpParams): void;
  dpL1BruteForce(X: Float64Array, Y: Float64Array, out: Float64Array, p: NativeDpParams): Promise<void>;
}

// bindings() finds build/Release/lemma.node from the package root, whether this file runs as
// lib/binding.ts (tsx) or dist/lib/binding.js (compiled). LEMMA_ADDON=/path/to/lemma.node
// loads another build (the GPU bundle, side-by-side builds).
function load(): Native {
  const override = process.env.LEMMA_ADDON;
  if (override) return require(require('node:path').resolve(override)) as Native;
  return bindings('lemma') as Native;
}

export const native = load();
