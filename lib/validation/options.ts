/**
 * Option-object habits shared by the long-running operations (API.md, "Calls and results" and
 * "Long work"): unknown option names are refused with the nearest valid name, `signal` and
 * `onProgress` are checked the same way everywhere, and an abort rejects with Node's
 * AbortError shape (name 'AbortError', code 'ABORT_ERR', the signal's reason as `cause`).
 * Messages go through the one formatter of ./index.ts.
 */
import { expected } from './index.js';

/** Levenshtein distance (small strings only: option names). */
function distance(a: string, b: string): number {
  const la = a.length;
  const lb = b.length;
  let prev = Array.from({ length: lb + 1 }, (_, j) => j);
  for (let i = 1; i <= la; i++) {
    const cur = [i];
    for (let j = 1; j <= lb; j++) {
      const cost = a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1;
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
    }
    prev = cur;
  }
  return prev[lb];
}

/** The valid name closest to `key` (ties: the first in `valid`). */
export function nearestName(key: string, valid: readonly string[]): string {
  let best = valid[0];
  let bestD = Infinity;
  for (const v of valid) {
    const d = distance(key, v);
    if (d < bestD) {
      bestD = d;
      best = v;
    }
  }
  return best;
}

/**
 * Refuses any own enumerable key of `obj` that is not in `valid` (a typo such as `causl` must never
 * silently change the answer). Keys whose value is `undefined` are refused too: they are still typos.
 * @throws TypeError "Expected a known option name (did you mean 'causal'?) for options but received "causl" of type string"
 */
export function checkKnownKeys(obj: Record<string, unknown>, name: string, valid: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!valid.includes(key)) {
      throw new TypeError(expected(`a known ${name === 'options' ? 'option' : 'input'} name (did you mean '${nearestName(key, valid)}'?)`, name, key));
    }
  }
}

/** An AbortSignal or undefined. */
export function checkSignal(value: unknown, name: string): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw new TypeError(expected('an AbortSignal', name, value));
  return value;
}

/** A function or undefined. */
export function checkCallback<F extends (...args: never[]) => unknown>(value: unknown, name: string): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new TypeError(expected('a function', name, value));
  return value as F;
}

/** An error shaped like Node's own AbortError: name 'AbortError', code 'ABORT_ERR', cause = reason. */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR';
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}

/** Throws an {@link AbortError} when `signal` has been aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new AbortError(`${what} was aborted`, { cause: signal.reason });
}
