/**
 * npm run bench:prune — lemma.prune (attention-aware pruning, pure TypeScript, one thread;
 * lib/bench/prune.ts), one JSON line per configuration:
 *   prune-eval   ms per evaluation of the objective (value only, and value + gradient) vs n, d;
 *                multiply-adds per evaluation n·d·(n + d) (value) and 2·n·d·(n + d) (gradient)
 *   prune-step   ms per refit step through the public API (Armijo: every trial evaluates the
 *                value and the gradient; the setup — target, Wanda support — is timed apart)
 *   prune-error  ‖S(W′) − T‖_F vs sparsity 0.1 … 0.9 for every method on the spec's AP-3 problem
 *                (X ~ N(0, 1) [128, 64], W ~ N(0, 1/d), τ = 1/8, row pattern); STAGE A alone
 *                (relaxed-mask's rounded support before its refit) is reported too
 * Writes bench/results/prune-cpu-<cpu>-<threads>t.jsonl (first line: the machine; `threads` there
 * is the native pool, unused here) and bench/results/prune-error-vs-sparsity.{svg,md}.
 *   node --import tsx bench/node/prune.bench.ts [--quick]
 */
import fs from 'node:fs';
import path from 'node:path';
import { pruneErrorRows, pruneSizes, runPruneBench } from '../../lib/bench/prune.js';
import type { PruneErrorRow as ErrorRow } from '../../lib/bench/prune.js';
import { lineChart } from './chart.js';
import type { Series } from './chart.js';
import { machineInfo, RESULTS_DIR, writeResults } from './results.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');

async function main(): Promise<void> {
  const lines: string[] = [];
  const opts = { quick, full: !quick };
  const { seeds, refitSteps, selectSteps } = pruneSizes(opts);
  const records = await runPruneBench({ ...opts, log: (l) => { console.log(l); lines.push(l); } });
  const rows = pruneErrorRows(records);
  const machine = machineInfo({ quick });
  const file = writeResults('prune-cpu', lines, { quick });
  const title = `‖S(W′) − T‖_F vs sparsity (n = 128, d = 64, τ = 1/8, row pattern; ${seeds.length > 1 ? `mean of ${seeds.length} seeds` : `seed ${seeds[0]}`})`;
  fs.writeFileSync(path.join(RESULTS_DIR, 'prune-error-vs-sparsity.svg'), chart(rows, title));
  fs.writeFileSync(path.join(RESULTS_DIR, 'prune-error-vs-sparsity.md'), table(rows, seeds.length, refitSteps, selectSteps, machine));
  console.log(`wrote ${path.relative(process.cwd(), file)} and bench/results/prune-error-vs-sparsity.{svg,md}`);
}

const ORDER = ['magnitude', 'wanda', 'relaxed-mask: STAGE A alone', 'relaxed-mask', 'refit'];
const COLOURS: Record<string, string> = {
  magnitude: '#7f7f7f', wanda: '#d62728', 'relaxed-mask: STAGE A alone': '#ff7f0e', 'relaxed-mask': '#2ca02c', refit: '#1f77b4',
};

function table(rows: ErrorRow[], seeds: number, steps: number, selectSteps: number, m: object): string {
  const sp = [...new Set(rows.map((r) => r.sparsity))].sort((a, b) => a - b);
  const get = (method: string, s: number) => rows.find((r) => r.method === method && r.sparsity === s)?.attnError;
  const out = [
    '# Attention-matrix error vs sparsity: lemma.prune methods',
    '',
    `AP-3 problem of the spec: X ~ N(0, 1) [128, 64], W ~ N(0, 1/d), τ = 1/8, row pattern (each row keeps d − ⌊s·d⌋);`,
    `‖S(W′) − T‖_F, ${seeds > 1 ? `mean over ${seeds} seeds` : 'one seed'}. refit = Wanda support + ${steps} Armijo steps on the kept values;`,
    `relaxed-mask = STAGE A (${selectSteps} steps, ridge λ = 1e-3, rounded by |M∘W|) + ${steps} refit steps; "STAGE A alone" is its rounded support before the refit.`,
    `Machine: ${JSON.stringify(m)}`,
    '',
    `| method | ${sp.map((s) => `s = ${s}`).join(' | ')} |`,
    `|---|${sp.map(() => '---:').join('|')}|`,
  ];
  for (const method of ORDER) out.push(`| ${method} | ${sp.map((s) => get(method, s)?.toFixed(4) ?? '').join(' | ')} |`);
  out.push(`| refit / best binary | ${sp.map((s) => (get('refit', s)! / Math.min(get('magnitude', s)!, get('wanda', s)!)).toFixed(2)).join(' | ')} |`);
  return out.join('\n') + '\n';
}

function chart(rows: ErrorRow[], title: string): string {
  const series: Series[] = ORDER.map((method) => ({
    name: method, colour: COLOURS[method], dashed: method.includes('alone'),
    points: rows.filter((r) => r.method === method).map((r): [number, number] => [r.sparsity, r.attnError]),
  })).filter((s) => s.points.length > 0);
  return lineChart({
    title, xLabel: "sparsity (fraction of W's entries pruned)", yLabel: '‖S(W′) − T‖_F',
    xTicks: [...new Set(rows.map((r) => r.sparsity))].sort((x, y) => x - y), series,
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
