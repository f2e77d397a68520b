/**
 * A one-line progress bar on stderr for `lemma` commands that may run for seconds:
 *   attention  42% [########···········]  1.3s  ETA 1.8s  acceptance 0.41
 * Drawn only when stderr is a terminal (and not with --no-progress), at most every 100 ms, and not
 * before the work has run for `delayMs` (so quick runs print nothing); `finish()` clears the line.
 */

/** What lemma's onProgress callbacks report (subleq's has no elapsedSeconds: the bar times itself). */
export interface ProgressReport {
  done: number;
  total: number;
  fraction?: number;
  elapsedSeconds?: number;
}

/** Seconds as "0.4s", "12.3s", "4m05s", "2h03m". */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 60) return `${s.toFixed(1)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** The bar's text for a fraction done after `elapsed` seconds (ETA from the rate so far). */
export function formatProgress(label: string, fraction: number, elapsed: number, extra = '', width = 24): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.round(f * width);
  const eta = f > 0 ? formatSeconds((elapsed * (1 - f)) / f) : '?';
  const pct = `${Math.floor(f * 100)}%`.padStart(4);
  return `${label} ${pct} [${'#'.repeat(filled)}${'·'.repeat(width - filled)}] ${formatSeconds(elapsed)}  ETA ${eta}${extra ? `  ${extra}` : ''}`;
}

export interface ProgressBar {
  /** An onProgress callback for lemma; `extra` adds text after the ETA (e.g. acceptance). */
  update(p: ProgressReport, extra?: string): void;
  /** Clears the line (call once the work ends, also on errors). */
  finish(): void;
}

export interface ProgressBarOptions {
  /** false: draw nothing (--no-progress). Default true. */
  enabled?: boolean;
  /** Where to draw; default process.stderr. Only a TTY gets a bar. */
  stream?: NodeJS.WriteStream;
  /** Wait this long before the first draw. Default 500 ms. */
  delayMs?: number;
}

/** A progress bar for one piece of work, or a no-op one when stderr is not a terminal. */
export function progressBar(label: string, options: ProgressBarOptions = {}): ProgressBar {
  const stream = options.stream ?? process.stderr;
  const enabled = (options.enabled ?? true) && stream.isTTY === true;
  const delayMs = options.delayMs ?? 500;
  const t0 = performance.now();
  let last = -Infinity;
  let drawn = false;
  return {
    update(p, extra = '') {
      if (!enabled) return;
      const now = performance.now();
      if (now - t0 < delayMs || now - last < 100) return;
      last = now;
      const fraction = p.fraction ?? (p.total > 0 ? p.done / p.total : 0);
      const elapsed = p.elapsedSeconds ?? (now - t0) / 1000;
      const columns = stream.columns || 80;
      stream.write(`\r\x1b[2K${formatProgress(label, fraction, elapsed, extra).slice(0, columns - 1)}`);
      drawn = true;
    },
    finish() {
      if (drawn) stream.write('\r\x1b[2K');
      drawn = false;
    },
  };
}
