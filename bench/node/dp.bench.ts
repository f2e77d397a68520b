/**
 * Benchmark of lemma.dp (private L1 KDE), one JSON line per configuration:
 *   sampler   exact discrete Laplace draws/s in TypeScript (OS CSPRNG and the seeded test stream),
 *             with textbook float Laplace (Math.random, unsafe) timed in the same run as a yardstick
 *   build     wall time and peak RSS of l1Kde / baselineL1Kde at n = 10⁶, d = 16, L = 20 (in a
 *             child process, so the peak RSS is the build's), and the exact native build alone
 *   query     queries/s at q = 10⁵ on that tree: CPU (threads), the single-thread oracle, the
 *             baseline, and CUDA when a GPU is usable
 *   error     RMSE against brute force vs ε ∈ {0.25 … 8} for the tree (default 'midpoint' and
 *             'paper' variants) and the baseline (both band modes, α ∈ {0.03, 0.1, 0.5}), on
 *             uniform and clustered data, with the closed forms; also at the n = 10⁶, d = 16
 *             configuration (ε = 1)
 * Writes bench/results/dp-<cpu>-<threads>t.jsonl (first line: the machine) and
 * bench/results/dp-error-vs-epsilon.svg + .md (the chart and its table).
 *   node --import tsx bench/node/dp.bench.ts [--quick] [--threads N]
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as lemma from '../../lib/index.js';
import { native } from '../../lib/binding.js';
import { DiscreteLaplaceSampler, scaleFromNumber } from '../../lib/dp/discrete-laplace.js';
import { RandomSource } from '../../lib/dp/random.js';
import { buildExact } from '../../lib/dp/tree.js';
import type { TreeShape } from '../../lib/dp/tree.js';
import { lineChart, timeIt } from './chart.js';
import type { Series } from './chart.js';
import { machineInfo, RESULTS_DIR, writeResults } from './results.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const ti = args.indexOf('--threads');
if (ti >= 0) lemma.setNumThreads(Number(args[ti + 1]));

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

function uniform(n: number, d: number, seed: number): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n * d }, () => r());
}

/** Three tight clusters per coordinate (a hard case for band representatives). */
function clustered(n: number, d: number, seed: number): Float64Array {
  const r = rng(seed);
  const centres = [0.12, 0.47, 0.91];
  return Float64Array.from({ length: n * d }, () => centres[Math.floor(r() * 3)] + (r() - 0.5) * 0.01);
}

const BIG = quick ? { n: 100_000, d: 16, levels: 17 } : { n: 1_000_000, d: 16, levels: 20 };

// ------------------------------------------------------------------------- child: one build
async function childBuild(kind: string): Promise<void> {
  const X = uniform(BIG.n, BIG.d, 1);
  const rss0 = process.resourceUsage().maxRSS * 1024;
  const t0 = performance.now();
  const opts = { epsilon: 1, range: 1, levels: BIG.levels };
  const kde = kind === 'tree' ? await lemma.dp.l1Kde({ data: X, shape: [BIG.n, BIG.d] }, opts) : await lemma.dp.baselineL1Kde({ data: X, shape: [BIG.n, BIG.d] }, opts);
  const buildMs = performance.now() - t0;
  const maxRssBytes = process.resourceUsage().maxRSS * 1024;
  const shape: TreeShape = { d: BIG.d, levels: BIG.levels, gridBits: 20, lo: new Float64Array(BIG.d), hi: new Float64Array(BIG.d).fill(1) };
  const t1 = performance.now();
  await buildExact(X, BIG.n, shape);
  const exactMs = performance.now() - t1;
  const draws = (kind === 'tree' ? 2 : 1) * BIG.d * (2 ** (BIG.levels + 1) - 2);
  console.log(JSON.stringify({ buildMs, exactNativeMs: exactMs, noiseDraws: draws, maxRssBytes, rssBeforeBytes: rss0, inputBytes: X.byteLength, treeBytes: (kind === 'tree' ? 2 : 1) * BIG.d * 2 ** (BIG.levels + 1) * 8, levels: kde.levels }));
}

// ------------------------------------------------------------------------------- main
async function timeAsync(fn: () => Promise<unknown>, minMs = 500): Promise<number> {
  let reps = 0;
  const t0 = performance.now();
  let el = 0;
  do {
    await fn();
    reps++;
    el = performance.now() - t0;
  } while (el < minMs);
  return el / reps;
}

interface ErrorRow {
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

async function main(): Promise<void> {
  const lines: string[] = [];
  const emit = (o: object) => {
    const l = JSON.stringify(o);
    console.log(l);
    lines.push(l);
  };
  const caps = lemma.capabilities();

  // --- sampler
  const count = quick ? 1_000_000 : 4_000_000;
  const naive = new Float64Array(count);
  for (const [label, lambda] of [['scale 1', 1], ['count scale at d = 16, L = 20, ε = 1', 640], ['sum scale at d = 16, L = 20, ε = 1', 640 * (2 ** 20 - 1)], ['rounded-up scale 10/3', 10 / 3]] as const) {
    const scale = scaleFromNumber(lambda);
    for (const source of ['os', 'insecure-deterministic'] as const) {
      const s = new DiscreteLaplaceSampler(scale, source === 'os' ? new RandomSource() : new RandomSource(new Uint8Array([1])));
      const out = new Float64Array(count);
      s.fill(out, 0, 10000);
      const t0 = performance.now();
      s.fill(out);
      const sec = (performance.now() - t0) / 1000;
      const naiveMs = timeIt(() => {
        for (let i = 0; i < count; i++) {
          const u = Math.random() - 0.5;
          naive[i] = -lambda * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
        }
      }, 200);
      emit({ bench: 'dp-sampler', scale: label, t: scale.t, s: scale.s, source, draws: count, samplesPerSec: count / sec, unsafeFloatLaplacePerSec: count / (naiveMs / 1000), target: 1e6 });
    }
  }
  // The public entry point (validation + OS stream), as a user calls it.
  {
    const t0 = performance.now();
    lemma.dp.discreteLaplace(640, count);
    emit({ bench: 'dp-sampler', scale: 'lemma.dp.discreteLaplace(640, count)', source: 'os', draws: count, samplesPerSec: count / ((performance.now() - t0) / 1000), target: 1e6 });
  }

  // --- build (child processes: peak RSS is the build's own)
  for (const kind of ['tree', 'baseline']) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', __filename, '--child', kind, ...(quick ? ['--quick'] : []), ...(ti >= 0 ? ['--threads', args[ti + 1]] : [])], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`child build failed: ${r.stderr}`);
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!);
    emit({ bench: 'dp-build', structure: kind, n: BIG.n, d: BIG.d, levels: BIG.levels, threads: caps.threads, ...res, noiseDrawsPerSec: res.noiseDraws / ((res.buildMs - res.exactNativeMs) / 1000) });
  }

  // --- queries at q = 10⁵ on the big configuration
  const X = uniform(BIG.n, BIG.d, 1);
  const opts = { epsilon: 1, range: 1, levels: BIG.levels } as const;
  const kde = await lemma.dp.l1Kde({ data: X, shape: [BIG.n, BIG.d] }, opts);
  const q = 100_000;
  const Y = { data: uniform(q, BIG.d, 2), shape: [q, BIG.d] };
  const cpuMs = await timeAsync(() => kde.query(Y, { device: 'cpu' }));
  emit({ bench: 'dp-query', structure: 'tree', device: 'cpu', threads: caps.threads, n: BIG.n, d: BIG.d, levels: BIG.levels, q, ms: cpuMs, queriesPerSec: q / (cpuMs / 1000), nodeReadsPerQuery: kde.nodeReads(Array.from(Y.data.subarray(0, BIG.d))) });
  {
    const shape: TreeShape = { d: BIG.d, levels: BIG.levels, gridBits: 20, lo: new Float64Array(BIG.d), hi: new Float64Array(BIG.d).fill(1) };
    const ex = await buildExact(X, BIG.n, shape);
    const out = new Float64Array(q);
    const refMs = timeIt(() => native.dpL1QuerySync(ex.cnt, ex.sum, Y.data, out, { ...shape, ref: true }), 300);
    emit({ bench: 'dp-query', structure: 'tree (single-thread oracle, interval tests)', device: 'cpu', threads: 1, n: BIG.n, d: BIG.d, levels: BIG.levels, q, ms: refMs, queriesPerSec: q / (refMs / 1000), cpuSpeedupOverOracle: refMs / cpuMs });
  }
  if (lemma.cudaAvailable()) {
    await kde.query(Y, { device: 'cuda' });
    const gpuMs = await timeAsync(() => kde.query(Y, { device: 'cuda' }));
    emit({ bench: 'dp-query', structure: 'tree', device: 'cuda', gpu: caps.cuda.devices[0]?.name, n: BIG.n, d: BIG.d, levels: BIG.levels, q, ms: gpuMs, queriesPerSec: q / (gpuMs / 1000), note: 'includes the upload of the tree (2·d·2^(L+1) fp64) and Y', cpuMsSameRun: cpuMs });
  } else {
    emit({ bench: 'dp-query', structure: 'tree', device: 'cuda', skipped: `no usable GPU: ${caps.cuda.compiled ? caps.cuda.reason : 'built without CUDA'}` });
  }
  for (const bandCounts of ['independent', 'prefix'] as const) {
    const b = await lemma.dp.baselineL1Kde({ data: X, shape: [BIG.n, BIG.d] }, { ...opts, bandCounts });
    const ms = await timeAsync(() => b.query(Y));
    emit({ bench: 'dp-query', structure: `baseline (${bandCounts})`, device: 'cpu', threads: caps.threads, n: BIG.n, d: BIG.d, levels: BIG.levels, q, ms, queriesPerSec: q / (ms / 1000), treeSpeedup: ms / cpuMs, nodeReadsPerQuery: b.nodeReads(Array.from(Y.data.subarray(0, BIG.d))) });
    // Error at the big configuration, ε = 1, on 100 queries against brute force.
    const Yq = { data: uniform(100, BIG.d, 3), shape: [100, BIG.d] };
    const truth = new Float64Array(100);
    await native.dpL1BruteForce(X, Yq.data, truth, { n: BIG.n, d: BIG.d, levels: BIG.levels, gridBits: 20, lo: new Float64Array(BIG.d), hi: new Float64Array(BIG.d).fill(1) });
    const rm = async (k: lemma.dp.PrivateL1Kde | lemma.dp.BaselineL1Kde) => {
      const est = (await k.query(Yq)).estimates;
      let s = 0, m = 0;
      est.forEach((e, i) => { s += (e - truth[i]) ** 2; m += truth[i]; });
      return { rmse: Math.sqrt(s / 100), relRmse: Math.sqrt(s / 100) / (m / 100) };
    };
    if (bandCounts === 'independent') {
      emit({ bench: 'dp-error-big', structure: 'tree (midpoint, fit)', n: BIG.n, d: BIG.d, levels: BIG.levels, epsilon: 1, ...(await rm(kde)), errorStdAtFirstQuery: kde.errorStd(Array.from(Yq.data.subarray(0, BIG.d))) });
      const paper = await lemma.dp.l1Kde({ data: X, shape: [BIG.n, BIG.d] }, { ...opts, variant: 'paper', consistency: false });
      emit({ bench: 'dp-error-big', structure: 'tree (paper, raw)', n: BIG.n, d: BIG.d, levels: BIG.levels, epsilon: 1, ...(await rm(paper)), errorStdAtFirstQuery: paper.errorStd(Array.from(Yq.data.subarray(0, BIG.d))) });
      paper.dispose();
    }
    emit({ bench: 'dp-error-big', structure: `baseline (${bandCounts}, α = 0.5, fit)`, n: BIG.n, d: BIG.d, levels: BIG.levels, epsilon: 1, ...(await rm(b)), errorStdAtFirstQuery: b.errorStd(Array.from(Yq.data.subarray(0, BIG.d))) });
    b.dispose();
  }
  kde.dispose();

  // --- error vs ε (uniform and clustered data)
  const rows: ErrorRow[] = [];
  const En = quick ? 4096 : 16384, Ed = 4, EL = quick ? 12 : 14, builds = quick ? 3 : 5, nq = 200;
  const epsilons = [0.25, 0.5, 1, 2, 4, 8];
  for (const [dataName, Xe] of [['uniform', uniform(En, Ed, 4)], ['clustered', clustered(En, Ed, 5)]] as const) {
    const Yq = uniform(nq, Ed, 6);
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
      for (const alpha of quick ? [0.5] : [0.03, 0.1, 0.5]) configs.push({ structure: `baseline (${bandCounts}, α = ${alpha}, fit)`, alpha, bandCounts, consistency: true });
      configs.push({ structure: `baseline (${bandCounts}, α = 0.5, raw)`, alpha: 0.5, bandCounts, consistency: false });
    }
    for (const c of configs) {
      const { structure } = c;
      const free = new Float64Array(nq);
      if (c.variant) native.dpL1QuerySync(exactTree.cnt, exactTree.sum, Yq, free, shape);
      else native.dpL1BaselineQuerySync(exactTree.cnt, Yq, free, { ...shape, alpha: c.alpha, prefixBands: c.bandCounts === 'prefix' });
      const noiseFreeRmse = Math.sqrt(free.reduce((a, f, i) => a + (f - truth[i]) ** 2, 0) / nq);
      for (const epsilon of epsilons) {
        let se = 0, sd2 = 0, reads = 0;
        for (let b = 0; b < builds; b++) {
          const o = { epsilon, range: 1, levels: EL };
          const k = c.variant ? await lemma.dp.l1Kde({ data: Xe, shape: [En, Ed] }, { ...o, variant: c.variant, consistency: c.consistency })
            : await lemma.dp.baselineL1Kde({ data: Xe, shape: [En, Ed] }, { ...o, alpha: c.alpha, bandCounts: c.bandCounts, consistency: c.consistency });
          const est = (await k.query({ data: Yq, shape: [nq, Ed] })).estimates;
          est.forEach((e, i) => { se += (e - truth[i]) ** 2; });
          if (b === 0) {
            for (let i = 0; i < nq; i++) {
              const y = Array.from(Yq.subarray(i * Ed, (i + 1) * Ed));
              sd2 += k.errorStd(y) ** 2;
              reads += k.nodeReads(y);
            }
          }
          k.dispose();
        }
        const rmse = Math.sqrt(se / (builds * nq));
        const row: ErrorRow = { data: dataName, structure, epsilon, rmse, relRmse: rmse / meanTruth, noiseFreeRmse, noiseStd: Math.sqrt(sd2 / nq), nodeReads: reads / nq };
        rows.push(row);
        emit({ bench: 'dp-error', n: En, d: Ed, levels: EL, builds, queries: nq, ...row });
      }
    }
  }

  // --- files
  const machine = { machine: machineInfo({ quick }) };
  const file = writeResults(quick ? 'dp-quick' : 'dp', lines, { quick });
  const dir = RESULTS_DIR;
  const tag = quick ? '-quick' : '';
  fs.writeFileSync(path.join(dir, `dp-error-vs-epsilon${tag}.svg`), chart(rows, `RMSE of Σ‖x−y‖₁ vs ε (n = ${En}, d = ${Ed}, L = ${EL}, R = 1; ${builds} builds × ${nq} queries)`));
  fs.writeFileSync(path.join(dir, `dp-error-vs-epsilon${tag}.md`), table(rows, En, Ed, EL, builds, nq, machine.machine));
  console.log(`wrote ${path.relative(process.cwd(), file)} and dp-error-vs-epsilon${tag}.{svg,md}`);
}

function table(rows: ErrorRow[], n: number, d: number, L: number, builds: number, nq: number, m: object): string {
  const out = [
    `# Error vs ε: private L1 KDE tree (arXiv 2409.01688; 'midpoint' = lemma's default, 'paper' = the earlier reconstruction) vs the Backurs et al. baseline`,
    '',
    `n = ${n}, d = ${d}, L = ${L}, R = 1, gridBits = 20; RMSE over ${builds} independent builds × ${nq} queries against brute force;`,
    `noise-free RMSE = the same query on the exact tree (the approximation error alone: the tree's own-leaf bias, the baseline's band error);`,
    `noise std = closed form (errorStd, RMS over the queries); reads = stored values read per query.`,
    `fit = answers from the least-squares consistent fit of the release (the default), raw = from the released values as they are.`,
    `'tree (paper, raw)' is the earlier construction exactly; 'tree (midpoint, fit)' is lemma's default.`,
    `Machine: ${JSON.stringify(m)}`,
    '',
    '| data | structure | ε | RMSE | RMSE / mean F | noise-free RMSE | noise std (closed form) | reads/query |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) out.push(`| ${r.data} | ${r.structure} | ${r.epsilon} | ${r.rmse.toFixed(1)} | ${r.relRmse.toExponential(2)} | ${r.noiseFreeRmse.toFixed(1)} | ${r.noiseStd.toFixed(1)} | ${r.nodeReads.toFixed(0)} |`);
  return out.join('\n') + '\n';
}

function chart(rows: ErrorRow[], title: string): string {
  const colours: Record<string, string> = {
    'tree (midpoint, fit)': '#1f77b4', 'tree (paper, raw)': '#9467bd', 'baseline (independent, α = 0.5, raw)': '#d62728',
    'baseline (prefix, α = 0.5, fit)': '#2ca02c',
  };
  const series: Series[] = [];
  for (const data of ['uniform', 'clustered']) {
    for (const s of Object.keys(colours)) {
      const pts = rows.filter((r) => r.data === data && r.structure === s);
      if (pts.length) series.push({ name: `${s}, ${data}`, colour: colours[s], dashed: data === 'clustered', points: pts.map((r) => [r.epsilon, r.rmse]) });
    }
  }
  return lineChart({
    title, xLabel: 'ε (log scale)', yLabel: 'RMSE (log scale)', xTicks: [...new Set(rows.map((r) => r.epsilon))],
    logX: true, logY: true, marginLeft: 70, series,
  });
}

const ci = args.indexOf('--child');
(ci >= 0 ? childBuild(args[ci + 1]) : main()).catch((e) => {
  console.error(e);
  process.exit(1);
});
