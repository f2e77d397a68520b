/**
 * lemma.nn.attentionStack: the hand-written backward of a 2-layer, 2-head stack against central
 * finite differences in fp64 (every weight entry of every layer and x), for exact and poly
 * attention, causal and not; the poly stack's gradient error against the exact stack per layer
 * (reported, and bounded where AG-2 says degree 4 must be 5x better than degree 2).
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import type { Tensor } from '../lib/index.js';
import { gaussian } from './helpers/attention.js';

type T64 = Tensor<Float64Array>;

async function lossOf(stack: lemma.nn.AttentionStack<Float64Array>, x: T64, dy: Float64Array): Promise<number> {
  const { y } = await stack.forward(x);
  return y.data.reduce((s, v, i) => s + v * dy[i], 0);
}

for (const attention of ['exact', 'poly'] as const) {
  for (const causal of [true, false]) {
    test(`stack gradients match finite differences: ${attention}, causal ${causal}`, async (t) => {
      const B = 2, N = 5, d = 8;
      const stack = lemma.nn.attentionStack<Float64Array>({ layers: 2, heads: 2, dModel: d, mlp: 12, causal, attention, degree: 2, dtype: 'float64', seed: 3 });
      const x: T64 = { data: gaussian(B * N * d, 7), shape: [B, N, d] };
      const dy = gaussian(B * N * d, 8);
      const { tape } = await stack.forward(x);
      const g = await stack.backward(tape, { data: dy, shape: [B, N, d] });
      const h = 1e-6;
      let worst = 0, count = 0;
      const probe = async (arr: Float64Array, grad: ArrayLike<number>, stride: number) => {
        for (let i = 0; i < arr.length; i += stride) {
          const x0 = arr[i];
          arr[i] = x0 + h;
          const lp = await lossOf(stack, x, dy);
          arr[i] = x0 - h;
          const lm = await lossOf(stack, x, dy);
          arr[i] = x0;
          const fd = (lp - lm) / (2 * h);
          worst = Math.max(worst, Math.abs(fd - grad[i]) / Math.max(1, Math.abs(fd)));
          count++;
        }
      };
      await probe(x.data, g.dx.data, 1);
      for (let l = 0; l < 2; l++) {
        for (const name of lemma.nn.WEIGHT_NAMES) await probe(stack.weights[l][name].data, g.layers[l][name].data, 3);
      }
      t.log(`${count} entries, worst |fd - grad| / max(1, |fd|) = ${worst.toExponential(2)}`);
      t.true(worst <= 1e-6, String(worst));
    });
  }
}

test('poly stack vs exact stack: gradient error per layer; degree 4 is 5x closer than degree 2', async (t) => {
  const B = 1, N = 256, d = 32;
  const x: T64 = { data: gaussian(B * N * d, 11), shape: [B, N, d] };
  const dy: T64 = { data: gaussian(B * N * d, 12), shape: [B, N, d] };
  const run = async (attention: 'exact' | 'poly', degree: number) => {
    const s = lemma.nn.attentionStack<Float64Array>({ layers: 2, heads: 2, dModel: d, causal: true, attention, degree, dtype: 'float64', seed: 5 });
    const f = await s.forward(x);
    return { f, g: await s.backward(f.tape, dy) };
  };
  const ex = await run('exact', 2);
  const rel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    let num = 0, den = 0;
    for (let i = 0; i < b.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
    return Math.sqrt(num / den);
  };
  const errs: Record<number, number[]> = {};
  for (const degree of [2, 4]) {
    const p = await run('poly', degree);
    const perLayer = [0, 1].map((l) => Math.max(...['Wq', 'Wk', 'Wv', 'Wo'].map((n) => rel(p.g.layers[l][n as 'Wq'].data, ex.g.layers[l][n as 'Wq'].data))));
    errs[degree] = [rel(p.f.y.data, ex.f.y.data), rel(p.g.dx.data, ex.g.dx.data), ...perLayer];
    t.log(`degree ${degree}: y ${(100 * errs[degree][0]).toFixed(3)} %, dx ${(100 * errs[degree][1]).toFixed(3)} %, max attention-weight gradient error layer 1 ${(100 * perLayer[0]).toFixed(2)} %, layer 2 ${(100 * perLayer[1]).toFixed(2)} % (beta ${p.f.beta.toFixed(2)})`);
  }
  for (let i = 0; i < errs[2].length; i++) t.true(errs[4][i] * 5 <= errs[2][i], `${i}: ${errs[4][i]} vs ${errs[2][i]}`);
  t.true(errs[2].every((e) => e < 0.5), 'degree 2 is an approximation, not noise');
});

test('stack options and inputs are validated; dispose is final', async (t) => {
  t.throws(() => lemma.nn.attentionStack({ layers: 2, heads: 3, dModel: 8 }), { instanceOf: RangeError, message: /multiple of heads = 3 for options.dModel/ });
  t.throws(() => lemma.nn.attentionStack({ layers: 2, heads: 2, dModel: 8, attention: 'linear' as never }), { instanceOf: RangeError, message: /'exact', 'poly' for options.attention/ });
  t.throws(() => lemma.nn.attentionStack({ layers: 2, heads: 2, dModel: 8, layer: 3 } as never), { instanceOf: TypeError, message: /did you mean 'layers'/ });
  const s = lemma.nn.attentionStack({ layers: 1, heads: 2, dModel: 8 });
  await t.throwsAsync(s.forward({ data: new Float32Array(2 * 3 * 4), shape: [2, 3, 4] }), { code: 'ERR_SHAPE', message: /\[B, N, 8\]/ });
  await t.throwsAsync(s.forward({ data: new Float64Array(24), shape: [1, 3, 8] } as never), { code: 'ERR_DTYPE' });
  const f = await s.forward({ data: new Float32Array(24).fill(0.1), shape: [1, 3, 8] });
  t.true(f.y.data instanceof Float32Array);
  await t.throwsAsync(s.backward({} as never, f.y), { instanceOf: TypeError, message: /the tape/ });
  s.dispose();
  s.dispose();
  await t.throwsAsync(s.forward(f.y), { code: 'ERR_DISPOSED' });
});
