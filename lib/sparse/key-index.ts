/**
 * The key index of sparse attention by half-space reporting (spec:
 * shared/specs/sparse-attention-hsr.md; native/sparse_attention/sparse_attention.h).
 * Per (batch, kv head) the keys are cut into blocks with bounding balls (and superblocks of 16
 * blocks above them); every superblock also keeps 8 principal axes of its keys, and boxes along
 * them around each superblock and each group of 16 slots of its blocks. A query's halfspace
 * {k : ⟨q', k⟩ ≥ b} is reported exactly by skipping every ball or box whose conservative fp32
 * bound is below b, so ReLU^α attention is exact and softmax over the reported entries comes
 * with a certified error bound.
 */
import { LemmaError, fromNative } from '../errors.js';
import { native } from '../binding.js';
import type {
  NativeSparseAttendParams, NativeSparseIndexParams, NativeSparseStats, SparseIndexHandle,
} from '../binding.js';
import { AUTO_CUDA_MIN, chooseDevice } from '../device.js';
import { LONG_WORK_OPTIONS, checkLongWork, runLong } from '../long-work.js';
import type { LongWork, LongWorkOptions } from '../long-work.js';
import type { Device } from '../device.js';
import { checkTensor, privateData } from '../tensor.js';
import type { Tensor } from '../tensor.js';
import {
  checkBoolean, checkFinite, checkInteger, checkNumber, checkOneOf, checkOptions, expected,
} from '../validation/index.js';
import { checkKnownKeys } from '../validation/options.js';

export type KeyOrder = 'position' | 'cluster';
export type SparseActivation = 'relu' | 'softmax';

export interface KeyIndexOptions extends LongWorkOptions {
  /** Keys per block: a multiple of 16 from 16 to 256. Default 64. */
  blockSize?: number;
  /**
   * 'position' (default): blocks are runs of consecutive positions. 'cluster': keys are reordered
   * by a PCA tree (median splits on the top principal direction) so that each block's ball is
   * tight; worth it when keys cluster (real KV caches), useless on isotropic Gaussian keys.
   */
  order?: KeyOrder;
  /** 1: block balls only; 2: superblocks of 16 blocks above them. Default: 2 from 64 blocks on. */
  levels?: 1 | 2;
}

export interface AttendOptions extends LongWorkOptions {
  /** 'relu' (default): weights max(0, s − b)^α; 'softmax': softmax over the entries with s ≥ b. */
  activation?: SparseActivation;
  /** ReLU power α, an integer from 1 to 32. Default 1. */
  alpha?: number;
  /**
   * Threshold b on the scaled score s = scale·⟨q, k⟩: one number, or one per query head
   * ([B, Hq] row-major). ReLU needs it (or `keep`); softmax calibrates it from `keep` when absent.
   */
  threshold?: number | ArrayLike<number>;
  /**
   * Target reported entries per row: b is calibrated per query head as the (1 − keep/N) quantile
   * of sampled scores. Default for softmax ⌈N^0.8⌉ (the paper's γ = 4/5).
   */
  keep?: number;
  /** Softmax: rows whose certified error bound exceeds this are recomputed densely. Default 1e-3. */
  tolerance?: number;
  /** Causal mask, bottom-right aligned: query i sees keys j ≤ i + N − M. Default false. */
  causal?: boolean;
  /** Score scale. Default 1/√D. */
  scale?: number;
  /** 'auto' (default) | 'cpu' | 'cuda'. */
  device?: Device;
  /**
   * A 64-row tile whose surviving (row, block) fraction is at least this uses the dense kernel
   * (every visible block; softmax then computes the full softmax). Default 0.9; 0 = always
   * dense, above 1 = never.
   */
  denseAbove?: number;
}

export interface AttendStats {
  /** (row, key) pairs scored, and the visible pairs a dense kernel would score. */
  keysScored: number;
  keysTotal: number;
  /** keysScored / keysTotal (above 1 when softmax rows were recomputed densely). */
  keyFraction: number;
  /** (row, block) pairs the filter kept (or the dense kernel visited), and visible pairs. */
  blocksVisited: number;
  blocksTotal: number;
  blockFraction: number;
  /** Reported entries (s ≥ b) per row: mean and max. */
  meanActive: number;
  maxActive: number;
  rows: number;
  /** Softmax rows recomputed densely (nothing reported, or bound above tolerance). */
  fallbackRows: number;
  /** Rows whose tile went to the dense kernel because the filter pruned too little. */
  denseRows: number;
  /**
   * Softmax: of the fallbackRows, those computed densely straight away, without a sparse
   * attempt, because the filter kept none of their blocks (nothing can be reported).
   */
  predictedRows: number;
  /**
   * Softmax with an explicit threshold: rows computed by lemma's dense flash attention (every
   * row tile dense, at least 64 queries per head): the full softmax, error bound 0; they add
   * nothing to meanActive.
   */
  flashRows: number;
  /** True when every row went to the dense kernel. */
  dense: boolean;
  /** The threshold b used per query head, [B, Hq]. */
  threshold: Float64Array;
  /** Softmax: certified bound on ‖out − exact softmax‖∞ per row, [B, Hq, M] (0 for dense rows). */
  errorBound?: Float32Array;
  device: 'cpu' | 'cuda';
}

export interface AttendResult {
  /** [B, Hq, M, D] */
  out: Tensor<Float32Array>;
  stats: AttendStats;
}

export interface ReportResult {
  /** CSR row pointers over the B·Hq·M rows (row-major [B, Hq, M]); length rows + 1. */
  rowPtr: Float64Array;
  /** Positions of the reported keys, ascending within a row. */
  keys: Int32Array;
  /** Their fp32 scaled scores. */
  scores: Float32Array;
  /** Reporting runs on the CPU. */
  device: 'cpu';
}

export interface BackwardResult {
  /** [B, Hq, M, D] */
  dq: Tensor<Float32Array>;
  /** [B, Hkv, N, D], in position order */
  dk: Tensor<Float32Array>;
  dv: Tensor<Float32Array>;
  stats: AttendStats;
}

function rank4(t: Tensor, name: string, letters: string): [number, number, number, number] {
  if (t.shape.length !== 4) {
    throw new LemmaError('ERR_SHAPE', expected(`a rank-4 shape [${letters}]`, `${name}.shape`, t.shape));
  }
  return t.shape as [number, number, number, number];
}

function float32(t: Tensor, name: string): Float32Array {
  if (!(t.data instanceof Float32Array)) {
    throw new LemmaError('ERR_DTYPE', expected('a Float32Array (the key index is fp32)', `${name}.data`, t.data));
  }
  checkFinite(t.data, name, t.shape);
  return privateData(t.data);
}

/** Checks k, v [B, Hkv, N, D] (N ≥ 1 unless `allowEmpty`); returns the sizes. */
export function checkKeyValue(k: unknown, v: unknown, names = ['k', 'v']) {
  const kt = checkTensor(k, names[0]);
  const vt = checkTensor(v, names[1]);
  const [B, Hkv, N, D] = rank4(kt, names[0], 'B, Hkv, N, D');
  if (vt.shape.length !== 4 || vt.shape.some((s, i) => s !== kt.shape[i])) {
    throw new LemmaError('ERR_SHAPE', expected(`shape [${kt.shape.join(', ')}] (the shape of ${names[0]})`, `${names[1]}.shape`, vt.shape));
  }
  if (D < 1 || D > 256) throw new LemmaError('ERR_SHAPE', expected('a head dim D between 1 and 256', `${names[0]}.shape[3]`, D));
  if (B < 1 || Hkv < 1 || N < 1) {
    throw new LemmaError('ERR_SHAPE', expected('non-zero sizes B, Hkv, N', `${names[0]}.shape`, kt.shape));
  }
  return { kt, vt, B, Hkv, N, D };
}

/** Option names of keyIndex() and of attend() / backward(); the one-shot helpers take both. */
export const INDEX_OPTIONS = ['blockSize', 'order', 'levels', ...LONG_WORK_OPTIONS];
export const ATTEND_OPTIONS = ['activation', 'alpha', 'causal', 'scale', 'tolerance', 'denseAbove', 'threshold', 'keep', 'device', ...LONG_WORK_OPTIONS];

export function indexParams(B: number, Hkv: number, N: number, D: number, options: unknown): NativeSparseIndexParams {
  const o = checkOptions(options, 'options');
  checkKnownKeys(o, 'options', INDEX_OPTIONS);
  const blockSize = o.blockSize === undefined ? 64 : checkInteger(o.blockSize, 'options.blockSize', 16, 256);
  if (blockSize % 16 !== 0) throw new RangeError(expected('a multiple of 16 between 16 and 256', 'options.blockSize', blockSize));
  const order = checkOneOf(o.order ?? 'position', 'options.order', ['position', 'cluster'] as const);
  const levels = o.levels === undefined ? 0 : checkInteger(o.levels, 'options.levels', 1, 2);
  if (N > 2 ** 31 - 1) throw new LemmaError('ERR_RANGE', expected('at most 2^31 − 1 keys per head', 'k.shape[2]', N));
  return { B, Hkv, N, D, blockSize, order: order === 'cluster' ? 1 : 0, levels: levels as 0 | 1 | 2 };
}

/** Resolved attend options (shared with the one-shot helpers). */
export interface AttendPlan {
  native: NativeSparseAttendParams;
  thresholds: Float64Array;
  device: 'cpu' | 'cuda';
  work: LongWork;
}

/** Validates attend options for q [B, Hq, M, D] against keys [B, Hkv, N, D]. */
export function planAttend(
  q: Tensor, dims: { B: number; Hkv: number; N: number; D: number }, options: unknown,
  what: 'attend' | 'backward' | 'report',
): AttendPlan {
  const [B, Hq, M, D] = rank4(q, 'q', 'B, Hq, M, D');
  if (B !== dims.B) throw new LemmaError('ERR_SHAPE', expected(`batch size ${dims.B} (from the keys)`, 'q.shape[0]', B));
  if (D !== dims.D) throw new LemmaError('ERR_SHAPE', expected(`head dim ${dims.D} (from the keys)`, 'q.shape[3]', D));
  if (Hq < 1 || M < 1) throw new LemmaError('ERR_SHAPE', expected('non-zero sizes Hq, M', 'q.shape', q.shape));
  if (Hq % dims.Hkv !== 0) {
    throw new LemmaError('ERR_SHAPE', expected(`a number of query heads that is a multiple of Hkv = ${dims.Hkv}`, 'q.shape[1]', Hq));
  }
  const o = checkOptions(options, 'options');
  checkKnownKeys(o, 'options', ATTEND_OPTIONS);
  const activation = checkOneOf(o.activation ?? 'relu', 'options.activation', ['relu', 'softmax'] as const);
  if (what === 'backward' && activation !== 'relu') {
    throw new RangeError(expected("'relu' (the backward is defined for ReLU^α attention)", 'options.activation', activation));
  }
  const alpha = o.alpha === undefined ? 1 : checkInteger(o.alpha, 'options.alpha', 1, 32);
  const causal = o.causal === undefined ? false : checkBoolean(o.causal, 'options.causal');
  const scale = o.scale === undefined ? 1 / Math.sqrt(D) : checkNumber(o.scale, 'options.scale');
  const tolerance = o.tolerance === undefined ? 1e-3 : checkNumber(o.tolerance, 'options.tolerance', { min: 0 });
  const denseAbove = o.denseAbove === undefined ? 0.9 : checkNumber(o.denseAbove, 'options.denseAbove', { min: 0 });
  const thresholds = new Float64Array(B * Hq);
  let calibrate = false;
  let keep = 0;
  if (o.threshold !== undefined) {
    if (o.keep !== undefined) throw new RangeError(expected('either threshold or keep, not both', 'options.keep', o.keep));
    if (typeof o.threshold === 'number') {
      thresholds.fill(checkNumber(o.threshold, 'options.threshold'));
    } else if (Array.isArray(o.threshold) || ArrayBuffer.isView(o.threshold)) {
      const a = o.threshold as ArrayLike<unknown>;
      if (a.length !== B * Hq) {
        throw new LemmaError('ERR_SHAPE', expected(`one threshold per query head (${B * Hq} = B·Hq)`, 'options.threshold', o.threshold));
      }
      for (let i = 0; i < a.length; i++) thresholds[i] = checkNumber(a[i], `options.threshold[${i}]`);
    } else {
      throw new TypeError(expected('a finite number or one per query head', 'options.threshold', o.threshold));
    }
  } else if (what !== 'attend') {
    throw new TypeError(expected(`a finite number (${what} needs an explicit threshold)`, 'options.threshold', o.threshold));
  } else if (o.keep !== undefined || activation === 'softmax') {
    calibrate = true;
    keep = o.keep === undefined ? Math.ceil(dims.N ** 0.8) : checkNumber(o.keep, 'options.keep', { min: 1 });
  } else {
    throw new TypeError(expected('a finite number (ReLU attention needs its threshold b, or keep)', 'options.threshold', undefined));
  }
  const device = chooseDevice(o.device, 'options.device', what === 'report'
    ? { noCudaPath: 'KeyIndex.report runs on the CPU only' }
    : { large: dims.B * dims.Hkv * dims.N >= AUTO_CUDA_MIN.sparseKeys });
  return {
    native: {
      Hq, M, scale, causal, activation: activation === 'softmax' ? 1 : 0, alpha, calibrate, keep,
      tolerance, denseAbove, cuda: device === 'cuda',
    },
    thresholds,
    device,
    work: checkLongWork(o),
  };
}

/** Public stats from the native counters. */
export function toStats(s: NativeSparseStats, plan: AttendPlan, errorBound?: Float32Array): AttendStats {
  const stats: AttendStats = {
    keysScored: s.keysScored,
    keysTotal: s.keysTotal,
    keyFraction: s.keysTotal > 0 ? s.keysScored / s.keysTotal : 0,
    blocksVisited: s.blocksVisited,
    blocksTotal: s.blocksTotal,
    blockFraction: s.blocksTotal > 0 ? s.blocksVisited / s.blocksTotal : 0,
    meanActive: s.rows > 0 ? s.activeSum / s.rows : 0,
    maxActive: s.activeMax,
    rows: s.rows,
    fallbackRows: s.fallbackRows,
    denseRows: s.denseRows,
    predictedRows: s.predictedRows ?? 0,
    flashRows: s.flashRows ?? 0,
    dense: s.rows > 0 && s.denseRows === s.rows,
    threshold: plan.thresholds,
    device: plan.device,
  };
  if (errorBound) stats.errorBound = errorBound;
  return stats;
}

/**
 * A key index over k, v [B, Hkv, N, D] (fp32). Stateful: call dispose() (or use `using`) when done;
 * after dispose every method throws ERR_DISPOSED. Don't transfer or detach an input buffer while
 * a call on it is pending.
 * @example
 * using index = await lemma.sparse.keyIndex(k, v, { order: 'cluster' });
 * const { out, stats } = await index.attend(q, { activation: 'relu', threshold: 1.2 });
 */
export class KeyIndex {
  #handle: SparseIndexHandle | null;
  readonly B: number;
  readonly Hkv: number;
  readonly D: number;
  readonly blockSize: number;
  readonly order: KeyOrder;

  /** @internal use {@link keyIndex} / {@link keyIndexSync}. */
  constructor(handle: SparseIndexHandle, p: NativeSparseIndexParams) {
    this.#handle = handle;
    this.B = p.B;
    this.Hkv = p.Hkv;
    this.D = p.D;
    this.blockSize = p.blockSize;
    this.order = p.order === 1 ? 'cluster' : 'position';
    // Safety net only: the native handle's finalizer frees the index if dispose() is forgotten.
  }

  #live(): SparseIndexHandle {
    if (this.#handle === null) throw new LemmaError('ERR_DISPOSED', 'the key index was disposed');
    return this.#handle;
  }

  /** True after dispose(). */
  get disposed(): boolean {
    return this.#handle === null;
  }
  /** Keys per head (grows with append). */
  get length(): number {
    return native.sparseIndexInfo(this.#live())!.N;
  }
  /** Blocks per head. */
  get numBlocks(): number {
    return native.sparseIndexInfo(this.#live())!.numBlocks;
  }
  /** Ball levels in use (1 or 2). */
  get levels(): number {
    return native.sparseIndexInfo(this.#live())!.levels;
  }
  /** Host bytes held by the index (it keeps its own copy of k and v). */
  get bytes(): number {
    return native.sparseIndexInfo(this.#live())!.bytes;
  }

  #dims() {
    return { B: this.B, Hkv: this.Hkv, N: this.length, D: this.D };
  }

  #checkAppend(kNew: unknown, vNew: unknown) {
    const a = checkKeyValue(kNew, vNew, ['kNew', 'vNew']);
    if (a.B !== this.B || a.Hkv !== this.Hkv || a.D !== this.D) {
      throw new LemmaError('ERR_SHAPE', expected(`shape [${this.B}, ${this.Hkv}, n, ${this.D}] (the index's B, Hkv, D)`, 'kNew.shape', a.kt.shape));
    }
    if (this.length + a.N > 2 ** 31 - 1) throw new LemmaError('ERR_RANGE', expected('at most 2^31 − 1 keys per head in total', 'kNew.shape[2]', a.N));
    return { k: float32(a.kt, 'kNew'), v: float32(a.vt, 'vNew'), n: a.N };
  }

  /**
   * Appends keys at positions N, N+1, … (decoding). Position order: the result is identical to
   * rebuilding over the concatenation; 'cluster' appends go to new position-ordered blocks.
   * @param kNew [B, Hkv, n, D] Float32Array
   * @param vNew [B, Hkv, n, D]
   * @throws RangeError (non-finite values); LemmaError ERR_SHAPE, ERR_DTYPE, ERR_DISPOSED
   */
  async append(kNew: Tensor, vNew: Tensor): Promise<void> {
    const site = new Error();
    const h = this.#live();
    const a = this.#checkAppend(kNew, vNew);
    try {
      await native.sparseIndexAppend(h, a.k, a.v, a.n);
    } catch (e) {
      throw fromNative(e, site);
    }
  }

  /** Synchronous twin of {@link append}. */
  appendSync(kNew: Tensor, vNew: Tensor): void {
    const site = new Error();
    const h = this.#live();
    const a = this.#checkAppend(kNew, vNew);
    try {
      native.sparseIndexAppendSync(h, a.k, a.v, a.n);
    } catch (e) {
      throw fromNative(e, site);
    }
  }

  #prepare(q: unknown, options: unknown, what: 'attend' | 'backward' | 'report') {
    const h = this.#live();
    const qt = checkTensor(q, 'q');
    const plan = planAttend(qt, this.#dims(), options, what);
    return { h, qt, q: float32(qt, 'q'), plan };
  }

  /**
   * Sparse attention of q against the index (spec §2.4): exact ReLU^α attention, or softmax over
   * the reported entries with a certified per-row bound and a dense fallback.
   * @param q [B, Hq, M, D] Float32Array, Hq a multiple of Hkv (grouped heads share the index)
   * @param options activation, alpha, threshold | keep, tolerance, causal, scale, device, denseAbove
   * @returns `{ out [B, Hq, M, D], stats }`
   * @throws TypeError / RangeError for bad options; LemmaError ERR_SHAPE, ERR_DTYPE, ERR_RANGE,
   *   ERR_DISPOSED, ERR_CUDA_UNAVAILABLE
   * @example
   * const { out, stats } = await index.attend(q, { activation: 'softmax' });
   * console.log(stats.keyFraction, Math.max(...stats.errorBound!));
   */
  async attend(q: Tensor, options?: AttendOptions): Promise<AttendResult> {
    const site = new Error();
    const p = this.#prepare(q, options, 'attend');
    const out = new Float32Array(p.q.length);
    const eb = p.plan.native.activation === 1 ? new Float32Array(p.q.length / this.D) : null;
    let s: NativeSparseStats;
    try {
      s = await runLong('KeyIndex.attend', p.plan.work, () => native.sparseIndexAttend(p.h, p.q, p.plan.thresholds, out, eb, p.plan.native));
    } catch (e) {
      throw fromNative(e, site);
    }
    return { out: { data: out, shape: p.qt.shape.slice() }, stats: toStats(s, p.plan, eb ?? undefined) };
  }

  /** Synchronous twin of {@link attend} (blocks the calling thread). */
  attendSync(q: Tensor, options?: AttendOptions): AttendResult {
    const site = new Error();
    const p = this.#prepare(q, options, 'attend');
    const out = new Float32Array(p.q.length);
    const eb = p.plan.native.activation === 1 ? new Float32Array(p.q.length / this.D) : null;
    let s: NativeSparseStats;
    try {
      s = native.sparseIndexAttendSync(p.h, p.q, p.plan.thresholds, out, eb, p.plan.native);
    } catch (e) {
      throw fromNative(e, site);
    }
    return { out: { data: out, shape: p.qt.shape.slice() }, stats: toStats(s, p.plan, eb ?? undefined) };
  }

  /**
   * Half-space reporting itself: for each row (b, h, i) the positions j (visible under causal)
   * with fp32 score scale·⟨q, k_j⟩ ≥ b, as CSR. Runs on the CPU.
   * @param q [B, Hq, M, D] Float32Array
   * @param options threshold (required), causal, scale, device ('auto' | 'cpu'; 'cuda' is refused with ERR_CUDA_UNAVAILABLE)
   * @returns `{ rowPtr, keys, scores }`
   */
  async report(q: Tensor, options: Pick<AttendOptions, 'threshold' | 'causal' | 'scale' | 'device' | 'signal' | 'onProgress'>): Promise<ReportResult> {
    const site = new Error();
    const o = checkOptions(options, 'options');
    checkKnownKeys(o, 'options', ['threshold', 'causal', 'scale', 'device', ...LONG_WORK_OPTIONS]);
    // Reporting runs on the CPU: planAttend refuses an explicit 'cuda', never overrides it.
    const p = this.#prepare(q, o, 'report');
    try {
      return { ...(await runLong('KeyIndex.report', p.plan.work, () => native.sparseIndexReport(p.h, p.q, p.plan.thresholds, p.plan.native))), device: 'cpu' };
    } catch (e) {
      throw fromNative(e, site);
    }
  }

  /**
   * Backward of ReLU^α attention through the exact sparse set (recomputes the forward):
   * gradients of ⟨dOut, out⟩ with respect to q, k and v; the derivative at s = b is taken as 0.
   * @param q [B, Hq, M, D]
   * @param dOut [B, Hq, M, D]
   * @param options threshold (required), alpha, causal, scale, device
   * @returns `{ dq [B, Hq, M, D], dk, dv [B, Hkv, N, D] (position order), stats }`
   */
  async backward(q: Tensor, dOut: Tensor, options: AttendOptions): Promise<BackwardResult> {
    const site = new Error();
    const p = this.#prepare(q, options, 'backward');
    const g = this.#grads(p.qt, dOut);
    let s: NativeSparseStats;
    try {
      s = await runLong('KeyIndex.backward', p.plan.work, () => native.sparseIndexBackward(p.h, p.q, p.plan.thresholds, g.dO, g.dq, g.dk, g.dv, p.plan.native));
    } catch (e) {
      throw fromNative(e, site);
    }
    return { ...g.result, stats: toStats(s, p.plan) };
  }

  /** Synchronous twin of {@link backward}. */
  backwardSync(q: Tensor, dOut: Tensor, options: AttendOptions): BackwardResult {
    const site = new Error();
    const p = this.#prepare(q, options, 'backward');
    const g = this.#grads(p.qt, dOut);
    let s: NativeSparseStats;
    try {
      s = native.sparseIndexBackwardSync(p.h, p.q, p.plan.thresholds, g.dO, g.dq, g.dk, g.dv, p.plan.native);
    } catch (e) {
      throw fromNative(e, site);
    }
    return { ...g.result, stats: toStats(s, p.plan) };
  }

  #grads(qt: Tensor, dOut: unknown) {
    const dt = checkTensor(dOut, 'dOut');
    if (dt.shape.length !== qt.shape.length || dt.shape.some((s, i) => s !== qt.shape[i])) {
      throw new LemmaError('ERR_SHAPE', expected(`shape [${qt.shape.join(', ')}] (the shape of q)`, 'dOut.shape', dt.shape));
    }
    const N = this.length;
    const kvShape = [this.B, this.Hkv, N, this.D];
    const dq = new Float32Array(qt.data.length);
    const dk = new Float32Array(this.B * this.Hkv * N * this.D);
    const dv = new Float32Array(dk.length);
    return {
      dO: float32(dt, 'dOut'), dq, dk, dv,
      result: { dq: { data: dq, shape: qt.shape.slice() }, dk: { data: dk, shape: kvShape }, dv: { data: dv, shape: kvShape.slice() } },
    };
  }

  /** Frees the index (idempotent). Calls already running finish first. */
  dispose(): void {
    if (this.#handle === null) return;
    native.sparseIndexDispose(this.#handle);
    this.#handle = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

function prepareBuild(k: unknown, v: unknown, options: unknown) {
  const a = checkKeyValue(k, v);
  const p = indexParams(a.B, a.Hkv, a.N, a.D, options);
  return { k: float32(a.kt, 'k'), v: float32(a.vt, 'v'), p, work: checkLongWork(checkOptions(options, 'options')) };
}

/**
 * Builds a key index over k, v [B, Hkv, N, D] (Float32Array) off the event loop. The index keeps
 * its own copy of k and v.
 * @param k [B, Hkv, N, D] keys
 * @param v [B, Hkv, N, D] values
 * @param options blockSize (16..256, multiple of 16; default 64), order ('position' | 'cluster'), levels (1 | 2)
 * @returns a {@link KeyIndex}
 * @throws TypeError / RangeError for bad options and non-finite keys or values; LemmaError
 *   ERR_SHAPE, ERR_DTYPE, ERR_RANGE (more than 2^31 − 1 keys)
 * @example
 * const index = await lemma.sparse.keyIndex(k, v, { blockSize: 64, order: 'cluster' });
 */
export async function keyIndex(k: Tensor, v: Tensor, options?: KeyIndexOptions): Promise<KeyIndex> {
  const site = new Error();
  const b = prepareBuild(k, v, options);
  try {
    return new KeyIndex(await runLong('lemma.sparse.keyIndex', b.work, () => native.sparseIndexBuild(b.k, b.v, b.p)), b.p);
  } catch (e) {
    throw fromNative(e, site);
  }
}

/** Synchronous twin of {@link keyIndex} (blocks the calling thread). */
export function keyIndexSync(k: Tensor, v: Tensor, options?: KeyIndexOptions): KeyIndex {
  const site = new Error();
  const b = prepareBuild(k, v, options);
  try {
    return new KeyIndex(native.sparseIndexBuildSync(b.k, b.v, b.p), b.p);
  } catch (e) {
    throw fromNative(e, site);
  }
}
