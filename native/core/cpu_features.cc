// Run-time SIMD selection: CPUID (via __builtin_cpu_supports, which also checks that the OS
// saves the wide registers) decides the supported level; LEMMA_SIMD=scalar|avx2|avx512 in the
// environment (read once, at first use) or set_simd_level() may lower it, never raise it.
// Tested by: test/native/attention_cpu_test.cc (runs every supported level).
#include "core/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace lemma {

namespace {

SimdLevel detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return SimdLevel::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdLevel::kAvx2;
#endif
  return SimdLevel::kScalar;
}

SimdLevel clamp(SimdLevel want) {
  const SimdLevel sup = simd_supported();
  return static_cast<int>(want) > static_cast<int>(sup) ? sup : want;
}

std::atomic<int>& current() {
  static std::atomic<int> level{[] {
    SimdLevel l = simd_supported();
    if (const char* env = std::getenv("LEMMA_SIMD")) {
      if (std::strcmp(env, "scalar") == 0) l = clamp(SimdLevel::kScalar);
      else if (std::strcmp(env, "avx2") == 0) l = clamp(SimdLevel::kAvx2);
      else if (std::strcmp(env, "avx512") == 0) l = clamp(SimdLevel::kAvx512);
    }
    return static_cast<int>(l);
  }()};
  return level;
}

}  // namespace

SimdLevel simd_supported() {
  static const SimdLevel s = detect();
  return s;
}

SimdLevel simd_level() { return static_cast<SimdLevel>(current().load(std::memory_order_relaxed)); }

SimdLevel set_simd_level(SimdLevel requested) {
  const SimdLevel l = clamp(requested);
  current().store(static_cast<int>(l), std::memory_order_relaxed);
  return l;
}

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar: return "scalar";
    case SimdLevel::kAvx2: return "avx2";
    case SimdLevel::kAvx512: return "avx512";
  }
  return "scalar";
}

}  // namespace lemma
