/**
 * lemma/tfjs: lemma's exact attention as a TensorFlow.js op with its gradient (tf.customGrad).
 *
 * The adapter takes the caller's `tf` namespace instead of importing `@tensorflow/tfjs-core`
 * itself: the op then lives in the same tfjs copy (engine, backend, tape) as the caller's
 * tensors, whichever package provided it (`@tensorflow/tfjs-core`, `@tensorflow/tfjs`,
 * `@tensorflow/tfjs-node`), and however a bundler or nested node_modules resolved it; and this
 * module loads without TensorFlow.js installed (the peer dependency is optional; only types are
 * imported here). lemma's main entry never imports this file.
 *
 * The op runs lemma's synchronous CPU path in fp32 (attention.forwardSync / backwardSync) on the
 * tensors' data (dataSync()), whatever tfjs backend holds them, and returns tensors on that
 * backend.
 */
import type * as tfc from '@tensorflow/tfjs-core';
import { LemmaError } from '../errors.js';
import { backwardSync, checkQkvShapes, forwardSync } from '../attention/attention.js';
import type { AttentionAlgorithm } from '../attention/attention.js';
import { checkBoolean, checkNumber, checkOneOf, checkOptions, expected } from '../validation/index.js';
import { checkKnownKeys } from '../validation/options.js';

/** What lemma/tfjs uses of the TensorFlow.js namespace (`import * as tf from '@tensorflow/tfjs-core'`). */
export type TfNamespace = Pick<typeof tfc, 'customGrad' | 'tensor' | 'reshape' | 'tidy' | 'Tensor'>;

export interface TfAttentionOptions {
  /** Causal mask, bottom-right aligned when Nq ≠ Nk (query i sees keys j ≤ i + Nk − Nq). Default false. */
  causal?: boolean;
  /** Softmax scale. Default 1/√D. */
  scale?: number;
  /** 'auto' (default) | 'flash' | 'materialized': as in lemma.attention.forward. */
  algorithm?: AttentionAlgorithm;
}

/** The ops of {@link lemmaTf}, bound to one `tf` namespace. */
export interface LemmaTfOps {
  /**
   * Exact attention softmax(scale·q·kᵀ [causal mask])·v as a differentiable tfjs op: tf.grads,
   * tf.variableGrads and the tf.train optimizers see its gradient with respect to q, k and v
   * (lemma's backward). float32 tensors only.
   * @param q [B, Hq, Nq, D] or [Hq, Nq, D]
   * @param k [B, Hkv, Nk, D] or [Hkv, Nk, D], Hq a multiple of Hkv (grouped-query attention)
   * @param v the shape of k
   * @param options causal, scale, algorithm
   * @returns a new float32 tensor with the shape of q
   * @throws TypeError for a non-tensor or bad option type; RangeError for a bad option value;
   *   LemmaError ERR_SHAPE (ranks, mismatched sizes, D outside 1..256), ERR_DTYPE (not float32),
   *   ERR_DISPOSED (a disposed tensor).
   */
  attention(q: tfc.Tensor4D, k: tfc.Tensor4D, v: tfc.Tensor4D, options?: TfAttentionOptions): tfc.Tensor4D;
  attention(q: tfc.Tensor3D, k: tfc.Tensor3D, v: tfc.Tensor3D, options?: TfAttentionOptions): tfc.Tensor3D;
  attention(q: tfc.Tensor, k: tfc.Tensor, v: tfc.Tensor, options?: TfAttentionOptions): tfc.Tensor;
}

const OPTIONS = ['causal', 'scale', 'algorithm'];
const NAMES = ['q', 'k', 'v'] as const;

function checkTf(tf: unknown): TfNamespace {
  const ns = tf as Partial<Record<keyof TfNamespace, unknown>> | null;
  if (typeof ns !== 'object' || ns === null || (['customGrad', 'tensor', 'reshape', 'tidy', 'Tensor'] as const).some((f) => typeof ns[f] !== 'function')) {
    throw new TypeError(expected("the TensorFlow.js namespace (import * as tf from '@tensorflow/tfjs-core')", 'tf', tf));
  }
  return tf as TfNamespace;
}

/**
 * Binds lemma's ops to a TensorFlow.js namespace. Pass the one your tensors come from, so that
 * the op joins that copy's engine and gradient tape.
 * @param tf `import * as tf from '@tensorflow/tfjs-core'` (or '@tensorflow/tfjs', '@tensorflow/tfjs-node')
 * @returns `{ attention(q, k, v, options) }`
 * @throws TypeError when `tf` is not a TensorFlow.js namespace
 * @example
 * import * as tf from '@tensorflow/tfjs-core';
 * import { lemmaTf } from 'lemma/tfjs';
 * const { attention } = lemmaTf(tf);
 * const out = attention(q, k, v, { causal: true });  // q, k, v: float32 [B, H, N, D]
 */
export function lemmaTf(tf: TfNamespace): LemmaTfOps {
  const ns = checkTf(tf);

  function checkInput(t: unknown, name: string): tfc.Tensor {
    if (!(t instanceof ns.Tensor)) throw new TypeError(expected('a tf.Tensor', name, t));
    if (t.isDisposed) throw new LemmaError('ERR_DISPOSED', `${name} is a disposed tf.Tensor`);
    if (t.dtype !== 'float32') {
      throw new LemmaError('ERR_DTYPE', expected(`a float32 tensor (lemma/tfjs runs fp32 attention; cast with tf.cast(${name}, 'float32'))`, `${name}.dtype`, t.dtype));
    }
    return t;
  }

  /** The rank-4 op; inputs already checked. */
  function op4(q: tfc.Tensor4D, k: tfc.Tensor4D, v: tfc.Tensor4D, opts: TfAttentionOptions): tfc.Tensor4D {
    const f = ns.customGrad((...args: Array<tfc.Tensor | tfc.GradSaveFunc>) => {
      const [qt, kt, vt] = args as tfc.Tensor4D[];
      // dataSync(): lemma reads (never writes) the arrays; the CPU backend hands out its own storage.
      const qh = { data: qt.dataSync() as Float32Array, shape: qt.shape.slice() };
      const kh = { data: kt.dataSync() as Float32Array, shape: kt.shape.slice() };
      const vh = { data: vt.dataSync() as Float32Array, shape: vt.shape.slice() };
      const { out, lse } = forwardSync(qh, kh, vh, opts);
      // The backward reads out and lse from here (host arrays), not from saved tfjs tensors: nothing
      // to keep or dispose, and no second download from a GPU backend.
      return {
        value: ns.tensor(out.data, qt.shape, 'float32') as tfc.Tensor4D,
        gradFunc: (dy: tfc.Tensor4D) => {
          const dOut = { data: dy.dataSync() as Float32Array, shape: dy.shape.slice() };
          const g = backwardSync({ q: qh, k: kh, v: vh, out, lse, dOut }, opts);
          return [
            ns.tensor(g.dq.data, qt.shape, 'float32'),
            ns.tensor(g.dk.data, kt.shape, 'float32'),
            ns.tensor(g.dv.data, vt.shape, 'float32'),
          ];
        },
      };
    });
    return f(q, k, v);
  }

  function attention(q: tfc.Tensor, k: tfc.Tensor, v: tfc.Tensor, options?: TfAttentionOptions): tfc.Tensor {
    const ts = [q, k, v].map((t, i) => checkInput(t, NAMES[i]));
    const raw = checkOptions(options, 'options');
    checkKnownKeys(raw, 'options', OPTIONS);
    const opts: TfAttentionOptions = {};
    if (raw.causal !== undefined) opts.causal = checkBoolean(raw.causal, 'options.causal');
    if (raw.scale !== undefined) opts.scale = checkNumber(raw.scale, 'options.scale');
    if (raw.algorithm !== undefined) opts.algorithm = checkOneOf(raw.algorithm, 'options.algorithm', ['auto', 'flash', 'materialized'] as const);
    const rank = ts[0].rank;
    if (rank === 3 && ts.every((t) => t.rank === 3)) {
      // [H, N, D]: a batch of one, through reshapes (their gradients are tfjs's own).
      const [qs, ks, vs] = ts.map((t) => [1, ...(t.shape as number[])]);
      checkQkvShapes({ shape: qs }, { shape: ks }, { shape: vs });
      return ns.tidy(() => {
        const [q4, k4, v4] = ts.map((t, i) => ns.reshape<tfc.Rank.R4>(t, [qs, ks, vs][i] as [number, number, number, number]));
        return ns.reshape(op4(q4, k4, v4, opts), q.shape as number[]);
      });
    }
    if (rank !== 3 && rank !== 4) {
      throw new LemmaError('ERR_SHAPE', expected('a rank-4 shape [B, Hq, Nq, D] or a rank-3 shape [Hq, Nq, D]', 'q.shape', q.shape));
    }
    ts.forEach((t, i) => {
      if (t.rank !== rank) throw new LemmaError('ERR_SHAPE', expected(`a rank-${rank} shape like q`, `${NAMES[i]}.shape`, t.shape));
    });
    checkQkvShapes(ts[0], ts[1], ts[2]);
    return op4(ts[0] as tfc.Tensor4D, ts[1] as tfc.Tensor4D, ts[2] as tfc.Tensor4D, opts);
  }

  return { attention: attention as LemmaTfOps['attention'] };
}
