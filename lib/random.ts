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
