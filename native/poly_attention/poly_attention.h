// Polynomial (Taylor-feature) attention, forward and backward: the practical form of the
// almost-linear attention gradients of arXiv 2408.13233 (Liang, Sha, Shi, Song, Zhou).
//   κ_g(x) = Σ_{t=0}^{g} x^t / t!          (g even: κ_g > 0 on all of ℝ, so weights stay positive)
//   w_ij = κ_g(scale · q_i·k_j) = φ(q'_i)·φ(k'_j),   q' = √scale q,  k' = √scale k
//   φ_α(x) = x^α / √(α!) over the multi-indices |α| ≤ g: r = C(D + g, g) features (each
//   monomial once: the symmetric compression of the tensor powers)
//   c_i = Σ_{j visible} w_ij,   O_i = Σ_{j visible} w_ij v_j / c_i      (c_i = 0: O_i = 0)
// Shapes (row-major, contiguous, d fastest), as attention.h:
//   q, out, dout, dq: [B, Hq, Nq, D]    k, v, dk, dv: [B, Hkv, Nk, D]    norm (c): [B, Hq, Nq]
// Grouped-query heads; causal masking bottom-right aligned: query i sees key j iff
// j <= i + (Nk - Nq).
//
// The fast path never forms an N x N matrix: per chunk of C rows it forms the features, the
// masked C x C block inside the chunk, and carries the prefix state S = Σ φ(k_j) v_j^T (r x D),
// z = Σ φ(k_j) across chunks (O(N r D) time, O(r D + C r) memory per head). Backward recomputes
// the features: a forward sweep gives dΦ_Q from S, z; a reverse sweep gives dΦ_K and dV from
// U = Σ φ(q_i) gA_i^T, u = Σ φ(q_i) gc_i, with gA_i = dO_i / c_i, gc_i = -(dO_i·O_i) / c_i; the
// feature map's Jacobian then gives dq, dk (docs: README "Polynomial attention").
//
// Oracle: poly_attention_*_ref evaluates κ_g(scale q·k) directly for every visible pair in fp64
// (O(N² D)), with no features and no prefix sums, so it checks both.
// Tests: test/50.poly-attention-exactness.test.ts, test/native/poly_attention_test.cc.
// Bench: bench/node/poly-attention.bench.ts.
#pragma once
#include <cstdint>

#include "core/status.h"

namespace lemma {

struct PolyAttentionParams {
  int64_t B = 0, Hq = 0, Hkv = 0, Nq = 0, Nk = 0, D = 0;
  double scale = 0;  // > 0 (the caller resolves the 1/sqrt(D) default)
  int degree = 2;    // even, 2..kPolyMaxDegree
  bool causal = false;
  int chunk = 16;    // rows per chunk of the causal scan, 8..256 (16 measured fastest, D = 16..64)
};

constexpr int kPolyMaxDegree = 12;
// The fast path refuses more features than this (state S alone is r·D floats per worker).
constexpr int64_t kPolyMaxFeatures = int64_t{1} << 16;

// r = C(D + degree, degree), or -1 when it exceeds 2^62.
int64_t poly_attention_features(int64_t D, int degree);

// Checks shapes and sizes (positive dims, Hq % Hkv == 0, 1 <= D <= 256, even degree in
// [2, 12], scale finite and > 0, r <= kPolyMaxFeatures, chunk in [8, 256]).
Status poly_attention_check_params(const PolyAttentionParams& p);

// Fast path: chunked prefix sums, threaded over heads; float32 SIMD (AVX-512 / AVX2 / scalar by
// cpu_features) or the same algorithm in fp64. norm receives c.
Status poly_attention_forward_cpu(const PolyAttentionParams& p, const float* q, const float* k,
                                  const float* v, float* out, float* norm);
Status poly_attention_forward_cpu(const PolyAttentionParams& p, const double* q, const double* k,
                                  const double* v, double* out, double* norm);
// dq, dk, dv are fully overwritten; out and norm are the forward's.
Status poly_attention_backward_cpu(const PolyAttentionParams& p, const float* q, const float* k,
                                   const float* v, const float* out, const float* norm,
                                   const float* dout, float* dq, float* dk, float* dv);
Status poly_attention_backward_cpu(const PolyAttentionParams& p, const double* q, const double* k,
                                   const double* v, const double* out, const double* norm,
                                   const double* dout, double* dq, double* dk, double* dv);

// C [m, n] = op(A) op(B) with op(A) [m, k], op(B) [k, n] (row-major; ta / tb: A is stored [k, m],
// B is stored [n, k]). The dense products around attention in lemma.nn (projections, MLP), on
// the same fp32 GEMM kernels; threaded over blocks of rows. fp64: plain loops.
Status poly_matmul_cpu(const float* A, const float* B, float* C, int64_t m, int64_t k, int64_t n, bool ta, bool tb);
Status poly_matmul_cpu(const double* A, const double* B, double* C, int64_t m, int64_t k, int64_t n, bool ta,
                       bool tb);

// fp64 oracle: the same kernel evaluated pair by pair (O(N² D)); no feature-count limit.
Status poly_attention_forward_ref(const PolyAttentionParams& p, const double* q, const double* k,
                                  const double* v, double* out, double* norm);
Status poly_attention_backward_ref(const PolyAttentionParams& p, const double* q, const double* k,
                                   const double* v, const double* out, const double* norm,
                                   const double* dout, double* dq, double* dk, double* dv);

}  // namespace lemma
