/**
 * lemma.sample.dikin: the soft-threshold Dikin walk of arXiv 2410.05700 (spec:
 * shared/specs/dikin-walk.md §3.2) for π ∝ exp(−f) on a polytope or spectrahedron, C chains at
 * once, on the CPU (threads over chains; native/polytope/) or the GPU (cuda/polytope/).
 *
 * Driving: the walk runs in short rounds (≈30 ms) of native steps on a worker thread, so the
 * event loop stays free and AbortSignal / onProgress act between rounds. Callback targets need
 * f in JavaScript, so their loop is driven from here, one step at a time in three parts:
 * native `propose` (all chains, worker thread) → `fn(points [C, d])` once on the main thread →
 * native `finish` (Metropolis filter). A thread-safe function calling back from native threads
 * would have the same one-call-per-step cost and more moving parts.
 */
import { LemmaError, fromNative } from '../errors.js';
import { native } from '../binding.js';
import type { DikinSamplerHandle, NativeDikinParams } from '../binding.js';
import { AUTO_CUDA_MIN, chooseDevice } from '../device.js';
import type { Device } from '../device.js';
import type { Tensor } from '../tensor.js';
import { checkBoolean, checkInteger, checkNumber, checkOneOf, checkOptions, expected, is } from '../validation/index.js';
import { AbortError, checkKnownKeys, checkCallback, checkSignal, throwIfAborted } from '../validation/options.js';
import { checkBody } from '../polytope/body.js';
import type { ConvexBody } from '../polytope/body.js';
import { readMatrix, readVector } from '../polytope/matrix.js';
import type { MatrixInput, VectorInput } from '../polytope/matrix.js';
import { checkTarget } from './targets.js';
import type { Target } from './targets.js';

export interface DikinProgress {
  /** Steps taken per chain so far (burn-in included). */
  stepsDone: number;
  /** burnIn + steps. */
  totalSteps: number;
  fraction: number;
  phase: 'burn-in' | 'sampling';
  elapsedSeconds: number;
  /** Mean acceptance rate over the chains so far. */
  acceptance: number;
  /**
   * Diagnostics of the samples kept so far (the smallest ESS over the coordinates, the largest
   * R-hat), refreshed during sampling only while their cost stays within about 5 % of the run
   * (so a fast walk on a small body shows them in the final report only, as callback targets do);
   * absent before 4 samples per chain are kept.
   */
  essMin?: number;
  rhatMax?: number;
}

export interface DikinOptions {
  /** Independent chains C. Default 4. */
  chains?: number;
  /** Steps per chain after burn-in. Default 1000. */
  steps?: number;
  /** Steps per chain discarded first. Default ⌈steps/2⌉. */
  burnIn?: number;
  /** Keep every thin-th step. Default 1. */
  thin?: number;
  /** 'log' (−Σ log sᵢ, default) or 'lewis' (Lee–Sidford ℓp Lewis-weight barrier, polytopes). */
  barrier?: 'log' | 'lewis';
  /** p of the Lewis barrier. Default ⌈log₂ M⌉ + 1. */
  lewisP?: number;
  /**
   * 'exact' (default) or 'subsample' (leverage-score row sampling with fresh randomness at every
   * step, spec §3.5; polytopes). With the spec's εH = 1/(10d) the sample size exceeds M/2 on
   * almost every body, and then the exact Hessian is used (the result's `hessian` says which).
   */
  hessian?: 'exact' | 'subsample';
  /** Rows drawn per approximate Hessian; setting it forces subsampling. */
  hessianSamples?: number;
  /** α in Φ = H/α + I/η. Default 1/d. */
  alpha?: number;
  /** η in Φ = H/α + I/η. Default 1/(d·L²) from the target (Infinity when L = 0: term dropped). */
  eta?: number;
  /** Lazy chain (stay with probability ½ first, as in the paper). Default true. */
  lazy?: boolean;
  /** One interior point for every chain, or [C, d]. Default: the analytic centre. */
  start?: VectorInput | MatrixInput;
  /** Seed of the counter-based RNG (integer 0..2⁵³−1). Default: random (returned). */
  seed?: number;
  /** 'auto' (default: CUDA for ≥ 256 chains when a GPU is usable), 'cpu' or 'cuda'. */
  device?: Device;
  /**
   * Stops the walk between rounds (every ~50 ms): the promise rejects with an AbortError (name
   * 'AbortError', code 'ABORT_ERR', the signal's reason as `cause`) and the body stays usable.
   */
  signal?: AbortSignal;
  /** Called after each round (at most every 50 ms, and once at the end). */
  onProgress?: (p: DikinProgress) => void;
  /** Testing aid: run the scalar fp64 oracle instead of the SIMD kernels (CPU). */
  reference?: boolean;
}

export interface DikinResult {
  /** [C, kept, d] with kept = ⌊steps/thin⌋. */
  samples: Tensor<Float64Array>;
  /** [C]: the fraction of post-burn-in steps that moved (lazy steps count as stays). */
  acceptance: Float64Array;
  /** [d]: multi-chain effective sample size (Geyer); NaN when fewer than 4 samples were kept. */
  ess: Float64Array;
  /** [d]: split R-hat; NaN when fewer than 4 samples were kept or a coordinate never moved. */
  rhat: Float64Array;
  /** Chain-steps per second of the walk (C × steps taken / wall time of the stepping loop). */
  stepsPerSecond: number;
  /** Steps taken per chain (burn-in included). */
  stepsDone: number;
  seed: number;
  device: 'cpu' | 'cuda';
  /** The kernel that ran ('avx512', 'avx2', 'scalar', 'ref', 'cuda'). */
  kernel: string;
  /** The Hessian actually used. */
  hessian: 'exact' | 'subsample';
  alpha: number;
  eta: number;
}

const ROUND_MS = 30;

interface Plan {
  params: NativeDikinParams;
  steps: number;
  total: number;
  kept: number;
  d: number;
  C: number;
  starts: Float64Array | null;
  eta: number;
  signal: AbortSignal | undefined;
  onProgress: ((p: DikinProgress) => void) | undefined;
}

const DIKIN_OPTIONS = ['chains', 'steps', 'burnIn', 'thin', 'barrier', 'lewisP', 'hessian', 'hessianSamples', 'alpha', 'eta', 'lazy',
  'start', 'seed', 'device', 'signal', 'onProgress', 'reference'];

function plan(body: ConvexBody, target: Target, options: unknown): Plan {
  const o = checkOptions(options, 'options');
  checkKnownKeys(o, 'options', DIKIN_OPTIONS);
  const d = body.dim;
  if (target.dim !== undefined && target.dim !== d) {
    throw new LemmaError('ERR_SHAPE', expected(`a target of dimension ${d} (the body's)`, 'target', `a target of dimension ${target.dim}`));
  }
  const C = o.chains === undefined ? 4 : checkInteger(o.chains, 'options.chains', 1, 1 << 20);
  const steps = o.steps === undefined ? 1000 : checkInteger(o.steps, 'options.steps', 0, 1e9);
  const burnIn = o.burnIn === undefined ? Math.ceil(steps / 2) : checkInteger(o.burnIn, 'options.burnIn', 0, 1e9);
  const thin = o.thin === undefined ? 1 : checkInteger(o.thin, 'options.thin', 1, 1e9);
  const barrier = checkOneOf(o.barrier ?? 'log', 'options.barrier', ['log', 'lewis'] as const);
  let hessian = checkOneOf(o.hessian ?? 'exact', 'options.hessian', ['exact', 'subsample'] as const);
  if ((barrier === 'lewis' || hessian === 'subsample') && body.kind !== 'polytope') {
    throw new RangeError(expected('a polytope (this barrier / Hessian option needs one)', 'body', 'a spectrahedron'));
  }
  const M = body.constraints;
  const lewisP = o.lewisP === undefined ? Math.ceil(Math.log2(M)) + 1 : checkNumber(o.lewisP, 'options.lewisP', { min: 0, max: 1e6, exclusiveMin: true });
  let hessianSamples = 0;
  if (o.hessianSamples !== undefined) {
    hessianSamples = checkInteger(o.hessianSamples, 'options.hessianSamples', 1, 1e9);
    if (hessian !== 'subsample') throw new RangeError(expected("hessian: 'subsample' alongside it", 'options.hessianSamples', o.hessianSamples));
  } else if (hessian === 'subsample') {
    // s = ⌈2·d·ln(2d/δ)/εH²⌉ with εH = 1/(10d), δ = 1e-3 (matrix Chernoff, spec §3.5).
    const epsH = 1 / (10 * d);
    hessianSamples = Math.ceil((2 * d * Math.log((2 * d) / 1e-3)) / (epsH * epsH));
    if (hessianSamples >= M / 2) hessian = 'exact';
  }
  const alpha = o.alpha === undefined ? 1 / d : checkNumber(o.alpha, 'options.alpha', { min: 0, exclusiveMin: true });
  const L = target.lipschitz;
  let eta: number;
  if (o.eta === undefined) eta = L > 0 ? 1 / (d * L * L) : Infinity;
  else {
    if (typeof o.eta !== 'number') throw new TypeError(expected('a positive number or Infinity', 'options.eta', o.eta));
    if (!(o.eta > 0)) throw new RangeError(expected('a positive number or Infinity', 'options.eta', o.eta));
    eta = o.eta;
  }
  const lazy = o.lazy === undefined ? true : checkBoolean(o.lazy, 'options.lazy');
  const seed = o.seed === undefined ? Math.floor(Math.random() * 2 ** 53) : checkInteger(o.seed, 'options.seed', 0, Number.MAX_SAFE_INTEGER);
  const reference = o.reference === undefined ? false : checkBoolean(o.reference, 'options.reference');
  checkSignal(o.signal, 'options.signal');
  checkCallback(o.onProgress, 'options.onProgress');
  const noCudaPath = reference ? 'the fp64 reference walk runs on the CPU only'
    : body.kind !== 'polytope' ? `the CUDA walk covers polytopes only, not a ${body.kind}`
    : barrier !== 'log' ? `the CUDA walk has the log barrier only, not '${barrier}'`
    : hessian !== 'exact' ? `the CUDA walk has the exact Hessian only, not '${hessian}'` : '';
  const device = chooseDevice(o.device, 'options.device', { noCudaPath, large: C >= AUTO_CUDA_MIN.dikinChains });
  let starts: Float64Array | null = null;
  if (o.start !== undefined) starts = readStarts(body, o.start, C);
  const kept = Math.floor(steps / thin);
  return {
    params: {
      chains: C, barrier, hessian, hessianSamples, sketchRows: 0, jlColumns: 8, alpha,
      etaInv: Number.isFinite(eta) ? 1 / eta : 0, lewisP, lewisTolerance: 1e-10, lewisMaxIterations: 2000,
      lazy, seed, burnIn, thin, kept, reference, device,
    },
    steps, total: burnIn + steps, kept, d, C, starts, eta,
    signal: o.signal as AbortSignal | undefined,
    onProgress: o.onProgress as ((p: DikinProgress) => void) | undefined,
  };
}

function readStarts(body: ConvexBody, start: unknown, C: number): Float64Array {
  const d = body.dim;
  let all: Float64Array;
  const oneRow = Array.isArray(start) ? !Array.isArray(start[0]) : !(is.object(start) && ('shape' in start) && Array.isArray((start as { shape: unknown }).shape) && (start as { shape: unknown[] }).shape.length === 2);
  if (oneRow && !(is.object(start) && 'rowPtr' in start)) {
    const x = is.object(start) && 'data' in start ? readVector((start as { data: unknown }).data, 'options.start.data', d) : readVector(start, 'options.start', d);
    all = new Float64Array(C * d);
    for (let c = 0; c < C; c++) all.set(x, c * d);
  } else {
    const m = readMatrix(start, 'options.start', false);
    if (m.kind !== 'dense' || m.M !== C || m.d !== d) {
      throw new LemmaError('ERR_SHAPE', expected(`one point of ${d} numbers or [${C}, ${d}] (one per chain)`, 'options.start', start));
    }
    all = m.data;
  }
  for (let c = 0; c < C; c++) {
    const why = body.whyOutside(all.subarray(c * d, (c + 1) * d), 'options.start');
    if (why !== '') throw new RangeError(expected(`a point in the interior of the body (${why})`, oneRow ? 'options.start' : `options.start (chain ${c})`, start));
    if (oneRow) break;
  }
  return all;
}

function nanArray(n: number): Float64Array {
  return new Float64Array(n).fill(NaN);
}

async function callF(target: Target, pts: Float64Array, C: number, d: number): Promise<Float64Array> {
  const out = await target.fn!({ data: pts, shape: [C, d] });
  if (out === null || typeof out !== 'object' || typeof (out as ArrayLike<number>).length !== 'number') {
    throw new TypeError(expected(`an array of ${C} numbers`, 'the value returned by the callback', out));
  }
  if (out.length !== C) throw new LemmaError('ERR_SHAPE', expected(`${C} values (one per chain)`, 'the value returned by the callback', out));
  const f = new Float64Array(C);
  for (let i = 0; i < C; i++) {
    const v = out[i];
    if (typeof v !== 'number') throw new TypeError(expected('a number', `the callback's value for chain ${i}`, v));
    f[i] = v;
  }
  return f;
}

/**
 * Samples π ∝ exp(−f) on a convex body with the soft-threshold Dikin walk: metric
 * Φ = H/α + I/η (H the barrier Hessian), Gaussian proposal z = x + L⁻ᵀξ (Φ = LLᵀ), Metropolis
 * filter with the exact log-det terms, lazy chain, fresh randomness for every approximate
 * Hessian. Counter-based Philox streams: the same seed gives the same chains on the CPU and GPU
 * (up to floating-point rounding).
 * @param body from lemma.polytope.halfspaces() or spectrahedron()
 * @param target from lemma.sample.uniform() / linear() / gaussian() / logistic() / callback()
 * @param options chains, steps, burnIn, thin, barrier, hessian, alpha, eta, lazy, start, seed,
 *   device, signal, onProgress (see {@link DikinOptions})
 * @returns Promise of `{ samples [C, kept, d], acceptance [C], ess [d], rhat [d], stepsPerSecond, ... }`
 * @throws TypeError / RangeError for bad arguments (a start outside or on the boundary is a
 *   RangeError); LemmaError ERR_INFEASIBLE (empty, flat or unbounded body), ERR_SHAPE,
 *   ERR_CUDA_UNAVAILABLE, ERR_OOM, ERR_DISPOSED
 * @example
 * const cube = lemma.polytope.halfspaces(A, b);
 * const { samples, ess } = await lemma.sample.dikin(cube, lemma.sample.uniform(), { chains: 4, steps: 5000 });
 */
export async function dikin(body: ConvexBody, target: Target, options?: DikinOptions): Promise<DikinResult> {
  const site = new Error();
  const b = checkBody(body, 'body');
  const t = checkTarget(target, 'target');
  const p = plan(b, t, options);
  const { C, d } = p;
  let center: Float64Array;
  try {
    center = await b.analyticCenter();  // also proves the body bounded with an interior
  } catch (e) {
    throw fromNative(e, site);
  }
  let starts = p.starts;
  if (starts === null) {
    starts = new Float64Array(C * d);
    for (let c = 0; c < C; c++) starts.set(center, c * d);
  }
  let sampler: DikinSamplerHandle;
  try {
    sampler = native.dikinSampler(b.handle(), t.spec, p.params);
  } catch (e) {
    throw fromNative(e, site);
  }
  try {
    const fx0 = t.kind === 'callback' ? await callF(t, starts.slice(), C, d) : null;
    native.dikinSetStart(sampler, starts, fx0);
    const t0 = performance.now();
    let lastReport = -Infinity;
    let done = 0;
    let round = 1;
    let diag: { essMin: number; rhatMax: number } | undefined;
    let diagAt = -Infinity;
    let diagSpentMs = 0;
    let msPerValue = 5e-4;  // the diagnostics' cost per sample coordinate, measured after the first
    // Running diagnostics for onProgress, at most every 0.5 s and only while their total cost (the
    // rank-normalised R-hat sorts every sample) stays within 5 % of the run so far: a fast walk
    // keeps samples faster than they can be diagnosed, and then shows them only at the end.
    const refreshDiagnostics = async () => {
      const now = performance.now();
      if (!p.onProgress || now - diagAt < 500) return;
      const kept = native.dikinRecorded(sampler);
      const values = C * kept * d;
      if (kept < 4 || diagSpentMs + msPerValue * values > 0.05 * (now - t0)) return;
      const r = await native.polytopeDiagnostics(native.dikinSamples(sampler), C, kept, d);
      diag = { essMin: minOf(r.ess), rhatMax: maxOf(r.rhat) };
      diagAt = performance.now();
      diagSpentMs += diagAt - now;
      msPerValue = (diagAt - now) / values;
    };
    const progress = (final: boolean) => {
      if (!p.onProgress) return;
      const now = performance.now();
      if (!final && now - lastReport < 50) return;
      lastReport = now;
      const acc = native.dikinAcceptance(sampler);
      p.onProgress({
        stepsDone: done, totalSteps: p.total, fraction: p.total > 0 ? done / p.total : 1,
        phase: done < p.params.burnIn ? 'burn-in' : 'sampling', elapsedSeconds: (now - t0) / 1000,
        acceptance: acc.reduce((sum, x) => sum + x, 0) / acc.length, ...diag,
      });
    };
    if (t.kind === 'callback') {
      const z = new Float64Array(C * d);
      const need = new Uint8Array(C);
      while (done < p.total) {
        throwIfAborted(p.signal, 'lemma.sample.dikin');
        await native.dikinPropose(sampler, z, need);
        const fz = await callF(t, z.slice(), C, d);
        await native.dikinFinish(sampler, fz);
        done++;
        progress(false);
      }
    } else {
      while (done < p.total) {
        throwIfAborted(p.signal, 'lemma.sample.dikin');
        const n = Math.min(round, p.total - done);
        const r0 = performance.now();
        done += await native.dikinRun(sampler, n);
        const ms = performance.now() - r0;
        round = Math.max(1, Math.min(1 << 20, Math.round(n * (ROUND_MS / Math.max(ms, 0.05)))));
        if (done < p.total) await refreshDiagnostics();
        progress(false);
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const kept = native.dikinRecorded(sampler);
    const data = native.dikinSamples(sampler);
    let ess = nanArray(d);
    let rhat = nanArray(d);
    if (kept >= 4) {
      ({ ess, rhat } = await native.polytopeDiagnostics(data, C, kept, d));
      diag = { essMin: minOf(ess), rhatMax: maxOf(rhat) };
    }
    progress(true);
    return {
      samples: { data, shape: [C, kept, d] },
      acceptance: native.dikinAcceptance(sampler),
      ess, rhat,
      stepsPerSecond: seconds > 0 ? (C * done) / seconds : 0,
      stepsDone: done,
      seed: p.params.seed,
      device: p.params.device,
      kernel: native.dikinKernel(sampler),
      hessian: p.params.hessian,
      alpha: p.params.alpha,
      eta: p.eta,
    };
  } catch (e) {
    // Native failures carry a string code; the user's own errors (fn, onProgress) pass through.
    if (e instanceof AbortError) throw e;
    if (typeof (e as { code?: unknown })?.code === 'string') throw fromNative(e, site);
    throw e;
  } finally {
    native.dikinDispose(sampler);
  }
}

function minOf(a: ArrayLike<number>): number {
  let m = Infinity;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i])) return NaN;
    if (a[i] < m) m = a[i];
  }
  return m;
}

function maxOf(a: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i])) return NaN;
    if (a[i] > m) m = a[i];
  }
  return m;
}
