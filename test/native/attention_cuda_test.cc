// attention_cuda_test: every CUDA attention kernel against the fp64 oracle, under the
// flash-attention rule: for each output X (out, lse, dq, dk, dv)
//   max|X_flash - X_ref| <= 2 max|X_plain - X_ref| + atol,   atol = 4 u max|X_ref|
// where X_plain comes from the plain same-precision CUDA implementation
// (attention_*_cuda_plain: S, P, dP, dS stored at the precision, no tiling), X_ref from the
// fp64 oracle (attention_*_ref) on the very values the GPU sees (inputs are uploaded from fp64,
// rounded on the device, and downloaded back), and u is the unit roundoff of the output type or
// of the products, whichever is coarser (2^-24 fp32, 2^-11 tf32 and fp16, 2^-8 bf16). Two
// refinements, derived where they are computed: lse's atol uses the scale of the scores when it
// exceeds max|lse| (score_scale), and dq / dk subtract from each element's error a floor for what
// FlashAttention-2's D = rowsum(dO . O) costs next to plain's D = sum_j P dP (d_floor).
// Outputs are poisoned with NaN before each run: a NaN anywhere (unwritten or computed) fails.
// Rows that see no key must give out = 0 and lse = +inf exactly. The deterministic backward must
// be bitwise reproducible (run twice). Checked per case: forward, backward deterministic (dQ
// second pass), backward atomic (dQ by fp32 atomics). Also: scale and scale * log2(e) must fit
// fp32 (ERR_RANGE), and the tiles each (precision, D) gets on the device are printed, with
// ERR_CUDA (not a launch failure) where a kernel does not fit the device's shared memory.
// Grids: precisions fp32 / tf32 / fp16 / bf16; D in {16, 32, 48, 64, 96, 128, 256} (16 and 48
// exercise the padded staging path); causal on/off; Nq != Nk both ways with fully masked rows;
// GQA; tails. The full grid (default on a GPU) adds N up to 16k (N >= 2048: forward checked on
// every row, dq on 192 sampled rows, dk / dv on 48 sampled keys); --quick stops at N = 1024;
// --emulated (default on the emulated device) is sized for CPU emulation (under a minute per
// architecture; run it with LEMMA_EMULATE_ARCH=8.0, 8.6 and 9.0 to cover every tile variant).
// Without a usable GPU it prints why and exits 0 with "0 passed, 0 failed, N skipped".
// Build and run: npx cmake-js build --out build-cuda --CDLEMMA_CUDA=ON &&
//   build-cuda/attention_cuda_test [--quick | --emulated | --full] [--filter TEXT] [--seeds N]
//     [--json parity.json] [--oracle-self-check (CPU only)]
// --seeds N runs every case with N input seeds (the first is the case's own, which depends only
// on its description: a case run alone with --filter sees the same data as in the grid).
// Exit code 0 iff every check passed.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "attention/attention_cuda.h"
#include "core/cuda_info.h"
#include "core/thread_pool.h"

using namespace lemma;

namespace {

struct Case {
  int64_t B, Hq, Hkv, Nq, Nk, D;
  bool causal;
  CudaPrecision pr;
  DeviceDtype dt;  // storage dtype (normally the precision's own)
};

DeviceDtype natural_dtype(CudaPrecision pr) {
  switch (pr) {
    case CudaPrecision::kFp16: return DeviceDtype::kF16;
    case CudaPrecision::kBf16: return DeviceDtype::kBF16;
    default: return DeviceDtype::kF32;
  }
}

// Unit roundoff of what the output is stored in or computed at, whichever is coarser: TF32
// products have fp16's 11-bit significands (u = 2^-11), though tf32 outputs are stored in fp32.
// (With 2^-24 for tf32, its tiny cases -- two or seven rows, where the 2x comparison is between
// maxima of a handful of errors -- failed 4 of 160 seeds whose flash/plain ratios were
// distributed as fp16's and bf16's, which passed all 160 under their precision's atol.)
double unit_roundoff(const Case& c) {
  double u = 0x1p-24;
  if (c.pr == CudaPrecision::kTf32) u = std::max(u, 0x1p-11);
  if (c.dt == DeviceDtype::kF16 || c.pr == CudaPrecision::kFp16) u = std::max(u, 0x1p-11);
  if (c.dt == DeviceDtype::kBF16 || c.pr == CudaPrecision::kBf16) u = std::max(u, 0x1p-8);
  return u;
}

std::string describe(const Case& c) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s/%s B=%lld Hq=%lld Hkv=%lld Nq=%lld Nk=%lld D=%lld causal=%d",
                cuda_precision_name(c.pr), device_dtype_name(c.dt), (long long)c.B, (long long)c.Hq,
                (long long)c.Hkv, (long long)c.Nq, (long long)c.Nk, (long long)c.D, c.causal ? 1 : 0);
  return buf;
}

// The inputs of a case depend on its description only, so a case run alone (--filter) or in
// another grid sees the same data as in the full run.
uint64_t case_seed(const Case& c) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char ch : describe(c)) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
  return h;
}

bool sampled(const Case& c) { return std::max(c.Nq, c.Nk) >= 2048; }

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 7) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return ((next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
  double normal() { return std::sqrt(-2.0 * std::log(uniform())) * std::cos(6.283185307179586 * uniform()); }
};

// ---- device buffers ------------------------------------------------------------------------------
struct DevBuf {
  void* p = nullptr;
  size_t n = 0;
  DeviceDtype dt = DeviceDtype::kF32;
  DevBuf() = default;
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  ~DevBuf() {
    if (p) cuda_free(p);
  }
};

Status make(DevBuf& b, size_t n, DeviceDtype dt) {
  b.n = n;
  b.dt = dt;
  return cuda_alloc(&b.p, n * device_dtype_size(dt));
}
Status put(DevBuf& b, const std::vector<double>& h, void* s) {
  return cuda_upload(b.p, h.data(), h.size() * sizeof(double), b.dt, true, s);
}
Status get(std::vector<double>& h, const DevBuf& b, void* s) {
  h.assign(b.n, 0.0);
  return cuda_download(h.data(), true, b.p, b.n, b.dt, s);
}
Status poison(DevBuf& b, void* s) {
  return put(b, std::vector<double>(b.n, std::numeric_limits<double>::quiet_NaN()), s);
}

// ---- checks ------------------------------------------------------------------------------------
struct Check {
  std::string name;
  double flash = 0, plain = 0, ref_max = 0, atol = 0;
  double excess = 0;     // max over elements of |flash - ref| - floor (= flash without a floor)
  double floor_max = 0;  // largest per-element floor (0: none)
  bool nan = false, masked_bad = false;
  bool ok() const { return !nan && !masked_bad && excess <= 2 * plain + atol; }
  // The floor decided: the raw error alone would have failed.
  bool floor_used() const { return ok() && flash > 2 * plain + atol; }
};

// Max-abs errors over `rows` (all rows when empty) of a [*, width] array. Reference +inf entries
// (lse of rows that see nothing) must be matched exactly by the flash result. `floor` (when not
// null): a per-element allowance subtracted from the flash error (d_floor).
Check compare(const std::string& name, const std::vector<double>& flash, const std::vector<double>& plain,
              const std::vector<double>& ref, int64_t width, const std::vector<int64_t>& rows, double u,
              const std::vector<double>* floor = nullptr) {
  Check c;
  c.name = name;
  c.excess = -std::numeric_limits<double>::infinity();
  auto visit = [&](int64_t i) {
    const double r = ref[i], f = flash[i], p = plain[i];
    if (std::isnan(f)) {
      c.nan = true;
      return;
    }
    if (std::isinf(r)) {
      if (f != r) c.masked_bad = true;
      return;
    }
    c.ref_max = std::max(c.ref_max, std::fabs(r));
    c.flash = std::max(c.flash, std::fabs(f - r));
    const double fl = floor ? (*floor)[i] : 0.0;
    c.floor_max = std::max(c.floor_max, fl);
    c.excess = std::max(c.excess, std::fabs(f - r) - fl);
    c.plain = std::isfinite(p) ? std::max(c.plain, std::fabs(p - r)) : std::numeric_limits<double>::infinity();
  };
  if (rows.empty()) {
    for (size_t i = 0; i < ref.size(); ++i) visit(static_cast<int64_t>(i));
  } else {
    for (int64_t r : rows)
      for (int64_t j = 0; j < width; ++j) visit(r * width + j);
  }
  c.atol = 4 * u * std::max(c.ref_max, 1e-3);
  c.excess = std::max(c.excess, 0.0);
  return c;
}

// ---- sampled fp64 oracle (long sequences) --------------------------------------------------------
int64_t key_end(const AttentionParams& p, int64_t i) {
  if (!p.causal) return p.Nk;
  const int64_t e = i + (p.Nk - p.Nq) + 1;
  return std::clamp<int64_t>(e, 0, p.Nk);
}
double dot(const double* a, const double* b, int64_t n) {
  double s = 0;
  for (int64_t d = 0; d < n; ++d) s += a[d] * b[d];
  return s;
}

// dq for the given global query rows (b*Hq*Nq indexing), from the full oracle out / lse.
void oracle_dq_rows(const AttentionParams& p, const std::vector<double>& q, const std::vector<double>& k,
                    const std::vector<double>& v, const std::vector<double>& out, const std::vector<double>& lse,
                    const std::vector<double>& dout, const std::vector<int64_t>& rows, std::vector<double>& dq) {
  const int64_t D = p.D, group = p.Hq / p.Hkv;
  ThreadPool::parallel_for(static_cast<int64_t>(rows.size()), [&](int64_t t, int) {
    const int64_t row = rows[t], bh = row / p.Nq, i = row % p.Nq;
    const int64_t bk = (bh / p.Hq) * p.Hkv + (bh % p.Hq) / group;
    const double* K = k.data() + bk * p.Nk * D;
    const double* V = v.data() + bk * p.Nk * D;
    const double* qi = q.data() + row * D;
    const double* doi = dout.data() + row * D;
    double* g = dq.data() + row * D;
    std::fill(g, g + D, 0.0);
    const double L = lse[row];
    if (!std::isfinite(L)) return;
    const double Di = dot(doi, out.data() + row * D, D);
    for (int64_t j = 0; j < key_end(p, i); ++j) {
      const double pr = std::exp(p.scale * dot(qi, K + j * D, D) - L);
      const double ds = pr * (dot(doi, V + j * D, D) - Di);
      for (int64_t d = 0; d < D; ++d) g[d] += p.scale * ds * K[j * D + d];
    }
  });
}

// dk, dv for the given global key rows (b*Hkv*Nk indexing).
void oracle_dkdv_keys(const AttentionParams& p, const std::vector<double>& q, const std::vector<double>& k,
                      const std::vector<double>& v, const std::vector<double>& out, const std::vector<double>& lse,
                      const std::vector<double>& dout, const std::vector<int64_t>& keys, std::vector<double>& dk,
                      std::vector<double>& dv) {
  const int64_t D = p.D, group = p.Hq / p.Hkv;
  ThreadPool::parallel_for(static_cast<int64_t>(keys.size()), [&](int64_t t, int) {
    const int64_t krow = keys[t], bk = krow / p.Nk, j = krow % p.Nk;
    const int64_t b = bk / p.Hkv, hk = bk % p.Hkv;
    const double* kj = k.data() + krow * D;
    const double* vj = v.data() + krow * D;
    double* gk = dk.data() + krow * D;
    double* gv = dv.data() + krow * D;
    std::fill(gk, gk + D, 0.0);
    std::fill(gv, gv + D, 0.0);
    for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
      const int64_t bh = b * p.Hq + h;
      for (int64_t i = 0; i < p.Nq; ++i) {
        if (j >= key_end(p, i)) continue;
        const int64_t row = bh * p.Nq + i;
        const double L = lse[row];
        if (!std::isfinite(L)) continue;
        const double* qi = q.data() + row * D;
        const double* doi = dout.data() + row * D;
        const double pr = std::exp(p.scale * dot(qi, kj, D) - L);
        const double ds = pr * (dot(doi, vj, D) - dot(doi, out.data() + row * D, D));
        for (int64_t d = 0; d < D; ++d) {
          gk[d] += p.scale * ds * qi[d];
          gv[d] += pr * doi[d];
        }
      }
    }
  });
}

// ---- lse: the scale of the scores -------------------------------------------------------------
// lse_i = logsumexp_j x_ij with x_ij = scale q_i . k_j. A score computed in fp32 carries a rounding
// error of the order of u scale sum_d |q_id k_jd| (the scale of its terms, not of its value), and
// lse inherits it unchanged (d lse_i / d x_ij = P_ij, summing to 1). When a row's scores cancel
// (one visible key whose score is near 0, so lse is near 0), max|lse| understates that scale and
// 4u max|lse| would ask flash for more than fp32 can promise (a single-row case failed with lse
// off by 91 u |lse|, 0.3 u of its score scale). The lse atol therefore uses the larger of max|lse|
// and this score scale (in other cases the two are of the same order).
double score_scale(const AttentionParams& p, const std::vector<double>& q, const std::vector<double>& k,
                   const std::vector<int64_t>& rows_or_all) {
  const int64_t D = p.D, group = p.Hq / p.Hkv, n = rows_or_all.empty() ? p.B * p.Hq * p.Nq : int64_t(rows_or_all.size());
  std::vector<double> best(static_cast<size_t>(n), 0.0);
  ThreadPool::parallel_for(n, [&](int64_t t, int) {
    const int64_t row = rows_or_all.empty() ? t : rows_or_all[size_t(t)], bh = row / p.Nq, i = row % p.Nq;
    const int64_t bk = (bh / p.Hq) * p.Hkv + (bh % p.Hq) / group;
    const double* qi = q.data() + row * D;
    for (int64_t j = 0; j < key_end(p, i); ++j) {
      const double* kj = k.data() + (bk * p.Nk + j) * D;
      double a = 0;
      for (int64_t d = 0; d < D; ++d) a += std::fabs(qi[d] * kj[d]);
      best[size_t(t)] = std::max(best[size_t(t)], p.scale * a);
    }
  });
  return best.empty() ? 0.0 : *std::max_element(best.begin(), best.end());
}

Check compare_lse(const std::vector<double>& flash, const std::vector<double>& plain, const std::vector<double>& ref,
                  double lse_scale) {
  Check c = compare("lse", flash, plain, ref, 1, {}, 0x1p-24);
  c.atol = 4 * 0x1p-24 * std::max({c.ref_max, lse_scale, 1e-3});
  return c;
}

// ---- the D floor: what FlashAttention-2's D costs the backward, next to plain's -------------------
// dS_ij = P_ij (dP_ij - D_i). The plain reference takes D_i = sum_k P_ik dP_ik (a softmax
// backward's: D is made of the very dP it is subtracted from), flash D_i = dO_i . O_i
// (FlashAttention-2's, from the stored forward output). They agree in exact arithmetic. Given
// the rounded dP^ that both compute, plain's dS is the exact softmax backward of dP^; flash's
// differs from that by P_ij Delta_i, one number per row:
//   Delta_i = D^_i - sum_k P_ik dP^_ik = delta_i + eps_i - sum_k P_ik eps_ik, where
//   delta_i = op(dO_i) . (op(O^flash_i) - sum_k P_ik op(V_k)): what D inherits from the stored O
//             (op: the rounding of dP's operands, TF32 for tf32, none otherwise);
//   eps_i, eps_ik: the fp32 accumulation errors of D^_i and dP^_ik, which plain's formula pairs
//             up (its D sums the very dP^ it subtracts) and flash's cannot.
// Where a row's attention sits on one key, this is flash's whole error: the truth and plain's dS
// are exactly 0 (P = 1, D = dP), so the 2x rule alone would demand exactness of flash there.
// Through dq_i = scale sum_j dS_ij k_j and dk_j = scale sum_i dS_ij q_i (over the visible pairs
// and the query heads of key j), the floor subtracted from each element's flash error is
//   floor(dq_id) = scale |sum_j P_ij k_jd| |Delta_i|,   floor(dk_jd) = scale |sum_i P_ij Delta_i q_id|,
// with Delta_i, by precision:
//  - fp32: computed. The kernels' fp32 sums are replayed in their order (fp32_chunk_dot), so
//    D^_i and every dP^_ik are the kernels' values bit for bit and Delta_i is exact. (They sum D
//    and dP in one order, flash_f32.cuh, so Delta_i = 0 where O_i = V_j.)
//  - tf32, fp16, bf16: delta_i computed (O^flash is what the forward stored, whose error the
//    forward check bounds; op rounds as cvt.rna for tf32), the eps terms bounded: the MMA's
//    accumulation order is the hardware's. |eps_i| <= c u A_i, A_i = sum_d |dO_id O_id|; the eps_ik, independent, by their
//    root sum of squares, c u sqrt(sum_k (P_ik A_ik)^2), A_ik = sum_d |dO_id V_kd|; likewise
//    over i in dk (the eps part of sum_i P_ij Delta_i q_id: root sum of squares, the delta part
//    signed). u = 2^-24 (fp32 accumulation), c = 4: a few roundings at the scale of the terms
//    (the worst case has c = D; random-signed sums of D <= 256 terms stay far below it: over 30
//    seeds of the one-key cases at tf32, fp16 and bf16 no element's error exceeded 0.22 of its
//    floor under emulation, whose MMA rounds once per instruction; hardware that truncates inside
//    the MMA may double that).
// Size, over the emulated grid: the floor's largest element is at most 0.36 (fp32), 0.13 (tf32),
// 0.18 (fp16, bf16) of the check's allowance 2 plain + atol (medians 0.11, 0.06, 0.04). Regression
// power: fp32 rows that see one key get a floor of 0 (a D summed in another order than dP fails
// them), and the tf32 floor there is 5e-6 to 2.3e-5, while a tf32 D from unrounded dO and O
// erred 20x to 230x that.
constexpr double kFloorC = 4, kFloorU = 0x1p-24;

// Round to TF32 (nearest, ties away from zero), as cvt.rna.tf32.f32 does.
double tf32(double x) {
  const float f = static_cast<float>(x);
  uint32_t b;
  std::memcpy(&b, &f, 4);
  if ((b & 0x7f800000u) != 0x7f800000u) b = (b + 0x1000u) & 0xffffe000u;
  float r;
  std::memcpy(&r, &b, 4);
  return r;
}

// a . b in fp32 as the fp32 kernels sum it (flash_f32.cuh, dot4_chunk): 4-element FMA chains from
// their first product, added in order (the kernels pad D with zero columns, which add nothing).
double fp32_chunk_dot(const double* a, const double* b, int64_t D) {
  float acc = 0.f;
  for (int64_t c = 0; c < D; c += 4) {
    float t = static_cast<float>(a[c]) * static_cast<float>(b[c]);
    for (int64_t e = c + 1; e < std::min(c + 4, D); ++e) t = std::fma(static_cast<float>(a[e]), static_cast<float>(b[e]), t);
    acc += t;
  }
  return acc;
}

// fdq / fdk: the floors for `rows` of dq and `keys` of dk (others 0). flash_out: the forward
// output the backward ran from.
void d_floor(const AttentionParams& p, CudaPrecision pr, const std::vector<double>& q, const std::vector<double>& k,
             const std::vector<double>& v, const std::vector<double>& out, const std::vector<double>& flash_out,
             const std::vector<double>& lse, const std::vector<double>& dout, const std::vector<int64_t>& rows,
             const std::vector<int64_t>& keys, std::vector<double>& fdq, std::vector<double>& fdk) {
  const int64_t D = p.D, group = p.Hq / p.Hkv, nrows = p.B * p.Hq * p.Nq;
  const bool exact = pr == CudaPrecision::kFp32;  // Delta_i computed, not bounded
  auto op = [&](double x) { return pr == CudaPrecision::kTf32 ? tf32(x) : x; };
  auto kv_base = [&](int64_t row) {
    const int64_t bh = row / p.Nq;
    return ((bh / p.Hq) * p.Hkv + (bh % p.Hq) / group) * p.Nk;
  };
  auto prob = [&](int64_t row, int64_t j) {  // P_ij from the oracle's lse; 0 for an empty row
    const double L = lse[size_t(row)];
    return std::isfinite(L) ? std::exp(p.scale * dot(q.data() + row * D, k.data() + (kv_base(row) + j) * D, D) - L) : 0.0;
  };
  // Per row: delta_i (signed; fp32: all of Delta_i) and the eps bound c u (A_i + sqrt(sum_k (P_ik A_ik)^2)).
  std::vector<double> delta(size_t(nrows), 0.0), eps(size_t(nrows), 0.0);
  ThreadPool::parallel_for(nrows, [&](int64_t row, int) {
    const int64_t i = row % p.Nq, base = kv_base(row);
    const double* doi = dout.data() + row * D;
    std::vector<double> po(size_t(D), 0.0);  // sum_k P_ik op(V_k)
    double a_ik = 0, a_i = 0;  // sum_k (P_ik A_ik)^2, A_i
    for (int64_t j = 0; j < key_end(p, i); ++j) {
      const double pj = prob(row, j);
      const double* vj = v.data() + (base + j) * D;
      double a = 0;
      for (int64_t d = 0; d < D; ++d) {
        po[size_t(d)] += pj * op(vj[d]);
        a += std::fabs(doi[d] * vj[d]);
      }
      a_ik += (pj * a) * (pj * a);
    }
    double dl = 0;
    for (int64_t d = 0; d < D; ++d) {
      a_i += std::fabs(doi[d] * out[size_t(row * D + d)]);
      dl += op(doi[d]) * (op(flash_out[size_t(row * D + d)]) - po[size_t(d)]);
    }
    if (exact) {  // Delta_i itself: D^_i - sum_k P_ik dP^_ik, as the kernels round them
      double pdp = 0;
      for (int64_t j = 0; j < key_end(p, i); ++j) pdp += prob(row, j) * fp32_chunk_dot(doi, v.data() + (base + j) * D, D);
      dl = fp32_chunk_dot(doi, flash_out.data() + row * D, D) - pdp;
    }
    delta[size_t(row)] = std::isfinite(lse[size_t(row)]) ? dl : 0.0;
    eps[size_t(row)] = std::isfinite(lse[size_t(row)]) && !exact ? kFloorC * kFloorU * (a_i + std::sqrt(a_ik)) : 0.0;
  });
  fdq.assign(q.size(), 0.0);
  fdk.assign(k.size(), 0.0);
  ThreadPool::parallel_for(static_cast<int64_t>(rows.size()), [&](int64_t t, int) {
    const int64_t row = rows[t], i = row % p.Nq, base = kv_base(row);
    double* f = fdq.data() + row * D;  // sum_j P_ij k_jd first
    for (int64_t j = 0; j < key_end(p, i); ++j) {
      const double pj = prob(row, j);
      const double* kj = k.data() + (base + j) * D;
      for (int64_t d = 0; d < D; ++d) f[d] += pj * kj[d];
    }
    const double w = p.scale * (std::fabs(delta[size_t(row)]) + eps[size_t(row)]);
    for (int64_t d = 0; d < D; ++d) f[d] = w * std::fabs(f[d]);
  });
  ThreadPool::parallel_for(static_cast<int64_t>(keys.size()), [&](int64_t t, int) {
    const int64_t krow = keys[t], bk = krow / p.Nk, j = krow % p.Nk;
    const int64_t b = bk / p.Hkv, hk = bk % p.Hkv;
    std::vector<double> sd(size_t(D), 0.0), se(size_t(D), 0.0);  // the delta and eps sums
    for (int64_t h = hk * group; h < (hk + 1) * group; ++h)
      for (int64_t i = 0; i < p.Nq; ++i) {
        if (j >= key_end(p, i)) continue;
        const int64_t row = (b * p.Hq + h) * p.Nq + i;
        const double pj = prob(row, j);
        const double* qi = q.data() + row * D;
        for (int64_t d = 0; d < D; ++d) {
          sd[size_t(d)] += pj * delta[size_t(row)] * qi[d];
          const double e = pj * eps[size_t(row)] * qi[d];
          se[size_t(d)] += e * e;
        }
      }
    double* f = fdk.data() + krow * D;
    for (int64_t d = 0; d < D; ++d) f[d] = p.scale * (std::fabs(sd[size_t(d)]) + std::sqrt(se[size_t(d)]));
  });
}

std::vector<int64_t> sample_rows(int64_t total, int64_t want, uint64_t seed) {
  std::vector<int64_t> r;
  if (total <= want) {
    for (int64_t i = 0; i < total; ++i) r.push_back(i);
    return r;
  }
  Rng rng(seed);
  r.push_back(0);
  r.push_back(total - 1);
  while (static_cast<int64_t>(r.size()) < want) r.push_back(static_cast<int64_t>(rng.next() % uint64_t(total)));
  std::sort(r.begin(), r.end());
  r.erase(std::unique(r.begin(), r.end()), r.end());
  return r;
}

// The sampled oracle against the full one (fp64, CPU only): GQA, causal with Nq != Nk.
bool oracle_self_check() {
  bool ok = true;
  for (bool causal : {false, true}) {
    AttentionParams p;
    p.B = 2, p.Hq = 4, p.Hkv = 2, p.Nq = 37, p.Nk = 29, p.D = 24, p.scale = 0.3, p.causal = causal;
    const size_t nq = size_t(p.B * p.Hq * p.Nq * p.D), nk = size_t(p.B * p.Hkv * p.Nk * p.D);
    Rng rng(99);
    std::vector<double> q(nq), k(nk), v(nk), dout(nq), out(nq), lse(size_t(p.B * p.Hq * p.Nq));
    for (auto* a : {&q, &dout}) for (auto& x : *a) x = rng.normal();
    for (auto* a : {&k, &v}) for (auto& x : *a) x = rng.normal();
    std::vector<double> dq(nq), dk(nk), dv(nk), sdq(nq, 0.0), sdk(nk, 0.0), sdv(nk, 0.0);
    if (!attention_forward_ref(p, q.data(), k.data(), v.data(), out.data(), lse.data()).ok() ||
        !attention_backward_ref(p, q.data(), k.data(), v.data(), out.data(), lse.data(), dout.data(), dq.data(),
                                dk.data(), dv.data()).ok())
      return false;
    std::vector<int64_t> rows, keys;
    for (int64_t i = 0; i < p.B * p.Hq * p.Nq; ++i) rows.push_back(i);
    for (int64_t i = 0; i < p.B * p.Hkv * p.Nk; ++i) keys.push_back(i);
    oracle_dq_rows(p, q, k, v, out, lse, dout, rows, sdq);
    oracle_dkdv_keys(p, q, k, v, out, lse, dout, keys, sdk, sdv);
    double e = 0;
    for (size_t i = 0; i < nq; ++i) e = std::max(e, std::fabs(dq[i] - sdq[i]));
    for (size_t i = 0; i < nk; ++i) e = std::max({e, std::fabs(dk[i] - sdk[i]), std::fabs(dv[i] - sdv[i])});
    ok = ok && e < 1e-12;
  }
  return ok;
}

// ---- one case ----------------------------------------------------------------------------------
int g_passed = 0, g_failed = 0;
std::vector<std::string> g_json;

std::string json_escape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') o += '\\';
    o += ch;
  }
  return o;
}

void report(const Case& c, const std::string& kernel, const std::vector<Check>& checks, const std::string& extra,
            double ms) {
  bool ok = extra.empty();
  std::string detail, jchecks;
  for (const Check& ch : checks) {
    ok = ok && ch.ok();
    char buf[200];
    std::snprintf(buf, sizeof buf, " %s %.2e/%.2e%s", ch.name.c_str(), ch.flash, ch.plain,
                  ch.nan ? " NaN" : (ch.masked_bad ? " MASKED-ROW" : (ch.ok() ? (ch.floor_used() ? " (floor)" : "") : " <-- over")));
    detail += buf;
    char jb[300];
    std::snprintf(jb, sizeof jb,
                  "%s{\"name\":\"%s\",\"flash\":%.6e,\"plain\":%.6e,\"atol\":%.6e,\"excess\":%.6e,\"floor\":%.6e,"
                  "\"ok\":%s}",
                  jchecks.empty() ? "" : ",", ch.name.c_str(), std::isfinite(ch.flash) ? ch.flash : -1.0,
                  std::isfinite(ch.plain) ? ch.plain : -1.0, ch.atol, std::isfinite(ch.excess) ? ch.excess : -1.0,
                  ch.floor_max, ch.ok() ? "true" : "false");
    jchecks += jb;
  }
  std::printf("%s %-10s %s |%s%s%s (%.0f ms)\n", ok ? "ok  " : "FAIL", kernel.c_str(), describe(c).c_str(),
              detail.c_str(), extra.empty() ? "" : " ", extra.c_str(), ms);
  std::fflush(stdout);
  (ok ? g_passed : g_failed)++;
  g_json.push_back("{\"case\":\"" + json_escape(describe(c)) + "\",\"kernel\":\"" + kernel +
                   "\",\"ok\":" + (ok ? "true" : "false") + ",\"checks\":[" + jchecks + "],\"note\":\"" +
                   json_escape(extra) + "\"}");
}

void fail_case(const Case& c, const std::string& kernel, const Status& st) {
  report(c, kernel, {}, std::string(code_name(st.code)) + ": " + st.message, 0);
}

#define TRY(kernel, expr)            \
  do {                               \
    const Status _st = (expr);       \
    if (!_st.ok()) {                 \
      fail_case(c, kernel, _st);     \
      return;                        \
    }                                \
  } while (0)

// Wall time spent in the fp64 oracle, the plain reference kernels and the flash kernels.
double g_sec_oracle = 0, g_sec_plain = 0, g_sec_flash = 0;
double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The attention parameters of a case (scale 1/sqrt(D)).
AttentionParams params_of(const Case& c) {
  AttentionParams p;
  p.B = c.B;
  p.Hq = c.Hq;
  p.Hkv = c.Hkv;
  p.Nq = c.Nq;
  p.Nk = c.Nk;
  p.D = c.D;
  p.scale = 1.0 / std::sqrt(double(c.D));
  p.causal = c.causal;
  return p;
}

void run_case(const Case& c, void* s, uint64_t seed) {
  AttentionParams p = params_of(c);
  const size_t nq = size_t(c.B * c.Hq * c.Nq * c.D), nk = size_t(c.B * c.Hkv * c.Nk * c.D);
  const size_t nl = size_t(c.B * c.Hq * c.Nq);
  const double u = unit_roundoff(c);

  Rng rng(seed);
  std::vector<double> hq(nq), hk(nk), hv(nk), hdo(nq);
  for (auto& x : hq) x = rng.normal();
  for (auto& x : hk) x = rng.normal();
  for (auto& x : hv) x = rng.normal();
  for (auto& x : hdo) x = rng.normal();

  DevBuf q, k, v, dout;
  TRY("setup", make(q, nq, c.dt));
  TRY("setup", make(k, nk, c.dt));
  TRY("setup", make(v, nk, c.dt));
  TRY("setup", make(dout, nq, c.dt));
  TRY("setup", put(q, hq, s));
  TRY("setup", put(k, hk, s));
  TRY("setup", put(v, hv, s));
  TRY("setup", put(dout, hdo, s));
  // The oracle sees exactly the rounded values the kernels see.
  TRY("setup", get(hq, q, s));
  TRY("setup", get(hk, k, s));
  TRY("setup", get(hv, v, s));
  TRY("setup", get(hdo, dout, s));

  // fp64 oracle.
  auto tick = std::chrono::steady_clock::now();
  std::vector<double> r_out(nq), r_lse(nl), r_dq(nq, 0.0), r_dk(nk, 0.0), r_dv(nk, 0.0);
  TRY("oracle", attention_forward_ref(p, hq.data(), hk.data(), hv.data(), r_out.data(), r_lse.data()));
  std::vector<int64_t> qrows, krows;  // empty = all
  if (sampled(c)) {
    qrows = sample_rows(c.B * c.Hq * c.Nq, 192, seed + 11);
    krows = sample_rows(c.B * c.Hkv * c.Nk, 48, seed + 12);
    oracle_dq_rows(p, hq, hk, hv, r_out, r_lse, hdo, qrows, r_dq);
    oracle_dkdv_keys(p, hq, hk, hv, r_out, r_lse, hdo, krows, r_dk, r_dv);
  } else {
    TRY("oracle", attention_backward_ref(p, hq.data(), hk.data(), hv.data(), r_out.data(), r_lse.data(),
                                         hdo.data(), r_dq.data(), r_dk.data(), r_dv.data()));
  }
  const double lse_scale = score_scale(p, hq, hk, qrows);
  g_sec_oracle += seconds_since(tick);

  // Forward: flash and plain.
  DevBuf fo, fl, po, pl;
  TRY("setup", make(fo, nq, c.dt));
  TRY("setup", make(fl, nl, DeviceDtype::kF32));
  TRY("setup", make(po, nq, c.dt));
  TRY("setup", make(pl, nl, DeviceDtype::kF32));
  TRY("setup", poison(fo, s));
  TRY("setup", poison(fl, s));
  TRY("setup", cuda_stream_sync(s));
  tick = std::chrono::steady_clock::now();
  TRY("forward", attention_forward_cuda(p, c.pr, c.dt, q.p, k.p, v.p, fo.p, static_cast<float*>(fl.p), s));
  TRY("forward", cuda_stream_sync(s));
  const double sec_fwd = seconds_since(tick);
  g_sec_flash += sec_fwd;
  tick = std::chrono::steady_clock::now();
  TRY("plain-fwd", attention_forward_cuda_plain(p, c.pr, c.dt, q.p, k.p, v.p, po.p, static_cast<float*>(pl.p), s));
  TRY("plain-fwd", cuda_stream_sync(s));
  g_sec_plain += seconds_since(tick);
  std::vector<double> f_out, f_lse, p_out, p_lse;
  TRY("forward", get(f_out, fo, s));
  TRY("forward", get(f_lse, fl, s));
  TRY("plain-fwd", get(p_out, po, s));
  TRY("plain-fwd", get(p_lse, pl, s));
  report(c, "forward",
         {compare("out", f_out, p_out, r_out, c.D, {}, u), compare_lse(f_lse, p_lse, r_lse, lse_scale)},
         "", 1e3 * sec_fwd);

  // Plain backward (from the plain forward's out / lse).
  DevBuf pdq, pdk, pdv;
  TRY("plain-bwd", make(pdq, nq, c.dt));
  TRY("plain-bwd", make(pdk, nk, c.dt));
  TRY("plain-bwd", make(pdv, nk, c.dt));
  tick = std::chrono::steady_clock::now();
  TRY("plain-bwd", attention_backward_cuda_plain(p, c.pr, c.dt, q.p, k.p, v.p, po.p, static_cast<const float*>(pl.p),
                                                 dout.p, pdq.p, pdk.p, pdv.p, s));
  std::vector<double> p_dq, p_dk, p_dv;
  TRY("plain-bwd", get(p_dq, pdq, s));
  TRY("plain-bwd", get(p_dk, pdk, s));
  TRY("plain-bwd", get(p_dv, pdv, s));
  g_sec_plain += seconds_since(tick);

  // The D floor (d_floor) for every dq row and dk key the checks look at.
  std::vector<double> floor_dq, floor_dk;
  {
    std::vector<int64_t> all_rows = qrows, all_keys = krows;
    if (all_rows.empty())
      for (int64_t i = 0; i < c.B * c.Hq * c.Nq; ++i) all_rows.push_back(i);
    if (all_keys.empty())
      for (int64_t i = 0; i < c.B * c.Hkv * c.Nk; ++i) all_keys.push_back(i);
    tick = std::chrono::steady_clock::now();
    d_floor(p, c.pr, hq, hk, hv, r_out, f_out, r_lse, hdo, all_rows, all_keys, floor_dq, floor_dk);
    g_sec_oracle += seconds_since(tick);
  }

  // Flash backward (from the flash forward's out / lse), both dQ modes.
  std::vector<double> det_dq;
  for (int mode = 0; mode < 2; ++mode) {
    const char* name = mode == 0 ? "bwd-det" : "bwd-atomic";
    p.deterministic = mode == 0;
    DevBuf dq, dk, dv;
    TRY(name, make(dq, nq, c.dt));
    TRY(name, make(dk, nk, c.dt));
    TRY(name, make(dv, nk, c.dt));
    TRY(name, poison(dq, s));
    TRY(name, poison(dk, s));
    TRY(name, poison(dv, s));
    TRY(name, cuda_stream_sync(s));
    tick = std::chrono::steady_clock::now();
    TRY(name, attention_backward_cuda(p, c.pr, c.dt, q.p, k.p, v.p, fo.p, static_cast<const float*>(fl.p), dout.p,
                                      dq.p, dk.p, dv.p, s));
    std::vector<double> f_dq, f_dk, f_dv;
    TRY(name, get(f_dq, dq, s));
    TRY(name, get(f_dk, dk, s));
    TRY(name, get(f_dv, dv, s));
    const double sec = seconds_since(tick);
    g_sec_flash += sec;
    std::string extra;
    if (mode == 0) {
      // Bitwise reproducibility of the deterministic mode.
      TRY(name, poison(dq, s));
      TRY(name, attention_backward_cuda(p, c.pr, c.dt, q.p, k.p, v.p, fo.p, static_cast<const float*>(fl.p),
                                        dout.p, dq.p, dk.p, dv.p, s));
      TRY(name, get(det_dq, dq, s));
      if (std::memcmp(det_dq.data(), f_dq.data(), det_dq.size() * sizeof(double)) != 0)
        extra = "dq differs between two deterministic runs";
    }
    report(c, name,
           {compare("dq", f_dq, p_dq, r_dq, c.D, qrows, u, &floor_dq),
            compare("dk", f_dk, p_dk, r_dk, c.D, krows, u, &floor_dk),
            compare("dv", f_dv, p_dv, r_dv, c.D, krows, u)},
           extra, 1e3 * sec);
  }
}

// ---- split-KV forward (decode shapes) -----------------------------------------------------------
// attention_forward_cuda_split with a forced chunk (chunk > 0: small chunks, so that the emulated
// device sees several chunks at small Nk, tails included) or the automatic path (chunk = 0: a
// shape the dispatch must split on this device, attention_cuda_split_plan > 0). Forward only:
// the backward reads nothing of the split path but out and lse, which are checked here under the
// regular forward's rule (the plain same-precision forward as the yardstick). Every case runs
// twice; out and lse must be bitwise identical (the combine merges chunks in a fixed order).
struct SplitCase {
  Case c;
  int64_t chunk;  // > 0: keys per chunk, forced; 0: automatic
};

std::string describe_split(const SplitCase& sc) {
  return describe(sc.c) + (sc.chunk > 0 ? " split chunk=" + std::to_string(sc.chunk) : std::string(" split auto"));
}

void run_split_case(const SplitCase& sc, void* s, uint64_t seed) {
  const Case& c = sc.c;
  const AttentionParams p = params_of(c);
  const size_t nq = size_t(c.B * c.Hq * c.Nq * c.D), nk = size_t(c.B * c.Hkv * c.Nk * c.D);
  const size_t nl = size_t(c.B * c.Hq * c.Nq);
  const int64_t plan = attention_cuda_split_plan(p);
  const std::string kernel =
      sc.chunk > 0 ? "split/" + std::to_string(sc.chunk) : "split/auto" + std::to_string(plan);

  Rng rng(seed);
  std::vector<double> hq(nq), hk(nk), hv(nk);
  for (auto& x : hq) x = rng.normal();
  for (auto& x : hk) x = rng.normal();
  for (auto& x : hv) x = rng.normal();
  DevBuf q, k, v;
  TRY("setup", make(q, nq, c.dt));
  TRY("setup", make(k, nk, c.dt));
  TRY("setup", make(v, nk, c.dt));
  TRY("setup", put(q, hq, s));
  TRY("setup", put(k, hk, s));
  TRY("setup", put(v, hv, s));
  TRY("setup", get(hq, q, s));
  TRY("setup", get(hk, k, s));
  TRY("setup", get(hv, v, s));

  auto tick = std::chrono::steady_clock::now();
  std::vector<double> r_out(nq), r_lse(nl);
  TRY("oracle", attention_forward_ref(p, hq.data(), hk.data(), hv.data(), r_out.data(), r_lse.data()));
  const double lse_scale = score_scale(p, hq, hk, {});
  g_sec_oracle += seconds_since(tick);

  DevBuf fo, fl, po, pl;
  TRY("setup", make(fo, nq, c.dt));
  TRY("setup", make(fl, nl, DeviceDtype::kF32));
  TRY("setup", make(po, nq, c.dt));
  TRY("setup", make(pl, nl, DeviceDtype::kF32));
  std::vector<double> f_out, f_lse, f_out2, f_lse2, p_out, p_lse;
  double sec = 0;
  for (int run = 0; run < 2; ++run) {
    TRY(kernel, poison(fo, s));
    TRY(kernel, poison(fl, s));
    TRY(kernel, cuda_stream_sync(s));
    tick = std::chrono::steady_clock::now();
    TRY(kernel, attention_forward_cuda_split(p, c.pr, c.dt, q.p, k.p, v.p, fo.p, static_cast<float*>(fl.p), sc.chunk, s));
    TRY(kernel, cuda_stream_sync(s));
    if (run == 0) sec = seconds_since(tick);
    g_sec_flash += seconds_since(tick);
    TRY(kernel, get(run ? f_out2 : f_out, fo, s));
    TRY(kernel, get(run ? f_lse2 : f_lse, fl, s));
  }
  tick = std::chrono::steady_clock::now();
  TRY("plain-fwd", attention_forward_cuda_plain(p, c.pr, c.dt, q.p, k.p, v.p, po.p, static_cast<float*>(pl.p), s));
  TRY("plain-fwd", get(p_out, po, s));
  TRY("plain-fwd", get(p_lse, pl, s));
  g_sec_plain += seconds_since(tick);
  std::string extra;
  if (std::memcmp(f_out.data(), f_out2.data(), f_out.size() * sizeof(double)) != 0 ||
      std::memcmp(f_lse.data(), f_lse2.data(), f_lse.size() * sizeof(double)) != 0)
    extra = "out or lse differs between two runs";
  if (sc.chunk == 0 && plan <= 0) extra += (extra.empty() ? "" : "; ") + std::string("the automatic dispatch did not split");
  report(c, kernel,
         {compare("out", f_out, p_out, r_out, c.D, {}, unit_roundoff(c)), compare_lse(f_lse, p_lse, r_lse, lse_scale)},
         extra, 1e3 * sec);
}

// ---- argument range and device limits -------------------------------------------------------------
void check_line(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  std::fflush(stdout);
  (ok ? g_passed : g_failed)++;
}

// The kernels take scale and scale * log2(e) (exponentials are exp2) in fp32: both must be finite
// there, or the call is ERR_RANGE before anything runs. (scale * log2(e) was not checked: a scale
// in (FLT_MAX / log2(e), FLT_MAX] reached the kernels as scale_log2 = inf.)
void check_scale_range(void* s) {
  AttentionParams p;
  p.B = 1, p.Hq = 1, p.Hkv = 1, p.Nq = 4, p.Nk = 4, p.D = 32;
  const size_t n = 4 * 32;
  DevBuf q, k, v, o, l, dq, dk, dv;
  for (DevBuf* b : {&q, &k, &v, &o, &dq, &dk, &dv})
    if (!make(*b, n, DeviceDtype::kF32).ok() || !put(*b, std::vector<double>(n, 0.5), s).ok())
      return check_line(false, "scale range: cannot allocate");
  if (!make(l, 4, DeviceDtype::kF32).ok() || !put(l, std::vector<double>(4, 1.0), s).ok())
    return check_line(false, "scale range: cannot allocate");
  struct {
    double scale;
    bool accepted;
  } tries[] = {{2.3e38, true}, {2.4e38, false}, {1e39, false}};  // FLT_MAX / log2(e) = 2.3586e38
  for (CudaPrecision pr : {CudaPrecision::kFp32, CudaPrecision::kTf32})
    for (const auto& t : tries) {
      p.scale = t.scale;
      const Status f = attention_forward_cuda(p, pr, DeviceDtype::kF32, q.p, k.p, v.p, o.p, static_cast<float*>(l.p), s);
      const Status b = attention_backward_cuda(p, pr, DeviceDtype::kF32, q.p, k.p, v.p, o.p, static_cast<const float*>(l.p),
                                               o.p, dq.p, dk.p, dv.p, s);
      // Accepted: runs, or is refused only for shared memory (LEMMA_EMULATE_SMEM_OPTIN, see check_tiles).
      auto runs = [](const Status& st) {
        return st.ok() || (st.code == Code::kCuda && st.message.find("shared memory") != std::string::npos);
      };
      const bool ok = t.accepted ? runs(f) && runs(b) : f.code == Code::kRange && b.code == Code::kRange;
      char buf[200];
      std::snprintf(buf, sizeof buf, "scale range: %s scale=%.4g -> forward %s, backward %s (want %s)",
                    cuda_precision_name(pr), t.scale, code_name(f.code), code_name(b.code),
                    t.accepted ? "accepted" : "ERR_RANGE");
      check_line(ok, buf);
    }
  check_line(cuda_stream_sync(s).ok(), "scale range: the stream is still usable");
}

// The tiles the launchers pick on this device for every precision and kernel head dim (printed),
// and what happens where a kernel does not fit even in its small-tile variant (run with
// LEMMA_EMULATE_SMEM_OPTIN below 99 KB to get there): forward and backward must return ERR_CUDA
// naming shared memory, not fail a launch, and the device must stay usable; the kernels that
// fit must still run.
void check_tiles(void* s) {
  AttentionParams p;
  p.B = 1, p.Hq = 2, p.Hkv = 1, p.Nq = 9, p.Nk = 9;
  int refused = 0;
  bool all_ok = true;
  std::string detail;
  for (CudaPrecision pr : {CudaPrecision::kFp32, CudaPrecision::kTf32, CudaPrecision::kFp16, CudaPrecision::kBf16})
    for (int D : {32, 64, 96, 128, 256}) {
      const std::string tiles = attention_cuda_tiles(pr, D);
      std::printf("     tiles %s D=%d: %s\n", cuda_precision_name(pr), D, tiles.c_str());
      // "fwd ... | dkdv ... | dq ...": which parts do not fit.
      const size_t a = tiles.find(" | "), b = tiles.find(" | ", a + 3);
      if (tiles.empty() || a == std::string::npos || b == std::string::npos) {
        all_ok = false;
        detail += std::string(" ") + cuda_precision_name(pr) + " D=" + std::to_string(D) + ": no description;";
        continue;
      }
      const char* kNoFit = "does not fit";
      const bool fwd_fits = tiles.substr(0, a).find(kNoFit) == std::string::npos;
      const bool kv_fits = tiles.substr(a, b - a).find(kNoFit) == std::string::npos;
      const bool q_fits = tiles.substr(b).find(kNoFit) == std::string::npos;
      p.D = D;
      p.scale = 1.0 / std::sqrt(double(D));
      const DeviceDtype dt = natural_dtype(pr);
      const size_t nq = size_t(p.B * p.Hq * p.Nq * D), nk = size_t(p.B * p.Hkv * p.Nk * D);
      DevBuf q, k, v, o, l, dq, dk, dv;
      bool alloc = true;
      for (auto [b2, n2] : {std::pair{&q, nq}, {&k, nk}, {&v, nk}, {&o, nq}, {&dq, nq}, {&dk, nk}, {&dv, nk}})
        alloc = alloc && make(*b2, n2, dt).ok() && put(*b2, std::vector<double>(n2, 0.25), s).ok();
      alloc = alloc && make(l, size_t(p.B * p.Hq * p.Nq), DeviceDtype::kF32).ok() &&
              put(l, std::vector<double>(size_t(p.B * p.Hq * p.Nq), 1.0), s).ok();
      if (!alloc) {
        all_ok = false;
        detail += " cannot allocate;";
        continue;
      }
      auto expect = [&](const char* what, bool fits, const Status& st) {
        const bool clean = st.code == Code::kCuda && st.message.find("shared memory") != std::string::npos;
        if (!fits) ++refused;
        if (fits ? st.ok() : clean) return;
        all_ok = false;
        detail += std::string(" ") + cuda_precision_name(pr) + " D=" + std::to_string(D) + " " + what + ": " +
                  code_name(st.code) + " " + st.message + ";";
      };
      expect("forward", fwd_fits,
             attention_forward_cuda(p, pr, dt, q.p, k.p, v.p, o.p, static_cast<float*>(l.p), s));
      for (bool det : {true, false}) {
        p.deterministic = det;
        expect(det ? "backward (deterministic)" : "backward (atomic)", kv_fits && (q_fits || !det),
               attention_backward_cuda(p, pr, dt, q.p, k.p, v.p, o.p, static_cast<const float*>(l.p), o.p, dq.p,
                                       dk.p, dv.p, s));
      }
      all_ok = cuda_stream_sync(s).ok() && all_ok;
    }
  check_line(all_ok, "tiles: every kernel that fits this device's shared memory runs; " + std::to_string(refused) +
                         " calls that do not fit returned ERR_CUDA" + detail);
}

// The automatic split-KV choice on this device's SM count: decode shapes split, the others keep
// the regular grid (a prefill, a batch whose regular grid fills the GPU, a short cache, too many
// packed rows per kv head). Thresholds in cuda/attention/flash_split.cu.
void check_split_plan() {
  struct {
    int64_t B, Hq, Hkv, Nq, Nk;
    bool split;
    const char* what;
  } shapes[] = {
      {1, 32, 8, 1, 32768, true, "decode, GQA 4"},
      {1, 8, 1, 16, 65536, true, "16 query rows, GQA 8"},
      {8, 32, 8, 1, 32768, false, "decode, a batch that fills the GPU"},
      {1, 8, 8, 4096, 4096, false, "prefill"},
      {1, 8, 1, 1, 300, false, "short cache"},
      {1, 8, 1, 32, 65536, false, "256 packed rows per kv head"},
  };
  for (const auto& sh : shapes) {
    AttentionParams p;
    p.B = sh.B, p.Hq = sh.Hq, p.Hkv = sh.Hkv, p.Nq = sh.Nq, p.Nk = sh.Nk, p.D = 128, p.scale = 0.088;
    const int64_t chunks = attention_cuda_split_plan(p);
    char buf[200];
    std::snprintf(buf, sizeof buf, "split plan: %s (B=%lld Hq=%lld Hkv=%lld Nq=%lld Nk=%lld): %lld chunks (want %s)",
                  sh.what, (long long)sh.B, (long long)sh.Hq, (long long)sh.Hkv, (long long)sh.Nq, (long long)sh.Nk,
                  (long long)chunks, sh.split ? "a split" : "0");
    check_line(sh.split ? chunks >= 2 : chunks == 0, buf);
  }
}

enum class Grid { kFull, kQuick, kEmulated };

std::vector<Case> build_cases(Grid grid) {
  std::vector<Case> cs;
  const CudaPrecision precs[] = {CudaPrecision::kFp32, CudaPrecision::kTf32, CudaPrecision::kFp16,
                                 CudaPrecision::kBf16};
  auto add = [&](int64_t B, int64_t Hq, int64_t Hkv, int64_t Nq, int64_t Nk, int64_t D, bool causal, CudaPrecision pr) {
    cs.push_back({B, Hq, Hkv, Nq, Nk, D, causal, pr, natural_dtype(pr)});
  };
  if (grid == Grid::kEmulated) {
    // The emulated device's grid (under a minute on one core per architecture; the plain
    // reference kernels take most of it). Every precision x head dim x causal, so every kernel
    // and every tile variant the architecture's shared memory selects runs; GQA (Hq = 2 Hkv)
    // everywhere, so the dK/dV kernels step through more than one query block and swap their
    // double buffers; tails against every tile size (61, 75, 41, 90 are multiples of none);
    // Nq != Nk both ways, with fully masked rows (causal Nq > Nk).
    const int64_t dims[] = {16, 32, 48, 64, 96, 128, 256};
    for (CudaPrecision pr : precs)
      for (int i = 0; i < 7; ++i) {
        add(1, 2, 1, i % 2 ? 75 : 61, i % 2 ? 61 : 75, dims[i], false, pr);
        add(1, 2, 1, i % 2 ? 41 : 90, i % 2 ? 90 : 41, dims[i], true, pr);
        add(2, 2, 2, 33, 47, dims[i], i % 2 == 0, pr);  // batches, one query head per kv head
      }
    for (CudaPrecision pr : precs) {
      // More than one query block per kernel (forward blocks are 128 rows), longest first.
      add(1, 2, 1, 150, 150, 128, true, pr);
      add(1, 1, 1, 150, 97, 96, false, pr);
      // Whole query blocks that see no key (forward and dQ early exits; dK/dV skip them).
      add(1, 1, 1, 200, 40, 32, true, pr);
      // One key or one query: dS cancels exactly in the reference and in plain (see d_floor).
      add(1, 1, 1, 1, 1, 64, false, pr);
      add(1, 1, 1, 1, 1, 256, true, pr);
      add(1, 1, 1, 64, 1, 64, false, pr);
      add(1, 1, 1, 7, 7, 128, true, pr);
      add(1, 1, 1, 1, 300, 64, false, pr);
      // Batches with several heads per group.
      add(2, 6, 2, 24, 33, 64, true, pr);
    }
    // Storage dtype other than the precision's (the staging path).
    cs.push_back({1, 2, 1, 50, 40, 64, true, CudaPrecision::kBf16, DeviceDtype::kF32});
    cs.push_back({1, 2, 1, 50, 40, 64, false, CudaPrecision::kFp16, DeviceDtype::kF32});
    cs.push_back({1, 2, 1, 50, 40, 128, true, CudaPrecision::kFp32, DeviceDtype::kBF16});
    return cs;
  }
  // Every precision x head dim x causal, on a tail length and on a multi-head batch.
  for (CudaPrecision pr : precs)
    for (int64_t D : {16, 32, 48, 64, 96, 128, 256})
      for (bool causal : {false, true}) {
        add(1, 1, 1, 257, 257, D, causal, pr);
        add(2, 3, 3, 64, 64, D, causal, pr);
      }
  // The CPU suite's shapes: tiny, Nq != Nk both ways (fully masked rows when causal), GQA.
  for (CudaPrecision pr : precs)
    for (int64_t D : {64, 128})
      for (bool causal : {false, true}) {
        add(1, 1, 1, 1, 1, D, causal, pr);
        add(1, 1, 1, 2, 2, D, causal, pr);
        add(1, 1, 1, 7, 7, D, causal, pr);
        add(3, 1, 1, 7, 257, D, causal, pr);
        add(1, 3, 3, 257, 64, D, causal, pr);
        add(1, 1, 1, 64, 1, D, causal, pr);
        add(1, 1, 1, 1, 1024, D, causal, pr);
        add(3, 1, 1, 100, 37, D, causal, pr);
        add(1, 3, 1, 257, 257, D, causal, pr);
        add(2, 6, 2, 64, 130, D, causal, pr);
        add(1, 2, 1, 1024, 1024, D, causal, pr);
      }
  // Storage dtype other than the precision's (the staging path): fp32 tensors at bf16 / fp16,
  // bf16 tensors computed exactly in fp32.
  for (bool causal : {false, true}) {
    cs.push_back({1, 2, 1, 300, 200, 64, causal, CudaPrecision::kBf16, DeviceDtype::kF32});
    cs.push_back({1, 2, 1, 300, 200, 64, causal, CudaPrecision::kFp16, DeviceDtype::kF32});
    cs.push_back({1, 2, 1, 300, 200, 128, causal, CudaPrecision::kFp32, DeviceDtype::kBF16});
  }
  if (grid == Grid::kQuick) return cs;
  // Long sequences (sampled oracle for dq / dk / dv).
  for (CudaPrecision pr : precs)
    for (bool causal : {false, true}) add(1, 2, 1, 4096, 4096, 128, causal, pr);
  add(1, 1, 1, 2048, 6000, 128, true, CudaPrecision::kBf16);
  add(1, 1, 1, 6000, 2048, 64, true, CudaPrecision::kFp16);
  for (bool causal : {false, true}) add(1, 1, 1, 16384, 16384, 64, causal, CudaPrecision::kBf16);
  add(1, 1, 1, 16384, 16384, 64, true, CudaPrecision::kFp16);
  return cs;
}

// Split-KV cases (run_split_case): Nq in {1, 2, 3, 16, 20}, GQA (8:1, 4:2, 2:1) and none, causal
// and not, Nk a multiple of no chunk, causal Nq > Nk (rows that see no key, a row that sees one),
// packed-row blocks that start inside a head and that lack the head's last row (causal bounds),
// D in {32, 48, 64, 80, 96, 128, 256} (48 and 80 staged to 64 and 96; 256 single-buffered in fp32
// on 99 KB devices), two automatic cases, every precision; and foreign storage dtypes.
// The sanitizer runs (scripts/emulated/ci.sh: --filter "D=64 ") take the D = 64 cases; every
// split case also passes under ThreadSanitizer and ASan + UBSan with --filter split.
std::vector<SplitCase> build_split_cases(Grid grid) {
  std::vector<SplitCase> cs;
  for (CudaPrecision pr : {CudaPrecision::kFp32, CudaPrecision::kTf32, CudaPrecision::kFp16, CudaPrecision::kBf16}) {
    const DeviceDtype dt = natural_dtype(pr);
    cs.push_back({{1, 8, 1, 1, 777, 128, false, pr, dt}, 96});
    cs.push_back({{1, 8, 1, 3, 500, 80, true, pr, dt}, 64});  // 24 packed rows: block 2 starts at i = 1
    cs.push_back({{1, 8, 1, 16, 200, 96, true, pr, dt}, 64});  // 128 packed rows: 8 row blocks
    cs.push_back({{1, 4, 2, 16, 10, 48, true, pr, dt}, 4});    // rows 0-5 see no key, row 6 one
    cs.push_back({{1, 2, 1, 2, 200, 256, false, pr, dt}, 70});
    cs.push_back({{2, 2, 1, 20, 129, 32, true, pr, dt}, 50});  // a block without row Nq - 1
    cs.push_back({{1, 1, 1, 3, 1000, 128, false, pr, dt}, 0});
    cs.push_back({{1, 2, 1, 16, 520, 64, true, pr, dt}, 0});  // chunks of 256, 256, 8 keys
  }
  cs.push_back({{1, 8, 1, 3, 333, 64, true, CudaPrecision::kBf16, DeviceDtype::kF32}, 100});
  cs.push_back({{1, 4, 2, 16, 250, 80, false, CudaPrecision::kFp16, DeviceDtype::kF32}, 64});
  cs.push_back({{1, 8, 1, 1, 700, 128, true, CudaPrecision::kFp32, DeviceDtype::kBF16}, 128});
  if (grid == Grid::kFull) {  // the benchmark's decode shapes, automatic path
    cs.push_back({{1, 8, 1, 16, 65536, 128, false, CudaPrecision::kBf16, DeviceDtype::kBF16}, 0});
    cs.push_back({{1, 1, 1, 1, 262144, 128, true, CudaPrecision::kFp16, DeviceDtype::kF16}, 0});
    cs.push_back({{1, 8, 1, 1, 65536, 128, false, CudaPrecision::kFp32, DeviceDtype::kF32}, 0});
  }
  return cs;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, emulated_grid = false, full_grid = false, oracle_only = false;
  int seeds = 1;
  std::string json_path, filter;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    else if (std::strcmp(argv[i], "--emulated") == 0) emulated_grid = true;
    else if (std::strcmp(argv[i], "--full") == 0) full_grid = true;
    else if (std::strcmp(argv[i], "--filter") == 0 && i + 1 < argc) filter = argv[++i];
    else if (std::strcmp(argv[i], "--oracle-self-check") == 0) oracle_only = true;
    else if (std::strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) seeds = std::max(1, std::atoi(argv[++i]));
    else if (std::strcmp(argv[i], "--json") == 0 && i + 1 < argc) json_path = argv[++i];
  }
  if (oracle_only) {
    const bool ok = oracle_self_check();
    std::printf("%s sampled oracle agrees with attention_backward_ref\n%d passed, %d failed\n", ok ? "ok  " : "FAIL",
                ok ? 1 : 0, ok ? 0 : 1);
    return ok ? 0 : 1;
  }
  const CudaInfo info = cuda_info();
  // The emulated device runs the emulated grid unless a grid is named.
  const Grid grid = emulated_grid                              ? Grid::kEmulated
                    : quick                                    ? Grid::kQuick
                    : full_grid || !info.emulated              ? Grid::kFull
                                                               : Grid::kEmulated;
  std::vector<Case> cases = build_cases(grid);
  if (!filter.empty())  // cases whose description contains the text, e.g. "fp16/float16 B=1"
    cases.erase(std::remove_if(cases.begin(), cases.end(),
                               [&](const Case& c) { return describe(c).find(filter) == std::string::npos; }),
                cases.end());
  std::vector<SplitCase> split_cases = build_split_cases(grid);
  if (!filter.empty())
    split_cases.erase(std::remove_if(split_cases.begin(), split_cases.end(),
                                     [&](const SplitCase& c) { return describe_split(c).find(filter) == std::string::npos; }),
                      split_cases.end());
  const int checks_per_case = 3;
  if (!info.compiled || info.device_count == 0) {
    std::printf("attention_cuda_test: skipped, no usable GPU: %s\n",
                info.compiled ? info.error.c_str() : "CUDA support was not compiled in");
    std::printf("0 passed, 0 failed, %zu skipped\n", cases.size() * checks_per_case + split_cases.size());
    return 0;
  }
  const GpuDevice& dev = info.devices.empty() ? GpuDevice{} : info.devices[0];
  std::printf("attention_cuda_test on %s (sm_%d%d, %d SMs), driver %d, runtime %d, %zu cases, %zu split-KV cases\n",
              dev.name.c_str(), dev.major, dev.minor, dev.multiprocessors, info.driver_version, info.runtime_version,
              cases.size(), split_cases.size());
  void* s = nullptr;
  Status st = cuda_stream_create(&s);
  if (!st.ok()) {
    std::printf("cannot create a stream: %s %s\n0 passed, 1 failed\n", code_name(st.code), st.message.c_str());
    return 1;
  }
  if (oracle_self_check()) {
    std::printf("ok   sampled oracle agrees with attention_backward_ref\n");
    ++g_passed;
  } else {
    std::printf("FAIL sampled oracle disagrees with attention_backward_ref\n");
    ++g_failed;
  }
  const int64_t mem0 = cuda_bytes_in_use();
  const auto t0 = std::chrono::steady_clock::now();
  check_scale_range(s);
  check_tiles(s);
  for (int rep = 0; rep < seeds; ++rep)
    for (const Case& c : cases) run_case(c, s, case_seed(c) + 0x9E3779B97F4A7C15ull * uint64_t(rep));
  check_split_plan();
  const double split_t0 = g_sec_oracle + g_sec_plain + g_sec_flash;
  for (int rep = 0; rep < seeds; ++rep)
    for (const SplitCase& c : split_cases) {
      uint64_t h = 1469598103934665603ull;  // FNV-1a of the description, as case_seed
      for (char ch : describe_split(c)) h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
      run_split_case(c, s, h + 0x9E3779B97F4A7C15ull * uint64_t(rep));
    }
  if (!split_cases.empty())
    std::printf("     split-KV cases: %zu, %.1f s\n", split_cases.size(),
                g_sec_oracle + g_sec_plain + g_sec_flash - split_t0);
  // Memory accounting: every buffer above was freed; workspace is released in stream order.
  cuda_stream_sync(s);
  const int64_t mem1 = cuda_bytes_in_use();
  if (mem1 != mem0) {
    std::printf("FAIL memory: %lld bytes in use after the run, %lld before\n", (long long)mem1, (long long)mem0);
    ++g_failed;
  } else {
    std::printf("ok   memory: bytes in use back to %lld\n", (long long)mem0);
    ++g_passed;
  }
  cuda_stream_destroy(s);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!json_path.empty()) {
    if (FILE* f = std::fopen(json_path.c_str(), "w")) {
      std::fprintf(f, "{\"device\":\"%s\",\"passed\":%d,\"failed\":%d,\"seconds\":%.1f,\"results\":[\n",
                   json_escape(dev.name).c_str(), g_passed, g_failed, secs);
      for (size_t i = 0; i < g_json.size(); ++i)
        std::fprintf(f, "%s%s\n", g_json[i].c_str(), i + 1 < g_json.size() ? "," : "");
      std::fprintf(f, "]}\n");
      std::fclose(f);
    }
  }
  std::printf("%.1f s (fp64 oracle %.1f s, plain kernels %.1f s, flash kernels %.1f s)\n%d passed, %d failed\n", secs,
              g_sec_oracle, g_sec_plain, g_sec_flash, g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
