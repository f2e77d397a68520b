/**
 * lemma.prune.attention: attention-aware pruning of the score weight W = Wq·Wkᵀ (d × d) so that
 * the softmax attention matrix on calibration activations X stays close to the unpruned one
 * (arXiv 2410.11261; spec: shared/specs/attention-pruning.md §2.3). Pure TypeScript orchestration
 * over the fp64 objective of ./objective.ts; no native kernel of its own.
 *
 * Methods (all return a mask with the exact counts of the pattern, see ./select.ts):
 *   'magnitude'     binary support of the largest |W_ab|
 *   'wanda'         binary support of the largest |W_ab|·‖X_:,a‖·‖X_:,b‖
 *   'refit'         (default) Wanda support, then STAGE B: gradient descent on the mask VALUES on
 *                   that fixed support (λ = 0); the returned weight is W∘M with real M
 *   'relaxed-mask'  STAGE A (relax and round: GD on all d² entries of M from M = 1 with a ridge λ,
 *                   then keep the top entries of |M∘W| or |M| per group), then STAGE B
 *
 * Step size: Armijo backtracking, sufficient decrease L(M − ηg) ≤ L(M) − 10⁻⁴·η‖g‖²; η starts at
 * `lr`, halves on failure and doubles after each success. Every accepted step strictly decreases
 * the objective, so `history` is non-increasing. A step that fails 60 halvings in a row (the
 * objective is flat to rounding) or a zero gradient ends the stage early (`stepsDone`).
 *
 * What this measures (spec §2.3): on the synthetic AP-3 problem the gain over binary masks comes
 * from STAGE B, re-optimising the kept values, not from the relax-and-round selection (STAGE A
 * alone is worse than magnitude there: at M = 1 the attention loss has zero gradient, so the
 * ridge drives the early steps).
 */
import { performance } from 'node:perf_hooks';
import { LemmaError } from '../errors.js';
import { cpuOnly } from '../device.js';
import type { FloatArray, Tensor } from '../tensor.js';
import { checkBoolean, checkInteger, checkNumber, checkOneOf, checkOptions, expected } from '../validation/index.js';
import { checkCallback, checkKnownKeys, checkSignal } from '../validation/options.js';
import { Evaluator, Pacer, buildTarget, checkInputs, checkTau, halfSquaredNorm } from './objective.js';
import type { CheckedInputs } from './objective.js';
import { magnitudeScore, selectSupport, wandaScore } from './select.js';
import type { Pattern } from './select.js';

export type { Pattern } from './select.js';
export type PruneMethod = 'refit' | 'relaxed-mask' | 'magnitude' | 'wanda';

export interface PruneInputs<A extends FloatArray = FloatArray> {
  /** [n, d] calibration activations (the hidden states entering the layer). */
  X: Tensor<A>;
  /** [d, d] score weight W (give either W, or Wq and Wk). */
  W?: Tensor<A>;
  /** [d, dh] query projection; with Wk, W = Wq·Wkᵀ. */
  Wq?: Tensor<A>;
  /** [d, dh] key projection. */
  Wk?: Tensor<A>;
}

export interface PruneProgress {
  /** Optimisation steps done so far (STAGE A steps first, then STAGE B); a stage that stops early counts as complete. */
  done: number;
  /** selectSteps (relaxed-mask only) + steps. */
  total: number;
  /** The current stage's objective (STAGE A includes the ridge term). */
  objective: number;
  stage: 'select' | 'refit';
}

export interface PruneOptions {
  /** Fraction of entries removed, in [0, 1). Default 0.5 (the only value pattern '2:4' accepts). */
  sparsity?: number;
  /** 'row' (default: d − ⌊s·d⌋ kept per row), 'global' (d² − ⌊s·d²⌋ in all), '2:4'. */
  pattern?: Pattern;
  /** 'refit' (default), 'relaxed-mask', 'magnitude', 'wanda'. */
  method?: PruneMethod;
  /** STAGE B (refit) steps. Default 300; 0 returns the binary support. 'refit' / 'relaxed-mask' only. */
  steps?: number;
  /** STAGE A (relax and round) steps. Default 500. 'relaxed-mask' only. */
  selectSteps?: number;
  /** First Armijo step size η. Default 1. 'refit' / 'relaxed-mask' only. */
  lr?: number;
  /** Ridge λ of STAGE A. Default 1e-3. 'relaxed-mask' only (STAGE B uses λ = 0). */
  lambda?: number;
  /** STAGE A rounding score: 'masked-weight' |M∘W| (default) or 'mask' |M|. 'relaxed-mask' only. */
  score?: 'masked-weight' | 'mask';
  /** Softmax scale τ. Default 1/√dh (Wq, Wk given) or 1/√d (W given). */
  tau?: number;
  /** Causal attention on the calibration sequence (row i sees keys j ≤ i). Default false. */
  causal?: boolean;
  /**
   * Seed of the tie-breaking priority (entries with equal scores are ranked by a seeded random
   * order, not by position). The methods are otherwise deterministic. Default 0.
   */
  seed?: number;
  /** 'auto' (default) or 'cpu'; lemma.prune has no CUDA path ('cuda' is refused with ERR_CUDA). */
  device?: 'auto' | 'cpu' | 'cuda';
  /** Aborts between steps and row slices; the Promise rejects with an AbortError. */
  signal?: AbortSignal;
  /** Called at most every 50 ms during the optimisation and once at the end of each stage (binary methods have no stage and never call it). */
  onProgress?: (p: PruneProgress) => void;
}

export interface PruneResult<A extends FloatArray = FloatArray> {
  /**
   * [d, d] the pruned score weight W∘M: use it as the bilinear form of the attention scores,
   * τ·X W' Xᵀ. In general W∘M is not of rank ≤ dh, so it does not factor back into pruned Wq, Wk
   * (which is why no Wq / Wk are returned), and its (1 − s)·d² non-zeros are fewer than the
   * factors' 2·d·dh only when s > 1 − 2·dh/d: this is the spec's single-W oracle problem, not a
   * compressed layer format.
   */
  W: Tensor<A>;
  /** [d, d] binary support (1 kept, 0 pruned): exactly the pattern's counts. */
  mask: Tensor<A>;
  /** [d, d] the real mask values M (0 off the support; 1 on it for the binary methods). */
  values: Tensor<A>;
  /** STAGE B objective ½‖S − T‖²_F before the first step and after each step (stepsDone + 1 values; empty for binary methods). */
  history: Float64Array;
  /** STAGE A objective (with the ridge) per step, 'relaxed-mask' only; else empty. */
  selectHistory: Float64Array;
  /** ½‖S(W∘M) − T‖²_F at the returned mask. */
  objective: number;
  /** ‖S(W∘M) − T‖_F at the returned mask: the attention-matrix error. */
  attnError: number;
  /** ‖S(W∘Z) − T‖_F of the binary support before the refit (equals attnError for binary methods). */
  supportError: number;
  /** Refit steps actually taken (≤ steps; fewer when the objective stopped decreasing). */
  stepsDone: number;
  /** STAGE A steps actually taken. */
  selectStepsDone: number;
  method: PruneMethod;
  pattern: Pattern;
  /** The requested sparsity. */
  sparsity: number;
  /** The fraction of entries pruned (≤ sparsity; see the pattern's count rule). */
  realizedSparsity: number;
  tau: number;
  seed: number;
  device: 'cpu';
}

const OPTION_NAMES = ['sparsity', 'pattern', 'method', 'steps', 'selectSteps', 'lr', 'lambda', 'score', 'tau', 'causal', 'seed', 'device', 'signal', 'onProgress'] as const;
const ARMIJO_C = 1e-4;
const MAX_HALVINGS = 60;
const PROGRESS_MS = 50;

interface Plan {
  c: CheckedInputs;
  sparsity: number;
  pattern: Pattern;
  method: PruneMethod;
  steps: number;
  selectSteps: number;
  lr: number;
  lambda: number;
  score: 'masked-weight' | 'mask';
  tau: number;
  causal: boolean;
  seed: number;
  signal: AbortSignal | undefined;
  onProgress: ((p: PruneProgress) => void) | undefined;
}

function notFor(o: Record<string, unknown>, key: string, why: string): void {
  if (o[key] !== undefined) throw new RangeError(expected(`no ${key} (${why})`, `options.${key}`, o[key]));
}

function plan(inputs: unknown, options: unknown): Plan {
  const c = checkInputs(inputs, false);
  const o = checkOptions(options, 'options');
  checkKnownKeys(o, 'options', OPTION_NAMES);
  const method = checkOneOf(o.method ?? 'refit', 'options.method', ['refit', 'relaxed-mask', 'magnitude', 'wanda'] as const);
  const pattern = checkOneOf(o.pattern ?? 'row', 'options.pattern', ['row', 'global', '2:4'] as const);
  let sparsity = 0.5;
  if (o.sparsity !== undefined) {
    if (typeof o.sparsity !== 'number') throw new TypeError(expected('a number in [0, 1)', 'options.sparsity', o.sparsity));
    if (!(o.sparsity >= 0 && o.sparsity < 1)) throw new RangeError(expected('a number in [0, 1)', 'options.sparsity', o.sparsity));
    sparsity = o.sparsity;
  }
  if (pattern === '2:4') {
    if (sparsity !== 0.5) throw new RangeError(expected("0.5 (pattern '2:4' keeps 2 of every 4 entries)", 'options.sparsity', sparsity));
    if (c.d % 4 !== 0) throw new LemmaError('ERR_SHAPE', expected("a multiple of 4 (pattern '2:4')", 'X.shape[1]', c.d));
  }
  const binary = method === 'magnitude' || method === 'wanda';
  if (binary) {
    const why = `method '${method}' returns the binary support; steps, lr apply to 'refit' and 'relaxed-mask'`;
    notFor(o, 'steps', why);
    notFor(o, 'lr', why);
  }
  if (method !== 'relaxed-mask') {
    const why = `selectSteps, lambda and score configure STAGE A of method 'relaxed-mask', not '${method}'`;
    notFor(o, 'selectSteps', why);
    notFor(o, 'lambda', why);
    notFor(o, 'score', why);
  }
  const steps = binary ? 0 : o.steps === undefined ? 300 : checkInteger(o.steps, 'options.steps', 0, 1e7);
  const selectSteps = method !== 'relaxed-mask' ? 0 : o.selectSteps === undefined ? 500 : checkInteger(o.selectSteps, 'options.selectSteps', 0, 1e7);
  const lr = o.lr === undefined ? 1 : checkNumber(o.lr, 'options.lr', { min: 0, exclusiveMin: true });
  const lambda = o.lambda === undefined ? 1e-3 : checkNumber(o.lambda, 'options.lambda', { min: 0 });
  const score = checkOneOf(o.score ?? 'masked-weight', 'options.score', ['masked-weight', 'mask'] as const);
  const tau = checkTau(o.tau, c);
  const causal = o.causal === undefined ? false : checkBoolean(o.causal, 'options.causal');
  const seed = o.seed === undefined ? 0 : checkInteger(o.seed, 'options.seed', 0, Number.MAX_SAFE_INTEGER);
  cpuOnly(o.device, 'options.device', 'lemma.prune runs on the CPU only (TypeScript orchestration, no CUDA path)');
  const signal = checkSignal(o.signal, 'options.signal');
  const onProgress = checkCallback<(p: PruneProgress) => void>(o.onProgress, 'options.onProgress');
  return { c, sparsity, pattern, method, steps, selectSteps, lr, lambda, score, tau, causal, seed, signal, onProgress };
}

interface Descent {
  history: Float64Array;
  stepsDone: number;
  value: number;
}

/**
 * Armijo gradient descent on M (in place). With a support, only its entries move (the others
 * stay exactly 0). Returns the objective before the first step and after each accepted step.
 */
async function descend(
  ev: Evaluator, M: Float64Array, steps: number, lr: number, lambda: number, support: Uint8Array | null,
  pacer: Pacer, report: (done: number, value: number, final: boolean) => void,
): Promise<Descent> {
  const size = M.length;
  const ridge = (m: Float64Array) => (lambda > 0 ? lambda * halfSquaredNorm(m) : 0);
  let f = (await ev.residual(M, true, pacer)) + ridge(M);
  let g: Float64Array = ev.gradient(M, lambda, support, new Float64Array(size));
  let gTrial: Float64Array = new Float64Array(size);
  const trial = new Float64Array(size);
  const history = [f];
  let eta = lr;
  let done = 0;
  while (done < steps) {
    let gg = 0;
    for (let k = 0; k < size; k++) gg += g[k] * g[k];
    if (gg === 0) break;
    let accepted = false;
    for (let h = 0; h <= MAX_HALVINGS; h++) {
      for (let k = 0; k < size; k++) trial[k] = M[k] - eta * g[k];
      const ft = (await ev.residual(trial, true, pacer)) + ridge(trial);
      if (ft <= f - ARMIJO_C * eta * gg) {
        accepted = true;
        M.set(trial);
        f = ft;
        gTrial = ev.gradient(M, lambda, support, gTrial);
        [g, gTrial] = [gTrial, g];
        break;
      }
      eta /= 2;
    }
    if (!accepted) break;
    done++;
    history.push(f);
    eta = Math.min(eta * 2, lr * 2 ** MAX_HALVINGS);
    report(done, f, false);
    await pacer.tick(true);
  }
  // The final call says the stage is over: done = steps even when it stopped early.
  report(steps, f, true);
  return { history: Float64Array.from(history), stepsDone: done, value: f };
}

function ones(size: number): Float64Array {
  return new Float64Array(size).fill(1);
}

/**
 * Prunes the attention score weight W = Wq·Wkᵀ (d × d) of one head so that the attention matrix
 * S = softmax_rows(τ·X (M∘W) Xᵀ) on calibration activations X stays close to the unpruned
 * T = softmax_rows(τ·X W Xᵀ), in Frobenius norm (arXiv 2410.11261). The default method keeps the
 * Wanda support and re-optimises the kept mask values by gradient descent (Armijo steps) on
 * ½‖S(M) − T‖²_F; this refit is where the improvement over binary masks comes from. All
 * computation is fp64 on the CPU; the loop yields to the event loop between steps and row slices.
 * @param inputs `{ X [n, d], W [d, d] }` or `{ X [n, d], Wq [d, dh], Wk [d, dh] }`, all
 *   Float64Array or all Float32Array (outputs keep that dtype)
 * @param options sparsity, pattern, method, steps, selectSteps, lr, lambda, score, tau, causal,
 *   seed, device, signal, onProgress (see {@link PruneOptions})
 * @returns Promise of `{ W [d, d] (= W∘M), mask [d, d] (binary), values [d, d] (M), history,
 *   selectHistory, objective, attnError, supportError, stepsDone, method, pattern, sparsity,
 *   realizedSparsity, tau, seed, device: 'cpu' }`
 * @throws TypeError (wrong types, unknown input or option names: the message names the nearest
 *   valid one); RangeError (sparsity outside [0, 1), non-finite values in X or the weights, an
 *   option the method does not use, '2:4' with a sparsity other than 0.5); LemmaError ERR_SHAPE
 *   (shapes disagree, '2:4' with d not a multiple of 4), ERR_DTYPE (mixed Float32/Float64),
 *   ERR_RANGE (scratch above 2 GiB), ERR_CUDA (device 'cuda'); AbortError (code 'ABORT_ERR')
 * @example
 * const r = await lemma.prune.attention({ X, Wq, Wk }, { sparsity: 0.5, pattern: 'row' });
 * console.log(r.attnError, r.history.at(-1), r.mask.data.reduce((a, b) => a + b, 0));
 * // use r.W (d × d) in place of Wq·Wkᵀ: scores = τ · X r.W Xᵀ
 */
export async function attention<A extends FloatArray>(inputs: PruneInputs<A>, options?: PruneOptions): Promise<PruneResult<A>> {
  const p = plan(inputs, options);
  const { c } = p;
  const size = c.d * c.d;
  const pacer = new Pacer(p.signal, 'lemma.prune.attention');
  pacer.check();
  const prob = await buildTarget({ n: c.n, d: c.d, X: c.X, W: c.W, tau: p.tau, causal: p.causal }, pacer);
  const ev = new Evaluator(prob);
  const total = p.selectSteps + p.steps;
  let lastReport = -Infinity;
  const reporter = (offset: number, stage: PruneProgress['stage']) => (done: number, value: number, final: boolean) => {
    if (!p.onProgress) return;
    const now = performance.now();
    if (!final && now - lastReport < PROGRESS_MS) return;
    lastReport = now;
    p.onProgress({ done: offset + done, total, objective: value, stage });
  };

  let support: Uint8Array;
  let selectHistory: Float64Array = new Float64Array(0);
  let selectStepsDone = 0;
  if (p.method === 'magnitude') {
    support = selectSupport(magnitudeScore(c.W), c.d, p.pattern, p.sparsity, p.seed);
  } else if (p.method === 'wanda' || p.method === 'refit') {
    support = selectSupport(wandaScore(c.X, c.n, c.d, c.W), c.d, p.pattern, p.sparsity, p.seed);
  } else {
    const M = ones(size);
    const a = await descend(ev, M, p.selectSteps, p.lr, p.lambda, null, pacer, reporter(0, 'select'));
    selectHistory = a.history;
    selectStepsDone = a.stepsDone;
    const score = new Float64Array(size);
    for (let k = 0; k < size; k++) score[k] = Math.abs(p.score === 'mask' ? M[k] : M[k] * c.W[k]);
    support = selectSupport(score, c.d, p.pattern, p.sparsity, p.seed);
  }
  pacer.check();

  const M = Float64Array.from(support);
  const supportResidual = await ev.residual(M, false, pacer);
  let residual = supportResidual;
  let history: Float64Array = new Float64Array(0);
  let stepsDone = 0;
  if (p.method === 'refit' || p.method === 'relaxed-mask') {
    const b = await descend(ev, M, p.steps, p.lr, 0, support, pacer, reporter(p.selectSteps, 'refit'));
    history = b.history;
    stepsDone = b.stepsDone;
    residual = b.value;
  }

  let kept = 0;
  for (let k = 0; k < size; k++) kept += support[k];
  const out = (a: Float64Array): Tensor<A> => ({ data: (c.f64 ? a : Float32Array.from(a)) as A, shape: [c.d, c.d] });
  const Wp = new Float64Array(size);
  for (let k = 0; k < size; k++) Wp[k] = M[k] * c.W[k];
  return {
    W: out(Wp),
    mask: out(Float64Array.from(support)),
    values: out(M),
    history,
    selectHistory,
    objective: residual,
    attnError: Math.sqrt(2 * residual),
    supportError: Math.sqrt(2 * supportResidual),
    stepsDone,
    selectStepsDone,
    method: p.method,
    pattern: p.pattern,
    sparsity: p.sparsity,
    realizedSparsity: 1 - kept / size,
    tau: p.tau,
    seed: p.seed,
    device: 'cpu',
  };
}
