/**
 * Bad input: every validation message (by regex), short / detached / shared buffers, mismatched
 * shapes, non-finite scale, absurd sizes rejected before allocation, CUDA without a GPU, and the
 * native layer's own re-checks when TS is bypassed.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import { native } from '../lib/binding.js';
import { pair, relErr } from './helpers/attention.js';

const f32 = (shape: number[]) => ({ data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.5), shape });
const q = f32([1, 2, 4, 8]);
const k = f32([1, 1, 6, 8]);
const v = f32([1, 1, 6, 8]);

const typeErrors: Array<[string, () => Promise<unknown>, RegExp]> = [
  ['a misspelt option (causl)', () => lemma.attention.forward(q, k, v, { causl: true } as never), /^Expected a known option name \(did you mean 'causal'\?\) for options but received "causl" of type string$/],
  ['a misspelt option in backward (scael)', async () => {
    const { out, lse } = await lemma.attention.forward(q, k, v);
    return lemma.attention.backward({ q, k, v, out, lse, dOut: out }, { scael: 0.5 } as never);
  }, /did you mean 'scale'\?/],
  ['a misspelt option in forwardSync (devcie)', async () => lemma.attention.forwardSync(q, k, v, { devcie: 'cpu' } as never), /did you mean 'device'\?/],
  ['q null', () => lemma.attention.forward(null as never, k, v), /^Expected a tensor \{ data, shape \} for q but received null of type null$/],
  ['q.data Int32Array', () => lemma.attention.forward({ data: new Int32Array(64) as never, shape: [1, 2, 4, 8] }, k, v), /^Expected a Float32Array or Float64Array for q\.data but received a Int32Array of length 64 of type Int32Array$/],
  ['k.shape not an array', () => lemma.attention.forward(q, { data: k.data, shape: 'x' as never }, v), /^Expected an array of dimension sizes for k\.shape but received "x" of type string$/],
  ['v.shape entry string', () => lemma.attention.forward(q, k, { data: v.data, shape: [1, 1, '6', 8] as never }), /^Expected an integer dimension size for v\.shape\[2\] but received "6" of type string$/],
  ['options not an object', () => lemma.attention.forward(q, k, v, 5 as never), /^Expected an options object for options but received 5 of type number$/],
  ['causal not boolean', () => lemma.attention.forward(q, k, v, { causal: 1 as never }), /^Expected a boolean for options\.causal but received 1 of type number$/],
  ['scale a string', () => lemma.attention.forward(q, k, v, { scale: '1' as never }), /^Expected a finite number for options\.scale but received "1" of type string$/],
  ['deterministic not boolean', () => lemma.attention.forward(q, k, v, { deterministic: 'yes' as never }), /^Expected a boolean for options\.deterministic/],
  ['device not a string', () => lemma.attention.forward(q, k, v, { device: 0 as never }), /^Expected one of 'auto', 'cpu', 'cuda' for options\.device but received 0 of type number$/],
  ['backward inputs null', () => lemma.attention.backward(null as never), /^Expected an object \{ q, k, v, out, lse, dOut \} for inputs but received null/],
];
for (const [name, fn, re] of typeErrors) {
  test(`TypeError: ${name}`, async (t) => {
    await t.throwsAsync(fn(), { instanceOf: TypeError, message: re });
  });
}

const rangeErrors: Array<[string, () => Promise<unknown>, RegExp]> = [
  ['negative dimension', () => lemma.attention.forward({ data: q.data, shape: [1, 2, -4, 8] }, k, v), /^Expected a non-negative integer dimension size for q\.shape\[2\] but received -4 of type number$/],
  ['fractional dimension', () => lemma.attention.forward({ data: q.data, shape: [1, 2, 4.5, 8] }, k, v), /^Expected a non-negative integer dimension size for q\.shape\[2\] but received 4\.5/],
  ['scale NaN', () => lemma.attention.forward(q, k, v, { scale: NaN }), /^Expected a finite number for options\.scale but received NaN of type number$/],
  ['scale Infinity', () => lemma.attention.forward(q, k, v, { scale: Infinity }), /^Expected a finite number for options\.scale but received Infinity/],
  ['device gpu', () => lemma.attention.forward(q, k, v, { device: 'gpu' as never }), /^Expected one of 'auto', 'cpu', 'cuda' for options\.device but received "gpu" of type string$/],
  ['algorithm fast', () => lemma.attention.forward(q, k, v, { algorithm: 'fast' as never }), /^Expected one of 'auto', 'flash', 'materialized' for options\.algorithm but received "fast"/],
];
for (const [name, fn, re] of rangeErrors) {
  test(`RangeError: ${name}`, async (t) => {
    await t.throwsAsync(fn(), { instanceOf: RangeError, message: re });
  });
}

const lemmaErrors: Array<[string, () => Promise<unknown>, lemma.ErrorCode, RegExp]> = [
  ['short buffer', () => lemma.attention.forward({ data: new Float32Array(60), shape: [1, 2, 4, 8] }, k, v), 'ERR_SHAPE', /^Expected 64 elements \(the product of shape \[1, 2, 4, 8\]\) for q\.data but received a Float32Array of length 60/],
  ['rank 3', () => lemma.attention.forward({ data: q.data, shape: [2, 4, 8] }, k, v), 'ERR_SHAPE', /^Expected a rank-4 shape \[B, Hq, Nq, D\] for q\.shape but received \[2, 4, 8\]/],
  ['v unlike k', () => lemma.attention.forward(q, k, f32([1, 1, 5, 8])), 'ERR_SHAPE', /^Expected shape \[1, 1, 6, 8\] \(the shape of k\) for v\.shape but received \[1, 1, 5, 8\]/],
  ['batch mismatch', () => lemma.attention.forward(q, f32([2, 1, 6, 8]), f32([2, 1, 6, 8])), 'ERR_SHAPE', /^Expected batch size 1 \(from q\) for k\.shape\[0\] but received 2/],
  ['head dim mismatch', () => lemma.attention.forward(q, f32([1, 1, 6, 4]), f32([1, 1, 6, 4])), 'ERR_SHAPE', /^Expected head dim 8 \(from q\) for k\.shape\[3\] but received 4/],
  ['head dim 257', () => lemma.attention.forward(f32([1, 1, 2, 257]), f32([1, 1, 2, 257]), f32([1, 1, 2, 257])), 'ERR_SHAPE', /^Expected a head dim D between 1 and 256 for q\.shape\[3\] but received 257/],
  ['zero length', () => lemma.attention.forward(f32([1, 1, 0, 8]), k, v), 'ERR_SHAPE', /^Expected non-zero sizes B, H, N/],
  ['Hq not a multiple of Hkv', () => lemma.attention.forward(f32([1, 3, 4, 8]), f32([1, 2, 6, 8]), f32([1, 2, 6, 8])), 'ERR_SHAPE', /^Expected a number of query heads that is a multiple of Hkv = 2 for q\.shape\[1\] but received 3/],
  ['dtype mix', () => lemma.attention.forward(q, { data: new Float64Array(48), shape: [1, 1, 6, 8] } as never, v), 'ERR_DTYPE', /^Expected a Float32Array like q\.data for k\.data but received a Float64Array/],
  ['absurd tensor shape', async () => lemma.tensor(new Float32Array(4), [1e6, 1e6, 1e6]), 'ERR_RANGE', /^Expected a shape of at most 4294967295 elements for tensor\.shape/],
  ['materialized beyond its workspace limit', () => lemma.attention.forward(f32([1, 1, 32768, 1]), f32([1, 1, 32768, 1]), f32([1, 1, 32768, 1]), { algorithm: 'materialized' }), 'ERR_RANGE', /^algorithm 'materialized' needs \d+ bytes of scratch for Nq = 32768, Nk = 32768, more than the limit of 2147483648; use algorithm 'flash'$/],
  ['backward lse shape', async () => {
    const f = await lemma.attention.forward(q, k, v);
    return lemma.attention.backward({ q, k, v, out: f.out, lse: { data: f.lse.data, shape: [1, 8] }, dOut: q });
  }, 'ERR_SHAPE', /^Expected shape \[1, 2, 4\] \(\[B, Hq, Nq\] of q\) for lse\.shape but received \[1, 8\]/],
  ['backward dOut dtype', async () => {
    const f = await lemma.attention.forward(q, k, v);
    return lemma.attention.backward({ q, k, v, out: f.out, lse: f.lse, dOut: { data: new Float64Array(64), shape: q.shape } } as never);
  }, 'ERR_DTYPE', /for dOut\.data but received a Float64Array/],
];
for (const [name, fn, code, re] of lemmaErrors) {
  test(`LemmaError ${code}: ${name}`, async (t) => {
    const e = await t.throwsAsync(fn(), { instanceOf: lemma.LemmaError, message: re });
    t.is(e?.code, code);
  });
}

test('a detached input buffer is refused with ERR_SHAPE', async (t) => {
  const data = new Float32Array(64);
  structuredClone(data.buffer, { transfer: [data.buffer] });
  const e = await t.throwsAsync(lemma.attention.forward({ data, shape: [1, 2, 4, 8] }, k, v), { instanceOf: lemma.LemmaError, message: /detached/ });
  t.is(e?.code, 'ERR_SHAPE');
});

test("device 'cuda' without a usable GPU: ERR_CUDA_UNAVAILABLE with the reason", async (t) => {
  if (lemma.cudaAvailable()) return t.pass('a GPU is present: covered by test/gpu');
  const e = await t.throwsAsync(lemma.attention.forward(q, k, v, { device: 'cuda' }), { instanceOf: lemma.LemmaError, message: /^device 'cuda' was requested but no GPU is usable: .+/ });
  t.is(e?.code, 'ERR_CUDA_UNAVAILABLE');
  t.throws(() => lemma.attention.forwardSync(q, k, v, { device: 'cuda' }), { instanceOf: lemma.LemmaError, message: /no GPU is usable/ });
  // 'auto' falls back to the CPU.
  await t.notThrowsAsync(lemma.attention.forward(q, k, v, { device: 'auto' }));
});

test('errors carry the caller stack', async (t) => {
  const e = await t.throwsAsync(lemma.attention.forward(q, k, v, { scale: NaN }));
  t.regex(e?.stack ?? '', /12\.attention-validation\.test\.ts/);
});

test('shared, aliased and offset buffers work, and inputs are never modified', async (t) => {
  const a = pair([1, 2, 33, 16], 1), b = pair([1, 2, 40, 16], 2), c = pair([1, 2, 40, 16], 3);
  const ref = await lemma.attention.forward(a.f32, b.f32, c.f32, { causal: true });
  // SharedArrayBuffer-backed inputs (snapshotted before the worker runs).
  const shared = (x: Float32Array) => { const s = new Float32Array(new SharedArrayBuffer(x.byteLength)); s.set(x); return s; };
  const s = await lemma.attention.forward({ data: shared(a.f32.data), shape: a.f32.shape }, { data: shared(b.f32.data), shape: b.f32.shape }, { data: shared(c.f32.data), shape: c.f32.shape }, { causal: true });
  t.deepEqual(s.out.data, ref.out.data);
  // Views at an offset into one larger buffer.
  const big = new Float32Array(10 + a.f32.data.length + b.f32.data.length + c.f32.data.length);
  big.set(a.f32.data, 10); big.set(b.f32.data, 10 + a.f32.data.length); big.set(c.f32.data, 10 + a.f32.data.length + b.f32.data.length);
  const va = big.subarray(10, 10 + a.f32.data.length);
  const vb = big.subarray(10 + a.f32.data.length, 10 + a.f32.data.length + b.f32.data.length);
  const vc = big.subarray(10 + a.f32.data.length + b.f32.data.length);
  const before = big.slice();
  const o = await lemma.attention.forward({ data: va, shape: a.f32.shape }, { data: vb, shape: b.f32.shape }, { data: vc, shape: c.f32.shape }, { causal: true });
  t.deepEqual(o.out.data, ref.out.data);
  t.deepEqual(big, before);
  // The same array as q, k and v.
  const self = await lemma.attention.forward(b.f32, b.f32, b.f32);
  const self64 = await lemma.attention.forward(b.f64, b.f64, b.f64);
  t.true(relErr(self.out.data, self64.out.data) < 1e-5);
});

test('the native layer re-checks sizes when TS is bypassed (no crash)', (t) => {
  const p = { B: 1, Hq: 2, Hkv: 1, Nq: 4, Nk: 6, D: 8, scale: 1, causal: false, deterministic: true, materialized: false };
  const e1 = t.throws(() => native.attentionForwardSync(new Float32Array(3), k.data, v.data, new Float32Array(64), new Float32Array(8), p));
  t.is((e1 as unknown as { code: string }).code, 'ERR_SHAPE');
  t.regex(e1?.message ?? '', /q has 3 elements, expected 64/);
  const e2 = t.throws(() => native.attentionForwardSync(q.data, k.data, v.data, new Float32Array(64), new Float32Array(8), { ...p, Hkv: 3 }));
  t.is((e2 as unknown as { code: string }).code, 'ERR_SHAPE');
  const e3 = t.throws(() => native.attentionForwardSync(new Float64Array(64) as never, k.data, v.data, new Float32Array(64), new Float32Array(8), p));
  // A native ERR_DTYPE is a plain Error with a code (fromNative makes it a LemmaError), not a TypeError.
  t.false(e3 instanceof TypeError);
  t.is((e3 as unknown as { code: string }).code, 'ERR_DTYPE');
});

test('runtime settings validate their arguments', (t) => {
  t.throws(() => lemma.setNumThreads(0), { instanceOf: RangeError, message: /^Expected an integer between 1 and 1024 for n but received 0/ });
  t.throws(() => lemma.setNumThreads('2' as never), { instanceOf: TypeError });
  t.throws(() => lemma.setSimdLevel('sse' as never), { instanceOf: RangeError, message: /^Expected one of 'avx512', 'avx2', 'scalar' for level/ });
});
