/**
 * Polynomial attention: exp(scale·q·k) replaced by its even-degree Taylor polynomial
 * κ_g(x) = Σ_{t≤g} x^t / t!, written as a feature inner product φ(q)·φ(k) so that attention and
 * its gradients cost O(N·r·D) instead of O(N²·D) (arXiv 2408.13233; r = C(D + g, g) features,
 * one per monomial). Float32Array tensors run the fast path (fp32 features and GEMMs, SIMD chosen
 * at run time, threads over heads); Float64Array tensors run the same chunked algorithm in fp64.
 * See native/poly_attention/poly_attention.h.
 */
import { LemmaError, fromNative } from '../errors.js';
import { native } from '../binding.js';
import type { FloatArray, NativePolyAttentionParams } from '../binding.js';
import { cpuOnly } from '../device.js';
import { LONG_WORK_OPTIONS, checkLongWork, runLong } from '../long-work.js';
import type { LongWork, LongWorkOptions } from '../long-work.js';
import type { Device } from '../device.js';
import { isDeviceTensor } from '../cuda/device-tensor.js';
import { checkQkvShapes, sameDtype, sameShape } from '../attention/attention.js';
import { checkTensor, privateData, zerosLike } from '../tensor.js';
import type { Tensor } from '../tensor.js';
import { checkBoolean, checkFinite, checkInteger, checkNumber, checkOptions, expected } from '../validation/index.js';
import { checkKnownKeys } from '../validation/options.js';

/** The largest degree offered (the feature count grows as D^g / g!). */
export const MAX_DEGREE = 12;
/** The fast path's feature limit (its state is r·D numbers per thread). */
export const MAX_FEATURES = 2 ** 16;

export interface PolyAttentionOptions extends LongWorkOptions {
  /** Even Taylor degree g in [2, 12], or 'auto': the smallest even g whose worst-case bound meets `tolerance`. Default 2. */
  degree?: number | 'auto';
  /** With degree 'auto': the bound on the kernel's relative error per entry. Default 1e-3. */
  tolerance?: number;
  /** Score scale, > 0. Default 1/sqrt(D). (The paper's setting is 1/D.) */
  scale?: number;
  /** Causal mask, bottom-right aligned when Nq ≠ Nk (query i sees keys j ≤ i + Nk − Nq). Default false. */
  causal?: boolean;
  /**
   * Refuse (ERR_RANGE) when the certified bound beta on |scale·q·k| exceeds this: the Taylor
   * kernel then misweights the largest scores (degree 2 at x = −4 gives 5 instead of e^−4).
   * Default 6.
   */
  maxBeta?: number;
  /**
   * Rows per chunk of the causal scan, 8..256. Default 16: the masked C × C block costs C·r per
   * row against 2·r·D for the state, and 16 measured fastest for D = 16..64, degrees 2 and 4.
   */
  chunk?: number;
  /** 'auto' | 'cpu' (there is no CUDA kernel yet: 'cuda' is ERR_CUDA_UNAVAILABLE). Default 'auto'. */
  device?: Device;
}

const OPTION_NAMES = ['degree', 'tolerance', 'scale', 'causal', 'maxBeta', 'chunk', 'device', ...LONG_WORK_OPTIONS] as const;

/** What backward needs: the inputs, the output and the normalisers (features are recomputed). */
export interface PolyAttentionContext<A extends FloatArray = FloatArray> {
  readonly q: Tensor<A>;
  readonly k: Tensor<A>;
  readonly v: Tensor<A>;
  readonly out: Tensor<A>;
  /** c_i = Σ_j κ_g(scale q_i·k_j) over the visible keys, [B, Hq, Nq]. */
  readonly norm: Tensor<A>;
  readonly params: Readonly<NativePolyAttentionParams>;
}

export interface PolyForwardResult<A extends FloatArray = FloatArray> {
  /** [B, Hq, Nq, D], the inputs' dtype. */
  out: Tensor<A>;
  /** Pass to {@link backward}. */
  ctx: PolyAttentionContext<A>;
  /** Certified bound on max |scale·q_i·k_j|: scale · max_i ‖q_i‖ · max_j ‖k_j‖ over each head. */
  beta: number;
  /** The degree used (resolved when 'auto'). */
  degree: number;
  /** r = C(D + degree, degree). */
  features: number;
  /** Worst-case relative error of the kernel per entry at this beta: beta^(g+1) e^(2 beta) / (g+1)!. */
  kernelErrorBound: number;
  device: 'cpu';
}

export interface PolyBackwardResult<A extends FloatArray = FloatArray> {
  dq: Tensor<A>;
  dk: Tensor<A>;
  dv: Tensor<A>;
  device: 'cpu';
}

type Shape4 = [number, number, number, number];

function hostTensor(value: unknown, name: string): Tensor {
  if (isDeviceTensor(value)) {
    throw new LemmaError('ERR_CUDA_UNAVAILABLE', `polyAttention has no CUDA kernel yet: pass host tensors for ${name} (toHost())`);
  }
  return checkTensor(value, name);
}

/** Worst-case relative error of κ_g against exp on [−beta, beta]: beta^(g+1) e^(2 beta) / (g+1)!. */
export function kernelErrorBound(beta: number, degree: number): number {
  let f = 1;
  for (let t = 2; t <= degree + 1; t++) f *= t;
  return (beta ** (degree + 1) * Math.exp(2 * beta)) / f;
}

/** Feature count r = C(D + degree, degree) (−1 when over 2^62). */
export function featureCount(D: number, degree: number): number {
  return native.polyAttentionFeatures(D, degree);
}

/** scale · max‖q_i‖ · max‖k_j‖, per (batch, query head) against its kv head; the largest (not finite when q or k holds a non-finite value). */
function betaBound(q: Tensor, k: Tensor, scale: number): number {
  const [B, Hq, Nq, D] = q.shape as Shape4;
  const [, Hkv, Nk] = k.shape as Shape4;
  const maxNorms = (data: FloatArray, heads: number, n: number): Float64Array => {
    const out = new Float64Array(B * heads);
    for (let h = 0; h < B * heads; h++) {
      let m = 0;
      for (let i = 0; i < n; i++) {
        let s = 0;
        const o = (h * n + i) * D;
        for (let d = 0; d < D; d++) s += data[o + d] * data[o + d];
        m = Math.max(m, s);  // a NaN stays: the bound is then not finite
      }
      out[h] = Math.sqrt(m);
    }
    return out;
  };
  const qn = maxNorms(q.data, Hq, Nq);
  const kn = maxNorms(k.data, Hkv, Nk);
  const group = Hq / Hkv;
  let beta = 0;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) beta = Math.max(beta, qn[b * Hq + h] * kn[b * Hkv + Math.floor(h / group)]);
  }
  return beta * scale;
}

function chooseDegree(beta: number, tolerance: number, D: number): number {
  for (let g = 2; g <= MAX_DEGREE; g += 2) {
    if (kernelErrorBound(beta, g) > tolerance) continue;
    const r = featureCount(D, g);
    if (r < 0 || r > MAX_FEATURES) break;
    return g;
  }
  throw new LemmaError('ERR_RANGE', `degree 'auto': no even degree up to ${MAX_DEGREE} with at most ${MAX_FEATURES} features at D = ${D} meets tolerance ${tolerance} at beta = ${beta.toPrecision(4)} (a worst-case bound); pass an explicit degree or use lemma.attention`);
}

interface Plan {
  params: NativePolyAttentionParams;
  beta: number;
  features: number;
  work: LongWork;
}

function plan(q: Tensor, k: Tensor, v: Tensor, options: unknown): Plan {
  const { B, Hq, Hkv, Nq, Nk, D } = checkQkvShapes(q, k, v);
  const opts = checkOptions(options, 'options');
  checkKnownKeys(opts, 'options', OPTION_NAMES);
  cpuOnly(opts.device, 'options.device', 'polyAttention has no CUDA kernel yet');
  const causal = opts.causal === undefined ? false : checkBoolean(opts.causal, 'options.causal');
  const scale = opts.scale === undefined ? 1 / Math.sqrt(D) : checkNumber(opts.scale, 'options.scale', { min: 0, exclusiveMin: true });
  const maxBeta = opts.maxBeta === undefined ? 6 : checkNumber(opts.maxBeta, 'options.maxBeta', { min: 0, exclusiveMin: true });
  const chunk = opts.chunk === undefined ? 16 : checkInteger(opts.chunk, 'options.chunk', 8, 256);
  const tolerance = opts.tolerance === undefined ? 1e-3 : checkNumber(opts.tolerance, 'options.tolerance', { min: 0, max: 1, exclusiveMin: true });
  if (opts.tolerance !== undefined && opts.degree !== 'auto') {
    throw new RangeError(expected("degree 'auto' (tolerance applies only to it)", 'options.degree', opts.degree));
  }
  const beta = betaBound(q, k, scale);
  // One pass over q and k (the bound) and one over v; the culprit is searched only on failure.
  for (const [t, name] of [[q, 'q'], [k, 'k'], [v, 'v']] as const) {
    if (name !== 'v' && Number.isFinite(beta)) continue;
    checkFinite(t.data, name, t.shape);
  }
  if (beta > maxBeta) {
    throw new LemmaError('ERR_RANGE', `polyAttention: beta = ${beta.toPrecision(4)} (a certified bound on |scale·q·k|) exceeds maxBeta = ${maxBeta}: Taylor features misweight scores that large; use lemma.attention, a smaller scale, or raise maxBeta`);
  }
  let degree: number;
  if (opts.degree === 'auto') degree = chooseDegree(beta, tolerance, D);
  else {
    degree = opts.degree === undefined ? 2 : checkInteger(opts.degree, 'options.degree', 2, MAX_DEGREE);
    if (degree % 2 !== 0) throw new RangeError(expected("an even degree (odd Taylor polynomials of exp go negative) or 'auto'", 'options.degree', degree));
  }
  const features = featureCount(D, degree);
  if (features < 0 || features > MAX_FEATURES) {
    throw new LemmaError('ERR_RANGE', `polyAttention: degree ${degree} at D = ${D} needs ${features < 0 ? 'over 2^62' : features} features, more than the limit of ${MAX_FEATURES}; use a lower degree`);
  }
  return { params: { B, Hq, Hkv, Nq, Nk, D, scale, degree, causal, chunk }, beta, features, work: checkLongWork(opts) };
}

/**
 * Polynomial attention forward: out_i = Σ_j κ_g(scale q_i·k_j) v_j / Σ_j κ_g(scale q_i·k_j), in
 * O(N·r·D) time by chunked prefix sums over the features (no N × N matrix). Runs off the event
 * loop.
 * @param q [B, Hq, Nq, D] Float32Array (fast path) or Float64Array (same algorithm in fp64)
 * @param k [B, Hkv, Nk, D] with Hq a multiple of Hkv (grouped-query heads)
 * @param v [B, Hkv, Nk, D]
 * @param options degree, tolerance, scale, causal, maxBeta, chunk, device
 * @returns `{ out, ctx, beta, degree, features, kernelErrorBound, device: 'cpu' }`
 * @throws TypeError / RangeError for bad arguments; LemmaError ERR_SHAPE, ERR_DTYPE, ERR_RANGE
 *   (beta above maxBeta, too many features, no degree meets the tolerance), ERR_CUDA_UNAVAILABLE.
 * @example
 * const { out, ctx, beta } = await lemma.polyAttention.forward(q, k, v, { degree: 2, causal: true });
 * const { dq, dk, dv } = await lemma.polyAttention.backward(ctx, dOut);
 */
export async function forward<A extends FloatArray>(q: Tensor<A>, k: Tensor<A>, v: Tensor<A>, options?: PolyAttentionOptions): Promise<PolyForwardResult<A>> {
  const site = new Error();
  try {
    const names = ['q', 'k', 'v'];
    const ts = [q, k, v].map((t, i) => hostTensor(t, names[i]));
    const pl = plan(ts[0], ts[1], ts[2], options);
    sameDtype(ts, names);
    const p = pl.params;
    // Private copies (slice() also detaches a SharedArrayBuffer): backward reads these later, and
    // a caller may reuse its arrays.
    const [qd, kd, vd] = ts.map((t) => t.data.slice() as A);
    const out = zerosLike(qd, p.B * p.Hq * p.Nq * p.D) as A;
    const norm = zerosLike(qd, p.B * p.Hq * p.Nq) as A;
    await runLong('lemma.polyAttention.forward', pl.work, () => native.polyAttentionForward(qd, kd, vd, out, norm, p));
    const outT = { data: out, shape: ts[0].shape.slice() };
    const ctx: PolyAttentionContext<A> = Object.freeze({
      q: { data: qd, shape: ts[0].shape.slice() }, k: { data: kd, shape: ts[1].shape.slice() },
      v: { data: vd, shape: ts[2].shape.slice() }, out: { data: out.slice() as A, shape: ts[0].shape.slice() },
      norm: { data: norm, shape: ts[0].shape.slice(0, 3) }, params: Object.freeze({ ...p }),
    });
    CONTEXTS.add(ctx);
    return { out: outT, ctx, beta: pl.beta, degree: p.degree, features: pl.features, kernelErrorBound: kernelErrorBound(pl.beta, p.degree), device: 'cpu' };
  } catch (e) {
    throw fromNative(e, site);
  }
}

/** Contexts made by {@link forward}: backward takes no other (a copied or edited one is foreign). */
const CONTEXTS = new WeakSet<object>();

function checkContext(ctx: unknown): PolyAttentionContext {
  const c = checkOptions(ctx, 'ctx') as Partial<PolyAttentionContext>;
  if (!CONTEXTS.has(c) || !c.params || !c.q || !c.k || !c.v || !c.out || !c.norm) {
    throw new TypeError(expected('the ctx returned by polyAttention.forward', 'ctx', ctx));
  }
  return c as PolyAttentionContext;
}

/**
 * Gradients of polynomial attention: dq, dk, dv for the upstream gradient dOut, in O(N·r·D)
 * (a forward sweep for dq, a reverse sweep for dk and dv; features recomputed). Runs off the
 * event loop.
 * @param ctx from {@link forward}
 * @param dOut [B, Hq, Nq, D], the dtype of the forward's inputs
 * @param options signal, onProgress
 * @returns `{ dq [B, Hq, Nq, D], dk [B, Hkv, Nk, D], dv [B, Hkv, Nk, D], device: 'cpu' }`
 * @throws TypeError for a foreign ctx; LemmaError ERR_SHAPE, ERR_DTYPE.
 * @example
 * const { dq, dk, dv } = await lemma.polyAttention.backward(ctx, dOut);
 */
export async function backward<A extends FloatArray>(ctx: PolyAttentionContext<A>, dOut: Tensor<A>, options?: LongWorkOptions): Promise<PolyBackwardResult<A>> {
  const site = new Error();
  try {
    const c = checkContext(ctx);
    const g = hostTensor(dOut, 'dOut');
    const o = checkOptions(options, 'options');
    checkKnownKeys(o, 'options', LONG_WORK_OPTIONS);
    const work = checkLongWork(o);
    sameShape(g, c.q.shape, 'dOut', 'the shape of q');
    sameDtype([c.q, g], ['q', 'dOut']);
    const p = c.params;
    const dq = zerosLike(c.q.data, c.q.data.length) as A;
    const dk = zerosLike(c.q.data, c.k.data.length) as A;
    const dv = zerosLike(c.q.data, c.v.data.length) as A;
    await runLong('lemma.polyAttention.backward', work,
      () => native.polyAttentionBackward(c.q.data, c.k.data, c.v.data, c.out.data, c.norm.data, privateData(g.data), dq, dk, dv, p));
    return {
      dq: { data: dq, shape: c.q.shape.slice() }, dk: { data: dk, shape: c.k.shape.slice() },
      dv: { data: dv, shape: c.v.shape.slice() }, device: 'cpu',
    };
  } catch (e) {
    throw fromNative(e, site);
  }
}
