/**
 * `lemma bench [--quick] [--only F,G] [--out DIR] [--json] [--no-progress] [--threads N]`: the quick
 * suite (one small case per capability, lib/bench/quick.ts): a table on stdout (or JSON lines with
 * --json) and DIR/results.json, DIR/*.svg, DIR/index.html (default DIR lemma-report).
 * `lemma bench <family> [--full] [--threads N] [--out FILE] [--no-progress]`: one family's benchmark
 * (lib/bench/<family>.ts, the same code as bench/node/*.bench.ts): JSON lines on stdout in the
 * bench/results format — first {"machine": {...}}, then one line per configuration — and the same
 * lines in FILE with --out. Default sizes take seconds; --full runs the bench/node scripts' full
 * configurations. `lemma bench attention` also takes --quick (the default size) and --baseline.
 */
import { writeFileSync } from 'node:fs';
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

/** The families of `lemma bench <family>`, in the quick suite's order: what each measures and its runner. */
const FAMILIES: Record<string, { what: string; run: () => Promise<(o: FamilyRunOptions) => Promise<unknown[]>> }> = {
  attention: { what: 'dense attention forward/backward GFLOP/s and % of the FMA peak, then decoding vs the K/V stream time', run: async () => (await import('../../bench/attention.js')).runAttentionBench },
  sparse: { what: 'sparse attention by half-space reporting (KeyIndex.attend) vs dense attention', run: async () => (await import('../../bench/sparse.js')).runSparseBench },
  'poly-attention': { what: 'polynomial attention fwd + bwd vs exact attention against N, and the attention stack', run: async () => (await import('../../bench/poly-attention.js')).runPolyAttentionBench },
  dikin: { what: 'Dikin walk steps/s and min-ESS/s (cube, simplex, random polytope) vs the fp64 oracle and each SIMD level', run: async () => (await import('../../bench/polytope.js')).runDikinBench },
  john: { what: 'John ellipsoid solves/s, exact leverage scores vs the sketched variant', run: async () => (await import('../../bench/polytope.js')).runJohnBench },
  dp: { what: 'private L1 KDE: discrete Laplace draws/s, build, queries/s vs the baseline structure, error vs epsilon', run: async () => (await import('../../bench/dp.js')).runDpBench },
  looped: { what: 'looped networks: certificates/s and iterate GFLOP/s vs the fp64 oracle and the TypeScript loop', run: async () => (await import('../../bench/looped.js')).runLoopedBench },
  subleq: { what: 'SUBLEQ on the looped ReLU MLP: program-steps/s vs the TypeScript interpreter', run: async () => (await import('../../bench/subleq.js')).runSubleqBench },
  prune: { what: 'attention-aware pruning: objective GFLOP/s, ms per refit step, error vs sparsity vs magnitude/Wanda', run: async () => (await import('../../bench/prune.js')).runPruneBench },
  games: { what: 'machine-penalty experiment: simulated participants/s', run: async () => (await import('../../bench/games.js')).runGamesBench },
};
/** Other names of a family. */
const ALIASES: Record<string, string> = { polytope: 'dikin' };

/** The family names, for messages. */
export function benchFamilies(): string[] {
  return Object.keys(FAMILIES);
}

interface FamilyRunOptions {
  full?: boolean;
  tiny?: boolean;
  threads?: number;
  baseline?: boolean;
  log?: (line: string) => void;
  signal?: AbortSignal;
  onProgress?: (p: { done: number; total: number; label: string }) => void;
}

interface FamilyOptions {
  full?: boolean;
  quick?: boolean;
  threads?: number;
  out?: string;
  progress: boolean;
  baseline?: boolean;
  tiny?: boolean;
}

async function familyAction(family: string, opts: FamilyOptions): Promise<void> {
  if (opts.full && opts.quick) throw new UsageError('--quick (the default size) and --full exclude each other');
  const tiny = opts.tiny || process.env.LEMMA_BENCH_TINY === '1';
  const run = await FAMILIES[family].run();
  const { setNumThreads } = await import('../../device.js');
  const { machineLine } = await import('../../bench/results.js');
  if (opts.threads !== undefined) setNumThreads(opts.threads);
  const size = tiny ? 'tiny' : opts.full ? 'full' : 'default';
  const lines: string[] = [];
  const bar = progressBar(`bench ${family}`, { enabled: opts.progress, delayMs: 0 });
  const print = (line: string) => {
    bar.finish();  // clear the bar's line before stdout writes on the same terminal
    process.stdout.write(line + '\n');
    lines.push(line);
  };
  print(machineLine({ family, size }));
  try {
    await interruptible((signal) => run({
      full: opts.full ?? false, tiny, baseline: opts.baseline, signal, log: print,
      onProgress: (p) => bar.update({ done: p.done, total: p.total }, p.label),
    }));
  } finally {
    bar.finish();
  }
  if (opts.out !== undefined) writeFileSync(opts.out, lines.join('\n') + '\n');
}

async function suiteAction(opts: SuiteOptions, cmd: Command): Promise<void> {
  if (cmd.args.length > 0) {
    // Unknown options reach here too (so that `lemma bench nosuch --full` names the families).
    const word = cmd.args.find((a) => !a.startsWith('-'));
    if (word === undefined) cmd.error(`error: unknown option '${cmd.args[0]}'`, { code: 'commander.unknownOption', exitCode: 2 });
    cmd.error(`error: unknown command '${word}'\nlemma bench <family> runs one of: ${benchFamilies().join(', ')} (${Object.entries(ALIASES).map(([a, f]) => `${a} = ${f}`).join(', ')})`,
      { code: 'commander.unknownCommand', exitCode: 2 });
  }
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
    .usage('[--quick] [--only F,G] [--out DIR] [--json] [--no-progress] [--threads N] | <family> [--full] [--threads N] [--out FILE] [--no-progress]');
  for (const [family, { what }] of Object.entries(FAMILIES)) {
    const aliases = Object.entries(ALIASES).filter(([, f]) => f === family).map(([a]) => a);
    const c = bench
      .command(family)
      .aliases(aliases)
      .description(`${what} (JSON lines: the machine, then one per configuration)`)
      .usage('[--full] [--threads N] [--out FILE] [--no-progress]' + (family === 'attention' ? ' [--quick] [--baseline]' : ''))
      .option('--full', 'the full configurations of bench/node (minutes to hours) instead of the default small ones');
    if (family === 'attention') {
      c.option('--quick', 'the default small configurations (kept for old scripts)')
        .option('--baseline', 'also time the materialized (small-cache) schedule (always with --full)');
    }
    c.option('--threads <n>', 'CPU threads (default: all cores, or LEMMA_NUM_THREADS)', integerArg(cm, 1, 1024))
      .option('--out <FILE>', 'also write the JSON lines to FILE (a .jsonl, as in bench/results)')
      .option('--no-progress', 'no progress bar on stderr')
      .addOption(new cm.Option('--tiny', 'tiny sizes (tests)').hideHelp())
      .action((opts: FamilyOptions) => familyAction(family, opts));
  }
  // Set after the subcommand is made (subcommands inherit settings): extra words reach the action,
  // which reports them as an unknown command.
  bench
    .enablePositionalOptions()  // bench's own options only before a family: `bench attention --threads 1` is attention's
    .allowExcessArguments(true)
    .allowUnknownOption(true)
    .option('--quick', 'the quick suite (the default; small sizes, 3 timed runs per case)')
    .option('--only <families>', 'comma-separated families to run (attention, sparse, poly-attention, dikin, john, dp, looped, subleq, prune, games)')
    .option('--out <DIR>', 'where to write results.json, the chart SVGs and index.html', 'lemma-report')
    .option('--json', 'print JSON lines (the machine first, then one per case) instead of the table')
    .option('--no-progress', 'no progress bar on stderr')
    .option('--threads <n>', 'CPU threads (default: all cores, or LEMMA_NUM_THREADS)', integerArg(cm, 1, 1024))
    .addOption(new cm.Option('--tiny', 'tiny sizes (tests)').hideHelp())
    .action(suiteAction);
}
