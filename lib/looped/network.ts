/**
 * Argument checks shared by the looped family: the network (W [d, d], b [d]) and the activation.
 */
import { LemmaError } from '../errors.js';
import { checkTensor, isFloatArray, privateData, type FloatArray, type Tensor } from '../tensor.js';
import { checkFinite, expected, is } from '../validation/index.js';
import { ACTIVATIONS, type Activation, type ActivationName } from './activations.js';

export interface Network<A extends FloatArray = FloatArray> {
  W: A;
  b: A;
  d: number;
}


/**
 * W: a tensor [d, d]; b: a tensor [d] or a typed array of d values with W's dtype.
 * @throws TypeError for wrong types; RangeError for a non-finite entry; LemmaError ERR_SHAPE, ERR_DTYPE.
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
  checkFinite(w.data, 'W', [d, d]);
  checkFinite(bData, 'b');
  // Private copies of SharedArrayBuffer-backed arrays (the native layer takes no shared memory).
  return { W: privateData(w.data), b: privateData(bData), d };
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
  checkFinite(t.data, name, t.shape);
  return t;
}
