/**
 * `lemma bench` (the quick suite behind `npm start`): the vega-lite charts render to SVG with one
 * bar per case and their axis titles; the HTML report is one self-contained file with every chart
 * inline and a table row per case; the real suite (tiny sizes) covers every family with positive
 * throughputs and writes results.json with the machine first; --help and bad families run nothing.
 * No timing thresholds.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { QuickResult, QuickSuiteResult } from '../lib/bench/quick.js';
import { quickFamilies, runQuickSuite } from '../lib/bench/quick.js';
import { CHART_TITLES, barCount, chartSpec, renderCharts, renderSvg } from '../lib/bench/charts.js';
import type { ChartName } from '../lib/bench/charts.js';
import { buildHtml, formatJsonLines, formatTable, writeReport } from '../lib/bench/report.js';

const root = path.join(__dirname, '..');
const cli = path.join(root, 'lib', 'cli', 'run.ts');

function result(family: string, operation: string, o: Partial<QuickResult> = {}): QuickResult {
  return {
    family, operation, size: 'N1', device: 'cpu 2t avx2', seconds: 0.01, reps: 3, throughput: 100, unit: 'items/s',
    peakPct: null, cudaPath: false, gpu: { skipped: 'no CUDA path' }, baseline: null, ...o,
  };
}

/** Fixed synthetic results: 2 FLOP cases, 2 GPU-timed cases, 3 baselines, 5 cases in all. */
const FIXED: QuickSuiteResult = {
  machine: { cpu: 'Test CPU <x>', cores: 2, threads: 2, simd: 'avx2', cuda: 'Test GPU', node: 'v20.0.0', lemma: '0.1.0', date: '2025-01-01T00:00:00.000Z', fmaPeakGflops: 100 },
  seconds: 12.5,
  results: [
    result('attention', 'dense forward', { throughput: 42, unit: 'GFLOP/s', peakPct: 42, cudaPath: true, gpu: { seconds: 0.001, throughput: 420, speedup: 10 }, baseline: { name: 'materialized schedule', seconds: 0.02, throughput: 21, ratio: 2 } }),
    result('looped', 'iterate (poly3)', { throughput: 5.5, unit: 'GFLOP/s', peakPct: 5.5, baseline: { name: 'fp64 oracle', seconds: 0.1, throughput: 0.55, ratio: 10 } }),
    result('dp', 'private KDE query', { throughput: 8e5, unit: 'queries/s', cudaPath: true, gpu: { seconds: 0.02, throughput: 4e5, speedup: 0.5 }, baseline: { name: 'baseline KDE', seconds: 0.1, throughput: 8e4, ratio: 10 } }),
    result('games', 'machine-penalty simulate', { throughput: 3000, unit: 'participants/s' }),
    result('john', 'John ellipsoid & <friends>', { throughput: 30, unit: 'solves/s' }),
  ],
};

const EXPECTED_BARS: Record<ChartName, number> = { throughput: 5, peak: 2, gpu: 2, baseline: 3 };
const AXIS_TITLES: Record<ChartName, string> = {
  throughput: 'throughput (unit per case, log scale)', peak: '% of fp32 FMA peak',
  gpu: 'speed-up: CPU time / GPU time (x, log scale)', baseline: 'speed-up over the baseline (x, log scale)',
};

function bars(svg: string): number {
  return (svg.match(/aria-roledescription="bar"/g) ?? []).length;
}

for (const name of ['throughput', 'peak', 'gpu', 'baseline'] as const) {
  test(`the ${name} chart renders to SVG with one bar per case and its titles`, async (t) => {
    t.is(barCount(name, FIXED.results), EXPECTED_BARS[name]);
    const svg = await renderSvg(chartSpec(name, FIXED.results));
    t.regex(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>[^]*<\/svg>$/);
    t.is((svg.match(/<svg/g) ?? []).length, 1);
    t.is(bars(svg), EXPECTED_BARS[name]);
    t.true(svg.includes(`>${CHART_TITLES[name]}</text>`), 'chart title');
    t.true(svg.includes(`>${AXIS_TITLES[name]}</text>`), 'x-axis title');
    t.true(svg.includes('>operation</text>'), 'y-axis title');
    // Every bar has a positive width (log-scale bars start at the domain's lower power of ten).
    const widths = [...svg.matchAll(/aria-roledescription="bar" d="M[-\d.e]+,[-\d.e]+h([-\d.e]+)v/g)].map((m) => Number(m[1]));
    t.is(widths.length, EXPECTED_BARS[name]);
    for (const w of widths) t.true(w > 0, `bar width ${w}`);
  });
}

test('a chart with more cases draws more bars (the count follows the data)', async (t) => {
  const more = [...FIXED.results, result('prune', 'refit', { throughput: 7, unit: 'steps/s' })];
  t.is(bars(await renderSvg(chartSpec('throughput', more))), 6);
});

test('the HTML report is one self-contained file: every chart inline, a row per case, no external URL', async (t) => {
  const charts = await renderCharts(FIXED.results);
  t.deepEqual(Object.keys(charts).sort(), ['baseline', 'gpu', 'peak', 'throughput']);
  const html = buildHtml(FIXED, charts);
  t.true(html.startsWith('<!DOCTYPE html>'));
  for (const svg of Object.values(charts)) t.true(html.includes(svg as string));
  t.is((html.match(/<svg /g) ?? []).length, 4);
  t.is((html.match(/<tbody>[^]*<\/tbody>/)![0].match(/<tr>/g) ?? []).length, FIXED.results.length);
  t.true(html.includes('John ellipsoid &amp; &lt;friends&gt;'), 'cells are escaped');
  t.true(html.includes('Test CPU &lt;x&gt;'));
  t.false(/<script|<link|<img|<iframe|@import|url\(/i.test(html), 'no scripts, stylesheets, images or CSS urls');
  // The only absolute URLs are XML namespaces of the inline SVGs.
  const urls = [...html.matchAll(/https?:\/\/[^\s"'<>)]+/g)].map((m) => m[0]);
  t.true(urls.length > 0);
  for (const u of urls) t.true(['http://www.w3.org/2000/svg', 'http://www.w3.org/1999/xlink'].includes(u), u);
  t.false(/(?:src|href)\s*=\s*["']?https?:/i.test(html));
});

test('without a usable GPU the report says so instead of a GPU chart; the table says n/a / no GPU', async (t) => {
  const noGpu: QuickSuiteResult = {
    ...FIXED,
    machine: { ...FIXED.machine, cuda: 'none: built without CUDA' },
    results: FIXED.results.map((r) => ({ ...r, gpu: { skipped: r.cudaPath ? 'built without CUDA' : 'no CUDA path' } })),
  };
  const charts = await renderCharts(noGpu.results);
  t.is(charts.gpu, undefined);
  const html = buildHtml(noGpu, charts);
  t.regex(html, /<p class="note" id="gpu">No GPU was usable: none: built without CUDA/);
  const table = formatTable(noGpu);
  t.regex(table, /^attention +dense forward .* no GPU +2\.00x vs materialized schedule$/m);
  t.regex(table, /^games +machine-penalty simulate .* n\/a +-$/m);
  const emulated = formatTable({ ...noGpu, results: noGpu.results.map((r) => (r.cudaPath ? { ...r, gpu: { skipped: 'emulated (no timing)' } } : r)) });
  t.regex(emulated, /^dp +private KDE query .* emulated +10\.0x vs baseline KDE$/m);
});

test('the table is aligned with one row per case; --json lines start with the machine', (t) => {
  const table = formatTable(FIXED);
  const lines = table.split('\n');
  t.regex(lines[0], /^lemma 0\.1\.0 on Test CPU <x> \(2 cores, 2 threads, SIMD avx2\)/);
  const header = lines[2];
  for (const c of ['family', 'operation', 'size', 'device', 'time', 'throughput', '% peak', 'GPU x', 'vs baseline']) t.true(header.includes(c), c);
  const rows = lines.slice(4, 4 + FIXED.results.length);
  t.regex(rows[0], /^attention +dense forward +N1 +cpu 2t avx2 +10\.0 ms +42\.0 GFLOP\/s +42\.0% +10\.0x +2\.00x vs materialized schedule$/);
  t.regex(rows[2], /800k queries\/s/);
  t.regex(rows[3], /3000 participants\/s/);
  // Aligned: the time column ends at the same offset on every row.
  const ends = [header, ...rows].map((l) => l.indexOf(' ms') >= 0 ? l.indexOf(' ms') + 3 : l.indexOf('time') + 4);
  t.is(new Set(ends).size, 1, table);
  const json = formatJsonLines(FIXED).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.deepEqual(json[0], { machine: FIXED.machine });
  t.is(json.length, 1 + FIXED.results.length);
  t.deepEqual(json[1], FIXED.results[0] as unknown as Record<string, unknown>);
});

test('the real quick suite (tiny sizes) covers every family with positive throughputs and writes the report', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lemma-bench-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const seen: string[] = [];
  const run = await runQuickSuite({ tiny: true, onProgress: (p) => seen.push(p.label) });
  const families = quickFamilies();
  t.deepEqual([...new Set(run.results.map((r) => r.family))], families);
  for (const f of ['attention', 'sparse', 'poly-attention', 'dikin', 'john', 'dp', 'looped', 'subleq', 'prune', 'games']) t.true(families.includes(f), f);
  t.true(run.results.some((r) => r.operation === 'dense backward'));
  t.is(seen.length, run.results.length + 2, 'progress: the peak, every case, the end');
  for (const r of run.results) {
    t.true(r.seconds > 0 && r.throughput > 0 && Number.isFinite(r.throughput), `${r.family} ${r.operation}`);
    if (r.unit === 'GFLOP/s') t.true(r.peakPct !== null && r.peakPct > 0, `${r.operation} % peak`);
    else t.is(r.peakPct, null);
    if (r.baseline) t.true(r.baseline.ratio > 0 && r.baseline.seconds > 0, `${r.operation} baseline`);
    // No GPU here or an emulated one: nothing is timed on it; with a real GPU, a speed-up.
    if ('speedup' in r.gpu) t.true(r.cudaPath && r.gpu.speedup > 0);
    else t.true(r.gpu.skipped.length > 0);
  }
  t.true(run.results.filter((r) => r.baseline).length >= 6, 'same-run baselines');
  t.true(run.machine.fmaPeakGflops > 0);
  await writeReport(dir, run);
  const text = readFileSync(path.join(dir, 'results.json'), 'utf8');
  t.true(text.startsWith('{\n  "machine": {'), 'the machine comes first');
  const saved = JSON.parse(text) as QuickSuiteResult;
  t.deepEqual(Object.keys(saved.machine).slice(0, 8), ['cpu', 'cores', 'threads', 'simd', 'cuda', 'node', 'lemma', 'date']);
  t.is(saved.machine.cpu, os.cpus()[0]?.model ?? 'unknown-cpu');
  t.is(saved.results.length, run.results.length);
  for (const f of ['index.html', 'throughput.svg', 'peak.svg', 'baseline.svg']) t.true(existsSync(path.join(dir, f)), f);
  const html = readFileSync(path.join(dir, 'index.html'), 'utf8');
  t.is((html.match(/<tbody>[^]*<\/tbody>/)![0].match(/<tr>/g) ?? []).length, run.results.length);
  t.true(html.includes(readFileSync(path.join(dir, 'throughput.svg'), 'utf8')));
});

interface Run { status: number | null; stdout: string; stderr: string }
function lemma(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', cli, ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}

test('lemma bench --json (tiny) prints the machine then one line per case and writes DIR; --help and bad input run nothing', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lemma-bench-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = await lemma(['bench', '--only', 'games,dp', '--json', '--out', dir, '--no-progress'], { LEMMA_BENCH_TINY: '1' });
  t.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.truthy((lines[0].machine as { tiny?: boolean }).tiny);
  t.deepEqual(lines.slice(1).map((l) => l.family), ['dp', 'dp', 'games']);
  t.true(existsSync(path.join(dir, 'index.html')));
  const table = await lemma(['bench', '--tiny', '--only', 'games', '--out', dir]);
  t.is(table.status, 0, table.stderr);
  t.regex(table.stdout, /^family +operation +size +device +time +throughput +% peak +GPU x +vs baseline$/m);
  t.regex(table.stdout, /^games +machine-penalty simulate +4x8 participants /m);
  t.regex(table.stdout, new RegExp(`wrote ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/results\\.json`));

  const help = await lemma(['bench', '--help'], { LEMMA_ADDON: path.join(os.tmpdir(), 'no-such-lemma-addon.node') });
  t.is(help.status, 0, help.stderr);
  for (const o of ['--quick', '--only <families>', '--out <DIR>', '--json', '--no-progress', 'attention']) t.true(help.stdout.includes(o), o);
  t.false(help.stdout.includes('--tiny'));
  t.false(help.stdout.includes('"family"'), 'no benchmark ran');
  const bad = await lemma(['bench', '--only', 'nope', '--out', path.join(dir, 'bad')]);
  t.is(bad.status, 2);
  t.regex(bad.stderr, /^lemma: unknown family 'nope' in --only/);
  t.is(bad.stdout, '');
  t.false(existsSync(path.join(dir, 'bad')), 'nothing written');
  const word = await lemma(['bench', 'frobnicate']);
  t.is(word.status, 2);
  t.regex(word.stderr, /^error: unknown command 'frobnicate'\n[^]*Usage: lemma bench/);
});
