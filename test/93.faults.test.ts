/**
 * Faults (issue 15, "Proof"): out of memory. A huge but valid-looking request — every argument
 * within its documented range, the inputs self-consistent, only the work or memory it implies
 * absurd — gives LemmaError ERR_OOM or ERR_RANGE (RangeError where the size is an option above
 * its documented maximum) before allocating: never an abort, never the OOM killer. Each case
 * checks that RSS did not jump (the requests ask for 8 GB to 10^15 bytes) and logs the figures.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';

const MB = 1024 * 1024;
const JUMP = 100 * MB;  // far below any of the requests; above allocator noise
const square = () => lemma.polytope.halfspaces([[1, 0], [-1, 0], [0, 1], [0, -1]], [1, 1, 1, 1]);
const multiply = () => lemma.looped.subleq.compile(lemma.looped.subleq.assemble(lemma.looped.subleq.programs.multiply));

type Expect = { code: 'ERR_OOM' | 'ERR_RANGE' } | { rangeError: true };
const OOM: Expect = { code: 'ERR_OOM' };
const RANGE: Expect = { code: 'ERR_RANGE' };
const RANGE_ERROR: Expect = { rangeError: true };

const CASES: Array<[string, () => unknown, Expect]> = [
  ['attention materialized fp32, Nq = Nk = 65536, D = 1 (16 GiB of scratch; inputs 256 KiB)', () => {
    const q = lemma.tensor(new Float32Array(65536), [1, 1, 65536, 1]);
    return lemma.attention.forward(q, q, q, { algorithm: 'materialized' });
  }, RANGE],
  ['attention backward materialized fp32, Nq = Nk = 65536 (32 GiB of scratch)', () => {
    const q = lemma.tensor(new Float32Array(65536), [1, 1, 65536, 1]);
    const lse = lemma.tensor(new Float32Array(65536), [1, 1, 65536]);
    return lemma.attention.backward({ q, k: q, v: q, out: q, lse, dOut: q }, { algorithm: 'materialized' });
  }, RANGE],
  ['sample.dikin with 2^20 chains × 10^9 steps (samples: 10^16 bytes)', () => {
    const body = square();
    return lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 1 << 20, steps: 1e9, seed: 1 }).finally(() => body.dispose());
  }, OOM],
  ['sample.dikin with 4 chains × 10^9 kept steps (64 GB of samples)', () => {
    const body = square();
    return lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 4, steps: 1e9, burnIn: 0, seed: 1 }).finally(() => body.dispose());
  }, OOM],
  ['dp.l1Kde with levels 26 and d = 1000 (1 TB tree)', () => lemma.dp.l1Kde(lemma.tensor(new Float64Array(1000), [1, 1000]), { epsilon: 1, range: 1, levels: 26, gridBits: 26 }), OOM],
  ['dp.l1Kde with levels 26 and d = 64 (64 GiB tree)', () => lemma.dp.l1Kde(lemma.tensor(new Float64Array(64), [1, 64]), { epsilon: 1e6, range: 1, levels: 26, gridBits: 26 }), OOM],
  ['dp.discreteLaplace with 2^32 − 1 draws (34 GB)', () => lemma.dp.discreteLaplace(1, 2 ** 32 - 1), OOM],
  ['nn.attentionStack with 64 layers, dModel 4096, mlp 65536 (154 GB of weights)', () => lemma.nn.attentionStack({ layers: 64, heads: 16, dModel: 4096, mlp: 65536 }), OOM],
  ['looped.iterate with 4096 starts × 10^9 steps of history', () => {
    const net = lemma.looped.preset('tanh2', { d: 4 });
    return lemma.looped.iterate({ W: net.W, b: net.b, activation: 'tanh2', x0: lemma.tensor(new Float64Array(4 * 4096), [4096, 4]), maxSteps: 1e9 });
  }, RANGE],
  ["looped.subleq.run 10^9 steps with trace 'every' (32 GB of trace)", () => lemma.looped.subleq.run(multiply(), { steps: 1e9, trace: 'every' }), RANGE],
  ['games.machinePenalty.simulate keeping 10^6 × 1000 rounds of history per condition', () => lemma.games.machinePenalty.simulate({
    conditions: ['fair', 'selfish'], perCondition: 1_000_000, rounds: 1000, keepHistories: true, seed: 1,
  }), RANGE],
  ['polyAttention degree 12 at D = 256 (over 2^62 features)', () => {
    const q = lemma.tensor(new Float32Array(256), [1, 1, 1, 256]);
    return lemma.polyAttention.forward(q, q, q, { degree: 12 });
  }, RANGE],
  ['tensor of shape [2^20, 2^20, 2^20]', () => lemma.tensor(new Float32Array(0), [2 ** 20, 2 ** 20, 2 ** 20]), RANGE],
  ['looped.preset with d = 10^6 (8 TB of weights)', () => lemma.looped.preset('tanh2', { d: 1e6 }), RANGE_ERROR],
  ['nn.attentionStack with dModel 10^6', () => lemma.nn.attentionStack({ layers: 1, heads: 1, dModel: 1e6 }), RANGE_ERROR],
];

for (const [name, call, want] of CASES) {
  test.serial(`huge request refused before allocating: ${name}`, async (t) => {
    const rss0 = process.memoryUsage().rss;
    const t0 = performance.now();
    let error: unknown;
    try {
      await call();
    } catch (e) {
      error = e;
    }
    const ms = performance.now() - t0;
    const jump = process.memoryUsage().rss - rss0;
    const e = error as { name?: string; code?: string; message?: string } | undefined;
    t.log(`${e?.name} ${e?.code ?? ''} in ${ms.toFixed(0)} ms, RSS ${jump >= 0 ? '+' : ''}${(jump / MB).toFixed(1)} MB: ${e?.message?.slice(0, 140)}`);
    if ('code' in want) {
      t.true(error instanceof lemma.LemmaError, 'a LemmaError');
      t.is(e?.code, want.code);
    } else {
      t.true(error instanceof RangeError, 'a RangeError (an option above its documented maximum)');
    }
    t.true(jump < JUMP, `RSS jumped ${(jump / MB).toFixed(0)} MB`);
  });
}

test.serial('the process is alive and lemma still works after every refusal', async (t) => {
  const q = lemma.tensor(new Float32Array(64).fill(0.5), [1, 1, 8, 8]);
  const r = await lemma.attention.forward(q, q, q);
  t.is(r.out.data.length, 64);
  t.true(r.out.data.every((x) => Math.abs(x - 0.5) < 1e-6));
  t.is(lemma.dp.discreteLaplace(1, 4).length, 4);
});

const cuda = lemma.cudaAvailable();
(cuda ? test.serial : test.serial.skip)(`cuda.upload of a huge tensor gives ERR_CUDA_OOM or ERR_RANGE${cuda ? '' : ` (skipped: ${lemma.capabilities().cuda.reason || 'no usable GPU'})`}`, async (t) => {
  // 2^32 − 1 fp32 elements (16 GiB) are valid host-side only when allocated; use a shape that
  // claims far more than any GPU holds against a tiny buffer: refused by the shape check.
  const e = await t.throwsAsync(lemma.cuda.upload({ data: new Float32Array(0), shape: [2 ** 20, 2 ** 20, 2 ** 20] }));
  t.true(e instanceof lemma.LemmaError && ['ERR_RANGE', 'ERR_CUDA_OOM'].includes(e.code));
});
