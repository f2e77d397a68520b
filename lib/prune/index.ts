/**
 * lemma.prune: attention-aware pruning (arXiv 2410.11261; spec: shared/specs/attention-pruning.md).
 * TypeScript orchestration over an fp64 objective; no native kernel of its own.
 */
export { attention } from './attention.js';
export type { PruneInputs, PruneOptions, PruneProgress, PruneResult, PruneMethod, Pattern } from './attention.js';
export { objective, objectiveSync } from './objective.js';
export type { ObjectiveInputs, ObjectiveOptions, ObjectiveResult } from './objective.js';
