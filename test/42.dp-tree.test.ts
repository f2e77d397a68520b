/**
 * The exact (noise-free) tree and queries against brute force: the fast builder equals the
 * path-walking oracle, the fast query equals the spec's QUERY bit for bit, the answer is exact
 * when a leaf is one grid value wide (any query, inside or outside the range), and within the
 * stated leaf bound otherwise; clamping, NaN rejection, and the native re-checks.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import { native } from '../lib/binding.js';
import { makeConsistent } from '../lib/dp/consistency.js';
import { buildExact, fromEdgeRelative, slots, toEdgeRelative } from '../lib/dp/tree.js';
import type { TreeShape } from '../lib/dp/tree.js';

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

function shapeOf(d: number, levels: number, gridBits: number, lo: number[] | number = 0, hi: number[] | number = 1): TreeShape {
  const arr = (v: number[] | number) => Float64Array.from({ length: d }, (_, j) => (Array.isArray(v) ? v[j] : v));
  return { d, levels, gridBits, lo: arr(lo), hi: arr(hi) };
}

function randomPoints(n: number, shape: TreeShape, seed: number, spill = 0): Float64Array {
  const r = rng(seed);
  const X = new Float64Array(n * shape.d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < shape.d; j++) {
      const w = shape.hi[j] - shape.lo[j];
      X[i * shape.d + j] = shape.lo[j] - spill * w + r() * (1 + 2 * spill) * w;
    }
  }
  return X;
}

function query(cnt: Float64Array, sum: Float64Array, Y: Float64Array, shape: TreeShape, ref = false): Float64Array {
  const out = new Float64Array(Y.length / shape.d);
  native.dpL1QuerySync(cnt, sum, Y, out, { ...shape, ref });
  return out;
}

async function brute(X: Float64Array, Y: Float64Array, shape: TreeShape, quantised: boolean): Promise<Float64Array> {
  const out = new Float64Array(Y.length / shape.d);
  await native.dpL1BruteForce(X, Y, out, { ...shape, n: X.length / shape.d, quantised });
  return out;
}

const configs: Array<[string, number, TreeShape]> = [
  ['n = 500, d = 3, L = 6, q = 8', 500, shapeOf(3, 6, 8)],
  ['n = 1000, d = 1, L = 10, q = 20', 1000, shapeOf(1, 10, 20)],
  ['n = 300, d = 5, L = q = 4, ranges per coordinate', 300, shapeOf(5, 4, 4, [-2, 0, 10, -1e3, 0.5], [3, 1e-3, 11, 1e3, 0.75])],
  ['n = 2000, d = 2, L = 12, q = 32', 2000, shapeOf(2, 12, 32, [-1, -5], [1, 5])],
];

for (const [name, n, shape] of configs) {
  test(`fast build equals the path-walking oracle: ${name}`, async (t) => {
    const X = randomPoints(n, shape, 11, 0.1);
    const fast = await buildExact(X, n, shape);
    const ref = await buildExact(X, n, shape, { ref: true });
    t.deepEqual(fast.cnt, ref.cnt);
    t.deepEqual(fast.sum, ref.sum);
    const N = slots(shape.levels);
    for (let j = 0; j < shape.d; j++) {
      t.is(fast.cnt[j * N] + fast.cnt[j * N + 1] + fast.sum[j * N] + fast.sum[j * N + 1], 0, 'the root (n) is never stored');
      for (let l = 1; l <= shape.levels; l++) {
        let c = 0;
        for (let v = 2 ** l; v < 2 ** (l + 1); v++) c += fast.cnt[j * N + v];
        t.is(c, n, `level ${l} counts every point once`);
      }
    }
  });

  test(`fast query equals the spec's QUERY bit for bit: ${name}`, async (t) => {
    const X = randomPoints(n, shape, 12);
    const { cnt, sum } = await buildExact(X, n, shape);
    const Y = randomPoints(200, shape, 13, 0.3); // a fifth of the coordinates outside the range
    t.deepEqual(query(cnt, sum, Y, shape), query(cnt, sum, Y, shape, true));
  });
}

test('exact when leaves are one grid value wide: integer data, γ = 1, any query', async (t) => {
  const q = 10;
  const shape = shapeOf(3, q, q, 0, 2 ** q - 1);
  const n = 700;
  const r = rng(5);
  const X = Float64Array.from({ length: n * 3 }, () => Math.floor(r() * 2 ** q));
  const { cnt, sum } = await buildExact(X, n, shape);
  const Yint = Float64Array.from({ length: 300 }, () => Math.floor(r() * 1400) - 200);
  const exact = await brute(X, Yint, shape, false);
  t.deepEqual(query(cnt, sum, Yint, shape), exact, 'integer queries: exactly equal (all integers < 2^53)');
  const Yreal = Float64Array.from({ length: 300 }, () => r() * 1400 - 200);
  const want = await brute(X, Yreal, shape, false);
  const got = query(cnt, sum, Yreal, shape);
  got.forEach((g, i) => t.true(Math.abs(g - want[i]) <= 1e-12 * want[i], `query ${i}: ${g} vs ${want[i]}`));
});

test('exact against brute force on the quantised data when L = gridBits (any range)', async (t) => {
  const shape = shapeOf(4, 12, 12, [-3, 0, 100, -0.5], [7, 1e-6, 250, 0.5]);
  const n = 1500;
  const X = randomPoints(n, shape, 21, 0.05);
  const { cnt, sum } = await buildExact(X, n, shape);
  const Y = randomPoints(100, shape, 22, 0.2);
  const want = await brute(X, Y, shape, true);
  const got = query(cnt, sum, Y, shape);
  got.forEach((g, i) => t.true(Math.abs(g - want[i]) <= 1e-9 * want[i], `query ${i}: ${g} vs ${want[i]}`));
});

test('L < gridBits: below the brute force by at most the own-leaf bound; quantisation ≤ n·d·γ/2', async (t) => {
  const shape = shapeOf(3, 7, 20, [0, -1, 5], [1, 1, 6]);
  const n = 3000;
  const X = randomPoints(n, shape, 31);
  const { cnt, sum } = await buildExact(X, n, shape);
  const Y = randomPoints(200, shape, 32);
  const bq = await brute(X, Y, shape, true);
  const raw = await brute(X, Y, shape, false);
  const got = query(cnt, sum, Y, shape);
  const N = slots(shape.levels);
  const W = 2 ** (shape.gridBits - shape.levels);
  let quantBound = 0;
  for (let j = 0; j < shape.d; j++) quantBound += n * 0.5 * (shape.hi[j] - shape.lo[j]) / (2 ** shape.gridBits - 1);
  let sawBias = false;
  for (let i = 0; i < got.length; i++) {
    let leafBound = 0;
    for (let j = 0; j < shape.d; j++) {
      const gamma = (shape.hi[j] - shape.lo[j]) / (2 ** shape.gridBits - 1);
      const u = (Y[i * shape.d + j] - shape.lo[j]) / gamma;
      const leaf = Math.min(2 ** shape.levels - 1, Math.max(0, Math.floor(Math.floor(u) / W)));
      leafBound += cnt[j * N + 2 ** shape.levels + leaf] * W * gamma;
    }
    const gap = bq[i] - got[i];
    t.true(gap >= -1e-9 * bq[i] && gap <= leafBound + 1e-9 * bq[i], `query ${i}: gap ${gap}, bound ${leafBound}`);
    if (gap > 1e-6 * bq[i]) sawBias = true;
    t.true(Math.abs(bq[i] - raw[i]) <= quantBound * (1 + 1e-9));
  }
  t.true(sawBias, 'the leaf bias is real (this test would notice a missing leaf term)');
});

test('out-of-range values are clamped (±∞ included) before building', async (t) => {
  const shape = shapeOf(2, 5, 8, [0, -1], [1, 1]);
  const X = new Float64Array([-0.5, 3, 2, -Infinity, Infinity, 0.5, 0.25, -1, 1, 1]);
  const clamped = X.map((x, i) => Math.min(shape.hi[i % 2], Math.max(shape.lo[i % 2], x)));
  const a = await buildExact(X, 5, shape);
  const b = await buildExact(clamped, 5, shape);
  t.deepEqual(a.cnt, b.cnt);
  t.deepEqual(a.sum, b.sum);
});

test('Float32Array points build the same tree as their Float64 values', async (t) => {
  const shape = shapeOf(3, 8, 16);
  const X32 = Float32Array.from(randomPoints(400, shape, 41));
  const a = await buildExact(X32, 400, shape);
  const b = await buildExact(Float64Array.from(X32), 400, shape);
  t.deepEqual(a.cnt, b.cnt);
  t.deepEqual(a.sum, b.sum);
});

test('noise-free baseline: both band modes agree and stay within (1 + α) of the truth plus one leaf per point', async (t) => {
  const shape = shapeOf(2, 10, 20);
  const n = 2000;
  const X = randomPoints(n, shape, 51);
  const { cnt } = await buildExact(X, n, shape);
  const Y = randomPoints(100, shape, 52, 0.1);
  const truth = await brute(X, Y, shape, true);
  for (const alpha of [0.1, 0.5, 1]) {
    const ind = new Float64Array(100), pre = new Float64Array(100);
    native.dpL1BaselineQuerySync(cnt, Y, ind, { ...shape, alpha });
    native.dpL1BaselineQuerySync(cnt, Y, pre, { ...shape, alpha, prefixBands: true });
    const W = 2 ** -10;
    for (let i = 0; i < 100; i++) {
      t.true(Math.abs(ind[i] - pre[i]) <= 1e-9 * truth[i]);
      t.true(Math.abs(ind[i] - truth[i]) <= alpha * truth[i] + n * shape.d * W, `α = ${alpha}, query ${i}: ${ind[i]} vs ${truth[i]}`);
    }
  }
});

test('NaN in X maps to the range\'s lower end inside the mechanism (no refusal that would locate it), natively too', async (t) => {
  const withNaN = { data: new Float64Array([0.1, 0.2, 0.3, NaN]), shape: [2, 2] };
  const withLo = { data: new Float64Array([0.1, 0.2, 0.3, 0]), shape: [2, 2] };
  const opts = { epsilon: 1, range: 1, levels: 3, seed: 'nan', insecureDeterministic: true } as const;
  const [a, b] = [await lemma.dp.l1Kde(withNaN, opts), await lemma.dp.l1Kde(withLo, opts)];
  t.deepEqual(a.release(), b.release());
  const shape = shapeOf(2, 3, 8);
  const cnt = new Float64Array(2 * slots(3)), sum = new Float64Array(2 * slots(3));
  const cnt0 = new Float64Array(2 * slots(3)), sum0 = new Float64Array(2 * slots(3));
  native.dpL1BuildSync(withNaN.data, cnt, sum, { ...shape, n: 2 });
  native.dpL1BuildSync(withLo.data, cnt0, sum0, { ...shape, n: 2 });
  t.deepEqual([cnt, sum], [cnt0, sum0]);
  const ref = new Float64Array(2 * slots(3)), refSum = new Float64Array(2 * slots(3));
  native.dpL1BuildSync(withNaN.data, ref, refSum, { ...shape, n: 2, ref: true });
  t.deepEqual([ref, refSum], [cnt0, sum0], 'the oracle agrees');
});

test('consistency: the fitted counts add up (parent = children); an exact tree is a fixed point of the fit', async (t) => {
  const shape = shapeOf(2, 6, 12);
  const X = Float64Array.from({ length: 500 * 2 }, (_, i) => ((i * 104729) % 997) / 996);
  const { cnt } = await buildExact(X, 500, shape);
  const vars = [9, 5, 3, 2, 1.5, 1];
  const fitted = cnt.slice();
  makeConsistent(fitted, 2, 6, vars);
  t.true(fitted.every((v, k) => Math.abs(v - cnt[k]) < 1e-9), 'noise-free counts are already consistent');
  const noisy = cnt.map((v, k) => (k % slots(6) < 2 ? 0 : v + (((k * 7919) % 13) - 6)));
  makeConsistent(noisy, 2, 6, vars);
  let worst = 0;
  for (let j = 0; j < 2; j++) {
    for (let v = 2; v < slots(6) / 2; v++) worst = Math.max(worst, Math.abs(noisy[j * slots(6) + v] - noisy[j * slots(6) + 2 * v] - noisy[j * slots(6) + 2 * v + 1]));
  }
  t.true(worst < 1e-9, `largest parent − children gap ${worst}`);
});

test('edge-relative sums round-trip exactly: noise-free midpoint arrays give back the sums from 0', async (t) => {
  const shape = shapeOf(3, 6, 10);
  const X = Float64Array.from({ length: 300 * 3 }, (_, i) => ((i * 7919) % 1000) / 999);
  const { cnt, sum } = await buildExact(X, 300, shape);
  const rel = toEdgeRelative(cnt, sum, shape);
  t.true(rel.every((v) => Number.isInteger(v) && v >= 0), 'distances from the facing edge are non-negative integers');
  t.deepEqual(fromEdgeRelative(cnt, rel, shape), sum);
});

test('the native layer re-checks sizes and parameters', (t) => {
  const shape = shapeOf(2, 3, 8);
  const X = new Float64Array(4);
  const good = () => ({ cnt: new Float64Array(2 * slots(3)), sum: new Float64Array(2 * slots(3)) });
  const code = (fn: () => unknown) => (t.throws(fn) as { code?: string }).code;
  t.is(code(() => native.dpL1BuildSync(X, good().cnt, new Float64Array(3), { ...shape, n: 2 })), 'ERR_SHAPE');
  t.is(code(() => native.dpL1BuildSync(X, good().cnt, good().sum, { ...shape, n: 3 })), 'ERR_SHAPE');
  t.is(code(() => native.dpL1BuildSync(X, good().cnt, good().sum, { ...shape, n: 2, gridBits: 2 })), 'ERR_RANGE');
  t.is(code(() => native.dpL1BuildSync(X, good().cnt, good().sum, { ...shape, n: 2, lo: new Float64Array([0, 1]), hi: new Float64Array([1, 1]) })), 'ERR_RANGE');
  t.is(code(() => native.dpL1BuildSync(new Int32Array(4) as never, good().cnt, good().sum, { ...shape, n: 2 })), 'ERR_DTYPE');
  t.is(code(() => native.dpL1BuildSync(new Float32Array(4), good().cnt, good().sum, { ...shape, n: 2, ref: true })), 'ERR_DTYPE');
  t.is(code(() => native.dpL1BuildSync(X, good().cnt, good().sum, { ...shape, n: 2 ** 40, gridBits: 20 })), 'ERR_RANGE'); // n·(2^q − 1) ≥ 2^53
  const { cnt, sum } = good();
  t.is(code(() => native.dpL1QuerySync(cnt, sum, new Float64Array([0.5, Infinity]), new Float64Array(1), shape)), 'ERR_RANGE');
  t.is(code(() => native.dpL1QuerySync(cnt, sum, new Float64Array(3), new Float64Array(1), shape)), 'ERR_SHAPE');
  t.is(code(() => native.dpL1QuerySync(cnt, sum, new Float64Array(2), new Float64Array(1), { ...shape, device: 'cuda' })), 'ERR_CUDA_UNAVAILABLE');
});
