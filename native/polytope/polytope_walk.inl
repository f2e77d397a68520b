// One step of the soft-threshold Dikin walk (spec §3.2), written once and compiled three times:
// polytope_cpu_{scalar,avx2,avx512}.cc (blocked SYRK and Cholesky with the including TU's ISA).
// Same random numbers, same decisions; only rounding differs between the instantiations. The
// fp64 oracle (polytope_ref.cc) is a separate plain implementation that draws the same random
// numbers, so a bug here cannot pass the comparison by being shared.
//
// Step t of chain ch (x interior, Φ(x) = LₓLₓᵀ):
//   coin block (kRngCoin): u_lazy, u_acc. Lazy chain: u_lazy < ½ ⇒ stay (this is the paper's
//     "with probability ½·min{1, τ}", with the coin flipped first so a lazy step costs nothing).
//   Φ̃(x): exact ⇒ the cached factor (H(x) is a function of x, so caching is the same chain);
//     subsample ⇒ rebuilt with fresh randomness kRngHessX every step (never reused, §3.2).
//   ξ ~ N(0, I) (kRngXi), z = x + Lₓ⁻ᵀξ; z outside (boundary rule §3.10) ⇒ stay.
//   Φ̂(z) (exact or fresh kRngHessZ), log τ = [−f(z) + ½log det Φ̂ − ½‖x−z‖²_Φ̂]
//                                            − [−f(x) + ½log det Φ̃ − ½‖ξ‖²]
//   (‖x−z‖²_Φ̃ = ‖ξ‖² exactly since Lₓᵀ(z−x) = ξ); accept iff log u_acc < log τ.
// Everything is in log space; determinants are never formed.
//
// Φ = α⁻¹H + η⁻¹I, H = Σ g_i² a_i a_iᵀ with g_i = 1/s_i (log barrier) or √w_i/s_i (Lewis),
// or H_ij = tr(S⁻¹A_iS⁻¹A_j) (spectrahedron). With η⁻¹ = 0 (uniform target) a ridge
// ridge_rel·tr(Φ)/d is added for numerical safety (§3.2); it is a function of the point, so the
// chain stays exact.
//
// Include after `#define POLY_NS <ns>`; the std headers this file
// needs must already be included (before any `#pragma GCC target`).

#include "core/linalg.h"
#include "core/rng.h"
#include "polytope/polytope_walk.h"

namespace lemma {
namespace POLY_NS {

namespace {

using linalg::half_log_det;

struct Scratch {
  double *xi, *u, *tmp, *g, *slack, *B, *work, *K, *logw, *T, *Y, *P, *Yg, *prob, *cdf, *cnt, *Bs, *S, *V, *W;
};

inline Scratch scratch_of(const WalkCtx& c, int worker) {
  const WalkScratchLayout L = walk_scratch_layout(c);
  double* s = c.scratch + static_cast<int64_t>(worker) * c.scratch_stride;
  return {s + L.xi, s + L.u,  s + L.tmp, s + L.g,    s + L.slack, s + L.B,   s + L.work,
          s + L.K,  s + L.logw, s + L.T, s + L.Y,    s + L.P,     s + L.Yg,  s + L.prob,
          s + L.cdf, s + L.cnt, s + L.Bs, s + L.S,   s + L.V,     s + L.W};
}

constexpr double kEps = 2.220446049250313e-16;

// ------------------------------------------------------------------ linear algebra (blocked)
inline double la_dot(const double* x, const double* y, int64_t n) {
  return linalg::dot(x, y, n);
}
// C (d×d lower, ld ldc) += BᵀB, B k×d with ld ldb (zero columns [d, ldb)).
inline void la_syrk(double* C, int64_t ldc, int64_t d, const double* B, int64_t ldb, int64_t k) {
  linalg::syrk_lower<false>(C, ldc, d, B, ldb, k);
}
inline bool la_chol(double* A, int64_t n, int64_t ld, double* work) {
  return linalg::cholesky_blocked(A, n, ld, work);
}
inline void la_solve_t(const double* L, int64_t n, int64_t ld, double* x) {
  linalg::solve_lower_t_fast(L, n, ld, x);
}
inline double la_quad(const double* L, int64_t n, int64_t ld, const double* u, double* tmp) {
  return linalg::quad_form_lower_t_fast(L, n, ld, u, tmp);
}
inline void zero(double* p, int64_t n) { memset(p, 0, static_cast<size_t>(n) * sizeof(double)); }

inline uint32_t hi_word(int64_t t) { return static_cast<uint32_t>(static_cast<uint64_t>(t) >> 32) << 8; }
inline rng::U4 block(const WalkCtx& c, uint32_t blk, int64_t t, int64_t ch, uint32_t purpose) {
  rng::U4 ctr;
  ctr.v[0] = blk;
  ctr.v[1] = static_cast<uint32_t>(t);
  ctr.v[2] = static_cast<uint32_t>(ch);
  ctr.v[3] = purpose | hi_word(t);
  return rng::philox4x32_10(ctr, rng::key_lo(c.seed), rng::key_hi(c.seed));
}

// ------------------------------------------------------------------ body geometry
// Slacks of a polytope at x; false when x is outside or on the boundary (spec §3.10 rule).
inline bool polytope_slack(const WalkCtx& c, const double* x, double* s) {
  const double xn = sqrt(la_dot(x, x, c.d));
  bool inside = true;
  for (int64_t i = 0; i < c.M; ++i) {
    double ax;
    if (c.kind == 1) {
      ax = 0.0;
      for (int64_t p = c.row_ptr[i]; p < c.row_ptr[i + 1]; ++p) ax += c.vals[p] * x[c.col_idx[p]];
    } else {
      ax = la_dot(c.A + i * c.lda, x, c.d);
    }
    const double si = c.b[i] - ax;
    s[i] = si;
    if (!(si > 64.0 * kEps * (fabs(c.b[i]) + c.row_norm[i] * xn))) inside = false;
  }
  return inside;
}

// S(x) = Σ x_i F_i − C and its Cholesky in S (n×n); false when not ≻ 0 (boundary rule: every
// pivot² must exceed 64·eps·(‖C‖ + Σ|x_i|‖F_i‖)).
inline bool spectra_factor(const WalkCtx& c, const double* x, double* S) {
  const int64_t n = c.M, d = c.d;
  double scale = c.f_norm[d];
  for (int64_t i = 0; i < d; ++i) scale += fabs(x[i]) * c.f_norm[i];
  for (int64_t a = 0; a < n * n; ++a) S[a] = -c.Cm[a];
  for (int64_t i = 0; i < d; ++i) {
    const double xi = x[i];
    const double* Fi = c.F + i * n * n;
    for (int64_t a = 0; a < n * n; ++a) S[a] += xi * Fi[a];
  }
  if (!linalg::cholesky_unblocked(S, n, n)) return false;
  const double tol = 64.0 * kEps * scale;
  for (int64_t k = 0; k < n; ++k)
    if (!(S[k * n + k] * S[k * n + k] > tol)) return false;
  return true;
}

inline bool interior(const WalkCtx& c, const Scratch& sc, const double* x) {
  return c.kind == 2 ? spectra_factor(c, x, sc.S) : polytope_slack(c, x, sc.slack);
}

// Adds η⁻¹ (or, for the uniform target, the ridge) to the diagonal and factors Φ in place.
// Returns ½ log det Φ, or NaN when Φ is not numerically positive definite.
inline double finish_phi(const WalkCtx& c, double* Phi, double* work) {
  const int64_t d = c.d, ld = c.ldm;
  double add = c.eta_inv;
  if (c.eta_inv == 0.0) {
    double tr = 0.0;
    for (int64_t i = 0; i < d; ++i) tr += Phi[i * ld + i];
    add = c.ridge_rel * tr / static_cast<double>(d);
  }
  for (int64_t i = 0; i < d; ++i) Phi[i * ld + i] += add;
  if (!la_chol(Phi, d, ld, work)) return NAN;
  return half_log_det(Phi, d, ld);
}

// B[i] = g_i·a_i for every row (dense rows also for CSR bodies); padding columns stay zero.
inline void scaled_rows(const WalkCtx& c, const double* g, double* B) {
  const int64_t lda = c.lda;
  if (c.kind == 1) {
    zero(B, c.M * lda);
    for (int64_t i = 0; i < c.M; ++i)
      for (int64_t p = c.row_ptr[i]; p < c.row_ptr[i + 1]; ++p) B[i * lda + c.col_idx[p]] = g[i] * c.vals[p];
    return;
  }
  for (int64_t i = 0; i < c.M; ++i) {
    const double gi = g[i];
    const double* a = c.A + i * lda;
    double* r = B + i * lda;
    for (int64_t j = 0; j < lda; ++j) r[j] = gi * a[j];
  }
}

// Φ = α⁻¹·Σ w_i a_i a_iᵀ/s_i² + η⁻¹I (exact Hessian of the log / Lewis barrier) into Phi,
// factored. Returns ½ log det Φ or NaN.
inline double phi_polytope_exact(const WalkCtx& c, const Scratch& sc, const double* slack, const double* lw,
                                 double* Phi) {
  const int64_t ld = c.ldm;
  zero(Phi, c.msz);
  if (c.kind == 1) {
    // Sparse rows: Φ += α⁻¹ w_i/s_i² · a_i a_iᵀ over the nonzeros only.
    for (int64_t i = 0; i < c.M; ++i) {
      const double g2 = c.alpha_inv * (lw ? lw[i] : 1.0) / (slack[i] * slack[i]);
      const int64_t p0 = c.row_ptr[i], p1 = c.row_ptr[i + 1];
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t jp = c.col_idx[p];
        const double vp = g2 * c.vals[p];
        for (int64_t q = p0; q <= p; ++q) {
          const int64_t jq = c.col_idx[q];
          if (jp >= jq) Phi[jp * ld + jq] += vp * c.vals[q];
          else Phi[jq * ld + jp] += vp * c.vals[q];
        }
      }
    }
  } else {
    const double sa = sqrt(c.alpha_inv);
    for (int64_t i = 0; i < c.M; ++i) sc.g[i] = sa * (lw ? sqrt(lw[i]) : 1.0) / slack[i];
    scaled_rows(c, sc.g, sc.B);
    la_syrk(Phi, ld, c.d, sc.B, c.lda, c.M);
  }
  return finish_phi(c, Phi, sc.work);
}

// Φ for a spectrahedron (S(x) factored in sc.S by interior()): H_ij = ⟨M_i, M_j⟩_F with
// M_i = L⁻¹F_iL⁻ᵀ (spec §3.6), as a SYRK over the n² rows vec(M_1..M_d).
inline double phi_spectra(const WalkCtx& c, const Scratch& sc, double* Phi) {
  const int64_t n = c.M, d = c.d, lda = c.lda;
  const double sa = sqrt(c.alpha_inv);
  zero(sc.W, (n * n + 16) * lda);
  for (int64_t i = 0; i < d; ++i) {
    const double* Fi = c.F + i * n * n;
    // V row j = L⁻¹·(row j of F_i) = (F_iL⁻ᵀ) row j   (F_i symmetric).
    for (int64_t j = 0; j < n; ++j) {
      double* vj = sc.V + j * n;
      for (int64_t k = 0; k < n; ++k) vj[k] = Fi[j * n + k];
      linalg::solve_lower(sc.S, n, n, vj);
    }
    // Column k of M_i = L⁻¹·(column k of F_iL⁻ᵀ); M_i is symmetric, so this is also its row k.
    for (int64_t k = 0; k < n; ++k) {
      for (int64_t j = 0; j < n; ++j) sc.tmp[j] = sc.V[j * n + k];
      linalg::solve_lower(sc.S, n, n, sc.tmp);
      for (int64_t j = 0; j < n; ++j) sc.W[(k * n + j) * lda + i] = sa * sc.tmp[j];
    }
  }
  zero(Phi, c.msz);
  la_syrk(Phi, c.ldm, d, sc.W, lda, n * n);
  return finish_phi(c, Phi, sc.work);
}

// τ_i = ‖L⁻¹ g_i a_i‖² for all rows (L = the factor in K); B holds the rows g_i a_i.
inline void leverage_quadforms(const WalkCtx& c, const Scratch& sc, const double* K, const double* B, double* tau) {
  const int64_t M = c.M, d = c.d, lda = c.lda;
  const int64_t Mp = walk_mp(M);
  for (int64_t j = 0; j < d; ++j) {
    double* yj = sc.Y + j * Mp;
    for (int64_t i = 0; i < M; ++i) yj[i] = B[i * lda + j];
    for (int64_t i = M; i < Mp; ++i) yj[i] = 0.0;
  }
  linalg::solve_lower_multi(K, d, c.ldm, sc.Y, Mp);
  for (int64_t i = 0; i < M; ++i) tau[i] = 0.0;
  for (int64_t j = 0; j < d; ++j) {
    const double* yj = sc.Y + j * Mp;
    for (int64_t i = 0; i < M; ++i) tau[i] += yj[i] * yj[i];
  }
}

// ℓp Lewis weights of A_x = S⁻¹A (spec §3.4): log w ← (1−θ)·log w + θ·log T(w) with
// T_i(w) = (a_{x,i}ᵀ M(w)⁻¹ a_{x,i})^{p/2}, M(w) = A_xᵀ W^{1−2/p} A_x, θ = min(1, 2/p); stops when
// max_i |log T_i − log w_i| <= tol. Returns the iterations, or −1 when M(w) is singular.
inline int64_t lewis_solve(const WalkCtx& c, const Scratch& sc, const double* slack, const double* w_in, double* w,
                           int64_t max_iter, double* residual) {
  const int64_t M = c.M, d = c.d;
  const double p = c.lewis_p, theta = p > 2.0 ? 2.0 / p : 1.0, e = 0.5 - 1.0 / p;
  for (int64_t i = 0; i < M; ++i)
    sc.logw[i] = log(w_in ? w_in[i] : static_cast<double>(d) / static_cast<double>(M));
  double err = INFINITY;
  int64_t it = 0;
  while (it < max_iter) {
    ++it;
    for (int64_t i = 0; i < M; ++i) sc.g[i] = c.row_norm[i] == 0.0 ? 0.0 : exp(e * sc.logw[i]) / slack[i];
    scaled_rows(c, sc.g, sc.B);
    zero(sc.K, c.msz);
    la_syrk(sc.K, c.ldm, d, sc.B, c.lda, M);
    if (!la_chol(sc.K, d, c.ldm, sc.work)) return -1;
    for (int64_t i = 0; i < M; ++i) sc.g[i] = 1.0 / slack[i];
    scaled_rows(c, sc.g, sc.B);
    leverage_quadforms(c, sc, sc.K, sc.B, sc.T);
    err = 0.0;
    for (int64_t i = 0; i < M; ++i) {
      if (c.row_norm[i] == 0.0) {  // a zero row (0 <= b_i, b_i > 0) has leverage and weight 0
        sc.logw[i] = -INFINITY;
        continue;
      }
      const double lt = 0.5 * p * log(sc.T[i]);
      const double dv = fabs(lt - sc.logw[i]);
      if (!(dv <= err)) err = dv;  // NaN propagates into err
      sc.logw[i] = (1.0 - theta) * sc.logw[i] + theta * lt;
    }
    if (!(err < INFINITY)) return -1;
    if (err <= c.lewis_tol) break;
  }
  for (int64_t i = 0; i < M; ++i) w[i] = exp(sc.logw[i]);
  if (residual) *residual = err;
  return it;
}

// Φ̃ from leverage-score row sampling (spec §3.5, Alg. 3) with fresh randomness `purpose`:
// CountSketch (sketch_rows buckets) → K = (ΠB)ᵀΠB = LLᵀ, σ̃_i = ‖b_iᵀL⁻ᵀG‖² with a Gaussian
// G (d × jl_cols), p_i = ½σ̃_i/Σσ̃ + ½/M, hs rows drawn i.i.d. from p,
// Φ̃ = α⁻¹·(1/hs)Σ_t b b ᵀ/p + η⁻¹I. Any p > 0 keeps E[H̃] = H; the chain is exact either way
// (Lemma D.12). Returns ½ log det or NaN.
inline double phi_polytope_subsample(const WalkCtx& c, const Scratch& sc, const double* slack, const double* lw,
                                     int64_t t, int64_t ch, uint32_t purpose, double* Phi) {
  const int64_t M = c.M, d = c.d, lda = c.lda, r = c.sketch_rows, nt = c.jl_cols;
  rng::Stream st(c.seed, static_cast<uint32_t>(t), static_cast<uint32_t>(ch), purpose | hi_word(t));
  for (int64_t i = 0; i < M; ++i) sc.g[i] = (lw ? sqrt(lw[i]) : 1.0) / slack[i];
  scaled_rows(c, sc.g, sc.B);
  zero(sc.P, r * lda);
  for (int64_t i = 0; i < M; ++i) {
    const uint32_t h = st.next_u32();
    const int64_t k = static_cast<int64_t>((h >> 1) % static_cast<uint32_t>(r));
    const double sg = (h & 1u) ? -1.0 : 1.0;
    const double* bi = sc.B + i * lda;
    double* pk = sc.P + k * lda;
    for (int64_t j = 0; j < lda; ++j) pk[j] += sg * bi[j];
  }
  zero(sc.K, c.msz);
  la_syrk(sc.K, c.ldm, d, sc.P, lda, r);
  double tr = 0.0;
  for (int64_t j = 0; j < d; ++j) tr += sc.K[j * c.ldm + j];
  for (int64_t j = 0; j < d; ++j) sc.K[j * c.ldm + j] += 1e-10 * tr / static_cast<double>(d) + 1e-300;
  if (!la_chol(sc.K, d, c.ldm, sc.work)) return NAN;
  const double gs = 1.0 / sqrt(static_cast<double>(nt));
  for (int64_t k = 0; k < nt; ++k) {
    double* y = sc.Yg + k * c.ldm;
    for (int64_t j = 0; j < d; ++j) y[j] = gs * st.next_normal();
    la_solve_t(sc.K, d, c.ldm, y);
  }
  double total = 0.0;
  for (int64_t i = 0; i < M; ++i) {
    double s = 0.0;
    for (int64_t k = 0; k < nt; ++k) {
      const double v = la_dot(sc.B + i * lda, sc.Yg + k * c.ldm, d);
      s += v * v;
    }
    sc.prob[i] = s;
    total += s;
  }
  double acc = 0.0;
  for (int64_t i = 0; i < M; ++i) {
    sc.prob[i] = 0.5 * (total > 0.0 ? sc.prob[i] / total : 1.0 / static_cast<double>(M)) +
                 0.5 / static_cast<double>(M);
    acc += sc.prob[i];
    sc.cdf[i] = acc;
    sc.cnt[i] = 0.0;
  }
  for (int64_t k = 0; k < c.hs; ++k) {
    const double u = st.next_u01() * acc;
    int64_t lo = 0, hi = M - 1;  // first i with cdf[i] > u
    while (lo < hi) {
      const int64_t mid = (lo + hi) >> 1;
      if (sc.cdf[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    sc.cnt[lo] += 1.0;
  }
  int64_t rows = 0;
  const double inv_s = 1.0 / static_cast<double>(c.hs);
  for (int64_t i = 0; i < M; ++i) {
    if (sc.cnt[i] == 0.0) continue;
    const double gi = sqrt(c.alpha_inv * sc.cnt[i] * inv_s / (sc.prob[i] / acc));
    const double* bi = sc.B + i * lda;
    double* o = sc.Bs + rows * lda;
    for (int64_t j = 0; j < lda; ++j) o[j] = gi * bi[j];
    ++rows;
  }
  zero(Phi, c.msz);
  la_syrk(Phi, c.ldm, d, sc.Bs, lda, rows);
  return finish_phi(c, Phi, sc.work);
}

// ------------------------------------------------------------------ targets
inline double softplus(double u) { return (u > 0.0 ? u : 0.0) + log1p(exp(-fabs(u))); }

inline double target_value_impl(const WalkCtx& c, const double* x, double* tmp) {
  const int64_t d = c.d;
  switch (c.target) {
    case 1: return la_dot(c.tc, x, d);
    case 2: {
      for (int64_t j = 0; j < d; ++j) tmp[j] = x[j] - c.tmean[j];
      double s = 0.0;
      for (int64_t i = 0; i < d; ++i) s += tmp[i] * la_dot(c.tprec + i * d, tmp, d);
      return 0.5 * s;
    }
    case 3: {
      double s = 0.5 * c.prior_prec * la_dot(x, x, d);
      for (int64_t k = 0; k < c.nobs; ++k) s += softplus(-c.ty[k] * la_dot(c.tX + k * d, x, d));
      return s;
    }
    default: return 0.0;
  }
}

// ------------------------------------------------------------------ the step
inline double phi_at(const WalkCtx& c, const Scratch& sc, const double* lw, int64_t t, int64_t ch,
                     uint32_t purpose, double* Phi) {
  if (c.kind == 2) return phi_spectra(c, sc, Phi);
  if (c.hessian == 1) return phi_polytope_subsample(c, sc, sc.slack, lw, t, ch, purpose, Phi);
  return phi_polytope_exact(c, sc, sc.slack, lw, Phi);
}

inline void propose_impl(const WalkCtx& c, int64_t ch, int64_t t, int worker) {
  const int64_t d = c.d, M = c.M;
  c.status[ch] = 0;
  const rng::U4 coin = block(c, 0, t, ch, kRngCoin);
  if (c.lazy && rng::u01(coin.v[0], coin.v[1]) < 0.5) return;
  const Scratch sc = scratch_of(c, worker);
  const double* x = c.x + ch * d;
  const int cur = c.cur[ch];
  double* Lx = c.mats + (2 * ch + cur) * c.msz;
  double* Lz = c.mats + (2 * ch + 1 - cur) * c.msz;
  double* lwx = c.barrier == 1 ? c.lw + (2 * ch + cur) * M : nullptr;
  double* lwz = c.barrier == 1 ? c.lw + (2 * ch + 1 - cur) * M : nullptr;
  // Φ̃(x): cached (exact) or fresh (subsample).
  double hlx;
  if (c.hessian == 1 || !c.have[ch]) {
    if (!interior(c, sc, x)) return;  // cannot happen for a chain state; stay put
    if (lwx && !c.lw_have[ch]) {
      const int64_t it = lewis_solve(c, sc, sc.slack, nullptr, lwx, c.lewis_max_iter, nullptr);
      if (it < 0) return;
      c.lewis_iters[ch] += it;
      c.lw_have[ch] = 1;
    }
    hlx = phi_at(c, sc, lwx, t, ch, kRngHessX, Lx);
    if (!(hlx == hlx)) return;
    if (c.hessian == 0) {
      c.have[ch] = 1;
      c.hl[ch] = hlx;
    }
  } else {
    hlx = c.hl[ch];
  }
  // ξ ~ N(0, I): block k gives ξ[2k], ξ[2k+1].
  double qx = 0.0;
  for (int64_t k = 0; 2 * k < d; ++k) {
    double a, b;
    rng::normal_pair(block(c, static_cast<uint32_t>(k), t, ch, kRngXi), &a, &b);
    sc.xi[2 * k] = a;
    if (2 * k + 1 < d) sc.xi[2 * k + 1] = b;
  }
  for (int64_t j = 0; j < d; ++j) {
    qx += sc.xi[j] * sc.xi[j];
    sc.u[j] = sc.xi[j];
  }
  la_solve_t(Lx, d, c.ldm, sc.u);  // u = Lₓ⁻ᵀξ ~ N(0, Φ̃(x)⁻¹)
  double* z = c.z + ch * d;
  for (int64_t j = 0; j < d; ++j) z[j] = x[j] + sc.u[j];
  if (!interior(c, sc, z)) return;
  if (lwz) {
    const int64_t it = lewis_solve(c, sc, sc.slack, lwx, lwz, c.lewis_max_iter, nullptr);
    if (it < 0) return;
    c.lewis_iters[ch] += it;
  }
  const double hlz = phi_at(c, sc, lwz, t, ch, kRngHessZ, Lz);
  if (!(hlz == hlz)) return;
  c.p_qz[ch] = la_quad(Lz, d, c.ldm, sc.u, sc.tmp);  // ‖x − z‖²_Φ̂(z)
  c.p_qx[ch] = qx;
  c.p_hlz[ch] = hlz;
  c.p_hlx[ch] = hlx;
  c.status[ch] = 1;
}

inline void record(const WalkCtx& c, int64_t ch, int64_t t) {
  if (t < c.burn_in) return;
  const int64_t k = t - c.burn_in + 1;
  if (k % c.thin != 0 || k / c.thin > c.kept) return;
  const double* x = c.x + ch * c.d;
  double* o = c.samples + ((k / c.thin - 1) * c.C + ch) * c.d;  // step-major [kept][C][d]
  for (int64_t j = 0; j < c.d; ++j) o[j] = x[j];
}

inline void finish_impl(const WalkCtx& c, int64_t ch, int64_t t, double fz) {
  if (c.status[ch] == 1 && fz < INFINITY) {
    const double log_tau = (-fz + c.p_hlz[ch] - 0.5 * c.p_qz[ch]) - (-c.fx[ch] + c.p_hlx[ch] - 0.5 * c.p_qx[ch]);
    const rng::U4 coin = block(c, 0, t, ch, kRngCoin);
    if (log(rng::u01(coin.v[2], coin.v[3])) < log_tau) {
      const int64_t d = c.d;
      double* x = c.x + ch * d;
      const double* z = c.z + ch * d;
      for (int64_t j = 0; j < d; ++j) x[j] = z[j];
      c.fx[ch] = fz;
      c.cur[ch] = static_cast<uint8_t>(1 - c.cur[ch]);
      c.hl[ch] = c.p_hlz[ch];
      if (t >= c.burn_in) c.accepted[ch] += 1;
    }
  }
  c.status[ch] = 0;
  record(c, ch, t);
}

}  // namespace

// ------------------------------------------------------------------ the kernel table
static void k_propose(const WalkCtx& c, int64_t ch, int64_t t, int worker) { propose_impl(c, ch, t, worker); }
static void k_finish(const WalkCtx& c, int64_t ch, int64_t t, double fz) { finish_impl(c, ch, t, fz); }
static double k_target(const WalkCtx& c, const double* x, double* tmp) { return target_value_impl(c, x, tmp); }
static void k_run_chain(const WalkCtx& c, int64_t ch, int64_t t0, int64_t t1, int worker) {
  double* tmp = scratch_of(c, worker).tmp;
  for (int64_t t = t0; t < t1; ++t) {
    propose_impl(c, ch, t, worker);
    const double fz = c.status[ch] ? target_value_impl(c, c.z + ch * c.d, tmp) : 0.0;
    finish_impl(c, ch, t, fz);
  }
}
static double k_phi_exact(const WalkCtx& c, const double* x, const double* lw, double* out, int worker) {
  const Scratch sc = scratch_of(c, worker);
  if (!interior(c, sc, x)) return NAN;
  if (c.kind == 2) return phi_spectra(c, sc, out);
  return phi_polytope_exact(c, sc, sc.slack, lw, out);
}
static int64_t k_lewis(const WalkCtx& c, const double* x, const double* w_in, double* w_out, int worker,
                       int64_t max_iter, double* residual) {
  const Scratch sc = scratch_of(c, worker);
  if (c.kind == 2 || !polytope_slack(c, x, sc.slack)) return -1;
  return lewis_solve(c, sc, sc.slack, w_in, w_out, max_iter, residual);
}

const WalkKernels& walk_kernels() {
  static const WalkKernels k = {k_propose, k_finish, k_run_chain, k_target, k_phi_exact, k_lewis,
                                linalg::isa_name()
  };
  return k;
}

}  // namespace POLY_NS
}  // namespace lemma
