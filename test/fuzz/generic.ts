/**
 * A generic target for a function of tensors and an options object: valid calls (checked by the
 * family's oracle, and views / shared buffers against plain copies), one tensor argument broken
 * by a TensorMutation, mixed dtypes, one option broken by an OptionMutation, a non-finite value
 * in the data, and the family's own mistakes (`cases`).
 */
import fc from 'fast-check';
import type { FuzzTarget } from './harness.js';
import { expectCall, sameArrays } from './oracle.js';
import type { Token } from './oracle.js';
import {
  applyOptionMutation, applyTensorMutation, dtypeArb, layoutArb, nonFiniteArb, optionMutationArb, seedArb,
  tensorMutationArb,
} from './arbitraries.js';
import type { Dtype, Layout, OptSpec, OptionMutation, TensorMutation } from './arbitraries.js';

type T = { data: Float32Array | Float64Array; shape: number[] };

export interface Built {
  /** Positional arguments; tensors among them at `tensorArgs`. */
  args: unknown[];
  /** Indices of tensor arguments (mutations pick one). */
  tensorArgs: number[];
  /** Index of the options argument (it is replaced by mutated options). */
  optionsArg: number;
  options: Record<string, unknown>;
  /** Checks a valid call's result. */
  check?: (r: unknown) => void | Promise<void>;
  /** Result arrays to compare between layouts (default: every typed array found at depth ≤ 2). */
  compare?: (r: unknown) => ArrayLike<number>[];
}

export interface GenericSpec {
  family: string;
  name: string;
  /** Builds valid arguments from a seed (tiny sizes). */
  build: (seed: number, dtype: Dtype, layout: Layout) => Built;
  call: (args: unknown[]) => unknown;
  async: boolean;
  optSpec: OptSpec;
  /** device key in options ('device'), or null when there is none. */
  device: string | null;
  /** Outcome of one non-finite value in tensor data. */
  nonFinite: 'propagate' | Token;
  /** When the Float64Array path differs (reported): its outcome. */
  nonFiniteF64?: 'propagate' | Token;
  /** dtypes the family accepts ('f64' refused with ERR_DTYPE when only f32 is listed). */
  dtypes: Dtype[];
  /** Whether mixing Float32Array and Float64Array is ERR_DTYPE (false: each is converted). */
  mixedIsError?: boolean;
  /** Family-specific mistakes: name -> (valid build) -> args and expected outcome. */
  cases?: Record<string, (b: Built) => { args: unknown[]; expect: Token[] }>;
  weight?: number;
  /** Skip the option mutations for these keys (interdependent options tested in `cases`). */
  skipOptionKeys?: string[];
}

type Mut =
  | { k: 'valid' }
  | { k: 'tensor'; arg: number; m: TensorMutation }
  | { k: 'mixedDtype'; arg: number }
  | { k: 'option'; m: OptionMutation }
  | { k: 'nonFinite'; arg: number; at: number; value: number }
  | { k: 'case'; name: string };

function typedArrays(r: unknown, depth = 0, out: ArrayLike<number>[] = []): ArrayLike<number>[] {
  if (r instanceof Float32Array || r instanceof Float64Array || r instanceof Int32Array || r instanceof Uint8Array) out.push(r);
  else if (r && typeof r === 'object' && depth < 3 && !ArrayBuffer.isView(r)) for (const v of Object.values(r)) typedArrays(v, depth + 1, out);
  return out;
}

function plainCopy(v: unknown): unknown {
  if (v && typeof v === 'object' && 'data' in v && 'shape' in v) {
    const t = v as T;
    return { data: t.data.slice(), shape: t.shape.slice() };
  }
  return v;
}

export function genericTarget(g: GenericSpec): FuzzTarget {
  const optSpec: OptSpec = Object.fromEntries(Object.entries(g.optSpec).filter(([k]) => !(g.skipOptionKeys ?? []).includes(k)));
  const muts: Array<{ weight: number; arbitrary: fc.Arbitrary<Mut> }> = [
    { weight: 4, arbitrary: fc.constant({ k: 'valid' as const }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('tensor' as const), arg: fc.nat(), m: tensorMutationArb(4) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('mixedDtype' as const), arg: fc.nat() }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('option' as const), m: optionMutationArb(optSpec, { cuda: g.device !== null }) }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('nonFinite' as const), arg: fc.nat(), at: fc.nat(), value: nonFiniteArb }) },
  ];
  const caseNames = Object.keys(g.cases ?? {});
  if (caseNames.length) muts.push({ weight: 3, arbitrary: fc.record({ k: fc.constant('case' as const), name: fc.constantFrom(...caseNames) }) });
  const arb = fc.record({
    seed: seedArb,
    dtype: fc.constantFrom(...g.dtypes, ...(g.dtypes.length === 1 ? (['f64'] as Dtype[]) : [])),
    layout: layoutArb,
    mut: fc.oneof(...muts),
  });
  const run = async (s: { seed: number; dtype: Dtype; layout: Layout; mut: Mut }) => {
    const b = g.build(s.seed, s.dtype, s.layout);
    const args = b.args.slice();
    let expect: Token[] = g.dtypes.includes(s.dtype) ? ['ok'] : ['ERR_DTYPE'];
    const m = s.mut;
    if (m.k === 'tensor' && b.tensorArgs.length) {
      const i = b.tensorArgs[m.arg % b.tensorArgs.length];
      const r = applyTensorMutation(args[i] as T, m.m);
      args[i] = r.value;
      if (!(r.expect.length === 1 && r.expect[0] === 'ok')) expect = r.expect;
    } else if (m.k === 'mixedDtype' && b.tensorArgs.length > 1) {
      const i = b.tensorArgs[1 + (m.arg % (b.tensorArgs.length - 1))];
      const t = args[i] as T;
      args[i] = { data: t.data instanceof Float64Array ? Float32Array.from(t.data) : Float64Array.from(t.data), shape: t.shape };
      if (g.mixedIsError !== false) expect = ['ERR_DTYPE'];
    } else if (m.k === 'option') {
      const r = applyOptionMutation(b.options, m.m, g.device ?? 'device');
      args[b.optionsArg] = r.options;
      expect = r.expect;
    } else if (m.k === 'nonFinite' && b.tensorArgs.length) {
      const t = args[b.tensorArgs[m.arg % b.tensorArgs.length]] as T;
      if (t.data.length) t.data[m.at % t.data.length] = m.value;
      const nf = s.dtype === 'f64' && g.nonFiniteF64 ? g.nonFiniteF64 : g.nonFinite;
      if (expect[0] === 'ok') expect = nf === 'propagate' ? ['ok'] : [nf];
    } else if (m.k === 'case') {
      const r = g.cases![m.name](b);
      args.splice(0, args.length, ...r.args);
      expect = r.expect;
    }
    // An fp32-only family given fp64 data may report either mistake first.
    if (!g.dtypes.includes(s.dtype) && !expect.includes('ERR_DTYPE')) expect = [...expect.filter((e) => e !== 'ok'), 'ERR_DTYPE'];
    const valid = m.k === 'valid' && expect[0] === 'ok';
    await expectCall(`${g.family}.${g.name}`, () => g.call(args), {
      allow: expect,
      async: g.async,
      check: async (r) => {
        if (!valid) return;
        if (b.check) await b.check(r);
        if (s.layout !== 'plain') {
          const again = await g.call(b.args.map(plainCopy));
          const a1 = (b.compare ?? typedArrays)(r);
          const a2 = (b.compare ?? typedArrays)(again);
          if (a1.length !== a2.length || a1.some((x, i) => !sameArrays(x, a2[i]))) {
            throw new Error(`${s.layout} layout gives a different result than a plain copy`);
          }
        }
      },
    });
  };
  return { family: g.family, name: g.name, arb, run: run as FuzzTarget['run'], weight: g.weight };
}
