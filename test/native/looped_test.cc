// looped_test: the fast looped iteration (tiles of 16 starts on the thread pool) against the fp64
// oracle looped_iterate_ref.
//   fp64: bit-for-bit equal states, step counts, stabilisation steps and residual histories
//         (same summation order, no contraction) at every SIMD level this CPU has, with and
//         without noise and early exit, for every activation, row counts that leave a remainder
//         after the row blocking, S not a multiple of 16, one pool thread and all of them, and the steps
//         split over several calls (the TS layer's chunks) equal to one call.
//   fp32: states within 1e-4 of the oracle after 5 steps (tanh preset: contracting, so fp32
//         rounding does not grow).
//   Parameter checks: bad sizes and values are refused with their codes.
// Build and run: cmake --build build --target looped_test && build/looped_test
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "looped/looped.h"

#include "test_harness.h"

using namespace lemma;
using lemma_test::report;
using lemma_test::Rng;

namespace {

struct State {
  std::vector<double> x, last, res;
  std::vector<int32_t> steps, stab;
};

State start(int64_t S, int64_t d, int max_steps, Rng& rng) {
  State s;
  s.x.resize(S * d);
  for (auto& v : s.x) v = 2 * rng.uniform() - 1;
  s.last.assign(S, std::numeric_limits<double>::infinity());
  s.res.assign(S * max_steps, -1.0);
  s.steps.assign(S, 0);
  s.stab.assign(S, -1);
  return s;
}

bool same(const State& a, const State& b) {
  return a.x == b.x && a.steps == b.steps && a.stab == b.stab &&
         std::memcmp(a.last.data(), b.last.data(), a.last.size() * sizeof(double)) == 0 &&
         std::memcmp(a.res.data(), b.res.data(), a.res.size() * sizeof(double)) == 0;
}

void check_case(int act, int64_t S, int64_t d, double noise, bool early, double eta, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> W(d * d), b(d);
  for (int64_t j = 0; j < d; ++j) {
    double row = 0;
    for (int64_t k = 0; k < d; ++k) row += std::fabs(W[j * d + k] = (j == k ? 0 : rng.uniform() - 0.5));
    for (int64_t k = 0; k < d; ++k) W[j * d + k] = (j == k ? 1.0 : W[j * d + k] * eta / (row > 0 ? row : 1));
    b[j] = act == 3 ? 0.1 * (rng.uniform() - 0.5) : 0;
  }
  LoopedParams p;
  p.S = S; p.d = d; p.activation = static_cast<LoopedActivation>(act);
  p.max_steps = 40; p.t_end = 40; p.tol = 1e-10; p.noise = noise; p.seed = seed * 7919 + 1; p.early_exit = early;
  Rng r0(seed + 1);
  State ref = start(S, d, p.max_steps, r0);
  State fast = ref, chunked = ref, one = ref;
  looped_iterate_ref(p, W.data(), b.data(), ref.x.data(), ref.steps.data(), ref.stab.data(), ref.last.data(), ref.res.data());
  looped_iterate_cpu(p, W.data(), b.data(), fast.x.data(), fast.steps.data(), fast.stab.data(), fast.last.data(), fast.res.data());
  for (int t : {3, 4, 17, 40}) {
    LoopedParams q = p;
    q.t_end = t;
    looped_iterate_cpu(q, W.data(), b.data(), chunked.x.data(), chunked.steps.data(), chunked.stab.data(),
                       chunked.last.data(), chunked.res.data());
  }
  const int threads = ThreadPool::size();
  ThreadPool::set_size(1);
  looped_iterate_cpu(p, W.data(), b.data(), one.x.data(), one.steps.data(), one.stab.data(), one.last.data(), one.res.data());
  ThreadPool::set_size(threads);
  char name[160];
  std::snprintf(name, sizeof name, "act=%d S=%lld d=%lld noise=%g early=%d eta=%g", act, (long long)S, (long long)d,
                noise, int(early), eta);
  report(same(ref, fast), std::string("fp64 fast == oracle bitwise: ") + name);
  report(same(ref, chunked), std::string("steps split over 4 calls == one call: ") + name);
  report(same(ref, one), std::string("1 pool thread == all threads: ") + name);
}

}  // namespace

int main() {
  const SimdLevel top = simd_supported();
  for (SimdLevel level : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (static_cast<int>(level) > static_cast<int>(top)) continue;
    set_simd_level(level);
    std::printf("# SIMD level %s\n", simd_level_name(level));
    for (int act = 0; act < 5; ++act) {
      check_case(act, 37, 10, 0, true, 0.05, 1 + act);
      check_case(act, 16, 3, 0.01, false, 0.3, 11 + act);
    }
    check_case(0, 100, 33, 0.001, true, 0.05, 42);  // 33 rows: the row-blocking remainder
    check_case(3, 40, 7, 0, false, 0.2, 44);
    check_case(1, 5, 1, 0, true, 0, 43);
    check_case(2, 18, 12, 0.005, true, 0.1, 45);  // a full tile and a two-start tail
  }
  set_simd_level(top);

  {  // fp32 against the oracle, tanh2 preset (contracting): rounding stays at the 1e-6 level.
    const int64_t S = 20, d = 12;
    Rng rng(5);
    std::vector<double> W(d * d, 0.0), b(d, 0.0);
    for (int64_t j = 0; j < d; ++j)
      for (int64_t k = 0; k < d; ++k) W[j * d + k] = j == k ? 1.0 : 0.004 * (rng.uniform() - 0.5);
    LoopedParams p;
    p.S = S; p.d = d; p.activation = LoopedActivation::kTanh2; p.max_steps = 5; p.t_end = 5; p.tol = 0; p.early_exit = true;
    State ref = start(S, d, p.max_steps, rng);
    std::vector<float> W32(W.begin(), W.end()), b32(b.begin(), b.end()), x32(ref.x.begin(), ref.x.end());
    State f = ref;
    looped_iterate_ref(p, W.data(), b.data(), ref.x.data(), ref.steps.data(), ref.stab.data(), ref.last.data(), ref.res.data());
    looped_iterate_cpu(p, W32.data(), b32.data(), x32.data(), f.steps.data(), f.stab.data(), f.last.data(), f.res.data());
    double err = 0;
    for (size_t i = 0; i < x32.size(); ++i) err = std::fmax(err, std::fabs(x32[i] - ref.x[i]));
    report(err <= 1e-4 && f.steps == ref.steps, "fp32 fast path within 1e-4 of the oracle after 5 steps (max err " +
                                                    std::to_string(err) + ")");
  }

  {  // Parameter checks.
    LoopedParams p;
    p.S = 1; p.d = 2; p.max_steps = 4; p.t_end = 4;
    report(looped_check_params(p).ok(), "valid params accepted");
    LoopedParams q = p; q.d = 0;
    report(looped_check_params(q).code == Code::kShape, "d = 0 refused with ERR_SHAPE");
    q = p; q.t_end = 5;
    report(looped_check_params(q).code == Code::kRange, "t_end > max_steps refused with ERR_RANGE");
    q = p; q.tol = std::nan("");
    report(looped_check_params(q).code == Code::kRange, "NaN tol refused with ERR_RANGE");
    q = p; q.activation = static_cast<LoopedActivation>(9);
    report(looped_check_params(q).code == Code::kRange, "unknown activation refused with ERR_RANGE");
  }
  return lemma_test::finish();
}
