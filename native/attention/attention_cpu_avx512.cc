// Attention CPU kernels, AVX-512 (F, DQ, BW, VL) + FMA: 16 fp32 lanes, 6x4 zmm register tiles,
// vreduceps/vscalefps exp2.
// The kernels themselves are in attention_cpu_kernels.inl (written once over the vector type);
// this TU only selects the ISA and the namespace lemma::avx512, which keeps ISA-specific inline
// code from being merged across TUs by the linker (ODR).
// Test: build-native/attention_cpu_test   Bench: build-native/attention_bench
#include <cstdint>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
// The ISA is enabled for this TU by pragma (no per-file flags: CMake and binding.gyp build every
// file alike); clang has no "#pragma GCC target", so it gets the equivalent attribute push.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma,avx2"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,fma,avx2")
// GCC 12 false positive: _mm512_undefined_ps() (self-initialised) inside its own intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#define LEMMA_SIMD_NS avx512
#define LEMMA_SIMD_AVX512 1
#include "core/simd.h"
#include "attention/attention_cpu_kernels.inl"
#if defined(__clang__)
#pragma clang attribute pop
#endif

#else  // not x86: simd_supported() is scalar, so this table is never chosen; keep the symbol.
#include "attention/attention_cpu_kernels.inl"
namespace lemma {
namespace avx512 {
const attn_cpu::Kernels& attention_kernels() { return scalar::attention_kernels(); }
}  // namespace avx512
}  // namespace lemma
#endif
