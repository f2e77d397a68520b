/**
 * The README's device-tensor training loop ("GPU: lemma.cuda and device tensors") as a file that
 * runs. The parameters are q, k and v themselves; the loss is L = ½·mean((out − T)²), where T is
 * the attention output of a hidden (q*, k*, v*), so the loop has something to learn. Each step:
 *   forward on the parameters → lossGradient(out) → backward → applyUpdate (Adam) → dispose.
 * With a real GPU the parameters live on the GPU as device tensors (float32, precision 'fp32', or
 * --bf16 for bfloat16 tensors and tensor cores); lossGradient and applyUpdate are "your code" of
 * the README and run on the host here (download out / gradients, upload dOut / new parameters),
 * because lemma has no element-wise device ops. At the end, after `lemma.cuda.synchronize()`,
 * lemma.cuda.memory().bytesInUse must be back to the parameters' bytes: nothing leaked.
 * Without a GPU (or on the emulated device, which `device: 'auto'` never picks) the same loop runs
 * on host tensors on the CPU: that is the CPU fallback, and the script says so.
 *
 *   node --import tsx examples/device-tensors/loop.ts            # [1, 4, 256, 64], 200 steps
 *   node --import tsx examples/device-tensors/loop.ts --small    # [1, 2, 64, 32], 40 steps (test/96)
 *   ... --emulated   # the GPU path on the emulated device, at the small size (LEMMA_ADDON=<emulated lemma.node>)
 */
import * as lemma from '../../lib/index.js';

type Host = lemma.Tensor<Float32Array>;
type Dev = lemma.cuda.DeviceTensor;

export interface LoopOptions {
  shape: [number, number, number, number];
  steps: number;
  lr: number;
  seed: number;
  /** Run on device tensors (a usable GPU, or the emulated one when asked). */
  gpu: boolean;
  dtype?: 'float32' | 'bfloat16';
}

export const FULL: Omit<LoopOptions, 'gpu'> = { shape: [1, 4, 256, 64], steps: 200, lr: 0.02, seed: 3 };
export const SMALL: Omit<LoopOptions, 'gpu'> = { shape: [1, 2, 64, 32], steps: 40, lr: 0.02, seed: 3 };

export interface LoopResult {
  losses: number[];
  device: 'cpu' | 'cuda';
  /** GPU: lemma.cuda.memory().bytesInUse after the first upload and after the loop (+ synchronize). */
  bytesAtStart: number;
  bytesAtEnd: number;
  seconds: number;
}

function randn(n: number, seed: number, std: number): Float32Array {
  let a = seed >>> 0;
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = std * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

export async function runLoop(o: LoopOptions, log: (s: string) => void = () => {}): Promise<LoopResult> {
  const shape = o.shape;
  const n = shape.reduce((a, b) => a * b, 1);
  const causal = true;
  // The target: attention of a hidden (q*, k*, v*).
  const [qs, ks, vs] = [1, 2, 3].map((i) => lemma.tensor(randn(n, o.seed * 10 + i, 1), shape) as Host);
  const T = (await lemma.attention.forward(qs, ks, vs, { causal, device: 'cpu' })).out.data;
  // The parameters start elsewhere; host copies are the optimiser's master weights.
  const host = { q: randn(n, o.seed * 10 + 4, 1), k: randn(n, o.seed * 10 + 5, 1), v: randn(n, o.seed * 10 + 6, 1) };
  const m = { q: new Float32Array(n), k: new Float32Array(n), v: new Float32Array(n) };
  const s = { q: new Float32Array(n), k: new Float32Array(n), v: new Float32Array(n) };
  let t = 0;

  // ---- "your code" of the README: the loss gradient and the optimiser step --------------------
  const losses: number[] = [];
  const lossGradientHost = (out: Float32Array): Float32Array => {
    const dOut = new Float32Array(n);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const e = out[i] - T[i];
      loss += 0.5 * e * e;
      dOut[i] = e / n;
    }
    losses.push(loss / n);
    return dOut;
  };
  const adam = (g: { q: Float32Array; k: Float32Array; v: Float32Array }) => {
    t++;
    const c1 = 1 - 0.9 ** t, c2 = 1 - 0.999 ** t;
    for (const key of ['q', 'k', 'v'] as const) {
      const p = host[key], gm = m[key], gs = s[key], gg = g[key];
      for (let i = 0; i < n; i++) {
        gm[i] = 0.9 * gm[i] + 0.1 * gg[i];
        gs[i] = 0.999 * gs[i] + 0.001 * gg[i] * gg[i];
        p[i] -= (o.lr * gm[i] / c1) / (Math.sqrt(gs[i] / c2) + 1e-8);
      }
    }
  };

  const t0 = performance.now();
  if (!o.gpu) {
    // CPU fallback: the same loop on host tensors.
    for (let step = 0; step < o.steps; step++) {
      const q = lemma.tensor(host.q, shape), k = lemma.tensor(host.k, shape), v = lemma.tensor(host.v, shape);
      const { out, lse } = await lemma.attention.forward(q, k, v, { causal, device: 'cpu' });
      const dOut = lemma.tensor(lossGradientHost(out.data as Float32Array), shape);
      const { dq, dk, dv } = await lemma.attention.backward({ q, k, v, out, lse, dOut }, { causal, device: 'cpu' });
      adam({ q: dq.data as Float32Array, k: dk.data as Float32Array, v: dv.data as Float32Array });
      if (step % 20 === 0) log(`step ${String(step).padStart(4)}  loss ${losses[losses.length - 1].toExponential(3)}`);
    }
    return { losses, device: 'cpu', bytesAtStart: 0, bytesAtEnd: 0, seconds: (performance.now() - t0) / 1000 };
  }

  // GPU: the README's loop. Parameters are device tensors between steps.
  const dtype = o.dtype ?? 'float32';
  const up = (a: Float32Array) => lemma.cuda.upload(lemma.tensor(a, shape), { dtype });
  let [q, k, v] = await Promise.all([host.q, host.k, host.v].map(up));
  await lemma.cuda.synchronize();
  const bytesAtStart = lemma.cuda.memory().bytesInUse;
  const lossGradient = async (out: Dev): Promise<Dev> => up(lossGradientHost((await out.toHost()).data as Float32Array));
  const applyUpdate = async (g: { dq: Dev; dk: Dev; dv: Dev }): Promise<void> => {
    const [gq, gk, gv] = await Promise.all([g.dq, g.dk, g.dv].map(async (x) => (await x.toHost()).data as Float32Array));
    adam({ q: gq, k: gk, v: gv });
    for (const x of [q, k, v]) x.dispose();  // safe even if a queued call still uses them
    [q, k, v] = await Promise.all([host.q, host.k, host.v].map(up));
  };
  for (let step = 0; step < o.steps; step++) {
    const { out, lse } = await lemma.attention.forward(q, k, v, { causal });   // device tensors in, device tensors out
    const dOut = await lossGradient(out);
    const { dq, dk, dv } = await lemma.attention.backward({ q, k, v, out, lse, dOut }, { causal });
    await applyUpdate({ dq, dk, dv });
    for (const x of [out, lse, dOut, dq, dk, dv]) x.dispose();
    if (step % 20 === 0) log(`step ${String(step).padStart(4)}  loss ${losses[losses.length - 1].toExponential(3)}`);
  }
  await lemma.cuda.synchronize();
  const bytesAtEnd = lemma.cuda.memory().bytesInUse;
  const seconds = (performance.now() - t0) / 1000;
  for (const x of [q, k, v]) x.dispose();
  await lemma.cuda.synchronize();
  return { losses, device: 'cuda', bytesAtStart, bytesAtEnd, seconds };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const base = args.includes('--small') ? SMALL : FULL;
  const caps = lemma.capabilities();
  const real = lemma.cudaAvailable() && !caps.cuda.emulated;
  const emulated = lemma.cudaAvailable() && caps.cuda.emulated && args.includes('--emulated');
  const gpu = real || emulated;
  if (real) console.log(`GPU: ${caps.cuda.devices[0]?.name ?? 'device 0'}: parameters as device tensors`);
  else if (emulated) console.log('emulated CUDA device (correctness only, slow): parameters as device tensors');
  else console.log(`no GPU: CPU only (${caps.cuda.reason || 'no usable GPU'}): the same loop on host tensors, lemma.attention on the CPU`);
  const opts: LoopOptions = { ...base, gpu, dtype: args.includes('--bf16') ? 'bfloat16' : 'float32' };
  if (emulated && !args.includes('--small')) Object.assign(opts, { shape: SMALL.shape, steps: SMALL.steps });  // the emulator is slow
  console.log(`learning q, k, v [${opts.shape.join(', ')}] so that causal attention(q, k, v) matches a target; Adam lr ${opts.lr}, ${opts.steps} steps`);
  const r = await runLoop(opts, console.log);
  const first = r.losses[0], last = r.losses[r.losses.length - 1];
  console.log(`loss ${first.toExponential(3)} → ${last.toExponential(3)} (×${(last / first).toFixed(3)}) in ${r.seconds.toFixed(1)} s on ${r.device}`);
  if (r.device === 'cuda') {
    console.log(`device memory: ${r.bytesAtStart} bytes after uploading q, k, v; ${r.bytesAtEnd} after the loop and synchronize()`);
    if (r.bytesAtEnd !== r.bytesAtStart) {
      console.log('device memory grew: a leak');
      process.exitCode = 1;
    }
  }
  if (!(last < first)) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
