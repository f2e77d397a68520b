// Shared harness of the native test executables (test/native/*_test.cc): one line per check
// ("ok  " / "FAIL"), a final "N passed, N failed" line (what test/02.native.test.ts and CI read),
// and a seeded splitmix64 generator for test data.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

namespace lemma_test {

inline int g_passed = 0, g_failed = 0;

inline void report(bool ok, const std::string& line) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", line.c_str());
  std::fflush(stdout);
  (ok ? g_passed : g_failed)++;
}

// Prints the closing line; the process exit code.
inline int finish() {
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return (next() >> 11) * (1.0 / 9007199254740992.0); }
  double normal() {
    const double u1 = uniform() + 1e-300, u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
};

}  // namespace lemma_test
