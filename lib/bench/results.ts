/**
 * What the family benchmarks share (lib/bench/<family>.ts, behind `lemma bench <family>` and the
 * bench/node/*.bench.ts scripts): the bench/results line format — first line {"machine": {...}},
 * then one JSON line per configuration — the machine slug of the result file names, the options
 * every family takes, and a small runner that emits records, reports progress and checks the
 * abort signal between configurations.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { capabilities } from '../device.js';
import { AbortError } from '../validation/options.js';

/** The machine line: CPU, cores, memory, Node, SIMD level and threads in use, GPU, date. */
export function machineInfo(extra: Record<string, unknown> = {}): Record<string, unknown> {
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

/** The first line of a results file: {"machine": {...}}. */
export function machineLine(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ machine: machineInfo(extra) });
}

/** The CPU model without trademarks, lower case: "intel-xeon", "amd-epyc". */
export function cpuSlug(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown-cpu';
  return cpu.replace(/\(R\)|\(TM\)|CPU|Processor/g, '').trim().replace(/[^A-Za-z0-9]+/g, '-').toLowerCase();
}

/** "intel-xeon-2t": the CPU model without trademarks, and the thread count. */
export function machineSlug(): string {
  return `${cpuSlug()}-${capabilities().threads}t`;
}

/** Progress of a family run: configurations done of total, and what runs now. */
export interface BenchProgress {
  done: number;
  total: number;
  label: string;
}

/** The options of every run<Family>Bench. */
export interface FamilyBenchOptions {
  /** The configurations the bench/node script runs without --quick (minutes to hours). */
  full?: boolean;
  /** The bench/node script's --quick configurations (kept for those scripts). */
  quick?: boolean;
  /** Tiny sizes for tests: the numbers mean little, the code paths are the same. */
  tiny?: boolean;
  /** CPU threads (setNumThreads) before the run; default as set. */
  threads?: number;
  /** Called with each record's JSON line as it is measured; default console.log. */
  log?: (line: string) => void;
  /** Checked between measurements: aborting rejects with an AbortError. */
  signal?: AbortSignal;
  /** Called before each configuration and once at the end (done = total). */
  onProgress?: (p: BenchProgress) => void;
}

/** Which set of configurations a run uses: tiny (tests), default (seconds), quick (the script's --quick), full. */
export type BenchSize = 'tiny' | 'default' | 'quick' | 'full';

export function benchSize(o: FamilyBenchOptions): BenchSize {
  if (o.tiny) return 'tiny';
  if (o.full) return 'full';
  if (o.quick) return 'quick';
  return 'default';
}

/** A record: one JSON line of a results file. */
export type BenchRecord = Record<string, unknown>;

/** Emits records (log + collect), reports progress and checks the signal. */
export class BenchRun<R extends object = BenchRecord> {
  readonly records: R[] = [];
  private done = 0;
  private readonly log: (line: string) => void;

  constructor(private readonly opts: FamilyBenchOptions, private total: number, private readonly what: string) {
    this.log = opts.log ?? ((line: string) => console.log(line));
  }

  /** Throws an AbortError when the signal was aborted. */
  check(): void {
    if (this.opts.signal?.aborted) throw new AbortError(`${this.what} was aborted`, { cause: this.opts.signal.reason });
  }

  /** Starts the next configuration (checks the signal, reports progress). */
  step(label: string): void {
    this.check();
    this.opts.onProgress?.({ done: Math.min(this.done, this.total), total: this.total, label });
    this.done += 1;
  }

  /** Adds to the number of configurations (when it is known only as the run goes). */
  grow(n: number): void {
    this.total += n;
  }

  emit(record: R): R {
    this.records.push(record);
    this.log(JSON.stringify(record));
    return record;
  }

  finish(): R[] {
    this.opts.onProgress?.({ done: this.total, total: this.total, label: 'done' });
    return this.records;
  }
}

/** Mean milliseconds per call of fn, repeated until `minMs` have passed (after one warm-up call when asked). */
export function timeIt(fn: () => void, minMs = 300, warmUp = false): number {
  if (warmUp) fn();
  let reps = 0;
  const t0 = performance.now();
  let el = 0;
  do {
    fn();
    reps++;
    el = performance.now() - t0;
  } while (el < minMs);
  return el / reps;
}

/** The same, for async work. */
export async function timeItAsync(fn: () => Promise<unknown>, minMs = 500): Promise<number> {
  let reps = 0;
  const t0 = performance.now();
  let el = 0;
  do {
    await fn();
    reps++;
    el = performance.now() - t0;
  } while (el < minMs);
  return el / reps;
}
