/**
 * lemma's attention inside a TensorFlow.js model (lemma/tfjs): a one-layer causal self-attention
 * model whose attention is `lemmaTf(tf).attention` (lemma's forward, lemma's backward through
 * tf.customGrad), everything else tfjs ops, trained with tf.train.adam.
 *
 * The task (as in examples/train-transformer): K random tokens from a vocabulary of V, then the
 * same K tokens again, N = 2K. Trained as next-token prediction on the second half: at position
 * p = K−1 .. 2K−2 the model must output the token at p − K + 1, which needs an attention head
 * that looks back K − 1 places. Guessing does no better than ln V.
 *
 * Model: token embedding E [V, d] + position embedding P [N, d] → x; q, k, v = x·Wq, x·Wk, x·Wv
 * split into H heads [B, H, N, d/H] → lemma attention (causal) → merge heads · Wo, + x →
 * logits ·Wout + bout [V].
 *
 *   node --import tsx examples/tfjs-attention/train.ts            # V 16, K 12, 4 heads, d 32, batch 32
 *   node --import tsx examples/tfjs-attention/train.ts --small    # V 6, K 5, 2 heads, d 32, batch 16 (test/96)
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// @tensorflow/tfjs-core alone registers no gradients (the @tensorflow/tfjs bundle does this for you).
import '@tensorflow/tfjs-core/dist/register_all_gradients';
// In an application: import { lemmaTf } from 'lemma/tfjs';
import { lemmaTf } from '../../lib/tfjs/index.js';

export interface Config {
  vocab: number;   // V
  half: number;    // K
  heads: number;   // H
  dModel: number;  // d
  batch: number;
  maxSteps: number;
  lr: number;
  seed: number;
  /** Stop when the mean training loss of the last 10 steps falls below this. */
  target: number;
}

/** The full size and the one the test runs (the README states both results). */
export const FULL: Config = { vocab: 16, half: 12, heads: 4, dModel: 32, batch: 32, maxSteps: 300, lr: 1e-2, seed: 1, target: 0.05 };
export const SMALL: Config = { vocab: 6, half: 5, heads: 2, dModel: 32, batch: 16, maxSteps: 100, lr: 1e-2, seed: 1, target: 0.1 };

/** mulberry32: a small seeded generator for the data. */
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
    for (let i = 0; i < K; i++) t[b * 2 * K + i] = t[b * 2 * K + K + i] = Math.floor(rand() * V);
  }
  return t;
}

export interface TrainResult {
  losses: number[];
  /** The step at which the mean of the last 10 losses fell below cfg.target, or null. */
  reachedAt: number | null;
  heldOut: { loss: number; accuracy: number };
  seconds: number;
}

export function train(cfg: Config, log: (line: string) => void = () => {}): TrainResult {
  const { vocab: V, half: K, heads: H, dModel: d, batch: B } = cfg;
  const N = 2 * K, dh = d / H;
  const { attention } = lemmaTf(tf);
  let seed = cfg.seed * 1000;
  const init = (shape: number[], std: number, name: string) => {
    const value = std === 0 ? tf.zeros(shape) : tf.randomNormal(shape, 0, std, 'float32', seed++);
    const v = tf.variable(value, true, name);
    value.dispose();  // the variable holds its own reference to the data
    return v;
  };
  const w = {
    E: init([V, d], 1, 'E'), P: init([N, d], 1, 'P'),
    Wq: init([d, d], 1 / Math.sqrt(d), 'Wq'), Wk: init([d, d], 1 / Math.sqrt(d), 'Wk'),
    Wv: init([d, d], 1 / Math.sqrt(d), 'Wv'), Wo: init([d, d], 1 / Math.sqrt(d), 'Wo'),
    Wout: init([d, V], 1 / Math.sqrt(d), 'Wout'), bout: init([V], 0, 'bout'),
  };

  /** Logits [B, K, V] at positions K−1 .. 2K−2 and the targets (tokens K .. 2K−1). */
  const forward = (tokens: Int32Array, b: number) => {
    const ids = tf.tensor2d(tokens, [b, N], 'int32');
    const x = tf.add(tf.gather(w.E, ids), w.P) as tf.Tensor3D;                       // [b, N, d]
    const x2 = tf.reshape(x, [b * N, d]);
    const heads = (W: tf.Variable) => tf.transpose(tf.reshape(tf.matMul(x2, W), [b, N, H, dh]), [0, 2, 1, 3]) as tf.Tensor4D;
    const a = attention(heads(w.Wq), heads(w.Wk), heads(w.Wv), { causal: true });  // [b, H, N, dh]: lemma
    const merged = tf.reshape(tf.transpose(a, [0, 2, 1, 3]), [b * N, d]);
    const y = tf.add(tf.matMul(merged, w.Wo), x2);
    const logits = tf.reshape(tf.add(tf.matMul(y, w.Wout), w.bout), [b, N, V]);
    return {
      logits: tf.slice(logits, [0, K - 1, 0], [b, K, V]),
      targets: tf.slice(ids, [0, K], [b, K]),
    };
  };
  const lossOf = (tokens: Int32Array, b: number) => {
    const { logits, targets } = forward(tokens, b);
    return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.reshape(targets, [-1]), V), tf.reshape(logits, [-1, V])) as tf.Scalar;
  };

  const opt = tf.train.adam(cfg.lr);
  const rand = rng(cfg.seed);
  const losses: number[] = [];
  let reachedAt: number | null = null;
  const t0 = performance.now();
  for (let step = 1; step <= cfg.maxSteps; step++) {
    const tokens = copyBatch(B, K, V, rand);
    const loss = opt.minimize(() => lossOf(tokens, B), true)!;
    losses.push(loss.dataSync()[0]);
    loss.dispose();
    const recent = losses.slice(-10);
    const mean = recent.reduce((s, l) => s + l, 0) / recent.length;
    if (step % 10 === 0 || step === 1) log(`step ${String(step).padStart(4)}  loss ${losses[step - 1].toFixed(4)}  (mean of last 10: ${mean.toFixed(4)})`);
    if (losses.length >= 10 && mean < cfg.target) {
      reachedAt = step;
      break;
    }
  }
  const seconds = (performance.now() - t0) / 1000;

  const heldOut = tf.tidy(() => {
    const tokens = copyBatch(256, K, V, rng(cfg.seed + 77));
    const { logits, targets } = forward(tokens, 256);
    const loss = tf.losses.softmaxCrossEntropy(tf.oneHot(tf.reshape(targets, [-1]), V), tf.reshape(logits, [-1, V]));
    const hit = tf.mean(tf.cast(tf.equal(tf.argMax(logits, 2), targets), 'float32'));
    return { loss: loss.dataSync()[0], accuracy: hit.dataSync()[0] };
  });
  opt.dispose();
  tf.dispose(Object.values(w));
  return { losses, reachedAt, heldOut, seconds };
}

async function main(): Promise<void> {
  const cfg = process.argv.includes('--small') ? SMALL : FULL;
  tf.enableProdMode();  // no "install tfjs-node" banner
  await tf.setBackend('cpu');
  console.log(`tfjs ${tf.version_core}, backend ${tf.getBackend()}; attention: lemma/tfjs (lemma's CPU forward and backward, fp32)`);
  console.log(`copy task: ${cfg.half} tokens from a vocabulary of ${cfg.vocab}, then the same ${cfg.half} again (N = ${2 * cfg.half}); chance loss ln ${cfg.vocab} = ${Math.log(cfg.vocab).toFixed(3)}`);
  console.log(`model: 1 causal self-attention layer, ${cfg.heads} heads, dModel ${cfg.dModel}; tf.train.adam lr ${cfg.lr}, batch ${cfg.batch}, seed ${cfg.seed}`);
  const r = train(cfg, console.log);
  const first = r.losses[0], last = r.losses[r.losses.length - 1];
  console.log(`loss ${first.toFixed(4)} → ${last.toFixed(4)} in ${r.losses.length} steps, ${r.seconds.toFixed(1)} s`);
  if (r.reachedAt === null) {
    console.log(`the mean loss of 10 steps did not fall below ${cfg.target} within ${cfg.maxSteps} steps`);
    process.exitCode = 1;
  } else {
    console.log(`the mean loss of 10 steps fell below ${cfg.target} at step ${r.reachedAt} (limit ${cfg.maxSteps})`);
  }
  console.log(`held-out batch of 256: loss ${r.heldOut.loss.toFixed(4)}, accuracy ${(100 * r.heldOut.accuracy).toFixed(1)} %`);
  console.log(`tfjs tensors still allocated: ${tf.memory().numTensors}`);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
