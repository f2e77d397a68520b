// polytope_test: the polytope family's kernels without Node.
//   * Philox4x32-10 against Random123's known-answer vectors; u01 never 0 or 1.
//   * Φ(x) factors of the blocked kernels (every SIMD level this CPU has) against the scalar
//     oracle: max |L − L_ref| <= 1e-10·max|L_ref| (dense and CSR, d up to 150 so that the
//     blocked Cholesky path with several panels runs).
//   * Whole chains: the fast sampler and the oracle, same seed, 150 steps, every combination of
//     barrier (log, Lewis), Hessian (exact, subsample), body (dense, CSR, spectrahedron):
//     identical accept/reject decisions and samples within 1e-9 (only rounding differs).
//   * Lewis weights satisfy Σw = d and w_i = (a_xᵀ M(w)⁻¹ a_x)^{p/2}; p = 2 gives leverages.
//   * Diagnostics: ESS of an AR(1) chain within 15% of N(1−φ)/(1+φ).
// Build and run: cmake --build build-<you> && build-<you>/polytope_test
// Exit code 0 iff every check passed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/linalg.h"
#include "core/rng.h"
#include "core/thread_pool.h"
#include "polytope/polytope.h"

#include "test_harness.h"

using namespace lemma;

namespace {

using lemma_test::report;

void test_philox() {
  struct Kat {
    uint32_t ctr[4], key[2], out[4];
  } kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}, {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}, {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat& k : kats) {
    rng::U4 c;
    std::memcpy(c.v, k.ctr, sizeof c.v);
    const rng::U4 r = rng::philox4x32_10(c, k.key[0], k.key[1]);
    char buf[128];
    std::snprintf(buf, sizeof buf, "philox4x32_10 KAT ctr %08x: %08x %08x %08x %08x", k.ctr[0], r.v[0], r.v[1], r.v[2], r.v[3]);
    report(std::memcmp(r.v, k.out, sizeof r.v) == 0, buf);
  }
  report(rng::u01(0, 0) > 0 && rng::u01(0xffffffff, 0xffffffff) < 1, "u01 stays inside (0, 1)");
}

Body random_polytope(int64_t d, int64_t M, uint64_t seed, bool csr) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> nd;
  std::uniform_real_distribution<double> ud(0.5, 1.5);
  Body b;
  b.kind = BodyKind::kDense;
  b.d = d;
  b.M = M;
  b.A.assign(M * d, 0.0);
  b.b.assign(M, 0.0);
  for (int64_t i = 0; i < M; ++i) {
    if (i < 2 * d) {  // a box first, so the body is bounded
      b.A[i * d + i / 2] = (i % 2 == 0 ? 1.0 : -1.0);
      b.b[i] = ud(g);
    } else {
      for (int64_t j = 0; j < d; ++j)
        if (!csr || (g() % 4 == 0)) b.A[i * d + j] = nd(g);
      b.b[i] = ud(g) * 2.0;
    }
  }
  if (csr) {
    b.kind = BodyKind::kCsr;
    b.row_ptr.push_back(0);
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t j = 0; j < d; ++j)
        if (b.A[i * d + j] != 0.0) {
          b.col_idx.push_back(j);
          b.vals.push_back(b.A[i * d + j]);
        }
      b.row_ptr.push_back(static_cast<int64_t>(b.col_idx.size()));
    }
    b.A.clear();
  }
  body_prepare(&b);
  return b;
}

Body disk() {
  Body b;
  b.kind = BodyKind::kSpectrahedron;
  b.d = 2;
  b.M = 2;
  b.F = {1, 0, 0, -1, 0, 1, 1, 0};
  b.Cm = {-1, 0, 0, -1};
  body_prepare(&b);
  return b;
}

void test_factors(SimdLevel level) {
  set_simd_level(level);
  const char* name = simd_level_name(simd_level());
  for (int64_t d : {3, 17, 64, 100, 150}) {
    for (bool csr : {false, true}) {
      Body b = random_polytope(d, 3 * d, 11 + d, csr);
      std::vector<double> x(d, 0.0);
      BarrierHessian fast(b, 0.0);
      const double* L = fast.factor(x.data());
      // BarrierHessian runs the fast kernels of the current level; the oracle is a direct
      // fp64 computation of H = Σ a aᵀ/s² and an unblocked Cholesky.
      const int64_t ld = fast.ld();
      std::vector<double> H(d * d, 0.0);
      for (int64_t i = 0; i < b.M; ++i) {
        std::vector<double> a(d, 0.0);
        if (csr) {
          for (int64_t p = b.row_ptr[i]; p < b.row_ptr[i + 1]; ++p) a[b.col_idx[p]] = b.vals[p];
        } else {
          std::copy(b.A.begin() + i * d, b.A.begin() + (i + 1) * d, a.begin());
        }
        double ax = 0;
        for (int64_t j = 0; j < d; ++j) ax += a[j] * x[j];
        const double s = b.b[i] - ax;
        for (int64_t r = 0; r < d; ++r)
          for (int64_t c = 0; c <= r; ++c) H[r * d + c] += a[r] * a[c] / (s * s);
      }
      linalg::cholesky_unblocked(H.data(), d, d);
      double err = 0, mx = 0;
      for (int64_t r = 0; r < d; ++r)
        for (int64_t c = 0; c <= r; ++c) {
          err = std::max(err, std::fabs(L[r * ld + c] - H[r * d + c]));
          mx = std::max(mx, std::fabs(H[r * d + c]));
        }
      char buf[160];
      std::snprintf(buf, sizeof buf, "%-6s Φ factor d=%3lld M=%3lld %s: max err %.2e (rel %.2e)", name, (long long)d,
                    (long long)b.M, csr ? "csr  " : "dense", err, err / mx);
      report(L != nullptr && err <= 1e-10 * mx, buf);
    }
  }
}

struct ChainCase {
  const char* name;
  Body body;
  BarrierKind barrier;
  HessianKind hessian;
  TargetKind target;
};

std::vector<double> run_chain(const Body& body, const ChainCase& cc, bool reference, int64_t steps, double* acc) {
  auto bp = std::make_shared<Body>(body);
  Target t;
  t.kind = cc.target;
  if (t.kind == TargetKind::kLinear) t.c.assign(body.d, 0.7);
  DikinParams p;
  p.C = 3;
  p.barrier = cc.barrier;
  p.hessian = cc.hessian;
  p.hessian_samples = 40;
  p.alpha = 0.5 / double(body.d);
  p.eta_inv = t.kind == TargetKind::kLinear ? double(body.d) * 0.49 * double(body.d) : 0.0;
  p.lewis_p = 4;
  p.seed = 1234;
  p.kept = steps;
  p.reference = reference;
  std::unique_ptr<DikinSampler> s;
  Status st = dikin_create(bp, t, p, &s);
  if (!st.ok()) {
    std::printf("create: %s\n", st.message.c_str());
    return {};
  }
  std::vector<double> x0(p.C * body.d);
  std::vector<double> c(body.d);
  body_analytic_center(body, c.data(), nullptr);
  for (int64_t ch = 0; ch < p.C; ++ch) std::copy(c.begin(), c.end(), x0.begin() + ch * body.d);
  st = s->set_start(x0.data(), nullptr);
  if (!st.ok()) {
    std::printf("start: %s\n", st.message.c_str());
    return {};
  }
  int64_t done = 0;
  s->run(steps, &done);
  std::vector<double> out(p.C * steps * body.d);
  s->copy_samples(out.data());
  std::vector<double> a(p.C);
  s->acceptance(a.data());
  *acc = a[0];
  return out;
}

void test_chains() {
  std::vector<ChainCase> cases = {
      {"dense log exact uniform", random_polytope(5, 20, 3, false), BarrierKind::kLog, HessianKind::kExact, TargetKind::kUniform},
      {"dense log exact d=80", random_polytope(80, 200, 4, false), BarrierKind::kLog, HessianKind::kExact, TargetKind::kUniform},
      {"dense log exact linear", random_polytope(6, 30, 5, false), BarrierKind::kLog, HessianKind::kExact, TargetKind::kLinear},
      {"csr log exact", random_polytope(12, 50, 6, true), BarrierKind::kLog, HessianKind::kExact, TargetKind::kUniform},
      {"dense lewis exact", random_polytope(5, 25, 7, false), BarrierKind::kLewis, HessianKind::kExact, TargetKind::kUniform},
      {"dense log subsample", random_polytope(5, 60, 8, false), BarrierKind::kLog, HessianKind::kSubsample, TargetKind::kUniform},
      {"csr lewis subsample", random_polytope(6, 40, 9, true), BarrierKind::kLewis, HessianKind::kSubsample, TargetKind::kUniform},
      {"csr lewis exact", random_polytope(6, 40, 9, true), BarrierKind::kLewis, HessianKind::kExact, TargetKind::kUniform},
      {"dense lewis subsample", random_polytope(6, 40, 9, false), BarrierKind::kLewis, HessianKind::kSubsample, TargetKind::kUniform},
      {"csr log subsample", random_polytope(6, 40, 9, true), BarrierKind::kLog, HessianKind::kSubsample, TargetKind::kUniform},
      {"spectrahedron disk", disk(), BarrierKind::kLog, HessianKind::kExact, TargetKind::kUniform},
  };
  for (const ChainCase& cc : cases) {
    double acc_f = 0, acc_r = 0;
    const std::vector<double> f = run_chain(cc.body, cc, false, 150, &acc_f);
    const std::vector<double> r = run_chain(cc.body, cc, true, 150, &acc_r);
    double err = 0;
    for (size_t i = 0; i < f.size() && i < r.size(); ++i) err = std::max(err, std::fabs(f[i] - r[i]));
    char buf[200];
    std::snprintf(buf, sizeof buf, "chain fast vs oracle: %-26s max |Δx| %.2e, acceptance %.2f vs %.2f", cc.name, err,
                  acc_f, acc_r);
    report(!f.empty() && f.size() == r.size() && err <= 1e-9 && acc_f == acc_r && acc_f > 0.05, buf);
  }
}

void test_lewis() {
  for (double p : {2.0, 3.0, 6.0}) {
    Body b = random_polytope(6, 40, 21, false);
    std::vector<double> x(b.d, 0.05), w(b.M);
    LewisInfo info;
    Status st = body_lewis_weights(b, x.data(), p, 1e-12, 5000, nullptr, w.data(), &info);
    // Check the fixed point directly in fp64.
    const int64_t d = b.d;
    std::vector<double> Mm(d * d, 0.0), s(b.M);
    double sum = 0;
    for (int64_t i = 0; i < b.M; ++i) {
      double ax = 0;
      for (int64_t j = 0; j < d; ++j) ax += b.A[i * d + j] * x[j];
      s[i] = b.b[i] - ax;
      sum += w[i];
      const double g = std::pow(w[i], 1 - 2 / p) / (s[i] * s[i]);
      for (int64_t r = 0; r < d; ++r)
        for (int64_t c = 0; c <= r; ++c) Mm[r * d + c] += g * b.A[i * d + r] * b.A[i * d + c];
    }
    linalg::cholesky_unblocked(Mm.data(), d, d);
    double worst = 0;
    for (int64_t i = 0; i < b.M; ++i) {
      std::vector<double> v(d);
      for (int64_t j = 0; j < d; ++j) v[j] = b.A[i * d + j] / s[i];
      linalg::solve_lower(Mm.data(), d, d, v.data());
      double q = 0;
      for (double e : v) q += e * e;
      worst = std::max(worst, std::fabs(std::pow(q, p / 2) / w[i] - 1));
    }
    char buf[160];
    std::snprintf(buf, sizeof buf, "Lewis p=%g: %lld iterations, |Σw − d| %.1e, max rel fixed-point error %.1e", p,
                  (long long)info.iterations, std::fabs(sum - d), worst);
    report(st.ok() && std::fabs(sum - d) < 1e-8 && worst < 1e-8, buf);
  }
}

void test_diagnostics() {
  const double phi = 0.8;
  const int64_t N = 40000, C = 2;
  std::vector<double> s(C * N);
  std::mt19937_64 g(5);
  std::normal_distribution<double> nd;
  for (int64_t c = 0; c < C; ++c) {
    double v = nd(g) / std::sqrt(1 - phi * phi);
    for (int64_t i = 0; i < N; ++i) {
      v = phi * v + nd(g);
      s[c * N + i] = v;
    }
  }
  double ess, rhat;
  mcmc_diagnostics(s.data(), C, N, 1, &ess, &rhat);
  const double want = double(C * N) * (1 - phi) / (1 + phi);
  char buf[160];
  std::snprintf(buf, sizeof buf, "ESS of AR(1) φ=0.8: %.0f (closed form %.0f), R-hat %.4f", ess, want, rhat);
  report(std::fabs(ess / want - 1) < 0.15 && std::fabs(rhat - 1) < 0.01, buf);
}

}  // namespace

int main() {
  std::printf("# simd supported: %s, threads: %d\n", simd_level_name(simd_supported()), ThreadPool::size());
  test_philox();
  std::vector<SimdLevel> levels = {SimdLevel::kScalar};
  if (simd_supported() >= SimdLevel::kAvx2) levels.push_back(SimdLevel::kAvx2);
  if (simd_supported() >= SimdLevel::kAvx512) levels.push_back(SimdLevel::kAvx512);
  for (SimdLevel l : levels) test_factors(l);
  for (SimdLevel l : levels) {
    set_simd_level(l);
    std::printf("# chains at %s\n", simd_level_name(simd_level()));
    test_chains();
  }
  set_simd_level(simd_supported());
  test_lewis();
  test_diagnostics();
  return lemma_test::finish();
}
