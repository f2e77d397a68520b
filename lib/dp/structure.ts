/**
 * The common face of the two private L1 KDE structures: lifecycle (dispose, ERR_DISPOSED),
 * public parameters, and the release document. Query logic lives in l1-kde.ts and baseline.ts.
 */
import { LemmaError } from '../errors.js';
import type { L1KdeDocument, Neighbour, TreeState } from './tree.js';
import { STATES, toDocument } from './tree.js';
import { expected } from '../validation/index.js';

/** Release options. */
export interface ReleaseOptions {
  /**
   * 'array' (default): plain JSON arrays of integers, easy to audit. 'base64-float64le': each
   * coordinate's integers as fp64 little-endian bytes in base64, ~3× smaller and faster; use it
   * for large trees (a JSON string of a d = 16, L = 20 tree exceeds V8's string limit either way:
   * write such a document per coordinate).
   */
  encoding?: 'array' | 'base64-float64le';
}

/**
 * The base class of `PrivateL1Kde` and `BaselineL1Kde`: the public parameters, `release()` (the
 * public document `loadL1Kde` restores) and `dispose()`.
 */
export abstract class L1KdeStructure {
  #state: TreeState | null;

  /** @internal */
  protected constructor(state: TreeState) {
    // Only lemma.dp.l1Kde / baselineL1Kde / loadL1Kde make structures: a hand-made state would
    // reach the native queries unchecked.
    if (!STATES.has(state)) {
      throw new TypeError(expected('a state built by lemma.dp (use l1Kde, baselineL1Kde or loadL1Kde)', 'state', state));
    }
    this.#state = state;
  }

  /** The live state, or ERR_DISPOSED. */
  protected get state(): TreeState {
    if (this.#state === null) throw new LemmaError('ERR_DISPOSED', `this ${this.constructor.name} has been disposed`);
    return this.#state;
  }

  /** True after dispose(). */
  get disposed(): boolean {
    return this.#state === null;
  }

  /** Privacy budget ε the release was built with (pure ε-DP). */
  get epsilon(): number {
    return this.state.epsilon;
  }

  /** Number of coordinates d. */
  get d(): number {
    return this.state.shape.d;
  }

  /** Tree depth L. */
  get levels(): number {
    return this.state.shape.levels;
  }

  /** Grid resolution q: each coordinate is quantised to 2^q values over its range. */
  get gridBits(): number {
    return this.state.shape.gridBits;
  }

  /** The neighbouring relation the guarantee is stated for. */
  get neighbour(): Neighbour {
    return this.state.neighbour;
  }

  /** [lo, hi] per coordinate (public). */
  get ranges(): Array<[number, number]> {
    const s = this.state.shape;
    return Array.from(s.lo, (lo, j) => [lo, s.hi[j]] as [number, number]);
  }

  /**
   * The release: a JSON-serialisable document with the public parameters and the noisy integers
   * only (no raw value, no n, no exact count). Anyone can query it with {@link loadL1Kde}; queries
   * are post-processing and cost no further privacy. Synchronous.
   * @throws LemmaError ERR_DISPOSED after dispose().
   * @example
   * fs.writeFileSync('kde.json', JSON.stringify(kde.release()));
   */
  release(options?: ReleaseOptions): L1KdeDocument {
    return toDocument(this.state, options);
  }

  /** Drops the noisy arrays; later calls throw ERR_DISPOSED. Idempotent. In-flight queries finish. */
  dispose(): void {
    this.#state = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
