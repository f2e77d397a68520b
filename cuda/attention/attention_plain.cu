// The plain same-precision attention the parity test measures the flash kernels against
// (flash-attention's tolerance rule: flash error <= 2x plain error + atol, both vs fp64).
//   forward:  s_ij = st(scale q_i.k_j), m = max_j s_ij, l = sum_j exp(s_ij - m),
//             p_ij = st(exp(s_ij - m) / l), out_i = st(sum_j p_ij v_j), lse_i = m + log l
//   backward: p_ij = st(exp(s_ij - lse_i)), dp_ij = st(dO_i.v_j), D_i = sum_j p_ij dp_ij,
//             ds_ij = st(p_ij (dp_ij - D_i)), dq_i = st(scale sum_j ds_ij k_j),
//             dk_j = st(scale sum_i ds_ij q_i), dv_j = st(sum_i p_ij dO_i)
// st() rounds what a naive implementation would store: to the 16-bit type for fp16 / bf16,
// nothing for tf32 / fp32. Every product operand goes through op(): TF32 rounding for tf32.
// Inputs in another storage type are first rounded to the precision's type (as the flash
// launcher's staging does). One warp per row (query rows, then key rows for dK / dV); lanes
// split the head dim (D <= 256: 8 values per lane). No tiling, no online softmax: three passes
// over the keys per row. Slow by design; tests only.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <string>

#include "attention/attention_cuda.h"
#include "common/cuda_check.cuh"
#include "common/launch.cuh"
#include "common/device_memory.cuh"
#include "common/mma.cuh"

namespace lemma {

namespace {

using cuda::warp_sum;

constexpr int kWarpsPerBlock = 8;
constexpr int kPerLane = 8;  // D <= 256 = 32 lanes x 8

struct PlainDims {
  int B, Hq, Hkv, group, Nq, Nk, D;
  float scale;
  int causal;
};

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
template <class E> __device__ __forceinline__ E from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

// Round to TF32, nearest with ties away from zero (cvt.rna), written out for finite values.
__device__ __forceinline__ float round_tf32(float x) {
  return __uint_as_float((__float_as_uint(x) + 0x1000u) & 0xffffe000u);
}

// kMode is the CudaPrecision value: 0 fp32, 1 tf32, 2 fp16, 3 bf16.
template <int kMode> __device__ __forceinline__ float st(float x) {
  if constexpr (kMode == 2) return __half2float(__float2half_rn(x));
  else if constexpr (kMode == 3) return __bfloat162float(__float2bfloat16_rn(x));
  else return x;
}
template <int kMode> __device__ __forceinline__ float op(float x) {
  if constexpr (kMode == 1) return round_tf32(x);
  else return x;
}
// Storage value -> the precision's input value.
template <int kMode, class E> __device__ __forceinline__ float in(E x) { return st<kMode>(to_f(x)); }

// Loads a row of D values into the lane's registers (element lane + 32 u), op-rounded.
template <int kMode, class E>
__device__ __forceinline__ void load_row(float (&r)[kPerLane], const E* row, int D, int lane) {
#pragma unroll
  for (int u = 0; u < kPerLane; ++u) {
    const int c = lane + 32 * u;
    r[u] = c < D ? op<kMode>(in<kMode>(row[c])) : 0.f;
  }
}

template <int kMode, class E>
__device__ __forceinline__ float dot_row(const float (&r)[kPerLane], const E* row, int D, int lane) {
  float acc = 0.f;
#pragma unroll
  for (int u = 0; u < kPerLane; ++u) {
    const int c = lane + 32 * u;
    if (c < D) acc += r[u] * op<kMode>(in<kMode>(row[c]));
  }
  return warp_sum(acc);
}

__device__ __forceinline__ int key_end(const PlainDims& d, int i) {
  if (!d.causal) return d.Nk;
  const int e = i + (d.Nk - d.Nq) + 1;
  return e < 0 ? 0 : (e > d.Nk ? d.Nk : e);
}

template <class E, int kMode>
__global__ void __launch_bounds__(256, 1) plain_fwd_kernel(const E* __restrict__ q, const E* __restrict__ k,
                                                        const E* __restrict__ v, E* __restrict__ out,
                                                        float* __restrict__ lse, PlainDims d) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= static_cast<int64_t>(d.B) * d.Hq * d.Nq) return;
  const int64_t bh = row / d.Nq;
  const int i = static_cast<int>(row - bh * d.Nq);
  const int64_t bk = (bh / d.Hq) * d.Hkv + (bh % d.Hq) / d.group;
  const E* K = k + bk * d.Nk * d.D;
  const E* V = v + bk * d.Nk * d.D;
  float qr[kPerLane];
  load_row<kMode>(qr, q + row * d.D, d.D, lane);
  const int end = key_end(d, i);
  E* o = out + row * d.D;
  if (end == 0) {
    for (int c = lane; c < d.D; c += 32) o[c] = from_f<E>(0.f);
    if (lane == 0) lse[row] = INFINITY;
    return;
  }
  float m = -INFINITY;
  for (int j = 0; j < end; ++j) m = fmaxf(m, st<kMode>(d.scale * dot_row<kMode>(qr, K + int64_t(j) * d.D, d.D, lane)));
  float l = 0.f;
  for (int j = 0; j < end; ++j)
    l += expf(st<kMode>(d.scale * dot_row<kMode>(qr, K + int64_t(j) * d.D, d.D, lane)) - m);
  float acc[kPerLane] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  for (int j = 0; j < end; ++j) {
    const float s = st<kMode>(d.scale * dot_row<kMode>(qr, K + int64_t(j) * d.D, d.D, lane));
    const float pj = op<kMode>(st<kMode>(expf(s - m) / l));
    const E* vj = V + int64_t(j) * d.D;
#pragma unroll
    for (int u = 0; u < kPerLane; ++u) {
      const int c = lane + 32 * u;
      if (c < d.D) acc[u] += pj * op<kMode>(in<kMode>(vj[c]));
    }
  }
#pragma unroll
  for (int u = 0; u < kPerLane; ++u) {
    const int c = lane + 32 * u;
    if (c < d.D) o[c] = from_f<E>(st<kMode>(acc[u]));
  }
  if (lane == 0) lse[row] = m + logf(l);
}

// dq rows and D_i (written to dsum for the dK/dV kernel).
template <class E, int kMode>
__global__ void __launch_bounds__(256, 1) plain_bwd_dq_kernel(const E* __restrict__ q, const E* __restrict__ k,
                                                           const E* __restrict__ v, const float* __restrict__ lse,
                                                           const E* __restrict__ dout, E* __restrict__ dq,
                                                           float* __restrict__ dsum, PlainDims d) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= static_cast<int64_t>(d.B) * d.Hq * d.Nq) return;
  const int64_t bh = row / d.Nq;
  const int i = static_cast<int>(row - bh * d.Nq);
  const int64_t bk = (bh / d.Hq) * d.Hkv + (bh % d.Hq) / d.group;
  const E* K = k + bk * d.Nk * d.D;
  const E* V = v + bk * d.Nk * d.D;
  float qr[kPerLane], dor[kPerLane];
  load_row<kMode>(qr, q + row * d.D, d.D, lane);
  load_row<kMode>(dor, dout + row * d.D, d.D, lane);
  const int end = key_end(d, i);
  const float L = lse[row];
  float Di = 0.f;
  for (int j = 0; j < end; ++j) {
    const float s = st<kMode>(d.scale * dot_row<kMode>(qr, K + int64_t(j) * d.D, d.D, lane));
    const float pj = st<kMode>(expf(s - L));
    const float dp = st<kMode>(dot_row<kMode>(dor, V + int64_t(j) * d.D, d.D, lane));
    Di += pj * dp;
  }
  float acc[kPerLane] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  for (int j = 0; j < end; ++j) {
    const float s = st<kMode>(d.scale * dot_row<kMode>(qr, K + int64_t(j) * d.D, d.D, lane));
    const float pj = st<kMode>(expf(s - L));
    const float dp = st<kMode>(dot_row<kMode>(dor, V + int64_t(j) * d.D, d.D, lane));
    const float ds = op<kMode>(st<kMode>(pj * (dp - Di)));
    const E* kj = K + int64_t(j) * d.D;
#pragma unroll
    for (int u = 0; u < kPerLane; ++u) {
      const int c = lane + 32 * u;
      if (c < d.D) acc[u] += ds * op<kMode>(in<kMode>(kj[c]));
    }
  }
  E* o = dq + row * d.D;
#pragma unroll
  for (int u = 0; u < kPerLane; ++u) {
    const int c = lane + 32 * u;
    if (c < d.D) o[c] = from_f<E>(st<kMode>(d.scale * acc[u]));
  }
  if (lane == 0) dsum[row] = Di;
}

template <class E, int kMode>
__global__ void __launch_bounds__(256, 1) plain_bwd_dkdv_kernel(const E* __restrict__ q, const E* __restrict__ k,
                                                             const E* __restrict__ v, const float* __restrict__ lse,
                                                             const E* __restrict__ dout, const float* __restrict__ dsum,
                                                             E* __restrict__ dk, E* __restrict__ dv, PlainDims d) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= static_cast<int64_t>(d.B) * d.Hkv * d.Nk) return;
  const int64_t bk = row / d.Nk;
  const int j = static_cast<int>(row - bk * d.Nk);
  const int64_t b = bk / d.Hkv, hk = bk % d.Hkv;
  float kr[kPerLane], vr[kPerLane];
  load_row<kMode>(kr, k + row * d.D, d.D, lane);
  load_row<kMode>(vr, v + row * d.D, d.D, lane);
  float ak[kPerLane] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  float av[kPerLane] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  const int shift = d.Nk - d.Nq;
  const int i0 = d.causal ? (j - shift > 0 ? j - shift : 0) : 0;
  for (int hh = 0; hh < d.group; ++hh) {
    const int64_t bh = b * d.Hq + hk * d.group + hh;
    for (int i = i0; i < d.Nq; ++i) {
      const int64_t qrow = bh * d.Nq + i;
      const E* qi = q + qrow * d.D;
      const E* doi = dout + qrow * d.D;
      const float s = st<kMode>(d.scale * dot_row<kMode>(kr, qi, d.D, lane));
      const float pj = st<kMode>(expf(s - lse[qrow]));
      const float dp = st<kMode>(dot_row<kMode>(vr, doi, d.D, lane));
      const float ds = op<kMode>(st<kMode>(pj * (dp - dsum[qrow])));
      const float pop = op<kMode>(pj);
#pragma unroll
      for (int u = 0; u < kPerLane; ++u) {
        const int c = lane + 32 * u;
        if (c < d.D) {
          av[u] += pop * op<kMode>(in<kMode>(doi[c]));
          ak[u] += ds * op<kMode>(in<kMode>(qi[c]));
        }
      }
    }
  }
#pragma unroll
  for (int u = 0; u < kPerLane; ++u) {
    const int c = lane + 32 * u;
    if (c < d.D) {
      dk[row * d.D + c] = from_f<E>(st<kMode>(d.scale * ak[u]));
      dv[row * d.D + c] = from_f<E>(st<kMode>(av[u]));
    }
  }
}

int blocks_for(int64_t rows) { return static_cast<int>((rows + kWarpsPerBlock - 1) / kWarpsPerBlock); }

template <class E, int kMode>
Status plain_forward(const PlainDims& d, const void* q, const void* k, const void* v, void* out, float* lse,
                     cudaStream_t s) {
  const int64_t rows = int64_t(d.B) * d.Hq * d.Nq;
  LEMMA_LAUNCH((plain_fwd_kernel<E, kMode>), blocks_for(rows), 32 * kWarpsPerBlock, 0, s)(
      static_cast<const E*>(q), static_cast<const E*>(k), static_cast<const E*>(v), static_cast<E*>(out), lse, d);
  LEMMA_CUDA_CHECK_LAUNCH("plain_fwd_kernel");
  return Status::Ok();
}

template <class E, int kMode>
Status plain_backward(const PlainDims& d, const void* q, const void* k, const void* v, const float* lse,
                      const void* dout, void* dq, void* dk, void* dv, cudaStream_t s) {
  const int64_t qrows = int64_t(d.B) * d.Hq * d.Nq, krows = int64_t(d.B) * d.Hkv * d.Nk;
  Workspace ws(s);
  void* dsum = nullptr;
  LEMMA_RETURN_IF_ERROR(ws.alloc(&dsum, static_cast<size_t>(qrows) * sizeof(float)));
  LEMMA_LAUNCH((plain_bwd_dq_kernel<E, kMode>), blocks_for(qrows), 32 * kWarpsPerBlock, 0, s)(
      static_cast<const E*>(q), static_cast<const E*>(k), static_cast<const E*>(v), lse,
      static_cast<const E*>(dout), static_cast<E*>(dq), static_cast<float*>(dsum), d);
  LEMMA_CUDA_CHECK_LAUNCH("plain_bwd_dq_kernel");
  LEMMA_LAUNCH((plain_bwd_dkdv_kernel<E, kMode>), blocks_for(krows), 32 * kWarpsPerBlock, 0, s)(
      static_cast<const E*>(q), static_cast<const E*>(k), static_cast<const E*>(v), lse,
      static_cast<const E*>(dout), static_cast<const float*>(dsum), static_cast<E*>(dk), static_cast<E*>(dv), d);
  LEMMA_CUDA_CHECK_LAUNCH("plain_bwd_dkdv_kernel");
  return Status::Ok();
}

template <class E>
Status plain_forward_mode(CudaPrecision pr, const PlainDims& d, const void* q, const void* k, const void* v,
                          void* out, float* lse, cudaStream_t s) {
  switch (pr) {
    case CudaPrecision::kFp32: return plain_forward<E, 0>(d, q, k, v, out, lse, s);
    case CudaPrecision::kTf32: return plain_forward<E, 1>(d, q, k, v, out, lse, s);
    case CudaPrecision::kFp16: return plain_forward<E, 2>(d, q, k, v, out, lse, s);
    case CudaPrecision::kBf16: return plain_forward<E, 3>(d, q, k, v, out, lse, s);
  }
  return Status::Error(Code::kDtype, "attention (plain): unknown precision");
}

template <class E>
Status plain_backward_mode(CudaPrecision pr, const PlainDims& d, const void* q, const void* k, const void* v,
                           const float* lse, const void* dout, void* dq, void* dk, void* dv, cudaStream_t s) {
  switch (pr) {
    case CudaPrecision::kFp32: return plain_backward<E, 0>(d, q, k, v, lse, dout, dq, dk, dv, s);
    case CudaPrecision::kTf32: return plain_backward<E, 1>(d, q, k, v, lse, dout, dq, dk, dv, s);
    case CudaPrecision::kFp16: return plain_backward<E, 2>(d, q, k, v, lse, dout, dq, dk, dv, s);
    case CudaPrecision::kBf16: return plain_backward<E, 3>(d, q, k, v, lse, dout, dq, dk, dv, s);
  }
  return Status::Error(Code::kDtype, "attention (plain): unknown precision");
}

Status plain_dims(const AttentionParams& p, PlainDims* d) {
  LEMMA_RETURN_IF_ERROR(attention_check_params(p));
  const double rows = double(p.B) * double(p.Hq > p.Hkv ? p.Hq : p.Hkv) * double(p.Nq > p.Nk ? p.Nq : p.Nk);
  if (p.Nq > (int64_t{1} << 30) || p.Nk > (int64_t{1} << 30) || rows / kWarpsPerBlock > 2147483647.0)
    return Status::Error(Code::kRange, "attention (plain): sizes too large for the test kernels");
  *d = PlainDims{static_cast<int>(p.B), static_cast<int>(p.Hq), static_cast<int>(p.Hkv),
                 static_cast<int>(p.Hq / p.Hkv), static_cast<int>(p.Nq), static_cast<int>(p.Nk),
                 static_cast<int>(p.D), static_cast<float>(p.scale), p.causal ? 1 : 0};
  return cuda_require_device();
}

}  // namespace

Status attention_forward_cuda_plain(const AttentionParams& p, CudaPrecision precision, DeviceDtype dtype,
                                    const void* q, const void* k, const void* v, void* out, float* lse,
                                    void* stream) {
  PlainDims d{};
  LEMMA_RETURN_IF_ERROR(plain_dims(p, &d));
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case DeviceDtype::kF32: return plain_forward_mode<float>(precision, d, q, k, v, out, lse, s);
    case DeviceDtype::kF16: return plain_forward_mode<__half>(precision, d, q, k, v, out, lse, s);
    case DeviceDtype::kBF16: return plain_forward_mode<__nv_bfloat16>(precision, d, q, k, v, out, lse, s);
  }
  return Status::Error(Code::kDtype, "attention (plain): unknown dtype");
}

Status attention_backward_cuda_plain(const AttentionParams& p, CudaPrecision precision, DeviceDtype dtype,
                                     const void* q, const void* k, const void* v, const void* out,
                                     const float* lse, const void* dout, void* dq, void* dk, void* dv,
                                     void* stream) {
  (void)out;  // the plain backward uses D = rowsum(P . dP), as autograd through softmax does
  PlainDims d{};
  LEMMA_RETURN_IF_ERROR(plain_dims(p, &d));
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case DeviceDtype::kF32: return plain_backward_mode<float>(precision, d, q, k, v, lse, dout, dq, dk, dv, s);
    case DeviceDtype::kF16: return plain_backward_mode<__half>(precision, d, q, k, v, lse, dout, dq, dk, dv, s);
    case DeviceDtype::kBF16:
      return plain_backward_mode<__nv_bfloat16>(precision, d, q, k, v, lse, dout, dq, dk, dv, s);
  }
  return Status::Error(Code::kDtype, "attention (plain): unknown dtype");
}

}  // namespace lemma
