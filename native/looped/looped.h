// looped: fixed-point iteration of a looped one-layer network, S starts at once.
//
//   x⁽ᵗ⁾ = g(W x⁽ᵗ⁻¹⁾ + b) + h⁽ᵗ⁾,   W [d, d] row-major, b [d], X [S, d] (one start per row)
//   r_t = ‖x⁽ᵗ⁾ − x⁽ᵗ⁻¹⁾‖_∞        (the residual that early exit compares with tol)
//
// g is applied entry-wise (LoopedActivation). h⁽ᵗ⁾ is optional bounded noise, uniform on
// [−δ, δ]^d, drawn from Philox (core/rng.h) with the counter layout below, so a run is the same
// bit for bit whatever the thread count and however the steps are split into calls.
//   noise for start s, step t (1-based), coordinate j: block philox({j/2, t, s_lo, s_hi}, seed),
//   words (0,1) for even j, (2,3) for odd j, h = δ·(2u − 1).
//
// The call advances every unfinished start from its current step to min(t_end, max_steps); the TS
// layer (lib/looped/iterate.ts) calls it in chunks of steps so it can honour an AbortSignal and
// report progress between chunks. Per-start state lives in caller-owned arrays:
//   steps[s]      steps taken so far (0 at the start)
//   stab[s]       the first step t with r_t ≤ tol, or −1 (the stabilisation step early exit uses)
//   last[s]       r of the last step taken (+∞ before the first)
//   residuals     [S, max_steps] fp64 residual history, or null (entries beyond steps[s] untouched)
// A start is finished when steps[s] == max_steps, or when early_exit and stab[s] ≥ 0.
//
// The fp64 oracle (looped_iterate_ref) runs one start at a time in the plain order
// (looped_run_start); the fast path (looped_iterate_cpu) advances tiles of 16 starts through all
// the chunk's steps while they sit in cache, with the state transposed so the 16 lanes vectorise
// (a tile of one or two starts runs looped_run_start instead: 16 lanes would be mostly idle).
// Both sum W_jk x_k in the order k = 0..d−1 after b_j and contract nothing into FMAs, so in fp64
// they agree bit for bit.
// Tests: test/native/looped_test.cc, test/70.looped-fixed-points.test.ts; bench: npm run bench:looped.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/rng.h"
#include "core/status.h"

namespace lemma {

enum class LoopedActivation : int {
  kPoly3 = 0,  // 1.5 z − 0.5 z³    (the polynomial preset: fixed points −1, 0, 1)
  kTanh2 = 1,  // tanh(2z)          (the exponential-type preset: fixed points 0, ±0.9575)
  kTanh = 2,   // tanh(z)
  kRelu = 3,   // max(z, 0)
  kGelu = 4,   // z·Φ(z) = z (1 + erf(z/√2)) / 2   (the exact form, not the tanh approximation)
};

struct LoopedParams {
  int64_t S = 0;            // starts
  int64_t d = 0;            // width
  LoopedActivation activation = LoopedActivation::kPoly3;
  int max_steps = 0;        // ≥ 1
  int t_end = 0;            // advance to this step at most (≤ max_steps)
  double tol = 0;           // ≥ 0
  double noise = 0;         // δ ≥ 0
  uint64_t seed = 0;
  bool early_exit = true;
};

Status looped_check_params(const LoopedParams& p);

// h for start s, step t (1-based), coordinate j: the counter layout of the header comment.
inline double looped_noise(uint64_t seed, int64_t s, int t, int64_t j, double delta) {
  const rng::U4 ctr{{static_cast<uint32_t>(j >> 1), static_cast<uint32_t>(t), static_cast<uint32_t>(s),
                     static_cast<uint32_t>(static_cast<uint64_t>(s) >> 32)}};
  const rng::U4 r = rng::philox4x32_10(ctr, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  const double u = (j & 1) ? rng::u01(r.v[2], r.v[3]) : rng::u01(r.v[0], r.v[1]);
  return delta * (2.0 * u - 1.0);
}

// The entry-wise activation, in the precision of T.
template <typename T>
inline T looped_activate(LoopedActivation a, T z) {
  switch (a) {
    case LoopedActivation::kPoly3: return T(1.5) * z - T(0.5) * z * z * z;
    case LoopedActivation::kTanh2: return std::tanh(T(2) * z);
    case LoopedActivation::kTanh: return std::tanh(z);
    case LoopedActivation::kRelu: return z > T(0) ? z : T(0);
    case LoopedActivation::kGelu: return T(0.5) * z * (T(1) + std::erf(z * T(0.70710678118654752440)));
  }
  return z;
}

// Advances start s (state xs [d], scratch y [d]) through the chunk's steps, one dot product per
// row in the plain order: the oracle's loop, also the fast path's for tiles of very few starts.
template <typename T>
inline void looped_run_start(const LoopedParams& p, const T* W, const T* b, T* xs, T* y, int64_t s, int32_t* steps,
                             int32_t* stab, double* last, double* residuals) {
  const int64_t d = p.d;
  while (steps[s] < p.t_end && !(p.early_exit && stab[s] >= 0)) {
    const int t = steps[s] + 1;
    double r = 0;
    for (int64_t j = 0; j < d; ++j) {
      T z = b[j];
      for (int64_t k = 0; k < d; ++k) z += W[j * d + k] * xs[k];
      T v = looped_activate<T>(p.activation, z);
      if (p.noise > 0) v = static_cast<T>(v + looped_noise(p.seed, s, t, j, p.noise));
      y[j] = v;
      const double e = std::fabs(static_cast<double>(v) - static_cast<double>(xs[j]));
      r = (e > r || std::isnan(e)) ? e : r;
    }
    for (int64_t j = 0; j < d; ++j) xs[j] = y[j];
    steps[s] = t;
    last[s] = r;
    if (residuals) residuals[s * p.max_steps + (t - 1)] = r;
    if (r <= p.tol && stab[s] < 0) stab[s] = t;
  }
}

// Updates x [S, d] in place and the per-start state (see the header comment).
Status looped_iterate_ref(const LoopedParams& p, const double* W, const double* b, double* x,
                          int32_t* steps, int32_t* stab, double* last, double* residuals);
Status looped_iterate_cpu(const LoopedParams& p, const double* W, const double* b, double* x,
                          int32_t* steps, int32_t* stab, double* last, double* residuals);
Status looped_iterate_cpu(const LoopedParams& p, const float* W, const float* b, float* x,
                          int32_t* steps, int32_t* stab, double* last, double* residuals);

}  // namespace lemma
