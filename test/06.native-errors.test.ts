/**
 * The native layer's one set of rules (native/napi/convert.h), checked across families by
 * calling the binding directly (lib/binding.ts's `native`, bypassing the TS validation):
 *   - a native ERR_DTYPE is a plain Error with a code (not a TypeError), which fromNative turns
 *     into a LemmaError ERR_DTYPE; the public API's own dtype errors are LemmaError ERR_DTYPE too;
 *   - typed arrays: subarray views are read at their byteOffset; detached buffers are refused;
 *   - handles: a value that is not a handle of the expected kind (another family's handle
 *     included) is a TypeError "expected a <kind> handle"; a disposed handle is ERR_DISPOSED;
 *     dispose while a call runs is safe;
 *   - a sync call asking for CUDA is ERR_CUDA_UNAVAILABLE in every family;
 *   - the exception guard turns a failed host allocation into ERR_OOM.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import { native } from '../lib/binding.js';
import type { DeviceHandle, DikinSamplerHandle, NativeDikinParams, NativeTargetSpec, PolytopeBodyHandle, SparseIndexHandle } from '../lib/binding.js';
import { LemmaError, fromNative } from '../lib/errors.js';

type Coded = Error & { code?: string };
const caps = native.capabilities();
const gpuUsable = caps.cuda.compiled && caps.cuda.deviceCount > 0;

const attnParams = { B: 1, Hq: 1, Hkv: 1, Nq: 4, Nk: 4, D: 8, scale: 0.3, causal: false, deterministic: true, materialized: false };
const f32 = (n: number, seed = 1) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 0.37));
const dpShape = { d: 2, levels: 3, gridBits: 4, lo: new Float64Array([0, 0]), hi: new Float64Array([1, 1]) };
const dpSlots = 2 * 2 ** (dpShape.levels + 1);
const sparseParams = { B: 1, Hkv: 1, N: 16, D: 8, blockSize: 64, order: 0 as const, levels: 0 as const };
const sparseAttend = { Hq: 1, M: 2, scale: 0.3, causal: false, activation: 0 as const, alpha: 1, calibrate: false, keep: 0, tolerance: 1, denseAbove: 1, cuda: false };
const square = () => lemma.polytope.halfspaces([[1, 0], [-1, 0], [0, 1], [0, -1]], [1, 1, 1, 1]);

/** Asserts a raw native error is a plain Error with `code` and that fromNative makes it a LemmaError. */
function nativeCode(t: { is: (a: unknown, b: unknown, m?: string) => void; false: (a: boolean, m?: string) => void; true: (a: boolean, m?: string) => void }, err: unknown, code: string, what: string) {
  const e = err as Coded;
  t.is(e?.code, code, `${what}: code`);
  t.false(e instanceof TypeError, `${what}: not a TypeError`);
  const site = new Error();
  const l = fromNative(e, site);
  t.true(l instanceof LemmaError, `${what}: fromNative gives a LemmaError`);
  t.is((l as Coded).code, code, `${what}: fromNative keeps the code`);
}

test('native dtype errors are plain Errors with ERR_DTYPE in every family, LemmaErrors after fromNative', async (t) => {
  const i32 = new Int32Array(32) as never;
  const cases: Array<[string, () => unknown]> = [
    ['attention', () => native.attentionForwardSync(i32, f32(32), f32(32), new Float32Array(32), new Float32Array(4), attnParams)],
    ['attention (mixed dtypes)', () => native.attentionForwardSync(f32(32), new Float64Array(32) as never, f32(32), new Float32Array(32), new Float32Array(4), attnParams)],
    ['dp', () => native.dpL1BuildSync(i32, new Float64Array(dpSlots), new Float64Array(dpSlots), { ...dpShape, n: 16 })],
    ['dp params', () => native.dpL1BuildSync(new Float64Array(4), new Float64Array(dpSlots), new Float64Array(dpSlots), { ...dpShape, n: 2, lo: new Float32Array(2) as never })],
    ['sparse', () => native.sparseIndexBuildSync(new Float64Array(128) as never, f32(128), sparseParams)],
    ['looped', () => native.loopedIterateSync(new Float32Array(4), new Float32Array(2), new Float32Array(2), new Float32Array(1) as never, new Int32Array(1), new Float64Array(1), new Float64Array(0),
      { S: 1, d: 2, activation: 0, maxSteps: 4, tEnd: 4, tol: 1e-6, noise: 0, seedLo: 0, seedHi: 0, earlyExit: true })],
    ['subleq', () => native.subleqEncode(new Float32Array(3) as never, new Int32Array(4), { M: 4, P: 2, N: 8, layers: 9 })],
    ['polytope', () => native.polytopeBody({ kind: 'dense', M: 1, d: 1, A: new Float32Array(1) as never, b: new Float64Array(1) })],
    ['polytope diagnostics', () => native.polytopeDiagnostics(new Float32Array(8) as never, 2, 4, 1)],
    ['streamRead', () => native.streamRead([new DataView(new ArrayBuffer(8))])],
  ];
  for (const [what, fn] of cases) {
    let err: unknown;
    try {
      await fn();
    } catch (e) {
      err = e;
    }
    nativeCode(t, err, 'ERR_DTYPE', what);
  }
  // The async twins reject with the same error.
  const e = await t.throwsAsync(async () => native.polyAttentionForward(i32, f32(32), f32(32), new Float32Array(32), new Float32Array(4),
    { B: 1, Hq: 1, Hkv: 1, Nq: 4, Nk: 4, D: 8, scale: 0.3, degree: 2, causal: false, chunk: 8 }));
  nativeCode(t, e, 'ERR_DTYPE', 'polyAttention');
  // And the public API says the same for the same mistake.
  const q = { data: f32(32), shape: [1, 1, 4, 8] };
  const k64 = { data: new Float64Array(32), shape: [1, 1, 4, 8] };
  t.throws(() => lemma.attention.forwardSync(q, k64 as never, q), { instanceOf: LemmaError, code: 'ERR_DTYPE' });
});

test('typed arrays: subarray views are read at their byteOffset; detached buffers are refused', async (t) => {
  const q = f32(32, 1), k = f32(32, 2), v = f32(32, 3);
  const out = new Float32Array(32), lse = new Float32Array(4);
  native.attentionForwardSync(q, k, v, out, lse, attnParams);
  // The same inputs and outputs as views into larger buffers, at a non-zero offset.
  const big = (a: Float32Array, at: number) => {
    const b = new Float32Array(a.length + 2 * at).fill(1e3);
    b.set(a, at);
    return b.subarray(at, at + a.length);
  };
  const qv = big(q, 5), kv = big(k, 3), vv = big(v, 7), outv = big(new Float32Array(32), 9), lsev = big(new Float32Array(4), 1);
  await native.attentionForward(qv, kv, vv, outv, lsev, attnParams);
  t.deepEqual(Array.from(outv), Array.from(out));
  t.deepEqual(Array.from(lsev), Array.from(lse));
  t.is(outv.buffer.byteLength, (32 + 18) * 4);
  t.is(new Float32Array(outv.buffer)[8], 1e3, 'nothing written before the view');
  t.is(new Float32Array(outv.buffer)[9 + 32], 1e3, 'nothing written after the view');
  // Detached: a clear ERR_SHAPE naming the argument (as lib/tensor.ts says for the same mistake).
  const gone = f32(32);
  structuredClone(gone.buffer, { transfer: [gone.buffer] });
  const e = t.throws(() => native.attentionForwardSync(gone, k, v, out, lse, attnParams)) as Coded;
  nativeCode(t, e, 'ERR_SHAPE', 'detached');
  t.regex(e.message, /^q is backed by a detached buffer$/);
  const e2 = t.throws(() => native.streamRead([gone])) as Coded;
  t.is(e2.code, 'ERR_SHAPE');
});

test('a value that is not a handle of the expected kind is a TypeError in every family', async (t) => {
  const body = square();
  const bodyH = body.handle();
  const sparseH = native.sparseIndexBuildSync(f32(128, 1), f32(128, 2), sparseParams);
  const fakes: unknown[] = [{}, null, 42, 'handle', bodyH, sparseH];
  const q = f32(16), thr = new Float64Array(1), out = new Float32Array(16);
  const dikinParams = {} as NativeDikinParams;
  for (const h of fakes) {
    const checks: Array<[string, () => unknown, RegExp]> = [
      ['sparse', () => native.sparseIndexAttendSync(h as SparseIndexHandle, q, thr, out, null, sparseAttend), /^index: expected a sparse key index handle$/],
      ['sparse info', () => native.sparseIndexInfo(h as SparseIndexHandle), /expected a sparse key index handle/],
      ['sparse dispose', () => native.sparseIndexDispose(h as SparseIndexHandle), /expected a sparse key index handle/],
      ['polytope body', () => native.polytopeBodyContains(h as PolytopeBodyHandle, new Float64Array(2)), /^body: expected a polytope body handle$/],
      ['polytope body dispose', () => native.polytopeBodyDispose(h as PolytopeBodyHandle), /expected a polytope body handle/],
      ['dikin create', () => native.dikinSampler(h as PolytopeBodyHandle, { kind: 'uniform' }, dikinParams), /^body: expected a polytope body handle$/],
      ['dikin sampler', () => native.dikinRecorded(h as DikinSamplerHandle), /^sampler: expected a Dikin sampler handle$/],
      ['dikin dispose', () => native.dikinDispose(h as DikinSamplerHandle), /expected a Dikin sampler handle/],
      ['cuda free', () => native.cudaFree(h as DeviceHandle), /^tensor: expected a device tensor handle$/],
      ['cuda download', () => native.cudaDownload(h as DeviceHandle, new Float32Array(1)), /^tensor: expected a device tensor handle$/],
      ['attention cuda', () => native.attentionForwardCuda(h as DeviceHandle, h as DeviceHandle, h as DeviceHandle, h as DeviceHandle, h as DeviceHandle, attnParams, 0),
        /^q: expected a device tensor handle$/],
    ];
    for (const [what, fn, message] of checks) {
      if ((what.startsWith('sparse') && h === sparseH) || ((what === 'polytope body' || what === 'polytope body dispose' || what === 'dikin create') && h === bodyH)) continue;
      t.throws(fn, { instanceOf: TypeError, message }, `${what} with ${typeof h === 'object' && h !== null ? 'another handle or object' : String(h)}`);
    }
  }
  // The handles used as foreign values above are unharmed.
  t.is(native.polytopeBodyContains(bodyH, new Float64Array(2)), '');
  t.is(native.sparseIndexInfo(sparseH).N, 16);
  native.sparseIndexDispose(sparseH);
  body.dispose();
});

test.serial('a disposed handle is ERR_DISPOSED in every family; dispose is idempotent and safe while a call runs', async (t) => {
  const disposed = { instanceOf: Error, code: 'ERR_DISPOSED' } as const;
  // sparse
  const sh = native.sparseIndexBuildSync(f32(128, 1), f32(128, 2), sparseParams);
  const pending = native.sparseIndexAttend(sh, f32(16), new Float64Array(1), new Float32Array(16), null, sparseAttend);
  native.sparseIndexDispose(sh);
  native.sparseIndexDispose(sh);
  await t.notThrowsAsync(pending, 'the attend in flight finishes on the memory it co-owns');
  t.throws(() => native.sparseIndexInfo(sh), { ...disposed, message: /^index has been disposed \(sparse key index\)$/ });
  t.throws(() => native.sparseIndexAttendSync(sh, f32(16), new Float64Array(1), new Float32Array(16), null, sparseAttend), disposed);
  await t.throwsAsync(async () => native.sparseIndexAppend(sh, f32(8), f32(8), 1), disposed);
  // polytope body: capture a live sampler's arguments through lemma.sample.dikin.
  const body = square();
  const bh = body.handle();
  const orig = native.dikinSampler;
  let args: [PolytopeBodyHandle, NativeTargetSpec, NativeDikinParams] | null = null;
  let used: DikinSamplerHandle | null = null;
  (native as { dikinSampler: typeof orig }).dikinSampler = (b, tg, p) => {
    args = [b, tg, p];
    used = orig(b, tg, p);
    return used;
  };
  try {
    await lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 2, steps: 20, seed: 3 });
  } finally {
    (native as { dikinSampler: typeof orig }).dikinSampler = orig;
  }
  t.not(args, null);
  // lemma.sample.dikin disposed its sampler when it finished.
  t.throws(() => native.dikinRecorded(used!), { ...disposed, message: /^sampler has been disposed \(Dikin sampler\)$/ });
  await t.throwsAsync(async () => native.dikinRun(used!, 1), disposed);
  native.dikinDispose(used!);
  native.dikinAbort(used!);
  // A sampler disposed while a run is queued or running: the run settles normally on the state
  // it co-owns (dispose also aborts it; a round already under way finishes its steps), and the
  // state is freed after.
  const s = native.dikinSampler(...args!);
  native.dikinSetStart(s, new Float64Array(4), null);
  const run = native.dikinRun(s, 1e5);
  native.dikinDispose(s);
  const done = await run;
  t.true(done === 0 || done === 1e5, `the run did all its steps or none (${done})`);
  t.throws(() => native.dikinStepsDone(s), disposed);
  // The body: a call in flight keeps it; later calls are ERR_DISPOSED.
  const center = native.polytopeAnalyticCenter(bh);
  body.dispose();
  body.dispose();
  const c = await center;
  t.true(Math.abs(c.x[0]) < 1e-6 && Math.abs(c.x[1]) < 1e-6);
  t.throws(() => native.polytopeBodyContains(bh, new Float64Array(2)), { ...disposed, message: /^body has been disposed \(polytope body\)$/ });
  await t.throwsAsync(async () => native.polytopeLewisWeights(bh, new Float64Array(2), 2, 1e-8, 100), disposed);
  t.throws(() => native.dikinSampler(bh, { kind: 'uniform' }, args![2]), disposed);
  t.throws(() => body.contains([0, 0]), { instanceOf: LemmaError, code: 'ERR_DISPOSED' });
  // cuda: no device handle can exist in a build without CUDA (cudaAlloc refuses first).
  if (!caps.cuda.compiled) {
    t.throws(() => native.cudaAlloc(4, 0), { code: 'ERR_CUDA_UNAVAILABLE' });
    return;
  }
  // Allocation is lazy (the first call that uses the buffer allocates it), so this needs no GPU.
  const dh = native.cudaAlloc(4, 0);
  native.cudaFree(dh);
  native.cudaFree(dh);
  await t.throwsAsync(async () => native.cudaDownload(dh, new Float32Array(4)), { ...disposed, message: /^tensor has been disposed \(device tensor\)$/ });
  t.throws(() => native.attentionForwardCuda(dh, dh, dh, dh, dh, attnParams, 0), { ...disposed, message: /^q has been disposed/ });
});

test('a sync call asking for CUDA is ERR_CUDA_UNAVAILABLE in every family', (t) => {
  const q = { data: f32(32), shape: [1, 1, 4, 8] };
  const unavailable = { instanceOf: LemmaError, code: 'ERR_CUDA_UNAVAILABLE' } as const;
  // attention: no sync CUDA path, with or without a GPU.
  t.throws(() => lemma.attention.forwardSync(q, q, q, { device: 'cuda' }), unavailable);
  const f = lemma.attention.forwardSync(q, q, q);
  t.throws(() => lemma.attention.backwardSync({ q, k: q, v: q, out: f.out, lse: f.lse, dOut: q }, { device: 'cuda' }), unavailable);
  // dp: the sync query has no CUDA path either (the native layer refuses it the same way).
  const cnt = new Float64Array(dpSlots), sum = new Float64Array(dpSlots);
  const e = t.throws(() => native.dpL1QuerySync(cnt, sum, new Float64Array(2), new Float64Array(1), { ...dpShape, device: 'cuda' })) as Coded;
  nativeCode(t, e, 'ERR_CUDA_UNAVAILABLE', 'dp query sync');
  // sparse has a sync CUDA path (it runs on the GPU, blocking); without one it is refused alike.
  if (!gpuUsable) {
    const index = lemma.sparse.keyIndexSync({ data: f32(128, 1), shape: [1, 1, 16, 8] }, { data: f32(128, 2), shape: [1, 1, 16, 8] });
    t.throws(() => index.attendSync({ data: f32(16), shape: [1, 1, 2, 8] }, { threshold: 0, device: 'cuda' }), unavailable);
    const sh = native.sparseIndexBuildSync(f32(128, 1), f32(128, 2), sparseParams);
    const e2 = t.throws(() => native.sparseIndexAttendSync(sh, f32(16), new Float64Array(1), new Float32Array(16), null, { ...sparseAttend, cuda: true })) as Coded;
    if (!caps.cuda.compiled) nativeCode(t, e2, 'ERR_CUDA_UNAVAILABLE', 'sparse attend sync');
    else t.true(['ERR_CUDA_UNAVAILABLE', 'ERR_CUDA'].includes(e2.code!), `sparse attend sync on a CUDA build without a GPU: ${e2.code}`);
    native.sparseIndexDispose(sh);
    index.dispose();
  }
});

test('the exception guard turns a failed host allocation in a native call into ERR_OOM', (t) => {
  // polytopeDiagnostics(samples, C, N, d) sizes its per-coordinate outputs by d before queueing
  // the work: C = N = 0 makes a huge d self-consistent with an empty samples array, so the
  // binding's own std::vector<double>(d) throws (std::bad_alloc for 2^59 doubles, std::length_error
  // past max_size) on the calling thread; the guard maps both to ERR_OOM. The worker-thread guard
  // (AsyncJob) is the same function (convert.h guarded / exception_status).
  for (const d of [2 ** 59, 2 ** 62]) {
    const e = t.throws(() => native.polytopeDiagnostics(new Float64Array(0), 0, 0, d)) as Coded;
    nativeCode(t, e, 'ERR_OOM', `d = 2^${Math.log2(d)}`);
    t.regex(e.message, /^out of host memory/);
  }
  // The process is fine afterwards.
  t.is(native.polytopeBodyContains(square().handle(), new Float64Array(2)), '');
});
