/**
 * The one error class of lemma. Every failure that is not an argument-type or argument-value
 * problem (those are TypeError / RangeError) is a LemmaError with a stable string `code`.
 */
export type ErrorCode =
  | 'ERR_SHAPE'
  | 'ERR_DTYPE'
  | 'ERR_RANGE'
  | 'ERR_CUDA_UNAVAILABLE'
  | 'ERR_CUDA'
  | 'ERR_CUDA_OOM'
  | 'ERR_DISPOSED'
  | 'ERR_OOM'
  | 'ERR_BUDGET'
  | 'ERR_INFEASIBLE'
  | 'ERR_AGENT'
  | 'ERR_FORMAT'
  | 'ERR_INTERNAL';

/**
 * An error raised by lemma, with a stable machine-readable `code`.
 * @example
 * try { await lemma.attention.forward(q, k, v, { device: 'cuda' }); }
 * catch (e) { if (e instanceof lemma.LemmaError && e.code === 'ERR_CUDA_UNAVAILABLE') { ... } }
 */
export class LemmaError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'LemmaError';
    this.code = code;
  }
}

const KNOWN_CODES = new Set<string>([
  'ERR_SHAPE', 'ERR_DTYPE', 'ERR_RANGE', 'ERR_CUDA_UNAVAILABLE', 'ERR_CUDA', 'ERR_CUDA_OOM',
  'ERR_DISPOSED', 'ERR_OOM', 'ERR_BUDGET', 'ERR_INFEASIBLE', 'ERR_AGENT', 'ERR_FORMAT', 'ERR_INTERNAL',
]);

/** Errors thrown by user callbacks (onProgress, agents, targets): fromNative leaves them as they are. */
export const PASS_THROUGH = new WeakSet<object>();

/**
 * Turns whatever a native call threw or rejected with into a LemmaError carrying the caller's
 * stack (native errors are created on the main thread after the work ends, so their own stack
 * says nothing useful). `callSite` is an Error created when the caller entered lemma.
 */
export function fromNative(err: unknown, callSite: Error): Error {
  // An abort, or an error thrown by the caller's own callback: theirs, unchanged.
  if (err !== null && typeof err === 'object' && (PASS_THROUGH.has(err) || (err as Error).name === 'AbortError')) return err as Error;
  if (err instanceof LemmaError || err instanceof TypeError || err instanceof RangeError) {
    err.stack = `${err.name}: ${err.message}\n${stackFrames(callSite)}`;
    return err;
  }
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' && KNOWN_CODES.has(e.code) ? (e.code as ErrorCode) : 'ERR_INTERNAL';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const out = new LemmaError(code, message);
  out.stack = `LemmaError: ${message}\n${stackFrames(callSite)}`;
  return out;
}

function stackFrames(site: Error): string {
  const lines = (site.stack ?? '').split('\n');
  return lines.slice(1).join('\n');
}
