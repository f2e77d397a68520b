/**
 * The charts of the benchmark report, as vega-lite specs rendered to SVG headlessly (vega's 'none'
 * renderer: no browser, no canvas). vega and vega-lite are loaded here on first use only, so the
 * rest of lemma (and `lemma` itself) never loads them.
 *   throughput  one bar per case, log scale, coloured by unit
 *   peak        % of the fp32 FMA peak measured in the same run (FLOP-counted cases)
 *   baseline    speed-up over the same-run baseline (log scale, a rule at 1)
 *   gpu         GPU-over-CPU speed-up per case when a real GPU was timed; otherwise a placeholder:
 *               the CPU times of the cases that have a CUDA path and a note saying why no GPU ran
 *   sampling    Dikin walk samples on a triangle, and each coordinate's histogram against the
 *               exact uniform marginal (from the dikin case of the same run)
 *   sparsity    keys the sparse index scores and keeps per query against N, dense N for reference,
 *               and the per-query kept fraction (from the sparse case)
 *   dp-error    the private KDE's measured error against ε, log–log, with its closed-form errorStd
 *               (from the dp query case)
 * Every chart is a vega-lite spec; nothing here writes SVG by hand.
 */
import type { MachineInfo, QuickArtefacts, QuickResult } from './quick.js';

/** A vega-lite spec (kept loose: vega-lite checks it when it compiles). */
export type ChartSpec = Record<string, unknown>;

export type ChartName = 'throughput' | 'peak' | 'baseline' | 'gpu' | 'sampling' | 'sparsity' | 'dp-error';

/** Every chart, in report order. */
export const CHART_NAMES: readonly ChartName[] = ['throughput', 'peak', 'baseline', 'gpu', 'sampling', 'sparsity', 'dp-error'];

export const CHART_TITLES: Record<ChartName, string> = {
  throughput: 'Throughput per operation (CPU, log scale)',
  peak: '% of the fp32 FMA peak measured in the same run',
  gpu: 'GPU over CPU (speed-up, same run)',
  baseline: 'Speed-up over the same-run baseline (log scale)',
  sampling: 'Dikin walk: uniform samples on a triangle and their marginals',
  sparsity: 'Sparse attention: keys kept per query',
  'dp-error': 'Private L1 KDE: error against ε (log–log)',
};

/** What the charts are drawn from: a quick-suite run (machine and artefacts optional). */
export interface ChartInput {
  results: readonly QuickResult[];
  machine?: Pick<MachineInfo, 'cuda'>;
  artefacts?: QuickArtefacts;
}

function input(x: ChartInput | readonly QuickResult[]): ChartInput {
  return Array.isArray(x) ? { results: x as readonly QuickResult[] } : (x as ChartInput);
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

function label(r: QuickResult): string {
  return `${r.family}: ${r.operation}`;
}

/** Powers of ten around [min, max]: log-scale bars need a positive base. */
function logDomain(values: number[]): [number, number] {
  const pos = values.filter((v) => v > 0 && Number.isFinite(v));
  if (pos.length === 0) return [0.1, 10];
  const lo = 10 ** Math.floor(Math.log10(Math.min(...pos)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...pos)));
  return [lo, hi > lo ? hi : lo * 10];
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1e9) return `${(x / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${(x / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${(x / 1e3).toPrecision(3)}k`;
  return a >= 100 ? x.toFixed(0) : x.toPrecision(3);
}

/** Horizontal bars with value labels; `log` draws them from the domain's lower power of ten. */
function bars(rows: Record<string, unknown>[], o: { title: string; xTitle: string; log?: boolean; colour?: string; rule?: number; domain?: [number, number] }): ChartSpec {
  const values = rows.map((r) => r.value as number);
  const domain = o.domain ?? (o.log ? logDomain(values) : [0, Math.max(1, ...values) * 1.15]);
  const x: Record<string, unknown> = {
    field: 'value', type: 'quantitative', title: o.xTitle,
    scale: o.log ? { type: 'log', domain } : { domain },
  };
  const y = { field: 'label', type: 'nominal', title: 'operation', sort: null, axis: { labelLimit: 320 } };
  const layers: Record<string, unknown>[] = [
    {
      mark: { type: 'bar', ...(o.colour ? {} : { color: '#4c78a8' }) },
      encoding: {
        y, x, ...(o.log ? { x2: { datum: domain[0] } } : {}),
        // The legend below the bars: to their right it would sit under the value labels of the longest bars.
        ...(o.colour ? { color: { field: o.colour, type: 'nominal', title: o.colour, legend: { orient: 'bottom', columns: 4, labelLimit: 200 } } } : {}),
      },
    },
    {
      mark: { type: 'text', align: 'left', dx: 3, fontSize: 10 },
      encoding: { y, x: { field: 'value', type: 'quantitative', scale: x.scale }, text: { field: 'text', type: 'nominal' } },
    },
  ];
  if (o.rule !== undefined) {
    layers.push({ mark: { type: 'rule', color: '#d62728', strokeDash: [4, 3] }, encoding: { x: { datum: o.rule, type: 'quantitative', scale: x.scale } } });
  }
  return {
    $schema: SCHEMA, title: o.title, width: 420, height: { step: 18 },
    data: { values: rows },
    layer: layers,
    config: { font: 'sans-serif', view: { stroke: null } },
  };
}

/** Throughput per case on a log scale, coloured by unit (units differ: compare within one). */
export function throughputSpec(results: readonly QuickResult[]): ChartSpec {
  const rows = results.filter((r) => r.throughput > 0).map((r) => ({ label: label(r), value: r.throughput, unit: r.unit, text: `${fmt(r.throughput)} ${r.unit}` }));
  return bars(rows, { title: CHART_TITLES.throughput, xTitle: 'throughput (unit per case, log scale)', log: true, colour: 'unit' });
}

/** % of the FMA peak, FLOP-counted cases only. */
export function peakSpec(results: readonly QuickResult[]): ChartSpec {
  const rows = results.filter((r) => r.peakPct !== null).map((r) => ({ label: label(r), value: r.peakPct as number, text: `${(r.peakPct as number).toFixed(1)}%` }));
  return bars(rows, { title: CHART_TITLES.peak, xTitle: '% of fp32 FMA peak', domain: [0, Math.max(100, ...rows.map((r) => r.value))] });
}

/** Whether a real GPU timed at least one case (else the GPU chart is the placeholder). */
export function gpuTimed(results: readonly QuickResult[]): boolean {
  return results.some((r) => 'speedup' in r.gpu);
}

/** Why no GPU was timed, from the machine block or the cases' skip reasons. */
export function gpuReason(x: ChartInput | readonly QuickResult[]): string {
  const { results, machine } = input(x);
  if (machine && machine.cuda.startsWith('none: ')) return machine.cuda.slice(6);
  const failed = results.find((r) => r.cudaPath && 'skipped' in r.gpu && r.gpu.skipped.startsWith('failed'));
  if (failed && 'skipped' in failed.gpu) return `GPU runs ${failed.gpu.skipped}`;
  const skipped = results.find((r) => r.cudaPath && 'skipped' in r.gpu);
  return skipped && 'skipped' in skipped.gpu ? skipped.gpu.skipped : 'no case with a CUDA path ran';
}

/** Words of `s` in lines of at most `width` characters. */
function wrap(s: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const w of s.split(/\s+/)) {
    if (line && line.length + 1 + w.length > width) { lines.push(line); line = w; } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines;
}

/** The rows of the GPU placeholder: CPU time of the cases with a CUDA path (all cases if none has one). */
function placeholderRows(results: readonly QuickResult[]): QuickResult[] {
  const withCuda = results.filter((r) => r.cudaPath);
  return withCuda.length > 0 ? withCuda : [...results];
}

/**
 * GPU-over-CPU speed-up of the cases timed on a GPU; when none was, the placeholder: the CPU
 * times (ms) of the cases that have a CUDA path and a note that no usable GPU ran, with the reason.
 */
export function gpuSpec(x: ChartInput | readonly QuickResult[]): ChartSpec {
  const { results } = input(x);
  if (gpuTimed(results)) {
    const rows = results.flatMap((r) => ('speedup' in r.gpu ? [{ label: label(r), value: r.gpu.speedup, text: `${r.gpu.speedup.toPrecision(3)}x` }] : []));
    return bars(rows, { title: CHART_TITLES.gpu, xTitle: 'speed-up: CPU time / GPU time (x, log scale)', log: true, rule: 1 });
  }
  const rows = placeholderRows(results).map((r) => ({ label: label(r), value: r.seconds * 1e3, text: `CPU ${fmt(r.seconds * 1e3)} ms` }));
  const spec = bars(rows, { title: CHART_TITLES.gpu, xTitle: 'CPU time per run (ms, log scale); GPU: not timed', log: true });
  const lines = ['no usable GPU on this machine', ...wrap(`(${gpuReason(x)})`, 64)];
  const { $schema, title, config, ...cpuBars } = spec;
  return {
    $schema, title, config,
    vconcat: [
      cpuBars,
      {
        width: 420, height: 18 * lines.length + 8,
        data: { values: [{ note: lines.join('\n') }] },
        mark: { type: 'text', lineBreak: '\n', fontSize: 13, fontWeight: 'bold', color: '#b2182b', align: 'center', baseline: 'top', lineHeight: 18 },
        encoding: { text: { field: 'note', type: 'nominal' }, x: { value: 210 }, y: { value: 4 } },
      },
    ],
  };
}

/** Speed-up over each case's same-run baseline (log scale; the rule marks 1 = as fast). */
export function baselineSpec(results: readonly QuickResult[]): ChartSpec {
  const rows = results.flatMap((r) => (r.baseline ? [{ label: `${label(r)} vs ${r.baseline.name}`, value: r.baseline.ratio, text: `${r.baseline.ratio.toPrecision(3)}x` }] : []));
  return bars(rows, { title: CHART_TITLES.baseline, xTitle: 'speed-up over the baseline (x, log scale)', log: true, rule: 1 });
}

const AXIS = { labelFontSize: 10, titleFontSize: 11 };

/** Dikin samples on the triangle with its boundary, beside each coordinate's histogram and exact marginal. */
export function samplingSpec(x: ChartInput): ChartSpec | null {
  const a = x.artefacts?.sampling;
  if (!a) return null;
  const dom = [-0.05, 1.05];
  const pos = (field: string, title: string) => ({ field, type: 'quantitative', title, scale: { domain: dom, nice: false }, axis: AXIS });
  const scatter = {
    title: { text: `${a.points.length} of ${a.samples} samples (x₁, x₂)`, fontSize: 12 },
    width: 260, height: 260,
    layer: [
      {
        data: { values: a.vertices.map(([vx, vy], i) => ({ x: vx, y: vy, i })) },
        mark: { type: 'line', color: '#333', strokeWidth: 1.5 },
        encoding: { x: pos('x', 'x₁'), y: pos('y', 'x₂'), order: { field: 'i', type: 'quantitative' } },
      },
      {
        data: { values: a.points.map(([px, py]) => ({ x: px, y: py })) },
        mark: { type: 'circle', size: 14, opacity: 0.55, color: '#4c78a8' },
        encoding: { x: pos('x', 'x₁'), y: pos('y', 'x₂') },
      },
    ],
  };
  const hist = (h: number[], name: string) => {
    const ymax = Math.max(2.2, ...h) * 1.05;
    const xs = { field: 'lo', type: 'quantitative', title: name, scale: { domain: [0, 1], nice: false }, axis: AXIS };
    const ys = { field: 'density', type: 'quantitative', title: 'density', scale: { domain: [0, ymax], nice: false }, axis: AXIS };
    return {
      title: { text: `marginal of ${name}`, fontSize: 12 },
      width: 260, height: 100,
      layer: [
        {
          data: { values: h.map((dens, i) => ({ lo: i / a.bins, hi: (i + 1) / a.bins, density: dens })) },
          mark: { type: 'rect', color: '#9ecae1', stroke: '#4c78a8', strokeWidth: 0.5 },
          encoding: { x: xs, x2: { field: 'hi' }, y: ys, y2: { datum: 0 } },
        },
        {
          data: { values: [{ lo: 0, density: 2 }, { lo: 1, density: 0 }] },
          mark: { type: 'line', color: '#d62728', strokeWidth: 2 },
          encoding: { x: xs, y: ys },
        },
      ],
    };
  };
  return {
    $schema: SCHEMA,
    title: {
      text: CHART_TITLES.sampling, anchor: 'start',
      subtitle: [`${a.polytope}: ${a.chains} chains × ${a.steps} steps, acceptance ${a.acceptance.toFixed(2)}, ESS ${a.ess.map((e) => e.toFixed(0)).join(' / ')}.`,
        `Bars: histogram of all ${a.samples} samples; red line: the exact uniform marginal density ${a.exact}.`],
    },
    hconcat: [scatter, { vconcat: [hist(a.histX, 'x₁'), hist(a.histY, 'x₂')] }],
    config: { font: 'sans-serif', view: { stroke: '#ddd' } },
  };
}

/** Keys scored and kept per query against N (log–log, dense N for reference) and the per-query kept fraction. */
export function sparsitySpec(x: ChartInput): ChartSpec | null {
  const a = x.artefacts?.sparsity;
  if (!a) return null;
  // Drawn in this order: the dense reference last, dashed, so it shows over 'scored' where they meet.
  const series = ['scored by the filter', 'kept (s ≥ b), mean', 'target ⌈N^0.8⌉', 'dense: all N keys'];
  const rows = a.sweep.flatMap((p) => [
    { N: p.N, value: p.scored, series: series[0] }, { N: p.N, value: p.kept, series: series[1] },
    { N: p.N, value: p.target, series: series[2] }, { N: p.N, value: p.N, series: series[3] },
  ]);
  const ns = a.sweep.map((p) => p.N);
  const sweep = {
    title: { text: `keys per query against N (${a.M} queries, D${a.D})`, fontSize: 12 },
    width: 300, height: 230,
    data: { values: rows },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'N', type: 'quantitative', title: 'N (keys in the cache, log scale)', scale: { type: 'log', base: 2, domain: [ns[0], ns[ns.length - 1]], nice: false }, axis: { ...AXIS, values: ns } },
      y: { field: 'value', type: 'quantitative', title: 'keys per query (log scale)', scale: { type: 'log' }, axis: AXIS },
      color: { field: 'series', type: 'nominal', title: null, sort: series, scale: { range: ['#ff7f0e', '#1f77b4', '#2ca02c', '#555555'] }, legend: { orient: 'bottom', columns: 2, labelLimit: 300 } },
      strokeDash: { field: 'series', type: 'nominal', sort: series, scale: { range: [[1, 0], [1, 0], [2, 2], [6, 3]] }, legend: null },
    },
  };
  const hist = {
    title: { text: `fraction of the N = ${a.perQuery.N} keys kept, per query`, fontSize: 12 },
    width: 260, height: 230,
    data: { values: a.perQuery.fractions.map((f) => ({ f })) },
    mark: { type: 'bar', color: '#1f77b4' },
    encoding: {
      x: { field: 'f', type: 'quantitative', bin: { maxbins: 20 }, title: `kept / N (${a.perQuery.queries} queries; dense keeps 1)`, axis: AXIS },
      y: { aggregate: 'count', type: 'quantitative', title: 'queries', axis: AXIS },
    },
  };
  const last = a.sweep[a.sweep.length - 1];
  return {
    $schema: SCHEMA,
    title: {
      text: CHART_TITLES.sparsity, anchor: 'start',
      subtitle: ['ReLU attention on clustered keys, the threshold b calibrated to keep ⌈N^0.8⌉ keys per query;',
        `at N = ${last.N} the filter scores ${(100 * last.scored / last.N).toFixed(0)}% of the keys and ${last.kept.toFixed(0)} (${(100 * last.kept / last.N).toFixed(1)}%) are kept.`],
    },
    hconcat: [sweep, hist],
    resolve: { scale: { color: 'independent' } },
    config: { font: 'sans-serif', view: { stroke: '#ddd' } },
  };
}

/** The private KDE's measured error against ε, log–log, with the closed-form errorStd of the API. */
export function dpErrorSpec(x: ChartInput): ChartSpec | null {
  const a = x.artefacts?.dpError;
  if (!a) return null;
  const series = ['RMS error (measured)', 'mean |error| (measured)', 'errorStd (closed form, API)'];
  const rows = a.points.flatMap((p) => [
    { epsilon: p.epsilon, value: p.rmsError, series: series[0] },
    { epsilon: p.epsilon, value: p.meanAbsError, series: series[1] },
    { epsilon: p.epsilon, value: p.errorStd, series: series[2] },
  ]);
  const eps = a.points.map((p) => p.epsilon);
  return {
    $schema: SCHEMA,
    title: {
      text: CHART_TITLES['dp-error'], anchor: 'start',
      subtitle: [`n = ${a.n} points, d = ${a.d}, ${a.levels} levels, one build per ε, ${a.queries} queries against the exact Σᵢ‖xᵢ − y‖₁`,
        `(mean exact answer ${fmt(a.meanExact)}); errorStd: the RMS of the closed form over ${a.stdQueries} of the queries.`],
    },
    width: 420, height: 240,
    data: { values: rows },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'epsilon', type: 'quantitative', title: 'ε (privacy budget, log scale)', scale: { type: 'log', base: 2, domain: [eps[0], eps[eps.length - 1]], nice: false }, axis: { ...AXIS, values: eps } },
      y: { field: 'value', type: 'quantitative', title: '|error| (log scale)', scale: { type: 'log' }, axis: AXIS },
      color: { field: 'series', type: 'nominal', title: null, sort: series, scale: { range: ['#1f77b4', '#ff7f0e', '#d62728'] }, legend: { orient: 'bottom', columns: 3, labelLimit: 300 } },
      strokeDash: { field: 'series', type: 'nominal', sort: series, scale: { range: [[1, 0], [1, 0], [5, 3]] }, legend: null },
    },
    config: { font: 'sans-serif', view: { stroke: '#ddd' } },
  };
}

/** How many bars a bar chart of `results` has (what its SVG must show). */
export function barCount(name: 'throughput' | 'peak' | 'gpu' | 'baseline', results: readonly QuickResult[]): number {
  switch (name) {
    case 'throughput': return results.filter((r) => r.throughput > 0).length;
    case 'peak': return results.filter((r) => r.peakPct !== null).length;
    case 'gpu': return gpuTimed(results) ? results.filter((r) => 'speedup' in r.gpu).length : placeholderRows(results).length;
    case 'baseline': return results.filter((r) => r.baseline).length;
  }
}

/** The spec of one chart, or null when the run has no data for it. */
export function chartSpec(name: ChartName, x: ChartInput | readonly QuickResult[]): ChartSpec | null {
  const i = input(x);
  switch (name) {
    case 'throughput': case 'peak': case 'baseline': case 'gpu':
      if (barCount(name, i.results) === 0) return null;
      return name === 'throughput' ? throughputSpec(i.results) : name === 'peak' ? peakSpec(i.results) : name === 'baseline' ? baselineSpec(i.results) : gpuSpec(i);
    case 'sampling': return samplingSpec(i);
    case 'sparsity': return sparsitySpec(i);
    case 'dp-error': return dpErrorSpec(i);
  }
}

/** Renders a vega-lite spec to an SVG string, headlessly (loads vega and vega-lite on first use). */
export async function renderSvg(spec: ChartSpec): Promise<string> {
  const vega = require('vega') as typeof import('vega');
  const vl = require('vega-lite') as typeof import('vega-lite');
  const compiled = vl.compile(spec as unknown as Parameters<typeof vl.compile>[0]).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The charts that have data, rendered: name → SVG. */
export async function renderCharts(x: ChartInput | readonly QuickResult[]): Promise<Partial<Record<ChartName, string>>> {
  const out: Partial<Record<ChartName, string>> = {};
  for (const name of CHART_NAMES) {
    const spec = chartSpec(name, x);
    if (spec) out[name] = await renderSvg(spec);
  }
  return out;
}
