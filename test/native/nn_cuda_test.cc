// nn_cuda_test: the kernels of the CUDA path of lemma.nn.attentionStack (cuda/nn/nn_stack.cu).
//   sgemm:   C = (acc ? C : 0) + op(A) op(B) + bias + residual against a double-precision loop,
//            for op(A), op(B) in {N, T}, with and without the epilogue terms, over shapes that are
//            not multiples of the 64 x 64 x 16 tile (1 x 1 x 1 up to 130 x 200 x 129):
//            |C − ref| <= 4·K·2⁻²⁴ · Σ_k |a_ik b_kj| + 2⁻²⁴·|epilogue| per element; and bitwise
//            reproducible (a second run gives the same bits)
//   layer:   forward then backward of one layer (B 2, N 5, H 2, Dh 4, m 12) run twice give the
//            same bits, every output finite (the stack's values are checked against the CPU stack
//            in test/gpu/nn-stack.gpu.test.ts)
//   memory:  cuda_bytes_in_use() returns to its start after every call; on the emulated device an
//            allocation failure injected at each workspace allocation of the layer calls comes
//            back as ERR_CUDA_OOM without a leak
// Without a usable GPU it prints why and exits 0 with "0 passed, 0 failed, N skipped".
// Exit code 0 iff every check passed.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "attention/attention_cuda.h"
#include "core/cuda_info.h"
#if defined(LEMMA_WITH_CUDA)
#include "nn/nn_cuda.h"
#endif

#include "cuda_test_harness.h"

using namespace lemma;
using lemma_test::report;
using lemma_test::Rng;
using lemma_test::settled_bytes;

namespace {

#if defined(LEMMA_WITH_CUDA)

// The first failure of a test buffer's allocation or upload (the emulated allocation-failure
// sweep reaches them too).
Status g_dev_status;

struct Dev {
  float* p = nullptr;
  size_t n = 0;
  Dev() = default;
  explicit Dev(const std::vector<float>& h) : n(h.size()) {
    void* v = nullptr;
    Status st = cuda_alloc(&v, std::max<size_t>(n, 1) * 4);
    p = static_cast<float*>(v);
    if (st.ok() && n) st = cuda_upload(p, h.data(), n * 4, DeviceDtype::kF32, false, nullptr);
    if (!st.ok() && g_dev_status.ok()) g_dev_status = st;
  }
  ~Dev() { (void)cuda_free(p); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  std::vector<float> get() const {
    std::vector<float> h(n);
    if (n && !cuda_download(h.data(), false, p, n, DeviceDtype::kF32, nullptr).ok()) std::abort();
    return h;
  }
};

std::vector<float> randn(Rng& r, size_t n) {
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(r.normal());
  return v;
}

void check_gemm(int64_t M, int64_t N, int64_t K, bool ta, bool tb, bool epi, uint64_t seed) {
  Rng r(seed);
  const std::vector<float> A = randn(r, M * K), B = randn(r, K * N), C0 = randn(r, M * N), bias = randn(r, N),
                           res = randn(r, M * N);
  const int64_t mem0 = settled_bytes();
  std::vector<float> out, again;
  Status st;
  {
    Dev dA(A), dB(B), dC(C0), dbias(bias), dres(res);
    st = nn_sgemm_cuda(ta, tb, M, N, K, dA.p, dB.p, dC.p, epi, epi ? dbias.p : nullptr, epi ? dres.p : nullptr, nullptr);
    if (st.ok()) st = cuda_synchronize();
    out = dC.get();
    Dev dC2(C0);
    if (st.ok()) st = nn_sgemm_cuda(ta, tb, M, N, K, dA.p, dB.p, dC2.p, epi, epi ? dbias.p : nullptr, epi ? dres.p : nullptr, nullptr);
    if (st.ok()) st = cuda_synchronize();
    again = dC2.get();
  }
  const std::string name = "sgemm " + std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K) + (ta ? " T" : " N") +
                           (tb ? "T" : "N") + (epi ? " acc+bias+res" : "");
  if (!st.ok()) {
    report(false, name + ": " + st.message);
    return;
  }
  double worst = 0;  // error / bound
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0, mag = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double a = ta ? A[k * M + i] : A[i * K + k];
        const double b = tb ? B[j * K + k] : B[k * N + j];
        s += a * b;
        mag += std::fabs(a * b);
      }
      double e = 0;
      if (epi) e = static_cast<double>(C0[i * N + j]) + bias[j] + res[i * N + j];
      const double ref = s + e;
      const double bound = 4.0 * K * std::ldexp(mag, -24) + 4.0 * std::ldexp(std::fabs(e) + std::fabs(ref), -24) + 1e-30;
      worst = std::max(worst, std::fabs(out[i * N + j] - ref) / bound);
    }
  const bool same = std::memcmp(out.data(), again.data(), out.size() * 4) == 0;
  const bool leak = settled_bytes() != mem0;
  char buf[160];
  std::snprintf(buf, sizeof buf, ": max error / bound %.3f%s%s", worst, same ? "" : ", NOT reproducible", leak ? ", LEAK" : "");
  report(worst <= 1.0 && same && !leak, name + buf);
}

struct Layer {
  NnLayerDims d{2, 5, 2, 4, 12, true};
  int64_t dm() const { return d.H * d.Dh; }
  int64_t R() const { return d.B * d.N; }
};

// One layer's forward and backward on random weights; returns every output, concatenated.
Status run_layer(const Layer& L, uint64_t seed, std::vector<float>* all) {
  Rng r(seed);
  const int64_t d = L.dm(), m = L.d.m, R = L.R();
  auto scaled = [&](size_t n, double s) {
    std::vector<float> v = randn(r, n);
    for (float& x : v) x = static_cast<float>(x * s);
    return v;
  };
  Dev T(scaled(R * d, 1)), Wq(scaled(d * d, 0.3)), Wk(scaled(d * d, 0.3)), Wv(scaled(d * d, 0.5)), Wo(scaled(d * d, 0.5)),
      W1(scaled(d * m, 0.5)), b1(scaled(m, 0.1)), W2(scaled(m * d, 0.3)), b2(scaled(d, 0.1)), G(scaled(R * d, 1));
  std::vector<float> zd(R * d), zm(R * m), zl(R * L.d.H);
  Dev qh(zd), kh(zd), vh(zd), oh(zd), lse(zl), O(zd), Z(zd), h1(zm), a1(zm), Tn(zd), Ts(zd), dT(zd);
  const std::vector<float> zdd(d * d), zdm(d * m), zm1(m), zd1(d);
  Dev gq(zdd), gk(zdd), gv(zdd), go(zdd), g1(zdm), gb1(zm1), g2(zdm), gb2(zd1);
  if (!g_dev_status.ok()) {
    const Status st = g_dev_status;
    g_dev_status = Status::Ok();
    return st;
  }
  const NnLayerWeights w{Wq.p, Wk.p, Wv.p, Wo.p, W1.p, b1.p, W2.p, b2.p};
  const NnLayerTape t{qh.p, kh.p, vh.p, oh.p, lse.p, O.p, Z.p, h1.p, a1.p};
  const NnLayerGrads g{gq.p, gk.p, gv.p, go.p, g1.p, gb1.p, g2.p, gb2.p};
  LEMMA_RETURN_IF_ERROR(nn_layer_forward_cuda(L.d, w, T.p, Ts.p, t, Tn.p, nullptr));
  LEMMA_RETURN_IF_ERROR(nn_layer_backward_cuda(L.d, w, Ts.p, t, G.p, dT.p, g, nullptr));
  LEMMA_RETURN_IF_ERROR(cuda_synchronize());
  if (all) {
    all->clear();
    for (const Dev* x : {&Tn, &Ts, &dT, &gq, &gk, &gv, &go, &g1, &gb1, &g2, &gb2}) {
      const std::vector<float> h = x->get();
      all->insert(all->end(), h.begin(), h.end());
    }
  }
  return Status::Ok();
}

void check_layer() {
  Layer L;
  const int64_t mem0 = settled_bytes();
  std::vector<float> a, b;
  Status st = run_layer(L, 7, &a);
  if (st.ok()) st = run_layer(L, 7, &b);
  if (!st.ok()) {
    report(false, "layer forward + backward: " + st.message);
    return;
  }
  bool finite = true;
  for (float x : a) finite = finite && std::isfinite(x);
  const bool same = a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
  report(finite && same && settled_bytes() == mem0, std::string("layer forward + backward: ") + (finite ? "finite" : "NOT finite") +
                                                        (same ? ", bitwise reproducible" : ", NOT reproducible"));
#if defined(LEMMA_CUDA_EMULATE)
  // Allocation failures at every allocation of the call (the test's 30 buffers first, then the
  // layers' workspace and attention's staging copies).
  int oom = 0, other = 0, leaks = 0;
  bool finished = false;
  for (int k = 1; k <= 120 && !finished; ++k) {
    emu::fail_allocation_after(k);
    const Status s = run_layer(L, 7, nullptr);
    emu::fail_allocation_after(0);
    if (s.ok()) finished = true;
    else if (s.code == Code::kCudaOom) ++oom;
    else ++other, std::printf("allocation %d: %s\n", k, s.message.c_str());
    leaks += settled_bytes() != mem0;
  }
  char buf[120];
  std::snprintf(buf, sizeof buf, "layer allocation failures: %d ERR_CUDA_OOM, %d other, %d leaks", oom, other, leaks);
  report(finished && oom > 0 && other == 0 && leaks == 0, buf);
#endif
}

#endif  // LEMMA_WITH_CUDA

}  // namespace

int main() {
  const int64_t shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {64, 64, 16}, {65, 63, 17}, {70, 130, 33}, {5, 200, 129}, {130, 2, 40}};
  const size_t n_shapes = sizeof shapes / sizeof shapes[0];
  long long checks = static_cast<long long>(n_shapes * 8 + 1);
#if defined(LEMMA_CUDA_EMULATE)
  checks += 1;
#endif
  if (!lemma_test::cuda_test_start("nn_cuda_test", checks, false)) return 0;
#if defined(LEMMA_WITH_CUDA)
  uint64_t seed = 1;
  for (const auto& s : shapes)
    for (int c = 0; c < 8; ++c) check_gemm(s[0], s[1], s[2], c & 1, (c >> 1) & 1, (c >> 2) & 1, seed++);
  check_layer();
#endif
  return lemma_test::finish();
}
