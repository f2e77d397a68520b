/**
 * `lemma bench` (the quick suite behind `npm start`): every vega-lite chart renders to well-formed
 * SVG (parsed here by a small XML checker) with its marks (one bar per case, one circle per
 * sampled point, one point per line vertex), titles and axis titles; without a GPU the GPU chart
 * is a placeholder of CPU bars saying why; the HTML report is one self-contained file with every
 * chart inline and a table row per case; the real suite (tiny sizes) covers every family with
 * positive throughputs, produces the chart data (samples inside the triangle, histograms that
 * integrate to 1, keys kept below N, DP error falling with ε) and writes results.json with the
 * machine first; --help and bad families run nothing. No timing thresholds. The headless-browser
 * check of the page is test/09b.report-browser.test.ts.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { QuickArtefacts, QuickResult, QuickSuiteResult } from '../lib/bench/quick.js';
import { quickFamilies, runQuickSuite } from '../lib/bench/quick.js';
import { CHART_NAMES, CHART_TITLES, barCount, chartSpec, renderCharts, renderSvg } from '../lib/bench/charts.js';
import type { ChartSpec } from '../lib/bench/charts.js';
import { buildHtml, formatJsonLines, formatTable, writeReport } from '../lib/bench/report.js';

const root = path.join(__dirname, '..');
const cli = path.join(root, 'lib', 'cli', 'run.ts');

function result(family: string, operation: string, o: Partial<QuickResult> = {}): QuickResult {
  return {
    family, operation, size: 'N1', device: 'cpu 2t avx2', seconds: 0.01, reps: 3, throughput: 100, unit: 'items/s',
    peakPct: null, cudaPath: false, gpu: { skipped: 'no CUDA path' }, baseline: null, ...o,
  };
}

/** Fixed chart data: 37 points in the triangle, 10 bins, a 3-size sparsity sweep, 5 values of ε. */
const ARTEFACTS: QuickArtefacts = {
  sampling: {
    polytope: 'triangle x ≥ 0, y ≥ 0, x + y ≤ 1', vertices: [[0, 0], [1, 0], [0, 1], [0, 0]], chains: 4, steps: 100, samples: 400,
    points: Array.from({ length: 37 }, (_, i) => [((i * 7) % 37) / 40, ((i * 11) % 37) / 80] as [number, number]),
    bins: 10, histX: [1.9, 1.7, 1.5, 1.3, 1.1, 0.9, 0.7, 0.5, 0.3, 0.1], histY: [2, 1.6, 1.6, 1.2, 1.2, 0.8, 0.8, 0.4, 0.3, 0.1],
    exact: '2(1 − t)', acceptance: 0.5, ess: [50, 60],
  },
  sparsity: {
    D: 64, M: 8,
    sweep: [{ N: 1024, scored: 1024, kept: 250, maxKept: 300, target: 257 }, { N: 2048, scored: 1500, kept: 430, maxKept: 600, target: 446 }, { N: 4096, scored: 2500, kept: 760, maxKept: 900, target: 777 }],
    perQuery: { N: 4096, queries: 12, fractions: [0.1, 0.12, 0.15, 0.15, 0.18, 0.2, 0.2, 0.21, 0.25, 0.3, 0.05, 0.19] },
  },
  dpError: {
    n: 1000, d: 4, levels: 10, queries: 20, stdQueries: 10, meanExact: 1333,
    points: [0.25, 0.5, 1, 2, 4].map((epsilon) => ({ epsilon, meanAbsError: 80 / epsilon, rmsError: 100 / epsilon, errorStd: 95 / epsilon })),
  },
};

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
  artefacts: ARTEFACTS,
};

/** The same run on a machine without a usable GPU. */
const NO_GPU: QuickSuiteResult = {
  ...FIXED,
  machine: { ...FIXED.machine, cuda: 'none: cudaErrorNoDevice: no CUDA-capable device is detected' },
  results: FIXED.results.map((r) => ({ ...r, gpu: { skipped: r.cudaPath ? 'cudaErrorNoDevice: no CUDA-capable device is detected' : 'no CUDA path' } })),
};

type BarChart = 'throughput' | 'peak' | 'gpu' | 'baseline';
const EXPECTED_BARS: Record<BarChart, number> = { throughput: 5, peak: 2, gpu: 2, baseline: 3 };
const AXIS_TITLES: Record<BarChart, string> = {
  throughput: 'throughput (unit per case, log scale)', peak: '% of fp32 FMA peak',
  gpu: 'speed-up: CPU time / GPU time (x, log scale)', baseline: 'speed-up over the baseline (x, log scale)',
};

function count(svg: string, role: string): number {
  return (svg.match(new RegExp(`aria-roledescription="${role}"`, 'g')) ?? []).length;
}
function bars(svg: string): number {
  return count(svg, 'bar');
}

const ENTITY = /^&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/;

/**
 * A small well-formedness check of an XML document (what the SVGs must be): one root element,
 * tags balanced and properly nested, attributes name="value" with no duplicates, no raw '<' or a
 * bare '&' in text or attribute values. Returns the number of elements per tag name; throws on
 * the first fault, saying where.
 */
function parseXml(xml: string): Map<string, number> {
  const tags = new Map<string, number>();
  const stack: string[] = [];
  let i = 0, roots = 0;
  const where = () => `at ${i}: ${JSON.stringify(xml.slice(Math.max(0, i - 30), i + 30))}`;
  const checkText = (s: string) => {
    for (let k = s.indexOf('&'); k >= 0; k = s.indexOf('&', k + 1)) if (!ENTITY.test(s.slice(k))) throw new Error(`bare & ${where()}`);
  };
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    if (lt < 0) { checkText(xml.slice(i)); if (xml.slice(i).trim() !== '') throw new Error(`text after the root ${where()}`); break; }
    const text = xml.slice(i, lt);
    checkText(text);
    if (stack.length === 0 && text.trim() !== '') throw new Error(`text outside the root ${where()}`);
    i = lt;
    if (xml.startsWith('<!--', i)) { const e = xml.indexOf('-->', i); if (e < 0) throw new Error(`open comment ${where()}`); i = e + 3; continue; }
    if (xml.startsWith('<?', i)) { const e = xml.indexOf('?>', i); if (e < 0) throw new Error(`open declaration ${where()}`); i = e + 2; continue; }
    const m = /^<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[A-Za-z_][\w:.-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>/.exec(xml.slice(i));
    if (!m) throw new Error(`malformed tag ${where()}`);
    const [whole, close, name, attrs, selfClose] = m;
    if (close) {
      if (attrs || selfClose) throw new Error(`malformed end tag ${where()}`);
      const open = stack.pop();
      if (open !== name) throw new Error(`</${name}> closes <${open ?? 'nothing'}> ${where()}`);
    } else {
      if (stack.length === 0 && ++roots > 1) throw new Error(`a second root element ${where()}`);
      const seen = new Set<string>();
      for (const a of attrs.matchAll(/([A-Za-z_][\w:.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
        if (seen.has(a[1])) throw new Error(`duplicate attribute ${a[1]} ${where()}`);
        seen.add(a[1]);
        checkText(a[2] ?? a[3]);
      }
      tags.set(name, (tags.get(name) ?? 0) + 1);
      if (!selfClose) stack.push(name);
    }
    i += whole.length;
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack.join('> <')}>`);
  if (roots !== 1) throw new Error('no root element');
  return tags;
}

/** Renders `spec` and checks the SVG: one well-formed <svg> root; returns it and its element counts. */
async function render(t: import('ava').ExecutionContext, spec: ChartSpec | null): Promise<{ svg: string; tags: Map<string, number> }> {
  if (!spec) throw new Error('no spec');
  const svg = await renderSvg(spec);
  t.regex(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>[^]*<\/svg>$/);
  const tags = parseXml(svg);
  t.is(tags.get('svg'), 1);
  t.true((tags.get('text') ?? 0) > 3, 'labels');
  return { svg, tags };
}

/** The text of every <text> element (tspans joined by a space). */
function texts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^]*?)<\/text>/g)].map((m) => m[1].replace(/<tspan[^>]*>/g, ' ').replace(/<\/tspan>/g, '').replace(/\s+/g, ' ').trim());
}

test('the XML checker rejects what is not well-formed', (t) => {
  t.deepEqual([...parseXml('<svg a="1"><g><path d="M0"/></g><text>x &amp; y</text></svg>')], [['svg', 1], ['g', 1], ['path', 1], ['text', 1]]);
  for (const bad of ['<svg><g></svg>', '<svg><g></g>', '<svg></g></svg>', '<svg a="1" a="2"/>', '<svg>a & b</svg>', '<svg a=1/>', '<svg/><svg/>',
    '<svg><text>1 < 2</text></svg>', 'text<svg/>']) {
    t.throws(() => parseXml(bad), undefined, bad);
  }
});

for (const name of ['throughput', 'peak', 'gpu', 'baseline'] as const) {
  test(`the ${name} chart renders to SVG with one bar per case and its titles`, async (t) => {
    t.is(barCount(name, FIXED.results), EXPECTED_BARS[name]);
    const { svg } = await render(t, chartSpec(name, FIXED));
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
  t.is(bars(await renderSvg(chartSpec('throughput', more)!)), 6);
});

test('without a usable GPU the GPU chart is a placeholder: the CPU bars of the CUDA cases and why no GPU ran', async (t) => {
  t.is(barCount('gpu', NO_GPU.results), 2);
  const { svg } = await render(t, chartSpec('gpu', NO_GPU));
  t.is(bars(svg), 2, 'the two cases with a CUDA path');
  const all = texts(svg);
  t.true(all.includes(CHART_TITLES.gpu));
  t.true(all.includes('CPU time per run (ms, log scale); GPU: not timed'), all.join(' | '));
  t.true(all.some((s) => s.startsWith('no usable GPU on this machine (cudaErrorNoDevice: no CUDA-capable device is detected)')), all.join(' | '));
  t.true(all.includes('CPU 10.0 ms'), 'the CPU time is the label, no GPU number');
  t.false(svg.includes('CPU time / GPU time'), 'no speed-up axis');
  // The real chart says nothing of the sort.
  t.false(texts(await renderSvg(chartSpec('gpu', FIXED)!)).some((s) => s.includes('no usable GPU')));
  // An emulated device: the reason from the machine block.
  const emu = { ...NO_GPU, machine: { ...NO_GPU.machine, cuda: 'none: emulated (no timing)' } };
  t.true(texts(await renderSvg(chartSpec('gpu', emu)!)).some((s) => s.includes('(emulated (no timing))')));
});

test('the sampling chart: one circle per sample, the boundary, two histograms against the exact marginal', async (t) => {
  const a = ARTEFACTS.sampling!;
  const { svg } = await render(t, chartSpec('sampling', FIXED));
  t.is(count(svg, 'circle'), a.points.length);
  t.is(count(svg, 'rect mark'), 2 * a.bins, 'a rect per bin per coordinate');
  t.is(count(svg, 'line mark'), 3, 'the boundary and the exact density twice');
  const all = texts(svg);
  for (const s of [CHART_TITLES.sampling, '37 of 400 samples (x₁, x₂)', 'marginal of x₁', 'marginal of x₂', 'x₁', 'x₂', 'density']) t.true(all.includes(s), s);
  t.true(all.some((s) => s.includes('the exact uniform marginal density 2(1 − t)')));
  // The boundary closes through the three vertices: a path with four points.
  const boundary = /aria-roledescription="line mark" d="M([^"]+)"/.exec(svg)!;
  t.is(boundary[1].split('L').length, 4);
  // Fewer points, fewer circles.
  const fewer = { ...FIXED, artefacts: { sampling: { ...a, points: a.points.slice(0, 5) } } };
  t.is(count(await renderSvg(chartSpec('sampling', fewer)!), 'circle'), 5);
});

test('the sparsity chart: a point per N per series on log–log axes, and a histogram of the kept fraction', async (t) => {
  const a = ARTEFACTS.sparsity!;
  const { svg } = await render(t, chartSpec('sparsity', FIXED));
  t.is(count(svg, 'point'), 4 * a.sweep.length, 'scored, kept, target and dense N at each size');
  t.is(count(svg, 'line mark'), 4);
  t.true(bars(svg) >= 4 && bars(svg) <= 20, `${bars(svg)} histogram bars`);
  const all = texts(svg);
  for (const s of [CHART_TITLES.sparsity, 'N (keys in the cache, log scale)', 'keys per query (log scale)', 'dense: all N keys', 'scored by the filter', 'queries',
    'fraction of the N = 4096 keys kept, per query', 'kept / N (12 queries; dense keeps 1)']) t.true(all.includes(s), s);
  t.true(all.some((s) => s.includes('at N = 4096 the filter scores 61% of the keys and 760 (18.6%) are kept')), all.join(' | '));
});

test('the DP error chart: measured errors and errorStd at every ε, log–log', async (t) => {
  const { svg } = await render(t, chartSpec('dp-error', FIXED));
  t.is(count(svg, 'point'), 3 * 5);
  t.is(count(svg, 'line mark'), 3);
  const all = texts(svg);
  for (const s of [CHART_TITLES['dp-error'], 'ε (privacy budget, log scale)', '|error| (log scale)', 'RMS error (measured)', 'mean |error| (measured)',
    'errorStd (closed form, API)', '0.25', '4']) t.true(all.includes(s), s);
});

test('charts without data are left out (null spec), not drawn empty', async (t) => {
  const bare = { results: FIXED.results };
  for (const name of ['sampling', 'sparsity', 'dp-error'] as const) t.is(chartSpec(name, bare), null, name);
  t.deepEqual(Object.keys(await renderCharts(bare)).sort(), ['baseline', 'gpu', 'peak', 'throughput']);
  t.is(chartSpec('gpu', { results: [] }), null);
});

test('the HTML report is one self-contained file: every chart inline, a row per case, no external URL', async (t) => {
  const charts = await renderCharts(FIXED);
  t.deepEqual(Object.keys(charts).sort(), [...CHART_NAMES].sort());
  const html = buildHtml(FIXED, charts);
  t.true(html.startsWith('<!DOCTYPE html>'));
  for (const [name, svg] of Object.entries(charts)) t.true(html.includes(`<figure id="${name}" class="chart">${svg}</figure>`), name);
  t.is((html.match(/<svg /g) ?? []).length, CHART_NAMES.length);
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

test('without a usable GPU the report says so beside the placeholder GPU chart; the table says n/a / no GPU', async (t) => {
  const noGpu: QuickSuiteResult = {
    ...FIXED,
    machine: { ...FIXED.machine, cuda: 'none: built without CUDA' },
    results: FIXED.results.map((r) => ({ ...r, gpu: { skipped: r.cudaPath ? 'built without CUDA' : 'no CUDA path' } })),
  };
  const charts = await renderCharts(noGpu);
  t.true(charts.gpu!.includes('no usable GPU on this machine'));
  const html = buildHtml(noGpu, charts);
  t.regex(html, /<p class="note">No GPU was usable: none: built without CUDA\. GPU timings were skipped; the bars are the CPU times/);
  t.true(html.includes(`<figure id="gpu" class="chart">${charts.gpu}</figure>`));
  t.false(/<script|https?:\/\/(?!www\.w3\.org\/)/.test(html));
  // A run without the chart data still makes a page: a note where each chart would be.
  const bare = buildHtml({ ...noGpu, artefacts: undefined }, await renderCharts(noGpu.results));
  t.regex(bare, /<p class="note" id="sampling">No case of this run has data for this chart\.<\/p>/);
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
  // The chart data of the same run.
  const { sampling, sparsity, dpError } = run.artefacts!;
  t.truthy(sampling && sparsity && dpError);
  t.true(sampling!.points.length > 100 && sampling!.points.length <= 300, `${sampling!.points.length} points`);
  for (const [x, y] of sampling!.points) t.true(x >= 0 && y >= 0 && x + y <= 1 + 1e-9, `(${x}, ${y}) inside the triangle`);
  for (const h of [sampling!.histX, sampling!.histY]) {
    t.is(h.length, sampling!.bins);
    t.true(Math.abs(h.reduce((s, v) => s + v, 0) / sampling!.bins - 1) < 1e-3, 'a density: integrates to 1');
  }
  t.true(sampling!.acceptance > 0 && sampling!.acceptance <= 1);
  t.true(sparsity!.sweep.length >= 3);
  for (const p of sparsity!.sweep) t.true(p.kept > 0 && p.kept <= p.scored && p.scored <= p.N && p.maxKept <= p.N, JSON.stringify(p));
  t.is(sparsity!.perQuery.fractions.length, sparsity!.perQuery.queries);
  for (const f of sparsity!.perQuery.fractions) t.true(f >= 0 && f < 1, String(f));
  t.deepEqual(dpError!.points.map((p) => p.epsilon), [0.25, 0.5, 1, 2, 4]);
  const [lo, , , , hi] = dpError!.points;
  t.true(hi.errorStd < lo.errorStd / 8, 'errorStd falls like 1/ε');
  t.true(hi.rmsError < lo.rmsError, 'the measured error falls with ε');
  for (const p of dpError!.points) t.true(p.meanAbsError > 0 && p.meanAbsError <= p.rmsError && p.rmsError < dpError!.meanExact, JSON.stringify(p));
  await writeReport(dir, run);
  const text = readFileSync(path.join(dir, 'results.json'), 'utf8');
  t.true(text.startsWith('{\n  "machine": {'), 'the machine comes first');
  const saved = JSON.parse(text) as QuickSuiteResult;
  t.deepEqual(Object.keys(saved.machine).slice(0, 8), ['cpu', 'cores', 'threads', 'simd', 'cuda', 'node', 'lemma', 'date']);
  t.is(saved.machine.cpu, os.cpus()[0]?.model ?? 'unknown-cpu');
  t.is(saved.results.length, run.results.length);
  t.deepEqual(saved.artefacts, run.artefacts);
  t.true(text.length < 64 * 1024, `results.json is ${text.length} bytes`);
  const html = readFileSync(path.join(dir, 'index.html'), 'utf8');
  t.is((html.match(/<tbody>[^]*<\/tbody>/)![0].match(/<tr>/g) ?? []).length, run.results.length);
  for (const name of CHART_NAMES) {
    const file = path.join(dir, `${name}.svg`);
    t.true(existsSync(file), file);
    const svg = readFileSync(file, 'utf8');
    parseXml(svg);
    t.true(html.includes(svg), `${name} inline`);
  }
  t.is(count(readFileSync(path.join(dir, 'sampling.svg'), 'utf8'), 'circle'), sampling!.points.length);
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
