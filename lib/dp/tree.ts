/**
 * Internals shared by the private L1 KDE structures (lib/dp/l1-kde.ts, lib/dp/baseline.ts):
 * option parsing, the budget split and noise scales, the exact native build, the noise, and the
 * release document. See native/dp/dp.h for the tree layout and spec dp-kde-l1.md §4.
 *
 * Privacy bookkeeping, per coordinate tree, in grid units (values x̄ ∈ {0 .. 2^q − 1}); the
 * released nodes are levels 1..L (the root is never read by a query, so it is not released):
 *   add-remove:  Δ_count = L,   Δ_sum = L·(2^q − 1)       (one point touches one node per level)
 *   replace:     Δ_count = 2L,  Δ_sum = 2L·(2^q − 1)      (conservative, spec §4.5)
 * Tree: ε_count = ε·split/d and ε_sum = ε·(1 − split)/d per coordinate (basic composition over
 * the d trees and the two parts: d·(ε_count + ε_sum) = ε). Baseline: counts only, ε/d each.
 * Scales λ = Δ/ε_part are computed as exact rationals from the doubles given and rounded up
 * only if they do not fit 45-bit integers.
 */
import { LemmaError } from '../errors.js';
import { native } from '../binding.js';
import type { FloatArray, NativeDpParams } from '../binding.js';
import { checkTensor, privateData } from '../tensor.js';
import { checkInteger, checkNumber, checkOneOf, checkOptions, expected, is } from '../validation/index.js';
import { PrivacyAccountant } from './accountant.js';
import { DiscreteLaplaceSampler, discreteLaplaceVariance, doubleToRational, MAX_SCALE_PART, rationalScale } from './discrete-laplace.js';
import type { RationalScale } from './discrete-laplace.js';
import { RandomSource, randomSourceFromOptions } from './random.js';

export type Neighbour = 'add-remove' | 'replace';
export const NEIGHBOURS: readonly Neighbour[] = ['add-remove', 'replace'];

/** One R (every coordinate in [0, R]), one pair [lo, hi] for every coordinate, or d pairs. */
export type RangeOption = number | readonly [number, number] | ReadonlyArray<readonly [number, number]>;

/** Points [n, d]: a tensor `{ data, shape: [n, d] }` or an array of n rows of d numbers. */
export type Points = { data: FloatArray; shape: number[] } | ReadonlyArray<ArrayLike<number>>;

export const MAX_LEVELS = 26;
export const MAX_GRID_BITS = 32;
export const DEFAULT_GRID_BITS = 20;

/** Public parameters of a tree (everything a query needs besides the noisy values). */
export interface TreeShape {
  d: number;
  levels: number;
  gridBits: number;
  lo: Float64Array;
  hi: Float64Array;
}

/** A released structure's state: public parameters and noisy integers only. */
export interface TreeState {
  structure: 'tree' | 'baseline';
  shape: TreeShape;
  /** [d, 2^{L+1}] noisy counts (slots 0, 1 of each coordinate are 0 and never read). */
  cnt: Float64Array;
  /** [d, 2^{L+1}] noisy sums in grid units (tree only). */
  sum: Float64Array | null;
  countNoise: NoisePart;
  sumNoise: NoisePart | null;
  epsilon: number;
  neighbour: Neighbour;
  budgetSplit: number | null;
  alpha: number | null;
  bandCounts: 'independent' | 'prefix' | null;
}

/** The discrete Laplace noise of one part (counts or sums), per node. */
export interface NoisePart {
  /** Scale λ = t/s: P(Z = z) ∝ exp(−|z|·s/t). */
  t: number;
  s: number;
  /** L1 sensitivity of this part of one coordinate tree, in grid units. */
  sensitivity: number;
}

export function slots(levels: number): number {
  return 2 ** (levels + 1);
}

export function gridTop(gridBits: number): number {
  return 2 ** gridBits - 1;
}

export function nativeParams(shape: TreeShape, extra: Partial<NativeDpParams> = {}): NativeDpParams {
  return { d: shape.d, levels: shape.levels, gridBits: shape.gridBits, lo: shape.lo, hi: shape.hi, ...extra };
}

// ----------------------------------------------------------------------------------- inputs

/** Checks points [n, d] and returns a flat row-major array (rows are copied into a Float64Array). */
export function checkPoints(X: unknown, name: string, d?: number): { data: FloatArray; n: number; d: number; copied: boolean } {
  if (Array.isArray(X)) {
    const n = X.length;
    if (n === 0 && d === undefined) {
      throw new LemmaError('ERR_SHAPE', expected('at least one row (use a tensor { data, shape: [0, d] } for no rows)', name, X));
    }
    const dd = d ?? (X[0] as ArrayLike<number>)?.length;
    const data = new Float64Array(n * (dd ?? 0));
    for (let i = 0; i < n; i++) {
      const row = X[i] as unknown;
      if (!(Array.isArray(row) || ArrayBuffer.isView(row))) throw new TypeError(expected('an array of numbers', `${name}[${i}]`, row));
      const r = row as ArrayLike<unknown>;
      if (r.length !== dd) throw new LemmaError('ERR_SHAPE', expected(`a row of ${dd} numbers`, `${name}[${i}]`, row));
      for (let j = 0; j < dd; j++) {
        const v = r[j];
        if (typeof v !== 'number') throw new TypeError(expected('a number', `${name}[${i}][${j}]`, v));
        data[i * dd + j] = v;
      }
    }
    if (!dd) throw new LemmaError('ERR_SHAPE', expected('rows of at least one coordinate', name, X));
    return { data, n, d: dd, copied: true };
  }
  const t = checkTensor(X, name);
  if (t.shape.length !== 2) throw new LemmaError('ERR_SHAPE', expected('a rank-2 shape [n, d]', `${name}.shape`, t.shape));
  const [n, dd] = t.shape as [number, number];
  if (dd < 1) throw new LemmaError('ERR_SHAPE', expected('at least one coordinate d', `${name}.shape[1]`, dd));
  if (d !== undefined && dd !== d) throw new LemmaError('ERR_SHAPE', expected(`d = ${d} coordinates (from the structure)`, `${name}.shape[1]`, dd));
  const data = privateData(t.data);
  return { data, n, d: dd, copied: data !== t.data };
}

/** Throws RangeError at the first NaN (±∞ are allowed: they clamp to the range). */
export function rejectNaN(data: FloatArray, d: number, name: string): void {
  for (let i = 0; i < data.length; i++) {
    if (data[i] !== data[i]) {
      throw new RangeError(expected('a number that is not NaN', `${name}[${Math.floor(i / d)}, ${i % d}]`, data[i]));
    }
  }
}

/** Queries Y [q, d] as a Float64Array (copied when needed); every value must be finite. */
export function checkQueries(Y: unknown, name: string, d: number): { data: Float64Array; q: number } {
  const p = checkPoints(Y, name, d);
  const data = p.data instanceof Float64Array ? p.data : Float64Array.from(p.data);
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw new RangeError(expected('a finite number', `${name}[${Math.floor(i / d)}, ${i % d}]`, data[i]));
    }
  }
  return { data, q: p.n };
}

/** One query point y (d numbers) as a Float64Array. */
export function checkPoint(y: unknown, name: string, d: number): Float64Array {
  if (!(Array.isArray(y) || (ArrayBuffer.isView(y) && !(y instanceof DataView)))) {
    throw new TypeError(expected(`an array of ${d} numbers`, name, y));
  }
  const a = y as ArrayLike<unknown>;
  if (a.length !== d) throw new LemmaError('ERR_SHAPE', expected(`${d} numbers (d of the structure)`, name, y));
  const out = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    const v = a[j];
    if (typeof v !== 'number' && typeof v !== 'bigint') throw new TypeError(expected('a number', `${name}[${j}]`, v));
    const x = Number(v);
    if (!Number.isFinite(x)) throw new RangeError(expected('a finite number', `${name}[${j}]`, v));
    out[j] = x;
  }
  return out;
}

export function parseRange(range: unknown, d: number, name: string): { lo: Float64Array; hi: Float64Array } {
  const what = `a positive number R, a pair [lo, hi], or ${d} pairs [lo, hi]`;
  const lo = new Float64Array(d);
  const hi = new Float64Array(d);
  const pair = (v: unknown, where: string): [number, number] => {
    if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'number' || typeof v[1] !== 'number') {
      throw new TypeError(expected('a pair [lo, hi] of numbers', where, v));
    }
    const [a, b] = v as [number, number];
    if (!Number.isFinite(a) || !Number.isFinite(b) || !(b > a) || !Number.isFinite(b - a)) {
      throw new RangeError(expected('finite numbers with lo < hi', where, v));
    }
    return [a, b];
  };
  if (typeof range === 'number') {
    const R = checkNumber(range, name, { min: 0, exclusiveMin: true });
    hi.fill(R);
  } else if (Array.isArray(range) && range.length === 2 && typeof range[0] === 'number') {
    const [a, b] = pair(range, name);
    lo.fill(a);
    hi.fill(b);
  } else if (Array.isArray(range) && range.length === d && range.every((r) => Array.isArray(r))) {
    range.forEach((r, j) => {
      [lo[j], hi[j]] = pair(r, `${name}[${j}]`);
    });
  } else if (Array.isArray(range)) {
    throw new RangeError(expected(what, name, range));
  } else {
    throw new TypeError(expected(what, name, range));
  }
  return { lo, hi };
}

// ------------------------------------------------------------------------------------ plans

/** Options common to both structures. */
export interface CommonOptions {
  /** Total privacy budget ε of the release (pure ε-DP), a finite number > 0. */
  epsilon: number;
  /** Public data range: R (coordinates in [0, R]), [lo, hi] for all, or per coordinate. */
  range: RangeOption;
  /**
   * Tree depth L (1..26; 2^L leaves of width range/2^L). Required with neighbour 'add-remove',
   * where n is private and a depth derived from it would reveal ⌈log₂ n⌉; with 'replace' it
   * defaults to ⌈log₂ n⌉ (n is public under replace-one).
   */
  levels?: number;
  /** Grid resolution q (values quantised to 2^q levels per coordinate), levels..32; default max(20, levels). */
  gridBits?: number;
  /** Neighbouring datasets: 'add-remove' (default; one point added or removed) or 'replace'. */
  neighbour?: Neighbour;
  /**
   * Charge ε to this budget after the options are validated and before the data is touched
   * (refused with ERR_BUDGET: nothing is built). The charge is not refunded if the build then
   * fails (e.g. ERR_OOM), since the data has been read by then.
   */
  accountant?: PrivacyAccountant;
  /** Ledger label of the charge. */
  label?: string;
  /** Tests only, with insecureDeterministic: true: a reproducible noise stream. */
  seed?: number | string | Uint8Array;
  /** Must be true for `seed` to be accepted. Never in production. */
  insecureDeterministic?: boolean;
}

export interface Plan {
  structure: 'tree' | 'baseline';
  shape: TreeShape;
  n: number;
  epsilon: number;
  neighbour: Neighbour;
  budgetSplit: number | null;
  alpha: number | null;
  bandCounts: 'independent' | 'prefix' | null;
  countNoise: NoisePart;
  sumNoise: NoisePart | null;
  accountant: PrivacyAccountant | null;
  label: string;
  rng: RandomSource;
}

export function depthFor(n: number): number {
  let L = 1;
  while (2 ** L < n && L < MAX_LEVELS) L++;
  return L;
}

/** Δ of one coordinate tree for a part, in grid units. */
export function sensitivities(levels: number, gridBits: number, neighbour: Neighbour): { count: number; sum: number } {
  const k = neighbour === 'replace' ? 2 : 1;
  return { count: k * levels, sum: k * levels * gridTop(gridBits) };
}

/** λ = Δ·d / (ε·share) as a rational t/s (share = shareNum/shareDen), rounded up if needed. */
export function partScale(delta: number, d: number, epsilon: number, shareNum: bigint, shareDen: bigint, part: string): RationalScale {
  const e = doubleToRational(epsilon);
  const num = BigInt(delta) * BigInt(d) * e.den * shareDen;
  const den = e.num * shareNum;
  if (num > BigInt(MAX_SCALE_PART) * den) {
    throw new LemmaError('ERR_RANGE', `epsilon ${epsilon} is too small for this tree: the ${part} noise scale Δ·d/ε_part = ${Number(num) / Number(den)} exceeds 2^45 (lower gridBits, levels or d, or raise epsilon)`);
  }
  const { t, s } = rationalScale(num, den);
  return { t, s };
}

export function noiseParts(structure: 'tree' | 'baseline', shape: TreeShape, epsilon: number, neighbour: Neighbour, budgetSplit: number | null): { countNoise: NoisePart; sumNoise: NoisePart | null } {
  const sens = sensitivities(shape.levels, shape.gridBits, neighbour);
  if (structure === 'baseline') {
    return { countNoise: { ...partScale(sens.count, shape.d, epsilon, 1n, 1n, 'count'), sensitivity: sens.count }, sumNoise: null };
  }
  const split = doubleToRational(budgetSplit!);
  return {
    countNoise: { ...partScale(sens.count, shape.d, epsilon, split.num, split.den, 'count'), sensitivity: sens.count },
    sumNoise: { ...partScale(sens.sum, shape.d, epsilon, split.den - split.num, split.den, 'sum'), sensitivity: sens.sum },
  };
}

/** Validates everything and computes the scales; draws nothing and charges nothing. */
export function plan(structure: 'tree' | 'baseline', n: number, d: number, options: unknown): Plan {
  const opts = checkOptions(options, 'options');
  const epsilon = checkNumber(opts.epsilon, 'options.epsilon', { min: 0, exclusiveMin: true });
  const { lo, hi } = parseRange(opts.range, d, 'options.range');
  const neighbour = checkOneOf(opts.neighbour ?? 'add-remove', 'options.neighbour', NEIGHBOURS);
  let levels: number;
  if (opts.levels === undefined && neighbour === 'replace') {
    levels = depthFor(n);
  } else if (opts.levels === undefined) {
    throw new TypeError(expected(`an integer between 1 and ${MAX_LEVELS} (required with neighbour 'add-remove': a depth derived from n would reveal n)`, 'options.levels', undefined));
  } else {
    levels = checkInteger(opts.levels, 'options.levels', 1, MAX_LEVELS);
  }
  const gridBits = opts.gridBits === undefined ? Math.max(DEFAULT_GRID_BITS, levels) : checkInteger(opts.gridBits, 'options.gridBits', levels, MAX_GRID_BITS);
  let budgetSplit: number | null = null;
  let alpha: number | null = null;
  let bandCounts: 'independent' | 'prefix' | null = null;
  if (structure === 'tree') {
    budgetSplit = opts.budgetSplit === undefined ? 0.5 : checkNumber(opts.budgetSplit, 'options.budgetSplit', { min: 0, max: 1 });
    if (budgetSplit === 0 || budgetSplit === 1) throw new RangeError(expected('a number strictly between 0 and 1', 'options.budgetSplit', budgetSplit));
  } else {
    alpha = opts.alpha === undefined ? 0.5 : checkNumber(opts.alpha, 'options.alpha', { min: 0, max: 16, exclusiveMin: true });
    bandCounts = checkOneOf(opts.bandCounts ?? 'independent', 'options.bandCounts', ['independent', 'prefix'] as const);
  }
  let acc: PrivacyAccountant | null = null;
  if (opts.accountant !== undefined) {
    if (!(opts.accountant instanceof PrivacyAccountant)) throw new TypeError(expected('an accountant from lemma.dp.accountant()', 'options.accountant', opts.accountant));
    acc = opts.accountant;
  }
  const label = opts.label === undefined ? `dp.${structure === 'tree' ? 'l1Kde' : 'baselineL1Kde'}` : opts.label;
  if (typeof label !== 'string') throw new TypeError(expected('a string', 'options.label', label));
  const rng = randomSourceFromOptions(opts, 'options');
  if (n * gridTop(gridBits) >= 2 ** 53) {
    throw new LemmaError('ERR_RANGE', `n·(2^gridBits − 1) must stay below 2^53 for exact sums (n = ${n}, gridBits = ${gridBits}); lower gridBits`);
  }
  const shape: TreeShape = { d, levels, gridBits, lo, hi };
  const { countNoise, sumNoise } = noiseParts(structure, shape, epsilon, neighbour, budgetSplit);
  return { structure, shape, n, epsilon, neighbour, budgetSplit, alpha, bandCounts, countNoise, sumNoise, accountant: acc, label, rng };
}

function allocTree(shape: TreeShape): Float64Array {
  const len = shape.d * slots(shape.levels);
  try {
    return new Float64Array(len);
  } catch {
    throw new LemmaError('ERR_OOM', `cannot allocate a tree of d·2^(levels+1) = ${len} values (${len * 8} bytes); lower levels`);
  }
}

/** The exact (noise-free) tree. Internal: tests and the build below. */
export async function buildExact(data: FloatArray, n: number, shape: TreeShape, opts: { ref?: boolean; sync?: boolean } = {}): Promise<{ cnt: Float64Array; sum: Float64Array }> {
  const cnt = allocTree(shape);
  const sum = allocTree(shape);
  const p = nativeParams(shape, { n, ref: opts.ref ?? false });
  if (opts.sync) native.dpL1BuildSync(data, cnt, sum, p);
  else await native.dpL1Build(data, cnt, sum, p);
  return { cnt, sum };
}

const NOISE_CHUNK = 1 << 16;
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Adds one independent discrete Laplace draw to every released slot (levels 1..L: slots
 * 2..2^{L+1}−1 of each coordinate), in place, so the exact values do not survive. Yields to the
 * event loop between chunks of 65 536 draws.
 */
export async function addNoise(arr: Float64Array, shape: TreeShape, part: NoisePart, rng: RandomSource): Promise<void> {
  const N = slots(shape.levels);
  const sampler = new DiscreteLaplaceSampler(part, rng);
  for (let j = 0; j < shape.d; j++) {
    for (let v = 2; v < N; v += NOISE_CHUNK) {
      sampler.addTo(arr, j * N + v, j * N + Math.min(N, v + NOISE_CHUNK));
      await yieldToLoop();
    }
  }
}

/** Validate → charge the budget → exact native build → noise in place. Returns the release state. */
export async function buildPrivate(structure: 'tree' | 'baseline', X: unknown, options: unknown): Promise<TreeState> {
  const pts = checkPoints(X, 'X');
  rejectNaN(pts.data, pts.d, 'X');
  const pl = plan(structure, pts.n, pts.d, options);
  pl.accountant?.spend(pl.epsilon, pl.label);
  let exact: { cnt: Float64Array; sum: Float64Array };
  try {
    exact = await buildExact(pts.data, pts.n, pl.shape);
  } finally {
    if (pts.copied) pts.data.fill(0); // our own copy of the raw data: do not leave it behind
  }
  await addNoise(exact.cnt, pl.shape, pl.countNoise, pl.rng);
  let sum: Float64Array | null = exact.sum;
  if (pl.sumNoise) {
    await addNoise(exact.sum, pl.shape, pl.sumNoise, pl.rng);
  } else {
    exact.sum.fill(0); // the baseline releases counts only
    sum = null;
  }
  return {
    structure, shape: pl.shape, cnt: exact.cnt, sum, countNoise: pl.countNoise, sumNoise: pl.sumNoise,
    epsilon: pl.epsilon, neighbour: pl.neighbour, budgetSplit: pl.budgetSplit, alpha: pl.alpha, bandCounts: pl.bandCounts,
  };
}

// ------------------------------------------------------------------------ closed-form error

/**
 * Real grid coordinate u and leaf of y_j, with the same fp64 operations as native/dp/dp_cpu.cc;
 * `leafTerm` tells whether the query also reads the own leaf (all of its grid values on one side
 * of u).
 */
export function gridCoord(shape: TreeShape, j: number, y: number): { u: number; leaf: number; gamma: number; leafTerm: boolean } {
  const top = gridTop(shape.gridBits);
  const u = (y - shape.lo[j]) * (top / (shape.hi[j] - shape.lo[j]));
  const f = Math.floor(u);
  const g = !(f > 0) ? 0 : f >= top ? top : f;
  const W = 2 ** (shape.gridBits - shape.levels);
  const leaf = Math.floor(g / W);
  const first = leaf * W;
  return { u, leaf, gamma: (shape.hi[j] - shape.lo[j]) / top, leafTerm: u >= first + W - 1 || u <= first };
}

export function noiseVariance(part: NoisePart): number {
  return discreteLaplaceVariance(part);
}

// ------------------------------------------------------------------------ release document

/** The release: public parameters and noisy integers only (JSON-serialisable). */
export interface L1KdeDocument {
  format: 'lemma.dp.l1-kde';
  version: 1;
  /** 'tree' (arXiv 2409.01688) or 'baseline' (Backurs et al. ICLR 2024). */
  structure: 'tree' | 'baseline';
  epsilon: number;
  neighbour: Neighbour;
  /** Tree: share of ε given to the counts. */
  budgetSplit?: number;
  /** Baseline: band growth factor 1 + α. */
  alpha?: number;
  /** Baseline: how band counts are read ('independent' covers or shared 'prefix' sums). */
  bandCounts?: 'independent' | 'prefix';
  d: number;
  levels: number;
  gridBits: number;
  /** [lo, hi] per coordinate. */
  ranges: Array<[number, number]>;
  noise: { mechanism: 'discrete-laplace'; counts: NoisePart; sums?: NoisePart };
  /** 'array': plain integer arrays; 'base64-float64le': each array's fp64 little-endian bytes. */
  encoding: 'array' | 'base64-float64le';
  /** Per coordinate, the nodes of levels 1..L in heap order (2^{L+1} − 2 integers). */
  counts: number[][] | string[];
  /** Per coordinate, like counts, in grid units (tree only). */
  sums?: number[][] | string[];
}

function encodeArrays(arr: Float64Array, shape: TreeShape, encoding: 'array' | 'base64-float64le'): number[][] | string[] {
  const N = slots(shape.levels);
  const out: Array<number[] | string> = [];
  for (let j = 0; j < shape.d; j++) {
    const part = arr.subarray(j * N + 2, (j + 1) * N);
    if (encoding === 'array') out.push(Array.from(part));
    else {
      const le = new Float64Array(part); // copy: Buffer.from needs its own bytes
      out.push(Buffer.from(le.buffer, le.byteOffset, le.byteLength).toString('base64'));
    }
  }
  return out as number[][] | string[];
}

export function toDocument(st: TreeState, options: unknown): L1KdeDocument {
  const opts = checkOptions(options, 'options');
  const encoding = checkOneOf(opts.encoding ?? 'array', 'options.encoding', ['array', 'base64-float64le'] as const);
  const doc: L1KdeDocument = {
    format: 'lemma.dp.l1-kde',
    version: 1,
    structure: st.structure,
    epsilon: st.epsilon,
    neighbour: st.neighbour,
    d: st.shape.d,
    levels: st.shape.levels,
    gridBits: st.shape.gridBits,
    ranges: Array.from(st.shape.lo, (lo, j) => [lo, st.shape.hi[j]] as [number, number]),
    noise: { mechanism: 'discrete-laplace', counts: { ...st.countNoise } },
    encoding,
    counts: encodeArrays(st.cnt, st.shape, encoding),
  };
  if (st.budgetSplit !== null) doc.budgetSplit = st.budgetSplit;
  if (st.alpha !== null) doc.alpha = st.alpha;
  if (st.bandCounts !== null) doc.bandCounts = st.bandCounts;
  if (st.sum && st.sumNoise) {
    doc.noise.sums = { ...st.sumNoise };
    doc.sums = encodeArrays(st.sum, st.shape, encoding);
  }
  return doc;
}

function decodeArrays(v: unknown, shape: TreeShape, encoding: 'array' | 'base64-float64le', name: string): Float64Array {
  const N = slots(shape.levels);
  if (!Array.isArray(v) || v.length !== shape.d) throw new TypeError(expected(`an array of d = ${shape.d} encoded arrays`, name, v));
  const out = new Float64Array(shape.d * N);
  v.forEach((item: unknown, j: number) => {
    let part: ArrayLike<unknown>;
    if (encoding === 'array') {
      if (!Array.isArray(item)) throw new TypeError(expected('an array of integers', `${name}[${j}]`, item));
      part = item;
    } else {
      if (typeof item !== 'string') throw new TypeError(expected('a base64 string', `${name}[${j}]`, item));
      const bytes = Buffer.from(item, 'base64');
      if (bytes.length !== (N - 2) * 8) throw new LemmaError('ERR_SHAPE', expected(`${(N - 2) * 8} bytes`, `${name}[${j}]`, `${bytes.length} bytes`));
      part = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    }
    if (part.length !== N - 2) throw new LemmaError('ERR_SHAPE', expected(`${N - 2} values (levels 1..${shape.levels})`, `${name}[${j}]`, item));
    for (let k = 0; k < N - 2; k++) {
      const x = part[k];
      if (typeof x !== 'number' || !Number.isInteger(x)) throw new RangeError(expected('an integer', `${name}[${j}][${k}]`, x));
      out[j * N + 2 + k] = x;
    }
  });
  return out;
}

function checkNoisePart(v: unknown, name: string): NoisePart {
  if (!is.object(v)) throw new TypeError(expected('{ t, s, sensitivity }', name, v));
  return {
    t: checkInteger(v.t, `${name}.t`, 1, MAX_SCALE_PART),
    s: checkInteger(v.s, `${name}.s`, 1, MAX_SCALE_PART),
    sensitivity: checkInteger(v.sensitivity, `${name}.sensitivity`, 1, Number.MAX_SAFE_INTEGER),
  };
}

/** Parses and checks a release document (self-consistency of every parameter included). */
export function fromDocument(doc: unknown): TreeState {
  if (!is.object(doc)) throw new TypeError(expected('a release document object', 'doc', doc));
  if (doc.format !== 'lemma.dp.l1-kde') throw new RangeError(expected("format 'lemma.dp.l1-kde'", 'doc.format', doc.format));
  if (doc.version !== 1) throw new RangeError(expected('version 1', 'doc.version', doc.version));
  const structure = checkOneOf(doc.structure, 'doc.structure', ['tree', 'baseline'] as const);
  const epsilon = checkNumber(doc.epsilon, 'doc.epsilon', { min: 0, exclusiveMin: true });
  const neighbour = checkOneOf(doc.neighbour, 'doc.neighbour', NEIGHBOURS);
  const d = checkInteger(doc.d, 'doc.d', 1, 2 ** 24);
  const levels = checkInteger(doc.levels, 'doc.levels', 1, MAX_LEVELS);
  const gridBits = checkInteger(doc.gridBits, 'doc.gridBits', levels, MAX_GRID_BITS);
  const { lo, hi } = parseRange(doc.ranges, d, 'doc.ranges');
  const shape: TreeShape = { d, levels, gridBits, lo, hi };
  const encoding = checkOneOf(doc.encoding, 'doc.encoding', ['array', 'base64-float64le'] as const);
  let budgetSplit: number | null = null;
  let alpha: number | null = null;
  let bandCounts: 'independent' | 'prefix' | null = null;
  if (structure === 'tree') {
    budgetSplit = checkNumber(doc.budgetSplit, 'doc.budgetSplit', { min: 0, max: 1 });
    if (budgetSplit === 0 || budgetSplit === 1) throw new RangeError(expected('a number strictly between 0 and 1', 'doc.budgetSplit', budgetSplit));
  } else {
    alpha = checkNumber(doc.alpha, 'doc.alpha', { min: 0, max: 16, exclusiveMin: true });
    bandCounts = checkOneOf(doc.bandCounts, 'doc.bandCounts', ['independent', 'prefix'] as const);
  }
  if (!is.object(doc.noise) || doc.noise.mechanism !== 'discrete-laplace') {
    throw new RangeError(expected("{ mechanism: 'discrete-laplace', ... }", 'doc.noise', doc.noise));
  }
  const countNoise = checkNoisePart(doc.noise.counts, 'doc.noise.counts');
  const sumNoise = structure === 'tree' ? checkNoisePart(doc.noise.sums, 'doc.noise.sums') : null;
  // The scales must be the ones these public parameters imply.
  const want = noiseParts(structure, shape, epsilon, neighbour, budgetSplit);
  const same = (a: NoisePart, b: NoisePart) => a.t === b.t && a.s === b.s && a.sensitivity === b.sensitivity;
  if (!same(countNoise, want.countNoise) || (sumNoise && !same(sumNoise, want.sumNoise!))) {
    throw new RangeError(expected(`noise parameters implied by epsilon, neighbour, d, levels and gridBits (${JSON.stringify(want)})`, 'doc.noise', doc.noise));
  }
  const cnt = decodeArrays(doc.counts, shape, encoding, 'doc.counts');
  const sum = structure === 'tree' ? decodeArrays(doc.sums, shape, encoding, 'doc.sums') : null;
  return { structure, shape, cnt, sum, countNoise, sumNoise, epsilon, neighbour, budgetSplit, alpha, bandCounts };
}
