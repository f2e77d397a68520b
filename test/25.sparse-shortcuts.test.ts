/**
 * The cost-driven paths of the CPU index, and that they keep the answers exact:
 *  - decoding with several queries filters per row: each row visits only the blocks its own
 *    balls and boxes keep (blocksVisited of M rows = the sum over the M single-row calls, outputs
 *    bitwise equal); within a visited block the rows of a tile score the union of the 16-slot
 *    groups kept for any of them (keysScored between the single-row sum and the visited blocks'
 *    slots), and ReLU stays exact against the fp64 brute force;
 *  - Gaussian D = 128 keys (nothing to prune): every row goes to the dense kernel and stats say
 *    so (denseRows); softmax prefill runs lemma's flash attention (flashRows, bound 0);
 *  - softmax rows whose filter keeps no block (certain fallback) are computed densely once
 *    (predictedRows), not sparsely and then again densely (keyFraction stays 1).
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import { clusteredPair, denseSoftmax64, gaussianPair, paperThreshold, pairOf, relErr } from './helpers/sparse.js';

test('decoding, M = 16 clustered: per-row filtering (blocks visited = sum of single-row calls), exact ReLU', async (t) => {
  const N = 8192, D = 64, M = 16;
  const k = clusteredPair([1, 1, N, D], 61);
  const v = gaussianPair([1, 1, N, D], 62);
  const q = gaussianPair([1, 1, M, D], 63);
  const index = await lemma.sparse.keyIndex(k.f32, v.f32, { order: 'cluster' });
  try {
    const threshold = 0.9;
    const opts = { activation: 'relu' as const, threshold };
    const all = await index.attend(q.f32, opts);
    t.true(all.stats.keyFraction < 0.9, `pruned: ${all.stats.keyFraction}`);
    t.is(all.stats.denseRows, 0);
    let scored = 0;
    let visited = 0;
    for (let i = 0; i < M; i++) {
      const qi = pairOf(q.f32.data.slice(i * D, (i + 1) * D), [1, 1, 1, D]);
      const one = await index.attend(qi.f32, opts);
      scored += one.stats.keysScored;
      visited += one.stats.blocksVisited;
      t.deepEqual(Array.from(one.out.data), Array.from(all.out.data.slice(i * D, (i + 1) * D)), `row ${i} bitwise`);
    }
    t.is(all.stats.blocksVisited, visited, 'each row visits only its own kept blocks');
    t.true(all.stats.keysScored >= scored && all.stats.keysScored <= 64 * visited,
      `keys scored ${all.stats.keysScored}: at least the single-row sum ${scored}, at most the visited blocks' slots`);
    t.true(scored < 64 * visited, 'single rows score only their kept groups of slots');
    const ref = await lemma.sparse.reluAttention(q.f64, k.f64, v.f64, opts);
    const e = relErr(all.out.data, ref.out.data);
    t.true(e <= 1e-5, `relu vs fp64 brute force: ${e}`);
  } finally {
    index.dispose();
  }
});

test('Gaussian D = 128: the dense shortcut is taken and reported (ReLU decode, softmax prefill by flash)', async (t) => {
  const N = 8192, D = 128;
  const k = gaussianPair([1, 1, N, D], 71);
  const v = gaussianPair([1, 1, N, D], 72);
  const index = await lemma.sparse.keyIndex(k.f32, v.f32);
  try {
    for (const M of [1, 16]) {
      const q = gaussianPair([1, 1, M, D], 73 + M);
      const opts = { activation: 'relu' as const, threshold: paperThreshold(N) };
      const r = await index.attend(q.f32, opts);
      t.is(r.stats.denseRows, M, `M = ${M}: dense rows`);
      t.true(r.stats.dense);
      t.is(r.stats.flashRows, 0);
      const ref = await lemma.sparse.reluAttention(q.f64, k.f64, v.f64, opts);
      t.true(relErr(r.out.data, ref.out.data) <= 1e-5, `M = ${M} exact`);
    }
    // Prefill-sized softmax: every tile dense, so lemma's flash attention runs instead.
    const Np = 1024;
    const kp = gaussianPair([1, 1, Np, D], 81);
    const vp = gaussianPair([1, 1, Np, D], 82);
    const qp = gaussianPair([1, 1, Np, D], 83);
    const ip = await lemma.sparse.keyIndex(kp.f32, vp.f32);
    try {
      const r = await ip.attend(qp.f32, { activation: 'softmax', causal: true });
      t.is(r.stats.flashRows, 0, "calibrated: the block kernel (meanActive counted)");
      const rf = await ip.attend(qp.f32, { activation: "softmax", causal: true, threshold: Array.from(r.stats.threshold) });
      t.is(rf.stats.flashRows, Np);
      t.true(rf.stats.errorBound!.every((x) => x === 0));
      t.true(relErr(rf.out.data, await denseSoftmax64(qp, kp, vp, true)) <= 1e-5);
      t.is(r.stats.denseRows, Np);
      t.is(r.stats.keyFraction, 1);
      t.true(r.stats.errorBound!.every((x) => x === 0));
      const e = relErr(r.out.data, await denseSoftmax64(qp, kp, vp, true));
      t.true(e <= 1e-5, `flash softmax vs fp64: ${e}`);
      // Fewer than 64 queries: the block kernel's dense pass, no flash.
      const q8 = pairOf(qp.f32.data.slice(0, 8 * D), [1, 1, 8, D]);
      const r8 = await ip.attend(q8.f32, { activation: 'softmax' });
      t.is(r8.stats.flashRows, 0);
      t.is(r8.stats.denseRows, 8);
    } finally {
      ip.dispose();
    }
  } finally {
    index.dispose();
  }
});

test('softmax rows whose filter keeps no block: computed densely once, exact, reported', async (t) => {
  const N = 16384, D = 64, M = 16;
  const k = clusteredPair([1, 1, N, D], 91);
  const v = gaussianPair([1, 1, N, D], 92);
  const q = gaussianPair([1, 1, M, D], 93);
  const index = await lemma.sparse.keyIndex(k.f32, v.f32, { order: 'cluster' });
  try {
    const r = await index.attend(q.f32, { activation: 'softmax', threshold: 1e3, denseAbove: 2 });
    t.is(r.stats.predictedRows, M);
    t.is(r.stats.fallbackRows, M);
    t.is(r.stats.keyFraction, 1, 'one dense pass, no sparse attempt');
    t.true(r.stats.errorBound!.every((x) => x === 0));
    t.true(relErr(r.out.data, await denseSoftmax64(q, k, v, false)) <= 1e-5);
    // A reachable threshold: nothing predicted, the sparse rows then their fallback as before.
    const loose = await index.attend(q.f32, { activation: 'softmax', threshold: 1.5, tolerance: 1e30 });
    t.is(loose.stats.predictedRows, 0);
    t.is(loose.stats.fallbackRows, 0);
    t.true(loose.stats.errorBound!.some((x) => x > 0));
  } finally {
    index.dispose();
  }
});
