// sparse_attention_*_ref: the fp64 brute-force oracle of the sparse attention family.
//   s_ij = scale <q_i, k_j> (all in double), R_i = {j visible : s_ij >= b_h}
//   ReLU^a:  w = (s - b)^a on R_i;   softmax: w = exp(s - max_R s) on R_i;   out_i = sum w v / sum w
//   (0 when sum w = 0). Backward of ReLU^a (p = w / W, o = out):
//   dv_j += p_ij dO_i, ds_ij (for s_ij > b; 0 at s_ij = b) = a (s_ij - b)^(a-1) <dO_i, v_j - o_i> / W_i,
//   dq_i += scale sum_j ds_ij k_j, dk_j += scale ds_ij q_i.
// Shapes: q, out, dout, dq [B, Hq, M, D]; k, v, dk, dv [B, Hkv, N, D]; thresholds [B, Hq].
// No index, no blocks, no fp32: this is what the fast paths are tested against.
// Test: build-sparse/sparse_attention_test; npx ava test/2x.sparse-*.test.ts
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "sparse_attention/sparse_attention.h"

namespace lemma {

Status sparse_check_ref_params(const SparseRefParams& p) {
  if (p.B < 1 || p.Hq < 1 || p.Hkv < 1 || p.M < 1 || p.N < 1 || p.D < 1)
    return Status::Error(Code::kShape, "sparse attention: sizes must be positive");
  if (p.Hq % p.Hkv != 0)
    return Status::Error(Code::kShape, "sparse attention: Hq must be a multiple of Hkv");
  if (p.D > kSparseMaxD)
    return Status::Error(Code::kShape, "sparse attention: D must be at most 256");
  if (p.N > kSparseMaxKeys) return Status::Error(Code::kRange, "sparse attention: N too large");
  if (p.alpha < 1 || p.alpha > 32)
    return Status::Error(Code::kRange, "sparse attention: alpha must be in [1, 32]");
  if (!std::isfinite(p.scale)) return Status::Error(Code::kRange, "sparse attention: bad scale");
  const double total = double(p.B) * p.Hq * p.M * p.N;
  if (total > 1e12) return Status::Error(Code::kRange, "sparse attention: oracle size too large");
  return Status::Ok();
}

namespace {

inline double ipow(double x, int a) {
  double r = 1;
  for (int i = 0; i < a; ++i) r *= x;
  return r;
}

// Scores, visibility and weights of one row; returns the normaliser W (0 if nothing reported).
double row_weights(const SparseRefParams& p, double b, const double* q, const double* K,
                   int64_t i, std::vector<double>* s, std::vector<double>* w, double* count) {
  const int64_t off = p.N - p.M;
  const int64_t vis = p.causal ? std::clamp<int64_t>(i + off + 1, 0, p.N) : p.N;
  s->assign(p.N, 0.0);
  w->assign(p.N, 0.0);
  double mx = -INFINITY;
  int64_t c = 0;
  for (int64_t j = 0; j < vis; ++j) {
    double acc = 0;
    for (int64_t d = 0; d < p.D; ++d) acc += q[d] * K[j * p.D + d];
    (*s)[j] = p.scale * acc;
    if ((*s)[j] >= b) {
      ++c;
      mx = std::max(mx, (*s)[j]);
    }
  }
  if (count) *count = double(c);
  double W = 0;
  for (int64_t j = 0; j < vis; ++j) {
    if (!((*s)[j] >= b)) continue;
    const double wj = p.activation == SparseActivation::kRelu ? ipow((*s)[j] - b, p.alpha)
                                                                : std::exp((*s)[j] - mx);
    (*w)[j] = wj;
    W += wj;
  }
  return W;
}

}  // namespace

Status sparse_attention_ref(const SparseRefParams& p, const double* thresholds, const double* q,
                            const double* k, const double* v, double* out, double* counts) {
  LEMMA_RETURN_IF_ERROR(sparse_check_ref_params(p));
  const int64_t G = p.Hq / p.Hkv;
  ThreadPool::parallel_for(p.B * p.Hq * p.M, [&](int64_t row, int) {
    const int64_t bh = row / p.M, i = row % p.M, b = bh / p.Hq, h = bh % p.Hq;
    const int64_t kv = (b * p.Hkv + h / G) * p.N * p.D;
    std::vector<double> s, w;
    const double W = row_weights(p, thresholds[bh], q + row * p.D, k + kv, i, &s, &w,
                                 counts ? counts + row : nullptr);
    double* o = out + row * p.D;
    std::fill(o, o + p.D, 0.0);
    if (!(W > 0)) return;
    for (int64_t j = 0; j < p.N; ++j) {
      if (w[j] == 0) continue;
      const double c = w[j] / W;
      for (int64_t d = 0; d < p.D; ++d) o[d] += c * v[kv + j * p.D + d];
    }
  });
  return Status::Ok();
}

Status sparse_relu_backward_ref(const SparseRefParams& p, const double* thresholds,
                                const double* q, const double* k, const double* v,
                                const double* dout, double* dq, double* dk, double* dv) {
  LEMMA_RETURN_IF_ERROR(sparse_check_ref_params(p));
  if (p.activation != SparseActivation::kRelu)
    return Status::Error(Code::kRange, "sparse attention: backward is defined for relu only");
  const int64_t G = p.Hq / p.Hkv;
  std::fill(dk, dk + p.B * p.Hkv * p.N * p.D, 0.0);
  std::fill(dv, dv + p.B * p.Hkv * p.N * p.D, 0.0);
  // One task per (b, kv head): it owns dk, dv of that head and dq of its query heads.
  ThreadPool::parallel_for(p.B * p.Hkv, [&](int64_t bk, int) {
    const int64_t b = bk / p.Hkv, hk = bk % p.Hkv;
    const double* K = k + bk * p.N * p.D;
    const double* V = v + bk * p.N * p.D;
    double* dK = dk + bk * p.N * p.D;
    double* dV = dv + bk * p.N * p.D;
    std::vector<double> s, w, o(p.D);
    for (int64_t h = hk * G; h < (hk + 1) * G; ++h) {
      const int64_t bh = b * p.Hq + h;
      const double thr = thresholds[bh];
      for (int64_t i = 0; i < p.M; ++i) {
        const int64_t row = bh * p.M + i;
        const double* qi = q + row * p.D;
        const double* gi = dout + row * p.D;
        double* dqi = dq + row * p.D;
        std::fill(dqi, dqi + p.D, 0.0);
        const double W = row_weights(p, thr, qi, K, i, &s, &w, nullptr);
        if (!(W > 0)) continue;
        std::fill(o.begin(), o.end(), 0.0);
        for (int64_t j = 0; j < p.N; ++j)
          if (w[j] != 0)
            for (int64_t d = 0; d < p.D; ++d) o[d] += w[j] / W * V[j * p.D + d];
        for (int64_t j = 0; j < p.N; ++j) {
          if (!(s[j] > thr)) continue;  // the derivative at s = b is taken as 0 (left side)
          double gv = 0;
          for (int64_t d = 0; d < p.D; ++d) gv += gi[d] * (V[j * p.D + d] - o[d]);
          const double ds = p.alpha * ipow(s[j] - thr, p.alpha - 1) * gv / W;
          for (int64_t d = 0; d < p.D; ++d) {
            dV[j * p.D + d] += w[j] / W * gi[d];
            dqi[d] += p.scale * ds * K[j * p.D + d];
            dK[j * p.D + d] += p.scale * ds * qi[d];
          }
        }
      }
    }
  });
  return Status::Ok();
}

}  // namespace lemma
