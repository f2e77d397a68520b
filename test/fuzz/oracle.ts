/**
 * The error taxonomy of lemma, defined once, and the call wrapper every fuzz target goes through.
 *
 *   wrong JS type of an argument or option, unknown option key,
 *   foreign object where a lemma object is expected            -> TypeError
 *   option value out of range (negative / fractional count,
 *   NaN / ±Infinity numeric option, unknown enum string)        -> RangeError
 *   tensor shape wrong, shapes mismatched, data/shape disagree,
 *   detached buffer                                             -> LemmaError ERR_SHAPE
 *   mixed dtypes, Float64Array where a family is fp32-only      -> LemmaError ERR_DTYPE
 *   absurd sizes (shape product > MAX_ELEMENTS, huge counts)    -> LemmaError ERR_RANGE or ERR_OOM
 *   use after dispose                                           -> LemmaError ERR_DISPOSED
 *   device 'cuda' on a machine without a usable GPU             -> LemmaError ERR_CUDA_UNAVAILABLE
 *   non-finite data: what the family documents (NONFINITE below)
 *
 * A call must end in one of the expected outcomes. Anything else is a failure: a different class
 * or code, an engine error leaking out of lemma ("Cannot read properties of undefined", "Invalid
 * typed array length", ...), ERR_INTERNAL, a non-Error throw, a hang, or a success where an error
 * was due ("silent garbage"). A Promise API must reject, never throw synchronously.
 */
import { LemmaError } from '../../lib/errors.js';

/** An outcome token: an error class, a LemmaError code, or 'ok'. */
export type Token =
  | 'ok' | 'TypeError' | 'RangeError' | 'AbortError'
  | 'ERR_SHAPE' | 'ERR_DTYPE' | 'ERR_RANGE' | 'ERR_CUDA_UNAVAILABLE' | 'ERR_CUDA' | 'ERR_CUDA_OOM'
  | 'ERR_DISPOSED' | 'ERR_OOM' | 'ERR_BUDGET' | 'ERR_INFEASIBLE' | 'ERR_AGENT' | 'ERR_INTERNAL';

/** The taxonomy: one mistake, one outcome, in every family. */
export const TAXONOMY = {
  wrongType: ['TypeError'],
  unknownOption: ['TypeError'],
  foreignObject: ['TypeError'],
  badValue: ['RangeError'],
  shape: ['ERR_SHAPE'],
  dtype: ['ERR_DTYPE'],
  absurd: ['ERR_RANGE', 'ERR_OOM'],
  disposed: ['ERR_DISPOSED'],
  noCuda: ['ERR_CUDA_UNAVAILABLE'],
} as const satisfies Record<string, readonly Token[]>;

/**
 * Non-finite values in input data, per family, as each documents it: 'propagate' (dense attention
 * and the layer stacks built on it compute like IEEE arithmetic would), or a RangeError naming
 * the first bad entry (every family that refuses them, fp32 and fp64 paths alike).
 */
export const NONFINITE = {
  attention: 'propagate',
  sparse: 'RangeError',
  nn: 'propagate',
  polyAttention: 'RangeError',
  looped: 'RangeError',
  polytope: 'RangeError',
  sample: 'RangeError',
  dp: 'RangeError',
  prune: 'RangeError',
} as const;

export class FuzzFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FuzzFailure';
  }
}

/** Calls made (for the runner's count and calls/second). */
export const counters = { calls: 0 };

/** Messages of errors the JS engine raises on its own: a bug in lemma when they leak out. */
const ENGINE_MESSAGES = [
  /Cannot read propert/i, /Cannot set propert/i, /is not a function/, /is not iterable/, /is not a constructor/,
  /Cannot convert/, /Invalid typed array length/, /Invalid array length/, /Maximum call stack/,
  /Array buffer allocation failed/, /Cannot perform .* on a detached ArrayBuffer/i, /undefined is not/,
  /offset is out of bounds/, /Start offset .* is outside the bounds/, /Cannot mix BigInt/,
  /Do not know how to serialize a BigInt/, /Invalid time value/, /toFixed\(\) digits/, /Invalid count value/,
];

export function tokenOf(err: unknown): Token | string {
  if (err instanceof LemmaError) return err.code;
  if (err instanceof Error && err.name === 'AbortError') return 'AbortError';
  if (err instanceof RangeError) return 'RangeError';
  if (err instanceof TypeError) return 'TypeError';
  if (err instanceof Error) return `${err.name}(unexpected class)`;
  return `non-Error throw (${typeof err})`;
}

export function describeError(err: unknown): string {
  if (err instanceof Error) return `${tokenOf(err)}: ${err.message}`;
  return String(err);
}

const HANG_MS = Number(process.env.LEMMA_FUZZ_HANG_MS ?? 30000);

export type Outcome = { ok: true; value: unknown; sync: boolean } | { ok: false; error: unknown; sync: boolean };

/** Runs fn, recording whether it threw synchronously; rejects with FuzzFailure after HANG_MS. */
export async function outcome(fn: () => unknown): Promise<Outcome> {
  counters.calls++;
  let r: unknown;
  try {
    r = fn();
  } catch (error) {
    return { ok: false, error, sync: true };
  }
  if (!(r instanceof Promise)) return { ok: true, value: r, sync: true };
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FuzzFailure(`hang: no settlement after ${HANG_MS} ms`)), HANG_MS);
  });
  try {
    return { ok: true, value: await Promise.race([r, hang]), sync: false };
  } catch (error) {
    if (error instanceof FuzzFailure) throw error;
    return { ok: false, error, sync: false };
  } finally {
    clearTimeout(timer);
  }
}

export interface Expectation {
  /** Acceptable outcomes ('ok' included when a result is acceptable). */
  allow: readonly Token[];
  /** Checks a successful result; throws on garbage. */
  check?: (value: unknown) => void | Promise<void>;
  /** The call returns a Promise: a synchronous throw is a failure. */
  async?: boolean;
}

/**
 * Calls fn and checks the outcome against the expectation. Returns the value on success (for
 * chaining), undefined on an expected error. Throws FuzzFailure otherwise.
 */
export async function expectCall(label: string, fn: () => unknown, ex: Expectation): Promise<unknown> {
  const o = await outcome(fn);
  if (o.ok) {
    if (ex.async && o.sync) throw new FuzzFailure(`${label}: a Promise API returned a non-Promise`);
    if (!ex.allow.includes('ok')) {
      throw new FuzzFailure(`${label}: succeeded, but ${ex.allow.join(' | ')} was due (silent acceptance)`);
    }
    if (ex.check) {
      try {
        await ex.check(o.value);
      } catch (e) {
        throw new FuzzFailure(`${label}: wrong result: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    return o.value;
  }
  const tok = tokenOf(o.error);
  const msg = o.error instanceof Error ? o.error.message : String(o.error);
  // lemma's own messages all read "Expected ..." (lib/validation); engine messages never do.
  if ((tok === 'TypeError' || tok === 'RangeError') && !msg.startsWith('Expected ') && ENGINE_MESSAGES.some((re) => re.test(msg))) {
    throw new FuzzFailure(`${label}: an engine error leaked out of lemma: ${describeError(o.error)}`);
  }
  if (!ex.allow.includes(tok as Token)) {
    throw new FuzzFailure(`${label}: expected ${ex.allow.join(' | ')} but got ${describeError(o.error)}`);
  }
  if (ex.async && o.sync) {
    throw new FuzzFailure(`${label}: a Promise API threw synchronously (${describeError(o.error)}) instead of rejecting`);
  }
  return undefined;
}

/** Asserts a condition of a result. */
export function ensure(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(what);
}

/** Max |a − b| / (1 + |b|) over two arrays (Infinity when lengths differ). */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]) && Number.isNaN(b[i])) continue;
    if (a[i] === b[i]) continue;
    const d = Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i]));
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

export function sameArrays(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i]) && !(a[i] === b[i])) return false;
  return true;
}
