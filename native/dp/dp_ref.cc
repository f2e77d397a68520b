// dp_l1_*_ref: the plain oracles of the private L1 KDE tree (see dp.h), one thread, no tricks.
//   build: for every point and coordinate, walk levels 1..L and add (1, x̄) to the node whose
//          dyadic interval [k·2^{q−ℓ}, (k+1)·2^{q−ℓ}) holds x̄: O(n·d·L), int64 accumulators.
//   query: the spec's QUERY (§4.4) with explicit interval tests: at each level, if u lies at or
//          beyond the start a_R of the right child (u ≥ a_R), every point of the left child is
//          below u and contributes u − x; otherwise every point of the right child is above u.
//          At the leaf [a, a + 2^{q−L}): u − x for all its points if u ≥ its last grid value,
//          x − u if u ≤ a, else 0.
// Tested against dp_cpu.cc and brute force by test/40.dp-tree.test.ts.
#include <cmath>
#include <string>
#include <vector>

#include "dp/dp.h"

namespace lemma {

Status dp_l1_build_ref(const DpL1Params& p, const double* X, double* cnt, double* sum) {
  LEMMA_RETURN_IF_ERROR(dp_l1_check_params(p, true));
  const int L = p.levels, q = p.grid_bits;
  const int64_t N = dp_slots(L);
  std::vector<int64_t> c(static_cast<size_t>(p.d * N), 0), s(static_cast<size_t>(p.d * N), 0);
  for (int64_t i = 0; i < p.n; ++i) {
    for (int64_t j = 0; j < p.d; ++j) {
      const double x = X[i * p.d + j];  // NaN quantises to 0, like the fast path
      const uint64_t g = dp_quantise(x, p.lo[j], p.hi[j], q);
      for (int l = 1; l <= L; ++l) {
        const uint64_t width = uint64_t{1} << (q - l);
        const int64_t v = (int64_t{1} << l) + static_cast<int64_t>(g / width);
        c[j * N + v] += 1;
        s[j * N + v] += static_cast<int64_t>(g);
      }
    }
  }
  for (int64_t k = 0; k < p.d * N; ++k) {
    cnt[k] = static_cast<double>(c[k]);
    sum[k] = static_cast<double>(s[k]);
  }
  return Status::Ok();
}

Status dp_l1_query_ref(const DpL1Params& p, const double* cnt, const double* sum, const double* Y,
                       int64_t q, double* out) {
  LEMMA_RETURN_IF_ERROR(dp_l1_check_params(p, false));
  const int L = p.levels, qb = p.grid_bits;
  const int64_t N = dp_slots(L);
  const double top = std::ldexp(1.0, qb) - 1.0;
  for (int64_t i = 0; i < q; ++i) {
    double total = 0.0;
    for (int64_t j = 0; j < p.d; ++j) {
      const double y = Y[i * p.d + j];
      if (!std::isfinite(y)) return Status::Error(Code::kRange, "Y holds a non-finite number");
      // The same fp64 operations as dp_cpu.cc, so both see the same u.
      const double gamma = (p.hi[j] - p.lo[j]) / top;
      const double u = (y - p.lo[j]) * (top / (p.hi[j] - p.lo[j]));
      const double* c = cnt + j * N;
      const double* s = sum + j * N;
      double acc = 0.0;
      int64_t v = 1;        // current node
      double a = 0.0;       // start of I_v in grid units
      for (int l = 0; l < L; ++l) {
        const double half = std::ldexp(1.0, qb - l - 1);
        const int64_t left = 2 * v, right = 2 * v + 1;
        const double aR = a + half;
        if (u >= aR) {
          acc += u * c[left] - s[left];
          v = right;
          a = aR;
        } else {
          acc += s[right] - u * c[right];
          v = left;
        }
      }
      // Own leaf [a, a + 2^{q−L}): exact when all of its grid values lie on one side of u.
      const double last = a + std::ldexp(1.0, qb - L) - 1.0;
      if (u >= last) acc += u * c[v] - s[v];
      else if (u <= a) acc += s[v] - u * c[v];
      total += gamma * acc;
    }
    out[i] = total;
  }
  return Status::Ok();
}

}  // namespace lemma
