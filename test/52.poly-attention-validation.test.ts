/** Bad input to lemma.polyAttention: clear errors with stable codes, asserted by message. */
import test from 'ava';
import * as lemma from '../lib/index.js';
import type { Tensor } from '../lib/index.js';
import { gaussian } from './helpers/attention.js';

const t32 = (shape: number[], seed = 1): Tensor<Float32Array> => ({ data: Float32Array.from(gaussian(shape.reduce((a, b) => a * b, 1), seed, 0.3)), shape });
const q = t32([1, 2, 16, 8]);
const k = t32([1, 1, 20, 8], 2);
const v = t32([1, 1, 20, 8], 3);
const P = lemma.polyAttention;

test('shapes, dtypes and options are checked before any work', async (t) => {
  await t.throwsAsync(P.forward(t32([2, 16, 8]), k, v), { code: 'ERR_SHAPE', message: /rank-4 shape \[B, Hq, Nq, D\] for q.shape/ });
  await t.throwsAsync(P.forward(q, t32([1, 1, 20, 4]), t32([1, 1, 20, 4])), { code: 'ERR_SHAPE', message: /head dim 8 \(from q\) for k.shape\[3\]/ });
  await t.throwsAsync(P.forward(t32([1, 3, 16, 8]), t32([1, 2, 20, 8]), t32([1, 2, 20, 8])), { code: 'ERR_SHAPE', message: /multiple of Hkv = 2/ });
  await t.throwsAsync(P.forward(q, k, t32([1, 1, 21, 8])), { code: 'ERR_SHAPE', message: /the shape of k/ });
  await t.throwsAsync(P.forward(q, k, { data: Float64Array.from(v.data), shape: v.shape } as never), { code: 'ERR_DTYPE', message: /Float32Array like q.data for v.data/ });
  await t.throwsAsync(P.forward(q, k, v, { degree: 3 }), { instanceOf: RangeError, message: /an even degree .* for options.degree but received 3/ });
  await t.throwsAsync(P.forward(q, k, v, { degree: 14 }), { instanceOf: RangeError, message: /integer between 2 and 12 for options.degree/ });
  await t.throwsAsync(P.forward(q, k, v, { scale: 0 }), { instanceOf: RangeError, message: /greater than 0 for options.scale/ });
  await t.throwsAsync(P.forward(q, k, v, { scale: '1' as unknown as number }), { instanceOf: TypeError, message: /options.scale/ });
  await t.throwsAsync(P.forward(q, k, v, { chunk: 4 }), { instanceOf: RangeError, message: /between 8 and 256 for options.chunk/ });
  await t.throwsAsync(P.forward(q, k, v, { tolerance: 1e-3 }), { instanceOf: RangeError, message: /degree 'auto' \(tolerance applies only to it\)/ });
  await t.throwsAsync(P.forward(q, k, v, { causl: true } as never), { instanceOf: TypeError, message: /did you mean 'causal'/ });
  await t.throwsAsync(P.forward(q, k, v, { device: 'gpu' as never }), { instanceOf: RangeError, message: /options.device/ });
});

test("device 'cuda' and device tensors: ERR_CUDA_UNAVAILABLE (no CUDA kernel yet)", async (t) => {
  await t.throwsAsync(P.forward(q, k, v, { device: 'cuda' }), { code: 'ERR_CUDA_UNAVAILABLE' });
  const r = await P.forward(q, k, v, { device: 'auto' });
  t.is(r.device, 'cpu');
});

test('non-finite inputs are RangeErrors naming the entry; too many features are ERR_RANGE', async (t) => {
  const bad = t32([1, 2, 16, 8]);
  bad.data[5] = NaN;
  await t.throwsAsync(P.forward(bad, k, v), { instanceOf: RangeError, message: /^Expected a finite number for q\[0, 0, 0, 5\] but received NaN/ });
  const badV = t32([1, 1, 20, 8], 4);
  badV.data[13] = Infinity;
  await t.throwsAsync(P.forward(q, k, badV), { instanceOf: RangeError, message: /^Expected a finite number for v\[0, 0, 1, 5\] but received Infinity/ });
  const wide = t32([1, 1, 4, 64]);
  await t.throwsAsync(P.forward(wide, wide, wide, { degree: 4 }), { code: 'ERR_RANGE', message: /degree 4 at D = 64 needs 814385 features, more than the limit of 65536/ });
});

test('backward checks its ctx and dOut; results keep the input dtype and shapes', async (t) => {
  const f = await P.forward(q, k, v, { causal: true });
  await t.throwsAsync(P.backward({} as never, q), { instanceOf: TypeError, message: /the ctx returned by polyAttention.forward/ });
  await t.throwsAsync(P.backward(f.ctx, t32([1, 2, 15, 8])), { code: 'ERR_SHAPE', message: /\(the shape of q\) for dOut.shape/ });
  await t.throwsAsync(P.backward(f.ctx, { data: new Float64Array(q.data.length), shape: q.shape } as never), { code: 'ERR_DTYPE' });
  const g = await P.backward(f.ctx, q);
  t.true(g.dq.data instanceof Float32Array);
  t.deepEqual([g.dq.shape, g.dk.shape, g.dv.shape], [q.shape, k.shape, v.shape]);
  // The ctx owns copies: overwriting the caller's q, k, v after forward changes no gradient.
  const [qq, kk, vv] = [t32(q.shape, 11), t32(k.shape, 12), t32(v.shape, 13)];
  const dOut = t32(q.shape, 14);
  const fc = await P.forward(qq, kk, vv, { causal: true });
  const before = await P.backward(fc.ctx, dOut);
  for (const x of [qq, kk, vv]) x.data.fill(3);
  const after = await P.backward(fc.ctx, dOut);
  for (const name of ['dq', 'dk', 'dv'] as const) t.deepEqual(Array.from(after[name].data), Array.from(before[name].data));
  t.true(before.dk.data.some((x) => x !== 0));
});
