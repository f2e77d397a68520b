/**
 * Shared fixtures of the leak, concurrency and fault suites (test/91–93 and their child/worker
 * scripts under test/fixtures/): one representative call per public operation at tiny size, and
 * one create-use-dispose cycle per stateful object. Every call is deterministic (fixed seeds,
 * dp with insecureDeterministic), so its `digest` can be compared across calls, threads and
 * processes bit for bit.
 */
import { createHash } from 'node:crypto';
import * as lemma from '../../lib/index.js';

/** Deterministic uniform numbers in [-1, 1) (LCG; data only, not a statistical generator). */
export function numbers(n: number, seed: number): number[] {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}
export const f32 = (shape: number[], seed: number) => lemma.tensor(Float32Array.from(numbers(shape.reduce((a, b) => a * b, 1), seed)), shape);
export const f64 = (shape: number[], seed: number) => lemma.tensor(Float64Array.from(numbers(shape.reduce((a, b) => a * b, 1), seed)), shape);

/** Fields that measure time or wall-clock moments: left out of digests. */
const TIMING = new Set(['stepsPerSecond', 'elapsedSeconds', 'stepSeconds', 'seconds', 'at', 'wallSeconds', 'ms']);

/** A stable SHA-256 of any result: typed arrays by their bytes, objects by sorted keys; timing fields skipped. */
export function digest(value: unknown): string {
  const h = createHash('sha256');
  const seen = new Set<unknown>();
  const walk = (v: unknown): void => {
    if (ArrayBuffer.isView(v)) {
      h.update(`<${v.constructor.name}:${v.byteLength}>`);
      h.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    } else if (Array.isArray(v)) {
      h.update('[');
      v.forEach(walk);
      h.update(']');
    } else if (v !== null && typeof v === 'object') {
      if (seen.has(v)) return;
      seen.add(v);
      h.update('{');
      for (const k of Object.keys(v).sort()) {
        if (TIMING.has(k)) continue;
        const x = (v as Record<string, unknown>)[k];
        if (typeof x === 'function') continue;
        h.update(`${k}:`);
        walk(x);
      }
      h.update('}');
    } else if (typeof v === 'number') {
      h.update(Object.is(v, -0) ? '-0' : String(v));
    } else {
      h.update(`${typeof v}:${String(v)}`);
    }
  };
  walk(value);
  return h.digest('hex');
}

// ---------------------------------------------------------------------------- tiny inputs
const q = f32([1, 2, 16, 8], 1);
const k = f32([1, 2, 16, 8], 2);
const v = f32([1, 2, 16, 8], 3);
const dOut = f32([1, 2, 16, 8], 4);
const qPoly = f32([1, 1, 8, 4], 5);
const kPoly = f32([1, 1, 8, 4], 6);
const vPoly = f32([1, 1, 8, 4], 7);
const dPoly = f32([1, 1, 8, 4], 8);
const square = [[1, 0], [-1, 0], [0, 1], [0, -1], [1, 1]];
const squareB = [1, 1, 1, 1, 1.5];
const X = f64([16, 4], 9);
const W = f64([4, 4], 10);
const mask = lemma.tensor(Float64Array.from({ length: 16 }, (_, i) => (i % 3 === 0 ? 0 : 1)), [4, 4]);
const pts = lemma.tensor(Float64Array.from(numbers(32 * 2, 11), (x) => (x + 1) / 2), [32, 2]);
const Y = lemma.tensor(Float64Array.from(numbers(4 * 2, 12), (x) => (x + 1) / 2), [4, 2]);
const kde = { epsilon: 1, range: 1, levels: 4, seed: 5, insecureDeterministic: true } as const;
const looped = lemma.looped.preset('tanh2', { d: 4, eta: 0.1, seed: 3 });
const x0 = f64([2, 4], 13);
const subleqSrc = lemma.looped.subleq.assemble(lemma.looped.subleq.programs.multiply);
const subleqProgram = lemma.looped.subleq.compile(subleqSrc, { layers: 9 });
const stackX = f32([1, 4, 8], 14);
const stackDy = f32([1, 4, 8], 15);

export type Op = () => Promise<unknown>;

/**
 * One representative call per public operation, tiny. Each resolves to the part of the result
 * that must be the same on every run (the digest ignores timing fields).
 */
export const OPERATIONS: Record<string, Op> = {
  'attention.forward': async () => lemma.attention.forward(q, k, v),
  'attention.forwardSync': async () => lemma.attention.forwardSync(q, k, v, { causal: true }),
  'attention.backward': async () => {
    const f = lemma.attention.forwardSync(q, k, v);
    return lemma.attention.backward({ q, k, v, out: f.out, lse: f.lse, dOut });
  },
  'attention.backwardSync': async () => {
    const f = lemma.attention.forwardSync(q, k, v);
    return lemma.attention.backwardSync({ q, k, v, out: f.out, lse: f.lse, dOut });
  },
  'attention.ioCost': async () => lemma.attention.ioCost({ n: 64, d: 8, cacheWords: 1024, algorithm: 'flash', pass: 'forward' }),
  'sparse.reluAttention': async () => lemma.sparse.reluAttention(q, k, v, { threshold: 0.1, blockSize: 16 }),
  'sparse.softmaxTopAttention': async () => lemma.sparse.softmaxTopAttention(q, k, v, { keep: 4, blockSize: 16 }),
  'sparse.reluAttentionBackward': async () => lemma.sparse.reluAttentionBackward(q, k, v, dOut, { threshold: 0.1, blockSize: 16 }),
  'polyAttention.forward': async () => {
    const r = await lemma.polyAttention.forward(qPoly, kPoly, vPoly, { degree: 2 });
    return { out: r.out, beta: r.beta };
  },
  'polyAttention.backward': async () => {
    const r = await lemma.polyAttention.forward(qPoly, kPoly, vPoly, { degree: 2, causal: true });
    return lemma.polyAttention.backward(r.ctx, dPoly);
  },
  'polyAttention.error': async () => lemma.polyAttention.error(qPoly, kPoly, vPoly, { degree: 2, seed: 1 }),
  'polytope.analyticCenter': async () => {
    const body = lemma.polytope.halfspaces(square, squareB);
    try {
      return await body.analyticCenter();
    } finally {
      body.dispose();
    }
  },
  'polytope.lewisWeights': async () => {
    const body = lemma.polytope.halfspaces(square, squareB);
    try {
      return await lemma.polytope.lewisWeights(body, [0, 0], { p: 4 });
    } finally {
      body.dispose();
    }
  },
  'polytope.johnEllipsoid': async () => lemma.polytope.johnEllipsoid(square, { epsilon: 0.1, seed: 1 }),
  'sample.dikin': async () => {
    const body = lemma.polytope.halfspaces(square, squareB);
    try {
      return await lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 2, steps: 8, burnIn: 2, seed: 7 });
    } finally {
      body.dispose();
    }
  },
  'sample.dikin(spectrahedron)': async () => {
    const disk = lemma.polytope.spectrahedron([[[1, 0], [0, -1]], [[0, 1], [1, 0]]], [[-1, 0], [0, -1]]);
    try {
      return await lemma.sample.dikin(disk, lemma.sample.gaussian([0, 0], 1), { chains: 1, steps: 6, burnIn: 1, seed: 8 });
    } finally {
      disk.dispose();
    }
  },
  'dp.discreteLaplace': async () => lemma.dp.discreteLaplace(3, 16, { seed: 1, insecureDeterministic: true }),
  'dp.l1Kde': async () => {
    const s = await lemma.dp.l1Kde(pts, kde);
    try {
      return { query: await s.query(Y), one: s.queryOne([0.5, 0.5]), std: s.errorStd([0.5, 0.5]), release: s.release() };
    } finally {
      s.dispose();
    }
  },
  'dp.baselineL1Kde': async () => {
    const s = await lemma.dp.baselineL1Kde(pts, kde);
    try {
      return { query: await s.query(Y), one: s.queryOne([0.5, 0.5]), std: s.errorStd([0.5, 0.5]) };
    } finally {
      s.dispose();
    }
  },
  'nn.attentionStack': async () => {
    const stack = lemma.nn.attentionStack({ layers: 1, heads: 2, dModel: 8, mlp: 8, seed: 1 });
    try {
      const f = await stack.forward(stackX);
      const g = await stack.backward(f.tape, stackDy);
      return { y: f.y, g };
    } finally {
      stack.dispose();
    }
  },
  'prune.objective': async () => lemma.prune.objective({ X, W, mask }, { tau: 0.5 }),
  'prune.objectiveSync': async () => lemma.prune.objectiveSync({ X, W, mask }, { tau: 0.5 }),
  'prune.attention': async () => lemma.prune.attention({ X, W }, { steps: 3, seed: 1 }),
  'looped.iterate': async () => lemma.looped.iterate({ W: looped.W, b: looped.b, activation: 'tanh2', x0, maxSteps: 20 }),
  'looped.certifyBox': async () => lemma.looped.certifyBox({ W: looped.W, b: looped.b, activation: 'tanh2', lo: -1, hi: 1 }),
  'looped.certifyBoxSync': async () => lemma.looped.certifyBoxSync({ W: looped.W, b: looped.b, activation: 'tanh2', lo: -1, hi: 1 }),
  'looped.enumerateFixedPoints': async () => lemma.looped.enumerateFixedPoints({ ...looped, delta: 0.05, samples: 16, seed: 1 }),
  'looped.subleq.run': async () => lemma.looped.subleq.run(subleqProgram, { steps: 20, trace: 'end' }),
  'looped.subleq.interpret': async () => lemma.looped.subleq.interpret(subleqProgram.program, subleqProgram.memory, 20, {
    wordBits: subleqProgram.geometry.wordBits, programSlots: subleqProgram.geometry.programSlots,
  }),
  'games.machinePenalty.play': async () => lemma.games.machinePenalty.play(lemma.games.machinePenalty.fair(), lemma.games.machinePenalty.selfish(), { seed: 1, rounds: 4 }),
  'games.machinePenalty.simulate': async () => lemma.games.machinePenalty.simulate({ conditions: ['fair', 'selfish'], perCondition: 2, rounds: 2, seed: 2 }),
};

/** The operations whose async twin the concurrency suite overlaps (the *Sync ones block the loop anyway). */
export const ASYNC_OPERATIONS = Object.keys(OPERATIONS).filter((n) => !n.endsWith('Sync') && n !== 'attention.ioCost' && n !== 'looped.subleq.interpret');

const kvSmall = { k: f32([1, 1, 16, 4], 20), v: f32([1, 1, 16, 4], 21) };
const qSmall = f32([1, 1, 2, 4], 22);
const kvNew = { k: f32([1, 1, 1, 4], 23), v: f32([1, 1, 1, 4], 24) };

/**
 * One create-use-dispose cycle of every stateful object, synchronous where the API allows it
 * (cheap enough for 10,000 cycles), async otherwise.
 */
export const STATEFUL: Record<string, () => unknown | Promise<unknown>> = {
  'sparse.KeyIndex': () => {
    const ix = lemma.sparse.keyIndexSync(kvSmall.k, kvSmall.v, { blockSize: 16 });
    ix.appendSync(kvNew.k, kvNew.v);
    const r = ix.attendSync(qSmall, { threshold: 0 });
    ix.dispose();
    return r.out.data[0];
  },
  'polytope.ConvexBody': () => {
    const body = lemma.polytope.halfspaces(square, squareB);
    const inside = body.contains([0.1, 0.2]);
    body.dispose();
    return inside;
  },
  'polytope.ConvexBody+analyticCenter': async () => {
    const body = lemma.polytope.halfspaces(square, squareB);
    const c = await body.analyticCenter();
    body.dispose();
    return c[0];
  },
  'sample.dikin sampler': async () => {
    const body = lemma.polytope.halfspaces(square, squareB);
    const r = await lemma.sample.dikin(body, lemma.sample.uniform(), { chains: 1, steps: 2, burnIn: 0, seed: 1, start: [0, 0] });
    body.dispose();
    return r.samples.data[0];
  },
  'dp.PrivacyAccountant': () => {
    const acc = lemma.dp.accountant({ epsilon: 1 });
    acc.spend(0.5, 'x');
    return acc.remaining;
  },
  'dp.PrivateL1Kde': async () => {
    const s = await lemma.dp.l1Kde(pts, { ...kde, levels: 2 });
    const one = s.queryOne([0.5, 0.5]);
    s.dispose();
    return one;
  },
  'polyAttention context': async () => {
    const r = await lemma.polyAttention.forward(qPoly, kPoly, vPoly, { degree: 2 });
    const g = await lemma.polyAttention.backward(r.ctx, dPoly);
    return g.dq.data[0];
  },
  'nn.AttentionStack+tape': async () => {
    const stack = lemma.nn.attentionStack({ layers: 1, heads: 1, dModel: 4, mlp: 4, seed: 1 });
    const x = f32([1, 2, 4], 30);
    const f = await stack.forward(x);
    const g = await stack.backward(f.tape, x);
    stack.dispose();
    return g.dx.data[0];
  },
  'looped network (iterate)': async () => {
    const r = await lemma.looped.iterate({ W: looped.W, b: looped.b, activation: 'tanh2', x0, maxSteps: 3 });
    return r;
  },
  'looped.subleq compiled program': async () => {
    const c = lemma.looped.subleq.compile({ program: [[0, 1, 0], [1, 1, 1]], memory: [3, 5] }, { programSlots: 2, layers: 9 });
    const r = await lemma.looped.subleq.run(c, { steps: 2 });
    return r;
  },
};
