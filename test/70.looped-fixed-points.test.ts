/**
 * Fixed points of looped networks: the acceptance tests of the case study (FP-1: 1,024 certified
 * sign boxes and 1,024 distinct fixed points at d = 10; FP-2: noisy runs end within δ/(1 − K);
 * FP-3: strong coupling certifies nothing), the soundness of every range oracle (samples inside
 * the enclosure, finite-difference slopes under the bound), a box that float arithmetic would
 * wrongly certify, custom activations (same noise stream as the native code), stabilisation,
 * abort and progress.
 */
import test from 'ava';
import { certifyBoxSync, enumerateFixedPoints, preset, stepsToReach } from '../lib/looped/certify.js';
import { oracleOf, ACTIVATIONS, type ActivationName } from '../lib/looped/activations.js';
import { iterate, stabilisation } from '../lib/looped/iterate.js';
import { philox4x32, uniforms } from '../lib/random.js';

/** The ±1 sign pattern of start s (bit k of s: coordinate k in the positive box), as a key. */
function patternOf(s: number, d: number): string {
  return Array.from({ length: d }, (_, k) => ((s >>> k) & 1 ? 1 : -1)).join();
}

/** Certified box index by sign pattern. */
function boxesByPattern(e: { certified: number; signs: Int8Array; d: number }): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < e.certified; ++i) m.set(Array.from(e.signs.subarray(i * e.d, (i + 1) * e.d)).join(), i);
  return m;
}

/** FP-1's starts: one per sign box, the box centre plus uniform jitter of ±0.2, seeded. */
function jitteredStarts(d: number, centre: number, seed: number): Float64Array {
  const u = uniforms(seed);
  const x = new Float64Array(2 ** d * d);
  for (let i = 0; i < 2 ** d; ++i) {
    for (let k = 0; k < d; ++k) x[i * d + k] = ((i >>> k) & 1 ? centre : -centre) + 0.4 * u() - 0.2;
  }
  return x;
}

test('FP-1: poly3, d = 10, eta = 0.05: 1,024 certified boxes, 1,024 distinct fixed points within 200 steps', async (t) => {
  const net = preset('poly3', { d: 10, eta: 0.05, seed: 0 });
  const e = await enumerateFixedPoints({ ...net, delta: 0.01 });
  t.is(e.examined, 1024);
  t.is(e.certified, 1024);
  t.true(e.maxK < 0.93, `K ${e.maxK}`);  // the spec's prototype: 0.925
  t.is(e.converged, 1024);
  t.true(e.minSeparation! > 1, `min separation ${e.minSeparation}`);

  const x0 = jitteredStarts(10, 1, 0);
  const r = await iterate({ W: net.W, b: net.b, activation: 'poly3', x0: { data: x0, shape: [1024, 10] }, maxSteps: 200, tol: 1e-12 });
  t.is(r.converged.reduce((a, b) => a + b, 0), 1024);
  t.true(Math.max(...r.steps) <= 200);
  // Each trajectory ends at the fixed point of its own box (the enumeration's, same sign pattern).
  const byPattern = boxesByPattern(e);
  let worst = 0;
  const limits = new Set<string>();
  for (let s = 0; s < 1024; ++s) {
    const signs = patternOf(s, 10);
    const i = byPattern.get(signs)!;
    for (let k = 0; k < 10; ++k) worst = Math.max(worst, Math.abs(r.x.data[s * 10 + k] - e.fixedPoints.data[i * 10 + k]));
    limits.add(signs);
  }
  t.is(limits.size, 1024);
  t.true(worst < 1e-11, `distance to the box's fixed point ${worst}`);
});

test('FP-2: with noise δ = 0.01 every start ends within K^L·diam + δ/(1 − K) of its fixed point', async (t) => {
  const net = preset('poly3', { d: 10, eta: 0.05, seed: 0 });
  const delta = 0.01, L = 200;
  const e = await enumerateFixedPoints({ ...net, delta });
  const x0 = jitteredStarts(10, 1, 1);
  const r = await iterate({ W: net.W, b: net.b, activation: 'poly3', x0: { data: x0, shape: [1024, 10] },
    maxSteps: L, noise: delta, seed: 7, earlyExit: false, history: false });
  t.is(r.seed, 7);
  t.true(r.steps.every((s) => s === L));
  const index = boxesByPattern(e);
  let worstRatio = 0, worstErr = 0;
  for (let s = 0; s < 1024; ++s) {
    const i = index.get(patternOf(s, 10))!;
    let err = 0;
    for (let k = 0; k < 10; ++k) err = Math.max(err, Math.abs(r.x.data[s * 10 + k] - e.fixedPoints.data[i * 10 + k]));
    const bound = e.K[i] ** L * 0.4 + e.floor[i];
    worstRatio = Math.max(worstRatio, err / bound);
    worstErr = Math.max(worstErr, err);
  }
  t.true(worstRatio <= 1, `error / bound ${worstRatio}`);
  t.true(worstErr > 0.001, 'the noise moved the states');  // the bound is not met vacuously
  t.true(e.floor.every((f) => f <= 0.135), 'δ/(1 − K) ≤ 0.135 (K ≤ 0.926)');
});

test('FP-3: strong coupling (eta = 0.6) certifies no box; K bound and reasons are reported', async (t) => {
  const net = preset('poly3', { d: 10, eta: 0.6, seed: 0 });
  const e = await enumerateFixedPoints({ ...net, delta: 0.01 });
  t.is(e.certified, 0);
  t.is(e.failures.notSelfMap + e.failures.notContracting, 1024);
  const c = certifyBoxSync({ W: net.W, b: net.b, activation: 'poly3', lo: 0.8, hi: 1.2, delta: 0.01 });
  t.false(c.ok);
  t.is(c.reason, 'not-self-map');
  t.true(c.margin < 0);
  t.is(c.floor, Infinity);
  t.is(stepsToReach(c, 1e-6), Infinity);
});

test('tanh2 preset: 1,024 certified boxes at d = 10; a contracting-but-not-self-map and a self-map-but-not-contracting box are refused with their reasons', async (t) => {
  const net = preset('tanh2', { d: 10, eta: 0.05 });
  const e = await enumerateFixedPoints({ ...net, delta: 0.01 });
  t.is(e.certified, 1024);
  t.true(e.maxK < 0.6);
  t.is(e.converged, 1024);
  // tanh(3x) on [0.1, 1.5]: the image [0.29, 0.9998] lies inside, but the slope at 0.3 is 2.7.
  const W = { data: Float64Array.of(3), shape: [1, 1] };
  const c = certifyBoxSync({ W, b: Float64Array.of(0), activation: 'tanh', lo: 0.1, hi: 1.5 });
  t.false(c.ok);
  t.is(c.reason, 'not-contracting');
  t.true(c.K > 2.7 && c.K < 2.8, `K ${c.K}`);
  t.true(c.margin > 0);
  const ok = certifyBoxSync({ W: { data: Float64Array.of(2), shape: [1, 1] }, b: Float64Array.of(0), activation: 'tanh', lo: 0.5, hi: 1.5 });
  t.true(ok.ok);
  t.true(stepsToReach(ok, 1e-9) > 10);
});

/** erf to ~1e-13: the Taylor series below 3, the continued fraction of erfc above. */
function erfRef(x: number): number {
  const ax = Math.abs(x);
  let r: number;
  if (ax < 3) {
    let term = ax, sum = ax;
    for (let n = 1; n < 200; ++n) {
      term *= (-ax * ax) / n;
      sum += term / (2 * n + 1);
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    let f = 0;
    for (let n = 60; n >= 1; --n) f = (n / 2) / (ax + f);
    r = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  }
  return x < 0 ? -r : r;
}

const G: Record<ActivationName, (z: number) => number> = {
  poly3: (z) => 1.5 * z - 0.5 * z * z * z,
  tanh2: (z) => Math.tanh(2 * z),
  tanh: (z) => Math.tanh(z),
  relu: (z) => Math.max(z, 0),
  gelu: (z) => 0.5 * z * (1 + erfRef(z / Math.SQRT2)),
};

test('every built-in range oracle encloses sampled values and bounds sampled slopes, and is not loose', (t) => {
  const u = uniforms(11);
  const out = new Float64Array(2);
  for (const name of ACTIVATIONS) {
    const o = oracleOf(name)!;
    const g = G[name];
    let worstSlack = 0;
    for (let trial = 0; trial < 300; ++trial) {
      const c = 6 * u() - 3, w = trial % 3 === 0 ? 1e-6 * u() : 2 * u();
      const a = c - w, b = c + w;
      o.range(a, b, out);
      const L = o.slope(a, b);
      let mn = Infinity, mx = -Infinity;
      const zs = [a, b, ...Array.from({ length: 200 }, () => a + (b - a) * u())];
      for (const z of [-1, 1, -0.75179, Math.SQRT2, -Math.SQRT2, 0]) if (z >= a && z <= b) zs.push(z);
      for (const z of zs) {
        const v = g(z);
        mn = Math.min(mn, v);
        mx = Math.max(mx, v);
      }
      t.true(out[0] <= mn && mx <= out[1], `${name} [${a}, ${b}]: [${out[0]}, ${out[1]}] misses [${mn}, ${mx}]`);
      worstSlack = Math.max(worstSlack, (out[1] - out[0]) - (mx - mn));
      for (let i = 0; i + 1 < zs.length; ++i) {
        const z1 = zs[i], z2 = zs[i + 1];
        if (Math.abs(z1 - z2) < 1e-4 * (b - a) || z1 === z2) continue;
        const s = Math.abs(g(z1) - g(z2)) / Math.abs(z1 - z2);
        // The finite difference carries the rounding of g(z1) − g(z2), up to u·|z| for gelu's 1 + erf.
        const fdErr = (8 * 2 ** -52 * (Math.abs(z1) + Math.abs(z2) + Math.abs(g(z1)) + Math.abs(g(z2)))) / Math.abs(z1 - z2);
        t.true(s <= L * (1 + 1e-9) + fdErr, `${name}: slope ${s} above the bound ${L} on [${a}, ${b}]`);
      }
    }
    // GELU pads by the A&S error bound and uses −0.17 for its minimum; the others are ulp-tight.
    t.true(worstSlack < (name === 'gelu' ? 0.02 : 1e-12), `${name} slack ${worstSlack}`);
  }
});

/** The exact rational value of a double: [numerator, denominator] as BigInts. */
function exact(x: number): [bigint, bigint] {
  const f = new Float64Array([x]);
  const bits = new BigUint64Array(f.buffer)[0];
  const sign = bits >> 63n ? -1n : 1n;
  const e = Number((bits >> 52n) & 0x7ffn);
  const m = bits & ((1n << 52n) - 1n);
  const mant = e === 0 ? m : m | (1n << 52n);
  const p = (e === 0 ? 1 : e) - 1075;
  return p >= 0 ? [sign * mant * (1n << BigInt(p)), 1n] : [sign * mant, 1n << BigInt(-p)];
}

test('directed rounding: a box that float arithmetic maps into itself but the real map does not is refused; every certified box is exact-arithmetic sound', (t) => {
  // f(x) = relu(w·x + b) on [0, hi] with hi just below the real fixed point b/(1 − w) = 0.7: the
  // exact image's top w·hi + b exceeds hi by (1 − w)(x* − hi), a thousandth of the gap, which
  // rounding to nearest hides; the float check then accepts a box the real map leaves.
  const w = 0.999, b = 0.0007;
  const [wn, wd] = exact(w), [bn, bd] = exact(b);
  let fooled = 0, certified = 0;
  const box = (hi: number) => certifyBoxSync({ W: { data: Float64Array.of(w), shape: [1, 1] }, b: Float64Array.of(b), activation: 'relu', lo: 0, hi });
  let hi = 0.7;
  for (let i = 0; i < 40; ++i) hi -= Math.abs(hi) * 2 ** -53;  // a few dozen ulps below
  for (let i = 0; i < 80; ++i, hi += Math.abs(hi) * 2 ** -53) {
    const [hn, hd] = exact(hi);
    // exact: w·hi + b ≤ hi  ⇔  wn·hn·bd + bn·wd·hd ≤ hn·wd·bd   (denominators positive)
    const realInside = wn * hn * bd + bn * wd * hd <= hn * wd * bd;
    const floatInside = w * hi + b <= hi;
    const c = box(hi);
    if (c.ok) {
      ++certified;
      t.true(realInside, `certified ${hi} although the real image leaves the box`);
    }
    if (floatInside && !realInside) {
      ++fooled;
      t.false(c.ok);
    }
  }
  for (const h of [0.7 + 1e-9, 0.71, 1]) if (box(h).ok) ++certified;
  t.true(fooled > 0, 'the scan contains a box that naive float checks would accept');
  t.true(certified > 0, 'and boxes above the fixed point certify');
});

test('Philox in TypeScript matches the Random123 known answers (the native stream)', (t) => {
  t.deepEqual([...philox4x32([0, 0, 0, 0], 0, 0)], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
  t.deepEqual([...philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], 0xffffffff, 0xffffffff)],
    [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
  t.deepEqual([...philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], 0xa4093822, 0x299f31d0)],
    [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]);
});

test('a custom activation runs in TypeScript with the native noise stream: same states as the built-in', async (t) => {
  const net = preset('tanh2', { d: 6, eta: 0.1, seed: 3 });
  const u = uniforms(5);
  const x0 = { data: Float64Array.from({ length: 50 * 6 }, () => 2 * u() - 1), shape: [50, 6] };
  const common = { W: net.W, b: net.b, x0, maxSteps: 30, noise: 0.02, seed: 2 ** 40 + 9, earlyExit: false };
  const a = await iterate({ ...common, activation: 'tanh2' });
  const b = await iterate({ ...common, activation: { fn: (z: number) => Math.tanh(2 * z), name: 'mine' } });
  t.is(b.activation, 'mine');
  let diff = 0;
  for (let i = 0; i < a.x.data.length; ++i) diff = Math.max(diff, Math.abs(a.x.data[i] - b.x.data[i]));
  t.true(diff < 1e-13, `max difference ${diff}`);  // Math.tanh and glibc's tanh may differ by an ulp
  t.deepEqual(a.steps, b.steps);
  const c = await iterate({ ...common, seed: 3, activation: 'tanh2' });
  t.notDeepEqual(c.x.data, a.x.data);
});

test('custom activations: certificates need both oracles; with them the certificate says user-oracle', (t) => {
  const W = { data: Float64Array.of(0.5, 0, 0, 0.5), shape: [2, 2] };
  const b = Float64Array.of(0.1, 0.1);
  t.throws(() => certifyBoxSync({ W, b, activation: { fn: Math.atan }, lo: -1, hi: 1 }), {
    instanceOf: TypeError, message: /range and slope oracles/,
  });
  t.throws(() => certifyBoxSync({ W, b, activation: { fn: Math.atan, range: (lo, hi) => [Math.atan(lo), Math.atan(hi)] }, lo: -1, hi: 1 }), {
    instanceOf: TypeError,
  });
  const c = certifyBoxSync({ W, b, lo: -1, hi: 1, activation: {
    fn: Math.atan,
    range: (lo, hi) => [Math.atan(lo) - 1e-15, Math.atan(hi) + 1e-15],
    slope: (lo, hi) => (lo <= 0 && hi >= 0 ? 1 : 1 / (1 + Math.min(lo * lo, hi * hi))) + 1e-15,
  } });
  t.true(c.ok);
  t.is(c.method, 'user-oracle');
  t.true(c.K <= 0.5 + 1e-12);
});

test('stabilisation: early exit stops each start at its stabilisation step; the summary counts them', async (t) => {
  const net = preset('poly3', { d: 8, eta: 0.05, seed: 1 });
  const u = uniforms(9);
  const x0 = { data: Float64Array.from({ length: 300 * 8 }, () => 2.2 * u() - 1.1), shape: [300, 8] };
  const r = await iterate({ W: net.W, b: net.b, activation: 'poly3', x0, maxSteps: 400, tol: 1e-10 });
  const full = await iterate({ W: net.W, b: net.b, activation: 'poly3', x0, maxSteps: 400, tol: 1e-10, earlyExit: false });
  t.deepEqual(r.stabilisedAt, full.stabilisedAt);  // early exit changes when starts stop, not when they stabilise
  for (let s = 0; s < 300; ++s) {
    if (r.stabilisedAt[s] > 0) t.is(r.steps[s], r.stabilisedAt[s]);
    else t.is(r.steps[s], 400);
    t.is(full.steps[s], 400);
    // The history holds exactly the steps taken.
    t.false(Number.isNaN(r.residuals![s * 400 + r.steps[s] - 1]));
    if (r.steps[s] < 400) t.true(Number.isNaN(r.residuals![s * 400 + r.steps[s]]));
  }
  const st = stabilisation(r);
  t.is(st.starts, 300);
  t.is(st.stabilised, r.stabilisedAt.filter((v) => v > 0).length);
  t.is(st.histogram.reduce((a, b) => a + b, 0), st.stabilised);
  t.true(st.min <= st.median && st.median <= st.p90 && st.p90 <= st.max);
  t.true(st.stepsFraction > 0 && st.stepsFraction < 0.5, `early exit ran ${st.stepsFraction} of the layers`);
  t.throws(() => stabilisation({} as never), { instanceOf: TypeError });
});

test('Float32 networks keep the dtype; abort rejects with an AbortError; progress reaches the total', async (t) => {
  const net = preset('tanh2', { d: 16, eta: 0.05 });
  const W = { data: Float32Array.from(net.W.data), shape: [16, 16] };
  const x0 = { data: new Float32Array(64 * 16).fill(0.3), shape: [64, 16] };
  const r = await iterate({ W, b: new Float32Array(16), activation: 'tanh2', x0, maxSteps: 100, tol: 1e-6 });
  t.true(r.x.data instanceof Float32Array);
  t.true(r.converged.every((c) => c === 1));
  t.true(Math.abs(r.x.data[0] - 0.9575040240772687) < 1e-2);
  const ac = new AbortController();
  ac.abort();
  await t.throwsAsync(iterate({ W, b: new Float32Array(16), activation: 'tanh2', x0, signal: ac.signal }), { name: 'AbortError', code: 'ABORT_ERR' } as never);
  const seen: number[] = [];
  const big = { data: new Float64Array(4000 * 64).fill(0.5), shape: [4000, 64] };
  const n64 = preset('tanh2', { d: 64, eta: 0.05 });
  await iterate({ W: n64.W, b: n64.b, activation: 'tanh2', x0: big, maxSteps: 60, earlyExit: false, history: false,
    onProgress: (p) => seen.push(p.done) });
  t.true(seen.length > 1, `progress calls ${seen.length}`);
  t.is(seen[seen.length - 1], 60);
});
