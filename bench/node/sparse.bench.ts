/**
 * npm run bench:sparse — sparse attention by half-space reporting (lib/bench/sparse.ts): decoding
 * (M ∈ {1, 16}, D = 128, N ∈ {16k, 64k, 256k, 1M}), prefill (causal, M = N ∈ {4k, 16k}) and
 * D = 8 decoding, for Gaussian keys at the paper's threshold and clustered keys (64 anisotropic
 * Gaussians) at keep = ⌈N^0.8⌉, against lemma's dense attention and the index's own dense kernel
 * measured in the same run. One JSON line per configuration; writes
 * bench/results/sparse-cpu-<cpu>-<threads>t.jsonl, whose first line describes the machine.
 *   node --import tsx bench/node/sparse.bench.ts [--quick] [--threads N] [--max-n N]
 */
import path from 'node:path';
import { runSparseBench } from '../../lib/bench/sparse.js';
import { writeResults } from './results.js';

async function main() {
  const args = process.argv.slice(2);
  const arg = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : undefined;
  };
  const lines: string[] = [];
  const records = await runSparseBench({
    quick: args.includes('--quick'),
    full: !args.includes('--quick'),
    threads: arg('--threads'),
    maxN: arg('--max-n'),
    log: (l) => { console.log(l); lines.push(l); },
  });
  const file = writeResults('sparse-cpu', lines);
  console.log(`wrote ${records.length} configurations to ${path.relative(process.cwd(), file)}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
