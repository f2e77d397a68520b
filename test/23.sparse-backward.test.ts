/**
 * Backward of ReLU^α attention through the exact sparse set. The fp64 oracle is checked by
 * central finite differences of L = ⟨dOut, out⟩ (tiny shapes, no score within 1e-3 of b, so no
 * kink is crossed; tolerance 1e-6 relative); the fp32 index path is checked against the oracle
 * (max |err| / ‖ref‖∞ ≤ 1e-4) for α ∈ {1, 2, 3}, causal, grouped heads, both orders.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import type { Tensor } from '../lib/index.js';
import { clusteredPair, gaussianPair, relErr, rowScores } from './helpers/sparse.js';

async function loss(q: Tensor, k: Tensor, v: Tensor, dOut: Float64Array, opts: lemma.sparse.OneShotOptions): Promise<number> {
  const r = await lemma.sparse.reluAttention(q, k, v, opts);
  let s = 0;
  for (let i = 0; i < dOut.length; i++) s += dOut[i] * r.out.data[i];
  return s;
}

for (const alpha of [1, 2, 3]) {
  test(`fp64 oracle backward = finite differences (α = ${alpha}, causal, grouped heads)`, async (t) => {
    const q = gaussianPair([1, 2, 5, 6], 10 + alpha).f64;
    const k = gaussianPair([1, 1, 9, 6], 20 + alpha).f64;
    const v = gaussianPair([1, 1, 9, 6], 30 + alpha).f64;
    const dOut = gaussianPair([1, 2, 5, 6], 40 + alpha).f64;
    // A threshold with no score within 1e-3 (the weights are not differentiable at s = b).
    let b = 0.15;
    const near = () => {
      for (let row = 0; row < 10; row++) {
        const { s } = rowScores(q, k, row, true);
        if (s.some((x) => Math.abs(x - b) < 1e-3)) return true;
      }
      return false;
    };
    while (near()) b += 0.0123;
    const opts = { threshold: b, alpha, causal: true };
    const g = await lemma.sparse.reluAttentionBackward(q, k, v, dOut, opts);
    const h = 1e-6;
    for (const [name, x, grad] of [['q', q, g.dq], ['k', k, g.dk], ['v', v, g.dv]] as const) {
      let worst = 0;
      for (let i = 0; i < x.data.length; i++) {
        const x0 = x.data[i];
        x.data[i] = x0 + h;
        const lp = await loss(q, k, v, dOut.data as Float64Array, opts);
        x.data[i] = x0 - h;
        const lm = await loss(q, k, v, dOut.data as Float64Array, opts);
        x.data[i] = x0;
        worst = Math.max(worst, Math.abs((lp - lm) / (2 * h) - grad.data[i]));
      }
      let scale = 1e-12;
      for (const y of grad.data) scale = Math.max(scale, Math.abs(y));
      t.true(worst / scale <= 1e-6, `d${name}: ${worst / scale}`);
    }
  });
}

test('fp32 index backward = fp64 oracle (α ∈ {1, 2, 3}, causal, grouped heads, both orders)', async (t) => {
  let seed = 100;
  for (const alpha of [1, 2, 3]) {
    for (const order of ['position', 'cluster'] as const) {
      const q = gaussianPair([2, 4, 33, 24], seed++);
      const k = order === 'cluster' ? clusteredPair([2, 2, 700, 24], seed++) : gaussianPair([2, 2, 700, 24], seed++);
      const v = gaussianPair([2, 2, 700, 24], seed++);
      const dOut = gaussianPair([2, 4, 33, 24], seed++);
      const opts = { threshold: order === 'cluster' ? 1.0 : 0.6, alpha, causal: alpha !== 2, order };
      const ref = await lemma.sparse.reluAttentionBackward(q.f64, k.f64, v.f64, dOut.f64, opts);
      const index = await lemma.sparse.keyIndex(k.f32, v.f32, { order });
      const { order: _order, ...attendOpts } = opts;  // `order` belongs to the index, not to backward
      const got = await index.backward(q.f32, dOut.f32, attendOpts);
      const sync = index.backwardSync(q.f32, dOut.f32, attendOpts);
      for (const name of ['dq', 'dk', 'dv'] as const) {
        const e = relErr(got[name].data, ref[name].data);
        t.true(e <= 1e-4, `${name} α ${alpha} ${order}: ${e}`);
        t.deepEqual(sync[name].data, got[name].data, `${name} sync = async`);
      }
      t.deepEqual(got.dk.shape, [2, 2, 700, 24]);
      index.dispose();
    }
  }
  const q = gaussianPair([1, 1, 4, 8], 900);
  const k = gaussianPair([1, 1, 50, 8], 901);
  const none = await lemma.sparse.reluAttentionBackward(q.f32, k.f32, k.f32, q.f32, { threshold: 1e6 });
  t.true(none.dq.data.every((x) => x === 0) && none.dk.data.every((x) => x === 0), 'no active key: zero gradients');
});
