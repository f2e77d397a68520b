// The looped iteration's tile kernel, AVX2 + FMA (4 fp64 lanes per register), two rows per pass. The kernel is
// looped_cpu_kernels.inl; this TU selects the ISA, the namespace lemma::avx2 and the row blocking.
// Test: build/looped_test (every SIMD level this CPU has)
#if defined(__x86_64__) || defined(__i386__)
// The ISA is enabled for this TU by pragma (CMake and binding.gyp build every file alike).
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif
#endif
#define LEMMA_SIMD_NS avx2
#define LEMMA_LOOPED_RB 2
#define LEMMA_LOOPED_VBYTES 32
#include "looped/looped_cpu_kernels.inl"
#if (defined(__x86_64__) || defined(__i386__)) && defined(__clang__)
#pragma clang attribute pop
#endif
