// Exact scaled-dot-product attention, forward and backward (spec: shared/specs/attention-io.md).
//   S = scale * Q K^T (masked), P = softmax_row(S), O = P V, lse = logsumexp_row(S)
//   dV = P^T dO, dP = dO V^T, Dvec = rowsum(dO . O), dS = P . (dP - Dvec), dQ = scale dS K,
//   dK = scale dS^T Q
// Shapes (row-major, contiguous, d fastest):
//   q, out, dout, dq: [B, Hq, Nq, D]    k, v, dk, dv: [B, Hkv, Nk, D]    lse: [B, Hq, Nq]
// Grouped-query: query head h reads kv head h / (Hq / Hkv); dk, dv sum over the group.
// Causal masking is bottom-right aligned: query i sees key j iff j <= i + (Nk - Nq).
// A row that sees no key gets out = 0 and lse = +inf, so backward sees P = 0 (never NaN).
#pragma once
#include <cstdint>

#include "core/status.h"

namespace lemma {

enum class AttentionAlgorithm {
  kFlash = 0,         // FlashAttention-2 tiling, O(N) extra memory
  kMaterialized = 1,  // the small-cache schedule (spec 1.7): S/P/dP/dS materialised per head
};

struct AttentionParams {
  int64_t B = 0, Hq = 0, Hkv = 0, Nq = 0, Nk = 0, D = 0;
  double scale = 0;  // softmax scale (caller resolves the 1/sqrt(D) default)
  bool causal = false;
  bool deterministic = true;  // CPU paths are always deterministic; kept for the CUDA path
  AttentionAlgorithm algorithm = AttentionAlgorithm::kFlash;
};

// Checks shapes and sizes (positive dims, Hq % Hkv == 0, 1 <= D <= 256, no overflow).
Status attention_check_params(const AttentionParams& p);

// fp64 oracle: plain row-by-row math in double, threaded over (batch, head). lse in double.
Status attention_forward_ref(const AttentionParams& p, const double* q, const double* k,
                             const double* v, double* out, double* lse);
Status attention_backward_ref(const AttentionParams& p, const double* q, const double* k,
                              const double* v, const double* out, const double* lse,
                              const double* dout, double* dq, double* dk, double* dv);

// Fast fp32 CPU path (flash or materialized per p.algorithm), threaded, SIMD by cpu_features.
// out/lse/dq/dk/dv are fully overwritten. lse is fp32.
Status attention_forward_cpu(const AttentionParams& p, const float* q, const float* k,
                             const float* v, float* out, float* lse);
Status attention_backward_cpu(const AttentionParams& p, const float* q, const float* k,
                              const float* v, const float* out, const float* lse,
                              const float* dout, float* dq, float* dk, float* dv);

// How the fp32 CPU forward schedules a shape: row_path = the decode path (every query row of a
// kv group in one unit, K and V read once per group); splits = key chunks per unit merged by
// log-sum-exp (1 = none). Both depend on the shape and the machine only. For tests and benches.
struct AttentionCpuSchedule {
  bool row_path = false;
  int64_t splits = 1;
};
AttentionCpuSchedule attention_cpu_schedule(const AttentionParams& p);

// Bytes of scratch the fp32 CPU path would need (so callers can reject absurd requests
// before allocating anything). pass: 0 forward, 1 backward.
int64_t attention_workspace_bytes_cpu(const AttentionParams& p, int pass);

}  // namespace lemma
