/**
 * Hessian and barrier variants (spec §3.9 tests 5, 6):
 *   * exact vs subsampled Hessians (d = 5, M = 200: a rotated cube [−1, 1]^5 given by 150 scaled
 *     copies of its facets plus 50 redundant far-away halfspaces) hit the same moments: mean 0,
 *     E[x_i²] = 1/3 per coordinate, each within 3·SE, and agree with each other within 3·SE of
 *     the difference. Subsampling draws 60 rows per Hessian with fresh randomness every step.
 *   * the Lewis-weight barrier on the cube gives the same uniform moments;
 *   * reversibility in 1-D: on [0, 1] with f = 2x, consecutive-state bin pairs satisfy
 *     N(a→b) ≈ N(b→a) (one-step and two-step) within 4·√(N(a→b) + N(b→a)), and the bin
 *     frequencies match π within a χ² bound scaled by the autocorrelation time.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import { coord, cube, moments, normal, rng } from './helpers/polytope.js';

function rotatedCubeRows(d: number, seed: number) {
  const u = rng(seed), g = normal(u);
  // Random orthogonal Q by Gram–Schmidt.
  const Q: number[][] = [];
  for (let k = 0; k < d; k++) {
    let v = Array.from({ length: d }, g);
    for (const q of Q) { const dot = q.reduce((s, qi, i) => s + qi * v[i], 0); v = v.map((vi, i) => vi - dot * q[i]); }
    const n = Math.hypot(...v);
    Q.push(v.map((vi) => vi / n));
  }
  const A: number[][] = [], b: number[] = [];
  for (let copy = 0; copy < 15; copy++) {
    const s = 0.5 + 2 * u();
    for (const q of Q) { A.push(q.map((x) => s * x)); b.push(s); A.push(q.map((x) => -s * x)); b.push(s); }
  }
  for (let k = 0; k < 50; k++) {
    const v = Array.from({ length: d }, g), n = Math.hypot(...v);
    A.push(v.map((x) => x / n)); b.push(3 + u());  // ‖x‖ ≤ √5 < 3 on the cube: never binding
  }
  return { A, b };
}

test('exact and subsampled Hessians give the same moments (d = 5, M = 200)', async (t) => {
  const d = 5;
  const { A, b } = rotatedCubeRows(d, 3);
  t.is(A.length, 200);
  const body = lemma.polytope.halfspaces(A, b);
  // H counts each facet 15 times, so α = 15/d gives the plain cube's step size.
  const common = { chains: 4, steps: 30_000, burnIn: 1_000, alpha: 15 / d };
  const ex = await lemma.sample.dikin(body, lemma.sample.uniform(), { ...common, seed: 41 });
  const sub = await lemma.sample.dikin(body, lemma.sample.uniform(), { ...common, seed: 42, hessian: 'subsample', hessianSamples: 60 });
  t.is(ex.hessian, 'exact');
  t.is(sub.hessian, 'subsample');
  t.log(`acceptance exact ${ex.acceptance[0].toFixed(3)}, subsample ${sub.acceptance[0].toFixed(3)}`);
  for (let j = 0; j < d; j++) {
    const me = moments(coord(ex, j), ex.ess[j]);
    const ms = moments(coord(sub, j), sub.ess[j]);
    // E[x_j²] = 1/3 because the rotated cube has covariance Q(I/3)Qᵀ = I/3.
    t.log(`x${j}: exact ${me.mean.toFixed(4)}±${me.seMean.toFixed(4)} / ${me.variance.toFixed(4)}±${me.seVar.toFixed(4)}; subsample ${ms.mean.toFixed(4)}±${ms.seMean.toFixed(4)} / ${ms.variance.toFixed(4)}±${ms.seVar.toFixed(4)}`);
    for (const m of [me, ms]) {
      t.true(Math.abs(m.mean) <= 3 * m.seMean);
      t.true(Math.abs(m.variance - 1 / 3) <= 3 * m.seVar);
    }
    t.true(Math.abs(me.mean - ms.mean) <= 3 * Math.hypot(me.seMean, ms.seMean));
  }
  for (const a of [...ex.acceptance, ...sub.acceptance]) t.true(a > 0.05 && a <= 0.5);
  body.dispose();
});

test("hessian 'subsample' without hessianSamples falls back to exact when s >= M/2 (spec §3.5)", async (t) => {
  const body = cube(3);
  const r = await lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 1, steps: 10, hessian: 'subsample', seed: 1 });
  t.is(r.hessian, 'exact');
  body.dispose();
});

test('the Lewis-weight barrier samples the uniform cube', async (t) => {
  const d = 3;
  const body = cube(d);
  const r = await lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 4, steps: 20_000, burnIn: 1_000, barrier: 'lewis', seed: 43 });
  for (let j = 0; j < d; j++) {
    const m = moments(coord(r, j), r.ess[j]);
    t.log(`x${j}: mean ${m.mean.toFixed(4)} ± ${m.seMean.toFixed(4)}, var ${m.variance.toFixed(4)} ± ${m.seVar.toFixed(4)}`);
    t.true(Math.abs(m.mean) <= 3 * m.seMean);
    t.true(Math.abs(m.variance - 1 / 3) <= 3 * m.seVar);
  }
  body.dispose();
});

test('reversibility in 1-D: transition counts are symmetric and bins match π', async (t) => {
  const body = lemma.polytope.halfspaces([[1], [-1]], [1, 0]);
  const c = 2;
  const r = await lemma.sample.dikin(body, lemma.sample.linear([c]), { chains: 1, steps: 300_000, burnIn: 1_000, seed: 44, lazy: false });
  const x = r.samples.data;
  const B = 8;
  const bin = (v: number) => Math.min(B - 1, Math.floor(v * B));
  for (const lag of [1, 2]) {
    const N = Array.from({ length: B }, () => new Array(B).fill(0));
    for (let i = 0; i + lag < x.length; i++) N[bin(x[i])][bin(x[i + lag])]++;
    let worst = 0, moves = 0;
    for (let a = 0; a < B; a++) for (let b = a + 1; b < B; b++) {
      const s = N[a][b] + N[b][a];
      moves += s;
      if (s > 0) worst = Math.max(worst, Math.abs(N[a][b] - N[b][a]) / Math.sqrt(s));
    }
    t.log(`lag ${lag}: ${moves} cross-bin transitions, worst |N(a→b) − N(b→a)|/√(sum) = ${worst.toFixed(2)}`);
    t.true(moves > 10_000);
    t.true(worst < 4);
  }
  // Stationary bin frequencies vs π ∝ exp(−2x).
  const counts = new Array(B).fill(0);
  for (const v of x) counts[bin(v)]++;
  const Z = -Math.expm1(-c) / c;
  const tau = x.length / r.ess[0];
  let chi2 = 0;
  for (let k = 0; k < B; k++) {
    const p = (Math.exp(-c * k / B) - Math.exp(-c * (k + 1) / B)) / c / Z;
    chi2 += (counts[k] - p * x.length) ** 2 / (p * x.length);
  }
  // χ² with B − 1 dof, inflated by the integrated autocorrelation time; 99.9% quantile of χ²₇ ≈ 24.3.
  t.log(`χ²/τ = ${(chi2 / tau).toFixed(2)} (τ = ${tau.toFixed(1)})`);
  t.true(chi2 / tau < 24.3);
  body.dispose();
});
