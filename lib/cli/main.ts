/**
 * The `lemma` command line.
 *   lemma info                                  capabilities as JSON
 *   lemma bench attention [--quick] [--threads N] [--baseline]
 *                                               attention GFLOP/s, one JSON line per configuration
 *   lemma game machine-penalty [--per-condition N] [--seed S] [--json] [--out DIR]
 *                                               the machine-penalty design with simulated participants:
 *                                               a table (or the result as JSON); with --out, DIR/machine-penalty.json
 *                                               and DIR/machine-penalty.svg (cooperation by condition)
 * The native addon is loaded only by the commands that need it (info, bench), so `lemma game`
 * runs on pure TypeScript.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const USAGE = `usage:
  lemma info
  lemma bench attention [--quick] [--threads N] [--baseline]
  lemma game machine-penalty [--per-condition N] [--seed S] [--json] [--out DIR]`;

function flag(args: string[], name: string): boolean {
  return args.includes(name);
}

function value(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Parses `args` against the flags allowed (name → takes a value); null on anything else. */
function parseFlags(args: string[], allowed: Record<string, boolean>): Map<string, string | true> | null {
  const out = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!(a in allowed) || out.has(a)) return null;
    if (allowed[a]) {
      const v = args[++i];
      if (v === undefined) return null;
      out.set(a, v);
    } else out.set(a, true);
  }
  return out;
}

function fmt(x: number, digits = 3): string {
  return Number.isFinite(x) ? x.toFixed(digits) : 'n/a';
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

async function gameMachinePenalty(args: string[]): Promise<number> {
  const f = parseFlags(args, { '--per-condition': true, '--seed': true, '--json': false, '--out': true });
  if (!f) {
    console.error(USAGE);
    return 2;
  }
  const perText = f.get('--per-condition') as string | undefined;
  const seedText = f.get('--seed') as string | undefined;
  if (perText !== undefined && !/^\d+$/.test(perText)) {
    console.error(`lemma: --per-condition takes a positive even integer, got ${perText}`);
    return 2;
  }
  if (seedText !== undefined && !/^\d+$/.test(seedText)) {
    console.error(`lemma: --seed takes a non-negative integer, got ${seedText}`);
    return 2;
  }
  const { machinePenalty } = await import('../games/index.js');
  let r;
  try {
    r = await machinePenalty.simulate({
      perCondition: perText === undefined ? undefined : Number(perText),
      seed: seedText === undefined ? undefined : Number(seedText),
    });
  } catch (e) {
    if (e instanceof RangeError || e instanceof TypeError) {
      console.error(`lemma: ${e.message}`);
      return 2;
    }
    throw e;
  }
  const out = f.get('--out') as string | undefined;
  if (out !== undefined) {
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'machine-penalty.json'), JSON.stringify(r, null, 2) + '\n');
    writeFileSync(path.join(out, 'machine-penalty.svg'), machinePenalty.chart(r));
  }
  if (f.has('--json')) {
    console.log(JSON.stringify(r, null, 2));
    return 0;
  }
  const p = r.payoff;
  const lines = [
    `machine penalty (arXiv 2410.03724), simulated: ${r.perCondition} participants per condition, ${r.rounds} rounds, payoff T=${p.T} R=${p.R} P=${p.P} S=${p.S}, seed ${r.seed}`,
    '',
    `${pad('condition', 12)} ${pad('n', 6, true)}  ${pad('human C', 7, true)}  ${pad('95% CI', 15)}  ${pad('partner C', 9, true)}  ${pad('promise kept', 12, true)}  ${pad('agreements', 10, true)}  ${pad('mutual C', 8, true)}  ${pad('norm', 5, true)}  ${pad('trust', 5, true)}`,
  ];
  for (const c of r.conditions) {
    const h = c.humans.cooperation;
    lines.push(`${pad(c.condition, 12)} ${pad(String(c.participants), 6, true)}  ${pad(fmt(h.rate), 7, true)}  ${pad(`[${fmt(h.lo)}, ${fmt(h.hi)}]`, 15)}  ${pad(fmt(c.partners.cooperation.rate), 9, true)}  ${pad(fmt(c.partners.promiseKeeping), 12, true)}  ${pad(fmt(c.agreements.rate), 10, true)}  ${pad(fmt(c.mutualCooperation), 8, true)}  ${pad(fmt(c.perception.normBelief.rate), 5, true)}  ${pad(fmt(c.perception.trust.rate), 5, true)}`);
  }
  lines.push('', 'differences in human cooperation (a − b), cluster-robust 95% CI, Wald z, Holm-adjusted p:');
  for (const d of r.differences) {
    lines.push(`  ${pad(`${d.a} − ${d.b}`, 26)} ${pad(fmt(d.difference), 7, true)}  [${fmt(d.lo)}, ${fmt(d.hi)}]  z = ${pad(fmt(d.z, 2), 7, true)}  p(Holm) = ${Number.isFinite(d.pHolm) ? d.pHolm.toPrecision(2) : 'n/a'}`);
  }
  const m = r.mixedModel;
  lines.push('', `mixed-effects logistic regression (random intercept per participant, sd ${fmt(m.sigma, 2)}${m.converged ? '' : '; some estimates diverged'}): log odds ratio (a − b), 95% CI, z, Holm-adjusted p:`);
  for (const c of m.contrasts) {
    lines.push(`  ${pad(`${c.a} − ${c.b}`, 26)} ${pad(fmt(c.logOddsRatio), 7, true)}  [${fmt(c.lo)}, ${fmt(c.hi)}]  z = ${pad(fmt(c.z, 2), 7, true)}  p(Holm) = ${Number.isFinite(c.pHolm) ? c.pHolm.toPrecision(2) : 'n/a'}`);
  }
  if (r.errors.length) lines.push('', `${r.errors.length} participants failed (agent errors); see --json`);
  lines.push('', 'These are simulated participants: the ordering follows from the participant model, not from data about people.');
  if (out !== undefined) lines.push(`wrote ${path.join(out, 'machine-penalty.json')} and ${path.join(out, 'machine-penalty.svg')}`);
  console.log(lines.join('\n'));
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, sub, ...rest] = argv;
  if (cmd === 'info') {
    const { capabilities } = await import('../device.js');
    console.log(JSON.stringify(capabilities(), null, 2));
    return 0;
  }
  if (cmd === 'bench' && sub === 'attention') {
    const threads = value(rest, '--threads');
    if (threads !== undefined && !/^\d+$/.test(threads)) {
      console.error(`lemma: --threads takes a positive integer, got ${threads}`);
      return 2;
    }
    const { runAttentionBench } = await import('../bench/attention.js');
    await runAttentionBench({ quick: flag(rest, '--quick'), threads: threads ? Number(threads) : undefined, baseline: flag(rest, '--baseline') });
    return 0;
  }
  if (cmd === 'game' && sub === 'machine-penalty') return gameMachinePenalty(rest);
  console.error(USAGE);
  return cmd === undefined || cmd === 'help' || cmd === '--help' ? 0 : 2;
}
