/**
 * The quick suite behind `lemma bench` (and `npm start`): one small case per capability on
 * built-in synthetic data, each timed on the CPU (a warm-up, then the median of a few runs) beside
 * a same-run baseline where one exists, on the GPU too when one is usable (the emulated device is
 * labelled and never timed), and FLOP-counted cases as a % of the fp32 FMA peak measured at the
 * start of the same run. Sized to finish in about a minute on a 2-core machine; `tiny` shrinks every
 * case further (for tests).
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { capabilities } from '../device.js';
import type { Capabilities } from '../device.js';
import { native } from '../binding.js';
import type { Tensor } from '../tensor.js';

/** One measured case (a row of the table, a line of results.json). */
export interface QuickResult {
  family: string;
  operation: string;
  size: string;
  device: string;
  /** Median seconds of one run on the CPU. */
  seconds: number;
  reps: number;
  /** Work per second: `unit` says what. */
  throughput: number;
  unit: string;
  /** % of the fp32 FMA peak measured in the same run (FLOP-counted cases only). */
  peakPct: number | null;
  /** Whether the case has a CUDA path (the GPU column says 'n/a' when not). */
  cudaPath: boolean;
  /** The GPU run: its median seconds and the speed-up over the CPU, or why none was timed. */
  gpu: { seconds: number; throughput: number; speedup: number } | { skipped: string };
  /** The same-run baseline: what it is and how many times faster this case is (> 1: faster). */
  baseline: { name: string; seconds: number; throughput: number; ratio: number } | null;
}

/** The machine block: first line of results.json (numbers compare only on the same machine). */
export interface MachineInfo {
  cpu: string;
  cores: number;
  threads: number;
  simd: string;
  cuda: string;
  node: string;
  lemma: string;
  date: string;
  /** fp32 FMA peak of the CPU, GFLOP/s, measured at the start of this run. */
  fmaPeakGflops: number;
  tiny?: boolean;
}

/**
 * Dikin walk samples on a 2-D polytope (the triangle x ≥ 0, y ≥ 0, x + y ≤ 1), drawn in the dikin
 * case of the same run: a thinned scatter and per-coordinate histograms of every kept sample, to
 * set against the exact uniform marginal density 2(1 − t) on [0, 1].
 */
export interface SamplingArtefact {
  polytope: string;
  /** The boundary, closed (first vertex repeated last). */
  vertices: [number, number][];
  chains: number;
  steps: number;
  /** Samples behind the histograms (chains × steps). */
  samples: number;
  /** At most a few hundred, evenly thinned from every chain. */
  points: [number, number][];
  /** Bin edges 0, 1/bins, ..., 1; histograms as densities (integrate to 1). */
  bins: number;
  histX: number[];
  histY: number[];
  /** Exact marginal density of each coordinate: density(t) = 2(1 − t). */
  exact: string;
  acceptance: number;
  ess: number[];
}

/** Keys the sparse index keeps per query (ReLU attention, threshold calibrated to keep ⌈N^0.8⌉). */
export interface SparsityArtefact {
  D: number;
  /** Queries per size in the sweep. */
  M: number;
  /** Per N (a prefix of the case's keys): mean keys scored by the filter and mean / max entries kept (s ≥ b) per query. */
  sweep: { N: number; scored: number; kept: number; maxKept: number; target: number }[];
  /** At the case's N: the fraction of the N keys each of `queries` queries keeps (index.report). */
  perQuery: { N: number; queries: number; fractions: number[] };
}

/** The private KDE's error against ε on the dp case's data (one build per ε). */
export interface DpErrorArtefact {
  n: number;
  d: number;
  levels: number;
  queries: number;
  /** errorStd is the RMS of the closed form over the first stdQueries queries. */
  stdQueries: number;
  /** Mean exact answer Σᵢ‖xᵢ − y‖₁ over the queries (the scale of the errors). */
  meanExact: number;
  points: { epsilon: number; meanAbsError: number; rmsError: number; errorStd: number }[];
}

/** Small data the charts draw, produced by the cases of the same run. */
export interface QuickArtefacts {
  sampling?: SamplingArtefact;
  sparsity?: SparsityArtefact;
  dpError?: DpErrorArtefact;
}

export interface QuickSuiteResult {
  machine: MachineInfo;
  results: QuickResult[];
  seconds: number;
  /** Chart data from the same run (absent in hand-built results). */
  artefacts?: QuickArtefacts;
}

export interface QuickSuiteOptions {
  /** Shrink every case (tests): the numbers mean little, the code paths are the same. */
  tiny?: boolean;
  /** Only these families (default all). */
  families?: readonly string[];
  /** Timed runs per measurement (default 3; 1 when tiny). */
  reps?: number;
  /** Produce the chart data (sampling, sparsity, DP error; about 2–3 s at quick sizes). Default true. */
  artefacts?: boolean;
  /** Aborting stops between runs with an AbortError. */
  signal?: AbortSignal;
  /** Called before each case starts and once at the end (done = total). */
  onProgress?: (p: { done: number; total: number; label: string }) => void;
}

/** What a case hands the runner: the work per run and the functions to time. */
interface Prepared {
  /** Work per run in the case's unit × seconds (FLOPs, samples, queries, ...). */
  work: number;
  cpu: () => Promise<unknown>;
  /** The same work on the GPU (omitted: the case has no CUDA path). */
  gpu?: () => Promise<unknown>;
  baseline?: { name: string; work?: number; run: () => Promise<unknown> };
  /** Chart data, produced once after the timing (not timed). */
  artefacts?: (signal?: AbortSignal) => Promise<QuickArtefacts>;
  dispose?: () => void;
}

interface QuickCase {
  family: string;
  operation: string;
  size: string;
  unit: string;
  /** work is FLOPs: report GFLOP/s and % of the FMA peak. */
  flops?: boolean;
  /** Why this case has no GPU run ('' when it has one). */
  noGpu?: string;
  prepare(): Promise<Prepared>;
}

/** Deterministic values in [-amp/2, amp/2) (xorshift). */
function uniform(n: number, seed: number, amp = 2, Ctor: Float32ArrayConstructor | Float64ArrayConstructor = Float32Array): Float32Array | Float64Array {
  const a = new Ctor(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    a[i] = amp * (s / 4294967296 - 0.5);
  }
  return a;
}

function abortError(): Error {
  const e = new Error('The operation was aborted') as Error & { code: string };
  e.name = 'AbortError';
  e.code = 'ABORT_ERR';
  return e;
}

/** The cases, one per capability (sizes depend on `tiny`). */
function cases(tiny: boolean): QuickCase[] {
  const t = <T>(small: T, normal: T): T => (tiny ? small : normal);
  const list: QuickCase[] = [];

  // Dense attention, forward and backward (flash schedule), against the materialized schedule.
  for (const phase of ['forward', 'backward'] as const) {
    const N = t(128, 1024), H = t(2, 8), D = 64;
    list.push({
      family: 'attention', operation: `dense ${phase}`, size: `B1 H${H} N${N} D${D}`, unit: 'GFLOP/s', flops: true,
      async prepare() {
        const attention = await import('../attention/index.js');
        const shape = [1, H, N, D];
        const mk = (seed: number): Tensor<Float32Array> => ({ data: uniform(H * N * D, seed) as Float32Array, shape });
        const q = mk(1), k = mk(2), v = mk(3), dOut = mk(4);
        const fwdFlops = 4 * H * N * N * D;
        const fwd = await attention.forward(q, k, v, { device: 'cpu' });
        const run = (device: 'cpu' | 'cuda', algorithm?: 'flash' | 'materialized') => phase === 'forward'
          ? () => attention.forward(q, k, v, { device, algorithm })
          : () => attention.backward({ q, k, v, out: fwd.out, lse: fwd.lse, dOut }, { device, algorithm });
        return {
          work: phase === 'forward' ? fwdFlops : 2.5 * fwdFlops,
          cpu: run('cpu', 'flash'),
          gpu: run('cuda'),
          baseline: { name: 'materialized schedule', run: run('cpu', 'materialized') },
        };
      },
    });
  }

  // Sparse attention: a key index over clustered keys, decode-sized query block, against dense attention.
  {
    const N = t(2048, 16384), M = 16, D = 64;
    list.push({
      family: 'sparse', operation: 'KeyIndex.attend (ReLU)', size: `N${N} M${M} D${D}`, unit: 'queries/s',
      async prepare() {
        const attention = await import('../attention/index.js');
        const { keyIndex } = await import('../sparse/index.js');
        const { clusteredKeys, gaussian32 } = await import('./sparse.js');
        const k: Tensor<Float32Array> = { data: clusteredKeys(1, N, D, 11, 32), shape: [1, 1, N, D] };
        const v: Tensor<Float32Array> = { data: gaussian32(N * D, 12), shape: [1, 1, N, D] };
        const q: Tensor<Float32Array> = { data: gaussian32(M * D, 13), shape: [1, 1, M, D] };
        const index = await keyIndex(k, v, { order: 'cluster' });
        const first = await index.attend(q, { activation: 'relu', keep: Math.ceil(N ** 0.8), device: 'cpu' });
        const threshold = Array.from(first.stats.threshold);
        return {
          work: M,
          cpu: () => index.attend(q, { activation: 'relu', threshold, device: 'cpu' }),
          baseline: { name: 'dense attention', run: () => attention.forward(q, k, v, { device: 'cpu' }) },
          artefacts: async (signal) => ({ sparsity: await sparsityArtefact(index, k.data, v.data, N, D, tiny ? 64 : 256, signal) }),
          dispose: () => index.dispose(),
        };
      },
      noGpu: 'index built on the CPU',
    });
  }

  // Polynomial attention forward (degree 2, causal), against exact causal attention.
  {
    const N = t(512, 4096), H = 2, D = 16;
    list.push({
      family: 'poly-attention', operation: 'forward (degree 2, causal)', size: `B1 H${H} N${N} D${D}`, unit: 'tokens/s',
      noGpu: 'no CUDA kernel',
      async prepare() {
        const poly = await import('../poly-attention/index.js');
        const attention = await import('../attention/index.js');
        const shape = [1, H, N, D];
        const mk = (seed: number, amp: number): Tensor<Float32Array> => ({ data: uniform(H * N * D, seed, amp) as Float32Array, shape });
        const q = mk(1, 1), k = mk(2, 1), v = mk(3, 2);
        return {
          work: H * N,
          cpu: () => poly.forward(q, k, v, { degree: 2, causal: true }),
          baseline: { name: 'exact causal attention', run: () => attention.forward(q, k, v, { causal: true, device: 'cpu' }) },
        };
      },
    });
  }

  // Dikin walk on the cube, one chain per thread, against the scalar fp64 oracle.
  {
    const d = t(8, 20), steps = t(100, 4000);
    list.push({
      family: 'dikin', operation: 'Dikin walk (uniform, cube)', size: `d${d} ${steps} steps`, unit: 'steps/s',
      async prepare() {
        const polytope = await import('../polytope/index.js');
        const sample = await import('../sample/index.js');
        const A: number[][] = [], b: number[] = [];
        for (let j = 0; j < d; j++) {
          const r = new Array<number>(d).fill(0); r[j] = 1; A.push(r); b.push(1);
          const s = new Array<number>(d).fill(0); s[j] = -1; A.push(s); b.push(1);
        }
        const body = polytope.halfspaces(A, b);
        const chains = Math.max(1, capabilities().threads);
        const walk = (device: 'cpu' | 'cuda', reference = false) => () =>
          sample.dikin(body, sample.uniform(), { chains, steps, burnIn: 0, alpha: 0.25 / d, lazy: false, seed: 1, device, reference });
        return {
          work: chains * steps,
          cpu: walk('cpu'),
          gpu: walk('cuda'),
          baseline: { name: 'scalar fp64 oracle', run: walk('cpu', true) },
          artefacts: async () => ({ sampling: await samplingArtefact(tiny) }),
          dispose: () => body.dispose(),
        };
      },
    });
  }

  // John ellipsoid of a random polytope (exact leverage scores), against the sketched variant.
  {
    const d = t(8, 32), M = t(64, 960);
    list.push({
      family: 'john', operation: 'John ellipsoid (exact)', size: `M${M} d${d}`, unit: 'solves/s', noGpu: 'no CUDA path',
      async prepare() {
        const polytope = await import('../polytope/index.js');
        const data = uniform(M * d, 5, 2, Float64Array) as Float64Array;
        const A = { data, shape: [M, d] };
        return {
          work: 1,
          cpu: () => polytope.johnEllipsoid(A, { epsilon: 0.1 }),
        };
      },
    });
  }

  // Private L1 KDE (dp): build and query, against the baseline structure.
  {
    const n = t(2000, 50_000), d = 8, levels = t(8, 14), qn = t(500, 20_000);
    list.push({
      family: 'dp', operation: 'private KDE build', size: `n${n} d${d} L${levels}`, unit: 'points/s', noGpu: 'built on the CPU',
      async prepare() {
        const dp = await import('../dp/index.js');
        const X = { data: uniform(n * d, 1, 1, Float64Array).map((x) => x + 0.5) as Float64Array, shape: [n, d] };
        const opts = { epsilon: 1, range: 1, levels };
        return {
          work: n,
          cpu: async () => (await dp.l1Kde(X, opts)).dispose(),
          baseline: { name: 'baseline KDE', run: async () => (await dp.baselineL1Kde(X, opts)).dispose() },
        };
      },
    });
    list.push({
      family: 'dp', operation: 'private KDE query', size: `n${n} d${d} L${levels} q${qn}`, unit: 'queries/s',
      async prepare() {
        const dp = await import('../dp/index.js');
        const X = { data: uniform(n * d, 1, 1, Float64Array).map((x) => x + 0.5) as Float64Array, shape: [n, d] };
        const Y = { data: uniform(qn * d, 2, 1, Float64Array).map((x) => x + 0.5) as Float64Array, shape: [qn, d] };
        const opts = { epsilon: 1, range: 1, levels };
        const kde = await dp.l1Kde(X, opts);
        const base = await dp.baselineL1Kde(X, opts);
        return {
          work: qn,
          cpu: () => kde.query(Y, { device: 'cpu' }),
          gpu: () => kde.query(Y, { device: 'cuda' }),
          baseline: { name: 'baseline KDE', run: () => base.query(Y) },
          artefacts: async (signal) => ({ dpError: await dpErrorArtefact(X, levels, tiny ? 40 : 100, kde, signal) }),
          dispose: () => { kde.dispose(); base.dispose(); },
        };
      },
    });
  }

  // Looped networks: iterate a poly3 network from S starts, against the fp64 oracle (one thread).
  {
    const d = t(16, 64), S = t(16, 256), steps = t(20, 400);
    list.push({
      family: 'looped', operation: 'iterate (poly3)', size: `d${d} S${S} ${steps} steps`, unit: 'GFLOP/s', flops: true, noGpu: 'no CUDA path',
      async prepare() {
        const looped = await import('../looped/index.js');
        const net = looped.preset('poly3', { d, eta: 0.05 });
        const x0 = { data: new Float64Array(S * d).fill(0.5), shape: [S, d] };
        const opts = { W: net.W, b: net.b, x0, activation: 'poly3' as const, maxSteps: steps, earlyExit: false, history: false };
        const W = net.W.data as Float64Array;
        return {
          work: 2 * d * d * S * steps,
          cpu: () => looped.iterate(opts),
          baseline: {
            name: 'fp64 oracle (1 thread)',
            run: async () => native.loopedIterateSync(W, new Float64Array(d), new Float64Array(S * d).fill(0.5), new Int32Array(S), new Int32Array(S).fill(-1),
              new Float64Array(S), new Float64Array(0),
              { S, d, activation: 0, maxSteps: steps, tEnd: steps, tol: 0, noise: 0, seedLo: 0, seedHi: 0, earlyExit: false, ref: true }),
          },
        };
      },
    });
  }

  // SUBLEQ on the looped ReLU MLP, a batch of machines, against the TypeScript interpreter.
  {
    const B = t(4, 64), steps = t(16, 256), P = 128, M = 16;
    list.push({
      family: 'subleq', operation: 'looped MLP run', size: `B${B} M${M} P${P}`, unit: 'program-steps/s', noGpu: 'no CUDA path',
      async prepare() {
        const { subleq } = await import('../looped/index.js');
        let s = 1000;
        const r = (n: number) => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return Math.floor((s / 2 ** 32) * n); };
        // Busy programs (one = -1 in word 0): they never halt, so no early stop flatters the run.
        const src = () => ({ program: Array.from({ length: P }, () => [0, 1 + r(8), r(P)]), memory: [-1, ...Array.from({ length: 8 }, () => r(100))] });
        const list = Array.from({ length: B }, () => subleq.compile(src(), { dataWords: M, programSlots: P, wordBits: 16 }));
        const one = src();
        const interpSteps = B * steps;
        return {
          work: B * steps,
          cpu: () => subleq.run(list, { steps }),
          baseline: { name: 'TypeScript interpreter', work: interpSteps, run: async () => subleq.interpret(one.program, one.memory, interpSteps, { programSlots: P }) },
        };
      },
    });
  }

  // Attention-aware pruning: refit steps through the public API.
  {
    const n = t(32, 128), d = t(16, 32), steps = t(3, 20);
    list.push({
      family: 'prune', operation: 'attention refit', size: `n${n} d${d} ${steps} steps`, unit: 'steps/s', noGpu: 'pure TypeScript',
      async prepare() {
        const prune = await import('../prune/index.js');
        const X = { data: uniform(n * d, 7, 2, Float64Array) as Float64Array, shape: [n, d] };
        const W = { data: (uniform(d * d, 8, 2, Float64Array) as Float64Array).map((x) => x / Math.sqrt(d)), shape: [d, d] };
        const o = { tau: 1 / Math.sqrt(d), sparsity: 0.5 };
        return {
          work: steps,
          cpu: () => prune.attention({ X, W }, { ...o, steps }),
        };
      },
    });
  }

  // Games: the machine-penalty experiment with simulated participants.
  {
    const per = t(8, 96);
    list.push({
      family: 'games', operation: 'machine-penalty simulate', size: `4x${per} participants`, unit: 'participants/s', noGpu: 'pure TypeScript',
      async prepare() {
        const { machinePenalty } = await import('../games/index.js');
        return { work: 4 * per, cpu: () => machinePenalty.simulate({ perCondition: per, seed: 1 }) };
      },
    });
  }
  return list;
}

/** Uniform samples on the triangle x, y ≥ 0, x + y ≤ 1 by the Dikin walk; histograms of each coordinate. */
async function samplingArtefact(tiny: boolean): Promise<SamplingArtefact> {
  const polytope = await import('../polytope/index.js');
  const sample = await import('../sample/index.js');
  const body = polytope.halfspaces([[-1, 0], [0, -1], [1, 1]], [0, 0, 1]);
  const chains = 4, steps = tiny ? 1000 : 30_000, bins = 20, maxPoints = 300;
  try {
    const r = await sample.dikin(body, sample.uniform(), { chains, steps, burnIn: 200, lazy: false, seed: 7, device: 'cpu' });
    const s = r.samples.data;  // [C, steps, 2]
    const histX = new Array<number>(bins).fill(0), histY = new Array<number>(bins).fill(0);
    const total = chains * steps;
    const bin = (t: number) => Math.min(bins - 1, Math.max(0, Math.floor(t * bins)));
    for (let i = 0; i < total; i++) {
      histX[bin(s[2 * i])]++;
      histY[bin(s[2 * i + 1])]++;
    }
    const dens = (h: number[]) => h.map((c) => round((c * bins) / total));
    const per = Math.floor(maxPoints / chains), stride = Math.max(1, Math.floor(steps / per));
    const points: [number, number][] = [];
    for (let c = 0; c < chains; c++) {
      for (let j = 0; j < per && j * stride < steps; j++) {
        const i = c * steps + j * stride;
        points.push([round(s[2 * i]), round(s[2 * i + 1])]);
      }
    }
    return {
      polytope: 'triangle x ≥ 0, y ≥ 0, x + y ≤ 1', vertices: [[0, 0], [1, 0], [0, 1], [0, 0]],
      chains, steps, samples: total, points, bins, histX: dens(histX), histY: dens(histY), exact: '2(1 − t)',
      acceptance: round(r.acceptance.reduce((a, b) => a + b, 0) / chains, 3), ess: Array.from(r.ess, (e) => round(e, 3)),
    };
  } finally {
    body.dispose();
  }
}

/** Keys kept per query against N (prefixes of the case's keys), and per query at the case's N. */
async function sparsityArtefact(index: import('../sparse/index.js').KeyIndex, kAll: Float32Array, vAll: Float32Array, Nmax: number, D: number,
  queries: number, signal?: AbortSignal): Promise<SparsityArtefact> {
  const { keyIndex } = await import('../sparse/index.js');
  const { gaussian32 } = await import('./sparse.js');
  const M = 32;
  const q: Tensor<Float32Array> = { data: gaussian32(M * D, 21), shape: [1, 1, M, D] };
  const sweep: SparsityArtefact['sweep'] = [];
  for (let N = Nmax / 16; N <= Nmax; N *= 2) {
    if (signal?.aborted) throw abortError();
    const idx = N === Nmax ? index
      : await keyIndex({ data: kAll.subarray(0, N * D), shape: [1, 1, N, D] }, { data: vAll.subarray(0, N * D), shape: [1, 1, N, D] }, { order: 'cluster' });
    try {
      const target = Math.ceil(N ** 0.8);
      const { stats } = await idx.attend(q, { activation: 'relu', keep: target, device: 'cpu' });
      sweep.push({ N, scored: round(stats.keysScored / stats.rows), kept: round(stats.meanActive), maxKept: stats.maxActive, target });
    } finally {
      if (idx !== index) idx.dispose();
    }
  }
  const qq: Tensor<Float32Array> = { data: gaussian32(queries * D, 22), shape: [1, 1, queries, D] };
  const { stats } = await index.attend(qq, { activation: 'relu', keep: Math.ceil(Nmax ** 0.8), device: 'cpu' });
  const rep = await index.report(qq, { threshold: Array.from(stats.threshold) });
  const fractions = Array.from({ length: queries }, (_, i) => round((rep.rowPtr[i + 1] - rep.rowPtr[i]) / Nmax, 3));
  return { D, M, sweep, perQuery: { N: Nmax, queries, fractions } };
}

/**
 * Mean |error| and RMS error of the private KDE at several ε against the exact answers (`atOne`:
 * the case's own ε = 1 build, reused), and the RMS of its closed-form errorStd over the first
 * STD_QUERIES queries (errorStd costs ~10 ms a call at quick size).
 */
async function dpErrorArtefact(X: { data: Float64Array; shape: number[] }, levels: number, queries: number,
  atOne: import('../dp/index.js').PrivateL1Kde, signal?: AbortSignal): Promise<DpErrorArtefact> {
  const STD_QUERIES = 10;
  const dp = await import('../dp/index.js');
  const [n, d] = X.shape;
  const Y = uniform(queries * d, 3, 1, Float64Array).map((x) => x + 0.5) as Float64Array;
  const exact = new Float64Array(queries);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < queries; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += Math.abs(X.data[i * d + c] - Y[j * d + c]);
      exact[j] += s;
    }
  }
  const points: DpErrorArtefact['points'] = [];
  for (const epsilon of [0.25, 0.5, 1, 2, 4]) {
    if (signal?.aborted) throw abortError();
    const kde = epsilon === 1 ? atOne : await dp.l1Kde(X, { epsilon, range: 1, levels });
    try {
      const { estimates } = await kde.query({ data: Y, shape: [queries, d] }, { device: 'cpu' });
      let abs = 0, sq = 0, v = 0;
      for (let j = 0; j < queries; j++) {
        const e = estimates[j] - exact[j];
        abs += Math.abs(e); sq += e * e;
      }
      const m = Math.min(STD_QUERIES, queries);
      for (let j = 0; j < m; j++) v += kde.errorStd(Y.subarray(j * d, (j + 1) * d)) ** 2;
      points.push({ epsilon, meanAbsError: round(abs / queries), rmsError: round(Math.sqrt(sq / queries)), errorStd: round(Math.sqrt(v / m)) });
    } finally {
      if (kde !== atOne) kde.dispose();
    }
  }
  return { n, d, levels, queries, stdQueries: Math.min(STD_QUERIES, queries), meanExact: round(exact.reduce((a, b) => a + b, 0) / queries), points };
}

/** Every family the quick suite covers, in table order. */
export function quickFamilies(): string[] {
  return [...new Set(cases(true).map((c) => c.family))];
}

/** Why the GPU is not timed ('' when it is usable and real). */
export function gpuState(caps: Capabilities): string {
  if (!caps.cuda.compiled) return 'built without CUDA';
  if (caps.cuda.emulated) return 'emulated (no timing)';
  if (caps.cuda.deviceCount === 0) return caps.cuda.reason || 'no usable GPU';
  return '';
}

export function machineInfo(caps: Capabilities, fmaPeakGflops: number, tiny: boolean): MachineInfo {
  const gpu = gpuState(caps);
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown-cpu',
    cores: os.cpus().length,
    threads: caps.threads,
    simd: caps.simd,
    cuda: gpu === '' ? `${caps.cuda.devices[0]?.name ?? 'GPU'}` : `none: ${gpu}`,
    node: process.version,
    lemma: caps.version,
    date: new Date().toISOString(),
    fmaPeakGflops: round(fmaPeakGflops, 3),
    ...(tiny ? { tiny: true } : {}),
  };
}

function round(x: number, digits = 4): number {
  if (!Number.isFinite(x) || x === 0) return x;
  return Number(x.toPrecision(digits));
}

/**
 * Times `fns` round-robin (one call of each per round, after one warm-up round) and returns each
 * one's median seconds: a noisy neighbour then hits them alike, so their ratio means something.
 */
async function timeRoundRobin(fns: (() => Promise<unknown>)[], reps: number, signal?: AbortSignal): Promise<number[]> {
  const times = fns.map(() => [] as number[]);
  for (let round = -1; round < reps; round++) {
    for (let i = 0; i < fns.length; i++) {
      if (signal?.aborted) throw abortError();
      const t0 = performance.now();
      await fns[i]();
      if (round >= 0) times[i].push((performance.now() - t0) / 1000);
    }
  }
  return times.map((a) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)]);
}

/** Runs the quick suite; the caller prints or writes the result (see report.ts). */
export async function runQuickSuite(options: QuickSuiteOptions = {}): Promise<QuickSuiteResult> {
  const tiny = options.tiny ?? false;
  const reps = options.reps ?? (tiny ? 1 : 3);
  const t0 = performance.now();
  const caps = capabilities();
  const known = quickFamilies();
  const wanted = options.families ?? known;
  for (const f of wanted) if (!known.includes(f)) throw new RangeError(`unknown benchmark family '${f}' (expected one of ${known.join(', ')})`);
  const list = cases(tiny).filter((c) => wanted.includes(c.family));
  const total = list.length + 1;
  options.onProgress?.({ done: 0, total, label: 'FMA peak' });
  if (options.signal?.aborted) throw abortError();
  const peak = await native.fmaPeak(caps.threads, tiny ? 0.05 : 0.3);
  const gpu = gpuState(caps);
  const results: QuickResult[] = [];
  const artefacts: QuickArtefacts = {};
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    options.onProgress?.({ done: i + 1, total, label: `${c.family}: ${c.operation}` });
    const p = await c.prepare();
    try {
      const fns = [p.cpu, ...(p.baseline ? [p.baseline.run] : [])];
      const [cpuS, baseS] = await timeRoundRobin(fns, reps, options.signal);
      const throughput = p.work / cpuS;
      const r: QuickResult = {
        family: c.family, operation: c.operation, size: c.size, device: `cpu ${caps.threads}t ${caps.simd}`,
        seconds: round(cpuS), reps, cudaPath: !c.noGpu && p.gpu !== undefined,
        throughput: round(c.flops ? throughput / 1e9 : throughput), unit: c.unit,
        peakPct: c.flops ? round((100 * throughput) / 1e9 / peak, 3) : null,
        gpu: { skipped: c.noGpu || (p.gpu ? gpu : 'no CUDA path') },
        baseline: null,
      };
      if (p.baseline && baseS !== undefined) {
        const bThroughput = (p.baseline.work ?? p.work) / baseS;
        r.baseline = {
          name: p.baseline.name, seconds: round(baseS),
          throughput: round(c.flops ? bThroughput / 1e9 : bThroughput), ratio: round(throughput / bThroughput, 3),
        };
      }
      if (p.gpu && !c.noGpu && gpu === '') {
        try {
          const [gpuS] = await timeRoundRobin([p.gpu], reps, options.signal);
          const g = p.work / gpuS;
          r.gpu = { seconds: round(gpuS), throughput: round(c.flops ? g / 1e9 : g), speedup: round(cpuS / gpuS, 3) };
        } catch (e) {
          if ((e as Error).name === 'AbortError') throw e;
          r.gpu = { skipped: `failed: ${(e as { code?: string }).code ?? (e as Error).message}` };
        }
      }
      results.push(r);
      if (p.artefacts && options.artefacts !== false) Object.assign(artefacts, await p.artefacts(options.signal));
    } finally {
      p.dispose?.();
    }
  }
  options.onProgress?.({ done: total, total, label: 'done' });
  return { machine: machineInfo(caps, peak, tiny), results, seconds: round((performance.now() - t0) / 1000, 3), artefacts };
}
