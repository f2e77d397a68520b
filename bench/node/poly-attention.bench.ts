/**
 * Benchmark of lemma.polyAttention and lemma.nn.attentionStack, one JSON line per configuration:
 *   kernel  causal forward + backward time against N (1k .. 256k) for degree 2 and 4, D_h in
 *           {16, 32, 64} (degree 4 at D_h = 64 needs 814,385 features: refused, reported as skipped) (B = 1, H = threads), beside lemma's exact flash attention fwd + bwd
 *           measured in the same run (up to N = 64k: its time grows as N²); speedup = exact / poly;
 *           the crossover N (the first N where poly is faster) and the fitted log-log slopes
 *   stack   a 2-layer, 4-head, dModel 64 stack (D_h = 16), forward + backward against N, poly
 *           (degree 2) and exact, with the fitted log-log slope of each
 * FLOPs count as FlashAttention does for the exact side (forward 4·B·H·N²·D, halved when causal,
 * backward 2.5x); poly reports time only (its work is O(N r D), not comparable FLOP by FLOP).
 * Writes bench/results/poly-attention-<cpu>-<threads>t.jsonl (kernel) and
 * bench/results/attention-stack-<cpu>-<threads>t.jsonl (stack); first line: the machine.
 *   node --import tsx bench/node/poly-attention.bench.ts [--quick] [--threads N] [--part kernel|stack]
 */
import { performance } from 'node:perf_hooks';
import * as lemma from '../../lib/index.js';
import type { Tensor } from '../../lib/index.js';
import { writeResults } from './results.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const pi = args.indexOf('--part');
const part = pi >= 0 ? args[pi + 1] : 'all';
if (!['all', 'kernel', 'stack'].includes(part)) throw new RangeError(`--part must be all, kernel or stack, not ${part}`);
const ti = args.indexOf('--threads');
if (ti >= 0) lemma.setNumThreads(Number(args[ti + 1]));
const threads = lemma.capabilities().threads;
const lines: string[] = [];
const emit = (o: Record<string, unknown>) => {
  const s = JSON.stringify(o);
  lines.push(s);
  console.log(s);
};

function uniform(n: number, seed: number, amp: number): Float32Array {
  let s = seed >>> 0 || 1;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    a[i] = amp * (s / 4294967296 - 0.5);
  }
  return a;
}

/** Median of `reps` runs of fn (seconds), after one warm-up when the run is short. */
async function time(fn: () => Promise<unknown>, reps: number): Promise<number> {
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await fn();
    ts.push((performance.now() - t0) / 1000);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)];
}

/** Least-squares slope of log t against log N. */
function slope(ns: number[], ts: number[]): number {
  const x = ns.map(Math.log), y = ts.map(Math.log);
  const mx = x.reduce((a, b) => a + b, 0) / x.length, my = y.reduce((a, b) => a + b, 0) / y.length;
  let num = 0, den = 0;
  for (let i = 0; i < x.length; i++) { num += (x[i] - mx) * (y[i] - my); den += (x[i] - mx) ** 2; }
  return num / den;
}

const EXACT_MAX_N = quick ? 16384 : 65536;
const sizes = (max: number) => { const out: number[] = []; for (let n = 1024; n <= max; n *= 2) out.push(n); return out; };

async function kernel(D: number, degree: number, maxN: number): Promise<void> {
  const H = threads;
  const ns = sizes(maxN);
  const polyT: number[] = [], exactT: number[] = [], exactN: number[] = [];
  let crossover: number | null = null;
  for (const N of ns) {
    const shape = [1, H, N, D];
    // Entries uniform in ±0.5·amp: |scale q·k| stays below 1 (the regime polynomial attention is for).
    const mk = (seed: number, amp: number): Tensor<Float32Array> => ({ data: uniform(H * N * D, seed, amp), shape });
    const q = mk(1, 1), k = mk(2, 1), v = mk(3, 2), g = mk(4, 2);
    const reps = N <= 8192 ? 5 : N <= 32768 ? 3 : 1;
    let beta = 0;
    const tp = await time(async () => {
      const f = await lemma.polyAttention.forward(q, k, v, { degree, causal: true });
      beta = f.beta;
      await lemma.polyAttention.backward(f.ctx, g);
    }, reps);
    polyT.push(tp);
    let te: number | null = null;
    if (N <= EXACT_MAX_N) {
      te = await time(async () => {
        const f = await lemma.attention.forward(q, k, v, { causal: true });
        await lemma.attention.backward({ q, k, v, out: f.out, lse: f.lse, dOut: g }, { causal: true });
      }, reps);
      exactT.push(te);
      exactN.push(N);
      if (crossover === null && tp < te) crossover = N;
    }
    const flops = 3.5 * (4 * H * N * N * D) / 2;
    emit({
      bench: 'poly-attention-kernel', B: 1, H, N, D, degree, causal: true, features: lemma.polyAttention.featureCount(D, degree),
      beta, polySeconds: tp, exactSeconds: te, exactTflops: te === null ? null : flops / te / 1e12,
      speedup: te === null ? null : te / tp, threads,
    });
  }
  emit({
    bench: 'poly-attention-kernel-summary', D, degree, causal: true, crossoverN: crossover,
    polySlope: slope(ns, polyT), exactSlope: exactN.length > 1 ? slope(exactN, exactT) : null,
    speedupAt65536: exactN.includes(65536) ? exactT[exactN.indexOf(65536)] / polyT[ns.indexOf(65536)] : null,
    target: D === 16 && degree === 2 ? { speedupAt65536: 10, crossoverNAtMost: 4096 } : undefined,
  });
}

async function stack(attention: 'exact' | 'poly', maxN: number): Promise<void> {
  const ns = sizes(maxN);
  const ts: number[] = [];
  const s = lemma.nn.attentionStack({ layers: 2, heads: 4, dModel: 64, mlp: 128, causal: true, attention, degree: 2, seed: 1 });
  for (const N of ns) {
    const x = { data: uniform(N * 64, 5, 2), shape: [1, N, 64] };
    const dy = { data: uniform(N * 64, 6, 2), shape: [1, N, 64] };
    const t = await time(async () => {
      const f = await s.forward(x);
      await s.backward(f.tape, dy);
    }, N <= 4096 ? 3 : 1);
    ts.push(t);
    emit({ bench: 'attention-stack', attention, layers: 2, heads: 4, dModel: 64, mlp: 128, N, causal: true, seconds: t, threads });
  }
  emit({ bench: 'attention-stack-summary', attention, sizes: ns, slope: slope(ns, ts), target: attention === 'poly' ? { slopeAtMost: 1.1 } : undefined });
  s.dispose();
}

async function main(): Promise<void> {
  if (part === 'all' || part === 'kernel') {
    await kernel(16, 2, quick ? 32768 : 262144);
    await kernel(16, 4, quick ? 8192 : 65536);
    await kernel(32, 2, quick ? 16384 : 131072);
    await kernel(32, 4, quick ? 2048 : 4096);  // r = 58,905: the feature count, not N, dominates
    await kernel(64, 2, quick ? 8192 : 65536);
    emit({ bench: 'poly-attention-kernel-summary', D: 64, degree: 4, skipped: `r = ${lemma.polyAttention.featureCount(64, 4)} features exceeds the limit of ${lemma.polyAttention.MAX_FEATURES}` });
    console.error(`wrote ${writeResults('poly-attention', lines.splice(0), { quick })}`);
  }
  if (part === 'all' || part === 'stack') {
    await stack('poly', quick ? 16384 : 131072);
    await stack('exact', quick ? 8192 : 65536);
    console.error(`wrote ${writeResults('attention-stack', lines.splice(0), { quick })}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
