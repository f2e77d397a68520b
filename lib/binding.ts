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

export interface Native {
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
