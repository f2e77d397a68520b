/**
 * A pure-ε privacy budget with basic (sequential) composition: the total privacy loss of several
 * ε_k-DP releases on the same data is at most Σ ε_k. `spend` refuses (ERR_BUDGET) any charge that
 * would take the total above the budget, and records every accepted charge in a ledger.
 *
 * Arithmetic is exact: every double is an integer multiple of 2^−1074, so charges are summed as
 * BigInts in those units and never round in the user's favour. One consequence: the double 0.1
 * is 0.1000000000000000055…, so ten charges of 0.1 exceed a budget of 1 and the tenth is refused
 * (floating-point addition would have rounded the total down to 0.9999999999999999 and let it
 * through). Use charges that are exact in binary (0.125, 0.25, 0.5, …) when the last crumb of a
 * budget matters.
 */
import { LemmaError } from '../errors.js';
import { checkNumber, checkOptions, expected } from '../validation/index.js';
import { checkKnownKeys } from '../validation/options.js';

const SHIFT = 1074n;

/** The exact value of a finite non-negative double in units of 2^−1074. */
function toUnits(x: number): bigint {
  if (x === 0) return 0n;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const expBits = (bits >> 52n) & 0x7ffn;
  const frac = bits & ((1n << 52n) - 1n);
  if (expBits === 0n) return frac; // subnormal: frac · 2^−1074
  return (frac | (1n << 52n)) << (expBits - 1n);
}

/** The largest double ≤ units · 2^−1074 (rounds down, so `remaining` never overstates). */
function fromUnits(u: bigint): number {
  if (u <= 0n) return 0;
  const bl = u.toString(2).length;
  if (bl <= 53) return Number(u) * 2 ** -1074;
  const k = bl - 53;
  return Number(u >> BigInt(k)) * 2 ** (k - 1074);
}

export interface LedgerEntry {
  /** What the charge was for. */
  readonly label: string;
  /** ε charged. */
  readonly epsilon: number;
  /** Total ε spent after this charge. */
  readonly spentAfter: number;
  /** When it was charged (ISO 8601). */
  readonly at: string;
}

/** A pure-ε budget; create with {@link accountant}. */
export class PrivacyAccountant {
  /** The total budget ε. */
  readonly epsilon: number;
  readonly #budget: bigint;
  #spent = 0n;
  readonly #ledger: LedgerEntry[] = [];

  /** @internal use {@link accountant}. */
  constructor(epsilon: number) {
    // The class is exported: `new PrivacyAccountant(NaN)` must not make a budget that is never spent.
    checkNumber(epsilon, 'epsilon', { min: 0, exclusiveMin: true });
    this.epsilon = epsilon;
    this.#budget = toUnits(epsilon);
  }

  /** ε spent so far (exact sum, rounded down to a double). */
  get spent(): number {
    return fromUnits(this.#spent);
  }

  /** ε still available (rounded down to a double). */
  get remaining(): number {
    return fromUnits(this.#budget - this.#spent);
  }

  /** The accepted charges, oldest first (a copy). */
  get ledger(): readonly LedgerEntry[] {
    return this.#ledger.slice();
  }

  /** Whether a charge of `eps` would be accepted now. */
  canSpend(eps: number): boolean {
    checkNumber(eps, 'eps', { min: 0, exclusiveMin: true });
    return this.#spent + toUnits(eps) <= this.#budget;
  }

  /**
   * Charges ε to the budget, or refuses without charging anything.
   * @param eps ε > 0 of the release about to be made.
   * @param label what the charge is for (kept in the ledger).
   * @returns the ledger entry.
   * @throws LemmaError ERR_BUDGET when spent + eps would exceed the budget; TypeError /
   *   RangeError for a bad eps or label.
   * @example
   * const acc = lemma.dp.accountant({ epsilon: 1 });
   * acc.spend(0.25, 'first release');
   */
  spend(eps: number, label = 'unlabelled'): LedgerEntry {
    checkNumber(eps, 'eps', { min: 0, exclusiveMin: true });
    if (typeof label !== 'string') throw new TypeError(expected('a string', 'label', label));
    const after = this.#spent + toUnits(eps);
    if (after > this.#budget) {
      throw new LemmaError('ERR_BUDGET', `privacy budget exceeded: spending ε = ${eps} for '${label}' would bring the total to ${fromUnits(after)}, above the budget of ${this.epsilon} (remaining ${this.remaining})`);
    }
    this.#spent = after;
    const entry: LedgerEntry = Object.freeze({ label, epsilon: eps, spentAfter: fromUnits(after), at: new Date().toISOString() });
    this.#ledger.push(entry);
    return entry;
  }
}

/**
 * Creates a pure-ε privacy budget with basic composition.
 * @param options `{ epsilon }`: the total budget, a finite number > 0.
 * @returns a {@link PrivacyAccountant} with `spend(eps, label)`, `remaining`, `spent`, `ledger`.
 * @throws TypeError / RangeError for a bad epsilon.
 * @example
 * const budget = lemma.dp.accountant({ epsilon: 2 });
 * const kde = await lemma.dp.l1Kde(X, { epsilon: 1, range: 1, levels: 12, accountant: budget });
 * budget.remaining; // 1
 */
export function accountant(options: { epsilon: number }): PrivacyAccountant {
  const opts = checkOptions(options, 'options');
  checkKnownKeys(opts, 'options', ['epsilon']);
  const eps = checkNumber(opts.epsilon, 'options.epsilon', { min: 0, exclusiveMin: true });
  return new PrivacyAccountant(eps);
}
