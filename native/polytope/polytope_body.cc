// Convex bodies: validation, the interior test, phase I, the analytic centre (damped Newton on
// the barrier), and the John ellipsoid of a symmetric polytope (CCLY fixed point).
//
//   analytic centre  x* = argmin g(x),  g = −Σ log(b_i − a_iᵀx)  or  −log det(Σ x_i A_i − C)
//
// Phase I (no interior point known): variables (x, t) on the body relaxed by t,
//   polytope  (a_iᵀx − b_i)/‖a_i‖ <= t      spectrahedron  Σ x_i A_i − C + t·I ⪰ 0,
// minimised by a barrier path μ·t + g_aug(x, t) + (ρ/2)‖(x, t)‖² (ρ = 1e-12, which keeps Newton
// defined on flat or unbounded bodies), μ ×8 per stage, until t < 0 (then x is strictly inside).
// On the central path t(μ) − t* <= ν/μ (ν = M), so t − 2ν/μ > 1e-9 proves the body empty, and
// t >= 0 with 2ν/μ < 1e-9 means the interior is empty (flat body).
// Centre: damped Newton (step 1/(1+λ) while λ > ¼, then full steps, with a feasibility and
// Armijo backtrack). Unbounded bodies: a Newton direction Δ that no constraint opposes
// (max_i a_iᵀΔ/‖a_i‖ <= 1e-12‖Δ‖, or Σ Δ_i A_i ⪰ 0 for a spectrahedron) is a recession
// direction and is reported; iterates beyond 1e12 × the body's scale are reported too.
//
// John ellipsoid (spec §5.2/§5.5): w ← w∘τ(w) from w = d/M, the average u of the iterates
// (w_1 included) is returned; 'sketch' replaces τ_i = ‖L⁻¹a_i‖² by ‖G L⁻¹ a_i‖²/s with a fresh
// Gaussian G (s × d) per iteration and renormalises u to sum d.
// Tests: test/33.polytope-bodies.test.ts, test/34.polytope-john-lewis.test.ts.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/cancel.h"
#include "core/linalg.h"
#include "core/rng.h"
#include "polytope/polytope.h"

namespace lemma {

namespace {

constexpr double kEps = 2.220446049250313e-16;

Status infeasible(const std::string& why) { return Status::Error(Code::kInfeasible, why); }

std::string fmt(double v) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

double norm2(const double* x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += x[i] * x[i];
  return std::sqrt(s);
}

// S(x) = Σ x_i F_i − C (n×n).
void spectra_matrix(const Body& b, const double* x, double* S) {
  const int64_t n = b.M, nn = n * n;
  for (int64_t a = 0; a < nn; ++a) S[a] = -b.Cm[a];
  for (int64_t i = 0; i < b.d; ++i)
    for (int64_t a = 0; a < nn; ++a) S[a] += x[i] * b.F[i * nn + a];
}

double spectra_scale(const Body& b, const double* x) {
  const int64_t nn = b.M * b.M;
  double s = norm2(b.Cm.data(), nn);
  for (int64_t i = 0; i < b.d; ++i) s += std::fabs(x[i]) * norm2(b.F.data() + i * nn, nn);
  return s;
}

// Barrier value and gradient at x; false when x is not interior.
bool barrier_grad(const Body& b, const double* x, double* value, double* grad, std::vector<double>& tmp) {
  const int64_t d = b.d;
  if (b.is_polytope()) {
    if (!body_contains(b, x, nullptr)) return false;
    std::fill(grad, grad + d, 0.0);
    double v = 0;
    for (int64_t i = 0; i < b.M; ++i) {
      double ax = 0;
      if (b.kind == BodyKind::kCsr) {
        for (int64_t p = b.row_ptr[i]; p < b.row_ptr[i + 1]; ++p) ax += b.vals[p] * x[b.col_idx[p]];
      } else {
        for (int64_t j = 0; j < d; ++j) ax += b.A[i * d + j] * x[j];
      }
      const double s = b.b[i] - ax;
      v -= std::log(s);
      if (b.kind == BodyKind::kCsr) {
        for (int64_t p = b.row_ptr[i]; p < b.row_ptr[i + 1]; ++p) grad[b.col_idx[p]] += b.vals[p] / s;
      } else {
        for (int64_t j = 0; j < d; ++j) grad[j] += b.A[i * d + j] / s;
      }
    }
    *value = v;
    return true;
  }
  const int64_t n = b.M, nn = n * n;
  tmp.resize(2 * nn + n);
  double* S = tmp.data();
  double* Sinv = S + nn;
  double* col = Sinv + nn;
  spectra_matrix(b, x, S);
  if (!linalg::cholesky_unblocked(S, n, n)) return false;
  const double tol = 64 * kEps * spectra_scale(b, x);
  for (int64_t k = 0; k < n; ++k)
    if (!(S[k * n + k] * S[k * n + k] > tol)) return false;
  *value = -2.0 * linalg::half_log_det(S, n, n);
  for (int64_t k = 0; k < n; ++k) {  // S⁻¹ column by column
    std::fill(col, col + n, 0.0);
    col[k] = 1.0;
    linalg::solve_lower(S, n, n, col);
    linalg::solve_lower_t(S, n, n, col);
    for (int64_t a = 0; a < n; ++a) Sinv[a * n + k] = col[a];
  }
  for (int64_t i = 0; i < d; ++i) {
    double tr = 0;
    for (int64_t a = 0; a < nn; ++a) tr += Sinv[a] * b.F[i * nn + a];
    grad[i] = -tr;
  }
  return true;
}

// Is Δ a recession direction (no constraint opposes it)?
bool recession(const Body& b, const double* dir) {
  const int64_t d = b.d;
  const double dn = norm2(dir, d);
  if (!(dn > 0)) return false;
  if (b.is_polytope()) {
    for (int64_t i = 0; i < b.M; ++i) {
      double ad = 0;
      if (b.kind == BodyKind::kCsr) {
        for (int64_t p = b.row_ptr[i]; p < b.row_ptr[i + 1]; ++p) ad += b.vals[p] * dir[b.col_idx[p]];
      } else {
        for (int64_t j = 0; j < d; ++j) ad += b.A[i * d + j] * dir[j];
      }
      if (ad > 1e-12 * b.row_norm[i] * dn) return false;
    }
    return true;
  }
  const int64_t n = b.M, nn = n * n;
  std::vector<double> S(nn, 0.0);
  double fro = 0;
  for (int64_t i = 0; i < d; ++i)
    for (int64_t a = 0; a < nn; ++a) S[a] += dir[i] * b.F[i * nn + a];
  fro = norm2(S.data(), nn);
  if (!(fro > 0)) return true;  // Σ Δ_i A_i = 0: a line of the body
  for (int64_t k = 0; k < n; ++k) S[k * n + k] += 1e-12 * fro;
  return linalg::cholesky_unblocked(S.data(), n, n);
}

// The body relaxed by t (phase I): d+1 variables, rows normalised.
Body relaxed(const Body& b) {
  Body r;
  r.kind = b.kind == BodyKind::kSpectrahedron ? BodyKind::kSpectrahedron : BodyKind::kDense;
  r.d = b.d + 1;
  r.M = b.M;
  const int64_t d = b.d;
  if (b.is_polytope()) {
    r.A.assign(r.M * r.d, 0.0);
    r.b.resize(r.M);
    for (int64_t i = 0; i < b.M; ++i) {
      const double nr = b.row_norm[i] > 0 ? b.row_norm[i] : 1.0;
      if (b.kind == BodyKind::kCsr) {
        for (int64_t p = b.row_ptr[i]; p < b.row_ptr[i + 1]; ++p) r.A[i * r.d + b.col_idx[p]] = b.vals[p] / nr;
      } else {
        for (int64_t j = 0; j < d; ++j) r.A[i * r.d + j] = b.A[i * d + j] / nr;
      }
      r.A[i * r.d + d] = -1.0;
      r.b[i] = b.b[i] / nr;
    }
  } else {
    const int64_t nn = b.M * b.M;
    r.F.assign(b.F.begin(), b.F.end());
    r.F.resize((d + 1) * nn, 0.0);
    for (int64_t k = 0; k < b.M; ++k) r.F[d * nn + k * b.M + k] = 1.0;
    r.Cm = b.Cm;
  }
  body_prepare(&r);
  return r;
}

// One damped Newton step on q(y) = c·y + g(y) + (ρ/2)‖y‖² (the ρ term lives in the factor).
// Returns the Newton decrement λ, or −1 when H is singular. *moved: the step taken.
double newton_step(const Body& b, BarrierHessian& hess, double rho, const double* lin, std::vector<double>& y,
                   std::vector<double>& tmp, std::vector<double>& dir, double* value) {
  const int64_t d = b.d;
  std::vector<double> grad(d);
  double v;
  if (!barrier_grad(b, y.data(), &v, grad.data(), tmp)) return -1;
  for (int64_t j = 0; j < d; ++j) {
    if (lin) {
      grad[j] += lin[j];
      v += lin[j] * y[j];
    }
    grad[j] += rho * y[j];
    v += 0.5 * rho * y[j] * y[j];
  }
  const double* L = hess.factor(y.data());
  if (!L) return -1;
  dir.assign(grad.begin(), grad.end());
  linalg::solve_lower(L, d, hess.ld(), dir.data());
  double lam2 = 0;
  for (int64_t j = 0; j < d; ++j) lam2 += dir[j] * dir[j];
  linalg::solve_lower_t(L, d, hess.ld(), dir.data());
  for (int64_t j = 0; j < d; ++j) dir[j] = -dir[j];
  const double lam = std::sqrt(lam2);
  double step = lam > 0.25 ? 1.0 / (1.0 + lam) : 1.0;
  std::vector<double> yn(d), gn(d);
  bool moved = false;
  for (int k = 0; k < 60 && !moved; ++k, step *= 0.5) {
    for (int64_t j = 0; j < d; ++j) yn[j] = y[j] + step * dir[j];
    double vn;
    if (!barrier_grad(b, yn.data(), &vn, gn.data(), tmp)) continue;
    for (int64_t j = 0; j < d; ++j) {
      if (lin) vn += lin[j] * yn[j];
      vn += 0.5 * rho * yn[j] * yn[j];
    }
    moved = vn <= v - 0.25 * step * lam2 || lam < 1e-6;
  }
  if (moved) y.swap(yn);
  *value = v;
  return lam;
}

Status phase1(const Body& b, std::vector<double>& x, int64_t* iters) {
  const int64_t d = b.d, nu = b.M;
  Body r = relaxed(b);
  std::vector<double> y(d + 1, 0.0), tmp, dir, lin(d + 1, 0.0);
  double t0 = 0;
  if (b.is_polytope()) {
    for (int64_t i = 0; i < r.M; ++i) t0 = std::max(t0, -r.b[i]);
  } else {
    for (int64_t k = 0; k < b.M; ++k) {
      double s = 0;
      for (int64_t j = 0; j < b.M; ++j) s += std::fabs(b.Cm[k * b.M + j]);
      t0 = std::max(t0, s);
    }
  }
  y[d] = t0 + 1.0;
  const double rho = 1e-12;
  BarrierHessian hess(r, rho);
  double mu = 1.0;
  double value = 0;
  int64_t it = 0;
  for (int stage = 0; stage < 60; ++stage, mu *= 8.0) {
    lin[d] = mu;
    for (int k = 0; k < 100; ++k) {
      const double lam = newton_step(r, hess, rho, lin.data(), y, tmp, dir, &value);
      ++it;
      if (lam < 0) return infeasible("phase I failed: the relaxed barrier Hessian is singular");
      if (y[d] < 0) {
        x.assign(y.begin(), y.begin() + d);
        if (body_contains(b, x.data(), nullptr)) {
          *iters = it;
          return Status::Ok();
        }
      }
      if (lam < 0.5) break;
    }
    const double gap = 2.0 * static_cast<double>(nu) / mu;
    if (y[d] - gap > 1e-9)
      return infeasible("the body is empty: no point satisfies every constraint (phase I: the least violation, "
                        "max over constraints of the normalised violation, is at least " + fmt(y[d] - gap) + ")");
    if (gap < 1e-10)
      return infeasible("the body has an empty interior (it is flat: some constraints can only hold with "
                        "equality; phase I reached violation " + fmt(y[d]) + ")");
  }
  return infeasible("phase I did not find an interior point in " + std::to_string(it) + " Newton steps");
}

}  // namespace

Status body_prepare(Body* body) {
  Body& b = *body;
  if (b.d < 1 || b.M < 1) return Status::Error(Code::kShape, "a body needs d >= 1 and at least one constraint");
  if (b.is_polytope()) {
    if (static_cast<int64_t>(b.b.size()) != b.M) return Status::Error(Code::kShape, "b must have M entries");
    b.row_norm.assign(b.M, 0.0);
    double scale = 1.0;
    for (int64_t i = 0; i < b.M; ++i) {
      double s = 0;
      if (b.kind == BodyKind::kCsr) {
        if (b.row_ptr[i + 1] < b.row_ptr[i]) return Status::Error(Code::kShape, "CSR rowPtr must not decrease");
        for (int64_t p = b.row_ptr[i]; p < b.row_ptr[i + 1]; ++p) {
          if (b.col_idx[p] < 0 || b.col_idx[p] >= b.d) return Status::Error(Code::kRange, "CSR column index out of range");
          if (!std::isfinite(b.vals[p])) return Status::Error(Code::kRange, "A has a non-finite entry");
          s += b.vals[p] * b.vals[p];
        }
      } else {
        for (int64_t j = 0; j < b.d; ++j) {
          const double a = b.A[i * b.d + j];
          if (!std::isfinite(a)) return Status::Error(Code::kRange, "A has a non-finite entry");
          s += a * a;
        }
      }
      if (!std::isfinite(b.b[i])) return Status::Error(Code::kRange, "b has a non-finite entry");
      b.row_norm[i] = std::sqrt(s);
      if (b.row_norm[i] == 0.0) {
        if (b.b[i] < 0) return infeasible("the body is empty: constraint " + std::to_string(i) + " reads 0 <= " + fmt(b.b[i]));
        if (b.b[i] == 0) return infeasible("the body has an empty interior: constraint " + std::to_string(i) + " reads 0 <= 0");
      } else {
        scale = std::max(scale, std::fabs(b.b[i]) / b.row_norm[i]);
      }
    }
    b.scale = scale;
    return Status::Ok();
  }
  const int64_t nn = b.M * b.M;
  if (static_cast<int64_t>(b.F.size()) != b.d * nn || static_cast<int64_t>(b.Cm.size()) != nn)
    return Status::Error(Code::kShape, "spectrahedron matrices have the wrong size");
  double fmin = INFINITY;
  for (int64_t i = 0; i <= b.d; ++i) {
    const double* m = i < b.d ? b.F.data() + i * nn : b.Cm.data();
    for (int64_t a = 0; a < b.M; ++a)
      for (int64_t c = 0; c < b.M; ++c) {
        if (!std::isfinite(m[a * b.M + c])) return Status::Error(Code::kRange, "a spectrahedron matrix has a non-finite entry");
        if (std::fabs(m[a * b.M + c] - m[c * b.M + a]) > 1e-12 * (std::fabs(m[a * b.M + c]) + std::fabs(m[c * b.M + a])) + 1e-300)
          return Status::Error(Code::kRange, std::string(i < b.d ? "A_" + std::to_string(i) : std::string("C")) + " is not symmetric");
      }
    if (i < b.d) fmin = std::min(fmin, norm2(m, nn));
  }
  b.scale = 1.0 + (fmin > 0 ? norm2(b.Cm.data(), nn) / fmin : 0.0);
  return Status::Ok();
}

bool body_contains(const Body& b, const double* x, std::string* why) {
  const int64_t d = b.d;
  for (int64_t j = 0; j < d; ++j)
    if (!std::isfinite(x[j])) {
      if (why) *why = "coordinate " + std::to_string(j) + " is not finite";
      return false;
    }
  if (b.is_polytope()) {
    const double xn = norm2(x, d);
    for (int64_t i = 0; i < b.M; ++i) {
      double ax = 0;
      if (b.kind == BodyKind::kCsr) {
        for (int64_t p = b.row_ptr[i]; p < b.row_ptr[i + 1]; ++p) ax += b.vals[p] * x[b.col_idx[p]];
      } else {
        for (int64_t j = 0; j < d; ++j) ax += b.A[i * d + j] * x[j];
      }
      const double s = b.b[i] - ax;
      if (!(s > 64 * kEps * (std::fabs(b.b[i]) + b.row_norm[i] * xn))) {
        if (why) *why = "constraint " + std::to_string(i) + " has slack " + fmt(s);
        return false;
      }
    }
    return true;
  }
  const int64_t n = b.M;
  std::vector<double> S(n * n);
  spectra_matrix(b, x, S.data());
  const double tol = 64 * kEps * spectra_scale(b, x);
  bool ok = linalg::cholesky_unblocked(S.data(), n, n);
  for (int64_t k = 0; ok && k < n; ++k) ok = S[k * n + k] * S[k * n + k] > tol;
  if (!ok && why) *why = "the matrix Σ x_i A_i − C is not positive definite";
  return ok;
}

Status body_analytic_center(const Body& b, double* x_out, CenterInfo* info) {
  const int64_t d = b.d;
  std::vector<double> x(d, 0.0), tmp, dir;
  CenterInfo ci;
  if (!body_contains(b, x.data(), nullptr)) LEMMA_RETURN_IF_ERROR(phase1(b, x, &ci.phase1_iterations));
  BarrierHessian hess(b, 0.0);
  double value = 0, lam = INFINITY;
  const double limit = 1e12 * b.scale;
  int64_t it = 0;
  for (; it < 500; ++it) {
    std::vector<double> prev = x;
    lam = newton_step(b, hess, 0.0, nullptr, x, tmp, dir, &value);
    if (lam < 0)
      return infeasible("the barrier Hessian is singular: A has rank < d, so the body contains a line (it is "
                        "unbounded)");
    if (lam < 1e-9) break;
    if (lam > 0.5 && recession(b, dir.data()))
      return infeasible("the body is unbounded: the Newton direction at the current iterate meets no constraint "
                        "(a recession direction)");
    if (norm2(x.data(), d) > limit)
      return infeasible("the body is unbounded: the analytic-centre iterates diverge (|x| > " + fmt(limit) + ")");
  }
  if (!(lam < 1e-6))
    return infeasible("the body has no analytic centre: Newton did not converge in 500 steps (decrement " + fmt(lam) +
                      "); it is probably unbounded");
  std::copy(x.begin(), x.end(), x_out);
  ci.newton_iterations = it + 1;
  ci.newton_decrement = lam;
  if (info) *info = ci;
  return Status::Ok();
}

Status body_lewis_weights(const Body& b, const double* x, double p, double tol, int64_t max_iter, const double* w_init,
                          double* w_out, LewisInfo* info) {
  if (!b.is_polytope()) return Status::Error(Code::kRange, "Lewis weights are defined for polytopes only");
  std::string why;
  if (!body_contains(b, x, &why)) return Status::Error(Code::kRange, "x is not interior: " + why);
  BarrierHessian hess(b, 0.0);
  double res = 0;
  const int64_t it = hess.lewis(x, p, tol, max_iter, w_init, w_out, &res);
  if (it < 0) return infeasible("the Lewis-weight iteration met a singular matrix: A has rank < d");
  if (info) {
    info->iterations = it;
    info->residual = res;
    info->converged = res <= tol;
  }
  return Status::Ok();
}

// ------------------------------------------------------------------ John ellipsoid
namespace {

// Q = Aᵀ diag(w) A (lower, ld d) factored in place; false when singular.
bool weighted_gram_factor(const double* A, int64_t M, int64_t d, const double* w, double* Q) {
  std::fill(Q, Q + d * d, 0.0);
  for (int64_t i = 0; i < M; ++i) {
    const double* a = A + i * d;
    const double wi = w[i];
    if (wi == 0.0) continue;
    for (int64_t r = 0; r < d; ++r) {
      const double v = wi * a[r];
      double* q = Q + r * d;
      for (int64_t c = 0; c <= r; ++c) q[c] += v * a[c];
    }
  }
  return linalg::cholesky_unblocked(Q, d, d);
}

}  // namespace

Status john_taus(const double* A, int64_t M, int64_t d, const double* w, double* tau, double* log_det) {
  std::vector<double> L(d * d), v(d);
  if (!weighted_gram_factor(A, M, d, w, L.data()))
    return infeasible("Aᵀdiag(w)A is singular: A has rank < d (the body {|Ax| <= 1} is unbounded)");
  for (int64_t i = 0; i < M; ++i) {
    std::copy(A + i * d, A + (i + 1) * d, v.begin());
    linalg::solve_lower(L.data(), d, d, v.data());
    double s = 0;
    for (int64_t j = 0; j < d; ++j) s += v[j] * v[j];
    tau[i] = s;
  }
  if (log_det) *log_det = 2.0 * linalg::half_log_det(L.data(), d, d);
  return Status::Ok();
}

Status john_ellipsoid(const double* A, int64_t M, int64_t d, const JohnParams& p, JohnResult* out) {
  if (M < d) return infeasible("A has fewer rows than columns (M < d): the body {|Ax| <= 1} is unbounded");
  for (int64_t k = 0; k < M * d; ++k)
    if (!std::isfinite(A[k])) return Status::Error(Code::kRange, "A has a non-finite entry");
  int64_t T = p.max_iterations;
  if (T <= 0) T = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(std::log(double(M) / double(d)) / std::log1p(p.epsilon))));
  std::vector<double> w(M, double(d) / double(M)), acc(M, 0.0), L(d * d), v(d), R;
  const int64_t s = p.sketch_size;
  if (p.sketch) R.resize(s * d);
  SerialProgress progress(T);
  for (int64_t k = 0; k < T; ++k) {
    for (int64_t i = 0; i < M; ++i) acc[i] += w[i];
    if (!weighted_gram_factor(A, M, d, w.data(), L.data()))
      return infeasible("Aᵀdiag(w)A is singular: A has rank < d (the body {|Ax| <= 1} is unbounded)");
    if (p.sketch) {
      // Rows r_k = L⁻ᵀ g_k, so R = G L⁻¹ and ‖R a‖² = ‖G L⁻¹ a‖²; fresh G per iteration.
      rng::Stream st(p.seed, static_cast<uint32_t>(k), 0u, kRngJohn);
      for (int64_t r = 0; r < s; ++r) {
        for (int64_t j = 0; j < d; ++j) R[r * d + j] = st.next_normal();
        linalg::solve_lower_t(L.data(), d, d, R.data() + r * d);
      }
      for (int64_t i = 0; i < M; ++i) {
        const double* a = A + i * d;
        double t = 0;
        for (int64_t r = 0; r < s; ++r) {
          double dt = 0;
          for (int64_t j = 0; j < d; ++j) dt += R[r * d + j] * a[j];
          t += dt * dt;
        }
        w[i] *= t / double(s);
      }
    } else {
      for (int64_t i = 0; i < M; ++i) {
        std::copy(A + i * d, A + (i + 1) * d, v.begin());
        linalg::solve_lower(L.data(), d, d, v.data());
        double t = 0;
        for (int64_t j = 0; j < d; ++j) t += v[j] * v[j];
        w[i] *= t;
      }
    }
    if (!progress.next()) return SerialProgress::aborted();
  }
  JohnResult r;
  r.iterations = T;
  r.weights.resize(M);
  double sum = 0;
  for (int64_t i = 0; i < M; ++i) sum += acc[i];
  const double norm = p.sketch ? double(d) / sum : 1.0 / double(T);
  for (int64_t i = 0; i < M; ++i) r.weights[i] = acc[i] * norm;
  std::vector<double> tau(M);
  LEMMA_RETURN_IF_ERROR(john_taus(A, M, d, r.weights.data(), tau.data(), &r.log_det));
  r.sum_weights = 0;
  double wmax = 0;
  for (int64_t i = 0; i < M; ++i) {
    r.sum_weights += r.weights[i];
    wmax = std::max(wmax, r.weights[i]);
    r.max_tau = std::max(r.max_tau, tau[i]);
  }
  for (int64_t i = 0; i < M; ++i)
    if (r.weights[i] > 1e-6 * wmax) r.complementary = std::max(r.complementary, std::fabs(tau[i] - 1.0));
  r.Q.assign(d * d, 0.0);
  for (int64_t i = 0; i < M; ++i) {
    const double* a = A + i * d;
    for (int64_t a1 = 0; a1 < d; ++a1)
      for (int64_t a2 = 0; a2 < d; ++a2) r.Q[a1 * d + a2] += r.weights[i] * a[a1] * a[a2];
  }
  *out = std::move(r);
  return Status::Ok();
}

}  // namespace lemma
