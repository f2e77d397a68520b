/**
 * GPU: device tensors and attention on them (the checks in bench/gpu/device-checks.ts, which the
 * GPU bundle also runs without ava). Skipped, with the reason, when no GPU is usable.
 */
import test from 'ava';
import * as lemma from '../../lib/index.js';
import { CHECKS } from '../../bench/gpu/device-checks.js';

const usable = lemma.cudaAvailable();
if (!usable) console.log(`test/gpu skipped: ${lemma.capabilities().cuda.reason}`);
for (const [name, fn] of CHECKS) {
  (usable ? test.serial : test.skip)(`gpu: ${name}`, async (t) => {
    t.deepEqual(await fn(), []);
  });
}
