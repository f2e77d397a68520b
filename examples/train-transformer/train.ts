/**
 * Trains a small causal transformer (lemma.nn.attentionStack) on a copy task with Adam written in
 * TypeScript, then saves the weights with lemma.io.writeSafetensors.
 *
 * The task: a sequence of K random tokens followed by the same K tokens again, N = 2K. Trained as
 * next-token prediction on the second half: at position p = K−1 .. 2K−2 the model must output the
 * token at position p − K + 1 (an attention head that looks back K − 1 places). A model that has
 * not learnt to copy can do no better than ln V (uniform guessing).
 *
 * Model: token embedding E [V, d] + learned position embedding P [N, d] → the stack → logits
 * y·W_out + b_out [V]. The embeddings, the output layer, the cross-entropy and Adam are here in
 * TypeScript (with their gradients by hand; the test checks them against finite differences);
 * the stack's forward and backward are lemma's. On a machine with a real GPU the stack runs on it
 * (`device: 'cuda'`): its weights, activations, gradients and Adam moments stay in GPU memory and
 * Adam updates them there (stack.adamStep); only the activations y and dy, and dx, cross to the
 * host each step, for the TypeScript embeddings, output layer and loss. Elsewhere (and with
 * --cpu) it trains on the CPU.
 *
 *   node --import tsx examples/train-transformer/train.ts            # V 16, K 16, 2 layers, 4 heads, dModel 32, batch 32
 *   node --import tsx examples/train-transformer/train.ts --small    # V 6, K 5, 1 layer, 2 heads, dModel 32, batch 16 (test/96)
 *   ... [--out weights.safetensors]                                   # default: os.tmpdir()
 *   ... [--cpu]                                                       # the CPU even when a GPU is present
 */
import os from 'node:os';
import path from 'node:path';
import * as lemma from '../../lib/index.js';

type Arr = Float32Array | Float64Array;

export interface TrainConfig {
  vocab: number;      // V
  half: number;       // K: the sequence is K tokens then the same K again
  layers: number;
  heads: number;
  dModel: number;
  batch: number;
  maxSteps: number;
  lr: number;
  seed: number;
  /** Stop when the mean training loss of the last 10 steps falls below this. */
  target: number;
  dtype?: 'float32' | 'float64';
}

/** The full size and the one the test runs (the README states both results). */
export const FULL: TrainConfig = { vocab: 16, half: 16, layers: 2, heads: 4, dModel: 32, batch: 32, maxSteps: 300, lr: 3e-3, seed: 1, target: 0.02 };
export const SMALL: TrainConfig = { vocab: 6, half: 5, layers: 1, heads: 2, dModel: 32, batch: 16, maxSteps: 100, lr: 3e-3, seed: 1, target: 0.1 };

/** mulberry32: a small seeded generator for the data and the TS-side initial weights. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A batch of copy sequences: tokens [B, 2K]. */
export function copyBatch(B: number, K: number, V: number, rand: () => number): Int32Array {
  const t = new Int32Array(B * 2 * K);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < K; i++) {
      const v = Math.floor(rand() * V);
      t[b * 2 * K + i] = v;
      t[b * 2 * K + K + i] = v;
    }
  }
  return t;
}

export class CopyModel {
  readonly V: number;
  readonly N: number;
  readonly K: number;
  readonly d: number;
  /** The stack on the CPU (null when it lives on the GPU). */
  readonly stack: lemma.nn.AttentionStack<Arr>;
  /** The stack on the GPU (device 'cuda'; null on the CPU). */
  readonly deviceStack: lemma.nn.DeviceAttentionStack | null = null;
  /** TypeScript-side parameters: E [V, d], P [N, d], Wout [d, V], bout [V]. */
  readonly own: Record<'E' | 'P' | 'Wout' | 'bout', lemma.Tensor<Arr>>;

  constructor(cfg: TrainConfig, device: 'cpu' | 'cuda' = 'cpu') {
    this.V = cfg.vocab;
    this.K = cfg.half;
    this.N = 2 * cfg.half;
    this.d = cfg.dModel;
    const f64 = cfg.dtype === 'float64';
    const stackOptions = { layers: cfg.layers, heads: cfg.heads, dModel: cfg.dModel, causal: true, dtype: cfg.dtype ?? 'float32', seed: cfg.seed } as const;
    if (device === 'cuda') {
      this.deviceStack = lemma.nn.attentionStack({ ...stackOptions, device: 'cuda' });
      this.stack = null as unknown as lemma.nn.AttentionStack<Arr>;
    } else {
      this.stack = lemma.nn.attentionStack<Arr>(stackOptions);
    }
    const rand = rng(cfg.seed + 1000);
    const make = (shape: number[], std: number): lemma.Tensor<Arr> => {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = f64 ? new Float64Array(n) : new Float32Array(n);
      // Uniform with the given std.
      for (let i = 0; i < n; i++) data[i] = std * Math.sqrt(3) * (2 * rand() - 1);
      return { data, shape };
    };
    const d = this.d;
    this.own = { E: make([this.V, d], 1), P: make([this.N, d], 1), Wout: make([d, this.V], 1 / Math.sqrt(d)), bout: make([this.V], 0) };
  }

  /**
   * Every host parameter, by name (stack weights as `layer{l}.{name}`): the tensors themselves,
   * updated in place. With the stack on the GPU: the TypeScript-side parameters only.
   */
  params(): Record<string, lemma.Tensor<Arr>> {
    const out: Record<string, lemma.Tensor<Arr>> = { ...this.own };
    if (this.deviceStack) return out;
    this.stack.weights.forEach((w, l) => {
      for (const [k, t] of Object.entries(w)) out[`layer${l}.${k}`] = t;
    });
    return out;
  }

  /** Every parameter on the host (the GPU stack's weights copied back): for saving. */
  async hostParams(): Promise<Record<string, lemma.Tensor<Arr>>> {
    const out = this.params();
    if (this.deviceStack) {
      (await this.deviceStack.weightsToHost()).forEach((w, l) => {
        for (const [k, t] of Object.entries(w)) out[`layer${l}.${k}`] = t;
      });
    }
    return out;
  }

  dispose(): void {
    this.deviceStack?.dispose();
    this.stack?.dispose();
  }

  /**
   * Mean cross-entropy over the K predicted positions of every sequence and, with `grads`, the
   * gradient of every parameter (same names as params()).
   */
  async loss(tokens: Int32Array, B: number, grads = true): Promise<{ loss: number; accuracy: number; grads: Record<string, Arr>; deviceGrads?: lemma.nn.DeviceStackGradients }> {
    const { V, N, K, d } = this;
    const { E, P, Wout, bout } = this.own;
    const f64 = E.data instanceof Float64Array;
    const alloc = (n: number): Arr => (f64 ? new Float64Array(n) : new Float32Array(n));
    // x[b, n] = E[token] + P[n]
    const x = alloc(B * N * d);
    for (let b = 0; b < B; b++) {
      for (let n = 0; n < N; n++) {
        const tok = tokens[b * N + n], o = (b * N + n) * d;
        for (let j = 0; j < d; j++) x[o + j] = E.data[tok * d + j] + P.data[n * d + j];
      }
    }
    const dev = this.deviceStack;
    let y: lemma.Tensor<Arr>, tape: lemma.nn.StackTape | null = null, deviceTape: lemma.nn.DeviceStackTape | null = null;
    if (dev) {
      // GPU: x is uploaded; y comes back for the TypeScript output layer (the tape stays there).
      const f = await dev.forward({ data: x as Float32Array, shape: [B, N, d] });
      y = (await f.y.toHost()) as lemma.Tensor<Arr>;
      f.y.dispose();
      deviceTape = f.tape;
    } else {
      ({ y, tape } = await this.stack.forward({ data: x, shape: [B, N, d] }));
    }
    // logits at the predicted positions p = K-1 .. 2K-2; target the token at p + 1.
    const count = B * K;
    const dy = alloc(B * N * d);
    const dWout = alloc(d * V), dbout = alloc(V);
    const logits = new Float64Array(V);
    let loss = 0, correct = 0;
    for (let b = 0; b < B; b++) {
      for (let p = K - 1; p <= 2 * K - 2; p++) {
        const o = (b * N + p) * d, target = tokens[b * N + p + 1];
        let max = -Infinity, arg = 0;
        for (let v = 0; v < V; v++) {
          let s = bout.data[v];
          for (let j = 0; j < d; j++) s += y.data[o + j] * Wout.data[j * V + v];
          logits[v] = s;
          if (s > max) { max = s; arg = v; }
        }
        let z = 0;
        for (let v = 0; v < V; v++) z += Math.exp(logits[v] - max);
        loss += -(logits[target] - max - Math.log(z));
        if (arg === target) correct++;
        if (!grads) continue;
        // dL/dlogit = (softmax − onehot) / count
        for (let v = 0; v < V; v++) {
          const g = (Math.exp(logits[v] - max) / z - (v === target ? 1 : 0)) / count;
          dbout[v] += g;
          for (let j = 0; j < d; j++) {
            dWout[j * V + v] += y.data[o + j] * g;
            dy[o + j] += Wout.data[j * V + v] * g;
          }
        }
      }
    }
    const out: Record<string, Arr> = {};
    // dx [B, N, d] -> the gradients of the token embedding E and the position embedding P.
    const scatterEmbeddingGrads = (dx: Arr): { E: Arr; P: Arr } => {
      const dE = alloc(V * d), dP = alloc(N * d);
      for (let b = 0; b < B; b++) {
        for (let n = 0; n < N; n++) {
          const tok = tokens[b * N + n], o = (b * N + n) * d;
          for (let j = 0; j < d; j++) {
            dE[tok * d + j] += dx[o + j];
            dP[n * d + j] += dx[o + j];
          }
        }
      }
      return { E: dE, P: dP };
    };
    let deviceGrads: lemma.nn.DeviceStackGradients | undefined;
    if (grads && dev && deviceTape) {
      deviceGrads = await dev.backward(deviceTape, { data: dy as Float32Array, shape: [B, N, d] });
      deviceTape.dispose();
      const dx = await deviceGrads.dx.toHost();
      Object.assign(out, scatterEmbeddingGrads(dx.data as Arr), { Wout: dWout, bout: dbout });
    } else if (dev) {
      deviceTape?.dispose();
    } else if (grads && tape) {
      const { dx, layers } = await this.stack.backward(tape, { data: dy, shape: [B, N, d] });
      Object.assign(out, scatterEmbeddingGrads(dx.data), { Wout: dWout, bout: dbout });
      layers.forEach((w, l) => {
        for (const [k, t] of Object.entries(w)) out[`layer${l}.${k}`] = t.data;
      });
    }
    return { loss: loss / count, accuracy: correct / count, grads: out, deviceGrads };
  }
}

/** Adam (Kingma & Ba) over named parameters, updating them in place. */
export class Adam {
  #m = new Map<string, Float64Array>();
  #v = new Map<string, Float64Array>();
  #t = 0;
  constructor(readonly lr: number, readonly beta1 = 0.9, readonly beta2 = 0.999, readonly eps = 1e-8) {}

  step(params: Record<string, lemma.Tensor<Arr>>, grads: Record<string, Arr>): void {
    this.#t++;
    const c1 = 1 - this.beta1 ** this.#t, c2 = 1 - this.beta2 ** this.#t;
    for (const [name, p] of Object.entries(params)) {
      const g = grads[name];
      let m = this.#m.get(name), v = this.#v.get(name);
      if (!m || !v) {
        m = new Float64Array(g.length);
        v = new Float64Array(g.length);
        this.#m.set(name, m);
        this.#v.set(name, v);
      }
      for (let i = 0; i < g.length; i++) {
        m[i] = this.beta1 * m[i] + (1 - this.beta1) * g[i];
        v[i] = this.beta2 * v[i] + (1 - this.beta2) * g[i] * g[i];
        p.data[i] -= (this.lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + this.eps);
      }
    }
  }
}

export interface TrainResult {
  /** Training loss at every step (on that step's batch, before the update). */
  losses: number[];
  /** The first step at which the mean loss of the last 10 steps was below cfg.target (null: never within maxSteps). */
  reachedAt: number | null;
  /** Loss and accuracy on a held-out batch of 256 sequences after training. */
  heldOut: { loss: number; accuracy: number };
  seconds: number;
  model: CopyModel;
}

/** device 'cuda': the stack on the GPU (a usable GPU needed; main() asks for it only on a real one). */
export async function train(cfg: TrainConfig, log: (line: string) => void = () => {}, device: 'cpu' | 'cuda' = 'cpu'): Promise<TrainResult> {
  const model = new CopyModel(cfg, device);
  const opt = new Adam(cfg.lr);
  const rand = rng(cfg.seed);
  const losses: number[] = [];
  let reachedAt: number | null = null;
  const t0 = performance.now();
  for (let step = 1; step <= cfg.maxSteps; step++) {
    const tokens = copyBatch(cfg.batch, cfg.half, cfg.vocab, rand);
    const { loss, accuracy, grads, deviceGrads } = await model.loss(tokens, cfg.batch);
    losses.push(loss);
    const mean10 = step >= 10 ? losses.slice(-10).reduce((a, b) => a + b, 0) / 10 : Infinity;
    if (step === 1 || step % 25 === 0) log(`step ${String(step).padStart(4)}  loss ${loss.toFixed(4)}  mean of last 10 ${step >= 10 ? mean10.toFixed(4) : "—"}  accuracy ${(100 * accuracy).toFixed(1)} %  ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    if (mean10 < cfg.target) {
      reachedAt = step;
      log(`step ${String(step).padStart(4)}  mean loss of the last 10 steps ${mean10.toFixed(4)} < ${cfg.target}: stop`);
      deviceGrads?.dispose();
      break;
    }
    opt.step(model.params(), grads);
    if (deviceGrads && model.deviceStack) {
      // The stack's Adam step on the GPU, same hyperparameters and step count as opt's.
      await model.deviceStack.adamStep(deviceGrads.layers, { lr: opt.lr, beta1: opt.beta1, beta2: opt.beta2, eps: opt.eps });
      deviceGrads.dispose();
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const held = await model.loss(copyBatch(256, cfg.half, cfg.vocab, rng(cfg.seed + 77)), 256, false);
  return { losses, reachedAt, heldOut: { loss: held.loss, accuracy: held.accuracy }, seconds, model };
}

/** The weights as safetensors: every parameter under its params() name, the config as metadata. */
export async function save(file: string, model: CopyModel, cfg: TrainConfig): Promise<void> {
  const tensors: Record<string, lemma.Tensor<Arr>> = await model.hostParams();
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(cfg)) meta[k] = String(v);
  await lemma.io.writeSafetensors(file, tensors, meta);
}

/** A model rebuilt from a file written by {@link save}: the config from the metadata, every weight from the tensors. */
export async function load(file: string): Promise<{ model: CopyModel; cfg: TrainConfig }> {
  const { tensors, metadata } = await lemma.io.readSafetensors(file);
  const m = metadata;
  const num = (k: string) => Number(m[k]);
  const cfg: TrainConfig = {
    vocab: num('vocab'), half: num('half'), layers: num('layers'), heads: num('heads'), dModel: num('dModel'), batch: num('batch'),
    maxSteps: num('maxSteps'), lr: num('lr'), seed: num('seed'), target: num('target'), dtype: m.dtype === 'float64' ? 'float64' : 'float32',
  };
  const model = new CopyModel(cfg);
  for (const [name, p] of Object.entries(model.params())) {
    const t = tensors[name];
    if (!t || t.data.length !== p.data.length) throw new Error(`${file}: no tensor ${name} of ${p.data.length} values`);
    p.data.set(t.data as Arr);
  }
  return { model, cfg };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const cfg = args.includes('--small') ? SMALL : FULL;
  const outAt = args.indexOf('--out');
  const file = outAt >= 0 ? args[outAt + 1] : path.join(os.tmpdir(), `lemma-copy-${args.includes('--small') ? 'small' : 'full'}.safetensors`);
  const caps = lemma.capabilities();
  // The emulated device (a test build) is never used here: only a real GPU.
  const realGpu = lemma.cudaAvailable() && !caps.cuda.emulated;
  const device = realGpu && !args.includes('--cpu') ? 'cuda' : 'cpu';
  if (device === 'cuda') console.log(`GPU: ${caps.cuda.devices[0]?.name ?? 'CUDA device'}: the stack trains on the GPU (weights, activations, gradients and Adam on the device; embeddings, output layer and loss in TypeScript)`);
  else if (realGpu) console.log('a GPU is present; --cpu: training on the CPU');
  else console.log('no GPU: CPU only');
  console.log(`copy task: ${cfg.half} tokens from a vocabulary of ${cfg.vocab}, then the same ${cfg.half} again (N = ${2 * cfg.half}); chance loss ln ${cfg.vocab} = ${Math.log(cfg.vocab).toFixed(3)}`);
  console.log(`model: ${cfg.layers} layer(s), ${cfg.heads} heads, dModel ${cfg.dModel}, causal exact attention; Adam lr ${cfg.lr}, batch ${cfg.batch}, seed ${cfg.seed}, ${lemma.capabilities().threads} threads`);
  const r = await train(cfg, console.log, device);
  if (r.reachedAt === null) {
    console.log(`the mean loss of 10 steps did not fall below ${cfg.target} within ${cfg.maxSteps} steps (last ${r.losses[r.losses.length - 1].toFixed(4)})`);
    process.exitCode = 1;
  } else {
    console.log(`the mean loss of 10 steps fell below ${cfg.target} at step ${r.reachedAt} (limit ${cfg.maxSteps}) in ${r.seconds.toFixed(1)} s`);
  }
  console.log(`held-out batch of 256: loss ${r.heldOut.loss.toFixed(4)}, accuracy ${(100 * r.heldOut.accuracy).toFixed(1)} %`);
  await save(file, r.model, cfg);
  r.model.dispose();
  console.log(`weights: ${file}`);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
