/**
 * A differentially private L1 KDE (lemma.dp.l1Kde, arXiv 2409.01688) released and queried:
 * the data owner builds an ε = 1 release of a private 2-d dataset under a privacy budget, writes
 * the release (public parameters and noisy integers only) to a JSON file; anyone loads it with
 * lemma.dp.loadL1Kde and answers F(y) = Σᵢ‖xᵢ − y‖₁ for any number of queries at no further
 * privacy cost. The script compares the answers on a grid of queries with the exact F (which only
 * the owner can compute) in units of the closed-form noise std kde.errorStd(y), and shows the
 * budget refusing a second release. With a real GPU the batch is also answered with
 * device 'cuda' and compared with the CPU's answers.
 *
 * Depth: levels = gridBits = 16 (from maxRows = 2^16), so the answers have no leaf bias; the only
 * error besides the noise is the quantisation of each value to the grid (at most n·d·γ/2 in all,
 * γ = range/2^16).
 *
 *   node --import tsx examples/private-kde/release.ts            # n 50,000, 21 × 21 queries
 *   node --import tsx examples/private-kde/release.ts --small    # n 10,000, 11 × 11 queries (test/96)
 *   ... [--out kde.json]                                         # default: os.tmpdir()/lemma-kde.json
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as lemma from '../../lib/index.js';

export interface KdeConfig { n: number; grid: number; epsilon: number; seed: number }
export const FULL: KdeConfig = { n: 50_000, grid: 21, epsilon: 1, seed: 5 };
export const SMALL: KdeConfig = { n: 10_000, grid: 11, epsilon: 1, seed: 5 };
export const D = 2;
export const MAX_ROWS = 2 ** 16;
export const GRID_BITS = 16;

/** Seeded private data: two Gaussian clusters in [0, 1]², clipped. */
export function makeData(n: number, seed: number): Float64Array {
  let a = seed >>> 0;
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const g = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  const X = new Float64Array(n * D);
  for (let i = 0; i < n; i++) {
    const c = u() < 0.6 ? [0.3, 0.35] : [0.7, 0.7];
    for (let j = 0; j < D; j++) X[i * D + j] = Math.min(1, Math.max(0, c[j] + 0.1 * g()));
  }
  return X;
}

/** Queries: a grid × grid lattice over [0, 1]². */
export function makeQueries(grid: number): Float64Array {
  const Y = new Float64Array(grid * grid * D);
  for (let i = 0; i < grid; i++) for (let j = 0; j < grid; j++) {
    Y[(i * grid + j) * D] = i / (grid - 1);
    Y[(i * grid + j) * D + 1] = j / (grid - 1);
  }
  return Y;
}

/** The exact F(y) = Σᵢ‖xᵢ − y‖₁ (what the release approximates). */
export function exactF(X: Float64Array, Y: Float64Array): Float64Array {
  const n = X.length / D, q = Y.length / D, out = new Float64Array(q);
  for (let k = 0; k < q; k++) {
    let s = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < D; j++) s += Math.abs(X[i * D + j] - Y[k * D + j]);
    out[k] = s;
  }
  return out;
}

export interface KdeRun {
  file: string;
  bytes: number;
  estimates: Float64Array;   // from the reloaded release
  original: Float64Array;    // from the object that built it
  exact: Float64Array;
  std: Float64Array;         // kde.errorStd per query
  /** The bound on the quantisation error: n·d·γ/2. */
  quantisation: number;
  secondRelease: string;     // the error code of the refused second release
  gpu?: { maxDiff: number };
}

export async function run(cfg: KdeConfig, file: string): Promise<KdeRun> {
  const X = makeData(cfg.n, cfg.seed);
  // --- the data owner ---------------------------------------------------------------------------
  const budget = lemma.dp.accountant({ epsilon: cfg.epsilon });
  const kde = await lemma.dp.l1Kde({ data: X, shape: [cfg.n, D] }, { epsilon: cfg.epsilon, range: 1, maxRows: MAX_ROWS, gridBits: GRID_BITS, accountant: budget, label: 'first release' });
  const text = JSON.stringify(kde.release());
  fs.writeFileSync(file, text);
  let secondRelease = 'none';
  try {
    await lemma.dp.l1Kde({ data: X, shape: [cfg.n, D] }, { epsilon: cfg.epsilon, range: 1, maxRows: MAX_ROWS, gridBits: GRID_BITS, accountant: budget });
  } catch (e) {
    secondRelease = (e as lemma.LemmaError).code ?? String(e);
  }
  // --- anyone with the file ---------------------------------------------------------------------
  const loaded = lemma.dp.loadL1Kde(JSON.parse(fs.readFileSync(file, 'utf8')));
  const Y = makeQueries(cfg.grid), q = Y.length / D;
  const { estimates } = await loaded.query({ data: Y, shape: [q, D] }, { device: 'cpu' });
  const original = (await kde.query({ data: Y, shape: [q, D] }, { device: 'cpu' })).estimates;
  const std = new Float64Array(q);
  for (let k = 0; k < q; k++) std[k] = (loaded as lemma.dp.PrivateL1Kde).errorStd(Y.subarray(k * D, k * D + D));
  const out: KdeRun = {
    file, bytes: Buffer.byteLength(text), estimates, original, exact: exactF(X, Y), std,
    quantisation: cfg.n * D * (1 / 2 ** GRID_BITS) / 2, secondRelease,
  };
  const caps = lemma.capabilities();
  if (lemma.cudaAvailable() && !caps.cuda.emulated) {
    const g = await loaded.query({ data: Y, shape: [q, D] }, { device: 'cuda' });
    out.gpu = { maxDiff: Math.max(...g.estimates.map((v, k) => Math.abs(v - estimates[k]))) };
  }
  return out;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const cfg = args.includes('--small') ? SMALL : FULL;
  const outAt = args.indexOf('--out');
  const file = outAt >= 0 ? args[outAt + 1] : path.join(os.tmpdir(), 'lemma-kde.json');
  const caps = lemma.capabilities();
  const gpu = lemma.cudaAvailable() && !caps.cuda.emulated;
  console.log(gpu ? 'GPU present: the query batch is also answered with device \'cuda\'' : 'no GPU: CPU only');
  console.log(`private data: n = ${cfg.n} points in [0, 1]² (two clusters); ε = ${cfg.epsilon}, maxRows 2^16, gridBits ${GRID_BITS}, add-remove neighbours`);
  const r = await run(cfg, file);
  console.log(`release: ${file} (${(r.bytes / 1024).toFixed(0)} KiB of public parameters and noisy integers)`);
  console.log(`a second ε = ${cfg.epsilon} release on the same budget: refused with ${r.secondRelease}`);
  const q = r.exact.length;
  let maxZ = 0, sumZ2 = 0, maxRel = 0, sameAsOriginal = 0;
  for (let k = 0; k < q; k++) {
    const err = r.estimates[k] - r.exact[k];
    const z = err / r.std[k];
    maxZ = Math.max(maxZ, Math.abs(z));
    sumZ2 += z * z;
    maxRel = Math.max(maxRel, Math.abs(err) / r.exact[k]);
    if (Math.abs(r.estimates[k] - r.original[k]) <= 1e-9 * Math.abs(r.original[k])) sameAsOriginal++;
  }
  const stds = Array.from(r.std);
  console.log(`${q} queries on a ${cfg.grid} × ${cfg.grid} grid from the reloaded release (${sameAsOriginal} equal to the builder's answers)`);
  console.log(`F(y) from ${Math.min(...r.exact).toFixed(0)} to ${Math.max(...r.exact).toFixed(0)}; errorStd from ${Math.min(...stds).toFixed(1)} to ${Math.max(...stds).toFixed(1)}; quantisation at most ${r.quantisation.toFixed(2)}`);
  console.log(`error / errorStd: max |z| ${maxZ.toFixed(2)}, root mean square ${Math.sqrt(sumZ2 / q).toFixed(2)}; largest relative error ${(100 * maxRel).toFixed(3)} %`);
  const at = Math.floor(q / 2);
  console.log(`e.g. y = (${makeQueries(cfg.grid).subarray(at * D, at * D + D).join(', ')}): estimate ${r.estimates[at].toFixed(1)}, exact ${r.exact[at].toFixed(1)}, errorStd ${r.std[at].toFixed(1)}`);
  if (r.gpu) console.log(`GPU answers: largest difference from the CPU's ${r.gpu.maxDiff.toExponential(2)}`);
  if (maxZ > 5 || sameAsOriginal !== q || r.secondRelease !== 'ERR_BUDGET') process.exitCode = 1;
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
