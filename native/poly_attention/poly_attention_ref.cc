// fp64 oracle of polynomial attention (see poly_attention.h): every visible pair's weight
// w_ij = κ_g(scale q_i·k_j) evaluated directly by Horner's rule, O(N² D) per head; no features,
// no prefix sums. Backward, with E_ij = gA_i·v_j + gc_i (gA_i = dO_i / c_i,
// gc_i = -(dO_i·O_i) / c_i) and κ_g' = κ_{g-1}:
//   dq_i = scale Σ_j E_ij κ_{g-1}(x_ij) k_j,  dk_j = scale Σ_i E_ij κ_{g-1}(x_ij) q_i,
//   dv_j = Σ_i w_ij gA_i.
// Threaded over (batch, kv head); the heads of a group run in order (dk, dv sums are fixed).
// Also the parameter check shared by every path.
// Tests: test/50.poly-attention-exactness.test.ts (against finite differences and the fast path).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "poly_attention/poly_attention.h"

namespace lemma {

namespace {

constexpr int64_t kMaxElements = int64_t{1} << 40;

// κ_g(x) = Σ_{t<=g} x^t / t! by Horner: 1 + x(1 + x/2(1 + x/3(...)))
double taylor_exp(double x, int g) {
  double s = 1.0;
  for (int t = g; t >= 1; --t) s = 1.0 + s * x / t;
  return s;
}

double dot(const double* a, const double* b, int64_t n) {
  double s = 0;
  for (int64_t d = 0; d < n; ++d) s += a[d] * b[d];
  return s;
}

// Last key visible to query i (inclusive), -1 when none.
int64_t last_key(const PolyAttentionParams& p, int64_t i) {
  return p.causal ? std::min(p.Nk - 1, i + (p.Nk - p.Nq)) : p.Nk - 1;
}

}  // namespace

int64_t poly_attention_features(int64_t D, int degree) {
  // C(D + g, g) = Π_{t=1..g} (D + t) / t, exact at every step.
  long double r = 1;
  for (int t = 1; t <= degree; ++t) {
    r = r * static_cast<long double>(D + t) / t;
    if (r > 4.0e18L) return -1;
  }
  return static_cast<int64_t>(std::llround(static_cast<double>(r)));
}

Status poly_attention_check_params(const PolyAttentionParams& p) {
  auto bad = [](const std::string& m) { return Status::Error(Code::kShape, "polyAttention: " + m); };
  auto range = [](const std::string& m) { return Status::Error(Code::kRange, "polyAttention: " + m); };
  if (p.B < 1 || p.Hq < 1 || p.Hkv < 1 || p.Nq < 1 || p.Nk < 1)
    return bad("B, Hq, Hkv, Nq and Nk must all be at least 1");
  if (p.D < 1 || p.D > 256) return bad("head dim D must be between 1 and 256, got " + std::to_string(p.D));
  if (p.Hq % p.Hkv != 0)
    return bad("Hq (" + std::to_string(p.Hq) + ") must be a multiple of Hkv (" + std::to_string(p.Hkv) + ")");
  const double q_elems = double(p.B) * double(p.Hq) * double(p.Nq) * double(p.D);
  const double k_elems = double(p.B) * double(p.Hkv) * double(p.Nk) * double(p.D);
  if (q_elems > double(kMaxElements) || k_elems > double(kMaxElements)) return range("tensor too large");
  if (!(p.scale > 0) || !std::isfinite(p.scale)) return range("scale must be finite and > 0");
  if (p.degree < 2 || p.degree > kPolyMaxDegree || p.degree % 2 != 0)
    return range("degree must be an even integer in [2, " + std::to_string(kPolyMaxDegree) + "], got " +
                 std::to_string(p.degree));
  if (p.chunk < 8 || p.chunk > 256) return range("chunk must lie in [8, 256], got " + std::to_string(p.chunk));
  return Status::Ok();
}

Status poly_attention_forward_ref(const PolyAttentionParams& p, const double* q, const double* k,
                                  const double* v, double* out, double* norm) {
  LEMMA_RETURN_IF_ERROR(poly_attention_check_params(p));
  const int64_t D = p.D, group = p.Hq / p.Hkv;
  ThreadPool::parallel_for(p.B * p.Hq, [&](int64_t bh, int) {
    const int64_t b = bh / p.Hq, h = bh % p.Hq, hk = h / group;
    const double* K = k + (b * p.Hkv + hk) * p.Nk * D;
    const double* V = v + (b * p.Hkv + hk) * p.Nk * D;
    std::vector<double> o(D);
    for (int64_t i = 0; i < p.Nq; ++i) {
      const double* Q = q + (bh * p.Nq + i) * D;
      std::fill(o.begin(), o.end(), 0.0);
      double c = 0;
      for (int64_t j = 0; j <= last_key(p, i); ++j) {
        const double w = taylor_exp(p.scale * dot(Q, K + j * D, D), p.degree);
        c += w;
        for (int64_t d = 0; d < D; ++d) o[d] += w * V[j * D + d];
      }
      for (int64_t d = 0; d < D; ++d) out[(bh * p.Nq + i) * D + d] = c > 0 ? o[d] / c : 0.0;
      norm[bh * p.Nq + i] = c;
    }
  });
  return Status::Ok();
}

Status poly_attention_backward_ref(const PolyAttentionParams& p, const double* q, const double* k,
                                   const double* v, const double* out, const double* norm,
                                   const double* dout, double* dq, double* dk, double* dv) {
  LEMMA_RETURN_IF_ERROR(poly_attention_check_params(p));
  const int64_t D = p.D, group = p.Hq / p.Hkv;
  ThreadPool::parallel_for(p.B * p.Hkv, [&](int64_t bk, int) {
    const int64_t b = bk / p.Hkv, hk = bk % p.Hkv;
    const double* K = k + bk * p.Nk * D;
    const double* V = v + bk * p.Nk * D;
    double* dK = dk + bk * p.Nk * D;
    double* dV = dv + bk * p.Nk * D;
    std::fill(dK, dK + p.Nk * D, 0.0);
    std::fill(dV, dV + p.Nk * D, 0.0);
    std::vector<double> gA(D);
    for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
      const int64_t bh = b * p.Hq + h;
      for (int64_t i = 0; i < p.Nq; ++i) {
        const int64_t row = bh * p.Nq + i;
        const double* Q = q + row * D;
        double* dQ = dq + row * D;
        std::fill(dQ, dQ + D, 0.0);
        const double c = norm[row];
        if (!(c > 0)) continue;
        for (int64_t d = 0; d < D; ++d) gA[d] = dout[row * D + d] / c;
        const double gc = -dot(dout + row * D, out + row * D, D) / c;
        for (int64_t j = 0; j <= last_key(p, i); ++j) {
          const double x = p.scale * dot(Q, K + j * D, D);
          const double w = taylor_exp(x, p.degree);
          const double e = (dot(gA.data(), V + j * D, D) + gc) * taylor_exp(x, p.degree - 1) * p.scale;
          for (int64_t d = 0; d < D; ++d) {
            dQ[d] += e * K[j * D + d];
            dK[j * D + d] += e * Q[d];
            dV[j * D + d] += w * gA[d];
          }
        }
      }
    }
  });
  return Status::Ok();
}

}  // namespace lemma
