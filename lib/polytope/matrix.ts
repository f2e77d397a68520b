/**
 * Matrix and vector arguments of the polytope family: dense tensors `{ data, shape: [M, d] }`,
 * nested arrays, or CSR `{ rowPtr, colIdx, values, shape: [M, d] }`; vectors as Float64Array,
 * Float32Array or number[]. Everything is copied into fresh Float64Arrays (lemma never keeps or
 * modifies an input).
 */
import { LemmaError } from '../errors.js';
import { checkTensor, isFloatArray } from '../tensor.js';
import type { Tensor } from '../tensor.js';
import { expected, is } from '../validation/index.js';

/** A sparse matrix in compressed sparse row form; column indices strictly increase within a row. */
export interface CsrMatrix {
  rowPtr: Int32Array | Uint32Array | number[];
  colIdx: Int32Array | Uint32Array | number[];
  values: Float64Array | Float32Array | number[];
  /** [M, d] */
  shape: [number, number];
}

/** A dense matrix: a rank-2 tensor or an array of equal-length rows. */
export type DenseMatrix = Tensor | number[][];
export type MatrixInput = DenseMatrix | CsrMatrix;
export type VectorInput = Float64Array | Float32Array | number[];

export type ReadMatrix =
  | { kind: 'dense'; M: number; d: number; data: Float64Array }
  | { kind: 'csr'; M: number; d: number; rowPtr: Int32Array; colIdx: Int32Array; values: Float64Array };

/** The largest M·d (dense) or nnz lemma accepts for a body. */
export const MAX_MATRIX_ENTRIES = 2 ** 28;

function finiteCopy(src: ArrayLike<unknown>, name: string): Float64Array {
  const out = new Float64Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (typeof v !== 'number') throw new TypeError(expected('a number', `${name}[${i}]`, v));
    if (!Number.isFinite(v)) throw new RangeError(expected('a finite number', `${name}[${i}]`, v));
    out[i] = v;
  }
  return out;
}

function isCsr(v: unknown): v is CsrMatrix {
  return is.object(v) && 'rowPtr' in v;
}

function checkSize(M: unknown, d: unknown, name: string): void {
  if (!Number.isInteger(M) || !Number.isInteger(d) || (M as number) < 1 || (d as number) < 1) {
    throw new LemmaError('ERR_SHAPE', expected('a shape [M, d] with M >= 1 and d >= 1', `${name}.shape`, [M, d]));
  }
}

/** Reads a matrix argument (dense or CSR), validating shape and finiteness. */
export function readMatrix(value: unknown, name: string, allowCsr = true): ReadMatrix {
  if (Array.isArray(value)) {
    const M = value.length;
    if (M === 0 || !Array.isArray(value[0])) {
      throw new TypeError(expected('a tensor, an array of rows or a CSR matrix', name, value));
    }
    const d = (value[0] as unknown[]).length;
    checkSize(M, d, name);
    if (M * d > MAX_MATRIX_ENTRIES) throw new LemmaError('ERR_RANGE', expected(`at most ${MAX_MATRIX_ENTRIES} entries`, name, value));
    const data = new Float64Array(M * d);
    value.forEach((row, i) => {
      if (!Array.isArray(row)) throw new TypeError(expected('an array', `${name}[${i}]`, row));
      if (row.length !== d) throw new LemmaError('ERR_SHAPE', expected(`a row of length ${d}`, `${name}[${i}]`, row));
      data.set(finiteCopy(row, `${name}[${i}]`), i * d);
    });
    return { kind: 'dense', M, d, data };
  }
  if (isCsr(value)) {
    if (!allowCsr) throw new TypeError(expected('a dense matrix (tensor or array of rows)', name, value));
    const { rowPtr, colIdx, values, shape } = value;
    if (!Array.isArray(shape) || shape.length !== 2) {
      throw new LemmaError('ERR_SHAPE', expected('a shape [M, d]', `${name}.shape`, shape));
    }
    const [M, d] = shape;
    checkSize(M, d, name);
    for (const [k, a] of [['rowPtr', rowPtr], ['colIdx', colIdx], ['values', values]] as const) {
      if (!Array.isArray(a) && !ArrayBuffer.isView(a)) throw new TypeError(expected('an array or typed array', `${name}.${k}`, a));
    }
    if (rowPtr.length !== M + 1) throw new LemmaError('ERR_SHAPE', expected(`${M + 1} entries (M + 1)`, `${name}.rowPtr`, rowPtr));
    const nnz = colIdx.length;
    if (values.length !== nnz) throw new LemmaError('ERR_SHAPE', expected(`${nnz} entries (like colIdx)`, `${name}.values`, values));
    if (nnz > MAX_MATRIX_ENTRIES) throw new LemmaError('ERR_RANGE', expected(`at most ${MAX_MATRIX_ENTRIES} nonzeros`, name, value));
    // Counts: numbers (TypeError otherwise) that are integers (RangeError), never silently truncated.
    for (let i = 0; i <= M; i++) {
      const r = (rowPtr as ArrayLike<unknown>)[i];
      if (typeof r !== 'number') throw new TypeError(expected('an integer', `${name}.rowPtr[${i}]`, r));
      if (!Number.isInteger(r) || r < 0 || r > nnz) throw new RangeError(expected(`an integer between 0 and nnz = ${nnz}`, `${name}.rowPtr[${i}]`, r));
    }
    const rp = Int32Array.from(rowPtr as ArrayLike<number>);
    const ci = Int32Array.from(colIdx as ArrayLike<number>);
    if (rp[0] !== 0 || rp[M] !== nnz) throw new RangeError(expected(`a rowPtr running from 0 to nnz = ${nnz}`, `${name}.rowPtr`, rowPtr));
    for (let i = 0; i < M; i++) {
      if (rp[i + 1] < rp[i]) throw new RangeError(expected('a non-decreasing rowPtr', `${name}.rowPtr[${i + 1}]`, rp[i + 1]));
      for (let p = rp[i]; p < rp[i + 1]; p++) {
        if (!Number.isInteger(Number(colIdx[p])) || ci[p] < 0 || ci[p] >= d) {
          throw new RangeError(expected(`a column index between 0 and ${d - 1}`, `${name}.colIdx[${p}]`, colIdx[p]));
        }
        if (p > rp[i] && ci[p] <= ci[p - 1]) {
          throw new RangeError(expected('column indices that strictly increase within a row', `${name}.colIdx[${p}]`, ci[p]));
        }
      }
    }
    return { kind: 'csr', M, d, rowPtr: rp, colIdx: ci, values: finiteCopy(values as ArrayLike<number>, `${name}.values`) };
  }
  if (is.object(value) && 'data' in value) {
    const t = checkTensor(value, name);
    if (t.shape.length !== 2) throw new LemmaError('ERR_SHAPE', expected('a rank-2 shape [M, d]', `${name}.shape`, t.shape));
    const [M, d] = t.shape;
    checkSize(M, d, name);
    return { kind: 'dense', M, d, data: finiteCopy(t.data, `${name}.data`) };
  }
  throw new TypeError(expected(allowCsr ? 'a tensor, an array of rows or a CSR matrix' : 'a tensor or an array of rows', name, value));
}

/** A dense copy of a matrix argument. */
export function readDense(value: unknown, name: string): { M: number; d: number; data: Float64Array } {
  const m = readMatrix(value, name);
  if (m.kind === 'dense') return m;
  const data = new Float64Array(m.M * m.d);
  for (let i = 0; i < m.M; i++) for (let p = m.rowPtr[i]; p < m.rowPtr[i + 1]; p++) data[i * m.d + m.colIdx[p]] = m.values[p];
  return { M: m.M, d: m.d, data };
}

/** Reads a vector of finite numbers (length checked when given). */
export function readVector(value: unknown, name: string, length?: number): Float64Array {
  if (!Array.isArray(value) && !isFloatArray(value)) {
    throw new TypeError(expected('a Float64Array, Float32Array or array of numbers', name, value));
  }
  if (length !== undefined && value.length !== length) {
    throw new LemmaError('ERR_SHAPE', expected(`${length} entries`, name, value));
  }
  return finiteCopy(value as ArrayLike<unknown>, name);
}

/** λmax of a symmetric d×d matrix (power iteration on the SPD matrix; 1e-9 relative). */
export function largestEigenvalue(S: Float64Array, d: number): number {
  let v = new Float64Array(d).fill(1 / Math.sqrt(d));
  let lambda = 0;
  for (let it = 0; it < 1000; it++) {
    const w = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += S[i * d + j] * v[j];
      w[i] = s;
    }
    let n = 0;
    for (let i = 0; i < d; i++) n += w[i] * w[i];
    n = Math.sqrt(n);
    if (n === 0) return 0;
    for (let i = 0; i < d; i++) w[i] /= n;
    const done = Math.abs(n - lambda) <= 1e-9 * n;
    lambda = n;
    v = w;
    if (done) break;
  }
  return lambda;
}

/** Whether a symmetric matrix is positive definite (Cholesky). */
export function isPositiveDefinite(S: Float64Array, d: number): boolean {
  const L = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = S[i * d + j];
      for (let k = 0; k < j; k++) s -= L[i * d + k] * L[j * d + k];
      if (i === j) {
        if (!(s > 0)) return false;
        L[i * d + i] = Math.sqrt(s);
      } else {
        L[i * d + j] = s / L[j * d + j];
      }
    }
  }
  return true;
}
