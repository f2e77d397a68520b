/**
 * npm run bench: the full CPU attention benchmark (B = 1, H = 8, D ∈ {64, 128},
 * N ∈ {512 … 4096}, causal on/off), one JSON line per configuration, with the FMA peak and the
 * materialized schedule measured in the same run as baselines. Writes
 * bench/results/attention-cpu-<cpu>-<threads>t.jsonl, whose first line describes the machine.
 *   node --import tsx bench/node/attention.bench.ts [--threads N] [--quick] [--no-baseline]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runAttentionBench } from '../../lib/bench/attention.js';
import { capabilities } from '../../lib/index.js';

async function main() {
  const args = process.argv.slice(2);
  const ti = args.indexOf('--threads');
  const threads = ti >= 0 ? Number(args[ti + 1]) : undefined;
  const lines: string[] = [];
  const records = await runAttentionBench({
    quick: args.includes('--quick'),
    threads,
    baseline: !args.includes('--no-baseline'),
    log: (l) => { console.log(l); lines.push(l); },
  });
  const caps = capabilities();
  const cpu = os.cpus()[0]?.model ?? 'unknown-cpu';
  const machine = {
    machine: { cpu, cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, simd: caps.simd, threads: caps.threads, date: new Date().toISOString() },
  };
  const slug = `${cpu.replace(/\(R\)|\(TM\)|CPU|Processor/g, '').trim().replace(/[^A-Za-z0-9]+/g, '-').toLowerCase()}-${caps.threads}t`;
  const file = path.join(__dirname, '..', 'results', `attention-cpu-${slug}.jsonl`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, [JSON.stringify(machine), ...lines].join('\n') + '\n');
  console.log(`wrote ${records.length} configurations to ${path.relative(process.cwd(), file)}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
