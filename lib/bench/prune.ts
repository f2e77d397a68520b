/**
 * The benchmark of lemma.prune (attention-aware pruning, pure TypeScript, one thread) behind
 * `lemma bench prune` and bench/node/prune.bench.ts, one JSON line per configuration:
 *   prune-eval   ms per evaluation of the objective (value only, and value + gradient) vs n, d;
 *                multiply-adds per evaluation n·d·(n + d) (value) and 2·n·d·(n + d) (gradient)
 *   prune-step   ms per refit step through the public API (Armijo: every trial evaluates the
 *                value and the gradient; the setup — target, Wanda support — is timed apart)
 *   prune-error  ‖S(W′) − T‖_F vs sparsity for every method on the spec's AP-3 problem
 *                (X ~ N(0, 1) [128, 64], W ~ N(0, 1/d), τ = 1/8, row pattern); STAGE A alone
 *                (relaxed-mask's rounded support before its refit) is reported too. The binary
 *                masks (magnitude, Wanda) are the baselines of the refits, on the same problem.
 * Sizes: default n ∈ {128, 256}, d ∈ {32, 64}, sparsity ∈ {0.3, 0.5, 0.7} with 100 + 100 steps;
 * quick (the script's) n ≤ 512, d ≤ 128, sparsity 0.1 … 0.9, one seed, 200 + 300 steps;
 * full n ≤ 2048, d ≤ 256, three seeds, 500 + 300 steps.
 */
import { performance } from 'node:perf_hooks';
import { setNumThreads } from '../device.js';
import { normals } from '../random.js';
import * as prune from '../prune/index.js';
import { Evaluator, buildTargetSync } from '../prune/objective.js';
import { BenchRun, benchSize, timeIt } from './results.js';
import type { BenchRecord, FamilyBenchOptions } from './results.js';

function problem(n: number, d: number, seed: number) {
  const r = normals(seed);
  const X = Float64Array.from({ length: n * d }, () => r());
  const W = Float64Array.from({ length: d * d }, () => r() / Math.sqrt(d));
  return { X: { data: X, shape: [n, d] }, W: { data: W, shape: [d, d] } };
}

/** One line of the error-vs-sparsity table: a method's mean error over the seeds. */
export interface PruneErrorRow {
  method: string;
  sparsity: number;
  attnError: number;
  seeds: number;
}

/** The sizes of a run (the bench/node script writes them in its table). */
export function pruneSizes(opts: FamilyBenchOptions) {
  const size = benchSize(opts);
  const pick = <T>(tiny: T, def: T, quick: T, full: T): T => ({ tiny, default: def, quick, full })[size];
  return {
    ns: pick([32], [128, 256], [128, 256, 512], [128, 256, 512, 1024, 2048]),
    ds: pick([16], [32, 64], [32, 64, 128], [32, 64, 128, 256]),
    minMs: pick(10, 100, 150, 400),
    steps: pick(3, 10, 20, 50),
    errorProblem: pick({ n: 32, d: 16 }, { n: 128, d: 64 }, { n: 128, d: 64 }, { n: 128, d: 64 }),
    sparsities: pick([0.5], [0.3, 0.5, 0.7], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]),
    seeds: pick([0], [0], [0], [0, 1, 2]),
    refitSteps: pick(10, 100, 300, 300),
    selectSteps: pick(10, 100, 200, 500),
  };
}

export async function runPruneBench(opts: FamilyBenchOptions = {}): Promise<BenchRecord[]> {
  const z = pruneSizes(opts);
  if (opts.threads !== undefined) setNumThreads(opts.threads);
  const signal = opts.signal;
  const run = new BenchRun(opts, z.ns.length * z.ds.length + z.seeds.length * z.sparsities.length, 'lemma bench prune');

  // Counts objective evaluations (the bench's own instrumentation, not part of the API).
  let evaluations = 0;
  const residual = Object.getOwnPropertyDescriptor(Evaluator.prototype, 'residual')!;
  const original = Evaluator.prototype.residual;
  Evaluator.prototype.residual = function (this: Evaluator, ...a: Parameters<typeof original>) {
    evaluations++;
    return original.apply(this, a);
  };
  try {
    // --- time per evaluation and per step vs n, d
    for (const d of z.ds) {
      for (const n of z.ns) {
        run.step(`eval n${n} d${d}`);
        const { X, W } = problem(n, d, n * 1000 + d);
        const prob = buildTargetSync({ n, d, X: X.data, W: W.data, tau: 1 / Math.sqrt(d), causal: false });
        const ev = new Evaluator(prob);
        const r = normals(7);
        const M = Float64Array.from({ length: d * d }, () => (r() > 0 ? 1 : 0.5));
        const valueMs = timeIt(() => ev.residualSync(M, false), z.minMs, true);
        const gradMs = timeIt(() => ev.residualSync(M, true), z.minMs, true);
        const fma = n * d * (n + d);
        run.emit({ bench: 'prune-eval', n, d, msValue: valueMs, msValueAndGradient: gradMs, gflopsValue: (2 * fma) / (valueMs * 1e6), gflopsGradient: (4 * fma) / (gradMs * 1e6) });
        const o = { tau: 1 / Math.sqrt(d), sparsity: 0.5, signal };
        const t0 = performance.now();
        await prune.attention({ X, W }, { ...o, steps: 0 });
        const setupMs = performance.now() - t0;
        // Steps timed from the first to the last progress report (setup excluded); evaluations counted.
        let first = NaN;
        let firstDone = 0;
        let last = NaN;
        let lastDone = 0;
        evaluations = 0;
        let evalsAtFirst = 0;
        const res = await prune.attention({ X, W }, {
          ...o, steps: z.steps,
          onProgress: (p) => {
            const now = performance.now();
            if (Number.isNaN(first)) [first, firstDone, evalsAtFirst] = [now, p.done, evaluations];
            [last, lastDone] = [now, p.done];
          },
        });
        const evalsAfter = evaluations;
        const msPerStep = (last - first) / Math.max(1, lastDone - firstDone);
        run.emit({ bench: 'prune-step', method: 'refit', n, d, steps: res.stepsDone, msPerStep, evaluationsPerStep: (evalsAfter - evalsAtFirst) / Math.max(1, lastDone - firstDone), setupMs, note: 'public API, value + gradient at every Armijo trial; includes yielding to the event loop between steps' });
      }
    }

    // --- error vs sparsity, every method (AP-3 problem)
    const { n: En, d: Ed } = z.errorProblem;
    for (const seed of z.seeds) {
      const inp = problem(En, Ed, 1000 + seed);
      for (const sparsity of z.sparsities) {
        run.step(`error seed ${seed} sparsity ${sparsity}`);
        const o = { tau: 1 / Math.sqrt(Ed), sparsity, seed, signal };
        const mag = await prune.attention(inp, { ...o, method: 'magnitude' });
        const wan = await prune.attention(inp, { ...o, method: 'wanda' });
        const t0 = performance.now();
        const ref = await prune.attention(inp, { ...o, method: 'refit', steps: z.refitSteps });
        const refMs = performance.now() - t0;
        const t1 = performance.now();
        const rel = await prune.attention(inp, { ...o, method: 'relaxed-mask', selectSteps: z.selectSteps, steps: z.refitSteps });
        const relMs = performance.now() - t1;
        const row = { n: En, d: Ed, tau: 1 / Math.sqrt(Ed), pattern: 'row', seed, sparsity };
        run.emit({ bench: 'prune-error', ...row, method: 'magnitude', attnError: mag.attnError });
        run.emit({ bench: 'prune-error', ...row, method: 'wanda', attnError: wan.attnError });
        run.emit({ bench: 'prune-error', ...row, method: 'refit', steps: ref.stepsDone, attnError: ref.attnError, ms: refMs });
        run.emit({ bench: 'prune-error', ...row, method: 'relaxed-mask: STAGE A alone', selectSteps: rel.selectStepsDone, attnError: rel.supportError });
        run.emit({ bench: 'prune-error', ...row, method: 'relaxed-mask', selectSteps: rel.selectStepsDone, steps: rel.stepsDone, attnError: rel.attnError, ms: relMs });
      }
    }
  } finally {
    Object.defineProperty(Evaluator.prototype, 'residual', residual);
  }
  return run.finish();
}

/** The error-vs-sparsity rows of a run's records: each method's mean over the seeds. */
export function pruneErrorRows(records: readonly BenchRecord[]): PruneErrorRow[] {
  const sums = new Map<string, { sum: number; seeds: number }>();
  for (const r of records) {
    if (r.bench !== 'prune-error') continue;
    const key = `${String(r.method)}|${String(r.sparsity)}`;
    const e = sums.get(key) ?? { sum: 0, seeds: 0 };
    e.sum += r.attnError as number;
    e.seeds += 1;
    sums.set(key, e);
  }
  return [...sums].map(([key, e]) => {
    const [method, s] = key.split('|');
    return { method, sparsity: Number(s), attnError: e.sum / e.seeds, seeds: e.seeds };
  });
}
