// polytope_test: the polytope family's kernels without Node.
//   * Philox4x32-10 against Random123's known-answer vectors; u01 never 0 or 1.
//   * Φ(x) factors of the blocked kernels (every SIMD level this CPU has) against the scalar
//     oracle: max |L − L_ref| <= 1e-10·max|L_ref| (dense and CSR, d up to 150 so that the
//     blocked Cholesky path with several panels runs).
//   * Whole chains: the fast sampler and the oracle (polytope_ref.cc, an independent plain fp64
//     implementation), same seed, 150 steps, every combination of barrier (log, Lewis), Hessian
//     (exact, subsample), body (dense, CSR, spectrahedra up to n = 5), every target (uniform,
//     linear, Gaussian, logistic, a callback with +∞ regions driven through propose / finish),
//     non-lazy chains, burn-in / thinning, Lewis p < 2 and p > 4, and a singular Φ (chains stay):
//     identical accept/reject decisions and samples within 1e-9 (only rounding differs).
//     A bug planted in polytope_walk.inl (e.g. the Lewis weight dropped from the Hessian, or
//     η⁻¹ left off the last diagonal entry) makes these fail; with the old oracle (the same
//     .inl compiled unblocked) it did not.
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
  // Options beyond the defaults of the original cases.
  bool lazy = true;
  double lewis_p = 4;
  double eta_inv = -1;             // < 0: d·0.49·d for a linear target, else 0
  double ridge_rel = 1e-12;
  int64_t burn_in = 0, thin = 1;
  std::vector<double> start;       // empty: the analytic centre
  bool expect_moves = true;        // false: a body where Φ cannot be factored (chains stay)
};

ChainCase make_case(const char* name, Body body, BarrierKind barrier, HessianKind hessian, TargetKind target) {
  ChainCase cc;
  cc.name = name;
  cc.body = std::move(body);
  cc.barrier = barrier;
  cc.hessian = hessian;
  cc.target = target;
  return cc;
}

// The callback target of the propose/finish cases: f = ‖x − m‖², m = (0.1, −0.1, ...), with zero
// density (+Infinity) where x_0 > 0.35, so some proposals get f = ∞ and must be rejected.
int64_t g_callback_infinite = 0;  // how often callback_f returned +Infinity for a proposal
double callback_f(const double* x, int64_t d) {
  if (x[0] > 0.35) return INFINITY;
  double s = 0;
  for (int64_t j = 0; j < d; ++j) {
    const double m = j % 2 == 0 ? 0.1 : -0.1;
    s += (x[j] - m) * (x[j] - m);
  }
  return s;
}

Target make_target(TargetKind kind, int64_t d) {
  Target t;
  t.kind = kind;
  if (kind == TargetKind::kLinear) t.c.assign(d, 0.7);
  if (kind == TargetKind::kGaussian) {  // μ off-centre, P = 3I + a non-symmetric off-diagonal part
    t.mean.assign(d, 0.0);
    t.prec.assign(d * d, 0.0);
    for (int64_t j = 0; j < d; ++j) {
      t.mean[j] = 0.2 * std::sin(double(j + 1));
      t.prec[j * d + j] = 3.0;
      if (j + 1 < d) t.prec[j * d + j + 1] = 0.8, t.prec[(j + 1) * d + j] = 0.4;
    }
  }
  if (kind == TargetKind::kLogistic) {
    lemma_test::Rng g(77);
    t.nobs = 25;
    for (int64_t k = 0; k < t.nobs; ++k) {
      double m = 0;
      for (int64_t j = 0; j < d; ++j) {
        const double v = g.normal();
        t.X.push_back(v);
        m += v * (j == 0 ? 2.0 : -1.0);
      }
      t.y.push_back(m + 0.5 * g.normal() > 0 ? 1.0 : -1.0);
    }
    t.prior_prec = 0.5;
  }
  return t;
}

std::vector<double> run_chain(const Body& body, const ChainCase& cc, bool reference, int64_t steps, double* acc) {
  auto bp = std::make_shared<Body>(body);
  const Target t = make_target(cc.target, body.d);
  DikinParams p;
  p.C = 3;
  p.barrier = cc.barrier;
  p.hessian = cc.hessian;
  p.hessian_samples = 40;
  p.alpha = 0.5 / double(body.d);
  p.eta_inv = cc.eta_inv >= 0 ? cc.eta_inv : t.kind == TargetKind::kLinear ? double(body.d) * 0.49 * double(body.d) : 0.0;
  p.ridge_rel = cc.ridge_rel;
  p.lewis_p = cc.lewis_p;
  p.lazy = cc.lazy;
  p.seed = 1234;
  p.burn_in = cc.burn_in;
  p.thin = cc.thin;
  p.kept = steps / cc.thin;
  p.reference = reference;
  std::unique_ptr<DikinSampler> s;
  Status st = dikin_create(bp, t, p, &s);
  if (!st.ok()) {
    std::printf("create: %s\n", st.message.c_str());
    return {};
  }
  const int64_t d = body.d;
  std::vector<double> x0(p.C * d);
  std::vector<double> c(d);
  if (cc.start.empty()) body_analytic_center(body, c.data(), nullptr);
  else c = cc.start;
  for (int64_t ch = 0; ch < p.C; ++ch) std::copy(c.begin(), c.end(), x0.begin() + ch * d);
  const bool cb = t.kind == TargetKind::kCallback;
  std::vector<double> f0(p.C);
  for (int64_t ch = 0; ch < p.C; ++ch) f0[ch] = callback_f(x0.data() + ch * d, d);
  st = s->set_start(x0.data(), cb ? f0.data() : nullptr);
  if (!st.ok()) {
    std::printf("start: %s\n", st.message.c_str());
    return {};
  }
  int64_t done = 0;
  if (cb) {  // the two halves, f evaluated here (NaN where no value is needed: must be ignored)
    std::vector<double> z(p.C * d), fz(p.C);
    std::vector<uint8_t> need(p.C);
    for (int64_t k = 0; k < cc.burn_in + steps && st.ok(); ++k) {
      st = s->propose(z.data(), need.data());
      for (int64_t ch = 0; ch < p.C; ++ch) {
        fz[ch] = need[ch] ? callback_f(z.data() + ch * d, d) : NAN;
        g_callback_infinite += need[ch] && fz[ch] == INFINITY;
      }
      if (st.ok()) st = s->finish(fz.data());
    }
    if (!st.ok()) std::printf("callback: %s\n", st.message.c_str());
  } else {
    s->run(cc.burn_in + steps, &done);
  }
  const int64_t kept = s->recorded();
  std::vector<double> out(p.C * kept * d);
  s->copy_samples(out.data());
  std::vector<double> a(p.C);
  s->acceptance(a.data());
  *acc = a[0];
  return out;
}

Body spectra_elliptope() {  // {x : [[1, x0, x1], [x0, 1, x2], [x1, x2, 1]] ⪰ 0}, d = 3, n = 3
  Body b;
  b.kind = BodyKind::kSpectrahedron;
  b.d = 3;
  b.M = 3;
  b.F.assign(27, 0.0);
  const int pairs[3][2] = {{0, 1}, {0, 2}, {1, 2}};
  for (int i = 0; i < 3; ++i) b.F[i * 9 + pairs[i][0] * 3 + pairs[i][1]] = b.F[i * 9 + pairs[i][1] * 3 + pairs[i][0]] = 1;
  b.Cm = {-1, 0, 0, 0, -1, 0, 0, 0, -1};
  body_prepare(&b);
  return b;
}

Body spectra_random(int64_t d, int64_t n, uint64_t seed) {  // Σ x_i F_i + I ⪰ 0, F_i random symmetric
  lemma_test::Rng g(seed);
  Body b;
  b.kind = BodyKind::kSpectrahedron;
  b.d = d;
  b.M = n;
  b.F.assign(d * n * n, 0.0);
  for (int64_t i = 0; i < d; ++i)
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c <= r; ++c) b.F[i * n * n + r * n + c] = b.F[i * n * n + c * n + r] = g.normal();
  b.Cm.assign(n * n, 0.0);
  for (int64_t r = 0; r < n; ++r) b.Cm[r * n + r] = -1;
  body_prepare(&b);
  return b;
}

std::vector<ChainCase> chain_cases() {
  const BarrierKind LOG = BarrierKind::kLog, LEWIS = BarrierKind::kLewis;
  const HessianKind EX = HessianKind::kExact, SUB = HessianKind::kSubsample;
  const TargetKind UNI = TargetKind::kUniform, LIN = TargetKind::kLinear;
  std::vector<ChainCase> v = {
      make_case("dense log exact uniform", random_polytope(5, 20, 3, false), LOG, EX, UNI),
      make_case("dense log exact d=80", random_polytope(80, 200, 4, false), LOG, EX, UNI),
      make_case("dense log exact linear", random_polytope(6, 30, 5, false), LOG, EX, LIN),
      make_case("csr log exact", random_polytope(12, 50, 6, true), LOG, EX, UNI),
      make_case("dense lewis exact", random_polytope(5, 25, 7, false), LEWIS, EX, UNI),
      make_case("dense log subsample", random_polytope(5, 60, 8, false), LOG, SUB, UNI),
      make_case("csr lewis subsample", random_polytope(6, 40, 9, true), LEWIS, SUB, UNI),
      make_case("csr lewis exact", random_polytope(6, 40, 9, true), LEWIS, EX, UNI),
      make_case("dense lewis subsample", random_polytope(6, 40, 9, false), LEWIS, SUB, UNI),
      make_case("csr log subsample", random_polytope(6, 40, 9, true), LOG, SUB, UNI),
      make_case("spectrahedron disk", disk(), LOG, EX, UNI),
      // Added with the independent oracle: every target, the remaining options, bigger bodies.
      make_case("dense log exact gaussian", random_polytope(6, 30, 12, false), LOG, EX, TargetKind::kGaussian),
      make_case("dense lewis exact logistic", random_polytope(4, 24, 13, false), LEWIS, EX, TargetKind::kLogistic),
      make_case("csr log subsample linear", random_polytope(7, 60, 14, true), LOG, SUB, LIN),
      make_case("dense log exact callback", random_polytope(5, 30, 15, false), LOG, EX, TargetKind::kCallback),
      make_case("csr lewis subsample callback", random_polytope(5, 40, 16, true), LEWIS, SUB, TargetKind::kCallback),
      make_case("spectrahedron elliptope linear", spectra_elliptope(), LOG, EX, LIN),
      make_case("spectrahedron d=4 n=5 gaussian", spectra_random(4, 5, 17), LOG, EX, TargetKind::kGaussian),
      make_case("csr log exact d=40", random_polytope(40, 120, 18, true), LOG, EX, UNI),
  };
  ChainCase c;
  c = make_case("dense log exact non-lazy", random_polytope(5, 20, 19, false), LOG, EX, UNI);
  c.lazy = false;
  v.push_back(c);
  c = make_case("dense lewis p=1.5 (θ=1)", random_polytope(5, 25, 20, false), LEWIS, EX, UNI);
  c.lewis_p = 1.5;
  v.push_back(c);
  c = make_case("dense lewis p=9 subsample gaussian", random_polytope(5, 40, 21, false), LEWIS, SUB, TargetKind::kGaussian);
  c.lewis_p = 9;
  v.push_back(c);
  c = make_case("csr log exact burn-in 37, thin 3", random_polytope(6, 30, 22, true), LOG, EX, LIN);
  c.burn_in = 37;
  c.thin = 3;
  v.push_back(c);
  c = make_case("spectrahedron disk ridge 1e-3", disk(), LOG, EX, UNI);
  c.ridge_rel = 1e-3;
  v.push_back(c);
  // Φ singular (x2 is free, no ridge): neither path can factor, every chain stays at its start.
  Body sing;
  sing.d = 3;
  sing.M = 4;
  sing.A = {1, 0, 0, -1, 0, 0, 0, 1, 0, 0, -1, 0};
  sing.b = {1, 1, 1, 1};
  body_prepare(&sing);
  c = make_case("singular Φ (chains stay)", sing, LOG, EX, UNI);
  c.ridge_rel = 0.0;
  c.start = {0.1, -0.2, 0.3};
  c.expect_moves = false;
  v.push_back(c);
  return v;
}

void test_chains(const std::vector<ChainCase>& cases) {
  for (const ChainCase& cc : cases) {
    double acc_f = 0, acc_r = 0;
    const int64_t steps = 150;
    g_callback_infinite = 0;
    const std::vector<double> f = run_chain(cc.body, cc, false, steps, &acc_f);
    const std::vector<double> r = run_chain(cc.body, cc, true, steps, &acc_r);
    double err = 0;
    for (size_t i = 0; i < f.size() && i < r.size(); ++i) err = std::max(err, std::fabs(f[i] - r[i]));
    bool stayed = true;  // singular case: every sample is the start
    for (size_t i = 0; i < r.size() && !cc.start.empty(); ++i) stayed = stayed && r[i] == cc.start[i % cc.start.size()];
    char buf[220];
    std::snprintf(buf, sizeof buf, "chain fast vs oracle: %-34s max |Δx| %.2e, acceptance %.2f vs %.2f, %zu values",
                  cc.name, err, acc_f, acc_r, r.size());
    bool moves_ok = cc.expect_moves ? acc_f > 0.05 : (acc_f == 0 && stayed);
    if (cc.target == TargetKind::kCallback) moves_ok = moves_ok && g_callback_infinite > 0;  // f = ∞ branch ran
    report(!f.empty() && f.size() == r.size() && err <= 1e-9 && acc_f == acc_r && moves_ok, buf);
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
  const std::vector<ChainCase> cases = chain_cases();
  for (SimdLevel l : levels) {
    set_simd_level(l);
    std::printf("# chains at %s\n", simd_level_name(simd_level()));
    test_chains(cases);
  }
  set_simd_level(simd_supported());
  test_lewis();
  test_diagnostics();
  return lemma_test::finish();
}
