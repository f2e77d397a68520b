/**
 * The attention benchmark behind `lemma bench attention` and `npm run bench`.
 * One JSON line per configuration. FLOPs are counted as FlashAttention does: forward
 * 4·B·H·Nq·Nk·D, halved when causal; backward 2.5× forward. Each figure is also given as a % of
 * the machine's fp32 FMA peak, measured in the same run by a native micro-benchmark, because
 * this machine is shared and noisy and only same-run ratios compare.
 */
import { performance } from 'node:perf_hooks';
import * as attention from '../attention/index.js';
import { capabilities, setNumThreads } from '../device.js';
import { native } from '../binding.js';
import type { Tensor } from '../tensor.js';

export interface AttentionBenchConfig {
  B: number;
  H: number;
  N: number;
  D: number;
  causal: boolean;
}

export interface AttentionBenchOptions {
  quick?: boolean;
  threads?: number;
  /** Minimum seconds of timed work per measurement. */
  minSeconds?: number;
  configs?: AttentionBenchConfig[];
  /** Also time the materialized (small-cache) schedule as an in-run baseline. */
  baseline?: boolean;
  log?: (line: string) => void;
}

export interface AttentionBenchRecord {
  bench: 'attention';
  B: number; H: number; N: number; D: number; causal: boolean;
  threads: number; simd: string;
  fwdMs: number; bwdMs: number; fwdBwdMs: number;
  fwdGflops: number; bwdGflops: number; fwdBwdGflops: number;
  peakGflops: number;
  fwdPctPeak: number; bwdPctPeak: number; fwdBwdPctPeak: number;
  materializedFwdGflops?: number; materializedBwdGflops?: number;
  flashVsMaterializedFwd?: number; flashVsMaterializedBwd?: number;
}

/** Deterministic pseudo-random fill (xorshift), values in [-1, 1). */
export function randomFloat32(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    a[i] = (s / 4294967296) * 2 - 1;
  }
  return a;
}

export function defaultConfigs(quick: boolean): AttentionBenchConfig[] {
  const out: AttentionBenchConfig[] = [];
  const Ns = quick ? [512, 2048] : [512, 1024, 2048, 4096];
  const Ds = quick ? [64] : [64, 128];
  for (const D of Ds) for (const N of Ns) for (const causal of [false, true]) out.push({ B: 1, H: 8, N, D, causal });
  return out;
}

/** Median time in ms of fn, repeated until minSeconds of work (at least 3 runs, after 1 warm-up). */
async function timeMs(fn: () => Promise<unknown>, minSeconds: number): Promise<number> {
  await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 3 || (performance.now() - start < minSeconds * 1000 && times.length < 50)) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

export async function runAttentionBench(opts: AttentionBenchOptions = {}): Promise<AttentionBenchRecord[]> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const quick = opts.quick ?? false;
  const minSeconds = opts.minSeconds ?? (quick ? 0.3 : 1.0);
  if (opts.threads !== undefined) setNumThreads(opts.threads);
  const caps = capabilities();
  const peak = await native.fmaPeak(caps.threads, quick ? 0.3 : 1.0);
  const records: AttentionBenchRecord[] = [];
  for (const c of opts.configs ?? defaultConfigs(quick)) {
    const shape = [c.B, c.H, c.N, c.D];
    const n = c.B * c.H * c.N * c.D;
    const mk = (seed: number): Tensor => ({ data: randomFloat32(n, seed), shape });
    const q = mk(1), k = mk(2), v = mk(3), dOut = mk(4);
    const o = { causal: c.causal, device: 'cpu' as const, algorithm: 'flash' as const };
    const fwd = await attention.forward(q, k, v, o);
    const fwdMs = await timeMs(() => attention.forward(q, k, v, o), minSeconds);
    const bwdMs = await timeMs(() => attention.backward({ q, k, v, out: fwd.out, lse: fwd.lse, dOut }, o), minSeconds);
    const fwdBwdMs = await timeMs(async () => {
      const f = await attention.forward(q, k, v, o);
      await attention.backward({ q, k, v, out: f.out, lse: f.lse, dOut }, o);
    }, minSeconds);
    const fwdFlops = (4 * c.B * c.H * c.N * c.N * c.D) / (c.causal ? 2 : 1);
    const gf = (flops: number, ms: number) => flops / (ms * 1e6);
    const r: AttentionBenchRecord = {
      bench: 'attention', ...c, threads: caps.threads, simd: caps.simd,
      fwdMs: round(fwdMs), bwdMs: round(bwdMs), fwdBwdMs: round(fwdBwdMs),
      fwdGflops: round(gf(fwdFlops, fwdMs)), bwdGflops: round(gf(2.5 * fwdFlops, bwdMs)),
      fwdBwdGflops: round(gf(3.5 * fwdFlops, fwdBwdMs)), peakGflops: round(peak),
      fwdPctPeak: round((100 * gf(fwdFlops, fwdMs)) / peak), bwdPctPeak: round((100 * gf(2.5 * fwdFlops, bwdMs)) / peak),
      fwdBwdPctPeak: round((100 * gf(3.5 * fwdFlops, fwdBwdMs)) / peak),
    };
    if (opts.baseline) {
      const m = { ...o, algorithm: 'materialized' as const };
      const mf = await timeMs(() => attention.forward(q, k, v, m), minSeconds);
      const mb = await timeMs(() => attention.backward({ q, k, v, out: fwd.out, lse: fwd.lse, dOut }, m), minSeconds);
      r.materializedFwdGflops = round(gf(fwdFlops, mf));
      r.materializedBwdGflops = round(gf(2.5 * fwdFlops, mb));
      r.flashVsMaterializedFwd = round(mf / fwdMs);
      r.flashVsMaterializedBwd = round(mb / bwdMs);
    }
    records.push(r);
    log(JSON.stringify(r));
  }
  return records;
}

/** A decoding configuration: M new query rows per head against Nk cached keys. */
export interface DecodeBenchConfig {
  Hq: number;
  Hkv: number;
  M: number;
  Nk: number;
  D: number;
}

export interface DecodeBenchRecord {
  bench: 'attention-decode';
  B: 1; Hq: number; Hkv: number; M: number; Nk: number; D: number;
  threads: number; simd: string;
  /** Time to read K and V once on the same threads (the floor of a decode step), same run. */
  streamMs: number; streamGBs: number;
  fwdMs: number; bwdMs: number;
  fwdOverStream: number; bwdOverStream: number;
  fwdGflops: number;
}

export function defaultDecodeConfigs(quick: boolean): DecodeBenchConfig[] {
  const Nk = quick ? 65536 : 262144;
  return [
    { Hq: 1, Hkv: 1, M: 1, Nk, D: 128 },
    { Hq: 1, Hkv: 1, M: 16, Nk, D: 128 },
    { Hq: 8, Hkv: 1, M: 1, Nk, D: 128 },
    { Hq: 8, Hkv: 1, M: 16, Nk, D: 128 },
  ];
}

/** Median of sync runs in ms (after one warm-up), until minSeconds (at least 5 runs). */
function timeSyncMs(fn: () => unknown, minSeconds: number): number {
  fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 5 || (performance.now() - start < minSeconds * 1000 && times.length < 200)) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/**
 * Decoding: forwardSync and backwardSync of M query rows per head against a long K/V cache,
 * each beside the time to stream K and V once through memory on the same threads (a plain
 * native read loop), interleaved in the same run. fwdOverStream near 1 means the decode step is
 * memory-bound, as it should be.
 */
export async function runDecodeBench(opts: AttentionBenchOptions & { decodeConfigs?: DecodeBenchConfig[] } = {}):
  Promise<DecodeBenchRecord[]> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const quick = opts.quick ?? false;
  const minSeconds = opts.minSeconds ?? (quick ? 0.3 : 1.0);
  if (opts.threads !== undefined) setNumThreads(opts.threads);
  const caps = capabilities();
  const records: DecodeBenchRecord[] = [];
  for (const c of opts.decodeConfigs ?? defaultDecodeConfigs(quick)) {
    const q: Tensor = { data: randomFloat32(c.Hq * c.M * c.D, 1), shape: [1, c.Hq, c.M, c.D] };
    const k: Tensor = { data: randomFloat32(c.Hkv * c.Nk * c.D, 2), shape: [1, c.Hkv, c.Nk, c.D] };
    const v: Tensor = { data: randomFloat32(c.Hkv * c.Nk * c.D, 3), shape: [1, c.Hkv, c.Nk, c.D] };
    const dOut: Tensor = { data: randomFloat32(c.Hq * c.M * c.D, 4), shape: q.shape };
    const o = { device: 'cpu' as const };
    const fwd = attention.forwardSync(q, k, v, o);
    // Alternate the three measurements so a noisy neighbour hits them alike.
    const stream: number[] = [], f: number[] = [], b: number[] = [];
    for (let round = 0; round < 3; round++) {
      stream.push(timeSyncMs(() => native.streamRead([k.data, v.data]), minSeconds / 3));
      f.push(timeSyncMs(() => attention.forwardSync(q, k, v, o), minSeconds / 3));
      b.push(timeSyncMs(() => attention.backwardSync({ q, k, v, out: fwd.out, lse: fwd.lse, dOut }, o), minSeconds / 3));
    }
    const streamMs = Math.min(...stream), fwdMs = Math.min(...f), bwdMs = Math.min(...b);
    const bytes = 2 * c.Hkv * c.Nk * c.D * 4;
    const r: DecodeBenchRecord = {
      bench: 'attention-decode', B: 1, ...c, threads: caps.threads, simd: caps.simd,
      streamMs: round(streamMs), streamGBs: round(bytes / (streamMs * 1e6)),
      fwdMs: round(fwdMs), bwdMs: round(bwdMs),
      fwdOverStream: round(fwdMs / streamMs), bwdOverStream: round(bwdMs / streamMs),
      fwdGflops: round((4 * c.Hq * c.M * c.Nk * c.D) / (fwdMs * 1e6)),
    };
    records.push(r);
    log(JSON.stringify(r));
  }
  return records;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
