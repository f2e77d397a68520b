/**
 * Shared input handling of lemma.looped.subleq: program and memory normalisation and the machine
 * geometry (M data words, P instruction slots, N word bits) with its defaults and limits. One place,
 * so compile() and interpret() accept and refuse exactly the same programs.
 */
import { checkInteger, expected } from '../../validation/index.js';

/** The largest dataWords M and programSlots P (native/looped/subleq.h, kSubleqMaxWords). */
export const MAX_SLOTS = 1 << 14;
/**
 * The largest wordBits N: the int32 executor is exact while every pre-activation fits int32, and
 * layer 5's step units reach 3 · 2^(N−1).
 */
export const MAX_WORD_BITS = 30;
export const DEFAULT_WORD_BITS = 16;

/** A SUBLEQ program: flat (a, b, c) triples, or one [a, b, c] per instruction. */
export type ProgramInput = Int32Array | readonly number[] | readonly (readonly number[])[];
/** Memory words, signed integers that fit wordBits. */
export type MemoryInput = Int32Array | readonly number[];

function isIntArrayLike(v: unknown): v is ArrayLike<number> {
  return v instanceof Int32Array || (Array.isArray(v) && v.every((x) => typeof x === 'number'));
}

/** Flat Int32Array [n·3] of (a, b, c); every entry an integer >= 0. */
export function normalizeProgram(value: unknown, name: string): Int32Array {
  const what = 'an Int32Array or array of (a, b, c) triples';
  let flat: ArrayLike<number>;
  if (Array.isArray(value) && value.length > 0 && value.every((r) => Array.isArray(r))) {
    const rows = value as unknown[][];
    rows.forEach((r, i) => {
      if (r.length !== 3 || !r.every((x) => typeof x === 'number')) {
        throw new TypeError(expected('an [a, b, c] triple of numbers', `${name}[${i}]`, r));
      }
    });
    flat = (rows as number[][]).flat();
  } else if (isIntArrayLike(value)) {
    flat = value;
  } else {
    throw new TypeError(expected(what, name, value));
  }
  if (flat.length % 3 !== 0) throw new RangeError(expected('a length that is a multiple of 3 (a, b, c per instruction)', `${name}.length`, flat.length));
  if (flat.length === 0) throw new RangeError(`${name} has no instructions`);
  const out = new Int32Array(flat.length);
  for (let k = 0; k < flat.length; k++) {
    const v = flat[k];
    const field = `${name}[${Math.floor(k / 3)}].${'abc'[k % 3]}`;
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new RangeError(expected('an integer >= 0', field, v));
    out[k] = v;
  }
  return out;
}

/** The word range of N-bit two's complement: [lo, hi). */
export function wordRange(N: number): [number, number] {
  return [-(2 ** (N - 1)), 2 ** (N - 1)];
}

/** Int32Array [m] of words in the N-bit range. */
export function normalizeMemory(value: unknown, name: string, N: number): Int32Array {
  if (!isIntArrayLike(value)) throw new TypeError(expected('an Int32Array or array of integers', name, value));
  const [lo, hi] = wordRange(N);
  const out = new Int32Array(value.length);
  for (let j = 0; j < value.length; j++) {
    const v = value[j];
    if (!Number.isInteger(v) || v < lo || v >= hi) {
      throw new RangeError(expected(`an integer between ${lo} and ${hi - 1} (wordBits N = ${N})`, `${name}[${j}]`, v));
    }
    out[j] = v;
  }
  return out;
}

export function checkWordBits(value: unknown, name: string): number {
  if (value === undefined) return DEFAULT_WORD_BITS;
  if (typeof value === 'number' && Number.isInteger(value) && value > MAX_WORD_BITS) {
    throw new RangeError(expected(`an integer between 2 and ${MAX_WORD_BITS} (the int32 executor: layer 5's pre-activations reach 3·2^(N-1))`, name, value));
  }
  return checkInteger(value, name, 2, MAX_WORD_BITS);
}

function nextPow2(x: number): number {
  let p = 1;
  while (p < x) p *= 2;
  return p;
}

function instructionName(i: number, lines?: Int32Array): string {
  return lines && i < lines.length ? `instruction ${i} (line ${lines[i]})` : `instruction ${i}`;
}

/**
 * programSlots P: a power of two > every jump target, and >= n. Default: the smallest power of
 * two >= max(n + 1, largest c + 1), so running off the end of the program lands on HALT.
 */
export function resolveProgramSlots(program: Int32Array, given: unknown, name: string, lines?: Int32Array): number {
  const n = program.length / 3;
  let maxC = 0;
  let argC = 0;
  for (let i = 0; i < n; i++) if (program[3 * i + 2] > maxC) { maxC = program[3 * i + 2]; argC = i; }
  if (given === undefined) {
    const P = Math.max(2, nextPow2(Math.max(n + 1, maxC + 1)));
    if (P > MAX_SLOTS) {
      if (n + 1 > MAX_SLOTS) throw new RangeError(`program has ${n} instructions but programSlots is limited to ${MAX_SLOTS}`);
      throw new RangeError(`${instructionName(argC, lines)} jumps to c = ${maxC} but programSlots is limited to ${MAX_SLOTS}`);
    }
    return P;
  }
  const P = checkInteger(given, name, 2, MAX_SLOTS);
  if ((P & (P - 1)) !== 0) throw new RangeError(expected(`a power of two between 2 and ${MAX_SLOTS}`, name, given));
  if (n > P) throw new RangeError(`program has ${n} instructions but programSlots P = ${P}`);
  if (maxC >= P) {
    throw new RangeError(`${instructionName(argC, lines)} jumps to c = ${maxC} but programSlots P = ${P} (jump targets must be < P)`);
  }
  return P;
}

/**
 * dataWords M: the memory plus one reserved word, Z = M − 1, that HALT slots use (HALT is
 * SUBLEQ Z, Z, self, a fixed point only while mem[Z] = 0). Default: the smallest power of two >= m + 1.
 */
export function resolveDataWords(m: number, given: unknown, name: string): number {
  if (given === undefined) {
    const M = Math.max(2, nextPow2(m + 1));
    if (M > MAX_SLOTS) throw new RangeError(`memory has ${m} words but dataWords is limited to ${MAX_SLOTS} (including the halt word)`);
    return M;
  }
  const M = checkInteger(given, name, 2, MAX_SLOTS);
  if (m + 1 > M) {
    throw new RangeError(`memory has ${m} words but dataWords M = ${M} (word M - 1 is the reserved halt word: M must be at least ${m + 1})`);
  }
  return M;
}

/** Every operand a, b addresses the given memory (m words). */
export function checkOperands(program: Int32Array, m: number, lines?: Int32Array): void {
  for (let k = 0; k < program.length; k++) {
    if (k % 3 === 2) continue;
    if (program[k] >= m) {
      const i = Math.floor(k / 3);
      throw new RangeError(`${instructionName(i, lines)}: operand ${'ab'[k % 3]} = ${program[k]} is outside memory (${m} words)`);
    }
  }
}
