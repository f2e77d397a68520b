/**
 * lemma.games.machinePenalty: the social-dilemma experiment of arXiv 2410.03724 (humans against
 * humans and against cooperative, selfish and fair LLM agents) as software: the game, the three
 * agent designs as scripted policies, a simulated participant, and the analysis. Pure TypeScript.
 */
export { simulate, BUILT_IN_CONDITIONS } from './simulate.js';
export type {
  SimulateOptions, SimulateProgress, MachinePenaltyResult, ConditionSummary, ConditionDifference, SideSummary,
  AgentErrorRecord, GameHistory, BuiltInCondition, CustomCondition, MixedModel, ModelContrast,
} from './simulate.js';
export { play } from './play.js';
export type { PlayOptions, PlayResult } from './play.js';
export { chart } from './chart.js';
export { cooperative, selfish, fair, simulatedHuman, DEFAULT_HUMAN_MODEL } from './agents.js';
export type { HumanModel, SelfishParams, FairParams } from './agents.js';
export { DEFAULT_PAYOFF, payoffOf } from './game.js';
export type { Agent, AgentState, Message, Move, Payoff, RoundRecord } from './game.js';
export type { Rate } from './stats.js';
