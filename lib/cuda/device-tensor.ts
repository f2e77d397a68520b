/**
 * Device tensors: data that lives in GPU memory, so a training loop keeps its tensors on the
 * GPU between attention calls. Upload with {@link tensor}, read back with `toHost()`, free with
 * `dispose()` (or `using t = await lemma.cuda.tensor(...)`).
 */
import { LemmaError, fromNative } from '../errors.js';
import { native } from '../binding.js';
import type { DeviceHandle } from '../binding.js';
import { chooseDevice } from '../device.js';
import { checkTensor, privateData } from '../tensor.js';
import type { Tensor } from '../tensor.js';
import { checkOneOf, checkOptions } from '../validation/index.js';
import { checkKnownKeys } from '../validation/options.js';

export type DeviceDtype = 'float32' | 'float16' | 'bfloat16';
export const DEVICE_DTYPES: readonly DeviceDtype[] = ['float32', 'float16', 'bfloat16'];
const DTYPE_CODE: Record<DeviceDtype, 0 | 1 | 2> = { float32: 0, float16: 1, bfloat16: 2 };


/** A tensor in GPU memory. Row-major, contiguous. */
export class DeviceTensor {
  /** Dimension sizes. */
  readonly shape: number[];
  /** Storage type on the device. */
  readonly dtype: DeviceDtype;
  readonly device = 'cuda' as const;
  #handle: DeviceHandle | null;

  /** @internal use lemma.cuda.tensor() */
  constructor(handle: DeviceHandle, shape: number[], dtype: DeviceDtype) {
    this.#handle = handle;
    this.shape = shape.slice();
    this.dtype = dtype;
  }

  /** Number of elements. */
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** Whether dispose() has been called. */
  get disposed(): boolean {
    return this.#handle === null;
  }

  /** @internal the native handle; throws ERR_DISPOSED after dispose(). */
  handle(name = 'tensor'): DeviceHandle {
    if (this.#handle === null) throw new LemmaError('ERR_DISPOSED', `${name} is a disposed device tensor`);
    return this.#handle;
  }

  /**
   * Copies the tensor back to the host (exact for every device dtype).
   * @param options `{ dtype: 'float32' | 'float64' }` of the host array (default float32).
   * @returns a host tensor with a new array.
   * @throws LemmaError ERR_DISPOSED, ERR_CUDA.
   */
  async toHost(options?: { dtype?: 'float32' | 'float64' }): Promise<Tensor> {
    const site = new Error();
    const o = checkOptions(options, 'options');
    checkKnownKeys(o, 'options', ['dtype']);
    const hostType = checkOneOf(o.dtype ?? 'float32', 'options.dtype', ['float32', 'float64'] as const);
    const h = this.handle();
    const data = hostType === 'float64' ? new Float64Array(this.size) : new Float32Array(this.size);
    try {
      await native.cudaDownload(h, data);
    } catch (e) {
      throw fromNative(e, site);
    }
    return { data, shape: this.shape.slice() };
  }

  /**
   * Releases the device memory. Idempotent; later use raises ERR_DISPOSED. Safe while a call
   * that uses the tensor is still running: that call keeps the memory until it ends, and the
   * memory is freed after it. Never blocks: the free itself happens off the event loop (see
   * {@link memory} and {@link synchronize}).
   */
  dispose(): void {
    const h = this.#handle;
    this.#handle = null;
    if (h !== null) native.cudaFree(h);
  }

  /** Same as dispose(): lets `using` release it at the end of a block. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** True when `v` is a `DeviceTensor` (GPU memory) rather than a host tensor. */
export function isDeviceTensor(v: unknown): v is DeviceTensor {
  return v instanceof DeviceTensor;
}

/**
 * Uploads a host tensor to the GPU.
 * @param host `{ data: Float32Array | Float64Array, shape }`
 * @param options `{ dtype: 'float32' | 'float16' | 'bfloat16' }` (default float32): values are
 *   rounded once to the device type.
 * @returns a Promise of the DeviceTensor (the upload runs off the event loop).
 * @throws LemmaError ERR_CUDA_UNAVAILABLE (with the reason), ERR_CUDA_OOM, ERR_CUDA; TypeError /
 *   RangeError for bad arguments.
 * @example
 * const q = await lemma.cuda.tensor(lemma.tensor(data, [1, 8, 4096, 128]), { dtype: 'bfloat16' });
 * try { ... } finally { q.dispose(); }
 */
export async function tensor(host: Tensor, options?: { dtype?: DeviceDtype }): Promise<DeviceTensor> {
  const site = new Error();
  const t = checkTensor(host, 'host');
  const o = checkOptions(options, 'options');
  checkKnownKeys(o, 'options', ['dtype']);
  const dtype = checkOneOf(o.dtype ?? 'float32', 'options.dtype', DEVICE_DTYPES);
  chooseDevice('cuda', 'device');
  try {
    const h = await native.cudaUpload(privateData(t.data), DTYPE_CODE[dtype]);
    return new DeviceTensor(h, t.shape, dtype);
  } catch (e) {
    throw fromNative(e, site);
  }
}

/** @internal an uninitialised device tensor (kernel outputs): allocated by the first call that uses it, on a worker thread. */
export function empty(shape: number[], dtype: DeviceDtype): DeviceTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return new DeviceTensor(native.cudaAlloc(n, DTYPE_CODE[dtype]), shape, dtype);
}

/**
 * GPU memory held by lemma: the bytes allocated and not yet given back to the CUDA runtime.
 * That is every live device tensor (allocated by the call that first writes it), a disposed
 * tensor until the calls still using it have ended and its free has run, and the workspace of
 * queued work until the stream has passed the point where it is freed. It never reports less
 * than lemma holds; frees happen off the event loop, so right after `dispose()` the count may
 * still include the tensor. It is exact after `await lemma.cuda.synchronize()`.
 * @returns `{ bytesInUse }` (0 in a CPU-only build).
 * @example
 * t.dispose();
 * await lemma.cuda.synchronize();
 * console.log(lemma.cuda.memory().bytesInUse);   // without t
 */
export function memory(): { bytesInUse: number } {
  return native.cudaMemory();
}

/**
 * Waits until the GPU work queued so far has finished and the frees requested so far
 * (dispose(), finalizers) have run, off the event loop. Afterwards {@link memory} is exact for
 * everything that settled before the call.
 * @returns a Promise that resolves when the device is idle (at once in a CPU-only build or
 *   without a GPU).
 * @throws LemmaError ERR_CUDA when the device failed (e.g. a faulting kernel broke the context).
 * @example
 * for (const t of [out, lse]) t.dispose();
 * await lemma.cuda.synchronize();
 * console.log(lemma.cuda.memory().bytesInUse);
 */
export async function synchronize(): Promise<void> {
  const site = new Error();
  try {
    await native.cudaSynchronize();
  } catch (e) {
    throw fromNative(e, site);
  }
}
