// Attention CPU kernels, portable scalar fallback (V1, one float lane; the compiler may still
// pack it into SSE). Used where the CPU has no AVX2+FMA, or when LEMMA_SIMD=scalar.
// The kernels themselves are in attention_cpu_kernels.inl (written once over the vector type);
// this TU only selects the ISA and the namespace lemma::scalar, which keeps ISA-specific inline
// code from being merged across TUs by the linker (ODR).
// Test: build-native/attention_cpu_test   Bench: build-native/attention_bench
#include <cstdint>
#include <cstring>

// No target pragma: baseline x86-64 (or any architecture).
#define LEMMA_SIMD_NS scalar
// Scalar: V = V1.
#include "core/simd.h"
#include "attention/attention_cpu_kernels.inl"
