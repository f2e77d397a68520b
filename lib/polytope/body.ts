/**
 * Convex bodies for sampling: polytopes {x : Ax ≤ b} (dense or CSR) and spectrahedra
 * {x : Σ xᵢAᵢ ⪰ C} (spec: shared/specs/dikin-walk.md §3.1, §3.6). A body is immutable; its
 * arrays are copied into native memory, freed by dispose().
 */
import { LemmaError, fromNative } from '../errors.js';
import { native } from '../binding.js';
import type { NativeBodySpec, PolytopeBodyHandle } from '../binding.js';
import { checkTensor } from '../tensor.js';
import { expected, is } from '../validation/index.js';
import { readMatrix, readVector } from './matrix.js';
import type { MatrixInput, VectorInput } from './matrix.js';

const TOKEN = Symbol('lemma.polytope.body');

/**
 * A convex body with non-empty interior (checked when its analytic centre is computed).
 * Build one with {@link halfspaces} or {@link spectrahedron}.
 */
export class ConvexBody {
  /** 'polytope' or 'spectrahedron'. */
  readonly kind: 'polytope' | 'spectrahedron';
  /** How A is stored: 'dense', 'csr' or 'spectrahedron'. */
  readonly format: 'dense' | 'csr' | 'spectrahedron';
  /** Dimension d. */
  readonly dim: number;
  /** Number of constraints M (polytope) or the matrix order n (spectrahedron). */
  readonly constraints: number;
  #native: PolytopeBodyHandle | null;
  #center: Promise<Float64Array> | null = null;

  /** @internal use halfspaces() or spectrahedron(). */
  constructor(token: symbol, spec: NativeBodySpec) {
    if (token !== TOKEN) throw new TypeError('use lemma.polytope.halfspaces() or lemma.polytope.spectrahedron()');
    this.kind = spec.kind === 'spectrahedron' ? 'spectrahedron' : 'polytope';
    this.format = spec.kind;
    this.dim = spec.d;
    this.constraints = spec.M;
    const site = new Error();
    try {
      this.#native = native.polytopeBody(spec);
    } catch (e) {
      throw fromNative(e, site);
    }
  }

  /** Whether dispose() has been called. */
  get disposed(): boolean {
    return this.#native === null;
  }

  /** @internal the native handle; throws ERR_DISPOSED after dispose(). */
  handle(): PolytopeBodyHandle {
    if (this.#native === null) throw new LemmaError('ERR_DISPOSED', 'this body was disposed');
    return this.#native;
  }

  /**
   * Whether x lies in the interior. A point within 64·eps·(|bᵢ| + ‖aᵢ‖‖x‖) of a facet (or where
   * Σ xᵢAᵢ − C is not numerically positive definite) counts as outside, as in the sampler.
   * @param x d numbers
   * @throws TypeError / LemmaError ERR_SHAPE for a bad x; ERR_DISPOSED after dispose()
   * @example
   * lemma.polytope.halfspaces([[1], [-1]], [1, 1]).contains([0.5]); // true
   */
  contains(x: VectorInput): boolean {
    return this.whyOutside(x, 'x') === '';
  }

  /** @internal '' when interior, else the reason. */
  whyOutside(x: unknown, name: string): string {
    const v = readVector(x, name, this.dim);
    const site = new Error();
    try {
      return native.polytopeBodyContains(this.handle(), v);
    } catch (e) {
      throw fromNative(e, site);
    }
  }

  /**
   * The analytic centre argmin −Σ log(bᵢ − aᵢᵀx) (or −log det(Σ xᵢAᵢ − C)): phase I from the
   * origin, then damped Newton. For a centrally symmetric body this is its centre, which is
   * also the centre of its John ellipsoid. Computed once and cached.
   * @returns Promise of the centre (d numbers)
   * @throws LemmaError ERR_INFEASIBLE (empty, flat or unbounded body; the message says which
   *   and why), ERR_DISPOSED
   * @example
   * const c = await lemma.polytope.halfspaces(A, b).analyticCenter();
   */
  analyticCenter(): Promise<Float64Array> {
    // A Promise API rejects (never throws synchronously), ERR_DISPOSED included.
    if (this.disposed) return Promise.reject(new LemmaError('ERR_DISPOSED', 'this body was disposed'));
    const h = this.handle();
    if (this.#center === null) {
      const site = new Error();
      this.#center = native.polytopeAnalyticCenter(h).then(
        (r) => r.x,
        (e: unknown) => {
          this.#center = null;
          throw fromNative(e, site);
        },
      );
    }
    return this.#center.then((x) => x.slice());
  }

  /** Frees the native copy of the body; later use throws ERR_DISPOSED. Idempotent. */
  dispose(): void {
    if (this.#native !== null) {
      native.polytopeBodyDispose(this.#native);
      this.#native = null;
    }
  }

  /** Same as dispose(): lets `using` release it at the end of a block. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * The polytope {x : Ax ≤ b}.
 * @param A [M, d]: a tensor, an array of rows, or CSR `{ rowPtr, colIdx, values, shape }`
 * @param b M numbers
 * @returns a {@link ConvexBody}
 * @throws TypeError / RangeError for bad arguments; LemmaError ERR_SHAPE for mismatched sizes,
 *   ERR_INFEASIBLE for a zero row with bᵢ ≤ 0 (empty or flat body)
 * @example
 * const cube = lemma.polytope.halfspaces([[1, 0], [-1, 0], [0, 1], [0, -1]], [1, 1, 1, 1]);
 */
export function halfspaces(A: MatrixInput, b: VectorInput): ConvexBody {
  const m = readMatrix(A, 'A');
  const bv = readVector(b, 'b', m.M);
  const spec: NativeBodySpec = m.kind === 'dense'
    ? { kind: 'dense', M: m.M, d: m.d, A: m.data, b: bv }
    : { kind: 'csr', M: m.M, d: m.d, rowPtr: m.rowPtr, colIdx: m.colIdx, values: m.values, b: bv };
  return new ConvexBody(TOKEN, spec);
}

function readSquare(value: unknown, name: string, n?: number): { n: number; data: Float64Array } {
  if (is.object(value) && 'data' in value) {
    const t = checkTensor(value, name);
    if (t.shape.length !== 2 || t.shape[0] !== t.shape[1]) {
      throw new LemmaError('ERR_SHAPE', expected('a square shape [n, n]', `${name}.shape`, t.shape));
    }
  }
  const m = readMatrix(value, name, false);
  if (m.kind !== 'dense' || m.M !== m.d) throw new LemmaError('ERR_SHAPE', expected('a square matrix', name, value));
  if (n !== undefined && m.M !== n) throw new LemmaError('ERR_SHAPE', expected(`an ${n}×${n} matrix (like Ai[0])`, name, value));
  return { n: m.M, data: m.data };
}

/**
 * The spectrahedron {x : Σ xᵢAᵢ ⪰ C} (linear matrix inequality), barrier −log det(Σ xᵢAᵢ − C).
 * @param Ai d symmetric n×n matrices (an array of tensors / arrays of rows, or one tensor [d, n, n])
 * @param C symmetric n×n
 * @returns a {@link ConvexBody}
 * @throws TypeError / RangeError / LemmaError ERR_SHAPE for bad arguments (also a non-symmetric matrix)
 * @example
 * // the unit disk: I + x₁·diag(1, −1) + x₂·[[0, 1], [1, 0]] ⪰ 0
 * const disk = lemma.polytope.spectrahedron([[[1, 0], [0, -1]], [[0, 1], [1, 0]]], [[-1, 0], [0, -1]]);
 */
export function spectrahedron(Ai: MatrixInput[] | { data: Float64Array | Float32Array; shape: number[] }, C: MatrixInput): ConvexBody {
  let mats: Float64Array[] = [];
  let n: number;
  if (Array.isArray(Ai)) {
    if (Ai.length === 0) throw new LemmaError('ERR_SHAPE', expected('at least one matrix', 'Ai', Ai));
    const first = readSquare(Ai[0], 'Ai[0]');
    n = first.n;
    mats = [first.data, ...Ai.slice(1).map((a, i) => readSquare(a, `Ai[${i + 1}]`, n).data)];
  } else if (is.object(Ai) && 'data' in Ai) {
    const t = checkTensor(Ai, 'Ai');
    if (t.shape.length !== 3 || t.shape[1] !== t.shape[2] || t.shape[0] < 1 || t.shape[1] < 1) {
      throw new LemmaError('ERR_SHAPE', expected('a shape [d, n, n]', 'Ai.shape', t.shape));
    }
    n = t.shape[1];
    const all = readVector(t.data, 'Ai.data');
    for (let i = 0; i < t.shape[0]; i++) mats.push(all.subarray(i * n * n, (i + 1) * n * n));
  } else {
    throw new TypeError(expected('an array of matrices or a tensor [d, n, n]', 'Ai', Ai));
  }
  const c = readSquare(C, 'C', n);
  const d = mats.length;
  const F = new Float64Array(d * n * n);
  mats.forEach((m, i) => F.set(m, i * n * n));
  return new ConvexBody(TOKEN, { kind: 'spectrahedron', M: n, d, F, C: c.data });
}

/** Throws TypeError unless `value` is a live body. */
export function checkBody(value: unknown, name: string): ConvexBody {
  if (!(value instanceof ConvexBody)) throw new TypeError(expected('a body from lemma.polytope.halfspaces() or spectrahedron()', name, value));
  value.handle();
  return value;
}
