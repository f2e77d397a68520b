/**
 * fp32 fast path vs the fp64 oracle (spec §1.10.1): max |err| / ‖ref‖∞ ≤ 1e-5 for out (and lse),
 * ≤ 1e-4 for dq, dk, dv; 'flash' and 'materialized' agree; every SIMD level the CPU has.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import { allFinite, infNorm, pair, relErr } from './helpers/attention.js';

interface Case { B: number; Hq: number; Hkv: number; Nq: number; Nk: number; D: number; causal: boolean }

const TOL_OUT = 1e-5;
const TOL_GRAD = 1e-4;

async function check(t: import('ava').ExecutionContext, c: Case, algorithm: 'flash' | 'materialized' = 'flash') {
  const seed = c.Nq * 7919 + c.Nk * 104729 + c.D * 31 + (c.causal ? 1 : 0);
  const q = pair([c.B, c.Hq, c.Nq, c.D], seed + 1);
  const k = pair([c.B, c.Hkv, c.Nk, c.D], seed + 2);
  const v = pair([c.B, c.Hkv, c.Nk, c.D], seed + 3);
  const dOut = pair([c.B, c.Hq, c.Nq, c.D], seed + 4);
  const opts = { causal: c.causal, algorithm };
  const ref = await lemma.attention.forward(q.f64, k.f64, v.f64, opts);
  const got = await lemma.attention.forward(q.f32, k.f32, v.f32, opts);
  const label = `${JSON.stringify(c)} ${algorithm}`;
  t.true(relErr(got.out.data, ref.out.data) <= TOL_OUT, `out ${label}: ${relErr(got.out.data, ref.out.data)}`);
  t.true(relErr(got.lse.data, ref.lse.data, 1) <= TOL_OUT, `lse ${label}: ${relErr(got.lse.data, ref.lse.data, 1)}`);
  const gRef = await lemma.attention.backward({ q: q.f64, k: k.f64, v: v.f64, out: ref.out, lse: ref.lse, dOut: dOut.f64 }, opts);
  const out32 = { data: Float32Array.from(ref.out.data), shape: ref.out.shape };
  const lse32 = { data: Float32Array.from(ref.lse.data), shape: ref.lse.shape };
  const g = await lemma.attention.backward({ q: q.f32, k: k.f32, v: v.f32, out: out32, lse: lse32, dOut: dOut.f32 }, opts);
  // A gradient can vanish identically (Nk = 1: softmax over one key is constant, so dq = dk = 0);
  // its error is then measured against 1 % of the largest gradient of the case, not against 0.
  const gradScale = Math.max(...(['dq', 'dk', 'dv'] as const).map((n) => infNorm(gRef[n].data)));
  for (const name of ['dq', 'dk', 'dv'] as const) {
    t.true(allFinite(g[name].data), `${name} finite ${label}`);
    const e = relErr(g[name].data, gRef[name].data, 1e-2 * gradScale);
    t.true(e <= TOL_GRAD, `${name} ${label}: ${e}`);
  }
}

const Ns = [1, 2, 7, 64, 257, 1024];
const Ds = [1, 16, 48, 64, 128, 256];

for (const D of Ds) {
  test(`square N ∈ {${Ns}} at D = ${D}, causal on/off`, async (t) => {
    for (const N of Ns) for (const causal of [false, true]) await check(t, { B: 1, Hq: 1, Hkv: 1, Nq: N, Nk: N, D, causal });
  });
}

test('Nq ≠ Nk (bottom-right causal, fully masked rows) and B·H = 3', async (t) => {
  const shapes: Array<[number, number]> = [[7, 257], [257, 64], [64, 1], [1, 1024], [100, 37]];
  for (const [Nq, Nk] of shapes) {
    for (const causal of [false, true]) {
      await check(t, { B: 3, Hq: 1, Hkv: 1, Nq, Nk, D: 48, causal });
      await check(t, { B: 1, Hq: 3, Hkv: 3, Nq, Nk, D: 64, causal });
    }
  }
});

test('grouped-query heads (Hq = 3·Hkv, Hq = 6, Hkv = 2)', async (t) => {
  for (const causal of [false, true]) {
    await check(t, { B: 1, Hq: 3, Hkv: 1, Nq: 257, Nk: 257, D: 64, causal });
    await check(t, { B: 2, Hq: 6, Hkv: 2, Nq: 64, Nk: 130, D: 16, causal });
  }
});

test("'materialized' matches the oracle and agrees with 'flash'", async (t) => {
  for (const causal of [false, true]) {
    await check(t, { B: 1, Hq: 3, Hkv: 1, Nq: 257, Nk: 257, D: 64, causal }, 'materialized');
    await check(t, { B: 1, Hq: 1, Hkv: 1, Nq: 7, Nk: 1024, D: 128, causal }, 'materialized');
    await check(t, { B: 2, Hq: 1, Hkv: 1, Nq: 100, Nk: 37, D: 1, causal }, 'materialized');
  }
  const q = pair([1, 2, 300, 32], 11), k = pair([1, 2, 300, 32], 12), v = pair([1, 2, 300, 32], 13);
  const a = await lemma.attention.forward(q.f32, k.f32, v.f32, { algorithm: 'flash', causal: true });
  const b = await lemma.attention.forward(q.f32, k.f32, v.f32, { algorithm: 'materialized', causal: true });
  t.true(relErr(a.out.data, b.out.data) <= 2 * TOL_OUT);
});

test('every SIMD level the CPU supports gives the same answers within tolerance', async (t) => {
  const caps = lemma.capabilities();
  const levels = (['scalar', 'avx2', 'avx512'] as const).filter((l) => ['scalar', 'avx2', 'avx512'].indexOf(l) <= ['scalar', 'avx2', 'avx512'].indexOf(caps.simdSupported));
  try {
    for (const level of levels) {
      t.is(lemma.setSimdLevel(level), level);
      t.is(lemma.capabilities().simd, level);
      for (const causal of [false, true]) {
        await check(t, { B: 1, Hq: 2, Hkv: 1, Nq: 257, Nk: 200, D: 48, causal });
        await check(t, { B: 1, Hq: 1, Hkv: 1, Nq: 64, Nk: 64, D: 256, causal }, 'materialized');
      }
    }
  } finally {
    lemma.setSimdLevel(caps.simdSupported);
  }
});

test('results are bitwise reproducible across runs and thread counts', async (t) => {
  const q = pair([1, 2, 333, 64], 21), k = pair([1, 2, 333, 64], 22), v = pair([1, 2, 333, 64], 23);
  const dOut = pair([1, 2, 333, 64], 24);
  const threads = lemma.capabilities().threads;
  const run = async () => {
    const f = await lemma.attention.forward(q.f32, k.f32, v.f32, { causal: true });
    const g = await lemma.attention.backward({ q: q.f32, k: k.f32, v: v.f32, out: f.out, lse: f.lse, dOut: dOut.f32 }, { causal: true });
    return [f.out.data, f.lse.data, g.dq.data, g.dk.data, g.dv.data];
  };
  try {
    const a = await run();
    const b = await run();
    lemma.setNumThreads(1);
    const c = await run();
    for (let i = 0; i < a.length; i++) {
      t.deepEqual(Buffer.from(a[i].buffer), Buffer.from(b[i].buffer));
      t.deepEqual(Buffer.from(a[i].buffer), Buffer.from(c[i].buffer));
    }
  } finally {
    lemma.setNumThreads(threads);
  }
});

test('decoding shapes (split-KV, query heads of a kv group packed): oracle, and reproducible across thread counts', async (t) => {
  // Few query rows against a long cache: M = 1 and 16, 8 query heads on one kv head, causal
  // with Nq < Nk, and one shape with too few 64-row tiles for the threads (Nq = 100).
  const shapes: Case[] = [
    { B: 1, Hq: 1, Hkv: 1, Nq: 1, Nk: 4099, D: 128, causal: false },
    { B: 1, Hq: 8, Hkv: 1, Nq: 1, Nk: 3000, D: 64, causal: true },
    { B: 2, Hq: 8, Hkv: 2, Nq: 16, Nk: 2049, D: 32, causal: true },
    { B: 1, Hq: 1, Hkv: 1, Nq: 100, Nk: 5000, D: 16, causal: true },
  ];
  for (const c of shapes) await check(t, c);
  const q = pair([1, 8, 3, 64], 31), k = pair([1, 1, 6000, 64], 32), v = pair([1, 1, 6000, 64], 33);
  const dOut = pair([1, 8, 3, 64], 34);
  const threads = lemma.capabilities().threads;
  const run = () => {
    const f = lemma.attention.forwardSync(q.f32, k.f32, v.f32, { causal: true });
    const g = lemma.attention.backwardSync({ q: q.f32, k: k.f32, v: v.f32, out: f.out, lse: f.lse, dOut: dOut.f32 }, { causal: true });
    return [f.out.data, f.lse.data, g.dq.data, g.dk.data, g.dv.data];
  };
  try {
    const a = run();
    lemma.setNumThreads(1);
    const b = run();
    for (let i = 0; i < a.length; i++) t.deepEqual(Buffer.from(a[i].buffer), Buffer.from(b[i].buffer));
  } finally {
    lemma.setNumThreads(threads);
  }
});
