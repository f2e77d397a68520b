/**
 * A tiny reader and writer for NumPy .npy files: little-endian float32 ('<f4') or float64 ('<f8'),
 * C order, format versions 1.0 (written) and 1.0 / 2.0 / 3.0 (read). Enough to exchange weights
 * and activations with Python (`np.load` / `np.save`); anything else is refused with a reason.
 */
import fs from 'node:fs';
import os from 'node:os';

const MAGIC = '\x93NUMPY';

export interface NpyArray {
  data: Float32Array | Float64Array;
  shape: number[];
}

/** Parses .npy bytes. */
export function parseNpy(bytes: Uint8Array, name = 'npy'): NpyArray {
  const text = (a: number, b: number) => String.fromCharCode(...bytes.subarray(a, b));
  if (bytes.length < 10 || text(0, 6) !== MAGIC) throw new Error(`${name}: not a .npy file (bad magic)`);
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    headerLen = view.getUint32(8, true);
    start = 12;
  } else {
    throw new Error(`${name}: unsupported .npy version ${major}`);
  }
  const header = text(start, start + headerLen);
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr !== '<f4' && descr !== '<f8') throw new Error(`${name}: dtype ${descr} is not supported (only '<f4' and '<f8')`);
  if (fortran !== 'False') throw new Error(`${name}: only C-order arrays are supported`);
  if (shapeText === undefined) throw new Error(`${name}: no shape in the header`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (shape.some((s) => !Number.isInteger(s) || s < 0)) throw new Error(`${name}: bad shape (${shapeText})`);
  const count = shape.reduce((a, b) => a * b, 1);
  const size = descr === '<f4' ? 4 : 8;
  const offset = start + headerLen;
  if (bytes.length - offset !== count * size) throw new Error(`${name}: expected ${count * size} data bytes, found ${bytes.length - offset}`);
  // Copy (the data offset need not be aligned for a typed-array view; and a Node Buffer's slice
  // is a view into a shared pool, so .buffer would not be this array's bytes).
  const raw = new ArrayBuffer(count * size);
  new Uint8Array(raw).set(bytes.subarray(offset, offset + count * size));
  return { data: size === 4 ? new Float32Array(raw) : new Float64Array(raw), shape };
}

/** Serialises an array as .npy version 1.0 (header padded so the data starts on a 64-byte boundary). */
export function formatNpy(a: NpyArray): Uint8Array {
  const descr = a.data instanceof Float32Array ? '<f4' : '<f8';
  const shape = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const out = new Uint8Array(10 + header.length + a.data.byteLength);
  for (let i = 0; i < 6; i++) out[i] = MAGIC.charCodeAt(i);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength), 10 + header.length);
  return out;
}

// Typed arrays use the platform's byte order; '<f4' / '<f8' are little-endian.
if (os.endianness() !== 'LE') throw new Error('npy.ts supports little-endian platforms only');

export function readNpy(file: string): NpyArray {
  return parseNpy(fs.readFileSync(file), file);
}

export function writeNpy(file: string, a: NpyArray): void {
  fs.writeFileSync(file, formatNpy(a));
}
