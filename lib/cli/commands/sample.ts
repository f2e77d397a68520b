/**
 * `lemma sample (--polytope p.json | --A A.npy --b b.npy) [--chains C] [--steps N] [--burn-in N]
 *  [--thin K] [--seed S] [--barrier log|lewis] [--device auto|cpu|cuda] [--out samples.npy|.csv]
 *  [--json] [--no-progress]`: uniform samples from the polytope {x : Ax <= b} by the Dikin walk
 * (lemma.polytope.halfspaces + lemma.sample.dikin); prints acceptance, ESS and R-hat.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { Command, Commander } from '../shared.js';
import { UsageError, integerArg, interruptible, oneOf, printJson } from '../shared.js';
import { progressBar } from '../progress.js';

interface Options {
  polytope?: string; A?: string; b?: string;
  chains: number; steps: number; burnIn?: number; thin: number; seed?: number;
  barrier: 'log' | 'lewis'; device: 'auto' | 'cpu' | 'cuda';
  out?: string; json?: boolean; progress: boolean;
}

function outFile(cm: Commander): (value: string) => string {
  return (value: string) => {
    if (!/\.(npy|csv)$/i.test(value)) throw new cm.InvalidArgumentError('expected a file name ending in .npy or .csv');
    return value;
  };
}

/** A and b from the JSON file `{ "A": [[...], ...], "b": [...] }` or from two .npy files. */
async function readPolytope(opts: Options): Promise<{ A: number[][] | { data: Float64Array | Float32Array; shape: number[] }; b: number[] | Float64Array | Float32Array; from: string }> {
  if ((opts.polytope === undefined) === (opts.A === undefined && opts.b === undefined)) {
    throw new UsageError('give the polytope either as --polytope p.json or as --A A.npy --b b.npy');
  }
  if (opts.polytope !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(await readFile(opts.polytope, 'utf8'));
    } catch (e) {
      if (e instanceof SyntaxError) throw new SyntaxError(`${opts.polytope}: ${e.message}`);
      throw e;
    }
    const { A, b } = (json ?? {}) as { A?: unknown; b?: unknown };
    if (!Array.isArray(A) || !Array.isArray(b)) throw new TypeError(`${opts.polytope}: expected a JSON object { "A": [[...], ...], "b": [...] }`);
    return { A: A as number[][], b: b as number[], from: opts.polytope };
  }
  if (opts.A === undefined || opts.b === undefined) throw new UsageError('--A and --b go together');
  const io = await import('../../io/index.js');
  const [A, b] = await Promise.all([io.readNpy(opts.A), io.readNpy(opts.b)]);
  const { LemmaError } = await import('../../errors.js');
  for (const [t, name] of [[A, '--A'], [b, '--b']] as const) {
    if (t.dtype !== 'float32' && t.dtype !== 'float64') throw new LemmaError('ERR_DTYPE', `${name} holds ${t.dtype}; expected float32 or float64`);
  }
  if (A.shape.length !== 2 || b.shape.length !== 1) {
    throw new LemmaError('ERR_SHAPE', `expected --A of shape [M, d] and --b of shape [M], got [${A.shape.join(', ')}] and [${b.shape.join(', ')}]`);
  }
  return { A: { data: A.data as Float64Array | Float32Array, shape: A.shape }, b: b.data as Float64Array | Float32Array, from: `${opts.A}, ${opts.b}` };
}

function toCsv(data: Float64Array, C: number, kept: number, d: number): string {
  const lines = [['chain', 'step', ...Array.from({ length: d }, (_, j) => `x${j}`)].join(',')];
  for (let c = 0; c < C; c++) {
    for (let s = 0; s < kept; s++) {
      const row = data.subarray((c * kept + s) * d, (c * kept + s + 1) * d);
      lines.push(`${c},${s},${Array.from(row, (x) => String(x)).join(',')}`);
    }
  }
  return lines.join('\n') + '\n';
}

async function sampleAction(opts: Options): Promise<void> {
  const { A, b } = await readPolytope(opts);
  const { halfspaces } = await import('../../polytope/index.js');
  const sample = await import('../../sample/index.js');
  const body = halfspaces(A, b);
  const bar = progressBar('sample', { enabled: opts.progress });
  const t0 = performance.now();
  let r;
  try {
    r = await interruptible((signal) => sample.dikin(body, sample.uniform(), {
      chains: opts.chains, steps: opts.steps, burnIn: opts.burnIn, thin: opts.thin, seed: opts.seed,
      barrier: opts.barrier, device: opts.device, signal,
      onProgress: (p) => bar.update({ done: p.stepsDone, total: p.totalSteps, fraction: p.fraction, elapsedSeconds: p.elapsedSeconds }, progressLabel(p)),
    }));
  } finally {
    bar.finish();
    body.dispose();
  }
  const ms = performance.now() - t0;
  const [C, kept, d] = r.samples.shape;
  if (opts.out !== undefined) {
    if (/\.npy$/i.test(opts.out)) {
      const io = await import('../../io/index.js');
      await io.writeNpy(opts.out, r.samples);
    } else await writeFile(opts.out, toCsv(r.samples.data, C, kept, d));
  }
  const acc = Array.from(r.acceptance);
  const ess = Array.from(r.ess);
  const rhat = Array.from(r.rhat);
  const meanAcc = acc.reduce((s, x) => s + x, 0) / acc.length;
  const essMin = Math.min(...ess);
  const rhatMax = Math.max(...rhat);
  const warnings = mixingWarnings(C, opts.steps, essMin, rhatMax);
  if (opts.json) {
    printJson({
      chains: C, kept, d, steps: opts.steps, stepsDone: r.stepsDone, acceptance: acc, meanAcceptance: meanAcc, ess, essMin, rhat, rhatMax, warnings,
      seed: r.seed, device: r.device, kernel: r.kernel, stepsPerSecond: r.stepsPerSecond, ms: Math.round(ms * 1000) / 1000, outFile: opts.out ?? null,
    }, true);
    return;
  }
  const f = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
  process.stdout.write(`dikin walk in d = ${d}: ${C} chains x ${kept} samples (${r.stepsDone} steps each) on ${r.device} (${r.kernel}) in ${(ms / 1000).toFixed(2)} s, seed ${r.seed}\n` +
    `acceptance ${f(meanAcc, 3)} (chains ${f(Math.min(...acc), 3)} to ${f(Math.max(...acc), 3)}); ESS min ${f(essMin, 0)} of ${C * kept}; R-hat max ${f(rhatMax, 3)}\n` +
    (opts.out !== undefined ? `wrote ${opts.out}\n` : ''));
  for (const w of warnings) process.stderr.write(`lemma: warning: ${w}\n`);
}

/** What the bar shows beside the ETA: the phase, the acceptance so far and, once known, the running ESS and R-hat. */
export function progressLabel(p: { phase: string; acceptance: number; essMin?: number; rhatMax?: number }): string {
  // Compact: it follows the bar and the ETA on one terminal line.
  const parts = [...(p.phase === 'burn-in' ? ['burn-in'] : []), `acc ${Number.isFinite(p.acceptance) ? p.acceptance.toFixed(2) : 'n/a'}`];
  if (p.essMin !== undefined && Number.isFinite(p.essMin)) parts.push(`ESS ${Math.round(p.essMin)}`);
  if (p.rhatMax !== undefined && Number.isFinite(p.rhatMax)) parts.push(`R-hat ${p.rhatMax.toFixed(3)}`);
  return parts.join(' ');
}

/** Targets the common MCMC practice (as PyMC and Stan report it): R-hat at most 1.01 and an ESS of at least 100 per chain. */
export const RHAT_MAX = 1.01;
export const ESS_PER_CHAIN_MIN = 100;

/**
 * The chains' mixing, judged by the usual diagnostics thresholds: one sentence per failed check
 * and, from the ESS reached per step, about how many --steps would reach the ESS target. Dikin
 * walks take many steps per independent sample near corners (an ESS of a few hundred in 4,000
 * draws on a square is typical), so a short run is flagged rather than reported as if it were done.
 */
export function mixingWarnings(chains: number, steps: number, essMin: number, rhatMax: number): string[] {
  const out: string[] = [];
  const target = ESS_PER_CHAIN_MIN * chains;
  if (Number.isFinite(rhatMax) && rhatMax > RHAT_MAX) out.push(`R-hat max ${rhatMax.toFixed(3)} > ${RHAT_MAX}: the chains have not mixed`);
  if (!Number.isFinite(essMin) || essMin < target) {
    const need = Number.isFinite(essMin) && essMin > 0 ? Math.ceil((steps * target) / essMin) : NaN;
    const round = (n: number) => { const p = 10 ** Math.max(0, Math.floor(Math.log10(n)) - 1); return Math.ceil(n / p) * p; };
    out.push(`ESS min ${Number.isFinite(essMin) ? essMin.toFixed(0) : 'n/a'} < ${target} (${ESS_PER_CHAIN_MIN} per chain)` +
      (Number.isFinite(need) ? `: about --steps ${round(need)} would reach it` : ': run more --steps'));
  }
  return out;
}

export function registerSample(program: Command, cm: Commander): void {
  program
    .command('sample')
    .description('uniform samples from the polytope {x : Ax <= b} by the Dikin walk; acceptance, ESS and R-hat')
    .option('--polytope <file>', 'the polytope as JSON: { "A": [[...], ...], "b": [...] }')
    .option('--A <file>', 'A as .npy [M, d] (with --b)')
    .option('--b <file>', 'b as .npy [M] (with --A)')
    .option('--chains <C>', 'independent chains', integerArg(cm, 1), 4)
    .option('--steps <N>', 'steps per chain after burn-in', integerArg(cm, 1), 1000)
    .option('--burn-in <N>', 'steps per chain discarded first (default steps/2)', integerArg(cm, 0))
    .option('--thin <K>', 'keep every K-th step', integerArg(cm, 1), 1)
    .option('--seed <S>', 'random seed (default: random, printed)', integerArg(cm, 0))
    .option('--barrier <barrier>', 'log or lewis', oneOf(cm, ['log', 'lewis'] as const), 'log')
    .option('--device <device>', 'auto, cpu or cuda', oneOf(cm, ['auto', 'cpu', 'cuda'] as const), 'auto')
    .option('--out <file>', 'write the samples: .npy [C, kept, d] float64, or .csv (chain, step, x0, x1, ...)', outFile(cm))
    .option('--json', 'print the summary as JSON')
    .option('--no-progress', 'no progress bar on stderr')
    .action(sampleAction);
}
