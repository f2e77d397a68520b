/**
 * npm run bench:poly — lemma.polyAttention and lemma.nn.attentionStack (lib/bench/poly-attention.ts):
 *   kernel  causal forward + backward time against N (1k .. 256k) for degree 2 and 4, D_h in
 *           {16, 32, 64}, beside lemma's exact flash attention fwd + bwd measured in the same run
 *           (up to N = 64k); speedup = exact / poly; crossover N and fitted log-log slopes
 *   stack   a 2-layer, 4-head, dModel 64 stack (D_h = 16), forward + backward against N, poly
 *           (degree 2) and exact, with the fitted log-log slope of each
 * Writes bench/results/poly-attention-<cpu>-<threads>t.jsonl (kernel) and
 * bench/results/attention-stack-<cpu>-<threads>t.jsonl (stack); first line: the machine.
 *   node --import tsx bench/node/poly-attention.bench.ts [--quick] [--threads N] [--part kernel|stack]
 */
import { runPolyAttentionBench } from '../../lib/bench/poly-attention.js';
import { writeResults } from './results.js';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const pi = args.indexOf('--part');
  const part = pi >= 0 ? args[pi + 1] : 'all';
  if (part !== 'all' && part !== 'kernel' && part !== 'stack') throw new RangeError(`--part must be all, kernel or stack, not ${part}`);
  const ti = args.indexOf('--threads');
  const kernel: string[] = [], stack: string[] = [];
  await runPolyAttentionBench({
    quick, full: !quick, part, threads: ti >= 0 ? Number(args[ti + 1]) : undefined,
    log: (l) => {
      console.log(l);
      (l.startsWith('{"bench":"attention-stack') ? stack : kernel).push(l);
    },
  });
  if (part !== 'stack') console.error(`wrote ${writeResults('poly-attention', kernel, { quick })}`);
  if (part !== 'kernel') console.error(`wrote ${writeResults('attention-stack', stack, { quick })}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
