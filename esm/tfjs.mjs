// The ES module entry of lemma/tfjs ("exports" → "./tfjs" → "import"): the same objects as
// require('lemma/tfjs'), since it re-exports the CommonJS build (dist/lib/tfjs/index.js) rather
// than a second copy of it. It imports no TensorFlow.js: pass yours to lemmaTf(tf).
import lemmaTfjs from '../dist/lib/tfjs/index.js';

export const { lemmaTf } = lemmaTfjs;

export default lemmaTfjs;
