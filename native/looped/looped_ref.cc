// looped_ref: the fp64 oracle of the looped iteration, one start at a time in the plain order
// (shapes and state: native/looped/looped.h). Also the parameter check and the activations.
// Tests: test/native/looped_test.cc.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "looped/looped.h"

namespace lemma {

Status looped_check_params(const LoopedParams& p) {
  if (p.S < 0 || p.S > (int64_t{1} << 31)) return Status::Error(Code::kShape, "S must lie in [0, 2^31]");
  if (p.d < 1 || p.d > (int64_t{1} << 16)) return Status::Error(Code::kShape, "d must lie in [1, 65536]");
  if (p.S * p.d > (int64_t{1} << 34)) return Status::Error(Code::kShape, "S·d must be at most 2^34");
  const int a = static_cast<int>(p.activation);
  if (a < 0 || a > 4) return Status::Error(Code::kRange, "unknown activation id " + std::to_string(a));
  if (p.max_steps < 1) return Status::Error(Code::kRange, "max_steps must be at least 1");
  if (p.t_end < 0 || p.t_end > p.max_steps) return Status::Error(Code::kRange, "t_end must lie in [0, max_steps]");
  if (!(p.tol >= 0) || !std::isfinite(p.tol)) return Status::Error(Code::kRange, "tol must be finite and ≥ 0");
  if (!(p.noise >= 0) || !std::isfinite(p.noise)) return Status::Error(Code::kRange, "noise must be finite and ≥ 0");
  return Status::Ok();
}

Status looped_iterate_ref(const LoopedParams& p, const double* W, const double* b, double* x,
                          int32_t* steps, int32_t* stab, double* last, double* residuals) {
  LEMMA_RETURN_IF_ERROR(looped_check_params(p));
  const int64_t d = p.d;
  std::vector<double> y(static_cast<size_t>(d));
  for (int64_t s = 0; s < p.S; ++s)
    looped_run_start(p, W, b, x + s * d, y.data(), s, steps, stab, last, residuals);
  return Status::Ok();
}

}  // namespace lemma
