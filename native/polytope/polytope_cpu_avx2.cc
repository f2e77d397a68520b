// The Dikin walk's fast CPU kernels, AVX2 + FMA (4 fp64 lanes, 4x8 SYRK tiles): polytope_walk.inl with the blocked
// SYRK / Cholesky of core/linalg.h, in namespace lemma::poly_avx2 (no cross-ISA ODR merging:
// every std header is included before the target pragma, and linalg/rng are static inline).
// Test: build-*/polytope_test   Bench: build-*/polytope_bench
#include <cmath>
#include <cstdint>
#include <cstring>

#include "polytope/polytope_walk.h"

#pragma GCC target("avx2,fma")
#define POLY_NS poly_avx2
#define LEMMA_LINALG_AVX2 1
#include "polytope/polytope_walk.inl"
