/**
 * The runnable examples (examples/*): each script runs at its --small size as a child process
 * (exit 0, what it prints), and its exported pieces are checked in-process: the training loss
 * reaches the level the example's README states within the stated steps and the saved weights
 * reload; the TypeScript gradients (embeddings, output layer, cross-entropy) against finite
 * differences; the device-tensor loop's CPU fallback learns; the posterior sampler's diagnostics,
 * polytope membership and mean against importance sampling; the private KDE release reloads and
 * answers within a few closed-form error std.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as lemma from '../lib/index.js';
import * as train from '../examples/train-transformer/train.js';
import * as loop from '../examples/device-tensors/loop.js';
import * as posterior from '../examples/posterior/logistic.js';
import * as kde from '../examples/private-kde/release.js';
import * as tfjsAttention from '../examples/tfjs-attention/train.js';

const root = path.join(__dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lemma-examples-'));
test.after.always(() => fs.rmSync(tmp, { recursive: true, force: true }));
const realGpu = lemma.cudaAvailable() && !lemma.capabilities().cuda.emulated;

/** Runs an example script as `node --import tsx <file> --small ...args`. */
function runScript(file: string, ...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, file), '--small', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

// ---- train-transformer ------------------------------------------------------------------------

test('train: the README states the small run\'s level and step limit, which SMALL uses', (t) => {
  const readme = fs.readFileSync(path.join(root, 'examples/train-transformer/README.md'), 'utf8');
  const m = /`--small`[^\n]*?falls below ([\d.]+) within (\d+) steps \(seed (\d+)\)/.exec(readme);
  t.truthy(m, 'the README sentence for --small');
  t.deepEqual([Number(m![1]), Number(m![2]), Number(m![3])], [train.SMALL.target, train.SMALL.maxSteps, train.SMALL.seed]);
});

test('train: TypeScript gradients (embeddings, output layer, loss) and the stack\'s agree with finite differences (fp64)', async (t) => {
  const cfg: train.TrainConfig = { vocab: 4, half: 3, layers: 1, heads: 2, dModel: 8, batch: 2, maxSteps: 1, lr: 1e-3, seed: 4, target: 0, dtype: 'float64' };
  const model = new train.CopyModel(cfg);
  // Non-zero output bias so its gradient is not trivially symmetric.
  model.own.bout.data.set([0.1, -0.2, 0.3, 0]);
  const tokens = train.copyBatch(2, 3, 4, train.rng(9));
  const { grads } = await model.loss(tokens, 2);
  const params = model.params();
  const h = 1e-6;
  let checked = 0;
  for (const name of ['E', 'P', 'Wout', 'bout', 'layer0.Wq', 'layer0.Wv', 'layer0.b1']) {
    const p = params[name].data;
    for (const i of [0, Math.floor(p.length / 3), p.length - 1]) {
      const keep = p[i];
      p[i] = keep + h;
      const up = (await model.loss(tokens, 2, false)).loss;
      p[i] = keep - h;
      const down = (await model.loss(tokens, 2, false)).loss;
      p[i] = keep;
      const fd = (up - down) / (2 * h);
      t.true(Math.abs(fd - grads[name][i]) <= 1e-6 * Math.max(1, Math.abs(fd)), `${name}[${i}]: finite difference ${fd}, gradient ${grads[name][i]}`);
      checked++;
    }
  }
  t.is(checked, 21);
  // A token that never occurs gets no embedding gradient; one that does, some.
  const seen = new Set(tokens);
  for (let v = 0; v < 4; v++) {
    const row = grads.E.subarray(v * 8, v * 8 + 8);
    t.is(row.some((g) => g !== 0), seen.has(v), `E row ${v}`);
  }
});

test('train: Adam\'s first step moves every parameter by lr against its gradient\'s sign', (t) => {
  const p = { w: { data: new Float64Array([1, 2, 3, 4]), shape: [4] } };
  new train.Adam(0.01).step(p, { w: new Float64Array([0.5, -3, 1e-3, 0]) });
  const moved = Array.from(p.w.data, (v, i) => v - [1, 2, 3, 4][i]);
  t.true(Math.abs(moved[0] + 0.01) < 1e-9 && Math.abs(moved[1] - 0.01) < 1e-9 && Math.abs(moved[2] + 0.01) < 1e-7);
  t.is(moved[3], 0);
});

test('train --small: the loss falls below the stated level within the stated steps; the weights reload', async (t) => {
  const file = path.join(tmp, 'copy.safetensors');
  const r = runScript('examples/train-transformer/train.ts', '--out', file);
  t.is(r.code, 0, r.out);
  t.true(r.out.includes(realGpu ? 'the stack trains on the GPU' : 'no GPU: CPU only'), r.out);
  const m = /fell below ([\d.]+) at step (\d+) \(limit (\d+)\)/.exec(r.out);
  t.truthy(m, r.out);
  t.is(Number(m![1]), train.SMALL.target);
  t.true(Number(m![2]) <= train.SMALL.maxSteps);
  // In-process: the same run (same seed), then the file the script wrote.
  const res = await train.train(train.SMALL);
  t.not(res.reachedAt, null);
  t.true(res.reachedAt! <= train.SMALL.maxSteps && res.reachedAt === Number(m![2]), `in-process step ${res.reachedAt}, script ${m![2]}`);
  t.true(res.losses[0] > 1, `first loss ${res.losses[0]} (chance ln 6 = 1.79)`);
  t.true(res.heldOut.accuracy > 0.9, `held-out accuracy ${res.heldOut.accuracy}`);
  const { model, cfg } = await train.load(file);
  t.deepEqual({ ...cfg, dtype: undefined }, { ...train.SMALL, dtype: undefined });
  const held = await model.loss(train.copyBatch(256, cfg.half, cfg.vocab, train.rng(cfg.seed + 77)), 256, false);
  t.true(Math.abs(held.loss - res.heldOut.loss) < 1e-6, `reloaded ${held.loss}, trained ${res.heldOut.loss}`);
  // An untrained model is near chance on the same batch: the reloaded weights carry the learning.
  const fresh = await new train.CopyModel(train.SMALL).loss(train.copyBatch(256, cfg.half, cfg.vocab, train.rng(cfg.seed + 77)), 256, false);
  t.true(fresh.accuracy < 0.5 && held.accuracy > 0.9, `fresh ${fresh.accuracy}, reloaded ${held.accuracy}`);
});

// ---- device-tensors ----------------------------------------------------------------------------

test('device-tensors --small: the README loop runs (its CPU fallback without a GPU) and the loss falls', async (t) => {
  const r = runScript('examples/device-tensors/loop.ts');
  t.is(r.code, 0, r.out);
  t.true(r.out.includes(realGpu ? 'parameters as device tensors' : 'no GPU: CPU only'), r.out);
  const res = await loop.runLoop({ ...loop.SMALL, gpu: false });
  t.is(res.device, 'cpu');
  t.is(res.losses.length, loop.SMALL.steps);
  const last = res.losses[res.losses.length - 1];
  t.true(last < 0.5 * res.losses[0], `loss ${res.losses[0]} → ${last}`);
  t.true(r.out.includes(`${res.losses[0].toExponential(3)} → ${last.toExponential(3)}`) || realGpu, r.out);
  if (realGpu) {
    const g = await loop.runLoop({ ...loop.SMALL, gpu: true });
    t.is(g.device, 'cuda');
    t.is(g.bytesAtEnd, g.bytesAtStart);
    t.true(Math.abs(g.losses[g.losses.length - 1] - last) <= 1e-3 * last, 'fp32 GPU loop follows the CPU loop');
  }
});

// ---- posterior --------------------------------------------------------------------------------

test('posterior --small: diagnostics, samples inside the polytope, mean against importance sampling, chart', async (t) => {
  const svg = path.join(tmp, 'posterior.svg');
  const r = runScript('examples/posterior/logistic.ts', '--out', svg);
  t.is(r.code, 0, r.out);
  const text = fs.readFileSync(svg, 'utf8');
  t.true(text.startsWith('<svg') && text.includes('Dikin-walk samples') && (text.match(/<path/g) ?? []).length > 100, 'an SVG with the scatter and histograms');
  const res = await posterior.run(posterior.SMALL);
  const [C, kept, d] = res.samples.shape;
  t.deepEqual([C, kept, d], [posterior.SMALL.chains, posterior.SMALL.steps, 3]);
  t.is(res.outside, 0);
  let outside = 0;  // checked here too, against the rows of A and b directly
  for (let i = 0; i < C * kept; i++) {
    const x = res.samples.data.subarray(3 * i, 3 * i + 3);
    if (posterior.A.some((row, r) => row[0] * x[0] + row[1] * x[1] + row[2] * x[2] > posterior.b[r])) outside++;
  }
  t.is(outside, 0);
  for (let j = 0; j < 3; j++) {
    t.true(res.rhat[j] < 1.1, `R-hat[${j}] ${res.rhat[j]}`);
    t.true(res.ess[j] > 100, `ESS[${j}] ${res.ess[j]}`);
    const se = Math.hypot(res.sd[j] / Math.sqrt(res.ess[j]), res.reference.se[j]);
    t.true(Math.abs(res.mean[j] - res.reference.mean[j]) < 4 * se, `mean[${j}] ${res.mean[j]} vs reference ${res.reference.mean[j]} (se ${se})`);
  }
  t.true(res.reference.ess > 10_000, `importance ESS ${res.reference.ess}`);
  // The order constraint θ2 ≤ θ1 is active: much of the mass lies near its face.
  let near = 0;
  const s = res.samples.data;
  for (let i = 0; i < C * kept; i++) if (s[3 * i + 1] - s[3 * i + 2] < 0.1) near++;
  t.true(near / (C * kept) > 0.1, `mass within 0.1 of the face θ2 = θ1: ${near / (C * kept)}`);
});

test('posterior: the reference\'s f at θ = 0 is n·log 2 (lemma.sample.logistic\'s f), and two importance-sampling runs agree', (t) => {
  // f is what lemma.sample.logistic defines: at θ = 0 it is n·log 2.
  const { X, y } = posterior.makeData(50, 1);
  t.true(Math.abs(posterior.negLogPost(X, y, [0, 0, 0]) - 50 * Math.log(2)) < 1e-12);
  // Two reference runs with different seeds agree within their standard errors.
  const a = posterior.referenceMean(X, y, 50_000, 1), b = posterior.referenceMean(X, y, 50_000, 2);
  for (let j = 0; j < 3; j++) t.true(Math.abs(a.mean[j] - b.mean[j]) < 5 * Math.hypot(a.se[j], b.se[j]), `coordinate ${j}`);
});

// ---- private-kde ------------------------------------------------------------------------------

test('private-kde --small: the release reloads and answers within a few closed-form error std', async (t) => {
  const file = path.join(tmp, 'kde.json');
  const r = runScript('examples/private-kde/release.ts', '--out', file);
  t.is(r.code, 0, r.out);
  t.true(r.out.includes('refused with ERR_BUDGET'), r.out);
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  t.is(lemma.dp.loadL1Kde(doc).epsilon, kde.SMALL.epsilon);
  const res = await kde.run(kde.SMALL, path.join(tmp, 'kde2.json'));
  t.is(res.secondRelease, 'ERR_BUDGET');
  const q = kde.SMALL.grid ** 2;
  t.is(res.estimates.length, q);
  let worst = 0;
  for (let k = 0; k < q; k++) {
    t.is(res.estimates[k], res.original[k], 'the reloaded release answers as the builder did');
    t.true(res.std[k] > 1 && res.std[k] < 100, `errorStd ${res.std[k]}`);
    const z = (Math.abs(res.estimates[k] - res.exact[k]) - res.quantisation) / res.std[k];
    worst = Math.max(worst, z);
  }
  t.true(worst < 5, `largest error ${worst.toFixed(2)} errorStd`);
  // The noise is real: not every answer is within a tenth of its std of the truth.
  t.true(Array.from(res.estimates).some((e, k) => Math.abs(e - res.exact[k]) > 0.1 * res.std[k]));
  // The release holds no raw coordinate: none of the first data values appears in it.
  const text = fs.readFileSync(path.join(tmp, 'kde2.json'), 'utf8');
  const X = kde.makeData(kde.SMALL.n, kde.SMALL.seed);
  for (let i = 0; i < 10; i++) t.false(text.includes(String(X[i])), `raw value ${i}`);
});

// ---- tfjs-attention ---------------------------------------------------------------------------

test('tfjs-attention --small: lemma/tfjs attention trains a tfjs model below the README\'s level within its steps, leaking no tensor', (t) => {
  const readme = fs.readFileSync(path.join(root, 'examples/tfjs-attention/README.md'), 'utf8');
  const m = /`--small`[^\n]*?falls below ([\d.]+) within (\d+) steps \(seed (\d+)\)/.exec(readme);
  t.truthy(m, 'the README sentence for --small');
  const cfg = tfjsAttention.SMALL;
  t.deepEqual([Number(m![1]), Number(m![2]), Number(m![3])], [cfg.target, cfg.maxSteps, cfg.seed]);
  const r = runScript('examples/tfjs-attention/train.ts');
  t.is(r.code, 0, r.out);
  const s = /fell below ([\d.]+) at step (\d+) \(limit (\d+)\)/.exec(r.out);
  t.truthy(s, r.out);
  t.is(Number(s![1]), cfg.target);
  t.true(Number(s![2]) <= cfg.maxSteps, r.out);
  const first = /^loss ([\d.]+) →/m.exec(r.out);
  t.true(first !== null && Number(first[1]) > 1.5, `first loss near or above chance (ln ${cfg.vocab} = ${Math.log(cfg.vocab).toFixed(2)}): ${r.out}`);
  const acc = /held-out batch of 256: loss [\d.]+, accuracy ([\d.]+) %/.exec(r.out);
  t.true(acc !== null && Number(acc[1]) > 90, r.out);
  t.true(r.out.includes('tfjs tensors still allocated: 0'), r.out);
});
