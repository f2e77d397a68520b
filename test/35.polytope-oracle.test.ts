/**
 * The fast CPU kernels (blocked SYRK / Cholesky, the SIMD level in use) against the scalar fp64
 * oracle (options.reference): same seed, same accept/reject decisions, samples within 1e-8
 * (the kernels differ only in rounding; near a facet the walk amplifies it). Covers the log and
 * Lewis barriers, exact and subsampled Hessians, dense / CSR polytopes with d up to 70 (several
 * Cholesky panels), a Gaussian target, and a spectrahedron. Also: the lazy coin halves the
 * moves, and non-lazy chains move more.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import { cube, normal, rng, unitDisk } from './helpers/polytope.js';

function randomPolytope(d: number, M: number, seed: number): lemma.polytope.ConvexBody {
  const g = normal(rng(seed));
  const A: number[][] = [], b: number[] = [];
  for (let j = 0; j < d; j++) {
    const r = new Array(d).fill(0); r[j] = 1; A.push(r); b.push(2);
    const s = new Array(d).fill(0); s[j] = -1; A.push(s); b.push(2);
  }
  while (A.length < M) { A.push(Array.from({ length: d }, () => g() / Math.sqrt(d))); b.push(1 + Math.abs(g())); }
  return lemma.polytope.halfspaces(A, b);
}

const cases: Array<[string, () => lemma.polytope.ConvexBody, () => lemma.sample.Target, lemma.sample.DikinOptions]> = [
  ['log barrier, d = 70, M = 200', () => randomPolytope(70, 200, 1), () => lemma.sample.uniform(), { steps: 120 }],
  ['log barrier, gaussian target', () => randomPolytope(6, 30, 2), () => lemma.sample.gaussian([0.1, 0, 0, 0, 0, 0], 3), { steps: 300 }],
  ['lewis barrier', () => randomPolytope(5, 25, 3), () => lemma.sample.uniform(), { steps: 200, barrier: 'lewis' }],
  ['subsampled Hessian', () => randomPolytope(5, 80, 4), () => lemma.sample.uniform(), { steps: 200, hessian: 'subsample', hessianSamples: 30 }],
  ['spectrahedron', () => unitDisk(), () => lemma.sample.uniform(), { steps: 300 }],
];
for (const [name, body, target, opts] of cases) {
  test(`fast kernels = fp64 oracle: ${name}`, async (t) => {
    const b = body();
    const o = { chains: 3, burnIn: 0, seed: 99, ...opts };
    const fast = await lemma.sample.dikin(b, target(), o);
    const ref = await lemma.sample.dikin(b, target(), { ...o, reference: true });
    t.is(ref.kernel, 'ref');
    t.not(fast.kernel, 'ref');
    t.deepEqual(Array.from(fast.acceptance), Array.from(ref.acceptance));
    let err = 0;
    fast.samples.data.forEach((v, i) => { err = Math.max(err, Math.abs(v - ref.samples.data[i])); });
    t.log(`${fast.kernel} vs ref: max |Δx| = ${err.toExponential(2)}, acceptance ${Array.from(fast.acceptance).map((a) => a.toFixed(2))}`);
    t.true(err <= 1e-8);
    t.true(fast.acceptance.every((a) => a > 0.02));
    b.dispose();
  });
}

test('the lazy chain stays put on about half of the steps', async (t) => {
  const b = cube(4);
  const lazy = await lemma.sample.dikin(b, lemma.sample.uniform(), { chains: 4, steps: 20_000, seed: 5 });
  const eager = await lemma.sample.dikin(b, lemma.sample.uniform(), { chains: 4, steps: 20_000, seed: 5, lazy: false });
  const mean = (a: Float64Array) => a.reduce((s, v) => s + v, 0) / a.length;
  t.log(`acceptance lazy ${mean(lazy.acceptance).toFixed(3)}, non-lazy ${mean(eager.acceptance).toFixed(3)}`);
  t.true(Math.abs(mean(lazy.acceptance) / mean(eager.acceptance) - 0.5) < 0.05);
  b.dispose();
});
