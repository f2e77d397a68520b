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
 * Sizes from which `device: 'auto'` moves work on host data to a usable GPU. The one table of
 * size heuristics in lemma (each family's docs point here); none of them runs on the emulated
 * device, and none overrides an explicit `device`.
 */
export const AUTO_CUDA_MIN = {
  /** lemma.sample.dikin: chains C. */
  dikinChains: 256,
  /** dp.L1Kde.query: query points q. */
  dpQueries: 4096,
  /** sparse.keyIndex: keys B·Hkv·N. */
  sparseKeys: 16384,
} as const;

/** How a call's data decides `device: 'auto'`. */
export interface AutoRule {
  /** The inputs are DeviceTensors, or the object was built on the GPU: 'auto' means 'cuda'. */
  resident?: boolean;
  /** The work is at least the family's AUTO_CUDA_MIN size: 'auto' means 'cuda' when a GPU is usable. */
  large?: boolean;
  /**
   * Why this call has no CUDA path ('' or absent when it has one). An explicit 'cuda' is then
   * ERR_CUDA_UNAVAILABLE with this reason; 'auto' runs on the CPU.
   */
  noCudaPath?: string;
}

/**
 * The one device rule of lemma (every family resolves `options.device` here):
 * - 'cpu' runs on the CPU; 'cuda' runs on the GPU or throws ERR_CUDA_UNAVAILABLE with the reason
 *   (no usable GPU, or no CUDA path for this call); neither is ever overridden.
 * - 'auto' (the default) runs on the GPU when the inputs live there (`resident`), or when the
 *   work is `large` and a real GPU is usable; on the CPU otherwise.
 * The result of every operation carries the device that actually ran.
 */
export function chooseDevice(device: unknown, name: string, rule: AutoRule = {}): 'cpu' | 'cuda' {
  const d = checkOneOf(device ?? 'auto', name, DEVICES);
  if (d === 'cpu') return 'cpu';
  if (rule.noCudaPath) {
    if (d === 'cuda') throw new LemmaError('ERR_CUDA_UNAVAILABLE', `${name} 'cuda': ${rule.noCudaPath}; use device 'cpu' or 'auto'`);
    return 'cpu';
  }
  const c = native.capabilities().cuda;
  const usable = c.compiled && c.deviceCount > 0;
  if (d === 'cuda') {
    if (!usable) throw new LemmaError('ERR_CUDA_UNAVAILABLE', `device 'cuda' was requested but no GPU is usable: ${c.reason}`);
    return 'cuda';
  }
  if (rule.resident) return 'cuda';
  // The emulated device is for tests: only an explicit device 'cuda' (or resident data) runs on it.
  return usable && rule.large === true && !c.emulated ? 'cuda' : 'cpu';
}

/** chooseDevice for a call with no CUDA path: 'auto' and 'cpu' give 'cpu'; 'cuda' throws. */
export function cpuOnly(device: unknown, name: string, why: string): 'cpu' {
  return chooseDevice(device, name, { noCudaPath: why }) as 'cpu';
}
