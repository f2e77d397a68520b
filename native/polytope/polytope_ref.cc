// The Dikin walk's fp64 oracle: polytope_walk.inl with the scalar routines of core/linalg.h
// (unblocked Cholesky, plain SYRK and solves), namespace lemma::poly_ref. Same random numbers
// and decisions as the fast kernels; DikinParams::reference selects it (tests compare the two).
// Test: test/35.polytope-oracle.test.ts, build-*/polytope_test
#include <cmath>
#include <cstdint>
#include <cstring>

#include "polytope/polytope_walk.h"

#define POLY_NS poly_ref
#define POLY_BLOCKED 0
#include "polytope/polytope_walk.inl"
