// The CUDA path of lemma.nn.attentionStack (lib/nn/attention-stack-device.ts): one transformer
// layer's forward and backward on device buffers, the fp32 GEMM they use, and a fused Adam step.
// Plain C++ (no CUDA header), so the binding (native/napi/nn_binding.cc) and the native test
// compile without nvcc; implemented by cuda/nn/nn_stack.cu, present only in CUDA / EMULATE
// builds (the binding calls it under LEMMA_WITH_CUDA). Every call is asynchronous on `stream`
// (nullptr = legacy default stream); all pointers are device pointers to contiguous fp32 arrays.
//
// Layer (row vectors, W is [in, out], d = H·Dh, R = B·N rows; the CPU stack's formulas):
//   Q, K, V = T Wq, T Wk, T Wv  -> split to [B, H, N, Dh]      oh, lse = Attn(qh, kh, vh)
//   O = merge(oh)   Z = T + O Wo   h1 = Z W1 + b1   a1 = GELU(h1)   Tn = Z + a1 W2 + b2
// Exact fp32 throughout: the GEMM is a shared-memory tiled SGEMM on CUDA cores (FMA), attention
// is attention_forward_cuda / attention_backward_cuda at CudaPrecision::kFp32 (deterministic dQ),
// GELU is the tanh form. Reductions (bias gradients) run in a fixed order with no atomics: the
// results repeat bit for bit on a given device.
#pragma once
#include <cstdint>

#include "core/status.h"

namespace lemma {

// C[M, N] = (accumulate ? C : 0) + op(A) op(B) + bias[j] + residual[i, j]
// op(A) is [M, K]: A stored [M, K] (ta = false) or [K, M] (ta = true); op(B) is [K, N]: B stored
// [K, N] (tb = false) or [N, K] (tb = true). bias [N] and residual [M, N] may be nullptr.
// residual may equal C (each element is read, then written, by one thread).
Status nn_sgemm_cuda(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                     float* C, bool accumulate, const float* bias, const float* residual, void* stream);

struct NnLayerDims {
  int64_t B = 0, N = 0, H = 0, Dh = 0, m = 0;
  bool causal = true;
};

struct NnLayerWeights {
  const float *Wq, *Wk, *Wv, *Wo, *W1, *b1, *W2, *b2;  // [d,d] x4, [d,m], [m], [m,d], [d]
};

// What backward needs from forward: qh, kh, vh, oh [B, H, N, Dh]; lse [B, H, N]; O, Z [R, d];
// h1, a1 [R, m].
struct NnLayerTape {
  float *qh, *kh, *vh, *oh, *lse, *O, *Z, *h1, *a1;
};

struct NnLayerGrads {
  float *Wq, *Wk, *Wv, *Wo, *W1, *b1, *W2, *b2;
};

// Tn [R, d] from T [R, d]; fills the tape. T_save (nullable): a copy of T is written there.
Status nn_layer_forward_cuda(const NnLayerDims& dims, const NnLayerWeights& w, const float* T, float* T_save,
                             const NnLayerTape& tape, float* Tn, void* stream);

// dT [R, d] and every weight gradient from G = dL/dTn [R, d], the layer input T and its tape.
Status nn_layer_backward_cuda(const NnLayerDims& dims, const NnLayerWeights& w, const float* T,
                              const NnLayerTape& tape, const float* G, float* dT, const NnLayerGrads& g,
                              void* stream);

// Adam on n elements, in place: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g²;
// p -= lr (m / c1) / (sqrt(v / c2) + eps), with c1 = 1 - b1^t, c2 = 1 - b2^t (from the caller).
struct NnAdamParams {
  float lr, beta1, beta2, eps, c1, c2;
};
Status nn_adam_cuda(float* p, const float* g, float* m, float* v, int64_t n, const NnAdamParams& hp, void* stream);

}  // namespace lemma
