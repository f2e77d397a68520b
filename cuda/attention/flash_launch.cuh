// Launch interface between the attention launcher (attention_cuda.cu) and the per-precision
// kernel translation units (flash_{fwd,bwd}_{f16,bf16,tf32,f32}.cu: split so that a 2-core build
// compiles them in parallel). D is the kernel head dim (32, 64, 96, 128 or 256).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "attention/flash_common.cuh"
#include "core/status.h"

namespace lemma::cuda {

// Forward: p.q, p.k, p.v, p.out, p.lse.
template <class P>
Status flash_fwd_launch(const FlashParams& p, int D, cudaStream_t s);
// Backward: p.q, p.k, p.v, p.o, p.dout, p.lse, p.dq, p.dk, p.dv; workspace p.dsum (B*Hq*Nq
// floats) and, when p.atomic_dq, p.dq_accum (B*Hq*Nq*D floats).
template <class P>
Status flash_bwd_launch(const FlashParams& p, int D, cudaStream_t s);

extern template Status flash_fwd_launch<PolicyF16>(const FlashParams&, int, cudaStream_t);
extern template Status flash_fwd_launch<PolicyBF16>(const FlashParams&, int, cudaStream_t);
extern template Status flash_fwd_launch<PolicyTF32>(const FlashParams&, int, cudaStream_t);
extern template Status flash_bwd_launch<PolicyF16>(const FlashParams&, int, cudaStream_t);
extern template Status flash_bwd_launch<PolicyBF16>(const FlashParams&, int, cudaStream_t);
extern template Status flash_bwd_launch<PolicyTF32>(const FlashParams&, int, cudaStream_t);
// Exact fp32 on CUDA cores (flash_f32.cuh), same parameters.
Status flash_fwd_launch_f32(const FlashParams& p, int D, cudaStream_t s);
Status flash_bwd_launch_f32(const FlashParams& p, int D, cudaStream_t s);

// Raises the kernel's dynamic shared-memory limit to `bytes`, or says why the device cannot.
Status prepare_kernel(const void* kernel, int bytes, const char* name);
// ERR_RANGE when a 1-D grid would exceed 2^31 - 1 blocks.
Status check_grid(int64_t blocks, const char* name);

// The static switch (flash-attention's idea): runtime head dim -> compile-time constant.
template <class F>
Status head_dim_switch(int D, F&& f) {
  switch (D) {
    case 32: return f(std::integral_constant<int, 32>{});
    case 64: return f(std::integral_constant<int, 64>{});
    case 96: return f(std::integral_constant<int, 96>{});
    case 128: return f(std::integral_constant<int, 128>{});
    case 256: return f(std::integral_constant<int, 256>{});
    default: return Status::Error(Code::kInternal, "attention: no kernel for this head dim");
  }
}

}  // namespace lemma::cuda
