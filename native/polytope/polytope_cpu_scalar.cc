// The Dikin walk's fast CPU kernels, baseline x86-64 (SSE2 pairs, no FMA): polytope_walk.inl with the blocked
// SYRK / Cholesky of core/linalg.h, in namespace lemma::poly_scalar (no cross-ISA ODR merging:
// every std header is included before the target pragma, and linalg/rng are static inline).
// Test: build-*/polytope_test   Bench: build-*/polytope_bench
#include <cmath>
#include <cstdint>
#include <cstring>

#include "polytope/polytope_walk.h"


#define POLY_NS poly_scalar
#include "polytope/polytope_walk.inl"
