/**
 * Uniform sampling (spec §3.9 tests 1, 3, 4): the cube [−1, 1]^d for d ∈ {2, 10}, the simplex
 * {x ≥ 0, Σx ≤ 1} (d = 4) and the unit disk as a spectrahedron, 10⁵ steps per chain after
 * burn-in. Per coordinate: mean within 3·SE of the closed form, variance within 3·SE, and a
 * KS test of the marginal on samples thinned to ≈ independence (p > 1e-3). SE = sd/√ESS with
 * the sampler's own multi-chain ESS. Fixed seeds.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import { coord, cube, ks, moments, simplex, thinned, unitDisk } from './helpers/polytope.js';

function checkMarginal(t: import('ava').ExecutionContext, r: lemma.sample.DikinResult, j: number, mean: number,
  variance: number, cdf: (v: number) => number, label: string) {
  const x = coord(r, j);
  const m = moments(x, r.ess[j]);
  const ksr = ks(thinned(x, x.length / r.ess[j]), cdf);
  t.log(`${label} x${j}: mean ${m.mean.toFixed(4)} ± ${m.seMean.toFixed(4)} (want ${mean.toFixed(4)}), var ${m.variance.toFixed(4)} ± ${m.seVar.toFixed(4)} (want ${variance.toFixed(4)}), ESS ${r.ess[j].toFixed(0)}, KS p ${ksr.p.toFixed(3)}`);
  t.true(Math.abs(m.mean - mean) <= 3 * m.seMean, `${label} x${j} mean`);
  t.true(Math.abs(m.variance - variance) <= 3 * m.seVar, `${label} x${j} variance`);
  t.true(ksr.p > 1e-3, `${label} x${j} KS p = ${ksr.p}`);
}

for (const [d, seed] of [[2, 11], [10, 12]] as const) {
  test(`uniform on the cube [-1, 1]^${d}: moments and KS per coordinate`, async (t) => {
    const body = cube(d);
    const r = await lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 4, steps: 100_000, burnIn: 2_000, seed });
    t.deepEqual(r.samples.shape, [4, 100_000, d]);
    t.is(r.device, 'cpu');
    for (let j = 0; j < d; j++) {
      t.true(r.rhat[j] < 1.05, `R-hat x${j} = ${r.rhat[j]}`);
      checkMarginal(t, r, j, 0, 1 / 3, (v) => Math.min(1, Math.max(0, (v + 1) / 2)), `cube${d}`);
    }
    for (const a of r.acceptance) t.true(a > 0.1 && a < 0.5, `acceptance ${a} (lazy: at most 1/2)`);
    body.dispose();
  });
}

test('uniform on the simplex (d = 4): E[x_i] = 1/(d+1), Beta(1, d) marginals', async (t) => {
  const d = 4;
  const body = simplex(d);
  const r = await lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 4, steps: 100_000, burnIn: 2_000, seed: 13 });
  const mean = 1 / (d + 1), variance = d / ((d + 1) ** 2 * (d + 2));
  for (let j = 0; j < d; j++) {
    checkMarginal(t, r, j, mean, variance, (v) => (v <= 0 ? 0 : v >= 1 ? 1 : 1 - (1 - v) ** d), 'simplex4');
  }
  body.dispose();
});

test('the unit disk as a spectrahedron: E[r²] = 1/2 and r² ~ U(0, 1)', async (t) => {
  const body = unitDisk();
  const r = await lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 4, steps: 100_000, burnIn: 2_000, seed: 14 });
  const [C, K] = r.samples.shape;
  const r2 = new Float64Array(C * K);
  for (let i = 0; i < C * K; i++) r2[i] = r.samples.data[2 * i] ** 2 + r.samples.data[2 * i + 1] ** 2;
  const ess = Math.min(r.ess[0], r.ess[1]);
  const m = moments(r2, ess);
  const ksr = ks(thinned(r2, r2.length / ess), (v) => Math.min(1, Math.max(0, v)));
  t.log(`E[r²] = ${m.mean.toFixed(4)} ± ${m.seMean.toFixed(4)}, KS p ${ksr.p.toFixed(3)}, acceptance ${Array.from(r.acceptance).map((a) => a.toFixed(3))}`);
  t.true(Math.abs(m.mean - 0.5) <= 3 * m.seMean);
  t.true(ksr.p > 1e-3);
  for (let j = 0; j < 2; j++) checkMarginal(t, r, j, 0, 0.25, (v) => {
    const u = Math.min(1, Math.max(-1, v));
    return 0.5 + (u * Math.sqrt(1 - u * u) + Math.asin(u)) / Math.PI;
  }, 'disk');
  body.dispose();
});
