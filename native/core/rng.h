// Counter-based random numbers: Philox4x32-10 (Salmon, Moraes, Dror & Shaw, SC'11), usable from
// C++ and from CUDA device code (every function is __host__ __device__ under nvcc), so the CPU and
// the GPU draw bit-identical uniform streams from the same (key, counter).
//
//   philox4x32_10(ctr, key) -> 4 x uint32      a pure function: no state, any order, any thread
//   u01(a, b)                -> double in (0,1) 52 random bits, never 0 or 1 (log is safe)
//   normal_pair(r)           -> 2 x N(0,1)      Box-Muller on the four words of one block
//
// Randomness in lemma goes only through this header (STYLE.md §5). Each consumer documents its
// counter layout next to its code; the sampler's layout is in native/polytope/polytope.h.
// The uniforms are bit-identical across devices; the normals go through log/cos/sin, whose last
// bit can differ between glibc and CUDA's libdevice (both are within 1-2 ulp), so GPU/CPU parity
// tests compare normals and anything downstream with a tolerance, not bitwise.
//
// Known answers (Random123 kat_vectors) are checked by test/native/polytope_test.cc.
#pragma once
#include <cstdint>

#include <cmath>

#if defined(__CUDACC__)
#define LEMMA_RNG_FN static __host__ __device__ __forceinline__
#define LEMMA_RNG_MEMBER __host__ __device__ __forceinline__
#else
#define LEMMA_RNG_FN static inline
#define LEMMA_RNG_MEMBER inline
#endif

namespace lemma {
namespace rng {

struct U4 {
  uint32_t v[4];
};

constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;  // golden ratio
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;  // sqrt(3) - 1

LEMMA_RNG_FN U4 philox_round(U4 c, uint32_t k0, uint32_t k1) {
  const uint64_t p0 = static_cast<uint64_t>(kPhiloxM0) * c.v[0];
  const uint64_t p1 = static_cast<uint64_t>(kPhiloxM1) * c.v[2];
  U4 r;
  r.v[0] = static_cast<uint32_t>(p1 >> 32) ^ c.v[1] ^ k0;
  r.v[1] = static_cast<uint32_t>(p1);
  r.v[2] = static_cast<uint32_t>(p0 >> 32) ^ c.v[3] ^ k1;
  r.v[3] = static_cast<uint32_t>(p0);
  return r;
}

// Philox4x32 with 10 rounds: the key is bumped by the Weyl constants between rounds.
LEMMA_RNG_FN U4 philox4x32_10(U4 ctr, uint32_t k0, uint32_t k1) {
  for (int i = 0; i < 10; ++i) {
    if (i > 0) {
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
    }
    ctr = philox_round(ctr, k0, k1);
  }
  return ctr;
}

// A uniform double in (0, 1) from two words: 52 random bits plus half a step, so it is never 0
// (log(u) is finite) and never 1 (the largest value, 1 − 2⁻⁵³, is exactly representable).
LEMMA_RNG_FN double u01(uint32_t a, uint32_t b) {
  const uint64_t k = (static_cast<uint64_t>(a >> 6) << 26) | static_cast<uint64_t>(b >> 6);  // 52 bits
  return (static_cast<double>(k) + 0.5) * (1.0 / 4503599627370496.0);
}

// Two independent N(0, 1) from one block (Box-Muller, radius from the first uniform).
LEMMA_RNG_FN void normal_pair(U4 r, double* n0, double* n1) {
  const double u = u01(r.v[0], r.v[1]);
  const double t = u01(r.v[2], r.v[3]);
  const double rad = sqrt(-2.0 * log(u));
#if defined(__CUDA_ARCH__)
  // sincospi needs no Payne-Hanek reduction (whose scratch array would put cos/sin in local
  // memory); it agrees with the host's cos/sin(2πt) to an ulp or two.
  double s, c;
  sincospi(2.0 * t, &s, &c);
  *n0 = rad * c;
  *n1 = rad * s;
#else
  const double ang = 6.283185307179586476925286766559 * t;
  *n0 = rad * cos(ang);
  *n1 = rad * sin(ang);
#endif
}

// A sequential stream over one (key, c1, c2, c3): word i is word (i % 4) of block (c0 = i / 4).
// Host-side convenience for consumers that need a variable number of draws in a fixed order
// (the subsampled Hessian); device code indexes blocks directly instead.
struct Stream {
  uint32_t k0 = 0, k1 = 0, c1 = 0, c2 = 0, c3 = 0;
  uint32_t block = 0;
  int used = 4;
  U4 buf{};

  LEMMA_RNG_MEMBER Stream(uint64_t key, uint32_t c1_, uint32_t c2_, uint32_t c3_)
      : k0(static_cast<uint32_t>(key)), k1(static_cast<uint32_t>(key >> 32)), c1(c1_), c2(c2_), c3(c3_) {}
  LEMMA_RNG_MEMBER uint32_t next_u32() {
    if (used == 4) {
      U4 c;
      c.v[0] = block++;
      c.v[1] = c1;
      c.v[2] = c2;
      c.v[3] = c3;
      buf = philox4x32_10(c, k0, k1);
      used = 0;
    }
    return buf.v[used++];
  }
  LEMMA_RNG_MEMBER double next_u01() {
    const uint32_t a = next_u32();
    return u01(a, next_u32());
  }
  // One N(0,1) per call; consumes a whole block per pair (the second normal is kept).
  LEMMA_RNG_MEMBER double next_normal() {
    if (have_spare) {
      have_spare = false;
      return spare;
    }
    U4 r;
    for (int i = 0; i < 4; ++i) r.v[i] = next_u32();
    double a, b;
    normal_pair(r, &a, &b);
    spare = b;
    have_spare = true;
    return a;
  }
  double spare = 0;
  bool have_spare = false;
};

// The two key words of a 64-bit seed.
LEMMA_RNG_FN uint32_t key_lo(uint64_t seed) { return static_cast<uint32_t>(seed); }
LEMMA_RNG_FN uint32_t key_hi(uint64_t seed) { return static_cast<uint32_t>(seed >> 32); }

}  // namespace rng
}  // namespace lemma
