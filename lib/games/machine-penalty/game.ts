/**
 * The game of the machine-penalty study (arXiv 2410.03724): a finitely repeated prisoner's dilemma
 * with a known horizon, preceded by one structured pre-game message from each side (the study's
 * chat, reduced to a promise). Every player, the simulated human included, is an {@link Agent};
 * this file is the one engine that plays two of them, with the per-call timeout, retries and the
 * failure record that name the round.
 *
 * Invariants: an agent never sees its partner's move of the current round (both moves are asked
 * for before either is revealed, and each side draws from its own random stream); messages are
 * simultaneous too (neither sees the other's before sending its own).
 */
import { describe } from '../../validation/index.js';
import { AbortError } from '../../validation/options.js';

/** A move: cooperate or defect. */
export type Move = 'C' | 'D';

/** The pre-game message: what the sender promises to play, and optional free text. */
export interface Message {
  promise: 'C' | 'D' | 'none';
  text?: string;
}

/**
 * One round's payoffs, from the row player's side: T temptation (D against C), R reward (C, C),
 * P punishment (D, D), S sucker (C against D). A prisoner's dilemma needs T > R > P > S and
 * 2R > T + S (taking turns exploiting each other pays less than cooperating).
 */
export interface Payoff {
  T: number;
  R: number;
  P: number;
  S: number;
}

/** The default payoff (T, R, P, S) = (5, 3, 1, 0): the study's own matrix is not published. */
export const DEFAULT_PAYOFF: Readonly<Payoff> = Object.freeze({ T: 5, R: 3, P: 1, S: 0 });

/** One past round, from the point of view of the player reading it. */
export interface RoundRecord {
  readonly round: number;
  readonly own: Move;
  readonly partner: Move;
  readonly ownPayoff: number;
  readonly partnerPayoff: number;
}

/** What an agent is told on each call. */
export interface AgentState {
  /** 0 for `message` (the pre-game chat), 1..rounds for `decide`. */
  readonly round: number;
  /** The horizon, known to both sides. */
  readonly rounds: number;
  readonly payoff: Readonly<Payoff>;
  /** The rounds played so far (never the current one). */
  readonly history: readonly RoundRecord[];
  /** This side's pre-game message (undefined inside `message`). */
  readonly ownMessage: Message | undefined;
  /** The partner's pre-game message (undefined inside `message`: messages are simultaneous). */
  readonly partnerMessage: Message | undefined;
  /** Whether the partner is a machine (the study disclosed it in every machine condition). */
  readonly partnerIsMachine: boolean;
  /** The condition's name ('human', 'fair', or a custom condition's). */
  readonly condition: string;
  /** The simulated participant this game belongs to (0-based within the condition). */
  readonly participant: number;
  /**
   * Scratch space for this side in this game only (the built-in designs keep their pending
   * retaliation here; an LLM agent can keep its conversation here). Starts empty.
   */
  readonly memory: Record<string, unknown>;
  /** Uniform numbers in (0, 1) from this side's own seeded stream (use it instead of Math.random). */
  random(): number;
  /** Aborted when this call times out or the run is aborted: pass it to your LLM client. */
  readonly signal: AbortSignal;
}

/**
 * A player. Both methods may return a value or a Promise (for instance a call to an LLM client
 * the user supplies); a call that throws, rejects, times out or returns something else than a
 * Message / 'C' | 'D' is a failure of that round.
 * @example
 * const titForTat: Agent = {
 *   message: () => ({ promise: 'C' }),
 *   decide: (s) => (s.history.length === 0 ? 'C' : s.history[s.history.length - 1].partner),
 * };
 */
export interface Agent {
  message(state: AgentState): Message | PromiseLike<Message>;
  decide(state: AgentState): Move | PromiseLike<Move>;
}

const NOT_ABORTED = Symbol('not aborted');

/** The state object of one call; its signal is created only when the agent reads it. */
class CallState implements AgentState {
  #ctl: AbortController | undefined;
  #reason: unknown = NOT_ABORTED;
  #run: AbortSignal | undefined;
  #onRun: (() => void) | undefined;
  constructor(
    readonly round: number,
    readonly rounds: number,
    readonly payoff: Readonly<Payoff>,
    readonly history: readonly RoundRecord[],
    readonly ownMessage: Message | undefined,
    readonly partnerMessage: Message | undefined,
    readonly partnerIsMachine: boolean,
    readonly condition: string,
    readonly participant: number,
    readonly memory: Record<string, unknown>,
    readonly random: () => number,
    run: AbortSignal | undefined,
  ) {
    this.#run = run;
  }
  get signal(): AbortSignal {
    if (!this.#ctl) {
      const ctl = new AbortController();
      this.#ctl = ctl;
      if (this.#reason !== NOT_ABORTED) ctl.abort(this.#reason);
      else if (this.#run?.aborted) ctl.abort(this.#run.reason);
      else if (this.#run) {
        const run = this.#run;
        this.#onRun = () => ctl.abort(run.reason);
        run.addEventListener('abort', this.#onRun, { once: true });
      }
    }
    return this.#ctl.signal;
  }
  abort(reason: unknown): void {
    if (this.#reason !== NOT_ABORTED) return;
    this.#reason = reason;
    this.#ctl?.abort(reason);
  }
  finish(): void {
    if (this.#onRun) this.#run?.removeEventListener('abort', this.#onRun);
    this.#onRun = undefined;
  }
}

/** How agent calls are made. */
export interface CallPolicy {
  /** Milliseconds an asynchronous call may take (Infinity: no limit). */
  timeoutMs: number;
  /** Further attempts after a failed call. */
  retries: number;
  /** The run's signal: aborting it rejects the pending call with an AbortError. */
  signal: AbortSignal | undefined;
  /** Name used in the AbortError's message. */
  what: string;
}

/** A call to an agent failed (after its retries): which side, round and method. */
export class AgentFailure extends Error {
  constructor(
    readonly side: 0 | 1,
    readonly round: number,
    readonly phase: 'message' | 'decide',
    readonly timedOut: boolean,
    cause: unknown,
  ) {
    super(errorMessage(cause), { cause });
    this.name = 'AgentFailure';
  }
}

class AgentTimeout extends Error {
  constructor(ms: number) {
    super(`timed out after ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

class InvalidOutput extends Error {}

function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  return `threw ${describe(e)}`;
}

/** Whether `v` has a callable `then` (a Promise or any thenable an agent may return). */
export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

const noop = (): void => {};

/** An agent's answer for an error message: JSON when it has one, at most 80 characters. */
function show(v: unknown): string {
  if (typeof v === 'object' && v !== null) {
    try {
      const s = JSON.stringify(v);
      if (s !== undefined) return s.length > 80 ? `${s.slice(0, 77)}...` : s;
    } catch {
      // cyclic: fall through
    }
  }
  return describe(v);
}

function checkMove(v: unknown): Move {
  if (v === 'C' || v === 'D') return v;
  throw new InvalidOutput(`decide returned ${show(v)}; expected 'C' or 'D'`);
}

function checkMessage(v: unknown): Message {
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const { promise, text } = v as { promise?: unknown; text?: unknown };
    if ((promise === 'C' || promise === 'D' || promise === 'none') && (text === undefined || typeof text === 'string')) {
      return Object.freeze(text === undefined ? { promise } : { promise, text });
    }
  }
  throw new InvalidOutput(`message returned ${show(v)}; expected { promise: 'C' | 'D' | 'none', text?: string }`);
}

interface Site<T> {
  agent: Agent;
  phase: 'message' | 'decide';
  side: 0 | 1;
  round: number;
  state: () => CallState;
  check: (v: unknown) => T;
  policy: CallPolicy;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown } | { pending: PromiseLike<unknown> };

function attempt(site: Site<unknown>, state: CallState): Outcome {
  try {
    const v = site.phase === 'message' ? site.agent.message(state) : site.agent.decide(state);
    return isThenable(v) ? { pending: v } : { ok: true, value: v };
  } catch (error) {
    return { ok: false, error };
  }
}

/**
 * Calls the agent. A synchronous answer that is valid comes back synchronously (the scripted
 * designs never touch a Promise); anything else goes through {@link invokeSlow}.
 */
function invoke<T>(site: Site<T>): T | Promise<T> {
  const state = site.state();
  const first = attempt(site as Site<unknown>, state);
  if ('ok' in first && first.ok) {
    try {
      const v = site.check(first.value);
      state.finish();
      return v;
    } catch (error) {
      return invokeSlow(site, state, { ok: false, error });
    }
  }
  return invokeSlow(site, state, first);
}

async function invokeSlow<T>(site: Site<T>, firstState: CallState, first: Outcome): Promise<T> {
  let last: unknown;
  let timedOut = false;
  for (let k = 0; k <= site.policy.retries; k++) {
    const state = k === 0 ? firstState : site.state();
    const outcome = k === 0 ? first : attempt(site as Site<unknown>, state);
    try {
      if ('pending' in outcome) return site.check(await settle(outcome.pending, state, site.policy));
      if (!outcome.ok) throw outcome.error;
      return site.check(outcome.value);
    } catch (error) {
      if (error instanceof AbortError) throw error;
      last = error;
      timedOut = error instanceof AgentTimeout;
    } finally {
      state.finish();
    }
  }
  throw new AgentFailure(site.side, site.round, site.phase, timedOut, last);
}

/** Waits for a pending answer, at most timeoutMs, and no longer than the run's signal allows. */
function settle(pending: PromiseLike<unknown>, state: CallState, policy: CallPolicy): Promise<unknown> {
  const run = policy.signal;
  if (run?.aborted) {
    state.abort(run.reason);
    Promise.resolve(pending).then(noop, noop);
    return Promise.reject(new AbortError(`${policy.what} was aborted`, { cause: run.reason }));
  }
  return new Promise((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = (): void => {
      done();
      state.abort(run?.reason);
      reject(new AbortError(`${policy.what} was aborted`, { cause: run?.reason }));
    };
    const done = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      run?.removeEventListener('abort', onAbort);
    };
    if (Number.isFinite(policy.timeoutMs)) {
      timer = setTimeout(() => {
        const e = new AgentTimeout(policy.timeoutMs);
        done();
        state.abort(e);
        reject(e);
      }, policy.timeoutMs);
    }
    run?.addEventListener('abort', onAbort, { once: true });
    Promise.resolve(pending).then(
      (v) => { done(); resolve(v); },
      (e) => { done(); reject(e); },
    );
  });
}

/**
 * Both sides' answers. Synchronous when both are; otherwise waits for both (so neither rejection
 * goes unhandled) and reports side 0's failure before side 1's, whatever finished first.
 */
function both<T>(f0: () => T | Promise<T>, f1: () => T | Promise<T>): [T, T] | Promise<[T, T]> {
  const a = f0();
  let b: T | Promise<T>;
  try {
    b = f1();
  } catch (e) {
    if (isThenable(a)) (a as Promise<T>).then(noop, noop);
    throw e;
  }
  if (!isThenable(a) && !isThenable(b)) return [a as T, b as T];
  return Promise.allSettled([a, b]).then(([ra, rb]) => {
    if (ra.status === 'rejected') throw ra.reason;
    if (rb.status === 'rejected') throw rb.reason;
    return [ra.value, rb.value] as [T, T];
  });
}

/** One side of a game. */
export interface Player {
  agent: Agent;
  random: () => number;
  partnerIsMachine: boolean;
  /** The participant index this side's state reports. */
  participant: number;
}

/** The record of one game: messages, moves (1 = C) and per-round payoffs, side 0 then side 1. */
export interface GameLog {
  messages: [Message, Message];
  moves: [Uint8Array, Uint8Array];
  payoffs: [Float64Array, Float64Array];
}

/** What the row player earns playing `own` against `partner`. */
export function payoffOf(own: Move, partner: Move, p: Readonly<Payoff>): number {
  if (own === 'C') return partner === 'C' ? p.R : p.S;
  return partner === 'C' ? p.T : p.P;
}

const EMPTY: readonly RoundRecord[] = Object.freeze([]);

/**
 * Plays one game between two players. Rejects with an {@link AgentFailure} naming the side, round
 * and method of the first failed call, or with an AbortError when `policy.signal` aborts.
 */
export async function playGame(
  players: readonly [Player, Player],
  game: { rounds: number; payoff: Readonly<Payoff>; condition: string },
  policy: CallPolicy,
): Promise<GameLog> {
  const { rounds, payoff, condition } = game;
  const memory: [Record<string, unknown>, Record<string, unknown>] = [{}, {}];
  const state = (side: 0 | 1, round: number, history: readonly RoundRecord[], own?: Message, partner?: Message) => () =>
    new CallState(round, rounds, payoff, history, own, partner, players[side].partnerIsMachine, condition,
      players[side].participant, memory[side], players[side].random, policy.signal);
  const call = <T>(side: 0 | 1, phase: 'message' | 'decide', round: number, make: () => CallState, check: (v: unknown) => T) => () =>
    invoke<T>({ agent: players[side].agent, phase, side, round, state: make, check, policy });

  const msgs = both(call(0, 'message', 0, state(0, 0, EMPTY), checkMessage), call(1, 'message', 0, state(1, 0, EMPTY), checkMessage));
  const messages = isThenable(msgs) ? await msgs : msgs;
  const moves: [Uint8Array, Uint8Array] = [new Uint8Array(rounds), new Uint8Array(rounds)];
  const payoffs: [Float64Array, Float64Array] = [new Float64Array(rounds), new Float64Array(rounds)];
  let h0 = EMPTY;
  let h1 = EMPTY;
  for (let t = 1; t <= rounds; t++) {
    const r = both(
      call(0, 'decide', t, state(0, t, h0, messages[0], messages[1]), checkMove),
      call(1, 'decide', t, state(1, t, h1, messages[1], messages[0]), checkMove),
    );
    const [a, b] = isThenable(r) ? await r : r;
    const pa = payoffOf(a, b, payoff);
    const pb = payoffOf(b, a, payoff);
    moves[0][t - 1] = a === 'C' ? 1 : 0;
    moves[1][t - 1] = b === 'C' ? 1 : 0;
    payoffs[0][t - 1] = pa;
    payoffs[1][t - 1] = pb;
    h0 = Object.freeze([...h0, Object.freeze({ round: t, own: a, partner: b, ownPayoff: pa, partnerPayoff: pb })]);
    h1 = Object.freeze([...h1, Object.freeze({ round: t, own: b, partner: a, ownPayoff: pb, partnerPayoff: pa })]);
  }
  return { messages, moves, payoffs };
}
