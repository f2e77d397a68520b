// dp: differentially private L1 kernel density estimation (spec: shared/specs/dp-kde-l1.md §4).
//
//   F(y) = Σ_i ‖x_i − y‖₁ = Σ_j F_j(y_j),   F_j(u) = Σ_i |x_ij − u|
//
// Per coordinate j, the values are quantised to the public grid
//   x̄ = round((clamp(x, lo_j, hi_j) − lo_j) / γ_j) ∈ {0 .. 2^q − 1},   γ_j = (hi_j − lo_j)/(2^q − 1)
// and a complete binary tree over the grid (data-independent shape) stores, for every node v at
// levels 1..L (the root is never read by a query, so it is never computed or released):
//   cnt[v] = #{i : x̄_ij ∈ I_v},   sum[v] = Σ_{i : x̄_ij ∈ I_v} x̄_ij        (exact integers)
// Layout: per coordinate an implicit heap of N = 2^{L+1} slots, node v at index v (children 2v,
// 2v+1), level ℓ at indices [2^ℓ, 2^{ℓ+1}); slots 0 and 1 stay 0. cnt, sum are [d, N] fp64
// holding integers < 2^53 (every partial sum is such an integer, so fp64 addition is exact).
// Noise is added by TypeScript (lib/dp/discrete-laplace.ts), never here and never on the GPU.
//
// Query (spec §4.4), per coordinate with u = (y_j − lo_j)/γ_j (real grid units) and p the leaf
// of clamp(⌊u⌋, 0, 2^q − 1): walking the root-to-leaf path, at each level the sibling of the
// path node lies entirely on one side of u and contributes ±(u·cnt − sum). The own leaf does the
// same when all of its grid values lie on one side of u (always when L = q, and for u outside the
// range); otherwise it contributes 0 (bias ≤ cnt_leaf·2^{q−L}·γ). This leaf rule refines the
// spec's "0 or |s̃ − t·c̃|" and, being post-processing, costs no privacy.
// F̂(y) = Σ_j γ_j · Σ_nodes ±(u·c̃ − s̃).
//
// Baseline (Backurs et al. ICLR 2024, spec §4.6): counts only; leaves are grouped into distance
// bands around u whose widths grow by (1 + α); each band's noisy count — the canonical dyadic
// cover of its leaves (≤ 2L nodes, disjoint between bands), or optionally P(B) − P(A) with
// prefix sums shared between adjacent bands — is multiplied by the distance from u to the band's
// centre.
//
// Tests: test/4x.dp-*.test.ts (via the N-API binding); bench: bench/node/dp.bench.ts.
#pragma once
#include <cstdint>

#include "core/status.h"

namespace lemma {

// Sizes and public parameters of one tree (the same struct serves build and query).
struct DpL1Params {
  int64_t n = 0;           // points (build only)
  int64_t d = 0;           // coordinates
  int levels = 0;          // L ≥ 1: levels 1..L are stored; 2^L leaves
  int grid_bits = 0;       // q ≥ L, ≤ 32: grid {0 .. 2^q − 1}
  const double* lo = nullptr;  // [d] lower ends of the public ranges
  const double* hi = nullptr;  // [d] upper ends (hi > lo)
  double alpha = 0.5;      // baseline band growth (query only)
  bool prefix_bands = false;  // baseline: band counts as differences of shared prefix sums
                              // (telescoping noise) instead of independent dyadic covers
};

inline int64_t dp_slots(int levels) { return int64_t{2} << levels; }  // N = 2^{L+1}

// Checks sizes (d ≥ 1, 1 ≤ L ≤ q ≤ 32, L ≤ 26, ranges finite with hi > lo, n·(2^q−1) < 2^53).
Status dp_l1_check_params(const DpL1Params& p, bool for_build);

// The grid value of x: ±∞ and out-of-range values clamp; NaN maps to 0, the range's lower end (a
// data-independent rule inside the mechanism: refusing would reveal where a NaN is).
inline uint32_t dp_quantise(double x, double lo, double hi, int q) {
  double u = (x - lo) / (hi - lo);
  if (!(u > 0.0)) u = 0.0;
  if (u > 1.0) u = 1.0;
  const double top = static_cast<double>((uint64_t{1} << q) - 1);
  return static_cast<uint32_t>(u * top + 0.5);  // ∈ [0, 2^q − 1]
}

// Exact tree from X [n, d] row-major (fp32 or fp64). cnt, sum: [d, N] (fully overwritten).
// Fast path: bucket into leaves in int64, then sum upward;
// threads over coordinates. No copy of the quantised data outlives the call.
Status dp_l1_build_cpu(const DpL1Params& p, const float* X, double* cnt, double* sum);
Status dp_l1_build_cpu(const DpL1Params& p, const double* X, double* cnt, double* sum);
// Oracle: walks every point's root-to-leaf path (O(n·d·L)), one thread.
Status dp_l1_build_ref(const DpL1Params& p, const double* X, double* cnt, double* sum);

// F̂ for Y [q, d] → out [q]. Threads over blocks of queries.
Status dp_l1_query_cpu(const DpL1Params& p, const double* cnt, const double* sum, const double* Y,
                       int64_t q, double* out);
// Oracle: the spec's QUERY with explicit interval tests (no bit tricks), one thread.
Status dp_l1_query_ref(const DpL1Params& p, const double* cnt, const double* sum, const double* Y,
                       int64_t q, double* out);
// CUDA (cuda/dp/dp_query.cu, compiled only with LEMMA_WITH_CUDA): uploads the tree and Y,
// one warp segment per query, lanes over coordinates; fp64 throughout.
Status dp_l1_query_cuda(const DpL1Params& p, const double* cnt, const double* sum, const double* Y,
                        int64_t q, double* out);

// Baseline answer from counts only (bands as in lib/dp/baseline.ts, which mirrors this code for
// the closed-form error). Threads over blocks of queries.
Status dp_l1_baseline_query_cpu(const DpL1Params& p, const double* cnt, const double* Y, int64_t q,
                                double* out);

// Brute force Σ_i ‖x_i − y‖₁ in fp64 for Y [q, d] → out [q]; with `quantised`, every x_ij is
// first replaced by lo_j + γ_j·x̄_ij (what the tree sees). Threads over queries.
Status dp_l1_brute_force(const DpL1Params& p, const double* X, const double* Y, int64_t q,
                         bool quantised, double* out);

}  // namespace lemma
