// attention_bench: GFLOP/s of attention_forward_cpu / attention_backward_cpu (fp32) and the % of
// the machine's fp32 FMA peak measured in the same run (core/fma_peak.h), one JSON line per
// configuration: B = 1, H = 8, D in {64, 128}, N = Nq = Nk in {512, 1024, 2048, 4096},
// causal off/on. FlashAttention counting: forward 4 B H Nq Nk D flops (halved when causal),
// backward 2.5x forward. Time = the best of several repetitions after a warm-up; the peak is the
// best over the run (see fma_peak.h), so % of peak is conservative.
// Usage: build-native/attention_bench [--threads N] [--quick] [--simd scalar|avx2|avx512]
//        [--materialized] [--d 64] [--n 2048]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "core/cpu_features.h"
#include "core/fma_peak.h"
#include "core/thread_pool.h"

using namespace lemma;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Best time of repetitions: at least min_reps, and until min_total seconds have been spent.
template <class F>
double best_time(F&& f, int min_reps, double min_total) {
  f();  // warm-up: workspace, caches, thread start-up
  double best = 1e30, spent = 0;
  for (int r = 0; r < min_reps || spent < min_total; ++r) {
    const double t0 = now_s();
    f();
    const double dt = now_s() - t0;
    best = std::min(best, dt);
    spent += dt;
    if (r > 200) break;
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = ThreadPool::size();
  bool quick = false, mat = false;
  std::vector<int64_t> Ds = {64, 128}, Ns = {512, 1024, 2048, 4096};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--quick") quick = true;
    else if (a == "--materialized") mat = true;
    else if (a == "--simd" && i + 1 < argc) {
      const std::string s = argv[++i];
      set_simd_level(s == "avx512" ? SimdLevel::kAvx512 : s == "avx2" ? SimdLevel::kAvx2
                                                                        : SimdLevel::kScalar);
    } else if (a == "--d" && i + 1 < argc) Ds = {std::atoll(argv[++i])};
    else if (a == "--n" && i + 1 < argc) Ns = {std::atoll(argv[++i])};
    else {
      std::fprintf(stderr,
                   "usage: attention_bench [--threads N] [--quick] [--simd scalar|avx2|avx512] "
                   "[--materialized] [--d D] [--n N]\n");
      return 2;
    }
  }
  if (threads < 1) threads = 1;
  ThreadPool::set_size(threads);
  if (quick && Ns.size() > 1) Ns = {512, 2048};
  // Peak and kernels are both best-of measurements (shared hosts have noisy neighbours); the
  // peak is re-measured between configurations and the running maximum is used.
  double peak = fma_peak_gflops(threads, quick ? 0.2 : 0.5);
  std::printf("{\"kind\":\"fma_peak\",\"threads\":%d,\"isa\":\"%s\",\"gflops\":%.1f}\n", threads,
              fma_peak_isa(), peak);
  std::fflush(stdout);
  const int64_t B = 1, H = 8;
  for (int64_t D : Ds)
    for (int64_t N : Ns)
      for (bool causal : {false, true}) {
        AttentionParams p;
        p.B = B, p.Hq = H, p.Hkv = H, p.Nq = N, p.Nk = N, p.D = D;
        p.scale = 1.0 / std::sqrt(double(D));
        p.causal = causal;
        p.algorithm = mat ? AttentionAlgorithm::kMaterialized : AttentionAlgorithm::kFlash;
        const size_t n = size_t(B * H * N * D);
        std::vector<float> q(n), k(n), v(n), out(n), lse(size_t(B * H * N)), dout(n), dq(n),
            dk(n), dv(n);
        uint32_t s = 12345;
        auto rnd = [&] {
          s = s * 1664525u + 1013904223u;
          return float(int32_t(s >> 8) - (1 << 23)) / float(1 << 23);
        };
        for (size_t i = 0; i < n; ++i) q[i] = rnd(), k[i] = rnd(), v[i] = rnd(), dout[i] = rnd();
        Status st;
        const double reps_time = quick ? 0.15 : 0.5;
        const double tf = best_time(
            [&] {
              st = attention_forward_cpu(p, q.data(), k.data(), v.data(), out.data(), lse.data());
            },
            3, reps_time);
        if (!st.ok()) {
          std::printf("{\"error\":\"%s\"}\n", st.message.c_str());
          return 1;
        }
        const double tb = best_time(
            [&] {
              st = attention_backward_cpu(p, q.data(), k.data(), v.data(), out.data(), lse.data(),
                                          dout.data(), dq.data(), dk.data(), dv.data());
            },
            3, reps_time);
        if (!st.ok()) {
          std::printf("{\"error\":\"%s\"}\n", st.message.c_str());
          return 1;
        }
        peak = std::max(peak, fma_peak_gflops(threads, 0.1));
        const double ff = 4.0 * B * H * N * N * D * (causal ? 0.5 : 1.0), fb = 2.5 * ff;
        const double gf = ff / tf * 1e-9, gb = fb / tb * 1e-9;
        std::printf(
            "{\"kind\":\"attention\",\"algorithm\":\"%s\",\"simd\":\"%s\",\"threads\":%d,"
            "\"B\":%lld,\"H\":%lld,\"N\":%lld,\"D\":%lld,\"causal\":%s,"
            "\"fwd_ms\":%.3f,\"fwd_gflops\":%.1f,\"fwd_pct_peak\":%.1f,"
            "\"bwd_ms\":%.3f,\"bwd_gflops\":%.1f,\"bwd_pct_peak\":%.1f,\"fma_peak_gflops\":%.1f}\n",
            mat ? "materialized" : "flash", simd_level_name(simd_level()), threads, (long long)B,
            (long long)H, (long long)N, (long long)D, causal ? "true" : "false", tf * 1e3, gf,
            100 * gf / peak, tb * 1e3, gb, 100 * gb / peak, peak);
        std::fflush(stdout);
      }
  return 0;
}
