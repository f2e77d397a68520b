// Exact fp32 FlashAttention-2 backward on CUDA cores, head dims 32, 64, 96, 128, 256
// (kernels in flash_f32.cuh; the dQ cast is flash_bwd.cuh's, on float).
// Tested by test/native/attention_cuda_test.cc; timed by bench/native/attention_cuda_bench.cc.
#include <string>

#include "attention/flash_bwd.cuh"
#include "attention/flash_f32.cuh"
#include "attention/flash_launch.cuh"
#include "common/cuda_check.cuh"

namespace lemma::cuda {

Status flash_bwd_launch_f32(const FlashParams& p, int D, cudaStream_t s) {
  return head_dim_switch(D, [&](auto d) -> Status {
    constexpr int kD = decltype(d)::value;
    const int64_t rows = int64_t(p.B) * p.Hq * p.Nq;
    {
      const int64_t grid = (rows + 127) / 128;
      LEMMA_RETURN_IF_ERROR(check_grid(grid, "flash_bwd_dsum_f32_kernel"));
      LEMMA_LAUNCH(flash_bwd_dsum_f32_kernel<kD>, static_cast<unsigned>(grid), 128, 0, s)(p, rows,
                                                                                  const_cast<float*>(p.dsum));
      LEMMA_CUDA_CHECK_LAUNCH("flash_bwd_dsum_f32_kernel");
    }
    using KVD = F32KVTraits<kD>;
    const Status kv = with_tiles<KVD::kSmem, (KVD::kSmem > kSmallSmemBytes)>("flash_bwd_dkdv_f32_kernel", [&](auto small) -> Status {
      constexpr bool kSmall = decltype(small)::value;
      using T = F32KVTraits<kD, kSmall>;
      const auto kernel = flash_bwd_dkdv_f32_kernel<kD, kSmall>;
      LEMMA_RETURN_IF_ERROR(prepare_kernel(reinterpret_cast<const void*>(kernel), T::kSmem, "flash_bwd_dkdv_f32_kernel"));
      const int64_t grid = int64_t((p.Nk + T::kBc - 1) / T::kBc) * p.B * p.Hkv;
      LEMMA_RETURN_IF_ERROR(check_grid(grid, "flash_bwd_dkdv_f32_kernel"));
      LEMMA_LAUNCH(kernel, static_cast<unsigned>(grid), T::kThreads, T::kSmem, s)(p);
      LEMMA_CUDA_CHECK_LAUNCH("flash_bwd_dkdv_f32_kernel");
      return Status::Ok();
    });
    if (!kv.ok()) return kv;
    if (p.atomic_dq) {
      const int64_t n = rows * kD;
      const int64_t want = (n + 255) / 256;
      LEMMA_LAUNCH(flash_bwd_dq_convert_kernel<PolicyF32>, static_cast<unsigned>(want < 65536 ? want : 65536), 256, 0, s)(
          p.dq_accum, p.dq, p.scale, n);
      LEMMA_CUDA_CHECK_LAUNCH("flash_bwd_dq_convert_kernel");
      return Status::Ok();
    }
    using QD = F32QTraits<kD>;
    return with_tiles<QD::kSmem, (QD::kSmem > kSmallSmemBytes)>("flash_bwd_dq_f32_kernel", [&](auto small) -> Status {
      constexpr bool kSmall = decltype(small)::value;
      using T = F32QTraits<kD, kSmall>;
      const auto kernel = flash_bwd_dq_f32_kernel<kD, kSmall>;
      LEMMA_RETURN_IF_ERROR(prepare_kernel(reinterpret_cast<const void*>(kernel), T::kSmem, "flash_bwd_dq_f32_kernel"));
      const int64_t grid = int64_t((p.Nq + T::kBr - 1) / T::kBr) * p.B * p.Hq;
      LEMMA_RETURN_IF_ERROR(check_grid(grid, "flash_bwd_dq_f32_kernel"));
      LEMMA_LAUNCH(kernel, static_cast<unsigned>(grid), T::kThreads, T::kSmem, s)(p);
      LEMMA_CUDA_CHECK_LAUNCH("flash_bwd_dq_f32_kernel");
      return Status::Ok();
    });
  });
}

std::string flash_bwd_tiles_f32(int D, int optin) {
  std::string out;
  (void)head_dim_switch(D, [&](auto d) -> Status {
    constexpr int kD = decltype(d)::value;
    using KVD = F32KVTraits<kD>;
    using QD = F32QTraits<kD>;
    auto kv = [&](auto t) {
      using T = decltype(t);
      return "dkdv " + std::to_string(T::kBc) + "x" + std::to_string(T::kBr) + tiles_note(KVD::kSmem, T::kSmem, optin);
    };
    auto q = [&](auto t) {
      using T = decltype(t);
      return "dq " + std::to_string(T::kBr) + "x" + std::to_string(T::kBc) + tiles_note(QD::kSmem, T::kSmem, optin);
    };
    if constexpr (KVD::kSmem > kSmallSmemBytes)
      out = KVD::kSmem <= optin ? kv(KVD{}) : kv(F32KVTraits<kD, true>{});
    else
      out = kv(KVD{});
    out += " | ";
    if constexpr (QD::kSmem > kSmallSmemBytes)
      out += QD::kSmem <= optin ? q(QD{}) : q(F32QTraits<kD, true>{});
    else
      out += q(QD{});
    return Status::Ok();
  });
  return out;
}

}  // namespace lemma::cuda
