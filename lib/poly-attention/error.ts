/**
 * Accuracy of polynomial attention against lemma's exact softmax attention (the fp64 oracle) on
 * the same inputs: relative Frobenius and max errors of out, dq, dk, dv, and the measured beta.
 */
import { fromNative } from '../errors.js';
import * as attention from '../attention/attention.js';
import type { FloatArray } from '../binding.js';
import { normals } from '../random.js';
import { checkTensor } from '../tensor.js';
import type { Tensor } from '../tensor.js';
import { checkInteger, checkOptions } from '../validation/index.js';
import { checkKnownKeys } from '../validation/options.js';
import { backward, forward } from './attention.js';
import type { PolyAttentionOptions } from './attention.js';

export interface ErrorMeasure {
  /** ‖x − exact‖_F / ‖exact‖_F (0 when both vanish). */
  relFrobenius: number;
  /** max |x − exact| (the paper's entry-wise metric). */
  maxAbs: number;
}

export interface PolyErrorResult {
  out: ErrorMeasure;
  dq: ErrorMeasure;
  dk: ErrorMeasure;
  dv: ErrorMeasure;
  /** Measured max |scale·q_i·k_j| over the visible pairs. */
  beta: number;
  /** The certified bound forward() uses (scale · max‖q‖ · max‖k‖). */
  betaBound: number;
  degree: number;
  /** The seed of the random dOut (when none was passed). */
  seed: number;
}

export interface PolyErrorOptions extends PolyAttentionOptions {
  /** Upstream gradient [B, Hq, Nq, D]; default N(0, 1) entries from `seed`. */
  dOut?: Tensor;
  /** Seed of the default dOut. Default 0. */
  seed?: number;
}

function measure(x: FloatArray, ref: Float64Array): ErrorMeasure {
  let num = 0;
  let den = 0;
  let maxAbs = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = x[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
    maxAbs = Math.max(maxAbs, Math.abs(d));
  }
  return { relFrobenius: den > 0 ? Math.sqrt(num / den) : Math.sqrt(num), maxAbs };
}

/** N(0, 1) entries from the seeded stream of lib/random.ts. */
function gaussian(n: number, seed: number): Float64Array {
  const next = normals(seed);
  return Float64Array.from({ length: n }, next);
}

function measuredBeta(q: Float64Array, k: Float64Array, shape: number[], kShape: number[], scale: number, causal: boolean): number {
  const [B, Hq, Nq, D] = shape;
  const [, Hkv, Nk] = kShape;
  const group = Hq / Hkv;
  let beta = 0;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const qo = (b * Hq + h) * Nq * D;
      const ko = (b * Hkv + Math.floor(h / group)) * Nk * D;
      for (let i = 0; i < Nq; i++) {
        const last = causal ? Math.min(Nk - 1, i + Nk - Nq) : Nk - 1;
        for (let j = 0; j <= last; j++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += q[qo + i * D + d] * k[ko + j * D + d];
          beta = Math.max(beta, Math.abs(s));
        }
      }
    }
  }
  return beta * scale;
}

/**
 * Errors of polynomial attention (forward and gradients) against exact softmax attention,
 * computed by lemma's fp64 attention oracle on the same inputs. Costs O(N² D) (the exact side).
 * @param q [B, Hq, Nq, D], k and v [B, Hkv, Nk, D] (Float32Array: the poly side runs in fp32)
 * @param options the forward's options plus `dOut` (default N(0, 1) from `seed`) and `seed`
 * @returns `{ out, dq, dk, dv: { relFrobenius, maxAbs }, beta, betaBound, degree, seed }`
 * @throws as {@link forward}
 * @example
 * const e = await lemma.polyAttention.error(q, k, v, { degree: 4, causal: true });
 * console.log(e.dq.relFrobenius, e.beta);
 */
export async function error(q: Tensor, k: Tensor, v: Tensor, options?: PolyErrorOptions): Promise<PolyErrorResult> {
  const site = new Error();
  try {
    const opts = checkOptions(options, 'options');
    checkKnownKeys(opts, 'options', ['degree', 'tolerance', 'scale', 'causal', 'maxBeta', 'chunk', 'device', 'dOut', 'seed']);
    const { dOut, seed: seedOpt, ...polyOpts } = opts as PolyErrorOptions;
    const seed = seedOpt === undefined ? 0 : checkInteger(seedOpt, 'options.seed', 0, Number.MAX_SAFE_INTEGER);
    const fwd = await forward(q, k, v, polyOpts);
    const p = fwd.ctx.params;
    const g = dOut === undefined ? gaussian(p.B * p.Hq * p.Nq * p.D, seed) : Float64Array.from(checkTensor(dOut, 'options.dOut').data);
    const gPoly = q.data instanceof Float64Array ? g : Float32Array.from(g);
    const bwd = await backward(fwd.ctx, { data: gPoly, shape: q.shape.slice() });
    const wide = (t: Tensor): Tensor<Float64Array> => ({ data: Float64Array.from(t.data), shape: t.shape.slice() });
    const [q64, k64, v64] = [wide(q), wide(k), wide(v)];
    const exactOpts = { scale: p.scale, causal: p.causal };
    const ex = await attention.forward(q64, k64, v64, exactOpts);
    const exg = await attention.backward({ q: q64, k: k64, v: v64, out: ex.out, lse: ex.lse, dOut: { data: g, shape: q.shape.slice() } }, exactOpts);
    return {
      out: measure(fwd.out.data, ex.out.data as Float64Array),
      dq: measure(bwd.dq.data, exg.dq.data as Float64Array),
      dk: measure(bwd.dk.data, exg.dk.data as Float64Array),
      dv: measure(bwd.dv.data, exg.dv.data as Float64Array),
      beta: measuredBeta(q64.data, k64.data, q.shape, k.shape, p.scale, p.causal),
      betaBound: fwd.beta,
      degree: p.degree,
      seed,
    };
  } catch (e) {
    throw fromNative(e, site);
  }
}
