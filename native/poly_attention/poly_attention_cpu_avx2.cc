// Polynomial attention's fp32 GEMM, AVX2 + FMA: 8 lanes, 4 x 16 register tiles. The kernel is
// poly_attention_gemm.inl; this TU only selects the ISA and the namespace lemma::avx2.
// Test: build/poly_attention_test
#include <cstdint>
#include <cstring>

#pragma GCC target("avx2,fma")
#define LEMMA_SIMD_NS avx2
#define LEMMA_SIMD_AVX2 1
#include "core/simd.h"
#include "poly_attention/poly_attention_gemm.inl"
