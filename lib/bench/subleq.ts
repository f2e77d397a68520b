/**
 * The benchmark of lemma.looped.subleq (the looped ReLU-MLP that runs SUBLEQ) behind
 * `lemma bench subleq` and bench/node/subleq.bench.ts, one JSON line per configuration:
 *   mlp          run() over B machines for two geometries (the multiply program's M = 8, P = 8
 *                and the sort program's M = 16, P = 128; N = 16), 9 layers, and 23 at one batch:
 *                MLP steps/s (loop iterations of the whole batch per second), program-steps/s
 *                (B x that) and the integer multiply-adds per second (nnz x B x steps/s)
 *   interpreter  the TypeScript reference interpret() on one machine of each geometry: the
 *                same-run baseline for program-steps/s
 * The machines never halt (every instruction adds 1 to some word, and the program fills all P
 * slots, so no HALT padding is reachable), so no early stop flatters the numbers.
 * Sizes: default = the script's --quick (B ∈ {1, 16, 256}, ≥ 0.2 s per measurement); full:
 * B ∈ {1, 4, 16, 64, 256, 1024}, ≥ 0.5 s.
 */
import { performance } from 'node:perf_hooks';
import { setNumThreads } from '../device.js';
import * as subleq from '../looped/subleq/index.js';
import { BenchRun, benchSize } from './results.js';
import type { BenchRecord, FamilyBenchOptions } from './results.js';

function lcg(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.floor((s / 2 ** 32) * n);
  };
}

/** A busy program of n instructions: (one, random word, random target) with one = -1: never halts. */
function busy(seed: number, n: number, m: number) {
  const r = lcg(seed);
  const program = Array.from({ length: n }, () => [0, 1 + r(m - 1), r(n)]);
  const memory = [-1, ...Array.from({ length: m - 1 }, () => r(100))];
  return { program, memory };
}

const GEOMETRIES = [
  { name: 'multiply-size', M: 8, P: 8, m: 5, n: 8 },
  { name: 'sort-size', M: 16, P: 128, m: 9, n: 128 },
];

export async function runSubleqBench(opts: FamilyBenchOptions = {}): Promise<BenchRecord[]> {
  const size = benchSize(opts);
  if (opts.threads !== undefined) setNumThreads(opts.threads);
  const batches = size === 'tiny' ? [1, 16] : size === 'full' ? [1, 4, 16, 64, 256, 1024] : [1, 16, 256];
  const minSeconds = size === 'tiny' ? 0.02 : size === 'full' ? 0.5 : 0.2;
  const bigBatch = size === 'tiny' ? 4 : 64;
  const run = new BenchRun(opts, GEOMETRIES.length * (batches.length + 2), 'lemma bench subleq');
  const signal = opts.signal;

  async function timeRun(list: ReturnType<typeof subleq.compile>[]): Promise<{ steps: number; seconds: number }> {
    await subleq.run(list, { steps: 4, signal });
    let steps = 16;
    for (;;) {
      const t0 = performance.now();
      await subleq.run(list, { steps, signal });
      const seconds = (performance.now() - t0) / 1000;
      if (seconds >= minSeconds) return { steps, seconds };
      steps = Math.ceil(steps * Math.min(16, Math.max(2, (1.2 * minSeconds) / Math.max(seconds, 1e-4))));
    }
  }

  for (const g of GEOMETRIES) {
    for (const layers of [9, 23] as const) {
      for (const B of layers === 9 ? batches : [bigBatch]) {
        run.step(`${g.name} ${layers} layers B${B}`);
        const list = Array.from({ length: B }, (_, b) => {
          const src = busy(1000 + b, g.n, g.m);
          return subleq.compile(src, { dataWords: g.M, programSlots: g.P, wordBits: 16, layers });
        });
        const { steps, seconds } = await timeRun(list);
        const c = list[0];
        const r = await subleq.run(list, { steps: 8 });
        if (r.halted.some((h) => h)) throw new Error('a bench machine halted');
        run.emit({
          bench: 'subleq', kind: 'mlp', geometry: g.name, M: g.M, P: g.P, N: 16, layers, D0: c.geometry.stateSize, nnz: c.nnz, B, steps,
          seconds: +seconds.toFixed(4),
          mlpStepsPerSec: Math.round(steps / seconds),
          programStepsPerSec: Math.round((B * steps) / seconds),
          macsPerSec: +((c.nnz * B * steps) / seconds).toExponential(3),
        });
      }
    }
    run.step(`${g.name} interpreter`);
    const src = busy(7, g.n, g.m);
    subleq.interpret(src.program, src.memory, 1000, { programSlots: g.P });
    let steps = size === 'tiny' ? 1000 : 10_000;
    let seconds = 0;
    for (;;) {
      run.check();
      const t0 = performance.now();
      subleq.interpret(src.program, src.memory, steps, { programSlots: g.P });
      seconds = (performance.now() - t0) / 1000;
      if (seconds >= minSeconds) break;
      steps *= 4;
    }
    run.emit({
      bench: 'subleq', kind: 'interpreter', geometry: g.name, M: g.M, P: g.P, N: 16, B: 1, steps, seconds: +seconds.toFixed(4),
      programStepsPerSec: Math.round(steps / seconds), note: 'TypeScript reference, records the trace',
    });
  }
  return run.finish();
}
