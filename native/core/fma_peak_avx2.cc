// AVX2 leg of fma_peak (see fma_peak.h): 12 independent ymm accumulator chains (16 registers).
#include "core/fma_peak.h"

#if defined(__x86_64__) || defined(__i386__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif
#include <immintrin.h>

namespace lemma {
namespace avx2 {

double fma_peak_run(long iters) {
  constexpr int kChains = 12;
  __m256 acc[kChains];
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
#pragma GCC unroll 32
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(1.0f + 0.001f * c);
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 32
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
    __asm__ volatile("" : "+x"(acc[0]), "+x"(acc[1]), "+x"(acc[2]), "+x"(acc[3]), "+x"(acc[4]),
                     "+x"(acc[5]), "+x"(acc[6]), "+x"(acc[7]), "+x"(acc[8]), "+x"(acc[9]),
                     "+x"(acc[10]), "+x"(acc[11]));
  }
  __m256 s = acc[0];
#pragma GCC unroll 32
  for (int c = 1; c < kChains; ++c) s = _mm256_add_ps(s, acc[c]);
  alignas(32) float t[8];
  _mm256_store_ps(t, s);
  volatile float sink = t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
  (void)sink;
  return double(iters) * kChains * 8;
}

}  // namespace avx2
}  // namespace lemma
#if defined(__clang__)
#pragma clang attribute pop
#endif

#else  // not x86: never called (simd_supported() is scalar there)
namespace lemma {
namespace avx2 {
double fma_peak_run(long) { return 0; }
}  // namespace avx2
}  // namespace lemma
#endif
