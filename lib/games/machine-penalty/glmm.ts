/**
 * A random-intercept logistic regression of cooperation on condition, the model the study's
 * analysis names: participant i in condition c plays C in each round with probability
 * σ(β_c + s·u_i), u_i ~ N(0, 1). Condition is the only covariate and is constant within a
 * participant, so a participant's likelihood depends only on y_i, the number of rounds played C,
 * and each condition reduces to a histogram of y over 0..R: the fit costs O(conditions · R · nodes)
 * per evaluation whatever the number of participants.
 *
 * Integral over u: Gauss–Hermite quadrature (40 nodes). Fit: for fixed log s, each β_c by Newton
 * (the marginal log-likelihood is concave in β_c: a Gaussian convolution of a log-concave
 * function); log s by golden-section search on the profile likelihood. Standard errors: the
 * analytic observed information; its β block is diagonal with one extra row for log s, so the
 * β covariance is a Sherman–Morrison update of the diagonal (σ treated as known when its
 * information is degenerate, e.g. at s ≈ 0).
 *
 * Limits, stated in the result's docs: one random intercept per participant (the pairing in the
 * human condition is not modelled here; the cluster-robust rates handle it).
 */

const NODES = 40;

/** Gauss–Hermite nodes and weights for ∫ f(x) e^{−x²} dx (Numerical Recipes' gauher). */
function gaussHermite(n: number): { x: Float64Array; w: Float64Array } {
  const x = new Float64Array(n);
  const w = new Float64Array(n);
  const PIM4 = Math.PI ** -0.25;
  const m = (n + 1) >> 1;
  let z = 0;
  for (let i = 1; i <= m; i++) {
    if (i === 1) z = Math.sqrt(2 * n + 1) - 1.85575 * (2 * n + 1) ** -0.16667;
    else if (i === 2) z -= (1.14 * n ** 0.426) / z;
    else if (i === 3) z = 1.86 * z - 0.86 * x[0];
    else if (i === 4) z = 1.91 * z - 0.91 * x[1];
    else z = 2 * z - x[i - 3];
    let pp = 0;
    for (let it = 0; it < 100; it++) {
      let p1 = PIM4;
      let p2 = 0;
      for (let j = 1; j <= n; j++) {
        const p3 = p2;
        p2 = p1;
        p1 = z * Math.sqrt(2 / j) * p2 - Math.sqrt((j - 1) / j) * p3;
      }
      pp = Math.sqrt(2 * n) * p2;
      const z1 = z;
      z = z1 - p1 / pp;
      if (Math.abs(z - z1) <= 1e-15) break;
    }
    x[i - 1] = z;
    x[n - i] = -z;
    w[i - 1] = 2 / (pp * pp);
    w[n - i] = w[i - 1];
  }
  return { x, w };
}

const GH = gaussHermite(NODES);
/** Standard-normal nodes z_k = √2·x_k and log weights log(w_k/√π). */
const Z = Float64Array.from(GH.x, (v) => Math.SQRT2 * v);
const LOGW = Float64Array.from(GH.w, (v) => Math.log(v / Math.sqrt(Math.PI)));

/** log(1 + e^x) without overflow. */
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

function logChoose(n: number, k: number): number {
  let s = 0;
  for (let j = 1; j <= k; j++) s += Math.log((n - k + j) / j);
  return s;
}

/** Log-likelihood of one condition and its derivatives in β and τ = log s. */
interface Local {
  ll: number;
  gB: number;
  gT: number;
  hBB: number;
  hBT: number;
  hTT: number;
}

const lp = new Float64Array(NODES);

function local(hist: Float64Array, R: number, beta: number, tau: number, derivs: boolean): Local {
  const s = Math.exp(tau);
  const out: Local = { ll: 0, gB: 0, gT: 0, hBB: 0, hBT: 0, hTT: 0 };
  for (let y = 0; y <= R; y++) {
    const n = hist[y];
    if (n === 0) continue;
    let max = -Infinity;
    for (let k = 0; k < NODES; k++) {
      const eta = beta + s * Z[k];
      lp[k] = LOGW[k] - y * softplus(-eta) - (R - y) * softplus(eta);
      if (lp[k] > max) max = lp[k];
    }
    let tot = 0;
    for (let k = 0; k < NODES; k++) tot += Math.exp(lp[k] - max);
    out.ll += n * (max + Math.log(tot) + logChoose(R, y));
    if (!derivs) continue;
    let mg = 0, mgz = 0, mHB = 0, mHBT = 0, mHT = 0;
    for (let k = 0; k < NODES; k++) {
      const pi = Math.exp(lp[k] - max) / tot;
      const eta = beta + s * Z[k];
      const p = 1 / (1 + Math.exp(-eta));
      const g = y - R * p;
      const h = -R * p * (1 - p);
      const e = s * Z[k];
      mg += pi * g;
      mgz += pi * g * e;
      mHB += pi * (h + g * g);
      mHBT += pi * (h + g * g) * e;
      mHT += pi * ((h + g * g) * e * e + g * e);
    }
    out.gB += n * mg;
    out.gT += n * mgz;
    out.hBB += n * (mHB - mg * mg);
    out.hBT += n * (mHBT - mg * mgz);
    out.hTT += n * (mHT - mgz * mgz);
  }
  return out;
}

const BETA_CAP = 30;

/** argmax over β of one condition's log-likelihood at fixed τ (Newton with step halving). */
function fitBeta(hist: Float64Array, R: number, tau: number, start: number): { beta: number; ll: number; capped: boolean } {
  let beta = start;
  let cur = local(hist, R, beta, tau, true);
  for (let it = 0; it < 100; it++) {
    if (!(cur.hBB < 0)) break;
    let step = -cur.gB / cur.hBB;
    if (Math.abs(step) > 5) step = Math.sign(step) * 5;
    let next = Math.max(-BETA_CAP, Math.min(BETA_CAP, beta + step));
    let cand = local(hist, R, next, tau, true);
    for (let k = 0; k < 30 && cand.ll < cur.ll - 1e-12; k++) {
      next = (beta + next) / 2;
      cand = local(hist, R, next, tau, true);
    }
    const moved = Math.abs(next - beta);
    beta = next;
    cur = cand;
    if (moved < 1e-10) break;
  }
  return { beta, ll: cur.ll, capped: Math.abs(beta) >= BETA_CAP - 1e-9 };
}

export interface GlmmFit {
  /** Per condition: the log-odds β_c and its standard error (NaN when the estimate ran to ±∞). */
  beta: number[];
  se: number[];
  /** Covariance of the β (NaN rows for capped conditions). */
  cov: number[][];
  /** Standard deviation of the participant intercepts. */
  sigma: number;
  logLik: number;
  /** False when a β ran to its cap (every participant all-C or all-D): no finite estimate exists. */
  converged: boolean;
}

/**
 * Fits the model to per-condition histograms: hists[c][y] = participants of condition c who played
 * C in y of the R rounds. Conditions without participants get NaN.
 */
export function fitGlmm(hists: readonly Float64Array[], R: number): GlmmFit {
  const K = hists.length;
  const used = hists.map((h) => h.reduce((a, b) => a + b, 0) > 0);
  const starts = hists.map((h) => {
    let n = 0, c = 0;
    for (let y = 0; y <= R; y++) {
      n += h[y];
      c += h[y] * y;
    }
    const p = Math.min(1 - 1e-3, Math.max(1e-3, n ? c / (n * R) : 0.5));
    return Math.log(p / (1 - p));
  });
  const profile = (tau: number): { ll: number; beta: number[]; capped: boolean[] } => {
    let ll = 0;
    const beta: number[] = [];
    const capped: boolean[] = [];
    for (let c = 0; c < K; c++) {
      if (!used[c]) {
        beta.push(NaN);
        capped.push(false);
        continue;
      }
      const f = fitBeta(hists[c], R, tau, starts[c]);
      ll += f.ll;
      beta.push(f.beta);
      capped.push(f.capped);
    }
    return { ll, beta, capped };
  };
  // Golden-section search on τ = log s over [log 1e-3, log 20].
  let a = Math.log(1e-3);
  let b = Math.log(20);
  const g = (Math.sqrt(5) - 1) / 2;
  let x1 = b - g * (b - a);
  let x2 = a + g * (b - a);
  let f1 = profile(x1).ll;
  let f2 = profile(x2).ll;
  for (let it = 0; it < 60 && b - a > 1e-7; it++) {
    if (f1 >= f2) {
      b = x2;
      x2 = x1;
      f2 = f1;
      x1 = b - g * (b - a);
      f1 = profile(x1).ll;
    } else {
      a = x1;
      x1 = x2;
      f1 = f2;
      x2 = a + g * (b - a);
      f2 = profile(x2).ll;
    }
  }
  const tau = (a + b) / 2;
  const best = profile(tau);
  // Observed information: diag(A) for β, b for the β–τ cross terms, d for τ.
  const A: number[] = [];
  const B: number[] = [];
  let d = 0;
  for (let c = 0; c < K; c++) {
    if (!used[c] || best.capped[c]) {
      A.push(NaN);
      B.push(0);
      continue;
    }
    const l = local(hists[c], R, best.beta[c], tau, true);
    A.push(-l.hBB);
    B.push(-l.hBT);
    d += -l.hTT;
  }
  let schur = d;
  for (let c = 0; c < K; c++) if (Number.isFinite(A[c])) schur -= (B[c] * B[c]) / A[c];
  const sigmaKnown = !(schur > 1e-8 * Math.max(1, Math.abs(d)));
  const cov = Array.from({ length: K }, (_, i) => Array.from({ length: K }, (_, j) => {
    if (!Number.isFinite(A[i]) || !Number.isFinite(A[j])) return NaN;
    const base = i === j ? 1 / A[i] : 0;
    return sigmaKnown ? base : base + (B[i] / A[i]) * (B[j] / A[j]) / schur;
  }));
  return {
    beta: best.beta.map((v, c) => (best.capped[c] ? NaN : v)),
    se: cov.map((row, c) => Math.sqrt(row[c])),
    cov,
    sigma: Math.exp(tau),
    logLik: best.ll,
    converged: !best.capped.some(Boolean),
  };
}

/** The model's log-likelihood at given β (one per condition) and s (for tests and checks). */
export function glmmLogLik(hists: readonly Float64Array[], R: number, beta: readonly number[], sigma: number): number {
  let ll = 0;
  hists.forEach((h, c) => { ll += local(h, R, beta[c], Math.log(sigma), false).ll; });
  return ll;
}
