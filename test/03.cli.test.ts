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
