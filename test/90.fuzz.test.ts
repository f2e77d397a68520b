/**
 * The bounded, seeded fuzz run (issue 15): every target of test/fuzz, a fixed number of scenarios
 * each, with fixed seeds (LEMMA_FUZZ_SEED overrides). A failure prints fast-check's
 * counterexample, the seed and a replay command. Long runs: npm run fuzz -- --runs N.
 */
import test from 'ava';
import { runTarget } from './fuzz/harness.js';
import { ALL_TARGETS } from './fuzz/index.js';

const SEED = Number(process.env.LEMMA_FUZZ_SEED ?? 20240915);
/** Scenarios per unit of target weight: ~60 targets·runs/s keeps the file well under 60 s. */
const RUNS = Number(process.env.LEMMA_FUZZ_RUNS ?? 600);

ALL_TARGETS.forEach((target, i) => {
  test.serial(`fuzz ${target.family}.${target.name}`, async (t) => {
    const runs = Math.max(20, Math.round(RUNS * (target.weight ?? 1)));
    const r = await runTarget(target, SEED + i, runs);
    t.log(`${r.runs} scenarios, ${r.calls} calls, seed ${r.seed}`);
    if (r.failed) t.fail(r.message);
    else t.pass();
  });
});
