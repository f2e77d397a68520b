/**
 * The sparsity law on Gaussian inputs (spec §2.3, §2.9.2): q, k i.i.d. N(0, 1), b = √(0.4 ln n).
 * For a fixed q, s = ⟨q, k⟩/√D ~ N(0, ‖q‖²/D), so the expected count of row i is
 * n·Q(b √D / ‖q_i‖); the mean count per row must match it (within 3 %), stay ≤ n^{4/5}, and the
 * largest row must stay ≤ 2 n^{4/5}. On such keys balls cannot prune in D = 128, and the stats
 * must say so; on clustered keys the filter must prune most of the keys at N = 64k.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import { clusteredPair, gaussianPair, paperThreshold } from './helpers/sparse.js';

/** Upper tail of N(0, 1) (erfc by the Numerical Recipes rational approximation, rel. err 1.2e-7). */
function qnorm(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? r / 2 : 1 - r / 2;
}

for (const n of [4096, 16384]) {
  test(`sparsity law at n = ${n}: mean ≈ n·Pr[s > b] ≤ n^0.8, max ≤ 2 n^0.8`, async (t) => {
    const D = 128;
    const M = 64;
    const q = gaussianPair([1, 1, M, D], n + 1);
    const k = gaussianPair([1, 1, n, D], n + 2);
    const v = gaussianPair([1, 1, n, D], n + 3);
    const b = paperThreshold(n);
    const index = await lemma.sparse.keyIndex(k.f32, v.f32);
    const r = await index.attend(q.f32, { threshold: b });
    let expected = 0;
    for (let i = 0; i < M; i++) {
      let qn = 0;
      for (let e = 0; e < D; e++) qn += q.f32.data[i * D + e] ** 2;
      expected += n * qnorm((b * Math.sqrt(D)) / Math.sqrt(qn));
    }
    expected /= M;
    const cap = n ** 0.8;
    t.log(`b = ${b.toFixed(4)}: mean ${r.stats.meanActive.toFixed(1)}, expected ${expected.toFixed(1)}, n^0.8 = ${cap.toFixed(1)} (ratio ${(r.stats.meanActive / cap).toFixed(3)}), max ${r.stats.maxActive} (ratio to 2n^0.8 ${(r.stats.maxActive / (2 * cap)).toFixed(3)})`);
    t.true(Math.abs(r.stats.meanActive / expected - 1) < 0.03, 'mean matches the Gaussian tail');
    t.true(r.stats.meanActive <= cap);
    t.true(r.stats.maxActive <= 2 * cap);
    // Isotropic keys in D = 128: no ball excludes anything, and the index says so.
    t.is(r.stats.blockFraction, 1);
    t.true(r.stats.dense);
    index.dispose();
  });
}

test('clustered keys (64 anisotropic Gaussians) at N = 64k: the filter prunes most keys, output exact', async (t) => {
  const N = 65536;
  const D = 64;
  const k = clusteredPair([1, 1, N, D], 91);
  const v = gaussianPair([1, 1, N, D], 92);
  const q = gaussianPair([1, 1, 2, D], 93);
  const index = await lemma.sparse.keyIndex(k.f32, v.f32, { order: 'cluster' });
  t.is(index.levels, 2);
  const r = await index.attend(q.f32, { keep: Math.ceil(N ** 0.8) });
  t.false(r.stats.dense);
  t.true(r.stats.keyFraction < 0.5, `keys scored ${r.stats.keyFraction}`);
  const ref = await lemma.sparse.reluAttention(
    { data: Float64Array.from(q.f32.data), shape: q.f32.shape }, { data: Float64Array.from(k.f32.data), shape: k.f32.shape },
    { data: Float64Array.from(v.f32.data), shape: v.f32.shape }, { threshold: Array.from(r.stats.threshold) });
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.out.data.length; i++) {
    num = Math.max(num, Math.abs(r.out.data[i] - ref.out.data[i]));
    den = Math.max(den, Math.abs(ref.out.data[i]));
  }
  t.true(num / den <= 1e-5);
  t.log(`keys scored ${(100 * r.stats.keyFraction).toFixed(1)} %, blocks ${(100 * r.stats.blockFraction).toFixed(1)} %, active per row ${r.stats.meanActive} (keep ${Math.ceil(N ** 0.8)})`);
  index.dispose();
});
