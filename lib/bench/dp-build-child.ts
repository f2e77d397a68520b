/**
 * The child process of the dp benchmark (lib/bench/dp.ts): one build of the private L1 KDE tree
 * or the baseline on uniform data, so that the peak RSS it reports is the build's own.
 *   node [--import tsx] dp-build-child.(js|ts) <tree|baseline> <n> <d> <levels>
 * Prints one JSON line: build time, the exact native build alone, noise draws, peak RSS.
 */
import { performance } from 'node:perf_hooks';
import * as dp from '../dp/index.js';
import { buildExact } from '../dp/tree.js';
import type { TreeShape } from '../dp/tree.js';
import { dpUniform } from './dp.js';

async function childBuild(kind: string, n: number, d: number, levels: number): Promise<void> {
  const X = dpUniform(n, d, 1);
  const rss0 = process.resourceUsage().maxRSS * 1024;
  const t0 = performance.now();
  const opts = { epsilon: 1, range: 1, levels };
  const kde = kind === 'tree' ? await dp.l1Kde({ data: X, shape: [n, d] }, opts) : await dp.baselineL1Kde({ data: X, shape: [n, d] }, opts);
  const buildMs = performance.now() - t0;
  const maxRssBytes = process.resourceUsage().maxRSS * 1024;
  const shape: TreeShape = { d, levels, gridBits: 20, lo: new Float64Array(d), hi: new Float64Array(d).fill(1) };
  const t1 = performance.now();
  await buildExact(X, n, shape);
  const exactMs = performance.now() - t1;
  const draws = (kind === 'tree' ? 2 : 1) * d * (2 ** (levels + 1) - 2);
  console.log(JSON.stringify({ buildMs, exactNativeMs: exactMs, noiseDraws: draws, maxRssBytes, rssBeforeBytes: rss0, inputBytes: X.byteLength, treeBytes: (kind === 'tree' ? 2 : 1) * d * 2 ** (levels + 1) * 8, levels: kde.levels }));
  kde.dispose();
}

const [kind, n, d, levels] = process.argv.slice(2);
childBuild(kind, Number(n), Number(d), Number(levels)).catch((e) => {
  console.error(e);
  process.exit(1);
});
