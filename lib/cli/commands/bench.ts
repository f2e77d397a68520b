/**
 * `lemma bench [--quick] [--only F,G] [--out DIR] [--json] [--no-progress] [--threads N]`: the quick
 * suite (one small case per capability, lib/bench/quick.ts): a table on stdout (or JSON lines with
 * --json) and DIR/results.json, DIR/*.svg, DIR/index.html (default DIR lemma-report).
 * `lemma bench attention [--quick] [--threads N] [--baseline]`: one JSON line per configuration.
 */
import path from 'node:path';
import type { Command, Commander } from '../shared.js';
import { UsageError, integerArg, interruptible } from '../shared.js';
import { progressBar } from '../progress.js';

interface SuiteOptions {
  quick?: boolean;
  only?: string;
  out: string;
  json?: boolean;
  progress: boolean;
  threads?: number;
  tiny?: boolean;
}

async function suiteAction(opts: SuiteOptions, cmd: Command): Promise<void> {
  if (cmd.args.length > 0) cmd.error(`error: unknown command '${cmd.args[0]}'`, { code: 'commander.unknownCommand', exitCode: 2 });
  const { runQuickSuite, quickFamilies } = await import('../../bench/quick.js');
  const families = opts.only?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const known = quickFamilies();
  for (const f of families ?? []) if (!known.includes(f)) throw new UsageError(`unknown family '${f}' in --only (expected some of ${known.join(', ')})`);
  if (opts.threads !== undefined) {
    const { setNumThreads } = await import('../../device.js');
    setNumThreads(opts.threads);
  }
  const bar = progressBar('bench', { enabled: opts.progress, delayMs: 0 });
  let run;
  try {
    run = await interruptible((signal) => runQuickSuite({
      tiny: opts.tiny || process.env.LEMMA_BENCH_TINY === '1', families, signal,
      onProgress: (p) => bar.update({ done: p.done, total: p.total }, p.label),
    }));
  } finally {
    bar.finish();
  }
  const { formatJsonLines, formatTable, writeReport } = await import('../../bench/report.js');
  const written = await writeReport(opts.out, run);
  if (opts.json) {
    process.stdout.write(formatJsonLines(run));
    return;
  }
  const html = written.find((f) => f.endsWith('index.html'));
  process.stdout.write(formatTable(run) + `wrote ${path.join(opts.out, 'results.json')} and the report ${html ?? ''}\n`);
}

export function registerBench(program: Command, cm: Commander): void {
  const bench = program
    .command('bench')
    .description('benchmark every capability on this machine (the quick suite: a table, results.json and an HTML report), or one family')
    .usage('[--quick] [--only F,G] [--out DIR] [--json] [--no-progress] [--threads N] | attention [options]');
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
  // Set after the subcommand is made (subcommands inherit settings): extra words reach the action,
  // which reports them as an unknown command.
  bench
    .enablePositionalOptions()  // bench's own options only before a family: `bench attention --threads 1` is attention's
    .allowExcessArguments(true)
    .option('--quick', 'the quick suite (the default; small sizes, 3 timed runs per case)')
    .option('--only <families>', 'comma-separated families to run (attention, sparse, poly-attention, dikin, john, dp, looped, subleq, prune, games)')
    .option('--out <DIR>', 'where to write results.json, the chart SVGs and index.html', 'lemma-report')
    .option('--json', 'print JSON lines (the machine first, then one per case) instead of the table')
    .option('--no-progress', 'no progress bar on stderr')
    .option('--threads <n>', 'CPU threads (default: all cores, or LEMMA_NUM_THREADS)', integerArg(cm, 1, 1024))
    .addOption(new cm.Option('--tiny', 'tiny sizes (tests)').hideHelp())
    .action(suiteAction);
}
