/**
 * One SVG line chart (series of points, linear or log axes, legend on the right) for the committed
 * result charts of the Node benchmarks (the timers are in lib/bench/results.ts).
 */
export interface Series {
  name: string;
  colour: string;
  dashed?: boolean;
  points: Array<[number, number]>;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Where the x grid lines and labels go. */
  xTicks: number[];
  logX?: boolean;
  /** Log y: grid lines at the decades spanning the data; linear y: 0 .. max rounded up to 0.2, five steps. */
  logY?: boolean;
  /** Left margin (room for the y labels). Default 60. */
  marginLeft?: number;
  series: Series[];
}

/** An SVG line chart, 760 x 440. */
export function lineChart(o: ChartOptions): string {
  const W = 760, H = 440, ml = o.marginLeft ?? 60, mr = 220, mt = 40, mb = 50;
  const fx = o.logX ? Math.log10 : (x: number) => x;
  const [x0, x1] = [fx(Math.min(...o.xTicks)), fx(Math.max(...o.xTicks))];
  const ys = o.series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => !o.logY || v > 0);
  let y0: number, y1: number, yTicks: number[], yLabel: (v: number) => string;
  if (o.logY) {
    [y0, y1] = [Math.floor(Math.log10(Math.min(...ys))), Math.ceil(Math.log10(Math.max(...ys)))];
    yTicks = [];
    for (let e = y0; e <= y1; e++) yTicks.push(10 ** e);
    yLabel = (v) => `1e${Math.round(Math.log10(v))}`;
  } else {
    y0 = 0;
    y1 = Math.ceil(Math.max(...ys) * 5) / 5;
    yTicks = [];
    for (let v = 0; v <= y1 + 1e-9; v += y1 / 5) yTicks.push(v);
    yLabel = (v) => v.toFixed(2);
  }
  const fy = o.logY ? Math.log10 : (v: number) => v;
  const px = (x: number) => ml + ((fx(x) - x0) / (x1 - x0)) * (W - ml - mr);
  const py = (v: number) => mt + (1 - (fy(v) - y0) / (y1 - y0)) * (H - mt - mb);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${ml}" y="22" font-size="13">${o.title}</text>`,
  ];
  for (const v of yTicks) parts.push(`<line x1="${ml}" x2="${W - mr}" y1="${py(v).toFixed(1)}" y2="${py(v).toFixed(1)}" stroke="#ddd"/><text x="${ml - 8}" y="${(py(v) + 4).toFixed(1)}" text-anchor="end">${yLabel(v)}</text>`);
  for (const x of o.xTicks) parts.push(`<line x1="${px(x).toFixed(1)}" x2="${px(x).toFixed(1)}" y1="${mt}" y2="${H - mb}" stroke="#eee"/><text x="${px(x).toFixed(1)}" y="${H - mb + 16}" text-anchor="middle">${x}</text>`);
  parts.push(`<text x="${(ml + W - mr) / 2}" y="${H - 12}" text-anchor="middle">${o.xLabel}</text>`, `<text x="16" y="${(mt + H - mb) / 2}" transform="rotate(-90 16 ${(mt + H - mb) / 2})" text-anchor="middle">${o.yLabel}</text>`);
  o.series.forEach((s, i) => {
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    parts.push(`<polyline fill="none" stroke="${s.colour}" stroke-width="2"${dash} points="${pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`);
    for (const [x, y] of pts) parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${s.colour}"/>`);
    const ly = mt + 10 + i * 18;
    parts.push(`<line x1="${W - mr + 12}" x2="${W - mr + 40}" y1="${ly}" y2="${ly}" stroke="${s.colour}" stroke-width="2"${dash}/><text x="${W - mr + 46}" y="${ly + 4}">${s.name}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
