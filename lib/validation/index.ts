/**
 * Argument validation: tiny predicates and ONE message formatter, so every message reads
 * "Expected <what> for <name> but received <value> of type <type>".
 * Wrong type -> TypeError; right type, bad value -> RangeError.
 */

/** Renders a received value for an error message (short, never huge). */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return value.length <= 8 ? `[${value.map(describe).join(', ')}]` : `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of length ${(value as unknown as { length?: number }).length ?? value.byteLength}`;
  return `a ${(value as object).constructor?.name ?? 'object'}`;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (ArrayBuffer.isView(value)) return value.constructor.name;
  return typeof value;
}

/** The one message formatter. */
export function expected(what: string, name: string, value: unknown): string {
  return `Expected ${what} for ${name} but received ${describe(value)} of type ${typeName(value)}`;
}

export const is = {
  defined: (v: unknown): boolean => v !== undefined && v !== null,
  object: (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v),
  number: (v: unknown): v is number => typeof v === 'number',
  integer: (v: unknown): v is number => Number.isInteger(v),
  bool: (v: unknown): v is boolean => typeof v === 'boolean',
  string: (v: unknown): v is string => typeof v === 'string',
  inRange: (v: number, lo: number, hi: number): boolean => v >= lo && v <= hi,
};

/** An integer in [min, max]. */
export function checkInteger(value: unknown, name: string, min: number, max: number): number {
  const what = `an integer between ${min} and ${max}`;
  if (typeof value !== 'number') throw new TypeError(expected(what, name, value));
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(expected(what, name, value));
  return value;
}

/** A finite number in [min, max] (exclusive of min when `exclusiveMin`). */
export function checkNumber(
  value: unknown,
  name: string,
  opts: { min?: number; max?: number; exclusiveMin?: boolean } = {},
): number {
  const { min = -Infinity, max = Infinity, exclusiveMin = false } = opts;
  let what = 'a finite number';
  if (min > -Infinity && max < Infinity) what = `a finite number between ${min} and ${max}`;
  else if (min > -Infinity) what = `a finite number ${exclusiveMin ? 'greater than' : 'at least'} ${min}`;
  else if (max < Infinity) what = `a finite number at most ${max}`;
  if (typeof value !== 'number') throw new TypeError(expected(what, name, value));
  if (!Number.isFinite(value) || value > max || value < min || (exclusiveMin && value === min)) {
    throw new RangeError(expected(what, name, value));
  }
  return value;
}

export function checkBoolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw new TypeError(expected('a boolean', name, value));
  return value;
}

/** One of a fixed set of strings. */
export function checkOneOf<T extends string>(value: unknown, name: string, choices: readonly T[]): T {
  const what = `one of ${choices.map((c) => `'${c}'`).join(', ')}`;
  if (typeof value !== 'string') throw new TypeError(expected(what, name, value));
  if (!(choices as readonly string[]).includes(value)) throw new RangeError(expected(what, name, value));
  return value as T;
}

/** A plain options object (undefined allowed: returns {}). */
export function checkOptions(value: unknown, name: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (!is.object(value)) throw new TypeError(expected('an options object', name, value));
  return value;
}

/**
 * Throws a RangeError naming the first non-finite entry of `data` ("Expected a finite number for
 * k[0, 1, 5, 3] but received NaN"), its position given in `shape`'s row-major order. One rule in
 * every family that refuses non-finite data (those that propagate it say so in their docs).
 */
export function checkFinite(data: ArrayLike<number>, name: string, shape: readonly number[] = [data.length]): void {
  for (let i = 0; i < data.length; i++) {
    if (Number.isFinite(data[i])) continue;
    const at: number[] = new Array(shape.length);
    let r = i;
    for (let a = shape.length - 1; a >= 0; a--) {
      at[a] = shape[a] > 0 ? r % shape[a] : 0;
      r = shape[a] > 0 ? Math.floor(r / shape[a]) : 0;
    }
    throw new RangeError(expected('a finite number', `${name}[${at.join(', ')}]`, data[i]));
  }
}
