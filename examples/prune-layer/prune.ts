/**
 * Prunes one attention head's score weight W = Wq·Wkᵀ to 50 % with every lemma.prune method and
 * prints how far each pruned attention matrix is from the original on the calibration tokens:
 * ‖S(W′) − T‖_F, and the same relative to ‖T‖_F. Causal attention, as in a decoder.
 *   node --import tsx examples/prune-layer/generate.ts   # (re)writes the fixtures, seeded
 *   node --import tsx examples/prune-layer/prune.ts
 */
import path from 'node:path';
import * as lemma from '../../lib/index.js';

// float32 or float64 .npy files (lemma.io); the prune API takes Float32Array or Float64Array data.
const load = (name: string) => lemma.io.readNpySync(path.join(__dirname, `${name}.npy`)) as lemma.Tensor<Float32Array | Float64Array>;

async function main(): Promise<void> {
  const X = load('X');
  const Wq = load('Wq');
  const Wk = load('Wk');
  const [n, d] = X.shape;
  const dh = Wq.shape[1];
  console.log(`X [${n}, ${d}], Wq / Wk [${d}, ${dh}]: pruning W = Wq·Wkᵀ [${d}, ${d}], τ = 1/√${dh}, causal`);

  const inputs = { X, Wq, Wk };
  const runs: Array<[string, lemma.prune.PruneOptions]> = [
    ['magnitude (binary)', { method: 'magnitude' }],
    ['wanda (binary)', { method: 'wanda' }],
    ['relaxed-mask (STAGE A 200 + refit 200)', { method: 'relaxed-mask', selectSteps: 200, steps: 200 }],
    ['refit (Wanda support + 200 steps)', { method: 'refit', steps: 200 }],
    ['refit, 2:4 pattern', { method: 'refit', steps: 200, pattern: '2:4' }],
  ];
  // For scale: M = 0 (everything pruned) makes every causal row uniform; M = 1 gives error 0.
  const zeros = await lemma.prune.objective({ X, Wq, Wk, mask: { data: new Float32Array(d * d), shape: [d, d] } }, { causal: true });
  console.log(`reference: pruning everything (W′ = 0, uniform causal attention) gives ‖S − T‖_F = ${zeros.attnError.toFixed(4)}\n`);
  console.log('method'.padEnd(42) + 'pattern'.padEnd(9) + '‖S−T‖_F'.padStart(9) + '  relative to W′ = 0'.padStart(21) + '   time');
  for (const [label, opts] of runs) {
    const t0 = performance.now();
    const r = await lemma.prune.attention(inputs, { sparsity: 0.5, causal: true, ...opts });
    const s = (performance.now() - t0) / 1000;
    console.log(label.padEnd(42) + r.pattern.padEnd(9) + r.attnError.toFixed(4).padStart(9) + (r.attnError / zeros.attnError).toFixed(3).padStart(21) + `   ${s.toFixed(1)} s`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
