/**
 * The polytope benchmarks behind `lemma bench dikin` (alias `polytope`), `lemma bench john` and
 * bench/node/polytope.bench.ts.
 *
 * Dikin walk: chain-steps/s and min-ESS/s on the cube [−1, 1]^d (M = 2d), the simplex
 * {x ≥ 0, Σx ≤ 1} (M = d + 1) and a random polytope with 4d constraints (2d box rows |xᵢ| ≤ 10
 * plus 2d Gaussian rows N(0, I/d), bᵢ = 1 + |N(0,1)|), dense A, 1 and 2 threads (one chain per
 * thread), one JSON line per configuration.
 *
 * "Same walk (r = 0.5)": PolytopeWalk's DikinWalk (ethz-randomwalk/polytopewalk,
 * src/dense/BarrierWalk.cpp + DikinWalk.cpp) proposes z = x + √(r²/d)·(Cholesky factor)⁻¹ξ and
 * scores ‖x − z‖² with H/(r²/d), i.e. the metric Φ = (d/r²)·H of the log barrier; with r = 0.5
 * that is our α = r²/d = 0.25/d, uniform target (η term off), exact Hessian, lazy = false,
 * Metropolis filter with the log-det terms. (PolytopeWalk applies L⁻¹ where the density it scores
 * assumes L⁻ᵀ; we run the kernel as intended, proposal covariance α·H⁻¹.) We recompute H only at
 * the proposal (H(x) is a function of x, so it is cached), as any exact-Hessian implementation
 * may; PolytopeWalk recomputes both and runs an extra LU per step.
 * Reference figures (from the issue, measured there, one thread, not re-measured here):
 * PolytopeWalk 1,300 steps/s (cube, d = 100) and 1,800 (simplex, d = 100); volesti 345 and 179.
 * Baselines measured in the same run (at the largest d, one thread): our scalar fp64 oracle
 * (options.reference) on the same walk, and the fast kernels at every SIMD level the CPU has.
 * Each configuration: a short warm-up, then the median of `reps` timed runs of ~`seconds` each.
 * Sizes: default d ∈ {10, 100}, 0.25 s, 1 run; quick (the script's) the same at 0.4 s; full
 * d ∈ {10, 50, 100, 200}, 1 s, median of 3. `gpu`: CUDA with C ∈ {1 … 16384} chains instead.
 *
 * John ellipsoid (lemma.polytope.johnEllipsoid) of {x : ‖Ax‖∞ ≤ 1}, A [M, d] with entries uniform
 * in [−1, 1]: solves/s with exact leverage scores (the default) beside the sketched variant
 * (Gaussian JL, s = 32) on the same A in the same run, ε = 0.1.
 */
import { performance } from 'node:perf_hooks';
import { capabilities, cudaAvailable, setNumThreads, setSimdLevel } from '../device.js';
import * as polytope from '../polytope/index.js';
import * as sample from '../sample/index.js';
import { BenchRun, benchSize } from './results.js';
import type { FamilyBenchOptions } from './results.js';

type BodyKind = 'cube' | 'simplex' | 'random';

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return (s + 0.5) / 4294967296; };
}

function makeBody(kind: BodyKind, d: number): polytope.ConvexBody {
  const A: number[][] = [], b: number[] = [];
  if (kind === 'cube') {
    for (let j = 0; j < d; j++) {
      const r = new Array<number>(d).fill(0); r[j] = 1; A.push(r); b.push(1);
      const s = new Array<number>(d).fill(0); s[j] = -1; A.push(s); b.push(1);
    }
  } else if (kind === 'simplex') {
    for (let j = 0; j < d; j++) { const r = new Array<number>(d).fill(0); r[j] = -1; A.push(r); b.push(0); }
    A.push(new Array<number>(d).fill(1)); b.push(1);
  } else {
    const u = rng(7);
    const g = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
    for (let j = 0; j < d; j++) {
      const r = new Array<number>(d).fill(0); r[j] = 1; A.push(r); b.push(10);
      const s = new Array<number>(d).fill(0); s[j] = -1; A.push(s); b.push(10);
    }
    for (let k = 0; k < 2 * d; k++) { A.push(Array.from({ length: d }, () => g() / Math.sqrt(d))); b.push(1 + Math.abs(g())); }
  }
  return polytope.halfspaces(A, b);
}

export interface DikinBenchRecord {
  suite: 'cpu' | 'gpu'; body: BodyKind; d: number; M: number; threads: number; chains: number; kernel: string;
  stepsPerSecond: number; perChainStepsPerSecond: number; minEssPerSecond: number; acceptance: number;
  stepsPerChain: number; seconds: number; runs: number[];
  baseline?: string;
}

export interface DikinBenchOptions extends FamilyBenchOptions {
  /** Seconds per timed run (default 0.25; 0.4 quick; 1 full). */
  seconds?: number;
  /** CUDA with C ∈ {1, 16, 256, 1024, 4096, 16384} chains (a skipped line without a usable GPU). */
  gpu?: boolean;
}

/** The sizes a run uses (also written on the bench/node script's machine line). */
export function dikinSizes(opts: DikinBenchOptions): { dims: number[]; seconds: number; reps: number; baselineD: number } {
  const size = benchSize(opts);
  const dims = size === 'tiny' ? [8] : size === 'full' ? [10, 50, 100, 200] : [10, 100];
  const seconds = opts.seconds ?? (size === 'tiny' ? 0.02 : size === 'full' ? 1 : size === 'quick' ? 0.4 : 0.25);
  return { dims, seconds, reps: size === 'full' ? 3 : 1, baselineD: size === 'tiny' ? 8 : 100 };
}

async function measure(body: polytope.ConvexBody, kind: BodyKind, d: number, opts: {
  chains: number; threads: number; seconds: number; reference?: boolean; device?: 'cpu' | 'cuda'; reps: number; signal?: AbortSignal;
}): Promise<DikinBenchRecord> {
  const walk = { alpha: 0.25 / d, lazy: false, burnIn: 0, seed: 1, reference: opts.reference ?? false, device: opts.device ?? 'cpu', signal: opts.signal } as const;
  // Warm-up and calibration: how many steps fill `seconds`.
  let steps = 8;
  let rate = 0;
  for (;;) {
    const r = await sample.dikin(body, sample.uniform(), { ...walk, chains: opts.chains, steps });
    rate = r.stepsPerSecond / opts.chains;
    if (steps / rate > Math.min(0.2, opts.seconds / 2) || steps >= 1 << 22) break;
    steps *= 4;
  }
  const runs: number[] = [];
  let best: sample.DikinResult | null = null;
  const n = Math.max(8, Math.round(rate * opts.seconds));
  for (let k = 0; k < opts.reps; k++) {
    const r = await sample.dikin(body, sample.uniform(), { ...walk, chains: opts.chains, steps: n, seed: 1 + k });
    runs.push(r.stepsPerSecond);
    best = r;
  }
  runs.sort((a, b) => a - b);
  const median = runs[Math.floor(runs.length / 2)];
  const r = best!;
  const seconds = (n * opts.chains) / median;
  const minEss = Math.min(...Array.from(r.ess));
  return {
    suite: opts.device === 'cuda' ? 'gpu' : 'cpu', body: kind, d, M: body.constraints, threads: opts.threads, chains: opts.chains,
    kernel: r.kernel, stepsPerSecond: Math.round(median), perChainStepsPerSecond: Math.round(median / opts.chains),
    minEssPerSecond: Number.isFinite(minEss) ? +(minEss / seconds).toFixed(3) : NaN,
    acceptance: +(Array.from(r.acceptance).reduce((a, v) => a + v, 0) / r.acceptance.length).toFixed(3),
    stepsPerChain: n, seconds: +seconds.toFixed(3), runs: runs.map(Math.round),
  };
}

const KINDS: BodyKind[] = ['cube', 'simplex', 'random'];
const SIMD_LEVELS = ['scalar', 'avx2', 'avx512'] as const;

export async function runDikinBench(opts: DikinBenchOptions = {}): Promise<Array<DikinBenchRecord | Record<string, unknown>>> {
  const { dims, seconds, reps, baselineD } = dikinSizes(opts);
  if (opts.threads !== undefined) setNumThreads(opts.threads);
  const caps = capabilities();
  const signal = opts.signal;
  const levels = SIMD_LEVELS.filter((l) => SIMD_LEVELS.indexOf(l) <= SIMD_LEVELS.indexOf(caps.simdSupported));
  const threadCounts = [1, 2];
  if (opts.gpu) {
    const run = new BenchRun<DikinBenchRecord | Record<string, unknown>>(opts, KINDS.length * dims.length, 'lemma bench dikin');
    if (!cudaAvailable()) {
      run.emit({ suite: 'gpu', skipped: true, reason: caps.cuda.compiled ? caps.cuda.reason : 'lemma was built without CUDA' });
      return run.finish();
    }
    for (const kind of KINDS) {
      for (const d of dims) {
        run.step(`gpu ${kind} d${d}`);
        const body = makeBody(kind, d);
        try {
          for (const chains of [1, 16, 256, 1024, 4096, 16384]) {
            run.emit(await measure(body, kind, d, { chains, threads: 0, seconds, reps: 1, device: 'cuda', signal }));
          }
        } finally {
          body.dispose();
        }
      }
    }
    return run.finish();
  }
  const perD = (d: number) => threadCounts.length + (d === baselineD ? 1 + levels.length : 0);
  const run = new BenchRun<DikinBenchRecord | Record<string, unknown>>(opts, KINDS.length * dims.reduce((a, d) => a + perD(d), 0), 'lemma bench dikin');
  try {
    for (const kind of KINDS) {
      for (const d of dims) {
        const body = makeBody(kind, d);
        try {
          for (const threads of threadCounts) {
            run.step(`${kind} d${d} ${threads}t`);
            setNumThreads(threads);
            run.emit(await measure(body, kind, d, { chains: threads, threads, seconds, reps, signal }));
          }
          setNumThreads(1);
          if (d === baselineD) {
            // Same-run baselines, one thread: the scalar oracle and each SIMD level.
            run.step(`${kind} d${d} fp64 oracle`);
            run.emit({ ...(await measure(body, kind, d, { chains: 1, threads: 1, seconds, reps, reference: true, signal })), baseline: 'fp64 oracle (scalar, unblocked)' });
            for (const l of levels) {
              run.step(`${kind} d${d} simd ${l}`);
              setSimdLevel(l);
              try {
                run.emit({ ...(await measure(body, kind, d, { chains: 1, threads: 1, seconds, reps, signal })), baseline: `simd ${l}` });
              } finally {
                setSimdLevel(caps.simdSupported);
              }
            }
          }
        } finally {
          body.dispose();
        }
      }
    }
  } finally {
    setNumThreads(caps.threads);
  }
  return run.finish();
}

export interface JohnBenchRecord {
  bench: 'john';
  M: number; d: number; epsilon: number; threads: number;
  iterations: number; ms: number; solvesPerSec: number; maxTau: number; ok: boolean;
  sketchIterations: number; sketchMs: number; sketchSolvesPerSec: number; sketchMaxTau: number;
  exactOverSketch: number;
}

/** Median ms of fn over `reps` runs (after one warm-up run). */
async function medianMs(fn: () => Promise<unknown>, reps: number): Promise<number> {
  await fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
}

export async function runJohnBench(opts: FamilyBenchOptions = {}): Promise<JohnBenchRecord[]> {
  const size = benchSize(opts);
  if (opts.threads !== undefined) setNumThreads(opts.threads);
  const caps = capabilities();
  const shapes: [number, number][] = size === 'tiny' ? [[64, 8]]
    : size === 'full' ? [[960, 32], [4000, 32], [4000, 64], [16000, 64], [8000, 128], [32000, 128]]
      : [[960, 32], [4000, 64], [4000, 128]];
  const reps = size === 'tiny' ? 1 : size === 'full' ? 5 : 3;
  const epsilon = 0.1;
  const run = new BenchRun<JohnBenchRecord>(opts, shapes.length, 'lemma bench john');
  for (const [M, d] of shapes) {
    run.step(`john M${M} d${d}`);
    const u = rng(M * 31 + d);
    const A = { data: Float64Array.from({ length: M * d }, () => 2 * u() - 1), shape: [M, d] };
    let exact: polytope.JohnResult | undefined, sketch: polytope.JohnResult | undefined;
    const ms = await medianMs(async () => { exact = await polytope.johnEllipsoid(A, { epsilon, signal: opts.signal }); }, reps);
    const sketchMs = await medianMs(async () => { sketch = await polytope.johnEllipsoid(A, { epsilon, leverage: 'sketch', signal: opts.signal }); }, reps);
    run.emit({
      bench: 'john', M, d, epsilon, threads: caps.threads,
      iterations: exact!.iterations, ms: round(ms), solvesPerSec: round(1000 / ms), maxTau: round(exact!.report.maxTau, 4), ok: exact!.report.ok,
      sketchIterations: sketch!.iterations, sketchMs: round(sketchMs), sketchSolvesPerSec: round(1000 / sketchMs),
      sketchMaxTau: round(sketch!.report.maxTau, 4), exactOverSketch: round(sketchMs / ms, 3),
    });
  }
  return run.finish();
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
