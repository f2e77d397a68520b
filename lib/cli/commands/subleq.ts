/**
 * `lemma subleq run <program.asm> [--steps N] [--trace every|end] [--word-bits N] [--json]
 *  [--no-progress]`: assembles a SUBLEQ program, compiles it into the looped ReLU-MLP
 * (lemma.looped.subleq) and runs it; prints the final memory, PC and whether it halted.
 */
import { readFile } from 'node:fs/promises';
import type { Command, Commander } from '../shared.js';
import { integerArg, interruptible, oneOf, printJson } from '../shared.js';
import { progressBar } from '../progress.js';

interface Options { steps: number; trace: 'every' | 'end'; wordBits?: number; json?: boolean; progress: boolean }

async function runAction(file: string, opts: Options): Promise<void> {
  const source = await readFile(file, 'utf8');
  const { subleq } = await import('../../looped/index.js');
  let asm, compiled;
  try {
    asm = subleq.assemble(source, opts.wordBits === undefined ? undefined : { wordBits: opts.wordBits });
    compiled = subleq.compile(asm, opts.wordBits === undefined ? undefined : { wordBits: opts.wordBits });
  } catch (e) {
    // Assembly and size errors are about the file: name it ("prog.asm: line 4: unknown label 'lop'").
    if (e instanceof RangeError) e.message = `${file}: ${e.message}`;
    throw e;
  }
  const bar = progressBar('subleq', { enabled: opts.progress });
  const t0 = performance.now();
  let r;
  try {
    r = await interruptible((signal) => subleq.run(compiled, {
      steps: opts.steps, trace: opts.trace, signal, onProgress: (p) => bar.update(p, `step ${p.done}`),
    }));
  } finally {
    bar.finish();
  }
  const ms = performance.now() - t0;
  const M = r.dataWords;
  const words = asm.memory.length; // the program's own words (the rest is zero padding and the halt word)
  const rows = r.trace === 'every' ? r.steps + 1 : 1;
  const memoryAt = (row: number) => Array.from(r.memory.subarray(row * M, row * M + words));
  const final = memoryAt(rows - 1);
  const labels = Object.fromEntries(Object.entries(asm.labels.data).map(([name, addr]) => [name, addr < words ? final[addr] : 0]));
  const halted = r.halted[0];
  const haltStep = r.haltStep[0];
  if (opts.json) {
    printJson({
      halted, haltStep, steps: r.steps, trace: r.trace, pc: r.pc[rows - 1], memory: final, labels,
      ...(r.trace === 'every' ? { pcTrace: Array.from(r.pc), memoryTrace: Array.from({ length: rows }, (_, t) => memoryAt(t)) } : {}),
      geometry: r.geometry, ms: Math.round(ms * 1000) / 1000,
    }, true);
    return;
  }
  const lines: string[] = [];
  if (r.trace === 'every') for (let t = 0; t < rows; t++) lines.push(`step ${t}: pc ${r.pc[t]}  memory ${memoryAt(t).join(' ')}`);
  lines.push(halted ? `halted at step ${haltStep} (of ${r.steps}), pc ${r.pc[rows - 1]}` : `not halted after ${r.steps} steps, pc ${r.pc[rows - 1]}`);
  lines.push(`memory: ${final.join(' ')}`);
  const names = Object.entries(labels);
  if (names.length) lines.push(`labels: ${names.map(([n, v]) => `${n} = ${v}`).join(', ')}`);
  process.stdout.write(lines.join('\n') + '\n');
}

export function registerSubleq(program: Command, cm: Commander): void {
  const subleq = program.command('subleq').description('SUBLEQ programs executed by a looped ReLU-MLP (lemma.looped.subleq)');
  subleq
    .command('run')
    .description('assemble, compile and run a SUBLEQ program; print the final memory, pc and whether it halted')
    .argument('<program.asm>', 'SUBLEQ assembly (syntax: lib/looped/subleq/assemble.ts)')
    .option('--steps <N>', 'steps to run (it stops early once halted, with --trace end)', integerArg(cm, 0, 2 ** 31 - 2), 10000)
    .option('--trace <mode>', "'end': the final state; 'every': memory and pc before the first and after every step", oneOf(cm, ['end', 'every'] as const), 'end')
    .option('--word-bits <N>', 'word size N in bits (2 to 30; default 16)', integerArg(cm, 2, 30))
    .option('--json', 'print the result as JSON')
    .option('--no-progress', 'no progress bar on stderr')
    .action(runAction);
}
