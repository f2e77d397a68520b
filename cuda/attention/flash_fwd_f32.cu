// Exact fp32 FlashAttention-2 forward on CUDA cores, head dims 32, 64, 96, 128, 256
// (kernel in flash_f32.cuh).
// Tested by test/native/attention_cuda_test.cc; timed by bench/native/attention_cuda_bench.cc.
#include <string>

#include "attention/flash_f32.cuh"
#include "attention/flash_launch.cuh"
#include "common/cuda_check.cuh"

namespace lemma::cuda {

Status flash_fwd_launch_f32(const FlashParams& p, int D, cudaStream_t s) {
  return head_dim_switch(D, [&](auto d) -> Status {
    constexpr int kD = decltype(d)::value;
    using TD = F32FwdTraits<kD>;
    return with_tiles<TD::kSmem, (TD::kSmem > kSmallSmemBytes)>("flash_fwd_f32_kernel", [&](auto small) -> Status {
      constexpr bool kSmall = decltype(small)::value;
      using T = F32FwdTraits<kD, kSmall>;
      const auto kernel = flash_fwd_f32_kernel<kD, kSmall>;
      LEMMA_RETURN_IF_ERROR(prepare_kernel(reinterpret_cast<const void*>(kernel), T::kSmem, "flash_fwd_f32_kernel"));
      const int64_t grid = int64_t((p.Nq + T::kBr - 1) / T::kBr) * p.B * p.Hq;
      LEMMA_RETURN_IF_ERROR(check_grid(grid, "flash_fwd_f32_kernel"));
      LEMMA_LAUNCH(kernel, static_cast<unsigned>(grid), T::kThreads, T::kSmem, s)(p);
      LEMMA_CUDA_CHECK_LAUNCH("flash_fwd_f32_kernel");
      return Status::Ok();
    });
  });
}

std::string flash_fwd_tiles_f32(int D, int optin) {
  std::string out;
  (void)head_dim_switch(D, [&](auto d) -> Status {
    constexpr int kD = decltype(d)::value;
    using TD = F32FwdTraits<kD>;
    auto text = [&](auto t) {
      using T = decltype(t);
      return "fwd " + std::to_string(T::kBr) + "x" + std::to_string(T::kBc) + tiles_note(TD::kSmem, T::kSmem, optin);
    };
    if constexpr (TD::kSmem > kSmallSmemBytes)
      out = TD::kSmem <= optin ? text(TD{}) : text(F32FwdTraits<kD, true>{});
    else
      out = text(TD{});
    return Status::Ok();
  });
  return out;
}

}  // namespace lemma::cuda
