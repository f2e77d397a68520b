/**
 * lemma.looped.subleq validation: every assembler error (with its line), every compile / run /
 * interpret refusal by class and message regex, the limits named in the messages, and the
 * native layer's re-checks of tampered weights.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';

const subleq = lemma.looped.subleq;

function asmError(t: import('ava').ExecutionContext, src: string, line: number, message: RegExp) {
  const e = t.throws(() => subleq.assemble(src), { instanceOf: RangeError, message }) as RangeError & { line: number };
  t.is(e?.line, line);
}

test('assemble: syntax errors name the line and carry it as `line`', (t) => {
  asmError(t, 'loop: one, n, HALT\n  zero, zero, lop\n.data\none: 1\nn: 3\nzero: 0', 2, /^line 2: unknown label 'lop' \(did you mean 'loop'\?\)$/);
  asmError(t, '  xx, yyy\n.data\nxx: 1\nyy: 2', 1, /^line 1: unknown label 'yyy' \(did you mean 'yy'\?\)$/);
  asmError(t, 'a: x, x\na: x, x\n.data\nx: 0', 2, /^line 2: label 'a' is already defined on line 1$/);
  asmError(t, '  x\n.data\nx: 0', 1, /^line 1: expected 'a, b' or 'a, b, c' but found 1 operand$/);
  asmError(t, '  x, x, x, x\n.data\nx: 0', 1, /^line 1: expected 'a, b' or 'a, b, c' but found 4 operands$/);
  asmError(t, '  x, x\n.data\nx: 40000', 3, /^line 3: value 40000 does not fit a 16-bit word \[-32768, 32767\]$/);
  asmError(t, '  x, x\n.bss\nx: 0', 2, /^line 2: unknown directive '\.bss' \(expected \.data or \.code\)$/);
  asmError(t, '  HALT, x\n.data\nx: 0', 1, /^line 1: HALT is a jump target, not a data address$/);
  asmError(t, 'top: top, x\n.data\nx: 0', 1, /^line 1: 'top' is a code label; operands a and b are data addresses$/);
  asmError(t, '  x, x, x\n.data\nx: 0', 1, /^line 1: 'x' is a data label; the jump target c is a code label$/);
  asmError(t, '  x, x\nend:\n.data\nx: 0', 2, /^line 2: label 'end' names no instruction$/);
  asmError(t, '  x, x\n.data\nhalt: 0\nx: 1', 3, /^line 3: 'halt' is reserved \(HALT is the built-in halt target\)$/);
  asmError(t, '  x, x\n.data\n9x: 0', 3, /^line 3: '9x' is not a valid label/);
  asmError(t, '  x, x\n.data\nx:', 3, /^line 3: data label 'x' has no value$/);
  asmError(t, '  x, x\n.data\nx: 1, two', 3, /^line 3: expected an integer value but found 'two'$/);
  asmError(t, '  x+3, x\n.data\nx: 1, 2', 1, /^line 1: 'x\+3' is address 3, outside memory \(2 words\)$/);
  asmError(t, '  x, x, -1\n.data\nx: 0', 1, /^line 1: jump target -1 is negative$/);
  t.throws(() => subleq.assemble('; nothing\n.data\nx: 1'), { instanceOf: RangeError, message: /^the source has no instructions$/ });
  t.throws(() => subleq.assemble(42 as never), { instanceOf: TypeError, message: /^Expected a string of SUBLEQ assembly for source but received 42 of type number$/ });
  t.throws(() => subleq.assemble('x, x', { wordBit: 8 } as never), { instanceOf: TypeError, message: /did you mean 'wordBits'/ });
  t.throws(() => subleq.assemble('  x, x\n.data\nx: 200', { wordBits: 8 }), { instanceOf: RangeError, message: /^line 3: value 200 does not fit a 8-bit word \[-128, 127\]$/ });
});

test('assemble: the accepted forms (spaces, comments, label+k, integer addresses, hex, .code, defaults)', (t) => {
  const a = subleq.assemble(`# header comment
start:  list+1 list   ; spaces separate too
loop:
        3, 0, start   # integer addresses grow the memory
        x, x, HALT
.data
list:   0x10, -2
        5             ; continues the memory
.code
        list, list
.data
x:      7`);
  t.deepEqual(Array.from(a.program), [1, 0, 1, 3, 0, 0, 3, 3, 4, 0, 0, 4]);
  t.deepEqual(Array.from(a.memory), [16, -2, 5, 7]);
  t.deepEqual(a.labels, { code: { start: 0, loop: 1 }, data: { list: 0, x: 3 } });
  t.deepEqual(Array.from(a.lines), [2, 4, 5, 10]);
  const grow = subleq.assemble('9, 0');
  t.is(grow.memory.length, 10, 'integer addresses extend the memory with zeros');
});

test('compile: types, option names, and the limits named in the messages', (t) => {
  const ok = { program: [[0, 1, 0]], memory: [1, 2] };
  t.throws(() => subleq.compile(null as never), { instanceOf: TypeError, message: /^Expected an object \{ program, memory \} for source/ });
  t.throws(() => subleq.compile({ ...ok, memroy: [] } as never), { instanceOf: TypeError, message: /did you mean 'memory'\?/ });
  t.throws(() => subleq.compile(ok, { wordbits: 8 } as never), { instanceOf: TypeError, message: /^Expected a known option name \(did you mean 'wordBits'\?\) for options but received "wordbits"/ });
  t.throws(() => subleq.compile(ok, { wordBits: 31 }), { instanceOf: RangeError, message: /^Expected an integer between 2 and 30 \(the int32 executor: layer 5's pre-activations reach 3·2\^\(N-1\)\) for options\.wordBits but received 31/ });
  t.throws(() => subleq.compile(ok, { wordBits: '8' } as never), { instanceOf: TypeError, message: /for options\.wordBits but received "8" of type string/ });
  t.throws(() => subleq.compile(ok, { layers: 10 } as never), { instanceOf: RangeError, message: /^Expected 9 or 23 for options\.layers but received 10/ });
  t.throws(() => subleq.compile(ok, { programSlots: 48 }), { instanceOf: RangeError, message: /^Expected a power of two between 2 and 16384 for options\.programSlots but received 48/ });
  const seventy = { program: Array.from({ length: 70 }, () => [0, 0, 0]), memory: [0] };
  t.throws(() => subleq.compile(seventy, { programSlots: 64 }), { instanceOf: RangeError, message: /^program has 70 instructions but programSlots P = 64$/ });
  t.is(subleq.compile(seventy).geometry.programSlots, 128);
  t.throws(() => subleq.compile({ program: [[0, 0, 9]], memory: [0] }, { programSlots: 8 }), { instanceOf: RangeError, message: /^instruction 0 jumps to c = 9 but programSlots P = 8 \(jump targets must be < P\)$/ });
  t.throws(() => subleq.compile({ program: [[0, 1, 0]], memory: new Array(8).fill(0) }, { dataWords: 8 }), { instanceOf: RangeError, message: /^memory has 8 words but dataWords M = 8 \(word M - 1 is the reserved halt word: M must be at least 9\)$/ });
  t.is(subleq.compile({ program: [[0, 1, 0]], memory: new Array(8).fill(0) }).geometry.dataWords, 16);
  t.throws(() => subleq.compile({ program: [[0, 5, 0]], memory: [1, 2] }), { instanceOf: RangeError, message: /^instruction 0: operand b = 5 is outside memory \(2 words\)$/ });
  // Assembled programs report the source line of the offending instruction.
  const asm = subleq.assemble('  x, x\n  x, x, 9\n.data\nx: 0');
  t.throws(() => subleq.compile(asm, { programSlots: 4 }), { instanceOf: RangeError, message: /^instruction 1 \(line 2\) jumps to c = 9 but programSlots P = 4/ });
  t.throws(() => subleq.compile({ program: [[0, 1, 0]], memory: [1, 200] }, { wordBits: 8 }), { instanceOf: RangeError, message: /^Expected an integer between -128 and 127 \(wordBits N = 8\) for source\.memory\[1\] but received 200/ });
  t.throws(() => subleq.compile({ program: [0, 1], memory: [1] }), { instanceOf: RangeError, message: /a length that is a multiple of 3/ });
  t.throws(() => subleq.compile({ program: [[0, -1, 0]], memory: [1] }), { instanceOf: RangeError, message: /^Expected an integer >= 0 for source\.program\[0\]\.b but received -1/ });
  t.throws(() => subleq.compile({ program: [[0, 1]], memory: [1] } as never), { instanceOf: TypeError, message: /^Expected an \[a, b, c\] triple of numbers for source\.program\[0\]/ });
  t.throws(() => subleq.compile({ program: 'x', memory: [1] } as never), { instanceOf: TypeError, message: /^Expected an Int32Array or array of \(a, b, c\) triples for source\.program/ });
  t.throws(() => subleq.compile({ program: [], memory: [1] }), { instanceOf: RangeError, message: /^source\.program has no instructions$/ });
  t.throws(() => subleq.compile({ program: [[0, 0, 0]], memory: new Array(20000).fill(0) }), { instanceOf: RangeError, message: /^memory has 20000 words but dataWords is limited to 16384/ });
  // Flat Int32Array triples are the same program as nested arrays.
  t.deepEqual(subleq.compile({ program: new Int32Array([0, 1, 0]), memory: [1, 2] }).x0, subleq.compile(ok).x0);
});

test('run: refusals and what the native layer re-checks', async (t) => {
  const c = subleq.compile({ program: [[0, 1, 0]], memory: [1, 2] });
  await t.throwsAsync(subleq.run({ ...c }, { steps: 1 }), { instanceOf: TypeError, message: /^Expected a compiled program \(from lemma\.looped\.subleq\.compile\) for compiled but received a Object/ });
  await t.throwsAsync(subleq.run([c, 3 as never], { steps: 1 }), { instanceOf: TypeError, message: /for compiled\[1\]/ });
  await t.throwsAsync(subleq.run([], { steps: 1 }), { instanceOf: RangeError, message: /^Expected at least one compiled program/ });
  await t.throwsAsync(subleq.run(c, {} as never), { instanceOf: TypeError, message: /^Expected an integer between 0 and 2147483646 for options\.steps but received undefined/ });
  await t.throwsAsync(subleq.run(c, { steps: -1 }), { instanceOf: RangeError, message: /for options\.steps but received -1/ });
  await t.throwsAsync(subleq.run(c, { steps: 1, trace: 'all' as never }), { instanceOf: RangeError, message: /^Expected one of 'every', 'end' for options\.trace but received "all"/ });
  await t.throwsAsync(subleq.run(c, { steps: 1, batch: 4 } as never), { instanceOf: TypeError, message: /^Expected a known option name \(did you mean/ });
  await t.throwsAsync(subleq.run(c, { steps: 1, signal: {} as never }), { instanceOf: TypeError, message: /^Expected an AbortSignal for options\.signal/ });
  await t.throwsAsync(subleq.run(c, { steps: 1, onProgress: 1 as never }), { instanceOf: TypeError, message: /^Expected a function for options\.onProgress/ });
  const other = subleq.compile({ program: [[0, 1, 0]], memory: [1, 2] }, { wordBits: 8 });
  await t.throwsAsync(subleq.run([c, other], { steps: 1 }), { instanceOf: RangeError, message: /^compiled\[1\] has geometry \(M 4, P 2, N 8, 9 layers\) but compiled\[0\] has \(M 4, P 2, N 16, 9 layers\): one run takes one geometry/ });
  await t.throwsAsync(subleq.run(new Array(1000).fill(c), { steps: 1e6, trace: 'every' }), { instanceOf: lemma.LemmaError, code: 'ERR_RANGE', message: /^trace 'every' would hold B·\(steps\+1\)·M = 4000004000 words but the limit is 2\^28/ });
  // Tampered weights: the C++ layer re-checks the CSR before any work.
  const bad = subleq.compile({ program: [[0, 1, 0]], memory: [1, 2] });
  bad.layers[2].cols[0] = 1e6;
  await t.throwsAsync(subleq.run(bad, { steps: 1 }), { code: 'ERR_SHAPE', message: /^layer 3: column index out of range$/ });
  const short = subleq.compile({ program: [[0, 1, 0]], memory: [1, 2] });
  short.layers.pop();
  await t.throwsAsync(subleq.run(short, { steps: 1 }), { code: 'ERR_SHAPE', message: /^expected 9 layers, got 8$/ });
});

test('interpret: the same refusals as compile for the same inputs', (t) => {
  t.throws(() => subleq.interpret([[0, 3, 0]], [1, 2], 5), { instanceOf: RangeError, message: /^instruction 0: operand b = 3 is outside memory \(2 words\)$/ });
  t.throws(() => subleq.interpret([[0, 1, 0]], [1, 2], -1), { instanceOf: RangeError, message: /for steps but received -1/ });
  t.throws(() => subleq.interpret([[0, 1, 0]], [1, 2], 5, { programslot: 2 } as never), { instanceOf: TypeError, message: /did you mean 'programSlots'/ });
  t.throws(() => subleq.interpret([[0, 1, 0]], [1, 70000], 5), { instanceOf: RangeError, message: /wordBits N = 16/ });
  const r = subleq.interpret([[0, 1, 0]], [1, 2], 3);
  t.deepEqual(Array.from(r.memory), [1, 2, 1, 1, 1, 1, 1, 1]);
  t.deepEqual(Array.from(r.pc), [0, 1, 1, 1], 'slot 1 is the HALT padding');
  t.is(r.haltStep, 1);
  t.true(r.halted);
});
