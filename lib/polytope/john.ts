/**
 * Lewis weights and the John ellipsoid (specs: shared/specs/dikin-walk.md §3.4,
 * shared/specs/john-ellipsoid.md §5.2–5.5).
 */
import { LemmaError, fromNative } from '../errors.js';
import { native } from '../binding.js';
import { cpuOnly } from '../device.js';
import { LONG_WORK_OPTIONS, checkLongWork, runLong } from '../long-work.js';
import type { LongWorkOptions } from '../long-work.js';
import type { Device } from '../device.js';
import type { Tensor } from '../tensor.js';
import { checkInteger, checkNumber, checkOneOf, checkOptions, expected } from '../validation/index.js';
import { checkKnownKeys } from '../validation/options.js';
import { checkBody } from './body.js';
import type { ConvexBody } from './body.js';
import { readDense, readVector } from './matrix.js';
import type { MatrixInput, VectorInput } from './matrix.js';

export interface LewisOptions extends LongWorkOptions {
  /** p > 0 (finite). Default ⌈log₂ M⌉ + 1, the Lee–Sidford choice of spec §3.8. */
  p?: number;
  /** Stop when maxᵢ |log Tᵢ(w) − log wᵢ| ≤ tolerance. Default 1e-10. */
  tolerance?: number;
  /** Iteration cap. Default 10000. */
  maxIterations?: number;
  /** 'auto' (default) or 'cpu'; 'cuda' is ERR_CUDA_UNAVAILABLE (no CUDA path). */
  device?: Device;
}

export interface LewisResult {
  /** M weights; Σw = d at the fixed point. */
  weights: Float64Array;
  iterations: number;
  /** maxᵢ |log Tᵢ(w) − log wᵢ| at exit. */
  residual: number;
  converged: boolean;
  p: number;
  /** The CPU (Lewis weights have no CUDA path). */
  device: 'cpu';
}

/**
 * ℓp Lewis weights of A_x = S⁻¹A at an interior x of a polytope: the w > 0 with
 * wᵢ = (a_{x,i}ᵀ (A_xᵀ W^{1−2/p} A_x)⁻¹ a_{x,i})^{p/2} (p = 2: leverage scores). Damped
 * log-space fixed point with θ = min(1, 2/p), which contracts by 1 − 2/p for p ≥ 2.
 * @param body a polytope
 * @param x an interior point (d numbers)
 * @param options p, tolerance, maxIterations
 * @returns Promise of `{ weights [M], iterations, residual, converged, p }`
 * @throws TypeError / RangeError for bad arguments (x outside: RangeError); LemmaError
 *   ERR_INFEASIBLE when A has rank < d, ERR_DISPOSED
 * @example
 * const { weights } = await lemma.polytope.lewisWeights(body, center, { p: 4 });
 */
export async function lewisWeights(body: ConvexBody, x: VectorInput, options?: LewisOptions): Promise<LewisResult> {
  const site = new Error();
  const b = checkBody(body, 'body');
  if (b.kind !== 'polytope') throw new TypeError(expected('a polytope (Lewis weights are defined for polytopes)', 'body', 'a spectrahedron'));
  const xv = readVector(x, 'x', b.dim);
  const o = checkOptions(options, 'options');
  checkKnownKeys(o, 'options', ['p', 'tolerance', 'maxIterations', 'device', ...LONG_WORK_OPTIONS]);
  const work = checkLongWork(o);
  const device = cpuOnly(o.device, 'options.device', 'Lewis weights have no CUDA path');
  const p = o.p === undefined ? Math.ceil(Math.log2(b.constraints)) + 1 : checkNumber(o.p, 'options.p', { min: 0, max: 1e6, exclusiveMin: true });
  const tol = o.tolerance === undefined ? 1e-10 : checkNumber(o.tolerance, 'options.tolerance', { min: 0, max: 1, exclusiveMin: true });
  const maxIter = o.maxIterations === undefined ? 10000 : checkInteger(o.maxIterations, 'options.maxIterations', 1, 1e7);
  const why = b.whyOutside(xv, 'x');
  if (why !== '') throw new RangeError(expected(`a point in the interior of the body (${why})`, 'x', x));
  try {
    const r = await runLong('lemma.polytope.lewisWeights', work, () => native.polytopeLewisWeights(b.handle(), xv, p, tol, maxIter));
    return { ...r, p, device };
  } catch (e) {
    throw fromNative(e, site);
  }
}

export interface JohnOptions extends LongWorkOptions {
  /** Accuracy ε > 0: max τ ≤ 1 + ε (exact) or (1 + ε)² (sketch). Default 0.1. */
  epsilon?: number;
  /** 'exact' (Cholesky quadratic forms, default) or 'sketch' (Gaussian JL, s = sketchSize). */
  leverage?: 'exact' | 'sketch';
  /** Rows of the Gaussian sketch. Default 32. */
  sketchSize?: number;
  /** Seed of the sketch. Default 0. */
  seed?: number;
  /** Override T = ⌈ln(M/d)/ln(1+ε)⌉. */
  maxIterations?: number;
  /** 'auto' (default) or 'cpu'; 'cuda' is ERR_CUDA_UNAVAILABLE (no CUDA path). */
  device?: Device;
}

export interface JohnReport {
  /** Σwᵢ (= d up to rounding). */
  sumWeights: number;
  /** maxⱼ τⱼ(w) = aⱼᵀQ⁻¹aⱼ, computed exactly. */
  maxTau: number;
  /** The bound the run promises: 1 + ε (exact) or (1 + ε)² (sketch). */
  tolerance: number;
  /** |Σw − d| ≤ 1e-9·d and maxTau ≤ tolerance. */
  ok: boolean;
  /** max over wⱼ > 1e-6·max w of |τⱼ − 1| (0 at the optimum). */
  complementarySlackness: number;
  /** log det Q* − log det Q ≤ d·log(maxTau). */
  gapBound: number;
  /** log det Q. */
  logDet: number;
}

export interface JohnResult {
  /** M weights w ≥ 0 (the averaged iterates). */
  weights: Float64Array;
  /** [d, d]: Q = Aᵀdiag(w)A; the ellipsoid is {x : xᵀQx ≤ 1}, and (1/√maxTau)·E ⊆ P ⊆ √d·E. */
  matrix: Tensor<Float64Array>;
  iterations: number;
  report: JohnReport;
  /** The CPU (the John ellipsoid has no CUDA path). */
  device: 'cpu';
}

/**
 * The John ellipsoid of the symmetric polytope {x : ‖Ax‖∞ ≤ 1} by the Cohen–Cousins–Lee–Yang
 * fixed point wᵢ ← wᵢ·τᵢ(w) from w = d/M, averaged over T = ⌈ln(M/d)/ln(1+ε)⌉ iterations
 * (spec §5.2), with exact or sketched quadratic forms (§5.5).
 * @param A [M, d] of rank d (tensor, array of rows, or CSR)
 * @param options epsilon, leverage, sketchSize, seed, maxIterations
 * @returns Promise of `{ weights [M], matrix [d, d], iterations, report, device }`
 * @throws TypeError / RangeError for bad arguments; LemmaError ERR_INFEASIBLE when A has rank
 *   < d (the body is unbounded)
 * @example
 * const { matrix, report } = await lemma.polytope.johnEllipsoid(A, { epsilon: 0.1 });
 * console.log(report.maxTau <= 1.1);
 */
export async function johnEllipsoid(A: MatrixInput, options?: JohnOptions): Promise<JohnResult> {
  const site = new Error();
  const m = readDense(A, 'A');
  const o = checkOptions(options, 'options');
  checkKnownKeys(o, 'options', ['epsilon', 'leverage', 'sketchSize', 'seed', 'maxIterations', 'device', ...LONG_WORK_OPTIONS]);
  const work = checkLongWork(o);
  const device = cpuOnly(o.device, 'options.device', 'the John ellipsoid has no CUDA path');
  const epsilon = o.epsilon === undefined ? 0.1 : checkNumber(o.epsilon, 'options.epsilon', { min: 0, max: 1e3, exclusiveMin: true });
  const leverage = checkOneOf(o.leverage ?? 'exact', 'options.leverage', ['exact', 'sketch'] as const);
  const sketchSize = o.sketchSize === undefined ? 32 : checkInteger(o.sketchSize, 'options.sketchSize', 1, 100000);
  const seed = o.seed === undefined ? 0 : checkInteger(o.seed, 'options.seed', 0, Number.MAX_SAFE_INTEGER);
  const maxIterations = o.maxIterations === undefined ? 0 : checkInteger(o.maxIterations, 'options.maxIterations', 1, 1e7);
  if (m.M < m.d) throw new LemmaError('ERR_INFEASIBLE', `A has fewer rows than columns (M = ${m.M} < d = ${m.d}): the body {|Ax| <= 1} is unbounded`);
  try {
    const r = await runLong('lemma.polytope.johnEllipsoid', work,
      () => native.johnEllipsoid(m.data, m.M, m.d, { epsilon, sketch: leverage === 'sketch', sketchSize, seed, maxIterations }));
    const tolerance = leverage === 'sketch' ? (1 + epsilon) ** 2 : 1 + epsilon;
    const report: JohnReport = {
      sumWeights: r.sumWeights,
      maxTau: r.maxTau,
      tolerance,
      ok: Math.abs(r.sumWeights - m.d) <= 1e-9 * m.d && r.maxTau <= tolerance,
      complementarySlackness: r.complementary,
      gapBound: m.d * Math.log(Math.max(r.maxTau, 1)),
      logDet: r.logDet,
    };
    return { weights: r.weights, matrix: { data: r.Q, shape: [m.d, m.d] }, iterations: r.iterations, report, device };
  } catch (e) {
    throw fromNative(e, site);
  }
}
