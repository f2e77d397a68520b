// attention_cpu_test: the fp32 CPU path (flash and materialized, every SIMD level this CPU
// supports) against the fp64 oracle attention_*_ref.
//   out: max|out - ref| <= 1e-5 ||ref||_inf;  lse: |lse - ref| <= 1e-5 max(1, |ref|)
//   dq, dk, dv: max-abs error <= 1e-4 ||ref||_inf
// plus: bitwise determinism (two runs, and 1 thread vs the full pool), fully masked rows
// (bottom-right causal with Nq > Nk) give out = 0, lse = +inf and finite (zero) gradients,
// the vector exp2 is within 2 ulp, and the materialized path refuses > 2 GiB with ERR_RANGE.
// Grid: N in {1, 2, 7, 64, 257, 1024}, D in {1, 16, 48, 64, 128, 256}, causal on/off,
// B*H in {1, 3}, Nq != Nk both ways, GQA (Hq = 6, Hkv = 2); the full cross product only for
// small N, sampled for N = 257 and 1024 (keeps the run under a minute on 2 cores).
// Build and run: cmake --build build-native && build-native/attention_cpu_test [--quick]
// dq and dk use a cancellation floor (see cancel_floor) where the reference is 0 by cancellation.
// Exit code 0 iff every case passed; prints one line per case and "N passed, N failed".
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "attention/attention_cpu_kernels.inl"
#include "core/cpu_features.h"
#include "core/thread_pool.h"

#include "test_harness.h"

using namespace lemma;

namespace {

using lemma_test::report;
using lemma_test::Rng;


std::vector<float> randn(size_t n, Rng& r) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(r.normal());
  return v;
}
std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// max |a - ref| / max(||ref||_inf, floor); non-finite a counts as infinite error.
double rel_err(const std::vector<float>& a, const std::vector<double>& ref, double floor = 0) {
  double mx = 0, err = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    mx = std::max(mx, std::fabs(ref[i]));
    if (!std::isfinite(a[i])) return std::numeric_limits<double>::infinity();
    err = std::max(err, std::fabs(double(a[i]) - ref[i]));
  }
  return err / std::max({mx, floor, 1e-300});
}

double lse_err(const std::vector<float>& a, const std::vector<double>& ref) {
  double worst = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (std::isinf(ref[i]) || std::isinf(a[i])) {
      if (!(std::isinf(ref[i]) && std::isinf(a[i]) && (ref[i] > 0) == (a[i] > 0)))
        return std::numeric_limits<double>::infinity();
      continue;
    }
    worst = std::max(worst, std::fabs(double(a[i]) - ref[i]) / std::max(1.0, std::fabs(ref[i])));
  }
  return worst;
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Cancellation floor for dq and dk: dS = P (dP - Dvec) is a difference of two O(|dO| |V|) dot
// products, so any fp32 code leaves an absolute error ~ eps * scale * |dO| |V| |K| there, even
// where the exact dq is 0 (Nk = 1: P = 1 and dP = Dvec, so dq = dk = 0 exactly). The relative
// check uses max(||ref||_inf, 1e-3 * F) with F = scale * max_i |dO_i|_2 * max_j |V_j|_2 * max|X|
// (X = K for dq, Q for dk); for every other case of the grid ||ref||_inf is the larger one.
double cancel_floor(const AttentionParams& p, const std::vector<float>& dout,
                    const std::vector<float>& v, const std::vector<float>& x) {
  auto max_row_norm = [&](const std::vector<float>& a) {
    double m = 0;
    for (size_t r = 0; r < a.size() / size_t(p.D); ++r) {
      double s = 0;
      for (int64_t d = 0; d < p.D; ++d) s += double(a[r * p.D + d]) * a[r * p.D + d];
      m = std::max(m, std::sqrt(s));
    }
    return m;
  };
  double mx = 0;
  for (float e : x) mx = std::max(mx, std::fabs(double(e)));
  return 1e-3 * std::fabs(p.scale) * max_row_norm(dout) * max_row_norm(v) * mx;
}

struct Case {
  int64_t B, Hq, Hkv, Nq, Nk, D;
  bool causal;
  double scale_mult;  // scale = scale_mult / sqrt(D)
};

struct CpuRun {
  std::vector<float> out, lse, dq, dk, dv;
  Status fs, bs;
};

CpuRun run_cpu(const AttentionParams& p, const std::vector<float>& q, const std::vector<float>& k,
               const std::vector<float>& v, const std::vector<float>& dout) {
  CpuRun r;
  r.out.assign(q.size(), std::nanf(""));
  r.lse.assign(p.B * p.Hq * p.Nq, std::nanf(""));
  r.dq.assign(q.size(), std::nanf(""));
  r.dk.assign(k.size(), std::nanf(""));
  r.dv.assign(v.size(), std::nanf(""));
  r.fs = attention_forward_cpu(p, q.data(), k.data(), v.data(), r.out.data(), r.lse.data());
  if (!r.fs.ok()) return r;
  r.bs = attention_backward_cpu(p, q.data(), k.data(), v.data(), r.out.data(), r.lse.data(),
                                dout.data(), r.dq.data(), r.dk.data(), r.dv.data());
  return r;
}

void run_case(const Case& cs, uint64_t seed, const std::vector<SimdLevel>& levels,
              bool check_threads) {
  AttentionParams p;
  p.B = cs.B, p.Hq = cs.Hq, p.Hkv = cs.Hkv, p.Nq = cs.Nq, p.Nk = cs.Nk, p.D = cs.D;
  p.scale = cs.scale_mult / std::sqrt(double(cs.D));
  p.causal = cs.causal;
  Rng rng(seed);
  const auto q = randn(size_t(p.B * p.Hq * p.Nq * p.D), rng);
  const auto k = randn(size_t(p.B * p.Hkv * p.Nk * p.D), rng);
  const auto v = randn(size_t(p.B * p.Hkv * p.Nk * p.D), rng);
  const auto dout = randn(q.size(), rng);
  const auto qd = to_double(q), kd = to_double(k), vd = to_double(v), dod = to_double(dout);
  std::vector<double> out_r(q.size()), lse_r(size_t(p.B * p.Hq * p.Nq)), dq_r(q.size()),
      dk_r(k.size()), dv_r(v.size());
  Status st = attention_forward_ref(p, qd.data(), kd.data(), vd.data(), out_r.data(), lse_r.data());
  if (st.ok())
    st = attention_backward_ref(p, qd.data(), kd.data(), vd.data(), out_r.data(), lse_r.data(),
                                dod.data(), dq_r.data(), dk_r.data(), dv_r.data());
  char shape[160];
  std::snprintf(shape, sizeof shape,
                "B=%lld Hq=%lld Hkv=%lld Nq=%lld Nk=%lld D=%lld causal=%d scale=%g/sqrt(D)",
                (long long)p.B, (long long)p.Hq, (long long)p.Hkv, (long long)p.Nq,
                (long long)p.Nk, (long long)p.D, int(p.causal), cs.scale_mult);
  if (!st.ok()) {
    report(false, std::string("ref failed: ") + st.message + " " + shape);
    return;
  }
  const double floor_q = cancel_floor(p, dout, v, k), floor_k = cancel_floor(p, dout, v, q);
  for (SimdLevel level : levels) {
    set_simd_level(level);
    for (AttentionAlgorithm alg : {AttentionAlgorithm::kFlash, AttentionAlgorithm::kMaterialized}) {
      p.algorithm = alg;
      const char* alg_name = alg == AttentionAlgorithm::kFlash ? "flash" : "mat  ";
      std::string tag = std::string(simd_level_name(level)) + " " + alg_name + " " + shape;
      CpuRun a = run_cpu(p, q, k, v, dout);
      if (!a.fs.ok() || !a.bs.ok()) {
        report(false, tag + " status: " + a.fs.message + a.bs.message);
        continue;
      }
      const double e_out = rel_err(a.out, out_r), e_lse = lse_err(a.lse, lse_r);
      const double e_dq = rel_err(a.dq, dq_r, floor_q), e_dk = rel_err(a.dk, dk_r, floor_k),
                   e_dv = rel_err(a.dv, dv_r);
      bool ok = e_out <= 1e-5 && e_lse <= 1e-5 && e_dq <= 1e-4 && e_dk <= 1e-4 && e_dv <= 1e-4;
      std::string why;
      // Determinism: a second run (and, where asked, a single-threaded run) is bitwise equal.
      const int threads = ThreadPool::size();
      if (check_threads) ThreadPool::set_size(1);
      CpuRun b = run_cpu(p, q, k, v, dout);
      ThreadPool::set_size(threads);
      if (!(bitwise_equal(a.out, b.out) && bitwise_equal(a.lse, b.lse) &&
            bitwise_equal(a.dq, b.dq) && bitwise_equal(a.dk, b.dk) && bitwise_equal(a.dv, b.dv))) {
        ok = false;
        why += " [not deterministic]";
      }
      // Fully masked rows: out = 0, lse = +inf; every gradient finite.
      if (p.causal && p.Nq > p.Nk) {
        for (int64_t bh = 0; bh < p.B * p.Hq; ++bh)
          for (int64_t i = 0; i < p.Nq - p.Nk; ++i) {
            bool row_ok = std::isinf(a.lse[bh * p.Nq + i]) && a.lse[bh * p.Nq + i] > 0;
            for (int64_t d = 0; d < p.D; ++d) {
              row_ok = row_ok && a.out[(bh * p.Nq + i) * p.D + d] == 0.0f &&
                       a.dq[(bh * p.Nq + i) * p.D + d] == 0.0f;
            }
            if (!row_ok) {
              ok = false;
              why += " [masked row " + std::to_string(i) + " not (0, +inf)]";
              bh = p.B * p.Hq;
              break;
            }
          }
      }
      for (const auto* g : {&a.dq, &a.dk, &a.dv})
        for (float x : *g)
          if (!std::isfinite(x)) {
            ok = false;
            why += " [non-finite gradient]";
            goto done_finite;
          }
    done_finite:
      char errs[160];
      std::snprintf(errs, sizeof errs, " out=%.1e lse=%.1e dq=%.1e dk=%.1e dv=%.1e", e_out,
                    e_lse, e_dq, e_dk, e_dv);
      report(ok, tag + errs + why);
    }
  }
}

void test_exp2(SimdLevel level) {
  const attn_cpu::Kernels& kt = level == SimdLevel::kAvx512 ? avx512::attention_kernels()
                                : level == SimdLevel::kAvx2 ? avx2::attention_kernels()
                                                            : scalar::attention_kernels();
  std::vector<float> x;
  for (float t = -125.9f; t <= 0.0f; t += 0.00731f) x.push_back(t);
  for (float t = -1.0f; t <= 1.0f; t += 1.0f / 4096) x.push_back(t);
  x.push_back(20.25f);
  x.push_back(100.5f);
  const size_t n_checked = x.size();
  for (float t : {-std::numeric_limits<float>::infinity(), -1e30f, -200.0f, -151.0f, -150.0f})
    x.push_back(t);
  while (x.size() % 64) x.push_back(0.0f);
  std::vector<float> y(x.size());
  kt.exp2_array(x.data(), y.data(), int64_t(x.size()));
  double worst = 0;
  for (size_t i = 0; i < n_checked; ++i) {
    const double ref = std::exp2(double(x[i]));
    const double ulp = std::ldexp(1.0, std::ilogb(ref) - 23);
    worst = std::max(worst, std::fabs(double(y[i]) - ref) / ulp);
  }
  bool ok = worst <= 2.0;
  for (size_t i = n_checked; i < n_checked + 5; ++i) ok = ok && y[i] == 0.0f;
  char line[120];
  std::snprintf(line, sizeof line, "exp2 %s: max error %.2f ulp on [-125.9, 100.5], 0 below -150",
                simd_level_name(level), worst);
  report(ok, line);
}

void test_refusals() {
  AttentionParams p;
  p.B = 1, p.Hq = 1, p.Hkv = 1, p.Nq = 32768, p.Nk = 32768, p.D = 64;
  p.scale = 0.125;
  p.algorithm = AttentionAlgorithm::kMaterialized;
  const int64_t bytes = attention_workspace_bytes_cpu(p, 0);
  const float* dummy = reinterpret_cast<const float*>(&p);  // never dereferenced: refused first
  Status st = attention_forward_cpu(p, dummy, dummy, dummy, const_cast<float*>(dummy),
                                    const_cast<float*>(dummy));
  report(bytes >= p.Nq * p.Nk * 4 && st.code == Code::kRange &&
             st.message.find("flash") != std::string::npos &&
             st.message.find(std::to_string(bytes)) != std::string::npos,
         "materialized refuses > 2 GiB: " + st.message);
  p.algorithm = AttentionAlgorithm::kFlash;
  const int64_t flash_bytes = attention_workspace_bytes_cpu(p, 1);
  report(flash_bytes > 0 && flash_bytes < int64_t{1} << 30,
         "flash backward workspace O(N): " + std::to_string(flash_bytes) + " bytes");
  p.Hq = 3, p.Hkv = 2;
  st = attention_forward_cpu(p, dummy, dummy, dummy, const_cast<float*>(dummy),
                             const_cast<float*>(dummy));
  report(st.code == Code::kShape, "Hq % Hkv != 0 refused: " + st.message);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  std::vector<SimdLevel> levels = {SimdLevel::kScalar};
  if (simd_supported() >= SimdLevel::kAvx2) levels.push_back(SimdLevel::kAvx2);
  if (simd_supported() >= SimdLevel::kAvx512) levels.push_back(SimdLevel::kAvx512);
  std::printf("# simd supported: %s, threads: %d\n", simd_level_name(simd_supported()),
              ThreadPool::size());
  for (SimdLevel l : levels) test_exp2(l);
  test_refusals();

  uint64_t seed = 1;
  const int64_t Ds[] = {1, 16, 48, 64, 128, 256};
  // Full cross product for small N (alternating B*H = 1 and 3 between B and H).
  for (int64_t N : {1, 2, 7, 64})
    for (int64_t D : Ds)
      for (bool causal : {false, true}) {
        if (quick && D != 64 && D != 48) continue;
        const bool three_batches = (seed % 2) == 0;
        const bool check_threads = (seed % 3) == 0;
        run_case({three_batches ? 3 : 1, three_batches ? 1 : 3, three_batches ? 1 : 3, N, N, D,
                  causal, 1.0},
                 seed, levels, check_threads);
        ++seed;
      }
  // N = 257: every D, causal on/off; N = 1024 sampled. Every SIMD level, both algorithms.
  std::vector<Case> big;
  for (int64_t D : Ds)
    for (bool causal : {false, true})
      big.push_back({D % 3 == 0 ? 3 : 1, D % 3 == 0 ? 1 : 3, D % 3 == 0 ? 1 : 3, 257, 257, D,
                     causal, 1.0});
  big.push_back({1, 1, 1, 1024, 1024, 64, false, 1.0});
  big.push_back({1, 3, 3, 1024, 1024, 64, true, 1.0});
  big.push_back({1, 1, 1, 1024, 1024, 128, true, 1.0});
  big.push_back({1, 1, 1, 1024, 1024, 256, false, 1.0});
  for (const Case& c : big) {
    if (quick && c.Nq > 300) continue;
    run_case(c, seed++, levels, true);
  }
  // Nq != Nk (both ways; Nq > Nk with causal has fully masked rows), GQA, sharper softmax.
  const std::vector<Case> uneven = {
      {1, 6, 2, 7, 300, 64, true, 1.0},    {1, 6, 2, 300, 7, 64, true, 1.0},
      {1, 2, 1, 100, 257, 48, true, 1.0},  {1, 2, 1, 257, 100, 48, true, 1.0},
      {2, 6, 2, 130, 64, 16, true, 1.0},   {1, 1, 1, 1, 65, 128, true, 1.0},
      {1, 1, 1, 65, 1, 128, true, 1.0},    {1, 6, 2, 200, 333, 64, false, 1.0},
      {1, 3, 1, 333, 200, 32, false, 1.0}, {1, 2, 2, 129, 129, 64, true, 8.0},
      {1, 4, 2, 190, 70, 256, true, 2.0},  {1, 1, 1, 64, 640, 80, true, 1.0},
      {1, 2, 1, 150, 150, 64, true, 16.0},  // score gaps > 126 (log2): exp2 flush region
  };
  for (const Case& c : uneven) run_case(c, seed++, levels, true);
  // Decoding shapes (split-KV): the row path (Nq < 64: the group's rows in tiles of 16 or 64)
  // and the split lanes path, long Nk not a multiple of a block or of a split, GQA, causal with
  // Nq < Nk, and Nq > Nk (rows that see no key) on the row path.
  const std::vector<Case> decode = {
      {1, 1, 1, 1, 5000, 128, false, 1.0}, {1, 8, 1, 1, 3001, 64, true, 1.0},
      {2, 8, 2, 3, 2500, 48, true, 1.0},   {1, 1, 1, 16, 4097, 128, true, 1.0},
      {1, 4, 1, 3, 1500, 80, false, 4.0},  {1, 2, 1, 20, 3000, 64, true, 1.0},
      {1, 1, 1, 100, 6000, 32, true, 1.0}, {1, 16, 4, 2, 777, 256, true, 1.0},
      {1, 4, 4, 9, 5, 16, true, 1.0},      {1, 1, 1, 1, 300, 1, false, 1.0},
  };
  for (const Case& c : decode) {
    if (quick && c.Nk > 3000) continue;
    AttentionParams p;
    p.B = c.B, p.Hq = c.Hq, p.Hkv = c.Hkv, p.Nq = c.Nq, p.Nk = c.Nk, p.D = c.D, p.causal = c.causal;
    p.scale = 1;
    const AttentionCpuSchedule sch = attention_cpu_schedule(p);
    const bool want_rows = c.Nq < 64;
    report(sch.row_path == want_rows && (sch.splits > 1 || c.Nk < 1024),
           "schedule Nq=" + std::to_string(c.Nq) + " Nk=" + std::to_string(c.Nk) + " group=" +
               std::to_string(c.Hq / c.Hkv) + ": row path " + std::to_string(sch.row_path) +
               ", splits " + std::to_string(sch.splits));
    run_case(c, seed++, levels, true);
  }

  return lemma_test::finish();
}
