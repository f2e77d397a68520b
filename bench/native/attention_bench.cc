// attention_bench: GFLOP/s of attention_forward_cpu / attention_backward_cpu (fp32) and the % of
// the machine's fp32 FMA peak measured in the same run (core/fma_peak.h), one JSON line per
// configuration: B = 1, H = 8, D in {64, 128}, N = Nq = Nk in {512, 1024, 2048, 4096},
// causal off/on. FlashAttention counting: forward 4 B H Nq Nk D flops (halved when causal),
// backward 2.5x forward. Time = the best of several repetitions after a warm-up; the peak is the
// best over the run (see fma_peak.h), so % of peak is conservative.
// --decode: decoding shapes instead (Nq = M in {1, 16} new rows against Nk = 262,144 cached
// keys, D = 128, one kv head with 1 or 8 query heads), each beside the time to read K and V once
// (core/stream_read.h) measured in the same run: the floor a decode step cannot beat.
// Usage: build-native/attention_bench [--threads N] [--quick] [--simd scalar|avx2|avx512]
//        [--materialized] [--d 64] [--n 2048] [--decode]
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
#include "core/stream_read.h"
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

// Deterministic fill in [-1, 1) (a 32-bit LCG).
uint32_t g_seed = 12345;
float rnd() {
  g_seed = g_seed * 1664525u + 1013904223u;
  return float(int32_t(g_seed >> 8) - (1 << 23)) / float(1 << 23);
}

// Decode steps: forward (and backward) time against one read of K and V, same run.
int run_decode(int threads, bool quick, int64_t Nk) {
  struct Shape {
    int64_t Hq, Hkv, M;
  };
  const int64_t D = 128;
  for (const Shape sh : {Shape{1, 1, 1}, Shape{1, 1, 16}, Shape{8, 1, 1}, Shape{8, 1, 16}}) {
    AttentionParams p;
    p.B = 1, p.Hq = sh.Hq, p.Hkv = sh.Hkv, p.Nq = sh.M, p.Nk = Nk, p.D = D;
    p.scale = 1.0 / std::sqrt(double(D));
    const size_t nq = size_t(sh.Hq * sh.M * D), nk = size_t(sh.Hkv * Nk * D);
    std::vector<float> q(nq), k(nk), v(nk), out(nq), lse(size_t(sh.Hq * sh.M)), dout(nq),
        dq(nq), dk(nk), dv(nk);
    for (auto* a : {&q, &k, &v, &dout})
      for (float& x : *a) x = rnd();
    const double reps = quick ? 0.2 : 0.6;
    volatile uint64_t sink = 0;
    const void* arrays[2] = {k.data(), v.data()};
    const int64_t bytes[2] = {int64_t(nk * 4), int64_t(nk * 4)};
    const double ts = best_time([&] { sink = sink ^ stream_read(arrays, bytes, 2); }, 5, reps);
    Status st;
    const double tf = best_time(
        [&] { st = attention_forward_cpu(p, q.data(), k.data(), v.data(), out.data(), lse.data()); },
        5, reps);
    const double tb = best_time(
        [&] {
          st = attention_backward_cpu(p, q.data(), k.data(), v.data(), out.data(), lse.data(),
                                      dout.data(), dq.data(), dk.data(), dv.data());
        },
        3, reps);
    if (!st.ok()) {
      std::printf("{\"error\":\"%s\"}\n", st.message.c_str());
      return 1;
    }
    const AttentionCpuSchedule sch = attention_cpu_schedule(p);
    std::printf(
        "{\"kind\":\"decode\",\"simd\":\"%s\",\"threads\":%d,\"Hq\":%lld,\"Hkv\":%lld,"
        "\"M\":%lld,\"Nk\":%lld,\"D\":%lld,\"row_path\":%s,\"splits\":%lld,"
        "\"stream_ms\":%.3f,\"stream_gbs\":%.1f,\"fwd_ms\":%.3f,\"fwd_over_stream\":%.2f,"
        "\"bwd_ms\":%.3f,\"bwd_over_stream\":%.2f}\n",
        simd_level_name(simd_level()), threads, (long long)sh.Hq, (long long)sh.Hkv,
        (long long)sh.M, (long long)Nk, (long long)D, sch.row_path ? "true" : "false",
        (long long)sch.splits, ts * 1e3, 2.0 * bytes[0] / ts * 1e-9, tf * 1e3, tf / ts, tb * 1e3,
        tb / ts);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = ThreadPool::size();
  bool quick = false, mat = false, decode = false;
  std::vector<int64_t> Ds = {64, 128}, Ns = {512, 1024, 2048, 4096};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--quick") quick = true;
    else if (a == "--materialized") mat = true;
    else if (a == "--decode") decode = true;
    else if (a == "--simd" && i + 1 < argc) {
      const std::string s = argv[++i];
      set_simd_level(s == "avx512" ? SimdLevel::kAvx512 : s == "avx2" ? SimdLevel::kAvx2
                                                                        : SimdLevel::kScalar);
    } else if (a == "--d" && i + 1 < argc) Ds = {std::atoll(argv[++i])};
    else if (a == "--n" && i + 1 < argc) Ns = {std::atoll(argv[++i])};
    else {
      std::fprintf(stderr,
                   "usage: attention_bench [--threads N] [--quick] [--simd scalar|avx2|avx512] "
                   "[--materialized] [--d D] [--n N] [--decode]\n");
      return 2;
    }
  }
  if (threads < 1) threads = 1;
  ThreadPool::set_size(threads);
  if (decode) return run_decode(threads, quick, Ns.size() == 1 ? Ns[0] : 262144);
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
        g_seed = 12345;
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
