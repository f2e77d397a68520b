/**
 * compile(): a SUBLEQ program and its memory → the looped ReLU-MLP's weights (which depend only on
 * the geometry M, P, N) and the initial state x0 that holds memory, program and PC as 0/1 entries.
 * Construction and layout: native/looped/subleq.h (the 9-layer design; 23 pads with identities).
 */
import { native } from '../../binding.js';
import { fromNative } from '../../errors.js';
import { checkOptions, expected, is } from '../../validation/index.js';
import { checkKnownKeys } from '../../validation/options.js';
import {
  checkOperands, checkWordBits, normalizeMemory, normalizeProgram, resolveDataWords, resolveProgramSlots,
} from './geometry.js';
import type { MemoryInput, ProgramInput } from './geometry.js';

/** The machine a compiled MLP emulates, and the MLP's state size. */
export interface SubleqGeometry {
  /** M: data words (the last, M − 1, is the reserved halt word). */
  dataWords: number;
  /** P: instruction slots (a power of two; slots past the program hold HALT). */
  programSlots: number;
  /** N: bits per word (two's complement). */
  wordBits: number;
  /** La = ⌈log₂ M⌉: bits of a data address. */
  addressBits: number;
  /** Lp = log₂ P: bits of the program counter. */
  pcBits: number;
  /** D0 = M·N + P·(2La + Lp) + Lp: the loop-boundary state size. */
  stateSize: number;
  /** 9, or 23 (identity-padded to the paper's depth). */
  layers: 9 | 23;
}

/** One layer y = relu(W x + b): W [shape[0], shape[1]] in CSR, integers throughout. */
export interface SubleqLayer {
  /** What the layer computes: fetch, collect-fields, read, collect-words, arith, collect-bits, match, select, write, identity. */
  name: string;
  /** [outputs, inputs]. */
  shape: [number, number];
  /** [outputs + 1] row offsets into cols / vals. */
  rowPtr: Int32Array;
  /** [nnz] column index of each non-zero. */
  cols: Int32Array;
  /** [nnz] the non-zero weights. */
  vals: Int32Array;
  /** [outputs] the biases. */
  bias: Int32Array;
}

/** What compile() returns and run() executes. The typed arrays are the MLP: treat them as read-only. */
export interface CompiledSubleq {
  geometry: SubleqGeometry;
  /** The MLP, one entry per layer. */
  layers: SubleqLayer[];
  /** [D0] the initial state: bits of memory (words m..M−1 zero), program slots (padded with HALT), PC = 0. */
  x0: Int32Array;
  /** [n·3] the program as given. */
  program: Int32Array;
  /** [m] the memory as given. */
  memory: Int32Array;
  /** Non-zeros over all layers. */
  nnz: number;
}

/** A program and memory: what assemble() returns is accepted as is. */
export interface SubleqSource {
  program: ProgramInput;
  memory: MemoryInput;
  /** Source line of each instruction (from assemble): used in error messages. */
  lines?: Int32Array;
  labels?: unknown;
}

export interface CompileOptions {
  /** M (default: the smallest power of two >= memory.length + 1, for the halt word). */
  dataWords?: number;
  /** P (default: the smallest power of two above the last instruction and every jump target). */
  programSlots?: number;
  /** N in [2, 30] (default 16). */
  wordBits?: number;
  /** 9 (default) or 23: pad with identity layers to the paper's depth. */
  layers?: 9 | 23;
}

const LAYER_NAMES = ['fetch', 'collect-fields', 'read', 'collect-words', 'arith', 'collect-bits', 'match', 'select', 'write'];
const COMPILED = new WeakSet<object>();

/** True for objects made by compile() (run() accepts only those). */
export function isCompiled(v: unknown): v is CompiledSubleq {
  return typeof v === 'object' && v !== null && COMPILED.has(v);
}

/**
 * Compiles a SUBLEQ program into a looped ReLU-MLP and its initial state.
 * Synchronous: it builds a few integer CSR matrices (milliseconds for M, P <= 1024), a constructor
 * rather than long work.
 * @param source `{ program, memory }`: program [n, 3] (a, b, c) with a, b < memory.length and every
 *   c < P; memory [m] words in the N-bit two's complement range. assemble()'s result fits as is.
 * @param options `{ dataWords, programSlots, wordBits, layers }`.
 * @returns `{ geometry, layers, x0, program, memory, nnz }`.
 * @throws TypeError on wrong types or unknown option names; RangeError naming the limit when the
 *   program or memory does not fit (e.g. "program has 70 instructions but programSlots P = 64"),
 *   an operand is outside memory, or a word does not fit N bits.
 * @example
 * const { program, memory } = lemma.looped.subleq.assemble(lemma.looped.subleq.programs.multiply);
 * const c = lemma.looped.subleq.compile({ program, memory });
 * const r = await lemma.looped.subleq.run(c, { steps: 100 });   // r.memory[0] === 63
 */
export function compile(source: SubleqSource, options?: CompileOptions): CompiledSubleq {
  const callSite = new Error();
  if (!is.object(source)) throw new TypeError(expected('an object { program, memory }', 'source', source));
  checkKnownKeys(source, 'source', ['program', 'memory', 'lines', 'labels']);
  const o = checkOptions(options, 'options');
  checkKnownKeys(o, 'options', ['dataWords', 'programSlots', 'wordBits', 'layers']);
  const N = checkWordBits(o.wordBits, 'options.wordBits');
  const nLayers = o.layers === undefined ? 9 : o.layers;
  if (nLayers !== 9 && nLayers !== 23) {
    const msg = expected('9 or 23', 'options.layers', o.layers);
    throw typeof o.layers === 'number' ? new RangeError(msg) : new TypeError(msg);
  }
  const lines = source.lines instanceof Int32Array ? source.lines : undefined;
  const program = normalizeProgram(source.program, 'source.program');
  const memory = normalizeMemory(source.memory, 'source.memory', N);
  const P = resolveProgramSlots(program, o.programSlots, 'options.programSlots', lines);
  const M = resolveDataWords(memory.length, o.dataWords, 'options.dataWords');
  checkOperands(program, memory.length, lines);
  const g = { M, P, N, layers: nLayers };
  let built: ReturnType<typeof native.subleqBuild>;
  let x0: Int32Array;
  try {
    built = native.subleqBuild(g);
    x0 = native.subleqEncode(program, memory, g);
  } catch (e) {
    throw fromNative(e, callSite);
  }
  const layers: SubleqLayer[] = built.layers.map((l, i) => ({
    name: LAYER_NAMES[i] ?? 'identity',
    shape: [l.rows, l.inputs],
    rowPtr: l.rowPtr,
    cols: l.cols,
    vals: l.vals,
    bias: l.bias,
  }));
  const La = Math.ceil(Math.log2(M));
  const compiled: CompiledSubleq = {
    geometry: {
      dataWords: M, programSlots: P, wordBits: N, addressBits: La, pcBits: Math.log2(P),
      stateSize: built.stateSize, layers: nLayers,
    },
    layers,
    x0,
    program,
    memory,
    nnz: layers.reduce((s, l) => s + l.cols.length, 0),
  };
  COMPILED.add(compiled);
  return compiled;
}
