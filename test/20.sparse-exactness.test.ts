/**
 * Exactness of sparse attention by half-space reporting (spec §2.9.1): the reported set equals
 * the brute-force threshold set (fp64 scores; only keys within the fp32 rounding band of b may go
 * either way), and exact ReLU^α attention equals the fp64 dense oracle to fp32 round-off
 * (max |err| / ‖ref‖∞ ≤ 1e-5), through the filter and through the dense kernel, for position and
 * cluster order, both ball levels, block sizes 16 / 64 / 256, causal (M ≠ N included), grouped
 * heads, every SIMD level; append equals rebuild.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import type { Tensor } from '../lib/index.js';
import {
  clusteredPair, dimsOf, gaussianPair, paperThreshold, relErr, rowScores,
} from './helpers/sparse.js';
import type { Pair } from './helpers/sparse.js';

const TOL = 1e-5;

interface Case {
  B: number; Hq: number; Hkv: number; M: number; N: number; D: number;
  causal: boolean; order: 'position' | 'cluster'; blockSize?: number; levels?: 1 | 2;
  alpha?: number; b: number; keys: 'gaussian' | 'clustered';
}

function data(c: Case, seed: number) {
  const q = gaussianPair([c.B, c.Hq, c.M, c.D], seed);
  const k = c.keys === 'clustered' ? clusteredPair([c.B, c.Hkv, c.N, c.D], seed + 1) : gaussianPair([c.B, c.Hkv, c.N, c.D], seed + 1);
  const v = gaussianPair([c.B, c.Hkv, c.N, c.D], seed + 2);
  return { q, k, v };
}

/** Checks the CSR report of every row against the fp64 brute force; returns mismatches outside the band. */
function checkReport(rep: lemma.sparse.ReportResult, q: Tensor, k: Tensor, causal: boolean, b: number): { bad: string[]; nnz: number; band: number } {
  const d = dimsOf(q, k);
  const bad: string[] = [];
  let inBand = 0;
  for (let row = 0; row < d.B * d.Hq * d.M; row++) {
    const { s, band } = rowScores(q, k, row, causal);
    const got = new Map<number, number>();
    for (let t = rep.rowPtr[row]; t < rep.rowPtr[row + 1]; t++) got.set(rep.keys[t], rep.scores[t]);
    for (let j = 0; j < s.length; j++) {
      const sure = Math.abs(s[j] - b) > band[j];
      if (!sure) { inBand++; continue; }
      if ((s[j] >= b) !== got.has(j)) bad.push(`row ${row} key ${j}: s = ${s[j]}, b = ${b}, reported ${got.has(j)}`);
      if (got.has(j) && Math.abs(got.get(j)! - s[j]) > band[j]) bad.push(`row ${row} key ${j}: score ${got.get(j)} vs ${s[j]}`);
    }
    for (const j of got.keys()) if (j >= s.length) bad.push(`row ${row}: invisible key ${j} reported`);
    const keys = [...got.keys()];
    if (keys.some((x, i) => i > 0 && x <= keys[i - 1])) bad.push(`row ${row}: keys not ascending`);
  }
  return { bad, nnz: rep.keys.length, band: inBand };
}

async function check(t: import('ava').ExecutionContext, c: Case, seed: number) {
  const { q, k, v } = data(c, seed);
  const label = JSON.stringify(c);
  const index = await lemma.sparse.keyIndex(k.f32, v.f32, { order: c.order, blockSize: c.blockSize, levels: c.levels });
  try {
    const rep = await index.report(q.f32, { threshold: c.b, causal: c.causal });
    const r = checkReport(rep, q.f32, k.f32, c.causal, c.b);
    t.deepEqual(r.bad.slice(0, 5), [], `report ${label}`);
    t.true(r.nnz > 0, `something reported ${label}`);
    const opts = { activation: 'relu' as const, threshold: c.b, alpha: c.alpha, causal: c.causal };
    const ref = await lemma.sparse.reluAttention(q.f64, k.f64, v.f64, opts);
    for (const denseAbove of [2, 0]) {
      const got = await index.attend(q.f32, { ...opts, denseAbove });
      const e = relErr(got.out.data, ref.out.data);
      t.true(e <= TOL, `relu ${label} denseAbove ${denseAbove}: ${e}`);
      const rows = c.B * c.Hq * c.M;
      t.true(Math.abs(got.stats.meanActive - ref.stats.meanActive) <= r.band / rows + 1e-9, `active count ${label}`);
      if (denseAbove === 0) t.true(got.stats.keyFraction >= 1 - 1e-12, 'the dense kernel scores every visible key');
    }
    return index.attend(q.f32, opts);
  } finally {
    index.dispose();
  }
}

test('ReLU exact and report exact: Gaussian and clustered keys, N ∈ {1k, 8k}, D ∈ {64, 128}', async (t) => {
  let seed = 1;
  for (const N of [1024, 8192]) {
    for (const D of [64, 128]) {
      await check(t, { B: 1, Hq: 2, Hkv: 1, M: 8, N, D, causal: false, order: 'position', b: paperThreshold(N), keys: 'gaussian' }, seed++);
      const r = await check(t, { B: 1, Hq: 1, Hkv: 1, M: 8, N, D, causal: false, order: 'cluster', b: 1.3, keys: 'clustered' }, seed++);
      if (N === 8192) t.true(r.stats.keyFraction < 0.9, `clustered keys are pruned at N = ${N}, D = ${D}: ${r.stats.keyFraction}`);
    }
  }
});

test('ReLU exact at N = 32k, D = 64 (both ball levels)', async (t) => {
  await check(t, { B: 1, Hq: 1, Hkv: 1, M: 4, N: 32768, D: 64, causal: false, order: 'cluster', levels: 2, b: 1.5, keys: 'clustered' }, 40);
  await check(t, { B: 1, Hq: 1, Hkv: 1, M: 4, N: 32768, D: 64, causal: false, order: 'cluster', levels: 1, b: 1.5, keys: 'clustered' }, 41);
});

test('causal (M = N and M ≠ N), grouped heads, α ∈ {2, 3}, block sizes 16 and 256, D = 8', async (t) => {
  let seed = 100;
  for (const blockSize of [16, 256]) {
    for (const order of ['position', 'cluster'] as const) {
      await check(t, { B: 2, Hq: 4, Hkv: 2, M: 37, N: 700, D: 8, causal: true, order, blockSize, alpha: 3, b: 0.8, keys: order === 'cluster' ? 'clustered' : 'gaussian' }, seed++);
    }
  }
  await check(t, { B: 1, Hq: 2, Hkv: 2, M: 300, N: 300, D: 48, causal: true, order: 'cluster', alpha: 2, b: 1.0, keys: 'clustered' }, seed++);
  await check(t, { B: 1, Hq: 3, Hkv: 1, M: 350, N: 300, D: 32, causal: true, order: 'position', b: 0.5, keys: 'gaussian' }, seed++);
});

test('rows that see no key (causal, M > N) and rows with no active key give 0', async (t) => {
  const q = gaussianPair([1, 1, 10, 16], 7);
  const k = gaussianPair([1, 1, 4, 16], 8);
  const v = gaussianPair([1, 1, 4, 16], 9);
  const r = await lemma.sparse.reluAttention(q.f32, k.f32, v.f32, { threshold: 0.1, causal: true });
  for (let e = 0; e < 6 * 16; e++) t.is(r.out.data[e], 0, 'the first 6 rows see nothing');
  const none = await lemma.sparse.reluAttention(q.f32, k.f32, v.f32, { threshold: 1e6 });
  t.true(none.out.data.every((x) => x === 0));
  t.is(none.stats.meanActive, 0);
});

test.serial('every SIMD level gives the same reported set and matching outputs', async (t) => {
  const c: Case = { B: 1, Hq: 2, Hkv: 1, M: 16, N: 2000, D: 40, causal: true, order: 'cluster', b: 1.0, keys: 'clustered' };
  const { q, k, v } = data(c, 77);
  const index = lemma.sparse.keyIndexSync(k.f32, v.f32, { order: 'cluster' });
  const supported = lemma.capabilities().simdSupported;
  const levels = (['avx512', 'avx2', 'scalar'] as const).filter((l) => l === 'scalar' || l === 'avx2' && supported !== 'scalar' || l === supported);
  const reports: lemma.sparse.ReportResult[] = [];
  const outs: Float32Array[] = [];
  try {
    for (const level of levels) {
      lemma.setSimdLevel(level);
      reports.push(await index.report(q.f32, { threshold: c.b, causal: true }));
      outs.push((await index.attend(q.f32, { threshold: c.b, causal: true })).out.data);
    }
  } finally {
    lemma.setSimdLevel(supported);
    index.dispose();
  }
  const ref = await lemma.sparse.reluAttention(q.f64, k.f64, v.f64, { threshold: c.b, causal: true });
  for (let i = 1; i < reports.length; i++) {
    t.deepEqual(reports[i].keys, reports[0].keys, `${levels[i]} reports the ${levels[0]} set`);
    t.deepEqual(reports[i].scores, reports[0].scores, `${levels[i]} scores are bitwise those of ${levels[0]}`);
  }
  outs.forEach((o, i) => t.true(relErr(o, ref.out.data) <= TOL, `${levels[i]}: ${relErr(o, ref.out.data)}`));
  t.log(`levels: ${levels.join(', ')}`);
});

async function grown(k: Pair, v: Pair, order: 'position' | 'cluster', sizes: number[]) {
  const [B, H, N, D] = k.f32.shape;
  const slice = (p: Pair, a: number, e: number): Tensor<Float32Array> => {
    const out = new Float32Array(B * H * (e - a) * D);
    for (let h = 0; h < B * H; h++) out.set(p.f32.data.subarray((h * N + a) * D, (h * N + e) * D), h * (e - a) * D);
    return { data: out, shape: [B, H, e - a, D] };
  };
  const index = await lemma.sparse.keyIndex(slice(k, 0, sizes[0]), slice(v, 0, sizes[0]), { order });
  let at = sizes[0];
  for (const n of sizes.slice(1)) {
    if (n % 2) index.appendSync(slice(k, at, at + n), slice(v, at, at + n));
    else await index.append(slice(k, at, at + n), slice(v, at, at + n));
    at += n;
  }
  return index;
}

test('append equals rebuild (position order: bitwise; cluster order: both exact)', async (t) => {
  const q = gaussianPair([2, 4, 5, 24], 301);
  const kg = gaussianPair([2, 2, 1500, 24], 302);
  const kc = clusteredPair([2, 2, 1500, 24], 303);
  const v = gaussianPair([2, 2, 1500, 24], 304);
  const sizes = [500, 1, 63, 64, 100, 772];
  for (const [order, k] of [['position', kg], ['cluster', kc]] as const) {
    const full = await lemma.sparse.keyIndex(k.f32, v.f32, { order });
    const inc = await grown(k, v, order, sizes);
    t.is(inc.length, 1500);
    const opts = { threshold: 0.7, causal: true };
    const a = await full.attend(q.f32, opts);
    const b = await inc.attend(q.f32, opts);
    const ref = await lemma.sparse.reluAttention(q.f64, k.f64, v.f64, opts);
    if (order === 'position') {
      t.deepEqual(b.out.data, a.out.data, 'bit-identical to the rebuild');
      t.is(inc.numBlocks, full.numBlocks);
    }
    t.true(relErr(a.out.data, ref.out.data) <= TOL && relErr(b.out.data, ref.out.data) <= TOL, `${order}`);
    t.deepEqual((await inc.report(q.f32, opts)).keys.length, (await full.report(q.f32, opts)).keys.length);
    full.dispose();
    inc.dispose();
  }
});

test('decoding: append one key at a time, causal query at the end sees it', async (t) => {
  const k = gaussianPair([1, 1, 200, 16], 401);
  const v = gaussianPair([1, 1, 200, 16], 402);
  const index = await grown(k, v, 'position', [100, ...Array(100).fill(1)]);
  const q = gaussianPair([1, 1, 1, 16], 403);
  const got = await index.attend(q.f32, { threshold: -0.5, causal: true });
  const ref = await lemma.sparse.reluAttention(q.f64, k.f64, v.f64, { threshold: -0.5, causal: true });
  t.true(relErr(got.out.data, ref.out.data) <= TOL);
  t.is(got.stats.keysTotal, 200);
  index.dispose();
});

test('sync and async twins agree; using-style disposal', async (t) => {
  const q = gaussianPair([1, 2, 6, 16], 501);
  const k = gaussianPair([1, 1, 300, 16], 502);
  const v = gaussianPair([1, 1, 300, 16], 503);
  const a = lemma.sparse.keyIndexSync(k.f32, v.f32);
  const b = await lemma.sparse.keyIndex(k.f32, v.f32);
  const o = { threshold: 0.3 };
  t.deepEqual(a.attendSync(q.f32, o).out.data, (await b.attend(q.f32, o)).out.data);
  a[Symbol.dispose]();
  t.true(a.disposed);
  b.dispose();
  b.dispose();
  t.true(b.disposed);
});
