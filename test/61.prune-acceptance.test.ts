/**
 * lemma.prune.attention (spec attention-pruning.md §2.3, §2.5): AP-2 (Armijo: the objective never
 * increases, 500 steps, both stages), AP-3 (the headline: Wanda support + 300 refit steps cut
 * ‖S(W') − T‖_F by ≥ 30 % against binary magnitude and binary Wanda, n = 128, d = 64, seeds 0–4),
 * exact pattern counts for every method, the seeded tie-break, dtype and Wq/Wk inputs, causal,
 * progress, abort, that the call yields to the event loop, and the example's .npy files.
 */
import path from 'node:path';
import test from 'ava';
import * as lemma from '../lib/index.js';
import { maxAbsDiff, normals, problem, rowCounts } from './helpers/prune.js';

function nonIncreasing(h: Float64Array): boolean {
  for (let i = 1; i < h.length; i++) if (!(h[i] <= h[i - 1])) return false;
  return true;
}

test('AP-2: with Armijo steps the objective is non-increasing over 500 steps (STAGE A and STAGE B)', async (t) => {
  const inp = problem(24, 12, 101);
  const b = await lemma.prune.attention(inp, { method: 'refit', steps: 500, tau: 0.5 });
  t.log(`refit: ${b.stepsDone} steps, ½‖S−T‖² ${b.history[0].toExponential(3)} → ${b.history[b.history.length - 1].toExponential(3)}`);
  t.is(b.history.length, b.stepsDone + 1);
  t.true(b.stepsDone >= 100, 'the refit made progress for at least 100 steps');
  t.true(nonIncreasing(b.history));
  t.true(b.history[b.history.length - 1] < 0.8 * b.history[0]);
  t.is(b.objective, b.history[b.history.length - 1]);
  const a = await lemma.prune.attention(inp, { method: 'relaxed-mask', selectSteps: 500, steps: 50, tau: 0.5 });
  t.is(a.selectHistory.length, a.selectStepsDone + 1);
  t.is(a.selectStepsDone, 500);
  t.true(nonIncreasing(a.selectHistory));
  t.true(nonIncreasing(a.history));
  t.log(`relaxed-mask STAGE A: ${a.selectHistory[0].toExponential(3)} → ${a.selectHistory[500].toExponential(3)}`);
});

test('AP-3: Wanda support + 300 refit steps cut ‖S(W′) − T‖_F by ≥ 30 % vs binary magnitude and Wanda (n = 128, d = 64, seeds 0–4)', async (t) => {
  const rows: string[] = [];
  for (let seed = 0; seed < 5; seed++) {
    const inp = problem(128, 64, 1000 + seed); // X ~ N(0, 1), W ~ N(0, 1/d)
    const o = { tau: 1 / 8, sparsity: 0.5, pattern: 'row' as const, seed };
    const mag = await lemma.prune.attention(inp, { ...o, method: 'magnitude' });
    const wan = await lemma.prune.attention(inp, { ...o, method: 'wanda' });
    const t0 = performance.now();
    const ref = await lemma.prune.attention(inp, { ...o, method: 'refit', steps: 300 });
    const ms = performance.now() - t0;
    const cutMag = 1 - ref.attnError / mag.attnError;
    const cutWan = 1 - ref.attnError / wan.attnError;
    rows.push(`seed ${seed}: magnitude ${mag.attnError.toFixed(4)}, wanda ${wan.attnError.toFixed(4)}, refit ${ref.attnError.toFixed(4)} (${ref.stepsDone} steps, ${(ms / ref.stepsDone).toFixed(1)} ms/step): −${(100 * cutMag).toFixed(1)} % vs magnitude, −${(100 * cutWan).toFixed(1)} % vs wanda`);
    t.is(ref.supportError, wan.attnError, 'refit starts from the Wanda support');
    t.true(cutMag >= 0.3, rows[rows.length - 1]);
    t.true(cutWan >= 0.3, rows[rows.length - 1]);
  }
  for (const r of rows) t.log(r);
});

const methods = [
  ['magnitude', {}],
  ['wanda', {}],
  ['refit', { steps: 5 }],
  ['relaxed-mask', { selectSteps: 5, steps: 5 }],
] as const;

for (const [method, extra] of methods) {
  test(`exact counts for every pattern: ${method}`, async (t) => {
    const d = 12;
    const inp = problem(10, d, 201);
    for (const [pattern, sparsity, perRow, total] of [
      ['row', 0.5, 6, 72], ['row', 0.3, 9, 108], ['row', 0.9, 2, 24], ['row', 0, 12, 144],
      ['global', 0.5, null, 72], ['global', 0.7, null, 44], ['2:4', 0.5, 6, 72],
    ] as const) {
      const r = await lemma.prune.attention(inp, { method, pattern, sparsity, tau: 0.3, ...extra });
      const mask = r.mask.data;
      t.true(mask.every((m) => m === 0 || m === 1), 'the mask is binary');
      t.is(mask.reduce((a, b) => a + b, 0), total, `${pattern} ${sparsity}`);
      if (perRow !== null) t.deepEqual(rowCounts(mask, d), new Array(d).fill(perRow), `${pattern} ${sparsity}`);
      if (pattern === '2:4') {
        for (let k = 0; k < d * d; k += 4) t.is(mask[k] + mask[k + 1] + mask[k + 2] + mask[k + 3], 2);
      }
      for (let k = 0; k < d * d; k++) {
        if (mask[k] === 0) t.is(r.values.data[k], 0);
        t.is(r.W.data[k], r.values.data[k] * inp.W.data[k]);
      }
      t.is(r.realizedSparsity, 1 - total / (d * d));
      t.is(r.method, method);
      t.is(r.pattern, pattern);
      t.is(r.sparsity, sparsity);
      t.is(r.device, 'cpu');
    }
  });
}

test('row counts use d − ⌊s·d⌋ with a rounding guard (s = 0.7, d = 10 keeps 3, not 4)', async (t) => {
  const r = await lemma.prune.attention(problem(5, 10, 301), { method: 'magnitude', sparsity: 0.7 });
  t.deepEqual(rowCounts(r.mask.data, 10), new Array(10).fill(3));
  const g = await lemma.prune.attention(problem(5, 10, 301), { method: 'magnitude', sparsity: 0.07, pattern: 'global' });
  t.is(g.mask.data.reduce((a, b) => a + b, 0), 93);
});

test('magnitude keeps the largest |W| per row; wanda weighs them by the column norms of X', async (t) => {
  const d = 4;
  const W = { data: Float64Array.from([4, -3, 2, 1, 1, 2, -3, 4, 0.5, 0.4, 0.3, 0.2, 1, 1.1, -1.2, 1.3]), shape: [d, d] };
  // Column 0 of X is tiny, column 3 is large.
  const X = { data: Float64Array.from([0.001, 1, 1, 10, -0.001, 1, -1, 10, 0.001, -1, 1, -10]), shape: [3, d] };
  const mag = await lemma.prune.attention({ X, W }, { method: 'magnitude' });
  t.deepEqual([...mag.mask.data], [1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1]);
  const wan = await lemma.prune.attention({ X, W }, { method: 'wanda' });
  t.deepEqual([...wan.mask.data], [0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1]);
});

test('ties are broken by the seed, not by position; the same seed gives the same mask', async (t) => {
  const d = 16;
  const W = { data: Float64Array.from({ length: d * d }, (_, k) => ((k * 7) % 3 === 0 ? -1 : 1)), shape: [d, d] };
  const X = problem(8, d, 401).X;
  const masks = [];
  for (const seed of [0, 1, 0]) {
    const r = await lemma.prune.attention({ X, W }, { method: 'magnitude', seed });
    t.deepEqual(rowCounts(r.mask.data, d), new Array(d).fill(8));
    t.is(r.seed, seed);
    masks.push([...r.mask.data]);
  }
  t.deepEqual(masks[0], masks[2]);
  t.notDeepEqual(masks[0], masks[1]);
  // Not simply the first half of every row.
  t.notDeepEqual(masks[0].slice(0, d), [...new Array(8).fill(1), ...new Array(8).fill(0)]);
});

test('Float32Array in, Float32Array out; Wq, Wk [d, dh] give the same result as W = Wq·Wkᵀ with τ = 1/√dh', async (t) => {
  const d = 8;
  const dh = 2;
  const r = normals(501);
  const X = { data: Float32Array.from({ length: 20 * d }, () => r()), shape: [20, d] };
  const Wq = { data: Float32Array.from({ length: d * dh }, () => r()), shape: [d, dh] };
  const Wk = { data: Float32Array.from({ length: d * dh }, () => r()), shape: [d, dh] };
  const a = await lemma.prune.attention({ X, Wq, Wk }, { steps: 20 });
  t.true(a.W.data instanceof Float32Array);
  t.true(a.mask.data instanceof Float32Array);
  t.true(a.values.data instanceof Float32Array);
  t.is(a.tau, 1 / Math.sqrt(dh));
  const W = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) for (let c = 0; c < dh; c++) W[i * d + j] += Wq.data[i * dh + c] * Wk.data[j * dh + c];
  const b = await lemma.prune.attention({ X: { data: Float64Array.from(X.data), shape: X.shape }, W: { data: W, shape: [d, d] } }, { steps: 20, tau: 1 / Math.sqrt(dh) });
  t.true(b.W.data instanceof Float64Array);
  t.deepEqual([...a.mask.data], [...b.mask.data]);
  t.true(maxAbsDiff(a.values.data, Float32Array.from(b.values.data)) === 0);
  t.is(a.attnError, b.attnError);
});

test('causal: the refit also cuts the error of the causal attention matrix', async (t) => {
  const inp = problem(48, 16, 601);
  const wan = await lemma.prune.attention(inp, { method: 'wanda', causal: true });
  const ref = await lemma.prune.attention(inp, { method: 'refit', causal: true, steps: 100 });
  const check = await lemma.prune.objective({ ...inp, mask: ref.values }, { causal: true });
  t.is(check.attnError, ref.attnError);
  t.true(ref.attnError < 0.8 * wan.attnError, `${ref.attnError} vs ${wan.attnError}`);
});

test("relaxed-mask: STAGE A alone (steps: 0) returns the rounded binary support; score 'mask' vs 'masked-weight'", async (t) => {
  const inp = problem(32, 8, 701);
  const a = await lemma.prune.attention(inp, { method: 'relaxed-mask', selectSteps: 50, steps: 0 });
  t.is(a.history.length, 1);
  t.is(a.stepsDone, 0);
  t.deepEqual([...a.values.data], [...a.mask.data]);
  t.is(a.attnError, a.supportError);
  const b = await lemma.prune.attention(inp, { method: 'relaxed-mask', selectSteps: 50, steps: 30, score: 'mask' });
  t.true(b.attnError <= b.supportError);
  t.log(`STAGE A alone (|M∘W|) ${a.attnError.toFixed(4)}; (|M|) then 30 refit steps ${b.supportError.toFixed(4)} → ${b.attnError.toFixed(4)}`);
});

test('onProgress reports done / total / objective; the call yields to the event loop', async (t) => {
  const inp = problem(96, 32, 801);
  const seen: lemma.prune.PruneProgress[] = [];
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const r = await lemma.prune.attention(inp, { method: 'relaxed-mask', selectSteps: 40, steps: 40, onProgress: (p) => seen.push(p) });
  clearInterval(timer);
  t.true(ticks >= 3, `the interval fired ${ticks} times during the call`);
  t.true(seen.length >= 2);
  const last = seen[seen.length - 1];
  t.is(last.total, 80);
  t.is(last.done, 80);
  t.is(last.stage, 'refit');
  t.is(last.objective, r.objective);
  t.true(seen.some((p) => p.stage === 'select'));
  for (let i = 1; i < seen.length; i++) t.true(seen[i].done >= seen[i - 1].done);
});

test("abort: a pre-aborted signal and an abort mid-run reject with AbortError (code 'ABORT_ERR')", async (t) => {
  const inp = problem(64, 32, 901);
  const pre = new AbortController();
  pre.abort(new Error('stop'));
  const e1 = await t.throwsAsync(lemma.prune.attention(inp, { signal: pre.signal }), { name: 'AbortError', message: /^lemma\.prune\.attention was aborted$/ });
  t.is((e1 as Error & { code: string }).code, 'ABORT_ERR');
  t.is((e1 as Error).cause, pre.signal.reason);
  const ac = new AbortController();
  let steps = 0;
  const p = lemma.prune.attention(inp, { steps: 100000, signal: ac.signal, onProgress: (q) => { steps = q.done; if (q.done >= 3) ac.abort(); } });
  const e2 = await t.throwsAsync(p, { name: 'AbortError' });
  t.is((e2 as Error & { code: string }).code, 'ABORT_ERR');
  t.true(steps < 100000);
  const e3 = await t.throwsAsync(lemma.prune.objective({ ...inp, mask: { data: new Float64Array(32 * 32).fill(1), shape: [32, 32] } }, { signal: pre.signal }), { name: 'AbortError' });
  t.is((e3 as Error & { code: string }).code, 'ABORT_ERR');
});

test('examples/prune-layer: the committed fixtures load through lemma.io', (t) => {
  const dir = path.join(__dirname, '..', 'examples', 'prune-layer');
  const X = lemma.io.readNpySync(path.join(dir, 'X.npy'));
  const Wq = lemma.io.readNpySync(path.join(dir, 'Wq.npy'));
  t.deepEqual(X.shape, [256, 64]);
  t.deepEqual(Wq.shape, [64, 16]);
  t.true(X.data instanceof Float32Array);
  t.true(X.data.every(Number.isFinite));
});
