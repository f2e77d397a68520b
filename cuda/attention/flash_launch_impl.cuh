// Definitions of flash_fwd_launch / flash_bwd_launch (included only by the per-precision
// translation units, which instantiate them).
#pragma once
#include "attention/flash_bwd.cuh"
#include "attention/flash_fwd.cuh"
#include "attention/flash_launch.cuh"
#include "common/cuda_check.cuh"

namespace lemma::cuda {

template <class P>
Status flash_fwd_launch(const FlashParams& p, int D, cudaStream_t s) {
  return head_dim_switch(D, [&](auto d) -> Status {
    constexpr int kD = decltype(d)::value;
    using T = FwdTraits<P, kD>;
    const auto kernel = flash_fwd_kernel<P, kD>;
    LEMMA_RETURN_IF_ERROR(prepare_kernel(reinterpret_cast<const void*>(kernel), T::kSmem, "flash_fwd_kernel"));
    const int64_t grid = int64_t((p.Nq + T::kBr - 1) / T::kBr) * p.B * p.Hq;
    LEMMA_RETURN_IF_ERROR(check_grid(grid, "flash_fwd_kernel"));
    LEMMA_LAUNCH(kernel, static_cast<unsigned>(grid), T::kThreads, T::kSmem, s)(p);
    LEMMA_CUDA_CHECK_LAUNCH("flash_fwd_kernel");
    return Status::Ok();
  });
}

template <class P>
Status flash_bwd_launch(const FlashParams& p, int D, cudaStream_t s) {
  return head_dim_switch(D, [&](auto d) -> Status {
    constexpr int kD = decltype(d)::value;
    const int64_t rows = int64_t(p.B) * p.Hq * p.Nq;
    {
      const int64_t grid = (rows + 7) / 8;
      LEMMA_RETURN_IF_ERROR(check_grid(grid, "flash_bwd_dsum_kernel"));
      LEMMA_LAUNCH(flash_bwd_dsum_kernel<P>, static_cast<unsigned>(grid), 256, 0, s)(p, kD, rows, const_cast<float*>(p.dsum));
      LEMMA_CUDA_CHECK_LAUNCH("flash_bwd_dsum_kernel");
    }
    {
      using T = BwdKVTraits<P, kD>;
      const auto kernel = flash_bwd_dkdv_kernel<P, kD>;
      LEMMA_RETURN_IF_ERROR(prepare_kernel(reinterpret_cast<const void*>(kernel), T::kSmem, "flash_bwd_dkdv_kernel"));
      const int64_t grid = int64_t((p.Nk + T::kBc - 1) / T::kBc) * p.B * p.Hkv;
      LEMMA_RETURN_IF_ERROR(check_grid(grid, "flash_bwd_dkdv_kernel"));
      LEMMA_LAUNCH(kernel, static_cast<unsigned>(grid), T::kThreads, T::kSmem, s)(p);
      LEMMA_CUDA_CHECK_LAUNCH("flash_bwd_dkdv_kernel");
    }
    if (p.atomic_dq) {
      const int64_t n = rows * kD;
      const int64_t want = (n + 255) / 256;
      LEMMA_LAUNCH(flash_bwd_dq_convert_kernel<P>, static_cast<unsigned>(want < 65536 ? want : 65536), 256, 0, s)(
          p.dq_accum, p.dq, p.scale, n);
      LEMMA_CUDA_CHECK_LAUNCH("flash_bwd_dq_convert_kernel");
    } else {
      using T = BwdQTraits<P, kD>;
      const auto kernel = flash_bwd_dq_kernel<P, kD>;
      LEMMA_RETURN_IF_ERROR(prepare_kernel(reinterpret_cast<const void*>(kernel), T::kSmem, "flash_bwd_dq_kernel"));
      const int64_t grid = int64_t((p.Nq + T::kBr - 1) / T::kBr) * p.B * p.Hq;
      LEMMA_RETURN_IF_ERROR(check_grid(grid, "flash_bwd_dq_kernel"));
      LEMMA_LAUNCH(kernel, static_cast<unsigned>(grid), T::kThreads, T::kSmem, s)(p);
      LEMMA_CUDA_CHECK_LAUNCH("flash_bwd_dq_kernel");
    }
    return Status::Ok();
  });
}

}  // namespace lemma::cuda
