/**
 * `lemma loop certify|enumerate`: fixed points of the looped network x <- g(Wx + b) (lemma.looped)
 * with their interval certificates.
 *   lemma loop certify (--weights W.npz|W.safetensors|W.json | --preset poly3|tanh2 [--d N] [--eta E])
 *       [--activation g] [--x0 X.npy|X.csv [--radius r] [--max-steps N] [--tol t] [--noise n --seed S] [--out x.npy|x.csv]]
 *       [--lo v --hi v] [--delta δ] [--json] [--no-progress]
 *     With --x0: iterates every start to its fixed point (lemma.looped.iterate), then certifies the
 *     box x* ± r around each end point (lemma.looped.certifyBoxSync). Otherwise certifies the box
 *     --lo/--hi (a preset's default: its box on every coordinate). A certificate `ok` proves one
 *     fixed point in the box, contraction K < 1, noisy runs ending within δ/(1 − K) of it.
 *   lemma loop enumerate (--weights ... | --preset ...) [--box lo,hi] [--negative lo,hi] [--delta δ] ...
 *     lemma.looped.enumerateFixedPoints: certifies all 2^d sign boxes (a sample of them for d > 20)
 *     and iterates each certified box's centre to its fixed point.
 *   lemma loop subleq run ...: the same command as `lemma subleq run` (the ReLU-MLP computer).
 * Weights: .npz / .safetensors with tensors W [d, d] and b [d] (b optional: zeros) of any float
 * dtype, or JSON { "W": [[...]], "b": [...], "activation": "tanh" }; everything runs in fp64.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { Command, Commander } from '../shared.js';
import { UsageError, dims, integerArg, interruptible, numberArg, oneOf, printJson } from '../shared.js';
import { progressBar } from '../progress.js';
import { LemmaError } from '../../errors.js';
import { AbortError } from '../../validation/options.js';
import { maxOf, minOf, readMatrix } from './kde.js';
import { registerSubleq } from './subleq.js';
import type { Certificate } from '../../looped/index.js';

const ACTIVATION_NAMES = ['poly3', 'tanh2', 'tanh', 'relu', 'gelu'] as const;
type ActivationName = (typeof ACTIVATION_NAMES)[number];

interface NetworkOptions { weights?: string; preset?: 'poly3' | 'tanh2'; d?: number; eta?: number; presetSeed?: number; activation?: ActivationName }

interface Net {
  W: { data: Float64Array; shape: [number, number] };
  b: Float64Array;
  d: number;
  activation: ActivationName;
  from: string;
  /** The preset's box (one interval for every coordinate), when the network is a preset. */
  box?: [number, number];
}

function toF64(data: ArrayLike<number>): Float64Array {
  return data instanceof Float64Array ? data : Float64Array.from(data);
}

/** A JSON matrix [[...], ...] (or a flat array with d²) as a flat Float64Array. */
function jsonNumbers(v: unknown, where: string): Float64Array {
  const flat = Array.isArray(v) && v.every((r) => Array.isArray(r)) ? (v as unknown[][]).flat() : v;
  if (!Array.isArray(flat) || !flat.every((x) => typeof x === 'number')) throw new LemmaError('ERR_FORMAT', `${where}: expected an array of numbers (or of rows of numbers)`);
  return Float64Array.from(flat as number[]);
}

async function readNetwork(opts: NetworkOptions): Promise<Net> {
  if ((opts.weights === undefined) === (opts.preset === undefined)) throw new UsageError('give the network either as --weights <file> or as --preset poly3|tanh2');
  if (opts.weights !== undefined && (opts.d !== undefined || opts.eta !== undefined || opts.presetSeed !== undefined)) throw new UsageError('--d, --eta and --preset-seed go with --preset');
  const looped = await import('../../looped/index.js');
  if (opts.preset !== undefined) {
    if (opts.activation !== undefined && opts.activation !== opts.preset) throw new UsageError(`--preset ${opts.preset} has activation ${opts.preset}; leave out --activation`);
    let p;
    try {
      p = looped.preset(opts.preset, { d: opts.d, eta: opts.eta, seed: opts.presetSeed });
    } catch (e) {
      if (e instanceof RangeError || e instanceof TypeError) throw new UsageError(e.message);
      throw e;
    }
    return { W: { data: p.W.data, shape: [p.W.shape[0], p.W.shape[1]] }, b: p.b, d: p.W.shape[0], activation: p.activation, box: p.box,
      from: `preset ${opts.preset} (d ${p.W.shape[0]}, eta ${p.eta}, seed ${p.seed})` };
  }
  const file = opts.weights!;
  let W: Float64Array, Wshape: number[], b: Float64Array | undefined, activation: unknown = opts.activation;
  if (/\.(npz|safetensors)$/i.test(file)) {
    const io = await import('../../io/index.js');
    const tensors = /\.npz$/i.test(file) ? await io.readNpz(file) : (await io.readSafetensors(file)).tensors;
    const w = tensors.W;
    if (w === undefined) throw new LemmaError('ERR_FORMAT', `--weights ${file} has no tensor named W (it has ${Object.keys(tensors).join(', ') || 'none'})`);
    for (const [name, t] of [['W', w], ['b', tensors.b]] as const) {
      if (t && t.dtype !== 'float32' && t.dtype !== 'float64') throw new LemmaError('ERR_DTYPE', `--weights ${file}: ${name} holds ${t.dtype}; expected float32 or float64`);
    }
    W = toF64(w.data);
    Wshape = w.shape;
    if (tensors.b !== undefined) {
      if (tensors.b.shape.length !== 1) throw new LemmaError('ERR_SHAPE', `--weights ${file}: b has shape ${dims(tensors.b.shape)}; expected [d]`);
      b = toF64(tensors.b.data);
    }
  } else if (/\.json$/i.test(file)) {
    let doc: { W?: unknown; b?: unknown; activation?: unknown };
    try {
      doc = JSON.parse(await readFile(file, 'utf8')) as typeof doc;
    } catch (e) {
      if (e instanceof SyntaxError) throw new LemmaError('ERR_FORMAT', `--weights ${file}: ${e.message}`);
      throw e;
    }
    W = jsonNumbers(doc?.W, `--weights ${file}: W`);
    const side = Math.round(Math.sqrt(W.length));
    Wshape = Array.isArray(doc.W) && (doc.W as unknown[]).every((r) => Array.isArray(r)) ? [(doc.W as unknown[]).length, side] : [side, side];
    if (side * side !== W.length) Wshape = [W.length];
    if (doc.b !== undefined) b = jsonNumbers(doc.b, `--weights ${file}: b`);
    if (doc.activation !== undefined) {
      if (opts.activation !== undefined && opts.activation !== doc.activation) throw new UsageError(`--weights ${file} names activation '${String(doc.activation)}'; --activation ${opts.activation} differs`);
      if (!(ACTIVATION_NAMES as readonly unknown[]).includes(doc.activation)) throw new LemmaError('ERR_FORMAT', `--weights ${file}: activation must be one of ${ACTIVATION_NAMES.join(', ')}`);
      activation = doc.activation;
    }
  } else {
    throw new UsageError(`--weights ${file}: expected a .npz, .safetensors or .json file`);
  }
  if (Wshape.length !== 2 || Wshape[0] !== Wshape[1] || Wshape[0] < 1) throw new LemmaError('ERR_SHAPE', `--weights ${file}: W has shape ${dims(Wshape)}; expected a square [d, d]`);
  const d = Wshape[0];
  if (activation === undefined) throw new UsageError(`--weights ${file} names no activation: give --activation (${ACTIVATION_NAMES.join(', ')})`);
  b ??= new Float64Array(d);
  if (b.length !== d) throw new LemmaError('ERR_SHAPE', `--weights ${file}: b has ${b.length} values; W is [${d}, ${d}]`);
  for (const [name, a] of [['W', W], ['b', b]] as const) {
    const i = a.findIndex((x) => !Number.isFinite(x));
    if (i >= 0) throw new LemmaError('ERR_RANGE', `--weights ${file}: ${name}[${i}] is not a finite number`);
  }
  return { W: { data: W, shape: [d, d] }, b, d, activation: activation as ActivationName, from: file };
}

/** A finite number >= 0. */
function nonNegative(cm: Commander): (value: string) => number {
  return (value: string) => {
    const n = value.trim() === '' ? NaN : Number(value);
    if (!Number.isFinite(n) || n < 0) throw new cm.InvalidArgumentError('expected a number >= 0');
    return n;
  };
}

/** A number, or d comma-separated numbers. */
function vectorArg(cm: Commander): (value: string) => number[] {
  return (value: string) => {
    const xs = value.split(',').map((s) => (s.trim() === '' ? NaN : Number(s)));
    if (!xs.every(Number.isFinite)) throw new cm.InvalidArgumentError('expected a number or comma-separated numbers');
    return xs;
  };
}

function intervalArg(cm: Commander): (value: string) => [number, number] {
  return (value: string) => {
    const xs = value.split(',').map((s) => (s.trim() === '' ? NaN : Number(s)));
    if (xs.length !== 2 || !xs.every(Number.isFinite) || !(xs[0] < xs[1])) throw new cm.InvalidArgumentError('expected lo,hi with lo < hi');
    return [xs[0], xs[1]];
  };
}

function boxSide(v: number[], d: number, name: string): Float64Array {
  if (v.length === 1) return new Float64Array(d).fill(v[0]);
  if (v.length !== d) throw new UsageError(`${name} has ${v.length} values; give one number or d = ${d}`);
  return Float64Array.from(v);
}

function outFile(cm: Commander): (value: string) => string {
  return (value: string) => {
    if (!/\.(npy|csv)$/i.test(value)) throw new cm.InvalidArgumentError('expected a file name ending in .npy or .csv');
    return value;
  };
}

async function writeMatrix(file: string, data: Float64Array, rows: number, cols: number): Promise<void> {
  if (/\.npy$/i.test(file)) {
    const io = await import('../../io/index.js');
    await io.writeNpy(file, { data, shape: [rows, cols] });
    return;
  }
  const lines = [Array.from({ length: cols }, (_, j) => `x${j}`).join(',')];
  for (let i = 0; i < rows; i++) lines.push(Array.from(data.subarray(i * cols, (i + 1) * cols), String).join(','));
  await writeFile(file, lines.join('\n') + '\n');
}

const round = (x: number) => Math.round(x * 1000) / 1000;
const p4 = (x: number) => (Number.isFinite(x) ? x.toPrecision(4) : String(x));

/** The part of a certificate worth printing (no image enclosure). */
function certJson(c: Certificate, tol: number, withBox: boolean, stepsToReach: (c: Certificate, eps: number) => number) {
  const steps = stepsToReach(c, tol);
  return {
    ok: c.ok, reason: c.reason ?? null, coordinate: c.coordinate, K: c.K, margin: c.margin, floor: Number.isFinite(c.floor) ? c.floor : null,
    radius: c.radius, diameter: c.diameter, delta: c.delta, stepsToTol: Number.isFinite(steps) ? steps : null, method: c.method,
    ...(withBox ? { lo: Array.from(c.lo), hi: Array.from(c.hi) } : {}),
  };
}

function certLine(c: Certificate, tol: number, stepsToReach: (c: Certificate, eps: number) => number, short = false): string {
  if (short) return c.ok ? `certified, K ${p4(c.K)}, margin ${p4(c.margin)}` : `NOT certified: ${c.reason}, K ${p4(c.K)}`;
  if (!c.ok) return `NOT certified: ${c.reason} (coordinate ${c.coordinate}, K ${p4(c.K)}, margin ${p4(c.margin)})`;
  return `certified: one fixed point in the box (radius ${p4(c.radius)}), contraction K ${p4(c.K)}, margin ${p4(c.margin)}, ` +
    `noise floor delta/(1-K) ${p4(c.floor)}, within ${tol} of it after ${stepsToReach(c, tol)} steps from anywhere in the box`;
}

// ----------------------------------------------------------------------------------- certify

interface CertifyOptions extends NetworkOptions {
  x0?: string; radius: number; maxSteps: number; tol: number; noise?: number; seed?: number; out?: string;
  lo?: number[]; hi?: number[]; delta: number; json?: boolean; progress: boolean;
}

const SHOWN = 10;

async function certifyAction(opts: CertifyOptions): Promise<void> {
  if ((opts.lo === undefined) !== (opts.hi === undefined)) throw new UsageError('--lo and --hi go together');
  if (opts.x0 !== undefined && opts.lo !== undefined) throw new UsageError('give either --x0 (certify a box around each end point) or --lo/--hi (certify that box)');
  if (opts.x0 === undefined && (opts.out !== undefined || opts.noise !== undefined || opts.seed !== undefined)) throw new UsageError('--out, --noise and --seed go with --x0');
  if (opts.seed !== undefined && opts.noise === undefined) throw new UsageError('--seed seeds the noise: give --noise');
  const net = await readNetwork(opts);
  const looped = await import('../../looped/index.js');
  const { d } = net;
  const header = `network: d ${d}, activation ${net.activation}, from ${net.from}`;
  const certify = (lo: Float64Array, hi: Float64Array) => looped.certifyBoxSync({ W: net.W, b: net.b, activation: net.activation, lo, hi, delta: opts.delta });
  if (opts.x0 === undefined) {
    let lo: Float64Array, hi: Float64Array;
    if (opts.lo !== undefined) {
      lo = boxSide(opts.lo, d, '--lo');
      hi = boxSide(opts.hi!, d, '--hi');
      const bad = lo.findIndex((x, k) => !(x <= hi[k]));
      if (bad >= 0) throw new UsageError(`the box is empty: --lo ${lo[bad]} > --hi ${hi[bad]} at coordinate ${bad}`);
    } else if (net.box) {
      lo = new Float64Array(d).fill(net.box[0]);
      hi = new Float64Array(d).fill(net.box[1]);
    } else {
      throw new UsageError('give a box with --lo and --hi, or starts with --x0');
    }
    const c = certify(lo, hi);
    if (opts.json) {
      printJson({ d, activation: net.activation, network: net.from, certificate: certJson(c, opts.tol, true, looped.stepsToReach) }, true);
      return;
    }
    const box = lo.every((x) => x === lo[0]) && hi.every((x) => x === hi[0]) ? `[${lo[0]}, ${hi[0]}]^${d}` : `[${Array.from(lo).join(', ')}] to [${Array.from(hi).join(', ')}]`;
    process.stdout.write(`${header}\nbox ${box}, noise bound delta ${opts.delta}: ${certLine(c, opts.tol, looped.stepsToReach)}\n`);
    return;
  }
  const X = await readMatrix(opts.x0, '--x0', false);
  if (X.cols !== d) throw new LemmaError('ERR_SHAPE', `--x0 ${opts.x0} has ${X.cols} columns; the network has d = ${d}`);
  const bar = progressBar('loop', { enabled: opts.progress });
  const t0 = performance.now();
  let r: Awaited<ReturnType<typeof looped.iterate>>;
  const certs: Certificate[] = [];
  try {
    r = await interruptible(async (signal) => {
      const it = await looped.iterate({
        W: net.W, b: net.b, activation: net.activation, x0: { data: X.data, shape: [X.rows, d] },
        maxSteps: opts.maxSteps, tol: opts.tol, noise: opts.noise, seed: opts.seed, history: false, signal,
        onProgress: (p) => bar.update({ done: p.done, total: p.total }, `${p.active} starts running`),
      });
      // One certificate per end point, in chunks between event-loop turns (Ctrl-C, the bar).
      const x = it.x.data as Float64Array;
      for (let s = 0; s < X.rows; s++) {
        const p = x.subarray(s * d, (s + 1) * d);
        certs.push(Number.isFinite(it.residual[s]) && p.every(Number.isFinite)
          ? certify(p.map((v) => v - opts.radius), p.map((v) => v + opts.radius))
          : { ok: false, reason: 'not-self-map', coordinate: 0, K: Infinity, lo: p, hi: p, radius: opts.radius, diameter: 2 * opts.radius, delta: opts.delta, floor: Infinity, margin: -Infinity, image: { lo: p, hi: p }, method: 'interval' });
        if (s % 256 === 255) {
          bar.update({ done: s + 1, total: X.rows }, 'certifying');
          await new Promise((res) => setImmediate(res));
          if (signal.aborted) throw new AbortError('lemma loop certify was aborted', { cause: signal.reason });
        }
      }
      return it;
    });
  } catch (e) {
    if (e instanceof RangeError && !(e instanceof LemmaError)) throw new UsageError(e.message);
    throw e;
  } finally {
    bar.finish();
  }
  const ms = performance.now() - t0;
  const x = r.x.data as Float64Array;
  if (opts.out !== undefined) await writeMatrix(opts.out, x, X.rows, d);
  const certified = certs.filter((c) => c.ok).length;
  const stabilised = r.stabilisedAt.filter((t) => t >= 0).length;
  if (opts.json) {
    printJson({
      d, activation: net.activation, network: net.from, starts: X.rows, maxSteps: opts.maxSteps, tol: opts.tol, noise: r.noise, seed: r.seed,
      radius: opts.radius, delta: opts.delta, stabilised, certified,
      steps: Array.from(r.steps), stabilisedAt: Array.from(r.stabilisedAt), residual: Array.from(r.residual, (v) => (Number.isFinite(v) ? v : null)),
      ...(opts.out === undefined ? { x: Array.from({ length: X.rows }, (_, s) => Array.from(x.subarray(s * d, (s + 1) * d))) } : {}),
      certificates: certs.map((c) => certJson(c, opts.tol, false, looped.stepsToReach)), outFile: opts.out ?? null, ms: round(ms),
    }, true);
    return;
  }
  const lines = [header,
    `iterated ${X.rows} start${X.rows === 1 ? '' : 's'} (at most ${opts.maxSteps} steps, tol ${opts.tol}${r.noise > 0 ? `, noise ${r.noise}, seed ${r.seed}` : ''}) in ${(ms / 1000).toFixed(2)} s: ` +
      `${stabilised} stabilised, ${minOf(r.steps)} to ${maxOf(r.steps)} steps`,
    `certified ${certified} of ${X.rows} boxes x* +/- ${opts.radius} around the end points (noise bound delta ${opts.delta})`];
  for (let s = 0; s < Math.min(X.rows, SHOWN); s++) {
    const p = Array.from(x.subarray(s * d, Math.min((s + 1) * d, s * d + 6)), (v) => p4(v)).join(', ') + (d > 6 ? ', ...' : '');
    lines.push(`start ${s}: x* = (${p}) after ${r.steps[s]} steps, residual ${p4(r.residual[s])}; ${certLine(certs[s], opts.tol, looped.stepsToReach, true)}`);
  }
  if (X.rows > SHOWN) lines.push(`... ${X.rows - SHOWN} more (--json or --out for all)`);
  if (opts.out !== undefined) lines.push(`wrote ${opts.out}`);
  process.stdout.write(lines.join('\n') + '\n');
}

// --------------------------------------------------------------------------------- enumerate

interface EnumerateOptions extends NetworkOptions {
  box?: [number, number]; negative?: [number, number]; delta: number; maxSteps: number; tol: number;
  samples?: number; seed?: number; out?: string; json?: boolean; progress: boolean;
}

async function enumerateAction(opts: EnumerateOptions): Promise<void> {
  const net = await readNetwork(opts);
  const looped = await import('../../looped/index.js');
  if (opts.box === undefined && !net.box) throw new UsageError(`give --box lo,hi (only the poly3 and tanh2 presets have a default)`);
  const bar = progressBar('loop enumerate', { enabled: opts.progress });
  const t0 = performance.now();
  let r;
  try {
    r = await interruptible((signal) => looped.enumerateFixedPoints({
      W: net.W, b: net.b, activation: net.activation, box: opts.box ?? net.box, negative: opts.negative, delta: opts.delta,
      maxSteps: opts.maxSteps, tol: opts.tol, samples: opts.samples, seed: opts.seed, signal,
      onProgress: (p) => bar.update({ done: p.done, total: p.total }, p.phase === 'certify' ? `${p.certified} certified` : 'iterating'),
    }));
  } catch (e) {
    if (e instanceof RangeError && !(e instanceof LemmaError)) throw new UsageError(e.message);
    throw e;
  } finally {
    bar.finish();
  }
  const ms = performance.now() - t0;
  const m = r.certified;
  if (opts.out !== undefined) await writeMatrix(opts.out, r.fixedPoints.data, m, r.d);
  const summary = {
    d: r.d, activation: r.activation, network: net.from, box: opts.box ?? net.box, negative: opts.negative ?? null, delta: opts.delta,
    examined: r.examined, certified: m, failures: r.failures, converged: r.converged, maxK: m ? r.maxK : null, minMargin: m ? r.minMargin : null,
    minSeparation: r.minSeparation === null || Number.isFinite(r.minSeparation) ? r.minSeparation : null,
    maxFloor: m ? maxOf(r.floor) : null, method: r.method, outFile: opts.out ?? null, ms: round(ms),
  };
  if (opts.json) {
    printJson(summary, true);
    return;
  }
  process.stdout.write(`network: d ${r.d}, activation ${r.activation}, from ${net.from}\n` +
    `${r.examined} sign boxes examined in ${(ms / 1000).toFixed(2)} s: ${m} certified (${r.failures.notSelfMap} not a self-map, ${r.failures.notContracting} not contracting)\n` +
    (m ? `each certified box holds exactly one fixed point: ${r.converged} found by iterating its centre; K at most ${p4(r.maxK)}, margin at least ${p4(r.minMargin)}, ` +
      `noise floor at most ${p4(summary.maxFloor!)} (delta ${opts.delta})${r.minSeparation !== null && m > 1 ? `, fixed points at least ${p4(r.minSeparation)} apart` : ''}\n` : '') +
    (opts.out !== undefined ? `wrote ${opts.out} (${m} fixed points)\n` : ''));
}

// ---------------------------------------------------------------------------------- commands

function networkOptions(c: Command, cm: Commander): Command {
  return c
    .option('--weights <file>', 'W [d, d] and b [d] (optional): .npz or .safetensors tensors W, b; or .json { "W": [[...]], "b": [...], "activation": "..." }')
    .option('--preset <name>', "a built-in case-study network with 2^d fixed points: poly3 or tanh2 (lemma.looped.preset)", oneOf(cm, ['poly3', 'tanh2'] as const))
    .option('--d <N>', 'preset: dimension (default 10)', integerArg(cm, 1, 4096))
    .option('--eta <E>', 'preset: coupling, the off-diagonal row sum (default 0.05)', nonNegative(cm))
    .option('--preset-seed <S>', 'preset: seed of its random coupling (default 0)', integerArg(cm, 0, 2 ** 32 - 1))
    .option('--activation <g>', `${ACTIVATION_NAMES.join(', ')} (for --weights without one)`, oneOf(cm, ACTIVATION_NAMES));
}

export function registerLoop(program: Command, cm: Commander): void {
  const loop = program.command('loop').description('looped networks x <- g(Wx + b) (lemma.looped): fixed points with interval certificates; the SUBLEQ computer');
  networkOptions(loop.command('certify'), cm)
    .description('iterate starts to their fixed points and certify a box around each (--x0), or certify one box (--lo/--hi): ' +
      'a certificate proves one fixed point in the box, a contraction bound K < 1 and the noise floor delta/(1 - K)')
    .option('--x0 <file>', 'starts [S, d] (.npy or .csv): iterate each, then certify the box x* +/- radius around its end point')
    .option('--radius <r>', 'with --x0: half-width of the box certified around each end point', numberArg(cm, true), 0.01)
    .option('--lo <v>', 'the box to certify: lower corner (one number or d comma-separated; default: a preset\'s box)', vectorArg(cm))
    .option('--hi <v>', 'the box\'s upper corner', vectorArg(cm))
    .option('--delta <d>', 'noise bound of the certificate: f(D) + [-delta, delta]^d must stay in D', nonNegative(cm), 0)
    .option('--max-steps <N>', 'with --x0: steps at most', integerArg(cm, 1, 2 ** 30), 1000)
    .option('--tol <t>', 'a start has stabilised once a step moves it at most tol (inf-norm); also the distance reported as "within"', numberArg(cm, true), 1e-12)
    .option('--noise <n>', 'with --x0: add noise uniform on [-n, n]^d after every step', nonNegative(cm))
    .option('--seed <S>', 'with --noise: seed of the noise (default: random, printed)', integerArg(cm, 0))
    .option('--out <file>', 'with --x0: write the end points [S, d] (.npy or .csv)', outFile(cm))
    .option('--json', 'print the result as JSON')
    .option('--no-progress', 'no progress bar on stderr')
    .action(certifyAction);
  networkOptions(loop.command('enumerate'), cm)
    .description('certify every sign box (2^d of them; a random sample for d > 20) and find the fixed point in each certified one')
    .option('--box <lo,hi>', 'the interval of a positive coordinate (default: the preset\'s)', intervalArg(cm))
    .option('--negative <lo,hi>', 'the interval of a negative coordinate (default: the mirror of --box)', intervalArg(cm))
    .option('--delta <d>', 'noise bound of the certificates', nonNegative(cm), 0)
    .option('--max-steps <N>', 'steps at most when iterating a box centre', integerArg(cm, 1, 2 ** 30), 200)
    .option('--tol <t>', 'stabilisation tolerance', numberArg(cm, true), 1e-12)
    .option('--samples <N>', 'd > 20: random sign patterns to examine (default 4096)', integerArg(cm, 1, 2 ** 24))
    .option('--seed <S>', 'd > 20: seed of the sample (default 0)', integerArg(cm, 0, 2 ** 32 - 1))
    .option('--out <file>', 'write the fixed points [m, d] (.npy or .csv)', outFile(cm))
    .option('--json', 'print the summary as JSON')
    .option('--no-progress', 'no progress bar on stderr')
    .action(enumerateAction);
  registerSubleq(loop, cm);
}
