/**
 * Bad input to the looped family's fixed-point operations: every message by regex, with its class
 * and code (shapes, dtypes, non-finite weights and starts, unknown options with the nearest name,
 * activations, boxes, oracles, devices, oversized histories) — never a crash or a silent answer.
 */
import test from 'ava';
import { certifyBox, certifyBoxSync, enumerateFixedPoints, preset } from '../lib/looped/certify.js';
import { iterate } from '../lib/looped/iterate.js';
import { LemmaError } from '../lib/errors.js';
import { cudaAvailable } from '../lib/device.js';

const W = { data: Float64Array.of(0.5, 0.1, 0.1, 0.5), shape: [2, 2] };
const b = Float64Array.of(0, 0);
const x0 = { data: Float64Array.of(0.1, 0.2, 0.3, 0.4), shape: [2, 2] };
const ok = { W, b, activation: 'tanh' as const, x0 };

function code(c: string) {
  return (e: unknown) => e instanceof LemmaError && e.code === c;
}

test('shapes: non-square W, b of the wrong length, x0 of the wrong width are ERR_SHAPE', async (t) => {
  await t.throwsAsync(iterate({ ...ok, W: { data: new Float64Array(6), shape: [2, 3] } }), { instanceOf: LemmaError, message: /square shape \[d, d\]/ });
  await t.throwsAsync(iterate({ ...ok, b: Float64Array.of(1, 2, 3) }), { instanceOf: LemmaError, message: /2 values \(d from W\) for b/ });
  await t.throwsAsync(iterate({ ...ok, x0: { data: new Float64Array(6), shape: [2, 3] } }), { instanceOf: LemmaError, message: /shape \[S, 2\]/ });
  await t.throwsAsync(iterate({ ...ok, W: { data: new Float64Array(3), shape: [2, 2] } }), { instanceOf: LemmaError, message: /4 elements/ });
  const e = await t.throwsAsync(iterate({ ...ok, b: { data: Float64Array.of(0, 0), shape: [1, 2] } as never }));
  t.true(code('ERR_SHAPE')(e));
});

test('dtypes: b or x0 with another dtype than W is ERR_DTYPE; plain arrays are TypeErrors', async (t) => {
  const e1 = await t.throwsAsync(iterate({ ...ok, b: new Float32Array(2) as never }), { message: /Float64Array like W.data for b/ });
  t.true(code('ERR_DTYPE')(e1));
  const e2 = await t.throwsAsync(iterate({ ...ok, x0: { data: new Float32Array(4), shape: [2, 2] } as never }));
  t.true(code('ERR_DTYPE')(e2));
  await t.throwsAsync(iterate({ ...ok, W: { data: [0.5, 0, 0, 0.5], shape: [2, 2] } as never }), { instanceOf: TypeError, message: /Float32Array or Float64Array for W.data/ });
});

test('non-finite weights and starts are RangeErrors naming the entry', async (t) => {
  const bad = { data: Float64Array.of(0.5, 0.1, 0.1, NaN), shape: [2, 2] };
  await t.throwsAsync(iterate({ ...ok, W: bad }), { instanceOf: RangeError, message: /^Expected a finite number for W\[1, 1\] but received NaN/ });
  await t.throwsAsync(iterate({ ...ok, b: Float64Array.of(0, Infinity) }), { instanceOf: RangeError, message: /^Expected a finite number for b\[1\] but received Infinity/ });
  await t.throwsAsync(iterate({ ...ok, x0: { data: Float64Array.of(0, 0, -Infinity, 0), shape: [2, 2] } }), { instanceOf: RangeError, message: /^Expected a finite number for x0\[1, 0\] but received -Infinity/ });
  t.throws(() => certifyBoxSync({ W: bad, b, activation: 'tanh', lo: -1, hi: 1 }), { instanceOf: RangeError, message: /^Expected a finite number for W\[1, 1\]/ });
});

test('options: unknown names name the nearest valid one; bad values are RangeErrors', async (t) => {
  await t.throwsAsync(iterate({ ...ok, maxStep: 10 } as never), { instanceOf: TypeError, message: /did you mean 'maxSteps'\?/ });
  await t.throwsAsync(iterate({ ...ok, nois: 0.1 } as never), { instanceOf: TypeError, message: /did you mean 'noise'\?/ });
  await t.throwsAsync(iterate({ ...ok, maxSteps: 0 }), { instanceOf: RangeError, message: /integer between 1 and 1073741824 for options.maxSteps/ });
  await t.throwsAsync(iterate({ ...ok, maxSteps: 2.5 }), { instanceOf: RangeError });
  await t.throwsAsync(iterate({ ...ok, tol: -1 }), { instanceOf: RangeError, message: /options.tol/ });
  await t.throwsAsync(iterate({ ...ok, noise: NaN }), { instanceOf: RangeError, message: /options.noise/ });
  await t.throwsAsync(iterate({ ...ok, seed: -3 }), { instanceOf: RangeError, message: /options.seed/ });
  await t.throwsAsync(iterate({ ...ok, earlyExit: 'yes' } as never), { instanceOf: TypeError, message: /boolean for options.earlyExit/ });
  await t.throwsAsync(iterate({ ...ok, signal: {} } as never), { instanceOf: TypeError, message: /AbortSignal/ });
  await t.throwsAsync(iterate({ ...ok, onProgress: 3 } as never), { instanceOf: TypeError, message: /function for options.onProgress/ });
  await t.throwsAsync(iterate(undefined as never), { instanceOf: TypeError });
  t.throws(() => certifyBoxSync({ W, b, activation: 'tanh', lo: 0, hi: 1, delt: 0.1 } as never), { instanceOf: TypeError, message: /did you mean 'delta'/ });
  await t.throwsAsync(enumerateFixedPoints({ W, b, activation: 'poly3', sample: 3 } as never), { instanceOf: TypeError, message: /did you mean 'samples'/ });
  t.throws(() => preset('poly3', { dd: 3 } as never), { instanceOf: TypeError, message: /did you mean 'd'/ });
  t.throws(() => preset('relu' as never), { instanceOf: RangeError });
});

test('activations: unknown names are RangeErrors; malformed custom objects TypeErrors', async (t) => {
  await t.throwsAsync(iterate({ ...ok, activation: 'sigmoid' as never }), { instanceOf: RangeError, message: /'poly3', 'tanh2', 'tanh', 'relu', 'gelu'/ });
  await t.throwsAsync(iterate({ ...ok, activation: {} as never }), { instanceOf: TypeError, message: /activation name or an object/ });
  await t.throwsAsync(iterate({ ...ok, activation: { fn: Math.tanh, rnage: () => [0, 1] } as never }), { instanceOf: TypeError, message: /known activation key/ });
  await t.throwsAsync(iterate({ ...ok, activation: { fn: Math.tanh, slope: 1 } as never }), { instanceOf: TypeError, message: /function for activation.slope/ });
});

test('boxes and oracles: an empty box is a RangeError, a wrong length ERR_SHAPE, a broken user oracle ERR_RANGE', async (t) => {
  t.throws(() => certifyBoxSync({ W, b, activation: 'tanh', lo: 1, hi: 0 }),
    { instanceOf: RangeError, message: /^Expected a lower bound at most hi\[0\] = 0 \(the box is empty\) for options\.lo\[0\] but received 1/ });
  t.true(code('ERR_SHAPE')(t.throws(() => certifyBoxSync({ W, b, activation: 'tanh', lo: [0, 0, 0], hi: 1 }))));
  t.throws(() => certifyBoxSync({ W, b, activation: 'tanh', lo: 'a' as never, hi: 1 }), { instanceOf: TypeError });
  t.throws(() => certifyBoxSync({ W, b, activation: 'tanh', lo: [0, NaN], hi: 1 }), { instanceOf: RangeError, message: /options.lo\[1\]/ });
  const broken = { fn: Math.tanh, range: () => [1, 0] as const, slope: () => 0.5 };
  t.true(code('ERR_RANGE')(t.throws(() => certifyBoxSync({ W, b, activation: broken, lo: -1, hi: 1 }), { message: /invalid interval for coordinate 0/ })));
  const negative = { fn: Math.tanh, range: (lo: number, hi: number) => [Math.tanh(lo), Math.tanh(hi)] as const, slope: () => -1 };
  t.throws(() => certifyBoxSync({ W, b, activation: negative, lo: -1, hi: 1 }), { message: /slope oracle returned a negative or NaN bound/ });
  await t.throwsAsync(certifyBox({ W, b, activation: { fn: Math.tanh }, lo: -1, hi: 1 }), { instanceOf: TypeError, message: /range and slope oracles/ });
  await t.throwsAsync(enumerateFixedPoints({ W, b, activation: 'relu' }), { instanceOf: RangeError, message: /only poly3 and tanh2 have a default/ });
  await t.throwsAsync(enumerateFixedPoints({ W, b, activation: 'poly3', box: [1, 0.5] }), { instanceOf: RangeError, message: /lo < hi/ });
});

test('device cuda: ERR_CUDA_UNAVAILABLE (no GPU here, or no looped CUDA kernel); an oversized history is ERR_RANGE', async (t) => {
  const e = await t.throwsAsync(iterate({ ...ok, device: 'cuda' }));
  t.true(code('ERR_CUDA_UNAVAILABLE')(e), String(e));
  t.regex(e!.message, /^options\.device 'cuda': looped\.iterate has no CUDA kernel in this version; use device 'cpu' or 'auto'$/);
  await t.throwsAsync(iterate({ ...ok, device: 'gpu' as never }), { instanceOf: RangeError });
  const big = { data: new Float64Array(2 * 2), shape: [2, 2] };
  const h = await t.throwsAsync(iterate({ ...ok, x0: big, maxSteps: 2 ** 25 }), { message: /pass history: false/ });
  t.true(code('ERR_RANGE')(h));
  const r = await iterate({ ...ok, x0: big, maxSteps: 2 ** 25, history: false, tol: 1e-3 });
  t.is(r.residuals, null);
  t.true(r.converged.every((c) => c === 1));
});

test('an empty batch (S = 0) and d = 1 work; the inputs are not modified', async (t) => {
  const r = await iterate({ ...ok, x0: { data: new Float64Array(0), shape: [0, 2] } });
  t.is(r.steps.length, 0);
  t.deepEqual(r.x.shape, [0, 2]);
  const before = x0.data.slice();
  const r1 = await iterate({ ...ok });
  t.deepEqual(x0.data, before);
  t.true(r1.converged.every((c) => c === 1));
  const one = await iterate({ W: { data: Float64Array.of(0.5), shape: [1, 1] }, b: Float64Array.of(0.25), activation: 'relu', x0: { data: Float64Array.of(3), shape: [1, 1] } });
  t.true(Math.abs(one.x.data[0] - 0.5) < 1e-11);
});
