/**
 * What `lemma bench` prints and writes from a quick-suite run: the aligned table (stdout), JSON
 * lines (--json: the machine first, then one line per case), and the report directory:
 *   DIR/results.json   { machine, seconds, results, artefacts } (the machine first; artefacts: the
 *                      small data the sampling, sparsity and dp-error charts draw)
 *   DIR/<chart>.svg    the charts that have data (charts.ts; the GPU chart is a placeholder that
 *                      says why when no GPU was timed)
 *   DIR/index.html     one self-contained page: inline CSS, the table, the SVGs inline; no scripts,
 *                      no external URLs
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { QuickResult, QuickSuiteResult } from './quick.js';
import { CHART_NAMES, CHART_TITLES, gpuTimed, renderCharts } from './charts.js';
import type { ChartName } from './charts.js';

/** Seconds as "12.3 ms", "1.23 s", "45 µs". */
export function formatTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s >= 1) return `${s.toPrecision(3)} s`;
  if (s >= 1e-3) return `${(s * 1e3).toPrecision(3)} ms`;
  return `${(s * 1e6).toPrecision(3)} µs`;
}

/** A throughput with its unit: "59.5 GFLOP/s", "5.39k queries/s". */
export function formatThroughput(x: number, unit: string): string {
  const a = Math.abs(x);
  const n = a >= 1e9 ? `${(x / 1e9).toPrecision(3)}G` : a >= 1e6 ? `${(x / 1e6).toPrecision(3)}M` : a >= 1e4 ? `${(x / 1e3).toPrecision(3)}k`
    : a >= 100 ? x.toFixed(0) : x.toPrecision(3);
  return `${n} ${unit}`;
}

/** The GPU column: the speed-up, 'n/a' (no CUDA path), 'emulated' (never timed), 'no GPU' or 'failed'. */
function gpuCell(r: QuickResult): string {
  if ('speedup' in r.gpu) return `${r.gpu.speedup.toPrecision(3)}x`;
  if (!r.cudaPath) return 'n/a';
  if (r.gpu.skipped.startsWith('emulated')) return 'emulated';
  return r.gpu.skipped.startsWith('failed') ? 'failed' : 'no GPU';
}

function baselineCell(r: QuickResult): string {
  return r.baseline ? `${r.baseline.ratio.toPrecision(3)}x vs ${r.baseline.name}` : '-';
}

export const TABLE_COLUMNS = ['family', 'operation', 'size', 'device', 'time', 'throughput', '% peak', 'GPU x', 'vs baseline'] as const;

/** The cells of one row of the table, in TABLE_COLUMNS order. */
export function tableRow(r: QuickResult): string[] {
  return [
    r.family, r.operation, r.size, r.device, formatTime(r.seconds), formatThroughput(r.throughput, r.unit),
    r.peakPct === null ? '-' : `${r.peakPct.toFixed(1)}%`, gpuCell(r), baselineCell(r),
  ];
}

/** The machine line printed above the table. */
export function machineLine(run: QuickSuiteResult): string {
  const m = run.machine;
  return `lemma ${m.lemma} on ${m.cpu} (${m.cores} cores, ${m.threads} threads, SIMD ${m.simd}), Node ${m.node}, GPU: ${m.cuda}; ` +
    `fp32 FMA peak ${m.fmaPeakGflops.toPrecision(4)} GFLOP/s (same run)${m.tiny ? '; tiny sizes' : ''}`;
}

/** The aligned text table (with the machine line above and the run's time below). */
export function formatTable(run: QuickSuiteResult): string {
  const rows = [TABLE_COLUMNS as readonly string[], ...run.results.map(tableRow)];
  const right = new Set([4, 5, 6]);
  const widths = TABLE_COLUMNS.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === r.length - 1 ? c : right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [
    machineLine(run), '',
    line(rows[0]), widths.map((w, i) => (i === widths.length - 1 ? '-'.repeat(Math.max(w, 11)) : '-'.repeat(w))).join('  '),
    ...rows.slice(1).map(line), '',
    `${run.results.length} cases in ${run.seconds.toFixed(1)} s. time: median of ${run.results[0]?.reps ?? 0} runs after a warm-up; ` +
    '% peak: of the FMA peak above; GPU x: GPU speed-up over the CPU (n/a: no CUDA path); vs baseline: speed-up over a same-run baseline.',
  ].join('\n') + '\n';
}

/** JSON lines: {"machine": ...} first, then one line per case (the bench/results format). */
export function formatJsonLines(run: QuickSuiteResult): string {
  return [JSON.stringify({ machine: run.machine }), ...run.results.map((r) => JSON.stringify(r))].join('\n') + '\n';
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const CSS = `body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:72rem;color:#222;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.85rem}th,td{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}th{background:#f4f4f4}
.machine{font-size:.9rem;color:#444}.note{color:#666;font-size:.9rem}figure{margin:1rem 0;overflow-x:auto}svg{max-width:100%;height:auto}`;

/** What each figure shows, under its heading. */
const CAPTIONS: Partial<Record<ChartName, string>> = {
  sampling: 'The Dikin walk of the dikin case, run in the same process on a 2-D triangle so that its samples can be drawn and checked against the exact uniform marginals.',
  sparsity: 'From the sparse case: the same clustered keys, prefixes of N keys; the dense kernel scores all N keys for every query.',
  'dp-error': 'From the dp query case: the same points, one private build per ε (each a fresh draw of the noise); the closed-form errorStd is what the API reports before any query.',
};

/** The self-contained HTML page (charts: name → SVG, inline). */
export function buildHtml(run: QuickSuiteResult, charts: Partial<Record<ChartName, string>>): string {
  const m = run.machine;
  const head = TABLE_COLUMNS.map((c) => `<th>${esc(c)}</th>`).join('');
  const body = run.results.map((r) => `<tr>${tableRow(r).map((c, i) => `<td${i >= 4 && i <= 7 ? ' class="num"' : ''}>${esc(c)}</td>`).join('')}</tr>`).join('\n');
  const figures = CHART_NAMES.map((name) => {
    const svg = charts[name];
    const caption = name === 'gpu' && !gpuTimed(run.results)
      ? `No GPU was usable: ${m.cuda}. GPU timings were skipped; the bars are the CPU times of the cases that have a CUDA path.`
      : CAPTIONS[name];
    const note = caption ? `\n<p class="note">${esc(caption)}</p>` : '';
    if (svg) return `<h2>${esc(CHART_TITLES[name])}</h2>${note}\n<figure id="${name}" class="chart">${svg}</figure>`;
    return `<h2>${esc(CHART_TITLES[name])}</h2>\n<p class="note" id="${name}">${esc('No case of this run has data for this chart.')}</p>`;
  }).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lemma benchmark report</title>
<style>${CSS}</style>
</head>
<body>
<h1>lemma benchmark report</h1>
<p class="machine">${esc(machineLine(run))}. Date ${esc(m.date)}; the suite ran in ${run.seconds.toFixed(1)} s.</p>
<p class="note">Every figure was measured in this run on synthetic data (median of ${run.results[0]?.reps ?? 0} runs after a warm-up); ratios compare only within one run, on one machine.</p>
<table>
<thead><tr>${head}</tr></thead>
<tbody>
${body}
</tbody>
</table>
${figures}
</body>
</html>
`;
}

/** Writes results.json, the chart SVGs and index.html to `dir`; returns the paths written. */
export async function writeReport(dir: string, run: QuickSuiteResult): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  const put = (name: string, text: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    written.push(file);
  };
  // Pretty, but each artefact on one line (they hold a few hundred numbers).
  const main = JSON.stringify({ machine: run.machine, seconds: run.seconds, results: run.results }, null, 2);
  const arts = Object.entries(run.artefacts ?? {}).map(([k, v]) => `    ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  put('results.json', `${main.slice(0, -2)},\n  "artefacts": {${arts.length ? `\n${arts.join(',\n')}\n  ` : ''}}\n}\n`);
  const charts = await renderCharts(run);
  for (const [name, svg] of Object.entries(charts)) put(`${name}.svg`, svg as string);
  put('index.html', buildHtml(run, charts));
  return written;
}
