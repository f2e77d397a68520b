/**
 * The CUDA path of lemma.nn.attentionStack: the same layers as the CPU stack (attention-stack.ts)
 * with weights, activations, tape and gradients in GPU memory (DeviceTensors), so a training
 * loop keeps everything on the device between steps. One native call per layer and pass
 * (native/napi/nn_binding.cc → cuda/nn/nn_stack.cu): tiled fp32 SGEMM for the projections and
 * the MLP, lemma's exact fp32 CUDA attention (deterministic backward), GELU, bias sums without
 * atomics. fp32 only; exact attention only.
 */
import { LemmaError, fromNative } from '../errors.js';
import { native } from '../binding.js';
import type { DeviceHandle, NativeNnLayerParams } from '../binding.js';
import { DeviceTensor, empty as deviceEmpty, isDeviceTensor, tensor as upload } from '../cuda/device-tensor.js';
import { checkTensor } from '../tensor.js';
import type { Tensor } from '../tensor.js';
import { checkNumber, checkOptions, expected } from '../validation/index.js';
import { checkKnownKeys, throwIfAborted } from '../validation/options.js';
import { LONG_WORK_OPTIONS, checkLongWork } from '../long-work.js';
import type { LongWorkOptions } from '../long-work.js';
import type { LayerWeights } from './attention-stack.js';

const NAMES = ['Wq', 'Wk', 'Wv', 'Wo', 'W1', 'b1', 'W2', 'b2'] as const;

/** Signal and progress of a layer-by-layer pass: step() before each layer and once at the end. */
export function layerWork(options: unknown, what: string, total: number): { step: () => void } {
  const o = checkOptions(options, 'options');
  checkKnownKeys(o, 'options', LONG_WORK_OPTIONS);
  const { signal, onProgress } = checkLongWork(o);
  const t0 = performance.now();
  let done = -1;
  return {
    step: () => {
      throwIfAborted(signal, what);
      done++;
      if (done > 0) onProgress?.({ done, total, fraction: done / total, elapsedSeconds: (performance.now() - t0) / 1000 });
    },
  };
}

/** A device stack's tape: device memory until dispose() (or the stack's dispose()). */
export interface DeviceStackTape {
  readonly layers: number;
  readonly shape: readonly number[];
  readonly device: 'cuda';
  /** Frees the tape's device memory. Idempotent; backward with a disposed tape: ERR_DISPOSED. */
  dispose(): void;
  [Symbol.dispose](): void;
}

export interface DeviceStackForwardResult {
  /** [B, N, dModel] float32 device tensor (the caller owns it). */
  y: DeviceTensor;
  tape: DeviceStackTape;
  /** Always 0 (exact attention). */
  beta: number;
  device: 'cuda';
}

export interface DeviceStackGradients {
  /** [B, N, dModel]. */
  dx: DeviceTensor;
  /** Gradients of every weight, layer by layer, shaped like the weights. */
  layers: DeviceLayerWeights[];
  device: 'cuda';
  /** Frees dx and every gradient. Idempotent. */
  dispose(): void;
}

/** One layer's weights (or their gradients) as device tensors. */
export type DeviceLayerWeights = Record<(typeof NAMES)[number], DeviceTensor>;

export interface AdamOptions {
  /** Learning rate (> 0). */
  lr: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
}

interface DevLayerTape {
  T: DeviceTensor; qh: DeviceTensor; kh: DeviceTensor; vh: DeviceTensor; oh: DeviceTensor; lse: DeviceTensor;
  O: DeviceTensor; Z: DeviceTensor; h1: DeviceTensor; a1: DeviceTensor;
}
const TAPE_NAMES = ['qh', 'kh', 'vh', 'oh', 'lse', 'O', 'Z', 'h1', 'a1'] as const;

function disposeAll(ts: Iterable<DeviceTensor>): void {
  for (const t of ts) t.dispose();
}

function nnNative(): Required<Pick<typeof native, 'nnLayerForwardCuda' | 'nnLayerBackwardCuda' | 'nnAdamCuda'>> {
  const { nnLayerForwardCuda, nnLayerBackwardCuda, nnAdamCuda } = native;
  if (!nnLayerForwardCuda || !nnLayerBackwardCuda || !nnAdamCuda) {
    throw new LemmaError('ERR_CUDA_UNAVAILABLE', 'this build of the lemma addon predates the CUDA path of lemma.nn stacks; rebuild it');
  }
  return { nnLayerForwardCuda, nnLayerBackwardCuda, nnAdamCuda };
}

export interface DeviceStackConfig {
  layers: number; heads: number; dModel: number; mlp: number; causal: boolean; seed: number;
}

/**
 * A transformer layer stack on the GPU (see lemma.nn.attentionStack with `device: 'cuda'`).
 * Weights live in device memory (`weights`, after `ready()`); forward and backward take and
 * return float32 DeviceTensors (host float32 inputs are uploaded); `adamStep` updates the weights
 * in place on the device.
 */
export class DeviceAttentionStack {
  readonly device = 'cuda' as const;
  readonly attention = 'exact' as const;
  readonly dtype = 'float32' as const;
  readonly layers: number;
  readonly heads: number;
  readonly dModel: number;
  readonly mlp: number;
  readonly causal: boolean;
  readonly seed: number;
  #weights: DeviceLayerWeights[] | null = null;
  #init: Promise<void>;
  #disposed = false;
  #adam: { m: DeviceTensor[]; v: DeviceTensor[]; t: number } | null = null;
  // Tapes not yet disposed: dispose() frees them. Weak, so a tape the caller dropped without
  // dispose() is still reclaimed by its device tensors' finalizers.
  readonly #tapes = new WeakMap<object, DevLayerTape[]>();
  readonly #live = new Set<WeakRef<DeviceStackTape>>();

  /** @internal use lemma.nn.attentionStack({ ..., device: 'cuda' }) */
  constructor(cfg: DeviceStackConfig, hostWeights: LayerWeights<Float32Array>[]) {
    nnNative();
    this.layers = cfg.layers;
    this.heads = cfg.heads;
    this.dModel = cfg.dModel;
    this.mlp = cfg.mlp;
    this.causal = cfg.causal;
    this.seed = cfg.seed;
    this.#init = this.#upload(hostWeights);
    this.#init.catch(() => {});  // reported by the first call that needs the weights
  }

  async #upload(host: LayerWeights<Float32Array>[]): Promise<void> {
    const made: DeviceTensor[] = [];
    try {
      const layers: DeviceLayerWeights[] = [];
      for (const w of host) {
        const dw = {} as DeviceLayerWeights;
        for (const n of NAMES) {
          dw[n] = await upload(w[n]);
          made.push(dw[n]);
        }
        layers.push(dw);
      }
      if (this.#disposed) disposeAll(made);
      else this.#weights = layers;
    } catch (e) {
      disposeAll(made);
      throw e;
    }
  }

  /** Resolves once the initial weights are on the device (every other call waits for it too). */
  async ready(): Promise<void> {
    await this.#init;
    this.#check();
  }

  #check(): DeviceLayerWeights[] {
    if (this.#disposed || this.#weights === null) throw new LemmaError('ERR_DISPOSED', 'the attention stack was disposed');
    return this.#weights;
  }

  /**
   * The weights as device tensors, updated in place by {@link adamStep}. Available after
   * `await stack.ready()` (or any other call); before that a LemmaError ERR_RANGE.
   */
  get weights(): DeviceLayerWeights[] {
    if (this.#disposed) throw new LemmaError('ERR_DISPOSED', 'the attention stack was disposed');
    if (this.#weights === null) throw new LemmaError('ERR_RANGE', 'the weights are still being uploaded: await stack.ready() first');
    return this.#weights;
  }

  /** Copies every weight to the host (float32 tensors, shaped like the CPU stack's weights). */
  async weightsToHost(): Promise<LayerWeights<Float32Array>[]> {
    await this.ready();
    const out: LayerWeights<Float32Array>[] = [];
    for (const w of this.#check()) {
      const h = {} as LayerWeights<Float32Array>;
      for (const n of NAMES) h[n] = (await w[n].toHost()) as Tensor<Float32Array>;
      out.push(h);
    }
    return out;
  }

  /** A float32 [B, N, dModel] input: a device tensor as is, a host tensor uploaded (owned: true). */
  async #input(x: unknown, name: string): Promise<{ t: DeviceTensor; B: number; N: number; owned: boolean }> {
    let shape: number[];
    if (isDeviceTensor(x)) {
      x.handle(name);
      if (x.dtype !== 'float32') throw new LemmaError('ERR_DTYPE', expected('a float32 device tensor (the stack\'s dtype)', name, `a ${x.dtype} device tensor`));
      shape = x.shape;
    } else {
      const t = checkTensor(x, name);
      if (!(t.data instanceof Float32Array)) throw new LemmaError('ERR_DTYPE', expected('a Float32Array or a float32 DeviceTensor (the stack\'s dtype)', `${name}.data`, t.data));
      shape = t.shape;
    }
    if (shape.length !== 3 || shape[2] !== this.dModel || shape[0] < 1 || shape[1] < 1) {
      throw new LemmaError('ERR_SHAPE', expected(`a shape [B, N, ${this.dModel}]`, `${name}.shape`, shape));
    }
    if (isDeviceTensor(x)) return { t: x, B: shape[0], N: shape[1], owned: false };
    return { t: await upload(x as Tensor), B: shape[0], N: shape[1], owned: true };
  }

  #params(B: number, N: number): NativeNnLayerParams {
    return { B, N, H: this.heads, Dh: this.dModel / this.heads, m: this.mlp, causal: this.causal };
  }

  /**
   * Forward pass on the GPU.
   * @param x [B, N, dModel]: a float32 DeviceTensor, or a Float32Array host tensor (uploaded)
   * @param options signal (checked between layers), onProgress
   * @returns `{ y, tape, beta: 0, device: 'cuda' }`: y a new device tensor; dispose y and the
   *   tape when done with them
   * @throws LemmaError ERR_SHAPE, ERR_DTYPE, ERR_DISPOSED, ERR_CUDA, ERR_CUDA_OOM
   */
  async forward(x: DeviceTensor | Tensor<Float32Array>, options?: LongWorkOptions): Promise<DeviceStackForwardResult> {
    const site = new Error();
    await this.ready();
    const weights = this.#check().slice();
    const work = layerWork(options, 'AttentionStack.forward', this.layers);
    const { t: X, B, N, owned } = await this.#input(x, 'x');
    const nn = nnNative();
    const d = this.dModel, H = this.heads, Dh = d / H, m = this.mlp;
    const p = this.#params(B, N);
    const tapes: DevLayerTape[] = [];
    const made: DeviceTensor[] = owned ? [X] : [];
    let T = X;
    try {
      for (let l = 0; l < weights.length; l++) {
        work.step();
        const mk = (shape: number[]): DeviceTensor => {
          const t = deviceEmpty(shape, 'float32');
          made.push(t);
          return t;
        };
        const heads = [B, H, N, Dh];
        const lt = {
          qh: mk(heads), kh: mk(heads), vh: mk(heads), oh: mk(heads), lse: mk([B, H, N]), O: mk([B, N, d]), Z: mk([B, N, d]),
          h1: mk([B, N, m]), a1: mk([B, N, m]),
        };
        // The tape keeps its own copy of a caller's input (the caller may dispose x).
        const save = l === 0 && !owned ? mk([B, N, d]) : null;
        const Tn = mk([B, N, d]);
        const bufs: DeviceHandle[] = [T.handle('x'), ...NAMES.map((n) => weights[l][n].handle(`weights[${l}].${n}`)),
          ...TAPE_NAMES.map((n) => lt[n].handle()), Tn.handle()];
        if (save) bufs.push(save.handle());
        await nn.nnLayerForwardCuda(bufs, p);
        tapes.push({ T: save ?? T, ...lt });
        T = Tn;
      }
      work.step();
    } catch (e) {
      disposeAll(made);
      throw fromNative(e, site);
    }
    const tape = this.#newTape(tapes, [B, N, d]);
    return { y: T, tape, beta: 0, device: 'cuda' };
  }

  #newTape(layers: DevLayerTape[], shape: number[]): DeviceStackTape {
    const tapes = this.#tapes, live = this.#live;
    if (live.size >= 64) for (const r of live) if (r.deref() === undefined) live.delete(r);
    const tape: DeviceStackTape = {
      layers: layers.length,
      shape,
      device: 'cuda',
      dispose(): void {
        const ls = tapes.get(tape);
        if (!ls) return;
        tapes.delete(tape);
        live.delete(ref);
        for (const lt of ls) disposeAll([lt.T, ...TAPE_NAMES.map((n) => lt[n])]);
      },
      [Symbol.dispose](): void {
        tape.dispose();
      },
    };
    const ref = new WeakRef(tape);
    tapes.set(tape, layers);
    live.add(ref);
    return tape;
  }

  /**
   * Backward pass on the GPU: gradients of every weight and of x for the upstream gradient dy.
   * @param tape from {@link forward} of this stack (not disposed; the weights unchanged since)
   * @param dy [B, N, dModel]: a float32 DeviceTensor or a Float32Array host tensor
   * @returns `{ dx, layers, device: 'cuda', dispose() }`, all new device tensors
   * @throws TypeError for a foreign tape; LemmaError ERR_SHAPE, ERR_DTYPE, ERR_DISPOSED, ERR_CUDA
   */
  async backward(tape: DeviceStackTape, dy: DeviceTensor | Tensor<Float32Array>, options?: LongWorkOptions): Promise<DeviceStackGradients> {
    const site = new Error();
    await this.ready();
    const weights = this.#check().slice();
    if (typeof tape !== 'object' || tape === null || typeof (tape as { dispose?: unknown }).dispose !== 'function' || tape.device !== 'cuda') {
      throw new TypeError(expected('the tape returned by this stack\'s forward', 'tape', tape));
    }
    const layersTape = this.#tapes.get(tape);
    if (!layersTape) throw new LemmaError('ERR_DISPOSED', 'the tape was disposed (or is not from this stack)');
    const work = layerWork(options, 'AttentionStack.backward', this.layers);
    const { t: G0, B, N, owned } = await this.#input(dy, 'dy');
    if (B !== tape.shape[0] || N !== tape.shape[1]) {
      if (owned) G0.dispose();
      throw new LemmaError('ERR_SHAPE', expected(`shape [${tape.shape.join(', ')}] (the forward's)`, 'dy.shape', [B, N, this.dModel]));
    }
    const nn = nnNative();
    const d = this.dModel;
    const p = this.#params(B, N);
    const grads: DeviceLayerWeights[] = new Array(this.layers);
    const made: DeviceTensor[] = [];
    let G = G0;
    try {
      for (let l = this.layers - 1; l >= 0; l--) {
        work.step();
        const lt = layersTape[l];
        const w = weights[l];
        const g = {} as DeviceLayerWeights;
        for (const n of NAMES) {
          g[n] = deviceEmpty(w[n].shape, 'float32');
          made.push(g[n]);
        }
        const dT = deviceEmpty([B, N, d], 'float32');
        made.push(dT);
        const bufs: DeviceHandle[] = [lt.T.handle('tape'), ...NAMES.map((n) => w[n].handle(`weights[${l}].${n}`)),
          ...TAPE_NAMES.map((n) => lt[n].handle('tape')), G.handle('dy'), dT.handle(), ...NAMES.map((n) => g[n].handle())];
        await nn.nnLayerBackwardCuda(bufs, p);
        grads[l] = g;
        if (G !== G0 || owned) G.dispose();
        G = dT;
      }
      work.step();
    } catch (e) {
      disposeAll(made);
      if (owned) G0.dispose();
      throw fromNative(e, site);
    }
    const dx = G;
    return {
      dx, layers: grads, device: 'cuda',
      dispose(): void {
        dx.dispose();
        for (const g of grads) disposeAll(NAMES.map((n) => g[n]));
      },
    };
  }

  /**
   * One Adam step (Kingma & Ba) on the device, in place on {@link weights}: m = β1 m + (1 − β1) g,
   * v = β2 v + (1 − β2) g², w −= lr (m / (1 − β1^t)) / (√(v / (1 − β2^t)) + ε), fp32. The moments
   * live on the device (zero at the first step; freed by dispose()); t counts this stack's steps.
   * @param grads the `layers` of a {@link backward} result
   * @param options lr, beta1 (0.9), beta2 (0.999), eps (1e-8)
   * @returns `{ step }` the step number t just taken
   * @throws TypeError / RangeError for bad arguments; LemmaError ERR_DISPOSED, ERR_SHAPE, ERR_CUDA
   */
  async adamStep(grads: DeviceLayerWeights[], options: AdamOptions): Promise<{ step: number }> {
    const site = new Error();
    await this.ready();
    const o = checkOptions(options, 'options');
    checkKnownKeys(o, 'options', ['lr', 'beta1', 'beta2', 'eps']);
    const lr = checkNumber(o.lr, 'options.lr', { min: 0, exclusiveMin: true });
    const beta = (v: unknown, name: string, fallback: number): number => {
      if (v === undefined) return fallback;
      const b = checkNumber(v, name, { min: 0, max: 1 });
      if (b === 1) throw new RangeError(expected('a number in [0, 1)', name, b));
      return b;
    };
    const beta1 = beta(o.beta1, 'options.beta1', 0.9), beta2 = beta(o.beta2, 'options.beta2', 0.999);
    const eps = o.eps === undefined ? 1e-8 : checkNumber(o.eps, 'options.eps', { min: 0, exclusiveMin: true });
    if (!Array.isArray(grads) || grads.length !== this.layers) throw new TypeError(expected(`an array of ${this.layers} layers of gradients`, 'grads', grads));
    const weights = this.#check();
    const ps: DeviceTensor[] = [], gs: DeviceTensor[] = [];
    grads.forEach((g, l) => {
      if (typeof g !== 'object' || g === null) throw new TypeError(expected('an object of device tensors', `grads[${l}]`, g));
      for (const n of NAMES) {
        const t = (g as Record<string, unknown>)[n];
        if (!isDeviceTensor(t)) throw new TypeError(expected('a DeviceTensor', `grads[${l}].${n}`, t));
        if (t.dtype !== 'float32') throw new LemmaError('ERR_DTYPE', expected('a float32 device tensor', `grads[${l}].${n}`, `a ${t.dtype} device tensor`));
        if (t.size !== weights[l][n].size) throw new LemmaError('ERR_SHAPE', expected(`shape [${weights[l][n].shape.join(', ')}]`, `grads[${l}].${n}.shape`, t.shape));
        ps.push(weights[l][n]);
        gs.push(t);
      }
    });
    const nn = nnNative();
    try {
      if (this.#adam === null) {
        const m: DeviceTensor[] = [], v: DeviceTensor[] = [];
        try {
          for (const p of ps) {
            m.push(await upload({ data: new Float32Array(p.size), shape: p.shape }));
            v.push(await upload({ data: new Float32Array(p.size), shape: p.shape }));
          }
        } catch (e) {
          disposeAll([...m, ...v]);
          throw e;
        }
        if (this.#disposed) {
          disposeAll([...m, ...v]);
          this.#check();
        }
        this.#adam = { m, v, t: 0 };
      }
      const a = this.#adam;
      const t = a.t + 1;
      await nn.nnAdamCuda(ps.map((x) => x.handle('weights')), gs.map((x, i) => x.handle(`grads[${Math.floor(i / 8)}].${NAMES[i % 8]}`)),
        a.m.map((x) => x.handle()), a.v.map((x) => x.handle()),
        { lr, beta1, beta2, eps, c1: 1 - beta1 ** t, c2: 1 - beta2 ** t });
      a.t = t;
      return { step: t };
    } catch (e) {
      throw fromNative(e, site);
    }
  }

  /** Frees the weights, the Adam moments and every tape not yet disposed. Idempotent. */
  dispose(): void {
    this.#disposed = true;
    if (this.#weights) for (const w of this.#weights) disposeAll(NAMES.map((n) => w[n]));
    this.#weights = null;
    if (this.#adam) disposeAll([...this.#adam.m, ...this.#adam.v]);
    this.#adam = null;
    for (const r of [...this.#live]) r.deref()?.dispose();
    this.#live.clear();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
