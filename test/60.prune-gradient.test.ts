/**
 * lemma.prune's objective and gradient (spec attention-pruning.md §2.2, acceptance AP-1):
 * the closed form against central finite differences on n = 6, d = 4 in fp64 (max abs error
 * ≤ 1e-8, with and without the causal mask and the ridge), against a plain materialised oracle
 * (also on n = 2101, where T is not cached and is recomputed per block), against the fp64
 * attention kernel (lemma.attention.forward with v = the identity), and the fixed points: at
 * M = 1 the attention term and its gradient are exactly zero.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import { attentionMatrix, maxAbsDiff, normals, oracle, problem } from './helpers/prune.js';

const n = 6;
const d = 4;

for (const causal of [false, true]) {
  for (const lambda of [0, 1e-3]) {
    test(`AP-1: gradient = central finite differences (n = 6, d = 4, fp64, causal ${causal}, λ = ${lambda})`, (t) => {
      // W ~ N(0, 1) and τ = 0.7 so the attention rows are far from uniform and the test has teeth.
      const { X, W } = problem(n, d, 11, 1);
      const r = normals(12);
      const M = Float64Array.from({ length: d * d }, () => 0.5 + 0.5 * r());
      const opts = { tau: 0.7, lambda, causal };
      const at = (m: Float64Array) => lemma.prune.objectiveSync({ X, W, mask: { data: m, shape: [d, d] } }, opts);
      const { value, grad } = at(M);
      t.true(grad.data instanceof Float64Array);
      t.deepEqual(grad.shape, [d, d]);
      const h = 1e-5;
      let maxErr = 0;
      let maxGrad = 0;
      for (let k = 0; k < d * d; k++) {
        const plus = M.slice();
        const minus = M.slice();
        plus[k] += h;
        minus[k] -= h;
        const fd = (at(plus).value - at(minus).value) / (2 * h);
        maxErr = Math.max(maxErr, Math.abs(fd - grad.data[k]));
        maxGrad = Math.max(maxGrad, Math.abs(grad.data[k]));
      }
      t.log(`L = ${value.toExponential(3)}, max |∇L| = ${maxGrad.toExponential(3)}, max |FD − ∇L| = ${maxErr.toExponential(2)}`);
      t.true(maxGrad > 1e-3, 'the gradient is not trivially small');
      t.true(maxErr <= 1e-8, `max abs error ${maxErr}`);
    });
  }
}

test('value, attnError and gradient equal the materialised oracle (causal and not, n = 6 and a partial block)', (t) => {
  for (const causal of [false, true]) {
    for (const nn of [6, 9]) {
      const { X, W } = problem(nn, 5, 21 + nn, 0.6);
      const r = normals(22);
      const M = Float64Array.from({ length: 25 }, () => r());
      const got = lemma.prune.objectiveSync({ X, W, mask: { data: M, shape: [5, 5] } }, { tau: 0.9, lambda: 0.01, causal });
      const want = oracle(X.data, W.data, M, nn, 5, 0.9, 0.01, causal);
      t.true(Math.abs(got.value - want.value) <= 1e-14 * Math.max(1, want.value), `value ${got.value} vs ${want.value}`);
      t.true(Math.abs(got.attnError - want.attnError) <= 1e-13);
      t.true(maxAbsDiff(got.grad.data, want.grad) <= 1e-13, `grad diff ${maxAbsDiff(got.grad.data, want.grad)}`);
    }
  }
});

test('n = 2101 (T not cached, recomputed per block; a partial last block) equals the oracle', async (t) => {
  const N = 2101;
  const D = 3;
  const { X, W } = problem(N, D, 31, 1);
  const M = Float64Array.from([1, 0, 0.5, 0, 1, 1, 2, 0, 1]);
  const got = await lemma.prune.objective({ X, W, mask: { data: M, shape: [D, D] } }, { tau: 0.5 });
  const want = oracle(X.data, W.data, M, N, D, 0.5, 0, false);
  t.true(Math.abs(got.value - want.value) <= 1e-12 * want.value, `value ${got.value} vs ${want.value}`);
  t.true(maxAbsDiff(got.grad.data, want.grad) <= 1e-10, `grad diff ${maxAbsDiff(got.grad.data, want.grad)}`);
});

test('attnError agrees with the fp64 attention kernel (lemma.attention.forward, v = identity), causal and not', async (t) => {
  const N = 40;
  const D = 16;
  const tau = 0.3;
  const { X, W } = problem(N, D, 41, 1 / Math.sqrt(D));
  const r = normals(42);
  const M = Float64Array.from({ length: D * D }, () => (r() > 0 ? 1 : 0));
  // Pad q = X (M∘W) and k = X to width N so that v = I_N makes out = S.
  const pad = (A: Float64Array, width: number) => {
    const out = new Float64Array(N * N);
    for (let i = 0; i < N; i++) for (let b = 0; b < width; b++) out[i * N + b] = A[i * width + b];
    return out;
  };
  const times = (A: Float64Array) => {
    const out = new Float64Array(N * D);
    for (let i = 0; i < N; i++) for (let a = 0; a < D; a++) for (let b = 0; b < D; b++) out[i * D + b] += X.data[i * D + a] * A[a * D + b];
    return out;
  };
  const eye = new Float64Array(N * N);
  for (let i = 0; i < N; i++) eye[i * N + i] = 1;
  const kernelS = async (A: Float64Array, causal: boolean) => {
    const shape = [1, 1, N, N];
    const { out } = await lemma.attention.forward({ data: pad(times(A), D), shape }, { data: pad(X.data, D), shape }, { data: eye, shape }, { scale: tau, causal });
    return out.data as Float64Array;
  };
  for (const causal of [false, true]) {
    const S = await kernelS(M.map((m, k) => m * W.data[k]), causal);
    const T = await kernelS(W.data, causal);
    let err = 0;
    for (let k = 0; k < N * N; k++) err += (S[k] - T[k]) ** 2;
    const got = await lemma.prune.objective({ X, W, mask: { data: M, shape: [D, D] } }, { tau, causal });
    t.true(Math.abs(got.attnError - Math.sqrt(err)) <= 1e-12, `${got.attnError} vs kernel ${Math.sqrt(err)} (causal ${causal})`);
    t.true(maxAbsDiff(S, attentionMatrix(X.data, M.map((m, k) => m * W.data[k]), N, D, tau, causal)) <= 1e-14);
    if (causal) t.is(S[1], 0, 'row 0 sees only key 0');
  }
});

test('at M = 1 the attention term and its gradient are exactly zero; the ridge alone remains', (t) => {
  const { X, W } = problem(7, 4, 51, 1);
  const ones = { data: new Float64Array(16).fill(1), shape: [4, 4] };
  for (const causal of [false, true]) {
    const a = lemma.prune.objectiveSync({ X, W, mask: ones }, { tau: 0.8, causal });
    t.is(a.value, 0);
    t.is(a.attnError, 0);
    t.true(a.grad.data.every((g) => g === 0));
    const b = lemma.prune.objectiveSync({ X, W, mask: ones }, { tau: 0.8, causal, lambda: 0.25 });
    t.is(b.value, 0.5 * 0.25 * 16);
    t.true(b.grad.data.every((g) => g === 0.25));
  }
});

test('objective (async) equals objectiveSync; Float32Array inputs give a Float32Array gradient; Wq, Wk form W = Wq·Wkᵀ', async (t) => {
  const { X, W } = problem(10, 4, 61, 1);
  const r = normals(62);
  const M = { data: Float64Array.from({ length: 16 }, () => r()), shape: [4, 4] };
  const a = await lemma.prune.objective({ X, W, mask: M }, { tau: 0.5, lambda: 0.1 });
  const b = lemma.prune.objectiveSync({ X, W, mask: M }, { tau: 0.5, lambda: 0.1 });
  t.is(a.value, b.value);
  t.deepEqual(a.grad, b.grad);
  t.is(a.device, 'cpu');
  const f32 = (x: { data: Float64Array; shape: number[] }) => ({ data: Float32Array.from(x.data), shape: x.shape });
  const c = lemma.prune.objectiveSync({ X: f32(X), W: f32(W), mask: f32(M) }, { tau: 0.5 });
  t.true(c.grad.data instanceof Float32Array);
  const cRef = lemma.prune.objectiveSync({ X: { data: Float64Array.from(f32(X).data), shape: X.shape }, W: { data: Float64Array.from(f32(W).data), shape: W.shape }, mask: { data: Float64Array.from(f32(M).data), shape: M.shape } }, { tau: 0.5 });
  t.is(c.value, cRef.value, 'computed in fp64 from the fp32 values');
  // Wq, Wk [d, dh]: τ defaults to 1/√dh.
  const dh = 2;
  const Wq = { data: Float64Array.from({ length: 4 * dh }, () => r()), shape: [4, dh] };
  const Wk = { data: Float64Array.from({ length: 4 * dh }, () => r()), shape: [4, dh] };
  const Wfull = new Float64Array(16);
  for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) for (let c2 = 0; c2 < dh; c2++) Wfull[i * 4 + j] += Wq.data[i * dh + c2] * Wk.data[j * dh + c2];
  const e = lemma.prune.objectiveSync({ X, Wq, Wk, mask: M });
  const f = lemma.prune.objectiveSync({ X, W: { data: Wfull, shape: [4, 4] }, mask: M }, { tau: 1 / Math.sqrt(dh) });
  t.is(e.tau, 1 / Math.sqrt(dh));
  t.true(Math.abs(e.value - f.value) <= 1e-15 * Math.max(1, f.value));
});
