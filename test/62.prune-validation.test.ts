/**
 * Bad input to lemma.prune: every validation message (by regex) with its class and code —
 * unknown input and option names (named with the nearest valid one), wrong types, values out of
 * range, non-finite data by position, options the chosen method does not use, shapes, dtypes,
 * absurd sizes refused before allocating, and device 'cuda'.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import { problem } from './helpers/prune.js';

const inp = problem(6, 8, 1);
const { X, W } = inp;
const f64 = (shape: number[], fill = 0.5) => ({ data: new Float64Array(shape.reduce((a, b) => a * b, 1)).fill(fill), shape });
const Wq = f64([8, 2]);
const Wk = f64([8, 2]);
const mask = f64([8, 8], 1);
const prune = (o: unknown, i: unknown = inp) => lemma.prune.attention(i as never, o as never);

const typeErrors: Array<[string, () => Promise<unknown>, RegExp]> = [
  ['inputs null', () => prune({}, null), /^Expected an object \{ X, W \} or \{ X, Wq, Wk \} for inputs but received null of type null$/],
  ['unknown input name', () => prune({}, { X, Wv: W }), /^Expected a known input name \(did you mean 'W'\?\) for inputs but received "Wv" of type string$/],
  ['unknown option causl', () => prune({ causl: true }), /^Expected a known option name \(did you mean 'causal'\?\) for options but received "causl" of type string$/],
  ['unknown option sparsty', () => prune({ sparsty: 0.5 }), /^Expected a known option name \(did you mean 'sparsity'\?\) for options but received "sparsty"/],
  ['unknown option iters', () => prune({ iterations: 10 }), /^Expected a known option name \(did you mean '\w+'\?\) for options but received "iterations"/],
  ['unknown option, even undefined', () => prune({ groups: undefined }), /^Expected a known option name \(did you mean '\w+'\?\) for options but received "groups"/],
  ['options not an object', () => prune(3), /^Expected an options object for options but received 3 of type number$/],
  ['X missing', () => prune({}, { W }), /^Expected a tensor \{ data, shape \} for X but received undefined of type undefined$/],
  ['X data a plain array', () => prune({}, { X: { data: [1, 2], shape: [1, 2] }, W }), /^Expected a Float32Array or Float64Array for X\.data but received \[1, 2\] of type array$/],
  ['no weights', () => prune({}, { X }), /^Expected a tensor \{ data, shape \} \(or pass W\) for Wq but received undefined of type undefined$/],
  ['Wq without Wk', () => prune({}, { X, Wq }), /^Expected a tensor \{ data, shape \} for Wk but received undefined/],
  ['W and Wq together', () => prune({}, { X, W, Wq, Wk }), /^Expected either W or Wq and Wk, not both for inputs but received "W together with Wq \/ Wk"/],
  ['sparsity a string', () => prune({ sparsity: '0.5' }), /^Expected a number in \[0, 1\) for options\.sparsity but received "0\.5" of type string$/],
  ['pattern a number', () => prune({ pattern: 2 }), /^Expected one of 'row', 'global', '2:4' for options\.pattern but received 2 of type number$/],
  ['method a number', () => prune({ method: 1 }), /^Expected one of 'refit', 'relaxed-mask', 'magnitude', 'wanda' for options\.method but received 1/],
  ['steps a string', () => prune({ steps: '10' }), /^Expected an integer between 0 and 10000000 for options\.steps but received "10" of type string$/],
  ['tau a string', () => prune({ tau: '0.1' }), /^Expected a finite number greater than 0 for options\.tau but received "0\.1"/],
  ['causal a number', () => prune({ causal: 1 }), /^Expected a boolean for options\.causal but received 1 of type number$/],
  ['seed a string', () => prune({ seed: '1' }), /^Expected an integer between 0 and 9007199254740991 for options\.seed but received "1"/],
  ['signal not an AbortSignal', () => prune({ signal: {} }), /^Expected an AbortSignal for options\.signal but received a Object of type object$/],
  ['onProgress not a function', () => prune({ onProgress: 1 }), /^Expected a function for options\.onProgress but received 1 of type number$/],
  ['objective: mask missing', () => lemma.prune.objective({ X, W } as never), /^Expected a tensor \{ data, shape \} for mask but received undefined/],
  ['objective: unknown option', () => lemma.prune.objective({ X, W, mask }, { lamda: 1 } as never), /^Expected a known option name \(did you mean 'lambda'\?\) for options but received "lamda"/],
  ['objectiveSync: signal is not an option', async () => lemma.prune.objectiveSync({ X, W, mask }, { signal: new AbortController().signal } as never), /^Expected a known option name \(did you mean '\w+'\?\) for options but received "signal"/],
];
for (const [name, fn, re] of typeErrors) {
  test(`TypeError: ${name}`, async (t) => {
    await t.throwsAsync(fn(), { instanceOf: TypeError, message: re });
  });
}

const badX = (k: number, v: number) => {
  const data = X.data.slice();
  data[k] = v;
  return { X: { data, shape: X.shape }, W };
};
const badW = (k: number, v: number) => {
  const data = W.data.slice();
  data[k] = v;
  return { X, W: { data, shape: W.shape } };
};

const rangeErrors: Array<[string, () => Promise<unknown>, RegExp]> = [
  ['sparsity 1', () => prune({ sparsity: 1 }), /^Expected a number in \[0, 1\) for options\.sparsity but received 1 of type number$/],
  ['sparsity negative', () => prune({ sparsity: -0.1 }), /^Expected a number in \[0, 1\) for options\.sparsity but received -0\.1/],
  ['sparsity NaN', () => prune({ sparsity: NaN }), /^Expected a number in \[0, 1\) for options\.sparsity but received NaN/],
  ['pattern unknown', () => prune({ pattern: 'block' }), /^Expected one of 'row', 'global', '2:4' for options\.pattern but received "block"/],
  ['method unknown', () => prune({ method: 'sparsegpt' }), /^Expected one of 'refit', 'relaxed-mask', 'magnitude', 'wanda' for options\.method but received "sparsegpt"/],
  ['2:4 with sparsity 0.3', () => prune({ pattern: '2:4', sparsity: 0.3 }), /^Expected 0\.5 \(pattern '2:4' keeps 2 of every 4 entries\) for options\.sparsity but received 0\.3/],
  ['steps negative', () => prune({ steps: -1 }), /^Expected an integer between 0 and 10000000 for options\.steps but received -1/],
  ['steps fractional', () => prune({ steps: 1.5 }), /^Expected an integer between 0 and 10000000 for options\.steps but received 1\.5/],
  ['tau 0', () => prune({ tau: 0 }), /^Expected a finite number greater than 0 for options\.tau but received 0/],
  ['tau Infinity', () => prune({ tau: Infinity }), /^Expected a finite number greater than 0 for options\.tau but received Infinity/],
  ['lr 0', () => prune({ lr: 0 }), /^Expected a finite number greater than 0 for options\.lr but received 0/],
  ['lambda negative', () => prune({ method: 'relaxed-mask', lambda: -1 }), /^Expected a finite number at least 0 for options\.lambda but received -1/],
  ['score unknown', () => prune({ method: 'relaxed-mask', score: 'w' }), /^Expected one of 'masked-weight', 'mask' for options\.score but received "w"/],
  ['seed negative', () => prune({ seed: -1 }), /^Expected an integer between 0 and 9007199254740991 for options\.seed but received -1/],
  ['device gpu', () => prune({ device: 'gpu' }), /^Expected one of 'auto', 'cpu', 'cuda' for options\.device but received "gpu"/],
  ['steps with magnitude', () => prune({ method: 'magnitude', steps: 10 }), /^Expected no steps \(method 'magnitude' returns the binary support; steps, lr apply to 'refit' and 'relaxed-mask'\) for options\.steps but received 10/],
  ['lr with wanda', () => prune({ method: 'wanda', lr: 1 }), /^Expected no lr \(method 'wanda' returns the binary support/],
  ['lambda with refit', () => prune({ lambda: 1e-3 }), /^Expected no lambda \(selectSteps, lambda and score configure STAGE A of method 'relaxed-mask', not 'refit'\) for options\.lambda but received 0\.001/],
  ['selectSteps with magnitude', () => prune({ method: 'magnitude', selectSteps: 5 }), /^Expected no selectSteps \(selectSteps, lambda and score configure STAGE A of method 'relaxed-mask', not 'magnitude'\)/],
  ['NaN in X', () => prune({}, badX(13, NaN)), /^Expected a finite number for X\.data\[13\] but received NaN of type number$/],
  ['Infinity in W', () => prune({}, badW(5, -Infinity)), /^Expected a finite number for W\.data\[5\] but received -Infinity of type number$/],
  ['NaN in Wk', () => prune({}, { X, Wq, Wk: { data: Float64Array.from([0, 0, 0, NaN, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), shape: [8, 2] } }), /^Expected a finite number for Wk\.data\[3\] but received NaN/],
  ['NaN in the mask', () => lemma.prune.objective({ X, W, mask: { data: new Float64Array(64).fill(NaN), shape: [8, 8] } }), /^Expected a finite number for mask\.data\[0\] but received NaN/],
  ['objective: lambda negative', () => lemma.prune.objective({ X, W, mask }, { lambda: -1 }), /^Expected a finite number at least 0 for options\.lambda but received -1/],
  ['negative dimension', () => prune({}, { X: { data: new Float64Array(0), shape: [-6, 8] }, W }), /^Expected a non-negative integer dimension size for X\.shape\[0\] but received -6/],
];
for (const [name, fn, re] of rangeErrors) {
  test(`RangeError: ${name}`, async (t) => {
    await t.throwsAsync(fn(), { instanceOf: RangeError, message: re });
  });
}

const lemmaErrors: Array<[string, () => Promise<unknown>, lemma.ErrorCode, RegExp]> = [
  ['X rank 3', () => prune({}, { X: f64([1, 6, 8]), W }), 'ERR_SHAPE', /^Expected a rank-2 shape \[n, d\] for X\.shape but received \[1, 6, 8\]/],
  ['X with no rows', () => prune({}, { X: f64([0, 8]), W }), 'ERR_SHAPE', /^Expected at least one row n and one feature d for X\.shape but received \[0, 8\]/],
  ['X short buffer', () => prune({}, { X: { data: new Float64Array(47), shape: [6, 8] }, W }), 'ERR_SHAPE', /^Expected 48 elements \(the product of shape \[6, 8\]\) for X\.data/],
  ['W not d × d', () => prune({}, { X, W: f64([8, 7]) }), 'ERR_SHAPE', /^Expected shape \[8, 8\] \(d from X\) for W\.shape but received \[8, 7\]/],
  ['Wq rows ≠ d', () => prune({}, { X, Wq: f64([7, 2]), Wk }), 'ERR_SHAPE', /^Expected 8 rows \(d from X\) for Wq\.shape\[0\] but received 7/],
  ['Wk shape ≠ Wq shape', () => prune({}, { X, Wq, Wk: f64([8, 3]) }), 'ERR_SHAPE', /^Expected shape \[8, 2\] \(the shape of Wq\) for Wk\.shape but received \[8, 3\]/],
  ['2:4 with d = 6', () => prune({ pattern: '2:4' }, problem(4, 6, 2)), 'ERR_SHAPE', /^Expected a multiple of 4 \(pattern '2:4'\) for X\.shape\[1\] but received 6/],
  ['mask not d × d', () => lemma.prune.objective({ X, W, mask: f64([4, 4]) }), 'ERR_SHAPE', /^Expected shape \[8, 8\] \(d from X\) for mask\.shape but received \[4, 4\]/],
  ['X fp32, W fp64', () => prune({}, { X: { data: Float32Array.from(X.data), shape: X.shape }, W }), 'ERR_DTYPE', /^Expected a Float32Array like X\.data for W\.data but received a Float64Array of length 64/],
  ['X fp64, Wq fp32', () => prune({}, { X, Wq: { data: new Float32Array(16), shape: [8, 2] }, Wk }), 'ERR_DTYPE', /^Expected a Float64Array like X\.data for Wq\.data/],
  ['d too large for the scratch limit', () => prune({}, { X: f64([1, 20000]), Wq: f64([20000, 1]), Wk: f64([20000, 1]) }), 'ERR_RANGE', /^lemma\.prune needs about \d+ bytes of fp64 scratch for n = 1, d = 20000, more than the limit of 2147483648$/],
  ["device 'cuda'", () => prune({ device: 'cuda' }), 'ERR_CUDA_UNAVAILABLE', /^options\.device 'cuda': lemma\.prune runs on the CPU only \(TypeScript orchestration, no CUDA path\); use device 'cpu' or 'auto'$/],
];
for (const [name, fn, code, re] of lemmaErrors) {
  test(`LemmaError ${code}: ${name}`, async (t) => {
    await t.throwsAsync(fn(), { instanceOf: lemma.LemmaError, code, message: re });
  });
}

test('objectiveSync throws synchronously; prune.attention rejects (never throws synchronously)', (t) => {
  t.throws(() => lemma.prune.objectiveSync({ X, W, mask }, { tau: -1 }), { instanceOf: RangeError, message: /for options\.tau but received -1/ });
  let p: Promise<unknown> | undefined;
  t.notThrows(() => { p = prune({ sparsity: 2 }); });
  return t.throwsAsync(p!, { instanceOf: RangeError });
});

test("device 'auto' and 'cpu' run on the CPU", async (t) => {
  for (const device of ['auto', 'cpu'] as const) {
    const r = await lemma.prune.attention(inp, { method: 'magnitude', device });
    t.is(r.device, 'cpu');
  }
});
