/**
 * Validation shared by simulate, play and the agent factories; messages go through the one
 * formatter of lib/validation.
 */
import { checkOptions, expected } from '../../validation/index.js';
import { checkKnownKeys, nearestName } from '../../validation/options.js';
import type { Agent, Payoff } from './game.js';

/** checkKnownKeys for nested option objects: "Expected a known option name (did you mean 'norm'?) for options.humanModel ...". */
export function checkKeys(obj: Record<string, unknown>, name: string, valid: readonly string[]): void {
  if (name === 'options') return checkKnownKeys(obj, name, valid);
  for (const key of Object.keys(obj)) {
    if (!valid.includes(key)) throw new TypeError(expected(`a known option name (did you mean '${nearestName(key, valid)}'?)`, name, key));
  }
}

const PAYOFF_KEYS = ['T', 'R', 'P', 'S'] as const;

/**
 * A prisoner's dilemma payoff: four finite numbers with T > R > P > S and 2R > T + S.
 * @throws TypeError (not an object, a missing or non-number entry, an unknown key);
 *   RangeError (a non-finite entry, or not a prisoner's dilemma: the message names the rule that fails)
 */
export function checkPayoff(value: unknown, name: string): Readonly<Payoff> {
  const o = checkOptions(value, name);
  if (value === undefined) throw new TypeError(expected('a payoff object { T, R, P, S }', name, value));
  checkKeys(o, name, PAYOFF_KEYS);
  for (const k of PAYOFF_KEYS) {
    const v = o[k];
    if (typeof v !== 'number') throw new TypeError(expected('a finite number', `${name}.${k}`, v));
    if (!Number.isFinite(v)) throw new RangeError(expected('a finite number', `${name}.${k}`, v));
  }
  const { T, R, P, S } = o as unknown as Payoff;
  const fails = [
    T > R ? '' : 'T > R',
    R > P ? '' : 'R > P',
    P > S ? '' : 'P > S',
    2 * R > T + S ? '' : '2R > T + S',
  ].filter(Boolean);
  if (fails.length) {
    throw new RangeError(`Expected a prisoner's dilemma (T > R > P > S and 2R > T + S) for ${name} but received T = ${T}, R = ${R}, P = ${P}, S = ${S}, which fails ${fails.join(', ')}`);
  }
  return Object.freeze({ T, R, P, S });
}

/** An object with `message` and `decide` methods. */
export function checkAgent(value: unknown, name: string): Agent {
  const what = 'an agent { message(state), decide(state) }';
  if (typeof value !== 'object' || value === null) throw new TypeError(expected(what, name, value));
  const a = value as Partial<Agent>;
  if (typeof a.message !== 'function' || typeof a.decide !== 'function') {
    throw new TypeError(expected(`${what} (${typeof a.message !== 'function' ? 'message' : 'decide'} is not a function)`, name, value));
  }
  return value as Agent;
}

/** Milliseconds in (0, 2^31 − 1] (what setTimeout honours), or Infinity for no limit. */
export function checkTimeout(value: unknown, name: string): number {
  const what = 'a number of milliseconds in (0, 2147483647], or Infinity for no limit';
  if (typeof value !== 'number') throw new TypeError(expected(what, name, value));
  if (value === Infinity) return value;
  if (!(value > 0 && value <= 2147483647)) throw new RangeError(expected(what, name, value));
  return value;
}
