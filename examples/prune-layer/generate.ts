/**
 * Writes the seeded fixtures of this example (float32 .npy, C order), for one attention head:
 *   X.npy   [256, 64]  calibration activations with LLM-like structure: a 12-dimensional latent
 *                      signal shared by all features, log-normal column scales, two "massive"
 *                      outlier features (×8), a slow positional drift, and a first token with a
 *                      large norm (an attention sink)
 *   Wq.npy  [64, 16]   query projection, decaying singular spectrum
 *   Wk.npy  [64, 16]   key projection, partly aligned with Wq so attention is peaked, not uniform
 * Wq and Wk are rescaled so that the scores τ·x Wq Wkᵀ yᵀ (τ = 1/√16) have standard deviation 2
 * on X. Deterministic: the same files on every run.
 *   node --import tsx examples/prune-layer/generate.ts
 */
import fs from 'node:fs';
import path from 'node:path';
import * as lemma from '../../lib/index.js';

// np.save's bytes (lemma.io.toNpy), written synchronously.
const writeNpy = (file: string, t: lemma.Tensor<Float32Array>) => fs.writeFileSync(file, lemma.io.toNpy(t));

const n = 256, d = 64, dh = 16, latent = 12;

function normals(seed: number): () => number {
  let s = seed >>> 0 || 1;
  const u = () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

const r = normals(2024);
const randn = (len: number) => Float64Array.from({ length: len }, () => r());

// X = (Z B + 0.5 E) diag(scale) + drift, first row scaled up.
const Z = randn(n * latent);
const B = randn(latent * d).map((v) => v / Math.sqrt(latent));
const scale = Float64Array.from({ length: d }, () => Math.exp(0.5 * r()));
scale[7] = 8;
scale[41] = 8;
const X = new Float64Array(n * d);
for (let i = 0; i < n; i++) {
  for (let a = 0; a < d; a++) {
    let v = 0.5 * r();
    for (let l = 0; l < latent; l++) v += Z[i * latent + l] * B[l * d + a];
    v *= scale[a];
    if (a < 4) v += 1.5 * Math.sin((2 * Math.PI * i) / (64 * (a + 1)));
    X[i * d + a] = i === 0 ? 4 * v : v;
  }
}

// Wq with singular values decaying as 1/(1 + c); Wk = 0.7·Wq·(a random rotation-like mix) + 0.5·noise.
const Wq = new Float64Array(d * dh);
const G = randn(d * dh);
for (let a = 0; a < d; a++) for (let c = 0; c < dh; c++) Wq[a * dh + c] = G[a * dh + c] / (1 + 0.3 * c);
const mix = randn(dh * dh).map((v) => v / Math.sqrt(dh));
const Wk = new Float64Array(d * dh);
const noise = randn(d * dh);
for (let a = 0; a < d; a++) {
  for (let c = 0; c < dh; c++) {
    let v = 0;
    for (let e = 0; e < dh; e++) v += Wq[a * dh + e] * (e === c ? 1 : 0.3 * mix[e * dh + c]);
    Wk[a * dh + c] = 0.7 * v + 0.5 * noise[a * dh + c];
  }
}

// Rescale so the scores have standard deviation 2.
const tau = 1 / Math.sqrt(dh);
const Q = new Float64Array(n * dh), K = new Float64Array(n * dh);
for (let i = 0; i < n; i++) {
  for (let c = 0; c < dh; c++) {
    let q = 0, k = 0;
    for (let a = 0; a < d; a++) {
      q += X[i * d + a] * Wq[a * dh + c];
      k += X[i * d + a] * Wk[a * dh + c];
    }
    Q[i * dh + c] = q;
    K[i * dh + c] = k;
  }
}
let s1 = 0, s2 = 0;
for (let i = 0; i < n; i++) {
  for (let j = 0; j < n; j++) {
    let z = 0;
    for (let c = 0; c < dh; c++) z += Q[i * dh + c] * K[j * dh + c];
    z *= tau;
    s1 += z;
    s2 += z * z;
  }
}
const std = Math.sqrt(s2 / (n * n) - (s1 / (n * n)) ** 2);
const f = Math.sqrt(2 / std);

const dir = __dirname;
writeNpy(path.join(dir, 'X.npy'), { data: Float32Array.from(X), shape: [n, d] });
writeNpy(path.join(dir, 'Wq.npy'), { data: Float32Array.from(Wq, (v) => v * f), shape: [d, dh] });
writeNpy(path.join(dir, 'Wk.npy'), { data: Float32Array.from(Wk, (v) => v * f), shape: [d, dh] });
console.log(`wrote X.npy [${n}, ${d}], Wq.npy and Wk.npy [${d}, ${dh}] to ${path.relative(process.cwd(), dir) || '.'} (score std before rescaling ${std.toFixed(3)})`);
