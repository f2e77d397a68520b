/**
 * Differentially private L1 kernel density estimation: arXiv 2409.01688 (Liu, Hu, Reneau, Song,
 * Liu), as reconstructed in spec dp-kde-l1.md §4.3–4.5. Releases, per coordinate, a dyadic tree
 * of noisy counts and noisy sums over a public grid; any number of queries F̂(y) ≈ Σ_i ‖x_i − y‖₁
 * then read 2L values per coordinate and cost no further privacy (post-processing).
 *
 * Guarantee: pure ε-DP for the chosen neighbouring relation, with the exact discrete Laplace
 * mechanism on integers (no floating-point noise). Error: purely additive, zero-mean noise of
 * standard deviation errorStd(y) = √(Σ_j γ_j²·L·(Var_sum + u_j²·Var_count)) = O(ε⁻¹ d^1.5 R L^1.5),
 * plus a deterministic bias of at most Σ_j (points in y_j's leaf)·leaf width (zero when
 * levels = gridBits), plus the quantisation of each value to the grid (≤ γ/2 per point and
 * coordinate).
 */
import { fromNative } from '../errors.js';
import { native } from '../binding.js';
import { resolveDevice } from '../device.js';
import type { Device } from '../device.js';
import { checkOptions } from '../validation/index.js';
import { BaselineL1Kde } from './baseline.js';
import { L1KdeStructure } from './structure.js';
import { buildPrivate, checkPoint, checkQueries, fromDocument, gridCoord, nativeParams, noiseVariance } from './tree.js';
import type { CommonOptions, Points, TreeState } from './tree.js';

export interface L1KdeOptions extends CommonOptions {
  /** Share of ε given to the counts (the rest goes to the sums), in (0, 1). Default 0.5. */
  budgetSplit?: number;
}

export interface QueryOptions {
  /**
   * 'auto' (default: CUDA for batches of ≥ 4096 queries when a GPU is usable, else CPU),
   * 'cpu', or 'cuda' (ERR_CUDA_UNAVAILABLE without a usable GPU).
   */
  device?: Device;
}

/** Batches at least this large go to the GPU under device 'auto'. */
export const CUDA_AUTO_MIN_QUERIES = 4096;

/** A released private L1 KDE (arXiv 2409.01688); create with {@link l1Kde} or {@link loadL1Kde}. */
export class PrivateL1Kde extends L1KdeStructure {
  /** @internal */
  constructor(state: TreeState) {
    super(state);
  }

  /** Share of ε given to the counts. */
  get budgetSplit(): number {
    return this.state.budgetSplit!;
  }

  /**
   * Estimates F(y) = Σ_i ‖x_i − y‖₁ for every row y of Y: d·L tree steps per query, native,
   * on worker threads (CPU) or the GPU; resolves off the event loop.
   * @param Y [q, d] tensor (Float64Array or Float32Array) or array of rows; finite numbers
   *   (points outside the range are fine: the answer extends linearly).
   * @param options `{ device }`.
   * @returns Float64Array [q] of estimates.
   * @throws TypeError / RangeError for bad input; LemmaError ERR_SHAPE, ERR_DISPOSED,
   *   ERR_CUDA_UNAVAILABLE, ERR_CUDA.
   * @example
   * const est = await kde.query({ data: Y, shape: [1000, 16] });
   */
  async query(Y: Points, options?: QueryOptions): Promise<Float64Array> {
    const site = new Error();
    const st = this.state;
    const { data, q } = checkQueries(Y, 'Y', st.shape.d);
    const opts = checkOptions(options, 'options');
    const device = resolveDevice(opts.device, 'options.device', q >= CUDA_AUTO_MIN_QUERIES);
    const out = new Float64Array(q);
    try {
      await native.dpL1Query(st.cnt, st.sum!, data, out, nativeParams(st.shape, { device }));
    } catch (e) {
      throw fromNative(e, site);
    }
    return out;
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
   * Laplace variances actually used): √(Σ_j γ_j² · L_j · (Var_sum + u_j²·Var_count)), with u_j
   * the grid coordinate of y_j and L_j = L, or L + 1 when the own leaf is read. The
   * deterministic leaf bias is not included. Synchronous.
   * @param y d finite numbers.
   */
  errorStd(y: ArrayLike<number>): number {
    const st = this.state;
    const v = checkPoint(y, 'y', st.shape.d);
    const varC = noiseVariance(st.countNoise);
    const varS = noiseVariance(st.sumNoise!);
    let total = 0;
    for (let j = 0; j < st.shape.d; j++) {
      const { u, gamma, leafTerm } = gridCoord(st.shape, j, v[j]);
      total += gamma * gamma * (st.shape.levels + (leafTerm ? 1 : 0)) * (varS + u * u * varC);
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
 *   array of rows. Values outside the range are clamped (part of the mechanism); NaN is refused.
 * @param options epsilon, range (required); levels (required for 'add-remove'); gridBits,
 *   neighbour, budgetSplit, accountant, label; seed + insecureDeterministic for tests only.
 * @returns a Promise of a {@link PrivateL1Kde}.
 * @throws TypeError / RangeError for bad arguments (NaN in X included); LemmaError ERR_BUDGET
 *   (the accountant refused: nothing is built), ERR_SHAPE, ERR_RANGE (ε too small for the grid,
 *   or n·2^gridBits ≥ 2^53), ERR_OOM.
 * @example
 * const budget = lemma.dp.accountant({ epsilon: 1 });
 * const kde = await lemma.dp.l1Kde({ data: X, shape: [n, 4] }, { epsilon: 1, range: 1, levels: 16, accountant: budget });
 * const est = await kde.query({ data: Y, shape: [q, 4] });
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
