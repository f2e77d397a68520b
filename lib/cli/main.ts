/**
 * The `lemma` command line.
 *   lemma info                                  capabilities as JSON
 *   lemma bench attention [--quick] [--threads N] [--baseline]
 *                                               attention GFLOP/s, one JSON line per configuration
 */
import { capabilities } from '../device.js';
import { runAttentionBench } from '../bench/attention.js';

const USAGE = `usage:
  lemma info
  lemma bench attention [--quick] [--threads N] [--baseline]`;

function flag(args: string[], name: string): boolean {
  return args.includes(name);
}

function value(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, sub, ...rest] = argv;
  if (cmd === 'info') {
    console.log(JSON.stringify(capabilities(), null, 2));
    return 0;
  }
  if (cmd === 'bench' && sub === 'attention') {
    const threads = value(rest, '--threads');
    if (threads !== undefined && !/^\d+$/.test(threads)) {
      console.error(`lemma: --threads takes a positive integer, got ${threads}`);
      return 2;
    }
    await runAttentionBench({ quick: flag(rest, '--quick'), threads: threads ? Number(threads) : undefined, baseline: flag(rest, '--baseline') });
    return 0;
  }
  console.error(USAGE);
  return cmd === undefined || cmd === 'help' || cmd === '--help' ? 0 : 2;
}
