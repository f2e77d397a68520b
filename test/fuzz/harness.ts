/**
 * The fuzz harness: a target is one public function (or object protocol) with an arbitrary of
 * plain scenario descriptors and a `run` that makes the calls through oracle.expectCall. The CI
 * test (test/90.fuzz.test.ts) and the long runner (scripts/fuzz.ts) both run `runTarget`.
 */
import fc from 'fast-check';
import { counters, describeError } from './oracle.js';

export interface FuzzTarget<S = any> {
  family: string;
  name: string;
  arb: fc.Arbitrary<S>;
  /** Makes the calls for one scenario; throws FuzzFailure on a wrong outcome. */
  run: (s: S) => Promise<void>;
  /** Relative weight of the target in a run (default 1: cheap targets get more runs). */
  weight?: number;
}

export interface TargetReport {
  family: string;
  name: string;
  runs: number;
  calls: number;
  failed: boolean;
  /** fast-check's report: counterexample, seed, path, error. */
  message?: string;
  seed: number;
}

/** Runs numRuns scenarios of one target with a seed; never throws (the report says). */
export async function runTarget(t: FuzzTarget, seed: number, numRuns: number): Promise<TargetReport> {
  const before = counters.calls;
  const prop = fc.asyncProperty(t.arb, async (s) => {
    await t.run(s);
  });
  const details = await fc.check(prop, { seed, numRuns, endOnFailure: false, verbose: 1, markInterruptAsFailure: true });
  const report: TargetReport = { family: t.family, name: t.name, runs: details.numRuns, calls: counters.calls - before, failed: details.failed, seed };
  if (details.failed) {
    report.message = [
      `fuzz target ${t.family}.${t.name} failed (seed ${seed}, path "${details.counterexamplePath}", after ${details.numRuns} runs, ${details.numShrinks} shrinks)`,
      `counterexample: ${fc.stringify(details.counterexample)}`,
      `error: ${details.errorInstance instanceof Error ? details.errorInstance.message : describeError(details.errorInstance)}`,
      `replay: npm run fuzz -- --family ${t.family} --target ${t.name} --seed ${seed} --runs ${numRuns}`,
    ].join('\n');
  }
  return report;
}
