// polytope_cuda_test: the CUDA Dikin walk (cuda/polytope/dikin_walk.cu) against the CPU sampler
// (dikin_create, the fast SIMD path) with the same seed. Both draw the same Philox streams, so
// the chains are the same up to rounding (the GPU sums in another order):
//   chains:   every chain's samples within 1e-6 of the CPU's and the same acceptance, for the cube
//             (d = 3; d = 2 with every facet repeated 8 times, so that proposals leaving the body
//             violate many constraints at once, in many threads), the simplex (d = 5), random dense polytopes (d = 8; d = 70: two Hessian
//             tile rows walked by one block; d = 130: one block per tile, six per chain) and a CSR
//             polytope (densified); targets uniform, linear, Gaussian and logistic; lazy and not;
//             burn-in and thinning with the steps run in uneven rounds (recording across rounds)
//   callback: propose/finish with f = cᵀx computed here equals the built-in linear(c) target on
//             the GPU (within 1e-9) and the CPU's callback chains (within 1e-6)
//   singular: Φ not positive definite (a free coordinate, no ridge): the Cholesky gives up in
//             every thread at the same pivot and the chains stay at their start, as on the CPU
//   refusal:  spectrahedra, Lewis weights, subsampled Hessians and the oracle raise
//             ERR_CUDA_UNAVAILABLE
//   memory:   the sampler's state counts in cuda_bytes_in_use() (emulated: all the device memory
//             in use) and is released with the sampler; an allocation failure injected at each
//             allocation (emulated device) comes back as ERR_CUDA_OOM and leaks nothing
// Without a usable GPU it prints why and exits 0 with "0 passed, 0 failed, N skipped".
// Build and run: cmake -S . -B build-emu -DLEMMA_CUDA=EMULATE -G Ninja &&
//   ninja -C build-emu polytope_cuda_test && build-emu/polytope_cuda_test [--quick | --full]
// --quick: half the chains and steps, and no d = 130 case (the default in sanitizer builds;
// --full overrides).
// Exit code 0 iff every check passed.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "attention/attention_cuda.h"
#include "core/cuda_info.h"
#include "polytope/polytope.h"
#include "polytope/polytope_cuda.h"
#if defined(LEMMA_CUDA_EMULATE)
#include "emulate/control.h"
#endif

#include "cuda_test_harness.h"

using namespace lemma;
using lemma_test::report;
using lemma_test::Rng;
using lemma_test::settled_bytes;

namespace {

constexpr int kChecks = 17;  // reported checks of a full run (for the skip line)

#if defined(LEMMA_WITH_CUDA)

void recover() {
#if defined(LEMMA_CUDA_EMULATE)
  if (!emu::fault_message().empty()) emu::reset();
#endif
}

Body finish_body(Body b) {
  const Status st = body_prepare(&b);
  if (!st.ok()) std::printf("body_prepare: %s\n", st.message.c_str());
  return b;
}

Body cube(int64_t d) {
  Body b;
  b.d = d, b.M = 2 * d;
  b.A.assign(b.M * d, 0.0);
  b.b.assign(b.M, 1.0);
  for (int64_t j = 0; j < d; ++j) b.A[(2 * j) * d + j] = 1.0, b.A[(2 * j + 1) * d + j] = -1.0;
  return finish_body(b);
}

// The cube with every facet repeated `copies` times: a proposal that leaves through a facet
// violates `copies` constraints at once, checked by as many threads (the boundary rule's
// block-wide "some slack is too small" vote).
Body repeated_cube(int64_t d, int64_t copies) {
  Body b;
  b.d = d, b.M = 2 * d * copies;
  b.A.assign(b.M * d, 0.0);
  b.b.assign(b.M, 1.0);
  for (int64_t i = 0; i < b.M; ++i) b.A[i * d + (i / 2) % d] = i % 2 == 0 ? 1.0 : -1.0;
  return finish_body(b);
}

Body simplex(int64_t d) {
  Body b;
  b.d = d, b.M = d + 1;
  b.A.assign(b.M * d, 0.0);
  b.b.assign(b.M, 0.0);
  for (int64_t j = 0; j < d; ++j) b.A[j * d + j] = -1.0, b.A[d * d + j] = 1.0;
  b.b[d] = 1.0;
  return finish_body(b);
}

// A box [-u, u]^d (u in [0.5, 1.5]) cut by M - 2d random halfspaces; CSR keeps about a quarter
// of each cut's entries.
Body random_polytope(int64_t d, int64_t M, uint64_t seed, bool csr) {
  Rng r(seed);
  Body b;
  b.d = d, b.M = M;
  b.A.assign(M * d, 0.0);
  b.b.assign(M, 0.0);
  for (int64_t i = 0; i < M; ++i) {
    if (i < 2 * d) {
      b.A[i * d + i / 2] = i % 2 == 0 ? 1.0 : -1.0;
      b.b[i] = 0.5 + r.uniform();
    } else {
      for (int64_t j = 0; j < d; ++j)
        if (!csr || r.next() % 4 == 0) b.A[i * d + j] = r.normal() / std::sqrt(double(d));
      b.b[i] = 1.0 + r.uniform();
    }
  }
  if (csr) {
    b.kind = BodyKind::kCsr;
    b.row_ptr.push_back(0);
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t j = 0; j < d; ++j)
        if (b.A[i * d + j] != 0.0) b.col_idx.push_back(j), b.vals.push_back(b.A[i * d + j]);
      b.row_ptr.push_back(int64_t(b.col_idx.size()));
    }
    b.A.clear();
  }
  return finish_body(b);
}

struct Chains {
  Status st;
  std::vector<double> samples;  // [C, recorded, d]
  std::vector<double> acc;      // [C]
  int64_t recorded = 0;
};

double dot(const std::vector<double>& c, const double* x) {
  double s = 0;
  for (size_t j = 0; j < c.size(); ++j) s += c[j] * x[j];
  return s;
}

// Runs C chains from the analytic centre: `rounds` steps per run() call (built-in targets), or
// one propose/finish per step with f = cᵀx (callback: target.kind == kCallback, c in target.c).
Chains run_chains(std::shared_ptr<const Body> body, const Target& target, const DikinParams& p, bool cuda,
                  const std::vector<int64_t>& rounds, const double* x_start = nullptr) {
  Chains out;
  const int64_t d = body->d, C = p.C;
  std::unique_ptr<DikinSampler> s;
  out.st = cuda ? dikin_create_cuda(body, target, p, &s) : dikin_create(body, target, p, &s);
  if (!out.st.ok()) return out;
  std::vector<double> x0(C * d), c0(d);
  if (x_start) {
    std::copy(x_start, x_start + d, c0.begin());
  } else if (!(out.st = body_analytic_center(*body, c0.data(), nullptr)).ok()) {
    return out;
  }
  for (int64_t ch = 0; ch < C; ++ch) std::copy(c0.begin(), c0.end(), x0.begin() + ch * d);
  const bool callback = target.kind == TargetKind::kCallback;
  std::vector<double> fx0(C, callback ? dot(target.c, c0.data()) : 0.0);
  if (!(out.st = s->set_start(x0.data(), callback ? fx0.data() : nullptr)).ok()) return out;
  for (int64_t n : rounds) {
    if (!callback) {
      int64_t done = 0;
      if (!(out.st = s->run(n, &done)).ok()) return out;
      continue;
    }
    std::vector<double> z(C * d), fz(C);
    std::vector<uint8_t> need(C);
    for (int64_t t = 0; t < n; ++t) {
      if (!(out.st = s->propose(z.data(), need.data())).ok()) return out;
      for (int64_t ch = 0; ch < C; ++ch) fz[ch] = need[ch] ? dot(target.c, z.data() + ch * d) : NAN;
      if (!(out.st = s->finish(fz.data())).ok()) return out;
    }
  }
  out.recorded = s->recorded();
  out.samples.resize(C * out.recorded * d);
  s->copy_samples(out.samples.data());
  out.acc.resize(C);
  s->acceptance(out.acc.data());
  return out;
}

struct Compare {
  int same = 0;
  double worst = 0;
};
Compare compare(const Chains& a, const Chains& b, int64_t C, double tol) {
  Compare r;
  if (a.samples.size() != b.samples.size() || a.acc.size() != b.acc.size()) return r;
  const size_t per = a.samples.size() / size_t(C);
  for (int64_t ch = 0; ch < C; ++ch) {
    double e = 0;
    for (size_t i = 0; i < per; ++i) {
      const double x = a.samples[ch * per + i], y = b.samples[ch * per + i];
      e = std::isfinite(x) && std::isfinite(y) ? std::max(e, std::fabs(x - y)) : INFINITY;
    }
    r.worst = std::max(r.worst, e);
    r.same += e <= tol && a.acc[ch] == b.acc[ch];
  }
  return r;
}

struct WalkCase {
  const char* name;
  Body body;
  TargetKind target;
  int64_t C;
  std::vector<int64_t> rounds;
  bool lazy = true;
  int64_t burn_in = 0, thin = 1;
  double step = 1;  // alpha = step · 0.5 / d (larger: longer proposals, more of them outside)
};

Target make_target(TargetKind kind, int64_t d, uint64_t seed) {
  Rng r(seed);
  Target t;
  t.kind = kind;
  if (kind == TargetKind::kLinear || kind == TargetKind::kCallback)
    for (int64_t j = 0; j < d; ++j) t.c.push_back(2.0 * r.normal());
  if (kind == TargetKind::kGaussian) {
    for (int64_t j = 0; j < d; ++j) t.mean.push_back(0.2 * r.normal());
    t.prec.assign(d * d, 0.0);
    for (int64_t j = 0; j < d; ++j) t.prec[j * d + j] = 4.0 + j;
    if (d > 1) t.prec[1] = t.prec[d] = 1.0;  // one off-diagonal pair
  }
  if (kind == TargetKind::kLogistic) {
    t.nobs = 20;
    for (int64_t k = 0; k < t.nobs * d; ++k) t.X.push_back(r.normal());
    for (int64_t k = 0; k < t.nobs; ++k) t.y.push_back(r.next() % 2 ? 1.0 : -1.0);
    t.prior_prec = 0.5;
  }
  return t;
}

DikinParams make_params(const WalkCase& w, uint64_t seed) {
  const double d = double(w.body.d);
  DikinParams p;
  p.C = w.C;
  p.alpha = w.step * 0.5 / d;
  p.eta_inv = w.target == TargetKind::kUniform ? 0.0 : 0.49 * d * d;
  p.lazy = w.lazy;
  p.seed = seed;
  p.burn_in = w.burn_in;
  p.thin = w.thin;
  int64_t steps = 0;
  for (int64_t n : w.rounds) steps += n;
  p.kept = steps;
  return p;
}

const char* target_name(TargetKind k) {
  switch (k) {
    case TargetKind::kUniform: return "uniform";
    case TargetKind::kLinear: return "linear";
    case TargetKind::kGaussian: return "gaussian";
    case TargetKind::kLogistic: return "logistic";
    case TargetKind::kCallback: return "callback";
  }
  return "?";
}

void check_chains(const WalkCase& w, uint64_t seed) {
  const auto t0 = std::chrono::steady_clock::now();
  auto body = std::make_shared<const Body>(w.body);
  const Target t = make_target(w.target, w.body.d, seed);
  const DikinParams p = make_params(w, seed);
  const int64_t mem0 = settled_bytes();
  const Chains cpu = run_chains(body, t, p, false, w.rounds);
  const Chains gpu = run_chains(body, t, p, true, w.rounds);
  const int64_t mem1 = settled_bytes();
  const Compare cmp = compare(cpu, gpu, p.C, 1e-6);
  double acc = 0;
  for (double a : gpu.acc) acc += a / double(p.C);
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "chains %s (d=%lld M=%lld %s, %s, C=%lld, %s, burn-in %lld thin %lld): %d/%lld identical, max |Δx| %.1e, "
                "acceptance %.2f, %lld recorded, bytes %lld -> %lld, %.1f s%s%s",
                w.name, (long long)w.body.d, (long long)w.body.M, w.body.kind == BodyKind::kCsr ? "csr" : "dense",
                target_name(w.target), (long long)p.C, w.lazy ? "lazy" : "not lazy", (long long)w.burn_in,
                (long long)w.thin, cmp.same, (long long)p.C, cmp.worst, acc, (long long)gpu.recorded, (long long)mem0,
                (long long)mem1, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                cpu.st.ok() ? "" : (" cpu: " + cpu.st.message).c_str(), gpu.st.ok() ? "" : (" cuda: " + gpu.st.message).c_str());
  report(cpu.st.ok() && gpu.st.ok() && gpu.recorded == cpu.recorded && gpu.recorded > 0 && cmp.same == p.C &&
             acc > 0.05 && acc < 1.0 && mem1 == mem0,
         buf);
}

void check_callback() {
  Body b = cube(3);
  auto body = std::make_shared<const Body>(b);
  WalkCase w{"callback", b, TargetKind::kCallback, 6, {40}};
  DikinParams p = make_params(w, 7);
  Target cb = make_target(TargetKind::kCallback, 3, 7);
  Target lin = cb;
  lin.kind = TargetKind::kLinear;
  const Chains g_cb = run_chains(body, cb, p, true, w.rounds);
  const Chains g_lin = run_chains(body, lin, p, true, w.rounds);
  const Chains c_cb = run_chains(body, cb, p, false, w.rounds);
  const Compare a = compare(g_cb, g_lin, p.C, 1e-9), c = compare(g_cb, c_cb, p.C, 1e-6);
  char buf[300];
  std::snprintf(buf, sizeof buf,
                "callback target on the GPU: = linear(c) on the GPU for %d/%lld chains (max %.1e), = CPU callback for "
                "%d/%lld (max %.1e)%s",
                a.same, (long long)p.C, a.worst, c.same, (long long)p.C, c.worst,
                g_cb.st.ok() ? "" : (" " + g_cb.st.message).c_str());
  report(g_cb.st.ok() && g_lin.st.ok() && c_cb.st.ok() && a.same == p.C && c.same == p.C && g_cb.recorded == 40, buf);
  // A NaN from the callback for a chain that needs a value is refused.
  std::unique_ptr<DikinSampler> s;
  Status st = dikin_create_cuda(body, cb, p, &s);
  std::vector<double> x0(p.C * 3, 0.0), fx0(p.C, 0.0), z(p.C * 3), fz(p.C, NAN);
  std::vector<uint8_t> need(p.C, 0);
  if (st.ok()) st = s->set_start(x0.data(), fx0.data());
  bool any = false;
  for (int tries = 0; st.ok() && !any && tries < 10; ++tries) {
    st = s->propose(z.data(), need.data());
    for (uint8_t n : need) any = any || n;
    if (st.ok() && !any) st = s->finish(fz.data());  // nobody needs a value: NaNs are ignored
  }
  const Status fin = st.ok() ? s->finish(fz.data()) : st;
  report(st.ok() && any && fin.code == Code::kRange, std::string("callback NaN for a chain that needs f: ") +
                                                          code_name(fin.code) + " " + fin.message);
}

// Φ singular (x3 is free, no ridge): neither path can factor, every chain stays at its start.
void check_singular() {
  Body b;
  b.d = 3, b.M = 4;
  b.A = {1, 0, 0, -1, 0, 0, 0, 1, 0, 0, -1, 0};
  b.b = {1, 1, 1, 1};
  b = finish_body(b);
  auto body = std::make_shared<const Body>(b);
  WalkCase w{"singular", b, TargetKind::kUniform, 4, {12}};
  DikinParams p = make_params(w, 3);
  p.ridge_rel = 0.0;
  Target t;
  const double start[3] = {0.1, -0.2, 0.3};
  const Chains cpu = run_chains(body, t, p, false, w.rounds, start);
  const Chains gpu = run_chains(body, t, p, true, w.rounds, start);
  bool stayed = gpu.st.ok() && !gpu.samples.empty();
  for (size_t i = 0; i < gpu.samples.size(); ++i) stayed = stayed && gpu.samples[i] == start[i % 3];
  const Compare cmp = compare(cpu, gpu, p.C, 0.0);
  report(stayed && cpu.st.ok() && cmp.same == p.C,
         "singular Φ: the GPU Cholesky gives up in every thread, chains stay at the start (as on the CPU)" +
             std::string(gpu.st.ok() ? "" : " " + gpu.st.message));
}

void check_refusals() {
  auto poly = std::make_shared<const Body>(cube(2));
  Body disk;
  disk.kind = BodyKind::kSpectrahedron;
  disk.d = 2, disk.M = 2;
  disk.F = {1, 0, 0, -1, 0, 1, 1, 0};
  disk.Cm = {-1, 0, 0, -1};
  disk = finish_body(disk);
  auto spec = std::make_shared<const Body>(disk);
  DikinParams base;
  base.alpha = 0.25;
  int refused = 0;
  std::string msg;
  for (int which = 0; which < 4; ++which) {
    DikinParams p = base;
    std::shared_ptr<const Body> b = poly;
    if (which == 0) b = spec;
    if (which == 1) p.barrier = BarrierKind::kLewis, p.lewis_p = 4;
    if (which == 2) p.hessian = HessianKind::kSubsample, p.hessian_samples = 2;
    if (which == 3) p.reference = true;
    std::unique_ptr<DikinSampler> s;
    const Status st = dikin_create_cuda(b, Target{}, p, &s);
    refused += st.code == Code::kCudaUnavailable;
    if (st.code != Code::kCudaUnavailable) msg += std::string(" case ") + std::to_string(which) + ": " + code_name(st.code);
  }
  report(refused == 4, "spectrahedron, Lewis, subsample, oracle: ERR_CUDA_UNAVAILABLE (" + std::to_string(refused) +
                           "/4)" + msg);
}

// The sampler's state is counted while it lives, and every device byte in use is lemma's.
void check_memory() {
  auto body = std::make_shared<const Body>(random_polytope(6, 30, 17, false));
  WalkCase w{"memory", *body, TargetKind::kUniform, 5, {3}};
  const DikinParams p = make_params(w, 1);
  const int64_t mem0 = settled_bytes();
  int64_t held = 0;
  bool all_counted = true;
  Status st;
  {
    std::unique_ptr<DikinSampler> s;
    st = dikin_create_cuda(body, Target{}, p, &s);
    held = settled_bytes() - mem0;
#if defined(LEMMA_CUDA_EMULATE)
    all_counted = int64_t(emu::info().memory_used) == settled_bytes();
#endif
  }
  const int64_t after = settled_bytes();
  // C chains: 2 d² (two factors) + 3 d (x, z, u) + M (slack weights) doubles and 11 scalars.
  const int64_t state = 8 * (p.C * (2 * 36 + 3 * 6 + 30));
  report(st.ok() && held >= state && all_counted && after == mem0,
         "sampler state counted: " + std::to_string(held) + " B while alive (chain state alone " + std::to_string(state) +
             " B)" + (all_counted ? "" : ", device memory not all counted") + ", " + std::to_string(after - mem0) +
             " B after");
}

#if defined(LEMMA_CUDA_EMULATE)
void check_oom() {
  auto body = std::make_shared<const Body>(random_polytope(4, 16, 23, false));
  WalkCase w{"oom", *body, TargetKind::kGaussian, 3, {4}};
  const Target t = make_target(TargetKind::kGaussian, 4, 5);
  const DikinParams p = make_params(w, 5);
  const int64_t mem0 = settled_bytes();
  const lemma_test::OomSweep o =
      lemma_test::oom_sweep(100, mem0, [&] { return run_chains(body, t, p, true, w.rounds).st; });
  char buf[200];
  std::snprintf(buf, sizeof buf, "injected OOM at each of %d allocations: %d other errors, %d leaks, then success",
                o.failures, o.other, o.leaks);
  report(o.finished && o.failures >= 20 && o.other == 0 && o.leaks == 0, buf);
}
#endif

#endif  // LEMMA_WITH_CUDA

}  // namespace

int main(int argc, char** argv) {
  const bool quick = lemma_test::quick_flag(argc, argv);
  if (!lemma_test::cuda_test_start("polytope_cuda_test", kChecks, quick)) return 0;
#if defined(LEMMA_WITH_CUDA)
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t mem0 = settled_bytes();
  using TK = TargetKind;
  std::vector<WalkCase> cases = {
      {"cube", cube(3), TK::kUniform, 8, {60}},
      {"repeated facets", repeated_cube(2, 8), TK::kUniform, 4, {40}, true, 0, 1, 16.0},
      {"simplex", simplex(5), TK::kUniform, 8, {7, 1, 32}, true, 5, 2},
      {"random", random_polytope(8, 40, 1, false), TK::kUniform, 6, {50}, false},
      {"random", random_polytope(8, 40, 2, false), TK::kLinear, 6, {50}},
      {"cube", cube(4), TK::kGaussian, 6, {50}},
      {"random", random_polytope(5, 24, 3, false), TK::kLogistic, 6, {50}},
      {"csr", random_polytope(12, 50, 4, true), TK::kUniform, 4, {30}},
      {"two tile rows", random_polytope(70, 160, 5, false), TK::kUniform, 3, {6, 4}},
  };
  if (!quick) cases.push_back({"six tiles", random_polytope(130, 280, 6, false), TK::kUniform, 2, {4}});
  if (quick)  // half the chains and steps (the sanitizer builds run ten to thirty times slower)
    for (WalkCase& w : cases) {
      w.C = std::max<int64_t>(2, w.C / 2);
      for (int64_t& n : w.rounds) n = std::max<int64_t>(1, n / 2);
    }
  uint64_t seed = 100;
  for (const WalkCase& w : cases) check_chains(w, seed++), recover();
  check_callback();
  recover();
  check_singular();
  recover();
  check_refusals();
  check_memory();
  recover();
#if defined(LEMMA_CUDA_EMULATE)
  check_oom();
  recover();
#endif
  const int64_t mem1 = settled_bytes();
  report(mem1 == mem0, "bytes in use at the end " + std::to_string(mem1) + " (start " + std::to_string(mem0) + ")");
  std::printf("# %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
#endif
  return lemma_test::finish();
}
