/**
 * Gradients (spec §1.10.2): central finite differences in fp64 on tiny shapes, and the identity
 * rowsum(dO∘O) = rowsum(P∘dP) with P rebuilt from the returned lse.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import type { Tensor } from '../lib/index.js';
import { gaussian } from './helpers/attention.js';

type T64 = Tensor<Float64Array>;
const t64 = (shape: number[], seed: number): T64 => ({ data: gaussian(shape.reduce((a, b) => a * b, 1), seed), shape });

function loss(q: T64, k: T64, v: T64, dOut: T64, opts: lemma.attention.AttentionOptions): number {
  const { out } = lemma.attention.forwardSync(q, k, v, opts);
  let s = 0;
  for (let i = 0; i < out.data.length; i++) s += out.data[i] * dOut.data[i];
  return s;
}

const cases = [
  { B: 1, Hq: 1, Hkv: 1, Nq: 5, Nk: 5, D: 3, causal: false },
  { B: 1, Hq: 1, Hkv: 1, Nq: 8, Nk: 8, D: 4, causal: true },
  { B: 2, Hq: 2, Hkv: 1, Nq: 3, Nk: 6, D: 2, causal: true },
  { B: 1, Hq: 2, Hkv: 2, Nq: 6, Nk: 3, D: 4, causal: true }, // rows 0–2 see no key
  { B: 1, Hq: 3, Hkv: 1, Nq: 4, Nk: 7, D: 1, causal: false },
];

for (const c of cases) {
  test(`finite differences match backward: ${JSON.stringify(c)}`, (t) => {
    const q = t64([c.B, c.Hq, c.Nq, c.D], 1), k = t64([c.B, c.Hkv, c.Nk, c.D], 2);
    const v = t64([c.B, c.Hkv, c.Nk, c.D], 3), dOut = t64([c.B, c.Hq, c.Nq, c.D], 4);
    const opts = { causal: c.causal, scale: 0.7 };
    const { out, lse } = lemma.attention.forwardSync(q, k, v, opts);
    const g = lemma.attention.backwardSync({ q, k, v, out, lse, dOut }, opts);
    const h = 1e-6;
    for (const [name, x, grad] of [['q', q, g.dq], ['k', k, g.dk], ['v', v, g.dv]] as const) {
      let worst = 0;
      for (let i = 0; i < x.data.length; i++) {
        const x0 = x.data[i];
        x.data[i] = x0 + h;
        const up = loss(q, k, v, dOut, opts);
        x.data[i] = x0 - h;
        const down = loss(q, k, v, dOut, opts);
        x.data[i] = x0;
        const fd = (up - down) / (2 * h);
        worst = Math.max(worst, Math.abs(fd - grad.data[i]) / Math.max(1, Math.abs(fd)));
      }
      t.true(worst < 1e-7, `d${name}: worst relative difference ${worst}`);
    }
    for (const a of [g.dq, g.dk, g.dv]) t.true(a.data.every(Number.isFinite));
  });
}

test('rows that see no key: out = 0, lse = +Infinity, zero gradients, never NaN (fp32 and fp64)', async (t) => {
  for (const F of [Float32Array, Float64Array]) {
    const mk = (shape: number[], seed: number) => ({ data: F.from(gaussian(shape.reduce((a, b) => a * b, 1), seed)), shape });
    const q = mk([1, 1, 9, 8], 5), k = mk([1, 1, 4, 8], 6), v = mk([1, 1, 4, 8], 7), dOut = mk([1, 1, 9, 8], 8);
    const { out, lse } = await lemma.attention.forward(q, k, v, { causal: true });
    for (let i = 0; i < 5; i++) {
      t.is(lse.data[i], Infinity);
      for (let d = 0; d < 8; d++) t.is(out.data[i * 8 + d], 0);
    }
    t.true(Number.isFinite(lse.data[5]));
    const g = await lemma.attention.backward({ q, k, v, out, lse, dOut }, { causal: true });
    for (const a of [g.dq, g.dk, g.dv]) t.true(a.data.every(Number.isFinite));
    for (let i = 0; i < 5 * 8; i++) t.is(g.dq.data[i], 0);
  }
});

test('identity rowsum(dO∘O) = rowsum(P∘dP), P rebuilt from lse', (t) => {
  const [Nq, Nk, D] = [6, 9, 5];
  const q = t64([1, 1, Nq, D], 11), k = t64([1, 1, Nk, D], 12), v = t64([1, 1, Nk, D], 13), dO = t64([1, 1, Nq, D], 14);
  const scale = 1 / Math.sqrt(D);
  const { out, lse } = lemma.attention.forwardSync(q, k, v, { causal: true });
  for (let i = 0; i < Nq; i++) {
    let lhs = 0;
    for (let d = 0; d < D; d++) lhs += dO.data[i * D + d] * out.data[i * D + d];
    let rhs = 0;
    let psum = 0;
    for (let j = 0; j <= i + Nk - Nq; j++) {
      let s = 0;
      let dp = 0;
      for (let d = 0; d < D; d++) {
        s += q.data[i * D + d] * k.data[j * D + d];
        dp += dO.data[i * D + d] * v.data[j * D + d];
      }
      const p = Math.exp(scale * s - lse.data[i]);
      psum += p;
      rhs += p * dp;
    }
    t.true(Math.abs(psum - 1) < 1e-12, `row ${i}: P sums to ${psum}`);
    t.true(Math.abs(lhs - rhs) < 1e-12 * Math.max(1, Math.abs(lhs)), `row ${i}: ${lhs} vs ${rhs}`);
  }
});
