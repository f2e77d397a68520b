/**
 * Every fuzz target, by family. `selectTargets` filters by family / target name.
 */
import type { FuzzTarget } from './harness.js';
import { targets as attention } from './targets/attention.js';
import { targets as polyNn } from './targets/poly-nn.js';
import { targets as sparsePruneLooped } from './targets/sparse-prune-looped.js';
import { targets as polytopeSampleDpGames } from './targets/polytope-sample-dp-games.js';

export const ALL_TARGETS: FuzzTarget[] = [
  ...attention,
  ...polyNn,
  ...sparsePruneLooped,
  ...polytopeSampleDpGames,
];

export function selectTargets(family?: string, name?: string): FuzzTarget[] {
  return ALL_TARGETS.filter((t) => (!family || t.family === family) && (!name || t.name === name));
}
