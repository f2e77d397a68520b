/**
 * What the `lemma` commands share: the commander module (loaded once by main.ts and handed to each
 * command file), the usage error, value parsers for options, and the Ctrl-C helper that turns
 * SIGINT into an AbortSignal for the native work.
 */
import type * as CommanderNs from 'commander';

/** The commander module (ESM-only, so main.ts loads it with a dynamic import). */
export type Commander = typeof CommanderNs;
export type Command = CommanderNs.Command;

/** Exit codes of `lemma` (documented in `lemma --help` and the README). */
export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

/** A usage problem found by a command after parsing (e.g. a value the library refused): exit 2 with the usage. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Parser for an integer option in [min, max]; accepts 1e9 and 0x10 forms that are exact integers. */
export function integerArg(cm: Commander, min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    const n = value.trim() === '' ? NaN : Number(value);
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new cm.InvalidArgumentError(max === Number.MAX_SAFE_INTEGER ? `expected an integer >= ${min}` : `expected an integer from ${min} to ${max}`);
    }
    return n;
  };
}

/** Parser for a finite number option (> 0 when `positive`). */
export function numberArg(cm: Commander, positive = false): (value: string) => number {
  return (value: string) => {
    const n = value.trim() === '' ? NaN : Number(value);
    if (!Number.isFinite(n) || (positive && !(n > 0))) throw new cm.InvalidArgumentError(positive ? 'expected a positive number' : 'expected a finite number');
    return n;
  };
}

/** A string option limited to `choices` (commander's Option.choices, for options built with .option()). */
export function oneOf<T extends string>(cm: Commander, choices: readonly T[]): (value: string) => T {
  return (value: string) => {
    if (!(choices as readonly string[]).includes(value)) throw new cm.InvalidArgumentError(`expected one of ${choices.join(', ')}`);
    return value as T;
  };
}

/** True for the AbortError lemma's long work rejects with (name 'AbortError', code 'ABORT_ERR'). */
export function isAbortError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as Error).name === 'AbortError';
}

/**
 * Runs `work` with an AbortSignal that the first Ctrl-C (SIGINT) aborts: lemma stops the native
 * work at its next task and rejects with an AbortError, which main.ts turns into "interrupted" and
 * exit 130. A second Ctrl-C exits 130 at once. Outside `interruptible`, SIGINT keeps Node's default
 * (the process ends at once; shells report 130).
 */
export async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let count = 0;
  const onSigint = () => {
    count += 1;
    if (count === 1) controller.abort(new Error('interrupted (SIGINT)'));
    else {
      process.stderr.write('lemma: interrupted\n');
      process.exit(EXIT.interrupted);
    }
  };
  process.on('SIGINT', onSigint);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** Prints `value` as JSON on stdout: two-space indent, or one line when `compact`. */
export function printJson(value: unknown, compact = false): void {
  process.stdout.write((compact ? JSON.stringify(value) : JSON.stringify(value, null, 2)) + '\n');
}

/** A typed array or shape printed as [a, b, c]. */
export function dims(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
