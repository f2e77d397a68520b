// Polynomial attention's fp32 GEMM, portable scalar fallback (one lane). The kernel is
// poly_attention_gemm.inl; this TU only selects the namespace lemma::scalar.
// Test: build/poly_attention_test
#include <cstdint>
#include <cstring>

// No target pragma: baseline x86-64 (or any architecture).
#define LEMMA_SIMD_NS scalar
#include "core/simd.h"
#include "poly_attention/poly_attention_gemm.inl"
