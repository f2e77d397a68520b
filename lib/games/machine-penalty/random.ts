/**
 * Seeded uniform streams for the machine-penalty simulation, one per (seed, condition, participant,
 * role). Each player draws only from its own stream, so a run is the same whatever order the
 * games finish in (async agents, `concurrency` > 1), and adding or removing a condition does not
 * change the others' draws. lib/random.ts's xorshift32 is not used here: its streams from adjacent
 * seeds start correlated, and we derive thousands of streams from adjacent keys.
 * Stream: sfc32 (Doty-Humphrey), keyed by MurmurHash3-style mixing of the key words.
 */

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3 (x86, 32-bit) over 32-bit words. */
export function hashWords(words: readonly number[], seed = 0x2545f491): number {
  let h = seed | 0;
  for (const w of words) {
    let k = Math.imul(w | 0, 0xcc9e2d51);
    k = rotl(k, 15);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = rotl(h, 13);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  return fmix32(h ^ (words.length * 4));
}

/** FNV-1a over the UTF-16 code units of `s`. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A uniform stream in (0, 1) (sfc32), keyed by the given words. */
export function stream(key: readonly number[]): () => number {
  let a = hashWords([...key, 0]);
  let b = hashWords([...key, 1]);
  let c = hashWords([...key, 2]);
  let d = hashWords([...key, 3]);
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = rotl(c, 21);
    c = (c + t) | 0;
    return ((t >>> 0) + 0.5) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}

/** The two 32-bit words of a safe integer seed. */
export function seedWords(seed: number): [number, number] {
  return [seed >>> 0, Math.floor(seed / 4294967296) >>> 0];
}

/** One standard normal from a uniform stream (Box–Muller, cosine branch: two uniforms per draw). */
export function normal(u: () => number): number {
  const r = Math.sqrt(-2 * Math.log(u()));
  return r * Math.cos(2 * Math.PI * u());
}
