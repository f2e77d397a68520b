/**
 * An SVG bar chart of the humans' cooperation by condition with 95 % intervals (what
 * `lemma game machine-penalty --out DIR` writes), with the partners' cooperation as a marker.
 */
import type { MachinePenaltyResult } from './simulate.js';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * The chart as an SVG document (a string).
 * @param result what {@link simulate} returned
 * @param title the chart's title (default: sample size, rounds and seed)
 */
export function chart(result: MachinePenaltyResult, title?: string): string {
  const cs = result.conditions;
  const ml = 60, mr = 150, mt = 44, mb = 56;
  const slot = 110;
  const W = ml + mr + Math.max(1, cs.length) * slot;
  const H = 420;
  const py = (v: number) => mt + (1 - v) * (H - mt - mb);
  const t = title ?? `Cooperation by condition (simulated, ${result.perCondition} per condition, seed ${result.seed})`;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${ml}" y="22" font-size="13">${esc(t)}</text>`,
  ];
  for (let k = 0; k <= 5; k++) {
    const v = k / 5;
    parts.push(`<line x1="${ml}" x2="${W - mr}" y1="${py(v).toFixed(1)}" y2="${py(v).toFixed(1)}" stroke="#ddd"/><text x="${ml - 8}" y="${(py(v) + 4).toFixed(1)}" text-anchor="end">${v.toFixed(1)}</text>`);
  }
  parts.push(`<text x="16" y="${(mt + H - mb) / 2}" transform="rotate(-90 16 ${(mt + H - mb) / 2})" text-anchor="middle">share of rounds played C</text>`);
  cs.forEach((c, i) => {
    const x0 = ml + i * slot + 25;
    const w = slot - 50;
    const cx = x0 + w / 2;
    const r = c.humans.cooperation;
    if (Number.isFinite(r.rate)) {
      parts.push(`<rect x="${x0}" y="${py(r.rate).toFixed(1)}" width="${w}" height="${(py(0) - py(r.rate)).toFixed(1)}" fill="#4e79a7"/>`);
      parts.push(`<text x="${cx}" y="${(py(r.rate) - 6).toFixed(1)}" text-anchor="middle" font-size="11">${r.rate.toFixed(3)}</text>`);
    }
    if (Number.isFinite(r.lo) && Number.isFinite(r.hi)) {
      parts.push(`<line x1="${cx}" x2="${cx}" y1="${py(r.lo).toFixed(1)}" y2="${py(r.hi).toFixed(1)}" stroke="black" stroke-width="1.5"/>`);
      for (const v of [r.lo, r.hi]) parts.push(`<line x1="${cx - 8}" x2="${cx + 8}" y1="${py(v).toFixed(1)}" y2="${py(v).toFixed(1)}" stroke="black" stroke-width="1.5"/>`);
    }
    const pr = c.partners.cooperation.rate;
    if (Number.isFinite(pr)) parts.push(`<circle cx="${x0 + w + 8}" cy="${py(pr).toFixed(1)}" r="4" fill="#e15759"/>`);
    parts.push(`<text x="${cx}" y="${H - mb + 18}" text-anchor="middle">${esc(c.condition)}</text>`);
  });
  const lx = W - mr + 14;
  parts.push(`<rect x="${lx}" y="${mt}" width="14" height="10" fill="#4e79a7"/><text x="${lx + 20}" y="${mt + 9}">humans (95 % CI)</text>`);
  parts.push(`<circle cx="${lx + 7}" cy="${mt + 25}" r="4" fill="#e15759"/><text x="${lx + 20}" y="${mt + 29}">partners</text>`);
  parts.push(`<text x="${ml}" y="${H - 12}" font-size="11" fill="#555">Simulated participants: the ordering follows from the model's assumptions.</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
