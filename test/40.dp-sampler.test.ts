/**
 * The exact discrete Laplace sampler (CKS20, lib/dp/discrete-laplace.ts): χ² goodness of fit on
 * 10⁶ draws against the closed-form pmf for integer, rational and rounded-up scales (and the same
 * test rejecting a 3 % wrong scale, so it can fail); exact rational scales; the deterministic test
 * stream; the OS stream's moments; every validation message.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import {
  DiscreteLaplaceSampler, discreteLaplaceVariance, doubleToRational, rationalScale, scaleFromNumber,
} from '../lib/dp/discrete-laplace.js';
import type { RationalScale } from '../lib/dp/discrete-laplace.js';
import { RandomSource } from '../lib/dp/random.js';

/** P(Z ≤ z) for P(Z = z) ∝ p^|z|, p = e^{−s/t}. */
function cdf(scale: RationalScale, z: number): number {
  const a = scale.s / scale.t;
  const p = Math.exp(-a);
  return z >= 0 ? 1 - Math.exp(-a * (z + 1)) / (1 + p) : Math.exp(-a * -z) / (1 + p);
}

/**
 * Bins as [lo, hi] inclusive integer ranges (tails open): one per integer while its expected count
 * is ≥ 20 for small scales, else k bins of about equal probability.
 */
function bins(scale: RationalScale, k: number): Array<[number, number]> {
  if (scale.t / scale.s < 20) {
    let m = 0;
    while ((cdf(scale, m + 1) - cdf(scale, m)) * N >= 20) m++;
    const out: Array<[number, number]> = [[-Infinity, -m - 1]];
    for (let z = -m; z <= m; z++) out.push([z, z]);
    out.push([m + 1, Infinity]);
    return out;
  }
  // Edges: the integer quantiles at i/k, deduplicated; the first and last bins are open tails.
  const lambda = scale.t / scale.s;
  const quant = (q: number) => {
    let lo = Math.floor(-60 * lambda) - 2, hi = Math.ceil(60 * lambda) + 2;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (cdf(scale, mid) >= q) hi = mid;
      else lo = mid;
    }
    return hi;
  };
  const edges = [...new Set(Array.from({ length: k - 1 }, (_, i) => quant((i + 1) / k)))].sort((a, b) => a - b);
  const out: Array<[number, number]> = [];
  let lo = -Infinity;
  for (const e of edges) {
    out.push([lo, e]);
    lo = e + 1;
  }
  out.push([lo, Infinity]);
  return out;
}

function chiSquare(draws: Float64Array, scale: RationalScale, k: number): { stat: number; df: number; critical: number } {
  const b = bins(scale, k);
  const counts = new Float64Array(b.length);
  const uppers = b.map(([, hi]) => hi);
  for (const z of draws) {
    let lo = 0, hi = uppers.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (z <= uppers[mid]) hi = mid;
      else lo = mid + 1;
    }
    counts[lo]++;
  }
  let stat = 0;
  b.forEach(([lo, hi], i) => {
    const p = (hi === Infinity ? 1 : cdf(scale, hi)) - (lo === -Infinity ? 0 : cdf(scale, lo - 1));
    const e = p * draws.length;
    stat += (counts[i] - e) ** 2 / e;
  });
  const df = b.length - 1;
  // Wilson–Hilferty upper 10⁻⁴ quantile of χ²(df) (z = 3.719).
  const critical = df * (1 - 2 / (9 * df) + 3.719 * Math.sqrt(2 / (9 * df))) ** 3;
  return { stat, df, critical };
}

const N = 1_000_000;
const cases: Array<[string, RationalScale]> = [
  ['integer scale 1', { t: 1, s: 1 }],
  ['rational scale 7/3', { t: 7, s: 3 }],
  ['large scale 2^40 + 12345', { t: 2 ** 40 + 12345, s: 1 }],
  ['rounded-up scale from 10/3', scaleFromNumber(10 / 3)],
];
cases.forEach(([name, scale], i) => {
  test(`χ² on 10⁶ draws: ${name}`, (t) => {
    const sampler = new DiscreteLaplaceSampler(scale, new RandomSource(new TextEncoder().encode(`chi2-${i}`)));
    const draws = new Float64Array(N);
    sampler.fill(draws);
    t.true(draws.every((z) => Number.isInteger(z)), 'every draw is an integer');
    const { stat, df, critical } = chiSquare(draws, scale, 60);
    t.log(`${name}: χ² = ${stat.toFixed(1)} on ${df} df (critical ${critical.toFixed(1)} at 10⁻⁴)`);
    t.true(stat < critical);
    const mean = draws.reduce((a, b) => a + b, 0) / N;
    const v = draws.reduce((a, b) => a + (b - mean) ** 2, 0) / (N - 1);
    const want = discreteLaplaceVariance(scale);
    t.true(Math.abs(v / want - 1) < 0.02, `variance ${v} vs closed form ${want}`);
  });
});

test('the χ² test rejects draws whose scale is 3 % off (it can fail)', (t) => {
  const truth: RationalScale = { t: 100, s: 1 };
  const sampler = new DiscreteLaplaceSampler({ t: 103, s: 1 }, new RandomSource(new TextEncoder().encode('chi2-power')));
  const draws = new Float64Array(N);
  sampler.fill(draws);
  const { stat, critical } = chiSquare(draws, truth, 60);
  t.true(stat > critical, `χ² = ${stat} should exceed ${critical}`);
});

test('scales are exact rationals, rounded up only when they do not fit 45 bits', (t) => {
  t.deepEqual(doubleToRational(0.5), { num: 1n, den: 2n });
  t.deepEqual(doubleToRational(6), { num: 6n, den: 1n });
  t.like(scaleFromNumber(2.5), { t: 5, s: 2, exact: true });
  const r = scaleFromNumber(0.1); // the double 0.1 is m/2^56: does not fit
  t.false(r.exact);
  const { num, den } = doubleToRational(0.1);
  t.true(BigInt(r.t) * den >= num * BigInt(r.s), 'rounded up: t/s ≥ 0.1 exactly');
  t.true(r.t / r.s - 0.1 < 1e-12);
  t.like(rationalScale(3n * 7n, 7n), { t: 3, s: 1, exact: true });
  t.throws(() => rationalScale(2n ** 46n, 1n), { instanceOf: RangeError, message: /exceeds the largest supported scale 2\^45/ });
});

test('insecureDeterministic streams are reproducible and seed-dependent; the OS stream is not', (t) => {
  const a = lemma.dp.discreteLaplace(10, 1000, { seed: 7, insecureDeterministic: true });
  const b = lemma.dp.discreteLaplace(10, 1000, { seed: 7, insecureDeterministic: true });
  const c = lemma.dp.discreteLaplace(10, 1000, { seed: 8, insecureDeterministic: true });
  t.deepEqual(a, b);
  t.notDeepEqual(a, c);
  t.notDeepEqual(lemma.dp.discreteLaplace(10, 1000), lemma.dp.discreteLaplace(10, 1000));
  t.is(lemma.dp.discreteLaplace(3, 0).length, 0);
});

test('the OS stream has the closed-form variance (10⁵ draws, 7σ band)', (t) => {
  const draws = lemma.dp.discreteLaplace(50, 100_000);
  const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
  const v = draws.reduce((a, b) => a + (b - mean) ** 2, 0) / (draws.length - 1);
  t.true(Math.abs(v / discreteLaplaceVariance({ t: 50, s: 1 }) - 1) < 0.05);
  t.true(Math.abs(mean) < 7 * Math.sqrt(v / draws.length));
});

const typeErrors: Array<[string, () => unknown, RegExp]> = [
  ['scale a string', () => lemma.dp.discreteLaplace('1' as never, 3), /^Expected a finite number between 0 and 35184372088832 for scale but received "1" of type string$/],
  ['count a string', () => lemma.dp.discreteLaplace(1, '3' as never), /^Expected an integer between 0 and 4294967295 for count but received "3" of type string$/],
  ['options not an object', () => lemma.dp.discreteLaplace(1, 3, 5 as never), /^Expected an options object for options but received 5 of type number$/],
  ['insecureDeterministic not boolean', () => lemma.dp.discreteLaplace(1, 3, { seed: 1, insecureDeterministic: 'yes' as never }), /^Expected a boolean for options\.insecureDeterministic but received "yes"/],
  ['insecureDeterministic without seed', () => lemma.dp.discreteLaplace(1, 3, { insecureDeterministic: true }), /^Expected a seed \(insecureDeterministic: true needs one\) for options\.seed but received undefined/],
  ['seed of the wrong type', () => lemma.dp.discreteLaplace(1, 3, { seed: {} as never, insecureDeterministic: true }), /^Expected a safe integer, a string or a Uint8Array for options\.seed but received a Object/],
];
for (const [name, fn, re] of typeErrors) {
  test(`TypeError: ${name}`, (t) => {
    t.throws(fn, { instanceOf: TypeError, message: re });
  });
}

const rangeErrors: Array<[string, () => unknown, RegExp]> = [
  ['scale 0', () => lemma.dp.discreteLaplace(0, 3), /^Expected a finite number between 0 and 35184372088832 for scale but received 0 of type number$/],
  ['scale NaN', () => lemma.dp.discreteLaplace(NaN, 3), /for scale but received NaN/],
  ['scale above 2^45', () => lemma.dp.discreteLaplace(2 ** 46, 3), /for scale but received 70368744177664/],
  ['count negative', () => lemma.dp.discreteLaplace(1, -1), /^Expected an integer between 0 and 4294967295 for count but received -1/],
  ['count fractional', () => lemma.dp.discreteLaplace(1, 1.5), /for count but received 1\.5/],
  ['a seed without insecureDeterministic', () => lemma.dp.discreteLaplace(1, 3, { seed: 42 }), /^Expected no seed \(a seed is accepted only together with insecureDeterministic: true, for tests\) for options\.seed but received 42/],
  ['a seed with insecureDeterministic false', () => lemma.dp.discreteLaplace(1, 3, { seed: 42, insecureDeterministic: false }), /a seed is accepted only together with insecureDeterministic: true/],
  ['an unsafe integer seed', () => lemma.dp.discreteLaplace(1, 3, { seed: 2 ** 60, insecureDeterministic: true }), /^Expected a safe integer, a string or a Uint8Array for options\.seed/],
];
for (const [name, fn, re] of rangeErrors) {
  test(`RangeError: ${name}`, (t) => {
    t.throws(fn, { instanceOf: RangeError, message: re });
  });
}
