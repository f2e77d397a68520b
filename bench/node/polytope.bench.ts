/**
 * The Dikin-walk benchmark: chain-steps/s and min-ESS/s on the cube [−1, 1]^d (M = 2d), the
 * simplex {x ≥ 0, Σx ≤ 1} (M = d + 1) and a random polytope with 4d constraints (2d box rows
 * |xᵢ| ≤ 10 plus 2d Gaussian rows N(0, I/d), bᵢ = 1 + |N(0,1)|), d ∈ {10, 50, 100, 200}, dense A,
 * 1 and 2 threads (one chain per thread), one JSON line per configuration.
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
 * Baselines measured in the same run: our scalar fp64 oracle (options.reference) on the same
 * walk, and the fast kernels at every SIMD level the CPU has.
 *
 * Each configuration: a short warm-up, then the median of 3 timed runs of ~`seconds` each
 * (the build machine is shared; medians of the same run are what to compare).
 *   node --import tsx bench/node/polytope.bench.ts [--quick] [--seconds S] [--gpu]
 * --gpu: CUDA with C ∈ {1, 16, 256, 1024, 4096, 16384} chains (skipped with the reason when no
 * GPU is usable). Writes bench/results/polytope-cpu-<cpu>.jsonl (and polytope-gpu-<gpu>.jsonl).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as lemma from '../../lib/index.js';

type BodyKind = 'cube' | 'simplex' | 'random';

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return (s + 0.5) / 4294967296; };
}

function makeBody(kind: BodyKind, d: number): lemma.polytope.ConvexBody {
  const A: number[][] = [], b: number[] = [];
  if (kind === 'cube') {
    for (let j = 0; j < d; j++) {
      const r = new Array(d).fill(0); r[j] = 1; A.push(r); b.push(1);
      const s = new Array(d).fill(0); s[j] = -1; A.push(s); b.push(1);
    }
  } else if (kind === 'simplex') {
    for (let j = 0; j < d; j++) { const r = new Array(d).fill(0); r[j] = -1; A.push(r); b.push(0); }
    A.push(new Array(d).fill(1)); b.push(1);
  } else {
    const u = rng(7);
    const g = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
    for (let j = 0; j < d; j++) {
      const r = new Array(d).fill(0); r[j] = 1; A.push(r); b.push(10);
      const s = new Array(d).fill(0); s[j] = -1; A.push(s); b.push(10);
    }
    for (let k = 0; k < 2 * d; k++) { A.push(Array.from({ length: d }, () => g() / Math.sqrt(d))); b.push(1 + Math.abs(g())); }
  }
  return lemma.polytope.halfspaces(A, b);
}

interface Record {
  suite: 'cpu' | 'gpu'; body: BodyKind; d: number; M: number; threads: number; chains: number; kernel: string;
  stepsPerSecond: number; perChainStepsPerSecond: number; minEssPerSecond: number; acceptance: number;
  stepsPerChain: number; seconds: number; runs: number[];
}

async function measure(body: lemma.polytope.ConvexBody, kind: BodyKind, d: number, opts: {
  chains: number; threads: number; seconds: number; reference?: boolean; device?: 'cpu' | 'cuda'; reps: number;
}): Promise<Record> {
  const walk = { alpha: 0.25 / d, lazy: false, burnIn: 0, seed: 1, reference: opts.reference ?? false, device: opts.device ?? 'cpu' } as const;
  // Warm-up and calibration: how many steps fill `seconds`.
  let steps = 8;
  let rate = 0;
  for (;;) {
    const r = await lemma.sample.dikin(body, lemma.sample.uniform(), { ...walk, chains: opts.chains, steps });
    rate = r.stepsPerSecond / opts.chains;
    if (steps / rate > 0.2 || steps >= 1 << 22) break;
    steps *= 4;
  }
  const runs: number[] = [];
  let best: lemma.sample.DikinResult | null = null;
  const n = Math.max(8, Math.round(rate * opts.seconds));
  for (let k = 0; k < opts.reps; k++) {
    const r = await lemma.sample.dikin(body, lemma.sample.uniform(), { ...walk, chains: opts.chains, steps: n, seed: 1 + k });
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

async function main() {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const si = args.indexOf('--seconds');
  const seconds = si >= 0 ? Number(args[si + 1]) : quick ? 0.4 : 1;
  const dims = quick ? [10, 100] : [10, 50, 100, 200];
  const reps = quick ? 1 : 3;
  const caps = lemma.capabilities();
  const cpu = os.cpus()[0]?.model ?? 'unknown-cpu';
  const machine = { machine: { cpu, cores: os.cpus().length, node: process.version, simd: caps.simd, date: new Date().toISOString(), quick, seconds, reps,
    walk: 'uniform, log barrier, exact Hessian, alpha = 0.25/d (r = 0.5), lazy = false, dense A, one chain per thread',
    reference: 'issue (not re-measured): PolytopeWalk 1300 steps/s cube d=100, 1800 simplex d=100; volesti 345 / 179; one thread' } };
  const lines: string[] = [JSON.stringify(machine)];
  const log = (o: object) => { const l = JSON.stringify(o); console.log(l); lines.push(l); };
  const prevThreads = caps.threads;
  const levels = (['scalar', 'avx2', 'avx512'] as const).filter((l) => ['scalar', 'avx2', 'avx512'].indexOf(l) <= ['scalar', 'avx2', 'avx512'].indexOf(caps.simdSupported));
  if (!args.includes('--gpu')) {
    for (const kind of ['cube', 'simplex', 'random'] as BodyKind[]) {
      for (const d of dims) {
        const body = makeBody(kind, d);
        for (const threads of [1, 2]) {
          lemma.setNumThreads(threads);
          log(await measure(body, kind, d, { chains: threads, threads, seconds, reps }));
        }
        lemma.setNumThreads(1);
        if (d === 100) {
          // Same-run baselines at d = 100, one thread: the scalar oracle and each SIMD level.
          log({ ...(await measure(body, kind, d, { chains: 1, threads: 1, seconds, reps, reference: true })), baseline: 'fp64 oracle (scalar, unblocked)' });
          for (const l of levels) {
            lemma.setSimdLevel(l);
            log({ ...(await measure(body, kind, d, { chains: 1, threads: 1, seconds, reps })), baseline: `simd ${l}` });
          }
          lemma.setSimdLevel(caps.simdSupported);
        }
        body.dispose();
      }
    }
    lemma.setNumThreads(prevThreads);
  } else if (!lemma.cudaAvailable()) {
    const reason = caps.cuda.compiled ? caps.cuda.reason : 'lemma was built without CUDA';
    log({ suite: 'gpu', skipped: true, reason });
  } else {
    for (const kind of ['cube', 'simplex', 'random'] as BodyKind[]) {
      for (const d of dims) {
        const body = makeBody(kind, d);
        for (const chains of [1, 16, 256, 1024, 4096, 16384]) {
          log(await measure(body, kind, d, { chains, threads: 0, seconds, reps: 1, device: 'cuda' }));
        }
        body.dispose();
      }
    }
  }
  const suite = args.includes('--gpu') ? `gpu-${(caps.cuda.devices[0]?.name ?? 'none').replace(/[^A-Za-z0-9]+/g, '-').toLowerCase()}` :
    `cpu-${cpu.replace(/\(R\)|\(TM\)|CPU|Processor/g, '').trim().replace(/[^A-Za-z0-9]+/g, '-').toLowerCase()}`;
  const file = path.join(__dirname, '..', 'results', `polytope-${suite}${quick ? '-quick' : ''}.jsonl`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, lines.join('\n') + '\n');
  console.log(`wrote ${lines.length - 1} lines to ${path.relative(process.cwd(), file)}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
