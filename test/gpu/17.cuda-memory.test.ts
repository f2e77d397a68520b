/**
 * Device memory ownership and accounting of the CUDA binding (native/napi/cuda_binding.cc,
 * cuda/common/device_memory.cu), on any usable device; the fault-injection checks need the
 * emulated device (LEMMA_CUDA=EMULATE: its test hooks are the addon's `cudaEmulator`).
 *  - dispose() of inputs and outputs right after a call starts: the call co-owns the memory,
 *    finishes with correct results, and the memory is freed after it (memory() back to the start,
 *    and the emulated runtime's own count back too); many concurrent calls with disposes; the
 *    finalizer of tensors nobody disposed;
 *  - no allocation or free on the event loop: dispose() returns at once while kernels run, and a
 *    10 ms interval keeps firing during every kind of call;
 *  - memory() never under-reports (workspace counts until the stream reaches its free) and is
 *    exact after lemma.cuda.synchronize();
 *  - out of memory on the k-th allocation of an upload / forward / backward: ERR_CUDA_OOM, nothing
 *    leaks; a sticky fault: ERR_CUDA naming it, no crash, everything works again after reset;
 *  - the binding's own checks: disposed handles (ERR_DISPOSED), sizes, dtypes, aliasing outputs.
 * Tolerances are the unit roundoff of the precision × a small factor against the fp64 path (the
 * kernels' parity is the native test's job; these catch memory, not rounding). Run with
 *   LEMMA_ADDON=build-emu-NAME/Release/lemma.node npx ava test/gpu/17.cuda-memory.test.ts
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import * as lemma from '../../lib/index.js';
import type { Tensor } from '../../lib/index.js';
import { native } from '../../lib/binding.js';
import type { DeviceHandle, NativeAttentionParams, NativeCudaEmulator } from '../../lib/binding.js';
import { gaussian, relErr } from '../helpers/attention.js';

const usable = lemma.cudaAvailable();
const emu: NativeCudaEmulator | undefined = native.cudaEmulator;
const reason = lemma.capabilities().cuda.compiled ? lemma.capabilities().cuda.reason : 'lemma was built without CUDA';
if (!usable) console.log(`test/gpu/17.cuda-memory.test.ts skipped: no usable GPU (${reason})`);
else if (!emu) console.log('test/gpu/17.cuda-memory.test.ts: fault injection skipped (not the emulated device)');
const gpuTest = usable ? test.serial : test.skip;
const emuTest = usable && emu ? test.serial : test.skip;

type Shape = { B: number; Hq: number; Hkv: number; Nq: number; Nk: number; D: number; causal: boolean };
const TOL = { fp32: 1e-5, bf16: 5e-2 } as const;
const DTYPE = { fp32: 'float32', bf16: 'bfloat16' } as const;

const mk = (shape: number[], seed: number): Tensor<Float32Array> =>
  ({ data: Float32Array.from(gaussian(shape.reduce((a, b) => a * b, 1), seed)), shape });
const wide = (t: Tensor): Tensor<Float64Array> => ({ data: Float64Array.from(t.data), shape: t.shape });

interface Case {
  s: Shape;
  q: Tensor<Float32Array>; k: Tensor<Float32Array>; v: Tensor<Float32Array>; dOut: Tensor<Float32Array>;
  ref: { out: Tensor; lse: Tensor; dq: Tensor; dk: Tensor; dv: Tensor };
}
async function makeCase(s: Shape, seed: number): Promise<Case> {
  const q = mk([s.B, s.Hq, s.Nq, s.D], seed), k = mk([s.B, s.Hkv, s.Nk, s.D], seed + 1);
  const v = mk([s.B, s.Hkv, s.Nk, s.D], seed + 2), dOut = mk([s.B, s.Hq, s.Nq, s.D], seed + 3);
  const f = await lemma.attention.forward(wide(q), wide(k), wide(v), { causal: s.causal });
  const g = await lemma.attention.backward({ q: wide(q), k: wide(k), v: wide(v), out: f.out, lse: f.lse, dOut: wide(dOut) }, { causal: s.causal });
  return { s, q, k, v, dOut, ref: { out: f.out, lse: f.lse, dq: g.dq, dk: g.dk, dv: g.dv } };
}

/** memory() once every pending free has run (and the emulated runtime's own count). */
async function settled(): Promise<{ lemma: number; runtime: number }> {
  await lemma.cuda.synchronize();
  return { lemma: lemma.cuda.memory().bytesInUse, runtime: emu ? emu('info').memoryUsed : 0 };
}
async function sameMemory(t: ExecutionContext, base: { lemma: number; runtime: number }, what: string): Promise<void> {
  const now = await settled();
  t.is(now.lemma, base.lemma, `${what}: lemma.cuda.memory().bytesInUse back to the start`);
  if (emu) t.is(now.runtime, base.runtime, `${what}: the emulated runtime's allocations back to the start`);
}

async function checkHost(t: ExecutionContext, d: lemma.cuda.DeviceTensor, ref: Tensor, tol: number, what: string): Promise<void> {
  const h = await d.toHost();
  const e = relErr(h.data, ref.data);
  t.true(e <= tol, `${what}: relative error ${e} > ${tol}`);
}

const upload = (c: Case, precision: 'fp32' | 'bf16') =>
  Promise.all([c.q, c.k, c.v, c.dOut].map((x) => lemma.cuda.tensor(x, { dtype: DTYPE[precision] })));

/** Counts the gaps between ticks of a 10 ms interval while `body` runs. */
async function watchLoop<T>(body: () => Promise<T>): Promise<{ value: T; ms: number; maxGap: number; ticks: number }> {
  let last = performance.now();
  let maxGap = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, 10);
  const t0 = performance.now();
  try {
    const value = await body();
    const ms = performance.now() - t0;
    maxGap = Math.max(maxGap, performance.now() - last);
    return { value, ms, maxGap, ticks };
  } finally {
    clearInterval(timer);
  }
}

const SMALL: Shape = { B: 1, Hq: 2, Hkv: 1, Nq: 70, Nk: 90, D: 32, causal: true };

gpuTest('dispose of the inputs right after forward / backward / toHost start: correct results, memory freed after', async (t) => {
  const base = await settled();
  const c = await makeCase({ B: 1, Hq: 2, Hkv: 2, Nq: 200, Nk: 160, D: 64, causal: true }, 11);
  for (const precision of ['fp32', 'bf16'] as const) {
    const o = { causal: c.s.causal, precision };
    const [q, k, v, dOut] = await upload(c, precision);
    // forward: its inputs disposed before the job even runs.
    const [q2, k2, v2, d2] = await upload(c, precision);
    const fwd = lemma.attention.forward(q2, k2, v2, o);
    for (const x of [q2, k2, v2, d2]) x.dispose();
    t.true(q2.disposed);
    const f = await fwd;
    await checkHost(t, f.out, c.ref.out, TOL[precision], `${precision} out`);
    await checkHost(t, f.lse, c.ref.lse, TOL[precision], `${precision} lse`);
    // backward: all six inputs (two of them the forward's outputs) disposed at once.
    const bwd = lemma.attention.backward({ q, k, v, out: f.out, lse: f.lse, dOut }, o);
    for (const x of [q, k, v, f.out, f.lse, dOut]) x.dispose();
    const g = await bwd;
    for (const name of ['dq', 'dk', 'dv'] as const) await checkHost(t, g[name], c.ref[name], 4 * TOL[precision], `${precision} ${name}`);
    // toHost: the tensor disposed while its download is queued.
    const down = g.dq.toHost();
    g.dq.dispose();
    t.true(relErr((await down).data, c.ref.dq.data) <= 4 * TOL[precision], `${precision}: toHost of a tensor disposed after the call started`);
    g.dk.dispose();
    g.dv.dispose();
    await t.throwsAsync(g.dq.toHost(), { instanceOf: lemma.LemmaError, code: 'ERR_DISPOSED', message: /^tensor is a disposed device tensor/ });
  }
  await sameMemory(t, base, 'after the disposes');
});

gpuTest('dispose of outputs while the call that writes them runs (native handles): no crash, memory freed after', async (t) => {
  const base = await settled();
  const s = SMALL;
  const c = await makeCase(s, 21);
  const p: NativeAttentionParams = { ...s, scale: 1 / Math.sqrt(s.D), deterministic: true, materialized: false };
  const [q, k, v, dOut] = await upload(c, 'fp32');
  const h = (x: lemma.cuda.DeviceTensor) => x.handle();
  for (let i = 0; i < 4; i++) {
    const out = native.cudaAlloc(s.B * s.Hq * s.Nq * s.D, 0), lse = native.cudaAlloc(s.B * s.Hq * s.Nq, 0);
    const run = native.attentionForwardCuda(h(q), h(k), h(v), out, lse, p, 0);
    native.cudaFree(out);
    native.cudaFree(lse);
    native.cudaFree(lse);  // idempotent
    await run;
    t.throws(() => native.cudaDownload(out, new Float32Array(s.B * s.Hq * s.Nq * s.D)), { code: 'ERR_DISPOSED', message: /^tensor has been disposed/ });
  }
  // The same for the gradients of a backward, and an output that is downloaded and disposed.
  const out = native.cudaAlloc(s.B * s.Hq * s.Nq * s.D, 0), lse = native.cudaAlloc(s.B * s.Hq * s.Nq, 0);
  await native.attentionForwardCuda(h(q), h(k), h(v), out, lse, p, 0);
  const grads = [native.cudaAlloc(q.size, 0), native.cudaAlloc(k.size, 0), native.cudaAlloc(v.size, 0)];
  const run = native.attentionBackwardCuda(h(q), h(k), h(v), out, lse, h(dOut), grads[0], grads[1], grads[2], p, 0);
  const host = new Float32Array(s.B * s.Hq * s.Nq * s.D);
  const down = native.cudaDownload(out, host);
  for (const g of [...grads, out, lse]) native.cudaFree(g);
  await run;
  await down;
  t.true(relErr(host, c.ref.out.data) <= TOL.fp32, 'out downloaded after its handle was disposed');
  for (const x of [q, k, v, dOut]) x.dispose();
  await sameMemory(t, base, 'after the disposes');
});

gpuTest('many concurrent calls with disposes at random moments: every result correct, nothing leaks', async (t) => {
  const base = await settled();
  const c = await makeCase(SMALL, 31);
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
  const moments: Array<() => Promise<void>> = [
    async () => {},
    () => Promise.resolve(),
    () => new Promise((r) => setImmediate(r)),
    () => new Promise((r) => setTimeout(r, 1 + Math.floor(rand() * 5))),
  ];
  const later = (fn: () => void) => { void moments[Math.floor(rand() * moments.length)]().then(fn); };
  const one = async (i: number): Promise<string[]> => {
    const f: string[] = [];
    const precision = i % 3 === 0 ? 'bf16' : 'fp32';
    const o = { causal: SMALL.causal, precision, deterministic: i % 2 === 0 } as const;
    const [q, k, v, dOut] = await upload(c, precision);
    const fwd = lemma.attention.forward(q, k, v, o);
    if (rand() < 0.5) later(() => v.dispose());
    const r = await fwd;
    if (v.disposed) {
      const e = relErr((await r.out.toHost()).data, c.ref.out.data);
      if (!(e <= TOL[precision])) f.push(`${i} ${precision}: out error ${e} (v disposed during the forward)`);
      for (const x of [q, k, dOut, r.out, r.lse]) x.dispose();
      return f;
    }
    const bwd = lemma.attention.backward({ q, k, v, out: r.out, lse: r.lse, dOut }, o);
    for (const x of [q, k, v, dOut, r.lse]) later(() => x.dispose());
    const outHost = r.out.toHost();
    later(() => r.out.dispose());
    const g = await bwd;
    const eo = relErr((await outHost).data, c.ref.out.data);
    if (!(eo <= TOL[precision])) f.push(`${i} ${precision}: out error ${eo}`);
    for (const name of ['dq', 'dk', 'dv'] as const) {
      const d = g[name].toHost();
      later(() => g[name].dispose());
      const e = relErr((await d).data, c.ref[name].data);
      if (!(e <= 4 * TOL[precision])) f.push(`${i} ${precision}: ${name} error ${e}`);
    }
    return f;
  };
  const failures = (await Promise.all(Array.from({ length: 24 }, (_, i) => one(i)))).flat();
  t.deepEqual(failures, []);
  await new Promise((r) => setTimeout(r, 20));  // the last `later` disposes
  await sameMemory(t, base, 'after 24 concurrent call chains');
});

gpuTest('tensors nobody disposed are freed by their finalizer, also while a call uses them', async (t) => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return t.fail('run with --expose-gc (the ava config passes it)');
  const base = await settled();
  const s = SMALL;
  const c = await makeCase(s, 41);
  const p: NativeAttentionParams = { ...s, scale: 1 / Math.sqrt(s.D), deterministic: true, materialized: false };
  const nOut = s.B * s.Hq * s.Nq * s.D;
  // A native forward whose input and lse handles become garbage while it runs: only the call
  // owns their memory now (the public API's Promise chain would keep them reachable).
  const start = async () => {
    const [qh, kh, vh] = await Promise.all([c.q, c.k, c.v].map((x) => native.cudaUpload(x.data, 0)));
    const out = native.cudaAlloc(nOut, 0);
    return { run: native.attentionForwardCuda(qh, kh, vh, out, native.cudaAlloc(s.B * s.Hq * s.Nq, 0), p, 0), out };
  };
  const { run, out } = await start();
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  await run;
  const host = new Float32Array(nOut);
  await native.cudaDownload(out, host);
  t.true(relErr(host, c.ref.out.data) <= TOL.fp32, 'out of a call whose inputs were collected while it ran');
  let kept: lemma.cuda.DeviceTensor[] = [];
  for (let i = 0; i < 8; i++) kept.push(await lemma.cuda.tensor(c.q));
  const live = 4 * nOut;
  t.true(lemma.cuda.memory().bytesInUse >= base.lemma + live + 8 * 4 * c.q.data.length, 'the undisposed tensors are counted');
  kept = [];  // never disposed: garbage now
  let now = -1;
  for (let i = 0; i < 200 && now !== base.lemma + live; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
    now = (await settled()).lemma;
  }
  t.is(now, base.lemma + live, 'only the live output remains after GC');
  native.cudaFree(out);
  await sameMemory(t, base, 'after GC and dispose');
});

gpuTest('nothing blocks the event loop: dispose() returns at once while kernels run; a 10 ms interval keeps firing', async (t) => {
  const base = await settled();
  const s: Shape = { B: 1, Hq: 4, Hkv: 2, Nq: 512, Nk: 512, D: 64, causal: false };
  const q = mk([s.B, s.Hq, s.Nq, s.D], 51), k = mk([s.B, s.Hkv, s.Nk, s.D], 52), v = mk([s.B, s.Hkv, s.Nk, s.D], 53);
  const big = { data: new Float64Array(1 << 21).fill(0.5), shape: [1 << 21] };
  const [qd, kd, vd] = await Promise.all([q, k, v].map((x) => lemma.cuda.tensor(x)));
  const bystander = await lemma.cuda.tensor(q);
  let disposeMs = -1;
  const fwd = await watchLoop(async () => {
    const p = lemma.attention.forward(qd, kd, vd);
    await new Promise((r) => setTimeout(r, 30));  // kernels are running now
    const t0 = performance.now();
    bystander.dispose();
    disposeMs = performance.now() - t0;
    return p;
  });
  t.log(`forward ${fwd.ms.toFixed(0)} ms: ${fwd.ticks} ticks, longest gap ${fwd.maxGap.toFixed(0)} ms; dispose() took ${disposeMs.toFixed(2)} ms`);
  // Emulated kernels take about half a second here; on a GPU the call may end before the dispose.
  if (emu || fwd.ms > 300) {
    t.true(fwd.ms > 100, `the forward took only ${fwd.ms} ms: too short to show a blocked event loop`);
    t.true(disposeMs < 50, `dispose() took ${disposeMs} ms while kernels ran (a cudaFree on the event loop waits for them)`);
    t.true(fwd.maxGap < Math.max(100, fwd.ms / 2), `the event loop stalled for ${fwd.maxGap} ms of a ${fwd.ms} ms forward`);
  }
  const calls: Array<[string, () => Promise<unknown>]> = [
    ['upload 2M float64 -> bfloat16', () => lemma.cuda.tensor(big, { dtype: 'bfloat16' }).then((d) => d.dispose())],
    ['backward', () => lemma.attention.backward({ q: qd, k: kd, v: vd, out: fwd.value.out, lse: fwd.value.lse, dOut: qd })
      .then((g) => { for (const x of [g.dq, g.dk, g.dv]) x.dispose(); })],
    ['toHost float64', () => fwd.value.out.toHost({ dtype: 'float64' })],
    ['synchronize', () => lemma.cuda.synchronize()],
  ];
  for (const [name, call] of calls) {
    const w = await watchLoop(call);
    t.log(`${name}: ${w.ms.toFixed(0)} ms, ${w.ticks} ticks, longest gap ${w.maxGap.toFixed(0)} ms`);
    t.true(w.maxGap < Math.max(100, w.ms / 2), `${name}: the event loop stalled for ${w.maxGap} ms of ${w.ms} ms`);
  }
  for (const x of [qd, kd, vd, fwd.value.out, fwd.value.lse]) x.dispose();
  await sameMemory(t, base, 'after the calls');
});

gpuTest('memory() never under-reports workspace in flight and is exact after synchronize()', async (t) => {
  const base = await settled();
  // D = 40 is staged through padded workspace copies; backward adds its dQ accumulator.
  const s: Shape = { B: 1, Hq: 2, Hkv: 1, Nq: 384, Nk: 384, D: 40, causal: true };
  const q = mk([s.B, s.Hq, s.Nq, s.D], 61), k = mk([s.B, s.Hkv, s.Nk, s.D], 62), v = mk([s.B, s.Hkv, s.Nk, s.D], 63);
  const [qd, kd, vd] = await Promise.all([q, k, v].map((x) => lemma.cuda.tensor(x)));
  const f = await lemma.attention.forward(qd, kd, vd, { causal: true });
  const tensors = [qd, kd, vd, f.out, f.lse];
  const held = () => tensors.reduce((a, x) => a + 4 * x.size, 0);
  t.is((await settled()).lemma - base.lemma, held(), 'exact: the tensors and nothing else');
  let samples = 0, under = 0, worst = 0, peak = 0;
  const poll = setInterval(() => {
    if (!emu) return;
    const a = lemma.cuda.memory().bytesInUse;
    const runtime = emu('info').memoryUsed;
    const b = lemma.cuda.memory().bytesInUse;
    samples++;
    peak = Math.max(peak, b - base.lemma);
    // lemma counts a block from just after the runtime allocates it until just after the runtime
    // has freed it: reading lemma's count on both sides of the runtime's leaves only that window.
    if (Math.max(a, b) - base.lemma < runtime - base.runtime) {
      under++;
      worst = Math.max(worst, runtime - base.runtime - (Math.max(a, b) - base.lemma));
    }
  }, 2);
  for (const deterministic of [true, false]) {
    const g = await lemma.attention.backward({ q: qd, k: kd, v: vd, out: f.out, lse: f.lse, dOut: qd }, { causal: true, deterministic });
    t.is((await settled()).lemma - base.lemma, held() + 4 * (g.dq.size + g.dk.size + g.dv.size), `exact after backward (deterministic ${deterministic})`);
    for (const x of [g.dq, g.dk, g.dv]) x.dispose();
  }
  clearInterval(poll);
  if (emu) {
    t.log(`${samples} samples during backward, peak ${peak} bytes above the start, ${under} under-reported (worst by ${worst} bytes)`);
    t.true(samples >= 5, 'sampled while the backward ran');
    t.true(peak > held() + 4 * (qd.size + kd.size + vd.size), 'the workspace was counted while in flight');
    t.true(under <= 2, `memory() reported less than the runtime held in ${under} of ${samples} samples (by up to ${worst} bytes)`);
  }
  for (const x of tensors) x.dispose();
  await sameMemory(t, base, 'after the disposes');
});

gpuTest('disposed handles are ERR_DISPOSED in toHost, attention and the native calls; sizes, dtypes and aliasing are re-checked in C++', async (t) => {
  const base = await settled();
  const s = SMALL;
  const c = await makeCase(s, 71);
  const [q, k, v, dOut] = await upload(c, 'fp32');
  const p: NativeAttentionParams = { ...s, scale: 1 / Math.sqrt(s.D), deterministic: true, materialized: false };
  const nq = s.B * s.Hq * s.Nq;
  const gone = await lemma.cuda.tensor(c.q);
  const h = gone.handle();
  gone.dispose();
  await t.throwsAsync(gone.toHost(), { instanceOf: lemma.LemmaError, code: 'ERR_DISPOSED' });
  await t.throwsAsync(lemma.attention.forward(gone, k, v), { instanceOf: lemma.LemmaError, code: 'ERR_DISPOSED', message: /^q is a disposed device tensor/ });
  t.throws(() => native.cudaDownload(h, new Float32Array(q.size)), { code: 'ERR_DISPOSED', message: /^tensor has been disposed/ });
  const out = native.cudaAlloc(nq * s.D, 0), lse = native.cudaAlloc(nq, 0);
  t.throws(() => native.attentionForwardCuda(h, k.handle(), v.handle(), out, lse, p, 0), { code: 'ERR_DISPOSED', message: /^q has been disposed/ });
  t.throws(() => native.attentionForwardCuda(q.handle(), k.handle(), v.handle(), out, lse, { ...p, Nq: s.Nq + 1 }, 0),
    { code: 'ERR_SHAPE', message: /^q has 4480 elements, expected 4544$/ });
  const half = native.cudaAlloc(nq * s.D, 1);
  t.throws(() => native.attentionForwardCuda(q.handle(), k.handle(), v.handle(), half, lse, p, 0), { code: 'ERR_DTYPE', message: /^out is float16, expected float32$/ });
  t.throws(() => native.attentionForwardCuda(q.handle(), k.handle(), v.handle(), q.handle(), lse, p, 0),
    { code: 'ERR_RANGE', message: /^out and q are the same device tensor; outputs must not alias$/ });
  t.throws(() => native.attentionBackwardCuda(q.handle(), k.handle(), v.handle(), out, lse, dOut.handle(), out, k.handle(), v.handle(), p, 0),
    { code: 'ERR_RANGE', message: /^dq and out are the same device tensor/ });
  t.throws(() => native.cudaAlloc(-1, 0), { code: 'ERR_RANGE', message: /^element count must be an integer in \[0, 2\^52\]$/ });
  t.throws(() => native.cudaAlloc(1.5, 0), { code: 'ERR_RANGE' });
  t.throws(() => native.cudaAlloc(4, 7 as never), { code: 'ERR_DTYPE', message: /^unknown device dtype$/ });
  t.throws(() => native.cudaFree({} as DeviceHandle), { instanceOf: TypeError, message: /^tensor: expected a device tensor handle$/ });
  // q = k = v (self-attention on one tensor) is fine: only outputs may not alias.
  await native.attentionForwardCuda(q.handle(), q.handle(), q.handle(), out, lse, { ...p, Hkv: s.Hq, Nk: s.Nq }, 0);
  for (const x of [out, lse, half]) native.cudaFree(x);
  for (const x of [q, k, v, dOut]) x.dispose();
  await sameMemory(t, base, 'after the disposes');
});

// ---- the emulated device's fault injection ----------------------------------------------------

emuTest('out of memory on the k-th allocation of an upload / forward / backward: ERR_CUDA_OOM, nothing leaks', async (t) => {
  const e = emu!;
  const c = await makeCase({ B: 1, Hq: 2, Hkv: 1, Nq: 48, Nk: 40, D: 40, causal: true }, 81);
  // The device tensors of a result (its `device` field is a string, not a tensor).
  const tensorsOf = (r: object) => Object.values(r).filter((x): x is lemma.cuda.DeviceTensor => typeof x === 'object');
  const ops: Array<[string, (dev: lemma.cuda.DeviceTensor[]) => Promise<lemma.cuda.DeviceTensor[]>]> = [
    ['upload float32', async () => [await lemma.cuda.tensor(c.q)]],
    ['upload float64 -> bfloat16 (staged)', async () => [await lemma.cuda.tensor(wide(c.q), { dtype: 'bfloat16' })]],
    ['forward (D = 40: staged)', async ([q, k, v]) => tensorsOf(await lemma.attention.forward(q, k, v, { causal: true }))],
    ['backward, deterministic', async ([q, k, v, dOut, out, lse]) =>
      tensorsOf(await lemma.attention.backward({ q, k, v, out, lse, dOut }, { causal: true }))],
    ['backward, atomic dQ', async ([q, k, v, dOut, out, lse]) =>
      tensorsOf(await lemma.attention.backward({ q, k, v, out, lse, dOut }, { causal: true, deterministic: false }))],
    ['toHost float64', async ([q]) => { await q.toHost({ dtype: 'float64' }); return []; }],
  ];
  for (const [name, op] of ops) {
    let k = 1;
    for (; k < 40; k++) {
      const base = await settled();
      const inputs = await upload(c, 'fp32');
      const f = await lemma.attention.forward(inputs[0], inputs[1], inputs[2], { causal: true });
      const dev = [...inputs, f.out, f.lse];
      e('failAllocationAfter', k);
      let made: lemma.cuda.DeviceTensor[] = [];
      let failed = false;
      try {
        made = await op(dev);
      } catch (err) {
        failed = true;
        t.is((err as lemma.LemmaError).code, 'ERR_CUDA_OOM', `${name}, allocation ${k}: ${String(err)}`);
        t.regex((err as Error).message, /^cudaErrorMemoryAllocation \(out of memory\) in /);
      }
      e('failAllocationAfter', 0);
      for (const x of [...dev, ...made]) x.dispose();
      await sameMemory(t, base, `${name}, allocation ${k} failed`);
      if (!failed) break;
    }
    t.true(k > 1 && k < 40, `${name}: made ${k - 1} failing runs before one succeeded`);
    t.log(`${name}: ${k - 1} allocations, each one failed once`);
  }
});

emuTest('a sticky fault: the next calls reject with ERR_CUDA naming it, nothing crashes, all works after reset', async (t) => {
  const e = emu!;
  const base = await settled();
  const c = await makeCase(SMALL, 91);
  const [q, k, v, dOut] = await upload(c, 'fp32');
  const f = await lemma.attention.forward(q, k, v, { causal: true });
  e('injectFault', 'test 17 sticky fault');
  t.regex(e('faultMessage'), /injected: test 17 sticky fault/);
  const named = { instanceOf: lemma.LemmaError, code: 'ERR_CUDA', message: /^cudaErrorLaunchFailure \(unspecified launch failure \(emulated device: injected: test 17 sticky fault\)\) in / } as const;
  await t.throwsAsync(lemma.attention.forward(q, k, v, { causal: true }), named);
  await t.throwsAsync(lemma.attention.backward({ q, k, v, out: f.out, lse: f.lse, dOut }, { causal: true }), named);
  await t.throwsAsync(f.out.toHost(), named);
  await t.throwsAsync(lemma.cuda.synchronize(), named);
  // capabilities() sees no usable device while the context is broken: uploads say so, with the fault.
  await t.throwsAsync(lemma.cuda.tensor(c.q), { code: 'ERR_CUDA_UNAVAILABLE', message: /injected: test 17 sticky fault/ });
  e('reset');
  t.is(e('faultMessage'), '');
  const g = await lemma.attention.backward({ q, k, v, out: f.out, lse: f.lse, dOut }, { causal: true });
  for (const name of ['dq', 'dk', 'dv'] as const) await checkHost(t, g[name], c.ref[name], 4 * TOL.fp32, `${name} after reset`);
  const f2 = await lemma.attention.forward(q, k, v, { causal: true });
  await checkHost(t, f2.out, c.ref.out, TOL.fp32, 'out after reset');
  for (const x of [q, k, v, dOut, f.out, f.lse, f2.out, f2.lse, g.dq, g.dk, g.dv]) x.dispose();
  await sameMemory(t, base, 'after the fault and reset');
});

emuTest('a fault while disposed tensors wait to be freed: memory() still drops to the start', async (t) => {
  const e = emu!;
  const base = await settled();
  const c = await makeCase(SMALL, 101);
  const [q, k, v, dOut] = await upload(c, 'fp32');
  const run = lemma.attention.forward(q, k, v, { causal: true });
  for (const x of [q, k, v, dOut]) x.dispose();
  const f = await run;
  await lemma.cuda.synchronize();  // the inputs freed before the fault
  e('injectFault', 'while freeing');
  f.out.dispose();
  f.lse.dispose();
  await t.throwsAsync(lemma.cuda.synchronize(), { code: 'ERR_CUDA', message: /injected: while freeing/ });
  // The frees failed with the context; lemma holds nothing (a real context would be destroyed).
  t.is(lemma.cuda.memory().bytesInUse, base.lemma);
  e('reset');
  t.is((await settled()).lemma, base.lemma);
  t.log(`the emulated runtime kept ${emu!('info').memoryUsed - base.runtime} bytes that the broken context lost`);
});
