/**
 * Log-concave targets π ∝ exp(−f) for lemma.sample.dikin (spec: shared/specs/dikin-walk.md §3.1).
 * Each target carries the scale L that sets the soft-threshold term η = 1/(d·L²) of the metric
 * Φ = H/α + I/η: L is the Lipschitz constant of f when f has one (linear: ‖c‖₂), and for targets
 * whose gradient is unbounded (Gaussian, logistic with its Gaussian prior) it is
 * √λmax(∇²f), the gradient's size one standard deviation away from the mode along the stiffest
 * direction. The Metropolis filter keeps π exact for any η > 0; L only tunes the step.
 */
import { LemmaError } from '../errors.js';
import { expected, checkNumber, checkOptions, is } from '../validation/index.js';
import { checkKnownKeys } from '../validation/options.js';
import { isPositiveDefinite, largestEigenvalue, readDense, readVector } from '../polytope/matrix.js';
import type { MatrixInput, VectorInput } from '../polytope/matrix.js';
import type { NativeTargetSpec } from '../binding.js';
import type { Tensor } from '../tensor.js';

const TOKEN = Symbol('lemma.sample.target');

/** f for a batch of points: points.data is [C, d] row-major; return C values of f (+Infinity: zero density). */
export type BatchFunction = (points: Tensor<Float64Array>) => ArrayLike<number> | Promise<ArrayLike<number>>;

/**
 * A target density π ∝ exp(−f) for `lemma.sample.dikin`, made by `uniform()`, `linear(c)`,
 * `gaussian(mean, precision)`, `logistic(X, y, priorScale)` or `callback(fn, { lipschitz })`;
 * not constructed directly.
 */
export class Target {
  /** @internal */ readonly spec: NativeTargetSpec;
  /** 'uniform' | 'linear' | 'gaussian' | 'logistic' | 'callback' */
  readonly kind: NativeTargetSpec['kind'];
  /** Dimension the target needs (undefined: any). */
  readonly dim: number | undefined;
  /** L used for η = 1/(d·L²); 0 drops the η term. */
  readonly lipschitz: number;
  /** @internal */ readonly fn: BatchFunction | undefined;

  /** @internal use the factory functions. */
  constructor(token: symbol, spec: NativeTargetSpec, dim: number | undefined, lipschitz: number, fn?: BatchFunction) {
    if (token !== TOKEN) throw new TypeError('use lemma.sample.uniform() / linear() / gaussian() / logistic() / callback()');
    this.spec = spec;
    this.kind = spec.kind;
    this.dim = dim;
    this.lipschitz = lipschitz;
    this.fn = fn;
  }
}

/**
 * The uniform distribution on the body (f = 0, L = 0: the η term vanishes, Φ = H/α).
 * @example
 * const r = await lemma.sample.dikin(body, lemma.sample.uniform());
 */
export function uniform(): Target {
  return new Target(TOKEN, { kind: 'uniform' }, undefined, 0);
}

/**
 * The exponential tilt π ∝ exp(−cᵀx); L = ‖c‖₂.
 * @param c d numbers
 * @throws TypeError / RangeError for a bad c
 * @example
 * lemma.sample.linear([1, -2, 3]);
 */
export function linear(c: VectorInput): Target {
  const cv = readVector(c, 'c');
  if (cv.length === 0) throw new RangeError(expected('at least one entry', 'c', c));
  let n = 0;
  for (const v of cv) n += v * v;
  return new Target(TOKEN, { kind: 'linear', c: cv }, cv.length, Math.sqrt(n));
}

/**
 * A Gaussian restricted to the body: f = ½(x − μ)ᵀP(x − μ); L = √λmax(P).
 * @param mean μ, d numbers
 * @param precision P: a positive number (P = p·I) or a symmetric positive-definite d×d matrix
 * @throws TypeError / RangeError / LemmaError ERR_SHAPE for bad arguments
 * @example
 * lemma.sample.gaussian([0, 0], 4);
 */
export function gaussian(mean: VectorInput, precision: number | MatrixInput): Target {
  const mu = readVector(mean, 'mean');
  const d = mu.length;
  if (d === 0) throw new RangeError(expected('at least one entry', 'mean', mean));
  let P: Float64Array;
  if (typeof precision === 'number') {
    checkNumber(precision, 'precision', { min: 0, exclusiveMin: true });
    P = new Float64Array(d * d);
    for (let i = 0; i < d; i++) P[i * d + i] = precision;
  } else {
    const m = readDense(precision, 'precision');
    // Mismatched sizes are ERR_SHAPE in every family.
    if (m.M !== d || m.d !== d) throw new LemmaError('ERR_SHAPE', expected(`a ${d}×${d} matrix (d from mean)`, 'precision', precision));
    P = m.data;
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < i; j++) {
        if (Math.abs(P[i * d + j] - P[j * d + i]) > 1e-12 * (Math.abs(P[i * d + j]) + Math.abs(P[j * d + i]))) {
          throw new RangeError(expected('a symmetric matrix', 'precision', precision));
        }
      }
    }
    if (!isPositiveDefinite(P, d)) throw new RangeError(expected('a positive-definite matrix', 'precision', precision));
  }
  return new Target(TOKEN, { kind: 'gaussian', mean: mu, precision: P }, d, Math.sqrt(largestEigenvalue(P, d)));
}

/**
 * The posterior of Bayesian logistic regression restricted to the body:
 * f(θ) = Σⱼ log(1 + exp(−yⱼ xⱼᵀθ)) + ‖θ‖²/(2σ²); L = √λmax(XᵀX/4 + I/σ²).
 * @param X [n, d] covariates
 * @param y n labels in {0, 1} or {−1, +1}
 * @param priorScale σ > 0 of the N(0, σ²I) prior (Infinity: flat prior)
 * @throws TypeError / RangeError / LemmaError ERR_SHAPE for bad arguments
 * @example
 * lemma.sample.logistic(X, y, 10);
 */
export function logistic(X: MatrixInput, y: VectorInput, priorScale: number): Target {
  const m = readDense(X, 'X');
  const yv = readVector(y, 'y', m.M);
  const zeroOne = yv.every((v) => v === 0 || v === 1);
  for (let i = 0; i < yv.length; i++) {
    if (zeroOne) yv[i] = yv[i] === 1 ? 1 : -1;
    else if (yv[i] !== 1 && yv[i] !== -1) throw new RangeError(expected('a label in {0, 1} or {-1, 1}', `y[${i}]`, yv[i]));
  }
  if (typeof priorScale !== 'number') throw new TypeError(expected('a positive number (Infinity: flat prior)', 'priorScale', priorScale));
  if (!(priorScale > 0) || Number.isNaN(priorScale)) throw new RangeError(expected('a positive number (Infinity: flat prior)', 'priorScale', priorScale));
  const prec = 1 / (priorScale * priorScale);
  const d = m.d;
  const S = new Float64Array(d * d);
  for (let k = 0; k < m.M; k++)
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) S[i * d + j] += 0.25 * m.data[k * d + i] * m.data[k * d + j];
  for (let i = 0; i < d; i++) S[i * d + i] += prec;
  return new Target(TOKEN, { kind: 'logistic', X: m.data, y: yv, nobs: m.M, priorPrecision: prec }, d, Math.sqrt(largestEigenvalue(S, d)));
}

export interface CallbackOptions {
  /** Lipschitz constant L of f (sets η = 1/(d·L²); 0 drops the η term). Required. */
  lipschitz: number;
}

/**
 * A user-supplied f, called once per step with the points of all chains:
 * `fn({ data, shape: [C, d] })` returns C values (sync or as a Promise); +Infinity means zero
 * density (the move is rejected), NaN is an error. Rows of chains that need no value this step
 * hold their current point; their values are ignored.
 * @param fn the batch function
 * @param options `{ lipschitz }`
 * @throws TypeError / RangeError for bad arguments
 * @example
 * lemma.sample.callback((p) => { const f = new Float64Array(p.shape[0]); ...; return f; }, { lipschitz: 2 });
 */
export function callback(fn: BatchFunction, options: CallbackOptions): Target {
  if (typeof fn !== 'function') throw new TypeError(expected('a function', 'fn', fn));
  const o = checkOptions(options, 'options');
  checkKnownKeys(o, 'options', ['lipschitz']);
  if (!is.defined(o.lipschitz)) throw new TypeError(expected('a finite number at least 0', 'options.lipschitz', o.lipschitz));
  const L = checkNumber(o.lipschitz, 'options.lipschitz', { min: 0 });
  return new Target(TOKEN, { kind: 'callback' }, undefined, L, fn);
}

/** Throws TypeError unless `value` is a Target. */
export function checkTarget(value: unknown, name: string): Target {
  if (!(value instanceof Target)) throw new TypeError(expected('a target from lemma.sample.uniform() / linear() / gaussian() / logistic() / callback()', name, value));
  return value;
}
