/**
 * GPU parity of the Dikin walk (cuda/polytope/dikin_walk.cu) with the CPU path: the same seed
 * draws the same Philox streams, so chains agree up to rounding (the GPU's fp64 log/cos/sin
 * and FMA contractions differ from glibc's in the last bits, and a walk near a facet amplifies
 * that). Checks, for the cube d = 10, the simplex d = 40 and a random polytope d = 150 (several
 * Hessian blocks per chain): ≥ 95% of 64 chains identical within 1e-6 over 200 steps, with the
 * same acceptance; a callback target on the GPU equals linear(c) on the GPU; uniform moments of
 * 1024 GPU chains on the cube d = 5 within 3·SE; configurations the GPU lacks raise
 * ERR_CUDA_UNAVAILABLE. Skipped, with the reason printed, when no GPU is usable. On the emulated
 * device (capabilities().cuda.emulated: the kernels run on the CPU, ~2,000 chain-steps/s at d = 5)
 * the same checks run with fewer chains and steps (32 × 100 for the cube and the simplex, 4 × 12
 * at d = 150, 8 × 100 for the callback, 128 × 300 for the moments: about 40 s in all); the
 * real-GPU sizes are unchanged.
 */
import test from 'ava';
import * as lemma from '../../lib/index.js';
import { coord, cube, moments, normal, rng, simplex } from '../helpers/polytope.js';

const usable = lemma.cudaAvailable();
if (!usable) {
  const c = lemma.capabilities().cuda;
  console.log(`test/gpu/polytope.gpu.test.ts skipped: no usable GPU (${c.compiled ? c.reason : 'lemma was built without CUDA'})`);
}
const gpuTest = usable ? test.serial : test.skip;
const emulated = usable && lemma.capabilities().cuda.emulated;

function randomPolytope(d: number, M: number, seed: number): lemma.polytope.ConvexBody {
  const g = normal(rng(seed));
  const A: number[][] = [], b: number[] = [];
  for (let j = 0; j < d; j++) {
    const r = new Array(d).fill(0); r[j] = 1; A.push(r); b.push(2);
    const s = new Array(d).fill(0); s[j] = -1; A.push(s); b.push(2);
  }
  while (A.length < M) { A.push(Array.from({ length: d }, () => g() / Math.sqrt(d))); b.push(1 + Math.abs(g())); }
  return lemma.polytope.halfspaces(A, b);
}

for (const [name, make, emuChains, emuSteps] of [
  ['cube d = 10', () => cube(10), 32, 100],
  ['simplex d = 40', () => simplex(40), 32, 100],
  ['random polytope d = 150, M = 600', () => randomPolytope(150, 600, 5), 4, 12],
] as const) {
  gpuTest(`GPU chains = CPU chains (same seed): ${name}`, async (t) => {
    const body = make();
    const opts = { chains: emulated ? emuChains : 64, steps: emulated ? emuSteps : 200, burnIn: 0, seed: 2024 };
    const cpu = await lemma.sample.dikin(body, lemma.sample.uniform(), { ...opts, device: 'cpu' });
    const gpu = await lemma.sample.dikin(body, lemma.sample.uniform(), { ...opts, device: 'cuda' });
    t.is(gpu.device, 'cuda');
    t.is(gpu.kernel, 'cuda');
    const [C, K, d] = cpu.samples.shape;
    t.deepEqual(gpu.samples.shape, cpu.samples.shape);
    let same = 0;
    for (let c = 0; c < C; c++) {
      let err = 0;
      for (let i = 0; i < K * d; i++) err = Math.max(err, Math.abs(cpu.samples.data[c * K * d + i] - gpu.samples.data[c * K * d + i]));
      if (err <= 1e-6 && cpu.acceptance[c] === gpu.acceptance[c]) same++;
    }
    t.log(`${same}/${C} chains identical within 1e-6`);
    t.true(same >= 0.95 * C);
    t.true(gpu.samples.data.every(Number.isFinite));
    body.dispose();
  });
}

gpuTest('GPU: a callback target reproduces linear(c)', async (t) => {
  const body = cube(3);
  const c = [0.5, -1, 2];
  const opts = { chains: emulated ? 8 : 32, steps: emulated ? 100 : 300, seed: 7, device: 'cuda' as const };
  const a = await lemma.sample.dikin(body, lemma.sample.linear(c), opts);
  const b = await lemma.sample.dikin(body, lemma.sample.callback((p) => {
    const out = new Float64Array(p.shape[0]);
    for (let i = 0; i < out.length; i++) out[i] = c[0] * p.data[3 * i] + c[1] * p.data[3 * i + 1] + c[2] * p.data[3 * i + 2];
    return out;
  }, { lipschitz: Math.hypot(...c) }), opts);
  let err = 0;
  a.samples.data.forEach((v, i) => { err = Math.max(err, Math.abs(v - b.samples.data[i])); });
  t.true(err <= 1e-9);
  body.dispose();
});

const momentChains = emulated ? 128 : 1024, momentSteps = emulated ? 300 : 2000;
gpuTest(`GPU: uniform moments on the cube d = 5 with ${momentChains} chains`, async (t) => {
  const body = cube(5);
  const r = await lemma.sample.dikin(body, lemma.sample.uniform(),
    { chains: momentChains, steps: momentSteps, burnIn: momentSteps / 4, seed: 9, device: 'cuda' });
  for (let j = 0; j < 5; j++) {
    const m = moments(coord(r, j), r.ess[j]);
    t.true(Math.abs(m.mean) <= 3 * m.seMean, `x${j} mean ${m.mean} ± ${m.seMean}`);
    t.true(Math.abs(m.variance - 1 / 3) <= 3 * m.seVar, `x${j} var ${m.variance} ± ${m.seVar}`);
  }
  t.log(`stepsPerSecond ${r.stepsPerSecond.toFixed(0)}`);
  body.dispose();
});

gpuTest('GPU: what it lacks raises ERR_CUDA_UNAVAILABLE', async (t) => {
  const body = cube(3);
  for (const o of [{ barrier: 'lewis' as const }, { hessian: 'subsample' as const, hessianSamples: 4 }]) {
    const e = await t.throwsAsync(lemma.sample.dikin(body, lemma.sample.uniform(), { ...o, steps: 5, device: 'cuda' }), { instanceOf: lemma.LemmaError });
    t.is(e?.code, 'ERR_CUDA_UNAVAILABLE');
  }
  const disk = lemma.polytope.spectrahedron([[[1, 0], [0, -1]], [[0, 1], [1, 0]]], [[-1, 0], [0, -1]]);
  const e = await t.throwsAsync(lemma.sample.dikin(disk, lemma.sample.uniform(), { steps: 5, device: 'cuda' }), { instanceOf: lemma.LemmaError });
  t.is(e?.code, 'ERR_CUDA_UNAVAILABLE');
  body.dispose();
  disk.dispose();
});
