/**
 * The earlier structure, for comparison: Backurs, Lin, Mahabadi, Silwal, Tarnawski (ICLR 2024),
 * as summarised in spec dp-kde-l1.md §4.6. Per coordinate, the same data-independent dyadic tree
 * but with noisy COUNTS only (all of ε/d to the counts). A query groups the leaves into distance
 * bands around u whose widths grow geometrically by (1 + α) — the own leaf, then 1, 2, 3, 5, 8 …
 * leaves on each side for α = 0.5 — and adds, per band, (noisy band count) × (distance from u to
 * the band's centre). A band count is two prefix sums over the tree (L nodes each), so a query
 * reads O(α⁻¹ L²) values per coordinate against the tree's 2L, and the answer is
 * (1 + O(α))-multiplicatively approximate before noise.
 * The band layout is mirrored exactly by native/dp/dp_cpu.cc (dp_l1_baseline_query_cpu).
 */
import { fromNative } from '../errors.js';
import { cpuOnly } from '../device.js';
import { checkOptions } from '../validation/index.js';
import { checkKnownKeys } from '../validation/options.js';
import { LONG_WORK_OPTIONS, checkLongWork, runLong } from '../long-work.js';
import type { QueryOptions, QueryResult } from './l1-kde.js';
import { native } from '../binding.js';
import { L1KdeStructure } from './structure.js';
import { queryVariance } from './consistency.js';
import { buildPrivate, checkPoint, checkQueries, gridCoord, nativeParams, noiseVariance } from './tree.js';
import type { CommonOptions, Points, TreeShape, TreeState } from './tree.js';

export interface BaselineOptions extends CommonOptions {
  /** Band growth: band widths grow by a factor (1 + α). Default 0.5. */
  alpha?: number;
  /**
   * How a band's noisy count is read. 'independent' (default, as in Backurs et al.): the
   * canonical dyadic cover of the band's leaves, disjoint between bands, so the bands' noises are
   * independent and the error grows like α^{−1/2}. 'prefix' (our variant, not from the paper):
   * P(B) − P(A) with the prefix sums shared between adjacent bands, so the noise telescopes —
   * same release, same privacy, different post-processing (see the report in bench/results).
   */
  bandCounts?: 'independent' | 'prefix';
}

/** The bands of one coordinate: leaves [A, B) and their representative distance r (grid units). */
function bands(shape: TreeShape, alpha: number, j: number, y: number): { list: Array<[number, number, number]>; gamma: number } {
  const L = shape.levels;
  const W = 2 ** (shape.gridBits - L);
  const nl = 2 ** L;
  const grow = 1 + alpha;
  const { u, leaf: pl, gamma } = gridCoord(shape, j, y);
  const rep = (A: number, B: number) => Math.abs(((A + B) * W - 1) * 0.5 - u);
  const list: Array<[number, number, number]> = [[pl, pl + 1, rep(pl, pl + 1)]];
  for (let o = 1; pl + o < nl;) {
    const o2 = Math.max(o + 1, Math.ceil(o * grow));
    const A = pl + o, B = Math.min(pl + o2, nl);
    list.push([A, B, rep(A, B)]);
    o = o2;
  }
  for (let o = 1; o <= pl;) {
    const o2 = Math.max(o + 1, Math.ceil(o * grow));
    const A = Math.max(pl - o2 + 1, 0), B = pl - o + 1;
    list.push([A, B, rep(A, B)]);
    o = o2;
  }
  return { list, gamma };
}

/** Nodes of Σ counts of leaves [0, k) (left siblings on the path to leaf k), as the native code reads them. */
function prefixNodes(L: number, k: number): number[] {
  const nl = 2 ** L;
  if (k === 0) return [];
  if (k >= nl) return [2, 3];
  const out: number[] = [];
  for (let l = 1; l <= L; l++) {
    const idx = 2 ** l + Math.floor(k / 2 ** (L - l));
    if (idx % 2 === 1) out.push(idx - 1);
  }
  return out;
}

/** Canonical dyadic cover of leaves [A, B) (bottom-up, as native/dp/dp_cpu.cc cover_count). */
function coverNodes(L: number, A: number, B: number): number[] {
  const out: number[] = [];
  let l = 2 ** L + A, r = 2 ** L + B;
  while (l < r) {
    if (l % 2 === 1) out.push(l++);
    if (r % 2 === 1) out.push(--r);
    l = Math.floor(l / 2);
    r = Math.floor(r / 2);
  }
  return out;
}

/**
 * One coordinate's answer as a linear form Σ_v coef_v·c̃_v on the count nodes (grid units; × γ
 * for real units), and the number of count values the native query reads.
 */
export function baselineLinearForm(shape: TreeShape, alpha: number, prefix: boolean, j: number, y: number): { coef: Map<number, number>; gamma: number; reads: number } {
  const L = shape.levels;
  const { list, gamma } = bands(shape, alpha, j, y);
  const coef = new Map<number, number>();
  const add = (nodes: number[], c: number) => {
    for (const v of nodes) coef.set(v, (coef.get(v) ?? 0) + c);
  };
  let reads = 0;
  if (prefix) {
    // Shared prefixes: P(leaf), P(leaf + 1), then one per outer band edge.
    const seen = new Set<number>();
    for (const [A, B, r] of list) {
      add(prefixNodes(L, B), r);
      add(prefixNodes(L, A), -r);
      for (const e of [A, B]) {
        if (!seen.has(e)) {
          seen.add(e);
          reads += prefixNodes(L, e).length;
        }
      }
    }
  } else {
    for (const [A, B, r] of list) {
      const nodes = coverNodes(L, A, B);
      add(nodes, r);
      reads += nodes.length;
    }
  }
  return { coef, gamma, reads };
}

/** A private L1 KDE of the Backurs et al. kind; create with {@link baselineL1Kde}. */
export class BaselineL1Kde extends L1KdeStructure {
  /** @internal */
  constructor(state: TreeState) {
    super(state);
  }

  /** Band growth α. */
  get alpha(): number {
    return this.state.alpha!;
  }

  /** How band counts are read: 'independent' covers or shared 'prefix' sums. */
  get bandCounts(): 'independent' | 'prefix' {
    return this.state.bandCounts!;
  }

  #params() {
    const st = this.state;
    return nativeParams(st.shape, { alpha: st.alpha!, prefixBands: st.bandCounts === 'prefix' });
  }

  /**
   * Estimates Σ_i ‖x_i − y‖₁ for every row of Y. Runs natively on worker threads (CPU only:
   * the baseline has no CUDA kernel).
   * @param Y [q, d] tensor or array of rows; finite numbers.
   * @param options `{ device }`: 'auto' or 'cpu' ('cuda' is ERR_CUDA_UNAVAILABLE).
   * @returns `{ estimates: Float64Array [q], device: 'cpu' }`.
   * @throws TypeError / RangeError for bad input; LemmaError ERR_SHAPE, ERR_DISPOSED.
   */
  async query(Y: Points, options?: QueryOptions): Promise<QueryResult> {
    const site = new Error();
    const st = this.state;
    const { data, q } = checkQueries(Y, 'Y', st.shape.d);
    const opts = checkOptions(options, 'options');
    checkKnownKeys(opts, 'options', ['device', ...LONG_WORK_OPTIONS]);
    const work = checkLongWork(opts);
    const device = cpuOnly(opts.device, 'options.device', 'the baseline has no CUDA kernel');
    const out = new Float64Array(q);
    try {
      await runLong('BaselineL1Kde.query', work, () => native.dpL1BaselineQuery(st.cnt, data, out, this.#params()));
    } catch (e) {
      throw fromNative(e, site);
    }
    return { estimates: out, device };
  }

  /** Estimate for one point y (d numbers). Synchronous. */
  queryOne(y: ArrayLike<number>): number {
    const site = new Error();
    const st = this.state;
    const v = checkPoint(y, 'y', st.shape.d);
    const out = new Float64Array(1);
    try {
      native.dpL1BaselineQuerySync(st.cnt, v, out, this.#params());
    } catch (e) {
      throw fromNative(e, site);
    }
    return out[0];
  }

  /**
   * Closed-form standard deviation of the noise in the answer at y: √(Σ_j γ_j²·Var(Z_count)·
   * Σ_v coef_v²) over the count nodes v the bands read (coef_v = the band's distance, or for
   * 'prefix' the telescoped sum of distances); with consistency, the variance of the same linear
   * form of the fitted counts (lib/dp/consistency.ts). The band approximation adds a
   * deterministic bias on top. Synchronous.
   */
  errorStd(y: ArrayLike<number>): number {
    const st = this.state;
    const v = checkPoint(y, 'y', st.shape.d);
    const vars = st.countNoise.map(noiseVariance);  // one scale for every level
    let total = 0;
    for (let j = 0; j < st.shape.d; j++) {
      const { coef, gamma } = baselineLinearForm(st.shape, st.alpha!, st.bandCounts === 'prefix', j, v[j]);
      let s2 = 0;
      if (st.consistency) s2 = queryVariance(coef, st.shape.levels, vars);
      else for (const c of coef.values()) s2 += c * c * vars[0];
      total += gamma * gamma * s2;
    }
    return Math.sqrt(total);
  }

  /** Count values a query at y reads, summed over coordinates (the cost model of spec §4.10). */
  nodeReads(y: ArrayLike<number>): number {
    const st = this.state;
    const v = checkPoint(y, 'y', st.shape.d);
    let total = 0;
    for (let j = 0; j < st.shape.d; j++) total += baselineLinearForm(st.shape, st.alpha!, st.bandCounts === 'prefix', j, v[j]).reads;
    return total;
  }
}

/**
 * Builds the earlier (Backurs et al., ICLR 2024) private structure over X, for comparison with
 * {@link l1Kde}: same options and API, noisy counts only, (1 + α) distance bands at query time.
 * Runs off the event loop (native build on a worker thread; the noise in chunks between turns).
 * @param X [n, d] points, a tensor or an array of rows. Values outside the range are clamped;
 *   NaN maps to the range's lower end.
 * @param options epsilon, range, levels, gridBits, neighbour, alpha, accountant, label.
 * @returns a Promise of a {@link BaselineL1Kde}.
 * @throws TypeError / RangeError for bad options; LemmaError ERR_BUDGET, ERR_SHAPE, ERR_RANGE.
 * @example
 * const base = await lemma.dp.baselineL1Kde(X, { epsilon: 1, range: 1, levels: 14, alpha: 0.5 });
 */
export async function baselineL1Kde(X: Points, options: BaselineOptions): Promise<BaselineL1Kde> {
  const site = new Error();
  try {
    return new BaselineL1Kde(await buildPrivate('baseline', X, options));
  } catch (e) {
    throw fromNative(e, site);
  }
}
