/**
 * One-shot sparse attention (prefill): build a key index over k, v, attend, dispose. Float32Array
 * tensors run the index (threaded, SIMD, or CUDA); Float64Array tensors run the fp64
 * brute-force oracle (native/sparse_attention/sparse_attention_ref.cc), which needs an explicit
 * threshold.
 */
import { LemmaError, fromNative } from '../errors.js';
import { native } from '../binding.js';
import { cpuOnly } from '../device.js';
import { runLong } from '../long-work.js';
import type { NativeSparseRefParams } from '../binding.js';
import { checkTensor, privateData } from '../tensor.js';
import type { Tensor } from '../tensor.js';
import { checkFinite, checkOneOf, checkOptions, expected } from '../validation/index.js';
import { checkKeyValue, indexParams, keyIndex, planAttend, INDEX_OPTIONS, ATTEND_OPTIONS } from './key-index.js';
import { checkKnownKeys } from '../validation/options.js';
import type { AttendOptions, AttendStats, KeyIndexOptions } from './key-index.js';

export type OneShotOptions = KeyIndexOptions & AttendOptions;

export interface OneShotResult<A extends Float32Array | Float64Array = Float32Array | Float64Array> {
  /** [B, Hq, M, D] */
  out: Tensor<A>;
  stats: AttendStats;
}

function isF64(ts: Tensor[], names: string[]): boolean {
  const f64 = ts[0].data instanceof Float64Array;
  ts.forEach((t, i) => {
    if ((t.data instanceof Float64Array) !== f64) {
      throw new LemmaError('ERR_DTYPE', expected(`a ${f64 ? 'Float64Array' : 'Float32Array'} like ${names[0]}.data`, `${names[i]}.data`, t.data));
    }
  });
  return f64;
}

/**
 * A one-shot helper's options, checked against the union of the index's and attend's names, and
 * split between the two (each checks its own names again).
 */
function withActivation(options: unknown, activation: 'relu' | 'softmax'): { index: Record<string, unknown>; attend: Record<string, unknown> } {
  const o = checkOptions(options, 'options');
  checkKnownKeys(o, 'options', [...INDEX_OPTIONS, ...ATTEND_OPTIONS]);
  if (o.activation !== undefined) checkOneOf(o.activation, 'options.activation', [activation] as const);
  const pick = (names: readonly string[]) => Object.fromEntries(Object.entries(o).filter(([k]) => names.includes(k)));
  return { index: pick(INDEX_OPTIONS), attend: { ...pick(ATTEND_OPTIONS), activation } };
}

async function oneShot(q: unknown, k: unknown, v: unknown, options: unknown, activation: 'relu' | 'softmax'): Promise<OneShotResult> {
  const site = new Error();
  const qt = checkTensor(q, 'q');
  const kv = checkKeyValue(k, v);
  const opts = withActivation(options, activation);
  // The index options are checked on the fp64 path too: a bad value must not pass there silently.
  indexParams(kv.B, kv.Hkv, kv.N, kv.D, opts.index);
  if (isF64([qt, kv.kt, kv.vt], ['q', 'k', 'v'])) return reference(qt, kv, opts.attend, 'attend', site);
  const index = await keyIndex(kv.kt, kv.vt, opts.index as KeyIndexOptions);
  try {
    return await index.attend(qt, opts.attend as AttendOptions);
  } finally {
    index.dispose();
  }
}

type KV = ReturnType<typeof checkKeyValue>;

function refParams(qt: Tensor, kv: KV, plan: ReturnType<typeof planAttend>): NativeSparseRefParams {
  const n = plan.native;
  return { B: kv.B, Hq: n.Hq, Hkv: kv.Hkv, M: n.M, N: kv.N, D: kv.D, scale: n.scale, causal: n.causal, activation: n.activation, alpha: n.alpha };
}

/** The fp64 paths refuse non-finite data as the fp32 index does. */
function finite(ts: Tensor[], names: string[]): void {
  ts.forEach((t, i) => checkFinite(t.data, names[i], t.shape));
}

async function reference(qt: Tensor, kv: KV, opts: Record<string, unknown>, what: 'attend', site: Error): Promise<OneShotResult> {
  finite([qt, kv.kt, kv.vt], ['q', 'k', 'v']);
  if (opts.threshold === undefined) {
    throw new TypeError(expected('a finite number (the fp64 oracle needs an explicit threshold)', 'options.threshold', undefined));
  }
  cpuOnly(opts.device, 'options.device', 'the fp64 oracle path runs on the CPU only');
  const plan = planAttend(qt, kv, { ...opts, device: 'cpu' }, what);
  const p = refParams(qt, kv, plan);
  const out = new Float64Array(qt.data.length);
  const counts = new Float64Array(p.B * p.Hq * p.M);
  try {
    await runLong('lemma.sparse (fp64 oracle)', plan.work, () => native.sparseAttentionRef(privateData(qt.data as Float64Array),
      privateData(kv.kt.data as Float64Array), privateData(kv.vt.data as Float64Array), plan.thresholds, out, counts, p));
  } catch (e) {
    throw fromNative(e, site);
  }
  let sum = 0;
  let max = 0;
  for (const c of counts) {
    sum += c;
    max = Math.max(max, c);
  }
  let visible = 0;
  for (let row = 0; row < counts.length; row++) {
    const i = row % p.M;
    visible += p.causal ? Math.min(Math.max(i + p.N - p.M + 1, 0), p.N) : p.N;
  }
  const stats: AttendStats = {
    keysScored: visible, keysTotal: visible, keyFraction: 1, blocksVisited: 0, blocksTotal: 0, blockFraction: 0,
    meanActive: sum / counts.length, maxActive: max, rows: counts.length, fallbackRows: 0, denseRows: counts.length,
    predictedRows: 0, flashRows: 0,
    dense: true, threshold: plan.thresholds, device: 'cpu',
  };
  return { out: { data: out, shape: qt.shape.slice() }, stats };
}

/**
 * Exact ReLU^α attention (spec §2.1): out_i = Σ_j max(0, s_ij − b)^α v_j / Σ_j max(0, s_ij − b)^α,
 * s = scale·⟨q, k⟩, 0 for rows with no active key. Builds the index internally.
 * @param q [B, Hq, M, D]
 * @param k [B, Hkv, N, D]
 * @param v [B, Hkv, N, D]
 * @param options threshold (or keep), alpha, causal, scale, device, denseAbove, blockSize, order, levels
 * @returns `{ out [B, Hq, M, D], stats }`
 * @throws TypeError / RangeError; LemmaError ERR_SHAPE, ERR_DTYPE, ERR_RANGE, ERR_CUDA_UNAVAILABLE
 * @example
 * const { out, stats } = await lemma.sparse.reluAttention(q, k, v, { threshold: 1.3, causal: true });
 */
export function reluAttention(q: Tensor, k: Tensor, v: Tensor, options: OneShotOptions): Promise<OneShotResult> {
  return oneShot(q, k, v, options, 'relu');
}

/**
 * Softmax over the massively activated entries (s ≥ b) only, with a certified per-row bound
 * 2·ε_drop·‖V‖∞ (spec §2.5) and a dense fallback for rows above `tolerance`. b comes from
 * `threshold`, or is calibrated per head from `keep` (default ⌈N^0.8⌉).
 * @param q [B, Hq, M, D]
 * @param k [B, Hkv, N, D]
 * @param v [B, Hkv, N, D]
 * @param options threshold | keep, tolerance, causal, scale, device, denseAbove, blockSize, order, levels
 * @returns `{ out, stats }` with stats.errorBound [B, Hq, M]
 * @example
 * const { out, stats } = await lemma.sparse.softmaxTopAttention(q, k, v, { causal: true });
 */
export function softmaxTopAttention(q: Tensor, k: Tensor, v: Tensor, options?: OneShotOptions): Promise<OneShotResult> {
  return oneShot(q, k, v, options, 'softmax');
}

export interface OneShotBackwardResult<A extends Float32Array | Float64Array = Float32Array | Float64Array> {
  dq: Tensor<A>;
  dk: Tensor<A>;
  dv: Tensor<A>;
}

/**
 * Backward of {@link reluAttention} (dq, dk, dv through the exact sparse set). Float64Array
 * tensors run the fp64 oracle.
 * @param q [B, Hq, M, D]
 * @param k [B, Hkv, N, D]
 * @param v [B, Hkv, N, D]
 * @param dOut [B, Hq, M, D]
 * @param options threshold (required), alpha, causal, scale, device, blockSize, order, levels
 * @example
 * const { dq, dk, dv } = await lemma.sparse.reluAttentionBackward(q, k, v, dOut, { threshold: 1 });
 */
export async function reluAttentionBackward(q: Tensor, k: Tensor, v: Tensor, dOut: Tensor, options: OneShotOptions): Promise<OneShotBackwardResult> {
  const site = new Error();
  const qt = checkTensor(q, 'q');
  const kv = checkKeyValue(k, v);
  const dt = checkTensor(dOut, 'dOut');
  const opts = withActivation(options, 'relu');
  indexParams(kv.B, kv.Hkv, kv.N, kv.D, opts.index);
  if (isF64([qt, kv.kt, kv.vt, dt], ['q', 'k', 'v', 'dOut'])) {
    finite([qt, kv.kt, kv.vt, dt], ['q', 'k', 'v', 'dOut']);
    cpuOnly(opts.attend.device, 'options.device', 'the fp64 oracle path runs on the CPU only');
    const plan = planAttend(qt, kv, { ...opts.attend, device: 'cpu' }, 'backward');
    if (dt.shape.length !== qt.shape.length || dt.shape.some((s, i) => s !== qt.shape[i])) {
      throw new LemmaError('ERR_SHAPE', expected(`shape [${qt.shape.join(', ')}] (the shape of q)`, 'dOut.shape', dt.shape));
    }
    const p = refParams(qt, kv, plan);
    const dq = new Float64Array(qt.data.length);
    const dk = new Float64Array(kv.kt.data.length);
    const dv = new Float64Array(kv.kt.data.length);
    try {
      await runLong('lemma.sparse.reluAttentionBackward (fp64 oracle)', plan.work, () => native.sparseReluBackwardRef(
        privateData(qt.data as Float64Array), privateData(kv.kt.data as Float64Array), privateData(kv.vt.data as Float64Array),
        plan.thresholds, privateData(dt.data as Float64Array), dq, dk, dv, p));
    } catch (e) {
      throw fromNative(e, site);
    }
    return { dq: { data: dq, shape: qt.shape.slice() }, dk: { data: dk, shape: kv.kt.shape.slice() }, dv: { data: dv, shape: kv.kt.shape.slice() } };
  }
  const index = await keyIndex(kv.kt, kv.vt, opts.index as KeyIndexOptions);
  try {
    const g = await index.backward(qt, dt, opts.attend as AttendOptions);
    return { dq: g.dq, dk: g.dk, dv: g.dv };
  } finally {
    index.dispose();
  }
}
