/**
 * The charts of the benchmark report, as vega-lite specs rendered to SVG headlessly (vega's 'none'
 * renderer: no browser, no canvas). vega and vega-lite are loaded here on first use only, so the
 * rest of lemma (and `lemma` itself) never loads them.
 *   throughput  one bar per case, log scale, coloured by unit
 *   peak        % of the fp32 FMA peak measured in the same run (FLOP-counted cases)
 *   gpu         GPU-over-CPU speed-up per case (only when a real GPU was timed)
 *   baseline    speed-up over the same-run baseline (log scale, a rule at 1)
 */
import type { QuickResult } from './quick.js';

/** A vega-lite spec (kept loose: vega-lite checks it when it compiles). */
export type ChartSpec = Record<string, unknown>;

export type ChartName = 'throughput' | 'peak' | 'gpu' | 'baseline';

export const CHART_TITLES: Record<ChartName, string> = {
  throughput: 'Throughput per operation (CPU, log scale)',
  peak: '% of the fp32 FMA peak measured in the same run',
  gpu: 'GPU over CPU (speed-up, same run)',
  baseline: 'Speed-up over the same-run baseline (log scale)',
};

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
        ...(o.colour ? { color: { field: o.colour, type: 'nominal', title: o.colour } } : {}),
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

/** GPU-over-CPU speed-up of the cases timed on a GPU (empty when none was). */
export function gpuSpec(results: readonly QuickResult[]): ChartSpec {
  const rows = results.flatMap((r) => ('speedup' in r.gpu ? [{ label: label(r), value: r.gpu.speedup, text: `${r.gpu.speedup.toPrecision(3)}x` }] : []));
  return bars(rows, { title: CHART_TITLES.gpu, xTitle: 'speed-up: CPU time / GPU time (x, log scale)', log: true, rule: 1 });
}

/** Speed-up over each case's same-run baseline (log scale; the rule marks 1 = as fast). */
export function baselineSpec(results: readonly QuickResult[]): ChartSpec {
  const rows = results.flatMap((r) => (r.baseline ? [{ label: `${label(r)} vs ${r.baseline.name}`, value: r.baseline.ratio, text: `${r.baseline.ratio.toPrecision(3)}x` }] : []));
  return bars(rows, { title: CHART_TITLES.baseline, xTitle: 'speed-up over the baseline (x, log scale)', log: true, rule: 1 });
}

/** How many bars a chart of `results` has (what its SVG must show). */
export function barCount(name: ChartName, results: readonly QuickResult[]): number {
  switch (name) {
    case 'throughput': return results.filter((r) => r.throughput > 0).length;
    case 'peak': return results.filter((r) => r.peakPct !== null).length;
    case 'gpu': return results.filter((r) => 'speedup' in r.gpu).length;
    case 'baseline': return results.filter((r) => r.baseline).length;
  }
}

export function chartSpec(name: ChartName, results: readonly QuickResult[]): ChartSpec {
  switch (name) {
    case 'throughput': return throughputSpec(results);
    case 'peak': return peakSpec(results);
    case 'gpu': return gpuSpec(results);
    case 'baseline': return baselineSpec(results);
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
export async function renderCharts(results: readonly QuickResult[]): Promise<Partial<Record<ChartName, string>>> {
  const out: Partial<Record<ChartName, string>> = {};
  for (const name of ['throughput', 'peak', 'gpu', 'baseline'] as const) {
    if (barCount(name, results) > 0) out[name] = await renderSvg(chartSpec(name, results));
  }
  return out;
}
