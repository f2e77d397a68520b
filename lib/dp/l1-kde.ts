/**
 * Differentially private L1 kernel density estimation: arXiv 2409.01688 (Liu, Hu, Reneau, Song,
 * Liu), as reconstructed in spec dp-kde-l1.md §4.3–4.5, with lower-noise sums by default.
 * Releases, per coordinate, a dyadic tree of noisy counts and noisy distance sums over a public
 * grid; any number of queries F̂(y) ≈ Σ_i ‖x_i − y‖₁ then read 2L values per coordinate and cost
 * no further privacy (post-processing).
 *
 * Guarantee: pure ε-DP for the chosen neighbouring relation, with the exact discrete Laplace
 * mechanism on integers (no floating-point noise); the sensitivities and the composition are in
 * lib/dp/tree.ts. Error: purely additive, zero-mean noise of standard deviation errorStd(y), plus
 * a deterministic bias of at most Σ_j (points in y_j's leaf)·leaf width (zero when
 * levels = gridBits), plus the quantisation of each value to the grid (≤ γ/2 per point and
 * coordinate). Variant 'midpoint' (default): sums measured from the edge each node shares with
 * its sibling, the budget spread over levels and parts to minimise the variance: the std no
 * longer grows with L. Variant 'paper': sums from 0, std = O(ε⁻¹ d^1.5 R L^1.5).
 */
import { fromNative } from '../errors.js';
import { native } from '../binding.js';
import { AUTO_CUDA_MIN, chooseDevice } from '../device.js';
import type { Device } from '../device.js';
import { checkOptions } from '../validation/index.js';
import { checkKnownKeys } from '../validation/options.js';
import { LONG_WORK_OPTIONS, checkLongWork, runLong } from '../long-work.js';
import type { LongWorkOptions } from '../long-work.js';
import { BaselineL1Kde } from './baseline.js';
import { L1KdeStructure } from './structure.js';
import { levelOf, queryVariance } from './consistency.js';
import { buildPrivate, checkPoint, checkQueries, fromDocument, gridCoord, nativeParams, nodeEnds, noiseVariance } from './tree.js';
import type { CommonOptions, Points, TreeState, Variant } from './tree.js';

export interface L1KdeOptions extends CommonOptions {
  /**
   * 'midpoint' (default): each node's distance sum is measured from its edge facing its sibling
   * and the budget is allocated over levels and parts (ε_k ∝ (coef·Δ_k)^{2/3}). 'paper': the
   * earlier reconstruction, sums from 0 and one scale per part (kept for the record).
   */
  variant?: Variant;
  /** Variant 'paper' only: share of ε given to the counts (the rest goes to the sums), in (0, 1). Default 0.5. */
  budgetSplit?: number;
}

export interface QueryOptions extends LongWorkOptions {
  /**
   * 'auto' (default: CUDA for batches of at least AUTO_CUDA_MIN.dpQueries = 4096 queries when
   * a GPU is usable, else CPU), 'cpu', or 'cuda' (ERR_CUDA_UNAVAILABLE without a usable GPU).
   */
  device?: Device;
}

/** What a batch query returns. */
export interface QueryResult {
  /** [q] estimates of Σ_i ‖x_i − y‖₁, one per row of Y. */
  estimates: Float64Array;
  /** Where the query ran. */
  device: 'cpu' | 'cuda';
}


/** A released private L1 KDE (arXiv 2409.01688); create with {@link l1Kde} or {@link loadL1Kde}. */
export class PrivateL1Kde extends L1KdeStructure {
  /** @internal */
  constructor(state: TreeState) {
    super(state);
  }

  /** The tree's construction: 'midpoint' (default) or 'paper'. */
  get variant(): Variant {
    return this.state.variant!;
  }

  /** Variant 'paper': share of ε given to the counts; null for 'midpoint' (allocated per level). */
  get budgetSplit(): number | null {
    return this.state.budgetSplit;
  }

  /**
   * Estimates F(y) = Σ_i ‖x_i − y‖₁ for every row y of Y: d·L tree steps per query, native,
   * on worker threads (CPU) or the GPU; resolves off the event loop.
   * @param Y [q, d] tensor (Float64Array or Float32Array) or array of rows; finite numbers
   *   (points outside the range are fine: the answer extends linearly).
   * @param options `{ device }`.
   * @returns `{ estimates: Float64Array [q], device }`.
   * @throws TypeError / RangeError for bad input; LemmaError ERR_SHAPE, ERR_DISPOSED,
   *   ERR_CUDA_UNAVAILABLE, ERR_CUDA.
   * @example
   * const { estimates } = await kde.query({ data: Y, shape: [1000, 16] });
   */
  async query(Y: Points, options?: QueryOptions): Promise<QueryResult> {
    const site = new Error();
    const st = this.state;
    const { data, q } = checkQueries(Y, 'Y', st.shape.d);
    const opts = checkOptions(options, 'options');
    checkKnownKeys(opts, 'options', ['device', ...LONG_WORK_OPTIONS]);
    const work = checkLongWork(opts);
    const device = chooseDevice(opts.device, 'options.device', { large: q >= AUTO_CUDA_MIN.dpQueries });
    const out = new Float64Array(q);
    try {
      await runLong('PrivateL1Kde.query', work, () => native.dpL1Query(st.cnt, st.sum!, data, out, nativeParams(st.shape, { device })));
    } catch (e) {
      throw fromNative(e, site);
    }
    return { estimates: out, device };
  }

  /**
   * Estimate for one point (d·L steps, synchronous, CPU).
   * @param y d numbers.
   * @returns the estimate of Σ_i ‖x_i − y‖₁.
   * @example
   * kde.queryOne([0.2, 0.7]);
   */
  queryOne(y: ArrayLike<number>): number {
    const site = new Error();
    const st = this.state;
    const v = checkPoint(y, 'y', st.shape.d);
    const out = new Float64Array(1);
    try {
      native.dpL1QuerySync(st.cnt, st.sum!, v, out, nativeParams(st.shape));
    } catch (e) {
      throw fromNative(e, site);
    }
    return out[0];
  }

  /**
   * Closed-form standard deviation of the noise in the answer at y (exact for the discrete
   * Laplace variances actually used); the deterministic leaf bias is not included. Synchronous.
   * The query reads, per coordinate j (γ_j the grid step, u_j the grid coordinate of y_j), the
   * path's sibling V at every level and the own leaf when it lies on one side of u_j, each with a
   * sign σ_V (+ below u, − above) and adds σ_V·(u_j·c_V − s_V). Its noise is linear in the
   * released values:
   *   'midpoint':  Σ_V ±s̃′_V + Σ_V σ_V (u_j − edge_V)·c̃_V     'paper':  Σ_V σ_V (u_j·c̃_V − s̃_V)
   * so its variance is γ_j² times Σ coef²·Var over the released nodes, or, with consistency, the
   * same for the fitted values (lib/dp/consistency.ts, queryVariance).
   * @param y d finite numbers.
   */
  errorStd(y: ArrayLike<number>): number {
    const st = this.state;
    const v = checkPoint(y, 'y', st.shape.d);
    const { levels: L, gridBits: q } = st.shape;
    const varC = st.countNoise.map(noiseVariance);
    const varS = st.sumNoise!.map(noiseVariance);
    const raw = (w: Map<number, number>, vars: number[]) => {
      let t = 0;
      for (const [node, c] of w) t += c * c * vars[levelOf(node) - 1];
      return t;
    };
    // The fit touches the counts, and the sums only of the 'paper' tree.
    const fitted = (w: Map<number, number>, vars: number[]) => (st.consistency ? queryVariance(w, L, vars) : raw(w, vars));
    let total = 0;
    for (let j = 0; j < st.shape.d; j++) {
      const { u, gamma, leaf } = gridCoord(st.shape, j, v[j]);
      const wc = new Map<number, number>(), ws = new Map<number, number>();
      const read = (node: number, sign: number) => {
        if (st.variant === 'paper') {
          wc.set(node, sign * u);
          ws.set(node, -sign);
        } else {
          const [a, e] = nodeEnds(node, levelOf(node), q);
          wc.set(node, sign * (u - ((node & 1) === 0 ? e : a)));  // the edge facing the sibling
          ws.set(node, 1);  // ±1: only its square matters (edge-relative sums are never fitted)
        }
      };
      for (let l = 1; l <= L; l++) {
        const idx = (2 ** L + leaf) >> (L - l);
        read(idx ^ 1, idx & 1 ? 1 : -1);
      }
      const [first, last] = nodeEnds(2 ** L + leaf, L, q);
      if (u >= last) read(2 ** L + leaf, 1);
      else if (u <= first) read(2 ** L + leaf, -1);
      total += gamma * gamma * (fitted(wc, varC) + (st.variant === 'paper' ? fitted(ws, varS) : raw(ws, varS)));
    }
    return Math.sqrt(total);
  }

  /**
   * Stored values a query at y reads: a count and a sum per level per coordinate, plus the own
   * leaf's when it lies on one side of y_j: 2·Σ_j (L + [leaf term]) ≤ 2·d·(L + 1).
   */
  nodeReads(y: ArrayLike<number>): number {
    const st = this.state;
    const v = checkPoint(y, 'y', st.shape.d);
    let total = 0;
    for (let j = 0; j < st.shape.d; j++) total += 2 * (st.shape.levels + (gridCoord(st.shape, j, v[j]).leafTerm ? 1 : 0));
    return total;
  }
}

/**
 * Builds an ε-differentially private L1 KDE of X (arXiv 2409.01688). The raw data is read once by
 * the native builder (quantised, clamped into the public range) and not kept: the object holds
 * only the public parameters and the noisy integers. Runs off the event loop: the exact tree is
 * built on a worker thread, then exact discrete Laplace noise from the OS CSPRNG is added in
 * TypeScript in chunks between event-loop turns (≈ 2·d·2^{L+1} draws; a few million per second).
 * @param X [n, d] points: a tensor `{ data: Float64Array | Float32Array, shape: [n, d] }` or an
 *   array of rows. Values outside the range are clamped and NaN maps to the range's lower end
 *   (both part of the mechanism: neither is refused, which would reveal where they are).
 * @param options epsilon, range (required); levels or maxRows (one is required for
 *   'add-remove'); gridBits, neighbour, variant, budgetSplit ('paper'), accountant, label;
 *   seed + insecureDeterministic for tests only.
 * @returns a Promise of a {@link PrivateL1Kde}.
 * @throws TypeError / RangeError for bad arguments; LemmaError ERR_BUDGET
 *   (the accountant refused: nothing is built), ERR_SHAPE, ERR_RANGE (ε too small for the grid,
 *   or more rows than maxRows), ERR_OOM.
 * @example
 * const budget = lemma.dp.accountant({ epsilon: 1 });
 * const kde = await lemma.dp.l1Kde({ data: X, shape: [n, 4] }, { epsilon: 1, range: 1, levels: 16, accountant: budget });
 * const { estimates } = await kde.query({ data: Y, shape: [q, 4] });
 * const sd = kde.errorStd([0.5, 0.5, 0.5, 0.5]);
 */
export async function l1Kde(X: Points, options: L1KdeOptions): Promise<PrivateL1Kde> {
  const site = new Error();
  try {
    return new PrivateL1Kde(await buildPrivate('tree', X, options));
  } catch (e) {
    throw fromNative(e, site);
  }
}

/**
 * Restores a queryable structure from a release document (either kind). No privacy cost:
 * the document is already private. Validates every field and that the noise parameters are the
 * ones its public parameters imply. Synchronous.
 * @param doc a document from `release()` (parsed JSON).
 * @returns a {@link PrivateL1Kde} or a {@link BaselineL1Kde}, by `doc.structure`.
 * @throws TypeError / RangeError for a malformed document; LemmaError ERR_SHAPE for wrong lengths.
 * @example
 * const kde = lemma.dp.loadL1Kde(JSON.parse(fs.readFileSync('kde.json', 'utf8')));
 */
export function loadL1Kde(doc: unknown): PrivateL1Kde | BaselineL1Kde {
  const site = new Error();
  try {
    const st = fromDocument(doc);
    return st.structure === 'tree' ? new PrivateL1Kde(st) : new BaselineL1Kde(st);
  } catch (e) {
    throw fromNative(e, site);
  }
}
