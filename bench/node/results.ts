/**
 * Where the Node benchmarks write their results: bench/results/<name>-<cpu>-<threads>t.jsonl,
 * whose first line describes the machine (numbers compare only on the same machine). The machine
 * line and the slug live in lib/bench/results.ts (shared with `lemma bench <family>`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { machineInfo, machineSlug } from '../../lib/bench/results.js';

export { machineInfo, machineSlug };

export const RESULTS_DIR = path.join(__dirname, '..', 'results');

/** Writes the machine line and the JSON lines; returns the file's path. */
export function writeResults(prefix: string, lines: string[], extra: Record<string, unknown> = {}): string {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${prefix}-${machineSlug()}.jsonl`);
  fs.writeFileSync(file, [JSON.stringify({ machine: machineInfo(extra) }), ...lines].join('\n') + '\n');
  return file;
}
