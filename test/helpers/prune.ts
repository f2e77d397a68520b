/**
 * Test helpers for lemma.prune: seeded problems (the spec's AP-3 synthetic setting) and a plain
 * O(n²·d) JavaScript oracle of the objective and its gradient that materialises S, T, R and P.
 */
import { normals } from '../../lib/random.js';

export { normals };

/** X ~ N(0, 1) [n, d] and W ~ N(0, σ_W²) [d, d], fp64, from one seeded stream. */
export function problem(n: number, d: number, seed: number, sigmaW = 1 / Math.sqrt(d)) {
  const r = normals(seed);
  const X = Float64Array.from({ length: n * d }, () => r());
  const W = Float64Array.from({ length: d * d }, () => sigmaW * r());
  return { X: { data: X, shape: [n, d] }, W: { data: W, shape: [d, d] } };
}

/** softmax_rows(τ·X A Xᵀ) materialised [n, n] (causal: row i sees j ≤ i). */
export function attentionMatrix(X: Float64Array, A: Float64Array, n: number, d: number, tau: number, causal: boolean): Float64Array {
  const XA = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) XA[i * d + b] += X[i * d + a] * A[a * d + b];
  const S = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const jn = causal ? i + 1 : n;
    let mx = -Infinity;
    for (let j = 0; j < jn; j++) {
      let z = 0;
      for (let b = 0; b < d; b++) z += XA[i * d + b] * X[j * d + b];
      S[i * n + j] = tau * z;
      mx = Math.max(mx, tau * z);
    }
    let sum = 0;
    for (let j = 0; j < jn; j++) sum += (S[i * n + j] = Math.exp(S[i * n + j] - mx));
    for (let j = 0; j < jn; j++) S[i * n + j] /= sum;
  }
  return S;
}

/** The oracle: L(M) and ∇L(M) = τ·W∘(XᵀPX) + λM, with every n × n matrix materialised. */
export function oracle(X: Float64Array, W: Float64Array, M: Float64Array, n: number, d: number, tau: number, lambda: number, causal: boolean) {
  const MW = M.map((m, k) => m * W[k]);
  const S = attentionMatrix(X, MW, n, d, tau, causal);
  const T = attentionMatrix(X, W, n, d, tau, causal);
  let value = 0;
  const P = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    let c = 0;
    for (let j = 0; j < n; j++) {
      const r = S[i * n + j] - T[i * n + j];
      value += 0.5 * r * r;
      c += S[i * n + j] * r;
    }
    for (let j = 0; j < n; j++) P[i * n + j] = S[i * n + j] * (S[i * n + j] - T[i * n + j] - c);
  }
  const attnError = Math.sqrt(2 * value);
  for (let k = 0; k < d * d; k++) value += 0.5 * lambda * M[k] * M[k];
  const PX = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let b = 0; b < d; b++) PX[i * d + b] += P[i * n + j] * X[j * d + b];
  const grad = new Float64Array(d * d);
  for (let a = 0; a < d; a++) {
    for (let b = 0; b < d; b++) {
      let g = 0;
      for (let i = 0; i < n; i++) g += X[i * d + a] * PX[i * d + b];
      grad[a * d + b] = tau * W[a * d + b] * g + lambda * M[a * d + b];
    }
  }
  return { value, attnError, grad, S, T };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Number of non-zero entries in each row of a d × d matrix. */
export function rowCounts(a: ArrayLike<number>, d: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < d; i++) {
    let c = 0;
    for (let j = 0; j < d; j++) if (a[i * d + j] !== 0) c++;
    out.push(c);
  }
  return out;
}
