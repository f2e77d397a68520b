// attention_*_ref: the fp64 oracle. Plain row-by-row math in double, no tiling, no tricks:
//   s_ij = scale q_i.k_j (j visible), lse_i = log sum_j exp(s_ij), out_i = sum_j p_ij v_j
//   backward: p_ij = exp(s_ij - lse_i), dp_ij = dO_i.v_j, D_i = dO_i.out_i,
//   ds_ij = p_ij (dp_ij - D_i), dq_i = scale sum_j ds_ij k_j, dk_j += scale ds_ij q_i,
//   dv_j += p_ij dO_i.
// Shapes as in attention.h. Threads over (batch, head, row chunk); the row-chunk count is fixed
// by the shape, and partial dk/dv are reduced in a fixed order, so results are bitwise
// reproducible for any thread count.
// Tested by: test/native/attention_cpu_test.cc (as the oracle), test/1x.attention-*.test.ts.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "core/thread_pool.h"

namespace lemma {

namespace {

constexpr int64_t kMaxElements = int64_t{1} << 40;

// Last key index visible to query i (exclusive bound), bottom-right aligned causal mask.
inline int64_t key_end(const AttentionParams& p, int64_t i) {
  if (!p.causal) return p.Nk;
  int64_t e = i + (p.Nk - p.Nq) + 1;
  return e < 0 ? 0 : (e > p.Nk ? p.Nk : e);
}

inline double dot(const double* a, const double* b, int64_t n) {
  double s = 0;
  for (int64_t d = 0; d < n; ++d) s += a[d] * b[d];
  return s;
}

constexpr int64_t kRowChunk = 64;

}  // namespace

Status attention_check_params(const AttentionParams& p) {
  auto bad = [](const std::string& m) { return Status::Error(Code::kShape, m); };
  if (p.B < 1 || p.Hq < 1 || p.Hkv < 1 || p.Nq < 1 || p.Nk < 1)
    return bad("attention: B, Hq, Hkv, Nq and Nk must all be at least 1");
  if (p.D < 1 || p.D > 256)
    return Status::Error(Code::kShape, "attention: head dim D must be between 1 and 256, got " +
                                           std::to_string(p.D));
  if (p.Hq % p.Hkv != 0)
    return bad("attention: Hq (" + std::to_string(p.Hq) + ") must be a multiple of Hkv (" +
               std::to_string(p.Hkv) + ")");
  const double q_elems = double(p.B) * double(p.Hq) * double(p.Nq) * double(p.D);
  const double k_elems = double(p.B) * double(p.Hkv) * double(p.Nk) * double(p.D);
  if (q_elems > double(kMaxElements) || k_elems > double(kMaxElements))
    return Status::Error(Code::kRange, "attention: tensor too large");
  if (!std::isfinite(p.scale))
    return Status::Error(Code::kRange, "attention: scale must be finite");
  return Status::Ok();
}

Status attention_forward_ref(const AttentionParams& p, const double* q, const double* k,
                             const double* v, double* out, double* lse) {
  LEMMA_RETURN_IF_ERROR(attention_check_params(p));
  const int64_t D = p.D, group = p.Hq / p.Hkv;
  const int64_t chunks = (p.Nq + kRowChunk - 1) / kRowChunk;
  ThreadPool::parallel_for(p.B * p.Hq * chunks, [&](int64_t task, int) {
    const int64_t c = task % chunks, bh = task / chunks;
    const int64_t b = bh / p.Hq, h = bh % p.Hq, hk = h / group;
    const double* K = k + (b * p.Hkv + hk) * p.Nk * D;
    const double* V = v + (b * p.Hkv + hk) * p.Nk * D;
    std::vector<double> s(p.Nk);
    for (int64_t i = c * kRowChunk; i < std::min(p.Nq, (c + 1) * kRowChunk); ++i) {
      const double* qi = q + (bh * p.Nq + i) * D;
      double* oi = out + (bh * p.Nq + i) * D;
      const int64_t end = key_end(p, i);
      for (int64_t d = 0; d < D; ++d) oi[d] = 0;
      if (end == 0) {
        lse[bh * p.Nq + i] = std::numeric_limits<double>::infinity();
        continue;
      }
      double m = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < end; ++j) {
        s[j] = p.scale * dot(qi, K + j * D, D);
        m = std::max(m, s[j]);
      }
      double l = 0;
      for (int64_t j = 0; j < end; ++j) {
        const double e = std::exp(s[j] - m);
        l += e;
        const double* vj = V + j * D;
        for (int64_t d = 0; d < D; ++d) oi[d] += e * vj[d];
      }
      for (int64_t d = 0; d < D; ++d) oi[d] /= l;
      lse[bh * p.Nq + i] = m + std::log(l);
    }
  });
  return Status::Ok();
}

Status attention_backward_ref(const AttentionParams& p, const double* q, const double* k,
                              const double* v, const double* out, const double* lse,
                              const double* dout, double* dq, double* dk, double* dv) {
  LEMMA_RETURN_IF_ERROR(attention_check_params(p));
  const int64_t D = p.D, group = p.Hq / p.Hkv;
  const int64_t kv_size = p.Nk * D;
  // Row chunks per kv head: fixed by the shape (never by the thread count).
  const int64_t chunks = std::min<int64_t>(4, (p.Nq + kRowChunk - 1) / kRowChunk);
  std::vector<double> part_k(static_cast<size_t>(p.B * p.Hkv * chunks * kv_size), 0.0);
  std::vector<double> part_v(part_k.size(), 0.0);
  const int64_t rows_per_chunk = (p.Nq + chunks - 1) / chunks;
  ThreadPool::parallel_for(p.B * p.Hkv * chunks, [&](int64_t task, int) {
    const int64_t c = task % chunks, bk = task / chunks;
    const int64_t b = bk / p.Hkv, hk = bk % p.Hkv;
    const double* K = k + bk * kv_size;
    const double* V = v + bk * kv_size;
    double* pk = part_k.data() + task * kv_size;
    double* pv = part_v.data() + task * kv_size;
    std::vector<double> pr(p.Nk), ds(p.Nk);
    for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
      const int64_t bh = b * p.Hq + h;
      for (int64_t i = c * rows_per_chunk; i < std::min(p.Nq, (c + 1) * rows_per_chunk); ++i) {
        const int64_t row = bh * p.Nq + i;
        const double* qi = q + row * D;
        const double* doi = dout + row * D;
        double* dqi = dq + row * D;
        for (int64_t d = 0; d < D; ++d) dqi[d] = 0;
        const int64_t end = key_end(p, i);
        const double L = lse[row];
        if (end == 0 || !(L < std::numeric_limits<double>::infinity())) continue;
        const double Di = dot(doi, out + row * D, D);
        for (int64_t j = 0; j < end; ++j) {
          pr[j] = std::exp(p.scale * dot(qi, K + j * D, D) - L);
          ds[j] = pr[j] * (dot(doi, V + j * D, D) - Di);
        }
        for (int64_t j = 0; j < end; ++j) {
          const double* kj = K + j * D;
          double* pkj = pk + j * D;
          double* pvj = pv + j * D;
          const double sds = p.scale * ds[j];
          for (int64_t d = 0; d < D; ++d) {
            dqi[d] += sds * kj[d];
            pkj[d] += sds * qi[d];
            pvj[d] += pr[j] * doi[d];
          }
        }
      }
    }
  });
  // Fixed-order reduction of the per-chunk partials.
  ThreadPool::parallel_for(p.B * p.Hkv, [&](int64_t bk, int) {
    double* dk_h = dk + bk * kv_size;
    double* dv_h = dv + bk * kv_size;
    for (int64_t e = 0; e < kv_size; ++e) {
      double sk = 0, sv = 0;
      for (int64_t c = 0; c < chunks; ++c) {
        sk += part_k[(bk * chunks + c) * kv_size + e];
        sv += part_v[(bk * chunks + c) * kv_size + e];
      }
      dk_h[e] = sk;
      dv_h[e] = sv;
    }
  });
  return Status::Ok();
}

}  // namespace lemma
