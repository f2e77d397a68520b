// Sparse attention CPU kernels, AVX2 + FMA: 8 fp32 lanes, 4 rows x 32 keys register tiles.
// The kernels are in sparse_attention_kernels.inl; this TU only selects the ISA and the
// namespace lemma::avx2 (ODR-safe).
// Test: build-sparse/sparse_attention_test
#include <cstdint>
#include <cstring>

#pragma GCC target("avx2,fma")
#define LEMMA_SIMD_NS avx2
#define LEMMA_SIMD_AVX2 1
#include "core/simd.h"
#include "sparse_attention/sparse_attention_kernels.inl"
