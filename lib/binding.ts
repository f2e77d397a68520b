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
    emulated: boolean;
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

/**
 * Native objects reach JS as opaque handles: type-tagged Externals over a shared_ptr
 * (native/napi/convert.h). The same mistakes give the same errors in every family: a value that
 * is not a handle of the expected kind is a TypeError ("expected a <kind> handle"); a disposed
 * handle is LemmaError ERR_DISPOSED; dispose is idempotent and safe while a call runs (the call
 * co-owns the object). Every native error is a plain Error with a `code`; callers pass it through
 * fromNative (lib/errors.ts), which makes it a LemmaError with the caller's stack.
 */
/** An opaque, type-tagged native handle to a device buffer. */
export type DeviceHandle = { readonly __deviceHandle: unique symbol };

/** One layer of lemma.nn.attentionStack on the GPU: d = H·Dh, m the MLP width. */
export interface NativeNnLayerParams { B: number; N: number; H: number; Dh: number; m: number; causal: boolean }

/** What the emulated CUDA device reports (cuda/emulate/control.h). */
export interface NativeEmulatorInfo {
  major: number; minor: number; family: string; smemOptin: number;
  /** Capacity and bytes allocated right now on the emulated device (the runtime's view). */
  memory: number; memoryUsed: number;
  launches: number; blocks: number; threads: number; switches: number;
}
/**
 * The emulated device's test hooks (cuda/emulate/control.h), present only in LEMMA_CUDA=EMULATE
 * builds. For tests only: not part of lemma's API. 'reset' waits for every stream.
 */
export interface NativeCudaEmulator {
  (op: 'failAllocationAfter', k: number): void;
  (op: 'injectFault', why: string): void;
  (op: 'reset'): void;
  (op: 'faultMessage'): string;
  (op: 'info'): NativeEmulatorInfo;
}

/** Sparse attention (native/sparse_attention/sparse_attention.h). */
export type SparseIndexHandle = { readonly __sparseIndexHandle: unique symbol };
export interface NativeSparseIndexParams {
  B: number; Hkv: number; N: number; D: number; blockSize: number; order: 0 | 1; levels: 0 | 1 | 2;
}
export interface NativeSparseAttendParams {
  Hq: number; M: number; scale: number; causal: boolean; activation: 0 | 1; alpha: number;
  calibrate: boolean; keep: number; tolerance: number; denseAbove: number; cuda: boolean;
}
export interface NativeSparseRefParams {
  B: number; Hq: number; Hkv: number; M: number; N: number; D: number; scale: number;
  causal: boolean; activation: 0 | 1; alpha: number;
}
export interface NativeSparseStats {
  keysScored: number; keysTotal: number; blocksVisited: number; blocksTotal: number;
  activeSum: number; activeMax: number; rows: number; fallbackRows: number; denseRows: number;
  predictedRows?: number; flashRows?: number;
}
export interface NativeSparseReport { rowPtr: Float64Array; keys: Int32Array; scores: Float32Array }

export interface NativePolyAttentionParams {
  B: number; Hq: number; Hkv: number; Nq: number; Nk: number; D: number;
  scale: number; degree: number; causal: boolean; chunk: number;
  /** Float64Array only: the pair-by-pair oracle instead of the chunked algorithm. */
  ref?: boolean;
}

export interface NativeLoopedParams {
  S: number; d: number; activation: number; maxSteps: number; tEnd: number; tol: number; noise: number;
  seedLo: number; seedHi: number; earlyExit: boolean; ref?: boolean;
}

export interface Native {
  loopedIterate(W: FloatArray, b: FloatArray, x: FloatArray, steps: Int32Array, stab: Int32Array, last: Float64Array,
    residuals: Float64Array, p: NativeLoopedParams): Promise<void>;
  loopedIterateSync(W: FloatArray, b: FloatArray, x: FloatArray, steps: Int32Array, stab: Int32Array, last: Float64Array,
    residuals: Float64Array, p: NativeLoopedParams): void;
  sparseIndexBuild(k: Float32Array, v: Float32Array, p: NativeSparseIndexParams): Promise<SparseIndexHandle>;
  sparseIndexBuildSync(k: Float32Array, v: Float32Array, p: NativeSparseIndexParams): SparseIndexHandle;
  sparseIndexAppend(h: SparseIndexHandle, k: Float32Array, v: Float32Array, n: number): Promise<void>;
  sparseIndexAppendSync(h: SparseIndexHandle, k: Float32Array, v: Float32Array, n: number): void;
  sparseIndexAttend(h: SparseIndexHandle, q: Float32Array, thresholds: Float64Array, out: Float32Array,
    errorBound: Float32Array | null, p: NativeSparseAttendParams): Promise<NativeSparseStats>;
  sparseIndexAttendSync(h: SparseIndexHandle, q: Float32Array, thresholds: Float64Array, out: Float32Array,
    errorBound: Float32Array | null, p: NativeSparseAttendParams): NativeSparseStats;
  sparseIndexReport(h: SparseIndexHandle, q: Float32Array, thresholds: Float64Array,
    p: NativeSparseAttendParams): Promise<NativeSparseReport>;
  sparseIndexReportSync(h: SparseIndexHandle, q: Float32Array, thresholds: Float64Array,
    p: NativeSparseAttendParams): NativeSparseReport;
  sparseIndexBackward(h: SparseIndexHandle, q: Float32Array, thresholds: Float64Array, dOut: Float32Array,
    dq: Float32Array, dk: Float32Array, dv: Float32Array, p: NativeSparseAttendParams): Promise<NativeSparseStats>;
  sparseIndexBackwardSync(h: SparseIndexHandle, q: Float32Array, thresholds: Float64Array, dOut: Float32Array,
    dq: Float32Array, dk: Float32Array, dv: Float32Array, p: NativeSparseAttendParams): NativeSparseStats;
  sparseIndexInfo(h: SparseIndexHandle): { N: number; numBlocks: number; levels: number; bytes: number };
  sparseIndexDispose(h: SparseIndexHandle): void;
  sparseAttentionRef(q: Float64Array, k: Float64Array, v: Float64Array, thresholds: Float64Array,
    out: Float64Array, counts: Float64Array, p: NativeSparseRefParams): Promise<void>;
  sparseAttentionRefSync(q: Float64Array, k: Float64Array, v: Float64Array, thresholds: Float64Array,
    out: Float64Array, counts: Float64Array, p: NativeSparseRefParams): void;
  sparseReluBackwardRef(q: Float64Array, k: Float64Array, v: Float64Array, thresholds: Float64Array,
    dOut: Float64Array, dq: Float64Array, dk: Float64Array, dv: Float64Array, p: NativeSparseRefParams): Promise<void>;
  sparseReluBackwardRefSync(q: Float64Array, k: Float64Array, v: Float64Array, thresholds: Float64Array,
    dOut: Float64Array, dq: Float64Array, dk: Float64Array, dv: Float64Array, p: NativeSparseRefParams): void;
  polyAttentionForward(q: FloatArray, k: FloatArray, v: FloatArray, out: FloatArray, norm: FloatArray,
    p: NativePolyAttentionParams): Promise<void>;
  polyAttentionBackward(q: FloatArray, k: FloatArray, v: FloatArray, out: FloatArray, norm: FloatArray,
    dOut: FloatArray, dq: FloatArray, dk: FloatArray, dv: FloatArray, p: NativePolyAttentionParams): Promise<void>;
  polyAttentionFeatures(D: number, degree: number): number;
  /** C [m, n] = op(A) op(B) (ta: A stored [k, m]; tb: B stored [n, k]); same dtype throughout. */
  matmul(A: FloatArray, B: FloatArray, C: FloatArray, p: { m: number; k: number; n: number; ta?: boolean; tb?: boolean }): Promise<void>;
  cudaMemory(): { bytesInUse: number };
  cudaAlloc(elements: number, dtype: 0 | 1 | 2): DeviceHandle;
  cudaUpload(data: FloatArray, dtype: 0 | 1 | 2): Promise<DeviceHandle>;
  cudaDownload(h: DeviceHandle, out: FloatArray): Promise<void>;
  cudaFree(h: DeviceHandle): void;
  cudaSynchronize(): Promise<void>;
  cudaEmulator?: NativeCudaEmulator;
  /** lemma.nn.attentionStack on the GPU (native/napi/nn_binding.cc; optional: absent in addons built before it). */
  nnLayerForwardCuda?(bufs: DeviceHandle[], p: NativeNnLayerParams): Promise<void>;
  nnLayerBackwardCuda?(bufs: DeviceHandle[], p: NativeNnLayerParams): Promise<void>;
  nnAdamCuda?(params: DeviceHandle[], grads: DeviceHandle[], m: DeviceHandle[], v: DeviceHandle[],
    hp: { lr: number; beta1: number; beta2: number; eps: number; c1: number; c2: number }): Promise<void>;
  capabilities(): NativeCapabilities;
  setNumThreads(n: number): number;
  setSimdLevel(level: string): string;
  fmaPeak(threads: number, seconds: number): Promise<number>;
  /** Reads every array once on the thread pool (synchronously); returns a checksum. */
  streamRead(arrays: ArrayBufferView[]): number;
  /** Arms a four-word cancel/progress token for the next native async call (lib/long-work.ts), or disarms (null). */
  armCancel(token: Int32Array | null): void;
  attentionForward(q: FloatArray, k: FloatArray, v: FloatArray, out: FloatArray, lse: FloatArray,
    p: NativeAttentionParams): Promise<void>;
  attentionForwardSync(q: FloatArray, k: FloatArray, v: FloatArray, out: FloatArray, lse: FloatArray,
    p: NativeAttentionParams): void;
  attentionBackward(q: FloatArray, k: FloatArray, v: FloatArray, out: FloatArray, lse: FloatArray,
    dOut: FloatArray, dq: FloatArray, dk: FloatArray, dv: FloatArray, p: NativeAttentionParams): Promise<void>;
  attentionBackwardSync(q: FloatArray, k: FloatArray, v: FloatArray, out: FloatArray, lse: FloatArray,
    dOut: FloatArray, dq: FloatArray, dk: FloatArray, dv: FloatArray, p: NativeAttentionParams): void;
  attentionWorkspaceBytes(p: NativeAttentionParams, pass: 0 | 1): number;
  /** Attention on device tensors (native/napi/attention_binding.cc); precision 0 fp32, 1 tf32, 2 fp16, 3 bf16. */
  attentionForwardCuda(q: DeviceHandle, k: DeviceHandle, v: DeviceHandle, out: DeviceHandle, lse: DeviceHandle,
    p: NativeAttentionParams, precision: 0 | 1 | 2 | 3): Promise<void>;
  attentionBackwardCuda(q: DeviceHandle, k: DeviceHandle, v: DeviceHandle, out: DeviceHandle, lse: DeviceHandle,
    dOut: DeviceHandle, dq: DeviceHandle, dk: DeviceHandle, dv: DeviceHandle, p: NativeAttentionParams,
    precision: 0 | 1 | 2 | 3): Promise<void>;
  dpL1Build(X: FloatArray, cnt: Float64Array, sum: Float64Array, p: NativeDpParams): Promise<void>;
  dpL1BuildSync(X: FloatArray, cnt: Float64Array, sum: Float64Array, p: NativeDpParams): void;
  dpL1Query(cnt: Float64Array, sum: Float64Array, Y: Float64Array, out: Float64Array, p: NativeDpParams): Promise<void>;
  dpL1QuerySync(cnt: Float64Array, sum: Float64Array, Y: Float64Array, out: Float64Array, p: NativeDpParams): void;
  dpL1BaselineQuery(cnt: Float64Array, Y: Float64Array, out: Float64Array, p: NativeDpParams): Promise<void>;
  dpL1BaselineQuerySync(cnt: Float64Array, Y: Float64Array, out: Float64Array, p: NativeDpParams): void;
  dpL1BruteForce(X: Float64Array, Y: Float64Array, out: Float64Array, p: NativeDpParams): Promise<void>;
  /** SUBLEQ looped MLP (native/looped/subleq.h): weights, x0, and the int32 executor. */
  subleqBuild(g: { M: number; P: number; N: number; layers: number }): {
    stateSize: number;
    layers: { rows: number; inputs: number; rowPtr: Int32Array; cols: Int32Array; vals: Int32Array; bias: Int32Array }[];
  };
  subleqEncode(program: Int32Array, memory: Int32Array, g: { M: number; P: number; N: number; layers: number }): Int32Array;
  subleqRun(layers: readonly { rows: number; inputs: number; rowPtr: Int32Array; cols: Int32Array; vals: Int32Array; bias: Int32Array }[],
    X: Int32Array, haltStep: Int32Array, memOut: Int32Array, pcOut: Int32Array,
    p: { M: number; P: number; N: number; layers: number; B: number; stepBegin: number; steps: number; totalSteps: number; traceEvery: boolean }): Promise<void>;
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

// ---- polytope family (native/napi/polytope_binding.cc); merged into Native above.
export interface NativeBodySpec {
  kind: 'dense' | 'csr' | 'spectrahedron';
  M: number;
  d: number;
  A?: Float64Array; b?: Float64Array;
  rowPtr?: Int32Array; colIdx?: Int32Array; values?: Float64Array;
  F?: Float64Array; C?: Float64Array;
}
/** A polytope body handle (native/napi/polytope_binding.cc). */
export type PolytopeBodyHandle = { readonly __polytopeBodyHandle: unique symbol };
/** A Dikin sampler handle: one call at a time (lib/sample/dikin.ts serialises); abort / dispose any time. */
export type DikinSamplerHandle = { readonly __dikinSamplerHandle: unique symbol };
export interface NativeTargetSpec {
  kind: 'uniform' | 'linear' | 'gaussian' | 'logistic' | 'callback';
  c?: Float64Array; mean?: Float64Array; precision?: Float64Array;
  X?: Float64Array; y?: Float64Array; nobs?: number; priorPrecision?: number;
}
export interface NativeDikinParams {
  chains: number; barrier: 'log' | 'lewis'; hessian: 'exact' | 'subsample'; hessianSamples: number;
  sketchRows: number; jlColumns: number; alpha: number; etaInv: number; lewisP: number;
  lewisTolerance: number; lewisMaxIterations: number; lazy: boolean; seed: number; burnIn: number;
  thin: number; kept: number; reference: boolean; device: 'cpu' | 'cuda';
}
export interface NativeJohnResult {
  weights: Float64Array; Q: Float64Array; iterations: number; sumWeights: number; maxTau: number;
  complementary: number; logDet: number;
}
export interface Native {
  polytopeBody(spec: NativeBodySpec): PolytopeBodyHandle;
  /** '' when x is interior, else the reason. */
  polytopeBodyContains(body: PolytopeBodyHandle, x: Float64Array): string;
  polytopeAnalyticCenter(body: PolytopeBodyHandle): Promise<{ x: Float64Array; phase1Iterations: number; newtonIterations: number }>;
  polytopeLewisWeights(body: PolytopeBodyHandle, x: Float64Array, p: number, tol: number, maxIter: number):
    Promise<{ weights: Float64Array; iterations: number; residual: number; converged: boolean }>;
  polytopeBodyDispose(body: PolytopeBodyHandle): void;
  dikinSampler(body: PolytopeBodyHandle, target: NativeTargetSpec, p: NativeDikinParams): DikinSamplerHandle;
  dikinSetStart(s: DikinSamplerHandle, x0: Float64Array, fx0: Float64Array | null): void;
  dikinRun(s: DikinSamplerHandle, steps: number): Promise<number>;
  dikinPropose(s: DikinSamplerHandle, zOut: Float64Array, need: Uint8Array): Promise<void>;
  dikinFinish(s: DikinSamplerHandle, fz: Float64Array): Promise<void>;
  dikinSamples(s: DikinSamplerHandle): Float64Array;
  dikinAcceptance(s: DikinSamplerHandle): Float64Array;
  dikinStepsDone(s: DikinSamplerHandle): number;
  dikinRecorded(s: DikinSamplerHandle): number;
  dikinStepSeconds(s: DikinSamplerHandle): number;
  dikinKernel(s: DikinSamplerHandle): string;
  dikinAbort(s: DikinSamplerHandle): void;
  dikinDispose(s: DikinSamplerHandle): void;
  polytopeDiagnostics(samples: Float64Array, C: number, N: number, d: number): Promise<{ ess: Float64Array; rhat: Float64Array }>;
  johnEllipsoid(A: Float64Array, M: number, d: number,
    o: { epsilon: number; sketch: boolean; sketchSize: number; seed: number; maxIterations: number }): Promise<NativeJohnResult>;
}
