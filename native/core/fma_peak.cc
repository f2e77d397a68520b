// fma_peak_gflops: runs the widest FMA loop of the SIMD level in use (fma_peak_avx512.cc,
// fma_peak_avx2.cc, or a scalar loop here) on `threads` std::threads released together by a
// barrier; each thread keeps its best rate over ~20 ms windows and the GFLOP/s (2 flops per
// lane per FMA) are summed.
// std::threads rather than the ThreadPool, so the count asked for is the count measured.
// Tested by: bench/native/attention_bench.cc.
#include "core/fma_peak.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "core/cpu_features.h"

namespace lemma {

namespace {

// 32 independent chains of multiply + add (baseline x86-64 has no FMA); the compiler may pack
// them into SSE, as it may the scalar kernels.
double scalar_run(long iters) {
  constexpr int kChains = 32;
  float acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = 1.0f + 0.001f * c;
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 32
    for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * 0.999999f + 1e-7f;
  }
  float s = 0;
  for (int c = 0; c < kChains; ++c) s += acc[c];
  volatile float sink = s;
  (void)sink;
  return double(iters) * kChains;
}

double run_level(SimdLevel level, long iters) {
  switch (level) {
    case SimdLevel::kAvx512: return avx512::fma_peak_run(iters);
    case SimdLevel::kAvx2: return avx2::fma_peak_run(iters);
    default: return scalar_run(iters);
  }
}

}  // namespace

const char* fma_peak_isa() { return simd_level_name(simd_level()); }

double fma_peak_gflops(int threads, double seconds) {
  if (threads < 1) threads = 1;
  if (!(seconds > 0)) seconds = 0.2;
  const SimdLevel level = simd_level();
  using Clock = std::chrono::steady_clock;
  std::vector<double> gflops(threads, 0.0);
  std::atomic<int> ready{0};
  auto body = [&](int t) {
    ready.fetch_add(1);
    while (ready.load() < threads) std::this_thread::yield();
    run_level(level, 20000);  // warm-up (frequency licence, caches)
    // The best of short windows: on a shared (virtualised) host the neighbours' load comes and
    // goes, and the peak is what the core delivers when it is ours.
    constexpr long kChunk = 20000;  // ~5 ms of zmm FMAs
    const double window = std::min(0.02, seconds / 4);
    const auto t0 = Clock::now();
    double best = 0;
    for (;;) {
      const auto w0 = Clock::now();
      double lane_ops = 0, dt = 0;
      do {
        lane_ops += run_level(level, kChunk);
        dt = std::chrono::duration<double>(Clock::now() - w0).count();
      } while (dt < window);
      best = std::max(best, 2.0 * lane_ops / dt * 1e-9);
      if (std::chrono::duration<double>(Clock::now() - t0).count() >= seconds) break;
    }
    gflops[t] = best;
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(body, t);
  body(0);
  for (auto& th : pool) th.join();
  double sum = 0;
  for (double g : gflops) sum += g;
  return sum;
}

}  // namespace lemma
