/**
 * lemma.looped.subleq: a looped ReLU-MLP that executes SUBLEQ programs (after arXiv 2410.09375;
 * our 9-layer construction, exact in int32).
 *   assemble(source)                       SUBLEQ assembly → { program, memory, labels, lines }
 *   compile({ program, memory }, opts)     → the MLP (CSR integer layers) and its initial state
 *   run(compiled | compiled[], opts)       loop the MLP over a batch of machines; decode memory and PC
 *   interpret(program, memory, steps)      the reference machine, for differential checks
 *   programs                               example sources: multiply, fibonacci, sort
 */
export { assemble } from './assemble.js';
export type { AssembleError, AssembleOptions, Assembled } from './assemble.js';
export { compile } from './compile.js';
export type { CompileOptions, CompiledSubleq, SubleqGeometry, SubleqLayer, SubleqSource } from './compile.js';
export { run } from './run.js';
export type { RunOptions, RunResult } from './run.js';
export { interpret } from './interpret.js';
export type { InterpretOptions, InterpretResult } from './interpret.js';
export type { MemoryInput, ProgramInput } from './geometry.js';
export * as programs from './programs.js';
