/**
 * GPU checks of the JS-level CUDA API (device tensors, memory accounting, attention on device
 * tensors and on host tensors with device 'cuda'), shared by the ava test (test/gpu/) and the
 * GPU bundle (run.sh runs the compiled test with a minimal ava stand-in on hosts without ava).
 * Each check returns a list of failures (empty = pass). Tolerance: the flash-attention rule
 * against the fp64 oracle is the native parity test's job; here the error of each device path
 * is bounded by the precision's unit roundoff × a small factor, which catches wiring mistakes.
 */
import * as lemma from '../../lib/index.js';
import type { Tensor } from '../../lib/index.js';
import { gaussian as gaussian64, relErr } from '../../test/helpers/attention.js';

export interface CheckResult {
  name: string;
  failures: string[];
  ms: number;
}

const gaussian = (n: number, seed: number): Float32Array => Float32Array.from(gaussian64(n, seed));
const rel = relErr;

const TOL: Record<string, number> = { fp32: 1e-5, tf32: 5e-3, fp16: 1e-2, bf16: 5e-2 };
const DTYPE: Record<string, lemma.cuda.DeviceDtype> = { fp32: 'float32', tf32: 'float32', fp16: 'float16', bf16: 'bfloat16' };

async function roundTrip(): Promise<string[]> {
  const f: string[] = [];
  await lemma.cuda.synchronize(); // frees run off the event loop: memory() is exact after this
  const before = lemma.cuda.memory().bytesInUse;
  const host = { data: gaussian(1000, 1), shape: [10, 100] };
  for (const dtype of lemma.cuda.DEVICE_DTYPES) {
    const t = await lemma.cuda.tensor(host, { dtype });
    const back = await t.toHost();
    const tol = dtype === 'float32' ? 0 : dtype === 'float16' ? 1e-3 : 8e-3;
    const e = rel(back.data, host.data);
    if (!(e <= tol)) f.push(`round trip ${dtype}: relative error ${e} > ${tol}`);
    if (back.shape.join() !== '10,100') f.push(`round trip ${dtype}: shape ${back.shape}`);
    t.dispose();
    t.dispose();
    try {
      await t.toHost();
      f.push(`toHost after dispose did not throw (${dtype})`);
    } catch (e2) {
      if ((e2 as { code?: string }).code !== 'ERR_DISPOSED') f.push(`toHost after dispose: ${String(e2)}`);
    }
  }
  await lemma.cuda.synchronize();
  const after = lemma.cuda.memory().bytesInUse;
  if (after !== before) f.push(`memory after dispose ${after} != before ${before}`);
  return f;
}

async function attentionOnDevice(): Promise<string[]> {
  const f: string[] = [];
  await lemma.cuda.synchronize(); // frees run off the event loop: memory() is exact after this
  const before = lemma.cuda.memory().bytesInUse;
  const shapes = [
    { B: 1, Hq: 4, Hkv: 2, Nq: 300, Nk: 515, D: 64, causal: true },
    { B: 2, Hq: 2, Hkv: 2, Nq: 128, Nk: 128, D: 128, causal: false },
    { B: 1, Hq: 1, Hkv: 1, Nq: 77, Nk: 33, D: 32, causal: true },
    // A decode shape: the split-KV forward (GQA 4, causal, 3 query rows, several key chunks).
    { B: 1, Hq: 8, Hkv: 2, Nq: 3, Nk: 600, D: 64, causal: true },
  ];
  for (const c of shapes) {
    const mk = (shape: number[], seed: number): Tensor => ({ data: gaussian(shape.reduce((a, b) => a * b, 1), seed), shape });
    const q = mk([c.B, c.Hq, c.Nq, c.D], 1), k = mk([c.B, c.Hkv, c.Nk, c.D], 2), v = mk([c.B, c.Hkv, c.Nk, c.D], 3);
    const dOut = mk([c.B, c.Hq, c.Nq, c.D], 4);
    const w = (t: Tensor) => ({ data: Float64Array.from(t.data), shape: t.shape });
    const ref = await lemma.attention.forward(w(q), w(k), w(v), { causal: c.causal });
    const gRef = await lemma.attention.backward({ q: w(q), k: w(k), v: w(v), out: ref.out, lse: ref.lse, dOut: w(dOut) }, { causal: c.causal });
    for (const precision of ['fp32', 'tf32', 'fp16', 'bf16'] as const) {
      const dtype = DTYPE[precision];
      const dev = await Promise.all([q, k, v, dOut].map((t) => lemma.cuda.tensor(t, { dtype })));
      const [qd, kd, vd, dOd] = dev;
      try {
        const o = { causal: c.causal, precision };
        const fwd = await lemma.attention.forward(qd, kd, vd, o);
        const out = await fwd.out.toHost();
        const lse = await fwd.lse.toHost();
        const eo = rel(out.data, ref.out.data);
        if (!(eo <= TOL[precision])) f.push(`${JSON.stringify(c)} ${precision}: out error ${eo}`);
        const el = rel(lse.data, ref.lse.data);
        if (!(el <= TOL[precision])) f.push(`${JSON.stringify(c)} ${precision}: lse error ${el}`);
        for (const deterministic of [true, false]) {
          const g = await lemma.attention.backward({ q: qd, k: kd, v: vd, out: fwd.out, lse: fwd.lse, dOut: dOd }, { ...o, deterministic });
          for (const name of ['dq', 'dk', 'dv'] as const) {
            const h = await g[name].toHost();
            const e = rel(h.data, gRef[name].data);
            if (!(e <= 4 * TOL[precision])) f.push(`${JSON.stringify(c)} ${precision} det=${deterministic}: ${name} error ${e}`);
            g[name].dispose();
          }
        }
        fwd.out.dispose();
        fwd.lse.dispose();
      } finally {
        for (const t of dev) t.dispose();
      }
    }
    // Host tensors with device 'cuda' are uploaded and downloaded for the caller.
    const h = await lemma.attention.forward(q, k, v, { causal: c.causal, device: 'cuda' });
    const eh = rel(h.out.data, ref.out.data);
    if (!(eh <= TOL.fp32)) f.push(`${JSON.stringify(c)} host→cuda: out error ${eh}`);
    if (!(h.out.data instanceof Float32Array)) f.push('host→cuda: out is not a Float32Array');
  }
  await lemma.cuda.synchronize();
  const after = lemma.cuda.memory().bytesInUse;
  if (after !== before) f.push(`memory after all disposed ${after} != before ${before}`);
  return f;
}

async function errors(): Promise<string[]> {
  const f: string[] = [];
  const t = await lemma.cuda.tensor({ data: new Float32Array(16), shape: [1, 1, 2, 8] }, { dtype: 'float16' });
  const u = await lemma.cuda.tensor({ data: new Float32Array(16), shape: [1, 1, 2, 8] }, { dtype: 'float32' });
  try {
    await lemma.attention.forward(t, u, t);
    f.push('mixed device dtypes were accepted');
  } catch (e) {
    if ((e as { code?: string }).code !== 'ERR_DTYPE') f.push(`mixed dtypes: ${String(e)}`);
  }
  u.dispose();
  try {
    await lemma.attention.forward(t, u, t);
    f.push('a disposed input was accepted');
  } catch (e) {
    if ((e as { code?: string }).code !== 'ERR_DISPOSED') f.push(`disposed input: ${String(e)}`);
  }
  t.dispose();
  return f;
}

export const CHECKS: Array<[string, () => Promise<string[]>]> = [
  ['device tensor round trip and memory accounting', roundTrip],
  ['attention forward/backward on device tensors, every precision', attentionOnDevice],
  ['errors: mixed dtypes, disposed inputs', errors],
];

export async function runChecks(): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const [name, fn] of CHECKS) {
    const t0 = performance.now();
    let failures: string[];
    try {
      failures = await fn();
    } catch (e) {
      failures = [`threw: ${e instanceof Error ? e.stack : String(e)}`];
    }
    results.push({ name, failures, ms: Math.round(performance.now() - t0) });
  }
  return results;
}
