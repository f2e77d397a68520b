// polytope_bench: chain-steps/s of the Dikin walk on the CPU, without Node.
// Walk: uniform target, log barrier, exact Hessian, lazy = false, α = r²/d with r = 0.5 (the
// metric of PolytopeWalk's DikinWalk: Φ = (d/r²)·H). Bodies: the cube [−1, 1]^d (M = 2d), the
// simplex {x >= 0, Σx <= 1} (M = d + 1), a random polytope with 4d constraints (Gaussian rows,
// b = 1 + |N(0,1)|, plus the box |x_i| <= 10). Dense A. One chain per thread.
// Every SIMD level the CPU has, plus the scalar oracle at d <= 50.
// Build: cmake --build build-<you>   Run: build-<you>/polytope_bench [--threads N] [--seconds S] [--d 100]
// Prints one JSON line per configuration.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "polytope/polytope.h"

using namespace lemma;

namespace {

Body make_body(const std::string& kind, int64_t d) {
  Body b;
  b.kind = BodyKind::kDense;
  b.d = d;
  if (kind == "cube") {
    b.M = 2 * d;
    b.A.assign(b.M * d, 0.0);
    b.b.assign(b.M, 1.0);
    for (int64_t j = 0; j < d; ++j) {
      b.A[(2 * j) * d + j] = 1;
      b.A[(2 * j + 1) * d + j] = -1;
    }
  } else if (kind == "simplex") {
    b.M = d + 1;
    b.A.assign(b.M * d, 0.0);
    b.b.assign(b.M, 0.0);
    for (int64_t j = 0; j < d; ++j) b.A[j * d + j] = -1;
    for (int64_t j = 0; j < d; ++j) b.A[d * d + j] = 1;
    b.b[d] = 1;
  } else {
    std::mt19937_64 g(7);
    std::normal_distribution<double> nd;
    b.M = 4 * d;
    b.A.assign(b.M * d, 0.0);
    b.b.assign(b.M, 0.0);
    for (int64_t i = 0; i < b.M; ++i) {
      if (i < 2 * d) {
        b.A[i * d + i / 2] = i % 2 ? -1 : 1;
        b.b[i] = 10;
      } else {
        for (int64_t j = 0; j < d; ++j) b.A[i * d + j] = nd(g) / std::sqrt(double(d));
        b.b[i] = 1 + std::fabs(nd(g));
      }
    }
  }
  body_prepare(&b);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  double seconds = 1.0;
  std::vector<int64_t> dims = {10, 50, 100, 200};
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--d")) dims = {std::atoll(argv[i + 1])};
  }
  ThreadPool::set_size(threads);
  std::vector<SimdLevel> levels = {SimdLevel::kScalar};
  if (simd_supported() >= SimdLevel::kAvx2) levels.push_back(SimdLevel::kAvx2);
  if (simd_supported() >= SimdLevel::kAvx512) levels.push_back(SimdLevel::kAvx512);
  for (const char* kind : {"cube", "simplex", "random"}) {
    for (int64_t d : dims) {
      auto body = std::make_shared<Body>(make_body(kind, d));
      std::vector<double> c(d);
      if (!body_analytic_center(*body, c.data(), nullptr).ok()) return 1;
      for (int li = -1; li < static_cast<int>(levels.size()); ++li) {
        if (li < 0 && d > 50) continue;
        if (li >= 0) set_simd_level(levels[li]);
        DikinParams p;
        p.C = threads;
        p.alpha = 0.25 / double(d);
        p.lazy = false;
        p.seed = 1;
        p.reference = li < 0;
        std::unique_ptr<DikinSampler> s;
        if (!dikin_create(body, Target{}, p, &s).ok()) return 1;
        std::vector<double> x0;
        for (int t = 0; t < threads; ++t) x0.insert(x0.end(), c.begin(), c.end());
        s->set_start(x0.data(), nullptr);
        int64_t done = 0, steps = 0, batch = 4;
        const auto t0 = std::chrono::steady_clock::now();
        double el = 0;
        while (el < seconds) {
          s->run(batch, &done);
          steps += done;
          el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          if (el < seconds / 4) batch *= 2;
        }
        std::vector<double> acc(threads);
        s->acceptance(acc.data());
        std::printf("{\"body\":\"%s\",\"d\":%lld,\"M\":%lld,\"threads\":%d,\"kernel\":\"%s\",\"chainSteps\":%lld,"
                    "\"seconds\":%.3f,\"stepsPerSecond\":%.1f,\"acceptance\":%.3f}\n",
                    kind, (long long)d, (long long)body->M, threads, s->kernel_name(), (long long)(steps * threads), el,
                    double(steps * threads) / el, acc[0]);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
