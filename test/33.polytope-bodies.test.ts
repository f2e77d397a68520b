/**
 * Bodies and the sampler's contract: bad bodies raise ERR_INFEASIBLE with the reason (empty,
 * flat, unbounded, rank-deficient; never a hang, never NaN samples), bad starts are refused,
 * every validation message (by regex), contains() and analyticCenter(), CSR = dense (identical
 * chains), seeds reproduce chains whatever the thread count, AbortSignal returns what was
 * drawn, onProgress reports, dispose() is idempotent and use after it is ERR_DISPOSED.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import { cube, cubeRows, simplex } from './helpers/polytope.js';

const infeasible: Array<[string, () => lemma.polytope.ConvexBody, RegExp]> = [
  ['empty', () => lemma.polytope.halfspaces([[1], [-1]], [-1, 0]), /^the body is empty: no point satisfies every constraint/],
  ['flat (x ≤ 0 and x ≥ 0)', () => lemma.polytope.halfspaces([[1, 0], [-1, 0], [0, 1], [0, -1]], [0, 0, 1, 1]), /^the body has an empty interior \(it is flat/],
  ['unbounded (an orthant)', () => lemma.polytope.halfspaces([[-1, 0], [0, -1]], [1, 1]), /^the body is unbounded/],
  ['rank-deficient A (a slab)', () => lemma.polytope.halfspaces([[1, 0], [-1, 0]], [1, 1]), /A has rank < d, so the body contains a line/],
  ['unbounded spectrahedron (x₁ ≥ 0 as a 1×1 LMI)', () => lemma.polytope.spectrahedron([[[1]], [[0]]], [[0]]), /unbounded|rank < d/],
  ['empty spectrahedron', () => lemma.polytope.spectrahedron([[[1, 0], [0, -1]]], [[1, 0], [0, 1]]), /^the body is empty/],
];
for (const [name, make, re] of infeasible) {
  test(`ERR_INFEASIBLE: ${name}`, async (t) => {
    const body = make();
    const e1 = await t.throwsAsync(body.analyticCenter(), { instanceOf: lemma.LemmaError, message: re });
    t.is(e1?.code, 'ERR_INFEASIBLE');
    const e2 = await t.throwsAsync(lemma.sample.dikin(body, lemma.sample.uniform(), { steps: 10 }), { instanceOf: lemma.LemmaError, message: re });
    t.is(e2?.code, 'ERR_INFEASIBLE');
    body.dispose();
  });
}

test('ERR_INFEASIBLE at construction: a zero row with b ≤ 0', (t) => {
  const e = t.throws(() => lemma.polytope.halfspaces([[1], [0]], [1, -2]), { instanceOf: lemma.LemmaError, message: /^the body is empty: constraint 1 reads 0 <= -2/ });
  t.is(e?.code, 'ERR_INFEASIBLE');
});

test('analyticCenter: the centre of a box, of a simplex, and of a body that excludes the origin', async (t) => {
  const box = lemma.polytope.halfspaces(cubeRows(3, 1, 3).A, cubeRows(3, 1, 3).b);
  const c = await box.analyticCenter();
  for (const v of c) t.true(Math.abs(v - 2) < 1e-9);
  const s = simplex(4);
  const cs = await s.analyticCenter();
  for (const v of cs) t.true(Math.abs(v - 1 / 5) < 1e-9, `simplex centre ${v}`);
  const disk = lemma.polytope.spectrahedron([[[1, 0], [0, -1]], [[0, 1], [1, 0]]], [[-1, 0], [0, -1]]);
  const cd = await disk.analyticCenter();
  t.true(Math.hypot(cd[0], cd[1]) < 1e-9);
  t.true(box.contains([2, 2, 2]));
  t.false(box.contains([0, 2, 2]));
  t.false(box.contains([1, 2, 2]), 'the boundary counts as outside');
  t.true(disk.contains([0.5, 0.5]));
  t.false(disk.contains([0.8, 0.8]));
  for (const b of [box, s, disk]) b.dispose();
});

test('bad starts are refused with the reason', async (t) => {
  const body = cube(2);
  await t.throwsAsync(lemma.sample.dikin(body, lemma.sample.uniform(), { start: [1, 0] }), {
    instanceOf: RangeError,
    message: /^Expected a point in the interior of the body \(constraint 0 has slack 0\) for options\.start but received \[1, 0\] of type array$/,
  });
  await t.throwsAsync(lemma.sample.dikin(body, lemma.sample.uniform(), { start: [3, 0] }), { instanceOf: RangeError, message: /constraint 0 has slack -2/ });
  await t.throwsAsync(lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 2, start: [[0, 0], [0, 1.5]] }), {
    instanceOf: RangeError, message: /^Expected a point in the interior of the body \(constraint 2 has slack -0\.5\) for options\.start \(chain 1\)/,
  });
  await t.throwsAsync(lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 3, start: [[0, 0], [0, 0.5]] }), {
    instanceOf: lemma.LemmaError, message: /^Expected one point of 2 numbers or \[3, 2\] \(one per chain\) for options\.start/,
  });
  await t.throwsAsync(lemma.sample.dikin(body, lemma.sample.uniform(), { start: [0, NaN] }), { instanceOf: RangeError, message: /^Expected a finite number for options\.start\[1\] but received NaN/ });
  const r = await lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 2, start: [[0.9, 0.9], [-0.9, 0.1]], steps: 4, burnIn: 0, seed: 5 });
  t.is(r.samples.shape[1], 4);
  body.dispose();
});

const body2 = cube(2);
const typeErrors: Array<[string, () => unknown, RegExp]> = [
  ['A a string', () => lemma.polytope.halfspaces('A' as never, [1]), /^Expected a tensor, an array of rows or a CSR matrix for A but received "A" of type string$/],
  ['b not an array', () => lemma.polytope.halfspaces([[1]], 1 as never), /^Expected a Float64Array, Float32Array or array of numbers for b but received 1 of type number$/],
  ['A entry a string', () => lemma.polytope.halfspaces([[1, '2' as never]], [1]), /^Expected a number for A\[0\]\[1\] but received "2" of type string$/],
  ['Ai not matrices', () => lemma.polytope.spectrahedron(5 as never, [[1]]), /^Expected an array of matrices or a tensor \[d, n, n\] for Ai but received 5/],
  ['body not a body', () => lemma.sample.dikin({} as never, lemma.sample.uniform()), /^Expected a body from lemma\.polytope\.halfspaces\(\) or spectrahedron\(\) for body but received a Object of type object$/],
  ['target not a target', () => lemma.sample.dikin(body2, (() => 0) as never), /^Expected a target from lemma\.sample\.uniform\(\)/],
  ['options not an object', () => lemma.sample.dikin(body2, lemma.sample.uniform(), 3 as never), /^Expected an options object for options but received 3 of type number$/],
  ['chains a string', () => lemma.sample.dikin(body2, lemma.sample.uniform(), { chains: '2' as never }), /^Expected an integer between 1 and 1048576 for options\.chains but received "2" of type string$/],
  ['lazy a number', () => lemma.sample.dikin(body2, lemma.sample.uniform(), { lazy: 1 as never }), /^Expected a boolean for options\.lazy but received 1 of type number$/],
  ['signal not a signal', () => lemma.sample.dikin(body2, lemma.sample.uniform(), { signal: {} as never }), /^Expected an AbortSignal for options\.signal/],
  ['onProgress not a function', () => lemma.sample.dikin(body2, lemma.sample.uniform(), { onProgress: 1 as never }), /^Expected a function for options\.onProgress but received 1/],
  ['eta a string', () => lemma.sample.dikin(body2, lemma.sample.uniform(), { eta: 'x' as never }), /^Expected a positive number or Infinity for options\.eta but received "x"/],
  ['callback fn', () => lemma.sample.callback(3 as never, { lipschitz: 1 }), /^Expected a function for fn but received 3 of type number$/],
  ['callback without lipschitz', () => lemma.sample.callback(() => [0], {} as never), /^Expected a finite number at least 0 for options\.lipschitz but received undefined/],
  ['logistic priorScale', () => lemma.sample.logistic([[1]], [1], '1' as never), /^Expected a positive number \(Infinity: flat prior\) for priorScale but received "1"/],
  ['john leverage', () => lemma.polytope.johnEllipsoid([[1]], { leverage: 5 as never }), /^Expected one of 'exact', 'sketch' for options\.leverage but received 5 of type number$/],
];
for (const [name, fn, re] of typeErrors) {
  test(`TypeError: ${name}`, async (t) => {
    await t.throwsAsync(async () => fn(), { instanceOf: TypeError, message: re });
  });
}

const rangeErrors: Array<[string, () => unknown, RegExp]> = [
  ['A entry Infinity', () => lemma.polytope.halfspaces([[Infinity]], [1]), /^Expected a finite number for A\[0\]\[0\] but received Infinity of type number$/],
  ['chains 0', () => lemma.sample.dikin(body2, lemma.sample.uniform(), { chains: 0 }), /^Expected an integer between 1 and 1048576 for options\.chains but received 0 of type number$/],
  ['steps fractional', () => lemma.sample.dikin(body2, lemma.sample.uniform(), { steps: 1.5 }), /^Expected an integer between 0 and 1000000000 for options\.steps but received 1\.5/],
  ['thin 0', () => lemma.sample.dikin(body2, lemma.sample.uniform(), { thin: 0 }), /^Expected an integer between 1 and 1000000000 for options\.thin but received 0/],
  ['alpha 0', () => lemma.sample.dikin(body2, lemma.sample.uniform(), { alpha: 0 }), /^Expected a finite number greater than 0 for options\.alpha but received 0/],
  ['eta -1', () => lemma.sample.dikin(body2, lemma.sample.uniform(), { eta: -1 }), /^Expected a positive number or Infinity for options\.eta but received -1/],
  ['barrier', () => lemma.sample.dikin(body2, lemma.sample.uniform(), { barrier: 'volumetric' as never }), /^Expected one of 'log', 'lewis' for options\.barrier but received "volumetric"/],
  ['hessian', () => lemma.sample.dikin(body2, lemma.sample.uniform(), { hessian: 'sketch' as never }), /^Expected one of 'exact', 'subsample' for options\.hessian but received "sketch"/],
  ['hessianSamples without subsample', () => lemma.sample.dikin(body2, lemma.sample.uniform(), { hessianSamples: 10 }), /^Expected hessian: 'subsample' alongside it for options\.hessianSamples but received 10/],
  ['seed negative', () => lemma.sample.dikin(body2, lemma.sample.uniform(), { seed: -1 }), /^Expected an integer between 0 and 9007199254740991 for options\.seed but received -1/],
  ['device gpu', () => lemma.sample.dikin(body2, lemma.sample.uniform(), { device: 'gpu' as never }), /^Expected one of 'auto', 'cpu', 'cuda' for options\.device but received "gpu"/],
  ['gaussian precision not PD', () => lemma.sample.gaussian([0, 0], [[1, 2], [2, 1]]), /^Expected a positive-definite matrix for precision/],
  ['gaussian precision not symmetric', () => lemma.sample.gaussian([0, 0], [[1, 0.5], [0, 1]]), /^Expected a symmetric matrix for precision/],
  ['gaussian precision 0', () => lemma.sample.gaussian([0], 0), /^Expected a finite number greater than 0 for precision but received 0/],
  ['logistic label 2', () => lemma.sample.logistic([[1], [2]], [1, 2], 1), /^Expected a label in \{0, 1\} or \{-1, 1\} for y\[1\] but received 2/],
  ['callback lipschitz -1', () => lemma.sample.callback(() => [0], { lipschitz: -1 }), /^Expected a finite number at least 0 for options\.lipschitz but received -1/],
  ['CSR colIdx out of range', () => lemma.polytope.halfspaces({ rowPtr: [0, 1], colIdx: [2], values: [1], shape: [1, 2] }, [1]), /^Expected a column index between 0 and 1 for A\.colIdx\[0\] but received 2/],
  ['CSR columns not increasing', () => lemma.polytope.halfspaces({ rowPtr: [0, 2], colIdx: [1, 0], values: [1, 1], shape: [1, 2] }, [1]), /^Expected column indices that strictly increase within a row for A\.colIdx\[1\]/],
  ['john epsilon 0', () => lemma.polytope.johnEllipsoid([[1]], { epsilon: 0 }), /^Expected a finite number between 0 and 1000 for options\.epsilon but received 0/],
  ['lewis p 0', () => lemma.polytope.lewisWeights(body2, [0, 0], { p: 0 }), /^Expected a finite number between 0 and 1000000 for options\.p but received 0/],
  ['lewis x outside', () => lemma.polytope.lewisWeights(body2, [2, 0], { p: 4 }), /^Expected a point in the interior of the body \(constraint 0 has slack -1\) for x/],
  ['lewis on a spectrahedron-only option', () => lemma.sample.dikin(lemma.polytope.spectrahedron([[[1]]], [[-1]]), lemma.sample.uniform(), { barrier: 'lewis' }), /^Expected a polytope \(this barrier \/ Hessian option needs one\) for body/],
];
for (const [name, fn, re] of rangeErrors) {
  test(`RangeError: ${name}`, async (t) => {
    await t.throwsAsync(async () => fn(), { instanceOf: RangeError, message: re });
  });
}

const shapeErrors: Array<[string, () => unknown, RegExp]> = [
  ['b too short', () => lemma.polytope.halfspaces([[1], [-1]], [1]), /^Expected 2 entries for b but received \[1\]/],
  ['ragged A', () => lemma.polytope.halfspaces([[1, 0], [1]], [1, 1]), /^Expected a row of length 2 for A\[1\] but received \[1\]/],
  ['tensor A rank 1', () => lemma.polytope.halfspaces({ data: new Float64Array(2), shape: [2] }, [1, 1]), /^Expected a rank-2 shape \[M, d\] for A\.shape but received \[2\]/],
  ['CSR rowPtr length', () => lemma.polytope.halfspaces({ rowPtr: [0], colIdx: [], values: [], shape: [1, 2] }, [1]), /^Expected 2 entries \(M \+ 1\) for A\.rowPtr/],
  ['spectrahedron C size', () => lemma.polytope.spectrahedron([[[1, 0], [0, 1]]], [[1]]), /^Expected an 2×2 matrix \(like Ai\[0\]\) for C/],
  ['target dimension', () => lemma.sample.dikin(body2, lemma.sample.linear([1, 2, 3])), /^Expected a target of dimension 2 \(the body's\) for target/],
];
for (const [name, fn, re] of shapeErrors) {
  test(`LemmaError ERR_SHAPE: ${name}`, async (t) => {
    const e = await t.throwsAsync(async () => fn(), { instanceOf: lemma.LemmaError, message: re });
    t.is(e?.code, 'ERR_SHAPE');
  });
}

test('a non-symmetric spectrahedron matrix is refused by the native check', (t) => {
  const e = t.throws(() => lemma.polytope.spectrahedron([[[1, 1], [0, 1]]], [[0, 0], [0, 0]]), { message: /A_0 is not symmetric/ });
  t.is((e as lemma.LemmaError).code, 'ERR_RANGE');
});

test('device cuda without a usable GPU: ERR_CUDA_UNAVAILABLE', async (t) => {
  if (lemma.cudaAvailable()) return t.pass('a GPU is usable here: covered by test/gpu');
  const e = await t.throwsAsync(lemma.sample.dikin(body2, lemma.sample.uniform(), { device: 'cuda', steps: 5 }), { instanceOf: lemma.LemmaError });
  t.is(e?.code, 'ERR_CUDA_UNAVAILABLE');
});

test('CSR and dense A give identical chains; seeds reproduce; thread count does not matter', async (t) => {
  const d = 3;
  const { A, b } = cubeRows(d);
  const rowPtr: number[] = [0], colIdx: number[] = [], values: number[] = [];
  A.forEach((r) => { r.forEach((v, j) => { if (v !== 0) { colIdx.push(j); values.push(v); } }); rowPtr.push(colIdx.length); });
  const dense = lemma.polytope.halfspaces(A, b);
  const csr = lemma.polytope.halfspaces({ rowPtr, colIdx, values, shape: [2 * d, d] }, b);
  t.is(csr.format, 'csr');
  const opts = { chains: 5, steps: 500, seed: 77 };
  const prev = lemma.capabilities().threads;
  const a = await lemma.sample.dikin(dense, lemma.sample.uniform(), opts);
  const c = await lemma.sample.dikin(csr, lemma.sample.uniform(), opts);
  lemma.setNumThreads(1);
  const a1 = await lemma.sample.dikin(dense, lemma.sample.uniform(), opts);
  lemma.setNumThreads(prev);
  const other = await lemma.sample.dikin(dense, lemma.sample.uniform(), { ...opts, seed: 78 });
  t.is(a.seed, 77);
  // The CSR Hessian sums g²·aᵢaⱼ where the dense SYRK sums (g·aᵢ)(g·aⱼ): rounding differs, and
  // near a facet the map x → z amplifies it (observed ≤ 1.3e-9 after 500 steps); every
  // accept/reject decision is the same.
  const close = (x: Float64Array, y: Float64Array) => x.every((v, i) => Math.abs(v - y[i]) <= 1e-7);
  t.true(close(a.samples.data, c.samples.data), 'CSR = dense (up to rounding of the Hessian sums)');
  t.deepEqual(Array.from(c.acceptance), Array.from(a.acceptance));
  t.deepEqual(Array.from(a1.samples.data), Array.from(a.samples.data), '1 thread = all threads, bitwise');
  t.false(close(a.samples.data, other.samples.data), 'another seed, other chains');
  t.true(a.samples.data.every(Number.isFinite));
  dense.dispose();
  csr.dispose();
});

test('onProgress carries the acceptance so far and, in the final report, the diagnostics of the result', async (t) => {
  const body = cube(3);
  const seen: lemma.sample.DikinProgress[] = [];
  const r = await lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 3, steps: 4000, seed: 9, onProgress: (p) => { seen.push(p); } });
  const last = seen[seen.length - 1];
  t.is(last.fraction, 1);
  const meanAcc = Array.from(r.acceptance).reduce((a, x) => a + x, 0) / r.acceptance.length;
  t.is(last.acceptance, meanAcc, 'the final acceptance is the mean of the result\'s');
  t.is(last.essMin, Math.min(...r.ess));
  t.is(last.rhatMax, Math.max(...r.rhat));
  for (const p of seen) {
    t.true(p.acceptance >= 0 && p.acceptance <= 1, `acceptance ${p.acceptance}`);
    if (p.essMin !== undefined) t.true(p.essMin > 0 && p.rhatMax! > 0.9, `running ESS ${p.essMin}, R-hat ${p.rhatMax}`);
  }
  body.dispose();
});

test('AbortSignal stops the walk with an AbortError and leaves the body usable; onProgress reports', async (t) => {
  const body = cube(20);
  const ac = new AbortController();
  const seen: lemma.sample.DikinProgress[] = [];
  const t0 = performance.now();
  const err = await t.throwsAsync(lemma.sample.dikin(body, lemma.sample.uniform(), {
    chains: 2, steps: 10_000_000, burnIn: 10, seed: 3, signal: ac.signal,
    onProgress: (p) => { seen.push(p); if (p.elapsedSeconds > 0.3) ac.abort(new Error('enough')); },
  }), { name: 'AbortError', message: 'lemma.sample.dikin was aborted' });
  t.is((err as { code?: string }).code, 'ABORT_ERR');
  t.is(((err as Error).cause as Error).message, 'enough');
  // Stopped at the next round (rounds last about 50 ms), long before the 10^7 steps.
  t.true(performance.now() - t0 < 30_000);
  t.true(seen.length >= 2);
  t.true(seen.every((p, i) => i === 0 || p.stepsDone >= seen[i - 1].stepsDone));
  t.true(seen[seen.length - 1].stepsDone < 10_000_010);
  t.true(seen.every((p) => p.totalSteps === 10_000_010 && p.fraction === p.stepsDone / p.totalSteps));
  // Already aborted: rejects before stepping.
  await t.throwsAsync(lemma.sample.dikin(body, lemma.sample.uniform(), { steps: 100, signal: AbortSignal.abort() }),
    { name: 'AbortError' });
  // The body is still usable, and the walk it gives is the same as on a fresh body.
  const again = await lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 2, steps: 50, seed: 3 });
  const fresh = cube(20);
  const ref = await lemma.sample.dikin(fresh, lemma.sample.uniform(), { chains: 2, steps: 50, seed: 3 });
  t.deepEqual(again.samples, ref.samples);
  fresh.dispose();
  body.dispose();
});

test('the event loop stays free while sampling', async (t) => {
  const body = cube(30);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  await lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 2, steps: 3000, seed: 4 });
  clearInterval(timer);
  t.true(ticks >= 3, `timer ticked ${ticks} times`);
  body.dispose();
});

test('dispose() is idempotent; use after dispose is ERR_DISPOSED', async (t) => {
  const body = cube(2);
  body.dispose();
  body.dispose();
  t.true(body.disposed);
  for (const fn of [() => body.contains([0, 0]), () => body.analyticCenter(), () => lemma.sample.dikin(body, lemma.sample.uniform())]) {
    const e = await t.throwsAsync(async () => fn(), { instanceOf: lemma.LemmaError, message: /disposed/ });
    t.is(e?.code, 'ERR_DISPOSED');
  }
});
