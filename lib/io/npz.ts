/**
 * NumPy .npz archives: a zip file of `name.npy` entries. Read: stored and deflated entries
 * (np.savez and np.savez_compressed), zip64 records included, each entry's CRC-32 checked.
 * Written: stored entries, like np.savez (without zip64: up to 4 GiB and 65535 arrays).
 * The zip reader and writer are here (PKWARE APPNOTE 6.3, the parts NumPy uses), with node:zlib
 * for inflate and CRC-32.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { LemmaError } from '../errors.js';
import { checkPath, checkTensorRecord, formatError, readSource, readSourceSync, setEntry } from './common.js';
import type { IoSource, IoTensor, IoTensorInput } from './common.js';
import { encodeNpy, parseNpy } from './npy.js';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;

let crcTable: Uint32Array | undefined;
/** CRC-32 (zip's): node:zlib's when this Node has it (20.15+), else a table. */
export function crc32(bytes: Uint8Array): number {
  const native = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
  if (typeof native === 'function') return native(bytes) >>> 0;
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

interface Entry { name: string; flags: number; method: number; crc: number; csize: number; usize: number; local: number }

/** The entries of a zip archive, from its central directory. */
function centralDirectory(bytes: Uint8Array, where: string): Entry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (what: string, found: string) => formatError(what, where, found);
  const u64 = (at: number): number => {
    const v = view.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('a zip64 size or offset below 2^53', `${v}`);
    return Number(v);
  };
  // The end-of-central-directory record: the last 22 bytes, unless a comment follows it.
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--) {
    if (view.getUint32(i, true) === SIG_EOCD && i + 22 + view.getUint16(i + 20, true) === bytes.length) { eocd = i; break; }
  }
  if (eocd < 0) throw bad('a .npz file (a zip archive)', bytes.length < 22 ? `only ${bytes.length} bytes` : 'no end-of-central-directory record');
  if (view.getUint16(eocd + 4, true) !== 0 || view.getUint16(eocd + 6, true) !== 0) throw bad('a single-disk zip archive', 'a multi-disk archive');
  let count = view.getUint16(eocd + 10, true);
  let cdSize = view.getUint32(eocd + 12, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || view.getUint32(loc, true) !== SIG_ZIP64_LOCATOR) throw bad('a zip64 end-of-central-directory locator', 'none');
    const z = u64(loc + 8);
    if (z + 56 > bytes.length || view.getUint32(z, true) !== SIG_ZIP64_EOCD) throw bad('a zip64 end-of-central-directory record', 'none');
    count = u64(z + 32);
    cdSize = u64(z + 40);
    cdOffset = u64(z + 48);
  }
  if (cdOffset + cdSize > bytes.length) throw bad(`a central directory inside the file's ${bytes.length} bytes`, `offset ${cdOffset} + size ${cdSize} (a truncated file)`);
  const entries: Entry[] = [];
  let p = cdOffset;
  for (let k = 0; k < count; k++) {
    if (p + 46 > cdOffset + cdSize || view.getUint32(p, true) !== SIG_CENTRAL) throw bad(`central directory entry ${k} of ${count}`, 'other bytes');
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    let csize = view.getUint32(p + 20, true);
    let usize = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    let local = view.getUint32(p + 42, true);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > cdOffset + cdSize) throw bad(`central directory entry ${k} inside the directory`, 'an entry past its end');
    const name = new TextDecoder(flags & 0x800 ? 'utf-8' : 'latin1').decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // zip64 extra field: the 64-bit values of the fields saturated at 0xffffffff, in this order.
    for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen;) {
      const id = view.getUint16(e, true);
      const size = view.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        const next = (): number => {
          if (q + 8 > e + 4 + size) throw bad('a complete zip64 extra field', `one of ${size} bytes for ${JSON.stringify(name)}`);
          const v = u64(q);
          q += 8;
          return v;
        };
        if (usize === 0xffffffff) usize = next();
        if (csize === 0xffffffff) csize = next();
        if (local === 0xffffffff) local = next();
      }
      e += 4 + size;
    }
    entries.push({ name, flags, method, crc, csize, usize, local });
    p = end;
  }
  return entries;
}

/** The uncompressed, CRC-checked bytes of one entry. */
function entryBytes(bytes: Uint8Array, e: Entry, where: string): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = `${where}[${JSON.stringify(e.name)}]`;
  if (e.flags & 0x1) throw formatError('an unencrypted zip entry', at, 'an encrypted one');
  if (e.local + 30 > bytes.length || view.getUint32(e.local, true) !== SIG_LOCAL) throw formatError('a zip local file header', at, 'other bytes');
  const start = e.local + 30 + view.getUint16(e.local + 26, true) + view.getUint16(e.local + 28, true);
  if (start + e.csize > bytes.length) throw formatError(`${e.csize} bytes of entry data`, at, `${Math.max(0, bytes.length - start)} (a truncated file)`);
  const raw = bytes.subarray(start, start + e.csize);
  let data: Uint8Array;
  if (e.method === 0) {
    if (e.csize !== e.usize) throw formatError('equal sizes for a stored zip entry', at, `${e.csize} and ${e.usize}`);
    data = raw;
  } else if (e.method === 8) {
    try {
      data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, e.usize) });
    } catch (err) {
      throw formatError('a valid deflate stream', at, `a corrupt one (${(err as Error).message})`);
    }
    if (data.length !== e.usize) throw formatError(`${e.usize} inflated bytes`, at, `${data.length}`);
  } else {
    throw formatError('a stored (0) or deflated (8) zip entry', at, `compression method ${e.method}`);
  }
  const crc = crc32(data);
  if (crc !== e.crc) throw formatError(`CRC-32 ${e.crc.toString(16).padStart(8, '0')}`, at, `${crc.toString(16).padStart(8, '0')} (a corrupt entry)`);
  return data;
}

/**
 * Parses the bytes of a .npz archive: each `name.npy` entry becomes `result[name]` (other entries
 * keep their full name; directories are skipped).
 * @throws LemmaError ERR_FORMAT (not a zip, a corrupt or unsupported entry, a bad CRC, two entries
 * of one name), and each entry's .npy errors (see parseNpy) naming `path["entry.npy"]`.
 */
export function parseNpz(bytes: Uint8Array, where = 'the buffer'): Record<string, IoTensor> {
  const out: Record<string, IoTensor> = {};
  for (const e of centralDirectory(bytes, where)) {
    if (e.name.endsWith('/')) continue;
    const key = e.name.endsWith('.npy') ? e.name.slice(0, -4) : e.name;
    if (Object.prototype.hasOwnProperty.call(out, key)) throw formatError('one zip entry per array name', where, `two named ${JSON.stringify(e.name)}`);
    setEntry(out, key, parseNpy(entryBytes(bytes, e, where), `${where}[${JSON.stringify(e.name)}]`));
  }
  return out;
}

/**
 * Reads a .npz archive (np.savez or np.savez_compressed; a path or its bytes) into a record of
 * tensors, in the archive's order.
 * @example
 * const { x, mask } = await lemma.io.readNpz('batch.npz');
 */
export async function readNpz(source: IoSource): Promise<Record<string, IoTensor>> {
  const { bytes, where } = await readSource(source, 'source');
  return parseNpz(bytes, where);
}

/** {@link readNpz}, synchronously. */
export function readNpzSync(source: IoSource): Record<string, IoTensor> {
  const { bytes, where } = readSourceSync(source, 'source');
  return parseNpz(bytes, where);
}

/**
 * The bytes of a .npz archive holding each tensor as `name.npy`, stored (not compressed) as
 * np.savez does. Deterministic: every entry is dated 1980-01-01 00:00.
 * @throws as toNpy for each tensor (names `tensors["name"]`); LemmaError ERR_RANGE past 65535
 * arrays or 4 GiB (zip64 is not written).
 */
export function toNpz(tensors: Record<string, IoTensorInput>): Uint8Array {
  const list = checkTensorRecord(tensors, 'tensors');
  if (list.length > 0xffff) throw new LemmaError('ERR_RANGE', `Expected at most 65535 arrays for tensors but received ${list.length} (zip64 is not written)`);
  const enc = new TextEncoder();
  const files = list.map(([name, t]) => {
    const nameBytes = enc.encode(`${name}.npy`);
    if (nameBytes.length > 0xffff) throw new RangeError(`Expected an array name of at most 65531 UTF-8 bytes for tensors but received one of ${nameBytes.length - 4}`);
    const data = encodeNpy(t);
    return { nameBytes, data, crc: crc32(data), utf8: /[^\x20-\x7e]/.test(name) };
  });
  const localSize = files.reduce((s, f) => s + 30 + f.nameBytes.length + f.data.length, 0);
  const cdSize = files.reduce((s, f) => s + 46 + f.nameBytes.length, 0);
  if (localSize + cdSize + 22 > 0xffffffff) throw new LemmaError('ERR_RANGE', `Expected at most 4 GiB of arrays for tensors but received ${localSize} bytes (zip64 is not written)`);
  const out = new Uint8Array(localSize + cdSize + 22);
  const view = new DataView(out.buffer);
  const DATE = 0x0021; // 1980-01-01
  const offsets: number[] = [];
  let p = 0;
  for (const f of files) {
    offsets.push(p);
    view.setUint32(p, SIG_LOCAL, true);
    view.setUint16(p + 4, 20, true); // version needed: 2.0
    view.setUint16(p + 6, f.utf8 ? 0x800 : 0, true);
    view.setUint16(p + 8, 0, true); // stored
    view.setUint16(p + 10, 0, true); // time
    view.setUint16(p + 12, DATE, true);
    view.setUint32(p + 14, f.crc, true);
    view.setUint32(p + 18, f.data.length, true);
    view.setUint32(p + 22, f.data.length, true);
    view.setUint16(p + 26, f.nameBytes.length, true);
    view.setUint16(p + 28, 0, true);
    out.set(f.nameBytes, p + 30);
    out.set(f.data, p + 30 + f.nameBytes.length);
    p += 30 + f.nameBytes.length + f.data.length;
  }
  const cdOffset = p;
  files.forEach((f, k) => {
    view.setUint32(p, SIG_CENTRAL, true);
    view.setUint16(p + 4, 20, true); // made by: 2.0, MS-DOS attributes
    view.setUint16(p + 6, 20, true);
    view.setUint16(p + 8, f.utf8 ? 0x800 : 0, true);
    view.setUint16(p + 10, 0, true);
    view.setUint16(p + 12, 0, true);
    view.setUint16(p + 14, DATE, true);
    view.setUint32(p + 16, f.crc, true);
    view.setUint32(p + 20, f.data.length, true);
    view.setUint32(p + 24, f.data.length, true);
    view.setUint16(p + 28, f.nameBytes.length, true);
    // extra, comment, disk, internal and external attributes: 0
    view.setUint32(p + 42, offsets[k], true);
    out.set(f.nameBytes, p + 46);
    p += 46 + f.nameBytes.length;
  });
  view.setUint32(p, SIG_EOCD, true);
  view.setUint16(p + 8, files.length, true);
  view.setUint16(p + 10, files.length, true);
  view.setUint32(p + 12, p - cdOffset, true);
  view.setUint32(p + 16, cdOffset, true);
  return out;
}

/**
 * Writes tensors as a .npz archive (see {@link toNpz}); np.load reads it back.
 * @example
 * await lemma.io.writeNpz('batch.npz', { x, mask });
 */
export async function writeNpz(path: string, tensors: Record<string, IoTensorInput>): Promise<void> {
  const file = checkPath(path, 'path');
  const bytes = toNpz(tensors);
  await fs.promises.writeFile(file, bytes);
}
