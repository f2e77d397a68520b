/**
 * Activations of the looped family and their range oracles: rigorous enclosures of g over an
 * interval and upper bounds of its Lipschitz constant there, the two facts a certificate needs.
 *
 * Directed rounding. JavaScript rounds every operation to nearest, so the exact result of an
 * operation lies within half an ulp of the computed one. `up(x) = x + |x|·2⁻⁵² + 2⁻¹⁰⁷⁴` is at
 * least the next double above x (|x|·2⁻⁵² is at least one ulp of x, and the sum cannot round back
 * to x), and `down` mirrors it. Applying them after each rounded operation yields an interval
 * that holds the exact result: the outward rounding an interval library gets from the FPU's
 * rounding modes, here one ulp or two wider and independent of compiler or engine settings.
 * Library functions (Math.tanh, Math.exp) are not correctly rounded; their results are widened
 * by 4 ulps (V8's fdlibm ports err by less than 1 ulp). erf, which JavaScript lacks, comes from
 * Abramowitz & Stegun 7.1.26, whose published error bound (|ε| ≤ 1.5·10⁻⁷) is added as padding,
 * so GELU's enclosures are 3·10⁻⁷ wide: loose but proven.
 */

/** Names of the built-in activations (native ids in the same order). */
export const ACTIVATIONS = ['poly3', 'tanh2', 'tanh', 'relu', 'gelu'] as const;
export type ActivationName = (typeof ACTIVATIONS)[number];

/**
 * A user-supplied activation. `fn` is applied entry-wise. For certificates both oracles are
 * required and must be rigorous: `range(lo, hi)` encloses { fn(z) : z ∈ [lo, hi] } and
 * `slope(lo, hi)` bounds |fn(z) − fn(z′)| / |z − z′| on [lo, hi]. Without them certifyBox refuses.
 */
export interface CustomActivation {
  fn: (z: number) => number;
  range?: (lo: number, hi: number) => readonly [number, number];
  slope?: (lo: number, hi: number) => number;
  name?: string;
}
export type Activation = ActivationName | CustomActivation;

const EPS = 2 ** -52;
const TINY = Number.MIN_VALUE;
const U8 = 8 * 2 ** -53;    // eight unit roundoffs
const FLOOR = 2 ** -1060;   // an absolute pad far below any normal result

/** A double ≥ x (at least the next one above x, for every finite x). */
export function up(x: number): number {
  return x + Math.abs(x) * EPS + TINY;
}
/** A double ≤ x. */
export function down(x: number): number {
  return x - Math.abs(x) * EPS - TINY;
}

/** Widens a library result by 4 ulps (plus an absolute floor for results near zero). */
function libPad(v: number): number {
  return 4 * EPS * Math.abs(v) + FLOOR;
}

/** An oracle writes [lo, hi] of the image into out[0], out[1] and returns the slope bound. */
export interface Oracle {
  /** Encloses g([a, b]) into out[0..1]. */
  range(a: number, b: number, out: Float64Array): void;
  /** An upper bound of the Lipschitz constant of g on [a, b]. */
  slope(a: number, b: number): number;
  readonly method: 'interval' | 'user-oracle';
}

// ---------------------------------------------------------------- poly3: g(z) = 1.5z − 0.5z³
// g′ = 1.5(1 − z²): g increases on [−1, 1] and decreases outside, so g([a, b]) is the hull of the
// endpoint values and of g(±1) = ±1 (exact) when ±1 ∈ [a, b]. |g′| is largest at an endpoint or at
// 0 (where it is 1.5).
function poly3Point(z: number, out: Float64Array, i: number): void {
  const v = 1.5 * z - 0.5 * z * z * z;
  // Four roundings, each at most u = 2⁻⁵³ of a term bounded by 1.5|z| + 0.5|z|³: 8u covers them.
  const az = Math.abs(z);
  const e = U8 * (1.5 * az + 0.5 * az * az * az) + FLOOR;
  out[i] = down(v - e);
  out[i + 1] = up(v + e);
}

const scratch = new Float64Array(2);

/** out ← the hull of the point enclosures at a and b (the image of a monotone piece). */
function endpointHull(point: (z: number, out: Float64Array, i: number) => void, a: number, b: number, out: Float64Array): void {
  point(a, out, 0);
  point(b, scratch, 0);
  out[0] = Math.min(out[0], scratch[0]);
  out[1] = Math.max(out[1], scratch[1]);
}

/** An upper bound of |1 − z²|. */
function oneMinusSquare(z: number): number {
  const zl = down(z * z), zu = up(z * z);
  return Math.max(up(1 - zl), up(zu - 1));
}

const poly3: Oracle = {
  method: 'interval',
  range(a, b, out) {
    endpointHull(poly3Point, a, b, out);
    if (a <= 1 && b >= 1) out[1] = Math.max(out[1], 1);
    if (a <= -1 && b >= -1) out[0] = Math.min(out[0], -1);
  },
  slope(a, b) {
    let m = Math.max(oneMinusSquare(a), oneMinusSquare(b));
    if (a <= 0 && b >= 0) m = Math.max(m, 1);
    return up(1.5 * m);
  },
};

// ---------------------------------------------------------------- tanh(c·z), c ∈ {1, 2}
// Increasing, so the image is [tanh(ca), tanh(cb)] (c·z is exact: c is a power of two). The slope
// c(1 − tanh²(cz)) is largest at the point of [a, b] nearest 0.
function tanhOracle(c: number): Oracle {
  return {
    method: 'interval',
    range(a, b, out) {
      const ta = Math.tanh(c * a), tb = Math.tanh(c * b);
      out[0] = Math.max(-1, down(ta - libPad(ta)));
      out[1] = Math.min(1, up(tb + libPad(tb)));
    },
    slope(a, b) {
      const z0 = a <= 0 && b >= 0 ? 0 : a > 0 ? a : b;
      const t = Math.abs(Math.tanh(c * z0));
      const tl = Math.max(0, down(t - libPad(t)));
      return up(c * up(1 - down(tl * tl)));
    },
  };
}

// ---------------------------------------------------------------- relu
const relu: Oracle = {
  method: 'interval',
  range(a, b, out) {
    out[0] = Math.max(a, 0);
    out[1] = Math.max(b, 0);
  },
  slope(_a, b) {
    return b > 0 ? 1 : 0;
  },
};

// ---------------------------------------------------------------- gelu: g(z) = z·Φ(z)
// Φ from A&S 7.1.26 (erf for x ≥ 0, odd extension), padded by 10⁻⁷ ≥ |ε|/2 plus rounding.
// g′ = Φ + zφ and g″ = φ(2 − z²): g′ has a single root z* ∈ (−0.7518, −0.7517), so g decreases
// on (−∞, z*] and increases after; its minimum g(z*) = −0.16997… > −0.17. g′ is monotone on the
// pieces split at ±√2, so |g′| on [a, b] peaks at an endpoint or at ±√2.
const P = 0.3275911, A1 = 0.254829592, A2 = -0.284496736, A3 = 1.421413741, A4 = -1.453152027, A5 = 1.061405429;
const PHI_PAD = 1e-7;
function phiApprox(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + P * x);
  const erf = 1 - ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}
/** [Φl, Φu] ∋ Φ(z). */
function phiEnclosure(z: number): [number, number] {
  const p = phiApprox(z);
  return [Math.max(0, p - PHI_PAD), Math.min(1, p + PHI_PAD)];
}
function geluPoint(z: number, out: Float64Array, i: number): void {
  const [pl, pu] = phiEnclosure(z);
  if (z >= 0) {
    out[i] = down(z * pl);
    out[i + 1] = up(z * pu);
  } else {
    out[i] = down(z * pu);
    out[i + 1] = up(z * pl);
  }
}
/** An upper bound of |g′(z)| = |Φ(z) + zφ(z)|. */
function geluDerivAbs(z: number): number {
  const [pl, pu] = phiEnclosure(z);
  const ph = Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
  const zph = z * ph;
  const pad = 8 * EPS * Math.abs(zph) + FLOOR;  // exp, the product, the division and the root
  const lo = down(pl + down(zph - pad)), hi = up(pu + up(zph + pad));
  return Math.max(Math.abs(lo), Math.abs(hi));
}
const gelu: Oracle = {
  method: 'interval',
  range(a, b, out) {
    endpointHull(geluPoint, a, b, out);
    if (a <= -0.7517 && b >= -0.7518) out[0] = Math.min(out[0], -0.17);
  },
  slope(a, b) {
    let m = Math.max(geluDerivAbs(a), geluDerivAbs(b));
    for (const c of [-Math.SQRT2, Math.SQRT2]) {
      // ±√2 is not a double; both neighbours are examined when the interval reaches them.
      if (a <= up(c) && b >= down(c)) m = Math.max(m, geluDerivAbs(down(c)), geluDerivAbs(up(c)));
    }
    // Between the neighbours of ±√2, |g′| differs from its value at them by at most 2 ulps·|g″| < 1e-15.
    return up(m + 1e-15);
  },
};

const BUILTIN: Record<ActivationName, Oracle> = {
  poly3,
  tanh2: tanhOracle(2),
  tanh: tanhOracle(1),
  relu,
  gelu,
};

/** The oracle of an activation, or undefined when a custom activation lacks one. */
export function oracleOf(a: Activation): Oracle | undefined {
  if (typeof a === 'string') return BUILTIN[a];
  const { range, slope } = a;
  if (!range || !slope) return undefined;
  return {
    method: 'user-oracle',
    range(lo, hi, out) {
      const r = range(lo, hi);
      out[0] = r[0];
      out[1] = r[1];
    },
    slope: (lo, hi) => slope(lo, hi),
  };
}
