/**
 * Type-level checks of the public API, compiled (never run) by test/04.types.test.ts with
 * `tsc --noEmit`: what the README advertises must type-check, `using` included.
 */
import * as lemma from '../../lib/index.js';
import * as tf from '@tensorflow/tfjs-core';
import { lemmaTf } from '../../lib/tfjs/index.js';

export async function usage(): Promise<void> {
  const A = lemma.tensor(new Float64Array([1, 0, 0, 1, -1, 0, 0, -1]), [4, 2]);
  const b = new Float64Array([1, 1, 1, 1]);
  {
    using body = lemma.polytope.halfspaces(A, b);
    body.contains([0, 0]);
  }
  {
    using kde = await lemma.dp.l1Kde([[0.1, 0.2]], { epsilon: 1, range: 1, levels: 4 });
    const est: Float64Array = (await kde.query([[0.5, 0.5]])).estimates;
    void est;
  }
  if (lemma.cudaAvailable()) {
    using t = await lemma.cuda.upload(lemma.tensor(new Float32Array(4), [4]));
    void t;
  }
  const q = lemma.tensor(new Float32Array(1 * 1 * 4 * 8), [1, 1, 4, 8]);
  const r = await lemma.attention.forward(q, q, q, { causal: true });
  const out: Float32Array = r.out.data;  // Float32Array in, Float32Array out
  void out;
  const net = lemma.looped.preset('poly3', { d: 4 });
  const it = await lemma.looped.iterate({ ...net, x0: lemma.tensor(new Float64Array(8), [2, 4]) });
  const x: Float64Array = it.x.data;
  void x;
}

/** lemma/tfjs as its README shows it: the op keeps the rank of q. */
export function tfjsUsage(): void {
  const { attention } = lemmaTf(tf);
  const q = tf.zeros([1, 2, 4, 8]) as tf.Tensor4D;
  const out: tf.Tensor4D = attention(q, q, q, { causal: true, scale: 0.5 });
  const q3 = tf.zeros([2, 4, 8]) as tf.Tensor3D;
  const out3: tf.Tensor3D = attention(q3, q3, q3);
  void out; void out3;
}
