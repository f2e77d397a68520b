// Launch interface between the attention launcher (attention_cuda.cu) and the per-precision
// kernel translation units (flash_{fwd,bwd}_{f16,bf16,tf32,f32}.cu: split so that a 2-core build
// compiles them in parallel). D is the kernel head dim (32, 64, 96, 128 or 256).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
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

// The tiles the launchers pick on a device with `optin` bytes of shared memory per block, as
// attention_cuda_tiles() reports them: fwd "fwd 128x32 small", bwd "dkdv 64x32 x2 | dq 64x32"
// (fwd, dq: query rows x keys per block; dkdv: keys x queries per step; "x2" double-buffered;
// "small" the small-tile variant; "(does not fit)" when not even that fits).
template <class P>
std::string flash_fwd_tiles(int D, int optin);
template <class P>
std::string flash_bwd_tiles(int D, int optin);
std::string flash_fwd_tiles_f32(int D, int optin);
std::string flash_bwd_tiles_f32(int D, int optin);

extern template std::string flash_fwd_tiles<PolicyF16>(int, int);
extern template std::string flash_fwd_tiles<PolicyBF16>(int, int);
extern template std::string flash_fwd_tiles<PolicyTF32>(int, int);
extern template std::string flash_bwd_tiles<PolicyF16>(int, int);
extern template std::string flash_bwd_tiles<PolicyBF16>(int, int);
extern template std::string flash_bwd_tiles<PolicyTF32>(int, int);

// The current device's opt-in shared memory per block (cudaDevAttrMaxSharedMemoryPerBlockOptin),
// queried once per device.
Status device_smem_optin(int* bytes);
// ERR_CUDA: kernel `name` needs `bytes` of shared memory per block, more than the device's `optin`.
Status smem_error(const char* name, int bytes, int optin);
// Raises the kernel's dynamic shared-memory limit to `bytes`, or says why the device cannot.
Status prepare_kernel(const void* kernel, int bytes, const char* name);

// Tile variant choice: calls launch(std::false_type{}) when the default tiles (kDefaultSmem bytes)
// fit the device's opt-in limit, otherwise launch(std::true_type{}) (the small-tile variant) when
// the kernel has one (kHasSmall: its default needs more than kSmallSmemBytes), otherwise returns
// ERR_CUDA. launch() passes its variant's size to prepare_kernel, which says when even the
// small variant does not fit.
template <int kDefaultSmem, bool kHasSmall, class F>
Status with_tiles(const char* name, F&& launch) {
  int optin = 0;
  LEMMA_RETURN_IF_ERROR(device_smem_optin(&optin));
  if (kDefaultSmem <= optin) return launch(std::false_type{});
  if constexpr (kHasSmall) {
    return launch(std::true_type{});
  } else {
    return smem_error(name, kDefaultSmem, optin);
  }
}
// The same choice, for the description: "" (default), " small", or " (does not fit)".
inline const char* tiles_note(int default_smem, int small_smem, int optin) {
  if (default_smem <= optin) return "";
  return small_smem <= optin ? " small" : " (does not fit)";
}
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
