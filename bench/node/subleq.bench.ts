/**
 * npm run bench:subleq — lemma.looped.subleq (lib/bench/subleq.ts): the looped ReLU-MLP over B
 * machines for the multiply-size and sort-size geometries (MLP steps/s, program-steps/s,
 * multiply-adds/s), beside the TypeScript interpreter measured in the same run. One JSON line per
 * configuration; writes bench/results/subleq-<cpu>-<threads>t.jsonl (first line: the machine).
 *   node --import tsx bench/node/subleq.bench.ts [--quick] [--threads N]
 */
import { runSubleqBench } from '../../lib/bench/subleq.js';
import { writeResults } from './results.js';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const ti = args.indexOf('--threads');
  const lines: string[] = [];
  await runSubleqBench({
    quick, full: !quick, threads: ti >= 0 ? Number(args[ti + 1]) : undefined,
    log: (l) => { console.log(l); lines.push(l); },
  });
  const file = writeResults('subleq', lines, { quick });
  console.log(`wrote ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
