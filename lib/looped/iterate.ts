/**
 * lemma.looped.iterate: S starts of the looped network x ← g(Wx + b) (+ bounded noise) at once,
 * with early exit once a start stabilises, and lemma.looped.stabilisation, the distribution of
 * the steps at which starts stabilised (how many loop iterations early exit saves).
 *
 * Built-in activations run natively (tiles of 16 starts on the thread pool, off the event loop);
 * a custom `{ fn }` activation runs in TypeScript with the same semantics and the same noise
 * stream (Philox, the counter layout of the native code), yielding to the event loop between chunks.
 */
import { native, type NativeLoopedParams } from '../binding.js';
import { runLong } from '../long-work.js';
import { cpuOnly, type Device } from '../device.js';
import { fromNative, LemmaError } from '../errors.js';
import { philox4x32, u01 } from '../random.js';
import type { FloatArray, Tensor } from '../tensor.js';
import { checkBoolean, checkInteger, checkNumber, checkOptions } from '../validation/index.js';
import { AbortError, checkCallback, checkKnownKeys, checkSignal } from '../validation/options.js';
import { ACTIVATIONS, type Activation, type CustomActivation } from './activations.js';
import { activationLabel, checkActivation, checkNetwork, checkStarts, type Network } from './network.js';

/** Progress of a long iteration: `done` of `total` loop steps, `active` starts still running. */
export interface IterateProgress {
  done: number;
  total: number;
  active: number;
}

export interface IterateOptions<A extends FloatArray = FloatArray> {
  /** [d, d] weights (Float32Array or Float64Array; b and x0 share the dtype). */
  W: Tensor<A>;
  /** [d] bias: a tensor or a typed array. */
  b: Tensor<A> | A;
  /** 'poly3' | 'tanh2' | 'tanh' | 'relu' | 'gelu', or a custom { fn, range?, slope? }. */
  activation: Activation;
  /** [S, d] starting states, one per row. */
  x0: Tensor<A>;
  /** Steps at most (default 1000). */
  maxSteps?: number;
  /** A start has stabilised at the first step t with ‖x_t − x_{t−1}‖_∞ ≤ tol (default 1e-12). */
  tol?: number;
  /** δ ≥ 0: add noise uniform on [−δ, δ]^d after every step (default 0). */
  noise?: number;
  /** Seed of the noise stream (integer in [0, 2^53)); drawn at random when noise > 0 and omitted. */
  seed?: number;
  /** Stop each start once it stabilises (default true); false runs every start maxSteps steps. */
  earlyExit?: boolean;
  /** Keep the residual history [S, maxSteps] (default true; S·maxSteps ≤ 2^25). */
  history?: boolean;
  device?: Device;
  signal?: AbortSignal;
  onProgress?: (p: IterateProgress) => void;
}

export interface IterateResult<A extends FloatArray = FloatArray> {
  /** Final states [S, d] (the input dtype). */
  x: Tensor<A>;
  /** Steps taken by each start. */
  steps: Int32Array;
  /** 1 where the last step's residual was ≤ tol. */
  converged: Uint8Array;
  /** The first step whose residual was ≤ tol, or −1 (with early exit, the step the start stopped at). */
  stabilisedAt: Int32Array;
  /** The last step's residual ‖x_t − x_{t−1}‖_∞ per start (NaN when the state overflowed). */
  residual: Float64Array;
  /** [S, maxSteps] residual histories (NaN after a start's last step), or null with history: false. */
  residuals: Float64Array | null;
  maxSteps: number;
  tol: number;
  noise: number;
  /** The noise seed used (0 without noise). */
  seed: number;
  activation: string;
  device: 'cpu';
}

const KEYS = ['W', 'b', 'activation', 'x0', 'maxSteps', 'tol', 'noise', 'seed', 'earlyExit', 'history', 'device', 'signal', 'onProgress'];
export const MAX_HISTORY = 2 ** 25;

interface Plan {
  net: Network;
  activation: Activation;
  x0: Tensor;
  S: number;
  maxSteps: number;
  tol: number;
  noise: number;
  seed: number;
  earlyExit: boolean;
  history: boolean;
  signal: AbortSignal | undefined;
  onProgress: ((p: IterateProgress) => void) | undefined;
}

function plan(options: unknown): Plan {
  const o = checkOptions(options, 'options');
  checkKnownKeys(o, 'options', KEYS);
  const net = checkNetwork(o.W, o.b);
  const activation = checkActivation(o.activation);
  const x0 = checkStarts(o.x0, net);
  const S = x0.shape[0];
  const maxSteps = o.maxSteps === undefined ? 1000 : checkInteger(o.maxSteps, 'options.maxSteps', 1, 2 ** 30);
  const tol = o.tol === undefined ? 1e-12 : checkNumber(o.tol, 'options.tol', { min: 0 });
  const noise = o.noise === undefined ? 0 : checkNumber(o.noise, 'options.noise', { min: 0 });
  const seed = o.seed === undefined ? (noise > 0 ? Math.floor(Math.random() * 2 ** 53) : 0)
    : checkInteger(o.seed, 'options.seed', 0, Number.MAX_SAFE_INTEGER);
  const earlyExit = o.earlyExit === undefined ? true : checkBoolean(o.earlyExit, 'options.earlyExit');
  const history = o.history === undefined ? true : checkBoolean(o.history, 'options.history');
  if (history && S * maxSteps > MAX_HISTORY) {
    throw new LemmaError('ERR_RANGE', `a residual history of S·maxSteps = ${S}·${maxSteps} values exceeds ${MAX_HISTORY}: pass history: false`);
  }
  cpuOnly(o.device, 'options.device', 'looped.iterate has no CUDA kernel in this version');
  return {
    net, activation, x0, S, maxSteps, tol, noise, seed, earlyExit, history,
    signal: checkSignal(o.signal, 'options.signal'),
    onProgress: checkCallback(o.onProgress, 'options.onProgress'),
  };
}

/**
 * Steps per native call: about 2·10⁸ flops (10–100 ms), so abort and progress act promptly while
 * the per-call costs (transposing the tiles in and out, the O(S) scan here) stay small.
 */
function chunkSteps(S: number, d: number, maxSteps: number): number {
  return Math.max(1, Math.min(maxSteps, Math.floor(2e8 / Math.max(1, S * (2 * d * d + 20 * d)))));
}

/** The custom-activation path: looped_iterate_ref's loop in TypeScript, one chunk of steps. */
function iterateJs(p: Plan, fn: CustomActivation['fn'], x: FloatArray, steps: Int32Array, stab: Int32Array,
  last: Float64Array, residuals: Float64Array | null, tEnd: number): void {
  const { W, b, d } = p.net;
  const y = new Float64Array(d);
  const seedLo = p.seed % 2 ** 32, seedHi = Math.floor(p.seed / 2 ** 32);
  for (let s = 0; s < p.S; ++s) {
    const o = s * d;
    while (steps[s] < tEnd && !(p.earlyExit && stab[s] >= 0)) {
      const t = steps[s] + 1;
      let r = 0;
      let block: Uint32Array | undefined;
      for (let j = 0; j < d; ++j) {
        let z = b[j];
        for (let k = 0; k < d; ++k) z += W[j * d + k] * x[o + k];
        let v = fn(z);
        if (p.noise > 0) {
          if ((j & 1) === 0) block = philox4x32([j >>> 1, t, s % 2 ** 32, Math.floor(s / 2 ** 32)], seedLo, seedHi);
          const u = (j & 1) ? u01(block![2], block![3]) : u01(block![0], block![1]);
          v += p.noise * (2 * u - 1);
        }
        y[j] = v;
        const e = Math.abs(v - x[o + j]);
        r = e > r || Number.isNaN(e) ? e : r;
      }
      for (let j = 0; j < d; ++j) x[o + j] = y[j];
      steps[s] = t;
      last[s] = r;
      if (residuals) residuals[s * p.maxSteps + t - 1] = r;
      if (r <= p.tol && stab[s] < 0) stab[s] = t;
    }
  }
}

function activeCount(p: Plan, steps: Int32Array, stab: Int32Array, tEnd: number): number {
  let n = 0;
  for (let s = 0; s < p.S; ++s) if (steps[s] < tEnd && !(p.earlyExit && stab[s] >= 0)) ++n;
  return n;
}

/**
 * Iterates S starts of the looped network x_t = g(W x_{t−1} + b) (+ h_t, |h_t| ≤ δ) at once.
 * @param options.W [d, d]; options.b [d]; options.x0 [S, d] (one dtype); see {@link IterateOptions}.
 * @returns final states, step counts, stabilisation steps, residuals (see {@link IterateResult}).
 * @throws TypeError / RangeError for bad options and non-finite weights or starts; LemmaError
 *   ERR_SHAPE, ERR_DTYPE, ERR_RANGE (an oversized history), ERR_CUDA_UNAVAILABLE; AbortError on abort.
 * @example
 * const { W, b, activation } = lemma.looped.preset('poly3', { d: 10 });
 * const x0 = lemma.tensor(Float64Array.from({ length: 4 * 10 }, () => Math.random() * 2 - 1), [4, 10]);
 * const r = await lemma.looped.iterate({ W, b, activation, x0, maxSteps: 200 });
 * r.stabilisedAt; // the step at which each start stopped moving (−1: never)
 */
export async function iterate<A extends FloatArray>(options: IterateOptions<A>): Promise<IterateResult<A>> {
  const site = new Error();
  const p = plan(options);
  const { S, maxSteps } = p;
  const { d } = p.net;
  const x = p.x0.data.slice() as A;
  const steps = new Int32Array(S), stab = new Int32Array(S).fill(-1);
  const last = new Float64Array(S).fill(Infinity);
  const residuals = p.history ? new Float64Array(S * maxSteps).fill(NaN) : null;
  const chunk = chunkSteps(S, d, maxSteps);
  const custom = typeof p.activation === 'string' ? undefined : p.activation.fn;
  const nativeParams: NativeLoopedParams = {
    S, d, activation: custom ? 0 : ACTIVATIONS.indexOf(p.activation as (typeof ACTIVATIONS)[number]),
    maxSteps, tEnd: 0, tol: p.tol, noise: p.noise,
    seedLo: p.seed % 2 ** 32, seedHi: Math.floor(p.seed / 2 ** 32), earlyExit: p.earlyExit,
  };
  for (let tEnd = Math.min(chunk, maxSteps); ; tEnd = Math.min(tEnd + chunk, maxSteps)) {
    if (p.signal?.aborted) throw new AbortError('looped.iterate was aborted', { cause: p.signal.reason });
    if (custom) {
      iterateJs(p, custom, x, steps, stab, last, residuals, tEnd);
      await new Promise((r) => setImmediate(r));
    } else {
      try {
        // The signal also reaches into the chunk: the thread pool stops at its next task.
        await runLong('looped.iterate', { signal: p.signal, onProgress: undefined },
          () => native.loopedIterate(p.net.W, p.net.b, x, steps, stab, last, residuals ?? new Float64Array(0), { ...nativeParams, tEnd }));
      } catch (e) {
        throw fromNative(e, site);
      }
    }
    const active = activeCount(p, steps, stab, maxSteps);
    p.onProgress?.({ done: tEnd, total: maxSteps, active });
    if (tEnd >= maxSteps || active === 0) break;
  }
  const converged = new Uint8Array(S);
  for (let s = 0; s < S; ++s) converged[s] = last[s] <= p.tol ? 1 : 0;
  return {
    x: { data: x, shape: [S, d] }, steps, converged, stabilisedAt: stab, residual: last, residuals,
    maxSteps, tol: p.tol, noise: p.noise, seed: p.seed, activation: activationLabel(p.activation), device: 'cpu',
  };
}

/** The distribution of stabilisation steps (what early exit saves). */
export interface Stabilisation {
  starts: number;
  /** Starts that stabilised within maxSteps, and their fraction. */
  stabilised: number;
  fraction: number;
  /** Over the stabilised starts (NaN when none): */
  min: number;
  mean: number;
  median: number;
  p90: number;
  p99: number;
  max: number;
  /** Mean steps run with early exit over maxSteps (a start that never stabilises counts maxSteps). */
  stepsFraction: number;
  /** counts[t − 1] = starts that stabilised at step t (length maxSteps). */
  histogram: Int32Array;
}

/**
 * Summarises when the starts of an {@link iterate} result stabilised.
 * @param result the value `iterate` resolved with.
 * @throws TypeError when `result` is not an iterate result.
 * @example
 * const s = lemma.looped.stabilisation(await lemma.looped.iterate({ ... }));
 * s.median; s.p99; s.stepsFraction; // 0.04: early exit ran 4 % of the maxSteps layers on average
 */
export function stabilisation(result: Pick<IterateResult, 'stabilisedAt' | 'maxSteps'>): Stabilisation {
  if (typeof result !== 'object' || result === null || !(result.stabilisedAt instanceof Int32Array) || !Number.isInteger(result.maxSteps)) {
    throw new TypeError('Expected an iterate result { stabilisedAt: Int32Array, maxSteps } for result');
  }
  const { stabilisedAt, maxSteps } = result;
  const hit = Array.from(stabilisedAt).filter((t) => t >= 1).sort((a, b) => a - b);
  const histogram = new Int32Array(maxSteps);
  let total = 0;
  for (const t of stabilisedAt) total += t >= 1 ? t : maxSteps;
  for (const t of hit) if (t <= maxSteps) histogram[t - 1]++;
  const q = (f: number): number => (hit.length ? hit[Math.min(hit.length - 1, Math.floor(f * hit.length))] : NaN);
  const starts = stabilisedAt.length;
  return {
    starts,
    stabilised: hit.length,
    fraction: starts ? hit.length / starts : NaN,
    min: hit.length ? hit[0] : NaN,
    mean: hit.length ? hit.reduce((a, b) => a + b, 0) / hit.length : NaN,
    median: q(0.5),
    p90: q(0.9),
    p99: q(0.99),
    max: hit.length ? hit[hit.length - 1] : NaN,
    stepsFraction: starts ? total / (starts * maxSteps) : NaN,
    histogram,
  };
}
