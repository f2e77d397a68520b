// poly_attention_test: the fast polynomial-attention path (chunked prefix sums over Taylor
// features) against the fp64 pair-by-pair oracle poly_attention_*_ref, for out, norm, dq, dk, dv.
//   fp64 fast path: max|x - ref| <= 1e-10 max|ref| (the algorithm is exact: AG-1's bound)
//   fp32 fast path, every SIMD level this CPU has: <= 2e-5 max|ref| forward, 1e-4 backward.
//     (fp32 features are products of <= g + 1 rounded factors; out and c are sums over N keys
//     carried through N / C chunk states, and backward adds one more product and sum: a few
//     hundred u = 6e-8 at these sizes. A wrong mask, chunk boundary or feature index is an O(1)
//     error.)
// Grid: degree 2 / 4 (and 6 at D = 3), D in {1, 3, 8, 16, 32}, causal and not, Nq != Nk both ways
// (rows that see no key: out = 0, c = 0, zero gradients), grouped heads, chunks 8 / 16 / 64 with
// tails, the feature limit (ERR_RANGE).
// Build and run: npx cmake-js build && build/Release/../poly_attention_test (next to the addon)
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "poly_attention/poly_attention.h"

#include "test_harness.h"

using namespace lemma;

namespace {

using lemma_test::report;
using lemma_test::Rng;

struct Case {
  int64_t B = 1, Hq = 1, Hkv = 1, Nq = 100, Nk = 100, D = 8;
  int degree = 2, chunk = 16;
  bool causal = true;
  double scale = 0;  // 0: 1/sqrt(D)
};

std::string name(const Case& c) {
  char b[160];
  std::snprintf(b, sizeof b, "B=%lld Hq=%lld Hkv=%lld Nq=%lld Nk=%lld D=%lld g=%d chunk=%d causal=%d",
                (long long)c.B, (long long)c.Hq, (long long)c.Hkv, (long long)c.Nq, (long long)c.Nk,
                (long long)c.D, c.degree, c.chunk, int(c.causal));
  return b;
}

double max_abs(const std::vector<double>& a) {
  double m = 0;
  for (double x : a) m = std::max(m, std::fabs(x));
  return m;
}
// max|x - ref| / scale; scale defaults to max|ref|. Gradients are all measured against the
// largest gradient entry of the three (dq and dk vanish when every row sees one key).
double rel_err(const std::vector<double>& ref, const double* x, double scale = 0) {
  double e = 0;
  for (size_t i = 0; i < ref.size(); ++i) e = std::max(e, std::fabs(x[i] - ref[i]));
  const double m = scale > 0 ? scale : max_abs(ref);
  return m > 0 ? e / m : e;
}

template <typename T>
std::vector<double> widen(const std::vector<T>& a) { return std::vector<double>(a.begin(), a.end()); }

void check(const Case& c, uint64_t seed) {
  PolyAttentionParams p;
  p.B = c.B, p.Hq = c.Hq, p.Hkv = c.Hkv, p.Nq = c.Nq, p.Nk = c.Nk, p.D = c.D;
  p.degree = c.degree, p.chunk = c.chunk, p.causal = c.causal;
  p.scale = c.scale > 0 ? c.scale : 1.0 / std::sqrt(double(c.D));
  Rng rng(seed);
  const size_t nq = size_t(c.B * c.Hq * c.Nq * c.D), nk = size_t(c.B * c.Hkv * c.Nk * c.D);
  const size_t nn = size_t(c.B * c.Hq * c.Nq);
  std::vector<double> q(nq), k(nk), v(nk), dout(nq);
  for (auto& x : q) x = rng.normal();
  for (auto& x : k) x = rng.normal();
  for (auto& x : v) x = rng.normal();
  for (auto& x : dout) x = rng.normal();
  std::vector<double> out(nq), norm(nn), dq(nq), dk(nk), dv(nk);
  Status st = poly_attention_forward_ref(p, q.data(), k.data(), v.data(), out.data(), norm.data());
  st = st.ok() ? poly_attention_backward_ref(p, q.data(), k.data(), v.data(), out.data(), norm.data(), dout.data(),
                                             dq.data(), dk.data(), dv.data())
               : st;
  if (!st.ok()) return report(false, name(c) + ": oracle failed: " + st.message);
  const double gs = std::max({max_abs(dq), max_abs(dk), max_abs(dv)});

  {  // fp64 fast path
    std::vector<double> o(nq), n(nn), gq(nq), gk(nk), gv(nk);
    st = poly_attention_forward_cpu(p, q.data(), k.data(), v.data(), o.data(), n.data());
    st = st.ok() ? poly_attention_backward_cpu(p, q.data(), k.data(), v.data(), out.data(), norm.data(), dout.data(),
                                               gq.data(), gk.data(), gv.data())
                 : st;
    if (!st.ok()) return report(false, name(c) + " fp64: " + st.message);
    const double e = std::max({rel_err(out, o.data()), rel_err(norm, n.data()), rel_err(dq, gq.data(), gs),
                               rel_err(dk, gk.data(), gs), rel_err(dv, gv.data(), gs)});
    char b[64];
    std::snprintf(b, sizeof b, " fp64: max rel err %.2e", e);
    report(e <= 1e-10, name(c) + b);
  }
  std::vector<float> qf(q.begin(), q.end()), kf(k.begin(), k.end()), vf(v.begin(), v.end()),
      df(dout.begin(), dout.end());
  for (SimdLevel lvl : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (int(lvl) > int(simd_supported())) continue;
    set_simd_level(lvl);
    std::vector<float> o(nq), n(nn), gq(nq), gk(nk), gv(nk);
    st = poly_attention_forward_cpu(p, qf.data(), kf.data(), vf.data(), o.data(), n.data());
    st = st.ok() ? poly_attention_backward_cpu(p, qf.data(), kf.data(), vf.data(), o.data(), n.data(), df.data(),
                                               gq.data(), gk.data(), gv.data())
                 : st;
    if (!st.ok()) {
      report(false, name(c) + " fp32 " + simd_level_name(lvl) + ": " + st.message);
      continue;
    }
    const double ef = std::max(rel_err(out, widen(o).data()), rel_err(norm, widen(n).data()));
    const double eb = std::max({rel_err(dq, widen(gq).data(), gs), rel_err(dk, widen(gk).data(), gs),
                                rel_err(dv, widen(gv).data(), gs)});
    char b[96];
    std::snprintf(b, sizeof b, " fp32 %s: fwd %.2e bwd %.2e", simd_level_name(lvl), ef, eb);
    report(ef <= 2e-5 && eb <= 1e-4, name(c) + b);
  }
  set_simd_level(simd_supported());
}

}  // namespace

int main() {
  std::printf("simd supported: %s, threads %d\n", simd_level_name(simd_supported()), ThreadPool::size());
  uint64_t seed = 1;
  for (int degree : {2, 4}) {
    for (int64_t D : {1, 3, 8, 16}) {
      for (bool causal : {false, true}) {
        Case c;
        c.D = D, c.degree = degree, c.causal = causal, c.Nq = 77, c.Nk = 77;
        check(c, seed++);
      }
    }
  }
  {
    Case c;  // D = 32, degree 2 (r = 561), two chunk sizes, a long tail
    c.D = 32, c.Nq = c.Nk = 300, c.chunk = 64;
    check(c, seed++);
    c.chunk = 8;
    check(c, seed++);
  }
  {
    Case c;  // degree 6 (r = 84 at D = 3)
    c.D = 3, c.degree = 6, c.Nq = c.Nk = 130;
    check(c, seed++);
  }
  for (bool causal : {false, true}) {
    Case c;  // grouped heads, Nq < Nk (keys before the first query), Nq > Nk (rows see nothing)
    c.B = 2, c.Hq = 4, c.Hkv = 2, c.D = 8, c.Nq = 50, c.Nk = 123, c.causal = causal;
    check(c, seed++);
    c.Nq = 123, c.Nk = 50;
    check(c, seed++);
    c.Nq = 1, c.Nk = 1;
    check(c, seed++);
    c.Nq = 40, c.Nk = 7, c.chunk = 16;
    check(c, seed++);
  }
  {
    PolyAttentionParams p;  // degree 4 at D = 64: C(68, 4) = 814,385 features > 2^16
    p.B = p.Hq = p.Hkv = 1, p.Nq = p.Nk = 4, p.D = 64, p.degree = 4, p.scale = 0.125;
    std::vector<float> x(4 * 64), o(4 * 64), n(4);
    const Status st = poly_attention_forward_cpu(p, x.data(), x.data(), x.data(), o.data(), n.data());
    report(st.code == Code::kRange && st.message.find("814385 features") != std::string::npos,
           "degree 4 at D = 64 is refused with ERR_RANGE: " + st.message);
    report(poly_attention_features(16, 2) == 153 && poly_attention_features(64, 2) == 2145 &&
               poly_attention_features(8, 4) == 495,
           "feature counts C(D + g, g): 153, 2145, 495");
  }
  // The dense products of lemma.nn: fp32 (each SIMD level) and fp64 against plain fp64 loops, for
  // every transpose combination and sizes that are not multiples of the register tiles.
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      const int64_t m = 75, k = 33, n = 19;
      Rng rng(seed++);
      std::vector<double> A(m * k), B(k * n), ref(m * n, 0.0);
      for (auto& x : A) x = rng.normal();
      for (auto& x : B) x = rng.normal();
      auto a = [&](int64_t i, int64_t p) { return ta ? A[p * m + i] : A[i * k + p]; };
      auto b = [&](int64_t p, int64_t j) { return tb ? B[j * k + p] : B[p * n + j]; };
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j)
          for (int64_t p = 0; p < k; ++p) ref[i * n + j] += a(i, p) * b(p, j);
      std::vector<double> C(m * n, 7.0);  // overwritten, not accumulated
      Status st = poly_matmul_cpu(A.data(), B.data(), C.data(), m, k, n, ta, tb);
      double e = rel_err(ref, C.data());
      std::vector<float> Af(A.begin(), A.end()), Bf(B.begin(), B.end());
      for (SimdLevel lvl : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
        if (int(lvl) > int(simd_supported())) continue;
        set_simd_level(lvl);
        std::vector<float> Cf(m * n, 7.0f);
        const Status s2 = poly_matmul_cpu(Af.data(), Bf.data(), Cf.data(), m, k, n, ta, tb);
        st = st.ok() ? s2 : st;
        e = std::max(e, 1e-7 * rel_err(ref, widen(Cf).data()));  // fp32: scaled to the fp64 bar
      }
      set_simd_level(simd_supported());
      char buf[96];
      std::snprintf(buf, sizeof buf, "matmul %lldx%lldx%lld ta=%d tb=%d: rel err (fp64; fp32 x 1e-7) %.2e",
                    (long long)m, (long long)k, (long long)n, int(ta), int(tb), e);
      report(st.ok() && e <= 1e-12, buf);
    }
  }
  return lemma_test::finish();
}
