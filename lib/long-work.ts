/**
 * Cancellation and progress for native operations (API.md "Long work"), one mechanism for every
 * family: a four-word Int32Array token is armed for the next native job (native.armCancel),
 * the job's worker thread installs it, and the CPU thread pool counts the tasks it issues and
 * runs into it and stops at the next task once JS sets the cancel word (native/core/cancel.h).
 * While the job runs, a timer reads the counts for onProgress. An abort rejects with an
 * AbortError only once the native work has stopped, so the caller's buffers are free again and
 * any object used by the call is usable. CUDA kernels are not interrupted (they finish first).
 */
import { native } from './binding.js';
import { PASS_THROUGH } from './errors.js';
import { checkCallback, checkSignal, throwIfAborted } from './validation/options.js';

/** What onProgress receives from a native operation. */
export interface WorkProgress {
  /** Parallel tasks finished so far (tiles, rows, chunks: the operation's unit of work). */
  done: number;
  /** Tasks issued so far; it grows when an operation runs several parallel phases. */
  total: number;
  /** done / total (0 before the first phase). */
  fraction: number;
  /** Seconds since the call started. */
  elapsedSeconds: number;
  /** What runs now, where an operation names its phases (the private KDE build: 'exact tree', then 'noise'). */
  phase?: string;
}

/** The options every long native operation accepts. */
export interface LongWorkOptions {
  /**
   * Stops the native work at its next task: the promise rejects with an AbortError (name
   * 'AbortError', code 'ABORT_ERR', the signal's reason as `cause`); objects stay usable.
   */
  signal?: AbortSignal;
  /** Called about every 100 ms while the work runs, and once at the end (also after an abort). */
  onProgress?: (p: WorkProgress) => void;
}

/** The option names of {@link LongWorkOptions}, for checkKnownKeys lists. */
export const LONG_WORK_OPTIONS = ['signal', 'onProgress'] as const;

/** Checked signal and onProgress of an options object. */
export interface LongWork {
  signal: AbortSignal | undefined;
  onProgress: ((p: WorkProgress) => void) | undefined;
}

/** Validates `options.signal` and `options.onProgress` (TypeError when they are the wrong type). */
export function checkLongWork(o: Record<string, unknown>): LongWork {
  return {
    signal: checkSignal(o.signal, 'options.signal'),
    onProgress: checkCallback<(p: WorkProgress) => void>(o.onProgress, 'options.onProgress'),
  };
}

const PROGRESS_MS = 100;

/**
 * Runs one native async call under `work`'s signal and progress. `start` must make exactly one
 * native async call synchronously (the armed token goes to the first job created) and return
 * its promise. Errors other than the abort pass through unchanged.
 */
export async function runLong<T>(what: string, work: LongWork, start: () => Promise<T>): Promise<T> {
  const { signal, onProgress } = work;
  throwIfAborted(signal, what);
  if (!signal && !onProgress) return start();
  const token = new Int32Array(4);
  let pending: Promise<T>;
  native.armCancel(token);
  try {
    pending = start();
  } finally {
    native.armCancel(null);
  }
  const t0 = performance.now();
  // A throwing onProgress stops the work and is rethrown from the call (never from a timer).
  const callback: { failed: boolean; error: unknown } = { failed: false, error: undefined };
  const report = () => {
    if (callback.failed) return;
    const done = Atomics.load(token, 1);
    const total = Atomics.load(token, 2);
    try {
      onProgress!({ done, total, fraction: total > 0 ? Math.min(1, done / total) : 0, elapsedSeconds: (performance.now() - t0) / 1000 });
    } catch (error) {
      if (error !== null && typeof error === 'object') PASS_THROUGH.add(error);
      callback.failed = true;
      callback.error = error;
      Atomics.store(token, 0, 1);
    }
  };
  const onAbort = () => Atomics.store(token, 0, 1);
  signal?.addEventListener('abort', onAbort, { once: true });
  const timer = onProgress ? setInterval(report, PROGRESS_MS) : undefined;
  timer?.unref();
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await pending };
  } catch (error) {
    outcome = { ok: false, error };
  } finally {
    if (timer) clearInterval(timer);
    signal?.removeEventListener('abort', onAbort);
  }
  // One last report: the whole work, or how far it got before it stopped (done < total).
  if (onProgress) report();
  if (callback.failed) throw callback.error;
  // Aborted during the work, or after its last task (the result is whole, but the caller asked to stop).
  throwIfAborted(signal, what);
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}
