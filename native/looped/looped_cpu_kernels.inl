// The looped iteration's tile kernel, compiled once per ISA (looped_cpu_{scalar,avx2,avx512}.cc
// define LEMMA_SIMD_NS and LEMMA_LOOPED_RB, then include this file).
//   A tile of kLanes = 16 starts runs every step of the chunk while it sits in cache. Its state is
//   held transposed, XT [d, 16], so z[s] = b_j + Σ_k W_jk XT[k, s] is 16 independent lanes that the
//   compiler vectorises without reassociating anything; RB rows j share each XT row load (register
//   blocking: RB·16 accumulators, sized to the ISA's register file). Contraction into FMAs is off
//   (below), so every lane performs the oracle's operations in the oracle's order, and fp64
//   results equal looped_iterate_ref bit for bit at every SIMD level.
//   Finished lanes are still computed (the tile moves as one) but their state is left untouched.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "looped/looped.h"

// No a·b + c may become an FMA (GCC's default, -ffp-contract=fast, would under the AVX2 and
// AVX-512 targets): the lanes must do the oracle's roundings.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace lemma {
namespace LEMMA_SIMD_NS {

namespace {

constexpr int kLanes = 16;

// GCC / clang vector types of LEMMA_LOOPED_VBYTES bytes: one register of the TU's ISA.
typedef double VecD __attribute__((vector_size(LEMMA_LOOPED_VBYTES)));
typedef float VecF __attribute__((vector_size(LEMMA_LOOPED_VBYTES)));
template <typename T> struct VecOf { using type = VecD; };
template <> struct VecOf<float> { using type = VecF; };
template <typename T>
using Vec = typename VecOf<T>::type;

template <typename T>
inline Vec<T> load(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Rows j .. j + R − 1 of one step: yt[j + r, :] = g(b_j + Σ_k W_jk xt[k, :]). The R·NV
// accumulators stay in registers; each xt row is loaded once for the R rows.
template <typename T, LoopedActivation A, int R>
inline void rows(const T* W, const T* b, int64_t d, int64_t j, const T* xt, T* yt) {
  constexpr int NV = kLanes * static_cast<int>(sizeof(T)) / LEMMA_LOOPED_VBYTES;
  constexpr int VL = LEMMA_LOOPED_VBYTES / static_cast<int>(sizeof(T));
  static_assert(NV >= 1 && NV * VL == kLanes, "16 lanes must fill whole vectors");
  Vec<T> z[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) z[r][v] = Vec<T>{} + b[j + r];
  for (int64_t k = 0; k < d; ++k) {
    Vec<T> xk[NV];
    for (int v = 0; v < NV; ++v) xk[v] = load(xt + k * kLanes + v * VL);
    for (int r = 0; r < R; ++r) {
      const T w = W[(j + r) * d + k];
      for (int v = 0; v < NV; ++v) z[r][v] = z[r][v] + w * xk[v];
    }
  }
  for (int r = 0; r < R; ++r) {
    T* y = yt + (j + r) * kLanes;
    std::memcpy(y, z[r], sizeof z[r]);
    for (int l = 0; l < kLanes; ++l) y[l] = looped_activate<T>(A, y[l]);
  }
}

template <typename T, LoopedActivation A>
void tile(const LoopedParams& p, const T* W, const T* b, T* x, int32_t* steps, int32_t* stab, double* last,
          double* residuals, int64_t s0, int lanes) {
  constexpr int RB = LEMMA_LOOPED_RB;
  const int64_t d = p.d;
  std::vector<T> xt(static_cast<size_t>(d * kLanes), T(0)), yt(static_cast<size_t>(d * kLanes));
  for (int l = 0; l < lanes; ++l)
    for (int64_t k = 0; k < d; ++k) xt[k * kLanes + l] = x[(s0 + l) * d + k];
  auto finished = [&](int l) {
    const int64_t s = s0 + l;
    return steps[s] >= p.t_end || (p.early_exit && stab[s] >= 0);
  };
  for (;;) {
    bool any = false;
    for (int l = 0; l < lanes; ++l) any = any || !finished(l);
    if (!any) break;
    int64_t j = 0;
    for (; j + RB <= d; j += RB) rows<T, A, RB>(W, b, d, j, xt.data(), yt.data());
    for (; j < d; ++j) rows<T, A, 1>(W, b, d, j, xt.data(), yt.data());
    bool active[kLanes];
    for (int l = 0; l < kLanes; ++l) active[l] = l < lanes && !finished(l);
    if (p.noise > 0) {
      for (int l = 0; l < lanes; ++l) {
        if (!active[l]) continue;
        const int t = steps[s0 + l] + 1;
        for (int64_t jj = 0; jj < d; ++jj) {
          T& v = yt[jj * kLanes + l];
          v = static_cast<T>(v + looped_noise(p.seed, s0 + l, t, jj, p.noise));
        }
      }
    }
    // Residuals (in fp64, NaN-propagating) and the state update, lane-parallel over each row.
    double r[kLanes] = {};
    for (int64_t jj = 0; jj < d; ++jj) {
      T* yj = yt.data() + jj * kLanes;
      T* xj = xt.data() + jj * kLanes;
      for (int l = 0; l < kLanes; ++l) {
        const double e = std::fabs(static_cast<double>(yj[l]) - static_cast<double>(xj[l]));
        r[l] = (e > r[l] || e != e) ? e : r[l];
        xj[l] = active[l] ? yj[l] : xj[l];
      }
    }
    for (int l = 0; l < lanes; ++l) {
      if (!active[l]) continue;
      const int64_t s = s0 + l;
      const int t = steps[s] + 1;
      steps[s] = t;
      last[s] = r[l];
      if (residuals) residuals[s * p.max_steps + (t - 1)] = r[l];
      if (r[l] <= p.tol && stab[s] < 0) stab[s] = t;
    }
  }
  for (int l = 0; l < lanes; ++l)
    for (int64_t k = 0; k < d; ++k) x[(s0 + l) * d + k] = xt[k * kLanes + l];
}

template <typename T>
void dispatch(const LoopedParams& p, const T* W, const T* b, T* x, int32_t* steps, int32_t* stab, double* last,
              double* residuals, int64_t s0, int lanes) {
  switch (p.activation) {
    case LoopedActivation::kPoly3: return tile<T, LoopedActivation::kPoly3>(p, W, b, x, steps, stab, last, residuals, s0, lanes);
    case LoopedActivation::kTanh2: return tile<T, LoopedActivation::kTanh2>(p, W, b, x, steps, stab, last, residuals, s0, lanes);
    case LoopedActivation::kTanh: return tile<T, LoopedActivation::kTanh>(p, W, b, x, steps, stab, last, residuals, s0, lanes);
    case LoopedActivation::kRelu: return tile<T, LoopedActivation::kRelu>(p, W, b, x, steps, stab, last, residuals, s0, lanes);
    case LoopedActivation::kGelu: return tile<T, LoopedActivation::kGelu>(p, W, b, x, steps, stab, last, residuals, s0, lanes);
  }
}

}  // namespace

void looped_tile(const LoopedParams& p, const double* W, const double* b, double* x, int32_t* steps, int32_t* stab,
                 double* last, double* residuals, int64_t s0, int lanes) {
  dispatch(p, W, b, x, steps, stab, last, residuals, s0, lanes);
}
void looped_tile(const LoopedParams& p, const float* W, const float* b, float* x, int32_t* steps, int32_t* stab,
                 double* last, double* residuals, int64_t s0, int lanes) {
  dispatch(p, W, b, x, steps, stab, last, residuals, s0, lanes);
}

}  // namespace LEMMA_SIMD_NS
}  // namespace lemma
