/**
 * I/O cost of dense attention (forward or backward) in the red–blue pebble game (Hong–Kung 1981;
 * spec attention-io §1.2): a cache of M words, explicit loads (slow -> cache) and stores
 * (cache -> slow), manual placement, no LRU. Two schedules are simulated and their words counted:
 *
 * - `flash`: FlashAttention-2 order (§1.4–1.6). Forward: outer loop over query blocks Q_I (Br
 *   rows) with Q_I, the O_I accumulator and the row stats m, ℓ resident; inner loop streams K_J,
 *   V_J (Bc rows); O and L are stored once. Backward: a light pre-pass D = rowsum(dO∘O), then an
 *   outer loop over key blocks with K_J, V_J, dK_J, dV_J resident, streaming Q_I, dO_I, L_I, D_I
 *   and loading + storing the dQ_I partial sums. When M cannot hold even one outer row with its
 *   accumulators (M below ~3d forward, ~7d backward) the same loop nest runs with one outer row
 *   whose vectors are streamed in head-dimension chunks and whose accumulators are spilled.
 * - `materialized` (§1.7, "Algorithm 6"): every product through an I/O-optimal tiled GEMM (an
 *   output tile resident, the inner dimension streamed in panels), with S, P (and dP, dS) written
 *   to slow memory; the softmax and elementwise steps stream over the n×n arrays.
 *
 * Shapes (per head): Q, K, V, O, dO, dQ, dK, dV are (N, D); L (log-sum-exp) and D are (N).
 * One word per element. Scalar temporaries (the running max, the product being added) take
 * SCRATCH_WORDS cache words: in the pebble game registers are cache too.
 *
 * Counting is exact for the schedule as run. Iterations that are identical by construction (all
 * full tiles of a loop; the middle iterations between a distinct first and last one) run once under
 * `Cache.repeat`, which multiplies their word counts; every allocation is still checked against M,
 * so n = 2^20 costs the same time as n = 64. `ioCostUnrolled` runs every iteration for real and
 * is the test oracle for that collapsing.
 *
 * Test: npx ava test/13.attention-io-cost.test.ts
 */
import { LemmaError } from '../errors.js';
import { checkInteger, checkOneOf, checkOptions } from '../validation/index.js';
import { checkKnownKeys } from '../validation/options.js';

/** The two simulated schedules. */
export type IoAlgorithm = 'flash' | 'materialized';
/** Which pass of attention is simulated. */
export type IoPass = 'forward' | 'backward';

/** Options of {@link ioCost}. */
export interface IoCostOptions {
  /** Sequence length N (queries = keys), an integer in [1, 2^20]. */
  n: number;
  /** Head dimension D, an integer in [1, 4096]. */
  d: number;
  /** Cache size M in words, an integer in [max(D, 16), 2^40]. */
  cacheWords: number;
  /** 'flash' (FlashAttention-2 tiling) or 'materialized' (tiled GEMMs, n×n arrays in slow memory). */
  algorithm: IoAlgorithm;
  /** 'forward' (inputs Q, K, V; outputs O, L) or 'backward' (inputs Q, K, V, O, dO, L; outputs dQ, dK, dV). */
  pass: IoPass;
}

/** What {@link ioCost} measured. */
export interface IoCostResult {
  algorithm: IoAlgorithm;
  pass: IoPass;
  n: number;
  d: number;
  cacheWords: number;
  /** Words moved slow -> cache. */
  loads: number;
  /** Words moved cache -> slow. */
  stores: number;
  /** loads + stores. */
  total: number;
  /** min(n²d²/M, n²d/√M): the Θ bound of arXiv 2410.09397 for the QKV form, without constants. */
  bound: number;
  /** total / bound. */
  ratio: number;
  /** 'large-cache' when M ≥ d², else 'small-cache'. */
  regime: 'large-cache' | 'small-cache';
  /**
   * Tile sizes used. flash: Br (query rows), Bc (key rows), and dChunk (head-dimension chunk)
   * when the outer row is streamed. materialized: t (side of the square output tile of the
   * n×n products), tn × td (output tile of the n×d products).
   */
  tiles: Readonly<Record<string, number>>;
  /** Largest number of words resident at once; never above cacheWords. */
  peakResidentWords: number;
}

/** Smallest cache accepted: below it some schedule has no room for a tile plus its scalars. */
export const IO_MIN_CACHE_WORDS = 16;
const SCRATCH_WORDS = 2;
const MAX_N = 2 ** 20;
const MAX_D = 4096;
const MAX_CACHE_WORDS = 2 ** 40;

function internal(message: string): never {
  throw new LemmaError('ERR_INTERNAL', `io-cost schedule bug: ${message}`);
}

/**
 * M words of fast memory holding named blocks. Loads and stores go through an allocated block and
 * may not exceed its size; allocating past M is a bug in the schedule, not in the caller's input.
 */
class Cache {
  loads = 0n;
  stores = 0n;
  peak = 0;
  private used = 0;
  private factor = 1n;
  private readonly blocks = new Map<string, number>();

  constructor(readonly capacity: number, private readonly unrolled: boolean) {}

  available(): number {
    return this.capacity - this.used;
  }

  resident(): number {
    return this.used;
  }

  alloc(name: string, words: number): void {
    if (!Number.isInteger(words) || words < 1) internal(`block ${name} of ${words} words`);
    if (this.blocks.has(name)) internal(`block ${name} allocated twice`);
    if (this.used + words > this.capacity) {
      internal(`block ${name} of ${words} words overflows the cache (${this.used} of ${this.capacity} in use)`);
    }
    this.blocks.set(name, words);
    this.used += words;
    if (this.used > this.peak) this.peak = this.used;
  }

  free(...names: string[]): void {
    for (const name of names) {
      const words = this.blocks.get(name);
      if (words === undefined) internal(`free of block ${name} that is not resident`);
      this.blocks.delete(name);
      this.used -= words;
    }
  }

  load(name: string, words: number): void {
    this.loads += this.transfer(name, words);
  }

  store(name: string, words: number): void {
    this.stores += this.transfer(name, words);
  }

  /** Runs `count` identical iterations of `body` (once, with counts multiplied, unless unrolled). */
  repeat(count: number, body: () => void): void {
    if (count < 1) return;
    if (this.unrolled) {
      for (let i = 0; i < count; i++) body();
      return;
    }
    const outer = this.factor;
    this.factor = outer * BigInt(count);
    try {
      body();
    } finally {
      this.factor = outer;
    }
  }

  private transfer(name: string, words: number): bigint {
    const size = this.blocks.get(name);
    if (size === undefined) internal(`transfer through block ${name} that is not resident`);
    if (!Number.isInteger(words) || words < 1 || words > size) internal(`transfer of ${words} words through block ${name} of ${size}`);
    return BigInt(words) * this.factor;
  }
}

/** A run of consecutive equal-size blocks of a loop over `total` items in blocks of `block`. */
interface Run {
  size: number;
  first: boolean;
  last: boolean;
}

/** Loops over blocks of `block` items covering [0, total): first, the identical middle ones, last. */
function forBlocks(c: Cache, total: number, block: number, body: (run: Run) => void): void {
  const nb = Math.ceil(total / block);
  if (nb === 1) {
    body({ size: total, first: true, last: true });
    return;
  }
  body({ size: block, first: true, last: false });
  c.repeat(nb - 2, () => body({ size: block, first: false, last: false }));
  body({ size: total - (nb - 1) * block, first: false, last: true });
}

/** The smallest block size that gives the same number of blocks as `max` (fewer ragged tails). */
function balanced(total: number, max: number): number {
  if (max >= total) return total;
  return Math.ceil(total / Math.ceil(total / max));
}

// ---------------------------------------------------------------------------------------------
// Streaming helpers shared by both schedules.

/**
 * Streams `rows` rows of `width` words: per row `arraysIn` arrays are read once, `arraysOut` of
 * them written back in place, plus `scalarsIn` / `scalarsOut` per-row scalars. Whole rows in
 * blocks when a row fits, otherwise one row at a time in chunks.
 */
function streamRows(
  c: Cache,
  rows: number,
  width: number,
  io: { arraysIn: number; arraysOut: number; scalarsIn: number; scalarsOut: number },
): void {
  const { arraysIn, arraysOut, scalarsIn, scalarsOut } = io;
  const s = Math.max(1, scalarsIn, scalarsOut);
  const room = c.available();
  const buffers = Array.from({ length: arraysIn }, (_, a) => `row${a}`);
  if (arraysIn * width + s <= room) {
    const rb = balanced(rows, Math.floor(room / (arraysIn * width + s)));
    forBlocks(c, rows, rb, ({ size: r }) => {
      c.alloc('rowScalars', r * s);
      for (const b of buffers) c.alloc(b, r * width);
      if (scalarsIn > 0) c.load('rowScalars', r * scalarsIn);
      for (const b of buffers) c.load(b, r * width);
      for (let a = 0; a < arraysOut; a++) c.store(buffers[a], r * width);
      if (scalarsOut > 0) c.store('rowScalars', r * scalarsOut);
      c.free('rowScalars', ...buffers);
    });
    return;
  }
  const w = Math.floor((room - s) / arraysIn);
  if (w < 1) internal(`no room to stream rows (${room} words free)`);
  c.repeat(rows, () => {
    c.alloc('rowScalars', s);
    for (const b of buffers) c.alloc(b, w);
    if (scalarsIn > 0) c.load('rowScalars', scalarsIn);
    forBlocks(c, width, w, ({ size }) => {
      for (const b of buffers) c.load(b, size);
      for (let a = 0; a < arraysOut; a++) c.store(buffers[a], size);
    });
    if (scalarsOut > 0) c.store('rowScalars', scalarsOut);
    c.free('rowScalars', ...buffers);
  });
}

/** D = rowsum(dO ∘ O) (N): reads dO and O once, writes D. */
function rowsumDoO(c: Cache, n: number, d: number): void {
  streamRows(c, n, d, { arraysIn: 2, arraysOut: 0, scalarsIn: 0, scalarsOut: 1 });
}

// ---------------------------------------------------------------------------------------------
// flash

type Tiles = Record<string, number>;

function flashForward(c: Cache, n: number, d: number): Tiles {
  const room = c.available();
  // Footprint: Q_I, O_I (Br·d each), m, ℓ (2Br), the S/P tile (Br·Bc), and one Bc·d buffer that
  // holds K_J and then V_J (K_J is dead once S is formed). I/O = nd + 2nd·⌈n/Br⌉ + nd + n does
  // not depend on Bc, so Br is maximised at Bc = 1 and Bc then takes the room left.
  const brMax = Math.floor((room - d) / (2 * d + 3));
  if (brMax < 1) return flashForwardStreamed(c, n, d);
  const Br = balanced(n, brMax);
  const Bc = balanced(n, Math.floor((room - Br * (2 * d + 2)) / (Br + d)));
  forBlocks(c, n, Br, ({ size: r }) => {
    c.alloc('Q_I', r * d);
    c.alloc('O_I', r * d);
    c.alloc('mL_I', 2 * r);
    c.load('Q_I', r * d);
    forBlocks(c, n, Bc, ({ size: k }) => {
      c.alloc('S', r * k);
      c.alloc('KV_J', k * d);
      c.load('KV_J', k * d); // K_J: S = τ Q_I K_Jᵀ; m, ℓ updated; O_I rescaled
      c.load('KV_J', k * d); // V_J: O_I += exp(S − m) V_J
      c.free('S', 'KV_J');
    });
    c.store('O_I', r * d); // O_I / ℓ
    c.store('mL_I', r); // L_I = m + log ℓ
    c.free('Q_I', 'O_I', 'mL_I');
  });
  return { Br, Bc };
}

/**
 * Forward with one query row whose q_i and O_i do not fit: per key block, q_i and K_J stream in
 * head chunks of w into the score row; then O_i (spilled between key blocks) and V_J stream in the
 * same chunks. I/O per row = ⌈n/Bc⌉·d + 2nd + 2(⌈n/Bc⌉ − 1)·d + d + 1: largest Bc, so w = 1.
 */
function flashForwardStreamed(c: Cache, n: number, d: number): Tiles {
  const room = c.available();
  // Footprint: m, ℓ (2) + score row (Bc) + row chunk (w) + key chunk (Bc·w).
  const Bc = balanced(n, Math.floor((room - 3) / 2));
  const w = Math.min(d, Math.floor((room - 2 - Bc) / (1 + Bc)));
  if (Bc < 1 || w < 1) internal(`no room for one query row (${room} words free)`);
  c.repeat(n, () => {
    c.alloc('mL_i', 2);
    forBlocks(c, n, Bc, ({ size: k, first }) => {
      c.alloc('S_i', k);
      c.alloc('rowChunk', w);
      c.alloc('keyChunk', k * w);
      forBlocks(c, d, w, ({ size: cw }) => {
        c.load('rowChunk', cw); // q_i[C]
        c.load('keyChunk', k * cw); // K_J[:, C]; S_i += q_i[C] K_J[:, C]ᵀ
      });
      forBlocks(c, d, w, ({ size: cw }) => {
        if (!first) c.load('rowChunk', cw); // O_i[C] partial, rescaled by exp(m_old − m_new)
        c.load('keyChunk', k * cw); // V_J[:, C]
        c.store('rowChunk', cw); // spilled partial, or O_i[C] / ℓ_i after the last key block
      });
      c.free('S_i', 'rowChunk', 'keyChunk');
    });
    c.store('mL_i', 1); // L_i
    c.free('mL_i');
  });
  return { Br: 1, Bc, dChunk: w };
}

function flashBackward(c: Cache, n: number, d: number): Tiles {
  rowsumDoO(c, n, d);
  const room = c.available();
  // Footprint: K_J, V_J, dK_J, dV_J (4·Bc·d) + Q_I, dO_I, dQ_I (3·Br·d) + L_I, D_I (2Br) + one
  // Br×Bc tile (P, overwritten by dS; dP is formed entry by entry). I/O ≈ ⌈n/Bc⌉·(4nd + 2n) + 4nd
  // does not depend on Br, so Bc is maximised at Br = 1 and Br then takes the room left.
  const bcMax = Math.floor((room - 3 * d - 2) / (4 * d + 1));
  if (bcMax < 1) return flashBackwardStreamed(c, n, d);
  const Bc = balanced(n, bcMax);
  const Br = balanced(n, Math.floor((room - 4 * Bc * d) / (3 * d + 2 + Bc)));
  forBlocks(c, n, Bc, ({ size: k, first: firstKeyBlock }) => {
    for (const b of ['K_J', 'V_J', 'dK_J', 'dV_J']) c.alloc(b, k * d);
    c.load('K_J', k * d);
    c.load('V_J', k * d);
    forBlocks(c, n, Br, ({ size: r }) => {
      for (const b of ['Q_I', 'dO_I', 'dQ_I']) c.alloc(b, r * d);
      c.alloc('LD_I', 2 * r);
      c.alloc('T', r * k);
      c.load('Q_I', r * d);
      c.load('dO_I', r * d);
      c.load('LD_I', 2 * r);
      if (!firstKeyBlock) c.load('dQ_I', r * d);
      // P = exp(τ Q_I K_Jᵀ − L_I); dV_J += Pᵀ dO_I; dS = P ∘ (dO_I V_Jᵀ − D_I);
      // dK_J += τ dSᵀ Q_I; dQ_I += τ dS K_J
      c.store('dQ_I', r * d);
      c.free('Q_I', 'dO_I', 'dQ_I', 'LD_I', 'T');
    });
    c.store('dK_J', k * d);
    c.store('dV_J', k * d);
    c.free('K_J', 'V_J', 'dK_J', 'dV_J');
  });
  return { Br, Bc };
}

/**
 * Backward with one key row whose k_j, v_j, dk_j, dv_j do not fit: per query block, three passes
 * over head chunks of w: (1) Q_I, k_j -> S; (2) dO_I, v_j, dv_j -> dP and dv_j; (3) Q_I, k_j, dk_j,
 * dQ_I -> dk_j, dQ_I. Accumulators dk_j, dv_j (over I) and dQ_I (over j) are spilled.
 * I/O ≈ n²d(5 + 7/Br) + 2n²: largest Br, so w = 1.
 */
function flashBackwardStreamed(c: Cache, n: number, d: number): Tiles {
  const room = c.available();
  // Footprint: P, dP/dS, L_I, D_I (4Br) + query chunks Q or dO, dQ (2·Br·w) + key chunks (2w).
  const Br = balanced(n, Math.floor((room - 2) / 6));
  const w = Math.min(d, Math.floor((room - 4 * Br) / (2 * Br + 2)));
  if (Br < 1 || w < 1) internal(`no room for one key row (${room} words free)`);
  forBlocks(c, n, 1, ({ first: firstKey }) => {
    forBlocks(c, n, Br, ({ size: r, first: firstQueryBlock }) => {
      c.alloc('P', r);
      c.alloc('T', r);
      c.alloc('LD_I', 2 * r);
      c.alloc('queryChunk', r * w);
      c.alloc('dQChunk', r * w);
      c.alloc('keyChunk', w);
      c.alloc('dKeyChunk', w);
      c.load('LD_I', 2 * r);
      forBlocks(c, d, w, ({ size: cw }) => {
        c.load('queryChunk', r * cw); // Q_I[:, C]
        c.load('keyChunk', cw); // k_j[C]; S += Q_I[:, C] k_j[C]ᵀ
      });
      // P = exp(τ S − L_I)
      forBlocks(c, d, w, ({ size: cw }) => {
        c.load('queryChunk', r * cw); // dO_I[:, C]
        c.load('keyChunk', cw); // v_j[C]; dP += dO_I[:, C] v_j[C]ᵀ
        if (!firstQueryBlock) c.load('dKeyChunk', cw); // dv_j[C] partial
        c.store('dKeyChunk', cw); // dv_j[C] += Pᵀ dO_I[:, C]
      });
      // dS = P ∘ (dP − D_I), in T
      forBlocks(c, d, w, ({ size: cw }) => {
        c.load('queryChunk', r * cw); // Q_I[:, C]
        c.load('keyChunk', cw); // k_j[C]
        if (!firstQueryBlock) c.load('dKeyChunk', cw); // dk_j[C] partial
        if (!firstKey) c.load('dQChunk', r * cw); // dQ_I[:, C] partial
        c.store('dKeyChunk', cw); // dk_j[C] += τ dSᵀ Q_I[:, C]
        c.store('dQChunk', r * cw); // dQ_I[:, C] += τ dS k_j[C]
      });
      c.free('P', 'T', 'LD_I', 'queryChunk', 'dQChunk', 'keyChunk', 'dKeyChunk');
    });
  });
  return { Br, Bc: 1, dChunk: w };
}

// ---------------------------------------------------------------------------------------------
// materialized

interface GemmTile {
  rows: number;
  cols: number;
}

/** Largest t with t² + 2t ≤ room (a t×t output tile plus one column of A and one row of B). */
function squareSide(room: number): number {
  let t = Math.max(1, Math.floor(Math.sqrt(room + 1)) - 1);
  while (t > 1 && t * t + 2 * t > room) t--;
  while ((t + 1) * (t + 1) + 2 * (t + 1) <= room) t++;
  return t;
}

/**
 * Output tile minimising the GEMM's loads q·(p·⌈r/cols⌉ + r·⌈p/rows⌉) subject to
 * rows·cols + rows + cols ≤ room. `square` forces rows = cols (capped by p and r).
 */
function gemmTile(room: number, p: number, r: number, square: boolean): GemmTile {
  if (square) {
    const t = squareSide(room);
    return { rows: balanced(p, t), cols: balanced(r, t) };
  }
  const candidates = new Set<number>();
  const root = Math.ceil(Math.sqrt(p));
  for (let b = 1; b <= root; b++) {
    candidates.add(Math.ceil(p / b));
    candidates.add(Math.min(p, b));
  }
  let best: GemmTile | undefined;
  let bestCost = Infinity;
  for (const rows of candidates) {
    const cols = Math.min(r, Math.floor((room - rows) / (rows + 1)));
    if (cols < 1) continue;
    const cost = p * Math.ceil(r / cols) + r * Math.ceil(p / rows);
    if (cost < bestCost) {
      bestCost = cost;
      best = { rows: balanced(p, rows), cols: balanced(r, cols) };
    }
  }
  if (best === undefined) internal(`no GEMM tile fits in ${room} words`);
  return best;
}

/**
 * C (p×r) = A (p×q) · B (q×r), A and B read from slow memory, C written once: per output tile
 * (resident), the inner dimension streams in panels of kc.
 */
function gemm(c: Cache, p: number, q: number, r: number, tile: GemmTile): void {
  const { rows, cols } = tile;
  const kc = Math.min(q, Math.floor((c.available() - rows * cols) / (rows + cols)));
  if (kc < 1) internal(`GEMM tile ${rows}×${cols} leaves no room for a panel`);
  forBlocks(c, p, rows, ({ size: h }) => {
    forBlocks(c, r, cols, ({ size: w }) => {
      c.alloc('C', h * w);
      c.alloc('Apanel', h * kc);
      c.alloc('Bpanel', kc * w);
      forBlocks(c, q, kc, ({ size: k }) => {
        c.load('Apanel', h * k);
        c.load('Bpanel', k * w);
      });
      c.store('C', h * w);
      c.free('C', 'Apanel', 'Bpanel');
    });
  });
}

/** L = logsumexp_row(S), P = exp(S − L) over S in slow memory (N×N, P written over S). */
function softmaxRows(c: Cache, n: number): void {
  const room = c.available();
  if (n + 2 <= room) {
    // Whole rows fit: one read, one write.
    const rb = balanced(n, Math.floor(room / (n + 2)));
    forBlocks(c, n, rb, ({ size: r }) => {
      c.alloc('S_R', r * n);
      c.alloc('mL_R', 2 * r);
      c.load('S_R', r * n);
      c.store('S_R', r * n); // P
      c.store('mL_R', r); // L
      c.free('S_R', 'mL_R');
    });
    return;
  }
  // A row does not fit: pass 1 streams S_i for the running max and sum, pass 2 writes P_i.
  const w = room - 2;
  c.repeat(n, () => {
    c.alloc('mL_i', 2);
    c.alloc('chunk', w);
    forBlocks(c, n, w, ({ size }) => c.load('chunk', size));
    forBlocks(c, n, w, ({ size }) => {
      c.load('chunk', size);
      c.store('chunk', size);
    });
    c.store('mL_i', 1);
    c.free('mL_i', 'chunk');
  });
}

function materializedForward(c: Cache, n: number, d: number): Tiles {
  const room = c.available();
  const sq = gemmTile(room, n, n, true);
  const nd = gemmTile(room, n, d, false);
  gemm(c, n, d, n, sq); // S = τ Q Kᵀ
  softmaxRows(c, n); // L, P
  gemm(c, n, n, d, nd); // O = P V
  return { t: sq.rows, tn: nd.rows, td: nd.cols };
}

function materializedBackward(c: Cache, n: number, d: number): Tiles {
  const room = c.available();
  const sq = gemmTile(room, n, n, true);
  const nd = gemmTile(room, n, d, false);
  gemm(c, n, d, n, sq); // S = τ Q Kᵀ
  streamRows(c, n, n, { arraysIn: 1, arraysOut: 1, scalarsIn: 1, scalarsOut: 0 }); // P = exp(S − L)
  gemm(c, n, d, n, sq); // dP = dO Vᵀ
  rowsumDoO(c, n, d); // D
  streamRows(c, n, n, { arraysIn: 2, arraysOut: 1, scalarsIn: 1, scalarsOut: 0 }); // dS = P ∘ (dP − D)
  gemm(c, n, n, d, nd); // dV = Pᵀ dO
  gemm(c, n, n, d, nd); // dQ = τ dS K
  gemm(c, n, n, d, nd); // dK = τ dSᵀ Q
  return { t: sq.rows, tn: nd.rows, td: nd.cols };
}

// ---------------------------------------------------------------------------------------------

function run(options: unknown, unrolled: boolean): IoCostResult {
  const opts = checkOptions(options, 'options');
  checkKnownKeys(opts, 'options', ['n', 'd', 'cacheWords', 'algorithm', 'pass']);
  const n = checkInteger(opts.n, 'options.n', 1, MAX_N);
  const d = checkInteger(opts.d, 'options.d', 1, MAX_D);
  const M = checkInteger(opts.cacheWords, 'options.cacheWords', Math.max(d, IO_MIN_CACHE_WORDS), MAX_CACHE_WORDS);
  const algorithm = checkOneOf(opts.algorithm, 'options.algorithm', ['flash', 'materialized'] as const);
  const pass = checkOneOf(opts.pass, 'options.pass', ['forward', 'backward'] as const);

  const c = new Cache(M, unrolled);
  c.alloc('scratch', SCRATCH_WORDS);
  let tiles: Tiles;
  if (algorithm === 'flash') tiles = pass === 'forward' ? flashForward(c, n, d) : flashBackward(c, n, d);
  else tiles = pass === 'forward' ? materializedForward(c, n, d) : materializedBackward(c, n, d);
  c.free('scratch');
  if (c.resident() !== 0) internal(`${c.resident()} words left resident`);

  const loads = Number(c.loads);
  const stores = Number(c.stores);
  const total = Number(c.loads + c.stores);
  const bound = Math.min((n * n * d * d) / M, (n * n * d) / Math.sqrt(M));
  return {
    algorithm,
    pass,
    n,
    d,
    cacheWords: M,
    loads,
    stores,
    total,
    bound,
    ratio: total / bound,
    regime: M >= d * d ? 'large-cache' : 'small-cache',
    tiles: Object.freeze(tiles),
    peakResidentWords: c.peak,
  };
}

/**
 * Counts the words an attention schedule moves between a cache of `cacheWords` words and slow
 * memory (red–blue pebble game, manual placement), and compares the total with the Θ bound of
 * arXiv 2410.09397, min(n²d²/M, n²d/√M).
 *
 * @param options.n - sequence length N (Nq = Nk), integer in [1, 2^20].
 * @param options.d - head dimension D, integer in [1, 4096].
 * @param options.cacheWords - cache size M in words, integer in [max(D, 16), 2^40].
 * @param options.algorithm - 'flash' (FlashAttention-2 tiling, O(n) slow-memory workspace) or
 *   'materialized' (tiled GEMMs with the N×N intermediates in slow memory).
 * @param options.pass - 'forward' or 'backward'.
 * @returns loads, stores and their total (exact; above 2^53 rounded to the nearest double), the
 *   bound and ratio, the regime, the tile sizes chosen, and the peak cache occupancy.
 * @throws TypeError when options is not an object or a field has the wrong type.
 * @throws RangeError when a field is out of range or cacheWords < max(D, 16).
 * @throws LemmaError ERR_INTERNAL if a schedule overflows the cache (a bug, never expected).
 * @example
 * const r = ioCost({ n: 4096, d: 64, cacheWords: 16384, algorithm: 'flash', pass: 'backward' });
 * console.log(r.total, r.ratio, r.tiles); // tiles: { Br, Bc }
 */
export function ioCost(options: IoCostOptions): IoCostResult {
  return run(options, false);
}

/**
 * Same as {@link ioCost} but every loop iteration is executed instead of identical ones being
 * counted once with a multiplicity. Slow (O(number of tiles)); the oracle for tests.
 * @internal
 */
export function ioCostUnrolled(options: IoCostOptions): IoCostResult {
  return run(options, true);
}
