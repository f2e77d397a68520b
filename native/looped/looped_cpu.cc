// looped_cpu: the fast CPU path of the looped iteration (shapes, state, noise: looped/looped.h).
//   Tiles of 16 starts are tasks on the thread pool; each runs every step of the chunk in the
//   kernel of the SIMD level in use (looped_cpu_kernels.inl, compiled per ISA). Each lane's
//   arithmetic depends neither on the split nor on the level.
// Cost per start-step: 2d² flops + d activations (+ d/2 Philox blocks with noise).
// Tests: test/native/looped_test.cc (against looped_iterate_ref); bench: npm run bench:looped.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "looped/looped.h"

namespace lemma {

#define LEMMA_LOOPED_TILE_DECL(ns)                                                                          \
  namespace ns {                                                                                           \
  void looped_tile(const LoopedParams&, const double*, const double*, double*, int32_t*, int32_t*, double*, \
                   double*, int64_t, int);                                                                 \
  void looped_tile(const LoopedParams&, const float*, const float*, float*, int32_t*, int32_t*, double*,    \
                   double*, int64_t, int);                                                                 \
  }
LEMMA_LOOPED_TILE_DECL(scalar)
LEMMA_LOOPED_TILE_DECL(avx2)
LEMMA_LOOPED_TILE_DECL(avx512)
#undef LEMMA_LOOPED_TILE_DECL

namespace {

constexpr int kLanes = 16;    // starts per tile (looped_cpu_kernels.inl)
constexpr int kFewLanes = 2;  // at most this many starts in a tile: one start at a time instead

template <typename T>
void tile_for(SimdLevel level, const LoopedParams& p, const T* W, const T* b, T* x, int32_t* steps, int32_t* stab,
              double* last, double* residuals, int64_t s0, int lanes) {
  switch (level) {
    case SimdLevel::kAvx512: return avx512::looped_tile(p, W, b, x, steps, stab, last, residuals, s0, lanes);
    case SimdLevel::kAvx2: return avx2::looped_tile(p, W, b, x, steps, stab, last, residuals, s0, lanes);
    default: return scalar::looped_tile(p, W, b, x, steps, stab, last, residuals, s0, lanes);
  }
}

template <typename T>
Status iterate(const LoopedParams& p, const T* W, const T* b, T* x, int32_t* steps, int32_t* stab,
               double* last, double* residuals) {
  LEMMA_RETURN_IF_ERROR(looped_check_params(p));
  const int64_t tiles = (p.S + kLanes - 1) / kLanes;
  const SimdLevel level = simd_level();
  ThreadPool::parallel_for(tiles, [&](int64_t tile, int) {
    const int64_t s0 = tile * kLanes;
    const int lanes = static_cast<int>(std::min<int64_t>(kLanes, p.S - s0));
    if (lanes <= kFewLanes) {  // a tile of 16 lanes would mostly compute idle lanes
      std::vector<T> y(static_cast<size_t>(p.d));
      for (int l = 0; l < lanes; ++l)
        looped_run_start(p, W, b, x + (s0 + l) * p.d, y.data(), s0 + l, steps, stab, last, residuals);
      return;
    }
    tile_for(level, p, W, b, x, steps, stab, last, residuals, s0, lanes);
  });
  return Status::Ok();
}

}  // namespace

Status looped_iterate_cpu(const LoopedParams& p, const double* W, const double* b, double* x,
                          int32_t* steps, int32_t* stab, double* last, double* residuals) {
  return iterate(p, W, b, x, steps, stab, last, residuals);
}

Status looped_iterate_cpu(const LoopedParams& p, const float* W, const float* b, float* x,
                          int32_t* steps, int32_t* stab, double* last, double* residuals) {
  return iterate(p, W, b, x, steps, stab, last, residuals);
}

}  // namespace lemma
