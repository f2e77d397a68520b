/**
 * Long work (API.md): every long operation takes `signal` and `onProgress`. An abort rejects with
 * an AbortError (name 'AbortError', code 'ABORT_ERR', the reason as `cause`) once the native work
 * has stopped at its next task, and leaves objects usable; onProgress sees task counts that only
 * grow and end at done = total; bad values are TypeErrors; a throwing onProgress stops the call
 * and its error comes back from the call.
 */
import test from 'ava';
import * as lemma from '../lib/index.js';
import type { WorkProgress } from '../lib/long-work.js';

/** Deterministic values in [−0.5, 0.5) (a hash of the index; data only). */
const hashed = (i: number, seed: number) => {
  const x = Math.sin(i * 12.9898 + seed * 78.233) * 43758.5453;
  return x - Math.floor(x) - 0.5;
};
function f32(shape: number[], seed: number) {
  const n = shape.reduce((a, b) => a * b, 1);
  return lemma.tensor(Float32Array.from({ length: n }, (_, i) => hashed(i, seed)), shape);
}
function f64(shape: number[], seed: number) {
  const n = shape.reduce((a, b) => a * b, 1);
  return lemma.tensor(Float64Array.from({ length: n }, (_, i) => hashed(i, seed)), shape);
}

type Opts = { signal?: AbortSignal; onProgress?: (p: WorkProgress) => void };
interface Case {
  /** Runs the operation with these options at a size that takes a while (≥ ~0.3 s here). */
  big: (o: Opts) => Promise<unknown>;
  /** The same operation at a tiny size. */
  small: (o: Opts) => Promise<unknown>;
  /**
   * Many fine-grained tasks over well over 100 ms here, so a report mid-run is sure: the
   * mid-run abort is checked. (Operations with a task per head, or too fast, are checked by
   * the abort at the start only.)
   */
  midRun?: boolean;
}

// Sizes: big enough for many parallel tasks and a few hundred ms on 2 cores.
const qBig = f32([1, 4, 2048, 64], 1), kBig = f32([1, 4, 2048, 64], 2), vBig = f32([1, 4, 2048, 64], 3);
const qHuge = f32([1, 16, 4096, 64], 11), kHuge = f32([1, 16, 4096, 64], 12);
const qS = f32([1, 1, 8, 8], 4), kS = f32([1, 1, 8, 8], 5), vS = f32([1, 1, 8, 8], 6);
const fwdBig = lemma.attention.forwardSync(qBig, kBig, vBig);
const fwdS = lemma.attention.forwardSync(qS, kS, vS);
const ptsBig = lemma.tensor(Float64Array.from({ length: 400_000 * 4 }, (_, i) => (Math.sin(i) + 1) / 2), [400_000, 4]);
// The build runs one task per coordinate: 16 of them.
const ptsWide = lemma.tensor(Float64Array.from({ length: 200_000 * 16 }, (_, i) => (Math.sin(i * 0.37) + 1) / 2), [200_000, 16]);
const queries = lemma.tensor(Float64Array.from({ length: 1_600_000 * 4 }, (_, i) => (Math.cos(i) + 1) / 2), [1_600_000, 4]);
const qLong = f32([1, 16, 8192, 64], 13);
const ptsS = lemma.tensor(Float64Array.from({ length: 64 }, (_, i) => (Math.sin(i) + 1) / 2), [32, 2]);
const kde = { epsilon: 1, range: 1, seed: 1, insecureDeterministic: true } as const;
// Objects shared by the cases that use one (built once; the abort tests show they stay usable).
const once = <T>(make: () => Promise<T>) => {
  let p: Promise<T> | undefined;
  return () => (p ??= make());
};
const bigIndex = once(() => lemma.sparse.keyIndex(kBig, vBig, { order: 'cluster' }));
const smallIndex = once(() => lemma.sparse.keyIndex(kS, vS));
const bigKde = once(() => lemma.dp.l1Kde(ptsBig, { ...kde, levels: 16 }));

const CASES: Record<string, Case> = {
  'attention.forward': {
    midRun: true,
    big: (o) => lemma.attention.forward(qHuge, kHuge, kHuge, o),
    small: (o) => lemma.attention.forward(qS, kS, vS, o),
  },
  'attention.backward': {
    big: (o) => lemma.attention.backward({ q: qBig, k: kBig, v: vBig, out: fwdBig.out, lse: fwdBig.lse, dOut: qBig }, o),
    small: (o) => lemma.attention.backward({ q: qS, k: kS, v: vS, out: fwdS.out, lse: fwdS.lse, dOut: qS }, o),
  },
  'sparse.keyIndex': {
    big: async (o) => (await lemma.sparse.keyIndex(kBig, vBig, { order: 'cluster', ...o })).dispose(),
    small: async (o) => (await lemma.sparse.keyIndex(kS, vS, o)).dispose(),
  },
  'sparse KeyIndex.attend': {
    midRun: true,
    big: async (o) => (await bigIndex()).attend(qLong, { threshold: -1, ...o }),
    small: async (o) => (await smallIndex()).attend(qS, { threshold: 0, ...o }),
  },
  'sparse KeyIndex.backward': {
    midRun: true,
    big: async (o) => (await bigIndex()).backward(qBig, qBig, { threshold: -1, ...o }),
    small: async (o) => (await smallIndex()).backward(qS, qS, { threshold: 0, ...o }),
  },
  'polyAttention.forward': {
    big: (o) => lemma.polyAttention.forward(qBig, kBig, vBig, { degree: 2, scale: 0.05, ...o }),
    small: (o) => lemma.polyAttention.forward(qS, kS, vS, { degree: 2, ...o }),
  },
  'dp.l1Kde (the build)': {
    big: async (o) => (await lemma.dp.l1Kde(ptsWide, { ...kde, levels: 12, ...o })).dispose(),
    small: async (o) => (await lemma.dp.l1Kde(ptsS, { ...kde, levels: 4, ...o })).dispose(),
  },
  'dp PrivateL1Kde.query': {
    midRun: true,
    big: async (o) => (await bigKde()).query(queries, o),
    small: async (o) => (await bigKde()).query({ data: new Float64Array(8), shape: [2, 4] }, o),
  },
  'polytope.johnEllipsoid': {
    midRun: true,
    big: (o) => lemma.polytope.johnEllipsoid(f64([20_000, 24], 7), { epsilon: 0.01, ...o }),
    small: (o) => lemma.polytope.johnEllipsoid([[1, 0], [0, 1], [1, 1]], o),
  },
  'nn.attentionStack forward': {
    midRun: true,
    big: async (o) => {
      using stack = lemma.nn.attentionStack({ layers: 6, heads: 4, dModel: 128, seed: 1 });
      return stack.forward(f32([2, 512, 128], 8), o);
    },
    small: async (o) => {
      using stack = lemma.nn.attentionStack({ layers: 2, heads: 1, dModel: 8, seed: 1 });
      return stack.forward(f32([1, 4, 8], 8), o);
    },
  },
};

for (const [name, c] of Object.entries(CASES)) {
  test(`${name}: an aborted signal rejects with an AbortError before any work`, async (t) => {
    const reason = new Error('stop');
    const e = await t.throwsAsync(c.small({ signal: AbortSignal.abort(reason) }), { name: 'AbortError', message: /was aborted$/ });
    t.is((e as { code?: string }).code, 'ABORT_ERR');
    t.is((e as Error).cause, reason);
  });

  test.serial(`${name}: progress grows to done = total; an abort as the work starts stops it at its first check`, async (t) => {
    // A whole run reports counts that only grow and end complete.
    const seen: WorkProgress[] = [];
    await c.big({ onProgress: (p) => seen.push(p) });
    t.true(seen.length >= 1);
    for (let i = 1; i < seen.length; i++) t.true(seen[i].done >= seen[i - 1].done && seen[i].total >= seen[i - 1].total);
    const last = seen[seen.length - 1];
    t.true(last.total > 0);
    t.is(last.done, last.total);
    t.is(last.fraction, 1);
    // Abort right after the call is made: the native work stops at its first check (the tasks
    // already running finish), so the report made after it stopped shows work left undone.
    const ac = new AbortController();
    const after: WorkProgress[] = [];
    const p = c.big({ signal: ac.signal, onProgress: (q) => after.push(q) });
    ac.abort();
    await t.throwsAsync(p, { name: 'AbortError' });
    // No report at all: refused before the native work began.
    const end = after[after.length - 1] ?? { done: 0, total: 0 };
    t.log(`whole run ${last.total} tasks; aborted at the start: ${end.done} of ${end.total} done`);
    t.true(end.done < last.total, `${end.done} of ${last.total} tasks done`);
    // Everything is usable afterwards.
    await t.notThrowsAsync(c.small({}));
  });

  if (c.midRun) {
    test.serial(`${name}: an abort mid-run stops the native work at its next task`, async (t) => {
      const whole: WorkProgress[] = [];
      await c.big({ onProgress: (p) => whole.push(p) });
      const total = whole[whole.length - 1].total;
      const ac = new AbortController();
      const during: WorkProgress[] = [];
      await t.throwsAsync(c.big({
        signal: ac.signal,
        onProgress: (p) => { during.push(p); if (p.done > 0) ac.abort(); },
      }), { name: 'AbortError' });
      const at = during.find((p) => p.done > 0)!;
      const end = during[during.length - 1];
      t.log(`aborted at ${at.done} of ${at.total} tasks issued, stopped at ${end.done}; a whole run does ${total}`);
      // The tasks running at the abort finish; the rest (and any later phase) are skipped.
      t.true(end.done < total, `stopped at ${end.done} of ${total} tasks`);
      await t.notThrowsAsync(c.small({}));
    });
  }

  test(`${name}: wrong signal / onProgress types are TypeErrors; a throwing onProgress rejects with its error`, async (t) => {
    await t.throwsAsync(c.small({ signal: {} as never }), { instanceOf: TypeError, message: /^Expected an AbortSignal for options\.signal/ });
    await t.throwsAsync(c.small({ onProgress: 1 as never }), { instanceOf: TypeError, message: /^Expected a function for options\.onProgress/ });
    const mine = new Error('from my callback');
    await t.throwsAsync(c.big({ onProgress: () => { throw mine; } }), { is: mine });
  });
}
