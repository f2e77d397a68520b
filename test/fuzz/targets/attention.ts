/**
 * lemma.attention: forward / forwardSync / backward / backwardSync / ioCost. Valid inputs are
 * checked against a plain fp64 softmax(scale·QKᵀ)V (forward) and the fp64 path (backward).
 */
import fc from 'fast-check';
import * as lemma from '../../../lib/index.js';
import type { FuzzTarget } from '../harness.js';
import { NONFINITE, allFinite, ensure, expectCall, maxRelDiff, sameArrays } from '../oracle.js';
import type { Token } from '../oracle.js';
import {
  applyOptionMutation, applyTensorMutation, dtypeArb, layoutArb, materialize, nonFiniteArb, optionMutationArb, seedArb,
  tensorMutationArb,
} from '../arbitraries.js';
import type { Dtype, Layout, OptSpec, OptionMutation, TensorMutation, TensorSpec } from '../arbitraries.js';

/** Reported, not fixed here (native/attention): see the check in runScenario. */
const KNOWN_FP32_MASKED_V_LEAK = process.env.LEMMA_FUZZ_STRICT !== '1';

type T = { data: Float32Array | Float64Array; shape: number[] };

export const ATTENTION_OPTIONS: OptSpec = {
  causal: 'bool',
  scale: { num: {} },
  device: 'device',
  algorithm: { enum: ['auto', 'flash', 'materialized'] },
  deterministic: 'bool',
  precision: { enum: ['fp32', 'tf32', 'fp16', 'bf16'] },
};

export interface Dims { B: number; Hkv: number; group: number; Nq: number; Nk: number; D: number }
export const dimsArb: fc.Arbitrary<Dims> = fc.record({
  B: fc.integer({ min: 1, max: 2 }), Hkv: fc.integer({ min: 1, max: 2 }), group: fc.integer({ min: 1, max: 2 }),
  Nq: fc.integer({ min: 1, max: 6 }), Nk: fc.integer({ min: 1, max: 6 }), D: fc.integer({ min: 1, max: 8 }),
});

/** Shape mistakes of the q, k, v triple (all ERR_SHAPE). */
export type ShapeMutation = 'qRank3' | 'kRank5' | 'batch' | 'headDim' | 'vNotK' | 'heads' | 'zeroN' | 'zeroD' | 'bigD';
export const shapeMutationArb = fc.constantFrom<ShapeMutation>('qRank3', 'kRank5', 'batch', 'headDim', 'vNotK', 'heads', 'zeroN', 'zeroD', 'bigD');

export function qkvShapes(d: Dims, m?: ShapeMutation): [number[], number[], number[]] {
  const Hq = d.Hkv * d.group;
  let q = [d.B, Hq, d.Nq, d.D];
  let k = [d.B, d.Hkv, d.Nk, d.D];
  let v = k.slice();
  switch (m) {
    case 'qRank3': q = [d.B * Hq, d.Nq, d.D]; break;
    case 'kRank5': k = [1, ...k]; v = k.slice(); break;
    case 'batch': k = [d.B + 1, d.Hkv, d.Nk, d.D]; v = k.slice(); break;
    case 'headDim': k = [d.B, d.Hkv, d.Nk, d.D + 1]; v = k.slice(); break;
    case 'vNotK': v = [d.B, d.Hkv, d.Nk + 1, d.D]; break;
    case 'heads': k = [d.B, Hq + 1, d.Nk, d.D]; v = k.slice(); break;
    case 'zeroN': q = [d.B, Hq, 0, d.D]; break;
    case 'zeroD': q = [d.B, Hq, d.Nq, 0]; k = [d.B, d.Hkv, d.Nk, 0]; v = k.slice(); break;
    case 'bigD': q = [d.B, Hq, 1, 257]; k = [d.B, d.Hkv, 1, 257]; v = k.slice(); break;
  }
  return [q, k, v];
}

/** Plain fp64 attention: out [B,Hq,Nq,D], lse [B,Hq,Nq] (bottom-right causal, GQA). */
export function referenceAttention(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, d: Dims, causal: boolean, scale: number) {
  const Hq = d.Hkv * d.group;
  const out = new Float64Array(d.B * Hq * d.Nq * d.D);
  const lse = new Float64Array(d.B * Hq * d.Nq);
  const s = new Float64Array(d.Nk);
  for (let b = 0; b < d.B; b++) {
    for (let h = 0; h < Hq; h++) {
      const kh = Math.floor(h / d.group);
      for (let i = 0; i < d.Nq; i++) {
        const row = (b * Hq + h) * d.Nq + i;
        const last = causal ? Math.min(d.Nk - 1, i + d.Nk - d.Nq) : d.Nk - 1;
        if (last < 0) {
          lse[row] = Infinity;
          continue;
        }
        let m = -Infinity;
        for (let j = 0; j <= last; j++) {
          let dot = 0;
          for (let x = 0; x < d.D; x++) dot += q[row * d.D + x] * k[((b * d.Hkv + kh) * d.Nk + j) * d.D + x];
          s[j] = dot * scale;
          m = Math.max(m, s[j]);
        }
        let z = 0;
        for (let j = 0; j <= last; j++) z += Math.exp(s[j] - m);
        lse[row] = m + Math.log(z);
        for (let j = 0; j <= last; j++) {
          const p = Math.exp(s[j] - m) / z;
          for (let x = 0; x < d.D; x++) out[row * d.D + x] += p * v[((b * d.Hkv + kh) * d.Nk + j) * d.D + x];
        }
      }
    }
  }
  return { out, lse };
}

type Mut =
  | { k: 'valid' }
  | { k: 'tensor'; arg: number; m: TensorMutation }
  | { k: 'shape'; m: ShapeMutation }
  | { k: 'mixedDtype'; arg: number }
  | { k: 'option'; m: OptionMutation }
  | { k: 'nonFinite'; arg: number; at: number; value: number };

interface Scenario {
  api: 'forward' | 'forwardSync' | 'backward' | 'backwardSync';
  dims: Dims;
  dtype: Dtype;
  layout: Layout;
  seed: number;
  options: { causal?: boolean; scale?: number; algorithm?: 'flash' | 'materialized' };
  mut: Mut;
}

const mutArb: fc.Arbitrary<Mut> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ k: 'valid' as const }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('tensor' as const), arg: fc.integer({ min: 0, max: 5 }), m: tensorMutationArb(4) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('shape' as const), m: shapeMutationArb }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('mixedDtype' as const), arg: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('option' as const), m: optionMutationArb(ATTENTION_OPTIONS, { cuda: true }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('nonFinite' as const), arg: fc.integer({ min: 0, max: 2 }), at: fc.nat(), value: nonFiniteArb }) },
);

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  api: fc.constantFrom<Scenario['api']>('forward', 'forwardSync', 'backward', 'backwardSync'),
  dims: dimsArb,
  dtype: dtypeArb,
  layout: layoutArb,
  seed: seedArb,
  options: fc.record({
    causal: fc.boolean(),
    scale: fc.option(fc.double({ min: -2, max: 2, noNaN: true }), { nil: undefined }),
    algorithm: fc.constantFrom<'flash' | 'materialized'>('flash', 'materialized'),
  }, { requiredKeys: [] }),
  mut: mutArb,
});

function spec(shape: number[], dtype: Dtype, layout: Layout, seed: number): TensorSpec {
  return { dtype, shape, seed, layout, scale: 1 };
}

function tol(dtype: Dtype): number {
  return dtype === 'f32' ? 2e-4 : 1e-9;
}

async function runScenario(s: Scenario): Promise<void> {
  const { dims, dtype, layout, seed, mut } = s;
  const shapes = qkvShapes(dims, mut.k === 'shape' ? mut.m : undefined);
  const [q, k, v] = shapes.map((sh, i) => materialize(spec(sh, dtype, layout, seed + i)));
  let options: unknown = { ...s.options };
  let expect: Token[] = ['ok'];
  const args: unknown[] = [q, k, v];
  const backwardApi = s.api === 'backward' || s.api === 'backwardSync';
  // Backward inputs: out and lse from the fp64 reference on the same values, dOut random.
  let extra: T[] = [];
  if (backwardApi) {
    const scale = s.options.scale ?? 1 / Math.sqrt(dims.D);
    const ok = mut.k !== 'shape';
    const ref = ok ? referenceAttention(q.data, k.data, v.data, dims, !!s.options.causal, scale) : null;
    const Ctor = dtype === 'f64' ? Float64Array : Float32Array;
    const out = { data: ref ? Ctor.from(ref.out) : new Ctor(shapes[0].reduce((a, b) => a * b, 1)), shape: shapes[0].slice() };
    const lse = { data: ref ? Ctor.from(ref.lse) : new Ctor(shapes[0].slice(0, 3).reduce((a, b) => a * b, 1)), shape: shapes[0].slice(0, 3) };
    const dOut = materialize(spec(shapes[0], dtype, layout, seed + 7));
    extra = [out, lse, dOut];
    args.push(...extra);
  }
  const nArgs = backwardApi ? 6 : 3;
  switch (mut.k) {
    case 'valid': break;
    case 'tensor': {
      const i = mut.arg % nArgs;
      const r = applyTensorMutation(args[i] as T, mut.m);
      args[i] = r.value;
      expect = r.expect;
      break;
    }
    case 'shape': expect = ['ERR_SHAPE']; break;
    case 'mixedDtype': {
      const i = mut.arg % nArgs;
      const t = args[i] as T;
      args[i] = { data: t.data instanceof Float64Array ? Float32Array.from(t.data) : Float64Array.from(t.data), shape: t.shape };
      expect = ['ERR_DTYPE'];
      break;
    }
    case 'option': {
      const r = applyOptionMutation(s.options, mut.m);
      options = r.options;
      expect = r.expect;
      break;
    }
    case 'nonFinite': {
      const t = args[mut.arg] as T;
      if (t.data.length) t.data[mut.at % t.data.length] = mut.value;
      expect = NONFINITE.attention === 'propagate' ? ['ok'] : [NONFINITE.attention];
      break;
    }
  }
  const label = `attention.${s.api}`;
  const isAsync = s.api === 'forward' || s.api === 'backward';
  const call = () => {
    switch (s.api) {
      case 'forward': return lemma.attention.forward(args[0] as never, args[1] as never, args[2] as never, options as never);
      case 'forwardSync': return lemma.attention.forwardSync(args[0] as never, args[1] as never, args[2] as never, options as never);
      case 'backward': return lemma.attention.backward({ q: args[0], k: args[1], v: args[2], out: args[3], lse: args[4], dOut: args[5] } as never, options as never);
      case 'backwardSync': return lemma.attention.backwardSync({ q: args[0], k: args[1], v: args[2], out: args[3], lse: args[4], dOut: args[5] } as never, options as never);
    }
  };
  const causal = !!s.options.causal;
  // The fp32 kernels see the scale rounded to fp32 (a subnormal scale is 0 there: −∞·0 is NaN).
  const scale = dtype === 'f32' ? Math.fround(s.options.scale ?? 1 / Math.sqrt(dims.D)) : s.options.scale ?? 1 / Math.sqrt(dims.D);
  const Ctor = dtype === 'f64' ? Float64Array : Float32Array;
  await expectCall(label, call, {
    allow: expect,
    async: isAsync,
    check: async (r) => {
      if (!backwardApi) {
        const { out, lse } = r as { out: T; lse: T };
        ensure(out.data instanceof Ctor && lse.data instanceof Ctor, 'output dtype differs from the input dtype');
        ensure(sameArrays(out.shape, shapes[0]) && sameArrays(lse.shape, shapes[0].slice(0, 3)), 'wrong output shapes');
        const ref = referenceAttention(q.data, k.data, v.data, dims, causal, scale);
        // Known (reported, native): the fp32 kernels leak a non-finite v of a masked-out key into
        // the rows that do not see it (0·NaN in the block product); the fp64 path does not.
        if (KNOWN_FP32_MASKED_V_LEAK && dtype === 'f32' && causal && mut.k === 'nonFinite' && mut.arg === 2) return;
        const bad: number[] = [];
        for (let i = 0; i < ref.out.length; i++) {
          if (!Number.isFinite(ref.out[i])) continue;  // a non-finite input: only clean rows are checked
          if (!(Math.abs(out.data[i] - ref.out[i]) <= tol(dtype) * (1 + Math.abs(ref.out[i])))) bad.push(i);
        }
        ensure(bad.length === 0, `out differs from the fp64 reference at ${bad.length} entries (first ${bad[0]}: ${out.data[bad[0]]} vs ${ref.out[bad[0]]})`);
        for (let i = 0; i < ref.lse.length; i++) {
          if (!Number.isFinite(ref.lse[i])) {
            if (ref.lse[i] === Infinity && mut.k === 'valid') ensure(lse.data[i] === Infinity, `lse[${i}] of a row that sees no key is ${lse.data[i]}, not +Infinity`);
            continue;
          }
          ensure(Math.abs(lse.data[i] - ref.lse[i]) <= tol(dtype) * (1 + Math.abs(ref.lse[i])), `lse[${i}] = ${lse.data[i]} vs ${ref.lse[i]}`);
        }
        if (mut.k === 'valid') ensure(allFinite(out.data), 'non-finite output for finite input');
      } else {
        const g = r as { dq: T; dk: T; dv: T };
        ensure(g.dq.data instanceof Ctor && g.dk.data instanceof Ctor && g.dv.data instanceof Ctor, 'gradient dtype differs from the input dtype');
        ensure(sameArrays(g.dq.shape, shapes[0]) && sameArrays(g.dk.shape, shapes[1]) && sameArrays(g.dv.shape, shapes[2]), 'wrong gradient shapes');
        if (mut.k === 'valid') {
          ensure(allFinite(g.dq.data) && allFinite(g.dk.data) && allFinite(g.dv.data), 'non-finite gradient for finite input');
          if (dtype === 'f32') {
            // The fp32 fast path against the fp64 path on the same values.
            const w = (t: T) => ({ data: Float64Array.from(t.data), shape: t.shape });
            const r64 = lemma.attention.backwardSync({ q: w(q), k: w(k), v: w(v), out: w(extra[0]), lse: w(extra[1]), dOut: w(extra[2]) }, { causal, scale });
            for (const key of ['dq', 'dk', 'dv'] as const) {
              const e = maxRelDiff(g[key].data, r64[key].data);
              ensure(e <= 2e-3, `${key} differs from the fp64 path by ${e}`);
            }
          }
        }
      }
      // Views and shared buffers: the same answer as a plain copy.
      if (layout !== 'plain' && mut.k === 'valid') {
        const plain = (t: T) => ({ data: t.data.slice(), shape: t.shape });
        const again = backwardApi
          ? lemma.attention.backwardSync({ q: plain(q), k: plain(k), v: plain(v), out: plain(extra[0]), lse: plain(extra[1]), dOut: plain(extra[2]) }, s.options)
          : lemma.attention.forwardSync(plain(q), plain(k), plain(v), s.options);
        const a = r as Record<string, T>;
        const b = again as unknown as Record<string, T>;
        for (const key of Object.keys(b)) {
          if (!b[key] || typeof b[key] !== 'object' || !('data' in b[key])) continue;  // e.g. device: 'cpu'
          ensure(sameArrays(a[key].data, b[key].data), `${layout} layout gives a different ${key} than a plain copy`);
        }
      }
    },
  });
}

const IO_OPTIONS: OptSpec = {
  n: { int: [1, 2 ** 20] },
  d: { int: [1, 4096] },
  cacheWords: { int: [16, 2 ** 40] },
  algorithm: { enum: ['flash', 'materialized'] },
  pass: { enum: ['forward', 'backward'] },
};

interface IoScenario {
  base: { n: number; d: number; cacheWords: number; algorithm: 'flash' | 'materialized'; pass: 'forward' | 'backward' };
  mut: { k: 'valid' } | { k: 'option'; m: OptionMutation } | { k: 'missing'; key: string } | { k: 'smallCache' };
}

const ioArb: fc.Arbitrary<IoScenario> = fc.record({
  base: fc.record({
    n: fc.integer({ min: 1, max: 4096 }), d: fc.integer({ min: 1, max: 128 }), cacheWords: fc.integer({ min: 128, max: 1 << 20 }),
    algorithm: fc.constantFrom<'flash' | 'materialized'>('flash', 'materialized'), pass: fc.constantFrom<'forward' | 'backward'>('forward', 'backward'),
  }),
  mut: fc.oneof(
    fc.constant({ k: 'valid' as const }),
    fc.record({ k: fc.constant('option' as const), m: optionMutationArb(IO_OPTIONS) }),
    fc.record({ k: fc.constant('missing' as const), key: fc.constantFrom(...Object.keys(IO_OPTIONS)) }),
    fc.constant({ k: 'smallCache' as const }),
  ),
});

async function runIo(s: IoScenario): Promise<void> {
  let options: unknown = s.base;
  let expect: Token[] = ['ok'];
  if (s.mut.k === 'option') ({ options, expect } = applyOptionMutation(s.base, s.mut.m));
  else if (s.mut.k === 'missing') {
    const o: Record<string, unknown> = { ...s.base };
    delete o[s.mut.key];
    options = o;
    expect = ['TypeError'];
  } else if (s.mut.k === 'smallCache') {
    options = { ...s.base, d: 64, cacheWords: 32 };
    expect = ['RangeError'];
  }
  await expectCall('attention.ioCost', () => lemma.attention.ioCost(options as never), {
    allow: expect,
    check: (r) => {
      const c = r as lemma.attention.IoCostResult;
      ensure(c.loads + c.stores === c.total || c.total > 2 ** 53, 'loads + stores !== total');
      ensure(c.peakResidentWords <= c.cacheWords, 'peak above the cache');
      ensure(Number.isFinite(c.total) && c.total > 0 && c.ratio > 0, 'non-positive or non-finite cost');
    },
  });
}

export const targets: FuzzTarget[] = [
  { family: 'attention', name: 'forward-backward', arb: scenarioArb, run: runScenario, weight: 3 },
  { family: 'attention', name: 'ioCost', arb: ioArb, run: runIo },
];
