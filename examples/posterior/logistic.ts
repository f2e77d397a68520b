/**
 * Samples the posterior of a Bayesian logistic regression restricted to a polytope with
 * lemma.sample.dikin (soft-threshold Dikin walk, several chains), prints the diagnostics (R-hat,
 * ESS, acceptance), checks every sample against the polytope, compares the posterior mean with an
 * independent reference (self-normalised importance sampling from a widened Laplace
 * approximation, in TypeScript), and draws the samples of (θ1, θ2) with their marginals as an SVG
 * (vega-lite).
 *
 * Model: θ = (intercept, θ1, θ2), P(y = 1 | x) = σ(θ0 + θ1 x1 + θ2 x2), prior N(0, 10² I), n
 * seeded observations drawn with θ = (0.5, 1, 1). The body: the box |θi| ≤ 3 and the order
 * constraint θ2 ≤ θ1 ("the second feature's effect is no larger than the first's"), which cuts
 * the unconstrained posterior through its middle, so the restriction matters.
 *
 *   node --import tsx examples/posterior/logistic.ts            # n 200, 8 chains × 20000 steps
 *   node --import tsx examples/posterior/logistic.ts --small    # n 100, 4 chains × 20000 steps (test/96)
 *   ... [--out chart.svg]                                       # default: os.tmpdir()/lemma-posterior.svg
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as lemma from '../../lib/index.js';

export interface PosteriorConfig {
  n: number;
  chains: number;
  steps: number;
  seed: number;
  /** Importance samples of the reference. */
  isSamples: number;
}

export const FULL: PosteriorConfig = { n: 200, chains: 8, steps: 20000, seed: 11, isSamples: 400_000 };
export const SMALL: PosteriorConfig = { n: 100, chains: 4, steps: 20000, seed: 11, isSamples: 200_000 };

export const PRIOR_SCALE = 10;
export const D = 3;
/** The body {θ : Aθ ≤ b}: |θi| ≤ 3 and θ2 − θ1 ≤ 0. */
export const A = [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1], [0, -1, 1]];
export const b = [3, 3, 3, 3, 3, 3, 0];

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
}

/** Seeded data: rows (1, x1, x2), x ~ N(0, I), labels in {0, 1}. */
export function makeData(n: number, seed: number): { X: number[][]; y: number[] } {
  const u = rng(seed);
  const g = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  const truth = [0.5, 1, 1];
  const X: number[][] = [], y: number[] = [];
  for (let i = 0; i < n; i++) {
    const row = [1, g(), g()];
    const z = row[0] * truth[0] + row[1] * truth[1] + row[2] * truth[2];
    X.push(row);
    y.push(u() < 1 / (1 + Math.exp(-z)) ? 1 : 0);
  }
  return { X, y };
}

/** f(θ) = −log posterior (up to a constant), as lemma.sample.logistic defines it. */
export function negLogPost(X: number[][], y: number[], th: ArrayLike<number>): number {
  let f = 0;
  for (let i = 0; i < X.length; i++) {
    let z = 0;
    for (let j = 0; j < D; j++) z += X[i][j] * th[j];
    const m = (y[i] === 1 ? 1 : -1) * z;
    f += m > 0 ? Math.log1p(Math.exp(-m)) : -m + Math.log1p(Math.exp(m));
  }
  let r = 0;
  for (let j = 0; j < D; j++) r += th[j] * th[j];
  return f + r / (2 * PRIOR_SCALE ** 2);
}

export function inside(th: ArrayLike<number>): boolean {
  return A.every((row, i) => row[0] * th[0] + row[1] * th[1] + row[2] * th[2] <= b[i]);
}

/** Inverse, Cholesky factor of a 3×3 symmetric positive-definite matrix (row-major arrays). */
function chol(S: number[][]): number[][] {
  const L = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (let i = 0; i < D; i++) {
    for (let j = 0; j <= i; j++) {
      let s = S[i][j];
      for (let k = 0; k < j; k++) s -= L[i][k] * L[j][k];
      L[i][j] = i === j ? Math.sqrt(s) : s / L[j][j];
    }
  }
  return L;
}
function solve(S: number[][], v: number[]): number[] {
  const L = chol(S);
  const z = [0, 0, 0], x = [0, 0, 0];
  for (let i = 0; i < D; i++) {
    let s = v[i];
    for (let k = 0; k < i; k++) s -= L[i][k] * z[k];
    z[i] = s / L[i][i];
  }
  for (let i = D - 1; i >= 0; i--) {
    let s = z[i];
    for (let k = i + 1; k < D; k++) s -= L[k][i] * x[k];
    x[i] = s / L[i][i];
  }
  return x;
}

/**
 * Reference posterior mean by self-normalised importance sampling: proposal N(mode, 1.5²·H⁻¹)
 * around the unconstrained mode (Newton), weights exp(−f)/q, zero outside the body.
 * @returns the mean, its Monte Carlo standard error per coordinate, and the importance ESS.
 */
export function referenceMean(X: number[][], y: number[], M: number, seed: number): { mean: number[]; se: number[]; ess: number } {
  let th = [0, 0, 0];
  let H: number[][] = [];
  for (let it = 0; it < 50; it++) {
    const g = th.map((t) => t / PRIOR_SCALE ** 2);
    H = [0, 1, 2].map((i) => [0, 1, 2].map((j) => (i === j ? 1 / PRIOR_SCALE ** 2 : 0)));
    for (let i = 0; i < X.length; i++) {
      const z = X[i][0] * th[0] + X[i][1] * th[1] + X[i][2] * th[2];
      const p = 1 / (1 + Math.exp(-z));
      for (let j = 0; j < D; j++) {
        g[j] += (p - y[i]) * X[i][j];
        for (let k = 0; k < D; k++) H[j][k] += p * (1 - p) * X[i][j] * X[i][k];
      }
    }
    const step = solve(H, g);
    th = th.map((t, j) => t - step[j]);
    if (Math.hypot(...step) < 1e-12) break;
  }
  const scale = 1.5;
  // Proposal covariance C = s² H⁻¹: θ = mode + s·L⁻ᵀ z with H = L Lᵀ.
  const L = chol(H);
  const u = rng(seed);
  const g = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  const f0 = negLogPost(X, y, th);
  const pts: number[][] = [], logw: number[] = [];
  let maxLw = -Infinity;
  for (let s = 0; s < M; s++) {
    const z = [g(), g(), g()];
    // Solve Lᵀ e = z.
    const e = [0, 0, 0];
    for (let i = D - 1; i >= 0; i--) {
      let acc = z[i];
      for (let k = i + 1; k < D; k++) acc -= L[k][i] * e[k];
      e[i] = acc / L[i][i];
    }
    const p = th.map((t, j) => t + scale * e[j]);
    if (!inside(p)) continue;
    const lw = -(negLogPost(X, y, p) - f0) + 0.5 * (z[0] * z[0] + z[1] * z[1] + z[2] * z[2]);
    pts.push(p);
    logw.push(lw);
    if (lw > maxLw) maxLw = lw;
  }
  const w = logw.map((l) => Math.exp(l - maxLw));
  const W = w.reduce((a, c) => a + c, 0);
  const mean = [0, 1, 2].map((j) => pts.reduce((a, p, i) => a + w[i] * p[j], 0) / W);
  const se = [0, 1, 2].map((j) => Math.sqrt(pts.reduce((a, p, i) => a + (w[i] * (p[j] - mean[j])) ** 2, 0)) / W);
  const ess = W * W / w.reduce((a, c) => a + c * c, 0);
  return { mean, se, ess };
}

export interface PosteriorResult {
  samples: lemma.Tensor<Float64Array>;  // [C, kept, 3]
  rhat: Float64Array;
  ess: Float64Array;
  acceptance: Float64Array;
  mean: number[];
  sd: number[];
  outside: number;
  reference: { mean: number[]; se: number[]; ess: number };
  seconds: number;
}

export async function run(cfg: PosteriorConfig): Promise<PosteriorResult> {
  const { X, y } = makeData(cfg.n, cfg.seed);
  const body = lemma.polytope.halfspaces(A, b);
  const target = lemma.sample.logistic(X, y, PRIOR_SCALE);
  const t0 = performance.now();
  const r = await lemma.sample.dikin(body, target, { chains: cfg.chains, steps: cfg.steps, burnIn: Math.ceil(cfg.steps / 2), seed: cfg.seed });
  const seconds = (performance.now() - t0) / 1000;
  body.dispose?.();
  const s = r.samples.data, total = s.length / D;
  const mean = [0, 0, 0], sq = [0, 0, 0];
  let outside = 0;
  for (let i = 0; i < total; i++) {
    const p = s.subarray(i * D, i * D + D);
    if (!inside(p)) outside++;
    for (let j = 0; j < D; j++) {
      mean[j] += p[j] / total;
      sq[j] += p[j] * p[j] / total;
    }
  }
  const sd = mean.map((m, j) => Math.sqrt(Math.max(0, sq[j] - m * m)));
  const reference = referenceMean(X, y, cfg.isSamples, cfg.seed + 1);
  return { samples: r.samples, rhat: r.rhat, ess: r.ess, acceptance: r.acceptance, mean, sd, outside, reference, seconds };
}

/** An SVG: the samples of (θ1, θ2) (at most 2000 points), their histograms on the margins, the constraint θ2 = θ1. */
export async function chart(samples: lemma.Tensor<Float64Array>): Promise<string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const vega = require('vega');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const vl = require('vega-lite');
  const s = samples.data, total = s.length / D;
  const every = Math.max(1, Math.ceil(total / 2000));
  const values: Array<{ t1: number; t2: number }> = [];
  for (let i = 0; i < total; i += every) values.push({ t1: s[i * D + 1], t2: s[i * D + 2] });
  const lo = Math.min(...values.map((v) => Math.min(v.t1, v.t2))), hi = Math.max(...values.map((v) => Math.max(v.t1, v.t2)));
  const domain = [Math.floor(lo * 4) / 4, Math.ceil(hi * 4) / 4];
  const x = { field: 't1', type: 'quantitative', title: 'θ1', scale: { domain } };
  const yEnc = { field: 't2', type: 'quantitative', title: 'θ2', scale: { domain } };
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `Bayesian logistic regression on {|θi| ≤ 3, θ2 ≤ θ1}: Dikin-walk samples (${values.length} shown)`,
    data: { values },
    vconcat: [
      { width: 360, height: 80, mark: 'bar', encoding: { x: { ...x, bin: { maxbins: 40, extent: domain }, title: null }, y: { aggregate: 'count', title: 'count' } } },
      {
        hconcat: [
          {
            width: 360, height: 360,
            layer: [
              { mark: { type: 'point', size: 6, opacity: 0.35, filled: true }, encoding: { x, y: yEnc } },
              { data: { values: [{ t1: domain[0], t2: domain[0] }, { t1: domain[1], t2: domain[1] }] }, mark: { type: 'line', color: 'firebrick' }, encoding: { x, y: yEnc } },
            ],
          },
          { width: 80, height: 360, mark: 'bar', encoding: { y: { ...yEnc, bin: { maxbins: 40, extent: domain }, title: null }, x: { aggregate: 'count', title: 'count' } } },
        ],
      },
    ],
  };
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const cfg = args.includes('--small') ? SMALL : FULL;
  const outAt = args.indexOf('--out');
  const file = outAt >= 0 ? args[outAt + 1] : path.join(os.tmpdir(), 'lemma-posterior.svg');
  const caps = lemma.capabilities();
  const gpu = lemma.cudaAvailable() && !caps.cuda.emulated;
  console.log(gpu ? 'a GPU is present: the walk runs on the CPU here (device "auto" moves to the GPU from 256 chains)' : 'no GPU: CPU only');
  console.log(`Bayesian logistic regression, n = ${cfg.n}, prior N(0, ${PRIOR_SCALE}² I), on {|θi| ≤ 3, θ2 ≤ θ1}; ${cfg.chains} chains × ${cfg.steps} steps after ${Math.ceil(cfg.steps / 2)} burn-in, seed ${cfg.seed}`);
  const r = await run(cfg);
  const fmt = (a: ArrayLike<number>, k = 3) => Array.from(a, (v) => v.toFixed(k)).join(', ');
  console.log(`walk: ${r.seconds.toFixed(2)} s; acceptance per chain ${fmt(r.acceptance, 2)}`);
  console.log(`R-hat (θ0, θ1, θ2): ${fmt(r.rhat)}   ESS: ${fmt(r.ess, 0)}`);
  console.log(`samples outside the body: ${r.outside} of ${r.samples.data.length / D}`);
  console.log(`posterior mean ${fmt(r.mean)}  (sd ${fmt(r.sd)})`);
  console.log(`importance-sampling reference ${fmt(r.reference.mean)}  (its se ${fmt(r.reference.se, 4)}, importance ESS ${r.reference.ess.toFixed(0)})`);
  const z = r.mean.map((m, j) => (m - r.reference.mean[j]) / Math.sqrt((r.sd[j] / Math.sqrt(r.ess[j])) ** 2 + r.reference.se[j] ** 2));
  console.log(`difference in Monte Carlo standard errors: ${fmt(z, 2)}`);
  fs.writeFileSync(file, await chart(r.samples));
  console.log(`chart: ${file}`);
  const ok = r.outside === 0 && Array.from(r.rhat).every((v) => v < 1.1) && z.every((v) => Math.abs(v) < 4);
  if (!ok) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
