/**
 * interpret(): the plain reference SUBLEQ machine (spec REFERENCE_STEP) that the looped MLP must
 * match bit for bit. mem[b] <- wrap_N(mem[b] - mem[a]); pc <- mem[b] <= 0 ? c : (pc + 1) mod P.
 * A PC at or past the end of the program is on a HALT slot: nothing changes.
 */
import { checkInteger, checkOptions } from '../../validation/index.js';
import { checkKnownKeys } from '../../validation/options.js';
import { checkOperands, checkWordBits, normalizeMemory, normalizeProgram, resolveProgramSlots } from './geometry.js';
import type { MemoryInput, ProgramInput } from './geometry.js';

export interface InterpretOptions {
  /** N in [2, 30] (default 16). */
  wordBits?: number;
  /** P, for the PC's wrap-around (default as in compile()). */
  programSlots?: number;
}

export interface InterpretResult {
  /** [steps + 1, m] memory before the first step and after every step. */
  memory: Int32Array;
  /** [steps + 1] the PC at the same moments. */
  pc: Int32Array;
  /** Whether a fixed point (a state that a step leaves unchanged) was reached by step `steps − 1`. */
  halted: boolean;
  /** The first step t whose state a step leaves unchanged, or −1. */
  haltStep: number;
  steps: number;
}

/**
 * Runs a SUBLEQ program for `steps` steps and returns the whole trace.
 * @param program [n, 3] (a, b, c) triples; a, b < memory.length.
 * @param memory [m] initial words (N-bit two's complement).
 * @param steps number of steps, >= 0.
 * @returns `{ memory [steps + 1, m], pc [steps + 1], halted, haltStep, steps }`.
 * @throws TypeError / RangeError as compile() does for the same inputs.
 * @example
 * const { program, memory } = subleq.assemble(subleq.programs.multiply);
 * const t = subleq.interpret(program, memory, 100);   // t.memory[100 * memory.length] === 63
 */
export function interpret(program: ProgramInput, memory: MemoryInput, steps: number, options?: InterpretOptions): InterpretResult {
  const o = checkOptions(options, 'options');
  checkKnownKeys(o, 'options', ['wordBits', 'programSlots']);
  const N = checkWordBits(o.wordBits, 'options.wordBits');
  const prog = normalizeProgram(program, 'program');
  const mem = normalizeMemory(memory, 'memory', N);
  const T = checkInteger(steps, 'steps', 0, 1e8);
  const P = resolveProgramSlots(prog, o.programSlots, 'options.programSlots');
  checkOperands(prog, mem.length, undefined);
  const n = prog.length / 3;
  const m = mem.length;
  const outMem = new Int32Array((T + 1) * m);
  const outPc = new Int32Array(T + 1);
  outMem.set(mem, 0);
  const mod = 2 ** N;
  const half = 2 ** (N - 1);
  let pc = 0;
  let haltStep = -1;
  for (let t = 0; t < T; t++) {
    if (pc < n) {
      const a = prog[3 * pc];
      const b = prog[3 * pc + 1];
      const c = prog[3 * pc + 2];
      let r = (((mem[b] - mem[a]) % mod) + mod) % mod;
      if (r >= half) r -= mod;
      const changed = mem[b] !== r;
      mem[b] = r;
      const next = r <= 0 ? c : (pc + 1) % P;
      if (!changed && next === pc && haltStep < 0) haltStep = t;
      pc = next;
    } else if (haltStep < 0) {
      haltStep = t;
    }
    outMem.set(mem, (t + 1) * m);
    outPc[t + 1] = pc;
  }
  return { memory: outMem, pc: outPc, halted: haltStep >= 0, haltStep, steps: T };
}
