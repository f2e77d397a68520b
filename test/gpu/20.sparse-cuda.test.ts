/**
 * GPU parity of sparse attention (cuda/sparse_attention/sparse_attention.cu) with the CPU path:
 *  - ReLU^α forward equals the CPU output to fp32 round-off (max |gpu − cpu| / ‖cpu‖∞ ≤ 1e-5;
 *    both score with the same fp32 FMA chain, so the active sets are identical), and the stats
 *    count the same reported entries;
 *  - softmax over the top entries: the certified bound holds against the fp64 dense softmax and
 *    the fallback rows equal the dense softmax;
 *  - decoding at large N (split over key chunks), causal prefill, grouped heads, D ∈ {8, 64, 128, 256};
 *  - append: the device mirror is refreshed (results equal the CPU after appends);
 *  - backward: dq, dk, dv within 1e-4 of the CPU backward.
 * Skipped, with the reason printed, when no GPU is usable. The emulated device
 * (capabilities().cuda.emulated) runs these very shapes in about 12 s, so they are not reduced there.
 */
import test from 'ava';
import * as lemma from '../../lib/index.js';
import { clusteredPair, denseSoftmax64, gaussianPair, maxAbs, relErr } from '../helpers/sparse.js';

const usable = lemma.cudaAvailable();
if (!usable) {
  const c = lemma.capabilities().cuda;
  const reason = c.compiled ? c.reason : 'lemma was built without CUDA';
  console.log(`test/gpu/20.sparse-cuda.test.ts skipped: no usable GPU (${reason})`);
  test.skip(`sparse attention CUDA parity (skipped: ${reason})`, () => {});
} else {
  const shapes = [
    { B: 1, Hq: 4, Hkv: 1, M: 1, N: 1 << 18, D: 128, causal: false, keys: 'clustered' as const, name: 'decode M = 1, N = 256k' },
    { B: 1, Hq: 1, Hkv: 1, M: 16, N: 1 << 16, D: 128, causal: false, keys: 'gaussian' as const, name: 'decode M = 16, Gaussian' },
    { B: 2, Hq: 4, Hkv: 2, M: 700, N: 700, D: 64, causal: true, keys: 'clustered' as const, name: 'causal prefill, grouped heads' },
    { B: 1, Hq: 2, Hkv: 2, M: 40, N: 3000, D: 8, causal: true, keys: 'gaussian' as const, name: 'D = 8, causal M ≠ N' },
    { B: 1, Hq: 1, Hkv: 1, M: 20, N: 2000, D: 256, causal: false, keys: 'clustered' as const, name: 'D = 256' },
  ];
  for (const s of shapes) {
    test.serial(`ReLU^α forward: GPU = CPU (${s.name})`, async (t) => {
      const q = gaussianPair([s.B, s.Hq, s.M, s.D], 1);
      const k = s.keys === 'clustered' ? clusteredPair([s.B, s.Hkv, s.N, s.D], 2) : gaussianPair([s.B, s.Hkv, s.N, s.D], 2);
      const v = gaussianPair([s.B, s.Hkv, s.N, s.D], 3);
      const index = await lemma.sparse.keyIndex(k.f32, v.f32, { order: s.keys === 'clustered' ? 'cluster' : 'position' });
      for (const alpha of [1, 3]) {
        const opts = { threshold: s.keys === 'clustered' ? 1.2 : 1.5, alpha, causal: s.causal };
        const cpu = await index.attend(q.f32, { ...opts, device: 'cpu' });
        const gpu = await index.attend(q.f32, { ...opts, device: 'cuda' });
        t.is(gpu.stats.device, 'cuda');
        const e = relErr(gpu.out.data, cpu.out.data);
        t.true(e <= 1e-5, `α ${alpha}: ${e}`);
        t.is(gpu.stats.meanActive, cpu.stats.meanActive, 'same reported entries');
        t.log(`α ${alpha}: err ${e.toExponential(2)}, keys scored gpu ${gpu.stats.keyFraction.toFixed(3)} cpu ${cpu.stats.keyFraction.toFixed(3)}`);
      }
      index.dispose();
    });
  }

  test.serial('softmax over the top entries: bound holds, fallback rows are the dense softmax', async (t) => {
    const q = gaussianPair([1, 2, 24, 32], 11);
    const k = clusteredPair([1, 1, 6000, 32], 12);
    const v = gaussianPair([1, 1, 6000, 32], 13);
    const full = await denseSoftmax64(q, k, v, true);
    const index = await lemma.sparse.keyIndex(k.f32, v.f32, { order: 'cluster' });
    for (const o of [{ threshold: 1.0, tolerance: 1e30 }, { threshold: 2.0 }, {}]) {
      const r = await index.attend(q.f32, { ...o, activation: 'softmax', causal: true, device: 'cuda' });
      const eb = r.stats.errorBound!;
      for (let row = 0; row < 48; row++) {
        let e = 0;
        for (let d = 0; d < 32; d++) e = Math.max(e, Math.abs(r.out.data[row * 32 + d] - full[row * 32 + d]));
        t.true(e <= eb[row] + 1e-5 * maxAbs(v.f32.data), `${JSON.stringify(o)} row ${row}: ${e} > ${eb[row]}`);
      }
    }
    index.dispose();
  });

  test.serial('append refreshes the device mirror', async (t) => {
    const k = gaussianPair([1, 1, 5000, 64], 21);
    const v = gaussianPair([1, 1, 5000, 64], 22);
    const q = gaussianPair([1, 1, 2, 64], 23);
    const index = await lemma.sparse.keyIndex(k.f32, v.f32);
    await index.attend(q.f32, { threshold: 1, device: 'cuda' });
    for (let i = 0; i < 3; i++) {
      const kn = gaussianPair([1, 1, 37, 64], 30 + i);
      await index.append(kn.f32, gaussianPair([1, 1, 37, 64], 40 + i).f32);
      const cpu = await index.attend(q.f32, { threshold: 1, causal: true, device: 'cpu' });
      const gpu = await index.attend(q.f32, { threshold: 1, causal: true, device: 'cuda' });
      t.true(relErr(gpu.out.data, cpu.out.data) <= 1e-5);
      t.is(gpu.stats.keysTotal, cpu.stats.keysTotal);
    }
    index.dispose();
  });

  test.serial('ReLU backward: GPU = CPU', async (t) => {
    const q = gaussianPair([1, 4, 50, 32], 51);
    const k = clusteredPair([1, 2, 900, 32], 52);
    const v = gaussianPair([1, 2, 900, 32], 53);
    const dOut = gaussianPair([1, 4, 50, 32], 54);
    const index = await lemma.sparse.keyIndex(k.f32, v.f32, { order: 'cluster' });
    const opts = { threshold: 1.0, alpha: 2, causal: true };
    const cpu = await index.backward(q.f32, dOut.f32, { ...opts, device: 'cpu' });
    const gpu = await index.backward(q.f32, dOut.f32, { ...opts, device: 'cuda' });
    for (const name of ['dq', 'dk', 'dv'] as const) t.true(relErr(gpu[name].data, cpu[name].data) <= 1e-4, name);
    index.dispose();
  });
}
