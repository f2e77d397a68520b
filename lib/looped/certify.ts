/**
 * Certificates for fixed points of the looped network f(x) = g(Wx + b), and their enumeration.
 *
 * certifyBox proves, for a box D = [lo, hi] ⊂ R^d and a noise bound δ ≥ 0:
 *   (a) f(D) + [−δ, δ]^d ⊆ D              (self-map with margin δ), and
 *   (b) ‖f(x) − f(y)‖_∞ ≤ K ‖x − y‖_∞ on D with K < 1,
 * so by Banach's theorem f has exactly one fixed point p in D, every start in D converges to it
 * with ‖x_L − p‖_∞ ≤ K^L·diam(D), and with noise |h_t| ≤ δ a trajectory stays in D and ends
 * within K^L·diam(D) + δ/(1 − K) of p (the geometric series of the per-step errors).
 *
 * How: the affine image z = Wx + b of a box is the box [zl, zu] with
 *   zl_j = b_j + Σ_k min(W_jk lo_k, W_jk hi_k),  zu_j likewise with max   (exact for affine maps),
 * evaluated in fp64 and widened by the a-priori bound of a rounded sum of d + 1 terms,
 * |fl(Σ t) − Σ t| ≤ γ_{d+1} Σ|t| with γ_n = nu/(1 − nu), u = 2⁻⁵³; we widen by (d + 2)·2u·Σ|t|,
 * which also absorbs the rounding of Σ|t| itself (a relative (d + 1)u), plus an underflow term.
 * Then the activation's oracle (activations.ts) encloses g([zl_j, zu_j]) and bounds its slope
 * L_j there; K = max_j L_j·Σ_k |W_jk| (the row sums rounded up). Every comparison is made against
 * outward-rounded values, so `ok: true` is a proof about the real-number map, not a float
 * coincidence. The row-sum bound is a sufficient condition only: a box can fail (b) while the
 * iteration still contracts (the spectral radius of J can be below 1 while a row sum is above).
 */
import { LemmaError } from '../errors.js';
import { uniforms } from '../random.js';
import type { Tensor } from '../tensor.js';
import { checkInteger, checkNumber, checkOptions, expected } from '../validation/index.js';
import { AbortError, checkCallback, checkKnownKeys, checkSignal } from '../validation/options.js';
import { down, oracleOf, up, type Activation, type ActivationName, type Oracle } from './activations.js';
import { iterate } from './iterate.js';
import { activationLabel, checkActivation, checkNetwork, type Network } from './network.js';

export type CertificateFailure = 'not-self-map' | 'not-contracting';

/** A certificate: a robust fixed point's box, contraction and noise floor, or why it failed. */
export interface Certificate {
  ok: boolean;
  /** Why not, when ok is false ('not-self-map' is checked first). */
  reason?: CertificateFailure;
  /** The first coordinate whose image leaves the shrunk box (not-self-map) or whose slope bound is largest. */
  coordinate: number;
  /** An upper bound of the ∞-norm Lipschitz constant of f on the box (≥ 1: no contraction proven). */
  K: number;
  /** The box [lo, hi]. */
  lo: Float64Array;
  hi: Float64Array;
  /** max_k (hi_k − lo_k) / 2 and max_k (hi_k − lo_k). */
  radius: number;
  diameter: number;
  /** The noise bound δ the self-map was checked with. */
  delta: number;
  /** δ / (1 − K) rounded up: where noisy iterations end up, at most (Infinity when not ok). */
  floor: number;
  /** min over coordinates of the room left between f(D) ± δ and the box (negative: how far it leaks). */
  margin: number;
  /** An enclosure of f(D). */
  image: { lo: Float64Array; hi: Float64Array };
  /** 'interval' for the built-in oracles, 'user-oracle' when the caller supplied them. */
  method: 'interval' | 'user-oracle';
}

/** Steps L after which K^L·diam(D) ≤ eps (Theorem A); Infinity without a certificate. */
export function stepsToReach(cert: Certificate, eps: number): number {
  if (!cert.ok) return Infinity;
  if (cert.diameter <= eps) return 0;
  if (cert.K === 0) return 1;
  return Math.ceil(Math.log(eps / cert.diameter) / Math.log(cert.K));
}

/** What every certificate of one network shares: row sums and the oracle. */
interface Prepared {
  net: Network;
  oracle: Oracle;
  rowAbs: Float64Array;
}

function prepare(net: Network, activation: Activation): Prepared {
  const oracle = oracleOf(activation);
  if (!oracle) {
    throw new TypeError(expected('an activation with range and slope oracles (a certificate needs both: see CustomActivation)', 'activation', activation));
  }
  const { W, d } = net;
  const rowAbs = new Float64Array(d);
  const rel = 1 + (d + 2) * 2 ** -52;
  for (let j = 0; j < d; ++j) {
    let s = 0;
    for (let k = 0; k < d; ++k) s += Math.abs(W[j * d + k]);
    rowAbs[j] = up(s * rel);
  }
  return { net, oracle, rowAbs };
}

interface Core {
  ok: boolean;
  reason?: CertificateFailure;
  coordinate: number;
  K: number;
  margin: number;
}

const rangeOut = new Float64Array(2);

function checkOracle(lo: number, hi: number, slope: number, j: number): void {
  if (!(lo <= hi) || Number.isNaN(lo) || Number.isNaN(hi)) {
    throw new LemmaError('ERR_RANGE', `the activation's range oracle returned an invalid interval for coordinate ${j}`);
  }
  if (!(slope >= 0)) throw new LemmaError('ERR_RANGE', `the activation's slope oracle returned a negative or NaN bound for coordinate ${j}`);
}

/** Certifies one box; writes the image enclosure when imgLo / imgHi are given. */
function certifyCore(c: Prepared, lo: Float64Array, hi: Float64Array, delta: number,
  imgLo?: Float64Array, imgHi?: Float64Array): Core {
  const { W, b, d } = c.net;
  const errRel = (d + 2) * 2 ** -52, errAbs = (d + 2) * 2 ** -1070;
  let selfMap = true, firstBad = -1, K = 0, worst = 0, margin = Infinity;
  const user = c.oracle.method === 'user-oracle';
  for (let j = 0; j < d; ++j) {
    let sl = b[j], sh = b[j], A = Math.abs(b[j]);
    const row = j * d;
    for (let k = 0; k < d; ++k) {
      const w = W[row + k];
      const p1 = w * lo[k], p2 = w * hi[k];
      if (p1 <= p2) { sl += p1; sh += p2; } else { sl += p2; sh += p1; }
      A += Math.max(Math.abs(p1), Math.abs(p2));
    }
    const err = errRel * A + errAbs;
    const zl = down(sl - err), zu = up(sh + err);
    c.oracle.range(zl, zu, rangeOut);
    const gl = rangeOut[0], gu = rangeOut[1];
    const L = c.oracle.slope(zl, zu);
    if (user) checkOracle(gl, gu, L, j);
    if (imgLo) { imgLo[j] = gl; imgHi![j] = gu; }
    const floorJ = up(lo[j] + delta), ceilJ = down(hi[j] - delta);
    const m = Math.min(gl - floorJ, ceilJ - gu);
    if (m < margin || Number.isNaN(m)) margin = m;
    if (!(gl >= floorJ && gu <= ceilJ)) {
      if (selfMap) firstBad = j;
      selfMap = false;
    }
    const Kj = up(L * c.rowAbs[j]);
    if (Kj > K || Number.isNaN(Kj)) { K = Kj; worst = j; }
  }
  if (!selfMap) return { ok: false, reason: 'not-self-map', coordinate: firstBad, K, margin };
  if (!(K < 1)) return { ok: false, reason: 'not-contracting', coordinate: worst, K, margin };
  return { ok: true, coordinate: worst, K, margin };
}

function floorOf(K: number, delta: number): number {
  if (!(K < 1)) return Infinity;
  return delta === 0 ? 0 : up(delta / down(1 - K));
}

export interface CertifyOptions {
  W: Tensor;
  b: Tensor | Float32Array | Float64Array;
  activation: Activation;
  /** The box: [d] arrays, or numbers applied to every coordinate. */
  lo: ArrayLike<number> | number;
  hi: ArrayLike<number> | number;
  /** Noise bound δ ≥ 0 (default 0). */
  delta?: number;
}

function checkBox(v: unknown, name: string, d: number): Float64Array {
  if (typeof v === 'number') return new Float64Array(d).fill(checkNumber(v, name));
  if (!(ArrayBuffer.isView(v) || Array.isArray(v))) throw new TypeError(expected(`a number or ${d} numbers`, name, v));
  const a = v as ArrayLike<number>;
  if (a.length !== d) throw new LemmaError('ERR_SHAPE', expected(`${d} values (d from W)`, name, v));
  const out = new Float64Array(d);
  for (let k = 0; k < d; ++k) {
    if (typeof a[k] !== 'number') throw new TypeError(expected('a number', `${name}[${k}]`, a[k]));
    out[k] = checkNumber(a[k], `${name}[${k}]`);
  }
  return out;
}

/**
 * Certifies a box of the looped network f(x) = g(Wx + b) with interval arithmetic (outward
 * rounding): if `ok`, f has exactly one fixed point in the box, a robust one (see the module comment).
 * @param options W [d, d], b [d], activation (built-in, or custom with range and slope oracles),
 *   lo / hi the box, delta the noise bound.
 * @returns a {@link Certificate} (ok: false with the reason when an assumption fails).
 * @throws TypeError for a custom activation without oracles and for wrong types; RangeError for
 *   bad values (non-finite weights, an empty box); LemmaError ERR_SHAPE, ERR_DTYPE, ERR_RANGE (an
 *   oracle that returns an invalid interval).
 * @example
 * const { W, b, activation } = lemma.looped.preset('poly3', { d: 10 });
 * const c = lemma.looped.certifyBoxSync({ W, b, activation, lo: 0.8, hi: 1.2, delta: 0.01 });
 * c.ok; c.K; c.floor; // true, 0.925, 0.134
 */
export function certifyBoxSync(options: CertifyOptions): Certificate {
  const o = checkOptions(options, 'options');
  checkKnownKeys(o, 'options', ['W', 'b', 'activation', 'lo', 'hi', 'delta']);
  const net = checkNetwork(o.W, o.b);
  const activation = checkActivation(o.activation);
  const lo = checkBox(o.lo, 'options.lo', net.d), hi = checkBox(o.hi, 'options.hi', net.d);
  for (let k = 0; k < net.d; ++k) {
    if (!(lo[k] <= hi[k])) throw new RangeError(expected(`a lower bound at most hi[${k}] = ${hi[k]} (the box is empty)`, `options.lo[${k}]`, lo[k]));
  }
  const delta = o.delta === undefined ? 0 : checkNumber(o.delta, 'options.delta', { min: 0 });
  const c = prepare(net, activation);
  const imgLo = new Float64Array(net.d), imgHi = new Float64Array(net.d);
  const core = certifyCore(c, lo, hi, delta, imgLo, imgHi);
  let diameter = 0;
  for (let k = 0; k < net.d; ++k) {
    // hi − lo, rounded up unless Knuth's TwoSum shows it exact.
    const w = hi[k] - lo[k], v = w - hi[k];
    const err = (hi[k] - (w - v)) + (-lo[k] - v);
    diameter = Math.max(diameter, err > 0 ? up(w) : w);
  }
  return {
    ...core,
    lo, hi, radius: diameter / 2, diameter, delta,
    floor: core.ok ? floorOf(core.K, delta) : Infinity,
    image: { lo: imgLo, hi: imgHi },
    method: c.oracle.method,
  };
}

/** The Promise form of {@link certifyBoxSync} (same arguments and result). */
export async function certifyBox(options: CertifyOptions): Promise<Certificate> {
  return certifyBoxSync(options);
}

// ------------------------------------------------------------------ presets

export interface Preset {
  W: Tensor<Float64Array>;
  b: Float64Array;
  activation: ActivationName;
  /** The box around the positive attracting scalar fixed point; the negative one is its mirror. */
  box: [number, number];
  /** The attracting scalar fixed point (−point is the other one). */
  point: number;
  eta: number;
  seed: number;
}

const PRESETS: Record<'poly3' | 'tanh2', { box: [number, number]; point: number }> = {
  // 1.5z − 0.5z³ = z at z = ±1 (g′ = 0 there); [0.8, 1.2] maps into [0.936, 1].
  poly3: { box: [0.8, 1.2], point: 1 },
  // tanh(2z) = z at ±0.957504 (g′ = 0.166); [0.7, 1.2] maps into [0.885, 0.984].
  tanh2: { box: [0.7, 1.2], point: 0.9575040240772687 },
};

/**
 * The case-study networks with 2^d robust fixed points: W = I + E, E with zero diagonal, entries
 * uniform and each row rescaled to ∞-norm eta (the coupling), b = 0.
 * @param name 'poly3' (g = 1.5z − 0.5z³) or 'tanh2' (g = tanh 2z).
 * @param options d (default 10), eta (default 0.05), seed (default 0).
 * @example
 * const net = lemma.looped.preset('poly3', { d: 10, eta: 0.05 });
 */
export function preset(name: 'poly3' | 'tanh2', options: { d?: number; eta?: number; seed?: number } = {}): Preset {
  if (name !== 'poly3' && name !== 'tanh2') throw new RangeError(expected("'poly3' or 'tanh2'", 'name', name));
  const o = checkOptions(options, 'options');
  checkKnownKeys(o, 'options', ['d', 'eta', 'seed']);
  const d = o.d === undefined ? 10 : checkInteger(o.d, 'options.d', 1, 4096);
  const eta = o.eta === undefined ? 0.05 : checkNumber(o.eta, 'options.eta', { min: 0 });
  const seed = o.seed === undefined ? 0 : checkInteger(o.seed, 'options.seed', 0, 2 ** 32 - 1);
  const u = uniforms(seed);
  const W = new Float64Array(d * d);
  for (let j = 0; j < d; ++j) {
    let row = 0;
    for (let k = 0; k < d; ++k) {
      if (k === j) continue;
      W[j * d + k] = 2 * u() - 1;
      row += Math.abs(W[j * d + k]);
    }
    for (let k = 0; k < d; ++k) W[j * d + k] = k === j ? 1 : row > 0 ? (W[j * d + k] * eta) / row : 0;
  }
  return { W: { data: W, shape: [d, d] }, b: new Float64Array(d), activation: name, ...PRESETS[name], eta, seed };
}

// ------------------------------------------------------------------ enumeration over sign boxes

export interface EnumerateProgress {
  done: number;
  total: number;
  certified: number;
  phase: 'certify' | 'iterate';
}

export interface EnumerateOptions {
  W: Tensor;
  b: Tensor | Float32Array | Float64Array;
  activation: Activation;
  /** The interval of a positive coordinate (default: the preset's box for poly3 / tanh2). */
  box?: [number, number];
  /** The interval of a negative coordinate (default: the mirror of box). */
  negative?: [number, number];
  delta?: number;
  /** Iteration from each certified box's centre (defaults 200 steps, tol 1e-12). */
  maxSteps?: number;
  tol?: number;
  /** For d > 20: how many random sign patterns to examine (default 4096). */
  samples?: number;
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (p: EnumerateProgress) => void;
}

export interface EnumerateResult {
  d: number;
  /** Sign boxes examined (2^d when d ≤ 20) and certified. */
  examined: number;
  certified: number;
  /** Why the others failed. */
  failures: { notSelfMap: number; notContracting: number };
  /** [m, d] the fixed point found in each certified box (iterated from the box centre). */
  fixedPoints: Tensor<Float64Array>;
  /** [m, d] ±1: the box of each fixed point. */
  signs: Int8Array;
  /** Per certified box: K, floor δ/(1 − K), steps to stabilise, final residual. */
  K: Float64Array;
  floor: Float64Array;
  steps: Int32Array;
  residual: Float64Array;
  maxK: number;
  minMargin: number;
  /** Fixed points that stabilised under tol and lie in their certified box. */
  converged: number;
  /** The least ∞-distance between two fixed points (an O(m²·d) scan, so null above 1024 points: disjoint boxes already separate them). */
  minSeparation: number | null;
  method: 'interval' | 'user-oracle';
  activation: string;
  device: 'cpu';
}

const ENUM_KEYS = ['W', 'b', 'activation', 'box', 'negative', 'delta', 'maxSteps', 'tol', 'samples', 'seed', 'signal', 'onProgress'];

function checkInterval(v: unknown, name: string): [number, number] {
  if (!Array.isArray(v) || v.length !== 2) throw new TypeError(expected('an interval [lo, hi]', name, v));
  const lo = checkNumber(v[0], `${name}[0]`), hi = checkNumber(v[1], `${name}[1]`);
  if (!(lo < hi)) throw new RangeError(expected('an interval with lo < hi', name, v));
  return [lo, hi];
}

/**
 * Certifies every sign box ∏_k I_{s_k} (s ∈ {−, +}^d; d ≤ 20, else a random sample of patterns)
 * and finds the fixed point of each certified box by iterating from its centre. Boxes are
 * disjoint when the two intervals are, so certified boxes hold pairwise distinct fixed points.
 * @returns counts, the fixed points [m, d], their sign patterns, K and floors per box.
 * @throws as {@link certifyBoxSync}; RangeError when the activation has no preset box and none is
 *   given; AbortError on abort.
 * @example
 * const net = lemma.looped.preset('poly3', { d: 10 });
 * const r = await lemma.looped.enumerateFixedPoints({ ...net, delta: 0.01 });
 * r.certified; // 1024
 */
export async function enumerateFixedPoints(options: EnumerateOptions): Promise<EnumerateResult> {
  const o = checkOptions(options, 'options');
  checkKnownKeys(o, 'options', [...ENUM_KEYS, 'point', 'eta']);  // a preset spreads point and eta
  const net = checkNetwork(o.W, o.b);
  const activation = checkActivation(o.activation);
  const { d } = net;
  const presetBox = typeof activation === 'string' && (activation === 'poly3' || activation === 'tanh2') ? PRESETS[activation].box : undefined;
  if (o.box === undefined && !presetBox) {
    throw new RangeError(expected('a box [lo, hi] (only poly3 and tanh2 have a default)', 'options.box', o.box));
  }
  const pos = o.box === undefined ? presetBox! : checkInterval(o.box, 'options.box');
  const neg = o.negative === undefined ? [-pos[1], -pos[0]] as [number, number] : checkInterval(o.negative, 'options.negative');
  const delta = o.delta === undefined ? 0 : checkNumber(o.delta, 'options.delta', { min: 0 });
  const maxSteps = o.maxSteps === undefined ? 200 : checkInteger(o.maxSteps, 'options.maxSteps', 1, 2 ** 30);
  const tol = o.tol === undefined ? 1e-12 : checkNumber(o.tol, 'options.tol', { min: 0 });
  const samples = o.samples === undefined ? 4096 : checkInteger(o.samples, 'options.samples', 1, 2 ** 24);
  const seed = o.seed === undefined ? 0 : checkInteger(o.seed, 'options.seed', 0, 2 ** 32 - 1);
  const signal = checkSignal(o.signal, 'options.signal');
  const onProgress = checkCallback<(p: EnumerateProgress) => void>(o.onProgress, 'options.onProgress');
  const c = prepare(net, activation);

  // The sign patterns: all 2^d, or `samples` distinct random ones.
  const exhaustive = d <= 20;
  const total = exhaustive ? 2 ** d : samples;
  const randomSigns: Int8Array[] = [];
  if (!exhaustive) {
    const u = uniforms(seed), seen = new Set<string>();
    while (randomSigns.length < samples) {
      const s = Int8Array.from({ length: d }, () => (u() < 0.5 ? -1 : 1));
      const key = s.join('');
      if (!seen.has(key)) { seen.add(key); randomSigns.push(s); }
    }
  }
  const lo = new Float64Array(d), hi = new Float64Array(d), sgn = new Int8Array(d);
  const okSigns = new Int8Array(total * d), okK = new Float64Array(total);
  let m = 0, notSelfMap = 0, notContracting = 0, minMargin = Infinity;
  const CHUNK = 4096;
  for (let start = 0; start < total; start += CHUNK) {
    if (signal?.aborted) throw new AbortError('looped.enumerateFixedPoints was aborted', { cause: signal.reason });
    const end = Math.min(total, start + CHUNK);
    for (let i = start; i < end; ++i) {
      for (let k = 0; k < d; ++k) {
        const s = exhaustive ? ((i >>> k) & 1 ? 1 : -1) : randomSigns[i][k];
        sgn[k] = s;
        const [a, z] = s > 0 ? pos : neg;
        lo[k] = a; hi[k] = z;
      }
      const core = certifyCore(c, lo, hi, delta);
      if (core.ok) {
        okSigns.set(sgn, m * d);
        okK[m++] = core.K;
        minMargin = Math.min(minMargin, core.margin);
      } else if (core.reason === 'not-self-map') ++notSelfMap;
      else ++notContracting;
    }
    onProgress?.({ done: end, total, certified: m, phase: 'certify' });
    await new Promise((r) => setImmediate(r));
  }
  const signs = okSigns.slice(0, m * d);
  const x0 = new Float64Array(m * d);
  for (let i = 0; i < m * d; ++i) x0[i] = signs[i] > 0 ? (pos[0] + pos[1]) / 2 : (neg[0] + neg[1]) / 2;
  const W64 = Float64Array.from(net.W), b64 = Float64Array.from(net.b);
  const it = m > 0
    ? await iterate({
      W: { data: W64, shape: [d, d] }, b: b64, activation, x0: { data: x0, shape: [m, d] },
      maxSteps, tol, history: false, signal,
      onProgress: onProgress && ((p) => onProgress({ done: p.done, total: p.total, certified: m, phase: 'iterate' })),
    })
    : undefined;
  const pts = it ? (it.x.data as Float64Array) : new Float64Array(0);
  let converged = 0;
  for (let i = 0; i < m; ++i) {
    let inside = it!.converged[i] === 1;
    for (let k = 0; k < d && inside; ++k) {
      const [a, z] = signs[i * d + k] > 0 ? pos : neg;
      const v = pts[i * d + k];
      inside = v >= a && v <= z;
    }
    if (inside) ++converged;
  }
  let minSeparation: number | null = null;
  if (m <= 1024) {
    minSeparation = m > 1 ? Infinity : null;
    for (let i = 0; i < m; ++i) {
      for (let j = i + 1; j < m; ++j) {
        let dist = 0;
        for (let k = 0; k < d; ++k) dist = Math.max(dist, Math.abs(pts[i * d + k] - pts[j * d + k]));
        minSeparation = Math.min(minSeparation!, dist);
      }
    }
  }
  const K = okK.slice(0, m);
  return {
    d, examined: total, certified: m, failures: { notSelfMap, notContracting },
    fixedPoints: { data: pts, shape: [m, d] }, signs, K,
    floor: K.map((k) => floorOf(k, delta)),
    steps: it ? it.steps : new Int32Array(0),
    residual: it ? it.residual : new Float64Array(0),
    maxK: m ? K.reduce((a, k) => Math.max(a, k), 0) : NaN,
    minMargin: m ? minMargin : NaN,
    converged, minSeparation, method: c.oracle.method, activation: activationLabel(activation), device: 'cpu',
  };
}
