/**
 * The `lemma` CLI (what `npm start` runs): info, a quick attention bench, and usage errors.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.join(__dirname, '..');
const cli = path.join(root, 'lib', 'cli', 'run.ts');

function lemma(...args: string[]) {
  return spawnSync(process.execPath, ['--import=tsx', cli, ...args], { encoding: 'utf8', cwd: root, timeout: 120_000 });
}

test('lemma info prints the capabilities as JSON', (t) => {
  const r = lemma('info');
  t.is(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout) as { version: string; simd: string; cuda: { compiled: boolean } };
  t.regex(info.version, /^\d+\.\d+\.\d+/);
  t.true(['avx512', 'avx2', 'scalar'].includes(info.simd));
});

test('lemma bench attention prints one JSON line per configuration', (t) => {
  const r = lemma('bench', 'attention', '--quick', '--threads', '1');
  t.is(r.status, 0, r.stderr);
  const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | string | boolean>);
  t.is(rows.length, 4);
  for (const row of rows) {
    t.is(row.bench, 'attention');
    t.is(row.threads, 1);
    for (const key of ['fwdGflops', 'bwdGflops', 'fwdBwdGflops', 'peakGflops', 'fwdPctPeak']) t.true((row[key] as number) > 0, key);
  }
});

test('lemma with a bad command prints usage and exits 2', (t) => {
  const r = lemma('frobnicate');
  t.is(r.status, 2);
  t.regex(r.stderr, /usage:\n {2}lemma info/);
  t.is(lemma('bench', 'attention', '--threads', 'x').status, 2);
});

// lemma game machine-penalty (pure TypeScript; imports hoist, so they may sit with the test they serve).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';

test('lemma game machine-penalty prints the table, writes JSON and SVG with --out, and refuses unknown flags', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lemma-mp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = lemma('game', 'machine-penalty', '--per-condition', '48', '--seed', '3', '--out', dir);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /48 participants per condition, 10 rounds, payoff T=5 R=3 P=1 S=0, seed 3/);
  for (const c of ['human', 'cooperative', 'selfish', 'fair']) t.regex(r.stdout, new RegExp(`^${c} +48 +0\\.\\d{3}  \\[0\\.\\d{3}, 0\\.\\d{3}\\]`, 'm'));
  t.regex(r.stdout, /^ {2}human − fair +-?0\.\d{3}/m);
  const json = JSON.parse(readFileSync(path.join(dir, 'machine-penalty.json'), 'utf8')) as { seed: number; conditions: unknown[] };
  t.is(json.seed, 3);
  t.is(json.conditions.length, 4);
  t.regex(readFileSync(path.join(dir, 'machine-penalty.svg'), 'utf8'), /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^]*<\/svg>\n$/);
  const j = lemma('game', 'machine-penalty', '--per-condition', '48', '--seed', '3', '--json');
  t.is(j.status, 0, j.stderr);
  t.deepEqual(JSON.parse(j.stdout), json);
  const bad = lemma('game', 'machine-penalty', '--rounds', '5');
  t.is(bad.status, 2);
  t.regex(bad.stderr, /usage:[^]*lemma game machine-penalty \[--per-condition N\]/);
  t.is(lemma('game', 'machine-penalty', '--per-condition', '3').status, 2);
  t.is(lemma('game', 'machine-penalty', '--seed').status, 2);
});
