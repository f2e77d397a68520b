/**
 * lemma.looped.subleq: the looped ReLU-MLP against the reference interpreter, bit-exact at every
 * step (decoded memory, PC and the halt step): the shipped examples with their answers asserted
 * (multiply = spec LM-1, fibonacci, sort), the program written in README.md, 200 random programs
 * x 50 steps (spec §3.4), wrap-around, a == b, PC wrap and jumps past the program, the weights'
 * structure (integers, shapes chain, geometry-only), 23 layers, batches, trace 'end', abort.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import * as lemma from '../lib/index.js';

const subleq = lemma.looped.subleq;
type Compiled = ReturnType<typeof subleq.compile>;

/** Runs compiled machines with trace 'every' and checks each against interpret() at every step. */
async function agree(list: Compiled[], steps: number): Promise<{ ok: boolean; why: string; halted: number }> {
  const r = await subleq.run(list, { steps, trace: 'every' });
  const M = r.dataWords;
  let halted = 0;
  for (let b = 0; b < list.length; b++) {
    const c = list[b];
    const ref = subleq.interpret(c.program, c.memory, steps, { wordBits: c.geometry.wordBits, programSlots: c.geometry.programSlots });
    const m = c.memory.length;
    for (let t = 0; t <= steps; t++) {
      const row = (b * (steps + 1) + t) * M;
      for (let j = 0; j < M; j++) {
        const want = j < m ? ref.memory[t * m + j] : 0;
        if (r.memory[row + j] !== want) return { ok: false, why: `machine ${b} word ${j} step ${t}: ${r.memory[row + j]} vs ${want}`, halted };
      }
      if (r.pc[b * (steps + 1) + t] !== ref.pc[t]) return { ok: false, why: `machine ${b} pc at step ${t}`, halted };
    }
    if (r.haltStep[b] !== ref.haltStep || r.halted[b] !== ref.halted) {
      return { ok: false, why: `machine ${b} halt step ${r.haltStep[b]} vs ${ref.haltStep}`, halted };
    }
    if (ref.halted) halted++;
  }
  return { ok: true, why: '', halted };
}

function words(asm: ReturnType<typeof subleq.assemble>, memory: Int32Array, M: number, b = 0) {
  const out: Record<string, number> = {};
  for (const [name, addr] of Object.entries(asm.labels.data)) out[name] = memory[b * M + addr];
  return out;
}

test('LM-1: multiply 7 x 9 ends with a = 63 and halts, every step equal to the interpreter (9 and 23 layers)', async (t) => {
  const asm = subleq.assemble(subleq.programs.multiply);
  t.deepEqual(Array.from(asm.memory), [7, 9, 0, 0, 1]);
  for (const layers of [9, 23] as const) {
    const c = subleq.compile(asm, { layers });
    t.is(c.layers.length, layers);
    const a = await agree([c], 200);
    t.true(a.ok, a.why);
    const r = await subleq.run(c, { steps: 200 });
    const w = words(asm, r.memory, r.dataWords);
    t.is(w.a, 63);
    t.is(w.b, 0);
    t.deepEqual(r.halted, [true]);
    t.is(r.haltStep[0], 26);
    t.is(r.pc[0], 4, 'the PC rests on the HALT slot right after the program');
    t.is(r.device, 'cpu');
  }
});

test('fibonacci: x = F(20) = 6765, y = F(21) = 10946', async (t) => {
  const asm = subleq.assemble(subleq.programs.fibonacci);
  const c = subleq.compile(asm);
  const a = await agree([c], 300);
  t.true(a.ok, a.why);
  const r = await subleq.run(c, { steps: 300 });
  const w = words(asm, r.memory, r.dataWords);
  t.is(w.x, 6765);
  t.is(w.y, 10946);
  t.is(w.n, 0);
  t.true(r.halted[0]);
});

test('sort: five words sorted by unrolled compare-and-swaps', async (t) => {
  const asm = subleq.assemble(subleq.programs.sort);
  const c = subleq.compile(asm);
  t.is(c.geometry.programSlots, 128);
  t.is(asm.program.length / 3, 121);
  const a = await agree([c], 200);
  t.true(a.ok, a.why);
  const r = await subleq.run(c, { steps: 200 });
  const L = asm.labels.data.list;
  t.deepEqual(Array.from(r.memory.slice(L, L + 5)), [...subleq.programs.sortOutput]);
  t.true(r.halted[0]);
});

test('the program written in README.md assembles and computes 47 / 5 = 9 remainder 2', async (t) => {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  const m = readme.match(/<!-- subleq-readme-program -->[\s\S]*?```[a-z]*\n([\s\S]*?)```[\s\S]*?<!-- \/subleq-readme-program -->/);
  t.truthy(m, 'README.md holds the program between <!-- subleq-readme-program --> markers');
  const asm = subleq.assemble(m![1]);
  const c = subleq.compile(asm);
  const a = await agree([c], 100);
  t.true(a.ok, a.why);
  const r = await subleq.run(c, { steps: 100 });
  const w = words(asm, r.memory, r.dataWords);
  t.is(w.q, 9);
  t.is(w.x, 2);
  t.true(r.halted[0]);
});

function lcg(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.floor((s / 2 ** 32) * n);
  };
}

test('200 random programs x 50 steps: bit-exact at every step, batched per geometry', async (t) => {
  const rnd = lcg(2410);
  let total = 0;
  let halted = 0;
  for (let gi = 0; gi < 8; gi++) {
    const m = 2 + rnd(7); // memory words; M = m + 1 .. 9 with the halt word
    const P = 2 ** (1 + rnd(3));
    const N = 3 + rnd(6);
    const list: Compiled[] = [];
    for (let k = 0; k < 25; k++) {
      const n = 1 + rnd(P);
      const program = Array.from({ length: 3 * n }, (_, i) => (i % 3 === 2 ? rnd(P) : rnd(m)));
      const memory = Array.from({ length: m }, () => rnd(2 ** N) - 2 ** (N - 1));
      list.push(subleq.compile({ program, memory }, { dataWords: m + 1, programSlots: P, wordBits: N }));
    }
    const a = await agree(list, 50);
    t.true(a.ok, `geometry M ${m + 1} P ${P} N ${N}: ${a.why}`);
    total += list.length;
    halted += a.halted;
  }
  t.is(total, 200);
  t.log(`${halted} of 200 reached a fixed point within 50 steps`);
});

test('words wrap mod 2^N (the sign of the new mem[b] decides the branch); a == b gives 0 and branches', async (t) => {
  // N = 8: -128 - 1 wraps to 127 (> 0: next); 127 - (-1) wraps to -128 (<= 0: jump).
  const program = [[1, 0, 3], [2, 3, 0], [4, 4, 0], [0, 0, 0]];
  const memory = [-128, 1, -1, 127, 5];
  const c = subleq.compile({ program, memory }, { wordBits: 8 });
  const r = await subleq.run(c, { steps: 4, trace: 'every' });
  const M = r.dataWords;
  t.deepEqual(Array.from(r.memory.slice(M, M + 5)), [127, 1, -1, 127, 5]);
  t.is(r.pc[1], 1, '127 > 0: falls through');
  t.deepEqual(Array.from(r.memory.slice(2 * M, 2 * M + 5)), [127, 1, -1, -128, 5]);
  t.is(r.pc[2], 0, '-128 <= 0: jumps');
  const a = await agree([c], 30);
  t.true(a.ok, a.why);
  // a == b: mem[b] = 0, branch taken.
  const same = subleq.compile({ program: [[0, 0, 1], [1, 1, 1]], memory: [9, 0] }, { programSlots: 4 });
  const s = await subleq.run(same, { steps: 2, trace: 'every' });
  t.is(s.memory[s.dataWords], 0);
  t.is(s.pc[1], 1);
  t.is(s.haltStep[0], 1, '(1, 1, 1) with mem[1] = 0 is a self-loop: a fixed point');
  t.is(subleq.interpret([[0, 0, 1], [1, 1, 1]], [9, 0], 2, { programSlots: 4 }).haltStep, 1);
});

test('the PC wraps mod P; a jump past the program lands on a HALT slot', async (t) => {
  // P = n = 2: the PC runs 0, 1, 0, 1, ... (mem[1] grows while positive).
  const wrap = subleq.compile({ program: [[0, 1, 0], [0, 1, 0]], memory: [-1, 0] }, { programSlots: 2 });
  const a = await agree([wrap], 40);
  t.true(a.ok, a.why);
  const r = await subleq.run(wrap, { steps: 3, trace: 'every' });
  t.deepEqual(Array.from(r.pc), [0, 1, 0, 1]);
  // c = 6 with n = 1 and P = 8: slot 6 is HALT padding.
  const past = subleq.compile({ program: [[0, 0, 6]], memory: [3] }, { programSlots: 8 });
  const p = await subleq.run(past, { steps: 5, trace: 'every' });
  t.deepEqual(Array.from(p.pc), [0, 6, 6, 6, 6, 6]);
  t.is(p.haltStep[0], 1);
  t.true((await agree([past], 5)).ok);
});

test('the weights: integers, shapes chain D0 -> ... -> D0, depend only on (M, P, N), 23 layers pad with identities', (t) => {
  const a = subleq.compile(subleq.assemble(subleq.programs.multiply), { dataWords: 16, programSlots: 16 });
  const b = subleq.compile({ program: [[3, 2, 5]], memory: [1, 2, 3, 4] }, { dataWords: 16, programSlots: 16 });
  const g = a.geometry;
  t.is(g.stateSize, 16 * 16 + 16 * (2 * 4 + 4) + 4);
  t.deepEqual(a.layers.map((l) => l.name), ['fetch', 'collect-fields', 'read', 'collect-words', 'arith', 'collect-bits', 'match', 'select', 'write']);
  let inputs = g.stateSize;
  for (let l = 0; l < a.layers.length; l++) {
    const L = a.layers[l];
    t.is(L.shape[1], inputs);
    t.is(L.rowPtr.length, L.shape[0] + 1);
    t.is(L.bias.length, L.shape[0]);
    t.is(L.rowPtr[L.shape[0]], L.cols.length);
    t.deepEqual(L.vals, b.layers[l].vals);
    t.deepEqual(L.cols, b.layers[l].cols);
    t.deepEqual(L.bias, b.layers[l].bias);
    inputs = L.shape[0];
  }
  t.is(inputs, g.stateSize);
  t.true(Array.from(a.x0).every((v) => v === 0 || v === 1));
  t.notDeepEqual(a.x0, b.x0);
  const deep = subleq.compile({ program: [[3, 2, 5]], memory: [1, 2, 3, 4] }, { dataWords: 16, programSlots: 16, layers: 23 });
  t.is(deep.layers.length, 23);
  for (const L of deep.layers.slice(9)) {
    t.is(L.name, 'identity');
    t.deepEqual(L.shape, [g.stateSize, g.stateSize]);
    t.is(L.cols.length, g.stateSize);
  }
  t.is(deep.nnz, b.nnz + 14 * g.stateSize);
});

test('a mixed batch, trace end = the last trace row, and the early stop when every machine halts', async (t) => {
  const opts = { dataWords: 16, programSlots: 128 } as const;
  const list = (['multiply', 'fibonacci', 'sort'] as const).map((k) => subleq.compile(subleq.assemble(subleq.programs[k]), opts));
  const a = await agree(list, 260);
  t.true(a.ok, a.why);
  const every = await subleq.run(list, { steps: 260, trace: 'every' });
  const end = await subleq.run(list, { steps: 260 });
  const M = 16;
  for (let b = 0; b < 3; b++) {
    t.deepEqual(end.memory.slice(b * M, (b + 1) * M), every.memory.slice((b * 261 + 260) * M, (b * 261 + 261) * M));
    t.is(end.pc[b], every.pc[b * 261 + 260]);
  }
  t.deepEqual(end.halted, [true, true, true]);
  const progress: number[] = [];
  const long = await subleq.run(list, { steps: 1e6, onProgress: (p) => progress.push(p.done) });
  t.deepEqual(long.memory, end.memory, 'a million steps cost no more than reaching the fixed points');
  t.is(progress[progress.length - 1], 1e6);
  const none = await subleq.run(list[0], { steps: 0, trace: 'every' });
  t.deepEqual(Array.from(none.memory.slice(0, 5)), [7, 9, 0, 0, 1]);
});

test('abort: an aborted signal rejects with AbortError before and during a run', async (t) => {
  const c = subleq.compile({ program: [[0, 1, 0], [0, 1, 0]], memory: [-1, 0] }, { wordBits: 30, programSlots: 2 });
  const ac = new AbortController();
  ac.abort();
  await t.throwsAsync(subleq.run(c, { steps: 10, signal: ac.signal }), { name: 'AbortError', code: 'ABORT_ERR' } as never);
  const ac2 = new AbortController();
  const batch = Array.from({ length: 64 }, () => c);
  await t.throwsAsync(
    subleq.run(batch, { steps: 1e7, signal: ac2.signal, onProgress: () => ac2.abort() }),
    { name: 'AbortError', message: /subleq\.run was aborted/ },
  );
});

test('run works off the event loop, and weights edited during a run do not reach it', async (t) => {
  const src = subleq.assemble(subleq.programs.sort);
  const list = Array.from({ length: 256 }, () => subleq.compile(src, { layers: 23 }));
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const pending = subleq.run(list, { steps: 90 });
  list[0].layers[0].cols.fill(1e6); // the native job runs on its own copy of the weights
  const r = await pending;
  clearInterval(timer);
  t.true(ticks > 0, 'timers fired while the MLP ran');
  const L = src.labels.data.list;
  t.deepEqual(Array.from(r.memory.slice(255 * r.dataWords + L, 255 * r.dataWords + L + 5)), [...subleq.programs.sortOutput]);
});

test('the word-size ends: N = 2 and N = 30 (the int32 limit) with extreme words, 23 layers', async (t) => {
  const rnd = lcg(30);
  for (const N of [2, 30]) {
    const [lo, hi] = [-(2 ** (N - 1)), 2 ** (N - 1) - 1];
    const list = Array.from({ length: 20 }, () => {
      const program = Array.from({ length: 12 }, (_, i) => (i % 3 === 2 ? rnd(8) : rnd(5)));
      const memory = [lo, hi, 0, 1, -1].map((v, j, a) => a[(j + rnd(5)) % 5] ?? v);
      return subleq.compile({ program, memory }, { wordBits: N, programSlots: 8, layers: 23 });
    });
    const a = await agree(list, 40);
    t.true(a.ok, `N = ${N}: ${a.why}`);
  }
});
