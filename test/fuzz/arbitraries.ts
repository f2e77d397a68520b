/**
 * Arbitraries shared by the fuzz targets. Everything fast-check generates is a plain descriptor
 * (dtype, shape, seed, layout, mutation), so a counterexample prints readably and replays exactly;
 * `materialize` and `applyTensorMutation` turn descriptors into the real arguments.
 */
import fc from 'fast-check';
import type { Token } from './oracle.js';

export type Dtype = 'f32' | 'f64';
/** plain: own ArrayBuffer; offset: a subarray view at a non-zero byte offset; shared: SharedArrayBuffer. */
export type Layout = 'plain' | 'offset' | 'shared';

export interface TensorSpec {
  dtype: Dtype;
  shape: number[];
  seed: number;
  layout: Layout;
  /** Values are uniform in [−scale, scale]. */
  scale: number;
}

/** mulberry32: a tiny seeded stream in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export function makeArray(dtype: Dtype, n: number, layout: Layout): Float32Array | Float64Array {
  const Ctor = dtype === 'f64' ? Float64Array : Float32Array;
  if (layout === 'shared') return new Ctor(new SharedArrayBuffer(Math.max(1, n) * Ctor.BYTES_PER_ELEMENT) as unknown as ArrayBuffer, 0, n);
  if (layout === 'offset') {
    const base = new Ctor(n + 5);
    base.fill(12345);  // poison outside the view: reading it would show
    return base.subarray(3, 3 + n);
  }
  return new Ctor(n);
}

export function materialize(s: TensorSpec): { data: Float32Array | Float64Array; shape: number[] } {
  const data = makeArray(s.dtype, size(s.shape), s.layout);
  const r = rng(s.seed);
  for (let i = 0; i < data.length; i++) data[i] = (2 * r() - 1) * s.scale;
  return { data, shape: s.shape.slice() };
}

/** The same values in a plain Float64Array (for the oracles). */
export function wide(t: { data: ArrayLike<number> }): Float64Array {
  return Float64Array.from(t.data);
}

export const layoutArb: fc.Arbitrary<Layout> = fc.constantFrom<Layout>('plain', 'plain', 'offset', 'shared');
export const dtypeArb: fc.Arbitrary<Dtype> = fc.constantFrom<Dtype>('f32', 'f64');
export const seedArb = fc.integer({ min: 0, max: 2 ** 31 - 1 });

export function detach(a: ArrayBufferView): void {
  const buf = a.buffer as ArrayBuffer;
  structuredClone(buf, { transfer: [buf] });
}

// ----------------------------------------------------------------------------- tensor mutations

/** One thing wrong with one tensor argument (checkTensor's rules, shared by every family). */
export type TensorMutation =
  | { k: 'notTensor'; value: unknown }
  | { k: 'dataType'; ctor: string }
  | { k: 'shapeNotArray'; value: unknown }
  | { k: 'shapeEntryType'; index: number; value: unknown }
  | { k: 'shapeEntryRange'; index: number; value: number }
  | { k: 'lengthMismatch'; delta: number }
  | { k: 'absurd' }
  | { k: 'detached' };

const notTensorValues: unknown[] = [null, undefined, 5, 'tensor', true, [], [1, 2, 3], { shape: [1] }, 1n];
const dataCtors = ['Int32Array', 'Uint8Array', 'Uint8ClampedArray', 'BigInt64Array', 'DataView', 'Array', 'ArrayBuffer', 'null'];

export function tensorMutationArb(rank: number): fc.Arbitrary<TensorMutation> {
  const idx = fc.integer({ min: 0, max: Math.max(0, rank - 1) });
  return fc.oneof(
    fc.record({ k: fc.constant('notTensor' as const), value: fc.constantFrom(...notTensorValues) }),
    fc.record({ k: fc.constant('dataType' as const), ctor: fc.constantFrom(...dataCtors) }),
    fc.record({ k: fc.constant('shapeNotArray' as const), value: fc.constantFrom<unknown>('1,2', 4, null, undefined, { 0: 1, length: 1 }) }),
    fc.record({ k: fc.constant('shapeEntryType' as const), index: idx, value: fc.constantFrom<unknown>('2', null, true, [2], 2n) }),
    fc.record({ k: fc.constant('shapeEntryRange' as const), index: idx, value: fc.constantFrom(-1, 1.5, NaN, Infinity, -Infinity, -(2 ** 31)) }),
    fc.record({ k: fc.constant('lengthMismatch' as const), delta: fc.constantFrom(-1, 1, 7) }),
    fc.constant({ k: 'absurd' as const }),
    fc.constant({ k: 'detached' as const }),
  );
}

function wrongData(ctor: string, n: number): unknown {
  switch (ctor) {
    case 'Int32Array': return new Int32Array(n);
    case 'Uint8Array': return new Uint8Array(n);
    case 'Uint8ClampedArray': return new Uint8ClampedArray(n);
    case 'BigInt64Array': return new BigInt64Array(n);
    case 'DataView': return new DataView(new ArrayBuffer(n * 4));
    case 'Array': return Array.from({ length: n }, () => 0.5);
    case 'ArrayBuffer': return new ArrayBuffer(n * 4);
    default: return null;
  }
}

/**
 * Breaks a valid tensor as the mutation says; returns the broken value and the outcome the
 * taxonomy demands. (lengthMismatch / detached on a tensor of 0 elements degrade gracefully.)
 */
export function applyTensorMutation(t: { data: Float32Array | Float64Array; shape: number[] }, m: TensorMutation): { value: unknown; expect: Token[] } {
  switch (m.k) {
    case 'notTensor': return { value: m.value, expect: ['TypeError'] };
    case 'dataType': return { value: { data: wrongData(m.ctor, t.data.length), shape: t.shape }, expect: ['TypeError'] };
    case 'shapeNotArray': return { value: { data: t.data, shape: m.value }, expect: ['TypeError'] };
    case 'shapeEntryType': {
      const shape: unknown[] = t.shape.slice();
      shape[Math.min(m.index, shape.length - 1)] = m.value;
      return { value: { data: t.data, shape }, expect: ['TypeError'] };
    }
    case 'shapeEntryRange': {
      const shape = t.shape.slice();
      shape[Math.min(m.index, shape.length - 1)] = m.value;
      return { value: { data: t.data, shape }, expect: ['RangeError'] };
    }
    case 'lengthMismatch': {
      const n = Math.max(0, t.data.length + m.delta);
      const data = t.data instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
      data.set(t.data.subarray(0, Math.min(n, t.data.length)));
      return { value: { data, shape: t.shape }, expect: n === t.data.length ? ['ok'] : ['ERR_SHAPE'] };
    }
    case 'absurd': {
      const shape = t.shape.slice();
      shape[0] = 2 ** 32;
      if (shape.some((s) => s === 0)) return { value: { data: t.data, shape }, expect: ['ERR_SHAPE'] };
      return { value: { data: t.data, shape }, expect: ['ERR_RANGE', 'ERR_OOM'] };
    }
    case 'detached': {
      const copy = t.data.slice();
      detach(copy);
      return { value: { data: copy, shape: t.shape }, expect: t.data.length > 0 ? ['ERR_SHAPE'] : ['ok'] };
    }
  }
}

// ---------------------------------------------------------------------------- option mutations

export type OptKind =
  | 'bool'
  | { int: [number, number] }
  | { num: { min?: number; max?: number; exclMin?: boolean; allowInf?: boolean } }
  | { enum: readonly string[] }
  | 'device'
  | 'signal'
  | 'fn'
  | 'string';

export type OptSpec = Record<string, OptKind>;

export type OptionMutation =
  | { k: 'unknownKey'; key: string }
  | { k: 'notObject'; value: unknown }
  | { k: 'wrongType'; key: string; value: unknown }
  | { k: 'badValue'; key: string; value: unknown }
  | { k: 'cuda' };

function wrongTypeValues(kind: OptKind): unknown[] {
  if (kind === 'bool') return [1, 'true', {}, 0];
  if (kind === 'device' || (typeof kind === 'object' && 'enum' in kind)) return [1, true, {}, ['cpu']];
  if (kind === 'signal') return [{}, 'signal', 1, { aborted: false }];
  if (kind === 'fn') return [1, 'fn', {}];
  if (kind === 'string') return [1, {}, true];
  return ['1', true, {}, [1], 1n];
}

function badValues(kind: OptKind): unknown[] {
  if (kind === 'device') return ['gpu', 'CPU', ''];
  if (typeof kind !== 'object') return [];
  if ('enum' in kind) return ['bogus', '', kind.enum[0].toUpperCase() === kind.enum[0] ? `${kind.enum[0]}x` : kind.enum[0].toUpperCase()];
  if ('int' in kind) {
    const [lo, hi] = kind.int;
    const out: unknown[] = [NaN, Infinity, -Infinity, lo + 0.5];
    if (Number.isFinite(lo)) out.push(lo - 1);
    if (hi < Number.MAX_SAFE_INTEGER) out.push(hi + 1);
    return out;
  }
  const { min, max, exclMin, allowInf } = kind.num;
  const out: unknown[] = [NaN];
  if (!allowInf) out.push(Infinity, -Infinity);
  if (min !== undefined) out.push(exclMin ? min : min - 1, -Infinity);
  if (max !== undefined) out.push(max + 1);
  return out.filter((v) => !(allowInf && v === Infinity));
}

export function optionMutationArb(spec: OptSpec, opts: { cuda?: boolean } = {}): fc.Arbitrary<OptionMutation> {
  const keys = Object.keys(spec);
  const arbs: fc.Arbitrary<OptionMutation>[] = [
    fc.record({
      k: fc.constant('unknownKey' as const),
      key: fc.oneof(
        fc.constantFrom('foo', 'causl', 'neighbor', 'Device', 'seeds', 'options'),
        keys.length ? fc.constantFrom(...keys).map((key) => `${key}x`) : fc.constant('x'),
        keys.length ? fc.constantFrom(...keys).map((key) => key.toUpperCase() === key ? key.toLowerCase() + '_' : key.toUpperCase()) : fc.constant('y'),
      ),
    }),
    fc.record({ k: fc.constant('notObject' as const), value: fc.constantFrom<unknown>(5, 'options', true, [], null, 1n) }),
  ];
  const typed = keys.map((key) => fc.record({ k: fc.constant('wrongType' as const), key: fc.constant(key), value: fc.constantFrom(...wrongTypeValues(spec[key])) }));
  const ranged = keys.filter((key) => badValues(spec[key]).length > 0)
    .map((key) => fc.record({ k: fc.constant('badValue' as const), key: fc.constant(key), value: fc.constantFrom(...badValues(spec[key])) }));
  if (typed.length) arbs.push(fc.oneof(...typed));
  if (ranged.length) arbs.push(fc.oneof(...ranged));
  if (opts.cuda) arbs.push(fc.constant({ k: 'cuda' as const }));
  return fc.oneof(...arbs);
}

/** The options object a mutation makes from valid base options, and the outcome it demands. */
export function applyOptionMutation(base: Record<string, unknown>, m: OptionMutation, deviceKey = 'device'): { options: unknown; expect: Token[] } {
  switch (m.k) {
    case 'unknownKey': return { options: { ...base, [m.key]: base[m.key.replace(/x$/, '')] ?? 1 }, expect: ['TypeError'] };
    case 'notObject': return { options: m.value, expect: ['TypeError'] };
    case 'wrongType': return { options: { ...base, [m.key]: m.value }, expect: ['TypeError'] };
    case 'badValue': return { options: { ...base, [m.key]: m.value }, expect: ['RangeError'] };
    case 'cuda': return { options: { ...base, [deviceKey]: 'cuda' }, expect: ['ERR_CUDA_UNAVAILABLE'] };
  }
}

/** Non-finite values to plant in data. */
export const nonFiniteArb = fc.constantFrom(NaN, Infinity, -Infinity);
