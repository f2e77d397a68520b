/**
 * One device rule across the families (lib/device.ts chooseDevice): 'cpu' and 'cuda' are never
 * overridden, 'cuda' without a GPU or on an operation with no CUDA path is ERR_CUDA_UNAVAILABLE
 * with the reason, 'auto' on host data runs on the CPU unless a GPU is usable and the work is
 * at least the family's AUTO_CUDA_MIN size, and every result says where it ran.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import { AUTO_CUDA_MIN, chooseDevice, cpuOnly } from '../lib/device.js';

const gpu = lemma.cudaAvailable();
const emulated = lemma.capabilities().cuda.emulated;
const noGpu = /^device 'cuda' was requested but no GPU is usable: /;

function f32(shape: number[], seed: number) {
  const n = shape.reduce((a, b) => a * b, 1);
  return lemma.tensor(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.5), shape);
}

test('chooseDevice: the rule itself', (t) => {
  t.is(chooseDevice('cpu', 'd', { resident: true, large: true }), 'cpu');
  t.is(chooseDevice(undefined, 'd'), 'cpu');
  t.is(chooseDevice('auto', 'd'), 'cpu');
  // A size heuristic moves work only to a real GPU, never to the emulated one.
  t.is(chooseDevice('auto', 'd', { large: true }), gpu && !emulated ? 'cuda' : 'cpu');
  // Resident data (device tensors) runs where it lives.
  t.is(chooseDevice('auto', 'd', { resident: true }), 'cuda');
  // No CUDA path: 'auto' is the CPU, an explicit 'cuda' is refused with the reason, GPU or not.
  t.is(chooseDevice('auto', 'd', { noCudaPath: 'no kernel', large: true, resident: true }), 'cpu');
  t.throws(() => cpuOnly('cuda', 'options.device', 'X has no CUDA path'),
    { instanceOf: lemma.LemmaError, code: 'ERR_CUDA_UNAVAILABLE', message: "options.device 'cuda': X has no CUDA path; use device 'cpu' or 'auto'" });
  t.throws(() => chooseDevice('gpu', 'options.device'), { instanceOf: RangeError, message: /^Expected one of 'auto', 'cpu', 'cuda' for options\.device/ });
  if (!gpu) t.throws(() => chooseDevice('cuda', 'options.device'), { instanceOf: lemma.LemmaError, code: 'ERR_CUDA_UNAVAILABLE', message: noGpu });
  t.deepEqual({ ...AUTO_CUDA_MIN }, { dikinChains: 256, dpQueries: 4096, sparseKeys: 16384 });
});

// Every operation with a device option: its result's device under 'auto' and 'cpu' on host data
// below the heuristic sizes is 'cpu', and 'cuda' is refused here (no GPU) with one code.
const A = [[1, 0], [-1, 0], [0, 1], [0, -1]];
const b = [1, 1, 1, 1];
const q = f32([1, 2, 8, 4], 1), k = f32([1, 2, 8, 4], 2), v = f32([1, 2, 8, 4], 3);
const pts = lemma.tensor(Float64Array.from({ length: 64 }, (_, i) => (Math.sin(i) + 1) / 2), [32, 2]);
const kdeOpts = { epsilon: 1, range: 1, levels: 4, seed: 5, insecureDeterministic: true } as const;
const net = lemma.looped.preset('tanh2', { d: 4, eta: 0.1, seed: 3 });
const x0 = lemma.tensor(new Float64Array(8), [2, 4]);

type Run = (device: 'auto' | 'cpu' | 'cuda') => Promise<'cpu' | 'cuda'>;
const OPS: Record<string, { run: Run; cudaPath: boolean }> = {
  'attention.forward': { cudaPath: true, run: async (device) => (await lemma.attention.forward(q, k, v, { device })).device },
  'attention.backward': {
    cudaPath: true,
    run: async (device) => {
      const f = lemma.attention.forwardSync(q, k, v);
      return (await lemma.attention.backward({ q, k, v, out: f.out, lse: f.lse, dOut: q }, { device })).device;
    },
  },
  'sparse.reluAttention': { cudaPath: true, run: async (device) => (await lemma.sparse.reluAttention(q, k, v, { threshold: 0.1, device })).stats.device },
  'sparse KeyIndex.attend': {
    cudaPath: true,
    run: async (device) => {
      using index = await lemma.sparse.keyIndex(k, v);
      return (await index.attend(q, { threshold: 0.1, device })).stats.device;
    },
  },
  'sparse KeyIndex.report': {
    cudaPath: false,
    run: async (device) => {
      using index = await lemma.sparse.keyIndex(k, v);
      return (await index.report(q, { threshold: 0.1, device })).device;
    },
  },
  'sparse fp64 oracle path': {
    cudaPath: false,
    run: async (device) => {
      const d = (t: { data: Float32Array; shape: number[] }) => lemma.tensor(Float64Array.from(t.data), t.shape);
      return (await lemma.sparse.reluAttention(d(q), d(k), d(v), { threshold: 0.1, device })).stats.device;
    },
  },
  'polyAttention.forward': { cudaPath: false, run: async (device) => (await lemma.polyAttention.forward(q, k, v, { degree: 2, device })).device },
  'sample.dikin': {
    cudaPath: true,
    run: async (device) => {
      using body = lemma.polytope.halfspaces(A, b);
      return (await lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 2, steps: 4, seed: 1, device })).device;
    },
  },
  'sample.dikin (spectrahedron)': {
    cudaPath: false,
    run: async (device) => {
      using disk = lemma.polytope.spectrahedron([[[1, 0], [0, -1]], [[0, 1], [1, 0]]], [[-1, 0], [0, -1]]);
      return (await lemma.sample.dikin(disk, lemma.sample.uniform(), { chains: 1, steps: 4, seed: 1, device })).device;
    },
  },
  'polytope.lewisWeights': {
    cudaPath: false,
    run: async (device) => {
      using body = lemma.polytope.halfspaces(A, b);
      return (await lemma.polytope.lewisWeights(body, [0, 0], { device })).device;
    },
  },
  'polytope.johnEllipsoid': { cudaPath: false, run: async (device) => (await lemma.polytope.johnEllipsoid(A, { device })).device },
  'dp PrivateL1Kde.query': {
    cudaPath: true,
    run: async (device) => {
      using kde = await lemma.dp.l1Kde(pts, kdeOpts);
      return (await kde.query([[0.5, 0.5]], { device })).device;
    },
  },
  'dp BaselineL1Kde.query': {
    cudaPath: false,
    run: async (device) => {
      using kde = await lemma.dp.baselineL1Kde(pts, kdeOpts);
      return (await kde.query([[0.5, 0.5]], { device })).device;
    },
  },
  'prune.attention': {
    cudaPath: false,
    run: async (device) => {
      const X = lemma.tensor(Float64Array.from({ length: 64 }, (_, i) => Math.sin(i)), [16, 4]);
      const W = lemma.tensor(Float64Array.from({ length: 16 }, (_, i) => Math.cos(i)), [4, 4]);
      return (await lemma.prune.attention({ X, W }, { steps: 1, seed: 1, device })).device;
    },
  },
  'looped.iterate': {
    cudaPath: false,
    run: async (device) => (await lemma.looped.iterate({ W: net.W, b: net.b, activation: 'tanh2', x0, maxSteps: 5, device })).device,
  },
};

for (const [name, op] of Object.entries(OPS)) {
  test(`${name}: 'auto' and 'cpu' run on the CPU here and say so; 'cuda' is refused with ERR_CUDA_UNAVAILABLE`, async (t) => {
    t.is(await op.run('cpu'), 'cpu');
    if (!gpu || emulated) t.is(await op.run('auto'), 'cpu');
    if (op.cudaPath && gpu) {
      t.is(await op.run('cuda'), 'cuda');
      return;
    }
    const e = await t.throwsAsync(op.run('cuda'), { instanceOf: lemma.LemmaError, code: 'ERR_CUDA_UNAVAILABLE' });
    // Without a GPU the reason is the machine; with one, it is the missing CUDA path.
    if (op.cudaPath) t.regex(e!.message, noGpu);
    else t.regex(e!.message, /^options\.device 'cuda': .+; use device 'cpu' or 'auto'$/);
  });
}
