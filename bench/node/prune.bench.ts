/**
 * Benchmark of lemma.prune (attention-aware pruning, pure TypeScript, one thread), one JSON line
 * per configuration:
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
import { performance } from 'node:perf_hooks';
import * as lemma from '../../lib/index.js';
import { normals } from '../../lib/random.js';
import { Evaluator, buildTargetSync } from '../../lib/prune/objective.js';
import { lineChart, timeIt } from './chart.js';
import type { Series } from './chart.js';
import { machineInfo, RESULTS_DIR, writeResults } from './results.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');

function problem(n: number, d: number, seed: number) {
  const r = normals(seed);
  const X = Float64Array.from({ length: n * d }, () => r());
  const W = Float64Array.from({ length: d * d }, () => r() / Math.sqrt(d));
  return { X: { data: X, shape: [n, d] }, W: { data: W, shape: [d, d] } };
}

// Counts objective evaluations (the bench's own instrumentation, not part of the API).
let evaluations = 0;
const residual = Evaluator.prototype.residual;
Evaluator.prototype.residual = function (this: Evaluator, ...a: Parameters<typeof residual>) {
  evaluations++;
  return residual.apply(this, a);
};

interface ErrorRow {
  method: string;
  sparsity: number;
  attnError: number;
  seeds: number;
}

async function main(): Promise<void> {
  const lines: string[] = [];
  const emit = (o: object) => {
    const l = JSON.stringify(o);
    console.log(l);
    lines.push(l);
  };

  // --- time per evaluation and per step vs n, d
  const ns = quick ? [128, 256, 512] : [128, 256, 512, 1024, 2048];
  const ds = quick ? [32, 64, 128] : [32, 64, 128, 256];
  for (const d of ds) {
    for (const n of ns) {
      const { X, W } = problem(n, d, n * 1000 + d);
      const prob = buildTargetSync({ n, d, X: X.data, W: W.data, tau: 1 / Math.sqrt(d), causal: false });
      const ev = new Evaluator(prob);
      const r = normals(7);
      const M = Float64Array.from({ length: d * d }, () => (r() > 0 ? 1 : 0.5));
      const minMs = quick ? 150 : 400;
      const valueMs = timeIt(() => ev.residualSync(M, false), minMs, true);
      const gradMs = timeIt(() => ev.residualSync(M, true), minMs, true);
      const fma = n * d * (n + d);
      emit({ bench: 'prune-eval', n, d, msValue: valueMs, msValueAndGradient: gradMs, gflopsValue: (2 * fma) / (valueMs * 1e6), gflopsGradient: (4 * fma) / (gradMs * 1e6) });
      const steps = quick ? 20 : 50;
      const o = { tau: 1 / Math.sqrt(d), sparsity: 0.5 };
      const t0 = performance.now();
      await lemma.prune.attention({ X, W }, { ...o, steps: 0 });
      const setupMs = performance.now() - t0;
      // Steps timed from the first to the last progress report (setup excluded); evaluations counted.
      let first = NaN;
      let firstDone = 0;
      let last = NaN;
      let lastDone = 0;
      evaluations = 0;
      let evalsAtFirst = 0;
      const res = await lemma.prune.attention({ X, W }, {
        ...o, steps,
        onProgress: (p) => {
          const now = performance.now();
          if (Number.isNaN(first)) [first, firstDone, evalsAtFirst] = [now, p.done, evaluations];
          [last, lastDone] = [now, p.done];
        },
      });
      const evalsAfter = evaluations;
      const msPerStep = (last - first) / Math.max(1, lastDone - firstDone);
      emit({ bench: 'prune-step', method: 'refit', n, d, steps: res.stepsDone, msPerStep, evaluationsPerStep: (evalsAfter - evalsAtFirst) / Math.max(1, lastDone - firstDone), setupMs, note: 'public API, value + gradient at every Armijo trial; includes yielding to the event loop between steps' });
    }
  }

  // --- error vs sparsity, every method (AP-3 problem)
  const sparsities = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
  const seeds = quick ? [0] : [0, 1, 2];
  const refitSteps = 300;
  const selectSteps = quick ? 200 : 500;
  const sums = new Map<string, number>();
  const add = (method: string, s: number, v: number) => sums.set(`${method}|${s}`, (sums.get(`${method}|${s}`) ?? 0) + v);
  for (const seed of seeds) {
    const inp = problem(128, 64, 1000 + seed);
    for (const sparsity of sparsities) {
      const o = { tau: 1 / 8, sparsity, seed };
      const mag = await lemma.prune.attention(inp, { ...o, method: 'magnitude' });
      const wan = await lemma.prune.attention(inp, { ...o, method: 'wanda' });
      const t0 = performance.now();
      const ref = await lemma.prune.attention(inp, { ...o, method: 'refit', steps: refitSteps });
      const refMs = performance.now() - t0;
      const t1 = performance.now();
      const rel = await lemma.prune.attention(inp, { ...o, method: 'relaxed-mask', selectSteps, steps: refitSteps });
      const relMs = performance.now() - t1;
      const row = { n: 128, d: 64, tau: 1 / 8, pattern: 'row', seed, sparsity };
      emit({ bench: 'prune-error', ...row, method: 'magnitude', attnError: mag.attnError });
      emit({ bench: 'prune-error', ...row, method: 'wanda', attnError: wan.attnError });
      emit({ bench: 'prune-error', ...row, method: 'refit', steps: ref.stepsDone, attnError: ref.attnError, ms: refMs });
      emit({ bench: 'prune-error', ...row, method: 'relaxed-mask: STAGE A alone', selectSteps: rel.selectStepsDone, attnError: rel.supportError });
      emit({ bench: 'prune-error', ...row, method: 'relaxed-mask', selectSteps: rel.selectStepsDone, steps: rel.stepsDone, attnError: rel.attnError, ms: relMs });
      add('magnitude', sparsity, mag.attnError);
      add('wanda', sparsity, wan.attnError);
      add('refit', sparsity, ref.attnError);
      add('relaxed-mask: STAGE A alone', sparsity, rel.supportError);
      add('relaxed-mask', sparsity, rel.attnError);
    }
  }
  const rows: ErrorRow[] = [];
  for (const [key, sum] of sums) {
    const [method, s] = key.split('|');
    rows.push({ method, sparsity: Number(s), attnError: sum / seeds.length, seeds: seeds.length });
  }

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
