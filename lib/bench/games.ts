/**
 * The benchmark of lemma.games.machinePenalty.simulate behind `lemma bench games`: the
 * between-subjects machine-penalty experiment (4 conditions: human–human pairs and the three
 * agent designs, 10 rounds, the study's statistics and mixed model included) with simulated
 * participants, one JSON line per configuration: participants/s, games/s and rounds/s (pure
 * TypeScript, one thread). There is no outside implementation to compare with; the same run
 * times `concurrency: 16` (the path for slow asynchronous agents, same result) beside the
 * default serial run, whose ratio is `serialOverConcurrent`.
 * Sizes (participants per condition): default {96, 288, 1000}; full {96, 288, 1000, 4000}.
 */
import { performance } from 'node:perf_hooks';
import { machinePenalty } from '../games/index.js';
import { BenchRun, benchSize } from './results.js';
import type { BenchRecord, FamilyBenchOptions } from './results.js';

/** Median ms of fn over runs repeated for ~minMs (at least 3, after one warm-up). */
async function medianMs(fn: () => Promise<unknown>, minMs: number, check: () => void): Promise<{ ms: number; reps: number }> {
  await fn();
  const t: number[] = [];
  const t0 = performance.now();
  while (t.length < 3 || performance.now() - t0 < minMs) {
    check();
    const s = performance.now();
    await fn();
    t.push(performance.now() - s);
  }
  t.sort((a, b) => a - b);
  return { ms: t[Math.floor(t.length / 2)], reps: t.length };
}

export async function runGamesBench(opts: FamilyBenchOptions = {}): Promise<BenchRecord[]> {
  const size = benchSize(opts);
  const pers = size === 'tiny' ? [8] : size === 'full' ? [96, 288, 1000, 4000] : [96, 288, 1000];
  const minMs = size === 'tiny' ? 0 : size === 'full' ? 2000 : 600;
  const rounds = 10;
  const run = new BenchRun(opts, pers.length, 'lemma bench games');
  for (const per of pers) {
    run.step(`machine-penalty ${per} per condition`);
    const base = { perCondition: per, seed: 1, rounds, signal: opts.signal };
    const serial = await medianMs(() => machinePenalty.simulate(base), minMs, () => run.check());
    const conc = await medianMs(() => machinePenalty.simulate({ ...base, concurrency: 16 }), minMs, () => run.check());
    const participants = 4 * per;
    // The human condition pairs its participants: per/2 games; each agent condition plays per games.
    const games = per / 2 + 3 * per;
    run.emit({
      bench: 'games', experiment: 'machine-penalty', conditions: 4, perCondition: per, participants, games, rounds,
      ms: round(serial.ms), reps: serial.reps,
      participantsPerSec: round(participants / (serial.ms / 1000)), gamesPerSec: round(games / (serial.ms / 1000)),
      roundsPerSec: round((games * rounds) / (serial.ms / 1000)),
      concurrentMs: round(conc.ms), concurrentParticipantsPerSec: round(participants / (conc.ms / 1000)),
      serialOverConcurrent: round(conc.ms / serial.ms, 3), baseline: null,
    });
  }
  return run.finish();
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
