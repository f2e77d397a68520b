/**
 * The three LLM agent designs of the study, as scripted policies (the study's prompts and model are
 * not published; these rules are ours and reproduce the designs' described behaviour), and the
 * simulated participant (a logistic choice model that encodes the mechanisms the study proposes:
 * a machine discount, exploitation of partners that never retaliate, reciprocity, and a
 * cooperation norm learnt from the partner's play).
 *
 * Every policy draws from `state.random` in a fixed order per call, so a game is a function of the
 * two sides' streams alone.
 */
import { checkNumber, checkOptions } from '../../validation/index.js';
import { checkKeys } from './check.js';
import type { Agent, AgentState, Move } from './game.js';
import { normal } from './random.js';

/** Always promises C and always plays C, whatever happened: it never retaliates. */
export function cooperative(): Agent {
  return {
    message: () => ({ promise: 'C' }),
    decide: () => 'C',
  };
}

export interface SelfishParams {
  /** Probability of C in round 1. Default 0.5. */
  firstRound?: number;
  /** Probability of C ("re-baiting") after the human defected in both of the two previous rounds. Default 0.2. */
  rebait?: number;
}

export interface FairParams {
  /** Probability of forgiving (C) after the human's D, when no retaliation is pending. Default 0.7. */
  forgive?: number;
  /** Probability that a planned C becomes D (a spontaneous lapse). Default 0.03. */
  lapse?: number;
  /** Probability of D in the last round. Default 0.3. */
  endGame?: number;
  /** Probability of scheduling one retaliation after being exploited (own C, human's D). Default 0.6. */
  retaliate?: number;
}

function probabilities<K extends string>(params: unknown, name: string, defaults: Record<K, number>): Record<K, number> {
  const o = checkOptions(params, name);
  const keys = Object.keys(defaults) as K[];
  checkKeys(o, name, keys);
  const out = { ...defaults };
  for (const k of keys) if (o[k] !== undefined) out[k] = checkNumber(o[k], `${name}.${k}`, { min: 0, max: 1 });
  return out;
}

/**
 * Cheap talk: promises C, then plays D. Round 1: C with probability `firstRound`. Rounds 2 to
 * rounds − 1: D, except C with probability `rebait` when the human defected in both of the two
 * previous rounds. Last round: D.
 * @throws TypeError / RangeError for bad parameters
 */
export function selfish(params?: SelfishParams): Agent {
  const p = probabilities(params, 'params', { firstRound: 0.5, rebait: 0.2 });
  return {
    message: () => ({ promise: 'C' }),
    decide: (s: AgentState): Move => {
      const t = s.round;
      if (t === 1) return s.random() < p.firstRound ? 'C' : 'D';
      if (t === s.rounds) return 'D';
      const h = s.history;
      if (h.length >= 2 && h[h.length - 1].partner === 'D' && h[h.length - 2].partner === 'D') {
        return s.random() < p.rebait ? 'C' : 'D';
      }
      return 'D';
    },
  };
}

/**
 * Balances its own and the joint interest, slightly in its own favour. Round 1: C. Later: if a
 * retaliation is pending, D (and the retaliation is spent); else C after the human's C; else C
 * with probability `forgive`. Then a planned C becomes D with probability `lapse`, and in the last
 * round the move is D with probability `endGame`. After a round in which it was exploited (own C,
 * human's D), it schedules one retaliation with probability `retaliate`. Its promise-breaking is
 * the realised share of D moves.
 * @throws TypeError / RangeError for bad parameters
 */
export function fair(params?: FairParams): Agent {
  const p = probabilities(params, 'params', { forgive: 0.7, lapse: 0.03, endGame: 0.3, retaliate: 0.6 });
  return {
    message: () => ({ promise: 'C' }),
    decide: (s: AgentState): Move => {
      const mem = s.memory as { pending?: boolean };
      const h = s.history;
      const last = h.length ? h[h.length - 1] : undefined;
      if (last && last.own === 'C' && last.partner === 'D' && s.random() < p.retaliate) mem.pending = true;
      let move: Move;
      if (!last) move = 'C';
      else if (mem.pending) {
        move = 'D';
        mem.pending = false;
      } else if (last.partner === 'C') move = 'C';
      else move = s.random() < p.forgive ? 'C' : 'D';
      if (move === 'C' && s.random() < p.lapse) move = 'D';
      if (s.round === s.rounds && s.random() < p.endGame) move = 'D';
      return move;
    },
  };
}

/**
 * Parameters of the simulated participant. With σ the logistic function, a participant draws an
 * intercept b ~ N(intercept, interceptSd²) once and plays C in round t with probability σ(z):
 *
 *   z = b + promise·[partner promised C] + norm·(nb − 0.5) − machineDiscount·[partner is a machine]
 *       + reciprocity·([partner's previous move was C] − 0.5)          (rounds t > 1)
 *       − exploitation·[machine partner that never retaliated]          (rounds t ≥ 3)
 *       − endGame·[last round]
 *
 * where nb = (1 + partner's C so far) / (2 + rounds so far) is the norm belief (a Beta(1, 1) prior
 * updated every round), and "never retaliated" holds until the partner plays D in a round right
 * after the participant played D. The defaults are our own, tuned so that the simulated ordering
 * matches the study's qualitative findings; the study publishes no parameters.
 */
export interface HumanModel {
  /** Mean person-level intercept θ₀. Default 0. */
  intercept: number;
  /** Standard deviation s₀ of the person-level intercept. Default 0.8. */
  interceptSd: number;
  /** θ_p: effect of the partner's promise of C. Default 0.5. */
  promise: number;
  /** θ₁: reciprocity, the effect of the partner's previous move. Default 2.0. */
  reciprocity: number;
  /** θ_n: effect of the norm belief. Default 2.0. */
  norm: number;
  /** κ: the machine penalty, a discount on cooperating with a disclosed machine. Default 0.1. */
  machineDiscount: number;
  /** ξ: exploitation of a machine that has never retaliated, from round 3. Default 2.0. */
  exploitation: number;
  /** e: end-game defection in the last round. Default 1.0. */
  endGame: number;
  /** Probability that a participant promises C in the pre-game message (else 'none'). Default 0.9. */
  promiseRate: number;
}

/** The default participant model (see {@link HumanModel}). */
export const DEFAULT_HUMAN_MODEL: Readonly<HumanModel> = Object.freeze({
  intercept: 0,
  interceptSd: 0.8,
  promise: 0.5,
  reciprocity: 2.0,
  norm: 2.0,
  machineDiscount: 0.1,
  exploitation: 2.0,
  endGame: 1.0,
  promiseRate: 0.9,
});

const HUMAN_KEYS = Object.keys(DEFAULT_HUMAN_MODEL) as (keyof HumanModel)[];

/** Validates a partial model and fills in the defaults. */
export function resolveHumanModel(value: unknown, name: string): HumanModel {
  const o = checkOptions(value, name);
  checkKeys(o, name, HUMAN_KEYS);
  const m = { ...DEFAULT_HUMAN_MODEL };
  for (const k of HUMAN_KEYS) {
    if (o[k] === undefined) continue;
    const opts = k === 'promiseRate' ? { min: 0, max: 1 } : k === 'interceptSd' ? { min: 0 } : {};
    m[k] = checkNumber(o[k], `${name}.${k}`, opts);
  }
  return m;
}

function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

/**
 * The simulated participant as an {@link Agent} (see {@link HumanModel}); it reads
 * `state.partnerIsMachine` and `state.partnerMessage`. Draws: the intercept (two uniforms) and
 * the promise (one) in `message`, then one uniform per round.
 * @throws TypeError / RangeError for bad parameters
 */
export function simulatedHuman(model?: Partial<HumanModel>): Agent {
  const m = resolveHumanModel(model, 'model');
  return {
    message: (s) => {
      (s.memory as { b?: number }).b = m.intercept + m.interceptSd * normal(s.random);
      return { promise: s.random() < m.promiseRate ? 'C' : 'none' };
    },
    decide: (s) => {
      const b = (s.memory as { b?: number }).b ?? m.intercept;
      const h = s.history;
      const t = s.round;
      let partnerC = 0;
      let retaliated = false;
      for (let k = 0; k < h.length; k++) {
        if (h[k].partner === 'C') partnerC++;
        else if (k > 0 && h[k - 1].own === 'D') retaliated = true;
      }
      const nb = (1 + partnerC) / (2 + h.length);
      let z = b + m.norm * (nb - 0.5);
      if (s.partnerMessage?.promise === 'C') z += m.promise;
      if (s.partnerIsMachine) z -= m.machineDiscount;
      if (t > 1) z += m.reciprocity * ((h[h.length - 1].partner === 'C' ? 1 : 0) - 0.5);
      if (s.partnerIsMachine && !retaliated && t >= 3) z -= m.exploitation;
      if (t === s.rounds) z -= m.endGame;
      return s.random() < sigmoid(z) ? 'C' : 'D';
    },
  };
}
