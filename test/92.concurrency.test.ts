/**
 * Concurrency and the event loop (issue 15, "Proof"): 100 overlapping async calls and calls from
 * worker_threads give the same results as serial calls, bit for bit; the event loop's delay stays
 * under 20 ms while a long call runs (perf_hooks.monitorEventLoopDelay); an abort mid-run
 * rejects with AbortError and leaves the object usable; process exit with calls in flight
 * neither hangs nor crashes. Every figure is logged.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import * as lemma from '../lib/index.js';
import { ASYNC_OPERATIONS, OPERATIONS, digest, f32, f64 } from './helpers/ops.js';

const OVERLAP = 100;

// ------------------------------------------------------------------ event-loop delay (serial: quiet)
/** Max and p99 of the event loop's delay (ms) while `work` runs, and how long it ran. */
async function loopDelayDuring(work: () => Promise<unknown>) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  h.disable();
  return { maxMs: h.max / 1e6, p99Ms: h.percentile(99) / 1e6, meanMs: h.mean / 1e6, ms };
}

const LIMIT_MS = 20;
const LONG_CALLS: Array<[string, () => Promise<unknown>]> = [
  ['attention.forward [1, 4, 8192, 64]', () => {
    const q = f32([1, 4, 8192, 64], 60);
    return lemma.attention.forward(q, q, q);
  }],
  ['sample.dikin 4 chains × 200,000 steps', () => {
    const body = lemma.polytope.halfspaces([[1, 0], [-1, 0], [0, 1], [0, -1]], [1, 1, 1, 1]);
    return lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 4, steps: 200_000, seed: 1 }).finally(() => body.dispose());
  }],
  ['sparse.keyIndex over 2^18 keys, order cluster', () => {
    const kv = f32([1, 1, 2 ** 18, 64], 61);
    return lemma.sparse.keyIndex(kv, kv, { order: 'cluster' }).then((ix) => ix.dispose());
  }],
];

for (const [name, work] of LONG_CALLS) {
  test.serial(`event-loop delay stays under ${LIMIT_MS} ms during ${name}`, async (t) => {
    // The bound is on the delay a long native call adds. On a busy shared machine the scheduler
    // alone can delay a timer now and then, so p99 is asserted (max is logged) and one retry is
    // allowed: a call that blocks the loop fails both runs.
    let r = await loopDelayDuring(work);
    t.log(`${name}: ran ${r.ms.toFixed(0)} ms; loop delay max ${r.maxMs.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, mean ${r.meanMs.toFixed(2)} ms`);
    if (r.p99Ms >= LIMIT_MS) {
      r = await loopDelayDuring(work);
      t.log(`retry: ran ${r.ms.toFixed(0)} ms; loop delay max ${r.maxMs.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms`);
    }
    t.true(r.ms >= 200, `the call must run long enough to measure (${r.ms.toFixed(0)} ms)`);
    t.true(r.p99Ms < LIMIT_MS, `p99 event-loop delay ${r.p99Ms.toFixed(2)} ms`);
  });
}

// ----------------------------------------------------------------------- 100 overlapping calls
for (const name of ASYNC_OPERATIONS) {
  test(`${OVERLAP} overlapping ${name} calls equal the serial result bit for bit`, async (t) => {
    const op = OPERATIONS[name];
    const serial = [digest(await op()), digest(await op())];
    t.is(serial[0], serial[1], 'serial calls agree');
    const overlapped = (await Promise.all(Array.from({ length: OVERLAP }, () => op()))).map(digest);
    t.deepEqual(overlapped.filter((d) => d !== serial[0]).length, 0);
  });
}

test(`${OVERLAP} overlapping calls on one shared object of each kind equal serial calls`, async (t) => {
  const cases: Array<[string, () => Promise<unknown>, () => void]> = [];
  const kv = { k: f32([1, 2, 256, 16], 70), v: f32([1, 2, 256, 16], 71) };
  const qq = f32([1, 4, 8, 16], 72);
  const index = await lemma.sparse.keyIndex(kv.k, kv.v, { blockSize: 16 });
  cases.push(['KeyIndex.attend', () => index.attend(qq, { threshold: 0.05 }), () => {}]);
  cases.push(['KeyIndex.attend softmax', () => index.attend(qq, { activation: 'softmax', keep: 32 }), () => {}]);
  cases.push(['KeyIndex.report', () => index.report(qq, { threshold: 0.2 }), () => {}]);
  cases.push(['KeyIndex.backward', () => index.backward(qq, qq, { threshold: 0.05 }), () => index.dispose()]);
  const body = lemma.polytope.halfspaces([[1, 0], [-1, 0], [0, 1], [0, -1], [1, 1]], [1, 1, 1, 1, 1.5]);
  cases.push(['ConvexBody.analyticCenter', () => body.analyticCenter(), () => {}]);
  cases.push(['polytope.lewisWeights', () => lemma.polytope.lewisWeights(body, [0.1, 0], { p: 3 }), () => {}]);
  cases.push(['sample.dikin on one body', () => lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 2, steps: 20, seed: 3 }), () => body.dispose()]);
  const pts = lemma.tensor(Float64Array.from({ length: 64 }, (_, i) => (i * 0.37) % 1), [32, 2]);
  const kde = await lemma.dp.l1Kde(pts, { epsilon: 1, range: 1, levels: 5, seed: 9, insecureDeterministic: true });
  cases.push(['PrivateL1Kde.query', () => kde.query(f64([8, 2], 73)), () => kde.dispose()]);
  const stack = lemma.nn.attentionStack({ layers: 2, heads: 2, dModel: 8, mlp: 8, seed: 2 });
  const x = f32([1, 6, 8], 74);
  cases.push(['AttentionStack.forward+backward', async () => {
    const f = await stack.forward(x);
    return { y: f.y, g: await stack.backward(f.tape, x) };
  }, () => stack.dispose()]);
  const poly = await lemma.polyAttention.forward(f32([1, 1, 8, 4], 75), f32([1, 1, 8, 4], 76), f32([1, 1, 8, 4], 77), { degree: 2 });
  cases.push(['polyAttention.backward on one context', () => lemma.polyAttention.backward(poly.ctx, f32([1, 1, 8, 4], 78)), () => {}]);
  for (const [name, call, done] of cases) {
    const serial = digest(await call());
    const overlapped = (await Promise.all(Array.from({ length: OVERLAP }, call))).map(digest);
    t.is(overlapped.filter((d) => d !== serial).length, 0, name);
    done();
  }
});

// ----------------------------------------------------------------------------- worker_threads
const FIXTURES = path.join(__dirname, 'fixtures');

function runWorker(names: string[], repeat: number): Promise<Array<{ name: string; digests: string[] }>> {
  return new Promise((resolve, reject) => {
    const w = new Worker(path.join(FIXTURES, 'ts-worker.js'), { workerData: { script: path.join(FIXTURES, 'ops-worker.ts'), names, repeat } });
    w.once('message', (m: { results?: Array<{ name: string; digests: string[] }>; error?: string }) => {
      void w.terminate();
      if (m.error) reject(new Error(m.error));
      else resolve(m.results!);
    });
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`worker exited with code ${code} before answering`)));
  });
}

test('3 worker_threads load lemma and compute the same results as the main thread', async (t) => {
  const names = ASYNC_OPERATIONS;
  const main = new Map<string, string>();
  for (const n of names) main.set(n, digest(await OPERATIONS[n]()));
  const t0 = performance.now();
  // The main thread keeps calling while the workers run: four JS threads share the native pools.
  const [a, b, c, again] = await Promise.all([
    runWorker(names, 2), runWorker(names, 2), runWorker([...names].reverse(), 1),
    Promise.all(names.map(async (n) => [n, digest(await OPERATIONS[n]())] as const)),
  ]);
  t.log(`${names.length} operations in 3 workers (+ the main thread) in ${(performance.now() - t0).toFixed(0)} ms`);
  for (const [n, d] of again) t.is(d, main.get(n)!, `main thread, ${n}`);
  for (const [i, rs] of [a, b, c].entries()) {
    t.is(rs.length, names.length);
    for (const r of rs) for (const d of r.digests) t.is(d, main.get(r.name)!, `worker ${i}, ${r.name}`);
  }
});

// ------------------------------------------------------------------------------ abort mid-run
const isAbort = { name: 'AbortError', code: 'ABORT_ERR' } as never;

/** Aborts `call(signal)` after `ms`; returns how long the abort took to settle. */
async function abortAfter(ms: number, call: (signal: AbortSignal) => Promise<unknown>) {
  const ac = new AbortController();
  const t0 = performance.now();
  const p = call(ac.signal);
  const timer = setTimeout(() => ac.abort(new Error('stop')), ms);
  try {
    return { result: await p, settledMs: performance.now() - t0, error: undefined as unknown };
  } catch (error) {
    return { result: undefined, settledMs: performance.now() - t0, error };
  } finally {
    clearTimeout(timer);
  }
}

const ABORT_CASES: Array<[string, (signal: AbortSignal) => Promise<unknown>, () => Promise<unknown>]> = (() => {
  const net = lemma.looped.preset('tanh2', { d: 16, eta: 0.1, seed: 3 });
  const X = f64([512, 64], 80);
  const W = f64([64, 64], 81);
  const mask = lemma.tensor(new Float64Array(64 * 64).fill(1), [64, 64]);
  const bigX = f64([4096, 64], 82);
  // A program that never halts (multiply halts after 26 steps: a run of 10^9 steps would end at
  // once, before any abort).
  const spin = lemma.looped.subleq.compile(lemma.looped.subleq.assemble(`; counts down forever
loop:   one, ctr, loop
        zero, zero, loop
.data
ctr:    0
one:    1
zero:   0`));
  const slow: lemma.games.machinePenalty.Agent = {
    message: () => ({ promise: 'none' }),
    decide: () => new Promise((resolve) => setTimeout(() => resolve('C'), 5)),
  } as never;
  const body = lemma.polytope.halfspaces([[1, 0], [-1, 0], [0, 1], [0, -1]], [1, 1, 1, 1]);
  return [
    // The body is shared by the aborted walk and the walk afterwards: it must stay usable.
    ['sample.dikin', (signal) => lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 4, steps: 10_000_000, seed: 1, signal }),
      () => lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 2, steps: 50, seed: 4 })],
    ['prune.attention', (signal) => lemma.prune.attention({ X, W }, { steps: 200, seed: 1, signal }), () => OPERATIONS['prune.attention']()],
    ['prune.objective', (signal) => lemma.prune.objective({ X: bigX, W, mask }, { signal }), () => OPERATIONS['prune.objective']()],
    ['looped.iterate', (signal) => lemma.looped.iterate({ W: net.W, b: net.b, activation: 'tanh2', x0: f64([4096, 16], 83), maxSteps: 100_000, tol: 0, earlyExit: false, history: false, signal }), () => OPERATIONS['looped.iterate']()],
    ['looped.enumerateFixedPoints', (signal) => lemma.looped.enumerateFixedPoints({ ...net, delta: 0.05, samples: 1_000_000, seed: 1, signal }), () => OPERATIONS['looped.enumerateFixedPoints']()],
    ['looped.subleq.run', (signal) => lemma.looped.subleq.run(spin, { steps: 1e9, signal }), () => OPERATIONS['looped.subleq.run']()],
    ['games.machinePenalty.simulate', (signal) => lemma.games.machinePenalty.simulate({ perCondition: 100_000, seed: 1, signal }), () => OPERATIONS['games.machinePenalty.simulate']()],
    ['games.machinePenalty.play', (signal) => lemma.games.machinePenalty.play(slow, slow, { rounds: 1000, seed: 1, signal }), () => OPERATIONS['games.machinePenalty.play']()],
  ];
})();

for (const [name, longCall, afterwards] of ABORT_CASES) {
  test(`abort mid-run: ${name} rejects with AbortError and works afterwards`, async (t) => {
    const before = digest(await afterwards());
    const r = await abortAfter(50, longCall);
    t.log(`${name}: settled ${r.settledMs.toFixed(0)} ms after the start (abort at 50 ms)`);
    t.like(r.error, isAbort as object);
    t.true(r.error instanceof Error && (r.error as Error).cause instanceof Error, 'the reason is the cause');
    t.is(digest(await afterwards()), before, 'the same call gives the same result after the abort');
  });
}

// ------------------------------------------------------------------ process exit with calls in flight
function runChild(args: string[], timeoutMs: number): Promise<{ code: number | null; signal: string | null; stderr: string; ms: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    execFile(process.execPath, ['--import', 'tsx', path.join(FIXTURES, 'exit-child.ts'), ...args], { timeout: timeoutMs, killSignal: 'SIGKILL' },
      (err, _stdout, stderr) => {
        const e = err as (Error & { code?: number | string; signal?: string }) | null;
        resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stderr, ms: performance.now() - t0 });
      });
  });
}

// 'worker' and 'worker-exit' tear a worker's environment down while a sparse.keyIndex build or a
// sample.dikin round is in flight: settling the job's promise then fails, which once aborted the
// process (SIGABRT from a Napi::Error thrown in a catch handler); native/napi/async_job.h now
// drops a settle that fails because the environment is going away.
for (const [mode, size] of [['exit', 'long'], ['return', 'short'], ['worker', 'long'], ['worker-exit', 'long']] as const) {
  test(`process exit with calls in flight (${mode}) neither hangs nor crashes`, async (t) => {
    const r = await runChild([mode, size], 60_000);
    t.log(`${mode}: exit code ${r.code}, signal ${r.signal}, ${r.ms.toFixed(0)} ms`);
    t.is(r.signal, null, 'no signal (a hang is killed by SIGKILL at 60 s, a crash dies by SIGSEGV/SIGABRT)');
    t.is(r.code, 0);
    t.is(r.stderr.trim(), '');
  });
}
