// dp_l1_*_cpu: the fast CPU paths of the private L1 KDE tree (see dp.h for the math).
//   build:  per coordinate, bucket the quantised values into the 2^L leaves in int64, then sum
//           upward level by level in int64 and store as fp64 (values < 2^53, exact). O(n·d + d·2^L).
//           Threads over coordinates; per-worker int64 scratch of 2·2^{L+1} words, wiped after.
//   query:  per (query, coordinate) one root-to-leaf walk reading the L path siblings (and the
//           own leaf when it lies on one side of u): O(q·d·L).
//           Threads over blocks of 64 queries; results do not depend on the thread count.
//   baseline query: (1+α) distance bands; each band count is the canonical dyadic cover of its
//           leaves (independent between bands), or optionally P(B) − P(A) with shared prefixes.
//   brute force: Σ_i ‖x_i − y‖₁ in fp64 (test and benchmark oracle), threads over queries.
// Tests: test/40.dp-tree.test.ts (against dp_ref.cc and brute force); bench: bench/node/dp.bench.ts.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "dp/dp.h"

namespace lemma {

namespace {

constexpr double kTwo53 = 9007199254740992.0;

// Overwrites scratch that held exact (pre-noise) data so it does not linger in freed memory.
void wipe(std::vector<int64_t>& v) {
  volatile int64_t* p = v.data();
  for (size_t i = 0; i < v.size(); ++i) p[i] = 0;
}

std::string cell(int64_t i, int64_t j) {
  return "[" + std::to_string(i) + ", " + std::to_string(j) + "]";
}

struct Grid {
  std::vector<double> gamma, inv_gamma;
};

Grid make_grid(const DpL1Params& p) {
  Grid g;
  g.gamma.resize(p.d);
  g.inv_gamma.resize(p.d);
  const double top = static_cast<double>((uint64_t{1} << p.grid_bits) - 1);
  for (int64_t j = 0; j < p.d; ++j) {
    g.gamma[j] = (p.hi[j] - p.lo[j]) / top;
    g.inv_gamma[j] = top / (p.hi[j] - p.lo[j]);
  }
  return g;
}

// Leaf of the real grid coordinate u: clamp(⌊u⌋, 0, 2^q − 1) >> (q − L).
inline uint64_t leaf_of(double u, int q, int L) {
  const double top = static_cast<double>((uint64_t{1} << q) - 1);
  const double f = std::floor(u);
  const uint64_t g = !(f > 0.0) ? 0 : (f >= top ? (uint64_t{1} << q) - 1 : static_cast<uint64_t>(f));
  return g >> (q - L);
}

// Σ over the path siblings of ±(u·c − s), in grid units (multiply by γ for real units), plus
// the own leaf when all of its grid values lie on one side of u (always when the leaf is one grid
// value wide, and for u outside the range); otherwise the own leaf contributes 0.
inline double walk(const double* c, const double* s, int L, int q, uint64_t leaf, double u) {
  double acc = 0.0;
  for (int l = 1; l <= L; ++l) {
    const uint64_t idx = (uint64_t{1} << l) | (leaf >> (L - l));
    const uint64_t sib = idx ^ 1;
    if (idx & 1) acc += u * c[sib] - s[sib];  // path went right: the left sibling lies below u
    else acc += s[sib] - u * c[sib];          // path went left: the right sibling lies above u
  }
  const uint64_t v = (uint64_t{1} << L) | leaf;
  const double first = static_cast<double>(leaf << (q - L));
  const double last = first + static_cast<double>((uint64_t{1} << (q - L)) - 1);
  if (u >= last) acc += u * c[v] - s[v];
  else if (u <= first) acc += s[v] - u * c[v];
  return acc;
}

// Σ of the counts of leaves [0, k), k ∈ [0, 2^L]: the left siblings on the path to leaf k.
inline double prefix_count(const double* c, int L, uint64_t k) {
  if (k == 0) return 0.0;
  if (k >= (uint64_t{1} << L)) return c[2] + c[3];
  double acc = 0.0;
  for (int l = 1; l <= L; ++l) {
    const uint64_t idx = (uint64_t{1} << l) | (k >> (L - l));
    if (idx & 1) acc += c[idx - 1];
  }
  return acc;
}

// Σ of the counts of leaves [A, B) over their canonical dyadic cover (≤ 2L nodes, bottom-up).
// The root never appears: bands never span all leaves (the own leaf is a band of its own).
inline double cover_count(const double* c, int L, int64_t A, int64_t B) {
  double acc = 0.0;
  uint64_t l = (uint64_t{1} << L) + static_cast<uint64_t>(A), r = (uint64_t{1} << L) + static_cast<uint64_t>(B);
  while (l < r) {
    if (l & 1) acc += c[l++];
    if (r & 1) acc += c[--r];
    l >>= 1;
    r >>= 1;
  }
  return acc;
}

Status check_finite_queries(const DpL1Params& p, const double* Y, int64_t q) {
  for (int64_t i = 0; i < q * p.d; ++i)
    if (!std::isfinite(Y[i]))
      return Status::Error(Code::kRange, "Y" + cell(i / p.d, i % p.d) + " is not a finite number");
  return Status::Ok();
}

template <typename T>
Status build_impl(const DpL1Params& p, const T* X, double* cnt, double* sum) {
  LEMMA_RETURN_IF_ERROR(dp_l1_check_params(p, true));
  const int L = p.levels, q = p.grid_bits;
  const int64_t N = dp_slots(L), leaves = int64_t{1} << L, n = p.n, d = p.d;
  // One (lazily filled) scratch slot per possible worker id: set_size() may change the pool
  // between here and the region, so size by the pool's hard cap, not by size().
  std::vector<std::vector<int64_t>> scratch(1024);
  ThreadPool::parallel_for(d, [&](int64_t j, int w) {
    std::vector<int64_t>& sc = scratch[w];
    if (sc.empty()) sc.assign(2 * N, 0);
    else std::fill(sc.begin(), sc.end(), 0);
    int64_t* c = sc.data();
    int64_t* s = c + N;
    const double lo = p.lo[j], hi = p.hi[j];
    const int shift = q - L;
    for (int64_t i = 0; i < n; ++i) {
      const double x = static_cast<double>(X[i * d + j]);  // NaN quantises to 0 (the range's lower end)
      const uint32_t g = dp_quantise(x, lo, hi, q);
      const int64_t v = leaves + (g >> shift);
      c[v] += 1;
      s[v] += g;
    }
    for (int64_t v = leaves - 1; v >= 2; --v) {
      c[v] = c[2 * v] + c[2 * v + 1];
      s[v] = s[2 * v] + s[2 * v + 1];
    }
    double* co = cnt + j * N;
    double* so = sum + j * N;
    co[0] = co[1] = so[0] = so[1] = 0.0;  // the root (that is, n) is never stored
    for (int64_t v = 2; v < N; ++v) {
      co[v] = static_cast<double>(c[v]);
      so[v] = static_cast<double>(s[v]);
    }
  });
  for (auto& sc : scratch) wipe(sc);
  return Status::Ok();
}

}  // namespace

Status dp_l1_check_params(const DpL1Params& p, bool for_build) {
  if (p.d < 1 || p.d > (int64_t{1} << 24))
    return Status::Error(Code::kShape, "d = " + std::to_string(p.d) + " must lie in [1, 2^24]");
  if (p.levels < 1 || p.levels > 26)
    return Status::Error(Code::kRange, "levels = " + std::to_string(p.levels) + " must lie in [1, 26]");
  if (p.grid_bits < p.levels || p.grid_bits > 32)
    return Status::Error(Code::kRange, "gridBits = " + std::to_string(p.grid_bits) + " must lie in [levels, 32]");
  if (p.d * dp_slots(p.levels) > (int64_t{1} << 36))
    return Status::Error(Code::kRange, "d·2^(levels+1) exceeds 2^36 tree slots");
  if (p.lo == nullptr || p.hi == nullptr) return Status::Error(Code::kInternal, "ranges missing");
  for (int64_t j = 0; j < p.d; ++j) {
    if (!std::isfinite(p.lo[j]) || !std::isfinite(p.hi[j]) || !(p.hi[j] > p.lo[j]) ||
        !std::isfinite(p.hi[j] - p.lo[j]))
      return Status::Error(Code::kRange, "range of coordinate " + std::to_string(j) + " must be finite with hi > lo");
  }
  if (for_build) {
    const double top = static_cast<double>((uint64_t{1} << p.grid_bits) - 1);
    if (p.n < 0 || static_cast<double>(p.n) * top >= kTwo53)
      return Status::Error(Code::kRange, "n·(2^gridBits − 1) must stay below 2^53 for exact sums; lower gridBits "
                                         "(the message omits n: it is private)");
  }
  if (!(p.alpha > 0.0) || !std::isfinite(p.alpha))
    return Status::Error(Code::kRange, "alpha must be a finite positive number");
  return Status::Ok();
}

Status dp_l1_build_cpu(const DpL1Params& p, const float* X, double* cnt, double* sum) {
  return build_impl(p, X, cnt, sum);
}
Status dp_l1_build_cpu(const DpL1Params& p, const double* X, double* cnt, double* sum) {
  return build_impl(p, X, cnt, sum);
}

Status dp_l1_query_cpu(const DpL1Params& p, const double* cnt, const double* sum, const double* Y,
                       int64_t q, double* out) {
  LEMMA_RETURN_IF_ERROR(dp_l1_check_params(p, false));
  LEMMA_RETURN_IF_ERROR(check_finite_queries(p, Y, q));
  const Grid g = make_grid(p);
  const int L = p.levels, qb = p.grid_bits;
  const int64_t N = dp_slots(L), d = p.d;
  constexpr int64_t kBlock = 64;
  ThreadPool::parallel_for((q + kBlock - 1) / kBlock, [&](int64_t b, int) {
    const int64_t end = std::min(q, (b + 1) * kBlock);
    for (int64_t i = b * kBlock; i < end; ++i) {
      const double* y = Y + i * d;
      double total = 0.0;
      for (int64_t j = 0; j < d; ++j) {
        const double u = (y[j] - p.lo[j]) * g.inv_gamma[j];
        total += g.gamma[j] * walk(cnt + j * N, sum + j * N, L, qb, leaf_of(u, qb, L), u);
      }
      out[i] = total;
    }
  });
  return Status::Ok();
}

Status dp_l1_baseline_query_cpu(const DpL1Params& p, const double* cnt, const double* Y, int64_t q,
                                double* out) {
  LEMMA_RETURN_IF_ERROR(dp_l1_check_params(p, false));
  LEMMA_RETURN_IF_ERROR(check_finite_queries(p, Y, q));
  const Grid g = make_grid(p);
  const int L = p.levels, qb = p.grid_bits;
  const int64_t N = dp_slots(L), d = p.d;
  const double W = std::ldexp(1.0, qb - L);  // grid values per leaf
  const int64_t nl = int64_t{1} << L;
  const double grow = 1.0 + p.alpha;
  constexpr int64_t kBlock = 64;
  ThreadPool::parallel_for((q + kBlock - 1) / kBlock, [&](int64_t b, int) {
    const int64_t end = std::min(q, (b + 1) * kBlock);
    for (int64_t i = b * kBlock; i < end; ++i) {
      const double* y = Y + i * d;
      double total = 0.0;
      for (int64_t j = 0; j < d; ++j) {
        const double* c = cnt + j * N;
        const double u = (y[j] - p.lo[j]) * g.inv_gamma[j];
        const int64_t pl = static_cast<int64_t>(leaf_of(u, qb, L));
        // Representative distance of the leaves [A, B): from u to the centre of their grid values.
        auto rep = [&](int64_t A, int64_t B) { return std::fabs((static_cast<double>(A + B) * W - 1.0) * 0.5 - u); };
        double acc = 0.0;
        if (p.prefix_bands) {
          const double P0 = prefix_count(c, L, pl), P1 = prefix_count(c, L, pl + 1);
          acc = rep(pl, pl + 1) * (P1 - P0);
          double Pa = P1;
          for (int64_t o = 1; pl + o < nl;) {  // right bands [pl + o, pl + o2)
            const int64_t o2 = std::max(o + 1, static_cast<int64_t>(std::ceil(static_cast<double>(o) * grow)));
            const int64_t A = pl + o, B = std::min(pl + o2, nl);
            const double PB = prefix_count(c, L, B);
            acc += rep(A, B) * (PB - Pa);
            Pa = PB;
            o = o2;
          }
          double Pb = P0;
          for (int64_t o = 1; o <= pl;) {  // left bands [pl − o2 + 1, pl − o + 1)
            const int64_t o2 = std::max(o + 1, static_cast<int64_t>(std::ceil(static_cast<double>(o) * grow)));
            const int64_t B = pl - o + 1, A = std::max<int64_t>(pl - o2 + 1, 0);
            const double PA = prefix_count(c, L, A);
            acc += rep(A, B) * (Pb - PA);
            Pb = PA;
            o = o2;
          }
        } else {
          acc = rep(pl, pl + 1) * cover_count(c, L, pl, pl + 1);
          for (int64_t o = 1; pl + o < nl;) {
            const int64_t o2 = std::max(o + 1, static_cast<int64_t>(std::ceil(static_cast<double>(o) * grow)));
            const int64_t A = pl + o, B = std::min(pl + o2, nl);
            acc += rep(A, B) * cover_count(c, L, A, B);
            o = o2;
          }
          for (int64_t o = 1; o <= pl;) {
            const int64_t o2 = std::max(o + 1, static_cast<int64_t>(std::ceil(static_cast<double>(o) * grow)));
            const int64_t B = pl - o + 1, A = std::max<int64_t>(pl - o2 + 1, 0);
            acc += rep(A, B) * cover_count(c, L, A, B);
            o = o2;
          }
        }
        total += g.gamma[j] * acc;
      }
      out[i] = total;
    }
  });
  return Status::Ok();
}

Status dp_l1_brute_force(const DpL1Params& p, const double* X, const double* Y, int64_t q,
                         bool quantised, double* out) {
  LEMMA_RETURN_IF_ERROR(dp_l1_check_params(p, quantised));
  const int64_t n = p.n, d = p.d;
  std::vector<double> Xq;
  if (quantised) {
    const Grid g = make_grid(p);
    Xq.resize(static_cast<size_t>(n * d));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < d; ++j) {
        const double x = X[i * d + j];
        Xq[i * d + j] = p.lo[j] + g.gamma[j] * dp_quantise(x, p.lo[j], p.hi[j], p.grid_bits);
      }
    X = Xq.data();
  }
  ThreadPool::parallel_for(q, [&](int64_t k, int) {
    const double* y = Y + k * d;
    double total = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const double* x = X + i * d;
      double row = 0.0;
      for (int64_t j = 0; j < d; ++j) row += std::fabs(x[j] - y[j]);
      total += row;
    }
    out[k] = total;
  });
  return Status::Ok();
}

}  // namespace lemma
