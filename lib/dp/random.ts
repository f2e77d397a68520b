/**
 * Random bits for the DP noise samplers, drawn in bulk.
 *
 * Production: `crypto.randomFillSync` (the OS CSPRNG through OpenSSL) into a 64 KiB block,
 * consumed word by word and bit by bit. Tests only: AES-256-CTR keyed by SHA-256(seed), a
 * cryptographic-quality stream that is reproducible — reachable only behind
 * `insecureDeterministic: true` (see {@link randomSourceFromOptions}).
 *
 * Uniform integers are drawn by rejection on exactly ⌈log₂ n⌉ fresh bits, so every draw is
 * exactly uniform (no modulo bias, no floating point).
 */
import crypto from 'node:crypto';
import { checkBoolean, expected } from '../validation/index.js';

const BLOCK_WORDS = 16384; // 64 KiB per refill
const TWO32 = 4294967296;

export class RandomSource {
  /** 'os' (crypto.randomFillSync) or 'insecure-deterministic' (seeded AES-256-CTR). */
  readonly kind: 'os' | 'insecure-deterministic';
  private readonly words = new Uint32Array(BLOCK_WORDS);
  private pos = BLOCK_WORDS;
  private reservoir = 0;
  private reservoirBits = 0;
  private readonly cipher: crypto.Cipher | null;
  private readonly zeros: Uint8Array | null;

  constructor(seed?: Uint8Array) {
    if (seed === undefined) {
      this.kind = 'os';
      this.cipher = null;
      this.zeros = null;
    } else {
      this.kind = 'insecure-deterministic';
      const key = crypto.createHash('sha256').update(seed).digest();
      this.cipher = crypto.createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
      this.zeros = new Uint8Array(BLOCK_WORDS * 4);
    }
  }

  private refill(): void {
    if (this.cipher) {
      const ks = this.cipher.update(this.zeros!);
      new Uint8Array(this.words.buffer).set(ks);
    } else {
      crypto.randomFillSync(this.words);
    }
    this.pos = 0;
  }

  /** A uniform 32-bit word, as a non-negative number. */
  word(): number {
    if (this.pos === BLOCK_WORDS) this.refill();
    return this.words[this.pos++];
  }

  /** k uniform bits (1 ≤ k ≤ 31) as a number in [0, 2^k). */
  bits(k: number): number {
    if (this.reservoirBits < k) {
      // Leftover bits are dropped: they are independent of everything drawn, so this keeps
      // the output exactly uniform.
      if (this.pos === BLOCK_WORDS) this.refill();
      this.reservoir = this.words[this.pos++];
      this.reservoirBits = 32;
    }
    const r = this.reservoir & ((1 << k) - 1);
    this.reservoir >>>= k;
    this.reservoirBits -= k;
    return r >>> 0;
  }

  /** One uniform bit. */
  bit(): number {
    return this.bits(1);
  }

  /** A uniform integer in [0, n) for a safe integer 1 ≤ n ≤ 2^53 (rejection on ⌈log₂ n⌉ bits). */
  below(n: number): number {
    if (n <= 1) return 0;
    if (n <= 0x80000000) {
      const k = 32 - Math.clz32(n - 1);
      for (;;) {
        const r = this.bits(k);
        if (r < n) return r;
      }
    }
    if (n <= TWO32) {
      for (;;) {
        const r = this.word();
        if (r < n) return r;
      }
    }
    // n > 2^32: high part of (k − 32) bits, low part one whole word.
    const hiBits = 32 - Math.clz32(Math.ceil(n / TWO32) - 1);
    for (;;) {
      const hi = hiBits === 0 ? 0 : this.bits(hiBits);
      const r = hi * TWO32 + this.word();
      if (r < n) return r;
    }
  }
}

let osSource: RandomSource | null = null;
/** The process-wide OS-entropy source (lazily created). */
export function osRandom(): RandomSource {
  if (!osSource) osSource = new RandomSource();
  return osSource;
}

/** Seed bytes from a test seed: a safe integer, a string, or bytes. */
function seedBytes(seed: unknown, name: string): Uint8Array {
  if (typeof seed === 'number') {
    if (!Number.isSafeInteger(seed)) throw new RangeError(expected('a safe integer, a string or a Uint8Array', name, seed));
    return new TextEncoder().encode(`int:${seed}`);
  }
  if (typeof seed === 'string') return new TextEncoder().encode(`str:${seed}`);
  if (seed instanceof Uint8Array) return seed;
  throw new TypeError(expected('a safe integer, a string or a Uint8Array', name, seed));
}

/**
 * The random source an options object asks for: the OS CSPRNG unless both `seed` and
 * `insecureDeterministic: true` are given. A seed alone is refused, so a stray test option can
 * never turn production noise predictable.
 */
export function randomSourceFromOptions(opts: Record<string, unknown>, prefix: string): RandomSource {
  const insecure = opts.insecureDeterministic === undefined ? false
    : checkBoolean(opts.insecureDeterministic, `${prefix}.insecureDeterministic`);
  if (opts.seed === undefined) {
    if (insecure) throw new TypeError(expected('a seed (insecureDeterministic: true needs one)', `${prefix}.seed`, opts.seed));
    return osRandom();
  }
  if (!insecure) {
    throw new RangeError(`${expected('no seed (a seed is accepted only together with insecureDeterministic: true, for tests)', `${prefix}.seed`, opts.seed)}`);
  }
  return new RandomSource(seedBytes(opts.seed, `${prefix}.seed`));
}
