/** `lemma bench attention [--quick] [--threads N] [--baseline]`: one JSON line per configuration. */
import type { Command, Commander } from '../shared.js';
import { integerArg } from '../shared.js';

export function registerBench(program: Command, cm: Commander): void {
  const bench = program
    .command('bench')
    .description('benchmark a family on this machine (one JSON line per configuration)');
  bench
    .command('attention')
    .description('attention forward/backward GFLOP/s and % of the fp32 FMA peak measured in the same run')
    .option('--quick', 'small configurations and short timings')
    .option('--threads <n>', 'CPU threads (default: all cores, or LEMMA_NUM_THREADS)', integerArg(cm, 1, 1024))
    .option('--baseline', 'also time the materialized (small-cache) schedule')
    .action(async (opts: { quick?: boolean; threads?: number; baseline?: boolean }) => {
      const { runAttentionBench } = await import('../../bench/attention.js');
      await runAttentionBench({ quick: opts.quick ?? false, threads: opts.threads, baseline: opts.baseline ?? false });
    });
}
