// The Dikin walk's fp64 oracle (namespace lemma::poly_ref), written from the spec
// (shared/specs/dikin-walk.md §3.2–3.6, §3.10) independently of the fast path: it does not include
// polytope_walk.inl and calls nothing of core/linalg.h. Plain loops over full symmetric d×d
// matrices (std::vector, both triangles filled), its own Cholesky / triangular solves / log det,
// its own Hessian assembly for every body, its own Lewis-weight iteration, subsampled Hessian and
// targets. It shares with the fast path only the inputs (WalkCtx, the per-chain state arrays of
// polytope_cpu.cc) and the Philox primitives of core/rng.h (philox4x32_10, u01, normal_pair:
// known-answer tested). DikinParams::reference selects it; tests compare it with the fast kernels.
//
// Same random numbers as the fast path (the counter layout of polytope.h), consumed in the same
// order, so with one seed the chains agree to fp rounding:
//   step t of chain ch, counter (block, t mod 2³², ch, purpose | (t >> 32) << 8), key = seed:
//   kRngCoin block 0: words 0,1 → the lazy coin (stay if < ½); words 2,3 → the Metropolis uniform.
//   kRngXi block k: normal_pair → ξ[2k], ξ[2k+1].
//   kRngHessX / kRngHessZ: a sequential word stream (word i = word i mod 4 of block i / 4) for the
//     subsampled Hessian at x / at z, read in this order: one word per row (CountSketch bucket and
//     sign), then jl_cols × d normals (4 words per pair, the second kept for the next draw), then
//     hessian_samples uniforms (2 words each).
//
// Deliberate differences from the fast path (so a shared bug is unlikely): Φ(x) is recomputed at
// every step instead of being cached from the previous z (H is a function of x, so the chain is
// the same); ‖x−z‖²_Φ̂ is uᵀΦ̂u with the assembled matrix, not ‖Lᵀu‖²; CSR bodies are read
// through their CSR arrays only; the spectrahedron Hessian is tr(S⁻¹F_i S⁻¹F_j) with an explicit
// S⁻¹ (not the Gram of L⁻¹F_iL⁻ᵀ); row norms are recomputed here. Allocates per call (the
// oracle is for tests, not speed). The per-chain Lewis weights live in WalkCtx::lw: slot 0 at x,
// slot 1 at the pending z (copied to slot 0 on acceptance); mats / cur / have / hl are unused.
//
// Test: test/35.polytope-oracle.test.ts, build-*/polytope_test
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/rng.h"
#include "polytope/polytope_walk.h"

namespace lemma {
namespace poly_ref {

namespace {

typedef std::vector<double> Vec;

constexpr double kEps = 2.220446049250313e-16;  // DBL_EPSILON

// ------------------------------------------------------------------ dense fp64 linear algebra
// Matrices are n×n row-major with leading dimension n.

// Cholesky A = L·Lᵀ, column by column (left-looking); L overwrites the lower triangle and the
// strict upper triangle is set to 0. False when a pivot is not positive and finite.
bool cholesky(Vec& A, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    double pivot = A[j * n + j];
    for (int64_t k = 0; k < j; ++k) pivot -= A[j * n + k] * A[j * n + k];
    if (!(pivot > 0.0) || !std::isfinite(pivot)) return false;
    const double ljj = std::sqrt(pivot);
    A[j * n + j] = ljj;
    for (int64_t i = j + 1; i < n; ++i) {
      double v = A[i * n + j];
      for (int64_t k = 0; k < j; ++k) v -= A[i * n + k] * A[j * n + k];
      A[i * n + j] = v / ljj;
    }
    for (int64_t i = 0; i < j; ++i) A[i * n + j] = 0.0;
  }
  return true;
}

// y = L⁻¹·b (forward substitution).
void forward(const Vec& L, int64_t n, double* y) {
  for (int64_t i = 0; i < n; ++i) {
    double v = y[i];
    for (int64_t k = 0; k < i; ++k) v -= L[i * n + k] * y[k];
    y[i] = v / L[i * n + i];
  }
}

// y = L⁻ᵀ·b (back substitution: row i of Lᵀ is column i of L).
void backward(const Vec& L, int64_t n, double* y) {
  for (int64_t i = n - 1; i >= 0; --i) {
    double v = y[i];
    for (int64_t k = i + 1; k < n; ++k) v -= L[k * n + i] * y[k];
    y[i] = v / L[i * n + i];
  }
}

// ½·log det(L·Lᵀ) = Σ log L_ii.
double half_logdet(const Vec& L, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += std::log(L[i * n + i]);
  return s;
}

// ------------------------------------------------------------------ random numbers
rng::U4 philox_block(const WalkCtx& c, uint32_t blk, int64_t t, int64_t ch, uint32_t purpose) {
  rng::U4 ctr;
  ctr.v[0] = blk;
  ctr.v[1] = static_cast<uint32_t>(static_cast<uint64_t>(t) & 0xffffffffu);
  ctr.v[2] = static_cast<uint32_t>(ch);
  ctr.v[3] = purpose | (static_cast<uint32_t>(static_cast<uint64_t>(t) >> 32) << 8);
  return rng::philox4x32_10(ctr, static_cast<uint32_t>(c.seed), static_cast<uint32_t>(c.seed >> 32));
}

// The words of blocks 0, 1, 2, ... of one (t, ch, purpose), in order.
struct WordStream {
  const WalkCtx& c;
  int64_t t, ch;
  uint32_t purpose;
  uint64_t index = 0;
  bool spare_ok = false;
  double spare = 0.0;

  uint32_t word() {
    const rng::U4 r = philox_block(c, static_cast<uint32_t>(index / 4), t, ch, purpose);
    return r.v[index++ % 4];
  }
  double uniform() {
    const uint32_t a = word();
    const uint32_t b = word();
    return rng::u01(a, b);
  }
  double normal() {
    if (spare_ok) {
      spare_ok = false;
      return spare;
    }
    rng::U4 r;
    for (int k = 0; k < 4; ++k) r.v[k] = word();
    double a, b;
    rng::normal_pair(r, &a, &b);
    spare = b;
    spare_ok = true;
    return a;
  }
};

// ------------------------------------------------------------------ the body
// The constraint rows a_i as a dense M×d matrix (from the CSR arrays for a CSR body) and their
// Euclidean norms.
struct Rows {
  int64_t M = 0, d = 0;
  Vec a, norm;
};

Rows rows_of(const WalkCtx& c) {
  Rows r;
  r.M = c.M;
  r.d = c.d;
  r.a.assign(c.M * c.d, 0.0);
  r.norm.assign(c.M, 0.0);
  for (int64_t i = 0; i < c.M; ++i) {
    if (c.kind == 1) {
      for (int64_t p = c.row_ptr[i]; p < c.row_ptr[i + 1]; ++p) r.a[i * c.d + c.col_idx[p]] += c.vals[p];
    } else {
      for (int64_t j = 0; j < c.d; ++j) r.a[i * c.d + j] = c.A[i * c.lda + j];
    }
    double s = 0.0;
    for (int64_t j = 0; j < c.d; ++j) s += r.a[i * c.d + j] * r.a[i * c.d + j];
    r.norm[i] = std::sqrt(s);
  }
  return r;
}

// Slacks s_i = b_i − a_iᵀx; false when some s_i <= 64·eps·(|b_i| + ‖a_i‖‖x‖) (spec §3.10).
bool polytope_slacks(const WalkCtx& c, const Rows& r, const double* x, Vec& s) {
  double xx = 0.0;
  for (int64_t j = 0; j < c.d; ++j) xx += x[j] * x[j];
  const double xn = std::sqrt(xx);
  s.assign(c.M, 0.0);
  bool inside = true;
  for (int64_t i = 0; i < c.M; ++i) {
    double ax = 0.0;
    for (int64_t j = 0; j < c.d; ++j) ax += r.a[i * c.d + j] * x[j];
    s[i] = c.b[i] - ax;
    if (!(s[i] > 64.0 * kEps * (std::fabs(c.b[i]) + r.norm[i] * xn))) inside = false;
  }
  return inside;
}

// S(x) = Σ x_i F_i − C (n×n) and its Cholesky factor L; false when S is not numerically ≻ 0:
// the factorisation fails or a pivot L_kk² <= 64·eps·(‖C‖_F + Σ|x_i|·‖F_i‖_F).
bool spectra_factor(const WalkCtx& c, const double* x, Vec& L) {
  const int64_t n = c.M, d = c.d;
  L.assign(n * n, 0.0);
  double scale = 0.0, cc = 0.0;
  for (int64_t a = 0; a < n * n; ++a) cc += c.Cm[a] * c.Cm[a];
  scale = std::sqrt(cc);
  for (int64_t i = 0; i < d; ++i) {
    double ff = 0.0;
    for (int64_t a = 0; a < n * n; ++a) ff += c.F[i * n * n + a] * c.F[i * n * n + a];
    scale += std::fabs(x[i]) * std::sqrt(ff);
  }
  for (int64_t a = 0; a < n * n; ++a) {
    double v = -c.Cm[a];
    for (int64_t i = 0; i < d; ++i) v += x[i] * c.F[i * n * n + a];
    L[a] = v;
  }
  if (!cholesky(L, n)) return false;
  for (int64_t k = 0; k < n; ++k)
    if (!(L[k * n + k] * L[k * n + k] > 64.0 * kEps * scale)) return false;
  return true;
}

// ------------------------------------------------------------------ Φ = α⁻¹H + η⁻¹I
// Adds η⁻¹ (or, when η⁻¹ = 0, the ridge ridge_rel·tr(α⁻¹H)/d of spec §3.2) to the diagonal of
// the assembled α⁻¹H.
void add_diagonal(const WalkCtx& c, Vec& Phi) {
  const int64_t d = c.d;
  double add = c.eta_inv;
  if (c.eta_inv == 0.0) {
    double tr = 0.0;
    for (int64_t j = 0; j < d; ++j) tr += Phi[j * d + j];
    add = c.ridge_rel * tr / static_cast<double>(d);
  }
  for (int64_t j = 0; j < d; ++j) Phi[j * d + j] += add;
}

// Φ = α⁻¹·Σ_i ω_i a_i a_iᵀ + diagonal, with ω_i = w_i/s_i² (Lewis weights w, or 1: log barrier).
Vec phi_polytope_exact(const WalkCtx& c, const Rows& r, const Vec& s, const double* w) {
  const int64_t d = c.d;
  Vec Phi(d * d, 0.0);
  for (int64_t i = 0; i < c.M; ++i) {
    const double om = c.alpha_inv * (w ? w[i] : 1.0) / (s[i] * s[i]);
    const double* a = &r.a[i * d];
    for (int64_t j = 0; j < d; ++j)
      for (int64_t k = 0; k < d; ++k) Phi[j * d + k] += om * a[j] * a[k];
  }
  add_diagonal(c, Phi);
  return Phi;
}

// Spectrahedron (spec §3.6): H_ij = tr(S⁻¹F_i S⁻¹F_j), with S⁻¹ from the factor L of S(x).
Vec phi_spectrahedron(const WalkCtx& c, const Vec& L) {
  const int64_t n = c.M, d = c.d;
  Vec Sinv(n * n, 0.0), e(n);
  for (int64_t col = 0; col < n; ++col) {
    for (int64_t k = 0; k < n; ++k) e[k] = k == col ? 1.0 : 0.0;
    forward(L, n, e.data());
    backward(L, n, e.data());
    for (int64_t k = 0; k < n; ++k) Sinv[k * n + col] = e[k];
  }
  std::vector<Vec> P(d, Vec(n * n, 0.0));  // P_i = S⁻¹F_i
  for (int64_t i = 0; i < d; ++i) {
    const double* Fi = c.F + i * n * n;
    for (int64_t a = 0; a < n; ++a)
      for (int64_t b = 0; b < n; ++b) {
        double v = 0.0;
        for (int64_t k = 0; k < n; ++k) v += Sinv[a * n + k] * Fi[k * n + b];
        P[i][a * n + b] = v;
      }
  }
  Vec Phi(d * d, 0.0);
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j) {
      double tr = 0.0;  // tr(P_i P_j)
      for (int64_t a = 0; a < n; ++a)
        for (int64_t b = 0; b < n; ++b) tr += P[i][a * n + b] * P[j][b * n + a];
      Phi[i * d + j] = c.alpha_inv * tr;
    }
  add_diagonal(c, Phi);
  return Phi;
}

// Subsampled Hessian (spec §3.5, Alg. 3) with the words of stream `ws`. Rows b_i = √w_i/s_i·a_i.
//   1. CountSketch ΠB: per row one word h, bucket (h >> 1) mod r, sign − when h is odd.
//   2. K = (ΠB)ᵀ(ΠB) + (1e-10·tr K/d + 1e-300)·I = L_K L_Kᵀ (false if not PD).
//   3. G: jl_cols Gaussian columns g_k (entries N(0, 1/jl_cols)); y_k = L_K⁻ᵀ g_k;
//      σ̃_i = Σ_k (b_iᵀy_k)² ≈ b_iᵀ(BᵀB)⁻¹b_i.
//   4. p_i = ½·σ̃_i/Σσ̃ + ½/M (½/M + ½/M when Σσ̃ = 0); P = Σp (the CDF's last entry).
//   5. hessian_samples draws: u = uniform·P, row = the first i with cdf_i > u (the last if none).
//   6. Φ̃ = α⁻¹·Σ_i (count_i/hs)/(p_i/P)·b_i b_iᵀ + diagonal.
bool phi_polytope_subsample(const WalkCtx& c, const Rows& r, const Vec& s, const double* w, WordStream& ws,
                            Vec& Phi) {
  const int64_t M = c.M, d = c.d, R = c.sketch_rows, nt = c.jl_cols;
  Vec B(M * d);
  for (int64_t i = 0; i < M; ++i) {
    const double g = (w ? std::sqrt(w[i]) : 1.0) / s[i];
    for (int64_t j = 0; j < d; ++j) B[i * d + j] = g * r.a[i * d + j];
  }
  Vec P(R * d, 0.0);
  for (int64_t i = 0; i < M; ++i) {
    const uint32_t h = ws.word();
    const int64_t bucket = static_cast<int64_t>((h >> 1) % static_cast<uint32_t>(R));
    const double sign = (h & 1u) ? -1.0 : 1.0;
    for (int64_t j = 0; j < d; ++j) P[bucket * d + j] += sign * B[i * d + j];
  }
  Vec K(d * d, 0.0);
  for (int64_t j = 0; j < d; ++j)
    for (int64_t k = 0; k < d; ++k) {
      double v = 0.0;
      for (int64_t q = 0; q < R; ++q) v += P[q * d + j] * P[q * d + k];
      K[j * d + k] = v;
    }
  double tr = 0.0;
  for (int64_t j = 0; j < d; ++j) tr += K[j * d + j];
  for (int64_t j = 0; j < d; ++j) K[j * d + j] += 1e-10 * tr / static_cast<double>(d) + 1e-300;
  if (!cholesky(K, d)) return false;
  std::vector<Vec> Y(nt, Vec(d));
  for (int64_t k = 0; k < nt; ++k) {
    for (int64_t j = 0; j < d; ++j) Y[k][j] = ws.normal() / std::sqrt(static_cast<double>(nt));
    backward(K, d, Y[k].data());
  }
  Vec sigma(M, 0.0);
  double total = 0.0;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t k = 0; k < nt; ++k) {
      double v = 0.0;
      for (int64_t j = 0; j < d; ++j) v += B[i * d + j] * Y[k][j];
      sigma[i] += v * v;
    }
    total += sigma[i];
  }
  Vec prob(M), cdf(M);
  double sum = 0.0;
  for (int64_t i = 0; i < M; ++i) {
    const double lev = total > 0.0 ? sigma[i] / total : 1.0 / static_cast<double>(M);
    prob[i] = 0.5 * lev + 0.5 / static_cast<double>(M);
    sum += prob[i];
    cdf[i] = sum;
  }
  Vec count(M, 0.0);
  for (int64_t k = 0; k < c.hs; ++k) {
    const double u = ws.uniform() * sum;
    int64_t pick = M - 1;
    for (int64_t i = 0; i < M; ++i)
      if (cdf[i] > u) {
        pick = i;
        break;
      }
    count[pick] += 1.0;
  }
  Phi.assign(d * d, 0.0);
  for (int64_t i = 0; i < M; ++i) {
    if (count[i] == 0.0) continue;
    const double om = c.alpha_inv * (count[i] / static_cast<double>(c.hs)) / (prob[i] / sum);
    for (int64_t j = 0; j < d; ++j)
      for (int64_t k = 0; k < d; ++k) Phi[j * d + k] += om * B[i * d + j] * B[i * d + k];
  }
  add_diagonal(c, Phi);
  return true;
}

// ------------------------------------------------------------------ ℓp Lewis weights (spec §3.4)
// Damped log-space fixed point: T_i(w) = (a_{x,i}ᵀ M(w)⁻¹ a_{x,i})^{p/2} with a_{x,i} = a_i/s_i and
// M(w) = Σ_i w_i^{1−2/p} a_{x,i} a_{x,i}ᵀ; log w ← (1−θ) log w + θ log T(w), θ = min(1, 2/p);
// stop after the iteration where max_i |log T_i − log w_i| (before the update) <= lewis_tol, or
// after max_iter. Start: w_in, or d/M. A zero row has weight 0. Returns the iterations, or −1 (M
// singular or a non-finite T).
int64_t lewis_weights(const WalkCtx& c, const Rows& r, const Vec& s, const double* w_in, double* w_out,
                      int64_t max_iter, double* residual) {
  const int64_t M = c.M, d = c.d;
  const double p = c.lewis_p, theta = p > 2.0 ? 2.0 / p : 1.0;
  Vec logw(M), Mw(d * d), v(d);
  for (int64_t i = 0; i < M; ++i) {
    const double w0 = w_in ? w_in[i] : static_cast<double>(d) / static_cast<double>(M);
    logw[i] = r.norm[i] == 0.0 ? -INFINITY : std::log(w0);
  }
  double worst = INFINITY;
  int64_t it = 0;
  while (it < max_iter) {
    ++it;
    for (double& e : Mw) e = 0.0;
    for (int64_t i = 0; i < M; ++i) {
      if (r.norm[i] == 0.0) continue;
      const double om = std::exp((1.0 - 2.0 / p) * logw[i]) / (s[i] * s[i]);
      for (int64_t j = 0; j < d; ++j)
        for (int64_t k = 0; k < d; ++k) Mw[j * d + k] += om * r.a[i * d + j] * r.a[i * d + k];
    }
    if (!cholesky(Mw, d)) return -1;
    worst = 0.0;
    for (int64_t i = 0; i < M; ++i) {
      if (r.norm[i] == 0.0) continue;
      for (int64_t j = 0; j < d; ++j) v[j] = r.a[i * d + j] / s[i];
      forward(Mw, d, v.data());
      double q = 0.0;
      for (int64_t j = 0; j < d; ++j) q += v[j] * v[j];
      const double logT = 0.5 * p * std::log(q);
      if (!std::isfinite(logT)) return -1;
      worst = std::fmax(worst, std::fabs(logT - logw[i]));
      logw[i] = (1.0 - theta) * logw[i] + theta * logT;
    }
    if (!std::isfinite(worst)) return -1;  // a weight at 0 for a non-zero row
    if (worst <= c.lewis_tol) break;
  }
  for (int64_t i = 0; i < M; ++i) w_out[i] = std::exp(logw[i]);
  if (residual) *residual = worst;
  return it;
}

// ------------------------------------------------------------------ targets f (π ∝ exp(−f))
double target_f(const WalkCtx& c, const double* x) {
  const int64_t d = c.d;
  switch (c.target) {
    case 1: {  // linear cᵀx
      double s = 0.0;
      for (int64_t j = 0; j < d; ++j) s += c.tc[j] * x[j];
      return s;
    }
    case 2: {  // gaussian ½(x−μ)ᵀP(x−μ)
      double s = 0.0;
      for (int64_t i = 0; i < d; ++i)
        for (int64_t j = 0; j < d; ++j) s += (x[i] - c.tmean[i]) * c.tprec[i * d + j] * (x[j] - c.tmean[j]);
      return 0.5 * s;
    }
    case 3: {  // logistic ½·prior·‖x‖² + Σ_k log(1 + exp(−y_k X_kᵀx))
      double s = 0.0;
      for (int64_t j = 0; j < d; ++j) s += x[j] * x[j];
      s *= 0.5 * c.prior_prec;
      for (int64_t k = 0; k < c.nobs; ++k) {
        double m = 0.0;
        for (int64_t j = 0; j < d; ++j) m += c.tX[k * d + j] * x[j];
        const double u = -c.ty[k] * m;  // log(1 + e^u), stable for either sign
        s += u > 0.0 ? u + std::log1p(std::exp(-u)) : std::log1p(std::exp(u));
      }
      return s;
    }
    default: return 0.0;  // uniform; callback targets get f from JavaScript
  }
}

// ------------------------------------------------------------------ one step
// Φ at an interior point (slacks s or the factor of S(x) in Ls) factored into Phi; returns
// ½ log det Φ or NaN. `Hess` is its matrix before factoring (for the quadratic form).
double phi_at(const WalkCtx& c, const Rows& r, const Vec& s, const Vec& Ls, const double* w, int64_t t, int64_t ch,
              uint32_t purpose, bool exact, Vec& Hess, Vec& Phi) {
  if (c.kind == 2) {
    Hess = phi_spectrahedron(c, Ls);
  } else if (!exact && c.hessian == 1) {
    WordStream ws{c, t, ch, purpose};
    if (!phi_polytope_subsample(c, r, s, w, ws, Hess)) return NAN;
  } else {
    Hess = phi_polytope_exact(c, r, s, w);
  }
  Phi = Hess;
  if (!cholesky(Phi, c.d)) return NAN;
  return half_logdet(Phi, c.d);
}

bool interior(const WalkCtx& c, const Rows& r, const double* x, Vec& s, Vec& Ls) {
  return c.kind == 2 ? spectra_factor(c, x, Ls) : polytope_slacks(c, r, x, s);
}

void propose_ref(const WalkCtx& c, int64_t ch, int64_t t) {
  const int64_t d = c.d, M = c.M;
  c.status[ch] = 0;
  const rng::U4 coin = philox_block(c, 0, t, ch, kRngCoin);
  if (c.lazy && rng::u01(coin.v[0], coin.v[1]) < 0.5) return;  // the lazy half: stay
  const Rows r = c.kind == 2 ? Rows{} : rows_of(c);
  const double* x = c.x + ch * d;
  double* wx = c.barrier == 1 ? c.lw + 2 * ch * M : nullptr;
  double* wz = c.barrier == 1 ? c.lw + (2 * ch + 1) * M : nullptr;
  Vec s, Ls, Hx, Lx, Hz, Lz;
  // Φ̃(x) (recomputed every step; fresh kRngHessX randomness when subsampled).
  if (!interior(c, r, x, s, Ls)) return;
  if (wx && !c.lw_have[ch]) {
    const int64_t it = lewis_weights(c, r, s, nullptr, wx, c.lewis_max_iter, nullptr);
    if (it < 0) return;
    c.lewis_iters[ch] += it;
    c.lw_have[ch] = 1;
  }
  const double hlx = phi_at(c, r, s, Ls, wx, t, ch, kRngHessX, false, Hx, Lx);
  if (std::isnan(hlx)) return;
  // ξ ~ N(0, I_d) and z = x + Lₓ⁻ᵀξ (covariance Φ̃(x)⁻¹).
  Vec xi(d), u(d);
  for (int64_t k = 0; 2 * k < d; ++k) {
    double n0, n1;
    rng::normal_pair(philox_block(c, static_cast<uint32_t>(k), t, ch, kRngXi), &n0, &n1);
    xi[2 * k] = n0;
    if (2 * k + 1 < d) xi[2 * k + 1] = n1;
  }
  double qx = 0.0;  // ‖x − z‖²_Φ̃(x) = ξᵀξ
  for (int64_t j = 0; j < d; ++j) {
    qx += xi[j] * xi[j];
    u[j] = xi[j];
  }
  backward(Lx, d, u.data());
  double* z = c.z + ch * d;
  for (int64_t j = 0; j < d; ++j) z[j] = x[j] + u[j];
  if (!interior(c, r, z, s, Ls)) return;
  if (wz) {  // weights at z, warm-started from those at x
    const int64_t it = lewis_weights(c, r, s, wx, wz, c.lewis_max_iter, nullptr);
    if (it < 0) return;
    c.lewis_iters[ch] += it;
  }
  const double hlz = phi_at(c, r, s, Ls, wz, t, ch, kRngHessZ, false, Hz, Lz);
  if (std::isnan(hlz)) return;
  double qz = 0.0;  // ‖x − z‖²_Φ̂(z) = uᵀΦ̂u
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j) qz += u[i] * Hz[i * d + j] * u[j];
  c.p_qx[ch] = qx;
  c.p_qz[ch] = qz;
  c.p_hlx[ch] = hlx;
  c.p_hlz[ch] = hlz;
  c.status[ch] = 1;
}

// Metropolis filter: accept iff log U < [−f(z) + ½log det Φ̂ − ½‖x−z‖²_Φ̂] − [−f(x) + ½log det Φ̃ − ½‖ξ‖²].
void finish_ref(const WalkCtx& c, int64_t ch, int64_t t, double fz) {
  const int64_t d = c.d;
  if (c.status[ch] == 1 && fz < INFINITY) {
    const double log_tau = (-fz + c.p_hlz[ch] - 0.5 * c.p_qz[ch]) - (-c.fx[ch] + c.p_hlx[ch] - 0.5 * c.p_qx[ch]);
    const rng::U4 coin = philox_block(c, 0, t, ch, kRngCoin);
    if (std::log(rng::u01(coin.v[2], coin.v[3])) < log_tau) {
      for (int64_t j = 0; j < d; ++j) c.x[ch * d + j] = c.z[ch * d + j];
      c.fx[ch] = fz;
      if (c.barrier == 1)
        for (int64_t i = 0; i < c.M; ++i) c.lw[2 * ch * c.M + i] = c.lw[(2 * ch + 1) * c.M + i];
      if (t >= c.burn_in) c.accepted[ch] += 1;
    }
  }
  c.status[ch] = 0;
  // Record step t: after burn-in, every thin-th step, at most `kept` (layout [kept][C][d]).
  if (t < c.burn_in) return;
  const int64_t k = t - c.burn_in + 1;
  if (k % c.thin != 0 || k / c.thin > c.kept) return;
  double* out = c.samples + ((k / c.thin - 1) * c.C + ch) * d;
  for (int64_t j = 0; j < d; ++j) out[j] = c.x[ch * d + j];
}

// ------------------------------------------------------------------ the kernel table
void k_propose(const WalkCtx& c, int64_t ch, int64_t t, int) { propose_ref(c, ch, t); }
void k_finish(const WalkCtx& c, int64_t ch, int64_t t, double fz) { finish_ref(c, ch, t, fz); }
double k_target(const WalkCtx& c, const double* x, double*) { return target_f(c, x); }
void k_run_chain(const WalkCtx& c, int64_t ch, int64_t t0, int64_t t1, int) {
  for (int64_t t = t0; t < t1; ++t) {
    propose_ref(c, ch, t);
    const double fz = c.status[ch] ? target_f(c, c.z + ch * c.d) : 0.0;
    finish_ref(c, ch, t, fz);
  }
}
// The exact Φ at x written as a lower factor with leading dimension c.ldm (upper part zero).
double k_phi_exact(const WalkCtx& c, const double* x, const double* lw, double* out, int) {
  const Rows r = c.kind == 2 ? Rows{} : rows_of(c);
  Vec s, Ls, H, L;
  if (!interior(c, r, x, s, Ls)) return NAN;
  const double hl = phi_at(c, r, s, Ls, lw, 0, 0, kRngHessX, true, H, L);
  if (std::isnan(hl)) return NAN;
  for (int64_t k = 0; k < c.msz; ++k) out[k] = 0.0;
  for (int64_t i = 0; i < c.d; ++i)
    for (int64_t j = 0; j <= i; ++j) out[i * c.ldm + j] = L[i * c.d + j];
  return hl;
}
int64_t k_lewis(const WalkCtx& c, const double* x, const double* w_in, double* w_out, int, int64_t max_iter,
                double* residual) {
  if (c.kind == 2) return -1;
  const Rows r = rows_of(c);
  Vec s;
  if (!polytope_slacks(c, r, x, s)) return -1;
  return lewis_weights(c, r, s, w_in, w_out, max_iter, residual);
}

}  // namespace

const WalkKernels& walk_kernels() {
  static const WalkKernels k = {k_propose, k_finish, k_run_chain, k_target, k_phi_exact, k_lewis, "ref"};
  return k;
}

}  // namespace poly_ref
}  // namespace lemma
