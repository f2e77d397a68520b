/**
 * Softmax over the massively activated entries (spec §2.5, §2.9.3). The certified bound must
 * never be violated:
 *   (1) truncation alone, in fp64: ‖softmax over the reported set − full softmax‖∞ ≤ errorBound;
 *   (2) the fp32 output: ‖out − full softmax (fp64)‖∞ ≤ errorBound + 1e-5‖V‖∞ (fp32 round-off);
 * for loose to tight thresholds, calibrated `keep`, causal and grouped heads, through the sparse
 * rows (tolerance ∞, denseAbove > 1) and with the defaults (fallback and dense switch). Rows with
 * nothing reported fall back to the dense softmax; under the massive-activation assumption
 * (queries aligned with one key cluster) no row falls back and the bound is tiny.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import type { Tensor } from '../lib/index.js';
import {
  clusteredPair, denseSoftmax64, dimsOf, gaussianPair, maxAbs, pairOf, relErr, rowScores,
} from './helpers/sparse.js';
import type { Pair } from './helpers/sparse.js';

/** fp64 softmax over the given keys of one row. */
function truncatedRow(q: Tensor, k: Tensor, v: Tensor, row: number, causal: boolean, keys: ArrayLike<number>, from: number, to: number): Float64Array {
  const { s, kv } = rowScores(q, k, row, causal);
  const D = q.shape[3];
  let mx = -Infinity;
  for (let t = from; t < to; t++) mx = Math.max(mx, s[keys[t]]);
  const o = new Float64Array(D);
  let Z = 0;
  for (let t = from; t < to; t++) {
    const w = Math.exp(s[keys[t]] - mx);
    Z += w;
    for (let e = 0; e < D; e++) o[e] += w * v.data[kv + keys[t] * D + e];
  }
  for (let e = 0; e < D; e++) o[e] /= Z;
  return o;
}

async function checkBound(t: import('ava').ExecutionContext, q: Pair, k: Pair, v: Pair, causal: boolean,
  opts: lemma.sparse.AttendOptions, label: string, order: 'position' | 'cluster' = 'cluster') {
  const index = await lemma.sparse.keyIndex(k.f32, v.f32, { order });
  const d = dimsOf(q.f32, k.f32);
  const full = await denseSoftmax64(q, k, v, causal);
  const vinf = maxAbs(v.f32.data);
  try {
    for (const mode of ['sparse rows', 'defaults'] as const) {
      const o: lemma.sparse.AttendOptions = mode === 'sparse rows' ? { ...opts, tolerance: 1e30, denseAbove: 2 } : opts;
      const r = await index.attend(q.f32, { ...o, activation: 'softmax', causal });
      const eb = r.stats.errorBound!;
      t.is(eb.length, d.B * d.Hq * d.M);
      let worst = 0;
      for (let row = 0; row < d.B * d.Hq * d.M; row++) {
        const D = d.D;
        const outErr = Math.max(...Array.from({ length: D }, (_, e) => Math.abs(r.out.data[row * D + e] - full[row * D + e])));
        t.true(outErr <= eb[row] + 1e-5 * vinf, `${label} ${mode} row ${row}: |out − softmax| = ${outErr} > bound ${eb[row]}`);
        if (mode === 'defaults') t.true(eb[row] <= (o.tolerance ?? 1e-3), `${label}: bound ${eb[row]} above tolerance after fallback`);
        worst = Math.max(worst, eb[row] > 0 ? outErr / eb[row] : 0);
      }
      t.log(`${label} ${mode}: fallback ${r.stats.fallbackRows}, dense ${r.stats.denseRows}, meanActive ${r.stats.meanActive.toFixed(1)}, worst err/bound ${worst.toExponential(2)}`);
    }
    // (1) exact truncation error in fp64 over the reported set, batch-wise through report().
    const r = await index.attend(q.f32, { ...opts, activation: 'softmax', causal, tolerance: 1e30, denseAbove: 2 });
    const thrs = r.stats.threshold;
    const uniform = thrs.every((x) => x === thrs[0]);
    if (uniform) {
      const rep = await index.report(q.f32, { threshold: thrs[0], causal });
      let checked = 0;
      for (let row = 0; row < d.B * d.Hq * d.M; row++) {
        // Rows with bound 0 were recomputed densely (fallback, or their tile was): their output
        // was checked against the full softmax above.
        if (rep.rowPtr[row + 1] === rep.rowPtr[row] || r.stats.errorBound![row] === 0) continue;
        const tr = truncatedRow(q.f32, k.f32, v.f32, row, causal, rep.keys, rep.rowPtr[row], rep.rowPtr[row + 1]);
        const e = Math.max(...Array.from(tr, (x, j) => Math.abs(x - full[row * d.D + j])));
        t.true(e <= r.stats.errorBound![row], `${label}: truncation ${e} > bound ${r.stats.errorBound![row]} (row ${row})`);
        checked++;
      }
      t.true(checked > 0, `${label}: some rows kept their sparse result`);
    }
  } finally {
    index.dispose();
  }
}

test('the bound holds for loose to tight thresholds (clustered keys, grouped heads)', async (t) => {
  const q = gaussianPair([1, 4, 6, 32], 1);
  const k = clusteredPair([1, 2, 3000, 32], 2);
  const v = gaussianPair([1, 2, 3000, 32], 3);
  for (const threshold of [0.3, 1.2, 2.2]) await checkBound(t, q, k, v, false, { threshold }, `b = ${threshold}`);
});

test('the bound holds with calibrated keep and causal masking (Gaussian keys, position order)', async (t) => {
  const q = gaussianPair([2, 2, 40, 16], 11);
  const k = gaussianPair([2, 2, 1200, 16], 12);
  const v = gaussianPair([2, 2, 1200, 16], 13);
  await checkBound(t, q, k, v, true, {}, 'keep default', 'position');
  await checkBound(t, q, k, v, true, { keep: 30 }, 'keep 30', 'position');
});

test('calibrated keep: per-head thresholds give about keep entries per row', async (t) => {
  const N = 20000;
  const q = gaussianPair([1, 2, 64, 32], 21);
  const k = gaussianPair([1, 1, N, 32], 22);
  const v = gaussianPair([1, 1, N, 32], 23);
  const index = await lemma.sparse.keyIndex(k.f32, v.f32);
  const keep = Math.ceil(N ** 0.8);
  const r = await index.attend(q.f32, { activation: 'softmax' });
  t.is(r.stats.threshold.length, 2);
  t.true(r.stats.meanActive > keep / 2 && r.stats.meanActive < keep * 2, `mean ${r.stats.meanActive} vs keep ${keep}`);
  const r2 = await index.attend(q.f32, { activation: 'softmax', keep: 100 });
  t.true(r2.stats.meanActive > 30 && r2.stats.meanActive < 300, `keep 100: ${r2.stats.meanActive}`);
  index.dispose();
});

test('nothing reported: every row falls back to the exact dense softmax with bound 0', async (t) => {
  const q = gaussianPair([1, 1, 5, 16], 31);
  const k = gaussianPair([1, 1, 500, 16], 32);
  const v = gaussianPair([1, 1, 500, 16], 33);
  const r = await lemma.sparse.softmaxTopAttention(q.f32, k.f32, v.f32, { threshold: 1e3, denseAbove: 2 });
  t.is(r.stats.fallbackRows, 5);
  t.true(r.stats.errorBound!.every((x) => x === 0));
  t.true(relErr(r.out.data, await denseSoftmax64(q, k, v, false)) <= 1e-5);
});

test('Gaussian D = 128 keys: the filter prunes nothing, stats say so, and the dense kernel gives the exact softmax', async (t) => {
  const q = gaussianPair([1, 1, 8, 128], 41);
  const k = gaussianPair([1, 1, 4096, 128], 42);
  const v = gaussianPair([1, 1, 4096, 128], 43);
  const r = await lemma.sparse.softmaxTopAttention(q.f32, k.f32, v.f32);
  t.true(r.stats.dense, 'dense');
  t.is(r.stats.denseRows, 8);
  t.is(r.stats.blockFraction, 1);
  t.true(r.stats.errorBound!.every((x) => x === 0));
  t.true(relErr(r.out.data, await denseSoftmax64(q, k, v, false)) <= 1e-5);
});

test('massive activations (queries aligned with one key cluster): no fallback, tiny certified bound', async (t) => {
  const N = 8192;
  const D = 64;
  const k = clusteredPair([1, 1, N, D], 51);
  const v = gaussianPair([1, 1, N, D], 52);
  // Each query points at the keys of one cluster (a key from the cache, scaled up): the top
  // entries are far above the rest, the paper's (γ, β1, β2) condition.
  const qd = new Float32Array(8 * D);
  for (let i = 0; i < 8; i++) for (let e = 0; e < D; e++) qd[i * D + e] = 3 * k.f32.data[(i * 997) * D + e];
  const q = pairOf(qd, [1, 1, 8, D]);
  const index = await lemma.sparse.keyIndex(k.f32, v.f32, { order: 'cluster' });
  const r = await index.attend(q.f32, { activation: 'softmax', threshold: 8 });
  const full = await denseSoftmax64(q, k, v, false);
  t.is(r.stats.fallbackRows, 0);
  t.is(r.stats.denseRows, 0);
  const maxBound = Math.max(...r.stats.errorBound!);
  t.true(maxBound < 1e-3, `bound ${maxBound}`);
  t.true(r.stats.keyFraction < 0.5, `pruned: ${r.stats.keyFraction}`);
  for (let row = 0; row < 8; row++) {
    const e = Math.max(...Array.from({ length: D }, (_, j) => Math.abs(r.out.data[row * D + j] - full[row * D + j])));
    t.true(e <= r.stats.errorBound![row] + 1e-5 * maxAbs(v.f32.data));
  }
  t.log(`max bound ${maxBound.toExponential(2)}, keys scored ${(100 * r.stats.keyFraction).toFixed(1)} %, mean active ${r.stats.meanActive}`);
  index.dispose();
});
