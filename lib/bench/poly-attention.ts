/**
 * The benchmark of lemma.polyAttention and lemma.nn.attentionStack behind
 * `lemma bench poly-attention` and bench/node/poly-attention.bench.ts, one JSON line per
 * configuration:
 *   kernel  causal forward + backward time against N for degree 2 and 4, D_h in {16, 32, 64}
 *           (degree 4 at D_h = 64 needs 814,385 features: refused, reported as skipped) (B = 1,
 *           H = threads), beside lemma's exact flash attention fwd + bwd measured in the same run
 *           (up to a size where its N² time stays bearable); speedup = exact / poly; the
 *           crossover N (the first N where poly is faster) and the fitted log-log slopes
 *   stack   a 2-layer, 4-head, dModel 64 stack (D_h = 16), forward + backward against N, poly
 *           (degree 2) and exact, with the fitted log-log slope of each
 * FLOPs count as FlashAttention does for the exact side (forward 4·B·H·N²·D, halved when causal,
 * backward 2.5x); poly reports time (and tokens/s: H·N / its fwd + bwd seconds) only (its work is
 * O(N r D), not comparable FLOP by FLOP).
 * Sizes (largest N per kernel): default 1k … 8k (exact up to 8k; no degree 4 at D_h = 32, whose
 * 58,905 features take seconds per call whatever N; 3 runs each); quick (the script's) up to 32k
 * (exact up to 16k); full up to 256k (exact up to 64k).
 */
import { performance } from 'node:perf_hooks';
import * as attention from '../attention/index.js';
import { capabilities, setNumThreads } from '../device.js';
import * as nn from '../nn/index.js';
import * as polyAttention from '../poly-attention/index.js';
import type { Tensor } from '../tensor.js';
import { BenchRun, benchSize } from './results.js';
import type { BenchRecord, BenchSize, FamilyBenchOptions } from './results.js';

export interface PolyAttentionBenchOptions extends FamilyBenchOptions {
  /** Which part to run (default 'all'). */
  part?: 'all' | 'kernel' | 'stack';
}

function uniform(n: number, seed: number, amp: number): Float32Array {
  let s = seed >>> 0 || 1;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    a[i] = amp * (s / 4294967296 - 0.5);
  }
  return a;
}

/** Median of `reps` runs of fn (seconds). */
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

/** Per size: [D, degree, largest N] of each kernel, the exact side's largest N, the stacks' largest N, the smallest N. */
function plan(size: BenchSize) {
  const pick = <T>(tiny: T, def: T, quick: T, full: T): T => ({ tiny, default: def, quick, full })[size];
  return {
    minN: size === 'tiny' ? 128 : 1024,
    kernels: pick<[number, number, number][]>(
      [[16, 2, 256]],
      [[16, 2, 8192], [16, 4, 2048], [32, 2, 4096], [64, 2, 2048]],
      [[16, 2, 32768], [16, 4, 8192], [32, 2, 16384], [32, 4, 2048], [64, 2, 8192]],
      [[16, 2, 262144], [16, 4, 65536], [32, 2, 131072], [32, 4, 4096], [64, 2, 65536]]),
    exactMaxN: pick(256, 8192, 16384, 65536),
    stackPolyMaxN: pick(256, 4096, 16384, 131072),
    stackExactMaxN: pick(256, 2048, 8192, 65536),
  };
}

export async function runPolyAttentionBench(opts: PolyAttentionBenchOptions = {}): Promise<BenchRecord[]> {
  const size = benchSize(opts);
  const part = opts.part ?? 'all';
  if (!['all', 'kernel', 'stack'].includes(part)) throw new RangeError(`part must be all, kernel or stack, not ${String(part)}`);
  if (opts.threads !== undefined) setNumThreads(opts.threads);
  const threads = capabilities().threads;
  const p = plan(size);
  const sizes = (max: number) => { const out: number[] = []; for (let n = p.minN; n <= max; n *= 2) out.push(n); return out; };
  const kernels = part === 'stack' ? [] : p.kernels;
  const stacks: ['poly' | 'exact', number][] = part === 'kernel' ? [] : [['poly', p.stackPolyMaxN], ['exact', p.stackExactMaxN]];
  const total = kernels.reduce((a, k) => a + sizes(k[2]).length, 0) + stacks.reduce((a, s) => a + sizes(s[1]).length, 0);
  const run = new BenchRun(opts, total, 'lemma bench poly-attention');
  const signal = opts.signal;

  for (const [D, degree, maxN] of kernels) {
    const H = threads;
    const ns = sizes(maxN);
    const polyT: number[] = [], exactT: number[] = [], exactN: number[] = [];
    let crossover: number | null = null;
    for (const N of ns) {
      run.step(`kernel D${D} degree ${degree} N${N}`);
      const shape = [1, H, N, D];
      // Entries uniform in ±0.5·amp: |scale q·k| stays below 1 (the regime polynomial attention is for).
      const mk = (seed: number, amp: number): Tensor<Float32Array> => ({ data: uniform(H * N * D, seed, amp), shape });
      const q = mk(1, 1), k = mk(2, 1), v = mk(3, 2), g = mk(4, 2);
      const reps = size === 'tiny' ? 1 : size === 'default' ? 3 : N <= 8192 ? 5 : N <= 32768 ? 3 : 1;
      let beta = 0;
      const tp = await time(async () => {
        const f = await polyAttention.forward(q, k, v, { degree, causal: true, signal });
        beta = f.beta;
        await polyAttention.backward(f.ctx, g, { signal });
      }, reps);
      polyT.push(tp);
      let te: number | null = null;
      if (N <= p.exactMaxN) {
        te = await time(async () => {
          const f = await attention.forward(q, k, v, { causal: true, signal });
          await attention.backward({ q, k, v, out: f.out, lse: f.lse, dOut: g }, { causal: true, signal });
        }, reps);
        exactT.push(te);
        exactN.push(N);
        if (crossover === null && tp < te) crossover = N;
      }
      const flops = 3.5 * (4 * H * N * N * D) / 2;
      run.emit({
        bench: 'poly-attention-kernel', B: 1, H, N, D, degree, causal: true, features: polyAttention.featureCount(D, degree),
        beta, polySeconds: tp, exactSeconds: te, exactTflops: te === null ? null : flops / te / 1e12,
        speedup: te === null ? null : te / tp, threads, polyTokensPerSec: (H * N) / tp,
      });
    }
    run.emit({
      bench: 'poly-attention-kernel-summary', D, degree, causal: true, crossoverN: crossover,
      polySlope: slope(ns, polyT), exactSlope: exactN.length > 1 ? slope(exactN, exactT) : null,
      speedupAt65536: exactN.includes(65536) ? exactT[exactN.indexOf(65536)] / polyT[ns.indexOf(65536)] : null,
      target: D === 16 && degree === 2 ? { speedupAt65536: 10, crossoverNAtMost: 4096 } : undefined,
    });
  }
  if (kernels.length > 0 && size !== 'tiny') {
    run.emit({ bench: 'poly-attention-kernel-summary', D: 64, degree: 4, skipped: `r = ${polyAttention.featureCount(64, 4)} features exceeds the limit of ${polyAttention.MAX_FEATURES}` });
  }

  for (const [kind, maxN] of stacks) {
    const ns = sizes(maxN);
    const ts: number[] = [];
    const s = nn.attentionStack({ layers: 2, heads: 4, dModel: 64, mlp: 128, causal: true, attention: kind, degree: 2, seed: 1 });
    try {
      for (const N of ns) {
        run.step(`stack ${kind} N${N}`);
        const x = { data: uniform(N * 64, 5, 2), shape: [1, N, 64] };
        const dy = { data: uniform(N * 64, 6, 2), shape: [1, N, 64] };
        const t = await time(async () => {
          const f = await s.forward(x);
          await s.backward(f.tape, dy);
        }, N <= 4096 ? 3 : 1);
        ts.push(t);
        run.emit({ bench: 'attention-stack', attention: kind, layers: 2, heads: 4, dModel: 64, mlp: 128, N, causal: true, seconds: t, threads, tokensPerSec: N / t });
      }
      run.emit({ bench: 'attention-stack-summary', attention: kind, sizes: ns, slope: slope(ns, ts), target: kind === 'poly' ? { slopeAtMost: 1.1 } : undefined });
    } finally {
      s.dispose();
    }
  }
  return run.finish();
}
