/**
 * Polynomial attention against exact softmax attention (spec AG-2): d = 8, n = 2560,
 * q, k ~ N(0, 1/d), v and dOut ~ N(0, 1), scale 1 (exp(q·k), the authors' setting). Degree 2
 * must give out and dV within 5 %, dQ and dK within 20 % (relative Frobenius, the standard
 * definition); degree 4 must cut every error at least 5x. Also: degree 'auto' against its
 * worst-case bound, and the maxBeta refusal.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import type { Tensor } from '../lib/index.js';
import { gaussian } from './helpers/attention.js';

const n = 2560, d = 8;
const t64 = (shape: number[], seed: number, sigma = 1): Tensor<Float64Array> => ({ data: gaussian(shape.reduce((a, b) => a * b, 1), seed, sigma), shape });
const q = t64([1, 1, n, d], 10, 1 / Math.sqrt(d));
const k = t64([1, 1, n, d], 11, 1 / Math.sqrt(d));
const v = t64([1, 1, n, d], 12);
const dOut = t64([1, 1, n, d], 13);
const f32 = (x: Tensor<Float64Array>): Tensor<Float32Array> => ({ data: Float32Array.from(x.data), shape: x.shape });

for (const causal of [false, true]) {
  test(`AG-2: degree 2 within 5 % / 20 %, degree 4 cuts every error 5x (causal ${causal})`, async (t) => {
    const e2 = await lemma.polyAttention.error(q, k, v, { degree: 2, scale: 1, causal, dOut });
    const e4 = await lemma.polyAttention.error(q, k, v, { degree: 4, scale: 1, causal, dOut });
    const row = (e: lemma.polyAttention.PolyErrorResult) => ['out', 'dq', 'dk', 'dv'].map((x) => (100 * e[x as 'out'].relFrobenius).toFixed(2) + '%').join(' ');
    t.log(`degree 2: ${row(e2)}; degree 4: ${row(e4)}; beta measured ${e2.beta.toFixed(3)}, bound ${e2.betaBound.toFixed(3)}`);
    t.true(e2.out.relFrobenius <= 0.05 && e2.dv.relFrobenius <= 0.05);
    t.true(e2.dq.relFrobenius <= 0.2 && e2.dk.relFrobenius <= 0.2);
    for (const x of ['out', 'dq', 'dk', 'dv'] as const) {
      t.true(e4[x].relFrobenius * 5 <= e2[x].relFrobenius, `${x}: ${e4[x].relFrobenius} vs ${e2[x].relFrobenius}`);
    }
    t.true(e2.beta <= e2.betaBound && e2.beta > 0.5 * e2.betaBound, 'the bound holds and is not vacuous here');
    // The fp32 fast path measures the same errors to fp32 accuracy.
    const e2f = await lemma.polyAttention.error(f32(q), f32(k), f32(v), { degree: 2, scale: 1, causal, dOut });
    for (const x of ['out', 'dq', 'dk', 'dv'] as const) t.true(Math.abs(e2f[x].relFrobenius - e2[x].relFrobenius) < 1e-4);
  });
}

test("degree 'auto' picks the smallest even degree whose worst-case bound meets the tolerance", async (t) => {
  const small = t64([1, 2, 300, 4], 20, 0.2), ks = t64([1, 2, 300, 4], 21, 0.2), vs = t64([1, 2, 300, 4], 22);
  for (const tolerance of [1e-2, 1e-4, 1e-8]) {
    const f = await lemma.polyAttention.forward(small, ks, vs, { degree: 'auto', tolerance });
    const bound = lemma.polyAttention.kernelErrorBound(f.beta, f.degree);
    t.true(bound <= tolerance);
    if (f.degree > 2) t.true(lemma.polyAttention.kernelErrorBound(f.beta, f.degree - 2) > tolerance);
    // The bound is a bound: the measured kernel error of out is below it (weights within 1 ± ε
    // move a convex combination by at most 2ε/(1-ε) of the spread of v).
    const e = await lemma.polyAttention.error(small, ks, vs, { degree: f.degree });
    let vmax = 0;
    for (const x of vs.data) vmax = Math.max(vmax, Math.abs(x));
    t.true(e.out.maxAbs <= ((2 * bound) / (1 - bound)) * 2 * vmax, `${e.out.maxAbs} vs ${bound}`);
    t.log(`tolerance ${tolerance}: beta ${f.beta.toFixed(3)}, degree ${f.degree}, bound ${bound.toExponential(2)}, measured max |Δout| ${e.out.maxAbs.toExponential(2)}`);
  }
  await t.throwsAsync(lemma.polyAttention.forward(q, k, v, { degree: 'auto', tolerance: 1e-12, scale: 1 }), { code: 'ERR_RANGE', message: /degree 'auto'.*tolerance 1e-12/ });
});

test('beta above maxBeta is refused with ERR_RANGE instead of a garbage answer', async (t) => {
  const big = t64([1, 1, 64, 8], 30, 2);
  const f = lemma.polyAttention.forward(big, big, big, { degree: 2 });
  await t.throwsAsync(f, { code: 'ERR_RANGE', message: /beta = [\d.]+ .*exceeds maxBeta = 6/ });
  const ok = await lemma.polyAttention.forward(big, big, big, { degree: 2, maxBeta: 1e9 });
  t.true(ok.beta > 6);
});
