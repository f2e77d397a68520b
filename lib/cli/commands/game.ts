/**
 * `lemma game machine-penalty [--per-condition N] [--seed S] [--json] [--out DIR]`: the
 * machine-penalty design (arXiv 2410.03724) with simulated participants: a table, or the result as
 * JSON; with --out, DIR/machine-penalty.json and DIR/machine-penalty.svg. Pure TypeScript: it never
 * loads the native addon.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command, Commander } from '../shared.js';
import { UsageError, integerArg, printJson } from '../shared.js';

function fmt(x: number, digits = 3): string {
  return Number.isFinite(x) ? x.toFixed(digits) : 'n/a';
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

interface Options { perCondition?: number; seed?: number; json?: boolean; out?: string }

async function machinePenaltyAction(opts: Options): Promise<void> {
  const { machinePenalty } = await import('../../games/index.js');
  let r;
  try {
    r = await machinePenalty.simulate({ perCondition: opts.perCondition, seed: opts.seed });
  } catch (e) {
    if (e instanceof RangeError || e instanceof TypeError) throw new UsageError(e.message);
    throw e;
  }
  const out = opts.out;
  if (out !== undefined) {
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'machine-penalty.json'), JSON.stringify(r, null, 2) + '\n');
    writeFileSync(path.join(out, 'machine-penalty.svg'), machinePenalty.chart(r));
  }
  if (opts.json) {
    printJson(r);
    return;
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
  process.stdout.write(lines.join('\n') + '\n');
}

export function registerGame(program: Command, cm: Commander): void {
  const game = program.command('game').description('behavioural-game designs with simulated participants (pure TypeScript)');
  game
    .command('machine-penalty')
    .description('the machine-penalty design (arXiv 2410.03724) with simulated participants: a table of cooperation by condition')
    .usage('[--per-condition N] [--seed S] [--json] [--out DIR]')
    .option('--per-condition <N>', 'participants per condition (a positive even integer)', integerArg(cm, 1))
    .option('--seed <S>', 'random seed (a non-negative integer)', integerArg(cm, 0))
    .option('--json', 'print the whole result as JSON instead of the table')
    .option('--out <DIR>', 'also write DIR/machine-penalty.json and DIR/machine-penalty.svg')
    .action(machinePenaltyAction);
}
