/**
 * Test helpers for the attention family: seeded inputs, the fp64 path as oracle, error norms.
 */
import type { Tensor } from '../../lib/index.js';

/** Seeded standard-normal values (xorshift32 + Box–Muller). */
export function gaussian(n: number, seed: number, sigma = 1): Float64Array {
  const out = new Float64Array(n);
  let s = (seed * 2654435761 + 12345) >>> 0 || 1;
  const next = () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(next()));
    const t = 2 * Math.PI * next();
    out[i] = sigma * r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = sigma * r * Math.sin(t);
  }
  return out;
}

/** A pair of tensors with identical values: fp32, and the same fp32 values widened to fp64. */
export function pair(shape: number[], seed: number, sigma = 1): { f32: Tensor<Float32Array>; f64: Tensor<Float64Array> } {
  const n = shape.reduce((a, b) => a * b, 1);
  const f32 = Float32Array.from(gaussian(n, seed, sigma));
  return { f32: { data: f32, shape }, f64: { data: Float64Array.from(f32), shape } };
}

/** max |a − ref| / max(‖ref‖∞, floor), ignoring entries where both are +∞. */
export function relErr(a: ArrayLike<number>, ref: ArrayLike<number>, floor = 1e-30): number {
  let num = 0;
  let den = floor;
  for (let i = 0; i < ref.length; i++) {
    if (ref[i] === Infinity && a[i] === Infinity) continue;
    const d = Math.abs(a[i] - ref[i]);
    num = Number.isNaN(d) ? Infinity : Math.max(num, d);
    if (Number.isFinite(ref[i])) den = Math.max(den, Math.abs(ref[i]));
  }
  return num / den;
}

/** max |a[i]| over the finite entries. */
export function infNorm(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i])) m = Math.max(m, Math.abs(a[i]));
  return m;
}

export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}
