// Sparse attention CPU kernels, portable scalar fallback (V1, one lane; scores use fmaf so the
// reported set is the same as on the vector paths). The kernels are in
// sparse_attention_kernels.inl; this TU only selects the namespace lemma::scalar.
// Test: build-sparse/sparse_attention_test
#include <cstdint>
#include <cstring>

// No target pragma: baseline x86-64 (or any architecture).
#define LEMMA_SIMD_NS scalar
#include "core/simd.h"
#include "sparse_attention/sparse_attention_kernels.inl"
