/**
 * The statistics of the machine-penalty harness: rates with cluster-robust 95 % Wald intervals
 * (clusters: participants, or pairs where two simulated humans played each other), pairwise
 * differences between conditions with a z statistic, two-sided p-values and Holm's correction.
 */

/** Two-sided 95 % normal quantile. */
export const Z95 = 1.959963984540054;

/** A rate with its cluster-robust standard error and 95 % interval (NaN with fewer than two clusters). */
export interface Rate {
  rate: number;
  se: number;
  lo: number;
  hi: number;
}

/**
 * The mean of equal-weight cluster means, its standard error sd/√k and the Wald interval clipped
 * to [0, 1]. Every participant plays the same number of rounds, so this mean equals the pooled rate.
 */
export function clusterRate(means: readonly number[]): Rate {
  const k = means.length;
  if (k === 0) return { rate: NaN, se: NaN, lo: NaN, hi: NaN };
  let s = 0;
  for (const m of means) s += m;
  const rate = s / k;
  if (k < 2) return { rate, se: NaN, lo: NaN, hi: NaN };
  let ss = 0;
  for (const m of means) ss += (m - rate) ** 2;
  const se = Math.sqrt(ss / (k - 1) / k);
  return { rate, se, lo: Math.max(0, rate - Z95 * se), hi: Math.min(1, rate + Z95 * se) };
}

/** erfc(x) for x ≥ 0 (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7). */
function erfc(x: number): number {
  const t = 1 / (1 + 0.5 * x);
  const y = t * Math.exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
    + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return y;
}

/** Two-sided normal p-value of a z statistic. */
export function twoSidedP(z: number): number {
  if (Number.isNaN(z)) return NaN;
  return Math.min(1, erfc(Math.abs(z) / Math.SQRT2));
}

/** Holm's step-down adjustment (NaN p-values stay NaN and are not counted). */
export function holm(p: readonly number[]): number[] {
  const idx = p.map((v, i) => [v, i] as const).filter(([v]) => !Number.isNaN(v)).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const m = idx.length;
  const out = p.map(() => NaN);
  let running = 0;
  idx.forEach(([v, i], rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * v));
    out[i] = running;
  });
  return out;
}

/** The difference of two independent rates: a − b, 95 % interval, z and two-sided p. */
export function difference(a: Rate, b: Rate): { difference: number; se: number; lo: number; hi: number; z: number; p: number } {
  const d = a.rate - b.rate;
  const se = Math.sqrt(a.se ** 2 + b.se ** 2);
  const z = se > 0 ? d / se : d === 0 ? 0 : Math.sign(d) * Infinity;
  return { difference: d, se, lo: d - Z95 * se, hi: d + Z95 * se, z, p: twoSidedP(z) };
}
