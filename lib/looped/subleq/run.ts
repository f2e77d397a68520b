/**
 * run(): loops the compiled MLP x <- F(x) over a batch of machines on the CPU thread pool, in
 * exact int32, off the event loop. Steps go to the native executor in chunks (about 2·10⁸
 * multiply-adds each) so `signal` and `onProgress` act between chunks; with trace 'end' the run
 * stops early once every machine sits at its fixed point (later states are identical).
 */
import { native } from '../../binding.js';
import { runLong } from '../../long-work.js';
import { LemmaError, fromNative } from '../../errors.js';
import { checkInteger, checkOneOf, checkOptions, expected } from '../../validation/index.js';
import { checkCallback, checkKnownKeys, checkSignal, throwIfAborted } from '../../validation/options.js';
import { isCompiled } from './compile.js';
import type { CompiledSubleq, SubleqGeometry } from './compile.js';

export interface RunOptions {
  /** Steps (loop iterations) to run, >= 0. Required. */
  steps: number;
  /** 'end' (default): memory and PC after the last step; 'every': before the first and after every step. */
  trace?: 'every' | 'end';
  signal?: AbortSignal;
  onProgress?: (p: { done: number; total: number }) => void;
}

export interface RunResult {
  /** Decoded signed words: [B, M] with trace 'end', [B, steps + 1, M] with trace 'every'. */
  memory: Int32Array;
  /** Program counters: [B] or [B, steps + 1]. */
  pc: Int32Array;
  /** Per machine: reached its fixed point (x = F(x)) by step steps − 1. */
  halted: boolean[];
  /** [B] the first step t with x_t = F(x_t), or −1. */
  haltStep: Int32Array;
  steps: number;
  trace: 'every' | 'end';
  /** B, the number of machines. */
  batch: number;
  /** M, words per machine in `memory` (the given memory, then zeros, then the halt word). */
  dataWords: number;
  geometry: SubleqGeometry;
  device: 'cpu';
}

/** The most words a trace 'every' result may hold (B · (steps + 1) · M). */
const MAX_TRACE_WORDS = 2 ** 28;
/**
 * Multiply-adds per native call: a few tens of milliseconds (so abort is prompt), yet several
 * steps, since each call also copies the weights and transposes X in and out (O(nnz + B·D0)).
 */
const CHUNK_WORK = 2e8;

function sameGeometry(a: SubleqGeometry, b: SubleqGeometry): boolean {
  return a.dataWords === b.dataWords && a.programSlots === b.programSlots && a.wordBits === b.wordBits && a.layers === b.layers;
}

function describeGeometry(g: SubleqGeometry): string {
  return `(M ${g.dataWords}, P ${g.programSlots}, N ${g.wordBits}, ${g.layers} layers)`;
}

/**
 * Runs compiled SUBLEQ machines by looping their MLP.
 * @param compiled one compile() result, or an array of them sharing (M, P, N, layers): they are
 *   stacked into X [B, D0] and run together (the MLP of compiled[0] runs all of them: the weights
 *   depend on the geometry only).
 * @param options `{ steps, trace: 'every' | 'end', signal, onProgress }`.
 * @returns `{ memory, pc, halted, haltStep, steps, trace, batch, dataWords, geometry, device: 'cpu' }`.
 * @throws TypeError for a value not made by compile(), unknown options; RangeError for mixed
 *   geometries; LemmaError ERR_RANGE for a trace too large; AbortError when `signal` aborts.
 * @example
 * const c = subleq.compile(subleq.assemble(subleq.programs.fibonacci));
 * const r = await subleq.run(c, { steps: 300 });
 */
export async function run(compiled: CompiledSubleq | readonly CompiledSubleq[], options: RunOptions): Promise<RunResult> {
  const callSite = new Error();
  const list = Array.isArray(compiled) ? (compiled as readonly CompiledSubleq[]) : [compiled as CompiledSubleq];
  if (list.length === 0) throw new RangeError(expected('at least one compiled program', 'compiled', compiled));
  list.forEach((c, i) => {
    if (!isCompiled(c)) {
      const name = Array.isArray(compiled) ? `compiled[${i}]` : 'compiled';
      throw new TypeError(expected('a compiled program (from lemma.looped.subleq.compile)', name, c));
    }
  });
  const o = checkOptions(options, 'options');
  checkKnownKeys(o, 'options', ['steps', 'trace', 'signal', 'onProgress']);
  const steps = checkInteger(o.steps, 'options.steps', 0, 2 ** 31 - 2);
  const trace = o.trace === undefined ? 'end' : checkOneOf(o.trace, 'options.trace', ['every', 'end'] as const);
  const signal = checkSignal(o.signal, 'options.signal');
  const onProgress = checkCallback<(p: { done: number; total: number }) => void>(o.onProgress, 'options.onProgress');
  const g = list[0].geometry;
  for (let i = 1; i < list.length; i++) {
    if (!sameGeometry(list[i].geometry, g)) {
      throw new RangeError(`compiled[${i}] has geometry ${describeGeometry(list[i].geometry)} but compiled[0] has ${describeGeometry(g)}: one run takes one geometry (pass the same dataWords, programSlots, wordBits, layers to compile)`);
    }
  }
  const B = list.length;
  const M = g.dataWords;
  const D0 = g.stateSize;
  const rows = trace === 'every' ? steps + 1 : 1;
  if (B * rows * M > MAX_TRACE_WORDS) {
    throw new LemmaError('ERR_RANGE', `trace 'every' would hold B·(steps+1)·M = ${B * rows * M} words but the limit is 2^28: use trace 'end' or fewer steps`);
  }
  throwIfAborted(signal, 'subleq.run');
  const X = new Int32Array(B * D0);
  list.forEach((c, b) => X.set(c.x0, b * D0));
  const haltStep = new Int32Array(B).fill(-1);
  const memory = new Int32Array(B * rows * M);
  const pc = new Int32Array(B * rows);
  // A snapshot: the run uses the weights as they were when it started, whatever the caller edits.
  const layers = list[0].layers.map((l) => ({
    rows: l.shape[0], inputs: l.shape[1], rowPtr: l.rowPtr.slice(), cols: l.cols.slice(), vals: l.vals.slice(), bias: l.bias.slice(),
  }));
  const nnz = Math.max(1, list[0].nnz);
  const chunk = Math.max(1, Math.floor(CHUNK_WORK / (B * nnz)));
  const p = { M, P: g.programSlots, N: g.wordBits, layers: g.layers, B, stepBegin: 0, steps: 0, totalSteps: steps, traceEvery: trace === 'every' };
  let done = 0;
  // steps = 0 still decodes the initial state (one call with no steps).
  do {
    const k = Math.min(chunk, steps - done);
    try {
      await runLong('subleq.run', { signal, onProgress: undefined }, () => native.subleqRun(layers, X, haltStep, memory, pc, { ...p, stepBegin: done, steps: k }));
    } catch (e) {
      throw fromNative(e, callSite);
    }
    done += k;
    throwIfAborted(signal, 'subleq.run');
    // Every machine at its fixed point: the remaining steps change nothing.
    if (trace === 'end' && haltStep.every((h) => h >= 0)) done = steps;
    onProgress?.({ done, total: steps });
  } while (done < steps);
  return {
    memory, pc, halted: Array.from(haltStep, (h) => h >= 0), haltStep, steps, trace, batch: B, dataWords: M,
    geometry: { ...g }, device: 'cpu',
  };
}
