/**
 * What this process can run on: CPU threads and SIMD level, and the CUDA backend's state.
 */
import { LemmaError } from './errors.js';
import { native } from './binding.js';
import type { NativeGpuDevice } from './binding.js';
import { checkInteger, checkOneOf } from './validation/index.js';

// lib/device.ts (tsx) and dist/lib/device.js (compiled) sit at different depths.
function packageVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = require(rel) as { name?: string; version?: string };
      if (pkg.name === 'lemma' && pkg.version) return pkg.version;
    } catch {
      // not at this depth
    }
  }
  return native.capabilities().nativeVersion;
}
const VERSION = packageVersion();

export type Device = 'auto' | 'cpu' | 'cuda';
export const DEVICES: readonly Device[] = ['auto', 'cpu', 'cuda'];

export interface Capabilities {
  /** lemma's version. */
  version: string;
  /** Threads the CPU kernels use. */
  threads: number;
  /** SIMD level the CPU kernels use now. */
  simd: 'avx512' | 'avx2' | 'scalar';
  /** Widest SIMD level this CPU supports. */
  simdSupported: 'avx512' | 'avx2' | 'scalar';
  cuda: {
    /** Whether the addon was built with the CUDA kernels. */
    compiled: boolean;
    /**
     * True for the emulated device (a build with LEMMA_CUDA=EMULATE): the CUDA kernels run on
     * the CPU, one fiber per CUDA thread, for testing. It proves what a kernel computes under
     * a GPU's limits and checkers, not its speed; `device: 'auto'` never picks it.
     */
    emulated: boolean;
    /** Usable GPUs (0 when none or no driver). */
    deviceCount: number;
    devices: NativeGpuDevice[];
    /** Why no GPU is usable ('' when one is). */
    reason: string;
    runtimeVersion: number;
    driverVersion: number;
    /** CUDA architectures compiled in ('' in a CPU-only build). */
    architectures: string;
  };
}

/**
 * Reports the version, CPU threads, SIMD level, and CUDA state.
 * @returns a plain object; `cuda.reason` says why no GPU is usable.
 * @example
 * const caps = lemma.capabilities();
 * console.log(caps.simd, caps.cuda.deviceCount, caps.cuda.reason);
 */
export function capabilities(): Capabilities {
  const c = native.capabilities();
  const { errorCode: _unused, ...cuda } = c.cuda;
  return { version: VERSION, threads: c.threads, simd: c.simd, simdSupported: c.simdSupported, cuda };
}

/**
 * Sets the number of CPU threads the kernels use (default: all cores, or LEMMA_NUM_THREADS).
 * @param n integer from 1 to 1024.
 * @returns the thread count now in use.
 * @throws TypeError / RangeError for a bad n.
 */
export function setNumThreads(n: number): number {
  return native.setNumThreads(checkInteger(n, 'n', 1, 1024));
}

/**
 * Lowers (or restores) the SIMD level of the CPU kernels, for comparisons and tests.
 * A level above what the CPU supports is clamped to the supported one.
 * @param level 'avx512' | 'avx2' | 'scalar'.
 * @returns the level now in use.
 */
export function setSimdLevel(level: 'avx512' | 'avx2' | 'scalar'): 'avx512' | 'avx2' | 'scalar' {
  return native.setSimdLevel(checkOneOf(level, 'level', ['avx512', 'avx2', 'scalar'] as const)) as Capabilities['simd'];
}

/** True when the CUDA kernels are compiled in and a GPU is usable now. */
export function cudaAvailable(): boolean {
  const c = native.capabilities().cuda;
  return c.compiled && c.deviceCount > 0;
}

/**
 * Resolves a device option: 'auto' picks 'cuda' only when `preferCuda` and a GPU is usable;
 * 'cuda' without a usable GPU throws ERR_CUDA_UNAVAILABLE with the reason.
 */
export function resolveDevice(device: unknown, name: string, preferCuda = false): 'cpu' | 'cuda' {
  const d = checkOneOf(device ?? 'auto', name, DEVICES);
  if (d === 'cpu') return 'cpu';
  const c = native.capabilities().cuda;
  const usable = c.compiled && c.deviceCount > 0;
  if (d === 'cuda') {
    if (!usable) throw new LemmaError('ERR_CUDA_UNAVAILABLE', `device 'cuda' was requested but no GPU is usable: ${c.reason}`);
    return 'cuda';
  }
  // The emulated device is for tests: only an explicit device 'cuda' runs on it.
  return usable && preferCuda && !c.emulated ? 'cuda' : 'cpu';
}
