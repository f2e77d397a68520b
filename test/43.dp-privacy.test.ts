/**
 * Privacy properties, checked by brute force on tiny datasets: the L1 sensitivity of every
 * released part is at most the configured Δ (add-remove and replace; per level for the default
 * 'midpoint' tree's counts and edge-relative sums, per tree for 'paper'); the exact privacy loss of
 * actual releases is at most ε against every neighbour (so every output of D is a possible output
 * of D′: the set of outputs does not depend on the data); the noise is data-independent integers;
 * the release holds none of the raw values (sentinel test) and the raw buffers are not retained.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import { buildExact, levelSensitivities, noiseParts, sensitivities, slots, toEdgeRelative } from '../lib/dp/tree.js';
import type { Neighbour, NoisePart, TreeShape } from '../lib/dp/tree.js';
import { doubleToRational } from '../lib/dp/discrete-laplace.js';

declare const gc: undefined | (() => void);

const L = 3, Q = 4, TOP = 2 ** Q - 1; // grid values 0..15
const shape: TreeShape = { d: 2, levels: L, gridBits: Q, lo: new Float64Array([0, 0]), hi: new Float64Array([1, 1]) };
const N = slots(L);

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

/** Grid points (values k/15, exact after quantisation), always including both ends. */
function dataset(n: number, seed: number): number[][] {
  const r = rng(seed);
  const rows = Array.from({ length: n }, () => [Math.floor(r() * 16) / TOP, Math.floor(r() * 16) / TOP]);
  if (n >= 2) {
    rows[0] = [0, 1];
    rows[1] = [1, 0];
  }
  return rows;
}

async function exact(rows: number[][]) {
  return buildExact(Float64Array.from(rows.flat()), rows.length, shape);
}

/** Per coordinate, the L1 distance between the released slots (levels 1..L) of two trees. */
function l1(a: Float64Array, b: Float64Array, j: number): number {
  let s = 0;
  for (let v = 2; v < N; v++) s += Math.abs(a[j * N + v] - b[j * N + v]);
  return s;
}

function neighbours(rows: number[][], kind: Neighbour): number[][][] {
  const out: number[][][] = [];
  if (kind === 'add-remove') {
    rows.forEach((_, i) => out.push(rows.filter((__, k) => k !== i)));
    out.push([...rows, [1, 1]], [...rows, [0, 0]], [...rows, [7 / TOP, 8 / TOP]]);
  } else {
    rows.forEach((_, i) => {
      for (let a = 0; a <= TOP; a++) for (let b = 0; b <= TOP; b++) out.push(rows.map((r, k) => (k === i ? [a / TOP, b / TOP] : r)));
    });
  }
  return out;
}

for (const kind of ['add-remove', 'replace'] as const) {
  test(`brute-forced sensitivity ≤ the configured Δ ('paper' sums from 0, ${kind})`, async (t) => {
    const delta = sensitivities(L, Q, kind);
    let maxC = 0, maxS = 0;
    for (const [n, seed] of kind === 'add-remove' ? [[1, 1], [2, 2], [5, 3], [8, 4], [8, 5]] : [[1, 6], [3, 7], [4, 8]]) {
      const rows = dataset(n, seed);
      const a = await exact(rows);
      for (const nb of neighbours(rows, kind)) {
        const b = await exact(nb);
        for (let j = 0; j < 2; j++) {
          maxC = Math.max(maxC, l1(a.cnt, b.cnt, j));
          maxS = Math.max(maxS, l1(a.sum, b.sum, j));
        }
      }
    }
    t.log(`${kind}: max count change ${maxC} (Δ = ${delta.count}), max sum change ${maxS} (Δ = ${delta.sum})`);
    t.true(maxC <= delta.count && maxS <= delta.sum);
    if (kind === 'add-remove') {
      t.is(maxC, delta.count, 'tight: a point touches one node per released level');
      t.is(maxS, delta.sum, 'tight for a point at the top of the range');
    } else {
      t.true(maxC >= delta.count / 2 && maxS >= delta.sum / 2, 'the replace bound is conservative but not loose by more than 2×');
    }
  });
}

/** Per coordinate and level (index ℓ − 1), the L1 distance between two trees' level-ℓ slots. */
function l1Level(a: Float64Array, b: Float64Array, j: number, l: number): number {
  let s = 0;
  for (let v = 2 ** l; v < 2 ** (l + 1); v++) s += Math.abs(a[j * N + v] - b[j * N + v]);
  return s;
}

for (const kind of ['add-remove', 'replace'] as const) {
  test(`brute-forced sensitivity ≤ the configured Δ per level ('midpoint': counts and edge-relative sums, ${kind})`, async (t) => {
    const delta = levelSensitivities(L, Q, kind);
    const maxC = new Array(L).fill(0), maxS = new Array(L).fill(0);
    for (const [n, seed] of kind === 'add-remove' ? [[1, 1], [2, 2], [5, 3], [8, 4], [8, 5]] : [[1, 6], [3, 7], [4, 8]]) {
      const rows = dataset(n, seed);
      const a = await exact(rows);
      const ra = toEdgeRelative(a.cnt, a.sum, shape);
      for (const nb of neighbours(rows, kind)) {
        const b = await exact(nb);
        const rb = toEdgeRelative(b.cnt, b.sum, shape);
        for (let j = 0; j < 2; j++) {
          for (let l = 1; l <= L; l++) {
            maxC[l - 1] = Math.max(maxC[l - 1], l1Level(a.cnt, b.cnt, j, l));
            maxS[l - 1] = Math.max(maxS[l - 1], l1Level(ra, rb, j, l));
          }
        }
      }
    }
    t.log(`${kind}: per level, max count change ${maxC} (Δ ${delta.count}), max edge-relative sum change ${maxS} (Δ ${delta.sum})`);
    for (let l = 0; l < L; l++) t.true(maxC[l] <= delta.count[l] && maxS[l] <= delta.sum[l], `level ${l + 1}`);
    if (kind === 'add-remove') {
      t.deepEqual(maxC, delta.count, 'tight: a point touches one node per level');
      t.deepEqual(maxS, delta.sum, 'tight: a point at the far edge of its node');
    } else {
      for (let l = 0; l < L; l++) t.true(maxS[l] >= delta.sum[l] / 2, 'the replace bound is conservative but not loose by more than 2×');
    }
  });
}

test('composition, in exact rationals: the per-level parts of every coordinate spend at most ε/d (midpoint and paper, both neighbours)', (t) => {
  for (const [levels, gridBits, d, epsilon] of [[3, 4, 2, 0.75], [14, 20, 4, 1], [20, 20, 16, 0.3], [26, 32, 1, 8], [10, 10, 3, 1e-3]] as const) {
    for (const neighbour of ['add-remove', 'replace'] as const) {
      for (const variant of ['midpoint', 'paper'] as const) {
        const sh: TreeShape = { d, levels, gridBits, lo: new Float64Array(d), hi: new Float64Array(d).fill(1) };
        const parts = noiseParts('tree', variant, sh, epsilon, neighbour, variant === 'paper' ? 0.5 : null);
        // Each level's part is a Δ/λ = Δ·s/t mechanism ('paper': one mechanism per part for the whole tree).
        const all = variant === 'paper' ? [parts.countNoise[0], parts.sumNoise![0]] : [...parts.countNoise, ...parts.sumNoise!];
        let num = 0n, den = 1n;
        for (const p of all) {
          if (p.sensitivity === 0) continue;
          const pn = BigInt(p.sensitivity) * BigInt(p.s), pd = BigInt(p.t);
          num = num * pd + pn * den;
          den *= pd;
        }
        const e = doubleToRational(epsilon);
        // num/den ≤ ε/d  ⇔  num·d·e.den ≤ e.num·den
        t.true(num * BigInt(d) * e.den <= e.num * den, `${variant} ${neighbour} L = ${levels} q = ${gridBits} d = ${d} ε = ${epsilon}`);
        t.true(num * BigInt(d) * e.den * 1000n >= e.num * den * 999n, 'and spends it (to 0.1 %)');
      }
    }
  }
});

/**
 * ln P(release | D) − ln P(release | D′) for the discrete Laplace noise, summed over all nodes,
 * each with its level's scale. A part of sensitivity 0 is released exactly: the values must agree.
 */
function privacyLoss(z: Float64Array, vD: Float64Array, vD2: Float64Array, parts: NoisePart[]): number {
  let s = 0;
  for (let k = 0; k < z.length; k++) {
    const v = k % N;
    if (v < 2) continue;
    const part = parts[Math.floor(Math.log2(v)) - 1];
    if (part.sensitivity === 0) {
      if (z[k] !== vD2[k] || z[k] !== vD[k]) return Infinity;
      continue;
    }
    s += ((Math.abs(z[k] - vD2[k]) - Math.abs(z[k] - vD[k])) * part.s) / part.t;
  }
  return s;
}

function decode(doc: lemma.dp.L1KdeDocument, key: 'counts' | 'sums'): Float64Array {
  const out = new Float64Array(shape.d * N);
  (doc[key] as number[][]).forEach((arr, j) => out.set(arr, j * N + 2));
  return out;
}

for (const [kind, structure, variant] of [['add-remove', 'tree', 'midpoint'], ['replace', 'tree', 'midpoint'], ['add-remove', 'tree', 'paper'],
  ['replace', 'tree', 'paper'], ['add-remove', 'baseline', null]] as const) {
  test(`the exact privacy loss of real releases is ≤ ε against every neighbour (${structure}${variant ? ` ${variant}` : ''}, ${kind})`, async (t) => {
    const epsilon = 0.75;
    const rows = dataset(kind === 'replace' ? 3 : 6, 9);
    const opts = { epsilon, range: 1, levels: L, gridBits: Q, neighbour: kind, insecureDeterministic: true } as const;
    const a = await exact(rows);
    const parts = noiseParts(structure, variant, shape, epsilon, kind, variant === 'paper' ? 0.5 : null);
    // What the mechanism releases: edge-relative sums for 'midpoint', sums from 0 for 'paper'.
    const released = (tr: { cnt: Float64Array; sum: Float64Array }) => (variant === 'midpoint' ? toEdgeRelative(tr.cnt, tr.sum, shape) : tr.sum);
    let worst = 0;
    for (let rep = 0; rep < 5; rep++) {
      const kde = structure === 'tree'
        ? await lemma.dp.l1Kde(rows, { ...opts, variant: variant!, seed: `loss-${rep}` })
        : await lemma.dp.baselineL1Kde(rows, { ...opts, seed: `loss-${rep}` });
      const doc = kde.release();
      const zc = decode(doc, 'counts');
      const zs = structure === 'tree' ? decode(doc, 'sums') : null;
      t.true([...zc, ...(zs ?? [])].every(Number.isInteger), 'every released value is an integer');
      for (const nb of neighbours(rows, kind)) {
        const b = await exact(nb);
        let loss = privacyLoss(zc, a.cnt, b.cnt, parts.countNoise);
        if (zs) loss += privacyLoss(zs, released(a), released(b), parts.sumNoise!);
        t.true(Number.isFinite(loss), 'the release is a possible output of the neighbour too');
        worst = Math.max(worst, Math.abs(loss));
      }
    }
    t.log(`worst |privacy loss| ${worst.toFixed(4)} for ε = ${epsilon}`);
    t.true(worst <= epsilon + 1e-12);
    t.true(worst > 0.05 * epsilon, 'the check is not vacuous: neighbours do move the likelihood');
  });
}

test('the noise is data-independent: the same seed adds the same integers to neighbouring datasets', async (t) => {
  const rows = dataset(6, 10);
  const nb = rows.slice(1);
  const opts = { epsilon: 1, range: 1, levels: L, gridBits: Q, seed: 'same', insecureDeterministic: true } as const;
  const [ka, kb] = [await lemma.dp.l1Kde(rows, opts), await lemma.dp.l1Kde(nb, opts)];
  const [ea, eb] = [await exact(rows), await exact(nb)];
  const [da, db] = [ka.release(), kb.release()];
  const noiseA = decode(da, 'counts').map((z, k) => z - ea.cnt[k]);
  const noiseB = decode(db, 'counts').map((z, k) => z - eb.cnt[k]);
  t.deepEqual(noiseA, noiseB);
  // The default tree releases edge-relative sums: their noise is the same integers too.
  const [ra, rb] = [toEdgeRelative(ea.cnt, ea.sum, shape), toEdgeRelative(eb.cnt, eb.sum, shape)];
  t.deepEqual(decode(da, 'sums').map((z, k) => z - ra[k]), decode(db, 'sums').map((z, k) => z - rb[k]));
  t.true(noiseA.some((z) => z !== 0));
});

const SENTINELS = [0.7315926535897931, 0.2718281828459045, 0.1414213562373095, 0.5772156649015329, 0.6931471805599453, 0.9189385332046727];

test('the release holds no raw value (sentinel test), no n, and only whitelisted public keys', async (t) => {
  const rows = [SENTINELS.slice(0, 3), SENTINELS.slice(3, 6), [SENTINELS[1], SENTINELS[4], SENTINELS[0]]];
  for (const build of [
    () => lemma.dp.l1Kde(rows, { epsilon: 1, range: 1, levels: 4, neighbour: 'replace' }),
    () => lemma.dp.baselineL1Kde(rows, { epsilon: 1, range: 1, levels: 4 }),
  ]) {
    const kde = await build();
    for (const encoding of ['array', 'base64-float64le'] as const) {
      const doc = kde.release({ encoding });
      const text = JSON.stringify(doc);
      for (const x of SENTINELS) {
        t.false(text.includes(String(x).slice(2, 12)), `the digits of ${x} do not appear`);
        // Also not as raw fp64 bytes in a base64 payload.
        const bytes = Buffer.from(new Float64Array([x]).buffer).toString('base64').slice(0, 8);
        t.false(text.includes(bytes));
      }
      const keys = Object.keys(doc).sort();
      t.deepEqual(keys.filter((k) => !['format', 'version', 'structure', 'variant', 'consistency', 'epsilon', 'neighbour', 'budgetSplit', 'alpha', 'bandCounts', 'd', 'levels', 'gridBits', 'ranges', 'noise', 'encoding', 'counts', 'sums'].includes(k)), []);
      t.false('n' in doc);
      t.deepEqual(doc.ranges, [[0, 1], [0, 1], [0, 1]]);
    }
    t.is(JSON.stringify(kde), '{}', 'the object exposes nothing by enumeration');
  }
});

test('the raw data is not retained: mutating X later changes nothing, and X can be collected', async (t) => {
  t.truthy(gc, 'run with --expose-gc');
  let data: Float64Array | null = new Float64Array(4000).map((_, i) => (i % 97) / 97);
  const ref = new WeakRef(data);
  const kde = await lemma.dp.l1Kde({ data, shape: [2000, 2] }, { epsilon: 1, range: 1, levels: 8 });
  const before = kde.queryOne([0.3, 0.6]);
  data.fill(0.99);
  t.is(kde.queryOne([0.3, 0.6]), before);
  data = null;
  for (let i = 0; i < 10 && ref.deref() !== undefined; i++) {
    await new Promise((r) => setTimeout(r, 10));
    gc?.();
  }
  t.is(ref.deref(), undefined);
});
