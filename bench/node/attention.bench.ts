/**
 * npm run bench: the full CPU attention benchmark (B = 1, H = 8, D ∈ {64, 128},
 * N ∈ {512 … 4096}, causal on/off), one JSON line per configuration, with the FMA peak and the
 * materialized schedule measured in the same run as baselines; then decoding (M ∈ {1, 16} rows,
 * 1 or 8 query heads on one kv head, Nk = 262,144, D = 128) beside the time to stream K and V
 * once. Writes bench/results/attention-cpu-<cpu>-<threads>t.jsonl, whose first line describes
 * the machine.
 *   node --import tsx bench/node/attention.bench.ts [--threads N] [--quick] [--no-baseline]
 *     [--decode-only] [--no-decode]
 */
import path from 'node:path';
import { runAttentionBench } from '../../lib/bench/attention.js';
import { writeResults } from './results.js';

async function main() {
  const args = process.argv.slice(2);
  const ti = args.indexOf('--threads');
  const quick = args.includes('--quick');
  const lines: string[] = [];
  const records = await runAttentionBench({
    quick,
    full: !quick,
    threads: ti >= 0 ? Number(args[ti + 1]) : undefined,
    baseline: !args.includes('--no-baseline'),
    dense: !args.includes('--decode-only'),
    decode: !args.includes('--no-decode'),
    log: (l: string) => { console.log(l); lines.push(l); },
  });
  const file = writeResults('attention-cpu', lines);
  console.log(`wrote ${records.length} configurations to ${path.relative(process.cwd(), file)}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
