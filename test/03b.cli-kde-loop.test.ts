/**
 * `lemma kde build|query|release` and `lemma loop certify|enumerate`: the release written by the
 * CLI is the library's (byte for byte, same insecure seed), query answers equal the library's on
 * the same release, CSV and .npy inputs, --json, --help starts nothing, usage errors exit 2, bad
 * data exits 1 with a stable code, the budget ledger refuses an overspend with ERR_BUDGET, the
 * certificates equal lemma.looped's, and Ctrl-C stops a long build and a long enumeration (130).
 * Spawns the CLI from source (lib/cli/run.ts through tsx) like test/03, so it never runs a stale dist/.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as io from '../lib/io/index.js';
import * as dp from '../lib/dp/index.js';
import * as looped from '../lib/looped/index.js';

const root = path.join(__dirname, '..');
const cli = path.join(root, 'lib', 'cli', 'run.ts');

interface Run { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

// At most 3 CLIs at a time: more only thrash a 2-core machine.
let running = 0;
const waiting: (() => void)[] = [];
async function slot<T>(f: () => Promise<T>): Promise<T> {
  if (running >= 3) await new Promise<void>((r) => waiting.push(r));
  running += 1;
  try {
    return await f();
  } finally {
    running -= 1;
    waiting.shift()?.();
  }
}

function lemma(...args: string[]): Promise<Run> {
  return slot(() => new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', cli, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  }));
}

function tmpdir(t: { teardown(f: () => void): void }): (name: string) => string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lemma-cli-kde-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return (name: string) => path.join(dir, name);
}

/** Seeded points in [0, 1]^d (a private dataset stand-in). */
function points(n: number, d: number, seed: number): Float64Array {
  let a = seed >>> 0;
  return Float64Array.from({ length: n * d }, () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a / 2 ** 32;
  });
}

function csvOf(data: Float64Array, d: number, header?: string): string {
  const rows: string[] = header ? [header] : [];
  for (let i = 0; i < data.length / d; i++) rows.push(Array.from(data.subarray(i * d, (i + 1) * d), String).join(','));
  return rows.join('\n') + '\n';
}

const N = 3000, D = 3, SEED = 7;
const BUILD = ['--epsilon', '1', '--range', '1', '--levels', '10', '--grid-bits', '16'];
const LIB_OPTIONS = { epsilon: 1, range: 1, levels: 10, gridBits: 16 };

test('kde build writes the library\'s release (same seed: same bytes) from .npy and CSV; kde query answers as the library does on it', async (t) => {
  const f = tmpdir(t);
  const X = points(N, D, 1);
  await io.writeNpy(f('X.npy'), { data: X, shape: [N, D] });
  writeFileSync(f('X.csv'), csvOf(X, D, 'a,b,c'));
  const Y = Float64Array.from([0.5, 0.5, 0.5, 0, 0, 0, 1, 1, 1, 0.2, 0.9, 0.4, 2, -1, 0.5]);
  await io.writeNpy(f('Y.npy'), { data: Y, shape: [5, D] });
  writeFileSync(f('Y.csv'), csvOf(Y, D));

  const [b1, b2] = await Promise.all([
    lemma('kde', 'build', '--data', f('X.npy'), ...BUILD, '--seed', String(SEED), '--out', f('r.json'), '--json'),
    lemma('kde', 'build', '--data', f('X.csv'), ...BUILD, '--seed', String(SEED), '--out', f('r-csv.json')),
  ]);
  t.is(b1.status, 0, b1.stderr);
  t.regex(b1.stderr, /WARNING: --seed .*NOT private/);
  const summary = JSON.parse(b1.stdout) as Record<string, unknown>;
  t.like(summary, { structure: 'tree', variant: 'midpoint', epsilon: 1, d: D, levels: 10, gridBits: 16, insecureDeterministic: true, budget: { total: 1, spent: 1, remaining: 0, ledger: null } });
  t.false('n' in summary, 'n is private under add-remove: not printed');
  t.is(b2.status, 0, b2.stderr);
  t.regex(b2.stdout, /^private L1 KDE, tree \(midpoint\): epsilon 1-DP \(add-remove neighbours\), d 3, levels 10, gridBits 16, range \[0, 1\][^\n]*\nbudget: spent 1 of 1, remaining 0\nerror: zero-mean noise of std \d+\.?\d* at the range's centre[^]*\nwrote .*r-csv\.json \(\d+ KiB\): public parameters and noisy integers only\nWARNING: /);

  // The same data and seed through the library: the very same document.
  const lib = await dp.l1Kde({ data: X, shape: [N, D] }, { ...LIB_OPTIONS, seed: SEED, insecureDeterministic: true });
  const text = readFileSync(f('r.json'), 'utf8');
  t.is(text, JSON.stringify(lib.release()));
  t.is(readFileSync(f('r-csv.json'), 'utf8'), text, 'CSV (with a header) and .npy give the same release');
  t.is(summary.errorStdAtCentre, lib.errorStd([0.5, 0.5, 0.5]));

  // Queries from the release alone: .npy out, CSV out (with the noise std), and printed JSON.
  const [q1, q2, q3] = await Promise.all([
    lemma('kde', 'query', '--release', f('r.json'), '--queries', f('Y.npy'), '--out', f('est.npy'), '--json'),
    lemma('kde', 'query', '--release', f('r.json'), '--queries', f('Y.csv'), '--out', f('est.csv')),
    lemma('kde', 'query', '--release', f('r.json'), '--queries', f('Y.npy'), '--json', '--device', 'cpu'),
  ]);
  for (const q of [q1, q2, q3]) t.is(q.status, 0, q.stderr);
  const loaded = dp.loadL1Kde(JSON.parse(text));
  const want = (await loaded.query({ data: Y, shape: [5, D] }, { device: 'cpu' })).estimates;
  const wantStd = Array.from({ length: 5 }, (_, k) => loaded.errorStd(Y.subarray(k * D, (k + 1) * D)));
  const est = await io.readNpy(f('est.npy'));
  t.is(est.dtype, 'float64');
  t.deepEqual(est.shape, [5], 'the answers only: one number per query, no raw data');
  t.deepEqual(Array.from(est.data), Array.from(want));
  t.like(JSON.parse(q1.stdout), { queries: 5, d: D, epsilon: 1, privacyCost: 0, outFile: f('est.npy') });
  const rows = readFileSync(f('est.csv'), 'utf8').trimEnd().split('\n');
  t.is(rows[0], 'estimate,error_std');
  t.deepEqual(rows.slice(1).map((r) => r.split(',').map(Number)), Array.from(want, (e, k) => [e, wantStd[k]]));
  t.regex(q2.stdout, /^5 queries in d = 3 on cpu in \d+\.\d\d s from an epsilon 1 release \(post-processing: no privacy cost\); noise std [\d.]+ to [\d.]+\nwrote .*est\.csv \(estimate, error_std\)\n$/);
  const j3 = JSON.parse(q3.stdout) as { estimates: number[]; errorStd: number[]; device: string };
  t.deepEqual(j3.estimates, Array.from(want));
  t.deepEqual(j3.errorStd, wantStd);
  t.is(j3.device, 'cpu');
  // The estimate at the centre is near the exact Σ‖x − y‖₁ (≈ n·d/4 for uniform data), within 6 std.
  let exact = 0;
  for (let i = 0; i < N * D; i++) exact += Math.abs(X[i] - 0.5);
  t.true(Math.abs(want[0] - exact) < 6 * wantStd[0] + 1, `estimate ${want[0]} vs exact ${exact} (std ${wantStd[0]})`);

  // kde release: the description, the error bound at points, a base64 copy that answers the same.
  const r = await lemma('kde', 'release', '--release', f('r.json'), '--at', f('Y.csv'), '--out', f('r64.json'), '--encoding', 'base64', '--json');
  t.is(r.status, 0, r.stderr);
  t.like(JSON.parse(r.stdout), { structure: 'tree', variant: 'midpoint', epsilon: 1, d: D, encoding: 'array', consistency: true, errorStd: wantStd.slice(0, 2), budget: null });
  const copy = JSON.parse(readFileSync(f('r64.json'), 'utf8')) as { encoding: string };
  t.is(copy.encoding, 'base64-float64le');
  t.deepEqual(Array.from((await dp.loadL1Kde(copy).query({ data: Y, shape: [5, D] }, { device: 'cpu' })).estimates), Array.from(want));
  const text2 = await lemma('kde', 'release', '--release', f('r.json'));
  t.is(text2.status, 0, text2.stderr);
  t.regex(text2.stdout, /^.*r\.json \(\d+ KiB, array\): private L1 KDE, tree \(midpoint\), epsilon 1-DP for add-remove neighbours; d 3, levels 10, gridBits 16, range \[0, 1\]\nqueries are post-processing: any number of them cost no further privacy\nerror: zero-mean noise of std [\d.]+ at the range's centre; besides the noise: quantisation/);
});

test('kde build --ledger: charges add up across runs and an overspend is refused with ERR_BUDGET, writing nothing', async (t) => {
  const f = tmpdir(t);
  await io.writeNpy(f('X.npy'), { data: points(500, 2, 3), shape: [500, 2] });
  const common = ['--data', f('X.npy'), '--range', '1', '--levels', '8', '--ledger', f('ledger.json')];
  const noBudget = await lemma('kde', 'build', ...common, '--epsilon', '0.5', '--out', f('a.json'));
  t.is(noBudget.status, 2, 'a new ledger needs --budget');
  t.regex(noBudget.stderr, /^lemma: --ledger .* does not exist yet: give the total budget with --budget[^]*Usage: lemma kde build/);
  const first = await lemma('kde', 'build', ...common, '--budget', '1', '--epsilon', '0.75', '--label', 'first', '--out', f('a.json'));
  t.is(first.status, 0, first.stderr);
  t.regex(first.stdout, /^budget: spent 0\.75 of 1, remaining 0\.25 \(ledger .*ledger\.json, 1 release, started\)$/m);
  const over = await lemma('kde', 'build', ...common, '--epsilon', '0.5', '--label', 'second', '--out', f('b.json'));
  t.is(over.status, 1);
  t.regex(over.stderr, /^lemma: ERR_BUDGET: privacy budget exceeded: spending ε = 0\.5 for 'second' would bring the total to 1\.25, above the budget of 1 \(remaining 0\.25\)\n$/);
  t.false(existsSync(f('b.json')), 'nothing released');
  const other = await lemma('kde', 'build', ...common, '--budget', '2', '--epsilon', '0.1', '--out', f('b.json'));
  t.is(other.status, 2, 'a ledger\'s budget is fixed');
  const oneShot = await lemma('kde', 'build', '--data', f('X.npy'), '--range', '1', '--levels', '8', '--epsilon', '2', '--budget', '1', '--out', f('c.json'));
  t.is(oneShot.status, 1);
  t.regex(oneShot.stderr, /^lemma: ERR_BUDGET: /);
  const led = await lemma('kde', 'release', '--ledger', f('ledger.json'), '--json');
  t.is(led.status, 0, led.stderr);
  const b = (JSON.parse(led.stdout) as { budget: { total: number; spent: number; remaining: number; entries: { label: string; epsilon: number }[] } }).budget;
  t.like(b, { total: 1, spent: 0.75, remaining: 0.25 });
  t.deepEqual(b.entries.map((e) => [e.label, e.epsilon]), [['first', 0.75]]);
  t.false(existsSync(f('ledger.json.lock')), 'every build released the ledger');

  // One build at a time per ledger: a lock held by a live process (this one) refuses the build
  // before it spends anything; a lock left by a process that is gone is taken over.
  writeFileSync(f('ledger.json.lock'), `${process.pid}\n`);
  const busy = await lemma('kde', 'build', ...common, '--epsilon', '0.1', '--out', f('d.json'));
  t.is(busy.status, 1);
  t.regex(busy.stderr, /^lemma: EBUSY: --ledger .*ledger\.json is in use by another lemma kde build \(pid \d+\)/);
  t.false(existsSync(f('d.json')));
  t.is(readFileSync(f('ledger.json.lock'), 'utf8'), `${process.pid}\n`, 'a live lock is left alone');
  const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
  writeFileSync(f('ledger.json.lock'), `${gone}\n`);
  const taken = await lemma('kde', 'build', ...common, '--epsilon', '0.1', '--label', 'third', '--out', f('d.json'));
  t.is(taken.status, 0, taken.stderr);
  t.false(existsSync(f('ledger.json.lock')));
  const after = JSON.parse(readFileSync(f('ledger.json'), 'utf8')) as { entries: { label: string }[] };
  t.deepEqual(after.entries.map((e) => e.label), ['first', 'third']);
});

test('kde: bad data exits 1 with a stable code; raw data is refused as a release', async (t) => {
  const f = tmpdir(t);
  const X = points(50, 2, 5);
  X[17] = NaN;
  await io.writeNpy(f('nan.npy'), { data: X, shape: [50, 2] });
  writeFileSync(f('inf.csv'), 'x,y\n0.1,0.2\n0.3,inf\n');
  writeFileSync(f('text.csv'), '0.1,0.2\n0.3,abc\n');
  writeFileSync(f('ragged.csv'), '0.1,0.2\n0.3\n');
  writeFileSync(f('bad.json'), '{"format":"lemma.dp.l1-kde","version":2}');
  await io.writeNpy(f('ok.npy'), { data: points(50, 2, 6), shape: [50, 2] });
  await io.writeNpy(f('Y3.npy'), { data: points(4, 3, 6), shape: [4, 3] });
  const build = (data: string) => lemma('kde', 'build', '--data', data, '--epsilon', '1', '--range', '1', '--levels', '6', '--out', f('r.json'));
  const cases: [Promise<Run>, RegExp][] = [
    [build(f('nan.npy')), /^lemma: ERR_RANGE: --data .*nan\.npy: row 8, column 1 is not a finite number \(private data: the value is not shown\)/],
    [build(f('inf.csv')), /^lemma: ERR_RANGE: --data .*inf\.csv: row 1, column 1 is not a finite number/],
    [build(f('text.csv')), /^lemma: ERR_FORMAT: --data .*text\.csv: line 2, column 2 is not a number \(private data: the value is not shown\)\n$/],
    [build(f('ragged.csv')), /^lemma: ERR_SHAPE: --data .*ragged\.csv: line 2 has 1 values, expected 2\n$/],
    [build(f('missing.npy')), /^lemma: ENOENT: /],
    [lemma('kde', 'query', '--release', f('bad.json'), '--queries', f('ok.npy')), /^lemma: ERR_FORMAT: --release .*bad\.json is not a valid lemma\.dp release: /],
  ];
  for (const [p, re] of cases) {
    const r = await p;
    t.is(r.status, 1, r.stderr);
    t.regex(r.stderr, re);
    t.is(r.stdout, '');
  }
  t.false(existsSync(f('r.json')));
  const ok = await build(f('ok.npy'));
  t.is(ok.status, 0, ok.stderr);
  const wrongD = await lemma('kde', 'query', '--release', f('r.json'), '--queries', f('Y3.npy'));
  t.is(wrongD.status, 1);
  t.regex(wrongD.stderr, /^lemma: ERR_SHAPE: --queries .*Y3\.npy has 3 columns; the release has d = 2\n$/);
  const raw = await lemma('kde', 'query', '--release', f('ok.npy'), '--queries', f('ok.npy'));
  t.is(raw.status, 2);
  t.regex(raw.stderr, /^lemma: --release .*ok\.npy looks like raw data[^]*Usage: lemma kde query/);
});

// Every new command: --help prints its usage, exits 0 and starts nothing.
const HELP: [string[], string[]][] = [
  [['kde'], ['build', 'query', 'release']],
  [['kde', 'build'], ['--data <file>', '--epsilon <E>', '--range <R>', '--out <file>', '--levels <L>', '--max-rows <N>', '--grid-bits <q>', '--neighbour <relation>', '--structure <s>', '--budget <B>', '--ledger <file>', '--seed <S>', 'INSECURE', '--encoding <e>', '--json', '--no-progress', 'building IS releasing']],
  [['kde', 'query'], ['--release <file>', '--queries <file>', '--out <file>', '--device <device>', '--json', 'no privacy cost']],
  [['kde', 'release'], ['--release <file>', '--at <file>', '--ledger <file>', '--out <file>', '--encoding <e>', '--json', 'spends no budget']],
  [['loop'], ['certify', 'enumerate', 'subleq']],
  [['loop', 'certify'], ['--weights <file>', '--preset <name>', '--activation <g>', '--x0 <file>', '--radius <r>', '--lo <v>', '--hi <v>', '--delta <d>', '--max-steps <N>', '--tol <t>', '--noise <n>', '--out <file>', '--json', '--no-progress']],
  [['loop', 'enumerate'], ['--weights <file>', '--preset <name>', '--box <lo,hi>', '--negative <lo,hi>', '--delta <d>', '--samples <N>', '--out <file>', '--json', '--no-progress']],
  [['loop', 'subleq', 'run'], ['<program.asm>', '--steps <N>', '--trace <mode>']],
];

test('--help of every kde and loop command prints its usage and options, exits 0 and starts nothing', async (t) => {
  const f = tmpdir(t);
  await io.writeNpy(f('X.npy'), { data: points(10, 2, 1), shape: [10, 2] });
  const runs = await Promise.all(HELP.map(([cmd]) => lemma(...cmd, '--help')));
  HELP.forEach(([cmd, options], i) => {
    const r = runs[i];
    const name = ['lemma', ...cmd].join(' ');
    t.is(r.status, 0, r.stderr);
    t.is(r.stderr, '');
    t.true(r.stdout.startsWith(`Usage: ${name} `), r.stdout);
    for (const o of options) t.true(r.stdout.includes(o), `${name} --help lists ${o}`);
  });
  // Help after a complete command line still runs nothing: no release, no end points.
  const b = await lemma('kde', 'build', '--data', f('X.npy'), '--epsilon', '1', '--range', '1', '--levels', '4', '--out', f('r.json'), '--help');
  const c = await lemma('loop', 'enumerate', '--preset', 'poly3', '--d', '4', '--out', f('fp.npy'), '--help');
  for (const r of [b, c]) {
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, /^Usage: /);
  }
  t.false(existsSync(f('r.json')));
  t.false(existsSync(f('fp.npy')));
});

test('kde and loop: unknown flags, missing options and missing values exit 2 with the usage', async (t) => {
  const cases: [string[], RegExp][] = [
    [['kde', 'build', '--data', 'x.npy', '--epsilon', '1', '--range', '1', '--out', 'r.json', '--bogus'], /^error: unknown option '--bogus'\n[^]*Usage: lemma kde build/],
    [['kde', 'build', '--data', 'x.npy', '--range', '1', '--out', 'r.json'], /^error: required option '--epsilon <E>' not specified\n[^]*Usage: lemma kde build/],
    [['kde', 'build', '--data', 'x.npy', '--epsilon'], /^error: option '--epsilon <E>' argument missing/],
    [['kde', 'build', '--data', 'x.npy', '--epsilon', '0', '--range', '1', '--out', 'r.json'], /^error: option '--epsilon <E>' argument '0' is invalid\. expected a positive number/],
    [['kde', 'build', '--data', 'x.npy', '--epsilon', '1', '--range', '1', '--out', 'r.npy'], /^error: option '--out <file>' argument 'r\.npy' is invalid\. expected a file name ending in \.json/],
    [['kde', 'query', '--release', 'r.json'], /^error: required option '--queries <file>' not specified\n[^]*Usage: lemma kde query/],
    [['kde', 'query', '--release', 'r.json', '--queries', 'q.npy', '--out', 'e.txt'], /^error: option '--out <file>' argument 'e\.txt' is invalid/],
    [['kde', 'release'], /^lemma: give --release \(a release to describe\), --ledger \(a budget\), or both\n\nUsage: lemma kde release/],
    [['kde', 'frobnicate'], /^error: unknown command 'frobnicate'/],
    [['loop', 'certify'], /^lemma: give the network either as --weights <file> or as --preset poly3\|tanh2\n\nUsage: lemma loop certify/],
    [['loop', 'certify', '--preset', 'poly3', '--bogus'], /^error: unknown option '--bogus'\n[^]*Usage: lemma loop certify/],
    [['loop', 'certify', '--preset', 'relu'], /^error: option '--preset <name>' argument 'relu' is invalid\. expected one of poly3, tanh2/],
    [['loop', 'certify', '--preset', 'poly3', '--lo', '0.8'], /^lemma: --lo and --hi go together/],
    [['loop', 'certify', '--preset', 'poly3', '--delta', '-1'], /^error: option '--delta <d>' argument '-1' is invalid\. expected a number >= 0/],
    [['loop', 'enumerate', '--preset', 'poly3', '--box'], /^error: option '--box <lo,hi>' argument missing/],
    [['loop', 'enumerate', '--preset', 'poly3', '--box', '1,0'], /^error: option '--box <lo,hi>' argument '1,0' is invalid\. expected lo,hi with lo < hi/],
  ];
  const runs = await Promise.all(cases.map(([args]) => lemma(...args)));
  cases.forEach(([args, re], i) => {
    t.is(runs[i].status, 2, args.join(' '));
    t.regex(runs[i].stderr, re, args.join(' '));
    t.is(runs[i].stdout, '', args.join(' '));
  });
});

test('loop certify: a box, and end points of iterated starts, with the library\'s certificates; weights from .npz and .json', async (t) => {
  const f = tmpdir(t);
  const net = looped.preset('poly3', { d: 6 });
  const S = 8;
  const x0 = Float64Array.from({ length: S * 6 }, (_, i) => Math.sin(i * 7.1) * 1.3);
  await io.writeNpy(f('x0.npy'), { data: x0, shape: [S, 6] });
  const W = new Float64Array([0.5, 0.1, -0.2, 0.3]), b = new Float64Array([0.1, -0.2]);
  await io.writeNpz(f('w.npz'), { W: { data: W, shape: [2, 2] }, b: { data: b, shape: [2] } });
  writeFileSync(f('w.json'), JSON.stringify({ W: [[0.5, 0.1], [-0.2, 0.3]], b: [0.1, -0.2], activation: 'tanh' }));
  writeFileSync(f('s.csv'), 'x,y\n0.3,0.1\n-2,2\n');
  const [box, starts, npz, json, text] = await Promise.all([
    lemma('loop', 'certify', '--preset', 'poly3', '--d', '6', '--delta', '0.01', '--json'),
    lemma('loop', 'certify', '--preset', 'poly3', '--d', '6', '--x0', f('x0.npy'), '--out', f('x.npy'), '--json'),
    lemma('loop', 'certify', '--weights', f('w.npz'), '--activation', 'tanh', '--x0', f('s.csv'), '--json'),
    lemma('loop', 'certify', '--weights', f('w.json'), '--x0', f('s.csv'), '--json'),
    lemma('loop', 'certify', '--preset', 'tanh2', '--d', '3', '--lo', '0.7', '--hi', '1.2'),
  ]);
  for (const r of [box, starts, npz, json, text]) t.is(r.status, 0, r.stderr);
  const want = looped.certifyBoxSync({ W: net.W, b: net.b, activation: 'poly3', lo: 0.8, hi: 1.2, delta: 0.01 });
  const got = (JSON.parse(box.stdout) as { certificate: Record<string, unknown> }).certificate;
  t.like(got, { ok: true, K: want.K, margin: want.margin, floor: want.floor, delta: 0.01, stepsToTol: looped.stepsToReach(want, 1e-12) });
  t.regex(text.stdout, /^network: d 3, activation tanh2, from preset tanh2 \(d 3, eta 0\.05, seed 0\)\nbox \[0\.7, 1\.2\]\^3, noise bound delta 0: certified: one fixed point in the box \(radius 0\.2500\), contraction K [\d.]+,/);

  // Iterated starts: the library's end points, bit for bit, and a certificate for each.
  const it = await looped.iterate({ W: net.W, b: net.b, activation: 'poly3', x0: { data: x0, shape: [S, 6] }, maxSteps: 1000, tol: 1e-12, history: false });
  const s = JSON.parse(starts.stdout) as { stabilised: number; certified: number; steps: number[]; certificates: { ok: boolean; K: number }[] };
  t.deepEqual(s.steps, Array.from(it.steps));
  t.is(s.stabilised, S);
  t.is(s.certified, S);
  const x = await io.readNpy(f('x.npy'));
  t.deepEqual(x.shape, [S, 6]);
  t.deepEqual(Array.from(x.data), Array.from(it.x.data));
  for (let k = 0; k < S; k++) {
    const p = it.x.data.subarray(k * 6, (k + 1) * 6);
    const c = looped.certifyBoxSync({ W: net.W, b: net.b, activation: 'poly3', lo: Array.from(p, (v) => v - 0.01), hi: Array.from(p, (v) => v + 0.01) });
    t.is(s.certificates[k].K, c.K);
  }
  // The same 2-d network from .npz (+ --activation) and from JSON (activation inside): same answer.
  const a = JSON.parse(npz.stdout) as { x: number[][]; certified: number }, j = JSON.parse(json.stdout) as { x: number[][]; certified: number };
  t.deepEqual(a.x, j.x);
  t.is(a.certified, 2);
  const lib2 = await looped.iterate({ W: { data: W, shape: [2, 2] }, b, activation: 'tanh', x0: { data: new Float64Array([0.3, 0.1, -2, 2]), shape: [2, 2] }, maxSteps: 1000, history: false });
  t.deepEqual(a.x.flat(), Array.from(lib2.x.data));
});

test('loop enumerate: the library\'s count of certified sign boxes and fixed points; .csv out', async (t) => {
  const f = tmpdir(t);
  const r = await lemma('loop', 'enumerate', '--preset', 'poly3', '--d', '6', '--delta', '0.01', '--out', f('fp.csv'), '--json');
  t.is(r.status, 0, r.stderr);
  const e = await looped.enumerateFixedPoints({ ...looped.preset('poly3', { d: 6 }), delta: 0.01 });
  t.like(JSON.parse(r.stdout), { d: 6, examined: 64, certified: 64, converged: 64, maxK: e.maxK, minSeparation: e.minSeparation, failures: { notSelfMap: 0, notContracting: 0 } });
  const rows = readFileSync(f('fp.csv'), 'utf8').trimEnd().split('\n');
  t.is(rows[0], 'x0,x1,x2,x3,x4,x5');
  t.deepEqual(rows.slice(1).flatMap((l) => l.split(',').map(Number)), Array.from(e.fixedPoints.data));
  const strong = await lemma('loop', 'enumerate', '--preset', 'poly3', '--d', '4', '--eta', '0.9');
  t.is(strong.status, 0, strong.stderr);
  t.regex(strong.stdout, /^network: d 4, activation poly3, from preset poly3 \(d 4, eta 0\.9, seed 0\)\n16 sign boxes examined in \d+\.\d\d s: 0 certified \(\d+ not a self-map, \d+ not contracting\)\n$/);
});

// Ctrl-C: a long build (the noise of a d = 8, levels 20 tree: ~4 s here) and a long enumeration
// (2^20 sign boxes: ~8 s here) stop through their AbortSignal with exit 130.
function runUntilSigint(args: string[], delayMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import=tsx', cli, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGINT'), delayMs);
    const hard = setTimeout(() => child.kill('SIGKILL'), delayMs + 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(hard);
      resolve({ code, signal, stderr });
    });
  });
}

async function interrupted(t: { log(...v: unknown[]): void; is(a: unknown, b: unknown, m?: string): void }, args: string[]): Promise<void> {
  let r;
  // Before the CLI installs its handler Node's default SIGINT ends it by the signal: try later then.
  for (const delay of [2500, 5000]) {
    r = await slot(() => runUntilSigint(args, delay));
    if (r.signal === null) break;
    t.log(`SIGINT after ${delay} ms came before the work started (${r.signal}); trying later`);
  }
  t.is(r!.signal, null);
  t.is(r!.code, 130, r!.stderr);
  t.is(r!.stderr.split('\n').filter((l) => !l.startsWith('lemma: WARNING')).join('\n'), 'lemma: interrupted\n');
}

test('Ctrl-C stops a long kde build (no release; the charge stands in the ledger) and a long loop enumerate: exit 130', async (t) => {
  const f = tmpdir(t);
  await io.writeNpy(f('X.npy'), { data: points(1000, 8, 2), shape: [1000, 8] });
  await Promise.all([
    interrupted(t, ['kde', 'build', '--data', f('X.npy'), '--epsilon', '1', '--range', '1', '--levels', '20', '--out', f('big.json'), '--budget', '2', '--ledger', f('ledger.json')]),
    interrupted(t, ['loop', 'enumerate', '--preset', 'poly3', '--d', '20']),
  ]);
  t.false(existsSync(f('big.json')));
  // The library charges ε before it reads the data and never refunds: the ledger says so.
  const ledger = JSON.parse(readFileSync(f('ledger.json'), 'utf8')) as { budget: number; entries: { epsilon: number }[] };
  t.is(ledger.budget, 2);
  t.deepEqual(ledger.entries.map((e) => e.epsilon), [1]);
  t.false(existsSync(f('ledger.json.lock')), 'the interrupted build released the ledger');
});
