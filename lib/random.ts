/**
 * Seeded streams for test data, benchmarks and initial weights (never for privacy noise, which
 * comes from the OS CSPRNG: lib/dp/random.ts).
 */

/** xorshift32 uniform in (0, 1). */
export function uniforms(seed: number): () => number {
  let s = (seed * 2654435761 + 12345) >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
}

/** A seeded stream of standard normals (Box–Muller, both values used). */
export function normals(seed: number): () => number {
  const u = uniforms(seed);
  let spare = NaN;
  return () => {
    if (!Number.isNaN(spare)) {
      const x = spare;
      spare = NaN;
      return x;
    }
    const r = Math.sqrt(-2 * Math.log(u()));
    const t = 2 * Math.PI * u();
    spare = r * Math.sin(t);
    return r * Math.cos(t);
  };
}

/** The high and low 32 bits of the 64-bit product of two uint32. */
function mulhilo(a: number, b: number): [number, number] {
  const aH = a >>> 16, aL = a & 0xffff, bH = b >>> 16, bL = b & 0xffff;
  const ll = aL * bL, lh = aL * bH, hl = aH * bL;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  const hi = (aH * bH + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
  return [hi, Math.imul(a, b) >>> 0];
}

/**
 * Philox4x32-10 (Salmon et al., SC'11), bit-identical to native/core/rng.h: the four words of the
 * block at counter `ctr` under key (k0, k1). Lets TypeScript draw the same streams as the native code.
 */
export function philox4x32(ctr: readonly [number, number, number, number], k0: number, k1: number): Uint32Array {
  let [c0, c1, c2, c3] = ctr.map((v) => v >>> 0);
  for (let i = 0; i < 10; ++i) {
    if (i > 0) {
      k0 = (k0 + 0x9e3779b9) >>> 0;
      k1 = (k1 + 0xbb67ae85) >>> 0;
    }
    const [h0, l0] = mulhilo(0xd2511f53, c0);
    const [h1, l1] = mulhilo(0xcd9e8d57, c2);
    const n0 = (h1 ^ c1 ^ k0) >>> 0, n2 = (h0 ^ c3 ^ k1) >>> 0;
    c0 = n0; c1 = l1; c2 = n2; c3 = l0;
  }
  return Uint32Array.of(c0, c1, c2, c3);
}

/** rng.h's u01: a double in (0, 1) from two words (52 random bits plus half a step). */
export function u01(a: number, b: number): number {
  return ((a >>> 6) * 67108864 + (b >>> 6) + 0.5) / 4503599627370496;
}
