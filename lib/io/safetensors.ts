/**
 * safetensors files (huggingface/safetensors): an 8-byte little-endian header length N, N bytes of
 * JSON { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": { string: string } }
 * (padded with spaces), then the data, every byte of it owned by exactly one tensor. Read and
 * written: F32, F64, I32 and BOOL; F16 and BF16 are read as float32 (exactly: every half value
 * is a float32 value) unless `half: 'refuse'`. The writer orders tensors and pads the header as
 * the safetensors package does (largest dtype first, then by name; header length a multiple of 8).
 */
import fs from 'node:fs';
import { LemmaError } from '../errors.js';
import { checkOptions, expected, is } from '../validation/index.js';
import { checkKnownKeys } from '../validation/options.js';
import {
  checkPath, checkTensorRecord, copyData, dataBytes, elementCount, formatError, ITEM_SIZE, readSource, readSourceSync, setEntry,
} from './common.js';
import type { IoDtype, IoSource, IoTensor, IoTensorInput } from './common.js';

/** The safetensors package's limit on the header (a guard against absurd lengths). */
const MAX_HEADER = 100_000_000;

const TO_DTYPE: Record<string, IoDtype> = { F32: 'float32', F64: 'float64', I32: 'int32', BOOL: 'bool' };
const FROM_DTYPE: Record<IoDtype, string> = { float32: 'F32', float64: 'F64', int32: 'I32', bool: 'BOOL' };
/** Writing order of the safetensors package: dtypes in descending declaration order (about: alignment). */
const DTYPE_RANK: Record<IoDtype, number> = { bool: 0, int32: 1, float32: 2, float64: 3 };
/** Element sizes of the other dtypes, for messages. */
const OTHER_DTYPES = new Set(['F16', 'BF16', 'U8', 'I8', 'I16', 'U16', 'U32', 'I64', 'U64', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'C64']);

export interface ReadSafetensorsOptions {
  /** F16 / BF16 tensors: 'float32' (default) converts them exactly to float32; 'refuse' throws ERR_DTYPE. */
  half?: 'float32' | 'refuse';
}

export interface Safetensors {
  tensors: Record<string, IoTensor>;
  /** The file's `__metadata__` (string to string), {} when it has none. */
  metadata: Record<string, string>;
}

function checkReadOptions(options: unknown): Required<ReadSafetensorsOptions> {
  const o = checkOptions(options, 'options');
  checkKnownKeys(o, 'options', ['half']);
  const half = o.half ?? 'float32';
  if (typeof half !== 'string') throw new TypeError(expected('one of \'float32\', \'refuse\'', 'options.half', half));
  if (half !== 'float32' && half !== 'refuse') throw new RangeError(expected('one of \'float32\', \'refuse\'', 'options.half', half));
  return { half };
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return sign * f * 2 ** -24;
  if (e === 31) return f ? NaN : sign * Infinity;
  return sign * (1 + f / 1024) * 2 ** (e - 15);
}

/** F16 / BF16 bytes → Float32Array (exact). */
function halfData(bytes: Uint8Array, offset: number, count: number, dtype: 'F16' | 'BF16'): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * 2);
  const out = new Float32Array(count);
  if (dtype === 'BF16') {
    const bits = new DataView(out.buffer);
    for (let i = 0; i < count; i++) bits.setUint32(i * 4, view.getUint16(i * 2, true) << 16, true);
    // DataView wrote little-endian: on a big-endian host reread through the view.
    if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) for (let i = 0; i < count; i++) out[i] = bits.getFloat32(i * 4, true);
  } else {
    for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
  }
  return out;
}

const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Parses the bytes of a .safetensors file.
 * @throws LemmaError ERR_FORMAT (a bad header length, JSON or entry; data_offsets that leave a gap,
 * overlap or run past the data), ERR_SHAPE (an entry whose byte range disagrees with its shape and
 * dtype), ERR_DTYPE (a dtype other than F32, F64, I32, BOOL, and F16/BF16 unless converted), ERR_RANGE.
 */
export function parseSafetensors(bytes: Uint8Array, where = 'the buffer', options?: ReadSafetensorsOptions): Safetensors {
  const { half } = checkReadOptions(options);
  if (bytes.length < 8) throw formatError('a .safetensors file (an 8-byte header length first)', where, `only ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER) || Number(n64) + 8 > bytes.length) {
    throw formatError(`a header length of at most ${Math.min(MAX_HEADER, bytes.length - 8)} bytes`, where, `${n64}`);
  }
  const n = Number(n64);
  let header: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
    if (!text.startsWith('{')) throw new Error('no opening brace');
    header = JSON.parse(text);
  } catch {
    throw formatError('a JSON object header', where, 'invalid JSON or UTF-8');
  }
  if (!is.object(header)) throw formatError('a JSON object header', where, Array.isArray(header) ? 'an array' : typeof header);
  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const infos: { name: string; dtype: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header)) {
    const at = `${where}[${JSON.stringify(name)}]`;
    if (name === '__metadata__') {
      if (!is.object(info)) throw formatError('an object of strings in __metadata__', where, Array.isArray(info) ? 'an array' : typeof info);
      for (const [k, v] of Object.entries(info)) {
        if (typeof v !== 'string') throw formatError('string values in __metadata__', where, `a ${v === null ? 'null' : typeof v} for ${JSON.stringify(k)}`);
        setEntry(metadata, k, v);
      }
      continue;
    }
    if (!is.object(info)) throw formatError('{ dtype, shape, data_offsets }', at, Array.isArray(info) ? 'an array' : typeof info);
    const { dtype, shape, data_offsets: offsets } = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string') throw formatError('a dtype string', at, typeof dtype);
    if (!Array.isArray(shape) || !shape.every(isIndex)) throw formatError('a shape of non-negative integers', at, JSON.stringify(shape)?.slice(0, 80) ?? 'none');
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex) || offsets[0] > offsets[1]) {
      throw formatError('data_offsets [begin, end] with 0 <= begin <= end', at, JSON.stringify(offsets)?.slice(0, 80) ?? 'none');
    }
    infos.push({ name, dtype, shape: shape as number[], begin: offsets[0], end: offsets[1] });
  }
  // Every data byte belongs to exactly one tensor: sorted by offset, each starts where the last ended.
  const sorted = infos.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expectedBegin = 0;
  for (const t of sorted) {
    if (t.begin !== expectedBegin) {
      throw formatError(`data_offsets starting at byte ${expectedBegin} (tensors are contiguous)`, `${where}[${JSON.stringify(t.name)}]`,
        `[${t.begin}, ${t.end}] (${t.begin < expectedBegin ? 'an overlap' : 'a gap'})`);
    }
    expectedBegin = t.end;
  }
  if (expectedBegin !== dataLen) {
    throw formatError(`tensor data covering all ${dataLen} data bytes`, where,
      expectedBegin > dataLen ? `data_offsets up to byte ${expectedBegin} (a truncated file)` : `${dataLen - expectedBegin} bytes no tensor owns`);
  }
  const tensors: Record<string, IoTensor> = {};
  for (const t of infos) {
    const at = `${where}[${JSON.stringify(t.name)}]`;
    const isHalf = t.dtype === 'F16' || t.dtype === 'BF16';
    const dtype = TO_DTYPE[t.dtype];
    if (dtype === undefined && !(isHalf && half === 'float32')) {
      const what = OTHER_DTYPES.has(t.dtype) ? `dtype ${t.dtype}` : `an unknown dtype ${JSON.stringify(t.dtype).slice(0, 40)}`;
      const hint = isHalf ? ': read it with { half: \'float32\' } or save it as F32' : ': save it as F32, F64, I32 or BOOL';
      throw new LemmaError('ERR_DTYPE', `Expected dtype F32, F64, I32 or BOOL for ${at} but found ${what}${hint}`);
    }
    const count = elementCount(t.shape, at);
    const size = isHalf ? 2 : ITEM_SIZE[dtype];
    if (t.end - t.begin !== count * size) {
      throw new LemmaError('ERR_SHAPE', `Expected ${count * size} bytes (shape [${t.shape.join(', ')}], ${t.dtype}) for ${at} but found data_offsets [${t.begin}, ${t.end}] (${t.end - t.begin} bytes)`);
    }
    const data = isHalf ? halfData(bytes, dataStart + t.begin, count, t.dtype as 'F16' | 'BF16') : copyData(bytes, dataStart + t.begin, dtype, count);
    setEntry(tensors, t.name, { data, shape: t.shape.slice(), dtype: dtype ?? 'float32' });
  }
  return { tensors, metadata };
}

/**
 * Reads a .safetensors file (a path or its bytes): `{ tensors, metadata }`, tensors in the header's
 * order, each copied into an aligned typed array (F32 Float32Array, F64 Float64Array, I32
 * Int32Array, BOOL Uint8Array of 0/1; F16 and BF16 as Float32Array unless `half: 'refuse'`).
 * @throws TypeError for a wrong source or an unknown option; the fs error as it is; LemmaError as
 * parseSafetensors says.
 * @example
 * const { tensors, metadata } = await lemma.io.readSafetensors('model.safetensors');
 */
export async function readSafetensors(source: IoSource, options?: ReadSafetensorsOptions): Promise<Safetensors> {
  checkReadOptions(options);
  const { bytes, where } = await readSource(source, 'source');
  return parseSafetensors(bytes, where, options);
}

/** {@link readSafetensors}, synchronously. */
export function readSafetensorsSync(source: IoSource, options?: ReadSafetensorsOptions): Safetensors {
  checkReadOptions(options);
  const { bytes, where } = readSourceSync(source, 'source');
  return parseSafetensors(bytes, where, options);
}

function utf8Compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * The bytes of a .safetensors file holding `tensors` (F32, F64, I32 or BOOL by their data's type)
 * and, when given, `metadata` as `__metadata__`. Laid out as the safetensors package does.
 * @throws TypeError for wrong types (a non-string metadata value, a tensor named "__metadata__");
 * as toNpy for each tensor.
 */
export function toSafetensors(tensors: Record<string, IoTensorInput>, metadata?: Record<string, string>): Uint8Array {
  const list = checkTensorRecord(tensors, 'tensors');
  for (const [name] of list) {
    if (name === '__metadata__') throw new TypeError(expected('a tensor name other than "__metadata__"', 'tensors', name));
  }
  if (metadata !== undefined) {
    if (!is.object(metadata)) throw new TypeError(expected('an object of strings', 'metadata', metadata));
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new TypeError(expected('a string', `metadata[${JSON.stringify(k)}]`, v));
  }
  list.sort(([na, a], [nb, b]) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || utf8Compare(na, nb));
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) setEntry(header, '__metadata__', { ...metadata });
  let offset = 0;
  for (const [name, t] of list) {
    const nbytes = t.data.byteLength;
    setEntry(header, name, { dtype: FROM_DTYPE[t.dtype], shape: t.shape, data_offsets: [offset, offset + nbytes] });
    offset += nbytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let p = 8 + padded;
  for (const [, t] of list) {
    out.set(dataBytes(t), p);
    p += t.data.byteLength;
  }
  return out;
}

/**
 * Writes tensors (and optional string metadata) as a .safetensors file; safetensors.numpy.load_file
 * and safetensors.torch.load_file read it back.
 * @example
 * await lemma.io.writeSafetensors('model.safetensors', { 'layer0.w': w, 'layer0.b': b }, { step: '100' });
 */
export async function writeSafetensors(path: string, tensors: Record<string, IoTensorInput>, metadata?: Record<string, string>): Promise<void> {
  const file = checkPath(path, 'path');
  const bytes = toSafetensors(tensors, metadata);
  await fs.promises.writeFile(file, bytes);
}
