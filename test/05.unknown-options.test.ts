/**
 * Unknown option names are errors in every family (a typo such as `causl` or `chians` must never
 * silently change the answer): a TypeError that names the key and the nearest valid one. The
 * families' own validation files check their other messages; this file checks the families whose
 * options had no such check before.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';

const A = lemma.tensor(new Float64Array([1, 0, 0, 1, -1, 0, 0, -1]), [4, 2]);
const b = new Float64Array([1, 1, 1, 1]);
const nearest = (name: string) => new RegExp(`^Expected a known option name \\(did you mean '${name}'\\?\\) for options but received "`);

test('sample.dikin, polytope.lewisWeights, polytope.johnEllipsoid, sample.callback, cuda.upload', async (t) => {
  const body = lemma.polytope.halfspaces(A, b);
  await t.throwsAsync(lemma.sample.dikin(body, lemma.sample.uniform(), { chians: 2 } as never), { instanceOf: TypeError, message: nearest('chains') });
  await t.throwsAsync(lemma.polytope.lewisWeights(body, [0, 0], { tolerence: 1e-6 } as never), { instanceOf: TypeError, message: nearest('tolerance') });
  await t.throwsAsync(lemma.polytope.johnEllipsoid(A, { epsilom: 0.1 } as never), { instanceOf: TypeError, message: nearest('epsilon') });
  t.throws(() => lemma.sample.callback(() => new Float64Array(0), { lipshitz: 1 } as never), { instanceOf: TypeError, message: nearest('lipschitz') });
  await t.throwsAsync(lemma.cuda.upload(lemma.tensor(new Float32Array(4), [4]), { dtpye: 'float32' } as never), { instanceOf: TypeError, message: nearest('dtype') });
  // The valid spellings still work.
  const r = await lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 2, steps: 10, seed: 1 });
  t.deepEqual(r.samples.shape, [2, 10, 2]);  // steps kept after the burn-in
  body.dispose();
});

test('sparse: keyIndex, attend, report and the one-shot helpers; report refuses an explicit cuda', async (t) => {
  const r = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.5);
  const k = lemma.tensor(r(1 * 1 * 64 * 16, 1), [1, 1, 64, 16]);
  const v = lemma.tensor(r(1 * 1 * 64 * 16, 2), [1, 1, 64, 16]);
  const q = lemma.tensor(r(1 * 1 * 4 * 16, 3), [1, 1, 4, 16]);
  await t.throwsAsync(lemma.sparse.keyIndex(k, v, { oder: 'cluster' } as never), { instanceOf: TypeError, message: nearest('order') });
  const ix = await lemma.sparse.keyIndex(k, v);
  await t.throwsAsync(ix.attend(q, { threshhold: 0.1 } as never), { instanceOf: TypeError, message: nearest('threshold') });
  await t.throwsAsync(ix.attend(q, { threshold: 0.1, order: 'cluster' } as never), { instanceOf: TypeError, message: /for options but received "order"/ });
  await t.throwsAsync(ix.report(q, { threshold: 0.1, casual: true } as never), { instanceOf: TypeError, message: nearest('causal') });
  const e = await t.throwsAsync(ix.report(q, { threshold: 0.1, device: 'cuda' }));
  t.is((e as lemma.LemmaError).code, 'ERR_CUDA_UNAVAILABLE');
  await t.throwsAsync(lemma.sparse.reluAttention(q, k, v, { threshold: 0.1, blocksize: 32 } as never), { instanceOf: TypeError, message: nearest('blockSize') });
  // Index and attend options together are fine for the one-shot helpers.
  const one = await lemma.sparse.reluAttention(q, k, v, { threshold: 0.1, blockSize: 32, order: 'cluster', causal: false });
  const two = await ix.attend(q, { threshold: 0.1 });
  t.true(one.out.data.some((x) => x !== 0), 'some keys pass the threshold');
  let worst = 0;
  one.out.data.forEach((x, i) => { worst = Math.max(worst, Math.abs(x - two.out.data[i])); });
  t.true(worst < 1e-5, `the one-shot answer equals the index's (exact ReLU attention; max diff ${worst})`);
  ix.dispose();
});


test('attention.ioCost, dp.accountant, dp.discreteLaplace', (t) => {
  t.throws(() => lemma.attention.ioCost({ n: 64, d: 8, cacheWords: 1024, algorithm: 'flash', pass: 'forward', pas: 'x' } as never), { instanceOf: TypeError, message: nearest('pass') });
  t.throws(() => lemma.dp.accountant({ epsilon: 1, epsilom: 2 } as never), { instanceOf: TypeError, message: nearest('epsilon') });
  t.throws(() => lemma.dp.discreteLaplace(1, 4, { sed: 1 } as never), { instanceOf: TypeError, message: nearest('seed') });
});
