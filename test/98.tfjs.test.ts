/**
 * lemma/tfjs: lemma's attention as a TensorFlow.js op (tf.customGrad). Checked against attention
 * written with TensorFlow.js's own ops (matMul, softmax, a band mask for causal, tiled k/v for
 * grouped-query) on small shapes, forward and the gradients tf.grads computes through both; the
 * op's gradients also against central finite differences of an fp64 attention written here in
 * plain JS; the errors (rank, dtype, shapes, options, disposed inputs, a non-tf namespace); no
 * tfjs tensor leaked; and a tf.train.sgd step through tf.variableGrads lowers a loss.
 * tfjs runs on its CPU backend with IS_TEST set (which also makes tfjs check every kernel,
 * the custom op's forward included, for leaked tensors).
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { lemmaTf } from '../lib/tfjs/index.js';
import { LemmaError } from '../lib/errors.js';

const { attention } = lemmaTf(tf);

test.before(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
});

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randn(n: number, rand: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return a;
}

const size = (s: number[]) => s.reduce((p, x) => p * x, 1);
const rand4 = (shape: number[], r: () => number) => tf.tensor<tf.Rank>(randn(size(shape), r), shape) as tf.Tensor4D;

interface Opts { causal?: boolean; scale?: number }

/** Attention in TensorFlow.js ops: q [B, Hq, Nq, D], k and v [B, Hkv, Nk, D]; Nq ≤ Nk when causal. */
function reference(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, o: Opts = {}): tf.Tensor4D {
  return tf.tidy(() => {
    const [, Hq, Nq, D] = q.shape;
    const [, Hkv, Nk] = k.shape;
    const g = Hq / Hkv;
    // Query head h reads kv head floor(h / g).
    const heads = tf.tensor1d(Array.from({ length: Hq }, (_, h) => Math.floor(h / g)), 'int32');
    const rep = (t: tf.Tensor4D) => (g === 1 ? t : tf.gather(t, heads, 1));
    let s = tf.mul(tf.matMul(q, rep(k), false, true), o.scale ?? 1 / Math.sqrt(D));
    if (o.causal) {
      // Bottom-right aligned: query i sees keys j ≤ i + Nk − Nq.
      const keep = tf.cast(tf.linalg.bandPart(tf.ones([Nq, Nk]), -1, Nk - Nq), 'bool');
      s = tf.where(tf.broadcastTo(keep, s.shape), s, tf.fill(s.shape, -1e30));
    }
    return tf.matMul(tf.softmax(s), rep(v)) as tf.Tensor4D;
  });
}

function maxRelDiff(a: tf.Tensor, b: tf.Tensor): number {
  const x = a.dataSync(), y = b.dataSync();
  let diff = 0, scale = 0;
  for (let i = 0; i < x.length; i++) {
    diff = Math.max(diff, Math.abs(x[i] - y[i]));
    scale = Math.max(scale, Math.abs(y[i]));
  }
  return diff / Math.max(scale, 1e-6);
}

/** Output and d(sum(out · W))/d(q, k, v), through `fn`, as tensors the caller disposes. */
function outAndGrads(fn: typeof reference, q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, W: tf.Tensor, o: Opts) {
  const out = fn(q, k, v, o);
  const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(fn(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, o), W)))([q, k, v]);
  return { out, grads };
}

const CASES: Array<{ q: number[]; kv: number[]; o: Opts }> = [
  { q: [1, 1, 1, 1], kv: [1, 1, 1, 1], o: {} },
  { q: [2, 3, 5, 4], kv: [2, 3, 5, 4], o: {} },
  { q: [1, 2, 17, 8], kv: [1, 2, 17, 8], o: { causal: true } },
  { q: [2, 2, 33, 1], kv: [2, 2, 33, 1], o: { causal: true } },                   // D = 1, N past a 32 block
  { q: [1, 2, 7, 16], kv: [1, 2, 70, 16], o: { scale: 0.7 } },                    // Nq ≠ Nk, custom scale
  { q: [1, 2, 9, 8], kv: [1, 2, 23, 8], o: { causal: true, scale: 0.3 } },        // causal, bottom-right aligned
  { q: [2, 4, 11, 8], kv: [2, 2, 11, 8], o: { causal: true } },                   // grouped-query: 2 query heads per kv head
  { q: [1, 3, 65, 32], kv: [1, 1, 65, 32], o: { scale: 0.05 } },                  // multi-query, N past a 64 block
];

for (const [i, c] of CASES.entries()) {
  test(`forward and gradients match TensorFlow.js attention: q ${JSON.stringify(c.q)}, k/v ${JSON.stringify(c.kv)}, ${JSON.stringify(c.o)}`, (t) => {
    const r = rng(100 + i);
    const q = rand4(c.q, r), k = rand4(c.kv, r), v = rand4(c.kv, r);
    const W = tf.tensor(randn(size(c.q), r), c.q);
    const before = tf.memory().numTensors;
    const mine = outAndGrads(attention, q, k, v, W, c.o);
    const ref = outAndGrads(reference, q, k, v, W, c.o);
    t.deepEqual(mine.out.shape, c.q);
    t.is(mine.out.dtype, 'float32');
    const fwd = maxRelDiff(mine.out, ref.out);
    t.true(fwd <= 1e-5, `forward: max |diff| / max |ref| = ${fwd.toExponential(2)}`);
    ['dq', 'dk', 'dv'].forEach((name, j) => {
      t.deepEqual(mine.grads[j].shape, [c.q, c.kv, c.kv][j], name);
      const d = maxRelDiff(mine.grads[j], ref.grads[j]);
      t.true(d <= 1e-4, `${name}: max |diff| / max |ref| = ${d.toExponential(2)}`);
    });
    t.log(`forward ${fwd.toExponential(1)}, dq ${maxRelDiff(mine.grads[0], ref.grads[0]).toExponential(1)}, dk ${maxRelDiff(mine.grads[1], ref.grads[1]).toExponential(1)}, dv ${maxRelDiff(mine.grads[2], ref.grads[2]).toExponential(1)}`);
    tf.dispose([mine.out, ...mine.grads, ref.out, ...ref.grads]);
    t.is(tf.memory().numTensors, before, 'no tfjs tensor left behind');
    tf.dispose([q, k, v, W]);
  });
}

/** fp64 attention in plain JS, one head: loss = Σ out · W. */
function lossF64(q: Float64Array, k: Float64Array, v: Float64Array, W: Float64Array, N: number, M: number, D: number, causal: boolean, scale: number): number {
  let loss = 0;
  for (let i = 0; i < N; i++) {
    const s: number[] = [];
    for (let j = 0; j < M; j++) {
      if (causal && j > i + M - N) continue;
      let dot = 0;
      for (let d = 0; d < D; d++) dot += q[i * D + d] * k[j * D + d];
      s[j] = dot * scale;
    }
    const m = Math.max(...s.filter((x) => x !== undefined));
    let z = 0;
    const p = s.map((x) => (x === undefined ? 0 : Math.exp(x - m)));
    for (const x of p) z += x ?? 0;
    for (let d = 0; d < D; d++) {
      let o = 0;
      for (let j = 0; j < M; j++) o += ((p[j] ?? 0) / z) * v[j * D + d];
      loss += o * W[i * D + d];
    }
  }
  return loss;
}

test('gradients agree with central finite differences of an fp64 attention written in JS', (t) => {
  const N = 4, M = 6, D = 3, scale = 0.8;
  for (const causal of [false, true]) {
    const r = rng(causal ? 7 : 8);
    const arrs = [randn(N * D, r), randn(M * D, r), randn(M * D, r), randn(N * D, r)];
    const [q, k, v, W] = arrs.map((a, i) => tf.tensor(a, [1, 1, i === 1 || i === 2 ? M : N, D]) as tf.Tensor4D);
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(attention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, { causal, scale }), W)))([q, k, v]);
    const x64 = arrs.map((a) => Float64Array.from(a));
    const h = 1e-6;
    let worst = 0;
    for (let which = 0; which < 3; which++) {
      const g = grads[which].dataSync();
      const x = x64[which];
      let gmax = 0;
      for (const gi of g) gmax = Math.max(gmax, Math.abs(gi));
      for (let i = 0; i < x.length; i++) {
        const keep = x[i];
        x[i] = keep + h;
        const up = lossF64(x64[0], x64[1], x64[2], x64[3], N, M, D, causal, scale);
        x[i] = keep - h;
        const down = lossF64(x64[0], x64[1], x64[2], x64[3], N, M, D, causal, scale);
        x[i] = keep;
        const fd = (up - down) / (2 * h);
        const err = Math.abs(fd - g[i]) / Math.max(gmax, 1e-12);
        worst = Math.max(worst, err);
        t.true(err <= 1e-4, `${['dq', 'dk', 'dv'][which]}[${i}] (causal ${causal}): finite difference ${fd}, gradient ${g[i]}`);
      }
    }
    t.log(`causal ${causal}: worst |fd − grad| / max |grad| = ${worst.toExponential(2)}`);
    tf.dispose([q, k, v, W, ...grads]);
  }
});

test('causal with Nq > Nk: a query row that sees no key outputs 0 with zero gradients (never NaN); the others match', (t) => {
  const r = rng(5);
  const q = rand4([1, 2, 6, 4], r), k = rand4([1, 2, 3, 4], r), v = rand4([1, 2, 3, 4], r), W = rand4([1, 2, 6, 4], r);
  const mine = outAndGrads(attention, q, k, v, W, { causal: true });
  const out = mine.out.arraySync();
  const dq = (mine.grads[0] as tf.Tensor4D).arraySync();
  for (const h of [0, 1]) {
    for (let i = 0; i < 3; i++) t.deepEqual([...out[0][h][i], ...dq[0][h][i]], new Array(8).fill(0), `head ${h} row ${i} sees no key`);
  }
  t.true(mine.grads.every((g) => Array.from(g.dataSync()).every(Number.isFinite)));
  // Rows 3..5 see keys 0..0, 0..1, 0..2: the reference on those rows alone (Nq = Nk = 3) agrees.
  const rows = (x: tf.Tensor4D) => tf.slice(x, [0, 0, 3, 0], [1, 2, 3, 4]) as tf.Tensor4D;
  tf.tidy(() => {
    const ref = outAndGrads(reference, rows(q), k, v, rows(W), { causal: true });
    t.true(maxRelDiff(rows(mine.out), ref.out) <= 1e-5);
    t.true(maxRelDiff(rows(mine.grads[0] as tf.Tensor4D), ref.grads[0]) <= 1e-4);
    t.true(maxRelDiff(mine.grads[1], ref.grads[1]) <= 1e-4);
    t.true(maxRelDiff(mine.grads[2], ref.grads[2]) <= 1e-4);
  });
  tf.dispose([q, k, v, W, mine.out, ...mine.grads]);
});

test('rank-3 [H, N, D] inputs: the rank-4 op with a batch of one, gradients included', (t) => {
  const r = rng(3);
  const q3 = tf.tensor(randn(2 * 5 * 4, r), [2, 5, 4]) as tf.Tensor3D;
  const k3 = tf.tensor(randn(2 * 6 * 4, r), [2, 6, 4]) as tf.Tensor3D;
  const v3 = tf.tensor(randn(2 * 6 * 4, r), [2, 6, 4]) as tf.Tensor3D;
  const before = tf.memory().numTensors;
  const o3 = attention(q3, k3, v3, { causal: true });
  t.is(tf.memory().numTensors, before + 1, 'one new tensor: the reshapes are tidied');
  t.deepEqual(o3.shape, [2, 5, 4]);
  const o4 = attention(tf.reshape(q3, [1, 2, 5, 4]) as tf.Tensor4D, tf.reshape(k3, [1, 2, 6, 4]) as tf.Tensor4D, tf.reshape(v3, [1, 2, 6, 4]) as tf.Tensor4D, { causal: true });
  t.deepEqual(Array.from(o3.dataSync()), Array.from(o4.dataSync()));
  const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.square(attention(a as tf.Tensor3D, b as tf.Tensor3D, c as tf.Tensor3D, { causal: true }))))([q3, k3, v3]);
  const gr = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.square(tf.reshape(reference(
    tf.reshape(a, [1, 2, 5, 4]) as tf.Tensor4D, tf.reshape(b, [1, 2, 6, 4]) as tf.Tensor4D, tf.reshape(c, [1, 2, 6, 4]) as tf.Tensor4D, { causal: true }), [2, 5, 4]))))([q3, k3, v3]);
  g.forEach((gi, i) => {
    t.deepEqual(gi.shape, [q3, k3, v3][i].shape);
    t.true(maxRelDiff(gi, gr[i]) <= 1e-4, `grad ${i}: ${maxRelDiff(gi, gr[i])}`);
  });
  tf.dispose([q3, k3, v3, o3, ...g, ...gr]);
  tf.dispose(o4);
});

/** The error's LemmaError code or class name; tensors the call made are tidied. */
function code(fn: () => unknown): string {
  try {
    tf.tidy(() => { fn(); });
  } catch (e) {
    return e instanceof LemmaError ? e.code : (e as Error).name;
  }
  return 'no error';
}

test('clear errors: ranks, shapes, dtypes, options, disposed tensors, a non-tf namespace', (t) => {
  const q = tf.zeros([1, 2, 4, 8]) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const make = (s: number[], dtype: 'float32' | 'int32' = 'float32') => tf.zeros<tf.Rank>(s, dtype) as tf.Tensor4D;
  const cases: Array<[string, () => unknown, string, RegExp]> = [
    ['rank 2', () => attention(make([4, 8]), make([4, 8]), make([4, 8])), 'ERR_SHAPE', /rank-4 shape \[B, Hq, Nq, D\] or a rank-3/],
    ['rank 5', () => attention(make([1, 1, 1, 4, 8]), q, q), 'ERR_SHAPE', /rank-4/],
    ['mixed ranks', () => attention(q, make([2, 4, 8]), make([2, 4, 8])), 'ERR_SHAPE', /k\.shape/],
    ['D of k differs', () => attention(q, make([1, 2, 4, 7]), make([1, 2, 4, 7])), 'ERR_SHAPE', /head dim 8/],
    ['v unlike k', () => attention(q, q, make([1, 2, 5, 8])), 'ERR_SHAPE', /v\.shape/],
    ['batch differs', () => attention(q, make([2, 2, 4, 8]), make([2, 2, 4, 8])), 'ERR_SHAPE', /batch size 1/],
    ['Hq not a multiple of Hkv', () => attention(make([1, 3, 4, 8]), q, q), 'ERR_SHAPE', /multiple of Hkv = 2/],
    ['D = 0', () => attention(make([1, 2, 4, 0]), make([1, 2, 4, 0]), make([1, 2, 4, 0])), 'ERR_SHAPE', /head dim/],
    ['D = 300', () => attention(make([1, 1, 2, 300]), make([1, 1, 2, 300]), make([1, 1, 2, 300])), 'ERR_SHAPE', /between 1 and 256/],
    ['int32 q', () => attention(make([1, 2, 4, 8], 'int32'), q, q), 'ERR_DTYPE', /float32 tensor .* for q\.dtype but received "int32"/],
    ['int32 v', () => attention(q, q, make([1, 2, 4, 8], 'int32')), 'ERR_DTYPE', /v\.dtype/],
    ['a typed array for k', () => attention(q, new Float32Array(64) as unknown as tf.Tensor4D, q), 'TypeError', /a tf\.Tensor for k/],
    ['typo causl', () => attention(q, q, q, { causl: true } as never), 'TypeError', /did you mean 'causal'/],
    ['scale NaN', () => attention(q, q, q, { scale: NaN }), 'RangeError', /options\.scale/],
    ['causal "yes"', () => attention(q, q, q, { causal: 'yes' as never }), 'TypeError', /options\.causal/],
    ['algorithm', () => attention(q, q, q, { algorithm: 'fast' as never }), 'RangeError', /options\.algorithm/],
  ];
  for (const [what, fn, want, msg] of cases) {
    t.is(code(fn), want, what);
    try { tf.tidy(() => { fn(); }); } catch (e) { t.regex((e as Error).message, msg, what); }
  }
  t.is(tf.memory().numTensors, before, 'failed calls leave no tensor behind');
  const gone = make([1, 2, 4, 8]);
  gone.dispose();
  t.is(code(() => attention(q, gone, q)), 'ERR_DISPOSED');
  t.is(code(() => lemmaTf({} as never)), 'TypeError');
  t.regex((() => { try { lemmaTf(null as never); } catch (e) { return (e as Error).message; } return ''; })(), /TensorFlow\.js namespace/);
  // The error thrown from inside a gradient call leaves the engine usable.
  t.is(code(() => tf.grads((a: tf.Tensor) => tf.sum(attention(a as tf.Tensor4D, make([1, 2, 4, 7]), q)))([q])), 'ERR_SHAPE');
  const ok = attention(q, q, q);
  t.deepEqual(ok.shape, [1, 2, 4, 8]);
  ok.dispose();
  t.is(tf.memory().numTensors, before, 'failed calls leave no tensor behind');
  q.dispose();
});

test('no tfjs tensor or byte leaked over repeated forward + gradient calls, inside and outside tf.tidy', (t) => {
  const r = rng(11);
  const q = rand4([2, 2, 9, 4], r), k = rand4([2, 2, 12, 4], r), v = rand4([2, 2, 12, 4], r);
  const start = tf.memory();
  for (let i = 0; i < 20; i++) {
    tf.tidy(() => {
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.mean(attention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, { causal: true })))([q, k, v]);
      return g;
    }).forEach((x) => x.dispose());
    const { value, grads } = tf.valueAndGrads((a: tf.Tensor) => tf.sum(attention(a as tf.Tensor4D, k, v)))([q]);
    tf.dispose([value, ...grads]);
    attention(q, k, v).dispose();
  }
  const end = tf.memory();
  t.is(end.numTensors, start.numTensors);
  t.is(end.numBytes, start.numBytes);
  t.is(end.numDataBuffers, start.numDataBuffers);
  tf.dispose([q, k, v]);
});

test('inside tf.variableGrads and an optimizer: an SGD step lowers the loss', (t) => {
  const r = rng(21);
  const x = rand4([2, 2, 6, 4], r);            // inputs [B, H, N, D]
  const target = rand4([2, 2, 6, 4], r);
  const Wq = tf.variable(tf.tensor(randn(16, r), [4, 4]), true, 'Wq');
  const Wk = tf.variable(tf.tensor(randn(16, r), [4, 4]), true, 'Wk');
  const Wv = tf.variable(tf.tensor(randn(16, r), [4, 4]), true, 'Wv');
  const loss = () => tf.tidy(() => {
    const proj = (w: tf.Variable) => tf.reshape(tf.matMul(tf.reshape(x, [-1, 4]), w), [2, 2, 6, 4]) as tf.Tensor4D;
    const out = attention(proj(Wq), proj(Wk), proj(Wv), { causal: true });
    return tf.mean(tf.square(tf.sub(out, target))) as tf.Scalar;
  });
  const { value, grads } = tf.variableGrads(loss);
  t.deepEqual(Object.keys(grads).sort(), ['Wk', 'Wq', 'Wv']);
  for (const [name, g] of Object.entries(grads)) t.true(g.dataSync().some((e) => e !== 0), `${name} gets a non-zero gradient`);
  const l0 = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  const before = tf.memory().numTensors;
  const opt = tf.train.sgd(0.05);
  const first = opt.minimize(loss, true)!;  // the loss before the step
  const after = loss();
  const l1 = first.dataSync()[0], l2 = after.dataSync()[0];
  t.is(l1, l0);
  t.true(l2 < l0, `loss ${l0} → ${l2} after one SGD step`);
  t.log(`loss ${l0.toFixed(4)} → ${l2.toFixed(4)} after one SGD step`);
  tf.dispose([first, after]);
  opt.dispose();
  t.is(tf.memory().numTensors, before, 'the step leaves no tensor behind');
  tf.dispose([x, target, Wq, Wk, Wv]);
});
