/**
 * The benchmark of lemma.dp (private L1 KDE) behind `lemma bench dp` and bench/node/dp.bench.ts,
 * one JSON line per configuration:
 *   dp-sampler   exact discrete Laplace draws/s in TypeScript (OS CSPRNG and the seeded test
 *                stream), with textbook float Laplace (Math.random, unsafe) timed in the same run
 *                as a yardstick
 *   dp-build     wall time and peak RSS of l1Kde / baselineL1Kde (in a child process,
 *                dp-build-child, so the peak RSS is the build's), and the exact native build alone
 *   dp-query     queries/s at q = 10⁵ on that tree: CPU (threads), the single-thread oracle, the
 *                baseline, and CUDA when a GPU is usable
 *   dp-error-big RMSE at the big configuration (ε = 1) on 100 queries against brute force
 *   dp-error     RMSE against brute force vs ε for the tree ('midpoint' and 'paper' variants) and
 *                the baseline (both band modes, α ∈ {0.03, 0.1, 0.5}), on uniform and clustered
 *                data, with the closed forms
 * Sizes (the big configuration; the error sweep): default n = 50,000, d = 16, L = 14, q = 20,000;
 * n = 2,048, L = 10, 2 builds, ε ∈ {0.5, 1, 2, 4}, α = 0.5. quick (the script's): n = 10⁵, L = 17,
 * q = 10⁵; n = 4,096, L = 12, 3 builds, ε ∈ {0.25 … 8}. full: n = 10⁶, L = 20; n = 16,384,
 * L = 14, 5 builds, every α.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { native } from '../binding.js';
import { capabilities, cudaAvailable, setNumThreads } from '../device.js';
import * as dp from '../dp/index.js';
import { DiscreteLaplaceSampler, scaleFromNumber } from '../dp/discrete-laplace.js';
import { RandomSource } from '../dp/random.js';
import { buildExact } from '../dp/tree.js';
import type { TreeShape } from '../dp/tree.js';
import { BenchRun, benchSize, timeIt, timeItAsync } from './results.js';
import type { BenchRecord, FamilyBenchOptions } from './results.js';

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

/** n points of d coordinates uniform in [0, 1) (xorshift, seeded). */
export function dpUniform(n: number, d: number, seed: number): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n * d }, () => r());
}

/** Three tight clusters per coordinate (a hard case for band representatives). */
function clustered(n: number, d: number, seed: number): Float64Array {
  const r = rng(seed);
  const centres = [0.12, 0.47, 0.91];
  return Float64Array.from({ length: n * d }, () => centres[Math.floor(r() * 3)] + (r() - 0.5) * 0.01);
}

/** One row of the error-vs-ε table. */
export interface DpErrorRow {
  data: string;
  structure: string;
  epsilon: number;
  rmse: number;
  relRmse: number;
  /** RMSE of the noise-free structure (exact tree, same query): the approximation error alone. */
  noiseFreeRmse: number;
  noiseStd: number;
  nodeReads: number;
}

/** The sizes of a run (the bench/node script writes them in its table and chart). */
export function dpSizes(opts: FamilyBenchOptions) {
  const size = benchSize(opts);
  const pick = <T>(tiny: T, def: T, quick: T, full: T): T => ({ tiny, default: def, quick, full })[size];
  return {
    big: pick({ n: 2000, d: 8, levels: 8 }, { n: 50_000, d: 16, levels: 14 }, { n: 100_000, d: 16, levels: 17 }, { n: 1_000_000, d: 16, levels: 20 }),
    q: pick(1000, 20_000, 100_000, 100_000),
    samplerDraws: pick(20_000, 200_000, 1_000_000, 4_000_000),
    queryMinMs: pick(20, 300, 500, 500),
    errorN: pick(512, 2048, 4096, 16384),
    errorD: 4,
    errorLevels: pick(6, 10, 12, 14),
    builds: pick(1, 2, 3, 5),
    queries: pick(50, 200, 200, 200),
    epsilons: pick([1], [0.5, 1, 2, 4], [0.25, 0.5, 1, 2, 4, 8], [0.25, 0.5, 1, 2, 4, 8]),
    alphas: pick([0.5], [0.5], [0.5], [0.03, 0.1, 0.5]),
  };
}

/** Runs one build in a child process (same Node, same loader flags) and returns its JSON line. */
function childBuild(kind: 'tree' | 'baseline', big: { n: number; d: number; levels: number }, threads: number): Record<string, number> {
  const child = path.join(__dirname, `dp-build-child${path.extname(__filename)}`);
  const r = spawnSync(process.execPath, [...process.execArgv, child, kind, String(big.n), String(big.d), String(big.levels)],
    { encoding: 'utf8', maxBuffer: 1 << 24, env: { ...process.env, LEMMA_NUM_THREADS: String(threads) } });
  if (r.status !== 0) throw new Error(`child build failed: ${r.stderr || r.error?.message || `exit ${r.status}`}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>;
}

export async function runDpBench(opts: FamilyBenchOptions = {}): Promise<BenchRecord[]> {
  const z = dpSizes(opts);
  const BIG = z.big;
  if (opts.threads !== undefined) setNumThreads(opts.threads);
  const caps = capabilities();
  const signal = opts.signal;
  const samplerCases = [['scale 1', 1], ['count scale at d = 16, L = 20, ε = 1', 640], ['sum scale at d = 16, L = 20, ε = 1', 640 * (2 ** 20 - 1)], ['rounded-up scale 10/3', 10 / 3]] as const;
  const errorConfigs = 4 + 2 * (z.alphas.length + 1);
  const run = new BenchRun(opts, samplerCases.length + 1 + 2 + 1 + 2 + 2 * errorConfigs, 'lemma bench dp');

  // --- sampler
  const count = z.samplerDraws;
  const naive = new Float64Array(count);
  for (const [label, lambda] of samplerCases) {
    run.step(`sampler ${label}`);
    const scale = scaleFromNumber(lambda);
    for (const source of ['os', 'insecure-deterministic'] as const) {
      const s = new DiscreteLaplaceSampler(scale, source === 'os' ? new RandomSource() : new RandomSource(new Uint8Array([1])));
      const out = new Float64Array(count);
      s.fill(out, 0, Math.min(10000, count));
      const t0 = performance.now();
      s.fill(out);
      const sec = (performance.now() - t0) / 1000;
      const naiveMs = timeIt(() => {
        for (let i = 0; i < count; i++) {
          const u = Math.random() - 0.5;
          naive[i] = -lambda * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
        }
      }, 200);
      run.emit({ bench: 'dp-sampler', scale: label, t: scale.t, s: scale.s, source, draws: count, samplesPerSec: count / sec, unsafeFloatLaplacePerSec: count / (naiveMs / 1000), target: 1e6 });
    }
  }
  // The public entry point (validation + OS stream), as a user calls it.
  {
    run.step('sampler lemma.dp.discreteLaplace');
    const t0 = performance.now();
    dp.discreteLaplace(640, count);
    run.emit({ bench: 'dp-sampler', scale: 'lemma.dp.discreteLaplace(640, count)', source: 'os', draws: count, samplesPerSec: count / ((performance.now() - t0) / 1000), target: 1e6 });
  }

  // --- build (child processes: peak RSS is the build's own)
  for (const kind of ['tree', 'baseline'] as const) {
    run.step(`build ${kind}`);
    const res = childBuild(kind, BIG, caps.threads);
    run.emit({ bench: 'dp-build', structure: kind, n: BIG.n, d: BIG.d, levels: BIG.levels, threads: caps.threads, ...res, noiseDrawsPerSec: res.noiseDraws / ((res.buildMs - res.exactNativeMs) / 1000) });
  }

  // --- queries on the big configuration
  run.step('query tree');
  const X = dpUniform(BIG.n, BIG.d, 1);
  const o = { epsilon: 1, range: 1, levels: BIG.levels } as const;
  const kde = await dp.l1Kde({ data: X, shape: [BIG.n, BIG.d] }, { ...o, signal });
  try {
    const q = z.q;
    const Y = { data: dpUniform(q, BIG.d, 2), shape: [q, BIG.d] };
    const cpuMs = await timeItAsync(() => kde.query(Y, { device: 'cpu', signal }), z.queryMinMs);
    run.emit({ bench: 'dp-query', structure: 'tree', device: 'cpu', threads: caps.threads, n: BIG.n, d: BIG.d, levels: BIG.levels, q, ms: cpuMs, queriesPerSec: q / (cpuMs / 1000), nodeReadsPerQuery: kde.nodeReads(Array.from(Y.data.subarray(0, BIG.d))) });
    {
      const shape: TreeShape = { d: BIG.d, levels: BIG.levels, gridBits: 20, lo: new Float64Array(BIG.d), hi: new Float64Array(BIG.d).fill(1) };
      const ex = await buildExact(X, BIG.n, shape);
      const out = new Float64Array(q);
      const refMs = timeIt(() => native.dpL1QuerySync(ex.cnt, ex.sum, Y.data, out, { ...shape, ref: true }), Math.min(300, z.queryMinMs));
      run.emit({ bench: 'dp-query', structure: 'tree (single-thread oracle, interval tests)', device: 'cpu', threads: 1, n: BIG.n, d: BIG.d, levels: BIG.levels, q, ms: refMs, queriesPerSec: q / (refMs / 1000), cpuSpeedupOverOracle: refMs / cpuMs });
    }
    run.step('query cuda');
    if (cudaAvailable()) {
      await kde.query(Y, { device: 'cuda' });
      const gpuMs = await timeItAsync(() => kde.query(Y, { device: 'cuda', signal }), z.queryMinMs);
      run.emit({ bench: 'dp-query', structure: 'tree', device: 'cuda', gpu: caps.cuda.devices[0]?.name, n: BIG.n, d: BIG.d, levels: BIG.levels, q, ms: gpuMs, queriesPerSec: q / (gpuMs / 1000), note: 'includes the upload of the tree (2·d·2^(L+1) fp64) and Y', cpuMsSameRun: cpuMs });
    } else {
      run.emit({ bench: 'dp-query', structure: 'tree', device: 'cuda', skipped: `no usable GPU: ${caps.cuda.compiled ? caps.cuda.reason : 'built without CUDA'}` });
    }
    for (const bandCounts of ['independent', 'prefix'] as const) {
      run.step(`query baseline (${bandCounts})`);
      const b = await dp.baselineL1Kde({ data: X, shape: [BIG.n, BIG.d] }, { ...o, bandCounts, signal });
      try {
        const ms = await timeItAsync(() => b.query(Y, { signal }), z.queryMinMs);
        run.emit({ bench: 'dp-query', structure: `baseline (${bandCounts})`, device: 'cpu', threads: caps.threads, n: BIG.n, d: BIG.d, levels: BIG.levels, q, ms, queriesPerSec: q / (ms / 1000), treeSpeedup: ms / cpuMs, nodeReadsPerQuery: b.nodeReads(Array.from(Y.data.subarray(0, BIG.d))) });
        // Error at the big configuration, ε = 1, on 100 queries against brute force.
        const Yq = { data: dpUniform(100, BIG.d, 3), shape: [100, BIG.d] };
        const truth = new Float64Array(100);
        await native.dpL1BruteForce(X, Yq.data, truth, { n: BIG.n, d: BIG.d, levels: BIG.levels, gridBits: 20, lo: new Float64Array(BIG.d), hi: new Float64Array(BIG.d).fill(1) });
        const rm = async (k: dp.PrivateL1Kde | dp.BaselineL1Kde) => {
          const est = (await k.query(Yq)).estimates;
          let s = 0, m = 0;
          est.forEach((e, i) => { s += (e - truth[i]) ** 2; m += truth[i]; });
          return { rmse: Math.sqrt(s / 100), relRmse: Math.sqrt(s / 100) / (m / 100) };
        };
        if (bandCounts === 'independent') {
          run.emit({ bench: 'dp-error-big', structure: 'tree (midpoint, fit)', n: BIG.n, d: BIG.d, levels: BIG.levels, epsilon: 1, ...(await rm(kde)), errorStdAtFirstQuery: kde.errorStd(Array.from(Yq.data.subarray(0, BIG.d))) });
          const paper = await dp.l1Kde({ data: X, shape: [BIG.n, BIG.d] }, { ...o, variant: 'paper', consistency: false, signal });
          try {
            run.emit({ bench: 'dp-error-big', structure: 'tree (paper, raw)', n: BIG.n, d: BIG.d, levels: BIG.levels, epsilon: 1, ...(await rm(paper)), errorStdAtFirstQuery: paper.errorStd(Array.from(Yq.data.subarray(0, BIG.d))) });
          } finally {
            paper.dispose();
          }
        }
        run.emit({ bench: 'dp-error-big', structure: `baseline (${bandCounts}, α = 0.5, fit)`, n: BIG.n, d: BIG.d, levels: BIG.levels, epsilon: 1, ...(await rm(b)), errorStdAtFirstQuery: b.errorStd(Array.from(Yq.data.subarray(0, BIG.d))) });
      } finally {
        b.dispose();
      }
    }
  } finally {
    kde.dispose();
  }

  // --- error vs ε (uniform and clustered data)
  const En = z.errorN, Ed = z.errorD, EL = z.errorLevels, builds = z.builds, nq = z.queries;
  for (const [dataName, Xe] of [['uniform', dpUniform(En, Ed, 4)], ['clustered', clustered(En, Ed, 5)]] as const) {
    const Yq = dpUniform(nq, Ed, 6);
    const truth = new Float64Array(nq);
    const shape = { n: En, d: Ed, levels: EL, gridBits: 20, lo: new Float64Array(Ed), hi: new Float64Array(Ed).fill(1) };
    await native.dpL1BruteForce(Xe, Yq, truth, shape);
    const meanTruth = truth.reduce((a, b) => a + b, 0) / nq;
    const exactTree = await buildExact(Xe, En, shape);
    // 'fit' = with consistency (the default), 'raw' = without; 'tree (paper, raw)' is the earlier construction as it was.
    const configs: Array<{ structure: string; variant?: 'midpoint' | 'paper'; alpha?: number; bandCounts?: 'independent' | 'prefix'; consistency: boolean }> = [
      { structure: 'tree (midpoint, fit)', variant: 'midpoint', consistency: true }, { structure: 'tree (midpoint, raw)', variant: 'midpoint', consistency: false },
      { structure: 'tree (paper, fit)', variant: 'paper', consistency: true }, { structure: 'tree (paper, raw)', variant: 'paper', consistency: false },
    ];
    for (const bandCounts of ['independent', 'prefix'] as const) {
      for (const alpha of z.alphas) configs.push({ structure: `baseline (${bandCounts}, α = ${alpha}, fit)`, alpha, bandCounts, consistency: true });
      configs.push({ structure: `baseline (${bandCounts}, α = 0.5, raw)`, alpha: 0.5, bandCounts, consistency: false });
    }
    for (const c of configs) {
      run.step(`error ${dataName} ${c.structure}`);
      const { structure } = c;
      const free = new Float64Array(nq);
      if (c.variant) native.dpL1QuerySync(exactTree.cnt, exactTree.sum, Yq, free, shape);
      else native.dpL1BaselineQuerySync(exactTree.cnt, Yq, free, { ...shape, alpha: c.alpha, prefixBands: c.bandCounts === 'prefix' });
      const noiseFreeRmse = Math.sqrt(free.reduce((a, f, i) => a + (f - truth[i]) ** 2, 0) / nq);
      for (const epsilon of z.epsilons) {
        let se = 0, sd2 = 0, reads = 0;
        for (let b = 0; b < builds; b++) {
          run.check();
          const eo = { epsilon, range: 1, levels: EL };
          const k = c.variant ? await dp.l1Kde({ data: Xe, shape: [En, Ed] }, { ...eo, variant: c.variant, consistency: c.consistency })
            : await dp.baselineL1Kde({ data: Xe, shape: [En, Ed] }, { ...eo, alpha: c.alpha, bandCounts: c.bandCounts, consistency: c.consistency });
          try {
            const est = (await k.query({ data: Yq, shape: [nq, Ed] })).estimates;
            est.forEach((e, i) => { se += (e - truth[i]) ** 2; });
            if (b === 0) {
              for (let i = 0; i < nq; i++) {
                const y = Array.from(Yq.subarray(i * Ed, (i + 1) * Ed));
                sd2 += k.errorStd(y) ** 2;
                reads += k.nodeReads(y);
              }
            }
          } finally {
            k.dispose();
          }
        }
        const rmse = Math.sqrt(se / (builds * nq));
        const row: DpErrorRow = { data: dataName, structure, epsilon, rmse, relRmse: rmse / meanTruth, noiseFreeRmse, noiseStd: Math.sqrt(sd2 / nq), nodeReads: reads / nq };
        run.emit({ bench: 'dp-error', n: En, d: Ed, levels: EL, builds, queries: nq, ...row });
      }
    }
  }
  return run.finish();
}
