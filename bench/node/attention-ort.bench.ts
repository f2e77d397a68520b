/**
 * npm run bench:ort — long prefill against onnxruntime-node in the same run: lemma's CPU
 * attention forward vs onnxruntime's fused MultiHeadAttention (com.microsoft, CPU execution
 * provider, same thread count), B = 1, H = 8, D = 64, N ∈ {1k … 16k}, causal off/on, both
 * cross-checked for equal outputs first. The FMA peak is measured in the same run, and the three
 * measurements are interleaved over rounds (best of each) so a noisy neighbour hits them alike.
 * onnxruntime-node is not a dependency of lemma: install it beside the checkout without saving
 * (npm install --no-save --ignore-scripts onnxruntime-node) or point LEMMA_ORT_PATH at a folder
 * holding it; without it the bench says so and exits 0. Writes
 * bench/results/attention-ort-<cpu>-<threads>t.jsonl.
 *   node --import tsx bench/node/attention-ort.bench.ts [--quick] [--threads N] [--rounds R] [--max-n N]
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as attention from '../../lib/attention/index.js';
import { capabilities, setNumThreads } from '../../lib/device.js';
import { native } from '../../lib/binding.js';
import { randomFloat32 } from '../../lib/bench/attention.js';
import { mhaModel, toBnhd } from './onnx-mha.js';
import { writeResults } from './results.js';

function loadOrt(): any {
  const from = process.env.LEMMA_ORT_PATH ? [process.env.LEMMA_ORT_PATH] : undefined;
  try {
    return require(require.resolve('onnxruntime-node', from ? { paths: from } : undefined));
  } catch {
    return null;
  }
}

async function bestMs(fn: () => Promise<unknown>, seconds: number): Promise<number> {
  let best = Infinity;
  const start = performance.now();
  for (let i = 0; i < 3 || (performance.now() - start < seconds * 1000 && i < 100); i++) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

async function main() {
  const args = process.argv.slice(2);
  const arg = (name: string) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : undefined; };
  const ort = loadOrt();
  if (!ort) {
    console.log(JSON.stringify({ bench: 'attention-ort', skipped: 'onnxruntime-node not found: npm install --no-save --ignore-scripts onnxruntime-node, or set LEMMA_ORT_PATH' }));
    return;
  }
  const quick = args.includes('--quick');
  if (arg('--threads') !== undefined) setNumThreads(arg('--threads')!);
  const caps = capabilities();
  const rounds = arg('--rounds') ?? (quick ? 2 : 3);
  const per = quick ? 0.3 : 1.0;
  const B = 1, H = 8, D = 64;
  const Ns = (quick ? [1024, 4096] : [1024, 2048, 4096, 8192, 16384]).filter((n) => n <= (arg('--max-n') ?? Infinity));
  const lines: string[] = [];
  for (const N of Ns)
    for (const causal of [false, true]) {
      const n = B * H * N * D, shape = [B, H, N, D];
      const q = randomFloat32(n, 1), k = randomFloat32(n, 2), v = randomFloat32(n, 3);
      const sess = await ort.InferenceSession.create(mhaModel({ B, N, H, D, causal }), {
        intraOpNumThreads: caps.threads, interOpNumThreads: 1, executionMode: 'sequential',
      });
      const t = (x: Float32Array) => new ort.Tensor('float32', toBnhd(x, B, H, N, D), [B, N, H * D]);
      const feeds = { query: t(q), key: t(k), value: t(v) };
      const o = { causal, device: 'cpu' as const };
      const T = (x: Float32Array) => ({ data: x, shape });
      const mine = await attention.forward(T(q), T(k), T(v), o);
      const theirs = toBnhd((await sess.run(feeds)).output.data as Float32Array, B, H, N, D, true);
      let diff = 0;
      for (let i = 0; i < n; i++) diff = Math.max(diff, Math.abs(theirs[i] - (mine.out.data as Float32Array)[i]));
      let lemmaMs = Infinity, ortMs = Infinity, peak = 0;
      for (let r = 0; r < rounds; r++) {
        peak = Math.max(peak, await native.fmaPeak(caps.threads, 0.2));
        lemmaMs = Math.min(lemmaMs, await bestMs(() => attention.forward(T(q), T(k), T(v), o), per));
        ortMs = Math.min(ortMs, await bestMs(() => sess.run(feeds), per));
      }
      await sess.release();
      const flops = (4 * B * H * N * N * D) / (causal ? 2 : 1);
      const gf = (ms: number) => flops / (ms * 1e6);
      const rec = {
        bench: 'attention-ort', B, H, N, D, causal, threads: caps.threads, simd: caps.simd,
        lemmaMs: +lemmaMs.toFixed(2), ortMs: +ortMs.toFixed(2),
        lemmaGflops: +gf(lemmaMs).toFixed(1), ortGflops: +gf(ortMs).toFixed(1),
        peakGflops: +peak.toFixed(1), lemmaPctPeak: +((100 * gf(lemmaMs)) / peak).toFixed(1),
        ortPctPeak: +((100 * gf(ortMs)) / peak).toFixed(1), lemmaOverOrt: +(ortMs / lemmaMs).toFixed(2),
        maxAbsDiff: diff, ort: ort.env?.versions?.common ?? 'unknown',
      };
      console.log(JSON.stringify(rec));
      lines.push(JSON.stringify(rec));
    }
  const file = writeResults('attention-ort', lines);
  console.log(`wrote ${lines.length} configurations to ${path.relative(process.cwd(), file)}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
