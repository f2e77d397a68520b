/**
 * lemma.sparse (one-shot relu / softmax attention against the fp64 oracle path, KeyIndex:
 * concurrent calls, dispose during calls, use after dispose), lemma.prune (attention,
 * objective / objectiveSync), lemma.looped (iterate against a JS reference loop), lemma.cuda
 * without a GPU.
 */
import fc from 'fast-check';
import * as lemma from '../../../lib/index.js';
import type { FuzzTarget } from '../harness.js';
import { NONFINITE, allFinite, ensure, expectCall, maxRelDiff, sameArrays } from '../oracle.js';
import type { Token } from '../oracle.js';
import { materialize, seedArb } from '../arbitraries.js';
import type { Dtype, Layout, OptSpec } from '../arbitraries.js';
import { genericTarget } from '../generic.js';

type T = { data: Float32Array | Float64Array; shape: number[] };

// ---- sparse -------------------------------------------------------------------------------------

const SPARSE_OPTIONS: OptSpec = {
  blockSize: { int: [16, 256] }, order: { enum: ['position', 'cluster'] }, levels: { int: [1, 2] },
  alpha: { int: [1, 32] }, causal: 'bool', scale: { num: {} }, tolerance: { num: { min: 0 } }, denseAbove: { num: { min: 0 } },
  threshold: { num: {} }, device: 'device',
};

function sparseBuild(seed: number, dtype: Dtype, layout: Layout) {
  const r = seed % 89;
  const B = 1 + (r % 2), Hkv = 1 + ((r >> 1) % 2), group = 1 + ((r >> 2) % 2), M = 1 + (r % 5), N = 1 + ((r * 7) % 40), D = 1 + (r % 6);
  const q = materialize({ dtype, shape: [B, Hkv * group, M, D], seed, layout, scale: 1 });
  const k = materialize({ dtype, shape: [B, Hkv, N, D], seed: seed + 1, layout, scale: 1 });
  const v = materialize({ dtype, shape: [B, Hkv, N, D], seed: seed + 2, layout, scale: 1 });
  const options: Record<string, unknown> = { threshold: ((seed % 7) - 3) / 10, causal: seed % 3 === 0, alpha: 1 + (seed % 2) };
  return { q, k, v, options };
}

const wide = (t: T) => ({ data: Float64Array.from(t.data), shape: t.shape.slice() });

const reluAttention = genericTarget({
  family: 'sparse', name: 'reluAttention',
  build: (seed, dtype, layout) => {
    const { q, k, v, options } = sparseBuild(seed, dtype, layout);
    return {
      args: [q, k, v, options], tensorArgs: [0, 1, 2], optionsArg: 3, options,
      compare: (r) => [(r as { out: T }).out.data],
      check: async (r) => {
        const res = r as lemma.sparse.OneShotResult;
        ensure(res.out.data.constructor === q.data.constructor && sameArrays(res.out.shape, q.shape), 'wrong output dtype or shape');
        ensure(allFinite(res.out.data), 'non-finite output for finite input');
        if (dtype === 'f32') {
          const ref = await lemma.sparse.reluAttention(wide(q), wide(k), wide(v), options as never);
          const e = maxRelDiff(res.out.data, ref.out.data);
          ensure(e <= 1e-3, `index path differs from the fp64 oracle by ${e}`);
        }
      },
    };
  },
  call: (a) => lemma.sparse.reluAttention(a[0] as never, a[1] as never, a[2] as never, a[3] as never),
  async: true, optSpec: SPARSE_OPTIONS, device: 'device', nonFinite: NONFINITE.sparse, dtypes: ['f32', 'f64'],
  skipOptionKeys: ['threshold'],  // a number or one per query head: its own cases below
  cases: {
    thresholdString: (b) => ({ args: [b.args[0], b.args[1], b.args[2], { threshold: '0' }], expect: ['TypeError'] }),
    thresholdNaN: (b) => ({ args: [b.args[0], b.args[1], b.args[2], { threshold: NaN }], expect: ['RangeError'] }),
    missingThreshold: (b) => ({ args: [b.args[0], b.args[1], b.args[2], { causal: false }], expect: ['TypeError'] }),
    thresholdAndKeep: (b) => ({ args: [b.args[0], b.args[1], b.args[2], { threshold: 0, keep: 2 }], expect: ['RangeError'] }),
    thresholdArrayLength: (b) => ({ args: [b.args[0], b.args[1], b.args[2], { threshold: [0, 0, 0, 0, 0, 0, 0, 0, 0] }], expect: ['ERR_SHAPE'] }),
    softmaxActivation: (b) => ({ args: [b.args[0], b.args[1], b.args[2], { threshold: 0, activation: 'softmax' }], expect: ['RangeError'] }),
    blockSizeNot16: (b) => ({ args: [b.args[0], b.args[1], b.args[2], { threshold: 0, blockSize: 24 }], expect: ['RangeError'] }),
    headDim: (b) => ({ args: [{ data: (b.args[0] as T).data, shape: [...(b.args[0] as T).shape.slice(0, 3), 1].map((x, i) => (i === 3 ? (b.args[0] as T).shape[3] : x)) }, { data: new Float32Array(0), shape: [1, 1, 0, 3] }, { data: new Float32Array(0), shape: [1, 1, 0, 3] }, { threshold: 0 }], expect: ['ERR_SHAPE', 'ERR_DTYPE'] }),
  },
});

const softmaxTop = genericTarget({
  family: 'sparse', name: 'softmaxTopAttention',
  build: (seed, dtype, layout) => {
    const { q, k, v } = sparseBuild(seed, dtype, layout);
    // The fp64 oracle path needs an explicit threshold (documented); the index calibrates from keep.
    const options: Record<string, unknown> = dtype === 'f64' ? { threshold: 0.1 } : { keep: 1 + (seed % 4) };
    return {
      args: [q, k, v, options], tensorArgs: [0, 1, 2], optionsArg: 3, options,
      compare: (r) => [(r as { out: T }).out.data],
      check: (r) => {
        const res = r as lemma.sparse.OneShotResult;
        ensure(res.out.data.constructor === q.data.constructor && sameArrays(res.out.shape, q.shape) && allFinite(res.out.data), 'bad softmax-top output');
      },
    };
  },
  call: (a) => lemma.sparse.softmaxTopAttention(a[0] as never, a[1] as never, a[2] as never, a[3] as never),
  async: true, optSpec: { tolerance: { num: { min: 0 } }, causal: 'bool' }, device: 'device',
  nonFinite: NONFINITE.sparse, dtypes: ['f32', 'f64'],
});

interface IndexScenario {
  seed: number;
  op: 'concurrentAttend' | 'disposeDuringAttend' | 'disposeDuringAppend' | 'useAfterDispose' | 'appendWrongShape' | 'appendThenAttend' | 'attendF64' | 'reportCuda' | 'backwardSoftmax';
}

async function runIndex(s: IndexScenario): Promise<void> {
  const { q, k, v } = sparseBuild(s.seed, 'f32', 'plain');
  const idx = await lemma.sparse.keyIndex(k, v);
  const opts = { threshold: 0.1 };
  const ref = idx.attendSync(q, opts);
  const same = (r: unknown) => ensure(sameArrays((r as lemma.sparse.AttendResult).out.data, ref.out.data), 'a different answer than the same call alone');
  try {
    switch (s.op) {
      case 'concurrentAttend':
        await Promise.all([0, 1, 2, 3].map(() => expectCall('KeyIndex.attend', () => idx.attend(q, opts), { allow: ['ok'], async: true, check: same })));
        return;
      case 'disposeDuringAttend': {
        const ps = [0, 1, 2].map(() => expectCall('KeyIndex.attend', () => idx.attend(q, opts), { allow: ['ok', 'ERR_DISPOSED'], async: true, check: same }));
        idx.dispose();
        await Promise.all(ps);
        await expectCall('KeyIndex.attend', () => idx.attend(q, opts), { allow: ['ERR_DISPOSED'], async: true });
        return;
      }
      case 'disposeDuringAppend': {
        const p = expectCall('KeyIndex.append', () => idx.append(k, v), { allow: ['ok', 'ERR_DISPOSED'], async: true });
        idx.dispose();
        await p;
        return;
      }
      case 'useAfterDispose':
        idx.dispose();
        idx.dispose();
        await expectCall('KeyIndex.attendSync', () => idx.attendSync(q, opts), { allow: ['ERR_DISPOSED'] });
        await expectCall('KeyIndex.length', () => idx.length, { allow: ['ERR_DISPOSED'] });
        await expectCall('KeyIndex.append', () => idx.append(k, v), { allow: ['ERR_DISPOSED'], async: true });
        await expectCall('KeyIndex.report', () => idx.report(q, opts), { allow: ['ERR_DISPOSED'], async: true });
        return;
      case 'appendWrongShape':
        await expectCall('KeyIndex.append', () => idx.append({ data: new Float32Array(k.shape[3] + 1), shape: [k.shape[0] * 0 + 1, 1, 1, k.shape[3] + 1] }, { data: new Float32Array(k.shape[3] + 1), shape: [1, 1, 1, k.shape[3] + 1] }), { allow: ['ERR_SHAPE'], async: true });
        return;
      case 'appendThenAttend': {
        const [a, b] = await Promise.all([
          expectCall('KeyIndex.append', () => idx.append(k, v), { allow: ['ok'], async: true }),
          expectCall('KeyIndex.attend', () => idx.attend(q, opts), { allow: ['ok'], async: true, check: (r) => ensure(allFinite((r as lemma.sparse.AttendResult).out.data), 'non-finite') }),
        ]);
        void a; void b;
        ensure(idx.length === 2 * k.shape[2], `length ${idx.length} after append of ${k.shape[2]} keys to ${k.shape[2]}`);
        return;
      }
      case 'attendF64':
        await expectCall('KeyIndex.attend', () => idx.attend(wide(q) as never, opts), { allow: ['ERR_DTYPE'], async: true });
        return;
      case 'reportCuda':
        await expectCall('KeyIndex.report', () => idx.report(q, { ...opts, device: 'cuda' }), { allow: ['ERR_CUDA_UNAVAILABLE'], async: true });
        return;
      case 'backwardSoftmax':
        await expectCall('KeyIndex.backward', () => idx.backward(q, q, { threshold: 0, activation: 'softmax' }), { allow: ['RangeError'], async: true });
        return;
    }
  } finally {
    idx.dispose();
  }
}

const indexArb: fc.Arbitrary<IndexScenario> = fc.record({
  seed: seedArb,
  op: fc.constantFrom<IndexScenario['op']>('concurrentAttend', 'disposeDuringAttend', 'disposeDuringAppend', 'useAfterDispose', 'appendWrongShape', 'appendThenAttend', 'attendF64', 'reportCuda', 'backwardSoftmax'),
});

// ---- prune --------------------------------------------------------------------------------------

function pruneBuild(seed: number, dtype: Dtype, layout: Layout) {
  const n = 2 + (seed % 4), d = 4 * (1 + (seed % 2));
  const X = materialize({ dtype, shape: [n, d], seed, layout, scale: 1 });
  const W = materialize({ dtype, shape: [d, d], seed: seed + 1, layout, scale: 1 });
  return { X, W, n, d };
}

const PRUNE_OPTIONS: OptSpec = {
  sparsity: { num: { min: 0, max: 0.999 } }, pattern: { enum: ['row', 'global', '2:4'] }, method: { enum: ['refit', 'relaxed-mask', 'magnitude', 'wanda'] },
  steps: { int: [0, 1e7] }, lr: { num: { min: 0, exclMin: true } }, tau: { num: { min: 0, exclMin: true } }, causal: 'bool',
  seed: { int: [0, Number.MAX_SAFE_INTEGER] }, device: { enum: ['auto', 'cpu', 'cuda'] }, signal: 'signal', onProgress: 'fn',
};

const pruneAttention = genericTarget({
  family: 'prune', name: 'attention',
  build: (seed, dtype, layout) => {
    const { X, W, d } = pruneBuild(seed, dtype, layout);
    const options = { steps: seed % 4, sparsity: 0.5 };
    return {
      args: [{ X, W }, options], tensorArgs: [], optionsArg: 1, options,
      check: (r) => {
        const p = r as lemma.prune.PruneResult;
        ensure(p.W.data.constructor === X.data.constructor && sameArrays(p.W.shape, [d, d]), 'wrong W dtype or shape');
        let kept = 0;
        for (const m of p.mask.data) kept += m;
        ensure(kept === d * (d - Math.floor(0.5 * d)), `mask keeps ${kept} entries`);
        ensure(allFinite(p.W.data), 'non-finite pruned W');
      },
    };
  },
  call: (a) => lemma.prune.attention(a[0] as never, a[1] as never),
  async: true, optSpec: PRUNE_OPTIONS, device: 'device', nonFinite: NONFINITE.prune, dtypes: ['f32', 'f64'], skipOptionKeys: ['sparsity'],
  cases: {
    cuda: (b) => ({ args: [b.args[0], { device: 'cuda' }], expect: ['ERR_CUDA_UNAVAILABLE'] }),
    wShape: (b) => { const { X } = b.args[0] as { X: T }; return { args: [{ X, W: { data: new Float32Array(6), shape: [2, 3] } }, {}], expect: X.data instanceof Float32Array ? ['ERR_SHAPE'] : ['ERR_SHAPE', 'ERR_DTYPE'] }; },
    mixed: (b) => { const { X, W } = b.args[0] as { X: T; W: T }; return { args: [{ X, W: wide(W).data instanceof Float64Array && X.data instanceof Float64Array ? { data: Float32Array.from(W.data), shape: W.shape } : wide(W) }, {}], expect: ['ERR_DTYPE'] }; },
    nonFiniteX: (b) => { const { X, W } = b.args[0] as { X: T; W: T }; const x = { data: X.data.slice(), shape: X.shape }; x.data[0] = NaN; return { args: [{ X: x, W }, {}], expect: [NONFINITE.prune] }; },
    inputsNotObject: () => ({ args: [[1, 2], {}], expect: ['TypeError'] }),
    unknownInput: (b) => ({ args: [{ ...(b.args[0] as object), w: 1 }, {}], expect: ['TypeError'] }),
    stepsForMagnitude: (b) => ({ args: [b.args[0], { method: 'magnitude', steps: 3 }], expect: ['RangeError'] }),
    fractionalSteps: (b) => ({ args: [b.args[0], { steps: 2.5 }], expect: ['RangeError'] }),
    aborted: (b) => ({ args: [b.args[0], { signal: AbortSignal.abort() }], expect: ['AbortError'] }),
    sparsityOne: (b) => ({ args: [b.args[0], { sparsity: 1 }], expect: ['RangeError'] }),
    absurd: () => ({ args: [{ X: { data: new Float32Array(4), shape: [1, 4] }, W: { data: new Float32Array(4), shape: [1, 4] } }, {}], expect: ['ERR_SHAPE'] }),
  },
});

const pruneObjective = genericTarget({
  family: 'prune', name: 'objective',
  build: (seed, dtype, layout) => {
    const { X, W, d } = pruneBuild(seed, dtype, layout);
    const mask = materialize({ dtype, shape: [d, d], seed: seed + 2, layout, scale: 1 });
    const options = { causal: seed % 2 === 0, lambda: (seed % 3) / 10 };
    return {
      args: [{ X, W, mask }, options], tensorArgs: [], optionsArg: 1, options,
      check: (r) => {
        const o = r as lemma.prune.ObjectiveResult;
        ensure(Number.isFinite(o.value) && o.value >= 0 && Number.isFinite(o.attnError), 'objective not finite / negative');
        const sync = lemma.prune.objectiveSync({ X: wide(X), W: wide(W), mask: wide(mask) } as never, options);
        ensure(Math.abs(sync.value - o.value) <= 1e-5 * (1 + Math.abs(o.value)), `objective ${o.value} vs objectiveSync (fp64) ${sync.value}`);
      },
    };
  },
  call: (a) => lemma.prune.objective(a[0] as never, a[1] as never),
  async: true, optSpec: { tau: { num: { min: 0, exclMin: true } }, lambda: { num: { min: 0 } }, causal: 'bool', signal: 'signal' }, device: null,
  nonFinite: NONFINITE.prune, dtypes: ['f32', 'f64'],
  cases: {
    maskMissing: (b) => { const { X, W } = b.args[0] as { X: T; W: T }; return { args: [{ X, W }, {}], expect: ['TypeError'] }; },
    maskShape: (b) => { const { X, W } = b.args[0] as { X: T; W: T }; return { args: [{ X, W, mask: { data: X.data.constructor === Float64Array ? new Float64Array(2) : new Float32Array(2), shape: [1, 2] } }, {}], expect: ['ERR_SHAPE'] }; },
  },
});

// ---- looped.iterate -----------------------------------------------------------------------------

const ACT: Record<string, (x: number) => number> = { tanh: Math.tanh, relu: (x) => Math.max(0, x) };

const iterate = genericTarget({
  family: 'looped', name: 'iterate',
  build: (seed, dtype, layout) => {
    const d = 1 + (seed % 4), S = 1 + (seed % 3), maxSteps = 1 + (seed % 6);
    const W = materialize({ dtype, shape: [d, d], seed, layout, scale: 0.4 });
    const b = materialize({ dtype, shape: [d], seed: seed + 1, layout, scale: 0.5 });
    const x0 = materialize({ dtype, shape: [S, d], seed: seed + 2, layout, scale: 1 });
    const activation = seed % 2 ? 'tanh' : 'relu';
    const options: Record<string, unknown> = { W, b, x0, activation, maxSteps, earlyExit: false, history: seed % 3 === 0 };
    return {
      args: [options], tensorArgs: [], optionsArg: 0, options,
      compare: (r) => [(r as { x: T }).x.data],
      check: (r) => {
        const res = r as lemma.looped.IterateResult;
        ensure(res.x.data.constructor === W.data.constructor && sameArrays(res.x.shape, [S, d]), 'wrong x dtype or shape');
        // JS reference loop in fp64 (fp32 tolerance for Float32Array).
        const x = Float64Array.from(x0.data);
        for (let t = 0; t < maxSteps; t++) {
          for (let s = 0; s < S; s++) {
            const y = new Float64Array(d);
            for (let j = 0; j < d; j++) {
              let z = b.data[j];
              for (let kk = 0; kk < d; kk++) z += W.data[j * d + kk] * x[s * d + kk];
              y[j] = ACT[activation](z);
            }
            x.set(y, s * d);
          }
        }
        const e = maxRelDiff(res.x.data, x);
        ensure(e <= (dtype === 'f32' ? 1e-5 : 1e-12), `x differs from the reference loop by ${e}`);
      },
    };
  },
  call: (a) => lemma.looped.iterate(a[0] as never),
  async: true,
  optSpec: { maxSteps: { int: [1, 2 ** 30] }, tol: { num: { min: 0 } }, noise: { num: { min: 0 } }, seed: { int: [0, Number.MAX_SAFE_INTEGER] }, earlyExit: 'bool', history: 'bool', device: 'device', signal: 'signal', onProgress: 'fn' },
  device: 'device', nonFinite: NONFINITE.looped, dtypes: ['f32', 'f64'],
  cases: {
    wNotSquare: (b) => ({ args: [{ ...(b.args[0] as object), W: { data: new Float64Array(6), shape: [2, 3] } }], expect: ['ERR_SHAPE', 'ERR_DTYPE'] }),
    wNaN: (b) => { const o = b.args[0] as { W: T }; const W = { data: o.W.data.slice(), shape: o.W.shape }; W.data[0] = NaN; return { args: [{ ...o, W }], expect: [NONFINITE.looped] }; },
    x0NaN: (b) => { const o = b.args[0] as { x0: T }; const x0 = { data: o.x0.data.slice(), shape: o.x0.shape }; x0.data[0] = Infinity; return { args: [{ ...o, x0 }], expect: [NONFINITE.looped] }; },
    badActivation: (b) => ({ args: [{ ...(b.args[0] as object), activation: 'sigmoid' }], expect: ['RangeError'] }),
    activationType: (b) => ({ args: [{ ...(b.args[0] as object), activation: 5 }], expect: ['TypeError'] }),
    bDtype: (b) => { const o = b.args[0] as { b: T }; return { args: [{ ...o, b: o.b.data instanceof Float64Array ? Float32Array.from(o.b.data) : Float64Array.from(o.b.data) }], expect: ['ERR_DTYPE'] }; },
    x0Shape: (b) => { const o = b.args[0] as { x0: T }; return { args: [{ ...o, x0: { data: o.x0.data, shape: [o.x0.data.length, 1, 1] } }], expect: ['ERR_SHAPE'] }; },
    hugeHistory: (b) => { const o = b.args[0] as { x0: T }; return { args: [{ ...o, maxSteps: 2 ** 30, history: true }], expect: ['ERR_RANGE', 'ERR_OOM'] }; },
    aborted: (b) => ({ args: [{ ...(b.args[0] as object), signal: AbortSignal.abort() }], expect: ['AbortError'] }),
  },
});

// ---- cuda without a GPU --------------------------------------------------------------------------

interface CudaScenario { op: 'upload' | 'uploadBadDtype' | 'uploadNotTensor' | 'forgedDeviceTensor' | 'memory' | 'synchronize' | 'attentionCuda' | 'deviceTensorInAttention'; seed: number }

async function runCuda(s: CudaScenario): Promise<void> {
  const t = materialize({ dtype: 'f32', shape: [1, 1, 2, 4], seed: s.seed, layout: 'plain', scale: 1 });
  const usable = lemma.cudaAvailable();
  switch (s.op) {
    case 'upload':
      await expectCall('cuda.upload', () => lemma.cuda.upload(t), { allow: usable ? ['ok'] : ['ERR_CUDA_UNAVAILABLE'], async: true });
      return;
    case 'uploadBadDtype':
      await expectCall('cuda.upload', () => lemma.cuda.upload(t, { dtype: 'int8' as never }), { allow: ['RangeError'], async: true });
      return;
    case 'uploadNotTensor':
      await expectCall('cuda.upload', () => lemma.cuda.upload([1, 2] as never), { allow: ['TypeError'], async: true });
      return;
    case 'memory':
      await expectCall('cuda.memory', () => lemma.cuda.memory(), { allow: usable ? ['ok'] : ['ok', 'ERR_CUDA_UNAVAILABLE'] });
      return;
    case 'synchronize':
      await expectCall('cuda.synchronize', () => lemma.cuda.synchronize(), { allow: usable ? ['ok'] : ['ok', 'ERR_CUDA_UNAVAILABLE'], async: true });
      return;
    case 'attentionCuda':
      await expectCall('attention.forward', () => lemma.attention.forward(t, t, t, { device: 'cuda' }), { allow: usable ? ['ok'] : ['ERR_CUDA_UNAVAILABLE'], async: true });
      return;
    case 'forgedDeviceTensor':
    case 'deviceTensorInAttention': {
      // A DeviceTensor built by hand around a handle lemma never issued: a foreign object.
      const forged = new lemma.cuda.DeviceTensor({} as never, [1, 1, 2, 4], 'float32');
      if (s.op === 'forgedDeviceTensor') {
        await expectCall('DeviceTensor.toHost', () => forged.toHost(), { allow: ['TypeError', 'ERR_CUDA_UNAVAILABLE'], async: true });
      } else {
        await expectCall('attention.forward', () => lemma.attention.forward(forged as never, forged as never, forged as never), { allow: ['TypeError', 'ERR_CUDA_UNAVAILABLE'], async: true });
      }
      return;
    }
  }
}

const cudaArb: fc.Arbitrary<CudaScenario> = fc.record({
  op: fc.constantFrom<CudaScenario['op']>('upload', 'uploadBadDtype', 'uploadNotTensor', 'forgedDeviceTensor', 'memory', 'synchronize', 'attentionCuda', 'deviceTensorInAttention'),
  seed: seedArb,
});

// ---- top level: tensor, capabilities, setNumThreads, setSimdLevel -----------------------------------

interface TopScenario { op: 'tensor' | 'setNumThreads' | 'setSimdLevel' | 'capabilities'; value: unknown }

async function runTop(s: TopScenario): Promise<void> {
  switch (s.op) {
    case 'capabilities':
      await expectCall('capabilities', () => lemma.capabilities(), { allow: ['ok'], check: (c) => ensure(typeof (c as lemma.Capabilities).threads === 'number', 'no threads') });
      return;
    case 'setNumThreads': {
      const v = s.value;
      const expect: Token[] = typeof v !== 'number' ? ['TypeError'] : Number.isInteger(v) && v >= 1 && v <= 1024 ? ['ok'] : ['RangeError'];
      const before = lemma.capabilities().threads;
      try {
        await expectCall('setNumThreads', () => lemma.setNumThreads(v as never), { allow: expect });
      } finally {
        lemma.setNumThreads(before);
      }
      return;
    }
    case 'setSimdLevel': {
      const v = s.value;
      const expect: Token[] = typeof v !== 'string' ? ['TypeError'] : ['avx512', 'avx2', 'scalar'].includes(v) ? ['ok'] : ['RangeError'];
      const before = lemma.capabilities().simd;
      try {
        await expectCall('setSimdLevel', () => lemma.setSimdLevel(v as never), { allow: expect });
      } finally {
        lemma.setSimdLevel(before);
      }
      return;
    }
    case 'tensor': {
      const v = s.value as { data: unknown; shape: unknown };
      await expectCall('tensor', () => lemma.tensor(v.data as never, v.shape as never), { allow: ['ok', 'TypeError', 'RangeError', 'ERR_SHAPE', 'ERR_RANGE'] });
      return;
    }
  }
}

const topArb: fc.Arbitrary<TopScenario> = fc.oneof(
  fc.record({ op: fc.constant('capabilities' as const), value: fc.constant(null) }),
  fc.record({ op: fc.constant('setNumThreads' as const), value: fc.oneof(fc.integer({ min: -3, max: 2000 }), fc.constantFrom<unknown>(1.5, NaN, Infinity, '2', null, 2n)) }),
  fc.record({ op: fc.constant('setSimdLevel' as const), value: fc.constantFrom<unknown>('avx512', 'avx2', 'scalar', 'sse', '', 3, null) }),
  fc.record({
    op: fc.constant('tensor' as const),
    value: fc.record({
      data: fc.oneof(fc.constant(new Float32Array(6)), fc.constant(new Float64Array(6)), fc.anything({ maxDepth: 1 })),
      shape: fc.oneof(fc.constant([2, 3]), fc.array(fc.oneof(fc.integer({ min: -2, max: 8 }), fc.double()), { maxLength: 4 }), fc.anything({ maxDepth: 1 })),
    }),
  }),
);

export const targets: FuzzTarget[] = [
  reluAttention,
  softmaxTop,
  { family: 'sparse', name: 'keyIndex', arb: indexArb, run: runIndex, weight: 0.5 },
  pruneAttention,
  pruneObjective,
  iterate,
  { family: 'cuda', name: 'noGpu', arb: cudaArb, run: runCuda, weight: 0.3 },
  { family: 'top', name: 'tensor-capabilities', arb: topArb, run: runTop, weight: 0.5 },
];
