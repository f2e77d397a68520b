/**
 * `lemma attention --q q.npy --k k.npy --v v.npy [--out out.npy] [--lse lse.npy] [--causal]
 *  [--scale S] [--device auto|cpu|cuda] [--json] [--no-progress]`: exact attention of .npy inputs
 * ([B, H, N, D], float32 or float64, all the same dtype) through lemma.attention.forward.
 */
import type { Command, Commander } from '../shared.js';
import { dims, interruptible, numberArg, oneOf, printJson } from '../shared.js';
import { progressBar } from '../progress.js';

interface Options {
  q: string; k: string; v: string;
  out?: string; lse?: string;
  causal?: boolean; scale?: number; device: 'auto' | 'cpu' | 'cuda';
  json?: boolean; progress: boolean;
}

async function attentionAction(opts: Options): Promise<void> {
  const io = await import('../../io/index.js');
  const { LemmaError } = await import('../../errors.js');
  const inputs = await Promise.all([opts.q, opts.k, opts.v].map((f) => io.readNpy(f)));
  const names = ['--q', '--k', '--v'];
  inputs.forEach((t, i) => {
    if (t.dtype !== 'float32' && t.dtype !== 'float64') {
      throw new LemmaError('ERR_DTYPE', `${names[i]} ${[opts.q, opts.k, opts.v][i]} holds ${t.dtype}; attention takes float32 or float64`);
    }
  });
  const [q, k, v] = inputs.map((t) => ({ data: t.data as Float32Array | Float64Array, shape: t.shape }));
  const attention = await import('../../attention/index.js');
  const bar = progressBar('attention', { enabled: opts.progress });
  const t0 = performance.now();
  let r;
  try {
    r = await interruptible((signal) => attention.forward(q, k, v, {
      causal: opts.causal ?? false, scale: opts.scale, device: opts.device, signal, onProgress: (p) => bar.update(p),
    }));
  } finally {
    bar.finish();
  }
  const ms = performance.now() - t0;
  if (opts.out !== undefined) await io.writeNpy(opts.out, r.out);
  if (opts.lse !== undefined) await io.writeNpy(opts.lse, r.lse);
  const dtype = inputs[0].dtype;
  const summary = {
    q: q.shape, k: k.shape, v: v.shape, out: r.out.shape, dtype, causal: opts.causal ?? false,
    scale: opts.scale ?? 1 / Math.sqrt(q.shape[q.shape.length - 1]), device: r.device, ms: Math.round(ms * 1000) / 1000,
    outFile: opts.out ?? null, lseFile: opts.lse ?? null,
  };
  if (opts.json) {
    printJson(summary, true);
    return;
  }
  const wrote = [opts.out, opts.lse].filter((f) => f !== undefined);
  process.stdout.write(`attention ${dims(q.shape)} x ${dims(k.shape)} ${dtype}${summary.causal ? ' causal' : ''}, scale ${summary.scale.toPrecision(4)}: ` +
    `out ${dims(r.out.shape)} on ${r.device} in ${ms.toFixed(1)} ms${wrote.length ? `; wrote ${wrote.join(' and ')}` : ''}\n`);
}

export function registerAttention(program: Command, cm: Commander): void {
  program
    .command('attention')
    .description('exact attention of q, k, v read from .npy files ([B, H, N, D], float32 or float64); out [B, H, Nq, D] and lse [B, H, Nq] to .npy')
    .requiredOption('--q <file>', 'queries, .npy [B, Hq, Nq, D]')
    .requiredOption('--k <file>', 'keys, .npy [B, Hkv, Nk, D] (Hq a multiple of Hkv)')
    .requiredOption('--v <file>', 'values, .npy [B, Hkv, Nk, D]')
    .option('--out <file>', 'write the output to this .npy file')
    .option('--lse <file>', 'write the row log-sum-exp to this .npy file')
    .option('--causal', 'causal mask (bottom-right aligned when Nq != Nk)')
    .option('--scale <S>', 'softmax scale (default 1/sqrt(D))', numberArg(cm, true))
    .option('--device <device>', 'auto, cpu or cuda', oneOf(cm, ['auto', 'cpu', 'cuda'] as const), 'auto')
    .option('--json', 'print the summary as JSON')
    .option('--no-progress', 'no progress bar on stderr')
    .action(attentionAction);
}
