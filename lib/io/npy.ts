/**
 * NumPy .npy files (format versions 1.0, 2.0 and 3.0, as numpy/lib/format.py defines them):
 * the magic "\x93NUMPY", a version, a little-endian header length, a Python-literal dict
 * {'descr', 'fortran_order', 'shape'} padded with spaces and a newline so the data starts on a
 * 64-byte boundary, then the raw data. Read: '<f4', '<f8', '<i4', '|b1' in C order. Written:
 * the same, byte for byte as np.save writes them (version 1.0 unless the header needs 2.0).
 * The header is parsed by a small literal parser (never evaluated).
 */
import fs from 'node:fs';
import { LemmaError } from '../errors.js';
import {
  checkIoTensor, checkPath, copyData, elementCount, formatError, ITEM_SIZE, dataBytes, readSource, readSourceSync,
} from './common.js';
import type { IoDtype, IoSource, IoTensor, IoTensorInput } from './common.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** numpy.lib.format.ARRAY_ALIGN and GROWTH_AXIS_MAX_DIGITS. */
const ALIGN = 64;
const GROWTH_AXIS_MAX_DIGITS = 21;

const DESCR: Record<IoDtype, string> = { float32: '<f4', float64: '<f8', int32: '<i4', bool: '|b1' };

// ---- a Python-literal parser, enough for .npy headers -------------------------------------------

type PyValue =
  | { kind: 'str'; value: string }
  | { kind: 'int'; value: number }
  | { kind: 'bool'; value: boolean }
  | { kind: 'none' }
  | { kind: 'tuple' | 'list'; items: PyValue[] }
  | { kind: 'dict'; entries: Map<string, PyValue> };

class HeaderSyntaxError extends Error {}

function parsePyLiteral(text: string): PyValue {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\r\n'.includes(text[i])) i++; };
  const fail = (what: string): never => { throw new HeaderSyntaxError(`${what} at character ${i}`); };
  const value = (depth: number): PyValue => {
    if (depth > 16) fail('nesting deeper than 16');
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const entries = new Map<string, PyValue>();
      for (;;) {
        ws();
        if (text[i] === '}') { i++; return { kind: 'dict', entries }; }
        const key = value(depth + 1);
        if (key.kind !== 'str') fail('a string key');
        ws();
        if (text[i] !== ':') fail('\':\'');
        i++;
        entries.set((key as { value: string }).value, value(depth + 1));
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== '}') fail('\',\' or \'}\'');
      }
    }
    if (c === '(' || c === '[') {
      const close = c === '(' ? ')' : ']';
      i++;
      const items: PyValue[] = [];
      let comma = false;
      for (;;) {
        ws();
        if (text[i] === close) {
          i++;
          // (x) is x in Python; (x,) and () are tuples.
          if (c === '(' && items.length === 1 && !comma) return items[0];
          return { kind: c === '(' ? 'tuple' : 'list', items };
        }
        items.push(value(depth + 1));
        ws();
        comma = false;
        if (text[i] === ',') { i++; comma = true; } else if (text[i] !== close) fail(`',' or '${close}'`);
      }
    }
    if (c === '\'' || c === '"') {
      i++;
      let s = '';
      while (i < text.length && text[i] !== c) {
        if (text[i] === '\\') {
          i++;
          const e = text[i];
          s += e === 'n' ? '\n' : e === 't' ? '\t' : e === undefined ? '' : e;
        } else s += text[i];
        i++;
      }
      if (i >= text.length) fail('a closing quote');
      i++;
      return { kind: 'str', value: s };
    }
    const m = /^(-?\d+)[lL]?|^(True|False|None)\b/.exec(text.slice(i, i + 40));
    if (m === null) fail('a Python literal');
    i += m![0].length;
    if (m![1] !== undefined) return { kind: 'int', value: Number(m![1]) };
    if (m![2] === 'None') return { kind: 'none' };
    return { kind: 'bool', value: m![2] === 'True' };
  };
  const v = value(0);
  ws();
  if (i !== text.length) fail('the end of the header');
  return v;
}

function pyRepr(v: PyValue | undefined): string {
  if (v === undefined) return 'nothing';
  switch (v.kind) {
    case 'str': return `'${v.value}'`;
    case 'int': return String(v.value);
    case 'bool': return v.value ? 'True' : 'False';
    case 'none': return 'None';
    case 'tuple': return `(${v.items.map(pyRepr).join(', ')}${v.items.length === 1 ? ',' : ''})`;
    case 'list': return `[${v.items.map(pyRepr).join(', ')}]`;
    case 'dict': return `{${[...v.entries].map(([k, x]) => `'${k}': ${pyRepr(x)}`).join(', ')}}`;
  }
}

// ---- dtypes -------------------------------------------------------------------------------------

const DTYPE_NAMES: Record<string, string> = {
  f2: 'float16', f4: 'float32', f8: 'float64', f16: 'float128', i1: 'int8', i2: 'int16', i4: 'int32', i8: 'int64',
  u1: 'uint8', u2: 'uint16', u4: 'uint32', u8: 'uint64', b1: 'bool', c8: 'complex64', c16: 'complex128',
};

/** The dtype of a descr string, or ERR_DTYPE with what to do about it. */
function dtypeOfDescr(descr: PyValue | undefined, where: string): IoDtype {
  if (descr?.kind === 'list') {
    throw new LemmaError('ERR_DTYPE', `Expected a plain dtype ('<f4', '<f8', '<i4' or '|b1') for ${where} but found a structured dtype ${pyRepr(descr)}: save each field as its own array`);
  }
  if (descr?.kind !== 'str') throw formatError('a descr string in the .npy header', where, pyRepr(descr));
  const d = descr.value;
  const order = '<>|='.includes(d[0]) ? d[0] : '=';
  const body = '<>|='.includes(d[0]) ? d.slice(1) : d;
  const name = DTYPE_NAMES[body] ?? `'${d}'`;
  const byteSize = Number(/\d+$/.exec(body)?.[0] ?? NaN);
  if (order === '>' && byteSize > 1) {
    const fix = body === 'f4' || body === 'f8' || body === 'i4' ? `use arr.astype('<${body}') before saving` : 'save a little-endian float32, float64, int32 or bool array';
    throw new LemmaError('ERR_DTYPE', `Expected a little-endian dtype for ${where} but found big-endian '${d}' (${name}): ${fix}`);
  }
  const known: Record<string, IoDtype> = { f4: 'float32', f8: 'float64', i4: 'int32', b1: 'bool', '?': 'bool' };
  const dtype = known[body];
  if (dtype !== undefined && (order !== '|' || ITEM_SIZE[dtype] === 1)) return dtype;
  const hint = body === 'f2' || body === 'f16' ? 'arr.astype(\'<f4\')'
    : /^[iu]/.test(body) ? 'arr.astype(\'<i4\') (when the values fit) or arr.astype(\'<f8\')'
      : /^c/.test(body) ? 'arr.real / arr.imag, each as \'<f4\' or \'<f8\''
        : 'arr.astype(\'<f4\')';
  throw new LemmaError('ERR_DTYPE', `Expected dtype '<f4', '<f8', '<i4' or '|b1' for ${where} but found '${d}' (${name}): convert with ${hint} before saving`);
}

// ---- read ---------------------------------------------------------------------------------------

/**
 * Parses the bytes of a .npy file. `where` names the source in messages.
 * @throws LemmaError ERR_FORMAT (not a .npy file, a corrupt header), ERR_DTYPE (a dtype other than
 * '<f4', '<f8', '<i4', '|b1', big-endian included), ERR_SHAPE (data bytes that disagree with the
 * shape: a truncated file), ERR_RANGE (more elements than a typed array holds).
 */
export function parseNpy(bytes: Uint8Array, where = 'the buffer'): IoTensor {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw formatError('a .npy file (starting with the magic string \\x93NUMPY)', where, bytes.length < 10 ? `only ${bytes.length} bytes` : 'other bytes');
  }
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let start: number;
  let headerLen: number;
  if (major === 1) {
    start = 10;
    headerLen = view.getUint16(8, true);
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw formatError('a 12-byte .npy preamble', where, `only ${bytes.length} bytes`);
    start = 12;
    headerLen = view.getUint32(8, true);
  } else {
    throw formatError('.npy format version 1.0, 2.0 or 3.0', where, `version ${major}.${bytes[7]}`);
  }
  if (start + headerLen > bytes.length) {
    throw formatError(`a header of ${headerLen} bytes`, where, `a file of ${bytes.length} bytes (truncated)`);
  }
  const headerBytes = bytes.subarray(start, start + headerLen);
  let text: string;
  try {
    text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1', { fatal: true }).decode(headerBytes);
  } catch {
    throw formatError('a UTF-8 header (format version 3.0)', where, 'invalid UTF-8');
  }
  let header: PyValue;
  try {
    header = parsePyLiteral(text);
  } catch (e) {
    if (!(e instanceof HeaderSyntaxError)) throw e;
    throw formatError('a .npy header dict {\'descr\': ..., \'fortran_order\': ..., \'shape\': ...}', where, `a syntax error (expected ${e.message})`);
  }
  if (header.kind !== 'dict') throw formatError('a .npy header dict', where, pyRepr(header).slice(0, 80));
  const { entries } = header;
  for (const key of ['descr', 'fortran_order', 'shape']) {
    if (!entries.has(key)) throw formatError(`the key '${key}' in the .npy header`, where, `keys ${[...entries.keys()].map((k) => `'${k}'`).join(', ') || 'none'}`);
  }
  const shapeV = entries.get('shape')!;
  if (shapeV.kind !== 'tuple' || shapeV.items.some((s) => s.kind !== 'int' || s.value < 0 || !Number.isSafeInteger(s.value))) {
    throw formatError('a shape tuple of non-negative integers in the .npy header', where, pyRepr(shapeV).slice(0, 80));
  }
  const shape = shapeV.items.map((s) => (s as { value: number }).value);
  const fortran = entries.get('fortran_order')!;
  if (fortran.kind !== 'bool') throw formatError('fortran_order True or False in the .npy header', where, pyRepr(fortran).slice(0, 80));
  const dtype = dtypeOfDescr(entries.get('descr'), where);
  // A Fortran-order array of rank <= 1 (or with at most one dimension above 1) has the C layout too,
  // but NumPy only writes fortran_order True for arrays that are not C-contiguous: refuse them all.
  if (fortran.value) {
    throw new LemmaError('ERR_SHAPE', `Expected a C-order array for ${where} but found fortran_order: True (fortran_order arrays are not supported: save with np.ascontiguousarray(arr))`);
  }
  const count = elementCount(shape, where);
  const offset = start + headerLen;
  const need = count * ITEM_SIZE[dtype];
  const have = bytes.length - offset;
  if (have !== need) {
    throw new LemmaError('ERR_SHAPE', `Expected ${need} data bytes (shape [${shape.join(', ')}], ${dtype}) for ${where} but found ${have}${have < need ? ' (a truncated file)' : ''}`);
  }
  return { data: copyData(bytes, offset, dtype, count), shape, dtype };
}

/**
 * Reads a .npy file (a path, or its bytes). The data is copied into a new, aligned typed array:
 * Float32Array ('<f4'), Float64Array ('<f8'), Int32Array ('<i4') or Uint8Array of 0/1 ('|b1');
 * a 0-d array has shape [].
 * @throws TypeError for a source that is neither a string nor bytes; the fs error (ENOENT...) as it is;
 * LemmaError ERR_FORMAT / ERR_DTYPE / ERR_SHAPE / ERR_RANGE as {@link parseNpy} says.
 * @example
 * const w = await lemma.io.readNpy('weights.npy'); // { data: Float32Array, shape: [64, 64], dtype: 'float32' }
 */
export async function readNpy(source: IoSource): Promise<IoTensor> {
  const { bytes, where } = await readSource(source, 'source');
  return parseNpy(bytes, where);
}

/** {@link readNpy}, synchronously. */
export function readNpySync(source: IoSource): IoTensor {
  const { bytes, where } = readSourceSync(source, 'source');
  return parseNpy(bytes, where);
}

// ---- write --------------------------------------------------------------------------------------

function headerText(t: IoTensor): string {
  const s = t.shape;
  const shape = s.length === 1 ? `(${s[0]},)` : `(${s.join(', ')})`;
  let text = `{'descr': '${DESCR[t.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  // NumPy leaves room for the first axis to grow in place.
  if (s.length > 0) text += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(s[0]).length));
  return text;
}

/** The .npy bytes of a checked tensor (shared with the .npz writer). */
export function encodeNpy(t: IoTensor): Uint8Array {
  const text = headerText(t);
  const hlen = text.length + 1; // + '\n'
  let version = 1;
  let prefix = 10;
  let pad = ALIGN - ((prefix + hlen) % ALIGN);
  if (hlen + pad > 0xffff) {
    version = 2;
    prefix = 12;
    pad = ALIGN - ((prefix + hlen) % ALIGN);
  }
  const headerLen = hlen + pad;
  const data = dataBytes(t);
  const out = new Uint8Array(prefix + headerLen + data.length);
  out.set(MAGIC);
  out[6] = version;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, headerLen, true);
  else view.setUint32(8, headerLen, true);
  for (let i = 0; i < text.length; i++) out[prefix + i] = text.charCodeAt(i);
  out.fill(0x20, prefix + text.length, prefix + headerLen - 1);
  out[prefix + headerLen - 1] = 0x0a;
  out.set(data, prefix + headerLen);
  return out;
}

/**
 * The .npy bytes of a tensor, byte for byte as np.save writes them (format 1.0 unless the header
 * needs 2.0; C order; little-endian). The dtype follows the data: Float32Array '<f4',
 * Float64Array '<f8', Int32Array '<i4', Uint8Array '|b1' (0 and 1 only).
 * @throws TypeError for a wrong type; RangeError for a bool value other than 0/1; LemmaError ERR_SHAPE
 * when data and shape disagree, ERR_DTYPE when `tensor.dtype` contradicts the data.
 */
export function toNpy(tensor: IoTensorInput): Uint8Array {
  return encodeNpy(checkIoTensor(tensor, 'tensor'));
}

/**
 * Writes a tensor as a .npy file (see {@link toNpy}); np.load reads it back.
 * @example
 * await lemma.io.writeNpy('out.npy', lemma.tensor(new Float32Array([1, 2, 3, 4]), [2, 2]));
 */
export async function writeNpy(path: string, tensor: IoTensorInput): Promise<void> {
  const file = checkPath(path, 'path');
  const bytes = toNpy(tensor);
  await fs.promises.writeFile(file, bytes);
}
