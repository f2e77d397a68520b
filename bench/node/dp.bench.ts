/**
 * npm run bench:dp — lemma.dp (private L1 KDE; lib/bench/dp.ts), one JSON line per configuration:
 *   sampler   exact discrete Laplace draws/s in TypeScript (OS CSPRNG and the seeded test stream),
 *             with textbook float Laplace (Math.random, unsafe) timed in the same run as a yardstick
 *   build     wall time and peak RSS of l1Kde / baselineL1Kde at n = 10⁶, d = 16, L = 20 (in a
 *             child process, lib/bench/dp-build-child.ts, so the peak RSS is the build's), and the exact native build alone
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
import fs from 'node:fs';
import path from 'node:path';
import { dpSizes, runDpBench } from '../../lib/bench/dp.js';
import type { DpErrorRow as ErrorRow } from '../../lib/bench/dp.js';
import { lineChart } from './chart.js';
import type { Series } from './chart.js';
import { machineInfo, RESULTS_DIR, writeResults } from './results.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const ti = args.indexOf('--threads');

async function main(): Promise<void> {
  const lines: string[] = [];
  const opts = { quick, full: !quick, threads: ti >= 0 ? Number(args[ti + 1]) : undefined };
  const z = dpSizes(opts);
  const records = await runDpBench({ ...opts, log: (l) => { console.log(l); lines.push(l); } });
  const rows = records.filter((r) => r.bench === 'dp-error') as unknown as ErrorRow[];
  const [En, Ed, EL, builds, nq] = [z.errorN, z.errorD, z.errorLevels, z.builds, z.queries];

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

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
