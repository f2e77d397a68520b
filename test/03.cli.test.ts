/**
 * The `lemma` CLI (what `npm start` runs): info, a quick attention bench, usage errors and exit
 * codes, --help / --version on every command, attention and subleq run through files, Ctrl-C.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import path from 'node:path';

const root = path.join(__dirname, '..');
const cli = path.join(root, 'lib', 'cli', 'run.ts');

interface Run { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Runs the CLI from source; async, so the tests of this file run side by side. */
function lemma(...args: string[]): Promise<Run> {
  return lemmaWith({}, ...args);
}

// At most 3 CLIs at a time: more only thrash this 2-core machine.
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

function lemmaWith(env: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  return slot(() => new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', cli, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  }));
}

test('lemma info --json prints the capabilities as JSON; lemma info a summary', async (t) => {
  const r = await lemma('info', '--json');
  t.is(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout) as { version: string; simd: string; threads: number; cuda: { compiled: boolean } };
  t.regex(info.version, /^\d+\.\d+\.\d+/);
  t.true(['avx512', 'avx2', 'scalar'].includes(info.simd));
  const text = await lemma('info');
  t.is(text.status, 0, text.stderr);
  t.regex(text.stdout, new RegExp(`^lemma ${info.version.replace(/\./g, '\\.')}\ncpu: +${info.threads} threads, SIMD ${info.simd}`));
  t.regex(text.stdout, /^cuda: /m);
});

test('lemma bench attention (old flags --quick, --baseline) prints the machine, then one JSON line per configuration', async (t) => {
  const r = await lemmaWith({ LEMMA_BENCH_TINY: '1' }, 'bench', 'attention', '--quick', '--baseline', '--threads', '1');
  t.is(r.status, 0, r.stderr);
  const [machine, ...rows] = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | string | boolean>);
  t.like(machine, { machine: { threads: 1, family: 'attention', size: 'tiny' } });
  const dense = rows.filter((row) => row.bench === 'attention');
  t.is(dense.length, 2);
  t.is(rows.filter((row) => row.bench === 'attention-decode').length, 2);
  for (const row of dense) {
    t.is(row.threads, 1);
    for (const key of ['fwdGflops', 'bwdGflops', 'fwdBwdGflops', 'peakGflops', 'fwdPctPeak', 'materializedFwdGflops', 'flashVsMaterializedFwd']) t.true((row[key] as number) > 0, key);
  }
});

test('lemma with a bad command prints usage and exits 2', async (t) => {
  const r = await lemma('frobnicate');
  t.is(r.status, 2);
  t.regex(r.stderr, /^error: unknown command 'frobnicate'\n[^]*Usage: lemma \[options\] \[command\][^]*\n {2}info \[options\]/);
  t.is(r.stdout, '');
  const bad = await lemma('bench', 'attention', '--threads', 'x');
  t.is(bad.status, 2);
  t.regex(bad.stderr, /^error: option '--threads <n>' argument 'x' is invalid\. expected an integer from 1 to 1024\n\nUsage: lemma bench attention \[--full\] \[--threads N\]/);
  t.is(bad.stdout, '', 'no bench ran');
  const none = await lemma();
  t.is(none.status, 2);
  t.regex(none.stderr, /Usage: lemma \[options\] \[command\]/);
});

// lemma game machine-penalty (pure TypeScript; imports hoist, so they may sit with the test they serve).
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';

test('lemma game machine-penalty prints the table, writes JSON and SVG with --out, and refuses unknown flags', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lemma-mp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = await lemma('game', 'machine-penalty', '--per-condition', '48', '--seed', '3', '--out', dir);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /48 participants per condition, 10 rounds, payoff T=5 R=3 P=1 S=0, seed 3/);
  for (const c of ['human', 'cooperative', 'selfish', 'fair']) t.regex(r.stdout, new RegExp(`^${c} +48 +0\\.\\d{3}  \\[0\\.\\d{3}, 0\\.\\d{3}\\]`, 'm'));
  t.regex(r.stdout, /^ {2}human − fair +-?0\.\d{3}/m);
  const json = JSON.parse(readFileSync(path.join(dir, 'machine-penalty.json'), 'utf8')) as { seed: number; conditions: unknown[] };
  t.is(json.seed, 3);
  t.is(json.conditions.length, 4);
  t.regex(readFileSync(path.join(dir, 'machine-penalty.svg'), 'utf8'), /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^]*<\/svg>\n$/);
  const j = await lemma('game', 'machine-penalty', '--per-condition', '48', '--seed', '3', '--json');
  t.is(j.status, 0, j.stderr);
  t.deepEqual(JSON.parse(j.stdout), json);
  const bad = await lemma('game', 'machine-penalty', '--rounds', '5');
  t.is(bad.status, 2);
  t.regex(bad.stderr, /^error: unknown option '--rounds'\n[^]*Usage: lemma game machine-penalty \[--per-condition N\]/);
  const odd = await lemma('game', 'machine-penalty', '--per-condition', '3');
  t.is(odd.status, 2);
  t.regex(odd.stderr, /^lemma: Expected an even integer[^\n]*\n\nUsage: lemma game machine-penalty/);
  const missing = await lemma('game', 'machine-penalty', '--seed');
  t.is(missing.status, 2);
  t.regex(missing.stderr, /^error: option '--seed <S>' argument missing\n/);
});

// --help, --version, usage errors, exit codes.
import * as io from '../lib/io/index.js';
import * as lemmaAttention from '../lib/attention/index.js';
import { formatProgress, formatSeconds, progressBar } from '../lib/cli/progress.js';
import { progressLabel as sampleProgressLabel } from '../lib/cli/commands/sample.js';

const version = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;

// Every command path and options its help must list.
const COMMANDS: [string[], string[]][] = [
  [[], ['--version', '--help', 'info', 'bench', 'attention', 'subleq', 'sample', 'game', 'Exit codes:', '130']],
  [['info'], ['--json']],
  [['bench'], ['attention', 'sparse', 'poly-attention', 'dikin|polytope', 'john', 'dp', 'looped', 'subleq', 'prune', 'games', '<family> [--full]']],
  [['bench', 'attention'], ['--quick', '--threads <n>', '--baseline', '--full', '--out <FILE>', '--no-progress']],
  [['bench', 'dp'], ['--full', '--threads <n>', '--out <FILE>', '--no-progress']],
  [['attention'], ['--q <file>', '--k <file>', '--v <file>', '--out <file>', '--lse <file>', '--causal', '--scale <S>', '--device <device>', '--json', '--no-progress']],
  [['subleq'], ['run']],
  [['subleq', 'run'], ['<program.asm>', '--steps <N>', '--trace <mode>', '--word-bits <N>', '--json', '--no-progress']],
  [['sample'], ['--polytope <file>', '--A <file>', '--b <file>', '--chains <C>', '--steps <N>', '--burn-in <N>', '--thin <K>', '--seed <S>', '--barrier <barrier>', '--device <device>', '--out <file>', '--json', '--no-progress']],
  [['game'], ['machine-penalty']],
  [['game', 'machine-penalty'], ['--per-condition <N>', '--seed <S>', '--json', '--out <DIR>']],
];

for (const [cmd, options] of COMMANDS) {
  const name = ['lemma', ...cmd].join(' ');
  test(`${name} --help prints its usage and options, starts nothing, exits 0; --version prints the version`, async (t) => {
    for (const flag of cmd.length === 0 ? ['--help', '-h'] : ['--help']) {
      const r = await lemma(...cmd, flag);
      t.is(r.status, 0, r.stderr);
      t.is(r.stderr, '');
      t.true(r.stdout.startsWith(`Usage: ${name} `), r.stdout);
      for (const o of options) t.true(r.stdout.includes(o), `${name} ${flag} lists ${o}`);
      t.false(r.stdout.includes('"bench"'), 'help started no benchmark');
    }
    const v = await lemma(...cmd, '--version');
    t.is(v.status, 0, v.stderr);
    t.is(v.stdout, `${version}\n`);
  });
}

test('unknown options and missing values exit 2 with the usage on stderr and nothing on stdout', async (t) => {
  const cases: [string[], RegExp][] = [
    [['info', '--bogus'], /^error: unknown option '--bogus'\n[^]*Usage: lemma info \[options\]/],
    [['bench', 'attention', '--quick', '--threads'], /^error: option '--threads <n>' argument missing\n[^]*Usage: lemma bench attention/],
    [['bench', 'nosuch'], /^error: unknown command 'nosuch'\nlemma bench <family> runs one of: attention, sparse, poly-attention, dikin, john, dp, looped, subleq, prune, games \(polytope = dikin\)\n[^]*Usage: lemma bench/],
    [['bench', 'dp', '--quick'], /^error: unknown option '--quick'\n[^]*Usage: lemma bench dp/],
    [['bench', 'attention', '--quick', '--full'], /^lemma: --quick \(the default size\) and --full exclude each other\n\nUsage: lemma bench attention/],
    [['bench', 'games', 'extra'], /^error: too many arguments for 'games'[^]*Usage: lemma bench games/],
    [['attention', '--q', 'q.npy', '--k', 'k.npy'], /^error: required option '--v <file>' not specified\n[^]*Usage: lemma attention/],
    [['attention', '--q'], /^error: option '--q <file>' argument missing/],
    [['attention', '--q', 'a', '--k', 'b', '--v', 'c', '--device', 'gpu'], /^error: option '--device <device>' argument 'gpu' is invalid\. expected one of auto, cpu, cuda\n/],
    [['attention', '--q', 'a', '--k', 'b', '--v', 'c', '--scale', '-1'], /^error: option '--scale <S>' argument '-1' is invalid\. expected a positive number\n/],
    [['subleq', 'run'], /^error: missing required argument 'program\.asm'\n[^]*Usage: lemma subleq run/],
    [['subleq', 'run', 'p.asm', '--steps', '1.5'], /^error: option '--steps <N>' argument '1\.5' is invalid\. expected an integer from 0 to/],
    [['subleq', 'run', 'p.asm', '--trace', 'some'], /^error: option '--trace <mode>' argument 'some' is invalid\. expected one of end, every\n/],
  ];
  for (const [args, re] of cases) {
    const r = await lemma(...args);
    t.is(r.status, 2, args.join(' '));
    t.regex(r.stderr, re, args.join(' '));
    t.is(r.stdout, '', args.join(' '));
  }
});

test('the addon is loaded only by the commands that need it: game and --help run without it', async (t) => {
  const run = (...args: string[]) => lemmaWith({ LEMMA_ADDON: path.join(os.tmpdir(), 'no-such-lemma-addon.node') }, ...args);
  const game = await run('game', 'machine-penalty', '--per-condition', '8', '--seed', '1', '--json');
  t.is(game.status, 0, game.stderr);
  t.is((await run('attention', '--help')).status, 0);
  t.is((await run('bench', 'attention', '--help')).status, 0);
  const help = await run('bench', 'dp', '--help');
  t.is(help.status, 0, help.stderr);
  t.false(help.stdout.includes('"machine"'), 'no benchmark ran');
  const info = await run('info');
  t.is(info.status, 1, 'info needs the addon, so this one fails');
  t.regex(info.stderr, /^lemma: .*no-such-lemma-addon/);
});

// lemma attention: .npy in, .npy out.
function randomArray(Ctor: Float32ArrayConstructor | Float64ArrayConstructor, n: number, seed: number): Float32Array | Float64Array {
  const a = new Ctor(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    a[i] = x / 2 ** 32 - 0.5;
  }
  return a;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

for (const dtype of ['float32', 'float64'] as const) {
  test(`lemma attention reads q, k, v from .npy and writes out and lse that match forwardSync (${dtype})`, async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lemma-cli-att-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const Ctor = dtype === 'float32' ? Float32Array : Float64Array;
    // Grouped-query (4 query heads over 2 key heads), Nq != Nk, D not a power of two.
    const qs = [2, 4, 37, 24], ks = [2, 2, 53, 24];
    const q = { data: randomArray(Ctor, 2 * 4 * 37 * 24, 1), shape: qs };
    const k = { data: randomArray(Ctor, 2 * 2 * 53 * 24, 2), shape: ks };
    const v = { data: randomArray(Ctor, 2 * 2 * 53 * 24, 3), shape: ks };
    const f = (n: string) => path.join(dir, n);
    await Promise.all([io.writeNpy(f('q.npy'), q), io.writeNpy(f('k.npy'), k), io.writeNpy(f('v.npy'), v)]);
    const r = await lemma('attention', '--q', f('q.npy'), '--k', f('k.npy'), '--v', f('v.npy'), '--out', f('out.npy'), '--lse', f('lse.npy'), '--causal', '--scale', '0.3', '--device', 'cpu', '--json');
    t.is(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as Record<string, unknown>;
    t.like(summary, { q: qs, k: ks, out: qs, dtype, causal: true, scale: 0.3, device: 'cpu' });
    t.true((summary.ms as number) >= 0);
    const want = lemmaAttention.forwardSync(q, k, v, { causal: true, scale: 0.3 });
    const out = await io.readNpy(f('out.npy'));
    const lse = await io.readNpy(f('lse.npy'));
    t.is(out.dtype, dtype);
    t.deepEqual(out.shape, qs);
    t.deepEqual(lse.shape, qs.slice(0, 3));
    const tol = dtype === 'float32' ? 1e-5 : 1e-12;
    t.true(maxAbsDiff(out.data, want.out.data) <= tol, `out differs by ${maxAbsDiff(out.data, want.out.data)}`);
    t.true(maxAbsDiff(lse.data, want.lse.data) <= tol, `lse differs by ${maxAbsDiff(lse.data, want.lse.data)}`);
    // A causal mask changes the answer: the file is not the unmasked output.
    const unmasked = lemmaAttention.forwardSync(q, k, v, { scale: 0.3 });
    t.true(maxAbsDiff(out.data, unmasked.out.data) > 1e-3);
    // The text summary.
    const text = await lemma('attention', '--q', f('q.npy'), '--k', f('k.npy'), '--v', f('v.npy'));
    t.is(text.status, 0, text.stderr);
    t.regex(text.stdout, new RegExp(`^attention \\[2, 4, 37, 24\\] x \\[2, 2, 53, 24\\] ${dtype}, scale 0\\.2041: out \\[2, 4, 37, 24\\] on cpu in \\d+\\.\\d ms\\n$`));
  });
}

test('lemma attention: runtime failures exit 1 with "lemma: <code>: <message>"', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lemma-cli-att-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const f = (n: string) => path.join(dir, n);
  await io.writeNpy(f('i.npy'), { data: new Int32Array(16), shape: [1, 1, 4, 4] });
  await io.writeNpy(f('a.npy'), { data: new Float32Array(16), shape: [1, 1, 4, 4] });
  await io.writeNpy(f('b.npy'), { data: new Float32Array(15), shape: [1, 1, 5, 3] });
  const dtypeErr = await lemma('attention', '--q', f('i.npy'), '--k', f('a.npy'), '--v', f('a.npy'));
  t.is(dtypeErr.status, 1);
  t.regex(dtypeErr.stderr, /^lemma: ERR_DTYPE: --q .*i\.npy holds int32; attention takes float32 or float64\n$/);
  const shapeErr = await lemma('attention', '--q', f('a.npy'), '--k', f('b.npy'), '--v', f('b.npy'));
  t.is(shapeErr.status, 1);
  t.regex(shapeErr.stderr, /^lemma: ERR_SHAPE: /);
  const missing = await lemma('attention', '--q', f('nope.npy'), '--k', f('a.npy'), '--v', f('a.npy'));
  t.is(missing.status, 1);
  t.regex(missing.stderr, /^lemma: ENOENT: .*nope\.npy/);
  t.false(existsSync(f('out.npy')));
});

// lemma subleq run.
test('lemma subleq run prints the final memory, pc and halt step (text, JSON, trace every)', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lemma-cli-subleq-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const prog = path.join(dir, 'countdown.asm');
  // n -= 1 until n <= 0, then halt: 3 rounds of two instructions, then the halt slot.
  writeFileSync(prog, 'loop: one, n, HALT\n zero, zero, loop\n.data\nn: 3\none: 1\nzero: 0\n');
  const r = await lemma('subleq', 'run', prog);
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout, 'halted at step 5 (of 10000), pc 2\nmemory: 0 1 0\nlabels: n = 0, one = 1, zero = 0\n');
  const j = await lemma('subleq', 'run', prog, '--steps', '100', '--json');
  t.is(j.status, 0, j.stderr);
  t.like(JSON.parse(j.stdout), { halted: true, haltStep: 5, steps: 100, pc: 2, memory: [0, 1, 0], labels: { n: 0, one: 1, zero: 0 } });
  const every = await lemma('subleq', 'run', prog, '--steps', '3', '--trace', 'every');
  t.is(every.status, 0, every.stderr);
  t.is(every.stdout, 'step 0: pc 0  memory 3 1 0\nstep 1: pc 1  memory 2 1 0\nstep 2: pc 0  memory 2 1 0\nstep 3: pc 1  memory 1 1 0\n' +
    'not halted after 3 steps, pc 1\nmemory: 1 1 0\nlabels: n = 1, one = 1, zero = 0\n');
  writeFileSync(path.join(dir, 'bad.asm'), 'loop: one, n, lop\n.data\nn: 3\none: 1\n');
  const bad = await lemma('subleq', 'run', path.join(dir, 'bad.asm'));
  t.is(bad.status, 1);
  t.regex(bad.stderr, /^lemma: .*bad\.asm: line 1: unknown label 'lop' \(did you mean 'loop'\?\)\n$/);
});

// lemma sample.
test('lemma sample draws from a polytope given as JSON or as .npy A and b, to .npy or CSV, and reports acceptance and ESS', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lemma-cli-sample-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const f = (n: string) => path.join(dir, n);
  // The triangle x >= 0, y >= 0, x + y <= 1.
  writeFileSync(f('tri.json'), JSON.stringify({ A: [[-1, 0], [0, -1], [1, 1]], b: [0, 0, 1] }));
  await io.writeNpy(f('A.npy'), { data: new Float64Array([-1, 0, 0, -1, 1, 1]), shape: [3, 2] });
  await io.writeNpy(f('b.npy'), { data: new Float64Array([0, 0, 1]), shape: [3] });
  const common = ['--chains', '3', '--steps', '40', '--burn-in', '20', '--seed', '11', '--device', 'cpu'];
  const j = await lemma('sample', '--polytope', f('tri.json'), ...common, '--out', f('s.npy'), '--json');
  t.is(j.status, 0, j.stderr);
  const summary = JSON.parse(j.stdout) as { chains: number; kept: number; d: number; acceptance: number[]; ess: number[]; seed: number; stepsDone: number };
  t.like(summary, { chains: 3, kept: 40, d: 2, seed: 11, stepsDone: 60 });
  t.is(summary.acceptance.length, 3);
  for (const a of summary.acceptance) t.true(a > 0 && a <= 1, `acceptance ${a}`);
  t.is(summary.ess.length, 2);
  const npy = await io.readNpy(f('s.npy'));
  t.is(npy.dtype, 'float64');
  t.deepEqual(npy.shape, [3, 40, 2]);
  for (let i = 0; i < npy.data.length; i += 2) {
    const x = npy.data[i], y = npy.data[i + 1];
    t.true(x >= 0 && y >= 0 && x + y <= 1, `sample ${i / 2} (${x}, ${y}) is in the triangle`);
  }
  // The same seed through .npy A and b and a CSV file: the same samples.
  const c = await lemma('sample', '--A', f('A.npy'), '--b', f('b.npy'), ...common, '--out', f('s.csv'));
  t.is(c.status, 0, c.stderr);
  t.regex(c.stdout, /^dikin walk in d = 2: 3 chains x 40 samples \(60 steps each\) on cpu \(\w+\) in \d+\.\d\d s, seed 11\nacceptance 0\.\d{3} \(chains 0\.\d{3} to [01]\.\d{3}\); ESS min [\d.n/a]+ of 120; R-hat max [\d.n/a]+\nwrote .*s\.csv\n$/);
  const rows = readFileSync(f('s.csv'), 'utf8').trimEnd().split('\n');
  t.is(rows[0], 'chain,step,x0,x1');
  t.is(rows.length, 1 + 3 * 40);
  const parsed = rows.slice(1).flatMap((r) => r.split(',').slice(2).map(Number));
  t.deepEqual(parsed, Array.from(npy.data));
  t.is(rows[41].split(',').slice(0, 2).join(','), '1,0');
  // Usage errors: no polytope, both forms, a bad --out name.
  for (const args of [['sample'], ['sample', '--polytope', f('tri.json'), '--A', f('A.npy'), '--b', f('b.npy')], ['sample', '--polytope', f('tri.json'), '--out', f('s.txt')]]) {
    const r = await lemma(...args);
    t.is(r.status, 2, args.join(' '));
    t.regex(r.stderr, /Usage: lemma sample \[options\]/);
  }
  // An empty polytope: a runtime failure with its code.
  writeFileSync(f('empty.json'), JSON.stringify({ A: [[0, 0], [1, 0], [0, 1]], b: [-1, 1, 1] }));
  const empty = await lemma('sample', '--polytope', f('empty.json'), '--seed', '1');
  t.is(empty.status, 1);
  t.regex(empty.stderr, /^lemma: ERR_INFEASIBLE: /);
});

test('lemma sample warns when the chains have not mixed (R-hat > 1.01 or ESS < 100 per chain) and suggests --steps; a long enough run is quiet', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lemma-cli-mix-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sq = path.join(dir, 'square.json');
  writeFileSync(sq, JSON.stringify({ A: [[1, 0], [-1, 0], [0, 1], [0, -1]], b: [1, 1, 1, 1] }));
  // The defaults (4 chains x 1000 steps) on the square: the Dikin walk mixes slowly near corners.
  const short = await lemma('sample', '--polytope', sq, '--seed', '3', '--device', 'cpu', '--json');
  t.is(short.status, 0, short.stderr);
  const s = JSON.parse(short.stdout) as { essMin: number; rhatMax: number; warnings: string[] };
  t.true(s.essMin < 400, `ESS min ${s.essMin} is below the target at the default length`);
  t.true(s.warnings.some((w) => /^ESS min \d+ < 400 \(100 per chain\): about --steps \d+ would reach it$/.test(w)), s.warnings.join('; '));
  t.is(s.warnings.some((w) => w.startsWith('R-hat')), s.rhatMax > 1.01);
  const text = await lemma('sample', '--polytope', sq, '--seed', '3', '--device', 'cpu');
  t.regex(text.stderr, /^lemma: warning: .*--steps (\d+) would reach it$/m);
  // Following the suggestion (with margin: the ESS estimate is noisy) reaches both targets.
  const suggested = Number(/--steps (\d+)/.exec(s.warnings.find((w) => w.startsWith('ESS'))!)![1]);
  t.true(suggested > 1000 && suggested < 100_000, `suggested --steps ${suggested}`);
  const long = await lemma('sample', '--polytope', sq, '--seed', '3', '--device', 'cpu', '--steps', String(2 * suggested), '--json');
  t.is(long.status, 0, long.stderr);
  const l = JSON.parse(long.stdout) as { essMin: number; rhatMax: number; warnings: string[] };
  t.deepEqual(l.warnings, [], `ESS min ${l.essMin}, R-hat max ${l.rhatMax}`);
  t.is(long.stderr, '');
});

// Ctrl-C: SIGINT aborts the native work and exits 130.
function runUntilSigint(args: string[], delayMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; afterSigintMs: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import=tsx', cli, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let sentAt = 0;
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => { sentAt = performance.now(); child.kill('SIGINT'); }, delayMs);
    const hard = setTimeout(() => child.kill('SIGKILL'), delayMs + 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(hard);
      resolve({ code, signal, stderr, afterSigintMs: sentAt ? performance.now() - sentAt : -1 });
    });
  });
}

test('Ctrl-C stops a long subleq run through its AbortSignal: "interrupted", exit 130', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lemma-cli-sigint-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const prog = path.join(dir, 'forever.asm');
  writeFileSync(prog, 'loop: one, ctr, loop\n zero, zero, loop\n.data\nctr: 0\none: 1\nzero: 0\n');
  // The signal must land after the CLI has started the run (before that, Node's default SIGINT
  // ends the process by the signal, not with 130): on a loaded machine startup may be slow, so
  // later tries wait longer. A CLI that never handles SIGINT fails every try.
  let r;
  for (const delay of [2500, 6000, 15_000]) {
    r = await runUntilSigint(['subleq', 'run', prog, '--steps', '1e9'], delay);
    if (r.signal === null) break;
    t.log(`SIGINT after ${delay} ms came before the run started (${r.signal}); trying later`);
  }
  t.is(r!.signal, null);
  t.is(r!.code, 130, r!.stderr);
  t.is(r!.stderr, 'lemma: interrupted\n');
  t.true(r!.afterSigintMs >= 0);
  t.log(`exit ${r!.afterSigintMs.toFixed(0)} ms after SIGINT`);
});

test('Ctrl-C stops lemma bench <family> between measurements: "interrupted", exit 130', async (t) => {
  let r;
  for (const delay of [2500, 6000, 15_000]) {
    r = await runUntilSigint(['bench', 'games', '--full', '--no-progress'], delay);
    if (r.signal === null) break;
    t.log(`SIGINT after ${delay} ms came before the run started (${r.signal}); trying later`);
  }
  t.is(r!.signal, null);
  t.is(r!.code, 130, r!.stderr);
  t.is(r!.stderr, 'lemma: interrupted\n');
});

// lemma bench <family>: every family at tiny sizes (LEMMA_BENCH_TINY=1), the machine line first,
// then records whose throughput fields (by record kind) are finite and positive; --out writes
// the same lines.
const FAMILY_THROUGHPUT: Record<string, Record<string, string[]>> = {
  attention: { attention: ['fwdGflops', 'bwdGflops', 'fwdBwdGflops', 'fwdPctPeak'], 'attention-decode': ['streamGBs', 'fwdGflops', 'fwdOverStream'] },
  sparse: { sparse: ['reluMs', 'lemmaDenseMs', 'speedupVsLemmaDense', 'speedupVsOwnDense', 'softmaxMs'] },
  'poly-attention': { 'poly-attention-kernel': ['polySeconds', 'polyTokensPerSec', 'exactSeconds', 'speedup'], 'attention-stack': ['seconds', 'tokensPerSec'] },
  dikin: { cpu: ['stepsPerSecond', 'perChainStepsPerSecond', 'minEssPerSecond'] },
  john: { john: ['solvesPerSec', 'sketchSolvesPerSec', 'exactOverSketch'] },
  dp: { 'dp-sampler': ['samplesPerSec'], 'dp-build': ['buildMs', 'maxRssBytes'], 'dp-query': ['queriesPerSec'], 'dp-error': ['rmse'] },
  looped: { 'looped-certify': ['boxesPerSec', 'forwardPerSec'], 'looped-iterate': ['startStepsPerSec', 'gflops', 'refGflops', 'overRef'] },
  subleq: { 'subleq mlp': ['programStepsPerSec', 'mlpStepsPerSec', 'macsPerSec'], 'subleq interpreter': ['programStepsPerSec'] },
  prune: { 'prune-eval': ['gflopsValue', 'gflopsGradient'], 'prune-step': ['msPerStep'], 'prune-error': ['attnError'] },
  games: { games: ['participantsPerSec', 'gamesPerSec', 'roundsPerSec', 'concurrentParticipantsPerSec'] },
};

for (const [family, kinds] of Object.entries(FAMILY_THROUGHPUT)) {
  test(`lemma bench ${family} (tiny) prints the machine line, then records with finite positive throughput; --out writes the same lines`, async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lemma-bench-family-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const out = path.join(dir, `${family}.jsonl`);
    const r = await lemmaWith({ LEMMA_BENCH_TINY: '1' }, 'bench', family, '--threads', '2', '--out', out, '--no-progress');
    t.is(r.status, 0, r.stderr);
    t.is(r.stderr, '');
    t.is(readFileSync(out, 'utf8'), r.stdout, '--out holds the same lines');
    const [first, ...records] = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    t.deepEqual(Object.keys(first), ['machine']);
    t.like(first, { machine: { cores: os.cpus().length, threads: 2, family, size: 'tiny' } });
    t.true(records.length >= 1);
    const kindOf = (rec: Record<string, unknown>) => (rec.bench === 'subleq' ? `subleq ${String(rec.kind)}` : String(rec.bench ?? rec.suite));
    for (const [kind, keys] of Object.entries(kinds)) {
      const rows = records.filter((rec) => kindOf(rec) === kind && rec.skipped === undefined);
      t.true(rows.length >= 1, `${family}: a ${kind} record`);
      for (const rec of rows) {
        for (const key of keys) {
          const v = rec[key];
          t.true(typeof v === 'number' && Number.isFinite(v) && v > 0, `${family} ${kind}.${key} = ${String(v)}`);
        }
      }
    }
  });
}

test('lemma bench polytope is the dikin family; an unknown family is a usage error naming the families', async (t) => {
  const help = await lemma('bench', 'polytope', '--help');
  t.is(help.status, 0, help.stderr);
  t.regex(help.stdout, /^Usage: lemma bench dikin\|polytope /);
  const bad = await lemma('bench', 'nosuch', '--full');
  t.is(bad.status, 2);
  t.regex(bad.stderr, /^error: unknown command 'nosuch'\nlemma bench <family> runs one of: attention, sparse, poly-attention, dikin, john, dp, looped, subleq, prune, games/);
  t.is(bad.stdout, '');
});

// The progress bar.
test('progress: the bar text, seconds, and no drawing when stderr is not a terminal or with --no-progress', async (t) => {
  t.is(formatSeconds(0.42), '0.4s');
  t.is(formatSeconds(125), '2m05s');
  t.is(formatSeconds(7380), '2h03m');
  t.is(formatProgress('attention', 0.5, 2, 'acceptance 0.41', 10), 'attention  50% [#####·····] 2.0s  ETA 2.0s  acceptance 0.41');
  t.is(formatProgress('x', 0, 1, '', 4), 'x   0% [····] 1.0s  ETA ?');
  // lemma sample's text beside the bar: the phase in burn-in, the acceptance, the running ESS and R-hat once known.
  t.is(sampleProgressLabel({ phase: 'burn-in', acceptance: 0.4149 }), 'burn-in acc 0.41');
  t.is(sampleProgressLabel({ phase: 'sampling', acceptance: 0.29, essMin: 1043.4, rhatMax: 1.0021 }), 'acc 0.29 ESS 1043 R-hat 1.002');
  t.is(sampleProgressLabel({ phase: 'sampling', acceptance: NaN, essMin: NaN }), 'acc n/a');
  t.is(formatProgress('x', 1, 3, '', 4), 'x 100% [####] 3.0s  ETA 0.0s');
  const writes: string[] = [];
  const fake = (isTTY: boolean) => ({ isTTY, columns: 200, write: (s: string) => { writes.push(s); return true; } }) as unknown as NodeJS.WriteStream;
  const tty = progressBar('w', { stream: fake(true), delayMs: 0 });
  tty.update({ done: 1, total: 4, fraction: 0.25, elapsedSeconds: 1 });
  tty.finish();
  t.deepEqual(writes, ['\r\x1b[2Kw  25% [######··················] 1.0s  ETA 3.0s', '\r\x1b[2K']);
  writes.length = 0;
  for (const bar of [progressBar('w', { stream: fake(false), delayMs: 0 }), progressBar('w', { stream: fake(true), delayMs: 0, enabled: false })]) {
    bar.update({ done: 1, total: 2 });
    bar.finish();
  }
  t.deepEqual(writes, []);
});
