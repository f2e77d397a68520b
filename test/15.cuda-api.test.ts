/**
 * The CUDA API on a machine without a usable GPU (CI): clear ERR_CUDA_UNAVAILABLE errors with
 * the reason, zero device memory, and argument validation that does not need a GPU.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import { native } from '../lib/binding.js';

const host = { data: new Float32Array(16), shape: [1, 1, 2, 8] };
const noGpu = !lemma.cudaAvailable();

(noGpu ? test : test.skip)('lemma.cuda.tensor without a GPU: ERR_CUDA_UNAVAILABLE with the reason', async (t) => {
  const e = await t.throwsAsync(lemma.cuda.tensor(host), { instanceOf: lemma.LemmaError, message: /^device 'cuda' was requested but no GPU is usable: .+/ });
  t.is(e?.code, 'ERR_CUDA_UNAVAILABLE');
  t.is(lemma.cuda.memory().bytesInUse, 0);
});

(noGpu ? test : test.skip)("host tensors with device 'cuda': ERR_CUDA_UNAVAILABLE for backward too", async (t) => {
  const f = await lemma.attention.forward(host, host, host);
  const e = await t.throwsAsync(lemma.attention.backward({ q: host, k: host, v: host, out: f.out, lse: f.lse, dOut: host }, { device: 'cuda' }));
  t.is((e as lemma.LemmaError).code, 'ERR_CUDA_UNAVAILABLE');
});

test('cuda argument validation', async (t) => {
  await t.throwsAsync(lemma.cuda.tensor(host, { dtype: 'int8' as never }), { instanceOf: RangeError, message: /^Expected one of 'float32', 'float16', 'bfloat16' for options\.dtype but received "int8"/ });
  await t.throwsAsync(lemma.cuda.tensor(null as never), { instanceOf: TypeError, message: /^Expected a tensor \{ data, shape \} for host/ });
  await t.throwsAsync(lemma.attention.forward(host, host, host, { precision: 'fp8' as never }), { instanceOf: RangeError, message: /^Expected one of 'fp32', 'tf32', 'fp16', 'bf16' for options\.precision/ });
});

test('memory() reports a number of bytes', (t) => {
  const m = lemma.cuda.memory();
  t.true(Number.isInteger(m.bytesInUse) && m.bytesInUse >= 0);
});

(noGpu ? test : test.skip)('lemma.cuda.synchronize() without a GPU resolves at once; memory() stays 0', async (t) => {
  await lemma.cuda.synchronize();
  t.is(lemma.cuda.memory().bytesInUse, 0);
});

test("the emulated device's test hooks exist only in the emulated build", (t) => {
  t.is(typeof native.cudaEmulator === 'function', lemma.capabilities().cuda.emulated === true);
});
