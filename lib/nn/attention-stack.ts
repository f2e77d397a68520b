/**
 * A stack of transformer layers with hand-written reverse mode, the setting of arXiv 2408.13233
 * (gradients of multi-layer attention in almost linear time):
 *   Z_l = T_{l-1} + MHA(T_{l-1}) W_O,   MHA = concat over heads of Attn(T W_Q^h, T W_K^h, T W_V^h)
 *   T_l = Z_l + GELU(Z_l W_1 + b_1) W_2 + b_2
 * with attention 'exact' (lemma.attention: FlashAttention-2 tiling, O(N²) time) or 'poly'
 * (lemma.polyAttention: Taylor features, O(N r D_h) time), causal or not. No layer norm (the
 * paper's g_l is any map with linear-time forward and backward; this stack keeps the residual MLP).
 * Row vectors: y = x W, W is [in, out]. The projections and the MLP run on lemma's native GEMM
 * (threaded; fp32 SIMD or fp64), attention in lemma's attention kernels (Float32Array: fast
 * paths; Float64Array: fp64); reshapes and element-wise maps are TypeScript loops.
 */
import { LemmaError } from '../errors.js';
import { native } from '../binding.js';
import type { FloatArray } from '../binding.js';
import * as exact from '../attention/attention.js';
import * as poly from '../poly-attention/attention.js';
import type { PolyAttentionContext } from '../poly-attention/attention.js';
import { normals } from '../random.js';
import { checkTensor } from '../tensor.js';
import type { Tensor } from '../tensor.js';
import { checkBoolean, checkInteger, checkNumber, checkOneOf, checkOptions, expected } from '../validation/index.js';
import { checkKnownKeys } from '../validation/options.js';
import type { LongWorkOptions } from '../long-work.js';
import { chooseDevice, cpuOnly } from '../device.js';
import type { Device } from '../device.js';
import { DeviceAttentionStack, layerWork } from './attention-stack-device.js';

export interface AttentionStackOptions {
  /** Number of layers, 1..64. */
  layers: number;
  /** Heads per layer; dModel must be a multiple. */
  heads: number;
  /** Width of the residual stream. */
  dModel: number;
  /** Hidden width of each layer's MLP. Default 4 dModel. */
  mlp?: number;
  /** Causal attention. Default true. */
  causal?: boolean;
  /** 'exact' (lemma.attention) or 'poly' (lemma.polyAttention). Default 'exact'. */
  attention?: 'exact' | 'poly';
  /** Taylor degree for 'poly' (even). Default 2. */
  degree?: number;
  /** For 'poly': the refusal threshold on beta (see lemma.polyAttention). Default 6. */
  maxBeta?: number;
  /** 'float32' (fast paths) or 'float64'. Default 'float32'. */
  dtype?: 'float32' | 'float64';
  /** Seed of the initial weights. Default 0. */
  seed?: number;
  /**
   * 'auto' (default) | 'cpu' | 'cuda'. 'cuda' builds the stack on the GPU (a
   * {@link DeviceAttentionStack}: float32, exact attention; ERR_CUDA_UNAVAILABLE without a usable
   * GPU). A stack is built before it sees data, so 'auto' always means the CPU.
   */
  device?: Device;
}

/** One layer's weights (or their gradients). */
export interface LayerWeights<A extends FloatArray = FloatArray> {
  Wq: Tensor<A>; Wk: Tensor<A>; Wv: Tensor<A>; Wo: Tensor<A>;
  W1: Tensor<A>; b1: Tensor<A>; W2: Tensor<A>; b2: Tensor<A>;
}

const WEIGHT_NAMES = ['Wq', 'Wk', 'Wv', 'Wo', 'W1', 'b1', 'W2', 'b2'] as const;

/** The most bytes of weights a stack may hold (refused with ERR_OOM before allocating). */
const MAX_WEIGHT_BYTES = 4 * 1024 ** 3;

/** What backward needs from a forward pass (opaque). */
export interface StackTape {
  readonly layers: readonly LayerTape[];
  readonly shape: readonly number[];
}

interface LayerTape {
  T: FloatArray;        // input [B·N, d]
  O: FloatArray;        // attention output, heads merged [B·N, d]
  exact?: { qh: FloatArray; kh: FloatArray; vh: FloatArray; lse: FloatArray };  // [B, H, N, Dh], [B, H, N]
  ctx?: PolyAttentionContext;  // poly (it holds its own q, k, v and output)
  Z: FloatArray;        // [B·N, d]
  h1: FloatArray;       // pre-activation [B·N, m]
  a1: FloatArray;       // GELU(h1)
}

export interface StackForwardResult<A extends FloatArray = FloatArray> {
  /** [B, N, dModel]. */
  y: Tensor<A>;
  tape: StackTape;
  /** For 'poly': the largest certified beta of any layer (else 0). */
  beta: number;
}

export interface StackGradients<A extends FloatArray = FloatArray> {
  /** [B, N, dModel]. */
  dx: Tensor<A>;
  /** Gradients of every weight, layer by layer, shaped like the weights. */
  layers: LayerWeights<A>[];
}

// ---- dense helpers (row-major) ----------------------------------------------------------------
type Arr = FloatArray;
const like = (a: Arr, n: number): Arr => (a instanceof Float64Array ? new Float64Array(n) : new Float32Array(n));

/** C[m×n] = A[m×k] B[k×n] (native GEMM, threaded). */
async function mm(A: Arr, B: Arr, m: number, k: number, n: number): Promise<Arr> {
  const C = like(A, m * n);
  await native.matmul(A, B, C, { m, k, n });
  return C;
}

/** C[k×n] = A[m×k]^T B[m×n]. */
async function mmTA(A: Arr, B: Arr, m: number, k: number, n: number): Promise<Arr> {
  const C = like(A, k * n);
  await native.matmul(A, B, C, { m: k, k: m, n, ta: true });
  return C;
}

/** C[m×k] = A[m×n] B[k×n]^T. */
async function mmTB(A: Arr, B: Arr, m: number, n: number, k: number): Promise<Arr> {
  const C = like(A, m * k);
  await native.matmul(A, B, C, { m, k: n, n: k, tb: true });
  return C;
}

function addInto(dst: Arr, src: Arr): void {
  for (let i = 0; i < dst.length; i++) dst[i] += src[i];
}

/** [B·N, H·Dh] -> [B, H, N, Dh] (and back with inverse). */
function toHeads(X: Arr, B: number, N: number, H: number, Dh: number, inverse = false): Arr {
  const out = like(X, X.length);
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) {
      for (let h = 0; h < H; h++) {
        const a = ((b * N + n) * H + h) * Dh, c = ((b * H + h) * N + n) * Dh;
        for (let d = 0; d < Dh; d++) {
          if (inverse) out[a + d] = X[c + d];
          else out[c + d] = X[a + d];
        }
      }
    }
  }
  return out;
}

const GELU_C = Math.sqrt(2 / Math.PI);
function gelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x * x * x)));
}
function geluGrad(x: number): number {
  const u = GELU_C * (x + 0.044715 * x * x * x);
  const t = Math.tanh(u);
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * x * x);
}

/**
 * A transformer layer stack with exact or polynomial attention and its full backward pass.
 * Weights are plain tensors in `stack.weights` (read them, update them in place between steps).
 */
export class AttentionStack<A extends FloatArray = FloatArray> {
  readonly layers: number;
  readonly heads: number;
  readonly dModel: number;
  readonly mlp: number;
  readonly causal: boolean;
  readonly attention: 'exact' | 'poly';
  readonly degree: number;
  readonly maxBeta: number;
  readonly dtype: 'float32' | 'float64';
  readonly seed: number;
  readonly weights: LayerWeights<A>[];
  #disposed = false;

  constructor(options: AttentionStackOptions) {
    const o = checkOptions(options, 'options');
    checkKnownKeys(o, 'options', ['layers', 'heads', 'dModel', 'mlp', 'causal', 'attention', 'degree', 'maxBeta', 'dtype', 'seed', 'device']);
    if (o.device !== undefined) cpuOnly(o.device, 'options.device', 'new AttentionStack() builds the CPU stack; use lemma.nn.attentionStack() for the GPU');
    this.layers = checkInteger(o.layers, 'options.layers', 1, 64);
    this.heads = checkInteger(o.heads, 'options.heads', 1, 256);
    this.dModel = checkInteger(o.dModel, 'options.dModel', 1, 4096);
    if (this.dModel % this.heads !== 0) throw new RangeError(expected(`a multiple of heads = ${this.heads}`, 'options.dModel', this.dModel));
    if (this.dModel / this.heads > 256) throw new RangeError(expected('dModel / heads <= 256', 'options.dModel', this.dModel));
    this.mlp = o.mlp === undefined ? 4 * this.dModel : checkInteger(o.mlp, 'options.mlp', 1, 65536);
    this.causal = o.causal === undefined ? true : checkBoolean(o.causal, 'options.causal');
    this.attention = checkOneOf(o.attention ?? 'exact', 'options.attention', ['exact', 'poly'] as const);
    this.degree = o.degree === undefined ? 2 : checkInteger(o.degree, 'options.degree', 2, poly.MAX_DEGREE);
    if (this.degree % 2 !== 0) throw new RangeError(expected('an even degree', 'options.degree', this.degree));
    this.maxBeta = o.maxBeta === undefined ? 6 : checkNumber(o.maxBeta, 'options.maxBeta', { min: 0, exclusiveMin: true });
    this.dtype = checkOneOf(o.dtype ?? 'float32', 'options.dtype', ['float32', 'float64'] as const);
    this.seed = o.seed === undefined ? 0 : checkInteger(o.seed, 'options.seed', 0, 2 ** 32 - 1);
    const d = this.dModel, m = this.mlp;
    // Checked before allocating: the largest valid sizes would otherwise fill ~150 GB one
    // random number at a time and end in the OOM killer, not an error.
    const weightBytes = this.layers * (4 * d * d + 2 * d * m + d + m) * (this.dtype === 'float64' ? 8 : 4);
    if (weightBytes > MAX_WEIGHT_BYTES) {
      throw new LemmaError('ERR_OOM', `the stack's weights would take ${weightBytes} bytes, more than the limit of ${MAX_WEIGHT_BYTES} (4 GiB); lower layers, dModel or mlp`);
    }
    const rnd = normals(this.seed);
    const make = (rows: number, cols: number, std: number): Tensor<A> => {
      const data = (this.dtype === 'float64' ? new Float64Array(rows * cols) : new Float32Array(rows * cols)) as A;
      for (let i = 0; i < data.length; i++) data[i] = std * rnd();
      return { data, shape: cols === 1 ? [rows] : [rows, cols] };
    };
    // Q and K at half the usual scale keep |q·k| / sqrt(Dh) small at initialisation (the regime
    // where Taylor features are accurate; the paper assumes bounded entries).
    this.weights = Array.from({ length: this.layers }, () => ({
      Wq: make(d, d, 0.5 / Math.sqrt(d)), Wk: make(d, d, 0.5 / Math.sqrt(d)), Wv: make(d, d, 1 / Math.sqrt(d)),
      Wo: make(d, d, 1 / Math.sqrt(d * this.layers)), W1: make(d, m, 1 / Math.sqrt(d)), b1: make(m, 1, 0),
      W2: make(m, d, 1 / Math.sqrt(m * this.layers)), b2: make(d, 1, 0),
    }));
  }

  /** Tapes made by this stack's forward (backward refuses any other: its arrays are trusted). */
  readonly #tapes = new WeakSet<object>();

  #check(): void {
    if (this.#disposed) throw new LemmaError('ERR_DISPOSED', 'the attention stack was disposed');
  }

  #input(x: unknown, name: string): { X: A; B: number; N: number } {
    const t = checkTensor(x, name);
    if (t.shape.length !== 3 || t.shape[2] !== this.dModel) {
      throw new LemmaError('ERR_SHAPE', expected(`a shape [B, N, ${this.dModel}]`, `${name}.shape`, t.shape));
    }
    if ((t.data instanceof Float64Array) !== (this.dtype === 'float64')) {
      throw new LemmaError('ERR_DTYPE', expected(`a ${this.dtype === 'float64' ? 'Float64Array' : 'Float32Array'} (the stack's dtype)`, `${name}.data`, t.data));
    }
    return { X: t.data as A, B: t.shape[0], N: t.shape[1] };
  }

  /**
   * Forward pass.
   * @param x [B, N, dModel] in the stack's dtype
   * @param options signal (checked between layers: rejects with an AbortError), onProgress
   *   (`{ done, total }` layers after each layer)
   * @returns `{ y [B, N, dModel], tape, beta }`
   * @throws LemmaError ERR_SHAPE, ERR_DTYPE, ERR_DISPOSED, ERR_RANGE (poly: beta above maxBeta)
   * @example
   * const { y, tape } = await stack.forward(x);
   */
  async forward(x: Tensor<A>, options?: LongWorkOptions): Promise<StackForwardResult<A>> {
    this.#check();
    const { X, B, N } = this.#input(x, 'x');
    const work = layerWork(options, 'AttentionStack.forward', this.layers);
    const d = this.dModel, H = this.heads, Dh = d / H, m = this.mlp, R = B * N;
    const tapes: LayerTape[] = [];
    let T: Arr = X.slice();
    let beta = 0;
    // A snapshot: dispose() during the call empties this.weights; the call finishes on its own.
    for (const w of this.weights.slice()) {
      work.step();
      const qh = toHeads(await mm(T, w.Wq.data, R, d, d), B, N, H, Dh);
      const kh = toHeads(await mm(T, w.Wk.data, R, d, d), B, N, H, Dh);
      const vh = toHeads(await mm(T, w.Wv.data, R, d, d), B, N, H, Dh);
      const shape = [B, H, N, Dh];
      const tape: Partial<LayerTape> = { T };
      let oh: Arr;
      if (this.attention === 'exact') {
        const r = await exact.forward({ data: qh, shape }, { data: kh, shape }, { data: vh, shape }, { causal: this.causal });
        oh = r.out.data;
        tape.exact = { qh, kh, vh, lse: r.lse.data };
      } else {
        const r = await poly.forward({ data: qh, shape }, { data: kh, shape }, { data: vh, shape }, { causal: this.causal, degree: this.degree, maxBeta: this.maxBeta });
        oh = r.out.data;
        tape.ctx = r.ctx;
        beta = Math.max(beta, r.beta);
      }
      const O = toHeads(oh, B, N, H, Dh, true);
      const Z = await mm(O, w.Wo.data, R, d, d);
      addInto(Z, T);
      const h1 = await mm(Z, w.W1.data, R, d, m);
      const a1 = like(h1, h1.length);
      for (let i = 0; i < h1.length; i++) {
        h1[i] += w.b1.data[i % m];
        a1[i] = gelu(h1[i]);
      }
      const Tn = await mm(a1, w.W2.data, R, m, d);
      for (let i = 0; i < Tn.length; i++) Tn[i] += Z[i] + w.b2.data[i % d];
      Object.assign(tape, { O, Z, h1, a1 });
      tapes.push(tape as LayerTape);
      T = Tn;
    }
    work.step();
    const tape = { layers: tapes, shape: [B, N, d] };
    this.#tapes.add(tape);
    return { y: { data: T as A, shape: [B, N, d] }, tape, beta };
  }

  /**
   * Backward pass: gradients of every weight and of x for the upstream gradient dy.
   * @param tape from {@link forward} (of this stack, with the weights unchanged since)
   * @param dy [B, N, dModel]
   * @param options signal, onProgress (as for {@link forward})
   * @returns `{ dx [B, N, dModel], layers: [{ Wq, Wk, Wv, Wo, W1, b1, W2, b2 }] }`
   * @throws TypeError for a foreign tape; LemmaError ERR_SHAPE, ERR_DTYPE, ERR_DISPOSED
   * @example
   * const { dx, layers } = await stack.backward(tape, dy);
   */
  async backward(tape: StackTape, dy: Tensor<A>, options?: LongWorkOptions): Promise<StackGradients<A>> {
    this.#check();
    if (typeof tape !== 'object' || tape === null || !this.#tapes.has(tape) || !Array.isArray(tape.layers) || tape.layers.length !== this.layers) {
      throw new TypeError(expected('the tape returned by this stack\'s forward', 'tape', tape));
    }
    const { X: G0, B, N } = this.#input(dy, 'dy');
    const work = layerWork(options, 'AttentionStack.backward', this.layers);
    if (B !== tape.shape[0] || N !== tape.shape[1]) throw new LemmaError('ERR_SHAPE', expected(`shape [${tape.shape.join(', ')}] (the forward's)`, 'dy.shape', dy.shape));
    const d = this.dModel, H = this.heads, Dh = d / H, m = this.mlp, R = B * N;
    const shape = [B, H, N, Dh];
    const grads: LayerWeights<A>[] = new Array(this.layers);
    const weights = this.weights.slice();  // dispose() during the call must not change it
    let G: Arr = G0.slice();  // dL/dT_l
    for (let l = this.layers - 1; l >= 0; l--) {
      work.step();
      const w = weights[l], t = tape.layers[l];
      const wrap = (a: Arr, s: number[]): Tensor<A> => ({ data: a as A, shape: s });
      // MLP: T' = Z + GELU(h1) W2 + b2
      const dW2 = await mmTA(t.a1, G, R, m, d);
      const db2 = like(G, d);
      for (let i = 0; i < G.length; i++) db2[i % d] += G[i];
      const dh1 = await mmTB(G, w.W2.data, R, d, m);
      for (let i = 0; i < dh1.length; i++) dh1[i] *= geluGrad(t.h1[i]);
      const dW1 = await mmTA(t.Z, dh1, R, d, m);
      const db1 = like(G, m);
      for (let i = 0; i < dh1.length; i++) db1[i % m] += dh1[i];
      const dZ = await mmTB(dh1, w.W1.data, R, m, d);
      addInto(dZ, G);
      // Attention: Z = T + O Wo
      const dWo = await mmTA(t.O, dZ, R, d, d);
      const dOh = toHeads(await mmTB(dZ, w.Wo.data, R, d, d), B, N, H, Dh);
      let dqh: Arr, dkh: Arr, dvh: Arr;
      if (t.exact) {
        const e = t.exact;
        const r = await exact.backward({
          q: { data: e.qh, shape }, k: { data: e.kh, shape }, v: { data: e.vh, shape },
          out: { data: toHeads(t.O, B, N, H, Dh), shape }, lse: { data: e.lse, shape: shape.slice(0, 3) }, dOut: { data: dOh, shape },
        }, { causal: this.causal });
        [dqh, dkh, dvh] = [r.dq.data, r.dk.data, r.dv.data];
      } else {
        const r = await poly.backward(t.ctx as PolyAttentionContext, { data: dOh, shape });
        [dqh, dkh, dvh] = [r.dq.data, r.dk.data, r.dv.data];
      }
      const dq = toHeads(dqh, B, N, H, Dh, true), dk = toHeads(dkh, B, N, H, Dh, true), dv = toHeads(dvh, B, N, H, Dh, true);
      const dT = dZ;
      addInto(dT, await mmTB(dq, w.Wq.data, R, d, d));
      addInto(dT, await mmTB(dk, w.Wk.data, R, d, d));
      addInto(dT, await mmTB(dv, w.Wv.data, R, d, d));
      grads[l] = {
        Wq: wrap(await mmTA(t.T, dq, R, d, d), [d, d]), Wk: wrap(await mmTA(t.T, dk, R, d, d), [d, d]),
        Wv: wrap(await mmTA(t.T, dv, R, d, d), [d, d]), Wo: wrap(dWo, [d, d]), W1: wrap(dW1, [d, m]), b1: wrap(db1, [m]),
        W2: wrap(dW2, [m, d]), b2: wrap(db2, [d]),
      };
      G = dT;
    }
    work.step();
    return { dx: { data: G as A, shape: [B, N, d] }, layers: grads };
  }

  /** Drops the weights; later calls reject with ERR_DISPOSED. Idempotent. */
  dispose(): void {
    this.#disposed = true;
    this.weights.length = 0;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * A stack of `layers` transformer layers (multi-head attention with residual, residual GELU MLP)
 * with exact or polynomial attention, seeded weights and a hand-written backward pass.
 * @param options layers, heads, dModel, mlp, causal, attention ('exact' | 'poly'), degree, maxBeta, dtype, seed,
 *   device ('auto' (default: the CPU) | 'cpu' | 'cuda')
 * @returns an {@link AttentionStack}: `forward(x)`, `backward(tape, dy)`, `weights`, `dispose()`; with
 *   device 'cuda' a {@link DeviceAttentionStack} (the same layers on the GPU: DeviceTensors in and out,
 *   the same seeded initial weights, `adamStep(grads, { lr })` on the device)
 * @throws TypeError / RangeError for bad options; with device 'cuda': LemmaError ERR_CUDA_UNAVAILABLE
 *   (no usable GPU, or attention 'poly'), ERR_DTYPE (dtype 'float64')
 * @example
 * const stack = lemma.nn.attentionStack({ layers: 2, heads: 4, dModel: 64, attention: 'poly' });
 * const { y, tape } = await stack.forward(x);
 * const { dx, layers } = await stack.backward(tape, dy);
 * // On the GPU (weights, tape and gradients stay in device memory):
 * const gpu = lemma.nn.attentionStack({ layers: 2, heads: 4, dModel: 64, device: 'cuda' });
 * const f = await gpu.forward(x);                 // f.y: DeviceTensor
 * const g = await gpu.backward(f.tape, dy);
 * await gpu.adamStep(g.layers, { lr: 1e-3 });
 * f.y.dispose(); f.tape.dispose(); g.dispose();
 */
export function attentionStack<A extends FloatArray = Float32Array>(options: AttentionStackOptions & { device?: 'cpu' }): AttentionStack<A>;
export function attentionStack(options: AttentionStackOptions & { device: 'cuda' }): DeviceAttentionStack;
export function attentionStack<A extends FloatArray = Float32Array>(options: AttentionStackOptions): AttentionStack<A> | DeviceAttentionStack;
export function attentionStack<A extends FloatArray = Float32Array>(options: AttentionStackOptions): AttentionStack<A> | DeviceAttentionStack {
  const o = checkOptions(options, 'options');
  const { device, ...rest } = o as unknown as AttentionStackOptions;
  if (device === undefined || device === 'cpu') return new AttentionStack<A>(rest);
  // Validates the other options first (a typo is reported as such, not as a device problem).
  const host = new AttentionStack<Float32Array>({ ...rest, dtype: rest.dtype ?? 'float32' });
  const why = host.attention === 'poly' ? "attention 'poly' has no CUDA path (exact attention only)" : '';
  let where: 'cpu' | 'cuda';
  try {
    where = chooseDevice(device, 'options.device', { noCudaPath: why });
    if (where === 'cuda' && host.dtype !== 'float32') {
      throw new LemmaError('ERR_DTYPE', expected("dtype 'float32' (the CUDA stack computes in fp32)", 'options.dtype', host.dtype));
    }
  } catch (e) {
    host.dispose();
    throw e;
  }
  if (where === 'cpu') return host as unknown as AttentionStack<A>;
  const cfg = { layers: host.layers, heads: host.heads, dModel: host.dModel, mlp: host.mlp, causal: host.causal, seed: host.seed };
  const stack = new DeviceAttentionStack(cfg, host.weights.slice() as LayerWeights<Float32Array>[]);
  host.dispose();
  return stack;
}

export { WEIGHT_NAMES };
