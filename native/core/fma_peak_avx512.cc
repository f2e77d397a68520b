// AVX-512 leg of fma_peak (see fma_peak.h): 24 independent zmm accumulator chains, so the
// 4-cycle FMA latency on 2 ports (8 in flight) is hidden three times over.
#include "core/fma_peak.h"

#if defined(__x86_64__) || defined(__i386__)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma,avx2"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,fma,avx2")
// GCC 12 false positive: _mm512_undefined_ps() (self-initialised) inside its own intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

namespace lemma {
namespace avx512 {

double fma_peak_run(long iters) {
  constexpr int kChains = 24;
  __m512 acc[kChains];
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
#pragma GCC unroll 32
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(1.0f + 0.001f * c);
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 32
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
    // Keeps the compiler from collapsing the chains; costs nothing at run time.
    __asm__ volatile("" : "+v"(acc[0]), "+v"(acc[1]), "+v"(acc[2]), "+v"(acc[3]), "+v"(acc[4]),
                     "+v"(acc[5]), "+v"(acc[6]), "+v"(acc[7]), "+v"(acc[8]), "+v"(acc[9]),
                     "+v"(acc[10]), "+v"(acc[11]));
    __asm__ volatile("" : "+v"(acc[12]), "+v"(acc[13]), "+v"(acc[14]), "+v"(acc[15]),
                     "+v"(acc[16]), "+v"(acc[17]), "+v"(acc[18]), "+v"(acc[19]), "+v"(acc[20]),
                     "+v"(acc[21]), "+v"(acc[22]), "+v"(acc[23]));
  }
  __m512 s = acc[0];
#pragma GCC unroll 32
  for (int c = 1; c < kChains; ++c) s = _mm512_add_ps(s, acc[c]);
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
  return double(iters) * kChains * 16;
}

}  // namespace avx512
}  // namespace lemma
#if defined(__clang__)
#pragma clang attribute pop
#endif

#else  // not x86: never called (simd_supported() is scalar there)
namespace lemma {
namespace avx512 {
double fma_peak_run(long) { return 0; }
}  // namespace avx512
}  // namespace lemma
#endif
