/**
 * Host tensors: `{ data, shape }`, row-major and contiguous, data a Float32Array (fp32 path) or
 * Float64Array (fp64 oracle path). lemma never modifies an input; outputs are new arrays.
 */
import { LemmaError } from './errors.js';
import { expected, is } from './validation/index.js';
import type { FloatArray } from './binding.js';

export type { FloatArray } from './binding.js';

export interface Tensor<A extends FloatArray = FloatArray> {
  data: A;
  shape: number[];
}

/** The largest element count lemma accepts for one tensor (the typed-array limit). */
export const MAX_ELEMENTS = 2 ** 32 - 1;

export function isFloatArray(v: unknown): v is FloatArray {
  return v instanceof Float32Array || v instanceof Float64Array;
}

/** Product of a shape, or throws: TypeError / RangeError for bad entries, ERR_RANGE when absurd. */
export function shapeSize(shape: unknown, name: string): number {
  if (!Array.isArray(shape)) throw new TypeError(expected('an array of dimension sizes', `${name}.shape`, shape));
  let size = 1;
  shape.forEach((s, i) => {
    if (typeof s !== 'number') throw new TypeError(expected('an integer dimension size', `${name}.shape[${i}]`, s));
    if (!Number.isInteger(s) || s < 0) throw new RangeError(expected('a non-negative integer dimension size', `${name}.shape[${i}]`, s));
    size *= s;
  });
  if (size > MAX_ELEMENTS) {
    throw new LemmaError('ERR_RANGE', expected(`a shape of at most ${MAX_ELEMENTS} elements`, `${name}.shape`, shape));
  }
  return size;
}

function isDetached(a: FloatArray): boolean {
  const buf = a.buffer as ArrayBuffer & { detached?: boolean };
  if (typeof buf.detached === 'boolean') return buf.detached;
  return a.byteLength === 0 && buf.byteLength === 0 && a.byteOffset === 0 && a.length === 0;
}

/**
 * Checks a tensor-like value and returns it typed. Throws TypeError for a wrong type,
 * LemmaError ERR_SHAPE when data and shape disagree (short or detached buffer), ERR_RANGE when
 * the shape is absurd.
 */
export function checkTensor(value: unknown, name: string): Tensor {
  if (!is.object(value)) throw new TypeError(expected('a tensor { data, shape }', name, value));
  const { data, shape } = value as { data?: unknown; shape?: unknown };
  if (!isFloatArray(data)) throw new TypeError(expected('a Float32Array or Float64Array', `${name}.data`, data));
  const size = shapeSize(shape, name);
  if (isDetached(data) && size > 0) {
    throw new LemmaError('ERR_SHAPE', expected(`a live buffer of ${size} elements`, `${name}.data`, 'a detached buffer'));
  }
  if (data.length !== size) {
    throw new LemmaError('ERR_SHAPE', expected(`${size} elements (the product of shape [${(shape as number[]).join(', ')}])`, `${name}.data`, data));
  }
  return { data, shape: (shape as number[]).slice() };
}

/**
 * Builds a tensor, checking that `data` matches `shape`.
 * @param data Float32Array or Float64Array, row-major.
 * @param shape dimension sizes; their product must equal data.length.
 * @returns `{ data, shape }` (data is not copied).
 * @throws TypeError for wrong types; LemmaError ERR_SHAPE for a length mismatch; ERR_RANGE for an absurd shape.
 * @example
 * const q = lemma.tensor(new Float32Array(1 * 8 * 128 * 64), [1, 8, 128, 64]);
 */
export function tensor<A extends FloatArray>(data: A, shape: number[]): Tensor<A> {
  return checkTensor({ data, shape }, 'tensor') as Tensor<A>;
}

/** An independent copy of data when it lives in a SharedArrayBuffer (another thread could write it mid-call). */
export function privateData<A extends FloatArray>(a: A): A {
  return typeof SharedArrayBuffer !== 'undefined' && a.buffer instanceof SharedArrayBuffer ? (a.slice() as A) : a;
}

export function zerosLike(kind: FloatArray, n: number): FloatArray {
  return kind instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}
