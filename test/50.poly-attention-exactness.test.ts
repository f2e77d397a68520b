/**
 * Polynomial attention is exact for its own kernel (spec AG-1): the chunked prefix-sum algorithm
 * in fp64 equals the pair-by-pair computation with the same kernel κ_g(scale q·k) to 1e-10
 * (relative), and backward matches central finite differences of Σ dOut∘out to 1e-7. The fp32
 * fast path agrees with the oracle to fp32 accuracy. (AG-1 states r = 33 arbitrary positive
 * features and d_v = 16; here the features are the Taylor map's: D = 6, g = 2 gives r = 28 with
 * d_v = D, and D = 3, g = 4 gives r = 35.)
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import type { Tensor } from '../lib/index.js';
import { native } from '../lib/binding.js';
import type { NativePolyAttentionParams } from '../lib/binding.js';
import { gaussian } from './helpers/attention.js';

type T64 = Tensor<Float64Array>;
const t64 = (shape: number[], seed: number, sigma = 1): T64 => ({ data: gaussian(shape.reduce((a, b) => a * b, 1), seed, sigma), shape });

function relMax(x: ArrayLike<number>, ref: ArrayLike<number>, scale?: number): number {
  let e = 0;
  let m = 0;
  for (let i = 0; i < ref.length; i++) {
    e = Math.max(e, Math.abs(x[i] - ref[i]));
    m = Math.max(m, Math.abs(ref[i]));
  }
  return e / (scale ?? (m || 1));
}

async function oracle(q: T64, k: T64, v: T64, dOut: T64, p: NativePolyAttentionParams) {
  const out = new Float64Array(q.data.length);
  const norm = new Float64Array(p.B * p.Hq * p.Nq);
  const r = { ...p, ref: true };
  await native.polyAttentionForward(q.data, k.data, v.data, out, norm, r);
  const dq = new Float64Array(q.data.length);
  const dk = new Float64Array(k.data.length);
  const dv = new Float64Array(v.data.length);
  await native.polyAttentionBackward(q.data, k.data, v.data, out, norm, dOut.data, dq, dk, dv, r);
  return { out, norm, dq, dk, dv };
}

const cases = [
  { B: 1, Hq: 1, Hkv: 1, Nq: 257, Nk: 257, D: 6, degree: 2, causal: true },
  { B: 1, Hq: 1, Hkv: 1, Nq: 257, Nk: 257, D: 6, degree: 2, causal: false },
  { B: 1, Hq: 1, Hkv: 1, Nq: 257, Nk: 257, D: 3, degree: 4, causal: true },
  { B: 2, Hq: 4, Hkv: 2, Nq: 70, Nk: 150, D: 5, degree: 2, causal: true },
  { B: 1, Hq: 2, Hkv: 1, Nq: 150, Nk: 70, D: 5, degree: 2, causal: true }, // rows 0–79 see no key
];

for (const c of cases) {
  test(`AG-1: the prefix-sum algorithm equals the pair-by-pair kernel (fp64) ${JSON.stringify(c)}`, async (t) => {
    const q = t64([c.B, c.Hq, c.Nq, c.D], 1, 0.5), k = t64([c.B, c.Hkv, c.Nk, c.D], 2, 0.5);
    const v = t64([c.B, c.Hkv, c.Nk, c.D], 3), dOut = t64([c.B, c.Hq, c.Nq, c.D], 4);
    const f = await lemma.polyAttention.forward(q, k, v, { degree: c.degree, causal: c.causal, chunk: 16 });
    const g = await lemma.polyAttention.backward(f.ctx, dOut);
    const ref = await oracle(q, k, v, dOut, f.ctx.params);
    const gs = Math.max(...[ref.dq, ref.dk, ref.dv].map((a) => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0)));
    const errs = {
      out: relMax(f.out.data, ref.out), norm: relMax(f.ctx.norm.data, ref.norm),
      dq: relMax(g.dq.data, ref.dq, gs), dk: relMax(g.dk.data, ref.dk, gs), dv: relMax(g.dv.data, ref.dv, gs),
    };
    t.log(JSON.stringify(errs));
    for (const [name, e] of Object.entries(errs)) t.true(e <= 1e-10, `${name}: ${e}`);
    // The fp32 fast path on the same data.
    const f32 = (x: T64): Tensor<Float32Array> => ({ data: Float32Array.from(x.data), shape: x.shape });
    const f1 = await lemma.polyAttention.forward(f32(q), f32(k), f32(v), { degree: c.degree, causal: c.causal });
    const g1 = await lemma.polyAttention.backward(f1.ctx, f32(dOut));
    t.true(f1.out.data instanceof Float32Array && g1.dk.data instanceof Float32Array);
    t.true(relMax(f1.out.data, ref.out) <= 2e-5, 'fp32 out');
    for (const [x, r] of [[g1.dq.data, ref.dq], [g1.dk.data, ref.dk], [g1.dv.data, ref.dv]] as const) {
      t.true(relMax(x, r, gs) <= 1e-4, 'fp32 gradients');
    }
  });
}

test('AG-1: backward matches central finite differences (fp64, 1e-7)', async (t) => {
  for (const c of [
    { B: 1, Hq: 2, Hkv: 1, Nq: 9, Nk: 12, D: 3, degree: 2, causal: true },
    { B: 1, Hq: 1, Hkv: 1, Nq: 11, Nk: 11, D: 2, degree: 4, causal: false },
  ]) {
    const q = t64([c.B, c.Hq, c.Nq, c.D], 5, 0.7), k = t64([c.B, c.Hkv, c.Nk, c.D], 6, 0.7);
    const v = t64([c.B, c.Hkv, c.Nk, c.D], 7), dOut = t64([c.B, c.Hq, c.Nq, c.D], 8);
    const opts = { degree: c.degree, causal: c.causal, chunk: 8 };
    const f = await lemma.polyAttention.forward(q, k, v, opts);
    const g = await lemma.polyAttention.backward(f.ctx, dOut);
    const loss = async (): Promise<number> => {
      const { out } = await lemma.polyAttention.forward(q, k, v, opts);
      return out.data.reduce((s, x, i) => s + x * dOut.data[i], 0);
    };
    const h = 1e-5;
    let worst = 0;
    for (const [x, grad] of [[q, g.dq], [k, g.dk], [v, g.dv]] as const) {
      for (let i = 0; i < x.data.length; i++) {
        const x0 = x.data[i];
        x.data[i] = x0 + h;
        const lp = await loss();
        x.data[i] = x0 - h;
        const lm = await loss();
        x.data[i] = x0;
        const fd = (lp - lm) / (2 * h);
        worst = Math.max(worst, Math.abs(fd - grad.data[i]) / Math.max(1, Math.abs(fd)));
      }
    }
    t.log(`${JSON.stringify(c)}: worst |fd - grad| / max(1, |fd|) = ${worst.toExponential(2)}`);
    t.true(worst <= 1e-7, String(worst));
  }
});

test('degree g reproduces exp only to its Taylor order: g = 2 on one key pair is 1 + x + x²/2', async (t) => {
  // Two keys, one query: out = (κ(x1) v1 + κ(x2) v2) / (κ(x1) + κ(x2)), checked in closed form.
  const q = { data: new Float64Array([1, 0]), shape: [1, 1, 1, 2] };
  const k = { data: new Float64Array([0.5, 0, -0.25, 0]), shape: [1, 1, 2, 2] };
  const v = { data: new Float64Array([1, 0, 0, 1]), shape: [1, 1, 2, 2] };
  const kap = (x: number) => 1 + x + (x * x) / 2;
  const f = await lemma.polyAttention.forward(q, k, v, { degree: 2, scale: 1 });
  const w1 = kap(0.5), w2 = kap(-0.25);
  t.true(Math.abs(f.out.data[0] - w1 / (w1 + w2)) < 1e-15);
  t.true(Math.abs(f.out.data[1] - w2 / (w1 + w2)) < 1e-15);
  t.true(Math.abs(f.ctx.norm.data[0] - (w1 + w2)) < 1e-15);
  t.is(f.features, 6); // C(2 + 2, 2)
  t.is(f.beta, 0.5); // scale · max‖q‖ · max‖k‖
});
