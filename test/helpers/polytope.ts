/**
 * Helpers for the polytope / sampling tests (test/3x.*): standard bodies, a seeded RNG,
 * per-coordinate moments with ESS-based standard errors, and the one-sample KS test.
 */
import * as lemma from '../../lib/index.js';

/** A xorshift-based uniform RNG for test data (not the sampler's). */
export function rng(seed: number): () => number {
  let s = (seed >>> 0) || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
}

export function normal(u: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

/** The cube [lo, hi]^d as 2d halfspaces. */
export function cubeRows(d: number, lo = -1, hi = 1): { A: number[][]; b: number[] } {
  const A: number[][] = [];
  const b: number[] = [];
  for (let j = 0; j < d; j++) {
    const r = new Array(d).fill(0); r[j] = 1; A.push(r); b.push(hi);
    const s = new Array(d).fill(0); s[j] = -1; A.push(s); b.push(-lo);
  }
  return { A, b };
}

export function cube(d: number, lo = -1, hi = 1): lemma.polytope.ConvexBody {
  const { A, b } = cubeRows(d, lo, hi);
  return lemma.polytope.halfspaces(A, b);
}

/** {x ≥ 0, Σx ≤ 1}. */
export function simplex(d: number): lemma.polytope.ConvexBody {
  const A: number[][] = [];
  const b: number[] = [];
  for (let j = 0; j < d; j++) { const r = new Array(d).fill(0); r[j] = -1; A.push(r); b.push(0); }
  A.push(new Array(d).fill(1)); b.push(1);
  return lemma.polytope.halfspaces(A, b);
}

export function unitDisk(): lemma.polytope.ConvexBody {
  return lemma.polytope.spectrahedron([[[1, 0], [0, -1]], [[0, 1], [1, 0]]], [[-1, 0], [0, -1]]);
}

/** All kept samples of coordinate j (chains concatenated). */
export function coord(r: lemma.sample.DikinResult, j: number): Float64Array {
  const [C, K, d] = r.samples.shape;
  const out = new Float64Array(C * K);
  for (let i = 0; i < C * K; i++) out[i] = r.samples.data[i * d + j];
  return out;
}

export interface Moments { mean: number; variance: number; seMean: number; seVar: number; n: number }

/** Mean and variance with standard errors from the effective sample size. */
export function moments(x: Float64Array, ess: number): Moments {
  const n = x.length;
  let m = 0;
  for (const v of x) m += v;
  m /= n;
  let m2 = 0, m4 = 0;
  for (const v of x) { const e = (v - m) ** 2; m2 += e; m4 += e * e; }
  m2 /= n; m4 /= n;
  return { mean: m, variance: m2, seMean: Math.sqrt(m2 / ess), seVar: Math.sqrt(Math.max(m4 - m2 * m2, 0) / ess), n };
}

/** Every `step`-th element (to make KS samples roughly independent). */
export function thinned(x: Float64Array, step: number): Float64Array {
  const s = Math.max(1, Math.floor(step));
  const out = new Float64Array(Math.floor(x.length / s));
  for (let i = 0; i < out.length; i++) out[i] = x[i * s];
  return out;
}

/** One-sample Kolmogorov–Smirnov test against a CDF: { D, p } (asymptotic, Stephens' correction). */
export function ks(x: Float64Array, cdf: (v: number) => number): { D: number; p: number } {
  const s = Float64Array.from(x).sort();
  const n = s.length;
  let D = 0;
  for (let i = 0; i < n; i++) {
    const F = cdf(s[i]);
    D = Math.max(D, (i + 1) / n - F, F - i / n);
  }
  const lam = (Math.sqrt(n) + 0.12 + 0.11 / Math.sqrt(n)) * D;
  let p = 0;
  for (let k = 1; k < 100; k++) p += 2 * (-1) ** (k - 1) * Math.exp(-2 * k * k * lam * lam);
  return { D, p: Math.min(1, Math.max(0, p)) };
}
