/**
 * The fast CPU kernels (blocked SYRK / Cholesky, the SIMD level in use) against the fp64 oracle
 * (options.reference: native/polytope/polytope_ref.cc, an independent plain implementation of the
 * walk, not a second build of the fast path's code): same seed, same accept/reject decisions,
 * samples within 1e-8 (the two differ only in rounding; near a facet the walk amplifies it).
 * Covers the log and Lewis barriers, exact and subsampled Hessians, dense / CSR polytopes with d
 * up to 70 (several Cholesky panels), every built-in target (uniform, linear, Gaussian,
 * logistic), a callback target (the propose / finish halves), non-lazy chains, burn-in and
 * thinning, and spectrahedra (the disk and a 3×3 elliptope). Also: the lazy coin halves the
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

/** A box plus sparse random rows, as a CSR matrix. */
function csrPolytope(d: number, M: number, seed: number): lemma.polytope.ConvexBody {
  const u = rng(seed), g = normal(u);
  const rowPtr = [0], colIdx: number[] = [], values: number[] = [], b: number[] = [];
  for (let i = 0; i < M; i++) {
    if (i < 2 * d) { colIdx.push(i >> 1); values.push(i % 2 === 0 ? 1 : -1); b.push(1.5); }
    else {
      for (let j = 0; j < d; j++) if (u() < 0.3) { colIdx.push(j); values.push(g()); }
      b.push(1 + Math.abs(g()));
    }
    rowPtr.push(colIdx.length);
  }
  return lemma.polytope.halfspaces({ rowPtr, colIdx, values, shape: [M, d] }, b);
}

function logisticTarget(d: number): lemma.sample.Target {
  const g = normal(rng(17));
  const X: number[][] = [], y: number[] = [];
  for (let k = 0; k < 30; k++) {
    const r = Array.from({ length: d }, () => g());
    X.push(r);
    y.push(r[0] - r[1] + 0.5 * g() > 0 ? 1 : 0);
  }
  return lemma.sample.logistic(X, y, 2);
}

/** f = ‖x − 0.1‖² with zero density (+Infinity) where x₀ > 0.2: some proposals are refused by f. */
let refusedByF = 0;
function callbackTarget(): lemma.sample.Target {
  return lemma.sample.callback((p) => {
    const [C, d] = p.shape;
    const out = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      if (p.data[c * d] > 0.2) { out[c] = Infinity; refusedByF++; continue; }
      for (let j = 0; j < d; j++) out[c] += (p.data[c * d + j] - 0.1) ** 2;
    }
    return out;
  }, { lipschitz: 1 });
}

/** {x : [[1, x0, x1], [x0, 1, x2], [x1, x2, 1]] ⪰ 0}. */
function elliptope(): lemma.polytope.ConvexBody {
  const E = (a: number, b: number) => { const m = [[0, 0, 0], [0, 0, 0], [0, 0, 0]]; m[a][b] = m[b][a] = 1; return m; };
  return lemma.polytope.spectrahedron([E(0, 1), E(0, 2), E(1, 2)], [[-1, 0, 0], [0, -1, 0], [0, 0, -1]]);
}

const cases: Array<[string, () => lemma.polytope.ConvexBody, () => lemma.sample.Target, lemma.sample.DikinOptions]> = [
  ['log barrier, d = 70, M = 200', () => randomPolytope(70, 200, 1), () => lemma.sample.uniform(), { steps: 120 }],
  ['log barrier, gaussian target', () => randomPolytope(6, 30, 2), () => lemma.sample.gaussian([0.1, 0, 0, 0, 0, 0], 3), { steps: 300 }],
  ['lewis barrier', () => randomPolytope(5, 25, 3), () => lemma.sample.uniform(), { steps: 200, barrier: 'lewis' }],
  ['subsampled Hessian', () => randomPolytope(5, 80, 4), () => lemma.sample.uniform(), { steps: 200, hessian: 'subsample', hessianSamples: 30 }],
  ['spectrahedron', () => unitDisk(), () => lemma.sample.uniform(), { steps: 300 }],
  ['CSR body, linear target, non-lazy', () => csrPolytope(8, 40, 5), () => lemma.sample.linear([0.5, -0.3, 0.2, 0, 0.1, 0, 0, 0.4]), { steps: 200, lazy: false }],
  ['CSR body, Lewis barrier, subsampled Hessian', () => csrPolytope(5, 60, 6), () => lemma.sample.uniform(), { steps: 200, barrier: 'lewis', hessian: 'subsample', hessianSamples: 25 }],
  ['logistic target, burn-in and thinning', () => randomPolytope(4, 20, 7), () => logisticTarget(4), { steps: 240, burnIn: 50, thin: 4 }],
  ['callback target', () => randomPolytope(5, 25, 8), () => callbackTarget(), { steps: 150 }],
  ['spectrahedron 3×3 (elliptope), linear target', () => elliptope(), () => lemma.sample.linear([0.6, -0.4, 0.2]), { steps: 300 }],
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
    if (name === 'callback target') t.true(refusedByF > 0);  // the f = +Infinity branch ran
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
