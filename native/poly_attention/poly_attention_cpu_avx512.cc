// Polynomial attention's fp32 GEMM, AVX-512 (F, DQ, BW, VL) + FMA: 16 lanes, 4 x 32 register
// tiles. The kernel is poly_attention_gemm.inl; this TU only selects the ISA and the namespace
// lemma::avx512 (ODR-safe). Test: build/poly_attention_test
#include <cstdint>
#include <cstring>

#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,fma,avx2")
// GCC 12 false positive: _mm512_undefined_ps() (self-initialised) inside its own intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define LEMMA_SIMD_NS avx512
#define LEMMA_SIMD_AVX512 1
#include "core/simd.h"
#include "poly_attention/poly_attention_gemm.inl"
