/**
 * lemma.polyAttention (forward, backward with real / forged contexts, error) and lemma.nn
 * (attentionStack options, forward / backward, foreign tapes, dispose during a call).
 * Oracle: an fp64 Taylor-kernel attention Σ κ_g(s q·k) v / Σ κ_g(s q·k) on tiny shapes.
 */
import fc from 'fast-check';
import * as lemma from '../../../lib/index.js';
import type { FuzzTarget } from '../harness.js';
import { NONFINITE, allFinite, ensure, expectCall, maxRelDiff, sameArrays } from '../oracle.js';
import type { Token } from '../oracle.js';
import { applyOptionMutation, materialize, optionMutationArb, seedArb, applyTensorMutation, tensorMutationArb } from '../arbitraries.js';
import type { Dtype, Layout, OptSpec, OptionMutation, TensorMutation } from '../arbitraries.js';
import { genericTarget } from '../generic.js';

type T = { data: Float32Array | Float64Array; shape: number[] };

const POLY_OPTIONS: OptSpec = {
  degree: { int: [2, 12] },
  scale: { num: { min: 0, exclMin: true } },
  causal: 'bool',
  maxBeta: { num: { min: 0, exclMin: true } },
  chunk: { int: [8, 256] },
  device: 'device',
};

function kappa(x: number, g: number): number {
  let t = 1, s = 1;
  for (let i = 1; i <= g; i++) {
    t *= x / i;
    s += t;
  }
  return s;
}

function polyReference(q: T, k: T, v: T, scale: number, degree: number, causal: boolean): Float64Array {
  const [B, Hq, Nq, D] = q.shape;
  const [, Hkv, Nk] = k.shape;
  const group = Hq / Hkv;
  const out = new Float64Array(q.data.length);
  for (let b = 0; b < B; b++) for (let h = 0; h < Hq; h++) {
    const kh = Math.floor(h / group);
    for (let i = 0; i < Nq; i++) {
      const row = (b * Hq + h) * Nq + i;
      const last = causal ? Math.min(Nk - 1, i + Nk - Nq) : Nk - 1;
      let z = 0;
      const acc = new Float64Array(D);
      for (let j = 0; j <= last; j++) {
        let dot = 0;
        const ko = ((b * Hkv + kh) * Nk + j) * D;
        for (let x = 0; x < D; x++) dot += q.data[row * D + x] * k.data[ko + x];
        const w = kappa(scale * dot, degree);
        z += w;
        for (let x = 0; x < D; x++) acc[x] += w * v.data[ko + x];
      }
      for (let x = 0; x < D; x++) out[row * D + x] = z > 0 ? acc[x] / z : 0;
    }
  }
  return out;
}

function polyBuild(seed: number, dtype: Dtype, layout: Layout) {
  const r = seed % 97;
  const B = 1 + (r % 2), Hkv = 1 + ((r >> 1) % 2), group = 1 + ((r >> 2) % 2), Nq = 1 + (r % 5), Nk = 1 + ((r >> 3) % 5), D = 1 + (r % 4);
  const q = materialize({ dtype, shape: [B, Hkv * group, Nq, D], seed, layout, scale: 0.5 });
  const k = materialize({ dtype, shape: [B, Hkv, Nk, D], seed: seed + 1, layout, scale: 0.5 });
  const v = materialize({ dtype, shape: [B, Hkv, Nk, D], seed: seed + 2, layout, scale: 1 });
  const degree = 2 + 2 * (seed % 2);
  const causal = seed % 3 === 0;
  return { q, k, v, options: { degree, causal } as Record<string, unknown> };
}

const polyForward = genericTarget({
  family: 'polyAttention', name: 'forward',
  build: (seed, dtype, layout) => {
    const { q, k, v, options } = polyBuild(seed, dtype, layout);
    return {
      args: [q, k, v, options], tensorArgs: [0, 1, 2], optionsArg: 3, options,
      compare: (r) => [(r as { out: T }).out.data],
      check: (r) => {
        const res = r as lemma.polyAttention.PolyForwardResult;
        ensure(res.out.data.constructor === q.data.constructor, 'output dtype differs from the input dtype');
        ensure(sameArrays(res.out.shape, q.shape), 'wrong output shape');
        const ref = polyReference(q, k, v, 1 / Math.sqrt(q.shape[3]), options.degree as number, options.causal as boolean);
        const e = maxRelDiff(res.out.data, ref);
        ensure(e <= (dtype === 'f32' ? 1e-4 : 1e-10), `out differs from the fp64 Taylor reference by ${e}`);
      },
    };
  },
  call: (a) => lemma.polyAttention.forward(a[0] as never, a[1] as never, a[2] as never, a[3] as never),
  async: true, optSpec: POLY_OPTIONS, device: 'device', nonFinite: NONFINITE.polyAttention, dtypes: ['f32', 'f64'],
  skipOptionKeys: ['maxBeta'],
  cases: {
    oddDegree: (b) => ({ args: [b.args[0], b.args[1], b.args[2], { degree: 3 }], expect: ['RangeError'] }),
    toleranceWithoutAuto: (b) => ({ args: [b.args[0], b.args[1], b.args[2], { tolerance: 0.1 }], expect: ['RangeError'] }),
    hugeDegreeFeatures: (b) => ({ args: [{ data: new Float32Array(256), shape: [1, 1, 1, 256] }, { data: new Float32Array(256), shape: [1, 1, 1, 256] }, { data: new Float32Array(256), shape: [1, 1, 1, 256] }, { degree: 12 }], expect: ['ERR_RANGE'] }),
    betaAboveMax: (b) => ({ args: [b.args[0], b.args[1], b.args[2], { maxBeta: 1e-300, scale: 1e300 }], expect: ['ERR_RANGE'] }),
    rank3: (b) => ({ args: [{ data: (b.args[0] as T).data, shape: [(b.args[0] as T).data.length, 1, 1] }, b.args[1], b.args[2]], expect: ['ERR_SHAPE'] }),
  },
});

const polyError = genericTarget({
  family: 'polyAttention', name: 'error',
  build: (seed, dtype, layout) => {
    const { q, k, v, options } = polyBuild(seed, dtype, layout);
    const o = { ...options, seed: seed % 1000 };
    return {
      args: [q, k, v, o], tensorArgs: [0, 1, 2], optionsArg: 3, options: o,
      check: (r) => {
        const e = r as lemma.polyAttention.PolyErrorResult;
        for (const key of ['out', 'dq', 'dk', 'dv'] as const) ensure(Number.isFinite(e[key].relFrobenius) && e[key].relFrobenius >= 0, `${key}.relFrobenius not finite`);
        ensure(e.beta <= e.betaBound * (1 + 1e-9) + 1e-12, `measured beta ${e.beta} above the certified bound ${e.betaBound}`);
      },
    };
  },
  call: (a) => lemma.polyAttention.error(a[0] as never, a[1] as never, a[2] as never, a[3] as never),
  async: true, optSpec: { ...POLY_OPTIONS, seed: { int: [0, Number.MAX_SAFE_INTEGER] } }, device: 'device', nonFinite: NONFINITE.polyAttention,
  dtypes: ['f32', 'f64'], skipOptionKeys: ['maxBeta'], weight: 0.5,
});

// ---- backward with real, forged and foreign contexts ------------------------------------------

interface BwdScenario {
  seed: number;
  dtype: Dtype;
  mut: { k: 'valid' } | { k: 'dOut'; m: TensorMutation } | { k: 'ctx'; how: 'null' | 'empty' | 'paramsNq' | 'paramsD' | 'swapQ' | 'spread' | 'otherDtype' };
}

const bwdArb: fc.Arbitrary<BwdScenario> = fc.record({
  seed: seedArb,
  dtype: fc.constantFrom<Dtype>('f32', 'f64'),
  mut: fc.oneof(
    fc.constant({ k: 'valid' as const }),
    fc.record({ k: fc.constant('dOut' as const), m: tensorMutationArb(4) }),
    fc.record({ k: fc.constant('ctx' as const), how: fc.constantFrom<'null' | 'empty' | 'paramsNq' | 'paramsD' | 'swapQ' | 'spread' | 'otherDtype'>('null', 'empty', 'paramsNq', 'paramsD', 'swapQ', 'spread', 'otherDtype') }),
  ),
});

async function runBackward(s: BwdScenario): Promise<void> {
  const { q, k, v, options } = polyBuild(s.seed, s.dtype, 'plain');
  const fwd = await lemma.polyAttention.forward(q, k, v, options);
  let ctx: unknown = fwd.ctx;
  let dOut: unknown = materialize({ dtype: s.dtype, shape: q.shape, seed: s.seed + 5, layout: 'plain', scale: 1 });
  let expect: Token[] = ['ok'];
  if (s.mut.k === 'dOut') {
    const r = applyTensorMutation(dOut as T, s.mut.m);
    dOut = r.value;
    expect = r.expect;
  } else if (s.mut.k === 'ctx') {
    const c = fwd.ctx;
    switch (s.mut.how) {
      case 'null': ctx = null; expect = ['TypeError']; break;
      case 'empty': ctx = {}; expect = ['TypeError']; break;
      // A context not made by forward (here: a real one with its sizes edited): a foreign object.
      case 'paramsNq': ctx = { ...c, params: { ...c.params, Nq: c.params.Nq * 1000 + 7 } }; expect = ['TypeError']; break;
      case 'paramsD': ctx = { ...c, params: { ...c.params, D: c.params.D + 1 } }; expect = ['TypeError']; break;
      case 'swapQ': ctx = { ...c, q: { data: new Float32Array(1), shape: [1, 1, 1, 1] } }; expect = ['TypeError']; break;
      case 'spread': ctx = { ...c }; expect = ['TypeError', 'ok']; break;
      case 'otherDtype': dOut = { data: s.dtype === 'f32' ? new Float64Array(q.data.length) : new Float32Array(q.data.length), shape: q.shape }; expect = ['ERR_DTYPE']; break;
    }
  }
  await expectCall('polyAttention.backward', () => lemma.polyAttention.backward(ctx as never, dOut as never), {
    allow: expect, async: true,
    check: (r) => {
      const g = r as lemma.polyAttention.PolyBackwardResult;
      ensure(sameArrays(g.dq.shape, q.shape) && sameArrays(g.dk.shape, k.shape) && sameArrays(g.dv.shape, v.shape), 'wrong gradient shapes');
      ensure(g.dq.data.constructor === q.data.constructor, 'gradient dtype differs');
      if (s.mut.k === 'valid') ensure(allFinite(g.dq.data) && allFinite(g.dk.data) && allFinite(g.dv.data), 'non-finite gradients');
    },
  });
}

// ---- nn.attentionStack -------------------------------------------------------------------------

const STACK_OPTIONS: OptSpec = {
  layers: { int: [1, 64] }, heads: { int: [1, 256] }, dModel: { int: [1, 4096] }, mlp: { int: [1, 65536] },
  causal: 'bool', attention: { enum: ['exact', 'poly'] }, degree: { int: [2, 12] }, maxBeta: { num: { min: 0, exclMin: true } },
  dtype: { enum: ['float32', 'float64'] }, seed: { int: [0, 2 ** 32 - 1] },
};

interface StackScenario {
  base: { layers: number; heads: number; dModel: number; mlp: number; attention: 'exact' | 'poly'; dtype: 'float32' | 'float64'; seed: number; causal: boolean };
  B: number;
  N: number;
  mut:
    | { k: 'valid' }
    | { k: 'option'; m: OptionMutation }
    | { k: 'x'; m: TensorMutation }
    | { k: 'xShape' | 'xDtype' | 'foreignTape' | 'editedTape' | 'tapeNull' | 'disposeBefore' | 'disposeDuring' | 'disposeDuringBackward' | 'concurrent' | 'notMultiple' };
}

const stackArb: fc.Arbitrary<StackScenario> = fc.record({
  base: fc.record({
    layers: fc.integer({ min: 1, max: 2 }), heads: fc.constantFrom(1, 2), dModel: fc.constantFrom(2, 4), mlp: fc.integer({ min: 1, max: 6 }),
    attention: fc.constantFrom<'exact' | 'poly'>('exact', 'poly'), dtype: fc.constantFrom<'float32' | 'float64'>('float32', 'float64'),
    seed: fc.integer({ min: 0, max: 1000 }), causal: fc.boolean(),
  }),
  B: fc.integer({ min: 1, max: 2 }),
  N: fc.integer({ min: 1, max: 4 }),
  mut: fc.oneof(
    { weight: 3, arbitrary: fc.constant({ k: 'valid' as const }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('option' as const), m: optionMutationArb(STACK_OPTIONS) }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('x' as const), m: tensorMutationArb(3) }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constantFrom('xShape', 'xDtype', 'foreignTape', 'editedTape', 'tapeNull', 'disposeBefore', 'disposeDuring', 'disposeDuringBackward', 'concurrent', 'notMultiple' as const) }) },
  ),
}) as fc.Arbitrary<StackScenario>;

async function runStack(s: StackScenario): Promise<void> {
  const m = s.mut;
  if (m.k === 'option' || m.k === 'notMultiple') {
    const r = m.k === 'option' ? applyOptionMutation(s.base, m.m) : { options: { ...s.base, heads: 3, dModel: 4 }, expect: ['RangeError'] as Token[] };
    // Out-of-range sizes are refused before anything is allocated.
    await expectCall('nn.attentionStack', () => lemma.nn.attentionStack<lemma.FloatArray>(r.options as never), { allow: r.expect });
    return;
  }
  const stack = lemma.nn.attentionStack<lemma.FloatArray>(s.base);
  const dt: Dtype = s.base.dtype === 'float64' ? 'f64' : 'f32';
  const x = materialize({ dtype: dt, shape: [s.B, s.N, s.base.dModel], seed: s.base.seed + 3, layout: 'plain', scale: 0.5 });
  const dy = materialize({ dtype: dt, shape: [s.B, s.N, s.base.dModel], seed: s.base.seed + 4, layout: 'plain', scale: 0.5 });
  const Ctor = dt === 'f64' ? Float64Array : Float32Array;
  const checkY = (r: unknown) => {
    const f = r as lemma.nn.StackForwardResult;
    ensure(f.y.data instanceof Ctor && sameArrays(f.y.shape, x.shape), 'wrong y dtype or shape');
    ensure(allFinite(f.y.data), 'non-finite y for finite x');
  };
  try {
    switch (m.k) {
      case 'valid': {
        const f = await expectCall('nn.forward', () => stack.forward(x), { allow: ['ok'], async: true, check: checkY }) as lemma.nn.StackForwardResult;
        const again = await stack.forward({ data: x.data.slice(), shape: x.shape });
        ensure(sameArrays(f.y.data, again.y.data), 'forward is not deterministic');
        await expectCall('nn.backward', () => stack.backward(f.tape, dy), {
          allow: ['ok'], async: true,
          check: (r) => {
            const g = r as lemma.nn.StackGradients;
            ensure(g.dx.data instanceof Ctor && sameArrays(g.dx.shape, x.shape) && allFinite(g.dx.data), 'bad dx');
            ensure(g.layers.length === s.base.layers, 'wrong number of layer gradients');
          },
        });
        return;
      }
      case 'x': {
        const r = applyTensorMutation(x, m.m);
        await expectCall('nn.forward', () => stack.forward(r.value as never), { allow: r.expect, async: true, check: checkY });
        return;
      }
      case 'xShape':
        await expectCall('nn.forward', () => stack.forward({ data: x.data, shape: [s.B * s.N, s.base.dModel] } as never), { allow: ['ERR_SHAPE'], async: true });
        return;
      case 'xDtype':
        await expectCall('nn.forward', () => stack.forward({ data: dt === 'f32' ? Float64Array.from(x.data) : Float32Array.from(x.data), shape: x.shape } as never), { allow: ['ERR_DTYPE'], async: true });
        return;
      case 'tapeNull':
        await expectCall('nn.backward', () => stack.backward(null as never, dy), { allow: ['TypeError'], async: true });
        return;
      case 'foreignTape': {
        // A tape of another stack with the same layer count but other sizes.
        const other = lemma.nn.attentionStack<lemma.FloatArray>({ ...s.base, dModel: s.base.dModel * 2, mlp: s.base.mlp + 3 });
        const xo = materialize({ dtype: dt, shape: [s.B, s.N, s.base.dModel * 2], seed: 9, layout: 'plain', scale: 0.5 });
        const f = await other.forward(xo);
        await expectCall('nn.backward', () => stack.backward(f.tape, dy), { allow: ['TypeError'], async: true });
        other.dispose();
        return;
      }
      case 'editedTape': {
        const f = await stack.forward(x);
        const forged = { layers: f.tape.layers.map((l) => ({ ...l, a1: new Float32Array(1) })), shape: f.tape.shape };
        await expectCall('nn.backward', () => stack.backward(forged as never, dy), { allow: ['TypeError'], async: true });
        return;
      }
      case 'disposeBefore':
        stack.dispose();
        stack.dispose();
        await expectCall('nn.forward', () => stack.forward(x), { allow: ['ERR_DISPOSED'], async: true });
        return;
      case 'disposeDuring': {
        const ref = await lemma.nn.attentionStack<lemma.FloatArray>(s.base).forward(x);
        const p = expectCall('nn.forward', () => stack.forward(x), {
          allow: ['ok', 'ERR_DISPOSED'], async: true,
          check: (r) => ensure(sameArrays((r as lemma.nn.StackForwardResult).y.data, ref.y.data), 'dispose during forward changed the result (silent garbage)'),
        });
        stack.dispose();
        await p;
        return;
      }
      case 'disposeDuringBackward': {
        const f = await stack.forward(x);
        const ref = await (async () => {
          const st = lemma.nn.attentionStack<lemma.FloatArray>(s.base);
          return st.backward((await st.forward(x)).tape, dy);
        })();
        const p = expectCall('nn.backward', () => stack.backward(f.tape, dy), {
          allow: ['ok', 'ERR_DISPOSED'], async: true,
          check: (r) => ensure(sameArrays((r as lemma.nn.StackGradients).dx.data, ref.dx.data), 'dispose during backward changed the result'),
        });
        stack.dispose();
        await p;
        return;
      }
      case 'concurrent': {
        const ref = await stack.forward(x);
        const rs = await Promise.all([stack.forward(x), stack.forward(x), stack.forward(x)]);
        for (const r of rs) ensure(sameArrays(r.y.data, ref.y.data), 'concurrent forwards disagree');
        return;
      }
    }
  } finally {
    stack.dispose();
  }
}

export const targets: FuzzTarget[] = [
  polyForward,
  polyError,
  { family: 'polyAttention', name: 'backward', arb: bwdArb, run: runBackward },
  { family: 'nn', name: 'attentionStack', arb: stackArb, run: runStack },
];
