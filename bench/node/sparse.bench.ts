/**
 * npm run bench:sparse — sparse attention by half-space reporting (lib/bench/sparse.ts): decoding
 * (M ∈ {1, 16}, D = 128, N ∈ {16k, 64k, 256k, 1M}), prefill (causal, M = N ∈ {4k, 16k}) and
 * D = 8 decoding, for Gaussian keys at the paper's threshold and clustered keys (64 anisotropic
 * Gaussians) at keep = ⌈N^0.8⌉, against lemma's dense attention and the index's own dense kernel
 * measured in the same run. One JSON line per configuration; writes
 * bench/results/sparse-cpu-<cpu>-<threads>t.jsonl, whose first line describes the machine.
 *   node --import tsx bench/node/sparse.bench.ts [--quick] [--threads N] [--max-n N]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runSparseBench } from '../../lib/bench/sparse.js';
import { capabilities } from '../../lib/index.js';

async function main() {
  const args = process.argv.slice(2);
  const arg = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : undefined;
  };
  const lines: string[] = [];
  const records = await runSparseBench({
    quick: args.includes('--quick'),
    threads: arg('--threads'),
    maxN: arg('--max-n'),
    log: (l) => { console.log(l); lines.push(l); },
  });
  const caps = capabilities();
  const cpu = os.cpus()[0]?.model ?? 'unknown-cpu';
  const machine = {
    machine: { cpu, cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, simd: caps.simd, threads: caps.threads, date: new Date().toISOString() },
  };
  const slug = `${cpu.replace(/\(R\)|\(TM\)|CPU|Processor/g, '').trim().replace(/[^A-Za-z0-9]+/g, '-').toLowerCase()}-${caps.threads}t`;
  const file = path.join(__dirname, '..', 'results', `sparse-cpu-${slug}.jsonl`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, [JSON.stringify(machine), ...lines].join('\n') + '\n');
  console.log(`wrote ${records.length} configurations to ${path.relative(process.cwd(), file)}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
