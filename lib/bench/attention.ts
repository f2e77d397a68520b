/**
 * The attention benchmark behind `lemma bench attention` and `npm run bench`
 * (bench/node/attention.bench.ts): dense forward/backward, then decoding. One JSON line per
 * configuration. FLOPs are counted as FlashAttention does: forward
 * 4·B·H·Nq·Nk·D, halved when causal; backward 2.5× forward. Each figure is also given as a % of
 * the machine's fp32 FMA peak, measured in the same run by a native micro-benchmark, because
 * this machine is shared and noisy and only same-run ratios compare.
 * Sizes: default (and the script's --quick) N ∈ {512, 2048}, D = 64, decoding Nk = 65,536;
 * full N ∈ {512 … 4096}, D ∈ {64, 128}, Nk = 262,144.
 */
import { performance } from 'node:perf_hooks';
import * as attention from '../attention/index.js';
import { capabilities, setNumThreads } from '../device.js';
import { native } from '../binding.js';
import type { Tensor } from '../tensor.js';
import { BenchRun, benchSize } from './results.js';
import type { BenchSize, FamilyBenchOptions } from './results.js';

export interface AttentionBenchConfig {
  B: number;
  H: number;
  N: number;
  D: number;
  causal: boolean;
}

export interface AttentionBenchOptions extends FamilyBenchOptions {
  /** Minimum seconds of timed work per measurement. */
  minSeconds?: number;
  configs?: AttentionBenchConfig[];
  decodeConfigs?: DecodeBenchConfig[];
  /** Also time the materialized (small-cache) schedule as an in-run baseline (default: with `full`). */
  baseline?: boolean;
  /** Run the dense forward/backward configurations (default true). */
  dense?: boolean;
  /** Run the decoding configurations (default true). */
  decode?: boolean;
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

/** The dense configurations of a size (true: the default/quick ones, false: full). */
export function defaultConfigs(size: BenchSize | boolean): AttentionBenchConfig[] {
  const z = typeof size === 'boolean' ? (size ? 'quick' : 'full') : size;
  const out: AttentionBenchConfig[] = [];
  if (z === 'tiny') {
    for (const causal of [false, true]) out.push({ B: 1, H: 2, N: 128, D: 64, causal });
    return out;
  }
  const Ns = z !== 'full' ? [512, 2048] : [512, 1024, 2048, 4096];
  const Ds = z !== 'full' ? [64] : [64, 128];
  for (const D of Ds) for (const N of Ns) for (const causal of [false, true]) out.push({ B: 1, H: 8, N, D, causal });
  return out;
}

function minSecondsOf(opts: AttentionBenchOptions): number {
  const size = benchSize(opts);
  return opts.minSeconds ?? (size === 'tiny' ? 0.01 : size === 'full' ? 1.0 : 0.3);
}

/**
 * `lemma bench attention`: the dense configurations (FMA peak and, with `baseline`, the
 * materialized schedule measured in the same run), then decoding beside the K/V stream time.
 */
export async function runAttentionBench(opts: AttentionBenchOptions = {}): Promise<Array<AttentionBenchRecord | DecodeBenchRecord>> {
  const size = benchSize(opts);
  if (opts.threads !== undefined) setNumThreads(opts.threads);
  const dense = opts.dense ?? true, decode = opts.decode ?? true;
  const configs = dense ? opts.configs ?? defaultConfigs(size) : [];
  const decodeConfigs = decode ? opts.decodeConfigs ?? defaultDecodeConfigs(size) : [];
  const run = new BenchRun<AttentionBenchRecord | DecodeBenchRecord>(opts, configs.length + decodeConfigs.length + (dense ? 1 : 0), 'lemma bench attention');
  if (dense) await denseBench(run, opts, configs);
  if (decode) await decodeBench(run, opts, decodeConfigs);
  return run.finish();
}

/** The dense forward/backward configurations alone. */
export async function runDenseBench(opts: AttentionBenchOptions = {}): Promise<AttentionBenchRecord[]> {
  return await runAttentionBench({ ...opts, decode: false }) as AttentionBenchRecord[];
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

async function denseBench(run: BenchRun<AttentionBenchRecord | DecodeBenchRecord>, opts: AttentionBenchOptions, configs: AttentionBenchConfig[]): Promise<void> {
  const minSeconds = minSecondsOf(opts);
  const size = benchSize(opts);
  const baseline = opts.baseline ?? size === 'full';
  const caps = capabilities();
  run.step('FMA peak');
  const peak = await native.fmaPeak(caps.threads, size === 'tiny' ? 0.05 : size === 'full' ? 1.0 : 0.3);
  for (const c of configs) {
    run.step(`dense B${c.B} H${c.H} N${c.N} D${c.D}${c.causal ? ' causal' : ''}`);
    const shape = [c.B, c.H, c.N, c.D];
    const n = c.B * c.H * c.N * c.D;
    const mk = (seed: number): Tensor => ({ data: randomFloat32(n, seed), shape });
    const q = mk(1), k = mk(2), v = mk(3), dOut = mk(4);
    const o = { causal: c.causal, device: 'cpu' as const, algorithm: 'flash' as const, signal: opts.signal };
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
    if (baseline) {
      const m = { ...o, algorithm: 'materialized' as const };
      const mf = await timeMs(() => attention.forward(q, k, v, m), minSeconds);
      const mb = await timeMs(() => attention.backward({ q, k, v, out: fwd.out, lse: fwd.lse, dOut }, m), minSeconds);
      r.materializedFwdGflops = round(gf(fwdFlops, mf));
      r.materializedBwdGflops = round(gf(2.5 * fwdFlops, mb));
      r.flashVsMaterializedFwd = round(mf / fwdMs);
      r.flashVsMaterializedBwd = round(mb / bwdMs);
    }
    run.emit(r);
  }
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

/** The decoding configurations of a size (true: the default/quick ones, false: full). */
export function defaultDecodeConfigs(size: BenchSize | boolean): DecodeBenchConfig[] {
  const z = typeof size === 'boolean' ? (size ? 'quick' : 'full') : size;
  if (z === 'tiny') return [{ Hq: 1, Hkv: 1, M: 1, Nk: 4096, D: 64 }, { Hq: 4, Hkv: 1, M: 4, Nk: 4096, D: 64 }];
  const Nk = z !== 'full' ? 65536 : 262144;
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
export async function runDecodeBench(opts: AttentionBenchOptions = {}): Promise<DecodeBenchRecord[]> {
  return await runAttentionBench({ ...opts, dense: false }) as DecodeBenchRecord[];
}

async function decodeBench(run: BenchRun<AttentionBenchRecord | DecodeBenchRecord>, opts: AttentionBenchOptions, configs: DecodeBenchConfig[]): Promise<void> {
  const minSeconds = minSecondsOf(opts);
  const caps = capabilities();
  for (const c of configs) {
    run.step(`decode Hq${c.Hq} Hkv${c.Hkv} M${c.M} Nk${c.Nk} D${c.D}`);
    const q: Tensor = { data: randomFloat32(c.Hq * c.M * c.D, 1), shape: [1, c.Hq, c.M, c.D] };
    const k: Tensor = { data: randomFloat32(c.Hkv * c.Nk * c.D, 2), shape: [1, c.Hkv, c.Nk, c.D] };
    const v: Tensor = { data: randomFloat32(c.Hkv * c.Nk * c.D, 3), shape: [1, c.Hkv, c.Nk, c.D] };
    const dOut: Tensor = { data: randomFloat32(c.Hq * c.M * c.D, 4), shape: q.shape };
    const o = { device: 'cpu' as const };
    const fwd = attention.forwardSync(q, k, v, o);
    // Alternate the three measurements so a noisy neighbour hits them alike.
    const stream: number[] = [], f: number[] = [], b: number[] = [];
    for (let round = 0; round < 3; round++) {
      run.check();
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
    run.emit(r);
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
