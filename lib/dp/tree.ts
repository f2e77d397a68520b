/**
 * Internals shared by the private L1 KDE structures (lib/dp/l1-kde.ts, lib/dp/baseline.ts):
 * option parsing, the budget allocation and noise scales, the exact native build, the noise, and
 * the release document. See native/dp/dp.h for the tree layout and spec dp-kde-l1.md §4.
 *
 * Values are quantised to the public grid x̄ ∈ {0 .. 2^q − 1}; per coordinate a complete binary
 * tree over the grid stores, for every node v of levels 1..L (the root is never read by a query,
 * so it is not released), a count c_v and a distance sum. Node v at level ℓ covers the W_ℓ = 2^{q−ℓ}
 * grid values [a_v, e_v] (e_v = a_v + W_ℓ − 1).
 *
 * Variant 'midpoint' (the default). The distance sum of v is measured from v's edge that faces
 * its sibling (the parent's midpoint): s′_v = Σ (e_v − x̄) for a left child, Σ (x̄ − a_v) for a
 * right child. One point moves one node per level, so per level and coordinate:
 *   add-remove:  Δc_ℓ = 1,  Δs_ℓ = W_ℓ − 1          replace: twice both
 * (0 when W_ℓ = 1: such sums are always 0 and are released exactly, with no noise and no budget).
 * A query reads, per level, the path node's sibling V, entirely on one side of u, and adds
 * s̃′_V + |u − edge_V|·c̃_V with |u − edge_V| ≤ W_ℓ: still two reads per level, exact without
 * noise, and the sum's sensitivity shrinks with the level instead of being the whole range.
 * Each (part, level) is its own discrete Laplace mechanism with ε_k = ε·share_k/d; basic
 * composition over the 2L parts and the d coordinates gives ε when Σ share_k ≤ 1. The answer's
 * noise variance is Σ_k coef_k²·2(Δ_k/ε_k)² (≈ discrete Laplace) with coef = W_ℓ for counts and 1
 * for sums; minimising Σ_k a_k²/ε_k² subject to Σ_k ε_k = B (a_k = coef_k·Δ_k) gives, by Lagrange,
 * ε_k ∝ a_k^{2/3} and the minimum (Σ_k a_k^{2/3})³/B², a geometric allocation (more budget to the
 * wide upper levels). Shares are rounded down to multiples of 2⁻⁴⁰, so they sum to at most 1.
 * For storage the released s̃′ are turned back into sums from 0 (s̃ = e_V·c̃ − s̃′ for a left child,
 * a_V·c̃ + s̃′ for a right child: post-processing), which the native query reads unchanged:
 * −(u·c̃ − s̃) = s̃′ + (a_V − u)·c̃ for a right sibling, and likewise on the left.
 *
 * Variant 'paper' (the earlier reconstruction, kept for the record): sums from 0, one scale per
 * part for the whole tree,
 *   add-remove:  Δ_count = L,   Δ_sum = L·(2^q − 1)       replace: twice both
 * with ε_count = ε·split/d and ε_sum = ε·(1 − split)/d per coordinate.
 * Baseline: counts only, Δ = L (2L), ε/d per coordinate.
 * Scales λ = Δ/ε_part are computed as exact rationals from the doubles given and rounded up
 * only if they do not fit 45-bit integers.
 *
 * After the release, answers may come from its least-squares consistent fit (lib/dp/consistency.ts):
 * post-processing, so the release itself (what the document stores) is unchanged.
 * Side channels: NaN quantises to the range's lower end inside the mechanism (no refusal that
 * would locate it); messages about X name positions and types, never values; the exactness
 * limit of the sums is decided from the public maxRows, and the only data-dependent refusal
 * (n > maxRows) does not state n.
 */
import { LemmaError } from '../errors.js';
import { native } from '../binding.js';
import type { FloatArray, NativeDpParams } from '../binding.js';
import { checkTensor, privateData } from '../tensor.js';
import { checkBoolean, checkInteger, checkNumber, checkOneOf, checkOptions, expected, is } from '../validation/index.js';
import { PrivacyAccountant } from './accountant.js';
import { DiscreteLaplaceSampler, discreteLaplaceVariance, doubleToRational, MAX_SCALE_PART, rationalScale } from './discrete-laplace.js';
import type { RationalScale } from './discrete-laplace.js';
import { checkKnownKeys, throwIfAborted } from '../validation/options.js';
import { LONG_WORK_OPTIONS, checkLongWork, runLong } from '../long-work.js';
import type { LongWork, LongWorkOptions, WorkProgress } from '../long-work.js';
import { makeConsistent } from './consistency.js';
import { RandomSource, randomSourceFromOptions } from './random.js';

export type Neighbour = 'add-remove' | 'replace';
export const NEIGHBOURS: readonly Neighbour[] = ['add-remove', 'replace'];
export type Variant = 'midpoint' | 'paper';
export const VARIANTS: readonly Variant[] = ['midpoint', 'paper'];

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
  /** The tree's construction (null for the baseline). */
  variant: Variant | null;
  shape: TreeShape;
  /** [d, 2^{L+1}] the counts the query reads: the released ones, or their consistent fit (slots 0, 1 are 0). */
  cnt: Float64Array;
  /** The noisy counts as released (integers; the same array as `cnt` without consistency). */
  cntReleased: Float64Array;
  /** Whether the query arrays are the consistent (least-squares) fit of the release. */
  consistency: boolean;
  /** [d, 2^{L+1}] noisy sums from 0 in grid units, what the query reads (tree only). */
  sum: Float64Array | null;
  /** The sums as released: edge-relative s̃′ ('midpoint') or the same array as `sum` ('paper'). */
  sumReleased: Float64Array | null;
  /** The noise of each level 1..L (index ℓ − 1); 'paper' and the baseline use one part throughout. */
  countNoise: NoisePart[];
  sumNoise: NoisePart[] | null;
  epsilon: number;
  neighbour: Neighbour;
  budgetSplit: number | null;
  alpha: number | null;
  bandCounts: 'independent' | 'prefix' | null;
}

/**
 * The discrete Laplace noise of one part (counts or sums) at one level, per node. A part of
 * sensitivity 0 (sums of one-grid-value nodes, always 0) has t = 0: no noise, no budget.
 */
export interface NoisePart {
  /** Scale λ = t/s: P(Z = z) ∝ exp(−|z|·s/t). */
  t: number;
  s: number;
  /** L1 sensitivity of this part (of one level, or of the whole tree for 'paper'), in grid units. */
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

/**
 * Checks points [n, d] and returns a flat row-major array (rows are copied into a Float64Array).
 * With `privateValues` (the data X) messages name positions and types, never the values.
 */
export function checkPoints(X: unknown, name: string, d?: number, privateValues = false): { data: FloatArray; n: number; d: number; copied: boolean } {
  const message = (what: string, where: string, v: unknown) => (privateValues ? expectedPrivate(what, where, v) : expected(what, where, v));
  if (Array.isArray(X)) {
    const n = X.length;
    if (n === 0 && d === undefined) {
      throw new LemmaError('ERR_SHAPE', expected('at least one row (use a tensor { data, shape: [0, d] } for no rows)', name, X));
    }
    const dd = d ?? (X[0] as ArrayLike<number>)?.length;
    const data = new Float64Array(n * (dd ?? 0));
    for (let i = 0; i < n; i++) {
      const row = X[i] as unknown;
      if (!(Array.isArray(row) || ArrayBuffer.isView(row))) throw new TypeError(message('an array of numbers', `${name}[${i}]`, row));
      const r = row as ArrayLike<unknown>;
      if (r.length !== dd) throw new LemmaError('ERR_SHAPE', message(`a row of ${dd} numbers`, `${name}[${i}]`, row) + (privateValues ? ` (${r.length} values)` : ''));
      for (let j = 0; j < dd; j++) {
        const v = r[j];
        if (typeof v !== 'number') throw new TypeError(message('a number', `${name}[${i}][${j}]`, v));
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

/** The message formatter for private data: the position and the type, never the value. */
function expectedPrivate(what: string, name: string, value: unknown): string {
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : ArrayBuffer.isView(value) ? value.constructor.name : typeof value;
  return `Expected ${what} for ${name} but received a value of type ${type} (private data: the value is not shown)`;
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
export interface CommonOptions extends LongWorkOptions {
  /** Total privacy budget ε of the release (pure ε-DP), a finite number > 0. */
  epsilon: number;
  /** Public data range: R (coordinates in [0, R]), [lo, hi] for all, or per coordinate. */
  range: RangeOption;
  /**
   * Tree depth L (1..26; 2^L leaves of width range/2^L). With neighbour 'add-remove' it comes
   * from `levels` or from the public bound `maxRows` (⌈log₂ maxRows⌉), never from the private n;
   * with 'replace' it defaults to ⌈log₂ n⌉ (n is public under replace-one).
   */
  levels?: number;
  /**
   * A public upper bound on the number of rows. It sets the default depth under 'add-remove' and
   * the exactness limit of the sums (maxRows·(2^gridBits − 1) < 2^53). A dataset with more rows is
   * refused (ERR_RANGE, without its size): the one data-dependent refusal, so choose it from
   * public knowledge. Default: the largest count the sums hold exactly, ⌊(2^53 − 1)/(2^q − 1)⌋.
   */
  maxRows?: number;
  /** Grid resolution q (values quantised to 2^q levels per coordinate), levels..32; default max(20, levels). */
  gridBits?: number;
  /** Neighbouring datasets: 'add-remove' (default; one point added or removed) or 'replace'. */
  neighbour?: Neighbour;
  /**
   * Answer from the least-squares consistent fit of the released tree (default true): free
   * post-processing (lib/dp/consistency.ts). Applies to the counts (and to the 'paper' tree's sums
   * from 0); the release document keeps the raw noisy integers and records this choice.
   */
  consistency?: boolean;
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
  work: LongWork;
  variant: Variant | null;
  consistency: boolean;
  shape: TreeShape;
  maxRows: number;
  epsilon: number;
  neighbour: Neighbour;
  budgetSplit: number | null;
  alpha: number | null;
  bandCounts: 'independent' | 'prefix' | null;
  countNoise: NoisePart[];
  sumNoise: NoisePart[] | null;
  accountant: PrivacyAccountant | null;
  label: string;
  rng: RandomSource;
}

export function depthFor(n: number): number {
  let L = 1;
  while (2 ** L < n && L < MAX_LEVELS) L++;
  return L;
}

/** Δ of one coordinate tree for a part of the 'paper' variant, in grid units. */
export function sensitivities(levels: number, gridBits: number, neighbour: Neighbour): { count: number; sum: number } {
  const k = neighbour === 'replace' ? 2 : 1;
  return { count: k * levels, sum: k * levels * gridTop(gridBits) };
}

/** Per-level Δ of the 'midpoint' variant (index ℓ − 1): counts k, edge-relative sums k·(W_ℓ − 1). */
export function levelSensitivities(levels: number, gridBits: number, neighbour: Neighbour): { count: number[]; sum: number[] } {
  const k = neighbour === 'replace' ? 2 : 1;
  const count: number[] = [], sum: number[] = [];
  for (let l = 1; l <= levels; l++) {
    count.push(k);
    sum.push(k * (2 ** (gridBits - l) - 1));
  }
  return { count, sum };
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

const SHARE_BITS = 40n;

/**
 * The 'midpoint' allocation (see the module comment): share_k ∝ (coef_k·Δ_k)^{2/3} over the
 * counts and sums of every level, rounded down to multiples of 2⁻⁴⁰ (so Σ share_k ≤ 1).
 */
export function midpointShares(levels: number, gridBits: number, neighbour: Neighbour): { count: bigint[]; sum: bigint[]; den: bigint } {
  const sens = levelSensitivities(levels, gridBits, neighbour);
  const wc = sens.count.map((dc, i) => (2 ** (gridBits - i - 1) * dc) ** (2 / 3));
  const ws = sens.sum.map((ds) => ds ** (2 / 3));
  const total = [...wc, ...ws].reduce((a, b) => a + b, 0);
  const den = 1n << SHARE_BITS;
  const share = (w: number) => BigInt(Math.floor((w / total) * Number(den)));
  const count = wc.map(share), sum = ws.map(share);
  // Σ shares ≤ 1 exactly: the rounded quotients exceed the true ones by far less than 2⁻⁴⁰ in all.
  if ([...count, ...sum].reduce((a, b) => a + b, 0n) > den) throw new LemmaError('ERR_INTERNAL', 'the budget shares add up to more than 1');
  return { count, sum, den };
}

export function noiseParts(structure: 'tree' | 'baseline', variant: Variant | null, shape: TreeShape, epsilon: number,
  neighbour: Neighbour, budgetSplit: number | null): { countNoise: NoisePart[]; sumNoise: NoisePart[] | null } {
  const L = shape.levels;
  const repeat = (part: NoisePart) => Array.from({ length: L }, () => ({ ...part }));
  const sens = sensitivities(L, shape.gridBits, neighbour);
  if (structure === 'baseline') {
    return { countNoise: repeat({ ...partScale(sens.count, shape.d, epsilon, 1n, 1n, 'count'), sensitivity: sens.count }), sumNoise: null };
  }
  if (variant === 'paper') {
    const split = doubleToRational(budgetSplit!);
    return {
      countNoise: repeat({ ...partScale(sens.count, shape.d, epsilon, split.num, split.den, 'count'), sensitivity: sens.count }),
      sumNoise: repeat({ ...partScale(sens.sum, shape.d, epsilon, split.den - split.num, split.den, 'sum'), sensitivity: sens.sum }),
    };
  }
  const ls = levelSensitivities(L, shape.gridBits, neighbour);
  const sh = midpointShares(L, shape.gridBits, neighbour);
  const part = (delta: number, share: bigint, what: string): NoisePart =>
    delta === 0 ? { t: 0, s: 1, sensitivity: 0 } : { ...partScale(delta, shape.d, epsilon, share, sh.den, what), sensitivity: delta };
  return {
    countNoise: ls.count.map((dc, i) => part(dc, sh.count[i], `level-${i + 1} count`)),
    sumNoise: ls.sum.map((ds, i) => part(ds, sh.sum[i], `level-${i + 1} sum`)),
  };
}

/** The largest row count whose sums stay exact in fp64: n·(2^q − 1) < 2^53. */
export function exactRowLimit(gridBits: number): number {
  return Math.floor((2 ** 53 - 1) / gridTop(gridBits));
}

/** Validates everything and computes the scales; draws nothing and charges nothing. */
const COMMON_OPTIONS = ['epsilon', 'range', 'levels', 'maxRows', 'gridBits', 'neighbour', 'consistency', 'accountant', 'label', 'seed', 'insecureDeterministic', ...LONG_WORK_OPTIONS];

export function plan(structure: 'tree' | 'baseline', n: number, d: number, options: unknown): Plan {
  const opts = checkOptions(options, 'options');
  checkKnownKeys(opts, 'options', [...COMMON_OPTIONS, ...(structure === 'tree' ? ['variant', 'budgetSplit'] : ['alpha', 'bandCounts'])]);
  const epsilon = checkNumber(opts.epsilon, 'options.epsilon', { min: 0, exclusiveMin: true });
  const { lo, hi } = parseRange(opts.range, d, 'options.range');
  const neighbour = checkOneOf(opts.neighbour ?? 'add-remove', 'options.neighbour', NEIGHBOURS);
  const maxRowsGiven = opts.maxRows === undefined ? undefined : checkInteger(opts.maxRows, 'options.maxRows', 1, Number.MAX_SAFE_INTEGER);
  let levels: number;
  if (opts.levels !== undefined) {
    levels = checkInteger(opts.levels, 'options.levels', 1, MAX_LEVELS);
  } else if (maxRowsGiven !== undefined) {
    levels = depthFor(maxRowsGiven);
  } else if (neighbour === 'replace') {
    levels = depthFor(n);
  } else {
    throw new TypeError(expected(`an integer between 1 and ${MAX_LEVELS}, or a public bound options.maxRows (required with neighbour 'add-remove': a depth derived from n would reveal n)`, 'options.levels', undefined));
  }
  const gridBits = opts.gridBits === undefined ? Math.max(DEFAULT_GRID_BITS, levels) : checkInteger(opts.gridBits, 'options.gridBits', levels, MAX_GRID_BITS);
  const limit = exactRowLimit(gridBits);
  if (maxRowsGiven !== undefined && maxRowsGiven > limit) {
    throw new RangeError(expected(`at most ${limit} rows for gridBits = ${gridBits} (maxRows·(2^gridBits − 1) < 2^53 keeps the sums exact; lower gridBits)`, 'options.maxRows', maxRowsGiven));
  }
  const maxRows = maxRowsGiven ?? limit;
  let variant: Variant | null = null;
  let budgetSplit: number | null = null;
  let alpha: number | null = null;
  let bandCounts: 'independent' | 'prefix' | null = null;
  if (structure === 'tree') {
    variant = checkOneOf(opts.variant ?? 'midpoint', 'options.variant', VARIANTS);
    if (variant === 'paper') {
      budgetSplit = opts.budgetSplit === undefined ? 0.5 : checkNumber(opts.budgetSplit, 'options.budgetSplit', { min: 0, max: 1 });
      if (budgetSplit === 0 || budgetSplit === 1) throw new RangeError(expected('a number strictly between 0 and 1', 'options.budgetSplit', budgetSplit));
    } else if (opts.budgetSplit !== undefined) {
      throw new RangeError(expected("no budgetSplit with variant 'midpoint' (it allocates ε over levels and parts itself; budgetSplit applies to variant 'paper')", 'options.budgetSplit', opts.budgetSplit));
    }
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
  const consistency = opts.consistency === undefined ? true : checkBoolean(opts.consistency, 'options.consistency');
  const rng = randomSourceFromOptions(opts, 'options');
  const shape: TreeShape = { d, levels, gridBits, lo, hi };
  const { countNoise, sumNoise } = noiseParts(structure, variant, shape, epsilon, neighbour, budgetSplit);
  return { structure, variant, consistency, shape, maxRows, epsilon, neighbour, budgetSplit, alpha, bandCounts, countNoise, sumNoise, accountant: acc, label, rng, work: checkLongWork(opts) };
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
export async function buildExact(data: FloatArray, n: number, shape: TreeShape, opts: { ref?: boolean; sync?: boolean; work?: LongWork } = {}): Promise<{ cnt: Float64Array; sum: Float64Array }> {
  const cnt = allocTree(shape);
  const sum = allocTree(shape);
  const p = nativeParams(shape, { n, ref: opts.ref ?? false });
  if (opts.sync) native.dpL1BuildSync(data, cnt, sum, p);
  else await runLong('the private L1 KDE build', opts.work ?? NO_WORK, () => native.dpL1Build(data, cnt, sum, p));
  return { cnt, sum };
}

const NO_WORK: LongWork = { signal: undefined, onProgress: undefined };
const NOISE_CHUNK = 1 << 16;
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Adds one independent discrete Laplace draw to every released slot (levels 1..L: slots
 * 2..2^{L+1}−1 of each coordinate), with the scale of the slot's level, in place, so the exact
 * values do not survive. Parts of sensitivity 0 hold exact zeros and get no noise. Yields to the
 * event loop between chunks of 65 536 draws.
 */
export async function addNoise(arr: Float64Array, shape: TreeShape, parts: readonly NoisePart[], rng: RandomSource, signal?: AbortSignal,
  onChunk?: () => void): Promise<void> {
  const N = slots(shape.levels);
  for (let l = 1; l <= shape.levels; l++) {
    const part = parts[l - 1];
    if (part.sensitivity === 0) continue;
    const sampler = new DiscreteLaplaceSampler(part, rng);
    for (let j = 0; j < shape.d; j++) {
      const end = j * N + 2 ** (l + 1);
      for (let v = j * N + 2 ** l; v < end; v += NOISE_CHUNK) {
        sampler.addTo(arr, v, Math.min(end, v + NOISE_CHUNK));
        onChunk?.();
        await yieldToLoop();
        throwIfAborted(signal, 'the private L1 KDE build');
      }
    }
  }
}

/** The chunks {@link addNoise} draws for these parts (its progress unit). */
function noiseChunks(shape: TreeShape, parts: readonly NoisePart[]): number {
  let n = 0;
  for (let l = 1; l <= shape.levels; l++) if (parts[l - 1].sensitivity !== 0) n += shape.d * Math.ceil(2 ** l / NOISE_CHUNK);
  return n;
}

/**
 * Progress of a whole private build for `onProgress`, in one count: the native build's tasks
 * (phase 'exact tree'), then one unit per noise chunk (phase 'noise'; their number is known from
 * the public shape up front, so the fraction only grows), at most every 100 ms and at the end.
 */
function buildProgress(onProgress: ((p: WorkProgress) => void) | undefined, noiseTotal: number) {
  const t0 = performance.now();
  let base = { done: 0, total: 0 };
  let noiseDone = 0, last = -Infinity;
  const emit = (phase: string) => {
    const done = base.done + noiseDone, total = base.total + noiseTotal;
    onProgress!({ done, total, fraction: total > 0 ? done / total : 0, elapsedSeconds: (performance.now() - t0) / 1000, phase });
  };
  return {
    /** The native build's options: its reports, counted with the noise still to come. */
    native: (signal: AbortSignal | undefined): LongWork => ({
      signal,
      onProgress: onProgress && ((p: WorkProgress) => { base = p; emit('exact tree'); }),
    }),
    chunk: onProgress ? () => {
      noiseDone++;
      const now = performance.now();
      if (noiseDone < noiseTotal && now - last < 100) return;
      last = now;
      emit('noise');
    } : undefined,
  };
}

/** Grid interval [a, e] of heap node v at level l (W = 2^{q−l} values). */
export function nodeEnds(v: number, l: number, gridBits: number): [number, number] {
  const W = 2 ** (gridBits - l);
  const a = (v - 2 ** l) * W;
  return [a, a + W - 1];
}

/**
 * Exact sums from 0 → edge-relative sums s′ (new array): Σ (e_v − x̄) = e_v·c − s for a left child
 * (even v), Σ (x̄ − a_v) = s − a_v·c for a right child. Integers below 2^53 (c·e_v < n·2^q).
 */
export function toEdgeRelative(cnt: Float64Array, sum: Float64Array, shape: TreeShape): Float64Array {
  const N = slots(shape.levels);
  const out = new Float64Array(cnt.length);
  for (let j = 0; j < shape.d; j++) {
    for (let l = 1; l <= shape.levels; l++) {
      for (let v = 2 ** l; v < 2 ** (l + 1); v++) {
        const [a, e] = nodeEnds(v, l, shape.gridBits);
        const k = j * N + v;
        out[k] = (v & 1) === 0 ? e * cnt[k] - sum[k] : sum[k] - a * cnt[k];
      }
    }
  }
  return out;
}

/**
 * Post-processing of a release: noisy edge-relative sums and counts → the sums from 0 the query
 * reads (into `out` when given: a spare array of the same size).
 */
export function fromEdgeRelative(cnt: Float64Array, rel: Float64Array, shape: TreeShape, out: Float64Array = new Float64Array(cnt.length)): Float64Array {
  const N = slots(shape.levels);
  out.fill(0);
  for (let j = 0; j < shape.d; j++) {
    for (let l = 1; l <= shape.levels; l++) {
      for (let v = 2 ** l; v < 2 ** (l + 1); v++) {
        const [a, e] = nodeEnds(v, l, shape.gridBits);
        const k = j * N + v;
        out[k] = (v & 1) === 0 ? e * cnt[k] - rel[k] : a * cnt[k] + rel[k];
      }
    }
  }
  return out;
}

/** Validate → charge the budget → exact native build → noise in place. Returns the release state. */
export async function buildPrivate(structure: 'tree' | 'baseline', X: unknown, options: unknown): Promise<TreeState> {
  const pts = checkPoints(X, 'X', undefined, true);
  const pl = plan(structure, pts.n, pts.d, options);
  if (pts.n > pl.maxRows) {
    throw new LemmaError('ERR_RANGE', `X has more rows than maxRows = ${pl.maxRows}, the public bound the sums' exactness and the depth rely on`);
  }
  // An abort before this point charges nothing; after it, the budget stays spent (conservative).
  throwIfAborted(pl.work.signal, 'the private L1 KDE build');
  pl.accountant?.spend(pl.epsilon, pl.label);
  const sumNoised = pl.variant === 'paper' || pl.variant === 'midpoint';
  const progress = buildProgress(pl.work.onProgress, noiseChunks(pl.shape, pl.countNoise) + (sumNoised ? noiseChunks(pl.shape, pl.sumNoise!) : 0));
  let exact: { cnt: Float64Array; sum: Float64Array };
  try {
    exact = await buildExact(pts.data, pts.n, pl.shape, { work: progress.native(pl.work.signal) });
  } finally {
    if (pts.copied) pts.data.fill(0); // our own copy of the raw data: do not leave it behind
  }
  // Edge-relative sums come from the exact counts, before the counts' noise touches them.
  const rel = pl.variant === 'midpoint' ? toEdgeRelative(exact.cnt, exact.sum, pl.shape) : null;
  await addNoise(exact.cnt, pl.shape, pl.countNoise, pl.rng, pl.work.signal, progress.chunk);
  let sumReleased: Float64Array | null = null;
  if (pl.variant === 'paper') {
    await addNoise(exact.sum, pl.shape, pl.sumNoise!, pl.rng, pl.work.signal, progress.chunk);
    sumReleased = exact.sum;
  } else {
    exact.sum.fill(0); // the exact sums from 0 are not released ('midpoint' releases s̃′, the baseline nothing)
    if (rel) {
      await addNoise(rel, pl.shape, pl.sumNoise!, pl.rng, pl.work.signal, progress.chunk);
      sumReleased = rel;
    }
  }
  return withQueryArrays({
    structure, variant: pl.variant, shape: pl.shape, cntReleased: exact.cnt, sumReleased, consistency: pl.consistency,
    countNoise: pl.countNoise, sumNoise: pl.sumNoise, epsilon: pl.epsilon, neighbour: pl.neighbour,
    budgetSplit: pl.budgetSplit, alpha: pl.alpha, bandCounts: pl.bandCounts,
  }, pl.variant === 'midpoint' ? exact.sum : undefined);
}

/** A copy of one part made consistent with its per-level noise variances. */
function consistentCopy(values: Float64Array, shape: TreeShape, parts: readonly NoisePart[]): Float64Array {
  const out = values.slice();
  makeConsistent(out, shape.d, shape.levels, parts.map(noiseVariance));
  return out;
}

/**
 * The arrays the native query reads, from the release (post-processing only): the counts, or
 * their consistent fit; the sums from 0 ('paper': as released, or their consistent fit;
 * 'midpoint': rebuilt from the edge-relative sums and those counts).
 */
/** States made here (a build or a loaded document): the structures' constructors take no other. */
export const STATES = new WeakSet<TreeState>();

export function withQueryArrays(st: Omit<TreeState, 'cnt' | 'sum'>, spare?: Float64Array): TreeState {
  const cnt = st.consistency ? consistentCopy(st.cntReleased, st.shape, st.countNoise) : st.cntReleased;
  let sum: Float64Array | null = null;
  if (st.variant === 'paper') sum = st.consistency ? consistentCopy(st.sumReleased!, st.shape, st.sumNoise!) : st.sumReleased;
  else if (st.variant === 'midpoint') sum = fromEdgeRelative(cnt, st.sumReleased!, st.shape, spare);
  const state: TreeState = { ...st, cnt, sum };
  STATES.add(state);
  return state;
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
  /** 2 (version 1 documents, 'paper' trees with one noise part per part, still load). */
  version: 2;
  /** 'tree' (arXiv 2409.01688) or 'baseline' (Backurs et al. ICLR 2024). */
  structure: 'tree' | 'baseline';
  /** Tree: 'midpoint' (sums from the edge facing the sibling) or 'paper' (sums from 0). */
  variant?: Variant;
  epsilon: number;
  neighbour: Neighbour;
  /** Tree, variant 'paper': share of ε given to the counts. */
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
  /** The noise of levels 1..L (one entry per level). */
  noise: { mechanism: 'discrete-laplace'; counts: NoisePart[]; sums?: NoisePart[] };
  /** Post-processing the answers use: the least-squares consistent fit of the release (version 2; absent: false). */
  consistency?: boolean;
  /** 'array': plain integer arrays; 'base64-float64le': each array's fp64 little-endian bytes. */
  encoding: 'array' | 'base64-float64le';
  /** Per coordinate, the nodes of levels 1..L in heap order (2^{L+1} − 2 integers). */
  counts: number[][] | string[];
  /** Per coordinate, like counts, in grid units (tree only): the released sums (edge-relative for 'midpoint'). */
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
  checkKnownKeys(opts, 'options', ['encoding']);
  const encoding = checkOneOf(opts.encoding ?? 'array', 'options.encoding', ['array', 'base64-float64le'] as const);
  const doc: L1KdeDocument = {
    format: 'lemma.dp.l1-kde',
    version: 2,
    structure: st.structure,
    epsilon: st.epsilon,
    neighbour: st.neighbour,
    d: st.shape.d,
    levels: st.shape.levels,
    gridBits: st.shape.gridBits,
    ranges: Array.from(st.shape.lo, (lo, j) => [lo, st.shape.hi[j]] as [number, number]),
    noise: { mechanism: 'discrete-laplace', counts: st.countNoise.map((p) => ({ ...p })) },
    consistency: st.consistency,
    encoding,
    counts: encodeArrays(st.cntReleased, st.shape, encoding),
  };
  if (st.variant !== null) doc.variant = st.variant;
  if (st.budgetSplit !== null) doc.budgetSplit = st.budgetSplit;
  if (st.alpha !== null) doc.alpha = st.alpha;
  if (st.bandCounts !== null) doc.bandCounts = st.bandCounts;
  if (st.sumReleased && st.sumNoise) {
    doc.noise.sums = st.sumNoise.map((p) => ({ ...p }));
    doc.sums = encodeArrays(st.sumReleased, st.shape, encoding);
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
  const sensitivity = checkInteger(v.sensitivity, `${name}.sensitivity`, 0, Number.MAX_SAFE_INTEGER);
  return {
    t: checkInteger(v.t, `${name}.t`, sensitivity === 0 ? 0 : 1, MAX_SCALE_PART),
    s: checkInteger(v.s, `${name}.s`, 1, MAX_SCALE_PART),
    sensitivity,
  };
}

/** Version 2: one part per level; version 1: one part for the whole tree (repeated per level). */
function checkNoiseParts(v: unknown, name: string, levels: number, version: number): NoisePart[] {
  if (version === 1) {
    const p = checkNoisePart(v, name);
    return Array.from({ length: levels }, () => ({ ...p }));
  }
  if (!Array.isArray(v) || v.length !== levels) throw new TypeError(expected(`an array of ${levels} noise parts (one per level)`, name, v));
  return v.map((p, i) => checkNoisePart(p, `${name}[${i}]`));
}

/** Parses and checks a release document (self-consistency of every parameter included). */
export function fromDocument(doc: unknown): TreeState {
  if (!is.object(doc)) throw new TypeError(expected('a release document object', 'doc', doc));
  if (doc.format !== 'lemma.dp.l1-kde') throw new RangeError(expected("format 'lemma.dp.l1-kde'", 'doc.format', doc.format));
  if (doc.version !== 1 && doc.version !== 2) throw new RangeError(expected('version 1 or 2', 'doc.version', doc.version));
  const version = doc.version;
  const structure = checkOneOf(doc.structure, 'doc.structure', ['tree', 'baseline'] as const);
  const epsilon = checkNumber(doc.epsilon, 'doc.epsilon', { min: 0, exclusiveMin: true });
  const neighbour = checkOneOf(doc.neighbour, 'doc.neighbour', NEIGHBOURS);
  const d = checkInteger(doc.d, 'doc.d', 1, 2 ** 24);
  const levels = checkInteger(doc.levels, 'doc.levels', 1, MAX_LEVELS);
  const gridBits = checkInteger(doc.gridBits, 'doc.gridBits', levels, MAX_GRID_BITS);
  const { lo, hi } = parseRange(doc.ranges, d, 'doc.ranges');
  const shape: TreeShape = { d, levels, gridBits, lo, hi };
  const encoding = checkOneOf(doc.encoding, 'doc.encoding', ['array', 'base64-float64le'] as const);
  let variant: Variant | null = null;
  let budgetSplit: number | null = null;
  let alpha: number | null = null;
  let bandCounts: 'independent' | 'prefix' | null = null;
  if (structure === 'tree') {
    variant = version === 1 ? 'paper' : checkOneOf(doc.variant, 'doc.variant', VARIANTS);
    if (variant === 'paper') {
      budgetSplit = checkNumber(doc.budgetSplit, 'doc.budgetSplit', { min: 0, max: 1 });
      if (budgetSplit === 0 || budgetSplit === 1) throw new RangeError(expected('a number strictly between 0 and 1', 'doc.budgetSplit', budgetSplit));
    }
  } else {
    alpha = checkNumber(doc.alpha, 'doc.alpha', { min: 0, max: 16, exclusiveMin: true });
    bandCounts = checkOneOf(doc.bandCounts, 'doc.bandCounts', ['independent', 'prefix'] as const);
  }
  if (!is.object(doc.noise) || doc.noise.mechanism !== 'discrete-laplace') {
    throw new RangeError(expected("{ mechanism: 'discrete-laplace', ... }", 'doc.noise', doc.noise));
  }
  const countNoise = checkNoiseParts(doc.noise.counts, 'doc.noise.counts', levels, version);
  const sumNoise = structure === 'tree' ? checkNoiseParts(doc.noise.sums, 'doc.noise.sums', levels, version) : null;
  // The scales must be the ones these public parameters imply.
  const want = noiseParts(structure, variant, shape, epsilon, neighbour, budgetSplit);
  const same = (a: NoisePart[], b: NoisePart[]) => a.every((p, i) => p.t === b[i].t && p.s === b[i].s && p.sensitivity === b[i].sensitivity);
  if (!same(countNoise, want.countNoise) || (sumNoise && !same(sumNoise, want.sumNoise!))) {
    throw new RangeError(expected('the noise parameters implied by epsilon, neighbour, variant, d, levels and gridBits', 'doc.noise', doc.noise));
  }
  const cnt = decodeArrays(doc.counts, shape, encoding, 'doc.counts');
  const sumReleased = structure === 'tree' ? decodeArrays(doc.sums, shape, encoding, 'doc.sums') : null;
  if (sumReleased && variant === 'midpoint') {
    // Levels whose sums have sensitivity 0 are released exactly: they must be 0.
    const N = slots(levels);
    sumNoise!.forEach((p, i) => {
      if (p.sensitivity !== 0) return;
      for (let j = 0; j < d; j++) {
        for (let v = 2 ** (i + 1); v < 2 ** (i + 2); v++) {
          if (sumReleased[j * N + v] !== 0) throw new RangeError(`doc.sums[${j}]: level ${i + 1} has one-value nodes, whose edge-relative sums are 0`);
        }
      }
    });
  }
  const consistency = doc.consistency === undefined ? false : checkBoolean(doc.consistency, 'doc.consistency');
  return withQueryArrays({ structure, variant, shape, cntReleased: cnt, sumReleased, consistency, countNoise, sumNoise, epsilon, neighbour, budgetSplit, alpha, bandCounts });
}
