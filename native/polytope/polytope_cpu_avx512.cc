// The Dikin walk's fast CPU kernels, AVX-512F (8 fp64 lanes, 8x16 SYRK tiles): polytope_walk.inl with the blocked
// SYRK / Cholesky of core/linalg.h, in namespace lemma::poly_avx512 (no cross-ISA ODR merging:
// every std header is included before the target pragma, and linalg/rng are static inline).
// Test: build-*/polytope_test   Bench: build-*/polytope_bench
#include <cmath>
#include <cstdint>
#include <cstring>

#include "polytope/polytope_walk.h"

#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,fma,avx2")
// GCC 12 false positive: _mm512_undefined_pd() (self-initialised) inside its own intrinsics.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define POLY_NS poly_avx512
#define LEMMA_LINALG_AVX512 1
#include "polytope/polytope_walk.inl"
