// Run-time SIMD selection. One build runs on any x86-64: kernels are compiled once per ISA
// (separate translation units with their own -m flags) and picked here by CPUID.
#pragma once

namespace lemma {

enum class SimdLevel { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// The widest level this CPU supports (AVX2 needs FMA too; AVX-512 needs F, DQ, BW, VL).
SimdLevel simd_supported();
// The level the kernels use now: simd_supported(), lowered by LEMMA_SIMD=scalar|avx2|avx512
// in the environment at load time or by set_simd_level(); never raised above the supported one.
SimdLevel simd_level();
// Requests a level; returns the level actually in use afterwards.
SimdLevel set_simd_level(SimdLevel requested);
const char* simd_level_name(SimdLevel level);

}  // namespace lemma
