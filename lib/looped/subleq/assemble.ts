/**
 * assemble(): SUBLEQ assembly text → { program, memory, labels, lines } for compile() / interpret().
 *
 *   ; comment (also #)
 *   start:  a, b, c        one instruction: mem[b] -= mem[a]; if mem[b] <= 0 goto c
 *           a b            c defaults to the next instruction; commas or spaces separate operands
 *   loop:                  a label alone names the next instruction
 *           one, n, HALT   HALT: the slot right after the program, a halt self-loop
 *   .data                  data section (.code switches back)
 *   a:      7              one word
 *   list:   5, 3, 8, 1     consecutive words; list+2 addresses the third
 *           4, 0           an unlabelled line continues the memory
 *
 * Operands a and b are data labels (optionally +k) or integer addresses (memory grows with zeros to
 * cover them); c is a code label, an instruction index, or HALT. Errors are RangeErrors whose
 * message starts with "line L:" and that carry `line` (1-based).
 */
import { expected } from '../../validation/index.js';
import { checkOptions } from '../../validation/index.js';
import { checkKnownKeys, nearestName } from '../../validation/options.js';
import { checkWordBits, MAX_SLOTS, wordRange } from './geometry.js';

/** An assembly error: a RangeError with the 1-based source line. */
export type AssembleError = RangeError & { line: number };

export interface AssembleOptions {
  /** N: data values must fit N-bit two's complement (default 16). */
  wordBits?: number;
}

export interface Assembled {
  /** [n·3] (a, b, c) per instruction. */
  program: Int32Array;
  /** [m] the initial memory (data section, then zeros up to the largest integer address). */
  memory: Int32Array;
  /** Label → instruction index (code) or word address (data). */
  labels: { code: Record<string, number>; data: Record<string, number> };
  /** [n] the 1-based source line of each instruction. */
  lines: Int32Array;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const INT = /^[+-]?(0x[0-9a-fA-F]+|[0-9]+)$/;

function lineError(line: number, message: string): AssembleError {
  const e = new RangeError(`line ${line}: ${message}`) as AssembleError;
  e.line = line;
  return e;
}

function parseInt_(tok: string): number {
  const neg = tok.startsWith('-');
  const body = tok.replace(/^[+-]/, '');
  const v = body.startsWith('0x') || body.startsWith('0X') ? parseInt(body.slice(2), 16) : parseInt(body, 10);
  return neg ? -v : v;
}

interface Instr { line: number; ops: string[] }

/**
 * Assembles SUBLEQ source text.
 * @param source the program text (syntax above).
 * @param options `{ wordBits }` for the range check of data values.
 * @returns `{ program, memory, labels, lines }`, accepted by compile() as is.
 * @throws TypeError if source is not a string; RangeError with `line` for syntax errors, unknown or
 *   duplicate labels ("line 4: unknown label 'lop' (did you mean 'loop'?)"), values that do not fit.
 * @example
 * const asm = lemma.looped.subleq.assemble('loop: one, n, HALT\n zero, zero, loop\n.data\nn: 3\none: 1\nzero: 0');
 */
export function assemble(source: string, options?: AssembleOptions): Assembled {
  if (typeof source !== 'string') throw new TypeError(expected('a string of SUBLEQ assembly', 'source', source));
  const o = checkOptions(options, 'options');
  checkKnownKeys(o, 'options', ['wordBits']);
  const N = checkWordBits(o.wordBits, 'options.wordBits');
  const [lo, hi] = wordRange(N);

  const code: Record<string, number> = Object.create(null);
  const data: Record<string, number> = Object.create(null);
  const definedAt: Record<string, number> = Object.create(null);
  const instrs: Instr[] = [];
  const words: number[] = [];
  let section: 'code' | 'data' = 'code';
  let pending: { name: string; line: number }[] = [];

  const define = (name: string, line: number, table: Record<string, number>, value: number) => {
    if (!IDENT.test(name)) throw lineError(line, `'${name}' is not a valid label (letters, digits, _; not starting with a digit)`);
    if (name.toUpperCase() === 'HALT') throw lineError(line, `'${name}' is reserved (HALT is the built-in halt target)`);
    if (definedAt[name] !== undefined) throw lineError(line, `label '${name}' is already defined on line ${definedAt[name]}`);
    definedAt[name] = line;
    table[name] = value;
  };

  const text = source.split(/\r?\n/);
  for (let li = 0; li < text.length; li++) {
    const line = li + 1;
    let s = text[li].replace(/[;#].*$/, '').trim();
    if (s === '') continue;
    if (s.startsWith('.')) {
      const d = s.toLowerCase();
      if (d === '.data') section = 'data';
      else if (d === '.code' || d === '.text') section = 'code';
      else throw lineError(line, `unknown directive '${s.split(/\s+/)[0]}' (expected .data or .code)`);
      if (pending.length > 0) throw lineError(pending[0].line, `label '${pending[0].name}' names no instruction`);
      continue;
    }
    const labels: string[] = [];
    let m: RegExpMatchArray | null;
    while ((m = s.match(/^([^\s:,]+)\s*:/)) !== null) {
      labels.push(m[1]);
      s = s.slice(m[0].length).trim();
    }
    const toks = s === '' ? [] : s.split(/[\s,]+/).filter((t) => t !== '');
    if (section === 'code') {
      for (const name of labels) pending.push({ name, line });
      if (toks.length === 0) continue;
      if (toks.length < 2 || toks.length > 3) {
        throw lineError(line, `expected 'a, b' or 'a, b, c' but found ${toks.length} operand${toks.length === 1 ? '' : 's'}`);
      }
      for (const p of pending) define(p.name, p.line, code, instrs.length);
      pending = [];
      instrs.push({ line, ops: toks });
    } else {
      if (labels.length > 1) throw lineError(line, 'one label per data line');
      if (labels.length === 1 && toks.length === 0) throw lineError(line, `data label '${labels[0]}' has no value`);
      if (labels.length === 1) define(labels[0], line, data, words.length);
      for (const t of toks) {
        if (!INT.test(t)) throw lineError(line, `expected an integer value but found '${t}'`);
        const v = parseInt_(t);
        if (v < lo || v >= hi) throw lineError(line, `value ${t} does not fit a ${N}-bit word [${lo}, ${hi - 1}]`);
        words.push(v);
      }
    }
  }
  if (pending.length > 0) throw lineError(pending[0].line, `label '${pending[0].name}' names no instruction`);
  if (instrs.length === 0) throw new RangeError('the source has no instructions');
  if (instrs.length > MAX_SLOTS) throw lineError(instrs[MAX_SLOTS].line, `more than ${MAX_SLOTS} instructions`);

  const n = instrs.length;
  const suggest = (name: string, table: Record<string, number>) => {
    const names = Object.keys(table);
    return names.length > 0 ? ` (did you mean '${nearestName(name, names)}'?)` : '';
  };
  // Integer addresses first: they extend the memory, so label+k can be checked against its size.
  let size = words.length;
  for (const ins of instrs) {
    for (const t of ins.ops.slice(0, 2)) {
      if (INT.test(t)) {
        const v = parseInt_(t);
        if (v < 0 || v >= MAX_SLOTS - 1) throw lineError(ins.line, `address ${t} is outside [0, ${MAX_SLOTS - 2}]`);
        size = Math.max(size, v + 1);
      }
    }
  }
  const address = (t: string, line: number): number => {
    if (INT.test(t)) return parseInt_(t);
    const m = t.match(/^([A-Za-z_][A-Za-z0-9_]*)(?:\+([0-9]+))?$/);
    if (m === null) throw lineError(line, `expected a data label, label+k or an address but found '${t}'`);
    const [, name, off] = m;
    if (name.toUpperCase() === 'HALT') throw lineError(line, 'HALT is a jump target, not a data address');
    if (code[name] !== undefined) throw lineError(line, `'${name}' is a code label; operands a and b are data addresses`);
    if (data[name] === undefined) throw lineError(line, `unknown label '${name}'${suggest(name, data)}`);
    const a = data[name] + (off === undefined ? 0 : Number(off));
    if (a >= size) throw lineError(line, `'${t}' is address ${a}, outside memory (${size} words)`);
    return a;
  };
  const target = (t: string, line: number): number => {
    if (t.toUpperCase() === 'HALT') return n;
    if (INT.test(t)) {
      const v = parseInt_(t);
      if (v < 0) throw lineError(line, `jump target ${t} is negative`);
      return v;
    }
    if (!IDENT.test(t)) throw lineError(line, `expected a code label, an instruction index or HALT but found '${t}'`);
    if (data[t] !== undefined) throw lineError(line, `'${t}' is a data label; the jump target c is a code label`);
    if (code[t] === undefined) throw lineError(line, `unknown label '${t}'${suggest(t, code)}`);
    return code[t];
  };
  const program = new Int32Array(3 * n);
  const lines = new Int32Array(n);
  instrs.forEach((ins, i) => {
    program[3 * i] = address(ins.ops[0], ins.line);
    program[3 * i + 1] = address(ins.ops[1], ins.line);
    program[3 * i + 2] = ins.ops.length === 3 ? target(ins.ops[2], ins.line) : i + 1;
    lines[i] = ins.line;
  });
  const memory = new Int32Array(size);
  memory.set(words);
  return { program, memory, labels: { code: { ...code }, data: { ...data } }, lines };
}
