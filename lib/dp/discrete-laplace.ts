/**
 * Exact discrete Laplace noise: P(Z = z) ∝ exp(−|z|/λ) on the integers, λ = t/s rational.
 *
 * The sampler is Canonne–Kamath–Steinke 2020 (Algorithms 1–2; spec dp-kde-l1.md §4.9) in
 * integer arithmetic only: every decision is a comparison of uniform integers drawn from
 * random bits (lib/dp/random.ts), so the output distribution is exactly the discrete Laplace
 * distribution — no floating-point logarithm, no Math.random, and the set of possible outputs
 * is all of ℤ whatever the input (the Mironov 2012 attack on textbook float Laplace does not
 * apply).
 *
 * Scales are rationals t/s with 1 ≤ s, t ≤ 2^45. A scale that is not exactly representable so
 * (e.g. Δ/ε for ε = 0.1, whose double is m/2^56) is rounded UP to the nearest t/2^k, which only
 * adds noise: the privacy guarantee holds for the requested ε.
 */
import { LemmaError } from '../errors.js';
import { RandomSource, randomSourceFromOptions } from './random.js';
import { checkInteger, checkNumber, checkOptions } from '../validation/index.js';
import { checkKnownKeys } from '../validation/options.js';

/** The largest numerator or denominator of a scale (keeps U + t·V inside safe integers). */
export const MAX_SCALE_PART = 2 ** 45;
/** The largest scale accepted. */
export const MAX_SCALE = MAX_SCALE_PART;

/** A rational scale t/s (both positive safe integers ≤ 2^45). */
export interface RationalScale {
  t: number;
  s: number;
}

const TWO52 = 2n ** 52n;

/** The exact rational value of a finite positive double, as num/den (den a power of two). */
export function doubleToRational(x: number): { num: bigint; den: bigint } {
  if (!(x > 0) || !Number.isFinite(x)) throw new RangeError(`doubleToRational: ${x} is not a finite positive number`);
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const expBits = Number((bits >> 52n) & 0x7ffn);
  const frac = bits & (TWO52 - 1n);
  const mant = expBits === 0 ? frac : frac | TWO52;
  const exp = (expBits === 0 ? 1 : expBits) - 1075; // x = mant · 2^exp
  return exp >= 0 ? { num: mant << BigInt(exp), den: 1n } : reduce(mant, 1n << BigInt(-exp));
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

function reduce(num: bigint, den: bigint): { num: bigint; den: bigint } {
  const g = gcd(num, den);
  return { num: num / g, den: den / g };
}

/**
 * The scale num/den as t/s with t, s ≤ 2^45: exact when it fits, otherwise rounded up to
 * ⌈(num/den)·2^k⌉ / 2^k for the largest k that fits. Throws RangeError when num/den > 2^45.
 */
export function rationalScale(num: bigint, den: bigint): RationalScale & { exact: boolean } {
  if (num <= 0n || den <= 0n) throw new RangeError('rationalScale: num and den must be positive');
  ({ num, den } = reduce(num, den));
  const max = BigInt(MAX_SCALE_PART);
  if (num <= max && den <= max) return { t: Number(num), s: Number(den), exact: true };
  if (num > max * den) throw new RangeError(`the noise scale ${Number(num) / Number(den)} exceeds the largest supported scale 2^45`);
  // Largest k with ⌈num·2^k/den⌉ ≤ 2^45 and 2^k ≤ 2^45.
  let k = 45;
  const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;
  while (k > 0 && ceilDiv(num << BigInt(k), den) > max) k--;
  const t = ceilDiv(num << BigInt(k), den);
  const r = reduce(t, 1n << BigInt(k));
  return { t: Number(r.num), s: Number(r.den), exact: false };
}

/** The rational scale for a double λ > 0 (exact when it fits, else rounded up). */
export function scaleFromNumber(lambda: number): RationalScale & { exact: boolean } {
  const { num, den } = doubleToRational(lambda);
  return rationalScale(num, den);
}

/** Var(Z) = 2p/(1 − p)² with p = e^{−s/t}. */
export function discreteLaplaceVariance(scale: RationalScale): number {
  const a = scale.s / scale.t;
  const oneMinusP = -Math.expm1(-a);
  return (2 * Math.exp(-a)) / (oneMinusP * oneMinusP);
}

/** P(Z = z) = (1 − p)/(1 + p) · p^|z| with p = e^{−s/t} (for tests and docs; fp64). */
export function discreteLaplacePmf(scale: RationalScale, z: number): number {
  const a = scale.s / scale.t;
  const p = Math.exp(-a);
  return (-Math.expm1(-a) / (1 + p)) * Math.exp(-a * Math.abs(z));
}

/**
 * CKS20 discrete Laplace sampler for one rational scale t/s, bound to a random source.
 * Hot path of the noise: everything is integer comparisons on fresh random bits.
 */
export class DiscreteLaplaceSampler {
  readonly t: number;
  readonly s: number;
  private readonly rng: RandomSource;
  private readonly tq: number; // ⌊t/s⌋
  private readonly tr: number; // t mod s

  constructor(scale: RationalScale, rng: RandomSource) {
    const { t, s } = scale;
    if (!Number.isSafeInteger(t) || !Number.isSafeInteger(s) || t < 1 || s < 1 || t > MAX_SCALE_PART || s > MAX_SCALE_PART) {
      throw new RangeError(`DiscreteLaplaceSampler: t = ${t}, s = ${s} must be integers in [1, 2^45]`);
    }
    this.t = t;
    this.s = s;
    this.rng = rng;
    this.tq = Math.floor(t / s);
    this.tr = t - this.tq * s;
  }

  /** Bernoulli(exp(−u/t)) for an integer 0 ≤ u < t (CKS Alg. 1 on γ ∈ [0, 1)). */
  private bernExpNegFrac(u: number): boolean {
    if (u === 0) return true;
    const rng = this.rng;
    const t = this.t;
    // K = 1: Bernoulli(u/t).
    if (rng.below(t) >= u) return true; // stopped at K = 1 (odd)
    let K = 2;
    // Bernoulli(γ/K) = Bernoulli(1/K) ∧ Bernoulli(u/t): two independent exact draws.
    while (rng.below(K) === 0 && rng.below(t) < u) K++;
    return (K & 1) === 1;
  }

  /** Bernoulli(exp(−1)) (CKS Alg. 1 on γ = 1: the K = 1 step always succeeds). */
  private bernExpNegOne(): boolean {
    const rng = this.rng;
    let K = 2;
    while (rng.below(K) === 0) K++;
    return (K & 1) === 1;
  }

  /** ⌊(U + t·V)/s⌋ exactly. */
  private quotient(U: number, V: number): number {
    if (this.s === 1) {
      if (V < 256) return U + this.t * V; // < 2^53
    } else if (V < 256) {
      const a = V * this.tr + U; // < 2^53
      const b = this.s;
      let q = Math.floor(a / b);
      const r = a - q * b; // exact: q·b ≤ a + b < 2^53
      if (r < 0) q--;
      else if (r >= b) q++;
      return V * this.tq + q;
    }
    // V ≥ 256 happens with probability e^{−256}; kept exact anyway.
    const y = (BigInt(U) + BigInt(this.t) * BigInt(V)) / BigInt(this.s);
    return Number(y);
  }

  /** One draw: P(Z = z) ∝ exp(−s|z|/t) (CKS Alg. 2). */
  sample(): number {
    const rng = this.rng;
    const t = this.t;
    for (;;) {
      const U = rng.below(t);
      if (!this.bernExpNegFrac(U)) continue;
      let V = 0;
      while (this.bernExpNegOne()) V++;
      const Y = this.quotient(U, V);
      const B = rng.bit();
      if (B === 1 && Y === 0) continue;
      return B === 1 ? -Y : Y;
    }
  }

  /** Writes draws into out[start..end). */
  fill(out: Float64Array, start = 0, end = out.length): void {
    for (let i = start; i < end; i++) out[i] = this.sample();
  }

  /** Adds one independent draw to each of out[start..end) (in place). */
  addTo(out: Float64Array, start = 0, end = out.length): void {
    for (let i = start; i < end; i++) out[i] += this.sample();
  }
}

/**
 * Draws `count` independent exact discrete Laplace samples, P(Z = z) ∝ exp(−|z|/scale), from the
 * OS CSPRNG (crypto random bytes drawn in 64 KiB blocks). Synchronous: about a million draws
 * per second in one thread (see bench/node/dp.bench.ts), so keep a single call modest.
 * @param scale λ > 0, at most 2^45. The double is taken as the exact rational it represents;
 *   if its numerator or denominator exceeds 2^45 it is rounded up to the nearest t/2^k
 *   (never less noise than asked).
 * @param count number of draws, 0 to 2^32 − 1.
 * @param options `{ seed, insecureDeterministic: true }` makes the stream reproducible
 *   (AES-256-CTR keyed by the seed) — for tests only; a seed without the flag is refused.
 * @returns a Float64Array of integers (exact).
 * @throws TypeError / RangeError for bad arguments; LemmaError ERR_OOM when `count` draws cannot be allocated.
 * @example
 * const noise = lemma.dp.discreteLaplace(2.5, 1000);
 */
export function discreteLaplace(scale: number, count: number, options?: { seed?: number | string | Uint8Array; insecureDeterministic?: boolean }): Float64Array {
  checkNumber(scale, 'scale', { min: 0, max: MAX_SCALE, exclusiveMin: true });
  checkInteger(count, 'count', 0, 2 ** 32 - 1);
  const opts = checkOptions(options, 'options');
  checkKnownKeys(opts, 'options', ['seed', 'insecureDeterministic']);
  const rng = randomSourceFromOptions(opts, 'options');
  const sampler = new DiscreteLaplaceSampler(scaleFromNumber(scale), rng);
  let out: Float64Array;
  try {
    out = new Float64Array(count);
  } catch {
    throw new LemmaError('ERR_OOM', `cannot allocate ${count} draws (${count * 8} bytes); draw fewer at a time`);
  }
  sampler.fill(out);
  return out;
}
