// Fast CPU path of polynomial attention (see poly_attention.h for the math): chunked causal prefix
// sums over Taylor features, fp32 (SIMD GEMM per ISA) or fp64 (plain loops), threaded over heads.
//
// Per chunk of C rows, with Φ^T (r x C) the chunk's features (one column per row) and Φ (C x r):
//   forward   A = Φ_Q Φ_K^T (C x C, masked to the chunk's lower triangle)
//             O = A V_c + Φ_Q S,  c = A 1 + Φ_Q z;   then S += Φ_K^T V_c, z += Φ_K^T 1
//   backward  forward sweep:  dΦ_Q^T = Φ_K^T E^T + S gA^T + z gc^T   (E^T = V_c gA^T + 1 gc^T, masked)
//             reverse sweep:  dΦ_K^T = Φ_Q^T E + U V_c^T + u 1^T,  dV = W^T gA + Φ_K U
//                             (W^T = Φ_K Φ_Q^T masked); then U += Φ_Q^T gA, u += Φ_Q^T gc
// where the query chunk [i0, i0 + C) pairs with the key chunk [i0 + off, i0 + off + C),
// off = Nk - Nq (bottom-right causal), and keys [0, off) (seen by every query) enter S, z before
// the first chunk. Non-causal: S, z (and U, u) are totals, no C x C blocks.
// Features: φ over monomials in graded order, each monomial = its parent times one variable
// x_j with j >= the parent's last variable: φ_m = φ_parent · x_j / √(multiplicity of j in m)
// (r - 1 multiplies per row; its Jacobian-transpose is the same walk in reverse).
// Every GEMM runs over the whole chunk; masked entries are zeroed after (half of the C x C work
// is wasted, C² r against the C r D of the state updates).
// Tests: test/native/poly_attention_test.cc (vs the fp64 oracle, every SIMD level),
// test/50.poly-attention-exactness.test.ts. Bench: bench/node/poly-attention.bench.ts.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "poly_attention/poly_attention.h"

namespace lemma {

namespace scalar {
void poly_gemm_f32(int M, int N, int K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                   int64_t ldc);
}
namespace avx2 {
void poly_gemm_f32(int M, int N, int K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                   int64_t ldc);
}
namespace avx512 {
void poly_gemm_f32(int M, int N, int K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                   int64_t ldc);
}

namespace {

using GemmF32 = void (*)(int, int, int, const float*, int64_t, const float*, int64_t, float*, int64_t);

GemmF32 gemm_for(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAvx512: return avx512::poly_gemm_f32;
    case SimdLevel::kAvx2: return avx2::poly_gemm_f32;
    default: return scalar::poly_gemm_f32;
  }
}

// C += A B (row-major). fp32 goes to the SIMD kernel; fp64 is plain i-k-n loops.
struct Gemm {
  GemmF32 f32;
  void operator()(int M, int N, int K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                  int64_t ldc) const {
    f32(M, N, K, A, lda, B, ldb, C, ldc);
  }
  void operator()(int M, int N, int K, const double* A, int64_t lda, const double* B, int64_t ldb, double* C,
                  int64_t ldc) const {
    for (int i = 0; i < M; ++i)
      for (int k = 0; k < K; ++k) {
        const double a = A[i * lda + k];
        const double* b = B + k * ldb;
        double* c = C + i * ldc;
        for (int n = 0; n < N; ++n) c[n] += a * b[n];
      }
  }
};

// The monomials of degree <= g in D variables, graded, each from its parent.
struct FeatureMap {
  int64_t r = 0;
  std::vector<int32_t> parent, var;
  std::vector<double> coef;
  FeatureMap(int64_t D, int g) {
    std::vector<int32_t> last{-1}, run{0};
    parent.push_back(-1);
    var.push_back(-1);
    coef.push_back(1.0);
    int64_t lo = 0, hi = 1;  // the previous degree's monomials
    for (int t = 1; t <= g; ++t) {
      for (int64_t m = lo; m < hi; ++m) {
        for (int32_t j = std::max<int32_t>(last[m], 0); j < D; ++j) {
          const int32_t mult = j == last[m] ? run[m] + 1 : 1;
          parent.push_back(static_cast<int32_t>(m));
          var.push_back(j);
          coef.push_back(1.0 / std::sqrt(double(mult)));
          last.push_back(j);
          run.push_back(mult);
        }
      }
      lo = hi;
      hi = static_cast<int64_t>(parent.size());
    }
    r = hi;
  }
};

template <typename T>
void transpose(const T* src, int rows, int cols, int64_t lds, T* dst, int64_t ldd) {
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) dst[j * ldd + i] = src[i * lds + j];
}

// Per-worker scratch for one head's sweeps (sizes from r, C, D).
template <typename T>
struct Work {
  int64_t r, C, D;
  std::vector<T> xt, phit, phi, gxt;       // x^T (D x C), Φ^T (r x C), Φ (C x r), dx^T (D x C)
  std::vector<T> xt2, phit2, phi2;         // the other side's chunk
  std::vector<T> vc, vct;                  // V_c (C x D), V_c^T (D x C)
  std::vector<T> ga, gat, gc;              // gA (C x D), gA^T (D x C), gc (C)
  std::vector<T> blk, tmp;                 // C x C block; C x D
  std::vector<T> dphit;                    // dΦ^T (r x C)
  std::vector<T> S, z;                     // state (r x D), (r)
  Work(int64_t r_, int64_t C_, int64_t D_) : r(r_), C(C_), D(D_) {
    xt.resize(D * C); phit.resize(r * C); phi.resize(C * r); gxt.resize(D * C);
    xt2.resize(D * C); phit2.resize(r * C); phi2.resize(C * r);
    vc.resize(C * D); vct.resize(D * C);
    ga.resize(C * D); gat.resize(D * C); gc.resize(C);
    blk.resize(C * C); tmp.resize(C * D);
    dphit.resize(r * C);
    S.resize(r * D); z.resize(r);
  }
};

template <typename T>
class Head {
 public:
  Head(const PolyAttentionParams& p, const FeatureMap& fm, const Gemm& gemm, Work<T>& w)
      : p_(p), fm_(fm), gemm_(gemm), w_(w), C_(p.chunk), D_(p.D), r_(fm.r),
        sq_(T(std::sqrt(p.scale))), off_(p.causal ? p.Nk - p.Nq : 0) {}

  // Rows [row0, row0 + C) of x (n rows) into xt (scaled by √scale), features into phit
  // (columns of rows outside [lo, hi) are zero), and phi = phit^T when want_rowmajor.
  void features(const T* x, int64_t row0, int64_t lo, int64_t hi, T* xt, T* phit, T* phi, bool want_rowmajor) {
    const int64_t C = C_, D = D_;
    std::vector<T> valid(C);
    for (int64_t c = 0; c < C; ++c) {
      const int64_t row = row0 + c;
      const bool ok = row >= lo && row < hi;
      valid[c] = ok ? T(1) : T(0);
      for (int64_t d = 0; d < D; ++d) xt[d * C + c] = ok ? x[row * D + d] * sq_ : T(0);
    }
    std::copy(valid.begin(), valid.end(), phit);
    for (int64_t m = 1; m < r_; ++m) {
      const T* par = phit + fm_.parent[m] * C;
      const T* xv = xt + fm_.var[m] * C;
      const T cf = T(fm_.coef[m]);
      T* dst = phit + m * C;
      for (int64_t c = 0; c < C; ++c) dst[c] = par[c] * xv[c] * cf;
    }
    if (want_rowmajor) transpose(phit, int(r_), int(C), C, phi, r_);
  }

  // gphit (r x C, destroyed) through the feature map into gxt (D x C), then rows of dx
  // (scaled by √scale) for rows in [lo, hi): dx[row] = value (accumulate = false) or += value.
  void features_backward(T* gphit, const T* xt, const T* phit, T* dx, int64_t row0, int64_t lo, int64_t hi,
                         bool accumulate) {
    const int64_t C = C_, D = D_;
    std::fill(w_.gxt.begin(), w_.gxt.end(), T(0));
    for (int64_t m = r_ - 1; m >= 1; --m) {
      const int64_t pm = fm_.parent[m], j = fm_.var[m];
      const T cf = T(fm_.coef[m]);
      T* g = gphit + m * C;
      T* gp = gphit + pm * C;
      const T* par = phit + pm * C;
      const T* xv = xt + j * C;
      T* gx = w_.gxt.data() + j * C;
      for (int64_t c = 0; c < C; ++c) {
        const T gm = g[c] * cf;
        gp[c] += gm * xv[c];
        gx[c] += gm * par[c];
      }
    }
    for (int64_t c = 0; c < C; ++c) {
      const int64_t row = row0 + c;
      if (row < lo || row >= hi) continue;
      for (int64_t d = 0; d < D; ++d) {
        const T val = w_.gxt[d * C + c] * sq_;
        if (accumulate) dx[row * D + d] += val;
        else dx[row * D + d] = val;
      }
    }
  }

  // Rows [row0, row0 + C) of v into vc (zero outside [lo, hi)) and vct = vc^T.
  void load_v(const T* v, int64_t row0, int64_t lo, int64_t hi) {
    const int64_t C = C_, D = D_;
    for (int64_t c = 0; c < C; ++c) {
      const int64_t row = row0 + c;
      const bool ok = row >= lo && row < hi;
      for (int64_t d = 0; d < D; ++d) {
        const T x = ok ? v[row * D + d] : T(0);
        w_.vc[c * D + d] = x;
        w_.vct[d * C + c] = x;
      }
    }
  }

  // S += Φ_K^T V_c, z += Φ_K^T 1 for the key chunk in phit2 / vc.
  void add_keys_to_state() {
    const int64_t C = C_, D = D_;
    gemm_(int(r_), int(D), int(C), w_.phit2.data(), C, w_.vc.data(), D, w_.S.data(), D);
    for (int64_t m = 0; m < r_; ++m) {
      const T* f = w_.phit2.data() + m * C;
      T s = 0;
      for (int64_t c = 0; c < C; ++c) s += f[c];
      w_.z[m] += s;
    }
  }

  // Zeroes blk[a][b] where the key is not visible: row-of-query m, key l (chunk-local), l > m.
  // transposed: blk is indexed [l][m] instead of [m][l].
  void mask(bool transposed) {
    const int64_t C = C_;
    for (int64_t a = 0; a < C; ++a)
      for (int64_t b = 0; b < C; ++b) {
        const int64_t m = transposed ? b : a, l = transposed ? a : b;
        if (l > m) w_.blk[a * C + b] = T(0);
      }
  }

  // Keys every query sees: all of them without the causal mask, [0, off) with it.
  int64_t shared_keys() const { return p_.causal ? std::max<int64_t>(0, off_) : p_.Nk; }

  // S, z from the keys every query sees (forward and the backward's forward sweep).
  void init_state(const T* K, const T* V) {
    std::fill(w_.S.begin(), w_.S.end(), T(0));
    std::fill(w_.z.begin(), w_.z.end(), T(0));
    const int64_t n = shared_keys();
    for (int64_t j0 = 0; j0 < n; j0 += C_) {
      features(K, j0, 0, n, w_.xt2.data(), w_.phit2.data(), nullptr, false);
      load_v(V, j0, 0, n);
      add_keys_to_state();
    }
  }

  void forward(const T* Q, const T* K, const T* V, T* O, T* norm) {
    const int64_t C = C_, D = D_, Nq = p_.Nq, Nk = p_.Nk;
    init_state(K, V);
    std::vector<T> c(C);
    for (int64_t i0 = 0; i0 < Nq; i0 += C) {
      const int64_t rows = std::min(C, Nq - i0);
      features(Q, i0, 0, Nq, w_.xt.data(), w_.phit.data(), w_.phi.data(), true);
      std::fill(w_.tmp.begin(), w_.tmp.end(), T(0));
      std::fill(c.begin(), c.end(), T(0));
      const int64_t kj0 = i0 + off_;
      if (p_.causal) {
        features(K, kj0, 0, Nk, w_.xt2.data(), w_.phit2.data(), nullptr, false);
        load_v(V, kj0, 0, Nk);
        std::fill(w_.blk.begin(), w_.blk.end(), T(0));
        gemm_(int(C), int(C), int(r_), w_.phi.data(), r_, w_.phit2.data(), C, w_.blk.data(), C);
        mask(false);
        for (int64_t m = 0; m < C; ++m) {
          T s = 0;
          for (int64_t l = 0; l < C; ++l) s += w_.blk[m * C + l];
          c[m] = s;
        }
        gemm_(int(C), int(D), int(C), w_.blk.data(), C, w_.vc.data(), D, w_.tmp.data(), D);
      }
      gemm_(int(C), int(D), int(r_), w_.phi.data(), r_, w_.S.data(), D, w_.tmp.data(), D);
      for (int64_t m = 0; m < C; ++m) {
        const T* f = w_.phi.data() + m * r_;
        T s = 0;
        for (int64_t t = 0; t < r_; ++t) s += f[t] * w_.z[t];
        c[m] += s;
      }
      for (int64_t m = 0; m < rows; ++m) {
        const T cm = c[m];
        for (int64_t d = 0; d < D; ++d) O[(i0 + m) * D + d] = cm > 0 ? w_.tmp[m * D + d] / cm : T(0);
        norm[i0 + m] = cm;
      }
      if (p_.causal) add_keys_to_state();
    }
  }

  // gA, gA^T, gc of query rows [i0, i0 + C).
  void load_grads(const T* O, const T* norm, const T* dO, int64_t i0) {
    const int64_t C = C_, D = D_;
    for (int64_t m = 0; m < C; ++m) {
      const int64_t row = i0 + m;
      const bool ok = row < p_.Nq && norm[row] > 0;
      T dot = 0;
      const T inv = ok ? T(1) / norm[row] : T(0);
      for (int64_t d = 0; d < D; ++d) {
        const T g = ok ? dO[row * D + d] * inv : T(0);
        w_.ga[m * D + d] = g;
        w_.gat[d * C + m] = g;
        if (ok) dot += dO[row * D + d] * O[row * D + d];
      }
      w_.gc[m] = ok ? -dot * inv : T(0);
    }
  }

  // dQ of this head (overwritten).
  void backward_q(const T* Q, const T* K, const T* V, const T* O, const T* norm, const T* dO, T* dQ) {
    const int64_t C = C_, D = D_, Nq = p_.Nq, Nk = p_.Nk;
    init_state(K, V);
    for (int64_t i0 = 0; i0 < Nq; i0 += C) {
      features(Q, i0, 0, Nq, w_.xt.data(), w_.phit.data(), nullptr, false);
      load_grads(O, norm, dO, i0);
      std::fill(w_.dphit.begin(), w_.dphit.end(), T(0));
      if (p_.causal) {
        const int64_t kj0 = i0 + off_;
        features(K, kj0, 0, Nk, w_.xt2.data(), w_.phit2.data(), nullptr, false);
        load_v(V, kj0, 0, Nk);
        // E^T[l][m] = V_l·gA_m + gc_m
        for (int64_t l = 0; l < C; ++l)
          for (int64_t m = 0; m < C; ++m) w_.blk[l * C + m] = w_.gc[m];
        gemm_(int(C), int(C), int(D), w_.vc.data(), D, w_.gat.data(), C, w_.blk.data(), C);
        mask(true);
        gemm_(int(r_), int(C), int(C), w_.phit2.data(), C, w_.blk.data(), C, w_.dphit.data(), C);
      }
      gemm_(int(r_), int(C), int(D), w_.S.data(), D, w_.gat.data(), C, w_.dphit.data(), C);
      for (int64_t t = 0; t < r_; ++t) {
        T* g = w_.dphit.data() + t * C;
        const T zt = w_.z[t];
        for (int64_t m = 0; m < C; ++m) g[m] += zt * w_.gc[m];
      }
      features_backward(w_.dphit.data(), w_.xt.data(), w_.phit.data(), dQ, i0, 0, Nq, false);
      if (p_.causal) add_keys_to_state();
    }
  }

  // dK, dV of this head's kv head, accumulated (the caller zeroes them once per group).
  // Uses S as U (r x D) and z as u (r).
  void backward_kv(const T* Q, const T* K, const T* V, const T* O, const T* norm, const T* dO, T* dK, T* dV) {
    const int64_t C = C_, D = D_, Nq = p_.Nq, Nk = p_.Nk;
    std::vector<T>& U = w_.S;
    std::vector<T>& u = w_.z;
    std::fill(U.begin(), U.end(), T(0));
    std::fill(u.begin(), u.end(), T(0));
    auto add_queries = [&]() {  // U += Φ_Q^T gA, u += Φ_Q^T gc (chunk in phit / ga / gc)
      gemm_(int(r_), int(D), int(C), w_.phit.data(), C, w_.ga.data(), D, U.data(), D);
      for (int64_t t = 0; t < r_; ++t) {
        const T* f = w_.phit.data() + t * C;
        T s = 0;
        for (int64_t m = 0; m < C; ++m) s += f[m] * w_.gc[m];
        u[t] += s;
      }
    };
    // Keys in phit2 / phi2 / vc / vct (rows [j0, j0 + C) valid in [lo, hi)): the state's share,
    // dΦ_K^T += U V_c^T + u 1^T, dV += Φ_K U; then through the features into dK.
    auto finish_keys = [&](int64_t j0, int64_t lo, int64_t hi) {
      gemm_(int(r_), int(C), int(D), U.data(), D, w_.vct.data(), C, w_.dphit.data(), C);
      for (int64_t t = 0; t < r_; ++t) {
        T* g = w_.dphit.data() + t * C;
        for (int64_t l = 0; l < C; ++l) g[l] += u[t];
      }
      gemm_(int(C), int(D), int(r_), w_.phi2.data(), r_, U.data(), D, w_.tmp.data(), D);
      for (int64_t l = 0; l < C; ++l) {
        const int64_t j = j0 + l;
        if (j < lo || j >= hi) continue;
        for (int64_t d = 0; d < D; ++d) dV[j * D + d] += w_.tmp[l * D + d];
      }
      features_backward(w_.dphit.data(), w_.xt2.data(), w_.phit2.data(), dK, j0, lo, hi, true);
    };
    auto plain_keys = [&](int64_t lo, int64_t hi) {  // keys [lo, hi) that see the whole U, u
      for (int64_t j0 = lo; j0 < hi; j0 += C) {
        features(K, j0, lo, hi, w_.xt2.data(), w_.phit2.data(), w_.phi2.data(), true);
        load_v(V, j0, lo, hi);
        std::fill(w_.dphit.begin(), w_.dphit.end(), T(0));
        std::fill(w_.tmp.begin(), w_.tmp.end(), T(0));
        finish_keys(j0, lo, hi);
      }
    };
    if (!p_.causal) {
      for (int64_t i0 = 0; i0 < Nq; i0 += C) {
        features(Q, i0, 0, Nq, w_.xt.data(), w_.phit.data(), nullptr, false);
        load_grads(O, norm, dO, i0);
        add_queries();
      }
      plain_keys(0, Nk);
      return;
    }
    const int64_t nchunks = (Nq + C - 1) / C;
    for (int64_t ci = nchunks - 1; ci >= 0; --ci) {
      const int64_t i0 = ci * C, kj0 = i0 + off_;
      features(Q, i0, 0, Nq, w_.xt.data(), w_.phit.data(), w_.phi.data(), true);
      load_grads(O, norm, dO, i0);
      features(K, kj0, 0, Nk, w_.xt2.data(), w_.phit2.data(), w_.phi2.data(), true);
      load_v(V, kj0, 0, Nk);
      // E[m][l] = gA_m·V_l + gc_m, masked; dΦ_K^T = Φ_Q^T E
      for (int64_t m = 0; m < C; ++m)
        for (int64_t l = 0; l < C; ++l) w_.blk[m * C + l] = w_.gc[m];
      gemm_(int(C), int(C), int(D), w_.ga.data(), D, w_.vct.data(), C, w_.blk.data(), C);
      mask(false);
      std::fill(w_.dphit.begin(), w_.dphit.end(), T(0));
      gemm_(int(r_), int(C), int(C), w_.phit.data(), C, w_.blk.data(), C, w_.dphit.data(), C);
      // W^T[l][m] = Φ_K[l]·Φ_Q[m], masked; dV = W^T gA (+ Φ_K U in finish_keys)
      std::fill(w_.blk.begin(), w_.blk.end(), T(0));
      gemm_(int(C), int(C), int(r_), w_.phi2.data(), r_, w_.phit.data(), C, w_.blk.data(), C);
      mask(true);
      std::fill(w_.tmp.begin(), w_.tmp.end(), T(0));
      gemm_(int(C), int(D), int(C), w_.blk.data(), C, w_.ga.data(), D, w_.tmp.data(), D);
      finish_keys(kj0, 0, Nk);
      add_queries();
    }
    plain_keys(0, shared_keys());
  }

 private:
  const PolyAttentionParams& p_;
  const FeatureMap& fm_;
  const Gemm& gemm_;
  Work<T>& w_;
  int64_t C_, D_, r_;
  T sq_;
  int64_t off_;
};

Status check_fast(const PolyAttentionParams& p) {
  LEMMA_RETURN_IF_ERROR(poly_attention_check_params(p));
  const int64_t r = poly_attention_features(p.D, p.degree);
  if (r < 0 || r > kPolyMaxFeatures)
    return Status::Error(Code::kRange, "polyAttention: degree " + std::to_string(p.degree) + " at D = " +
                                           std::to_string(p.D) + " needs " +
                                           (r < 0 ? std::string("over 2^62") : std::to_string(r)) +
                                           " features, more than the limit of " +
                                           std::to_string(kPolyMaxFeatures) + "; use a lower degree");
  return Status::Ok();
}

template <typename T>
Status forward_impl(const PolyAttentionParams& p, const T* q, const T* k, const T* v, T* out, T* norm) {
  LEMMA_RETURN_IF_ERROR(check_fast(p));
  const FeatureMap fm(p.D, p.degree);
  const Gemm gemm{gemm_for(simd_level())};
  const int64_t D = p.D, group = p.Hq / p.Hkv;
  ThreadPool::parallel_for(p.B * p.Hq, [&](int64_t bh, int) {
    const int64_t b = bh / p.Hq, hk = (bh % p.Hq) / group;
    Work<T> w(fm.r, p.chunk, D);
    Head<T> head(p, fm, gemm, w);
    const int64_t kv = (b * p.Hkv + hk) * p.Nk * D;
    head.forward(q + bh * p.Nq * D, k + kv, v + kv, out + bh * p.Nq * D, norm + bh * p.Nq);
  });
  return Status::Ok();
}

template <typename T>
Status backward_impl(const PolyAttentionParams& p, const T* q, const T* k, const T* v, const T* out,
                     const T* norm, const T* dout, T* dq, T* dk, T* dv) {
  LEMMA_RETURN_IF_ERROR(check_fast(p));
  const FeatureMap fm(p.D, p.degree);
  const Gemm gemm{gemm_for(simd_level())};
  const int64_t D = p.D, group = p.Hq / p.Hkv;
  // dQ: one task per query head; dK, dV: one per kv head, its group's query heads in order.
  ThreadPool::parallel_for(p.B * p.Hq + p.B * p.Hkv, [&](int64_t task, int) {
    Work<T> w(fm.r, p.chunk, D);
    Head<T> head(p, fm, gemm, w);
    if (task < p.B * p.Hq) {
      const int64_t bh = task, b = bh / p.Hq, hk = (bh % p.Hq) / group;
      const int64_t kv = (b * p.Hkv + hk) * p.Nk * D, qo = bh * p.Nq * D;
      head.backward_q(q + qo, k + kv, v + kv, out + qo, norm + bh * p.Nq, dout + qo, dq + qo);
      return;
    }
    const int64_t bk = task - p.B * p.Hq, b = bk / p.Hkv, hk = bk % p.Hkv;
    const int64_t kv = bk * p.Nk * D;
    std::fill(dk + kv, dk + kv + p.Nk * D, T(0));
    std::fill(dv + kv, dv + kv + p.Nk * D, T(0));
    for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
      const int64_t bh = b * p.Hq + h, qo = bh * p.Nq * D;
      head.backward_kv(q + qo, k + kv, v + kv, out + qo, norm + bh * p.Nq, dout + qo, dk + kv, dv + kv);
    }
  });
  return Status::Ok();
}

template <typename T>
Status matmul_impl(const T* A, const T* B, T* C, int64_t m, int64_t k, int64_t n, bool ta, bool tb) {
  if (m < 1 || k < 1 || n < 1 || m > (int64_t{1} << 31) || k > (int64_t{1} << 31) || n > (int64_t{1} << 31))
    return Status::Error(Code::kShape, "matmul: m, k, n must lie in [1, 2^31]");
  std::vector<T> at, bt;
  if (ta) {  // A stored [k, m]
    at.resize(size_t(m * k));
    for (int64_t p = 0; p < k; ++p)
      for (int64_t i = 0; i < m; ++i) at[size_t(i * k + p)] = A[p * m + i];
    A = at.data();
  }
  if (tb) {  // B stored [n, k]
    bt.resize(size_t(k * n));
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p) bt[size_t(p * n + j)] = B[j * k + p];
    B = bt.data();
  }
  const Gemm gemm{gemm_for(simd_level())};
  constexpr int64_t kRows = 64;
  ThreadPool::parallel_for((m + kRows - 1) / kRows, [&](int64_t blk, int) {
    const int64_t i0 = blk * kRows, rows = std::min(kRows, m - i0);
    std::fill(C + i0 * n, C + (i0 + rows) * n, T(0));
    gemm(int(rows), int(n), int(k), A + i0 * k, k, B, n, C + i0 * n, n);
  });
  return Status::Ok();
}

}  // namespace

Status poly_matmul_cpu(const float* A, const float* B, float* C, int64_t m, int64_t k, int64_t n, bool ta, bool tb) {
  return matmul_impl(A, B, C, m, k, n, ta, tb);
}
Status poly_matmul_cpu(const double* A, const double* B, double* C, int64_t m, int64_t k, int64_t n, bool ta,
                       bool tb) {
  return matmul_impl(A, B, C, m, k, n, ta, tb);
}

Status poly_attention_forward_cpu(const PolyAttentionParams& p, const float* q, const float* k, const float* v,
                                  float* out, float* norm) {
  return forward_impl(p, q, k, v, out, norm);
}
Status poly_attention_forward_cpu(const PolyAttentionParams& p, const double* q, const double* k,
                                  const double* v, double* out, double* norm) {
  return forward_impl(p, q, k, v, out, norm);
}
Status poly_attention_backward_cpu(const PolyAttentionParams& p, const float* q, const float* k,
                                   const float* v, const float* out, const float* norm, const float* dout,
                                   float* dq, float* dk, float* dv) {
  return backward_impl(p, q, k, v, out, norm, dout, dq, dk, dv);
}
Status poly_attention_backward_cpu(const PolyAttentionParams& p, const double* q, const double* k,
                                   const double* v, const double* out, const double* norm,
                                   const double* dout, double* dq, double* dk, double* dv) {
  return backward_impl(p, q, k, v, out, norm, dout, dq, dk, dv);
}

}  // namespace lemma
