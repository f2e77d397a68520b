// The ES module entry of the package ("exports" → "import"): the same objects as require('lemma'),
// since it re-exports the CommonJS build (dist/lib/index.js) rather than a second copy of it.
// test/97.docs.test.ts checks that these names are exactly the CommonJS entry's exports.
import lemma from '../dist/lib/index.js';

export const {
  attention, polyAttention, nn, polytope, sample, sparse, cuda, dp, prune, looped, games, io,
  capabilities, setNumThreads, setSimdLevel, cudaAvailable, LemmaError, tensor, MAX_ELEMENTS,
} = lemma;

export default lemma;
