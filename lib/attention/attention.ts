/**
 * Exact attention, forward and backward (spec: shared/specs/attention-io.md).
 * Float32Array tensors run the fast CPU path (FlashAttention-2 tiling, threads, SIMD chosen at
 * run time); Float64Array tensors run the fp64 oracle. See native/attention/attention.h.
 */
import { LemmaError, fromNative } from '../errors.js';
import { native } from '../binding.js';
import type { FloatArray, NativeAttentionParams } from '../binding.js';
import { resolveDevice } from '../device.js';
import type { Device } from '../device.js';
import { checkTensor, privateData, zerosLike } from '../tensor.js';
import type { Tensor } from '../tensor.js';
import { checkBoolean, checkNumber, checkOneOf, checkOptions, expected } from '../validation/index.js';

export type AttentionAlgorithm = 'auto' | 'flash' | 'materialized';

export interface AttentionOptions {
  /** Causal mask, bottom-right aligned when Nq ≠ Nk (query i sees keys j ≤ i + Nk − Nq). Default false. */
  causal?: boolean;
  /** Softmax scale. Default 1/√D. */
  scale?: number;
  /** 'auto' (default) | 'cpu' | 'cuda'. 'cuda' without a usable GPU throws ERR_CUDA_UNAVAILABLE. */
  device?: Device;
  /**
   * 'flash' (FlashAttention-2 tiling, O(N) memory), 'materialized' (the small-cache schedule of
   * spec §1.7: S/P materialised per head, O(N²) memory), or 'auto' (default): flash unless the
   * cache is smaller than D² words, which no CPU with a 1 MiB L2 reaches for D ≤ 256.
   */
  algorithm?: AttentionAlgorithm;
  /** Bitwise-reproducible results. Default true; the CPU paths are always deterministic. */
  deterministic?: boolean;
}

export interface ForwardResult<A extends FloatArray = FloatArray> {
  /** [B, Hq, Nq, D] */
  out: Tensor<A>;
  /** [B, Hq, Nq]: log-sum-exp of the scaled scores (+Infinity for a row that sees no key). */
  lse: Tensor<A>;
}

export interface BackwardInputs {
  q: Tensor; k: Tensor; v: Tensor; out: Tensor; lse: Tensor; dOut: Tensor;
}

export interface BackwardResult<A extends FloatArray = FloatArray> {
  dq: Tensor<A>;
  dk: Tensor<A>;
  dv: Tensor<A>;
}

/** Bytes of O(N²) scratch the materialized schedule may take before lemma refuses. */
export const MATERIALIZED_LIMIT_BYTES = 2 * 1024 ** 3;

interface Plan {
  params: NativeAttentionParams;
  dtype: 'float32' | 'float64';
}

function rank4(t: Tensor, name: string, letters: string): [number, number, number, number] {
  if (t.shape.length !== 4) {
    throw new LemmaError('ERR_SHAPE', expected(`a rank-4 shape [${letters}]`, `${name}.shape`, t.shape));
  }
  return t.shape as [number, number, number, number];
}

function sameShape(t: Tensor, shape: number[], name: string, what: string): void {
  if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
    throw new LemmaError('ERR_SHAPE', expected(`shape [${shape.join(', ')}] (${what})`, `${name}.shape`, t.shape));
  }
}

function sameDtype(ts: Tensor[], names: string[]): 'float32' | 'float64' {
  const f64 = ts[0].data instanceof Float64Array;
  ts.forEach((t, i) => {
    if ((t.data instanceof Float64Array) !== f64) {
      throw new LemmaError('ERR_DTYPE', expected(`a ${f64 ? 'Float64Array' : 'Float32Array'} like ${names[0]}.data`, `${names[i]}.data`, t.data));
    }
  });
  return f64 ? 'float64' : 'float32';
}

function plan(q: Tensor, k: Tensor, v: Tensor, options: unknown, pass: 0 | 1): Plan {
  const [B, Hq, Nq, D] = rank4(q, 'q', 'B, Hq, Nq, D');
  const [Bk, Hkv, Nk, Dk] = rank4(k, 'k', 'B, Hkv, Nk, D');
  sameShape(v, k.shape, 'v', 'the shape of k');
  if (Bk !== B) throw new LemmaError('ERR_SHAPE', expected(`batch size ${B} (from q)`, 'k.shape[0]', Bk));
  if (Dk !== D) throw new LemmaError('ERR_SHAPE', expected(`head dim ${D} (from q)`, 'k.shape[3]', Dk));
  if (D < 1 || D > 256) throw new LemmaError('ERR_SHAPE', expected('a head dim D between 1 and 256', 'q.shape[3]', D));
  if (B < 1 || Hq < 1 || Nq < 1 || Hkv < 1 || Nk < 1) {
    throw new LemmaError('ERR_SHAPE', expected('non-zero sizes B, H, N', 'q.shape / k.shape', [...q.shape, ...k.shape]));
  }
  if (Hq % Hkv !== 0) {
    throw new LemmaError('ERR_SHAPE', expected(`a number of query heads that is a multiple of Hkv = ${Hkv}`, 'q.shape[1]', Hq));
  }
  const dtype = sameDtype([q, k, v], ['q', 'k', 'v']);
  const opts = checkOptions(options, 'options');
  const causal = opts.causal === undefined ? false : checkBoolean(opts.causal, 'options.causal');
  const scale = opts.scale === undefined ? 1 / Math.sqrt(D) : checkNumber(opts.scale, 'options.scale');
  const deterministic = opts.deterministic === undefined ? true : checkBoolean(opts.deterministic, 'options.deterministic');
  const algorithm = checkOneOf(opts.algorithm ?? 'auto', 'options.algorithm', ['auto', 'flash', 'materialized'] as const);
  const device = resolveDevice(opts.device, 'options.device');
  if (device === 'cuda') {
    throw new LemmaError('ERR_CUDA_UNAVAILABLE', 'the CUDA attention kernels are not part of this build yet (issue: CUDA attention); use device \'cpu\' or \'auto\'');
  }
  const params: NativeAttentionParams = {
    B, Hq, Hkv, Nq, Nk, D, scale, causal, deterministic, materialized: algorithm === 'materialized',
  };
  if (params.materialized && dtype === 'float32') {
    const bytes = native.attentionWorkspaceBytes(params, pass);
    if (bytes > MATERIALIZED_LIMIT_BYTES) {
      throw new LemmaError('ERR_RANGE', `algorithm 'materialized' needs ${bytes} bytes of scratch for Nq = ${Nq}, Nk = ${Nk}, more than the limit of ${MATERIALIZED_LIMIT_BYTES}; use algorithm 'flash'`);
    }
  }
  return { params, dtype };
}

function outputs(q: Tensor, p: NativeAttentionParams) {
  const n = p.B * p.Hq * p.Nq;
  return { out: zerosLike(q.data, n * p.D), lse: zerosLike(q.data, n) };
}

function checkForwardArgs(q: unknown, k: unknown, v: unknown, options: unknown) {
  const qt = checkTensor(q, 'q');
  const kt = checkTensor(k, 'k');
  const vt = checkTensor(v, 'v');
  return { qt, kt, vt, plan: plan(qt, kt, vt, options, 0) };
}

/**
 * Attention forward: out = softmax(scale·q·kᵀ [masked]) · v, and the row log-sum-exp.
 * Runs off the event loop; the Promise resolves with new arrays.
 * @param q [B, Hq, Nq, D] Float32Array (fast path) or Float64Array (fp64 oracle)
 * @param k [B, Hkv, Nk, D] with Hq a multiple of Hkv (grouped-query attention)
 * @param v [B, Hkv, Nk, D]
 * @param options causal, scale, device, algorithm, deterministic
 * @returns `{ out [B, Hq, Nq, D], lse [B, Hq, Nq] }`
 * @throws TypeError / RangeError for bad arguments; LemmaError ERR_SHAPE, ERR_DTYPE, ERR_RANGE,
 *   ERR_CUDA_UNAVAILABLE.
 * @example
 * const { out, lse } = await lemma.attention.forward(q, k, v, { causal: true });
 */
export async function forward(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): Promise<ForwardResult> {
  const site = new Error();
  const { qt, kt, vt, plan: pl } = checkForwardArgs(q, k, v, options);
  const o = outputs(qt, pl.params);
  try {
    await native.attentionForward(privateData(qt.data), privateData(kt.data), privateData(vt.data), o.out, o.lse, pl.params);
  } catch (e) {
    throw fromNative(e, site);
  }
  return { out: { data: o.out, shape: qt.shape.slice() }, lse: { data: o.lse, shape: qt.shape.slice(0, 3) } };
}

/**
 * Synchronous twin of {@link forward} for small inputs: blocks the calling thread.
 * @example
 * const { out } = lemma.attention.forwardSync(q, k, v);
 */
export function forwardSync(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): ForwardResult {
  const site = new Error();
  const { qt, kt, vt, plan: pl } = checkForwardArgs(q, k, v, options);
  const o = outputs(qt, pl.params);
  try {
    native.attentionForwardSync(qt.data, kt.data, vt.data, o.out, o.lse, pl.params);
  } catch (e) {
    throw fromNative(e, site);
  }
  return { out: { data: o.out, shape: qt.shape.slice() }, lse: { data: o.lse, shape: qt.shape.slice(0, 3) } };
}

function checkBackwardArgs(inputs: unknown, options: unknown) {
  if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) {
    throw new TypeError(expected('an object { q, k, v, out, lse, dOut }', 'inputs', inputs));
  }
  const r = inputs as Record<string, unknown>;
  const qt = checkTensor(r.q, 'q');
  const kt = checkTensor(r.k, 'k');
  const vt = checkTensor(r.v, 'v');
  const ot = checkTensor(r.out, 'out');
  const lt = checkTensor(r.lse, 'lse');
  const dt = checkTensor(r.dOut, 'dOut');
  const pl = plan(qt, kt, vt, options, 1);
  sameShape(ot, qt.shape, 'out', 'the shape of q');
  sameShape(dt, qt.shape, 'dOut', 'the shape of q');
  sameShape(lt, qt.shape.slice(0, 3), 'lse', '[B, Hq, Nq] of q');
  sameDtype([qt, ot, lt, dt], ['q', 'out', 'lse', 'dOut']);
  return { qt, kt, vt, ot, lt, dt, plan: pl };
}

function gradOutputs(a: ReturnType<typeof checkBackwardArgs>) {
  return { dq: zerosLike(a.qt.data, a.qt.data.length), dk: zerosLike(a.qt.data, a.kt.data.length), dv: zerosLike(a.qt.data, a.vt.data.length) };
}

/**
 * Attention backward: dq, dk, dv from the forward's out and lse and the upstream gradient dOut
 * (FlashAttention-2 recurrence; dk and dv sum over the query heads of a group). Rows that saw no
 * key contribute nothing (never NaN).
 * @param inputs `{ q, k, v, out, lse, dOut }`: out, lse as returned by {@link forward}; dOut like out
 * @param options the same options as the forward call
 * @returns `{ dq [B, Hq, Nq, D], dk [B, Hkv, Nk, D], dv [B, Hkv, Nk, D] }`
 * @throws TypeError / RangeError; LemmaError ERR_SHAPE, ERR_DTYPE, ERR_RANGE, ERR_CUDA_UNAVAILABLE.
 * @example
 * const { out, lse } = await lemma.attention.forward(q, k, v);
 * const { dq, dk, dv } = await lemma.attention.backward({ q, k, v, out, lse, dOut });
 */
export async function backward(inputs: BackwardInputs, options?: AttentionOptions): Promise<BackwardResult> {
  const site = new Error();
  const a = checkBackwardArgs(inputs, options);
  const g = gradOutputs(a);
  try {
    await native.attentionBackward(privateData(a.qt.data), privateData(a.kt.data), privateData(a.vt.data),
      privateData(a.ot.data), privateData(a.lt.data), privateData(a.dt.data), g.dq, g.dk, g.dv, a.plan.params);
  } catch (e) {
    throw fromNative(e, site);
  }
  return { dq: { data: g.dq, shape: a.qt.shape.slice() }, dk: { data: g.dk, shape: a.kt.shape.slice() }, dv: { data: g.dv, shape: a.vt.shape.slice() } };
}

/** Synchronous twin of {@link backward} for small inputs: blocks the calling thread. */
export function backwardSync(inputs: BackwardInputs, options?: AttentionOptions): BackwardResult {
  const site = new Error();
  const a = checkBackwardArgs(inputs, options);
  const g = gradOutputs(a);
  try {
    native.attentionBackwardSync(a.qt.data, a.kt.data, a.vt.data, a.ot.data, a.lt.data, a.dt.data, g.dq, g.dk, g.dv, a.plan.params);
  } catch (e) {
    throw fromNative(e, site);
  }
  return { dq: { data: g.dq, shape: a.qt.shape.slice() }, dk: { data: g.dk, shape: a.kt.shape.slice() }, dv: { data: g.dv, shape: a.vt.shape.slice() } };
}
