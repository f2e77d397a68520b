// dp_cuda_test: the CUDA private L1 KDE query (cuda/dp/dp_query.cu) against the CPU query
// (dp_l1_query_cpu) and the fp64 oracle (dp_l1_query_ref), on released trees (exact trees plus
// non-integer noise, as after the Laplace mechanism).
//   parity:  max |cuda − cpu| <= 1e-12 · max|cpu| and the same against the oracle (the GPU sums
//            the coordinates in another order; every other operation is the CPU's, in fp64)
//   grid:    d in {1, 2, 3, 8, 31, 32, 33, 40} (one lane segment per query up to 32, several
//            coordinates per lane above), levels L in {1, 4, 12} with grid bits q = L, L + 3
//            and 32; queries inside the range, outside it (both sides), exactly on grid points
//            and on the range ends; batches of 0, 1 and 301 queries (a partial last block)
//   errors:  a non-finite query is ERR_RANGE; an empty batch leaves out untouched
//   memory:  cuda_bytes_in_use() returns to its starting value after every call, and (emulated
//            device) after an allocation failure injected at each of the call's allocations,
//            which must come back as ERR_CUDA_OOM
// Without a usable GPU it prints why and exits 0 with "0 passed, 0 failed, N skipped".
// Build and run: cmake -S . -B build-emu -DLEMMA_CUDA=EMULATE -G Ninja && ninja -C build-emu dp_cuda_test &&
//   build-emu/dp_cuda_test
// Exit code 0 iff every check passed.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "attention/attention_cuda.h"
#include "core/cuda_info.h"
#include "dp/dp.h"
#if defined(LEMMA_CUDA_EMULATE)
#include "emulate/control.h"
#endif

#include "cuda_test_harness.h"

using namespace lemma;
using lemma_test::report;
using lemma_test::Rng;
using lemma_test::settled_bytes;

namespace {

struct Case {
  int64_t d;
  int levels, grid_bits;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  for (int64_t d : {1, 2, 3, 8, 31, 32, 33, 40})
    for (int L : {1, 4, 12}) {
      if (d > 8 && L == 1) continue;
      for (int q : {L, L + 3, 32}) out.push_back({d, L, q});
    }
  return out;
}

#if defined(LEMMA_WITH_CUDA)

double max_abs(const std::vector<double>& a) {
  double m = 0;
  for (double x : a) m = std::max(m, std::fabs(x));
  return m;
}
double max_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

struct Tree {
  DpL1Params p;
  std::vector<double> lo, hi, cnt, sum;
};

// An exact tree over n random points, then noise of scale ~3 on every stored node (what a
// release looks like; the query is post-processing and must not care).
Tree make_tree(const Case& c, Rng& r) {
  Tree t;
  t.p.d = c.d;
  t.p.n = 200;
  t.p.levels = c.levels;
  t.p.grid_bits = c.grid_bits;
  for (int64_t j = 0; j < c.d; ++j) {
    t.lo.push_back(-1.0 - r.uniform());
    t.hi.push_back(t.lo.back() + 0.5 + 3.0 * r.uniform());
  }
  t.p.lo = t.lo.data();
  t.p.hi = t.hi.data();
  std::vector<double> X(t.p.n * c.d);
  for (int64_t i = 0; i < t.p.n; ++i)
    for (int64_t j = 0; j < c.d; ++j) X[i * c.d + j] = t.lo[j] + (t.hi[j] - t.lo[j]) * r.uniform();
  const int64_t N = dp_slots(c.levels);
  t.cnt.assign(c.d * N, 0.0);
  t.sum.assign(c.d * N, 0.0);
  const Status st = dp_l1_build_cpu(t.p, X.data(), t.cnt.data(), t.sum.data());
  if (!st.ok()) std::printf("build: %s\n", st.message.c_str());
  for (int64_t j = 0; j < c.d; ++j)
    for (int64_t v = 2; v < N; ++v) {
      t.cnt[j * N + v] += 3.0 * r.normal();
      t.sum[j * N + v] += 3.0 * std::ldexp(1.0, c.grid_bits - 1) * r.normal();
    }
  return t;
}

// Queries: uniform over the range widened by half its width on each side, then rows that sit
// on grid points (leaf edges: the own-leaf rule's ties) and on the range ends.
std::vector<double> make_queries(const Tree& t, int64_t q, Rng& r) {
  const int64_t d = t.p.d;
  std::vector<double> Y(q * d);
  const double top = std::ldexp(1.0, t.p.grid_bits) - 1.0;
  for (int64_t i = 0; i < q; ++i)
    for (int64_t j = 0; j < d; ++j) {
      const double w = t.hi[j] - t.lo[j];
      double y = t.lo[j] - 0.5 * w + 2.0 * w * r.uniform();
      if (i % 5 == 1) y = t.lo[j] + w / top * std::floor(top * r.uniform());  // a grid point
      if (i % 7 == 2) y = (i + j) % 2 ? t.lo[j] : t.hi[j];
      Y[i * d + j] = y;
    }
  return Y;
}

void check_case(const Case& c, uint64_t seed) {
  Rng r(seed);
  const Tree t = make_tree(c, r);
  char name[96];
  std::snprintf(name, sizeof name, "d=%lld L=%d q=%d", (long long)c.d, c.levels, c.grid_bits);
  for (int64_t q : {int64_t{1}, int64_t{301}}) {
    const std::vector<double> Y = make_queries(t, q, r);
    std::vector<double> cpu(q), ref(q), gpu(q, std::nan(""));
    const int64_t mem0 = settled_bytes();
    const Status sc = dp_l1_query_cpu(t.p, t.cnt.data(), t.sum.data(), Y.data(), q, cpu.data());
    const Status sr = dp_l1_query_ref(t.p, t.cnt.data(), t.sum.data(), Y.data(), q, ref.data());
    const Status sg = dp_l1_query_cuda(t.p, t.cnt.data(), t.sum.data(), Y.data(), q, gpu.data());
    const int64_t mem1 = settled_bytes();
    const double scale = std::max(1.0, max_abs(cpu));
    const double e_cpu = max_diff(gpu, cpu) / scale, e_ref = max_diff(gpu, ref) / scale;
    char buf[256];
    std::snprintf(buf, sizeof buf, "query %s batch %lld: |cuda-cpu|/max %.2e, |cuda-ref|/max %.2e, bytes %lld -> %lld%s%s",
                  name, (long long)q, e_cpu, e_ref, (long long)mem0, (long long)mem1,
                  sg.ok() ? "" : (" " + sg.message).c_str(), sc.ok() && sr.ok() ? "" : " (cpu/ref failed)");
    report(sg.ok() && sc.ok() && sr.ok() && e_cpu <= 1e-12 && e_ref <= 1e-12 && mem1 == mem0, buf);
  }
}

void check_edges() {
  Rng r(77);
  const Tree t = make_tree({5, 6, 9}, r);
  // Empty batch: nothing written, nothing allocated.
  std::vector<double> out(3, 42.0);
  const int64_t mem0 = settled_bytes();
  Status st = dp_l1_query_cuda(t.p, t.cnt.data(), t.sum.data(), nullptr, 0, out.data());
  report(st.ok() && out[0] == 42.0 && settled_bytes() == mem0, "empty batch: Ok, out untouched, no memory held");
  // A non-finite query.
  std::vector<double> Y = make_queries(t, 3, r);
  Y[7] = std::nan("");
  st = dp_l1_query_cuda(t.p, t.cnt.data(), t.sum.data(), Y.data(), 3, out.data());
  report(st.code == Code::kRange && settled_bytes() == mem0, std::string("NaN query: ") + code_name(st.code));
  Y[7] = INFINITY;
  st = dp_l1_query_cuda(t.p, t.cnt.data(), t.sum.data(), Y.data(), 3, out.data());
  report(st.code == Code::kRange, std::string("+inf query: ") + code_name(st.code));
}

#if defined(LEMMA_CUDA_EMULATE)
// Every allocation of the call fails in turn: ERR_CUDA_OOM, and nothing stays allocated.
void check_oom() {
  Rng r(5);
  const Tree t = make_tree({4, 5, 7}, r);
  const std::vector<double> Y = make_queries(t, 20, r);
  std::vector<double> out(20);
  const int64_t mem0 = settled_bytes();
  const lemma_test::OomSweep o = lemma_test::oom_sweep(
      32, mem0, [&] { return dp_l1_query_cuda(t.p, t.cnt.data(), t.sum.data(), Y.data(), 20, out.data()); });
  char buf[160];
  std::snprintf(buf, sizeof buf, "injected OOM at each of %d allocations: ERR_CUDA_OOM each time, %d leaks, then success",
                o.failures, o.leaks);
  report(o.finished && o.failures >= 6 && o.leaks == 0, buf);
}
#endif

#endif  // LEMMA_WITH_CUDA

}  // namespace

int main() {
  const std::vector<Case> all = cases();
  size_t checks = all.size() * 2 + 3;
#if defined(LEMMA_CUDA_EMULATE)
  checks += 1;  // the injected allocation failures
#endif
  if (!lemma_test::cuda_test_start("dp_cuda_test", static_cast<long long>(checks), false)) return 0;
#if defined(LEMMA_WITH_CUDA)
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t seed = 1;
  for (const Case& c : all) check_case(c, seed++);
  check_edges();
#if defined(LEMMA_CUDA_EMULATE)
  check_oom();
#endif
  std::printf("# %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
#endif
  return lemma_test::finish();
}
