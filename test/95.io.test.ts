/**
 * lemma.io (issue 16, data exchange): .npy, .npz and safetensors files against the ones NumPy and
 * the safetensors package wrote (test/fixtures/io, made by make_fixtures.py; expected.json holds
 * the values NumPy had), byte-exact writers, round trips of every dtype at ranks 0..4, and the
 * refusals, each with its class, code and message.
 */
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import * as lemma from '../lib/index.js';
import type { IoData, IoDtype, IoTensor } from '../lib/io/index.js';

const DIR = path.join(__dirname, 'fixtures', 'io');
const fixture = (name: string) => path.join(DIR, name);
const bytesOf = (name: string) => new Uint8Array(fs.readFileSync(fixture(name)));

interface Expected { dtype: IoDtype; shape: number[]; values: (number | string)[] }
const EXPECTED = JSON.parse(fs.readFileSync(fixture('expected.json'), 'utf8')) as {
  arrays: Record<string, Expected>; half: number[]; bf16: number[];
};
const value = (v: number | string) => (v === 'inf' ? Infinity : v === '-inf' ? -Infinity : (v as number));
const ARRAY_TYPE: Record<IoDtype, new (n: number) => IoData> = { float32: Float32Array, float64: Float64Array, int32: Int32Array, bool: Uint8Array };

/** Same dtype, shape, array type and values (float32 compared after rounding the JSON double; -0 kept). */
function matches(t: { deepEqual: (a: unknown, b: unknown, m?: string) => void; true: (v: boolean, m?: string) => void }, got: IoTensor, want: Expected, what: string) {
  t.deepEqual([got.dtype, got.shape], [want.dtype, want.shape], what);
  t.true(got.data instanceof ARRAY_TYPE[want.dtype], `${what}: ${got.data.constructor.name}`);
  const wantData = new ARRAY_TYPE[want.dtype](want.values.length);
  want.values.forEach((v, i) => { wantData[i] = value(v); });
  t.deepEqual(Array.from(got.data), Array.from(wantData), what);
  t.true(Array.from(got.data).every((v, i) => Object.is(v, wantData[i])), `${what}: signed zeros`);
}

const CORRUPT = (re: RegExp) => ({ instanceOf: lemma.LemmaError, code: 'ERR_FORMAT', message: re });

test('readNpy reads every dtype and rank NumPy wrote (np.save), from a path and from bytes, sync and async', async (t) => {
  const names = Object.keys(EXPECTED.arrays);
  t.is(names.length, 10);
  for (const name of names) {
    matches(t, await lemma.io.readNpy(fixture(`${name}.npy`)), EXPECTED.arrays[name], name);
    matches(t, lemma.io.readNpySync(bytesOf(`${name}.npy`)), EXPECTED.arrays[name], `${name} (bytes)`);
  }
  const scalar = lemma.io.readNpySync(fixture('f64_scalar.npy'));
  t.deepEqual(scalar.shape, []);
  t.is(scalar.data.length, 1);
  // An ArrayBuffer works too; so does an unaligned view (the data is copied to an aligned array).
  const b = bytesOf('f64_2x3x4.npy');
  const shifted = new Uint8Array(b.length + 3);
  shifted.set(b, 3);
  const fromView = lemma.io.readNpySync(shifted.subarray(3));
  t.is(fromView.data.byteOffset % 8, 0);
  matches(t, fromView, EXPECTED.arrays.f64_2x3x4, 'unaligned view');
  matches(t, await lemma.io.readNpy(b.slice().buffer), EXPECTED.arrays.f64_2x3x4, 'ArrayBuffer');
});

test('readNpy reads format versions 2.0 and 3.0', (t) => {
  for (const v of [2, 3]) {
    const b = bytesOf(`f32_2x3_v${v}.npy`);
    t.is(b[6], v);
    matches(t, lemma.io.readNpySync(b), EXPECTED.arrays.f32_2x3, `version ${v}.0`);
  }
});

test('toNpy writes the bytes np.save wrote (header dict, growth spaces, 64-byte alignment) for every dtype', (t) => {
  for (const name of ['f32_2x3', 'i32_3x2', 'i32_7', 'f64_2x3x4', 'bool_2x3', 'f64_scalar', 'f32_rank4', 'f32_empty_0x3', 'f32_special', 'i32_aligned_header']) {
    const want = bytesOf(`${name}.npy`);
    const got = lemma.io.toNpy(lemma.io.readNpySync(want));
    t.deepEqual(Buffer.from(got), Buffer.from(want), name);
  }
  // A header text that ends on the 64-byte boundary gets 64 more bytes of padding, as in NumPy.
  t.is(bytesOf('i32_aligned_header.npy').length, 192 + 400);
  // And from a plain lemma.tensor: the header text is NumPy's.
  const npy = lemma.io.toNpy(lemma.tensor(new Float32Array([-1.25, -0.75, -0.25, 0.25, 0.75, 1.25]), [2, 3]));
  const headerLen = npy[8] | (npy[9] << 8);
  t.is((10 + headerLen) % 64, 0);
  t.regex(Buffer.from(npy.subarray(10, 10 + headerLen)).toString('latin1'), /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\), \} +\n$/);
  t.deepEqual(Buffer.from(npy), Buffer.from(bytesOf('f32_2x3.npy')));
});

test('a header too long for version 1.0 is written as 2.0 and read back', (t) => {
  const shape = Array.from({ length: 30000 }, () => 1);
  const npy = lemma.io.toNpy({ data: new Int32Array([7]), shape });
  t.is(npy[6], 2);
  const headerLen = new DataView(npy.buffer).getUint32(8, true);
  t.true(headerLen > 0xffff);
  t.is((12 + headerLen) % 64, 0);
  const back = lemma.io.readNpySync(npy);
  t.deepEqual([back.shape.length, back.dtype, Array.from(back.data)], [30000, 'int32', [7]]);
});

/** Deterministic tensors of every dtype at ranks 0..4. */
function samples(): Record<string, IoTensor> {
  const out: Record<string, IoTensor> = {};
  const shapes = [[], [5], [3, 4], [2, 3, 2], [2, 1, 3, 2], [0, 4]];
  for (const dtype of ['float32', 'float64', 'int32', 'bool'] as IoDtype[]) {
    shapes.forEach((shape, r) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = new ARRAY_TYPE[dtype](n);
      for (let i = 0; i < n; i++) data[i] = dtype === 'bool' ? (i * 7 + r) % 3 === 0 ? 1 : 0 : dtype === 'int32' ? (i * 2654435761) | 0 : Math.sin(i + r) * 1e3;
      out[`${dtype}_r${r}`] = { data, shape, dtype };
    });
  }
  return out;
}

test('round trips: every dtype at ranks 0..4 (and an empty tensor) through .npy, .npz and safetensors files', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lemma-io-'));
  try {
    const all = samples();
    for (const [name, x] of Object.entries(all)) {
      const file = path.join(dir, `${name}.npy`);
      await lemma.io.writeNpy(file, x);
      t.deepEqual(await lemma.io.readNpy(file), x, name);
    }
    await lemma.io.writeNpz(path.join(dir, 'all.npz'), all);
    const npz = await lemma.io.readNpz(path.join(dir, 'all.npz'));
    t.deepEqual(Object.keys(npz), Object.keys(all));
    t.deepEqual(npz, all);
    await lemma.io.writeSafetensors(path.join(dir, 'all.safetensors'), all, { note: 'round trip' });
    const st = await lemma.io.readSafetensors(path.join(dir, 'all.safetensors'));
    t.deepEqual(st.metadata, { note: 'round trip' });
    t.deepEqual(Object.keys(st.tensors).sort(), Object.keys(all).sort());
    for (const name of Object.keys(all)) t.deepEqual(st.tensors[name], all[name], name);
    // Sync readers agree; names that are not identifiers survive.
    // (fromEntries: a literal '__proto__' key would set the prototype instead.)
    const odd = Object.fromEntries([['__proto__', all.float32_r1], ['a/b.c', all.int32_r2], ['ünï', all.bool_r3]]);
    t.deepEqual(Object.keys(lemma.io.readNpzSync(lemma.io.toNpz(odd))), ['__proto__', 'a/b.c', 'ünï']);
    t.deepEqual(lemma.io.readNpzSync(lemma.io.toNpz(odd))['a/b.c'], all.int32_r2);
    t.deepEqual(Object.keys(lemma.io.readSafetensorsSync(lemma.io.toSafetensors(odd)).tensors).sort(), ['__proto__', 'a/b.c', 'ünï']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('readNpz reads np.savez (stored, zip64 extras) and np.savez_compressed (deflate) archives', async (t) => {
  const a = EXPECTED.arrays;
  const plain = await lemma.io.readNpz(fixture('bundle.npz'));
  t.deepEqual(Object.keys(plain), ['x', 'idx', 'mask', 's']);
  matches(t, plain.x, a.f32_2x3, 'x');
  matches(t, plain.idx, a.i32_7, 'idx');
  matches(t, plain.mask, a.bool_2x3, 'mask');
  matches(t, plain.s, a.f64_scalar, 's');
  const packed = lemma.io.readNpzSync(bytesOf('bundle_compressed.npz'));
  t.deepEqual(Object.keys(packed), ['x', 'y', 'mask']);
  matches(t, packed.x, a.f32_2x3, 'x (deflate)');
  matches(t, packed.y, a.f64_2x3x4, 'y (deflate)');
  matches(t, packed.mask, a.bool_2x3, 'mask (deflate)');
  // toNpz entries are the toNpy bytes, stored: each appears verbatim in the archive.
  const zip = Buffer.from(lemma.io.toNpz({ x: plain.x }));
  t.true(zip.includes(Buffer.from(bytesOf('f32_2x3.npy'))));
  t.is(zip.readUInt32LE(0), 0x04034b50);
});

test('readSafetensors reads what the safetensors package wrote; toSafetensors writes the same bytes', async (t) => {
  const a = EXPECTED.arrays;
  const file = bytesOf('model.safetensors');
  const { tensors, metadata } = await lemma.io.readSafetensors(fixture('model.safetensors'));
  t.deepEqual(metadata, { step: '12', format: 'np' });
  t.deepEqual(Object.keys(tensors).sort(), ['bias', 'empty', 'h', 'mask', 'weight']);
  matches(t, tensors.weight, a.f32_2x3, 'weight');
  matches(t, tensors.bias, a.i32_7, 'bias');
  matches(t, tensors.mask, a.bool_2x3, 'mask');
  matches(t, tensors.h, a.f64_2x3x4, 'h');
  matches(t, tensors.empty, a.f32_empty_0x3, 'empty');
  // Same order of tensors (largest dtype first, then by name), same padding, same JSON.
  t.deepEqual(Buffer.from(lemma.io.toSafetensors(tensors, metadata)), Buffer.from(file));
});

test('safetensors F16 and BF16 are read as float32 exactly, or refused with half: "refuse"', async (t) => {
  const f16 = await lemma.io.readSafetensors(fixture('f16.safetensors'));
  t.is(f16.tensors.half.dtype, 'float32');
  t.true(f16.tensors.half.data instanceof Float32Array);
  t.deepEqual(Array.from(f16.tensors.half.data), EXPECTED.half);
  const bf16 = lemma.io.readSafetensorsSync(bytesOf('bf16.safetensors'));
  t.deepEqual(Array.from(bf16.tensors.b.data), EXPECTED.bf16);
  t.true(Object.is(bf16.tensors.b.data[4], -0));
  await t.throwsAsync(lemma.io.readSafetensors(fixture('f16.safetensors'), { half: 'refuse' }),
    { instanceOf: lemma.LemmaError, code: 'ERR_DTYPE', message: /\["half"\] but found dtype F16: read it with \{ half: 'float32' \}/ });
  t.throws(() => lemma.io.readSafetensorsSync(fixture('bf16.safetensors'), { half: 'refuse' }), { code: 'ERR_DTYPE', message: /dtype BF16/ });
});

test('refused .npy files: Fortran order, big-endian, other dtypes, each with the fix', async (t) => {
  await t.throwsAsync(lemma.io.readNpy(fixture('fortran_2x3.npy')), {
    instanceOf: lemma.LemmaError, code: 'ERR_SHAPE',
    message: /fortran_2x3\.npy" but found fortran_order: True \(fortran_order arrays are not supported: save with np\.ascontiguousarray/,
  });
  t.throws(() => lemma.io.readNpySync(fixture('big_endian_f4.npy')), {
    instanceOf: lemma.LemmaError, code: 'ERR_DTYPE', message: /big-endian '>f4' \(float32\): use arr\.astype\('<f4'\)/,
  });
  const dtypes: [string, RegExp][] = [
    ['f16.npy', /found '<f2' \(float16\): convert with arr\.astype\('<f4'\)/],
    ['i64.npy', /found '<i8' \(int64\): convert with arr\.astype\('<i4'\)/],
    ['complex.npy', /found '<c16' \(complex128\)/],
    ['structured.npy', /structured dtype \[\('a', '<f4'\), \('b', '<i4'\)\]/],
  ];
  for (const [name, message] of dtypes) t.throws(() => lemma.io.readNpySync(fixture(name)), { instanceOf: lemma.LemmaError, code: 'ERR_DTYPE', message }, name);
});

test('refused .npy bytes: truncated or extra data, corrupt headers, bad magic and version', (t) => {
  const good = bytesOf('f32_2x3.npy');
  const read = (b: Uint8Array) => () => lemma.io.readNpySync(b);
  t.throws(read(good.subarray(0, good.length - 1)), { instanceOf: lemma.LemmaError, code: 'ERR_SHAPE', message: /^Expected 24 data bytes \(shape \[2, 3\], float32\) for the buffer but found 23 \(a truncated file\)$/ });
  t.throws(read(Buffer.concat([good, Buffer.from([0])])), { code: 'ERR_SHAPE', message: /but found 25$/ });
  t.throws(read(good.subarray(0, 60)), CORRUPT(/header of 118 bytes for the buffer but found a file of 60 bytes \(truncated\)/));
  t.throws(read(new Uint8Array(5)), CORRUPT(/^Expected a \.npy file .* but found only 5 bytes$/));
  t.throws(read(new TextEncoder().encode('PK\x03\x04 this is not npy')), CORRUPT(/magic string/));
  const withVersion = good.slice();
  withVersion[6] = 4;
  t.throws(read(withVersion), CORRUPT(/version 1\.0, 2\.0 or 3\.0 for the buffer but found version 4\.0/));
  /** The fixture with its header text replaced (same length, padded). */
  const header = (text: string) => {
    const b = good.slice();
    const h = Buffer.from(text.padEnd(117, ' ') + '\n', 'latin1');
    b.set(h, 10);
    return b;
  };
  t.notThrows(read(header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }")));
  t.notThrows(read(header('{"shape": (2L, 3L), "descr": "<f4", "fortran_order": False}')));  // Python 2 longs, other key order
  t.throws(read(header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), ")), CORRUPT(/syntax error/));
  t.throws(read(header("{'descr': '<f4', 'fortran_order': False}")), CORRUPT(/the key 'shape' in the \.npy header/));
  t.throws(read(header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}")), CORRUPT(/a shape tuple of non-negative integers .* but found \(2, -3\)/));
  t.throws(read(header("{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3)}")), CORRUPT(/fortran_order True or False/));
  t.throws(read(header("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} junk")), CORRUPT(/syntax error \(expected the end of the header/));
  t.throws(read(header("__import__('os').system('true')")), CORRUPT(/syntax error/));
  t.throws(read(header(`{'descr': ${'['.repeat(50)}`)), CORRUPT(/nesting deeper than 16/));
  t.throws(read(header("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3)}")), { code: 'ERR_SHAPE', message: /Expected 48 data bytes .* but found 24 \(a truncated file\)/ });
});

/** A tiny stored archive of one array, for the zip refusals. */
const smallZip = () => lemma.io.toNpz({ x: lemma.tensor(new Float32Array([1, 2, 3]), [3]) });

test('refused .npz bytes: not a zip, truncated, bad CRC, unsupported method, corrupt deflate, bad entry', (t) => {
  const read = (b: Uint8Array) => () => lemma.io.readNpzSync(b);
  t.notThrows(read(smallZip()));
  t.throws(read(bytesOf('f32_2x3.npy')), CORRUPT(/^Expected a \.npz file \(a zip archive\) for the buffer but found no end-of-central-directory record$/));
  t.throws(read(new Uint8Array(3)), CORRUPT(/but found only 3 bytes/));
  const zip = smallZip();
  t.throws(read(zip.subarray(0, zip.length - 1)), CORRUPT(/no end-of-central-directory record/));
  // Cut the middle out: the directory points past the end.
  t.throws(read(Buffer.concat([zip.subarray(0, 40), zip.subarray(zip.length - 22 - 46 - 5)])), CORRUPT(/central directory inside the file's|a truncated file/));
  const crc = zip.slice();
  crc[zip.length - 22 - 46 - 5 + 16] ^= 0xff;  // the central directory's CRC of entry 0
  t.throws(read(crc), CORRUPT(/\["x\.npy"\] but found [0-9a-f]{8} \(a corrupt entry\)/));
  const dataFlip = zip.slice();
  dataFlip[30 + 5 + 130] ^= 0x01;  // a data byte of the stored entry
  t.throws(read(dataFlip), CORRUPT(/CRC-32/));
  const method = zip.slice();
  method[zip.length - 22 - 46 - 5 + 10] = 12;  // bzip2
  t.throws(read(method), CORRUPT(/a stored \(0\) or deflated \(8\) zip entry .* but found compression method 12/));
  const deflated = bytesOf('bundle_compressed.npz');
  const broken = deflated.slice();
  for (let i = 60; i < 70; i++) broken[i] = 0xff;
  t.throws(read(broken), CORRUPT(/valid deflate stream|CRC-32|inflated bytes/));
  // An entry that is not a valid .npy: the entry is named.
  const notNpy = lemma.io.toNpz({ x: lemma.tensor(new Float32Array([1, 2, 3]), [3]) });
  notNpy[30 + 5 + 1] = 0x00;  // breaks the magic ('N' of NUMPY); the CRC is then fixed below
  const view = new DataView(notNpy.buffer);
  const entryLen = view.getUint32(18, true);
  const fixedCrc = zlib.crc32(notNpy.subarray(35, 35 + entryLen)) >>> 0;
  view.setUint32(14, fixedCrc, true);
  view.setUint32(notNpy.length - 22 - 46 - 5 + 16, fixedCrc, true);
  t.throws(read(notNpy), CORRUPT(/^Expected a \.npy file .* for the buffer\["x\.npy"\] but found other bytes$/));
});

/** A safetensors file from a header object and a data length. */
function st(header: unknown, dataLength: number): Uint8Array {
  const json = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(8 + json.length + dataLength);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  return new Uint8Array(out);
}

test('refused safetensors bytes: header length, JSON, offsets (gap, overlap, out of range), sizes, dtypes', (t) => {
  const read = (b: Uint8Array) => () => lemma.io.readSafetensorsSync(b);
  const f = (dtype: string, shape: number[], o: [number, number]) => ({ dtype, shape, data_offsets: o });
  t.notThrows(read(st({ a: f('F32', [2], [0, 8]), b: f('I32', [1], [8, 12]) }, 12)));
  t.throws(read(new Uint8Array(4)), CORRUPT(/8-byte header length first\) for the buffer but found only 4 bytes/));
  const huge = st({}, 0);
  new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
  t.throws(read(huge), CORRUPT(/header length of at most 2 bytes for the buffer but found 1099511627776/));
  const notJson = st({}, 0);
  notJson[8] = 0x5b;  // '[' : not an object
  t.throws(read(notJson), CORRUPT(/a JSON object header/));
  t.throws(read(st([1, 2], 0)), CORRUPT(/a JSON object header/));
  t.throws(read(st({ a: f('F32', [2], [0, 8]), b: f('F32', [1], [12, 16]) }, 16)), CORRUPT(/\["b"\] but found \[12, 16\] \(a gap\)/));
  t.throws(read(st({ a: f('F32', [2], [0, 8]), b: f('F32', [2], [4, 12]) }, 12)), CORRUPT(/data_offsets starting at byte 8 .*\["b"\] but found \[4, 12\] \(an overlap\)/));
  t.throws(read(st({ a: f('F32', [2], [0, 8]) }, 4)), CORRUPT(/covering all 4 data bytes for the buffer but found data_offsets up to byte 8 \(a truncated file\)/));
  t.throws(read(st({ a: f('F32', [2], [0, 8]) }, 12)), CORRUPT(/but found 4 bytes no tensor owns/));
  t.throws(read(st({ a: f('F32', [2], [8, 0]) }, 8)), CORRUPT(/0 <= begin <= end/));
  t.throws(read(st({ a: f('F32', [2.5], [0, 8]) }, 8)), CORRUPT(/a shape of non-negative integers/));
  t.throws(read(st({ a: { dtype: 'F32', shape: [2] } }, 8)), CORRUPT(/data_offsets \[begin, end\]/));
  t.throws(read(st({ __metadata__: { a: 1 } }, 0)), CORRUPT(/string values in __metadata__ for the buffer but found a number for "a"/));
  t.throws(read(st({ a: f('F32', [3], [0, 8]) }, 8)), { instanceOf: lemma.LemmaError, code: 'ERR_SHAPE', message: /Expected 12 bytes \(shape \[3\], F32\) for the buffer\["a"\] but found data_offsets \[0, 8\]/ });
  t.throws(read(st({ a: f('I64', [1], [0, 8]) }, 8)), { instanceOf: lemma.LemmaError, code: 'ERR_DTYPE', message: /F32, F64, I32 or BOOL for the buffer\["a"\] but found dtype I64: save it as/ });
  t.throws(read(st({ a: f('Q7', [1], [0, 8]) }, 8)), { code: 'ERR_DTYPE', message: /an unknown dtype "Q7"/ });
});

test('argument checks: TypeError / RangeError / ERR_SHAPE / ERR_DTYPE; fs errors pass through; unknown options name the nearest', async (t) => {
  const x = lemma.tensor(new Float32Array(6), [2, 3]);
  await t.throwsAsync(lemma.io.readNpy(42 as never), { instanceOf: TypeError, message: /^Expected a file path \(string\) or the file's bytes .* for source but received 42 of type number$/ });
  t.throws(() => lemma.io.readNpySync(new Float32Array(4) as never), { instanceOf: TypeError });
  await t.throwsAsync(lemma.io.readNpy(fixture('no-such-file.npy')), { code: 'ENOENT' });
  t.throws(() => lemma.io.readSafetensorsSync(fixture('no-such-file.safetensors')), { code: 'ENOENT' });
  await t.throwsAsync(lemma.io.readNpz(path.join(DIR, 'missing', 'x.npz')), { code: 'ENOENT' });
  await t.throwsAsync(lemma.io.writeNpy(path.join(DIR, 'missing', 'x.npy'), x), { code: 'ENOENT' });
  await t.throwsAsync(lemma.io.readSafetensors(fixture('model.safetensors'), { halff: 'refuse' } as never),
    { instanceOf: TypeError, message: /^Expected a known option name \(did you mean 'half'\?\) for options but received "halff"/ });
  t.throws(() => lemma.io.readSafetensorsSync(fixture('model.safetensors'), { half: 'float16' } as never), { instanceOf: RangeError, message: /options\.half/ });
  await t.throwsAsync(lemma.io.writeNpy(1 as never, x), { instanceOf: TypeError, message: /for path/ });
  t.throws(() => lemma.io.toNpy({ data: [1, 2], shape: [2] } as never), { instanceOf: TypeError, message: /Int32Array or Uint8Array \(bool\) for tensor\.data/ });
  t.throws(() => lemma.io.toNpy({ data: new Float32Array(5), shape: [2, 3] }), { instanceOf: lemma.LemmaError, code: 'ERR_SHAPE' });
  t.throws(() => lemma.io.toNpy({ data: new Float32Array(6), shape: [2, -3] }), { instanceOf: RangeError });
  t.throws(() => lemma.io.toNpy({ data: new Float32Array(6), shape: [2, 3], dtype: 'int32' }), { instanceOf: lemma.LemmaError, code: 'ERR_DTYPE' });
  t.throws(() => lemma.io.toNpy({ data: new Uint8Array([0, 1, 2]), shape: [3] }), { instanceOf: RangeError, message: /a Uint8Array is written as bool\) but found another value at index 2/ });
  t.throws(() => lemma.io.toNpz({ a: x, b: { data: new Float64Array(1), shape: [2] } }), { code: 'ERR_SHAPE', message: /tensors\["b"\]\.data/ });
  t.throws(() => lemma.io.toNpz([x] as never), { instanceOf: TypeError });
  t.throws(() => lemma.io.toSafetensors({ __metadata__: x }), { instanceOf: TypeError, message: /other than "__metadata__"/ });
  t.throws(() => lemma.io.toSafetensors({ x }, { step: 3 } as never), { instanceOf: TypeError, message: /metadata\["step"\]/ });
  // Writers never keep or modify the input.
  const data = new Float32Array([1, 2, 3]);
  lemma.io.toSafetensors({ d: { data, shape: [3] } });
  t.deepEqual(Array.from(data), [1, 2, 3]);
});
