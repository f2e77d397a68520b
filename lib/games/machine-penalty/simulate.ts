/**
 * lemma.games.machinePenalty.simulate: the between-subjects design of arXiv 2410.03724 with
 * simulated participants. Each condition pairs `perCondition` simulated humans with a partner
 * (another simulated human, or an agent: one of the three designs or the user's own), plays the
 * pre-game message and `rounds` rounds, and reports the study's outcomes with intervals.
 *
 * Determinism: every player draws from its own stream keyed by (seed, condition name,
 * participant, role), and results are gathered by participant index, so a seed fixes the result
 * whatever the agents' latency and `concurrency`.
 */
import { performance } from 'node:perf_hooks';
import { LemmaError } from '../../errors.js';
import { checkBoolean, checkInteger, checkOneOf, checkOptions, expected } from '../../validation/index.js';
import { checkCallback, checkSignal, throwIfAborted } from '../../validation/options.js';
import { cooperative, DEFAULT_HUMAN_MODEL, fair, resolveHumanModel, selfish, simulatedHuman } from './agents.js';
import type { HumanModel } from './agents.js';
import { checkAgent, checkKeys, checkPayoff, checkTimeout } from './check.js';
import { AgentFailure, DEFAULT_PAYOFF, playGame } from './game.js';
import type { Agent, CallPolicy, GameLog, Message, Move, Payoff, Player } from './game.js';
import { hashString, seedWords, stream } from './random.js';
import { fitGlmm } from './glmm.js';
import { clusterRate, difference, holm, twoSidedP, Z95 } from './stats.js';
import type { Rate } from './stats.js';

const WHAT = 'lemma.games.machinePenalty.simulate';

/** The built-in conditions: human–human pairs and the three agent designs. */
export type BuiltInCondition = 'human' | 'cooperative' | 'selfish' | 'fair';
export const BUILT_IN_CONDITIONS: readonly BuiltInCondition[] = ['human', 'cooperative', 'selfish', 'fair'];

/** A condition of your own: a name for the tables and the agent every participant meets there. */
export interface CustomCondition {
  name: string;
  agent: Agent;
}

export interface SimulateProgress {
  /** Simulated participants finished so far (completed or failed), over all conditions. */
  done: number;
  total: number;
  /** The condition being run. */
  condition: string;
}

export interface SimulateOptions {
  /** Default ['human', 'cooperative', 'selfish', 'fair']; custom conditions are `{ name, agent }`. */
  conditions?: ReadonlyArray<BuiltInCondition | CustomCondition>;
  /** Simulated participants per condition (even when 'human' is included: it pairs them). Default 288. */
  perCondition?: number;
  /** Rounds per game, known to both sides. Default 10. */
  rounds?: number;
  /** Default { T: 5, R: 3, P: 1, S: 0 }; must be a prisoner's dilemma. */
  payoff?: Payoff;
  /** Parameters of the simulated participant (partial; the rest default, see {@link HumanModel}). */
  humanModel?: Partial<HumanModel>;
  /** Milliseconds one asynchronous agent call may take. Default 60000; Infinity: no limit. */
  agentTimeout?: number;
  /** Further attempts after an agent call fails or times out. Default 0 (retries off). */
  agentRetries?: number;
  /**
   * 'record' (default): a participant whose agent call failed is left out of the statistics and
   * listed in `errors`; the run goes on. 'throw': the run rejects with a LemmaError at once.
   */
  onAgentError?: 'record' | 'throw';
  /** Games in flight at once (for slow asynchronous agents). Default 1. Does not change the result. */
  concurrency?: number;
  /** Keep every game's messages and rounds in the result (`histories`). Default false. */
  keepHistories?: boolean;
  /** Integer seed; default a random one. The seed used is returned. */
  seed?: number;
  /** Checked between participants; aborting rejects with an AbortError (code 'ABORT_ERR'). */
  signal?: AbortSignal;
  /** Called after every finished participant (two at a time in the 'human' condition). */
  onProgress?: (p: SimulateProgress) => void;
}

/** One failed participant: the agent call that failed, after its retries. */
export interface AgentErrorRecord {
  condition: string;
  /** The simulated participant (0-based within the condition). */
  participant: number;
  /** 0 for the pre-game message, else the round. */
  round: number;
  phase: 'message' | 'decide';
  timedOut: boolean;
  message: string;
}

/** One participant's game, from the participant's side (with keepHistories). */
export interface GameHistory {
  participant: number;
  /** The other participant in the 'human' condition; null for an agent. */
  partner: number | null;
  humanMessage: Message;
  partnerMessage: Message;
  rounds: Array<{ round: number; human: Move; partner: Move; humanPayoff: number; partnerPayoff: number }>;
  humanTotal: number;
  partnerTotal: number;
}

export interface SideSummary {
  /** Share of rounds played C, with a cluster-robust 95 % interval. */
  cooperation: Rate;
  /** Share who promised C in the pre-game message. */
  promisedC: number;
  /** Among those who promised C, the share of their rounds played C (NaN when nobody promised C). */
  promiseKeeping: number;
  /** Mean payoff per round. */
  payoff: number;
}

export interface ConditionSummary {
  condition: string;
  partner: 'human' | 'agent';
  /** Simulated participants in the statistics (those whose game completed). */
  participants: number;
  /** Participants left out because an agent call failed (see `errors`). */
  failed: number;
  /** The simulated participants. */
  humans: SideSummary & { firstRound: number; lastRound: number };
  /** Their partners (in the 'human' condition, the other human of each pair). */
  partners: SideSummary;
  /** Pairs in which both sides promised C before play: a mutual-cooperation agreement. */
  agreements: { count: number; pairs: number; rate: number };
  /** Share of rounds in which both played C. */
  mutualCooperation: number;
  /** Per-round rates (index 0 is round 1). */
  perRound: { humanCooperation: number[]; partnerCooperation: number[]; mutualCooperation: number[] };
  /**
   * What each participant's experience leaves them believing, averaged with intervals:
   * normBelief, the final (1 + partner's C) / (2 + rounds) the model decides with (the perceived
   * norm of cooperation); trust, (1 + rounds where the participant's C was met by C) /
   * (2 + rounds where the participant played C). Summaries of the simulated play, not ratings.
   */
  perception: { normBelief: Rate; trust: Rate };
  histories?: GameHistory[];
}

/** A comparison of conditions a and b: standard error, 95 % interval, Wald z and p-values. */
export interface PairComparison {
  a: string;
  b: string;
  se: number;
  lo: number;
  hi: number;
  /** Wald z statistic. */
  z: number;
  /** Two-sided p-value of z. */
  p: number;
  /** Holm-adjusted over all pairs of conditions. */
  pHolm: number;
}

/** Humans' cooperation in condition a minus condition b. */
export interface ConditionDifference extends PairComparison {
  difference: number;
}

/** One contrast of the mixed model: log-odds of cooperation in condition a minus condition b. */
export interface ModelContrast extends PairComparison {
  /** β_a − β_b (the log of the odds ratio; exp() it for the odds ratio). */
  logOddsRatio: number;
}

/**
 * The random-intercept logistic regression of the humans' cooperation on condition (one
 * intercept per participant; the pairing in the 'human' condition is not modelled here), fitted
 * by maximum likelihood with Gauss–Hermite quadrature.
 */
export interface MixedModel {
  /** Per condition: log-odds of C for a participant with a zero random intercept, and its standard error. */
  conditions: Array<{ condition: string; logOdds: number; se: number }>;
  contrasts: ModelContrast[];
  /** Standard deviation of the participants' random intercepts. */
  sigma: number;
  logLik: number;
  /** False when a condition's estimate ran to ±∞ (all its participants all-C or all-D): its entries are NaN. */
  converged: boolean;
}

export interface MachinePenaltyResult {
  seed: number;
  perCondition: number;
  rounds: number;
  payoff: Payoff;
  humanModel: HumanModel;
  conditions: ConditionSummary[];
  /** Every pair of conditions, in the order given: differences of the cluster-robust rates. */
  differences: ConditionDifference[];
  /** The same pairs as contrasts of the mixed-effects logistic regression. */
  mixedModel: MixedModel;
  /** Failed participants (onAgentError 'record'), by condition then participant. */
  errors: AgentErrorRecord[];
  device: 'cpu';
}

interface Condition {
  name: string;
  pairs: boolean;
  agent: Agent | undefined;
}

interface Plan {
  conditions: Condition[];
  perCondition: number;
  rounds: number;
  payoff: Readonly<Payoff>;
  humanModel: HumanModel;
  agentTimeout: number;
  agentRetries: number;
  onAgentError: 'record' | 'throw';
  concurrency: number;
  keepHistories: boolean;
  seed: number;
  signal: AbortSignal | undefined;
  onProgress: ((p: SimulateProgress) => void) | undefined;
}

const OPTION_NAMES = ['conditions', 'perCondition', 'rounds', 'payoff', 'humanModel', 'agentTimeout', 'agentRetries',
  'onAgentError', 'concurrency', 'keepHistories', 'seed', 'signal', 'onProgress'] as const;

function builtIn(name: BuiltInCondition): Condition {
  if (name === 'human') return { name, pairs: true, agent: undefined };
  return { name, pairs: false, agent: name === 'cooperative' ? cooperative() : name === 'selfish' ? selfish() : fair() };
}

function checkConditions(value: unknown): Condition[] {
  if (value === undefined) return BUILT_IN_CONDITIONS.map(builtIn);
  const what = "an array of condition names ('human', 'cooperative', 'selfish', 'fair') or { name, agent } objects";
  if (!Array.isArray(value)) throw new TypeError(expected(what, 'options.conditions', value));
  if (value.length === 0 || value.length > 64) throw new RangeError(expected(`${what}, 1 to 64 of them`, 'options.conditions', value));
  const out: Condition[] = [];
  value.forEach((item: unknown, i) => {
    const name = `options.conditions[${i}]`;
    let c: Condition;
    if (typeof item === 'string') {
      c = builtIn(checkOneOf(item, name, BUILT_IN_CONDITIONS));
    } else {
      if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new TypeError(expected(`a condition name or { name, agent }`, name, item));
      const o = item as Record<string, unknown>;
      checkKeys(o, name, ['name', 'agent']);
      if (typeof o.name !== 'string') throw new TypeError(expected('a string', `${name}.name`, o.name));
      if (o.name.length === 0 || o.name.length > 64) throw new RangeError(expected('a name of 1 to 64 characters', `${name}.name`, o.name));
      c = { name: o.name, pairs: false, agent: checkAgent(o.agent, `${name}.agent`) };
    }
    if (out.some((x) => x.name === c.name)) throw new RangeError(expected('a condition name not used before', `${name}${typeof item === 'string' ? '' : '.name'}`, c.name));
    out.push(c);
  });
  return out;
}

/** keepHistories holds every round's moves; refused above this many rounds (about 0.5 GiB). */
const MAX_KEPT_ROUNDS = 2 ** 22;
/** A generous estimate of one kept round (two moves, two payoffs, the agents' notes). */
const ROUND_BYTES = 128;

function plan(options: unknown): Plan {
  const o = checkOptions(options, 'options');
  checkKnownKeys(o);
  const conditions = checkConditions(o.conditions);
  const perCondition = o.perCondition === undefined ? 288 : checkInteger(o.perCondition, 'options.perCondition', 1, 1_000_000);
  if (perCondition % 2 === 1 && conditions.some((c) => c.pairs)) {
    throw new RangeError(expected("an even integer (the 'human' condition pairs its participants)", 'options.perCondition', perCondition));
  }
  const rounds = o.rounds === undefined ? 10 : checkInteger(o.rounds, 'options.rounds', 1, 1000);
  const payoff = o.payoff === undefined ? DEFAULT_PAYOFF : checkPayoff(o.payoff, 'options.payoff');
  const humanModel = o.humanModel === undefined ? { ...DEFAULT_HUMAN_MODEL } : resolveHumanModel(o.humanModel, 'options.humanModel');
  const agentTimeout = o.agentTimeout === undefined ? 60_000 : checkTimeout(o.agentTimeout, 'options.agentTimeout');
  const agentRetries = o.agentRetries === undefined ? 0 : checkInteger(o.agentRetries, 'options.agentRetries', 0, 10);
  const onAgentError = checkOneOf(o.onAgentError ?? 'record', 'options.onAgentError', ['record', 'throw'] as const);
  const concurrency = o.concurrency === undefined ? 1 : checkInteger(o.concurrency, 'options.concurrency', 1, 1024);
  const keepHistories = o.keepHistories === undefined ? false : checkBoolean(o.keepHistories, 'options.keepHistories');
  const kept = conditions.length * perCondition * rounds;
  if (keepHistories && kept > MAX_KEPT_ROUNDS) {
    throw new LemmaError('ERR_RANGE', `keepHistories would hold conditions·perCondition·rounds = ${kept} rounds (about ${Math.round(kept * ROUND_BYTES / 2 ** 20)} MiB), more than the limit of ${MAX_KEPT_ROUNDS}: lower perCondition or rounds, or pass keepHistories: false`);
  }
  const seed = o.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : checkInteger(o.seed, 'options.seed', 0, Number.MAX_SAFE_INTEGER);
  const signal = checkSignal(o.signal, 'options.signal');
  const onProgress = checkCallback<(p: SimulateProgress) => void>(o.onProgress, 'options.onProgress');
  return { conditions, perCondition, rounds, payoff, humanModel, agentTimeout, agentRetries, onAgentError, concurrency, keepHistories, seed, signal, onProgress };
}

function checkKnownKeys(o: Record<string, unknown>): void {
  checkKeys(o, 'options', OPTION_NAMES);
}

/** Yields to the event loop when more than `sliceMs` passed since the last yield; checks the signal. */
class Pacer {
  private last = performance.now();
  constructor(private readonly signal: AbortSignal | undefined, private readonly sliceMs = 10) {}
  async tick(): Promise<void> {
    throwIfAborted(this.signal, WHAT);
    if (performance.now() - this.last < this.sliceMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.last = performance.now();
    throwIfAborted(this.signal, WHAT);
  }
}

/** One participant's completed game, from the participant's side. */
interface Outcome {
  participant: number;
  partner: number | null;
  cluster: number;
  log: GameLog;
  /** Index of the participant's side in `log` (the partner is the other). */
  side: 0 | 1;
}

function where(round: number): string {
  return round === 0 ? 'in the pre-game message' : `in round ${round}`;
}

/** The error a run rejects with under onAgentError 'throw' (and that `play` rejects with). */
export function agentError(r: AgentErrorRecord, cause: unknown): LemmaError {
  const e = new LemmaError('ERR_AGENT', `the agent of condition '${r.condition}' failed for participant ${r.participant} ${where(r.round)} (${r.phase}): ${r.message}`);
  Object.assign(e, { condition: r.condition, participant: r.participant, round: r.round, phase: r.phase, timedOut: r.timedOut, cause });
  return e;
}

/**
 * Simulates the machine-penalty design: per condition, `perCondition` simulated participants each
 * exchange a pre-game message with their partner and play `rounds` rounds of the prisoner's
 * dilemma; the result reports the humans' cooperation with a 95 % interval, the partners'
 * cooperation and promise-keeping, mutual-cooperation agreements, per-round trajectories,
 * perception scores, and every pairwise difference between conditions (z, p, Holm).
 *
 * The ordering it produces is a property of the participant model (which encodes the mechanisms
 * the study proposes), not evidence about people.
 *
 * @param options see {@link SimulateOptions}
 * @returns a {@link MachinePenaltyResult} (plain object; `seed` is the seed used)
 * @throws TypeError / RangeError for bad options (an unknown option names the nearest valid one;
 *   a payoff that is not a prisoner's dilemma is a RangeError naming the rule that fails);
 *   LemmaError ERR_AGENT naming the condition, participant and round when an agent fails and
 *   onAgentError is 'throw'; AbortError (code 'ABORT_ERR') when `signal` aborts.
 * @example
 * const r = await lemma.games.machinePenalty.simulate({ perCondition: 288, seed: 1 });
 * for (const c of r.conditions) console.log(c.condition, c.humans.cooperation.rate.toFixed(3));
 */
export async function simulate(options?: SimulateOptions): Promise<MachinePenaltyResult> {
  const p = plan(options);
  const { rounds, payoff, perCondition, signal } = p;
  throwIfAborted(signal, WHAT);
  const pacer = new Pacer(signal);
  const policy: CallPolicy = { timeoutMs: p.agentTimeout, retries: p.agentRetries, signal, what: WHAT };
  const human = simulatedHuman(p.humanModel);
  const [s0, s1] = seedWords(p.seed);
  const total = perCondition * p.conditions.length;
  let done = 0;
  const summaries: ConditionSummary[] = [];
  const errors: AgentErrorRecord[] = [];
  const hists: Float64Array[] = [];

  for (const cond of p.conditions) {
    const key = hashString(cond.name);
    const player = (agent: Agent, participant: number, role: number, partnerIsMachine: boolean): Player =>
      ({ agent, participant, partnerIsMachine, random: stream([s0, s1, key, participant, role]) });
    const units = cond.pairs ? perCondition / 2 : perCondition;
    const outcomes: Outcome[] = [];
    const condErrors: AgentErrorRecord[] = [];
    let failed = 0;
    let next = 0;
    let stop = false;

    const runUnit = async (u: number): Promise<void> => {
      const players: [Player, Player] = cond.pairs
        ? [player(human, 2 * u, 0, false), player(human, 2 * u + 1, 0, false)]
        : [player(human, u, 0, true), player(cond.agent!, u, 1, false)];
      try {
        const log = await playGame(players, { rounds, payoff, condition: cond.name }, policy);
        if (cond.pairs) {
          outcomes.push({ participant: 2 * u, partner: 2 * u + 1, cluster: u, log, side: 0 });
          outcomes.push({ participant: 2 * u + 1, partner: 2 * u, cluster: u, log, side: 1 });
        } else {
          outcomes.push({ participant: u, partner: null, cluster: u, log, side: 0 });
        }
      } catch (e) {
        if (!(e instanceof AgentFailure)) throw e;
        const r: AgentErrorRecord = {
          condition: cond.name, participant: players[e.side].participant, round: e.round, phase: e.phase,
          timedOut: e.timedOut, message: e.message,
        };
        if (p.onAgentError === 'throw') throw agentError(r, e.cause);
        condErrors.push(r);
        failed += cond.pairs ? 2 : 1;
      }
      done += cond.pairs ? 2 : 1;
      p.onProgress?.({ done, total, condition: cond.name });
    };
    const worker = async (): Promise<void> => {
      try {
        while (!stop) {
          await pacer.tick();
          if (stop) return;
          const u = next++;
          if (u >= units) return;
          await runUnit(u);
        }
      } catch (e) {
        stop = true;
        throw e;
      }
    };
    await Promise.all(Array.from({ length: Math.min(p.concurrency, units) }, worker));

    outcomes.sort((a, b) => a.participant - b.participant);
    condErrors.sort((a, b) => a.participant - b.participant);
    errors.push(...condErrors);
    summaries.push(summarize(cond, outcomes, failed, rounds, p.keepHistories));
    const hist = new Float64Array(rounds + 1);
    for (const o of outcomes) hist[count(o.log.moves[o.side])]++;
    hists.push(hist);
  }

  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < summaries.length; i++) for (let j = i + 1; j < summaries.length; j++) pairs.push([i, j]);
  const diffs = pairs.map(([i, j]) => ({
    a: summaries[i].condition,
    b: summaries[j].condition,
    ...difference(summaries[i].humans.cooperation, summaries[j].humans.cooperation),
  }));
  const adjusted = holm(diffs.map((d) => d.p));
  const fit = fitGlmm(hists, rounds);
  const contrasts = pairs.map(([i, j]) => {
    const lor = fit.beta[i] - fit.beta[j];
    const se = Math.sqrt(fit.cov[i][i] + fit.cov[j][j] - 2 * fit.cov[i][j]);
    const z = lor / se;
    return { a: summaries[i].condition, b: summaries[j].condition, logOddsRatio: lor, se, lo: lor - Z95 * se, hi: lor + Z95 * se, z, p: twoSidedP(z) };
  });
  const contrastsHolm = holm(contrasts.map((c) => c.p));
  return {
    seed: p.seed,
    perCondition,
    rounds,
    payoff: { ...payoff },
    humanModel: { ...p.humanModel },
    conditions: summaries,
    differences: diffs.map((d, k) => ({ ...d, pHolm: adjusted[k] })),
    mixedModel: {
      conditions: summaries.map((c, k) => ({ condition: c.condition, logOdds: fit.beta[k], se: fit.se[k] })),
      contrasts: contrasts.map((c, k) => ({ ...c, pHolm: contrastsHolm[k] })),
      sigma: fit.sigma,
      logLik: fit.logLik,
      converged: fit.converged,
    },
    errors,
    device: 'cpu',
  };
}

function count(a: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

function sum(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

/** Per-cluster means of a per-participant value (outcomes sorted by participant, clusters contiguous). */
function byCluster(outcomes: readonly Outcome[], value: (o: Outcome) => number): number[] {
  const out: number[] = [];
  let i = 0;
  while (i < outcomes.length) {
    let j = i;
    let s = 0;
    while (j < outcomes.length && outcomes[j].cluster === outcomes[i].cluster) s += value(outcomes[j++]);
    out.push(s / (j - i));
    i = j;
  }
  return out;
}

function summarize(cond: Condition, outcomes: readonly Outcome[], failed: number, rounds: number, keepHistories: boolean): ConditionSummary {
  const n = outcomes.length;
  const hC = new Array<number>(rounds).fill(0);
  const pC = new Array<number>(rounds).fill(0);
  const mC = new Array<number>(rounds).fill(0);
  let hPromised = 0, pPromised = 0, hKept = 0, pKept = 0, hPay = 0, pPay = 0;
  for (const o of outcomes) {
    const h = o.log.moves[o.side];
    const q = o.log.moves[1 - o.side];
    for (let t = 0; t < rounds; t++) {
      hC[t] += h[t];
      pC[t] += q[t];
      mC[t] += h[t] & q[t];
    }
    if (o.log.messages[o.side].promise === 'C') {
      hPromised++;
      hKept += count(h);
    }
    if (o.log.messages[1 - o.side].promise === 'C') {
      pPromised++;
      pKept += count(q);
    }
    hPay += sum(o.log.payoffs[o.side]);
    pPay += sum(o.log.payoffs[1 - o.side]);
  }
  const clusters = byCluster(outcomes, () => 0).length;
  let agreed = 0;
  let prev = -1;
  for (const o of outcomes) {
    if (o.cluster === prev) continue;
    prev = o.cluster;
    if (o.log.messages[0].promise === 'C' && o.log.messages[1].promise === 'C') agreed++;
  }
  const rate = (x: number, d: number): number => (d > 0 ? x / d : NaN);
  const humanRate = (o: Outcome): number => count(o.log.moves[o.side]) / rounds;
  const partnerRate = (o: Outcome): number => count(o.log.moves[1 - o.side]) / rounds;
  const normBelief = (o: Outcome): number => (1 + count(o.log.moves[1 - o.side])) / (2 + rounds);
  const trust = (o: Outcome): number => {
    const h = o.log.moves[o.side];
    const q = o.log.moves[1 - o.side];
    let mine = 0, met = 0;
    for (let t = 0; t < rounds; t++) {
      mine += h[t];
      met += h[t] & q[t];
    }
    return (1 + met) / (2 + mine);
  };
  const summary: ConditionSummary = {
    condition: cond.name,
    partner: cond.pairs ? 'human' : 'agent',
    participants: n,
    failed,
    humans: {
      cooperation: clusterRate(byCluster(outcomes, humanRate)),
      firstRound: rate(hC[0], n),
      lastRound: rate(hC[rounds - 1], n),
      promisedC: rate(hPromised, n),
      promiseKeeping: rate(hKept, hPromised * rounds),
      payoff: rate(hPay, n * rounds),
    },
    partners: {
      cooperation: clusterRate(byCluster(outcomes, partnerRate)),
      promisedC: rate(pPromised, n),
      promiseKeeping: rate(pKept, pPromised * rounds),
      payoff: rate(pPay, n * rounds),
    },
    agreements: { count: agreed, pairs: clusters, rate: rate(agreed, clusters) },
    mutualCooperation: rate(mC.reduce((a, b) => a + b, 0), n * rounds),
    perRound: {
      humanCooperation: hC.map((c) => rate(c, n)),
      partnerCooperation: pC.map((c) => rate(c, n)),
      mutualCooperation: mC.map((c) => rate(c, n)),
    },
    perception: { normBelief: clusterRate(byCluster(outcomes, normBelief)), trust: clusterRate(byCluster(outcomes, trust)) },
  };
  if (keepHistories) summary.histories = outcomes.map((o) => history(o, rounds));
  return summary;
}

function history(o: Outcome, rounds: number): GameHistory {
  const me = o.side;
  const other = (1 - me) as 0 | 1;
  const mv = (b: number): Move => (b ? 'C' : 'D');
  const list = [];
  for (let t = 0; t < rounds; t++) {
    list.push({
      round: t + 1,
      human: mv(o.log.moves[me][t]),
      partner: mv(o.log.moves[other][t]),
      humanPayoff: o.log.payoffs[me][t],
      partnerPayoff: o.log.payoffs[other][t],
    });
  }
  return {
    participant: o.participant,
    partner: o.partner,
    humanMessage: { ...o.log.messages[me] },
    partnerMessage: { ...o.log.messages[other] },
    rounds: list,
    humanTotal: sum(o.log.payoffs[me]),
    partnerTotal: sum(o.log.payoffs[other]),
  };
}
