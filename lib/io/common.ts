/**
 * What the three file formats of lemma.io share: the tensor type they read and write (four dtypes,
 * row-major, little-endian on disk), the input check for tensors to write, the byte copies in and
 * out of aligned typed arrays, where the bytes come from (a path or a buffer), and the one form of
 * a malformed-file message.
 */
import fs from 'node:fs';
import os from 'node:os';
import { LemmaError } from '../errors.js';
import { MAX_ELEMENTS, shapeSize } from '../tensor.js';
import { expected, is } from '../validation/index.js';

/** The element types lemma.io reads and writes. */
export type IoDtype = 'float32' | 'float64' | 'int32' | 'bool';
/** The typed array of each dtype (bool: a Uint8Array of 0 and 1). */
export type IoData = Float32Array | Float64Array | Int32Array | Uint8Array;

/** A tensor read from (or to write to) a file: row-major `data`, its `shape` and its `dtype`. */
export interface IoTensor<A extends IoData = IoData> {
  data: A;
  shape: number[];
  dtype: IoDtype;
}

/** What the writers accept: any `{ data, shape }` (lemma.tensor's included); `dtype`, when given, must match `data`. */
export interface IoTensorInput {
  data: IoData;
  shape: number[];
  dtype?: IoDtype;
}

/** Where a reader takes its bytes from: a file path, or the file's bytes. */
export type IoSource = string | Uint8Array | ArrayBuffer;

export const ITEM_SIZE: Record<IoDtype, number> = { float32: 4, float64: 8, int32: 4, bool: 1 };
const DTYPES = Object.keys(ITEM_SIZE) as IoDtype[];
const LITTLE_ENDIAN_HOST = os.endianness() === 'LE';

/** The dtype a typed array stands for (Uint8Array: bool), or undefined. */
export function dtypeOfData(data: unknown): IoDtype | undefined {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint8Array) return 'bool';
  return undefined;
}

/**
 * Checks a tensor to write. TypeError for wrong types; RangeError for a bool tensor holding a value
 * other than 0 or 1; LemmaError ERR_SHAPE when data and shape disagree, ERR_DTYPE when an explicit
 * `dtype` contradicts the data's array type.
 */
export function checkIoTensor(value: unknown, name: string): IoTensor {
  if (!is.object(value)) throw new TypeError(expected('a tensor { data, shape }', name, value));
  const { data, shape, dtype } = value as { data?: unknown; shape?: unknown; dtype?: unknown };
  const kind = dtypeOfData(data);
  if (kind === undefined) {
    throw new TypeError(expected('a Float32Array, Float64Array, Int32Array or Uint8Array (bool)', `${name}.data`, data));
  }
  if (dtype !== undefined) {
    if (typeof dtype !== 'string') throw new TypeError(expected(`one of ${DTYPES.map((d) => `'${d}'`).join(', ')}`, `${name}.dtype`, dtype));
    if (!(DTYPES as string[]).includes(dtype)) throw new RangeError(expected(`one of ${DTYPES.map((d) => `'${d}'`).join(', ')}`, `${name}.dtype`, dtype));
    if (dtype !== kind) throw new LemmaError('ERR_DTYPE', expected(`data of dtype '${dtype}'`, `${name}.data`, data));
  }
  const size = shapeSize(shape, name);
  const a = data as IoData;
  if (a.length !== size) {
    throw new LemmaError('ERR_SHAPE', expected(`${size} elements (the product of shape [${(shape as number[]).join(', ')}])`, `${name}.data`, a));
  }
  if (kind === 'bool') {
    const bad = (a as Uint8Array).findIndex((v) => v > 1);
    if (bad >= 0) {
      throw new RangeError(`Expected only 0 and 1 in ${name}.data (a Uint8Array is written as bool) but found another value at index ${bad}; ` +
        'write other integers as an Int32Array');
    }
  }
  return { data: a, shape: (shape as number[]).slice(), dtype: kind };
}

/** A plain record of tensors (name → tensor), checked; keys in their own order. */
export function checkTensorRecord(value: unknown, name: string): [string, IoTensor][] {
  if (!is.object(value) || ArrayBuffer.isView(value)) throw new TypeError(expected('an object of named tensors { name: { data, shape } }', name, value));
  return Object.keys(value).map((key) => [key, checkIoTensor(value[key], `${name}[${JSON.stringify(key)}]`)]);
}

/** The little-endian bytes of a tensor's data (a view when the host is little-endian). */
export function dataBytes(t: IoTensor): Uint8Array {
  const view = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return LITTLE_ENDIAN_HOST ? view : swapped(view, ITEM_SIZE[t.dtype]);
}

function swapped(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += size) for (let j = 0; j < size; j++) out[i + j] = bytes[i + size - 1 - j];
  return out;
}

/**
 * Copies `count` little-endian elements at `bytes[offset..]` into a new, aligned typed array (the
 * offset inside a file need not be aligned, and a Node Buffer is a view into a shared pool). Bool
 * bytes other than 0 become 1, as NumPy reads them as True.
 */
export function copyData(bytes: Uint8Array, offset: number, dtype: IoDtype, count: number): IoData {
  const size = ITEM_SIZE[dtype];
  const raw = new ArrayBuffer(count * size);
  const u8 = new Uint8Array(raw);
  u8.set(bytes.subarray(offset, offset + count * size));
  if (!LITTLE_ENDIAN_HOST && size > 1) u8.set(swapped(u8, size));
  switch (dtype) {
    case 'float32': return new Float32Array(raw);
    case 'float64': return new Float64Array(raw);
    case 'int32': return new Int32Array(raw);
    case 'bool':
      for (let i = 0; i < u8.length; i++) if (u8[i] > 1) u8[i] = 1;
      return u8;
  }
}

/** Product of a shape read from a file, refusing sizes no typed array can hold (ERR_RANGE). */
export function elementCount(shape: number[], where: string): number {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count > MAX_ELEMENTS) {
    throw new LemmaError('ERR_RANGE', `Expected a shape of at most ${MAX_ELEMENTS} elements for ${where} but found [${shape.join(', ')}]`);
  }
  return count;
}

/** A malformed file: "Expected <what> for <where> but found <found>". */
export function formatError(what: string, where: string, found: string): LemmaError {
  return new LemmaError('ERR_FORMAT', `Expected ${what} for ${where} but found ${found}`);
}

function checkSource(value: unknown, name: string): string | Uint8Array {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new TypeError(expected('a file path (string) or the file\'s bytes (Uint8Array, Buffer or ArrayBuffer)', name, value));
}

/** The bytes of a source and the name errors use for it (the path, or "the buffer"). fs errors (ENOENT...) pass through. */
export async function readSource(value: unknown, name: string): Promise<{ bytes: Uint8Array; where: string }> {
  const src = checkSource(value, name);
  if (typeof src !== 'string') return { bytes: src, where: 'the buffer' };
  return { bytes: await fs.promises.readFile(src), where: JSON.stringify(src) };
}

export function readSourceSync(value: unknown, name: string): { bytes: Uint8Array; where: string } {
  const src = checkSource(value, name);
  if (typeof src !== 'string') return { bytes: src, where: 'the buffer' };
  return { bytes: fs.readFileSync(src), where: JSON.stringify(src) };
}

export function checkPath(value: unknown, name: string): string {
  if (typeof value !== 'string') throw new TypeError(expected('a file path (string)', name, value));
  return value;
}

/** A result record whose keys come from a file: defineProperty, so a key such as "__proto__" stays a plain key. */
export function setEntry<T>(out: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}
