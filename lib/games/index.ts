/**
 * lemma.games: experiments from the literature as simulations (TypeScript only, no native kernel).
 */
export * as machinePenalty from './machine-penalty/index.js';
