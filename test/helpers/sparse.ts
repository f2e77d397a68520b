/**
 * Test helpers for the sparse attention family: seeded tensors (fp32 and the same values in
 * fp64), the fp64 oracles, and brute-force reference sets computed here in plain JS.
 */
import * as lemma from '../../lib/index.js';
import type { Tensor } from '../../lib/index.js';
import { clusteredKeys, gaussian32 } from '../../lib/bench/sparse.js';

export { clusteredKeys, gaussian32, paperThreshold } from '../../lib/bench/sparse.js';

export interface Pair { f32: Tensor<Float32Array>; f64: Tensor<Float64Array> }

export function pairOf(data: Float32Array, shape: number[]): Pair {
  return { f32: { data, shape }, f64: { data: Float64Array.from(data), shape } };
}
export function gaussianPair(shape: number[], seed: number): Pair {
  return pairOf(gaussian32(shape.reduce((a, b) => a * b, 1), seed), shape);
}
/** Keys from the bench's 64-cluster mixture, [B, Hkv, N, D]. */
export function clusteredPair(shape: number[], seed: number): Pair {
  const [B, H, N, D] = shape;
  return pairOf(clusteredKeys(B * H, N, D, seed), shape);
}

/** max |a − ref| / max(‖ref‖∞, floor). */
export function relErr(a: ArrayLike<number>, ref: ArrayLike<number>, floor = 1e-30): number {
  let num = 0;
  let den = floor;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(a[i] - ref[i]);
    num = Number.isNaN(d) ? Infinity : Math.max(num, d);
    den = Math.max(den, Math.abs(ref[i]));
  }
  return num / den;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

export interface Dims { B: number; Hq: number; Hkv: number; M: number; N: number; D: number }

export function dimsOf(q: Tensor, k: Tensor): Dims {
  return { B: q.shape[0], Hq: q.shape[1], Hkv: k.shape[1], M: q.shape[2], N: k.shape[2], D: q.shape[3] };
}

/** Visible keys of row i (bottom-right causal). */
export function visible(d: Dims, i: number, causal: boolean): number {
  return causal ? Math.min(Math.max(i + d.N - d.M + 1, 0), d.N) : d.N;
}

/**
 * fp64 scores of one row against its kv head: s_j = scale·⟨q, k_j⟩ over the visible keys, and the
 * rounding band δ_j = 1e-5·(|scale|·‖q‖·‖k_j‖ + 1) inside which fp32 may decide either way.
 */
export function rowScores(q: Tensor, k: Tensor, row: number, causal: boolean, scale?: number) {
  const d = dimsOf(q, k);
  const sc = scale ?? 1 / Math.sqrt(d.D);
  const bh = Math.floor(row / d.M);
  const i = row % d.M;
  const kv = (Math.floor(bh / d.Hq) * d.Hkv + Math.floor((bh % d.Hq) / (d.Hq / d.Hkv))) * d.N * d.D;
  const vis = visible(d, i, causal);
  const s = new Float64Array(vis);
  const band = new Float64Array(vis);
  let qn = 0;
  for (let e = 0; e < d.D; e++) qn += q.data[row * d.D + e] ** 2;
  qn = Math.sqrt(qn);
  for (let j = 0; j < vis; j++) {
    let a = 0;
    let kn = 0;
    for (let e = 0; e < d.D; e++) {
      a += q.data[row * d.D + e] * k.data[kv + j * d.D + e];
      kn += k.data[kv + j * d.D + e] ** 2;
    }
    s[j] = sc * a;
    band[j] = 1e-5 * (Math.abs(sc) * qn * Math.sqrt(kn) + 1);
  }
  return { s, band, kv, vis };
}

/** Dense fp64 softmax attention (the exact result softmax-over-the-top approximates). */
export async function denseSoftmax64(q: Pair, k: Pair, v: Pair, causal: boolean): Promise<Float64Array> {
  const r = await lemma.attention.forward(q.f64, k.f64, v.f64, { causal, device: 'cpu' });
  return r.out.data as Float64Array;
}

/** Row slice. */
export function row(a: ArrayLike<number>, r: number, D: number): number[] {
  return Array.from({ length: D }, (_, e) => a[r * D + e]);
}
