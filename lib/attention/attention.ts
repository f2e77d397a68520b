/**
 * Exact attention, forward and backward (spec: shared/specs/attention-io.md).
 * Float32Array tensors run the fast CPU path (FlashAttention-2 tiling, threads, SIMD chosen at
 * run time); Float64Array tensors run the fp64 oracle. See native/attention/attention.h.
 */
import { LemmaError, fromNative } from '../errors.js';
import { native } from '../binding.js';
import type { FloatArray, NativeAttentionParams } from '../binding.js';
import { chooseDevice } from '../device.js';
import { LONG_WORK_OPTIONS, checkLongWork, runLong } from '../long-work.js';
import type { LongWork, LongWorkOptions } from '../long-work.js';
import type { Device } from '../device.js';
import { DeviceTensor, empty as deviceEmpty, isDeviceTensor, tensor as upload } from '../cuda/device-tensor.js';
import type { DeviceDtype } from '../cuda/device-tensor.js';
import { checkTensor, privateData, zerosLike } from '../tensor.js';
import type { Tensor } from '../tensor.js';
import { checkBoolean, checkNumber, checkOneOf, checkOptions, expected } from '../validation/index.js';
import { checkKnownKeys, throwIfAborted } from '../validation/options.js';

export type AttentionAlgorithm = 'auto' | 'flash' | 'materialized';

const ATTENTION_OPTIONS = ['causal', 'scale', 'device', 'algorithm', 'deterministic', 'precision', ...LONG_WORK_OPTIONS];

export interface AttentionOptions extends LongWorkOptions {
  /** Causal mask, bottom-right aligned when Nq ≠ Nk (query i sees keys j ≤ i + Nk − Nq). Default false. */
  causal?: boolean;
  /** Softmax scale. Default 1/√D. */
  scale?: number;
  /** 'auto' (default) | 'cpu' | 'cuda'. 'cuda' without a usable GPU throws ERR_CUDA_UNAVAILABLE. */
  device?: Device;
  /**
   * 'flash' (FlashAttention-2 tiling, O(N) memory), 'materialized' (the small-cache schedule of
   * spec §1.7: S/P materialised per head, O(N²) memory), or 'auto' (default): flash unless the
   * cache is smaller than D² words, which no CPU with a 1 MiB L2 reaches for D ≤ 256.
   */
  algorithm?: AttentionAlgorithm;
  /**
   * Bitwise-reproducible results. Default true. The CPU paths are always deterministic; on the
   * GPU, false lets backward accumulate dQ with atomics (faster, order-dependent rounding).
   */
  deterministic?: boolean;
  /**
   * GPU only: how the products are computed. 'fp32' (exact fp32 on CUDA cores), 'tf32' (fp32
   * storage, TF32 tensor cores), 'fp16' | 'bf16' (tensor cores, fp32 accumulation). Default: from
   * the device tensors' dtype (float32 → 'fp32'), or 'fp32' for host tensors.
   */
  precision?: 'fp32' | 'tf32' | 'fp16' | 'bf16';
}

/** A host tensor or a device tensor ({@link DeviceTensor}, lemma.cuda.tensor()). */
export type AnyTensor = Tensor | DeviceTensor;

export interface ForwardResult<A extends FloatArray = FloatArray> {
  /** [B, Hq, Nq, D] */
  out: Tensor<A>;
  /** [B, Hq, Nq]: log-sum-exp of the scaled scores (+Infinity for a row that sees no key). */
  lse: Tensor<A>;
  /** Where it ran ('cuda' for host tensors with device 'cuda': uploaded, run, downloaded). */
  device: 'cpu' | 'cuda';
}

export interface BackwardInputs<A extends FloatArray = FloatArray> {
  q: Tensor<A>; k: Tensor<A>; v: Tensor<A>; out: Tensor<A>; lse: Tensor<A>; dOut: Tensor<A>;
}

export interface BackwardDeviceInputs {
  q: DeviceTensor; k: DeviceTensor; v: DeviceTensor; out: DeviceTensor; lse: DeviceTensor; dOut: DeviceTensor;
}

export interface BackwardResult<A extends FloatArray = FloatArray> {
  dq: Tensor<A>;
  dk: Tensor<A>;
  dv: Tensor<A>;
  /** Where it ran. */
  device: 'cpu' | 'cuda';
}

/** Bytes of O(N²) scratch the materialized schedule may take before lemma refuses. */
export const MATERIALIZED_LIMIT_BYTES = 2 * 1024 ** 3;

interface Plan {
  params: NativeAttentionParams;
  work: LongWork;
  device: 'cpu' | 'cuda';
  precision: 0 | 1 | 2 | 3;
}

type Shaped = { shape: number[] };

const PRECISIONS = ['fp32', 'tf32', 'fp16', 'bf16'] as const;
const PRECISION_OF_DTYPE: Record<DeviceDtype, (typeof PRECISIONS)[number]> = { float32: 'fp32', float16: 'fp16', bfloat16: 'bf16' };
const DTYPE_OF_PRECISION: Record<(typeof PRECISIONS)[number], DeviceDtype> = { fp32: 'float32', tf32: 'float32', fp16: 'float16', bf16: 'bfloat16' };

function rank4(t: Shaped, name: string, letters: string): [number, number, number, number] {
  if (t.shape.length !== 4) {
    throw new LemmaError('ERR_SHAPE', expected(`a rank-4 shape [${letters}]`, `${name}.shape`, t.shape));
  }
  return t.shape as [number, number, number, number];
}

export function sameShape(t: Shaped, shape: number[], name: string, what: string): void {
  if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
    throw new LemmaError('ERR_SHAPE', expected(`shape [${shape.join(', ')}] (${what})`, `${name}.shape`, t.shape));
  }
}

export function sameDtype(ts: Tensor[], names: string[]): 'float32' | 'float64' {
  const f64 = ts[0].data instanceof Float64Array;
  ts.forEach((t, i) => {
    if ((t.data instanceof Float64Array) !== f64) {
      throw new LemmaError('ERR_DTYPE', expected(`a ${f64 ? 'Float64Array' : 'Float32Array'} like ${names[0]}.data`, `${names[i]}.data`, t.data));
    }
  });
  return f64 ? 'float64' : 'float32';
}

function sameDeviceDtype(ts: DeviceTensor[], names: string[], want?: DeviceDtype): DeviceDtype {
  const dt = want ?? ts[0].dtype;
  ts.forEach((t, i) => {
    if (t.dtype !== dt) throw new LemmaError('ERR_DTYPE', expected(`a ${dt} device tensor like ${names[0]}`, names[i], `a ${t.dtype} device tensor`));
  });
  return dt;
}

/** Host tensors, or device tensors (then all of them), checked. */
function checkInputs(values: unknown[], names: string[]): { host: Tensor[] } | { dev: DeviceTensor[] } {
  if (values.some(isDeviceTensor)) {
    values.forEach((v, i) => {
      if (!isDeviceTensor(v)) throw new TypeError(expected(`a DeviceTensor like the other inputs`, names[i], v));
      v.handle(names[i]);
    });
    return { dev: values as DeviceTensor[] };
  }
  return { host: values.map((v, i) => checkTensor(v, names[i])) };
}

/**
 * The attention shape rules shared with lemma.polyAttention: q [B, Hq, Nq, D], k and v
 * [B, Hkv, Nk, D], 1 <= D <= 256, Hq a multiple of Hkv. Returns the sizes.
 */
export function checkQkvShapes(q: Shaped, k: Shaped, v: Shaped): { B: number; Hq: number; Hkv: number; Nq: number; Nk: number; D: number } {
  const [B, Hq, Nq, D] = rank4(q, 'q', 'B, Hq, Nq, D');
  const [Bk, Hkv, Nk, Dk] = rank4(k, 'k', 'B, Hkv, Nk, D');
  sameShape(v, k.shape, 'v', 'the shape of k');
  if (Bk !== B) throw new LemmaError('ERR_SHAPE', expected(`batch size ${B} (from q)`, 'k.shape[0]', Bk));
  if (Dk !== D) throw new LemmaError('ERR_SHAPE', expected(`head dim ${D} (from q)`, 'k.shape[3]', Dk));
  if (D < 1 || D > 256) throw new LemmaError('ERR_SHAPE', expected('a head dim D between 1 and 256', 'q.shape[3]', D));
  if (B < 1 || Hq < 1 || Nq < 1 || Hkv < 1 || Nk < 1) {
    throw new LemmaError('ERR_SHAPE', expected('non-zero sizes B, H, N', 'q.shape / k.shape', [...q.shape, ...k.shape]));
  }
  if (Hq % Hkv !== 0) {
    throw new LemmaError('ERR_SHAPE', expected(`a number of query heads that is a multiple of Hkv = ${Hkv}`, 'q.shape[1]', Hq));
  }
  return { B, Hq, Hkv, Nq, Nk, D };
}

function plan(q: Shaped, k: Shaped, v: Shaped, options: unknown, pass: 0 | 1, devDtype?: DeviceDtype): Plan {
  const { B, Hq, Hkv, Nq, Nk, D } = checkQkvShapes(q, k, v);
  const opts = checkOptions(options, 'options');
  // A typo (`causl`) must never silently compute something else.
  checkKnownKeys(opts, 'options', ATTENTION_OPTIONS);
  const causal = opts.causal === undefined ? false : checkBoolean(opts.causal, 'options.causal');
  const scale = opts.scale === undefined ? 1 / Math.sqrt(D) : checkNumber(opts.scale, 'options.scale');
  const deterministic = opts.deterministic === undefined ? true : checkBoolean(opts.deterministic, 'options.deterministic');
  const algorithm = checkOneOf(opts.algorithm ?? 'auto', 'options.algorithm', ['auto', 'flash', 'materialized'] as const);
  const precision = checkOneOf(opts.precision ?? (devDtype ? PRECISION_OF_DTYPE[devDtype] : 'fp32'), 'options.precision', PRECISIONS);
  let device: 'cpu' | 'cuda';
  if (devDtype) {
    checkOneOf(opts.device ?? 'auto', 'options.device', ['auto', 'cuda'] as const);
    device = 'cuda';
    if (DTYPE_OF_PRECISION[precision] !== devDtype) {
      throw new LemmaError('ERR_DTYPE', expected(`precision '${PRECISION_OF_DTYPE[devDtype]}'${devDtype === 'float32' ? " or 'tf32'" : ''} for ${devDtype} device tensors`, 'options.precision', precision));
    }
  } else {
    device = chooseDevice(opts.device, 'options.device');
  }
  const params: NativeAttentionParams = {
    B, Hq, Hkv, Nq, Nk, D, scale, causal, deterministic, materialized: algorithm === 'materialized',
  };
  if (device === 'cpu' && params.materialized && !((q as Tensor).data instanceof Float64Array)) {
    const bytes = native.attentionWorkspaceBytes(params, pass);
    if (bytes > MATERIALIZED_LIMIT_BYTES) {
      throw new LemmaError('ERR_RANGE', `algorithm 'materialized' needs ${bytes} bytes of scratch for Nq = ${Nq}, Nk = ${Nk}, more than the limit of ${MATERIALIZED_LIMIT_BYTES}; use algorithm 'flash'`);
    }
  }
  return { params, device, precision: PRECISIONS.indexOf(precision) as 0 | 1 | 2 | 3, work: checkLongWork(opts) };
}

function outputs(q: Tensor, p: NativeAttentionParams) {
  const n = p.B * p.Hq * p.Nq;
  return { out: zerosLike(q.data, n * p.D), lse: zerosLike(q.data, n) };
}

type Checked =
  | { kind: 'host'; ts: Tensor[]; plan: Plan }
  | { kind: 'dev'; ts: DeviceTensor[]; plan: Plan };

const FORWARD_NAMES = ['q', 'k', 'v'];
const BACKWARD_NAMES = ['q', 'k', 'v', 'out', 'lse', 'dOut'];

function checkForwardArgs(q: unknown, k: unknown, v: unknown, options: unknown): Checked {
  const inputs = checkInputs([q, k, v], FORWARD_NAMES);
  if ('dev' in inputs) {
    const [qd, kd, vd] = inputs.dev;
    return { kind: 'dev', ts: inputs.dev, plan: plan(qd, kd, vd, options, 0, sameDeviceDtype(inputs.dev, FORWARD_NAMES)) };
  }
  const [qt, kt, vt] = inputs.host;
  const p = plan(qt, kt, vt, options, 0);
  sameDtype(inputs.host, FORWARD_NAMES);
  return { kind: 'host', ts: inputs.host, plan: p };
}

function checkBackwardArgs(inputs: unknown, options: unknown): Checked {
  if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) {
    throw new TypeError(expected('an object { q, k, v, out, lse, dOut }', 'inputs', inputs));
  }
  const r = inputs as Record<string, unknown>;
  const checked = checkInputs(BACKWARD_NAMES.map((n) => r[n]), BACKWARD_NAMES);
  const ts: Shaped[] = 'dev' in checked ? checked.dev : checked.host;
  const [q, k, v, out, lse, dOut] = ts;
  let p: Plan;
  if ('dev' in checked) {
    const dt = sameDeviceDtype([checked.dev[0], checked.dev[1], checked.dev[2], checked.dev[3], checked.dev[5]], ['q', 'k', 'v', 'out', 'dOut']);
    sameDeviceDtype([checked.dev[4]], ['lse'], 'float32');
    p = plan(q, k, v, options, 1, dt);
  } else {
    p = plan(q, k, v, options, 1);
    sameDtype(checked.host, BACKWARD_NAMES);
  }
  sameShape(out, q.shape, 'out', 'the shape of q');
  sameShape(dOut, q.shape, 'dOut', 'the shape of q');
  sameShape(lse, q.shape.slice(0, 3), 'lse', '[B, Hq, Nq] of q');
  return 'dev' in checked ? { kind: 'dev', ts: checked.dev, plan: p } : { kind: 'host', ts: checked.host, plan: p };
}

/** Allocates device outputs; disposes them again if `run` fails. */
async function withDeviceOutputs<T extends Record<string, DeviceTensor>>(make: () => T, run: (o: T) => Promise<void>): Promise<T> {
  const made: DeviceTensor[] = [];
  try {
    const o = make();
    made.push(...Object.values(o));
    await run(o);
    return o;
  } catch (e) {
    for (const t of made) t.dispose();
    throw e;
  }
}

async function forwardDevice(ts: DeviceTensor[], pl: Plan): Promise<Omit<ForwardDeviceResult, 'device'>> {
  const [q, k, v] = ts;
  return withDeviceOutputs(
    () => ({ out: deviceEmpty(q.shape, q.dtype), lse: deviceEmpty(q.shape.slice(0, 3), 'float32') }),
    (o) => native.attentionForwardCuda(q.handle('q'), k.handle('k'), v.handle('v'), o.out.handle(), o.lse.handle(), pl.params, pl.precision),
  );
}

async function backwardDevice(ts: DeviceTensor[], pl: Plan): Promise<Omit<BackwardDeviceResult, 'device'>> {
  const [q, k, v, out, lse, dOut] = ts;
  return withDeviceOutputs(
    () => ({ dq: deviceEmpty(q.shape, q.dtype), dk: deviceEmpty(k.shape, k.dtype), dv: deviceEmpty(v.shape, v.dtype) }),
    (g) => native.attentionBackwardCuda(q.handle('q'), k.handle('k'), v.handle('v'), out.handle('out'), lse.handle('lse'),
      dOut.handle('dOut'), g.dq.handle(), g.dk.handle(), g.dv.handle(), pl.params, pl.precision),
  );
}

/** Host tensors on the GPU: upload (lse stays fp32), run, download into the inputs' array type. */
async function viaDevice<R extends Record<string, DeviceTensor>>(ts: Tensor[], pl: Plan, lseIndex: number,
  run: (dev: DeviceTensor[], pl: Plan) => Promise<R>): Promise<Record<keyof R, Tensor>> {
  const dtype = DTYPE_OF_PRECISION[PRECISIONS[pl.precision]];
  const dev: DeviceTensor[] = [];
  try {
    for (let i = 0; i < ts.length; i++) dev.push(await upload(ts[i], { dtype: i === lseIndex ? 'float32' : dtype }));
    const res = await run(dev, pl);
    try {
      const f64 = ts[0].data instanceof Float64Array;
      const out = {} as Record<keyof R, Tensor>;
      for (const key of Object.keys(res) as Array<keyof R>) out[key] = await res[key].toHost({ dtype: f64 ? 'float64' : 'float32' });
      return out;
    } finally {
      for (const t of Object.values(res)) t.dispose();
    }
  } finally {
    for (const t of dev) t.dispose();
  }
}

export type ForwardDeviceResult = {
  out: DeviceTensor;
  lse: DeviceTensor;
  device: 'cuda';
};

export type BackwardDeviceResult = {
  dq: DeviceTensor;
  dk: DeviceTensor;
  dv: DeviceTensor;
  device: 'cuda';
};

/**
 * Attention forward: out = softmax(scale·q·kᵀ [masked]) · v, and the row log-sum-exp.
 * Runs off the event loop; the Promise resolves with new arrays (host inputs) or new device
 * tensors (device inputs: out in the inputs' dtype, lse float32).
 * @param q [B, Hq, Nq, D] Float32Array (fast path), Float64Array (fp64 oracle), or a DeviceTensor
 * @param k [B, Hkv, Nk, D] with Hq a multiple of Hkv (grouped-query attention)
 * @param v [B, Hkv, Nk, D]
 * @param options causal, scale, device, algorithm, deterministic, precision
 * @returns `{ out [B, Hq, Nq, D], lse [B, Hq, Nq] }`
 * @throws TypeError / RangeError for bad arguments; LemmaError ERR_SHAPE, ERR_DTYPE, ERR_RANGE,
 *   ERR_CUDA_UNAVAILABLE, ERR_CUDA, ERR_CUDA_OOM, ERR_DISPOSED.
 * @example
 * const { out, lse } = await lemma.attention.forward(q, k, v, { causal: true });
 */
export async function forward<A extends FloatArray>(q: Tensor<A>, k: Tensor<A>, v: Tensor<A>, options?: AttentionOptions): Promise<ForwardResult<A>>;
export async function forward(q: DeviceTensor, k: DeviceTensor, v: DeviceTensor, options?: AttentionOptions): Promise<ForwardDeviceResult>;
export async function forward(q: AnyTensor, k: AnyTensor, v: AnyTensor, options?: AttentionOptions): Promise<ForwardResult | ForwardDeviceResult> {
  const site = new Error();
  try {
    const c = checkForwardArgs(q, k, v, options);
    throwIfAborted(c.plan.work.signal, 'lemma.attention.forward');
    if (c.kind === 'dev') return { ...(await forwardDevice(c.ts, c.plan)), device: 'cuda' };
    if (c.plan.device === 'cuda') return { ...(await viaDevice(c.ts, c.plan, -1, forwardDevice)), device: 'cuda' } as unknown as ForwardResult;
    const [qt, kt, vt] = c.ts;
    const o = outputs(qt, c.plan.params);
    await runLong('lemma.attention.forward', c.plan.work,
      () => native.attentionForward(privateData(qt.data), privateData(kt.data), privateData(vt.data), o.out, o.lse, c.plan.params));
    return { out: { data: o.out, shape: qt.shape.slice() }, lse: { data: o.lse, shape: qt.shape.slice(0, 3) }, device: 'cpu' };
  } catch (e) {
    throw fromNative(e, site);
  }
}

function hostOnly(c: Checked, fn: string): Tensor[] {
  if (c.kind === 'dev' || c.plan.device === 'cuda') {
    // One code in every family for a sync call asking for CUDA (dp's queryOne, the native *Sync
    // twins): ERR_CUDA_UNAVAILABLE, whether or not a GPU is usable.
    throw new LemmaError('ERR_CUDA_UNAVAILABLE', `${fn} has no CUDA path (it runs on the CPU only); use the Promise version for device 'cuda' and device tensors`);
  }
  return c.ts;
}

/**
 * Synchronous twin of {@link forward} for small host inputs on the CPU: blocks the calling thread.
 * @example
 * const { out } = lemma.attention.forwardSync(q, k, v);
 */
export function forwardSync<A extends FloatArray>(q: Tensor<A>, k: Tensor<A>, v: Tensor<A>, options?: AttentionOptions): ForwardResult<A>;
export function forwardSync(q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): ForwardResult {
  const site = new Error();
  try {
    const c = checkForwardArgs(q, k, v, options);
    const [qt, kt, vt] = hostOnly(c, 'forwardSync');
    const o = outputs(qt, c.plan.params);
    native.attentionForwardSync(privateData(qt.data), privateData(kt.data), privateData(vt.data), o.out, o.lse, c.plan.params);
    return { out: { data: o.out, shape: qt.shape.slice() }, lse: { data: o.lse, shape: qt.shape.slice(0, 3) }, device: 'cpu' };
  } catch (e) {
    throw fromNative(e, site);
  }
}

function gradOutputs(ts: Tensor[]) {
  const [q, k, v] = ts;
  return { dq: zerosLike(q.data, q.data.length), dk: zerosLike(q.data, k.data.length), dv: zerosLike(q.data, v.data.length) };
}

function gradResult(ts: Tensor[], g: ReturnType<typeof gradOutputs>): BackwardResult {
  return { dq: { data: g.dq, shape: ts[0].shape.slice() }, dk: { data: g.dk, shape: ts[1].shape.slice() }, dv: { data: g.dv, shape: ts[2].shape.slice() }, device: 'cpu' };
}

/**
 * Attention backward: dq, dk, dv from the forward's out and lse and the upstream gradient dOut
 * (FlashAttention-2 recurrence; dk and dv sum over the query heads of a group). Rows that saw no
 * key contribute nothing (never NaN).
 * @param inputs `{ q, k, v, out, lse, dOut }`: out, lse as returned by {@link forward}; dOut like
 *   out. All host tensors, or all device tensors (lse a float32 device tensor).
 * @param options the same options as the forward call
 * @returns `{ dq [B, Hq, Nq, D], dk [B, Hkv, Nk, D], dv [B, Hkv, Nk, D] }`
 * @throws TypeError / RangeError; LemmaError ERR_SHAPE, ERR_DTYPE, ERR_RANGE, ERR_CUDA_UNAVAILABLE,
 *   ERR_CUDA, ERR_CUDA_OOM, ERR_DISPOSED.
 * @example
 * const { out, lse } = await lemma.attention.forward(q, k, v);
 * const { dq, dk, dv } = await lemma.attention.backward({ q, k, v, out, lse, dOut });
 */
export async function backward<A extends FloatArray>(inputs: BackwardInputs<A>, options?: AttentionOptions): Promise<BackwardResult<A>>;
export async function backward(inputs: BackwardDeviceInputs, options?: AttentionOptions): Promise<BackwardDeviceResult>;
export async function backward(inputs: BackwardInputs | BackwardDeviceInputs, options?: AttentionOptions): Promise<BackwardResult | BackwardDeviceResult> {
  const site = new Error();
  try {
    const c = checkBackwardArgs(inputs, options);
    throwIfAborted(c.plan.work.signal, 'lemma.attention.backward');
    if (c.kind === 'dev') return { ...(await backwardDevice(c.ts, c.plan)), device: 'cuda' };
    if (c.plan.device === 'cuda') return { ...(await viaDevice(c.ts, c.plan, 4, backwardDevice)), device: 'cuda' } as unknown as BackwardResult;
    const g = gradOutputs(c.ts);
    const d = c.ts.map((t) => privateData(t.data));
    await runLong('lemma.attention.backward', c.plan.work,
      () => native.attentionBackward(d[0], d[1], d[2], d[3], d[4], d[5], g.dq, g.dk, g.dv, c.plan.params));
    return gradResult(c.ts, g);
  } catch (e) {
    throw fromNative(e, site);
  }
}

/** Synchronous twin of {@link backward} for small host inputs on the CPU: blocks the calling thread. */
export function backwardSync<A extends FloatArray>(inputs: BackwardInputs<A>, options?: AttentionOptions): BackwardResult<A>;
export function backwardSync(inputs: BackwardInputs, options?: AttentionOptions): BackwardResult {
  const site = new Error();
  try {
    const c = checkBackwardArgs(inputs, options);
    const ts = hostOnly(c, 'backwardSync');
    const g = gradOutputs(ts);
    const d = ts.map((t) => privateData(t.data));
    native.attentionBackwardSync(d[0], d[1], d[2], d[3], d[4], d[5], g.dq, g.dk, g.dv, c.plan.params);
    return gradResult(ts, g);
  } catch (e) {
    throw fromNative(e, site);
  }
}
