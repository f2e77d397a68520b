/**
 * lemma.polytope (halfspaces, contains, analyticCenter, lewisWeights, johnEllipsoid), lemma.sample
 * (targets, dikin: every sample inside the body), lemma.dp (accountant, discreteLaplace, l1Kde
 * query / dispose), lemma.games.machinePenalty.play (options).
 */
import fc from 'fast-check';
import * as lemma from '../../../lib/index.js';
import type { FuzzTarget } from '../harness.js';
import { NONFINITE, allFinite, ensure, expectCall } from '../oracle.js';
import type { Token } from '../oracle.js';
import { applyOptionMutation, optionMutationArb, seedArb, detach } from '../arbitraries.js';
import type { OptSpec, OptionMutation } from '../arbitraries.js';

/** A box [−r, r]^d as Ax ≤ b, in one of the accepted matrix forms. */
function box(d: number, r: number, form: 'rows' | 'tensor' | 'csr' | 'f32') {
  const rows: number[][] = [];
  for (let i = 0; i < d; i++) {
    const e = new Array(d).fill(0);
    e[i] = 1;
    rows.push(e, e.map((x) => -x));
  }
  const b = new Array(2 * d).fill(r);
  if (form === 'rows') return { A: rows, b };
  if (form === 'tensor') return { A: { data: Float64Array.from(rows.flat()), shape: [2 * d, d] }, b: Float64Array.from(b) };
  if (form === 'f32') return { A: { data: Float32Array.from(rows.flat()), shape: [2 * d, d] }, b: Float32Array.from(b) };
  const rowPtr = [0], colIdx: number[] = [], values: number[] = [];
  for (const row of rows) {
    row.forEach((x, j) => { if (x !== 0) { colIdx.push(j); values.push(x); } });
    rowPtr.push(colIdx.length);
  }
  return { A: { rowPtr, colIdx, values, shape: [2 * d, d] as [number, number] }, b };
}

type PolyMut =
  | 'valid' | 'bShort' | 'bNaN' | 'bString' | 'aNaN' | 'aNotMatrix' | 'raggedRows' | 'csrColOut' | 'csrRowPtrFraction'
  | 'csrRowPtrString' | 'emptyRows' | 'containsWrongLength' | 'containsNotArray' | 'disposedContains' | 'disposedCenter'
  | 'lewisSpectra' | 'lewisOutside' | 'lewisOption' | 'johnOption' | 'johnValid' | 'unbounded' | 'detachedB' | 'disposeDuringCenter';

interface PolyScenario { d: number; r: number; form: 'rows' | 'tensor' | 'csr' | 'f32'; mut: PolyMut; om: OptionMutation }

const LEWIS_OPTIONS: OptSpec = { p: { num: { min: 0, max: 1e6, exclMin: true } }, tolerance: { num: { min: 0, max: 1, exclMin: true } }, maxIterations: { int: [1, 1e7] } };
const JOHN_OPTIONS: OptSpec = { epsilon: { num: { min: 0, max: 1e3, exclMin: true } }, leverage: { enum: ['exact', 'sketch'] }, sketchSize: { int: [1, 100000] }, seed: { int: [0, Number.MAX_SAFE_INTEGER] }, maxIterations: { int: [1, 1e7] } };

const polyArb: fc.Arbitrary<PolyScenario> = fc.record({
  d: fc.integer({ min: 1, max: 4 }),
  r: fc.double({ min: 0.1, max: 10, noNaN: true }),
  form: fc.constantFrom<PolyScenario['form']>('rows', 'tensor', 'csr', 'f32'),
  mut: fc.constantFrom<PolyMut>('valid', 'bShort', 'bNaN', 'bString', 'aNaN', 'aNotMatrix', 'raggedRows', 'csrColOut', 'csrRowPtrFraction',
    'csrRowPtrString', 'emptyRows', 'containsWrongLength', 'containsNotArray', 'disposedContains', 'disposedCenter', 'lewisSpectra',
    'lewisOutside', 'lewisOption', 'johnOption', 'johnValid', 'unbounded', 'detachedB', 'disposeDuringCenter'),
  om: fc.oneof(optionMutationArb(LEWIS_OPTIONS), optionMutationArb(JOHN_OPTIONS)),
});

async function runPolytope(s: PolyScenario): Promise<void> {
  const { A, b } = box(s.d, s.r, s.form);
  const nf = NONFINITE.polytope as Token;
  const build = (a: unknown, bb: unknown, expect: Token[]) => expectCall('polytope.halfspaces', () => lemma.polytope.halfspaces(a as never, bb as never), { allow: expect });
  switch (s.mut) {
    case 'valid': {
      const body = await build(A, b, ['ok']) as lemma.polytope.ConvexBody;
      await expectCall('ConvexBody.analyticCenter', () => body.analyticCenter(), {
        allow: ['ok'], async: true,
        check: (c) => {
          const x = c as Float64Array;
          ensure(x.length === s.d && allFinite(x), 'centre not finite');
          for (const v of x) ensure(Math.abs(v) <= 1e-6 * s.r, `the centre of a centred box is ${v}, not 0`);
          ensure(body.contains(x), 'centre not inside');
        },
      });
      const out = new Array(s.d).fill(0);
      out[0] = s.r * 1.5;
      ensure(!body.contains(out), 'a point outside the box is contained');
      body.dispose();
      return;
    }
    case 'bShort': await build(A, Array.from(b).slice(1), ['ERR_SHAPE']); return;
    case 'bNaN': { const bb = Array.from(b); bb[0] = NaN; await build(A, bb, [nf]); return; }
    case 'bString': { const bb: unknown[] = Array.from(b); bb[0] = '1'; await build(A, bb, ['TypeError']); return; }
    case 'aNaN': { const rows = box(s.d, s.r, 'rows').A as number[][]; rows[0][0] = Infinity; await build(rows, b, [nf]); return; }
    case 'aNotMatrix': await build(5, b, ['TypeError']); return;
    case 'raggedRows': { const rows = (box(s.d, s.r, 'rows').A as number[][]).map((r) => r.slice()); rows[1] = [...rows[1], 0]; await build(rows, b, ['ERR_SHAPE']); return; }
    case 'emptyRows': await build({ data: new Float64Array(0), shape: [0, s.d] }, [], ['ERR_SHAPE']); return;
    case 'csrColOut': { const c = box(s.d, s.r, 'csr').A as { colIdx: number[] }; c.colIdx[0] = s.d; await build(c, b, ['RangeError']); return; }
    case 'csrRowPtrFraction': { const c = box(s.d, s.r, 'csr').A as { rowPtr: number[] }; c.rowPtr[1] = c.rowPtr[1] + 0.5; await build(c, b, ['RangeError']); return; }
    case 'csrRowPtrString': { const c = box(s.d, s.r, 'csr').A as { rowPtr: unknown[] }; c.rowPtr[1] = String(c.rowPtr[1]); await build(c, b, ['TypeError']); return; }
    case 'unbounded': {
      const body = lemma.polytope.halfspaces([[1, ...new Array(s.d - 1).fill(0)]], [1]);
      await expectCall('ConvexBody.analyticCenter', () => body.analyticCenter(), { allow: ['ERR_INFEASIBLE'], async: true });
      body.dispose();
      return;
    }
    case 'detachedB': {
      if (!(b instanceof Float64Array || b instanceof Float32Array)) return;
      const bb = b.slice();
      detach(bb);
      await build(A, bb, ['ERR_SHAPE']);
      return;
    }
    default: break;
  }
  const body = lemma.polytope.halfspaces(A as never, b as never);
  try {
    switch (s.mut) {
      case 'containsWrongLength': await expectCall('ConvexBody.contains', () => body.contains(new Array(s.d + 1).fill(0)), { allow: ['ERR_SHAPE'] }); return;
      case 'containsNotArray': await expectCall('ConvexBody.contains', () => body.contains('0' as never), { allow: ['TypeError'] }); return;
      case 'disposedContains': body.dispose(); await expectCall('ConvexBody.contains', () => body.contains(new Array(s.d).fill(0)), { allow: ['ERR_DISPOSED'] }); return;
      case 'disposedCenter': body.dispose(); body.dispose(); await expectCall('ConvexBody.analyticCenter', () => body.analyticCenter(), { allow: ['ERR_DISPOSED'], async: true }); return;
      case 'disposeDuringCenter': {
        const p = expectCall('ConvexBody.analyticCenter', () => body.analyticCenter(), { allow: ['ok', 'ERR_DISPOSED'], async: true, check: (c) => ensure(allFinite(c as Float64Array), 'garbage centre') });
        body.dispose();
        await p;
        return;
      }
      case 'lewisSpectra': {
        const disk = lemma.polytope.spectrahedron([[[1, 0], [0, -1]], [[0, 1], [1, 0]]], [[-1, 0], [0, -1]]);
        await expectCall('polytope.lewisWeights', () => lemma.polytope.lewisWeights(disk, [0, 0]), { allow: ['TypeError'], async: true });
        disk.dispose();
        return;
      }
      case 'lewisOutside': await expectCall('polytope.lewisWeights', () => lemma.polytope.lewisWeights(body, new Array(s.d).fill(s.r * 2)), { allow: ['RangeError'], async: true }); return;
      case 'lewisOption': {
        const { options, expect } = applyOptionMutation({}, s.om);
        const relevant = s.om.k !== 'wrongType' && s.om.k !== 'badValue' ? true : s.om.key in LEWIS_OPTIONS;
        await expectCall('polytope.lewisWeights', () => lemma.polytope.lewisWeights(body, new Array(s.d).fill(0), options as never), { allow: relevant ? expect : ['TypeError'], async: true });
        return;
      }
      case 'johnOption': {
        const { options, expect } = applyOptionMutation({}, s.om);
        const relevant = s.om.k !== 'wrongType' && s.om.k !== 'badValue' ? true : s.om.key in JOHN_OPTIONS;
        await expectCall('polytope.johnEllipsoid', () => lemma.polytope.johnEllipsoid(A as never, options as never), { allow: relevant ? expect : ['TypeError'], async: true });
        return;
      }
      case 'johnValid':
        await expectCall('polytope.johnEllipsoid', () => lemma.polytope.johnEllipsoid(A as never, { epsilon: 0.1 }), {
          allow: ['ok'], async: true,
          check: (r) => {
            const j = r as lemma.polytope.JohnResult;
            ensure(j.weights.length === 2 * s.d && allFinite(j.weights), 'bad weights');
            ensure(Math.abs(j.report.sumWeights - s.d) <= 1e-6 * s.d, `Σw = ${j.report.sumWeights}, not d = ${s.d}`);
          },
        });
        return;
    }
  } finally {
    body.dispose();
  }
}

// ---- sample -------------------------------------------------------------------------------------

const DIKIN_OPTIONS: OptSpec = {
  chains: { int: [1, 1 << 20] }, steps: { int: [0, 1e9] }, burnIn: { int: [0, 1e9] }, thin: { int: [1, 1e9] }, barrier: { enum: ['log', 'lewis'] },
  alpha: { num: { min: 0, exclMin: true } }, lazy: 'bool', seed: { int: [0, Number.MAX_SAFE_INTEGER] }, device: 'device', signal: 'signal', onProgress: 'fn', reference: 'bool',
};

interface SampleScenario { d: number; seed: number; chains: number; steps: number; target: 'uniform' | 'linear' | 'gaussian'; mut: { k: 'valid' } | { k: 'option'; m: OptionMutation } | { k: 'named'; name: string } }

const sampleArb: fc.Arbitrary<SampleScenario> = fc.record({
  d: fc.integer({ min: 1, max: 3 }), seed: fc.integer({ min: 0, max: 1e6 }), chains: fc.integer({ min: 1, max: 3 }), steps: fc.integer({ min: 0, max: 20 }),
  target: fc.constantFrom<'uniform' | 'linear' | 'gaussian'>('uniform', 'linear', 'gaussian'),
  mut: fc.oneof(
    { weight: 3, arbitrary: fc.constant({ k: 'valid' as const }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('option' as const), m: optionMutationArb(DIKIN_OPTIONS, { cuda: true }) }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('named' as const), name: fc.constantFrom('targetDim', 'notTarget', 'notBody', 'disposedBody', 'startOutside', 'startShape', 'linearEmpty', 'linearNaN', 'gaussianShape', 'gaussianNotPd', 'lipschitzMissing', 'absurdChains') }) },
  ),
});

async function runSample(s: SampleScenario): Promise<void> {
  const { A, b } = box(s.d, 1, 'rows');
  const body = lemma.polytope.halfspaces(A as never, b as never);
  const target = s.target === 'uniform' ? lemma.sample.uniform() : s.target === 'linear' ? lemma.sample.linear(new Array(s.d).fill(0.5)) : lemma.sample.gaussian(new Array(s.d).fill(0), 2);
  const base = { chains: s.chains, steps: s.steps, seed: s.seed };
  try {
    if (s.mut.k === 'valid' || s.mut.k === 'option') {
      const r = s.mut.k === 'option' ? applyOptionMutation(base, s.mut.m) : { options: base, expect: ['ok'] as Token[] };
      await expectCall('sample.dikin', () => lemma.sample.dikin(body, target, r.options as never), {
        allow: r.expect, async: true,
        check: (res) => {
          const x = res as lemma.sample.DikinResult;
          ensure(x.samples.shape[0] === s.chains && x.samples.shape[2] === s.d, 'wrong samples shape');
          for (let i = 0; i < x.samples.data.length; i += s.d) ensure(body.contains(x.samples.data.subarray(i, i + s.d)), 'a sample outside the body');
          ensure(x.seed === s.seed, 'seed not returned');
        },
      });
      return;
    }
    const nf = NONFINITE.sample as Token;
    const cases: Record<string, [() => unknown, Token[]]> = {
      targetDim: [() => lemma.sample.dikin(body, lemma.sample.linear(new Array(s.d + 1).fill(1)), base), ['ERR_SHAPE']],
      notTarget: [() => lemma.sample.dikin(body, { kind: 'uniform' } as never, base), ['TypeError']],
      notBody: [() => lemma.sample.dikin({ dim: s.d } as never, target, base), ['TypeError']],
      disposedBody: [() => { body.dispose(); return lemma.sample.dikin(body, target, base); }, ['ERR_DISPOSED']],
      startOutside: [() => lemma.sample.dikin(body, target, { ...base, start: new Array(s.d).fill(2) }), ['RangeError']],
      startShape: [() => lemma.sample.dikin(body, target, { ...base, start: new Array(s.d + 1).fill(0) }), ['ERR_SHAPE']],
      linearEmpty: [() => lemma.sample.linear([]), ['ERR_SHAPE', 'RangeError']],
      linearNaN: [() => lemma.sample.linear([NaN]), [nf]],
      gaussianShape: [() => lemma.sample.gaussian([0, 0], [[1, 0, 0], [0, 1, 0], [0, 0, 1]]), ['ERR_SHAPE']],
      gaussianNotPd: [() => lemma.sample.gaussian([0, 0], [[1, 0], [0, -1]]), ['RangeError']],
      lipschitzMissing: [() => lemma.sample.callback(() => [0], {} as never), ['TypeError']],
      absurdChains: [() => lemma.sample.dikin(body, target, { chains: 1 << 20, steps: 1e9, thin: 1, burnIn: 0, seed: 1 }), ['ERR_RANGE', 'ERR_OOM']],
    };
    const [fn, expect] = cases[s.mut.name];
    const isAsync = !['linearEmpty', 'linearNaN', 'gaussianShape', 'gaussianNotPd', 'lipschitzMissing'].includes(s.mut.name);
    await expectCall(`sample.${s.mut.name}`, fn, { allow: expect, async: isAsync });
  } finally {
    body.dispose();
  }
}

// ---- dp -----------------------------------------------------------------------------------------

interface DpScenario { seed: number; n: number; d: number; op: string; m: OptionMutation }

const KDE_OPTIONS: OptSpec = { epsilon: { num: { min: 0, exclMin: true } }, levels: { int: [1, 26] }, neighbour: { enum: ['add-remove', 'replace'] }, consistency: 'bool', label: 'string', insecureDeterministic: 'bool' };

const dpArb: fc.Arbitrary<DpScenario> = fc.record({
  seed: seedArb, n: fc.integer({ min: 1, max: 8 }), d: fc.integer({ min: 1, max: 3 }),
  op: fc.constantFrom('accountant', 'accountantCtor', 'laplace', 'laplaceBad', 'kdeValid', 'kdeOption', 'queryBad', 'queryNaN', 'disposed', 'disposeDuringQuery', 'release', 'loadForeign', 'privateCtor'),
  m: optionMutationArb(KDE_OPTIONS),
});


/** query() results: a Float64Array, or { estimates } (the API is moving to result objects). */
const est = (v: unknown): Float64Array => (v as { estimates: Float64Array }).estimates;

async function runDp(s: DpScenario): Promise<void> {
  const r = (i: number) => ((s.seed * 9301 + i * 49297) % 233280) / 233280;
  const X = Array.from({ length: s.n }, (_, i) => Array.from({ length: s.d }, (_, j) => r(i * 7 + j)));
  const base = { epsilon: 1, range: [0, 1] as [number, number], levels: 3, seed: s.seed, insecureDeterministic: true };
  switch (s.op) {
    case 'accountant': {
      const eps = [1, 0, -1, NaN, Infinity, '1'][s.seed % 6];
      const expect: Token[] = typeof eps !== 'number' ? ['TypeError'] : eps > 0 && Number.isFinite(eps) ? ['ok'] : ['RangeError'];
      const acc = await expectCall('dp.accountant', () => lemma.dp.accountant({ epsilon: eps as number }), { allow: expect }) as lemma.dp.PrivacyAccountant | undefined;
      if (acc) {
        await expectCall('accountant.spend', () => acc.spend(0.6), { allow: ['ok'] });
        await expectCall('accountant.spend', () => acc.spend(0.6), { allow: ['ERR_BUDGET'] });
        await expectCall('accountant.spend', () => acc.spend(-1 as number), { allow: ['RangeError'] });
        ensure(Math.abs(acc.spent - 0.6) < 1e-12 && acc.remaining >= 0, 'accountant arithmetic');
      }
      return;
    }
    case 'accountantCtor': {
      const eps = [NaN, -1, '1', Infinity][s.seed % 4];
      await expectCall('new PrivacyAccountant', () => new lemma.dp.PrivacyAccountant(eps as number), { allow: typeof eps === 'number' ? ['RangeError'] : ['TypeError'] });
      return;
    }
    case 'laplace': {
      const scale = 0.5 + (s.seed % 10), count = s.seed % 50;
      await expectCall('dp.discreteLaplace', () => lemma.dp.discreteLaplace(scale, count, { seed: s.seed, insecureDeterministic: true }), {
        allow: ['ok'], check: (v) => { const a = v as Float64Array; ensure(a.length === count && a.every((x) => Number.isInteger(x)), 'not integers'); },
      });
      return;
    }
    case 'laplaceBad': {
      const bad: Array<[unknown, unknown, Token[]]> = [[1, -1, ['RangeError']], [1, 1.5, ['RangeError']], [0, 3, ['RangeError']], [NaN, 3, ['RangeError']], ['1', 3, ['TypeError']], [1, '3', ['TypeError']], [1, 2 ** 40, ['RangeError', 'ERR_RANGE', 'ERR_OOM']]];
      const [sc, n, expect] = bad[s.seed % bad.length];
      await expectCall('dp.discreteLaplace', () => lemma.dp.discreteLaplace(sc as number, n as number), { allow: expect });
      return;
    }
    case 'kdeOption': {
      const { options, expect } = applyOptionMutation(base, s.m);
      await expectCall('dp.l1Kde', () => lemma.dp.l1Kde(X, options as never), { allow: expect, async: true });
      return;
    }
    case 'loadForeign':
      await expectCall('dp.loadL1Kde', () => lemma.dp.loadL1Kde({ format: 'nope' }), { allow: ['TypeError', 'RangeError', 'ERR_SHAPE'] });
      return;
    case 'privateCtor':
      // The exported class with a state lemma never made: a foreign object, refused before any native call.
      await expectCall('PrivateL1Kde.query', async () => new (lemma.dp.PrivateL1Kde as never as new (s: unknown) => lemma.dp.PrivateL1Kde)({ shape: { d: 1, levels: 40, gridBits: 3, lo: new Float64Array(1), hi: new Float64Array(1) }, cnt: new Float64Array(2), sum: new Float64Array(2) }).query([[0.5]]), { allow: ['TypeError'], async: true });
      return;
  }
  const kde = await lemma.dp.l1Kde(X, base);
  try {
    switch (s.op) {
      case 'kdeValid':
        await expectCall('PrivateL1Kde.query', () => kde.query(X), { allow: ['ok'], async: true, check: (v) => ensure(est(v).length === s.n && allFinite(est(v)), 'bad query result') });
        await expectCall('PrivateL1Kde.queryOne', () => kde.queryOne(X[0]), { allow: ['ok'], check: (v) => ensure(Number.isFinite(v as number), 'non-finite') });
        return;
      case 'queryBad': await expectCall('PrivateL1Kde.query', () => kde.query([[...X[0], 0]]), { allow: ['ERR_SHAPE'], async: true }); return;
      case 'queryNaN': await expectCall('PrivateL1Kde.queryOne', () => kde.queryOne(X[0].map(() => NaN)), { allow: [NONFINITE.dp as Token] }); return;
      case 'disposed':
        kde.dispose();
        kde.dispose();
        await expectCall('PrivateL1Kde.query', () => kde.query(X), { allow: ['ERR_DISPOSED'], async: true });
        await expectCall('PrivateL1Kde.release', () => kde.release(), { allow: ['ERR_DISPOSED'] });
        return;
      case 'disposeDuringQuery': {
        const ref = await kde.query(X);
        const p = expectCall('PrivateL1Kde.query', () => kde.query(X), { allow: ['ok', 'ERR_DISPOSED'], async: true, check: (v) => ensure(est(v).every((x, i) => x === est(ref)[i]), 'changed by dispose') });
        kde.dispose();
        await p;
        return;
      }
      case 'release': {
        const doc = kde.release();
        const back = await expectCall('dp.loadL1Kde', () => lemma.dp.loadL1Kde(JSON.parse(JSON.stringify(doc))), { allow: ['ok'] }) as lemma.dp.PrivateL1Kde;
        const a = est(await kde.query(X)), b2 = est(await back.query(X));
        ensure(a.every((x, i) => x === b2[i]), 'released-then-loaded structure answers differently');
        return;
      }
    }
  } finally {
    kde.dispose();
  }
}

// ---- games --------------------------------------------------------------------------------------

const PLAY_OPTIONS: OptSpec = { rounds: { int: [1, 1000] }, agentTimeout: { num: { min: 0, exclMin: true, allowInf: true } }, agentRetries: { int: [0, 100] }, seed: { int: [0, Number.MAX_SAFE_INTEGER] }, signal: 'signal' };

interface GameScenario { seed: number; rounds: number; m: OptionMutation | { k: 'valid' } | { k: 'notAgent' } }

const gameArb: fc.Arbitrary<GameScenario> = fc.record({
  seed: fc.integer({ min: 0, max: 1e6 }), rounds: fc.integer({ min: 1, max: 5 }),
  m: fc.oneof(fc.constant({ k: 'valid' as const }), fc.constant({ k: 'notAgent' as const }), optionMutationArb(PLAY_OPTIONS)),
});

async function runGame(s: GameScenario): Promise<void> {
  const mp = lemma.games.machinePenalty;
  const base = { rounds: s.rounds, seed: s.seed };
  if (s.m.k === 'notAgent') {
    await expectCall('machinePenalty.play', () => mp.play({} as never, mp.cooperative(), base), { allow: ['TypeError'], async: true });
    return;
  }
  const { options, expect } = s.m.k === 'valid' ? { options: base, expect: ['ok'] as Token[] } : applyOptionMutation(base, s.m);
  await expectCall('machinePenalty.play', () => mp.play(mp.cooperative(), mp.selfish(), options as never), {
    allow: expect, async: true,
    check: (r) => {
      const p = r as lemma.games.machinePenalty.PlayResult;
      ensure(p.history.length === s.rounds && p.seed === s.seed, 'wrong number of rounds or seed');
      ensure(p.totals[0] === p.history.reduce((a, h) => a + h.payoffs[0], 0), 'totals do not add up');
    },
  });
}

export const targets: FuzzTarget[] = [
  { family: 'polytope', name: 'bodies', arb: polyArb, run: runPolytope },
  { family: 'sample', name: 'dikin', arb: sampleArb, run: runSample, weight: 0.7 },
  { family: 'dp', name: 'kde-accountant-laplace', arb: dpArb, run: runDp },
  { family: 'games', name: 'play', arb: gameArb, run: runGame, weight: 0.5 },
];
