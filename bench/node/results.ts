/**
 * Where the Node benchmarks write their results: bench/results/<name>-<cpu>-<threads>t.jsonl,
 * whose first line describes the machine (numbers compare only on the same machine).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { capabilities } from '../../lib/index.js';

export const RESULTS_DIR = path.join(__dirname, '..', 'results');

/** The machine line: CPU, cores, memory, Node, SIMD level and threads in use, GPU, date. */
export function machineInfo(extra: Record<string, unknown> = {}) {
  const caps = capabilities();
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown-cpu',
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    simd: caps.simd,
    threads: caps.threads,
    cuda: caps.cuda.deviceCount > 0 ? caps.cuda.devices[0]?.name : 'none',
    date: new Date().toISOString(),
    ...extra,
  };
}

/** "intel-xeon-2t": the CPU model without trademarks, and the thread count. */
export function machineSlug(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown-cpu';
  const name = cpu.replace(/\(R\)|\(TM\)|CPU|Processor/g, '').trim().replace(/[^A-Za-z0-9]+/g, '-').toLowerCase();
  return `${name}-${capabilities().threads}t`;
}

/** Writes the machine line and the JSON lines; returns the file's path. */
export function writeResults(prefix: string, lines: string[], extra: Record<string, unknown> = {}): string {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${prefix}-${machineSlug()}.jsonl`);
  fs.writeFileSync(file, [JSON.stringify({ machine: machineInfo(extra) }), ...lines].join('\n') + '\n');
  return file;
}
