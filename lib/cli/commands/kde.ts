/**
 * `lemma kde build|query|release`: the differentially private L1 KDE of lemma.dp (arXiv 2409.01688,
 * and the Backurs et al. baseline) from the command line.
 *   lemma kde build --data X.npy|X.csv --epsilon E --range R (--levels L | --max-rows N) --out release.json
 *       [--grid-bits q] [--neighbour add-remove|replace] [--structure tree|baseline] [--variant ...]
 *       [--budget B] [--ledger ledger.json] [--label T] [--seed S] [--encoding ...] [--json]
 *   lemma kde query --release release.json --queries Q.npy|Q.csv [--out est.npy|est.csv] [--device ...] [--json]
 *   lemma kde release --release release.json [--at Y.npy|Y.csv] [--ledger ledger.json] [--out copy.json --encoding ...] [--json]
 *
 * Why `build` writes the release: lemma.dp.l1Kde is private from the moment it exists. The exact
 * tree lives only inside the build (the noise is added in place before the call returns) and the
 * object keeps only public parameters and noisy integers, so there is no non-private structure to
 * save and release later. `build` therefore spends ε and writes the release document;
 * `release` is post-processing of a release (no budget): its public parameters, guarantee and
 * error bound (errorStd at points), the budget of a ledger, and a re-encoded copy.
 *
 * The budget: lemma.dp.accountant, made persistent by a ledger file (every accepted charge,
 * replayed into a fresh accountant at the next build), so several releases of one dataset stay
 * within one total ε; a build that would exceed it fails with ERR_BUDGET and writes nothing.
 * Data hygiene: nothing derived from the data except the release is printed (not even n, which
 * is private under add-remove neighbours), and messages about the data name positions, not values.
 */
import { access, constants, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command, Commander } from '../shared.js';
import { UsageError, dims, integerArg, interruptible, numberArg, oneOf, printJson } from '../shared.js';
import { progressBar } from '../progress.js';
import { LemmaError } from '../../errors.js';
import { AbortError } from '../../validation/options.js';
import type { L1KdeDocument, LedgerEntry, PrivacyAccountant, PrivateL1Kde, BaselineL1Kde } from '../../dp/index.js';

// ------------------------------------------------------------------------- matrices in and out

/** A [rows, cols] float64 matrix read from .npy or CSV. */
export interface Matrix { data: Float64Array; rows: number; cols: number }

const NUMBER = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;
const NON_FINITE = /^[-+]?(?:nan|inf|infinity)$/i;

/**
 * Numbers in CSV: comma-separated, one row per line, an optional header (a first line with no
 * number in it), blank lines ignored. NaN / Inf are read (and refused later as non-finite);
 * anything else that is not a number is ERR_FORMAT. `secret`: messages never quote a field.
 */
export function parseCsv(text: string, where: string, secret: boolean): Matrix {
  const lines = text.split(/\r?\n/);
  const values: number[] = [];
  let cols = -1, rows = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const fields = line.split(',').map((f) => f.trim());
    const numeric = fields.map((f) => NUMBER.test(f) || NON_FINITE.test(f));
    if (cols === -1 && rows === 0 && !numeric.some(Boolean)) {
      cols = fields.length; // the header: its width is the table's
      continue;
    }
    const bad = numeric.indexOf(false);
    if (bad >= 0) {
      throw new LemmaError('ERR_FORMAT', `${where}: line ${i + 1}, column ${bad + 1} is not a number${secret ? ' (private data: the value is not shown)' : `: '${fields[bad].slice(0, 40)}'`}`);
    }
    if (cols === -1) cols = fields.length;
    if (fields.length !== cols) throw new LemmaError('ERR_SHAPE', `${where}: line ${i + 1} has ${fields.length} values, expected ${cols}`);
    for (const f of fields) values.push(NON_FINITE.test(f) ? (/nan/i.test(f) ? NaN : f.startsWith('-') ? -Infinity : Infinity) : Number(f));
    rows++;
  }
  if (rows === 0) throw new LemmaError('ERR_SHAPE', `${where}: no rows of numbers`);
  return { data: Float64Array.from(values), rows, cols };
}

/**
 * A matrix from `file`: .npy ([n, d], or [n] read as [n, 1]; float32, float64 or int32, as
 * float64) or .csv. Every value must be finite (RangeError-class problem: LemmaError ERR_RANGE).
 */
export async function readMatrix(file: string, option: string, secret: boolean): Promise<Matrix> {
  let m: Matrix;
  if (/\.npy$/i.test(file)) {
    const io = await import('../../io/index.js');
    const t = await io.readNpy(file);
    if (t.dtype === 'bool') throw new LemmaError('ERR_DTYPE', `${option} ${file} holds bool; expected float32, float64 or int32`);
    if (t.shape.length !== 1 && t.shape.length !== 2) throw new LemmaError('ERR_SHAPE', `${option} ${file} has shape ${dims(t.shape)}; expected [n, d] or [n]`);
    const [rows, cols = 1] = t.shape;
    m = { data: t.data instanceof Float64Array ? t.data : Float64Array.from(t.data), rows, cols };
  } else if (/\.csv$/i.test(file)) {
    m = parseCsv(await readFile(file, 'utf8'), `${option} ${file}`, secret);
  } else {
    throw new UsageError(`${option} ${file}: expected a .npy or .csv file`);
  }
  if (m.cols < 1) throw new LemmaError('ERR_SHAPE', `${option} ${file} has no columns`);
  for (let i = 0; i < m.data.length; i++) {
    if (!Number.isFinite(m.data[i])) {
      throw new LemmaError('ERR_RANGE', `${option} ${file}: row ${Math.floor(i / m.cols)}, column ${i % m.cols} is not a finite number${secret ? ' (private data: the value is not shown)' : ''}; lemma takes finite numbers only`);
    }
  }
  return m;
}

/** The least and the largest value (no spread into Math.min: arrays may hold millions). */
export function minOf(a: ArrayLike<number>): number {
  let m = Infinity;
  for (let i = 0; i < a.length; i++) if (a[i] < m) m = a[i];
  return m;
}
export function maxOf(a: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < a.length; i++) if (a[i] > m) m = a[i];
  return m;
}

/** A CSV of columns (header `names`). */
function toCsv(names: string[], columns: ArrayLike<number>[]): string {
  const n = columns[0]?.length ?? 0;
  const lines = [names.join(',')];
  for (let i = 0; i < n; i++) lines.push(columns.map((c) => String(c[i])).join(','));
  return lines.join('\n') + '\n';
}

/** Writes `text` next to `file` and renames it into place (no half-written file on a failure). */
async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  await writeFile(tmp, text);
  await rename(tmp, file);
}

/**
 * Writes a release document as JSON piece by piece (one coordinate's array at a time), so a
 * release larger than V8's longest string (~512 MiB: e.g. d = 8, levels 20 as arrays) is still
 * written; the same text JSON.stringify would give. Returns the bytes written.
 */
async function writeDocument(file: string, doc: L1KdeDocument): Promise<number> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const fh = await open(tmp, 'w');
  let bytes = 0;
  const put = async (text: string) => {
    bytes += Buffer.byteLength(text);
    await fh.write(text);
  };
  try {
    const entries = Object.entries(doc);
    for (let i = 0; i < entries.length; i++) {
      const [key, value] = entries[i];
      await put(`${i === 0 ? '{' : ','}${JSON.stringify(key)}:`);
      if (Array.isArray(value) && (key === 'counts' || key === 'sums')) {
        for (let j = 0; j < value.length; j++) await put(`${j === 0 ? '[' : ','}${JSON.stringify(value[j])}`);
        await put(value.length === 0 ? '[]' : ']');
      } else await put(JSON.stringify(value));
    }
    await put('}');
    await fh.close();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await rename(tmp, file);
  return bytes;
}

/** Fails before any work (and before any budget is spent) when `file` cannot be written. */
async function checkWritable(file: string, option: string): Promise<void> {
  try {
    await access(path.dirname(path.resolve(file)), constants.W_OK);
  } catch (e) {
    throw new LemmaError('ERR_FORMAT', `${option} ${file}: cannot write into ${path.dirname(path.resolve(file))} (${(e as { code?: string }).code ?? 'error'})`);
  }
}

function outName(cm: Commander, pattern: RegExp, what: string): (value: string) => string {
  return (value: string) => {
    if (!pattern.test(value)) throw new cm.InvalidArgumentError(`expected a file name ending in ${what}`);
    return value;
  };
}

/** `--range`: R, lo,hi (all coordinates) or lo:hi,lo:hi,... (one pair per coordinate). */
function rangeArg(cm: Commander): (value: string) => number | [number, number] | Array<[number, number]> {
  return (value: string) => {
    const num = (s: string) => {
      const x = s.trim() === '' ? NaN : Number(s);
      if (!Number.isFinite(x)) throw new cm.InvalidArgumentError('expected R, lo,hi or lo:hi,lo:hi,... (finite numbers)');
      return x;
    };
    if (value.includes(':')) return value.split(',').map((p) => {
      const ends = p.split(':');
      if (ends.length !== 2) throw new cm.InvalidArgumentError('expected lo:hi pairs separated by commas');
      return [num(ends[0]), num(ends[1])] as [number, number];
    });
    const parts = value.split(',');
    if (parts.length === 1) return num(parts[0]);
    if (parts.length === 2) return [num(parts[0]), num(parts[1])];
    throw new cm.InvalidArgumentError('expected R, lo,hi or lo:hi,lo:hi,...');
  };
}

// ------------------------------------------------------------------------------------ ledger

interface LedgerFile { format: 'lemma.dp.ledger'; version: 1; budget: number; entries: LedgerEntry[] }

/**
 * The accountant of `--budget` / `--ledger`: a fresh one with the ledger's charges replayed (the
 * replay refuses a ledger whose charges exceed its budget: ERR_BUDGET), or one for this build.
 */
async function openBudget(opts: { budget?: number; ledger?: string }, epsilon: number): Promise<{ acc: PrivacyAccountant; budget: number; fromLedger: boolean; recorded: LedgerEntry[] }> {
  const dp = await import('../../dp/index.js');
  if (opts.ledger === undefined) {
    const budget = opts.budget ?? epsilon;
    return { acc: dp.accountant({ epsilon: budget }), budget, fromLedger: false, recorded: [] };
  }
  let doc: LedgerFile | undefined;
  try {
    doc = JSON.parse(await readFile(opts.ledger, 'utf8')) as LedgerFile;
  } catch (e) {
    if ((e as { code?: string }).code !== 'ENOENT') {
      if (e instanceof SyntaxError) throw new LemmaError('ERR_FORMAT', `--ledger ${opts.ledger}: ${e.message}`);
      throw e;
    }
  }
  if (doc === undefined) {
    if (opts.budget === undefined) throw new UsageError(`--ledger ${opts.ledger} does not exist yet: give the total budget with --budget to start it`);
    return { acc: dp.accountant({ epsilon: opts.budget }), budget: opts.budget, fromLedger: false, recorded: [] };
  }
  if (typeof doc !== 'object' || doc === null || doc.format !== 'lemma.dp.ledger' || !(doc.budget > 0) || !Array.isArray(doc.entries)) {
    throw new LemmaError('ERR_FORMAT', `--ledger ${opts.ledger}: not a lemma.dp.ledger file`);
  }
  if (opts.budget !== undefined && opts.budget !== doc.budget) {
    throw new UsageError(`--ledger ${opts.ledger} holds a total budget of ${doc.budget}; --budget ${opts.budget} differs (a ledger's budget is fixed when it is started)`);
  }
  const acc = dp.accountant({ epsilon: doc.budget });
  for (const e of doc.entries) {
    if (typeof e?.epsilon !== 'number' || typeof e.label !== 'string') throw new LemmaError('ERR_FORMAT', `--ledger ${opts.ledger}: a bad entry`);
    acc.spend(e.epsilon, e.label);
  }
  return { acc, budget: doc.budget, fromLedger: true, recorded: doc.entries };
}

/**
 * Holds `<ledger>.lock` (created exclusively, holding this process's pid) from reading the ledger
 * to writing it back, so that two builds against one ledger cannot both read the old entries and
 * lose a charge. A lock whose process is gone (e.g. a build killed by a second Ctrl-C) is taken
 * over; a live one is an EBUSY failure. Returns the release function.
 */
async function lockLedger(ledger: string): Promise<() => Promise<void>> {
  const lock = `${ledger}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(lock, 'wx');
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return async () => { await unlink(lock).catch(() => {}); };
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
    }
    const pid = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
    let alive = Number.isInteger(pid) && pid > 0;
    if (alive) {
      try {
        process.kill(pid, 0);
      } catch (e) {
        alive = (e as { code?: string }).code === 'EPERM';
      }
    }
    if (alive) {
      throw Object.assign(new Error(`--ledger ${ledger} is in use by another lemma kde build (pid ${pid}): one build at a time per ledger; remove ${lock} only if no build is running`), { code: 'EBUSY' });
    }
    await unlink(lock).catch(() => {});  // its process is gone: take it over
  }
  throw Object.assign(new Error(`--ledger ${ledger}: could not take ${lock}`), { code: 'EBUSY' });
}

async function saveLedger(file: string, budget: number, acc: PrivacyAccountant, recorded: readonly LedgerEntry[]): Promise<void> {
  // The replayed entries keep their recorded times; the new ones are the accountant's.
  const entries = acc.ledger.map((e, i) => (i < recorded.length ? recorded[i] : e));
  const doc: LedgerFile = { format: 'lemma.dp.ledger', version: 1, budget, entries };
  await writeAtomic(file, JSON.stringify(doc, null, 2) + '\n');
}

// ------------------------------------------------------------------------------- error bound

type Kde = PrivateL1Kde | BaselineL1Kde;

/** The centre of the public range (where `build` reports the noise std). */
function centre(kde: Kde): number[] {
  return kde.ranges.map(([lo, hi]) => (lo + hi) / 2);
}

/** What the answers' error consists of besides the zero-mean noise (public parameters only). */
function errorTerms(kde: Kde): { gridStep: number[]; leafWidth: number[]; leafBias: boolean; bandApproximation: boolean } {
  const q = kde.gridBits, L = kde.levels;
  return {
    gridStep: kde.ranges.map(([lo, hi]) => (hi - lo) / (2 ** q - 1)),
    leafWidth: kde.ranges.map(([lo, hi]) => (hi - lo) / 2 ** L),
    leafBias: L < q,
    bandApproximation: 'alpha' in kde && !('variant' in kde),
  };
}

function describeErrorTerms(kde: Kde): string {
  const e = errorTerms(kde);
  const first = (a: number[]) => (a.every((x) => x === a[0]) ? a[0].toPrecision(3) : `${minOf(a).toPrecision(3)} to ${maxOf(a).toPrecision(3)}`);
  return `besides the noise: quantisation to the grid (at most half a grid step ${first(e.gridStep)} per point and coordinate)` +
    (e.leafBias ? `, a leaf bias of at most (points in y's leaf) x leaf width ${first(e.leafWidth)} per coordinate (levels < gridBits)` : ', no leaf bias (levels = gridBits)') +
    (e.bandApproximation ? ', and the baseline\'s (1 + alpha) band approximation' : '');
}

function structureName(kde: Kde): string {
  return 'variant' in kde ? `tree (${(kde as PrivateL1Kde).variant})` : `baseline (alpha ${(kde as BaselineL1Kde).alpha})`;
}

function rangeText(kde: Kde): string {
  const r = kde.ranges;
  return r.every(([lo, hi]) => lo === r[0][0] && hi === r[0][1]) ? `[${r[0][0]}, ${r[0][1]}]` : r.map(([lo, hi]) => `[${lo}, ${hi}]`).join(' x ');
}

// ------------------------------------------------------------------------------------- build

interface BuildOptions {
  data: string; epsilon: number; range: number | [number, number] | Array<[number, number]>; out: string;
  levels?: number; maxRows?: number; gridBits?: number; neighbour: 'add-remove' | 'replace';
  structure: 'tree' | 'baseline'; variant?: 'midpoint' | 'paper'; budgetSplit?: number; alpha?: number; bandCounts?: 'independent' | 'prefix';
  consistency: boolean; budget?: number; ledger?: string; label?: string; seed?: number;
  encoding: 'array' | 'base64'; json?: boolean; progress: boolean;
}

async function buildAction(opts: BuildOptions): Promise<void> {
  if (opts.structure === 'baseline' && (opts.variant !== undefined || opts.budgetSplit !== undefined)) throw new UsageError('--variant and --budget-split are options of --structure tree');
  if (opts.structure === 'tree' && (opts.alpha !== undefined || opts.bandCounts !== undefined)) throw new UsageError('--alpha and --band-counts are options of --structure baseline');
  if (path.resolve(opts.out) === path.resolve(opts.data)) throw new UsageError('--out would overwrite --data');
  await checkWritable(opts.out, '--out');
  if (opts.ledger !== undefined) await checkWritable(opts.ledger, '--ledger');
  const X = await readMatrix(opts.data, '--data', true);
  const dp = await import('../../dp/index.js');
  const unlock = opts.ledger !== undefined ? await lockLedger(opts.ledger) : async () => {};
  let budgetState;
  try {
    budgetState = await openBudget(opts, opts.epsilon);
  } catch (e) {
    await unlock();
    throw e;
  }
  const { acc, budget, fromLedger, recorded } = budgetState;
  const label = opts.label ?? `lemma kde build ${path.basename(opts.out)}`;
  const common = {
    epsilon: opts.epsilon, range: opts.range, levels: opts.levels, maxRows: opts.maxRows, gridBits: opts.gridBits,
    neighbour: opts.neighbour, consistency: opts.consistency, accountant: acc, label,
    ...(opts.seed !== undefined ? { seed: opts.seed, insecureDeterministic: true } : {}),
  };
  if (opts.seed !== undefined) process.stderr.write('lemma: WARNING: --seed makes the noise deterministic: the release is NOT private (tests only)\n');
  const bar = progressBar('kde build', { enabled: opts.progress });
  const t0 = performance.now();
  let kde: Kde;
  try {
    kde = await interruptible(async (signal) => {
      // The exact tree (native), then the noise (most of the time for deep trees): one bar.
      const onProgress = (p: { done: number; total: number; fraction: number; elapsedSeconds: number; phase?: string }) => {
        bar.update(p, p.phase === 'noise' ? 'adding noise' : 'exact tree');
      };
      const X2 = { data: X.data, shape: [X.rows, X.cols] };
      try {
        return opts.structure === 'tree'
          ? await dp.l1Kde(X2, { ...common, variant: opts.variant, budgetSplit: opts.budgetSplit, signal, onProgress })
          : await dp.baselineL1Kde(X2, { ...common, alpha: opts.alpha, bandCounts: opts.bandCounts, signal, onProgress });
      } catch (e) {
        // The library checks the options before it touches the data: a bad combination is a usage error.
        if (e instanceof RangeError || e instanceof TypeError) throw new UsageError(e.message);
        throw e;
      }
    });
  } finally {
    bar.finish();
    X.data.fill(0); // our copy of the raw data
    // The charge stands once made (the library does not refund a build that fails after it).
    try {
      if (opts.ledger !== undefined && acc.ledger.length > recorded.length) await saveLedger(opts.ledger, budget, acc, recorded);
    } finally {
      await unlock();
    }
  }
  const ms = performance.now() - t0;
  const bytes = await writeDocument(opts.out, kde.release({ encoding: opts.encoding === 'base64' ? 'base64-float64le' : 'array' }));
  const at = centre(kde);
  const std = kde.errorStd(at);
  const summary = {
    out: opts.out, bytes, structure: 'variant' in kde ? 'tree' : 'baseline',
    variant: 'variant' in kde ? (kde as PrivateL1Kde).variant : null, epsilon: kde.epsilon, neighbour: kde.neighbour,
    d: kde.d, levels: kde.levels, gridBits: kde.gridBits, ranges: kde.ranges,
    budget: { total: budget, spent: acc.spent, remaining: acc.remaining, ledger: opts.ledger ?? null, releases: acc.ledger.length },
    errorStdAtCentre: std, centre: at, ...errorTerms(kde),
    insecureDeterministic: opts.seed !== undefined, ms: Math.round(ms * 1000) / 1000,
  };
  if (opts.json) {
    printJson(summary, true);
    return;
  }
  process.stdout.write(`private L1 KDE, ${structureName(kde)}: epsilon ${kde.epsilon}-DP (${kde.neighbour} neighbours), d ${kde.d}, levels ${kde.levels}, gridBits ${kde.gridBits}, range ${rangeText(kde)}, built in ${(ms / 1000).toFixed(2)} s\n` +
    `budget: spent ${acc.spent} of ${budget}, remaining ${acc.remaining}${opts.ledger !== undefined ? ` (ledger ${opts.ledger}, ${acc.ledger.length} release${acc.ledger.length === 1 ? '' : 's'}${fromLedger ? '' : ', started'})` : ''}\n` +
    `error: zero-mean noise of std ${std.toPrecision(4)} at the range's centre (lemma kde query reports it per query); ${describeErrorTerms(kde)}\n` +
    `wrote ${opts.out} (${(summary.bytes / 1024).toFixed(0)} KiB): public parameters and noisy integers only\n` +
    (opts.seed !== undefined ? 'WARNING: built with --seed (insecure deterministic noise): NOT private, for tests only\n' : ''));
}

// ------------------------------------------------------------------------------------- query

/** Loads a release document (ERR_FORMAT for a file that is not one). */
async function loadRelease(file: string): Promise<{ kde: Kde; doc: L1KdeDocument; bytes: number }> {
  if (/\.(npy|npz|csv|safetensors)$/i.test(file)) {
    throw new UsageError(`--release ${file} looks like raw data: it takes the JSON document lemma kde build wrote (raw data never goes into a query)`);
  }
  const dp = await import('../../dp/index.js');
  const text = await readFile(file, 'utf8');
  let doc: L1KdeDocument;
  try {
    doc = JSON.parse(text) as L1KdeDocument;
  } catch (e) {
    throw new LemmaError('ERR_FORMAT', `--release ${file}: ${(e as Error).message}`);
  }
  try {
    return { kde: dp.loadL1Kde(doc), doc, bytes: Buffer.byteLength(text) };
  } catch (e) {
    if (e instanceof RangeError || e instanceof TypeError) throw new LemmaError('ERR_FORMAT', `--release ${file} is not a valid lemma.dp release: ${e.message}`);
    throw e;
  }
}

/** errorStd of every row, in chunks between event-loop turns (so Ctrl-C and the bar work). */
async function errorStds(kde: Kde, Y: Matrix, signal: AbortSignal, onChunk: (done: number) => void): Promise<Float64Array> {
  const out = new Float64Array(Y.rows);
  const CHUNK = 2048;
  for (let i = 0; i < Y.rows; i += CHUNK) {
    if (signal.aborted) throw new AbortError('lemma kde query was aborted', { cause: signal.reason });
    const end = Math.min(Y.rows, i + CHUNK);
    for (let k = i; k < end; k++) out[k] = kde.errorStd(Y.data.subarray(k * Y.cols, (k + 1) * Y.cols));
    onChunk(end);
    await new Promise((r) => setImmediate(r));
  }
  return out;
}

interface QueryOptions { release: string; queries: string; out?: string; device: 'auto' | 'cpu' | 'cuda'; json?: boolean; progress: boolean }

async function queryAction(opts: QueryOptions): Promise<void> {
  if (opts.out !== undefined && [opts.release, opts.queries].some((f) => path.resolve(f) === path.resolve(opts.out!))) {
    throw new UsageError('--out would overwrite an input');
  }
  const { kde } = await loadRelease(opts.release);
  const Y = await readMatrix(opts.queries, '--queries', false);
  if (Y.cols !== kde.d) throw new LemmaError('ERR_SHAPE', `--queries ${opts.queries} has ${Y.cols} columns; the release has d = ${kde.d}`);
  const epsilon = kde.epsilon;
  const bar = progressBar('kde query', { enabled: opts.progress });
  const t0 = performance.now();
  let estimates: Float64Array, device: string, std: Float64Array;
  try {
    ({ estimates, device, std } = await interruptible(async (signal) => {
      const r = await kde.query({ data: Y.data, shape: [Y.rows, Y.cols] }, { device: opts.device, signal, onProgress: (p) => bar.update(p, 'estimates') });
      const t1 = performance.now();
      const s = await errorStds(kde, Y, signal, (done) => bar.update({ done, total: Y.rows, elapsedSeconds: (performance.now() - t1) / 1000 }, 'error std'));
      return { estimates: r.estimates, device: r.device, std: s };
    }));
  } finally {
    bar.finish();
    kde.dispose();
  }
  const ms = performance.now() - t0;
  if (opts.out !== undefined) {
    if (/\.npy$/i.test(opts.out)) {
      const io = await import('../../io/index.js');
      await io.writeNpy(opts.out, { data: estimates, shape: [Y.rows] });
    } else await writeFile(opts.out, toCsv(['estimate', 'error_std'], [estimates, std]));
  }
  let stdMin = Infinity, stdMax = 0;
  for (const s of std) { stdMin = Math.min(stdMin, s); stdMax = Math.max(stdMax, s); }
  if (opts.json) {
    printJson({
      queries: Y.rows, d: Y.cols, device, epsilon, errorStdMin: stdMin, errorStdMax: stdMax,
      ...(opts.out === undefined ? { estimates: Array.from(estimates), errorStd: Array.from(std) } : {}),
      outFile: opts.out ?? null, privacyCost: 0, ms: Math.round(ms * 1000) / 1000,
    }, true);
    return;
  }
  const head = `${Y.rows} queries in d = ${Y.cols} on ${device} in ${(ms / 1000).toFixed(2)} s from an epsilon ${epsilon} release (post-processing: no privacy cost); ` +
    `noise std ${stdMin.toPrecision(4)} to ${stdMax.toPrecision(4)}\n`;
  if (opts.out !== undefined) {
    process.stdout.write(head + `wrote ${opts.out}${/\.npy$/i.test(opts.out) ? ` (estimates [${Y.rows}] float64)` : ' (estimate, error_std)'}\n`);
    return;
  }
  const lines = [head.trimEnd(), 'estimate,error_std'];
  for (let k = 0; k < Y.rows; k++) lines.push(`${estimates[k]},${std[k]}`);
  process.stdout.write(lines.join('\n') + '\n');
}

// ----------------------------------------------------------------------------------- release

interface ReleaseOptions { release?: string; at?: string; ledger?: string; out?: string; encoding?: 'array' | 'base64'; json?: boolean }

async function releaseAction(opts: ReleaseOptions): Promise<void> {
  if (opts.release === undefined && opts.ledger === undefined) throw new UsageError('give --release (a release to describe), --ledger (a budget), or both');
  if (opts.release === undefined && (opts.at !== undefined || opts.out !== undefined)) throw new UsageError('--at and --out need --release');
  if (opts.encoding !== undefined && opts.out === undefined) throw new UsageError('--encoding applies to the copy written with --out');
  if (opts.out !== undefined && path.resolve(opts.out) === path.resolve(opts.release!)) throw new UsageError('--out would overwrite --release');
  let budget: { total: number; spent: number; remaining: number; ledger: string; entries: LedgerEntry[] } | null = null;
  if (opts.ledger !== undefined) {
    try {
      await stat(opts.ledger);
    } catch {
      throw new LemmaError('ERR_FORMAT', `--ledger ${opts.ledger} does not exist (lemma kde build --ledger starts one)`);
    }
    const { acc, budget: total, recorded } = await openBudget({ ledger: opts.ledger }, 1);
    budget = { total, spent: acc.spent, remaining: acc.remaining, ledger: opts.ledger, entries: recorded };
  }
  let described: Record<string, unknown> | null = null;
  const lines: string[] = [];
  if (opts.release !== undefined) {
    const { kde, doc, bytes } = await loadRelease(opts.release);
    try {
      let points: Matrix;
      let where: string;
      if (opts.at !== undefined) {
        points = await readMatrix(opts.at, '--at', false);
        if (points.cols !== kde.d) throw new LemmaError('ERR_SHAPE', `--at ${opts.at} has ${points.cols} columns; the release has d = ${kde.d}`);
        where = `at the ${points.rows} point${points.rows === 1 ? '' : 's'} of ${opts.at}`;
      } else {
        points = { data: Float64Array.from(centre(kde)), rows: 1, cols: kde.d };
        where = "at the range's centre";
      }
      const std = Array.from({ length: points.rows }, (_, k) => kde.errorStd(points.data.subarray(k * points.cols, (k + 1) * points.cols)));
      if (opts.out !== undefined) {
        const encoding = opts.encoding ?? (doc.encoding === 'base64-float64le' ? 'base64' : 'array');
        await writeDocument(opts.out, kde.release({ encoding: encoding === 'base64' ? 'base64-float64le' : 'array' }));
      }
      described = {
        release: opts.release, bytes, structure: doc.structure, variant: doc.variant ?? null, epsilon: kde.epsilon, neighbour: kde.neighbour,
        d: kde.d, levels: kde.levels, gridBits: kde.gridBits, ranges: kde.ranges, encoding: doc.encoding, consistency: doc.consistency ?? false,
        errorStd: std, errorStdMax: maxOf(std), ...errorTerms(kde), outFile: opts.out ?? null,
      };
      lines.push(`${opts.release} (${(bytes / 1024).toFixed(0)} KiB, ${doc.encoding}): private L1 KDE, ${structureName(kde)}, epsilon ${kde.epsilon}-DP for ${kde.neighbour} neighbours; d ${kde.d}, levels ${kde.levels}, gridBits ${kde.gridBits}, range ${rangeText(kde)}`);
      lines.push(`queries are post-processing: any number of them cost no further privacy`);
      lines.push(`error: zero-mean noise of std ${std.length === 1 ? std[0].toPrecision(4) : `${minOf(std).toPrecision(4)} to ${maxOf(std).toPrecision(4)}`} ${where}; ${describeErrorTerms(kde)}`);
      if (opts.out !== undefined) lines.push(`wrote ${opts.out}`);
    } finally {
      kde.dispose();
    }
  }
  if (budget) {
    lines.push(`budget (${budget.ledger}): spent ${budget.spent} of ${budget.total}, remaining ${budget.remaining}`);
    for (const e of budget.entries) lines.push(`  ${e.at}  epsilon ${e.epsilon}  ${e.label}`);
  }
  if (opts.json) {
    printJson({ ...(described ?? {}), budget }, true);
    return;
  }
  process.stdout.write(lines.join('\n') + '\n');
}

// ---------------------------------------------------------------------------------- commands

export function registerKde(program: Command, cm: Commander): void {
  const kde = program.command('kde').description('differentially private L1 kernel density estimation (lemma.dp): build a release, query it, describe it');
  kde
    .command('build')
    .description('build an epsilon-DP L1 KDE of the rows of --data and write the release (public parameters and noisy integers). ' +
      'The structure is private from the moment it is built (the exact tree never leaves the build), so building IS releasing: this spends epsilon')
    .requiredOption('--data <file>', 'the private points [n, d]: .npy (float32/float64/int32) or .csv (numbers, optional header)')
    .requiredOption('--epsilon <E>', 'privacy budget of this release (pure epsilon-DP)', numberArg(cm, true))
    .requiredOption('--range <R>', 'public data range: R (every coordinate in [0, R]), lo,hi (all coordinates) or lo:hi,lo:hi,... (one per coordinate); values outside are clamped', rangeArg(cm))
    .requiredOption('--out <file>', 'where to write the release (.json)', outName(cm, /\.json$/i, '.json'))
    .option('--levels <L>', 'tree depth (1 to 26); with add-remove neighbours give --levels or --max-rows', integerArg(cm, 1, 26))
    .option('--max-rows <N>', 'a public upper bound on the rows (sets the depth when --levels is not given)', integerArg(cm, 1))
    .option('--grid-bits <q>', 'grid resolution: 2^q values per coordinate (levels to 32; default max(20, levels))', integerArg(cm, 1, 32))
    .option('--neighbour <relation>', 'add-remove or replace', oneOf(cm, ['add-remove', 'replace'] as const), 'add-remove')
    .option('--structure <s>', 'tree (arXiv 2409.01688) or baseline (Backurs et al. ICLR 2024)', oneOf(cm, ['tree', 'baseline'] as const), 'tree')
    .option('--variant <v>', 'tree: midpoint (default) or paper', oneOf(cm, ['midpoint', 'paper'] as const))
    .option('--budget-split <f>', "tree, variant paper: share of epsilon for the counts, in (0, 1)", numberArg(cm, true))
    .option('--alpha <a>', 'baseline: band growth (default 0.5)', numberArg(cm, true))
    .option('--band-counts <mode>', 'baseline: independent (default) or prefix', oneOf(cm, ['independent', 'prefix'] as const))
    .option('--no-consistency', 'answer from the raw noisy tree, not its least-squares consistent fit')
    .option('--budget <B>', 'total epsilon budget (default: --epsilon; with a new --ledger, the ledger\'s budget); a build beyond it fails with ERR_BUDGET', numberArg(cm, true))
    .option('--ledger <file>', 'a JSON ledger of the releases of this dataset: their charges count against its budget (one build at a time: <file>.lock is held from reading the ledger to writing it; a second build fails with EBUSY)')
    .option('--label <text>', 'what this release is, in the ledger')
    .option('--seed <S>', 'INSECURE: deterministic noise for tests; the release is then NOT private', integerArg(cm, 0))
    .option('--encoding <e>', 'array (plain integers, auditable) or base64 (fp64 bytes, ~3x smaller)', oneOf(cm, ['array', 'base64'] as const), 'array')
    .option('--json', 'print the summary as JSON')
    .option('--no-progress', 'no progress bar on stderr')
    .action(buildAction);
  kde
    .command('query')
    .description('estimate F(y) = sum_i |x_i - y|_1 for every row y of --queries from a release alone (post-processing: no privacy cost), with the noise std of each answer')
    .requiredOption('--release <file>', 'a release written by lemma kde build (.json)')
    .requiredOption('--queries <file>', 'query points [q, d]: .npy or .csv')
    .option('--out <file>', 'write the answers: .npy (estimates [q] float64) or .csv (estimate, error_std); default: print them', outName(cm, /\.(npy|csv)$/i, '.npy or .csv'))
    .option('--device <device>', 'auto, cpu or cuda', oneOf(cm, ['auto', 'cpu', 'cuda'] as const), 'auto')
    .option('--json', 'print the summary (and, without --out, the answers) as JSON')
    .option('--no-progress', 'no progress bar on stderr')
    .action(queryAction);
  kde
    .command('release')
    .description('describe a release (public parameters, guarantee, error bound) and/or a budget ledger; --out writes a copy in another encoding. ' +
      'Post-processing only: it reads no data and spends no budget (lemma kde build is what releases)')
    .option('--release <file>', 'a release written by lemma kde build (.json)')
    .option('--at <file>', 'points [m, d] (.npy or .csv) at which to report the noise std (default: the range\'s centre)')
    .option('--ledger <file>', 'a budget ledger of lemma kde build --ledger: spent, remaining and each release')
    .option('--out <file>', 'write a copy of the release (.json)', outName(cm, /\.json$/i, '.json'))
    .option('--encoding <e>', 'the copy\'s encoding: array or base64 (default: as the release)', oneOf(cm, ['array', 'base64'] as const))
    .option('--json', 'print the description as JSON')
    .action(releaseAction);
}
