/**
 * Argument checks shared by the looped family: the network (W [d, d], b [d]) and the activation.
 */
import { LemmaError } from '../errors.js';
import { checkTensor, isFloatArray, type FloatArray, type Tensor } from '../tensor.js';
import { expected, is } from '../validation/index.js';
import { ACTIVATIONS, type Activation, type ActivationName } from './activations.js';

export interface Network<A extends FloatArray = FloatArray> {
  W: A;
  b: A;
  d: number;
}

/** Index of the first non-finite entry, or −1. */
function firstNonFinite(a: FloatArray): number {
  for (let i = 0; i < a.length; ++i) if (!Number.isFinite(a[i])) return i;
  return -1;
}

/**
 * W: a tensor [d, d]; b: a tensor [d] or a typed array of d values with W's dtype.
 * @throws TypeError for wrong types; LemmaError ERR_SHAPE, ERR_DTYPE; ERR_RANGE for a non-finite entry.
 */
export function checkNetwork(W: unknown, b: unknown): Network {
  const w = checkTensor(W, 'W');
  if (w.shape.length !== 2 || w.shape[0] !== w.shape[1] || w.shape[0] < 1) {
    throw new LemmaError('ERR_SHAPE', expected('a square shape [d, d] with d ≥ 1', 'W.shape', w.shape));
  }
  const d = w.shape[0];
  let bData: FloatArray;
  if (isFloatArray(b)) bData = b;
  else {
    const bt = checkTensor(b, 'b');
    if (bt.shape.length !== 1) throw new LemmaError('ERR_SHAPE', expected(`shape [${d}]`, 'b.shape', bt.shape));
    bData = bt.data;
  }
  if (bData.length !== d) throw new LemmaError('ERR_SHAPE', expected(`${d} values (d from W)`, 'b', bData));
  if ((bData instanceof Float64Array) !== (w.data instanceof Float64Array)) {
    throw new LemmaError('ERR_DTYPE', expected(`a ${w.data.constructor.name} like W.data`, 'b', bData));
  }
  let i = firstNonFinite(w.data);
  if (i >= 0) throw new LemmaError('ERR_RANGE', `W[${Math.floor(i / d)}, ${i % d}] is not finite: looped networks need finite weights`);
  i = firstNonFinite(bData);
  if (i >= 0) throw new LemmaError('ERR_RANGE', `b[${i}] is not finite: looped networks need finite weights`);
  return { W: w.data, b: bData, d };
}

/** A built-in activation name or a custom { fn, range?, slope? } object. */
export function checkActivation(a: unknown, name = 'activation'): Activation {
  if (typeof a === 'string') {
    if (!(ACTIVATIONS as readonly string[]).includes(a)) {
      throw new RangeError(expected(`one of ${ACTIVATIONS.map((x) => `'${x}'`).join(', ')} or { fn, range, slope }`, name, a));
    }
    return a as ActivationName;
  }
  if (!is.object(a) || typeof a.fn !== 'function') {
    throw new TypeError(expected(`an activation name or an object { fn, range?, slope? }`, name, a));
  }
  for (const key of Object.keys(a)) {
    if (!['fn', 'range', 'slope', 'name'].includes(key)) {
      throw new TypeError(expected("a known activation key ('fn', 'range', 'slope', 'name')", name, key));
    }
  }
  for (const key of ['range', 'slope'] as const) {
    if (a[key] !== undefined && typeof a[key] !== 'function') throw new TypeError(expected('a function', `${name}.${key}`, a[key]));
  }
  if (a.name !== undefined && typeof a.name !== 'string') throw new TypeError(expected('a string', `${name}.name`, a.name));
  return a as unknown as Activation;
}

export function activationLabel(a: Activation): string {
  return typeof a === 'string' ? a : a.name ?? 'custom';
}

/** The tensor x0 [S, d] with W's dtype. */
export function checkStarts(x0: unknown, net: Network, name = 'x0'): Tensor {
  const t = checkTensor(x0, name);
  if (t.shape.length !== 2 || t.shape[1] !== net.d) {
    throw new LemmaError('ERR_SHAPE', expected(`a shape [S, ${net.d}] (d from W)`, `${name}.shape`, t.shape));
  }
  if ((t.data instanceof Float64Array) !== (net.W instanceof Float64Array)) {
    throw new LemmaError('ERR_DTYPE', expected(`a ${net.W.constructor.name} like W.data`, `${name}.data`, t.data));
  }
  const i = firstNonFinite(t.data);
  if (i >= 0) throw new LemmaError('ERR_RANGE', `${name}[${Math.floor(i / net.d)}, ${i % net.d}] is not finite`);
  return t;
}
