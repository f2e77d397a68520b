/**
 * Long fuzz runs: npm run fuzz -- --runs N [--seed S] [--family F] [--target T] [--chunk C]
 *
 * Runs the targets of test/fuzz round-robin in chunks of C scenarios (default 200), each chunk
 * with its own seed (S + chunk number), until N scenarios have run in all. Prints progress lines
 * and, at the end, one JSON line: { runs, calls, failures, seconds, callsPerSecond, seed, targets }.
 * Every failure prints fast-check's counterexample, its seed and a replay command. Exit code 1
 * when any target failed.
 */
import { runTarget } from '../test/fuzz/harness.js';
import type { TargetReport } from '../test/fuzz/harness.js';
import { selectTargets } from '../test/fuzz/index.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`--${name}=`));
  return eq?.slice(name.length + 3);
}

function intArg(name: string, fallback: number): number {
  const v = arg(name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer, got ${v}`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  const runs = intArg('runs', 10000);
  const seed = intArg('seed', Date.now() % 2 ** 31);
  const chunk = Math.max(1, intArg('chunk', 200));
  const family = arg('family');
  const name = arg('target');
  const targets = selectTargets(family, name);
  if (targets.length === 0) {
    console.error(`no fuzz target matches --family ${family ?? '*'} --target ${name ?? '*'}`);
    process.exit(2);
  }
  const totalWeight = targets.reduce((a, t) => a + (t.weight ?? 1), 0);
  const t0 = performance.now();
  let done = 0;
  let calls = 0;
  let round = 0;
  let lastPrint = 0;
  const failures: TargetReport[] = [];
  const perTarget = new Map<string, { runs: number; calls: number; failures: number }>();
  const failed = new Set<string>();
  while (done < runs) {
    for (const t of targets) {
      if (done >= runs) break;
      const id = `${t.family}.${t.name}`;
      if (failed.has(id)) continue;
      const n = Math.min(runs - done, Math.max(1, Math.round((chunk * (t.weight ?? 1) * targets.length) / totalWeight)));
      const s = (seed + round * 7919 + targets.indexOf(t)) % 2 ** 31;
      const r = await runTarget(t, s, n);
      done += r.runs;
      calls += r.calls;
      const e = perTarget.get(id) ?? { runs: 0, calls: 0, failures: 0 };
      e.runs += r.runs;
      e.calls += r.calls;
      if (r.failed) {
        e.failures++;
        failures.push(r);
        failed.add(id);
        console.error(`\nFAIL ${r.message}\n`);
      }
      perTarget.set(id, e);
    }
    round++;
    if (failed.size === targets.length) break;
    const now = performance.now();
    if (now - lastPrint > 5000 || done >= runs) {
      lastPrint = now;
      const sec = (now - t0) / 1000;
      console.log(`fuzz: ${done}/${runs} scenarios, ${calls} calls, ${failures.length} failures, ${sec.toFixed(1)} s, ${(calls / sec).toFixed(0)} calls/s`);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const summary = {
    runs: done, calls, failures: failures.length, seconds: Number(seconds.toFixed(2)),
    callsPerSecond: Number((calls / seconds).toFixed(1)), seed,
    targets: Object.fromEntries(perTarget),
    failed: failures.map((f) => `${f.family}.${f.name} (seed ${f.seed})`),
  };
  console.log(JSON.stringify(summary));
  process.exitCode = failures.length ? 1 : 0;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
