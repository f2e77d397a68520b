// Attention CPU kernels, AVX2 + FMA: 8 fp32 lanes, 6x2 ymm register tiles.
// The kernels themselves are in attention_cpu_kernels.inl (written once over the vector type);
// this TU only selects the ISA and the namespace lemma::avx2, which keeps ISA-specific inline
// code from being merged across TUs by the linker (ODR).
// Test: build-native/attention_cpu_test   Bench: build-native/attention_bench
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
// The ISA is enabled for this TU by pragma (no per-file flags: CMake and binding.gyp build every
// file alike); clang has no "#pragma GCC target", so it gets the equivalent attribute push.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif
#define LEMMA_SIMD_NS avx2
#define LEMMA_SIMD_AVX2 1
#include "core/simd.h"
#include "attention/attention_cpu_kernels.inl"
#if defined(__clang__)
#pragma clang attribute pop
#endif

#else  // not x86: simd_supported() is scalar, so this table is never chosen; keep the symbol.
#include "attention/attention_cpu_kernels.inl"
namespace lemma {
namespace avx2 {
const attn_cpu::Kernels& attention_kernels() { return scalar::attention_kernels(); }
}  // namespace avx2
}  // namespace lemma
#endif
