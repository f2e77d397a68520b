// Definitions of flash_fwd_launch / flash_bwd_launch and their tile descriptions (included only
// by the per-precision translation units, which instantiate them).
#pragma once
#include <string>

#include "attention/flash_bwd.cuh"
#include "attention/flash_fwd.cuh"
#include "attention/flash_launch.cuh"
#include "common/cuda_check.cuh"

namespace lemma::cuda {

template <class P>
Status flash_fwd_launch(const FlashParams& p, int D, cudaStream_t s) {
  return head_dim_switch(D, [&](auto d) -> Status {
    constexpr int kD = decltype(d)::value;
    using TD = FwdTraits<P, kD>;
    return with_tiles<TD::kSmem, (TD::kSmem > kSmallSmemBytes)>("flash_fwd_kernel", [&](auto small) -> Status {
      constexpr bool kSmall = decltype(small)::value;
      using T = FwdTraits<P, kD, kSmall>;
      const auto kernel = flash_fwd_kernel<P, kD, kSmall>;
      LEMMA_RETURN_IF_ERROR(prepare_kernel(reinterpret_cast<const void*>(kernel), T::kSmem, "flash_fwd_kernel"));
      const int64_t grid = int64_t((p.Nq + T::kBr - 1) / T::kBr) * p.B * p.Hq;
      LEMMA_RETURN_IF_ERROR(check_grid(grid, "flash_fwd_kernel"));
      LEMMA_LAUNCH(kernel, static_cast<unsigned>(grid), T::kThreads, T::kSmem, s)(p);
      LEMMA_CUDA_CHECK_LAUNCH("flash_fwd_kernel");
      return Status::Ok();
    });
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
    using KVD = BwdKVTraits<P, kD>;
    const Status kv = with_tiles<KVD::kSmem, (KVD::kSmem > kSmallSmemBytes)>("flash_bwd_dkdv_kernel", [&](auto small) -> Status {
      constexpr bool kSmall = decltype(small)::value;
      using T = BwdKVTraits<P, kD, kSmall>;
      const auto kernel = flash_bwd_dkdv_kernel<P, kD, kSmall>;
      LEMMA_RETURN_IF_ERROR(prepare_kernel(reinterpret_cast<const void*>(kernel), T::kSmem, "flash_bwd_dkdv_kernel"));
      const int64_t grid = int64_t((p.Nk + T::kBc - 1) / T::kBc) * p.B * p.Hkv;
      LEMMA_RETURN_IF_ERROR(check_grid(grid, "flash_bwd_dkdv_kernel"));
      LEMMA_LAUNCH(kernel, static_cast<unsigned>(grid), T::kThreads, T::kSmem, s)(p);
      LEMMA_CUDA_CHECK_LAUNCH("flash_bwd_dkdv_kernel");
      return Status::Ok();
    });
    if (!kv.ok()) return kv;
    if (p.atomic_dq) {
      const int64_t n = rows * kD;
      const int64_t want = (n + 255) / 256;
      LEMMA_LAUNCH(flash_bwd_dq_convert_kernel<P>, static_cast<unsigned>(want < 65536 ? want : 65536), 256, 0, s)(
          p.dq_accum, p.dq, p.scale, n);
      LEMMA_CUDA_CHECK_LAUNCH("flash_bwd_dq_convert_kernel");
      return Status::Ok();
    }
    using QD = BwdQTraits<P, kD>;
    return with_tiles<QD::kSmem, (QD::kSmem > kSmallSmemBytes)>("flash_bwd_dq_kernel", [&](auto small) -> Status {
      constexpr bool kSmall = decltype(small)::value;
      using T = BwdQTraits<P, kD, kSmall>;
      const auto kernel = flash_bwd_dq_kernel<P, kD, kSmall>;
      LEMMA_RETURN_IF_ERROR(prepare_kernel(reinterpret_cast<const void*>(kernel), T::kSmem, "flash_bwd_dq_kernel"));
      const int64_t grid = int64_t((p.Nq + T::kBr - 1) / T::kBr) * p.B * p.Hq;
      LEMMA_RETURN_IF_ERROR(check_grid(grid, "flash_bwd_dq_kernel"));
      LEMMA_LAUNCH(kernel, static_cast<unsigned>(grid), T::kThreads, T::kSmem, s)(p);
      LEMMA_CUDA_CHECK_LAUNCH("flash_bwd_dq_kernel");
      return Status::Ok();
    });
  });
}

// "<Br>x<Bc>" plus the variant note; T is the variant with_tiles picks, TD the default.
template <class TD, class T>
std::string tiles_text(const char* what, int br, int bc, int optin, const char* extra = "") {
  return std::string(what) + " " + std::to_string(br) + "x" + std::to_string(bc) + extra +
         tiles_note(TD::kSmem, T::kSmem, optin);
}

template <class P>
std::string flash_fwd_tiles(int D, int optin) {
  std::string out;
  (void)head_dim_switch(D, [&](auto d) -> Status {
    constexpr int kD = decltype(d)::value;
    using TD = FwdTraits<P, kD>;
    if constexpr (TD::kSmem > kSmallSmemBytes) {
      using TS = FwdTraits<P, kD, true>;
      out = TD::kSmem <= optin ? tiles_text<TD, TD>("fwd", TD::kBr, TD::kBc, optin)
                               : tiles_text<TD, TS>("fwd", TS::kBr, TS::kBc, optin);
    } else {
      out = tiles_text<TD, TD>("fwd", TD::kBr, TD::kBc, optin);
    }
    return Status::Ok();
  });
  return out;
}

template <class P>
std::string flash_bwd_tiles(int D, int optin) {
  std::string out;
  (void)head_dim_switch(D, [&](auto d) -> Status {
    constexpr int kD = decltype(d)::value;
    auto kv = [&](auto t) {
      using T = decltype(t);
      return tiles_text<BwdKVTraits<P, kD>, T>("dkdv", T::kBc, T::kBr, optin, T::kStages == 2 ? " x2" : "");
    };
    auto q = [&](auto t) {
      using T = decltype(t);
      return tiles_text<BwdQTraits<P, kD>, T>("dq", T::kBr, T::kBc, optin, T::kStages == 2 ? " x2" : "");
    };
    using KVD = BwdKVTraits<P, kD>;
    using QD = BwdQTraits<P, kD>;
    if constexpr (KVD::kSmem > kSmallSmemBytes)
      out = KVD::kSmem <= optin ? kv(KVD{}) : kv(BwdKVTraits<P, kD, true>{});
    else
      out = kv(KVD{});
    out += " | ";
    if constexpr (QD::kSmem > kSmallSmemBytes)
      out += QD::kSmem <= optin ? q(QD{}) : q(BwdQTraits<P, kD, true>{});
    else
      out += q(QD{});
    return Status::Ok();
  });
  return out;
}

}  // namespace lemma::cuda
