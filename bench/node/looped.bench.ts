/**
 * npm run bench:looped — lemma.looped's fixed-point operations (lib/bench/looped.ts): sign-box
 * certificates per second beside the plain forward pass, and iterate's start-steps/s and GFLOP/s
 * beside the fp64 oracle and the TypeScript loop, measured in the same run. One JSON line per
 * configuration; writes bench/results/looped-<cpu>-<threads>t.jsonl (first line: the machine).
 *   node --import tsx bench/node/looped.bench.ts [--quick]
 */
import { runLoopedBench } from '../../lib/bench/looped.js';
import { writeResults } from './results.js';

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const lines: string[] = [];
  await runLoopedBench({ quick, full: !quick, log: (l) => { console.log(l); lines.push(l); } });
  const file = writeResults('looped', lines);
  console.error(`wrote ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
