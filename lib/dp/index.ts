/**
 * lemma.dp: differentially private L1 kernel density estimation (spec dp-kde-l1.md §4) with exact
 * discrete Laplace noise and a pure-ε privacy budget.
 *   accountant({ epsilon })         budget with basic composition (ERR_BUDGET on overspend)
 *   l1Kde(X, opts)                  arXiv 2409.01688 tree → PrivateL1Kde (query, release, errorStd)
 *   baselineL1Kde(X, opts)          Backurs et al. ICLR 2024 structure, same API, for comparison
 *   loadL1Kde(doc)                  restore either from its release document
 *   discreteLaplace(scale, count)   the exact CKS20 sampler on crypto random bytes
 */
export { accountant, PrivacyAccountant } from './accountant.js';
export type { LedgerEntry } from './accountant.js';
export { discreteLaplace } from './discrete-laplace.js';
export { l1Kde, loadL1Kde, PrivateL1Kde } from './l1-kde.js';
export type { L1KdeOptions, QueryOptions, QueryResult } from './l1-kde.js';
export { baselineL1Kde, BaselineL1Kde } from './baseline.js';
export type { BaselineOptions } from './baseline.js';
export { L1KdeStructure } from './structure.js';
export type { ReleaseOptions } from './structure.js';
export type { L1KdeDocument, Neighbour, NoisePart, Points, RangeOption } from './tree.js';
