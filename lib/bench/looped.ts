/**
 * The benchmark of lemma.looped's fixed-point operations behind `lemma bench looped` and
 * bench/node/looped.bench.ts, one JSON line per configuration:
 *   looped-certify  sign-box certificates per second at d = 10..20 (poly3 preset, eta 0.05,
 *                   δ = 0.01: every box certifies), beside the same run's plain fp64 forward pass
 *                   f(centre) per box in TypeScript (what one unproven evaluation costs), and the
 *                   enumeration's iteration phase (200 steps at most from each certified centre;
 *                   up to 1,024 points it includes the O(m²·d) pairwise separation scan)
 *   looped-iterate  start-steps per second and GFLOP/s (2d² flops per start-step) against S at
 *                   d = 10, 64, 256 for poly3 (arithmetic only) and tanh2 (one libm tanh per
 *                   coordinate, which dominates at small d), no early exit, no history, beside
 *                   the fp64 oracle (one start at a time, one thread) and the same function as a
 *                   custom activation (the TypeScript loop), both measured in the same run
 * Sizes: default = the script's --quick (d ∈ {10, 14} / {10, 64}, S ∈ {16, 4096}); full:
 * d ∈ {10 … 20} / {10, 64, 256}, S ∈ {1 … 65536}.
 */
import { performance } from 'node:perf_hooks';
import { native } from '../binding.js';
import { setNumThreads } from '../device.js';
import { enumerateFixedPoints, preset } from '../looped/certify.js';
import { iterate } from '../looped/iterate.js';
import { BenchRun, benchSize } from './results.js';
import type { BenchRecord, FamilyBenchOptions } from './results.js';

/** The plain forward pass f(c) = g(Wc + b) at every sign-box centre, in fp64 TypeScript. */
function forwardPerBox(W: Float64Array, d: number, centre: number): number {
  let sink = 0;
  const x = new Float64Array(d);
  for (let i = 0; i < 2 ** d; ++i) {
    for (let k = 0; k < d; ++k) x[k] = (i >>> k) & 1 ? centre : -centre;
    for (let j = 0; j < d; ++j) {
      let z = 0;
      for (let k = 0; k < d; ++k) z += W[j * d + k] * x[k];
      sink += 1.5 * z - 0.5 * z * z * z;
    }
  }
  return sink;
}

/** The fp64 oracle (one start at a time, one thread): the same-run baseline. */
function timeNative(W: Float64Array, d: number, S: number, steps: number, activation: number): number {
  const x = new Float64Array(S * d).fill(0.5);
  const t0 = performance.now();
  native.loopedIterateSync(W, new Float64Array(d), x, new Int32Array(S), new Int32Array(S).fill(-1),
    new Float64Array(S), new Float64Array(0),
    { S, d, activation, maxSteps: steps, tEnd: steps, tol: 0, noise: 0, seedLo: 0, seedHi: 0, earlyExit: false, ref: true });
  return performance.now() - t0;
}

export async function runLoopedBench(opts: FamilyBenchOptions = {}): Promise<BenchRecord[]> {
  const size = benchSize(opts);
  if (opts.threads !== undefined) setNumThreads(opts.threads);
  const certifyDims = size === 'tiny' ? [8] : size === 'full' ? [10, 12, 14, 16, 18, 20] : [10, 14];
  const iterDims = size === 'tiny' ? [10] : size === 'full' ? [10, 64, 256] : [10, 64];
  const starts = size === 'tiny' ? [16] : size === 'full' ? [1, 16, 256, 4096, 65536] : [16, 4096];
  // About 10⁹ flops per measurement (10⁷ when tiny), at least 5 steps.
  const flopsTarget = size === 'tiny' ? 1e7 : 1e9;
  const run = new BenchRun(opts, certifyDims.length + iterDims.length * 2 * starts.length, 'lemma bench looped');

  for (const d of certifyDims) {
    run.step(`certify d${d}`);
    const net = preset('poly3', { d, eta: 0.05 });
    const t0 = performance.now();
    let tCert = NaN;
    const r = await enumerateFixedPoints({
      ...net, delta: 0.01, signal: opts.signal,
      onProgress: (p) => { if (p.phase === 'iterate' && Number.isNaN(tCert)) tCert = performance.now(); },
    });
    const t1 = performance.now();
    if (Number.isNaN(tCert)) tCert = t1;
    const f0 = performance.now();
    forwardPerBox(net.W.data, d, 1);
    const f1 = performance.now();
    const boxes = 2 ** d;
    run.emit({
      bench: 'looped-certify', d, boxes, certified: r.certified, maxK: Number(r.maxK.toFixed(4)),
      certifyMs: Number((tCert - t0).toFixed(1)), boxesPerSec: Math.round(boxes / ((tCert - t0) / 1e3)),
      iterateMs: Number((t1 - tCert).toFixed(1)), converged: r.converged,
      baselineForwardMs: Number((f1 - f0).toFixed(1)), forwardPerSec: Math.round(boxes / ((f1 - f0) / 1e3)),
      certifyOverForward: Number(((tCert - t0) / (f1 - f0)).toFixed(2)),
    });
  }

  for (const d of iterDims) for (const activation of ['poly3', 'tanh2'] as const) {
    const net = preset(activation, { d, eta: 0.05 });
    const g = activation === 'poly3' ? (z: number) => 1.5 * z - 0.5 * z * z * z : (z: number) => Math.tanh(2 * z);
    for (const S of starts) {
      run.step(`iterate ${activation} d${d} S${S}`);
      const flopsPerStep = 2 * d * d;
      const steps = Math.max(5, Math.min(100000, Math.round(flopsTarget / (S * flopsPerStep))));
      if (S * d > 2 ** 24) continue;
      const x0 = { data: new Float64Array(S * d).fill(0.5), shape: [S, d] };
      const o = { W: net.W, b: net.b, x0, maxSteps: steps, earlyExit: false, history: false, signal: opts.signal };
      await iterate({ ...o, activation, maxSteps: Math.min(steps, 5) });  // warm-up
      const t0 = performance.now();
      await iterate({ ...o, activation });
      const ms = performance.now() - t0;
      const refSteps = Math.max(1, Math.round(steps / 4));
      const refMs = timeNative(net.W.data, d, S, refSteps, activation === 'poly3' ? 0 : 1) * (steps / refSteps);
      let jsMs: number | null = null;
      const jsFlops = flopsTarget / 20;  // 5·10⁷ at the default size
      if (S * steps * flopsPerStep <= jsFlops || S <= 256) {
        const jsSteps = Math.max(1, Math.min(steps, Math.round(jsFlops / (S * flopsPerStep))));
        const j0 = performance.now();
        await iterate({ ...o, maxSteps: jsSteps, activation: { fn: g } });
        jsMs = (performance.now() - j0) * (steps / jsSteps);
      }
      const startSteps = S * steps;
      run.emit({
        bench: 'looped-iterate', activation, d, S, steps, ms: Number(ms.toFixed(1)),
        startStepsPerSec: Math.round(startSteps / (ms / 1e3)),
        gflops: Number(((startSteps * flopsPerStep) / (ms / 1e3) / 1e9).toFixed(3)),
        refGflops: Number(((startSteps * flopsPerStep) / (refMs / 1e3) / 1e9).toFixed(3)),
        overRef: Number((refMs / ms).toFixed(2)),
        jsGflops: jsMs === null ? null : Number(((startSteps * flopsPerStep) / (jsMs / 1e3) / 1e9).toFixed(3)),
        overJs: jsMs === null ? null : Number((jsMs / ms).toFixed(2)),
      });
    }
  }
  return run.finish();
}
