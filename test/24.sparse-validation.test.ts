/**
 * Bad input to the sparse attention family: every validation message (by regex) with its class
 * and code, non-finite keys / queries, use after dispose (ERR_DISPOSED), a foreign handle, CUDA
 * without a GPU, the native re-checks when TS is bypassed, and the lifecycle: long work runs off
 * the event loop, an append waits for attends in flight, dispose while a call is pending is safe.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import { native } from '../lib/binding.js';
import type { SparseIndexHandle } from '../lib/binding.js';
import { gaussian32 } from './helpers/sparse.js';

const t32 = (shape: number[], seed = 1) => ({ data: gaussian32(shape.reduce((a, b) => a * b, 1), seed), shape });
const t64 = (shape: number[], seed = 1) => ({ data: Float64Array.from(gaussian32(shape.reduce((a, b) => a * b, 1), seed)), shape });
const k = t32([1, 2, 40, 8], 1);
const v = t32([1, 2, 40, 8], 2);
const q = t32([1, 4, 3, 8], 3);
const index = lemma.sparse.keyIndexSync(k, v);
const ok = { threshold: 0.5 };

const typeErrors: Array<[string, () => unknown, RegExp]> = [
  ['k null', () => lemma.sparse.keyIndexSync(null as never, v), /^Expected a tensor \{ data, shape \} for k but received null of type null$/],
  ['options not an object', () => lemma.sparse.keyIndexSync(k, v, 3 as never), /^Expected an options object for options but received 3 of type number$/],
  ['blockSize a string', () => lemma.sparse.keyIndexSync(k, v, { blockSize: '64' as never }), /^Expected an integer between 16 and 256 for options\.blockSize but received "64" of type string$/],
  ['order a number', () => lemma.sparse.keyIndexSync(k, v, { order: 1 as never }), /^Expected one of 'position', 'cluster' for options\.order but received 1 of type number$/],
  ['relu without threshold', () => index.attendSync(q), /^Expected a finite number \(ReLU attention needs its threshold b, or keep\) for options\.threshold but received undefined of type undefined$/],
  ['threshold a string', () => index.attendSync(q, { threshold: '1' as never }), /^Expected a finite number or one per query head for options\.threshold but received "1" of type string$/],
  ['alpha a string', () => index.attendSync(q, { ...ok, alpha: '2' as never }), /^Expected an integer between 1 and 32 for options\.alpha but received "2" of type string$/],
  ['causal a number', () => index.attendSync(q, { ...ok, causal: 1 as never }), /^Expected a boolean for options\.causal but received 1 of type number$/],
  ['activation a number', () => index.attendSync(q, { ...ok, activation: 0 as never }), /^Expected one of 'relu', 'softmax' for options\.activation but received 0 of type number$/],
  ['device a number', () => index.attendSync(q, { ...ok, device: 1 as never }), /^Expected one of 'auto', 'cpu', 'cuda' for options\.device but received 1 of type number$/],
  ['report without threshold', () => index.report(q, {} as never), /^Expected a finite number \(report needs an explicit threshold\) for options\.threshold but received undefined/],
  ['backward without threshold', () => index.backwardSync(q, q, {}), /^Expected a finite number \(backward needs an explicit threshold\) for options\.threshold/],
  ['fp64 oracle without threshold', () => lemma.sparse.softmaxTopAttention({ data: new Float64Array(24), shape: [1, 1, 3, 8] }, { data: new Float64Array(80), shape: [1, 1, 10, 8] }, { data: new Float64Array(80), shape: [1, 1, 10, 8] }), /^Expected a finite number \(the fp64 oracle needs an explicit threshold\) for options\.threshold/],
];
for (const [name, fn, re] of typeErrors) {
  test(`TypeError: ${name}`, async (t) => {
    await t.throwsAsync(async () => fn(), { instanceOf: TypeError, message: re });
  });
}

const rangeErrors: Array<[string, () => unknown, RegExp]> = [
  ['blockSize 20', () => lemma.sparse.keyIndexSync(k, v, { blockSize: 20 }), /^Expected a multiple of 16 between 16 and 256 for options\.blockSize but received 20 of type number$/],
  ['blockSize 512', () => lemma.sparse.keyIndexSync(k, v, { blockSize: 512 }), /^Expected an integer between 16 and 256 for options\.blockSize but received 512/],
  ['order random', () => lemma.sparse.keyIndexSync(k, v, { order: 'random' as never }), /^Expected one of 'position', 'cluster' for options\.order but received "random"/],
  ['levels 3', () => lemma.sparse.keyIndexSync(k, v, { levels: 3 as never }), /^Expected an integer between 1 and 2 for options\.levels but received 3/],
  ['alpha 0', () => index.attendSync(q, { ...ok, alpha: 0 }), /^Expected an integer between 1 and 32 for options\.alpha but received 0 of type number$/],
  ['alpha 1.5', () => index.attendSync(q, { ...ok, alpha: 1.5 }), /^Expected an integer between 1 and 32 for options\.alpha but received 1\.5/],
  ['threshold NaN', () => index.attendSync(q, { threshold: NaN }), /^Expected a finite number for options\.threshold but received NaN of type number$/],
  ['threshold entry Infinity', () => index.attendSync(q, { threshold: [0, 0, Infinity, 0] }), /^Expected a finite number for options\.threshold\[2\] but received Infinity/],
  ['keep 0', () => index.attendSync(q, { activation: 'softmax', keep: 0 }), /^Expected a finite number at least 1 for options\.keep but received 0 of type number$/],
  ['keep and threshold', () => index.attendSync(q, { threshold: 1, keep: 10 }), /^Expected either threshold or keep, not both for options\.keep but received 10/],
  ['tolerance negative', () => index.attendSync(q, { activation: 'softmax', tolerance: -1 }), /^Expected a finite number at least 0 for options\.tolerance but received -1/],
  ['denseAbove negative', () => index.attendSync(q, { ...ok, denseAbove: -0.5 }), /^Expected a finite number at least 0 for options\.denseAbove but received -0\.5/],
  ['scale NaN', () => index.attendSync(q, { ...ok, scale: NaN }), /^Expected a finite number for options\.scale but received NaN/],
  ['activation gelu', () => index.attendSync(q, { ...ok, activation: 'gelu' as never }), /^Expected one of 'relu', 'softmax' for options\.activation but received "gelu"/],
  ['backward of softmax', () => index.backwardSync(q, q, { ...ok, activation: 'softmax' }), /^Expected 'relu' \(the backward is defined for ReLU\^α attention\) for options\.activation but received "softmax"/],
  ['one-shot relu asked for softmax', () => lemma.sparse.reluAttention(q, k, v, { ...ok, activation: 'softmax' }), /^Expected one of 'relu' for options\.activation but received "softmax"/],
  ['negative dimension', () => lemma.sparse.keyIndexSync({ data: k.data, shape: [1, 2, -40, -8] }, v), /^Expected a non-negative integer dimension size for k\.shape\[2\] but received -40/],
];
// Non-finite data: a RangeError naming the first bad entry, as in every family that refuses it.
rangeErrors.push(
  ['non-finite key', () => { const bad = t32([1, 1, 20, 4]); bad.data[17] = NaN; return lemma.sparse.keyIndexSync(bad, t32([1, 1, 20, 4])); }, /^Expected a finite number for k\[0, 0, 4, 1\] but received NaN/],
  ['non-finite value', () => { const bad = t32([1, 1, 20, 4]); bad.data[3] = Infinity; return lemma.sparse.keyIndexSync(t32([1, 1, 20, 4]), bad); }, /^Expected a finite number for v\[0, 0, 0, 3\] but received Infinity/],
  ['non-finite query', () => { const bad = t32([1, 4, 3, 8]); bad.data[5] = NaN; return index.attendSync(bad, ok); }, /^Expected a finite number for q\[0, 0, 0, 5\] but received NaN/],
  ['non-finite fp64 query', () => { const bad = t64([1, 1, 4, 4]); bad.data[6] = -Infinity; return lemma.sparse.reluAttention(bad, t64([1, 1, 4, 4]), t64([1, 1, 4, 4]), { threshold: 0 }); }, /^Expected a finite number for q\[0, 0, 1, 2\] but received -Infinity/],
);
for (const [name, fn, re] of rangeErrors) {
  test(`RangeError: ${name}`, async (t) => {
    await t.throwsAsync(async () => fn(), { instanceOf: RangeError, message: re });
  });
}

const lemmaErrors: Array<[string, () => unknown, lemma.ErrorCode, RegExp]> = [
  ['k rank 3', () => lemma.sparse.keyIndexSync({ data: k.data, shape: [2, 40, 8] }, v), 'ERR_SHAPE', /^Expected a rank-4 shape \[B, Hkv, N, D\] for k\.shape but received \[2, 40, 8\]/],
  ['v unlike k', () => lemma.sparse.keyIndexSync(k, t32([1, 2, 39, 8])), 'ERR_SHAPE', /^Expected shape \[1, 2, 40, 8\] \(the shape of k\) for v\.shape but received \[1, 2, 39, 8\]/],
  ['D 257', () => lemma.sparse.keyIndexSync(t32([1, 1, 2, 257]), t32([1, 1, 2, 257])), 'ERR_SHAPE', /^Expected a head dim D between 1 and 256 for k\.shape\[3\] but received 257/],
  ['N 0', () => lemma.sparse.keyIndexSync(t32([1, 1, 0, 8]), t32([1, 1, 0, 8])), 'ERR_SHAPE', /^Expected non-zero sizes B, Hkv, N for k\.shape but received \[1, 1, 0, 8\]/],
  ['short buffer', () => lemma.sparse.keyIndexSync({ data: new Float32Array(10), shape: [1, 2, 40, 8] }, v), 'ERR_SHAPE', /^Expected 640 elements \(the product of shape \[1, 2, 40, 8\]\) for k\.data but received a Float32Array of length 10/],
  ['keys in fp64', () => lemma.sparse.keyIndexSync({ data: new Float64Array(640), shape: [1, 2, 40, 8] }, { data: new Float64Array(640), shape: [1, 2, 40, 8] }), 'ERR_DTYPE', /^Expected a Float32Array \(the key index is fp32\) for k\.data but received a Float64Array/],
  ['overflowing scores', () => { const big = t32([1, 4, 3, 8]); big.data.fill(1e37); return index.attendSync(big, ok); }, 'ERR_RANGE', /scores would overflow fp32/],
  ['q head dim', () => index.attendSync(t32([1, 4, 3, 4]), ok), 'ERR_SHAPE', /^Expected head dim 8 \(from the keys\) for q\.shape\[3\] but received 4/],
  ['q batch', () => index.attendSync(t32([2, 4, 3, 8]), ok), 'ERR_SHAPE', /^Expected batch size 1 \(from the keys\) for q\.shape\[0\] but received 2/],
  ['Hq not a multiple of Hkv', () => index.attendSync(t32([1, 3, 3, 8]), ok), 'ERR_SHAPE', /^Expected a number of query heads that is a multiple of Hkv = 2 for q\.shape\[1\] but received 3/],
  ['threshold per head, wrong count', () => index.attendSync(q, { threshold: [1, 2] }), 'ERR_SHAPE', /^Expected one threshold per query head \(4 = B·Hq\) for options\.threshold but received \[1, 2\]/],
  ['q in fp64', () => index.attendSync({ data: new Float64Array(96), shape: [1, 4, 3, 8] }, ok), 'ERR_DTYPE', /^Expected a Float32Array \(the key index is fp32\) for q\.data/],
  ['dOut unlike q', () => index.backwardSync(q, t32([1, 4, 2, 8]), ok), 'ERR_SHAPE', /^Expected shape \[1, 4, 3, 8\] \(the shape of q\) for dOut\.shape but received \[1, 4, 2, 8\]/],
  ['append with another D', () => index.appendSync(t32([1, 2, 3, 4]), t32([1, 2, 3, 4])), 'ERR_SHAPE', /^Expected shape \[1, 2, n, 8\] \(the index's B, Hkv, D\) for kNew\.shape but received \[1, 2, 3, 4\]/],
  ['one-shot dtype mix', () => lemma.sparse.reluAttention(q, { data: new Float64Array(640), shape: [1, 2, 40, 8] }, { data: new Float64Array(640), shape: [1, 2, 40, 8] }, ok), 'ERR_DTYPE', /^Expected a Float32Array like q\.data for k\.data but received a Float64Array/],
];
for (const [name, fn, code, re] of lemmaErrors) {
  test(`LemmaError ${code}: ${name}`, async (t) => {
    const e = await t.throwsAsync(async () => fn(), { instanceOf: lemma.LemmaError, message: re });
    t.is(e?.code, code);
  });
}

test('CUDA without a usable GPU: ERR_CUDA_UNAVAILABLE (auto falls back to the CPU)', async (t) => {
  if (lemma.cudaAvailable()) return t.pass('a GPU is present: see test/gpu/');
  const e = await t.throwsAsync(index.attend(q, { ...ok, device: 'cuda' }), { instanceOf: lemma.LemmaError });
  t.is(e?.code, 'ERR_CUDA_UNAVAILABLE');
  const r = await index.attend(q, { ...ok, device: 'auto' });
  t.is(r.stats.device, 'cpu');
});

test('after dispose every method throws ERR_DISPOSED; dispose is idempotent', async (t) => {
  const ix = lemma.sparse.keyIndexSync(k, v);
  ix.dispose();
  ix.dispose();
  for (const fn of [() => ix.attendSync(q, ok), () => ix.length, () => ix.appendSync(k, v), () => ix.backwardSync(q, q, ok), () => ix.numBlocks]) {
    const e = t.throws(fn, { instanceOf: lemma.LemmaError, message: /^the key index was disposed$/ });
    t.is(e?.code, 'ERR_DISPOSED');
  }
  const e = await t.throwsAsync(ix.attend(q, ok), { instanceOf: lemma.LemmaError });
  t.is(e?.code, 'ERR_DISPOSED');
  await t.throwsAsync(ix.report(q, ok), { message: /disposed/ });
});

test('native re-checks: foreign handles, disposed handles, short arrays (TS bypassed)', (t) => {
  const p = { Hq: 4, M: 3, scale: 1, causal: false, activation: 0 as const, alpha: 1, calibrate: false, keep: 0, tolerance: 1, denseAbove: 1, cuda: false };
  const thr = new Float64Array(4);
  const out = new Float32Array(96);
  const fake = {} as SparseIndexHandle;
  let e = t.throws(() => native.sparseIndexAttendSync(fake, q.data, thr, out, null, p), { instanceOf: TypeError }) as Error & { code?: string };
  t.regex(e.message, /expected a sparse key index handle/);
  const h = native.sparseIndexBuildSync(k.data, v.data, { B: 1, Hkv: 2, N: 40, D: 8, blockSize: 64, order: 0, levels: 0 });
  e = t.throws(() => native.sparseIndexAttendSync(h, q.data.subarray(0, 90), thr, out, null, p)) as Error & { code?: string };
  t.is(e.code, 'ERR_SHAPE');
  e = t.throws(() => native.sparseIndexAttendSync(h, q.data, thr, out, null, { ...p, alpha: 0 })) as Error & { code?: string };
  t.is(e.code, 'ERR_RANGE');
  e = t.throws(() => native.sparseIndexBuildSync(k.data, v.data, { B: 1, Hkv: 2, N: 40, D: 8, blockSize: 24, order: 0, levels: 0 })) as Error & { code?: string };
  t.is(e.code, 'ERR_RANGE');
  native.sparseIndexDispose(h);
  t.is((t.throws(() => native.sparseIndexInfo(h)) as Error & { code?: string }).code, 'ERR_DISPOSED');
  e = t.throws(() => native.sparseIndexAttendSync(h, q.data, thr, out, null, p)) as Error & { code?: string };
  t.is(e.code, 'ERR_DISPOSED');
});

test('long work runs off the event loop; dispose while an attend is pending is safe', async (t) => {
  const N = 1 << 17;
  const kk = t32([1, 1, N, 64], 5);
  const vv = t32([1, 1, N, 64], 6);
  // If build or attend ran on the main thread, one timer gap would span (almost) all of it.
  let last = performance.now();
  let maxGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 2);
  const t0 = performance.now();
  const ix = await lemma.sparse.keyIndex(kk, vv, { order: 'cluster' });
  const pending = ix.attend(t32([1, 1, 256, 64], 7), { threshold: 0.5, denseAbove: 0 });
  ix.dispose();
  const r = await pending;
  const elapsed = performance.now() - t0;
  clearInterval(timer);
  t.log(`elapsed ${elapsed.toFixed(0)} ms, longest timer gap ${maxGap.toFixed(0)} ms`);
  t.true(maxGap < 0.5 * elapsed, 'the event loop kept running');
  t.is(r.out.data.length, 256 * 64);
  t.true(ix.disposed);
  // The attend that outlived dispose() answered from intact memory: the same as a fresh index.
  const fresh = await lemma.sparse.keyIndex(kk, vv, { order: 'cluster' });
  const want = await fresh.attend(t32([1, 1, 256, 64], 7), { threshold: 0.5, denseAbove: 0 });
  fresh.dispose();
  t.deepEqual(r.out.data, want.out.data);
});

test('append waits for attends in flight and later attends see the new keys', async (t) => {
  const ix = lemma.sparse.keyIndexSync(t32([1, 1, 5000, 16], 8), t32([1, 1, 5000, 16], 9));
  const qq = t32([1, 1, 4, 16], 10);
  const before = ix.attend(qq, { threshold: 0.2 });
  const grow = ix.append(t32([1, 1, 3000, 16], 11), t32([1, 1, 3000, 16], 12));
  const after = grow.then(() => ix.attend(qq, { threshold: 0.2 }));
  const [a, , b] = await Promise.all([before, grow, after]);
  t.is(a.stats.keysTotal, 4 * 5000);
  t.is(b.stats.keysTotal, 4 * 8000);
  t.is(ix.length, 8000);
  ix.dispose();
});
