/**
 * lemma.games.machinePenalty (arXiv 2410.03724): spec acceptance MP-1 (payoffs and histories) and
 * MP-2 (the ordering the default participant model produces at 2,880 simulated participants per
 * condition: a property of the model, not a claim about people), the agent designs' rules,
 * determinism (seeds, async agents, concurrency), custom agents that fail, time out or need a
 * retry, abort, progress, and the event loop. Scripted agents only; nothing calls the network.
 */
import test from 'ava';
import { machinePenalty as mp } from '../lib/games/index.js';
import type { Agent, AgentState, Move } from '../lib/games/machine-penalty/index.js';
import { fitGlmm, glmmLogLik } from '../lib/games/machine-penalty/glmm.js';
import { holm } from '../lib/games/machine-penalty/stats.js';

const always = (m: Move): Agent => ({ message: () => ({ promise: m }), decide: () => m });
/** Plays the given moves in order (then C). */
const script = (moves: Move[]): Agent => ({ message: () => ({ promise: 'C' }), decide: (s) => moves[s.round - 1] ?? 'C' });
const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

test('MP-1: always-C against always-C earns R = 3 per round; always-D against always-C earns 5 / 0', async (t) => {
  const cc = await mp.play(always('C'), always('C'), { seed: 1 });
  t.is(cc.history.length, 10);
  for (const r of cc.history) t.deepEqual(r.payoffs, [3, 3]);
  t.deepEqual(cc.totals, [30, 30]);
  t.deepEqual(cc.cooperation, [1, 1]);
  const dc = await mp.play(always('D'), always('C'), { seed: 1 });
  for (const r of dc.history) {
    t.deepEqual(r.moves, ['D', 'C']);
    t.deepEqual(r.payoffs, [5, 0]);
  }
  t.deepEqual(dc.totals, [50, 0]);
  t.deepEqual(dc.messages, [{ promise: 'D' }, { promise: 'C' }]);
  const dd = await mp.play(always('D'), always('D'), { rounds: 4, payoff: { T: 7, R: 4, P: 2, S: -1 } });
  t.deepEqual(dd.totals, [8, 8]);
  t.deepEqual([mp.payoffOf('C', 'C', mp.DEFAULT_PAYOFF), mp.payoffOf('C', 'D', mp.DEFAULT_PAYOFF), mp.payoffOf('D', 'C', mp.DEFAULT_PAYOFF), mp.payoffOf('D', 'D', mp.DEFAULT_PAYOFF)], [3, 0, 5, 1]);
});

test('MP-1: per-round logs sum to the reported totals and rates', async (t) => {
  const r = await mp.simulate({ perCondition: 40, seed: 11, keepHistories: true, conditions: ['human', 'fair', { name: 'tft', agent: { message: () => ({ promise: 'C' }), decide: (s) => s.history.at(-1)?.partner ?? 'C' } }] });
  for (const c of r.conditions) {
    const hs = c.histories!;
    t.is(hs.length, 40);
    let humanC = 0, partnerC = 0, mutual = 0, humanPay = 0, partnerPay = 0;
    const perRound = new Array(10).fill(0);
    for (const h of hs) {
      t.is(h.rounds.length, 10);
      t.is(h.rounds.reduce((s, x) => s + x.humanPayoff, 0), h.humanTotal);
      t.is(h.rounds.reduce((s, x) => s + x.partnerPayoff, 0), h.partnerTotal);
      for (const x of h.rounds) {
        t.is(x.humanPayoff, mp.payoffOf(x.human, x.partner, r.payoff));
        t.is(x.partnerPayoff, mp.payoffOf(x.partner, x.human, r.payoff));
        humanC += +(x.human === 'C');
        partnerC += +(x.partner === 'C');
        mutual += +(x.human === 'C' && x.partner === 'C');
        perRound[x.round - 1] += +(x.human === 'C');
      }
      humanPay += h.humanTotal;
      partnerPay += h.partnerTotal;
    }
    const close = (a: number, b: number) => t.true(Math.abs(a - b) < 1e-12, `${c.condition}: ${a} vs ${b}`);
    close(c.humans.cooperation.rate, humanC / 400);
    close(c.partners.cooperation.rate, partnerC / 400);
    close(c.mutualCooperation, mutual / 400);
    close(c.humans.payoff, humanPay / 400);
    close(c.partners.payoff, partnerPay / 400);
    c.perRound.humanCooperation.forEach((v, k) => close(v, perRound[k] / 40));
    close(c.humans.firstRound, perRound[0] / 40);
    close(c.humans.lastRound, perRound[9] / 40);
  }
  const hh = r.conditions[0];
  t.is(hh.partner, 'human');
  t.is(hh.agreements.pairs, 20);
  for (const h of hh.histories!) {
    const other = hh.histories!.find((x) => x.participant === h.partner)!;
    t.is(other.partner, h.participant, 'pairs are mutual');
    t.deepEqual(other.rounds.map((x) => x.human), h.rounds.map((x) => x.partner));
  }
  t.is(r.conditions[1].agreements.pairs, 40);
});

test.serial('MP-2: default participant model, 2,880 per condition: Fair ≈ human-human > Cooperative, Selfish (a property of the model)', async (t) => {
  for (const seed of [1, 2410]) {
    const t0 = performance.now();
    const r = await mp.simulate({ perCondition: 2880, seed });
    const ms = performance.now() - t0;
    const c = Object.fromEntries(r.conditions.map((x) => [x.condition, x]));
    const coop = (k: string) => c[k].humans.cooperation.rate;
    t.log(`seed ${seed}: ${ms.toFixed(0)} ms; human ${coop('human').toFixed(3)}, fair ${coop('fair').toFixed(3)}, cooperative ${coop('cooperative').toFixed(3)}, selfish ${coop('selfish').toFixed(3)}; agent C fair ${c.fair.partners.cooperation.rate.toFixed(3)}, selfish ${c.selfish.partners.cooperation.rate.toFixed(3)}`);
    t.is(r.seed, seed);
    for (const k of ['human', 'cooperative', 'selfish', 'fair']) t.is(c[k].participants, 2880);
    t.true(Math.abs(coop('fair') - coop('human')) <= 0.05);
    t.true(Math.min(coop('human'), coop('fair')) - Math.max(coop('cooperative'), coop('selfish')) >= 0.05);
    t.is(c.cooperative.partners.promiseKeeping, 1);
    t.true(c.fair.partners.promiseKeeping > 0.7 && c.fair.partners.promiseKeeping < 1);
    t.true(c.selfish.partners.promiseKeeping < 0.5);
    // Every agent promises C, so promise keeping is the agent's C-rate.
    for (const k of ['cooperative', 'selfish', 'fair']) t.true(Math.abs(c[k].partners.promiseKeeping - c[k].partners.cooperation.rate) < 1e-12);
    for (const k of ['cooperative', 'selfish', 'fair']) t.is(c[k].partners.promisedC, 1);
    // Intervals contain the rate; the human-fair difference is the one that is not clearly non-zero.
    for (const x of r.conditions) t.true(x.humans.cooperation.lo < x.humans.cooperation.rate && x.humans.cooperation.rate < x.humans.cooperation.hi);
    const hf = r.differences.find((d) => d.a === 'human' && d.b === 'fair')!;
    const hs = r.differences.find((d) => d.a === 'human' && d.b === 'selfish')!;
    t.true(Math.abs(hf.difference) <= 0.05);
    t.true(hs.z > 10 && hs.pHolm < 1e-6);
    t.is(r.differences.length, 6);
  }
});

test('the designs follow their rules', async (t) => {
  const coop = await mp.play(mp.cooperative(), always('D'), { seed: 3 });
  t.deepEqual(coop.history.map((r) => r.moves[0]), new Array(10).fill('C'), 'Cooperative never retaliates');
  for (let seed = 0; seed < 20; seed++) {
    const s = await mp.play(mp.selfish(), always('C'), { seed });
    t.deepEqual(s.history.slice(1).map((r) => r.moves[0]), new Array(9).fill('D'), 'Selfish: D after round 1 against a cooperator');
    t.deepEqual(s.messages[0], { promise: 'C' }, 'cheap talk');
  }
  const rebait = await mp.play(mp.selfish({ firstRound: 0, rebait: 1 }), always('D'), { seed: 1 });
  t.deepEqual(rebait.history.map((r) => r.moves[0]).join(''), 'DDCCCCCCCD', 're-baits after two D, never in the last round');
  // Fair with no noise: exploited in round 2, retaliates once in round 3, then returns to C.
  const f = await mp.play(mp.fair({ retaliate: 1, forgive: 1, lapse: 0, endGame: 0 }), script(['C', 'D']), { seed: 1 });
  t.deepEqual(f.history.map((r) => r.moves[0]).join(''), 'CCDCCCCCCC');
  const strict = await mp.play(mp.fair({ retaliate: 0, forgive: 0, lapse: 0, endGame: 0 }), script(['D', 'C', 'D', 'C']), { seed: 1 });
  t.deepEqual(strict.history.map((r) => r.moves[0]).join(''), 'CDCDCCCCCC', 'without forgiveness Fair mirrors the previous D');
  const end = await mp.play(mp.fair({ lapse: 0, endGame: 1 }), always('C'), { seed: 1 });
  t.deepEqual(end.history.map((r) => r.moves[0]).join(''), 'CCCCCCCCCD');
});

test('agents see the past and the messages, never the current move; the human knows it meets a machine', async (t) => {
  const seen: Array<Partial<AgentState> & { len: number }> = [];
  const spy: Agent = {
    message: (s) => {
      seen.push({ round: s.round, len: s.history.length, partnerMessage: s.partnerMessage, partnerIsMachine: s.partnerIsMachine });
      return { promise: 'C', text: 'let us both cooperate' };
    },
    decide: (s) => {
      seen.push({ round: s.round, len: s.history.length, partnerMessage: s.partnerMessage, ownMessage: s.ownMessage, condition: s.condition, participant: s.participant });
      t.is(typeof s.random(), 'number');
      return 'C';
    },
  };
  const r = await mp.simulate({ perCondition: 1, rounds: 3, conditions: [{ name: 'spy', agent: spy }], seed: 5 });
  t.is(seen.length, 4);
  t.is(seen[0].round, 0);
  t.is(seen[0].partnerMessage, undefined, 'messages are simultaneous');
  t.false(seen[0].partnerIsMachine, 'the agent meets a human');
  for (let k = 1; k <= 3; k++) {
    t.is(seen[k].round, k);
    t.is(seen[k].len, k - 1);
    t.is(seen[k].condition, 'spy');
    t.is(seen[k].participant, 0);
    t.deepEqual(seen[k].ownMessage, { promise: 'C', text: 'let us both cooperate' });
    t.true(['C', 'none'].includes(seen[k].partnerMessage!.promise));
  }
  t.is(r.conditions[0].partners.promiseKeeping, 1);
  const human: Array<boolean> = [];
  const probe = mp.simulatedHuman();
  const wrapped: Agent = { message: probe.message, decide: (s) => { human.push(s.partnerIsMachine); return probe.decide(s); } };
  await mp.play(wrapped, mp.fair(), { machine: [false, true], seed: 1 });
  t.true(human.length === 10 && human.every(Boolean));
});

test('the same seed gives the same result, another seed a different one; the seed is returned', async (t) => {
  const a = await mp.simulate({ perCondition: 200, seed: 42 });
  const b = await mp.simulate({ perCondition: 200, seed: 42 });
  const c = await mp.simulate({ perCondition: 200, seed: 43 });
  t.deepEqual(a, b);
  t.notDeepEqual(a.conditions, c.conditions);
  t.is(a.seed, 42);
  const d = await mp.simulate({ perCondition: 2, conditions: ['fair'] });
  const e = await mp.simulate({ perCondition: 2, conditions: ['fair'] });
  t.true(Number.isInteger(d.seed) && d.seed >= 0);
  t.not(d.seed, e.seed, 'a random seed by default');
  t.deepEqual(await mp.simulate({ perCondition: 2, conditions: ['fair'], seed: d.seed }), d);
  // A condition's draws depend on its name, not on which other conditions run.
  const alone = await mp.simulate({ perCondition: 200, seed: 42, conditions: ['fair'] });
  t.deepEqual(alone.conditions[0], a.conditions[3]);
});

test('async agents with random latency and concurrency give the same result as the synchronous agent', async (t) => {
  const fair = mp.fair();
  const slowFair: Agent = {
    message: async (s) => { await delay(Math.random() * 3); return fair.message(s); },
    decide: async (s) => { await delay(Math.random() * 3); return fair.decide(s); },
  };
  const sync = await mp.simulate({ perCondition: 24, seed: 9, conditions: [{ name: 'f', agent: fair }] });
  const async8 = await mp.simulate({ perCondition: 24, seed: 9, conditions: [{ name: 'f', agent: slowFair }], concurrency: 8 });
  t.deepEqual(async8, sync);
});

test('a throwing, slow or malformed agent is recorded with its round; the others go on', async (t) => {
  let aborted = 0;
  const bad: Agent = {
    message: (s) => (s.participant === 4 ? Promise.reject(new Error('rate limited')) : { promise: 'C' }),
    decide: (s) => {
      if (s.participant === 2 && s.round === 3) throw new Error('model unavailable');
      if (s.participant === 5 && s.round === 1) {
        s.signal.addEventListener('abort', () => aborted++);
        return new Promise<Move>(() => {});
      }
      if (s.participant === 7 && s.round === 6) return 'X' as Move;
      return s.history.at(-1)?.partner ?? 'C';
    },
  };
  const base = await mp.simulate({ perCondition: 12, seed: 4, conditions: ['human', 'fair'] });
  const r = await mp.simulate({ perCondition: 12, seed: 4, conditions: ['human', { name: 'llm', agent: bad }, 'fair'], agentTimeout: 30 });
  t.deepEqual(r.errors.map(({ condition, participant, round, phase, timedOut }) => ({ condition, participant, round, phase, timedOut })), [
    { condition: 'llm', participant: 2, round: 3, phase: 'decide', timedOut: false },
    { condition: 'llm', participant: 4, round: 0, phase: 'message', timedOut: false },
    { condition: 'llm', participant: 5, round: 1, phase: 'decide', timedOut: true },
    { condition: 'llm', participant: 7, round: 6, phase: 'decide', timedOut: false },
  ]);
  t.regex(r.errors[0].message, /^model unavailable$/);
  t.regex(r.errors[1].message, /^rate limited$/);
  t.regex(r.errors[2].message, /^timed out after 30 ms$/);
  t.regex(r.errors[3].message, /^decide returned "X"; expected 'C' or 'D'$/);
  t.is(aborted, 1, "the timed-out call's signal is aborted");
  const llm = r.conditions[1];
  t.is(llm.participants, 8);
  t.is(llm.failed, 4);
  t.deepEqual(r.conditions[0], base.conditions[0]);
  t.deepEqual(r.conditions[2], base.conditions[1], 'the other conditions are untouched');
});

test("onAgentError 'throw' rejects with a LemmaError naming the condition, participant and round", async (t) => {
  const bad: Agent = { message: () => ({ promise: 'C' }), decide: (s) => { if (s.participant === 3 && s.round === 2) throw new Error('boom'); return 'C'; } };
  const e = await t.throwsAsync(mp.simulate({ perCondition: 6, seed: 1, conditions: [{ name: 'llm', agent: bad }], onAgentError: 'throw' }), {
    code: 'ERR_AGENT',
    message: /^the agent of condition 'llm' failed for participant 3 in round 2 \(decide\): boom$/,
  });
  t.is((e as unknown as { round: number }).round, 2);
  t.is(((e as Error).cause as Error).message, 'boom');
  await t.throwsAsync(mp.play(always('C'), { message: () => ({ promise: 'C' }), decide: () => Promise.reject(new Error('down')) }), {
    code: 'ERR_AGENT', message: /participant 1 in round 1 \(decide\): down$/,
  });
  await t.throwsAsync(mp.play(always('C'), { message: () => ({ promise: 'C' }), decide: () => delay(200).then(() => 'C' as const) }, { agentTimeout: 20 }), {
    message: /round 1 \(decide\): timed out after 20 ms$/,
  });
});

test('retries are off by default; agentRetries repeats a failed call', async (t) => {
  const flaky = (): Agent => {
    const failed = new Set<string>();
    return {
      message: () => ({ promise: 'C' }),
      decide: async (s): Promise<Move> => {
        const k = `${s.participant}:${s.round}`;
        if (s.round === 4 && !failed.has(k)) {
          failed.add(k);
          throw new Error('transient');
        }
        return 'C';
      },
    };
  };
  const off = await mp.simulate({ perCondition: 5, seed: 1, conditions: [{ name: 'x', agent: flaky() }] });
  t.is(off.errors.length, 5);
  t.true(off.errors.every((e) => e.round === 4 && e.message === 'transient'));
  t.is(off.conditions[0].participants, 0);
  t.true(Number.isNaN(off.conditions[0].humans.cooperation.rate));
  const on = await mp.simulate({ perCondition: 5, seed: 1, conditions: [{ name: 'x', agent: flaky() }], agentRetries: 1 });
  t.is(on.errors.length, 0);
  t.is(on.conditions[0].participants, 5);
});

test('onProgress counts participants per condition; signal aborts with AbortError', async (t) => {
  const seen: Array<{ done: number; total: number; condition: string }> = [];
  await mp.simulate({ perCondition: 10, seed: 1, onProgress: (p) => seen.push({ ...p }) });
  t.is(seen.at(-1)!.done, 40);
  t.true(seen.every((p, i) => p.total === 40 && (i === 0 || p.done > seen[i - 1].done)));
  t.deepEqual([...new Set(seen.map((p) => p.condition))], ['human', 'cooperative', 'selfish', 'fair']);
  t.is(seen.filter((p) => p.condition === 'human').length, 5, 'the human condition finishes a pair at a time');

  const ac = new AbortController();
  await t.throwsAsync(mp.simulate({ perCondition: 2880, seed: 1, signal: ac.signal, onProgress: (p) => { if (p.done >= 100) ac.abort(); } }), {
    name: 'AbortError', code: 'ABORT_ERR', message: /^lemma\.games\.machinePenalty\.simulate was aborted$/,
  });
  await t.throwsAsync(mp.simulate({ signal: AbortSignal.abort() }), { name: 'AbortError', code: 'ABORT_ERR' });
  // Abort while an async agent is pending: rejects at once, and the agent's signal is aborted.
  const ac2 = new AbortController();
  let agentSawAbort = false;
  const hang: Agent = { message: () => ({ promise: 'C' }), decide: (s) => new Promise<Move>(() => { s.signal.addEventListener('abort', () => { agentSawAbort = true; }); }) };
  setTimeout(() => ac2.abort(), 30);
  await t.throwsAsync(mp.simulate({ perCondition: 1, conditions: [{ name: 'hang', agent: hang }], agentTimeout: Infinity, signal: ac2.signal }), { code: 'ABORT_ERR' });
  t.true(agentSawAbort);
});

test.serial('a long run does not block the event loop', async (t) => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const t0 = performance.now();
  await mp.simulate({ perCondition: 2880, seed: 3 });
  const ms = performance.now() - t0;
  clearInterval(timer);
  t.log(`${ms.toFixed(0)} ms, ${ticks} timer ticks`);
  t.true(ticks >= Math.floor(ms / 50), `${ticks} ticks in ${ms.toFixed(0)} ms`);
});

test('chart: an SVG bar per condition with its interval', async (t) => {
  const r = await mp.simulate({ perCondition: 50, seed: 1 });
  const svg = mp.chart(r);
  t.regex(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.is((svg.match(/<rect x="[\d.]+" y="[\d.]+" width="60" height="[\d.]+" fill="#4e79a7"\/>/g) ?? []).length, 4);
  for (const c of ['human', 'cooperative', 'selfish', 'fair']) t.true(svg.includes(`>${c}</text>`));
  t.true(svg.trimEnd().endsWith('</svg>'));
});

test('lemma.games.machinePenalty is exported from the package root', async (t) => {
  const lemma = await import('../lib/index.js');
  t.is(lemma.games.machinePenalty.simulate, mp.simulate);
  t.is(typeof lemma.games.machinePenalty.play, 'function');
});

/** Expected histogram of y (C-count out of R) under the random-intercept model, by fine trapezoid quadrature. */
function modelHistogram(beta: number, s: number, R: number, n: number): Float64Array {
  const h = new Float64Array(R + 1);
  const du = 0.002;
  for (let u = -9; u <= 9; u += du) {
    const w = (n * du * Math.exp(-u * u / 2)) / Math.sqrt(2 * Math.PI);
    const p = 1 / (1 + Math.exp(-(beta + s * u)));
    let c = 1;
    for (let y = 0; y <= R; y++) {
      if (y > 0) c = (c * (R - y + 1)) / y;
      h[y] += w * c * p ** y * (1 - p) ** (R - y);
    }
  }
  return h;
}

function invert(M: number[][]): number[][] {
  const n = M.length;
  const A = M.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => +(i === j))]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(A[r][c]) > Math.abs(A[piv][c])) piv = r;
    [A[c], A[piv]] = [A[piv], A[c]];
    const d = A[c][c];
    for (let j = 0; j < 2 * n; j++) A[c][j] /= d;
    for (let r = 0; r < n; r++) if (r !== c) { const f = A[r][c]; for (let j = 0; j < 2 * n; j++) A[r][j] -= f * A[c][j]; }
  }
  return A.map((row) => row.slice(n));
}

test('mixed model: recovers β and s from exact histograms; its standard errors match a numerical Hessian', (t) => {
  const truth = { beta: [0.5, -1, 0.2], s: 1.2 };
  const hists = truth.beta.map((b) => modelHistogram(b, truth.s, 10, 2880));
  const fit = fitGlmm(hists, 10);
  t.true(fit.converged);
  fit.beta.forEach((b, c) => t.true(Math.abs(b - truth.beta[c]) < 1e-4, `beta ${c}: ${b}`));
  t.true(Math.abs(fit.sigma - truth.s) < 1e-4, `s ${fit.sigma}`);
  // Observed information by central differences over (β₁, β₂, β₃, log s).
  const theta = [...fit.beta, Math.log(fit.sigma)];
  const ll = (v: number[]) => glmmLogLik(hists, 10, v.slice(0, 3), Math.exp(v[3]));
  const h = 1e-3;
  const H = theta.map((_, i) => theta.map((__, j) => {
    const at = (di: number, dj: number) => { const v = [...theta]; v[i] += di; v[j] += dj; return ll(v); };
    return -(at(h, h) - at(h, -h) - at(-h, h) + at(-h, -h)) / (4 * h * h);
  }));
  const V = invert(H);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
    t.true(Math.abs(fit.cov[i][j] - V[i][j]) < 1e-3 * Math.abs(V[i][i]), `cov[${i}][${j}] ${fit.cov[i][j]} vs ${V[i][j]}`);
  }
  // Without heterogeneity the model is a binomial: β = logit(rate), se = 1/√(n p (1 − p)).
  const binom = fitGlmm([modelHistogram(0.3, 1e-4, 10, 1000)], 10);
  const p = 1 / (1 + Math.exp(-0.3));
  t.true(Math.abs(binom.beta[0] - 0.3) < 2e-3);
  t.true(Math.abs(binom.se[0] - 1 / Math.sqrt(10_000 * p * (1 - p))) < 1e-3);
  // All participants all-C: no finite estimate; reported as NaN and converged false.
  const allC = new Float64Array(11);
  allC[10] = 50;
  const div = fitGlmm([hists[0], allC], 10);
  t.false(div.converged);
  t.true(Number.isNaN(div.beta[1]) && Number.isFinite(div.beta[0]));
});

test('Holm adjustment and the simulated result carry the mixed model', async (t) => {
  t.deepEqual(holm([0.01, 0.04, 0.03, NaN]).map((v) => (Number.isNaN(v) ? v : +v.toFixed(10))), [0.03, 0.06, 0.06, NaN]);
  const r = await mp.simulate({ perCondition: 400, seed: 8 });
  t.is(r.mixedModel.contrasts.length, 6);
  t.true(r.mixedModel.converged);
  t.true(r.mixedModel.sigma > 0.3 && r.mixedModel.sigma < 2);
  const lo = Object.fromEntries(r.mixedModel.conditions.map((c) => [c.condition, c.logOdds]));
  t.true(lo.selfish < lo.cooperative && lo.cooperative < lo.fair, 'the model orders the designs like the rates');
  for (const c of r.mixedModel.contrasts) {
    t.true(Math.abs(c.logOddsRatio - (lo[c.a] - lo[c.b])) < 1e-12);
    t.true(c.lo < c.logOddsRatio && c.logOddsRatio < c.hi && c.pHolm >= c.p);
  }
});
