/**
 * GPU parity of the private L1 KDE query (cuda/dp/dp_query.cu) with the CPU path
 * (native/dp/dp_cpu.cc) on released trees: same answers to fp64 rounding (the GPU sums the
 * coordinates in a different order), for d from 1 to 40 (one lane segment per query, and several
 * coordinates per lane), queries inside and outside the range, and empty / single batches.
 * Skipped, with the reason printed, when no GPU is usable. The emulated device
 * (capabilities().cuda.emulated) runs these very sizes in about 13 s, so they are not reduced there.
 */
import test from 'ava';
import * as lemma from '../../lib/index.js';

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

if (!lemma.cudaAvailable()) {
  const c = lemma.capabilities().cuda;
  const reason = c.compiled ? c.reason : 'lemma was built without CUDA';
  console.log(`test/gpu/dp-query.test.ts skipped: no usable GPU (${reason})`);
  test.skip(`dp CUDA query parity (skipped: ${reason})`, () => {});
} else {
  for (const [d, levels] of [[1, 4], [5, 12], [16, 20], [40, 8]] as const) {
    test(`CUDA query equals the CPU query: d = ${d}, L = ${levels}`, async (t) => {
      const r = rng(d * 100 + levels);
      const n = 5000;
      const X = Float64Array.from({ length: n * d }, () => r());
      const kde = await lemma.dp.l1Kde({ data: X, shape: [n, d] }, { epsilon: 1, range: 1, levels, seed: d, insecureDeterministic: true });
      const q = 20000;
      const Y = Float64Array.from({ length: q * d }, () => r() * 1.4 - 0.2);
      const cpu = (await kde.query({ data: Y, shape: [q, d] }, { device: 'cpu' })).estimates;
      const gpu = (await kde.query({ data: Y, shape: [q, d] }, { device: 'cuda' })).estimates;
      let worst = 0;
      const scale = Math.max(1, ...Array.from(cpu, Math.abs));
      for (let i = 0; i < q; i++) worst = Math.max(worst, Math.abs(gpu[i] - cpu[i]) / scale);
      t.log(`max |gpu − cpu| / max|cpu| = ${worst.toExponential(2)}`);
      t.true(worst <= 1e-12);
      t.deepEqual((await kde.query({ data: new Float64Array(0), shape: [0, d] }, { device: 'cuda' })).estimates, new Float64Array(0));
      const one = Array.from(Y.subarray(0, d));
      const g1 = (await kde.query([one], { device: 'cuda' })).estimates;
      t.true(Math.abs(g1[0] - kde.queryOne(one)) <= 1e-12 * scale);
    });
  }

  const qt = 100000;
  test('CUDA throughput at q = 10⁵, d = 16 (logged, compared with the CPU in the same run)', async (t) => {
    const d = 16, n = 1 << 14;
    const r = rng(9);
    const X = Float64Array.from({ length: n * d }, () => r());
    const kde = await lemma.dp.l1Kde({ data: X, shape: [n, d] }, { epsilon: 1, range: 1, levels: 14 });
    const Y = { data: Float64Array.from({ length: qt * d }, () => r()), shape: [qt, d] };
    (await kde.query(Y, { device: 'cuda' })).estimates; // warm-up (context creation)
    let t0 = performance.now();
    const g = (await kde.query(Y, { device: 'cuda' })).estimates;
    const gpuMs = performance.now() - t0;
    t0 = performance.now();
    const c = (await kde.query(Y, { device: 'cpu' })).estimates;
    const cpuMs = performance.now() - t0;
    const where = lemma.capabilities().cuda.emulated ? ' (emulated device: not a GPU timing)' : '';
    t.log(`q = 10⁵${where}: CUDA ${gpuMs.toFixed(1)} ms (${(qt / gpuMs * 1e3).toExponential(2)} queries/s incl. upload), CPU ${cpuMs.toFixed(1)} ms`);
    t.is(g.length, c.length);
    const scale = c.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
    let worst = 0;
    for (let i = 0; i < qt; i++) worst = Math.max(worst, Math.abs(g[i] - c[i]) / scale);
    t.true(worst <= 1e-12, `max |gpu − cpu| / max|cpu| = ${worst}`);
  });
}
