/**
 * Support selection for lemma.prune: scores (magnitude |W|, bilinear Wanda
 * |W_ab|·‖X_:,a‖·‖X_:,b‖, or any score a caller computes) ranked within the groups of a sparsity
 * pattern, keeping an exact count per group. Ties (equal scores: zero rows of X, quantised or
 * repeated weights) are broken by a seeded random priority, so no position is favoured and the
 * same seed gives the same mask.
 *
 * Exact counts (d × d mask, sparsity s in [0, 1)):
 *   'row'     every row a keeps d − ⌊s·d⌋ entries (= ⌈(1 − s)·d⌉): row a of W scores query
 *             feature a against every key feature, like Wanda's per-output-row comparison
 *   'global'  d² − ⌊s·d²⌋ entries in all, one ranking over the whole matrix
 *   '2:4'     in every row, 2 of each 4 consecutive entries (d a multiple of 4, s = 0.5)
 * ⌊s·d⌋ is taken with a 1e-9 guard, so s = 0.7, d = 10 prunes 7 (not 6 because 0.7·10 rounds
 * below 7 in binary): the realised sparsity is the largest multiple of 1/d (1/d²) that is ≤ s.
 */

export type Pattern = 'row' | 'global' | '2:4';

/** Entries pruned out of a group of `size` at sparsity s (⌊s·size⌋ with a rounding guard). */
export function prunedCount(sparsity: number, size: number): number {
  return Math.min(size, Math.floor(sparsity * size + 1e-9));
}

/** splitmix32: a tiny seeded stream of uniforms in [0, 1) (tie-breaking only, not statistics). */
export function uniformStream(seed: number): () => number {
  let s = (seed ^ Math.imul(Math.floor(seed / 2 ** 32), 0x9e3779b9)) >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad) >>> 0;
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97) >>> 0;
    z = (z ^ (z >>> 15)) >>> 0;
    return z / 4294967296;
  };
}

/**
 * The binary support (Uint8Array, d × d row-major, 1 = kept) of the top-scoring entries in each
 * group of `pattern`. Order: score descending (NaN lowest), then the seeded priority, then index.
 * Each group is ranked by a native numeric sort of its scores to find the threshold; only the
 * entries tied at the threshold go through a comparator sort (by priority).
 */
export function selectSupport(score: Float64Array, d: number, pattern: Pattern, sparsity: number, seed: number): Uint8Array {
  const next = uniformStream(seed);
  const prio = new Float64Array(d * d);
  for (let i = 0; i < prio.length; i++) prio[i] = next();
  const key = (k: number) => (Number.isNaN(score[k]) ? -Infinity : score[k]);
  const Z = new Uint8Array(d * d);
  const buf = new Float64Array(pattern === 'global' ? d * d : d);
  const keepTop = (idx: Int32Array, keep: number) => {
    const m = idx.length;
    if (keep >= m) {
      for (let t = 0; t < m; t++) Z[idx[t]] = 1;
      return;
    }
    if (keep <= 0) return;
    const sorted = buf.subarray(0, m);
    for (let t = 0; t < m; t++) sorted[t] = key(idx[t]);
    sorted.sort();
    const threshold = sorted[m - keep];
    let above = 0;
    const ties: number[] = [];
    for (let t = 0; t < m; t++) {
      const k = idx[t];
      const v = key(k);
      if (v > threshold) {
        Z[k] = 1;
        above++;
      } else if (v === threshold) {
        ties.push(k);
      }
    }
    ties.sort((a, b) => prio[b] - prio[a] || a - b);
    for (let t = 0; t < keep - above; t++) Z[ties[t]] = 1;
  };
  if (pattern === 'global') {
    keepTop(Int32Array.from({ length: d * d }, (_, i) => i), d * d - prunedCount(sparsity, d * d));
  } else if (pattern === 'row') {
    const keep = d - prunedCount(sparsity, d);
    const idx = new Int32Array(d);
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) idx[b] = a * d + b;
      keepTop(idx, keep);
    }
  } else {
    const idx = new Int32Array(4);
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b += 4) {
        for (let t = 0; t < 4; t++) idx[t] = a * d + b + t;
        keepTop(idx, 2);
      }
    }
  }
  return Z;
}

/** |W_ab| (d × d). */
export function magnitudeScore(W: Float64Array): Float64Array {
  return W.map(Math.abs);
}

/**
 * Bilinear Wanda score |W_ab|·‖X_:,a‖·‖X_:,b‖ (spec AP-3 [proposal]): the score weight W meets the
 * activations on both sides (query feature a, key feature b), so both column norms enter. Ranked
 * within rows, the ‖X_:,a‖ factor is constant and this is Wanda's |W_ab|·‖X_:,b‖.
 * @param X [n, d] row-major
 * @param W [d, d] row-major
 */
export function wandaScore(X: Float64Array, n: number, d: number, W: Float64Array): Float64Array {
  const norm = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < d; a++) norm[a] += X[i * d + a] * X[i * d + a];
  }
  for (let a = 0; a < d; a++) norm[a] = Math.sqrt(norm[a]);
  const s = new Float64Array(d * d);
  for (let a = 0; a < d; a++) {
    for (let b = 0; b < d; b++) s[a * d + b] = Math.abs(W[a * d + b]) * norm[a] * norm[b];
  }
  return s;
}
