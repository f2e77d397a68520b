/**
 * lemma.games.machinePenalty.play: one game between two agents, with the full record. For trying
 * an agent of your own (against the simulated human, a design, or another agent of yours) before
 * running the whole design, and for checking the payoffs by hand.
 */
import { checkBoolean, checkInteger, checkOptions, expected } from '../../validation/index.js';
import { checkSignal, throwIfAborted } from '../../validation/options.js';
import { checkAgent, checkKeys, checkPayoff, checkTimeout } from './check.js';
import { AgentFailure, DEFAULT_PAYOFF, playGame } from './game.js';
import type { Agent, Message, Move, Payoff } from './game.js';
import { hashString, seedWords, stream } from './random.js';
import { agentError } from './simulate.js';

const WHAT = 'lemma.games.machinePenalty.play';

export interface PlayOptions {
  /** Default 10. */
  rounds?: number;
  /** Default { T: 5, R: 3, P: 1, S: 0 }; must be a prisoner's dilemma. */
  payoff?: Payoff;
  /** Which sides are disclosed machines (each side's `partnerIsMachine` is the other's entry). Default [false, false]. */
  machine?: [boolean, boolean];
  /** Milliseconds one asynchronous agent call may take. Default 60000; Infinity: no limit. */
  agentTimeout?: number;
  /** Further attempts after a failed call. Default 0. */
  agentRetries?: number;
  /** Integer seed of both sides' streams; default a random one (returned). */
  seed?: number;
  signal?: AbortSignal;
}

export interface PlayResult {
  seed: number;
  messages: [Message, Message];
  /** One entry per round: both moves and both payoffs, first side then second. */
  history: Array<{ round: number; moves: [Move, Move]; payoffs: [number, number] }>;
  /** Sum of each side's payoffs over the rounds. */
  totals: [number, number];
  /** Share of rounds each side played C. */
  cooperation: [number, number];
}

const OPTION_NAMES = ['rounds', 'payoff', 'machine', 'agentTimeout', 'agentRetries', 'seed', 'signal'] as const;

/**
 * Plays one game of the machine-penalty study between `first` and `second`.
 * @param first an {@link Agent} (side 0)
 * @param second an {@link Agent} (side 1)
 * @param options see {@link PlayOptions}
 * @returns a {@link PlayResult}
 * @throws TypeError / RangeError for bad arguments; LemmaError ERR_AGENT naming the side
 *   (participant 0 or 1) and round when an agent call fails; AbortError when `signal` aborts
 * @example
 * const always = (m: 'C' | 'D') => ({ message: () => ({ promise: m }), decide: () => m });
 * const r = await lemma.games.machinePenalty.play(always('D'), always('C'), { seed: 1 });
 * r.totals; // [50, 0]
 */
export async function play(first: Agent, second: Agent, options?: PlayOptions): Promise<PlayResult> {
  const a = checkAgent(first, 'first');
  const b = checkAgent(second, 'second');
  const o = checkOptions(options, 'options');
  checkKeys(o, 'options', OPTION_NAMES);
  const rounds = o.rounds === undefined ? 10 : checkInteger(o.rounds, 'options.rounds', 1, 1000);
  const payoff = o.payoff === undefined ? DEFAULT_PAYOFF : checkPayoff(o.payoff, 'options.payoff');
  let machine: [boolean, boolean] = [false, false];
  if (o.machine !== undefined) {
    if (!Array.isArray(o.machine) || o.machine.length !== 2) throw new TypeError(expected('a pair of booleans', 'options.machine', o.machine));
    machine = [checkBoolean(o.machine[0], 'options.machine[0]'), checkBoolean(o.machine[1], 'options.machine[1]')];
  }
  const timeoutMs = o.agentTimeout === undefined ? 60_000 : checkTimeout(o.agentTimeout, 'options.agentTimeout');
  const retries = o.agentRetries === undefined ? 0 : checkInteger(o.agentRetries, 'options.agentRetries', 0, 10);
  const seed = o.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : checkInteger(o.seed, 'options.seed', 0, Number.MAX_SAFE_INTEGER);
  const signal = checkSignal(o.signal, 'options.signal');
  throwIfAborted(signal, WHAT);
  const [s0, s1] = seedWords(seed);
  const key = hashString('play');
  let log;
  try {
    log = await playGame(
      [
        { agent: a, participant: 0, partnerIsMachine: machine[1], random: stream([s0, s1, key, 0, 0]) },
        { agent: b, participant: 1, partnerIsMachine: machine[0], random: stream([s0, s1, key, 1, 1]) },
      ],
      { rounds, payoff, condition: 'play' },
      { timeoutMs, retries, signal, what: WHAT },
    );
  } catch (e) {
    if (!(e instanceof AgentFailure)) throw e;
    throw agentError({ condition: 'play', participant: e.side, round: e.round, phase: e.phase, timedOut: e.timedOut, message: e.message }, e.cause);
  }
  const mv = (x: number): Move => (x ? 'C' : 'D');
  const history = Array.from({ length: rounds }, (_, t) => ({
    round: t + 1,
    moves: [mv(log.moves[0][t]), mv(log.moves[1][t])] as [Move, Move],
    payoffs: [log.payoffs[0][t], log.payoffs[1][t]] as [number, number],
  }));
  const total = (s: 0 | 1) => log.payoffs[s].reduce((x, y) => x + y, 0);
  const coop = (s: 0 | 1) => log.moves[s].reduce((x, y) => x + y, 0) / rounds;
  return {
    seed,
    messages: [{ ...log.messages[0] }, { ...log.messages[1] }],
    history,
    totals: [total(0), total(1)],
    cooperation: [coop(0), coop(1)],
  };
}
