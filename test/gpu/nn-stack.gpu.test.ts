/**
 * The CUDA path of lemma.nn.attentionStack (cuda/nn/nn_stack.cu, lib/nn/attention-stack-device.ts)
 * against the CPU stack, on tiny sizes (the emulated device runs this file in seconds):
 *   parity:   forward y and backward dx and every weight gradient of the GPU stack equal the CPU
 *             fp32 stack's, 1–2 layers, causal and not, Dh 4 (staged attention), 8 and 32 (fast
 *             path). Both are measured against an fp64 oracle (the CPU stack in float64 with the
 *             same fp32 weights and input); the rule: max |gpu − cpu| <= 1e-5 · max|oracle| and
 *             the GPU's error vs the oracle <= 4 · the CPU's + 1e-6 · max|oracle|
 *   repeat:   two GPU passes give the same bits
 *   adam:     three device Adam steps equal the TypeScript Adam (fp64 moments) on the host weights
 *   memory:   lemma.cuda.memory() returns to its start after dispose (also when the stack's
 *             dispose() has to free tapes the caller left), and after an aborted forward
 *   errors:   float64 / poly with device 'cuda', wrong input dtype or shape, foreign or disposed
 *             tapes, use after dispose
 * Without a usable GPU (CPU-only addon): checks that device 'cuda' is ERR_CUDA_UNAVAILABLE and
 * 'auto' builds the CPU stack.
 */
import test from 'ava';
import * as lemma from '../../lib/index.js';
import type { AttentionStack, DeviceAttentionStack, LayerWeights } from '../../lib/nn/index.js';
import * as trainExample from '../../examples/train-transformer/train.js';

const NAMES = ['Wq', 'Wk', 'Wv', 'Wo', 'W1', 'b1', 'W2', 'b2'] as const;

function wave(n: number, a: number, b: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * a + b) * 0.9);
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const usable = lemma.cudaAvailable();

if (!usable) {
  const c = lemma.capabilities().cuda;
  const reason = c.compiled ? c.reason : 'lemma was built without CUDA';
  console.log(`test/gpu/nn-stack.gpu.test.ts: GPU checks skipped (${reason})`);
  test.skip(`nn stack CUDA parity (skipped: ${reason})`, () => {});
  test.serial('device cuda without a usable GPU is ERR_CUDA_UNAVAILABLE; auto builds the CPU stack', (t) => {
    t.throws(() => lemma.nn.attentionStack({ layers: 1, heads: 1, dModel: 4, device: 'cuda' }), { code: 'ERR_CUDA_UNAVAILABLE' });
    const s = lemma.nn.attentionStack({ layers: 1, heads: 1, dModel: 4, device: 'auto' });
    t.true(s instanceof lemma.nn.AttentionStack);
    s.dispose();
  });
} else {
  interface Case { layers: number; heads: number; dModel: number; mlp: number; causal: boolean; B: number; N: number }
  const cases: Case[] = [
    { layers: 1, heads: 2, dModel: 8, mlp: 12, causal: true, B: 2, N: 5 },
    { layers: 2, heads: 2, dModel: 16, mlp: 20, causal: false, B: 1, N: 7 },
    { layers: 2, heads: 1, dModel: 32, mlp: 24, causal: true, B: 2, N: 9 },
  ];

  for (const c of cases) {
    const name = `${c.layers} layer(s), ${c.heads} heads, dModel ${c.dModel} (Dh ${c.dModel / c.heads}), mlp ${c.mlp}, ${c.causal ? 'causal' : 'not causal'}, B ${c.B}, N ${c.N}`;
    test.serial(`GPU forward and backward equal the CPU stack: ${name}`, async (t) => {
      await lemma.cuda.synchronize();
      const mem0 = lemma.cuda.memory().bytesInUse;
      const opts = { layers: c.layers, heads: c.heads, dModel: c.dModel, mlp: c.mlp, causal: c.causal, seed: 5 };
      const cpu = lemma.nn.attentionStack(opts);
      const gpu = lemma.nn.attentionStack({ ...opts, device: 'cuda' });
      t.is(gpu.device, 'cuda');
      // The fp64 oracle: the same fp32 weights and input, computed in float64.
      const ref = lemma.nn.attentionStack<Float64Array>({ ...opts, dtype: 'float64' });
      ref.weights.forEach((w, l) => { for (const n of NAMES) w[n].data.set(cpu.weights[l][n].data); });
      const shape = [c.B, c.N, c.dModel];
      const size = c.B * c.N * c.dModel;
      const x = wave(size, 0.37, 0.1), dy = wave(size, 0.11, 1.3);

      const cf = await cpu.forward({ data: x, shape });
      const cb = await cpu.backward(cf.tape, { data: dy, shape });
      const rf = await ref.forward({ data: Float64Array.from(x), shape });
      const rb = await ref.backward(rf.tape, { data: Float64Array.from(dy), shape });
      const gf = await gpu.forward({ data: x, shape });
      t.is(gf.device, 'cuda');
      t.deepEqual(gf.y.shape, shape);
      const xd = await lemma.cuda.tensor({ data: dy, shape });
      const gb = await gpu.backward(gf.tape, xd);
      xd.dispose();

      const pairs: Array<[string, Float32Array, Float32Array, Float64Array]> = [
        ['y', (await gf.y.toHost()).data as Float32Array, cf.y.data, rf.y.data],
        ['dx', (await gb.dx.toHost()).data as Float32Array, cb.dx.data, rb.dx.data],
      ];
      for (let l = 0; l < c.layers; l++) {
        for (const n of NAMES) pairs.push([`layer ${l} d${n}`, (await gb.layers[l][n].toHost()).data as Float32Array, cb.layers[l][n].data, rb.layers[l][n].data]);
      }
      let worstRel = 0, worstGpu = 0, worstCpu = 0;
      for (const [what, g, cp, r] of pairs) {
        const scale = Math.max(maxAbs(r), 1e-30);
        const dGpuCpu = maxDiff(g, cp) / scale, eGpu = maxDiff(g, r) / scale, eCpu = maxDiff(cp, r) / scale;
        worstRel = Math.max(worstRel, dGpuCpu);
        worstGpu = Math.max(worstGpu, eGpu);
        worstCpu = Math.max(worstCpu, eCpu);
        t.true(dGpuCpu <= 1e-5, `${what}: max |gpu − cpu| / max|oracle| = ${dGpuCpu.toExponential(2)}`);
        t.true(eGpu <= 4 * eCpu + 1e-6, `${what}: gpu error ${eGpu.toExponential(2)} vs cpu error ${eCpu.toExponential(2)} (relative to max|oracle|)`);
      }
      t.log(`max over outputs, relative to max|oracle|: |gpu − cpu| ${worstRel.toExponential(2)}, gpu vs fp64 ${worstGpu.toExponential(2)}, cpu vs fp64 ${worstCpu.toExponential(2)}`);

      gf.y.dispose();
      gf.tape.dispose();
      gb.dispose();
      gpu.dispose();
      cpu.dispose();
      ref.dispose();
      await lemma.cuda.synchronize();
      t.is(lemma.cuda.memory().bytesInUse, mem0);
    });
  }

  test.serial('GPU passes repeat bit for bit; the tape keeps its own copy of a device input', async (t) => {
    const gpu = lemma.nn.attentionStack({ layers: 2, heads: 2, dModel: 8, mlp: 12, seed: 2, device: 'cuda' });
    const shape = [2, 6, 8];
    const dy = await lemma.cuda.tensor({ data: wave(96, 0.33, 0.2), shape });
    const run = async () => {
      const x = await lemma.cuda.tensor({ data: wave(96, 0.21, 0.4), shape });
      const f = await gpu.forward(x);
      x.dispose();  // backward must not need it
      const b = await gpu.backward(f.tape, dy);
      const out = [(await f.y.toHost()).data, (await b.dx.toHost()).data];
      for (const w of b.layers) for (const n of NAMES) out.push((await w[n].toHost()).data);
      f.y.dispose();
      f.tape.dispose();
      b.dispose();
      return out;
    };
    const a = await run(), b = await run();
    t.is(a.length, 2 + 2 * NAMES.length);
    for (let i = 0; i < a.length; i++) t.true(Buffer.from(a[i].buffer).equals(Buffer.from(b[i].buffer)), `output ${i} repeats bit for bit`);
    const x = await lemma.cuda.tensor({ data: wave(96, 0.21, 0.4), shape });
    x.dispose();
    await t.throwsAsync(gpu.forward(x), { code: 'ERR_DISPOSED' });
    dy.dispose();
    gpu.dispose();
  });

  test.serial('device Adam steps equal the TypeScript Adam', async (t) => {
    const opts = { layers: 1, heads: 2, dModel: 8, mlp: 12, seed: 9 };
    const gpu = lemma.nn.attentionStack({ ...opts, device: 'cuda' });
    await gpu.ready();
    const host: LayerWeights<Float32Array>[] = await gpu.weightsToHost();
    const m = new Map<string, Float64Array>(), v = new Map<string, Float64Array>();
    const lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    const shape = [1, 6, 8];
    for (let step = 1; step <= 3; step++) {
      const f = await gpu.forward({ data: wave(48, 0.3 * step, 0.1), shape });
      const g = await gpu.backward(f.tape, { data: wave(48, 0.17, step), shape });
      const r = await gpu.adamStep(g.layers, { lr });
      t.is(r.step, step);
      // The same step in TypeScript (the example's Adam), fp64 moments, on the host copy.
      const c1 = 1 - b1 ** step, c2 = 1 - b2 ** step;
      for (const n of NAMES) {
        const gr = (await g.layers[0][n].toHost()).data;
        const p = host[0][n].data;
        if (!m.has(n)) { m.set(n, new Float64Array(p.length)); v.set(n, new Float64Array(p.length)); }
        const mm = m.get(n)!, vv = v.get(n)!;
        for (let i = 0; i < p.length; i++) {
          mm[i] = b1 * mm[i] + (1 - b1) * gr[i];
          vv[i] = b2 * vv[i] + (1 - b2) * gr[i] * gr[i];
          p[i] -= (lr * (mm[i] / c1)) / (Math.sqrt(vv[i] / c2) + eps);
        }
      }
      f.y.dispose(); f.tape.dispose(); g.dispose();
    }
    const after = await gpu.weightsToHost();
    let worst = 0;
    for (const n of NAMES) worst = Math.max(worst, maxDiff(after[0][n].data, host[0][n].data) / lr);
    t.log(`max |device − TypeScript| after 3 steps: ${(worst * lr).toExponential(2)} (${worst.toExponential(2)} lr)`);
    t.true(worst <= 1e-4, `max |device − TypeScript| / lr = ${worst}`);
    // And the step moved the weights by about lr per element (not a no-op).
    const before = lemma.nn.attentionStack({ ...opts });
    t.true(maxDiff(after[0].Wq.data, before.weights[0].Wq.data) > lr);
    before.dispose();
    await t.throwsAsync(gpu.adamStep([], { lr }), { instanceOf: TypeError });
    await t.throwsAsync(gpu.adamStep(after as never, { lr }), { instanceOf: TypeError });
    await t.throwsAsync(gpu.adamStep(gpu.weights, { lr: 0 }), { instanceOf: RangeError });
    gpu.dispose();
  });

  test.serial('dispose frees every byte, also tapes left undisposed and after an abort', async (t) => {
    await lemma.cuda.synchronize();
    const mem0 = lemma.cuda.memory().bytesInUse;
    const gpu = lemma.nn.attentionStack({ layers: 2, heads: 2, dModel: 8, mlp: 12, device: 'cuda' });
    const shape = [1, 4, 8];
    const f1 = await gpu.forward({ data: wave(32, 0.1, 0), shape });
    const f2 = await gpu.forward({ data: wave(32, 0.2, 0), shape });
    const g = await gpu.backward(f1.tape, { data: wave(32, 0.3, 0), shape });
    await gpu.adamStep(g.layers, { lr: 1e-3 });
    const ac = new AbortController();
    await t.throwsAsync(gpu.forward({ data: wave(32, 0.1, 0), shape }, { signal: ac.signal, onProgress: () => ac.abort() }), { name: 'AbortError' });
    await lemma.cuda.synchronize();
    t.true(lemma.cuda.memory().bytesInUse > mem0);
    f1.y.dispose(); f2.y.dispose(); g.dispose();
    gpu.dispose();  // frees f1's and f2's tapes too
    gpu.dispose();
    await lemma.cuda.synchronize();
    t.is(lemma.cuda.memory().bytesInUse, mem0);
    await t.throwsAsync(gpu.backward(f1.tape, { data: wave(32, 0.3, 0), shape }), { code: 'ERR_DISPOSED' });
    await t.throwsAsync(gpu.forward({ data: wave(32, 0.1, 0), shape }), { code: 'ERR_DISPOSED' });
    t.throws(() => gpu.weights, { code: 'ERR_DISPOSED' });
  });

  test.serial('examples/train-transformer --small trains on the device: it reaches the target at the CPU run\'s step, held-out loss alike', async (t) => {
    await lemma.cuda.synchronize();
    const mem0 = lemma.cuda.memory().bytesInUse;
    const cpu = await trainExample.train(trainExample.SMALL, () => {}, 'cpu');
    const gpu = await trainExample.train(trainExample.SMALL, () => {}, 'cuda');
    t.log(`CPU: target at step ${cpu.reachedAt}, held-out loss ${cpu.heldOut.loss}; GPU: step ${gpu.reachedAt}, held-out loss ${gpu.heldOut.loss} (${gpu.seconds.toFixed(1)} s)`);
    t.not(gpu.reachedAt, null);
    t.true(Math.abs(gpu.reachedAt! - cpu.reachedAt!) <= 2, `GPU step ${gpu.reachedAt} vs CPU step ${cpu.reachedAt}`);
    t.true(Math.abs(gpu.heldOut.loss - cpu.heldOut.loss) <= 1e-3 * Math.max(1, cpu.heldOut.loss), `held-out loss ${gpu.heldOut.loss} vs ${cpu.heldOut.loss}`);
    gpu.model.dispose();
    cpu.model.dispose();
    await lemma.cuda.synchronize();
    t.is(lemma.cuda.memory().bytesInUse, mem0, 'the example frees its device memory');
  });

  test.serial('wrong dtype, attention, shape and tape are refused', async (t) => {
    t.throws(() => lemma.nn.attentionStack({ layers: 1, heads: 1, dModel: 4, dtype: 'float64', device: 'cuda' }), { code: 'ERR_DTYPE' });
    t.throws(() => lemma.nn.attentionStack({ layers: 1, heads: 1, dModel: 4, attention: 'poly', device: 'cuda' }), { code: 'ERR_CUDA_UNAVAILABLE' });
    t.throws(() => lemma.nn.attentionStack({ layers: 1, heads: 1, dModel: 4, device: 'gpu' as never }), { instanceOf: RangeError });
    t.throws(() => new lemma.nn.AttentionStack({ layers: 1, heads: 1, dModel: 4, device: 'cuda' }), { code: 'ERR_CUDA_UNAVAILABLE' });
    // 'auto' never picks the GPU for a stack (it is built before it sees data).
    const auto = lemma.nn.attentionStack({ layers: 1, heads: 1, dModel: 4, device: 'auto' });
    t.true(auto instanceof lemma.nn.AttentionStack);
    auto.dispose();
    const gpu: DeviceAttentionStack = lemma.nn.attentionStack({ layers: 1, heads: 2, dModel: 4, mlp: 6, device: 'cuda' });
    const other = lemma.nn.attentionStack({ layers: 1, heads: 2, dModel: 4, mlp: 6, device: 'cuda' });
    const shape = [1, 3, 4];
    await t.throwsAsync(gpu.forward({ data: new Float64Array(12), shape } as never), { code: 'ERR_DTYPE' });
    await t.throwsAsync(gpu.forward({ data: new Float32Array(15), shape: [1, 3, 5] }), { code: 'ERR_SHAPE' });
    const half = await lemma.cuda.tensor({ data: new Float32Array(12), shape }, { dtype: 'float16' });
    await t.throwsAsync(gpu.forward(half), { code: 'ERR_DTYPE' });
    half.dispose();
    const f = await gpu.forward({ data: wave(12, 0.5, 0), shape });
    await t.throwsAsync(other.backward(f.tape, { data: new Float32Array(12), shape }), { code: 'ERR_DISPOSED' });
    await t.throwsAsync(gpu.backward({} as never, { data: new Float32Array(12), shape }), { instanceOf: TypeError });
    await t.throwsAsync(gpu.backward(f.tape, { data: new Float32Array(8), shape: [1, 2, 4] }), { code: 'ERR_SHAPE' });
    const cpuStack: AttentionStack = lemma.nn.attentionStack({ layers: 1, heads: 2, dModel: 4, mlp: 6 });
    const cf = await cpuStack.forward({ data: wave(12, 0.5, 0), shape });
    await t.throwsAsync(gpu.backward(cf.tape as never, { data: new Float32Array(12), shape }), { instanceOf: TypeError });
    f.tape.dispose();
    await t.throwsAsync(gpu.backward(f.tape, { data: new Float32Array(12), shape }), { code: 'ERR_DISPOSED' });
    f.y.dispose();
    gpu.dispose();
    other.dispose();
    cpuStack.dispose();
  });
}
