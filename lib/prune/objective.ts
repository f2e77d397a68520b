/**
 * The attention-matrix pruning objective of arXiv 2410.11261 (spec: shared/specs/attention-pruning.md
 * §2.1–2.2), its closed-form gradient, and the public `objective` / `objectiveSync`.
 *
 *   S(M) = softmax_rows(τ · X (M∘W) Xᵀ)   (n × n; causal: row i sees keys j ≤ i)
 *   T    = S(1)                            the unpruned attention matrix
 *   L(M) = ½‖S(M) − T‖²_F + (λ/2)‖M‖²_F
 *   ∇L   = τ · W ∘ (Xᵀ P X) + λM,  P_ij = S_ij (R_ij − ⟨S_i, R_i⟩),  R = S − T
 *
 * Shapes: X (n, d) calibration activations, W (d, d) score weight (conceptually Wq·Wkᵀ), M (d, d).
 *
 * Algorithm: blocks of 4 query rows, fp64. For a block: Q = X_blk (M∘W) (4·d² work), logits
 * τ·Q Xᵀ (4·n·d), max-shifted softmax rows, the residual against T, then P and the update
 * G += X_blkᵀ (P_blk X) (4·n·d + 4·d²). Cost per evaluation 2·n·d·(n + d) multiply-adds with the
 * gradient, half without; memory O(n + d²) beyond the inputs, plus T itself when it is cached.
 * T is computed by the same code path (so S(1) equals T bit for bit and the gradient at M = 1
 * is exactly zero) and kept when n² ≤ 2²² (32 MiB); above that each block of T is recomputed
 * (another n·d + d² per row), so memory stays O(n + d²).
 *
 * Why lemma.attention.forward is not called in the loop: it returns lse and S·V, but the gradient
 * needs P, the softmax backward of the residual R = S − T, which is not of the form dOut·Vᵀ that
 * attention.backward accepts (R is full rank). Getting lse from the kernel would add an n²·d pass
 * to a loop that computes the logits anyway. test/61 cross-checks S(W') against the fp64 kernel
 * (v = the identity, n ≤ 256), which also pins the causal alignment.
 */
import { performance } from 'node:perf_hooks';
import { LemmaError } from '../errors.js';
import { checkTensor } from '../tensor.js';
import type { FloatArray, Tensor } from '../tensor.js';
import { checkBoolean, checkNumber, checkOptions, expected, is } from '../validation/index.js';
import { checkKnownKeys, checkSignal, throwIfAborted } from '../validation/options.js';

/** T is cached in full (fp64) up to this many entries (32 MiB); above, its rows are recomputed. */
export const TARGET_CACHE_ENTRIES = 2 ** 22;

/** Scratch bytes lemma.prune may allocate before it refuses with ERR_RANGE. */
export const PRUNE_LIMIT_BYTES = 2 * 1024 ** 3;

/** A checked problem: fp64 copies of X and W, τ, the causal flag, and the target T. */
export interface Problem {
  n: number;
  d: number;
  /** [n, d] */
  X: Float64Array;
  /** [d, d] */
  W: Float64Array;
  tau: number;
  causal: boolean;
  /** T row-major [n, n] when cached (n² ≤ {@link TARGET_CACHE_ENTRIES}), else null: recomputed per block. */
  T: Float64Array | null;
}

/**
 * Yields to the event loop (setImmediate) when more than `sliceMs` passed since the last yield,
 * and checks the AbortSignal there; `always` yields at once (between optimisation steps).
 */
export class Pacer {
  private last = performance.now();
  constructor(private readonly signal: AbortSignal | undefined, private readonly what: string, private readonly sliceMs = 10) {}
  async tick(always = false): Promise<void> {
    if (!always && performance.now() - this.last < this.sliceMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.last = performance.now();
    throwIfAborted(this.signal, this.what);
  }
  check(): void {
    throwIfAborted(this.signal, this.what);
  }
}

/** Query rows handled together: each load of X or W feeds 4 rows (≈ 2.5× faster than row by row in V8). */
const BLOCK = 4;

/** Blocks per slice between pacing checks: about 2²⁰ multiply-adds. */
function blocksPerSlice(n: number, d: number): number {
  return Math.max(1, Math.floor(2 ** 20 / (BLOCK * (2 * n * d + 2 * d * d))));
}

/**
 * Rows i0 .. i0 + count − 1 (count ≤ 4) of softmax_rows(τ·X Wm Xᵀ) into S (4 × n, row t at t·n);
 * entries a causal row does not see are 0. Returns jmax, the number of columns written.
 * Q is scratch (4 × d). Missing rows of a short block repeat the last real row and are ignored.
 * Both the target and every evaluation go through here, so S(1) equals T bit for bit.
 */
function softmaxBlock(p: Problem, Wm: Float64Array, i0: number, count: number, Q: Float64Array, S: Float64Array): number {
  const { n, d, X, tau } = p;
  const last = i0 + count - 1;
  const x0 = i0 * d;
  const x1 = Math.min(i0 + 1, last) * d;
  const x2 = Math.min(i0 + 2, last) * d;
  const x3 = last * d;
  Q.fill(0);
  for (let a = 0; a < d; a++) {
    const c0 = X[x0 + a], c1 = X[x1 + a], c2 = X[x2 + a], c3 = X[x3 + a];
    const row = a * d;
    for (let b = 0; b < d; b++) {
      const w = Wm[row + b];
      Q[b] += c0 * w;
      Q[d + b] += c1 * w;
      Q[2 * d + b] += c2 * w;
      Q[3 * d + b] += c3 * w;
    }
  }
  const jmax = p.causal ? last + 1 : n;
  for (let j = 0; j < jmax; j++) {
    const xj = j * d;
    let z0 = 0, z1 = 0, z2 = 0, z3 = 0;
    for (let b = 0; b < d; b++) {
      const x = X[xj + b];
      z0 += Q[b] * x;
      z1 += Q[d + b] * x;
      z2 += Q[2 * d + b] * x;
      z3 += Q[3 * d + b] * x;
    }
    S[j] = z0 * tau;
    S[n + j] = z1 * tau;
    S[2 * n + j] = z2 * tau;
    S[3 * n + j] = z3 * tau;
  }
  for (let t = 0; t < count; t++) {
    const off = t * n;
    const jn = p.causal ? i0 + t + 1 : n;
    let mx = -Infinity;
    for (let j = 0; j < jn; j++) if (S[off + j] > mx) mx = S[off + j];
    let sum = 0;
    for (let j = 0; j < jn; j++) {
      const e = Math.exp(S[off + j] - mx);
      S[off + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j < jn; j++) S[off + j] *= inv;
    for (let j = jn; j < jmax; j++) S[off + j] = 0;
  }
  return jmax;
}

function newTarget(p: Omit<Problem, 'T'>): Problem {
  return { ...p, T: p.n * p.n <= TARGET_CACHE_ENTRIES ? new Float64Array(p.n * p.n) : null };
}

function targetBlock(prob: Problem, i0: number, count: number, Q: Float64Array, S: Float64Array): void {
  const { n } = prob;
  const jmax = softmaxBlock(prob, prob.W, i0, count, Q, S);
  for (let t = 0; t < count; t++) {
    const row = prob.T!.subarray((i0 + t) * n, (i0 + t + 1) * n);
    row.set(S.subarray(t * n, t * n + jmax));
  }
}

/** Builds T (cached when small enough) for a problem whose X, W, τ and causal flag are set. */
export async function buildTarget(p: Omit<Problem, 'T'>, pacer: Pacer | null): Promise<Problem> {
  const prob = newTarget(p);
  if (!prob.T) return prob;
  const Q = new Float64Array(BLOCK * p.d);
  const S = new Float64Array(BLOCK * p.n);
  const slice = blocksPerSlice(p.n, p.d);
  for (let i0 = 0, k = 1; i0 < p.n; i0 += BLOCK, k++) {
    targetBlock(prob, i0, Math.min(BLOCK, p.n - i0), Q, S);
    if (pacer && k % slice === 0) await pacer.tick();
  }
  return prob;
}

/** Synchronous {@link buildTarget}. */
export function buildTargetSync(p: Omit<Problem, 'T'>): Problem {
  const prob = newTarget(p);
  if (!prob.T) return prob;
  const Q = new Float64Array(BLOCK * p.d);
  const S = new Float64Array(BLOCK * p.n);
  for (let i0 = 0; i0 < p.n; i0 += BLOCK) targetBlock(prob, i0, Math.min(BLOCK, p.n - i0), Q, S);
  return prob;
}

/**
 * Evaluates L and ∇L for one problem, reusing its scratch: `residual` gives ½‖S(M) − T‖²_F and,
 * with wantGrad, accumulates Xᵀ P X, from which `gradient` forms ∇L.
 */
export class Evaluator {
  private readonly Wm: Float64Array;
  /** Xᵀ P X accumulator [d, d]. */
  private readonly G: Float64Array;
  /** Block scratch: Q (4 × d), S and P (4 × n), T rows (4 × n) when T is not cached, pX (4 × d). */
  private readonly Q: Float64Array;
  private readonly S: Float64Array;
  private readonly P: Float64Array;
  private readonly Tb: Float64Array;
  private readonly PX: Float64Array;
  private readonly slice: number;

  constructor(readonly p: Problem) {
    const { n, d } = p;
    this.Wm = new Float64Array(d * d);
    this.G = new Float64Array(d * d);
    this.Q = new Float64Array(BLOCK * d);
    this.S = new Float64Array(BLOCK * n);
    this.P = new Float64Array(BLOCK * n);
    this.Tb = new Float64Array(p.T ? 0 : BLOCK * n);
    this.PX = new Float64Array(BLOCK * d);
    this.slice = blocksPerSlice(n, d);
  }

  /** ½‖S(M) − T‖²_F (no ridge); accumulates Xᵀ P X for {@link gradient} when wantGrad. */
  async residual(M: Float64Array, wantGrad: boolean, pacer: Pacer | null): Promise<number> {
    this.begin(M, wantGrad);
    let loss = 0;
    for (let i0 = 0, k = 1; i0 < this.p.n; i0 += BLOCK, k++) {
      loss += this.block(i0, Math.min(BLOCK, this.p.n - i0), wantGrad);
      if (pacer && k % this.slice === 0) await pacer.tick();
    }
    return 0.5 * loss;
  }

  residualSync(M: Float64Array, wantGrad: boolean): number {
    this.begin(M, wantGrad);
    let loss = 0;
    for (let i0 = 0; i0 < this.p.n; i0 += BLOCK) loss += this.block(i0, Math.min(BLOCK, this.p.n - i0), wantGrad);
    return 0.5 * loss;
  }

  /** ∇L = τ·W∘(XᵀPX) + λM, zero off `support` when given, into `out`; from the last evaluation with wantGrad. */
  gradient(M: Float64Array, lambda: number, support: Uint8Array | null, out: Float64Array): Float64Array {
    const { W, tau } = this.p;
    const G = this.G;
    for (let k = 0; k < out.length; k++) {
      out[k] = support && support[k] === 0 ? 0 : tau * W[k] * G[k] + lambda * M[k];
    }
    return out;
  }

  private begin(M: Float64Array, wantGrad: boolean): void {
    const { W } = this.p;
    for (let k = 0; k < W.length; k++) this.Wm[k] = M[k] * W[k];
    if (wantGrad) this.G.fill(0);
  }

  /** Σ‖S_i − T_i‖² over the block's rows; with wantGrad, G += X_blockᵀ (P_block X). */
  private block(i0: number, count: number, wantGrad: boolean): number {
    const p = this.p;
    const { n, d, X } = p;
    const { S, P, PX, G } = this;
    const jmax = softmaxBlock(p, this.Wm, i0, count, this.Q, S);
    let T: Float64Array;
    let tOff: number;
    if (p.T) {
      T = p.T;
      tOff = i0 * n;
    } else {
      softmaxBlock(p, p.W, i0, count, this.Q, this.Tb);
      T = this.Tb;
      tOff = 0;
    }
    let loss = 0;
    for (let t = 0; t < BLOCK; t++) {
      const off = t * n;
      if (t >= count) {
        P.fill(0, off, off + jmax);
        continue;
      }
      const to = tOff + t * n;
      let c = 0;
      for (let j = 0; j < jmax; j++) {
        const r = S[off + j] - T[to + j];
        P[off + j] = r;
        loss += r * r;
        c += S[off + j] * r;
      }
      if (wantGrad) for (let j = 0; j < jmax; j++) P[off + j] = S[off + j] * (P[off + j] - c);
    }
    if (!wantGrad) return loss;
    PX.fill(0);
    for (let j = 0; j < jmax; j++) {
      const p0 = P[j], p1 = P[n + j], p2 = P[2 * n + j], p3 = P[3 * n + j];
      const xj = j * d;
      for (let b = 0; b < d; b++) {
        const x = X[xj + b];
        PX[b] += p0 * x;
        PX[d + b] += p1 * x;
        PX[2 * d + b] += p2 * x;
        PX[3 * d + b] += p3 * x;
      }
    }
    // Rows past `count` have P = 0, so reading X at the last real row for them adds nothing.
    const last = i0 + count - 1;
    const x0 = i0 * d, x1 = Math.min(i0 + 1, last) * d, x2 = Math.min(i0 + 2, last) * d, x3 = last * d;
    for (let a = 0; a < d; a++) {
      const c0 = X[x0 + a], c1 = X[x1 + a], c2 = X[x2 + a], c3 = X[x3 + a];
      const row = a * d;
      for (let b = 0; b < d; b++) G[row + b] += c0 * PX[b] + c1 * PX[d + b] + c2 * PX[2 * d + b] + c3 * PX[3 * d + b];
    }
    return loss;
  }
}

/** ½‖M‖²_F */
export function halfSquaredNorm(M: Float64Array): number {
  let s = 0;
  for (let k = 0; k < M.length; k++) s += M[k] * M[k];
  return 0.5 * s;
}

// ---------------------------------------------------------------------------- input checking

/** Inputs `{ X, W }` or `{ X, Wq, Wk }` (plus `mask` for objective), checked. */
export interface CheckedInputs {
  n: number;
  d: number;
  /** d_head when Wq / Wk were given, else null. */
  dh: number | null;
  X: Float64Array;
  W: Float64Array;
  f64: boolean;
  mask: Float64Array | null;
}

function rank2(t: Tensor, name: string, letters: string): [number, number] {
  if (t.shape.length !== 2) throw new LemmaError('ERR_SHAPE', expected(`a rank-2 shape [${letters}]`, `${name}.shape`, t.shape));
  return t.shape as [number, number];
}

/** fp64 copy of a tensor's data, refusing NaN / ±Infinity by position. */
function finiteCopy(t: Tensor, name: string): Float64Array {
  const out = Float64Array.from(t.data);
  for (let k = 0; k < out.length; k++) {
    if (!Number.isFinite(out[k])) throw new RangeError(expected('a finite number', `${name}.data[${k}]`, out[k]));
  }
  return out;
}

function sameDtype(t: Tensor, f64: boolean, name: string): void {
  if ((t.data instanceof Float64Array) !== f64) {
    throw new LemmaError('ERR_DTYPE', expected(`a ${f64 ? 'Float64Array' : 'Float32Array'} like X.data`, `${name}.data`, t.data));
  }
}

/** Refuses problems whose scratch would exceed {@link PRUNE_LIMIT_BYTES}, before allocating. */
export function checkBytes(n: number, d: number, squares: number): void {
  const bytes = 8 * (squares * d * d + 2 * n * d + 4 * n + (n * n <= TARGET_CACHE_ENTRIES ? n * n : 0));
  if (bytes > PRUNE_LIMIT_BYTES) {
    throw new LemmaError('ERR_RANGE', `lemma.prune needs about ${bytes} bytes of fp64 scratch for n = ${n}, d = ${d}, more than the limit of ${PRUNE_LIMIT_BYTES}`);
  }
}

/**
 * Checks `{ X, W }` / `{ X, Wq, Wk }` (and `mask` when withMask): names, shapes, one dtype, finite
 * values; returns fp64 copies with W = Wq·Wkᵀ formed when the factors were given.
 */
export function checkInputs(inputs: unknown, withMask: boolean): CheckedInputs {
  if (!is.object(inputs)) {
    throw new TypeError(expected(withMask ? 'an object { X, W, mask }' : 'an object { X, W } or { X, Wq, Wk }', 'inputs', inputs));
  }
  const valid = withMask ? ['X', 'W', 'Wq', 'Wk', 'mask'] : ['X', 'W', 'Wq', 'Wk'];
  checkKnownKeys(inputs, 'inputs', valid);
  const X = checkTensor(inputs.X, 'X');
  const [n, d] = rank2(X, 'X', 'n, d');
  if (n < 1 || d < 1) throw new LemmaError('ERR_SHAPE', expected('at least one row n and one feature d', 'X.shape', X.shape));
  const f64 = X.data instanceof Float64Array;
  let W: Float64Array;
  let dh: number | null = null;
  if (inputs.W !== undefined) {
    if (inputs.Wq !== undefined || inputs.Wk !== undefined) {
      throw new TypeError(expected('either W or Wq and Wk, not both', 'inputs', 'W together with Wq / Wk'));
    }
    const Wt = checkTensor(inputs.W, 'W');
    const [r, c] = rank2(Wt, 'W', 'd, d');
    if (r !== d || c !== d) throw new LemmaError('ERR_SHAPE', expected(`shape [${d}, ${d}] (d from X)`, 'W.shape', Wt.shape));
    sameDtype(Wt, f64, 'W');
    checkBytes(n, d, 10);
    W = finiteCopy(Wt, 'W');
  } else {
    if (inputs.Wq === undefined) throw new TypeError(expected('a tensor { data, shape } (or pass W)', 'Wq', inputs.Wq));
    const Wq = checkTensor(inputs.Wq, 'Wq');
    const Wk = checkTensor(inputs.Wk, 'Wk');
    const [rq, cq] = rank2(Wq, 'Wq', 'd, dh');
    const [rk, ck] = rank2(Wk, 'Wk', 'd, dh');
    if (rq !== d) throw new LemmaError('ERR_SHAPE', expected(`${d} rows (d from X)`, 'Wq.shape[0]', rq));
    if (cq < 1) throw new LemmaError('ERR_SHAPE', expected('a head dim dh of at least 1', 'Wq.shape[1]', cq));
    if (rk !== d || ck !== cq) throw new LemmaError('ERR_SHAPE', expected(`shape [${d}, ${cq}] (the shape of Wq)`, 'Wk.shape', Wk.shape));
    sameDtype(Wq, f64, 'Wq');
    sameDtype(Wk, f64, 'Wk');
    checkBytes(n, d, 10);
    const q = finiteCopy(Wq, 'Wq');
    const k = finiteCopy(Wk, 'Wk');
    dh = cq;
    // W = Wq·Wkᵀ: the d × d score weight the spec's closed form prunes.
    W = new Float64Array(d * d);
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) {
        let s = 0;
        for (let c = 0; c < cq; c++) s += q[a * cq + c] * k[b * cq + c];
        W[a * d + b] = s;
      }
    }
  }
  const Xd = finiteCopy(X, 'X');
  let mask: Float64Array | null = null;
  if (withMask) {
    const Mt = checkTensor(inputs.mask, 'mask');
    const [r, c] = rank2(Mt, 'mask', 'd, d');
    if (r !== d || c !== d) throw new LemmaError('ERR_SHAPE', expected(`shape [${d}, ${d}] (d from X)`, 'mask.shape', Mt.shape));
    sameDtype(Mt, f64, 'mask');
    mask = finiteCopy(Mt, 'mask');
  }
  return { n, d, dh, X: Xd, W, f64, mask };
}

/** τ (default 1/√dh with Wq, Wk; 1/√d with W), checked. */
export function checkTau(value: unknown, c: CheckedInputs): number {
  if (value === undefined) return 1 / Math.sqrt(c.dh ?? c.d);
  return checkNumber(value, 'options.tau', { min: 0, exclusiveMin: true });
}

// ---------------------------------------------------------------------------------- public

export interface ObjectiveInputs<A extends FloatArray = FloatArray> {
  /** [n, d] calibration activations. */
  X: Tensor<A>;
  /** [d, d] score weight (or pass Wq and Wk: W = Wq·Wkᵀ). */
  W?: Tensor<A>;
  /** [d, dh] */
  Wq?: Tensor<A>;
  /** [d, dh] */
  Wk?: Tensor<A>;
  /** [d, d] real mask values M (1 everywhere = unpruned). */
  mask: Tensor<A>;
}

export interface ObjectiveOptions {
  /** Softmax scale τ. Default 1/√dh (Wq, Wk given) or 1/√d (W given). */
  tau?: number;
  /** Ridge weight λ ≥ 0. Default 0. */
  lambda?: number;
  /** Causal mask (row i sees keys j ≤ i). Default false. */
  causal?: boolean;
  /** Stops the evaluation between row slices (async version only). */
  signal?: AbortSignal;
}

export interface ObjectiveResult<A extends FloatArray = FloatArray> {
  /** L(M) = ½‖S(M) − T‖²_F + (λ/2)‖M‖²_F */
  value: number;
  /** ‖S(M) − T‖_F: the attention-matrix error alone. */
  attnError: number;
  /** [d, d] ∇L(M) = τ·W∘(XᵀPX) + λM, computed in fp64, stored in the inputs' dtype. */
  grad: Tensor<A>;
  tau: number;
  device: 'cpu';
}

const OBJECTIVE_OPTIONS = ['tau', 'lambda', 'causal', 'signal'] as const;

function objectivePlan(inputs: unknown, options: unknown, sync: boolean) {
  const c = checkInputs(inputs, true);
  const o = checkOptions(options, 'options');
  checkKnownKeys(o, 'options', sync ? OBJECTIVE_OPTIONS.filter((k) => k !== 'signal') : OBJECTIVE_OPTIONS);
  const tau = checkTau(o.tau, c);
  const lambda = o.lambda === undefined ? 0 : checkNumber(o.lambda, 'options.lambda', { min: 0 });
  const causal = o.causal === undefined ? false : checkBoolean(o.causal, 'options.causal');
  const signal = checkSignal(o.signal, 'options.signal');
  return { c, tau, lambda, causal, signal };
}

function objectiveResult(c: CheckedInputs, ev: Evaluator, residual: number, lambda: number, tau: number): ObjectiveResult {
  const M = c.mask!;
  const g = ev.gradient(M, lambda, null, new Float64Array(c.d * c.d));
  return {
    value: residual + lambda * halfSquaredNorm(M),
    attnError: Math.sqrt(2 * residual),
    grad: { data: c.f64 ? g : Float32Array.from(g), shape: [c.d, c.d] },
    tau,
    device: 'cpu',
  };
}

/**
 * The pruning objective and its closed-form gradient at a real mask M (spec §2.2), in fp64:
 * L(M) = ½‖softmax_rows(τ X (M∘W) Xᵀ) − softmax_rows(τ X W Xᵀ)‖²_F + (λ/2)‖M‖²_F.
 * Runs in slices that yield to the event loop.
 * @param inputs `{ X [n, d], W [d, d], mask [d, d] }` (or Wq, Wk [d, dh] instead of W), all
 *   Float64Array or all Float32Array
 * @param options tau, lambda, causal, signal
 * @returns Promise of `{ value, attnError, grad [d, d], tau, device: 'cpu' }`
 * @throws TypeError / RangeError for bad arguments (unknown input or option names, non-finite
 *   values); LemmaError ERR_SHAPE, ERR_DTYPE, ERR_RANGE; AbortError (code 'ABORT_ERR')
 * @example
 * const ones = lemma.tensor(new Float64Array(d * d).fill(1), [d, d]);
 * const { value, grad } = await lemma.prune.objective({ X, W, mask: ones }, { tau: 0.125 });
 * // value === 0 and grad is all zeros: the unpruned mask reproduces T exactly
 */
export async function objective<A extends FloatArray>(inputs: ObjectiveInputs<A>, options?: ObjectiveOptions): Promise<ObjectiveResult<A>> {
  const { c, tau, lambda, causal, signal } = objectivePlan(inputs, options, false);
  const pacer = new Pacer(signal, 'lemma.prune.objective');
  pacer.check();
  const prob = await buildTarget({ n: c.n, d: c.d, X: c.X, W: c.W, tau, causal }, pacer);
  const ev = new Evaluator(prob);
  const res = await ev.residual(c.mask!, true, pacer);
  return objectiveResult(c, ev, res, lambda, tau) as ObjectiveResult<A>;
}

/**
 * Synchronous twin of {@link objective} for small inputs (finite-difference checks, custom
 * optimisers): blocks the calling thread.
 * @param inputs `{ X [n, d], W [d, d], mask [d, d] }` (or Wq, Wk [d, dh] instead of W)
 * @param options tau, lambda, causal (no `signal`: nothing can interrupt a synchronous call)
 * @returns `{ value, attnError, grad [d, d], tau, device: 'cpu' }`
 * @throws TypeError / RangeError for bad arguments; LemmaError ERR_SHAPE, ERR_DTYPE, ERR_RANGE
 * @example
 * const { value, grad } = lemma.prune.objectiveSync({ X, W, mask }, { lambda: 1e-3 });
 */
export function objectiveSync<A extends FloatArray>(inputs: ObjectiveInputs<A>, options?: Omit<ObjectiveOptions, 'signal'>): ObjectiveResult<A> {
  const { c, tau, lambda, causal } = objectivePlan(inputs, options, true);
  const prob = buildTargetSync({ n: c.n, d: c.d, X: c.X, W: c.W, tau, causal });
  const ev = new Evaluator(prob);
  const res = ev.residualSync(c.mask!, true);
  return objectiveResult(c, ev, res, lambda, tau) as ObjectiveResult<A>;
}
