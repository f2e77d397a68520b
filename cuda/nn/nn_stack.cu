// Kernels of the CUDA path of lemma.nn.attentionStack (interface and formulas: nn/nn_cuda.h):
//   sgemm_kernel      C = (acc ? C : 0) + op(A) op(B) + bias + residual; 64x64 tile per block of
//                     256 threads, k-steps of 16 through shared memory, 4x4 outputs per thread
//                     (rows ty + 16 r, columns tx + 16 c: conflict-free shared reads, coalesced
//                     stores); op(A), op(B) in {N, T} chosen at run time (one instantiation)
//   heads_kernel      [B·N, H·Dh] <-> [B, H, N, Dh]
//   gelu_kernel       a = GELU(h) (tanh form, as the CPU stack); gelu_grad_kernel dh *= GELU'(h)
//   colsum_kernel     out[j] = Σ_i X[i, j] in a fixed order (bias gradients; no atomics)
//   adam_kernel       the fused Adam update
// One thread computes each output element in a fixed order, so results repeat bit for bit.
// Tested by test/native/nn_cuda_test.cc (GEMM over odd shapes and all op cases vs a double loop,
// a layer vs a double-precision host layer) and test/gpu/nn-stack.gpu.test.ts (the stack vs the
// CPU stack), both on the emulated device in CI.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "attention/attention_cuda.h"
#include "common/cuda_check.cuh"
#include "common/device_memory.cuh"
#include "common/launch.cuh"
#include "nn/nn_cuda.h"

namespace lemma {

namespace {

constexpr int kBM = 64, kBN = 64, kBK = 16, kThreads = 256;

struct GemmArgs {
  const float* A;
  const float* B;
  float* C;
  const float* bias;
  const float* residual;
  int64_t M, N, K;
  int ta, tb, accumulate;
};

__global__ void __launch_bounds__(kThreads) sgemm_kernel(GemmArgs a) {
  LEMMA_SHARED(float, As, [kBK][kBM + 4]);  // As[k][i] = op(A)[i0 + i, k0 + k]
  LEMMA_SHARED(float, Bs, [kBK][kBN + 4]);  // Bs[k][j] = op(B)[k0 + k, j0 + j]
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int64_t i0 = static_cast<int64_t>(blockIdx.y) * kBM, j0 = static_cast<int64_t>(blockIdx.x) * kBN;
  const int64_t M = a.M, N = a.N, K = a.K;
  float acc[4][4];
#pragma unroll
  for (int r = 0; r < 4; ++r)
#pragma unroll
    for (int c = 0; c < 4; ++c) acc[r][c] = 0.f;
  for (int64_t k0 = 0; k0 < K; k0 += kBK) {
    // 1024 elements of each tile, 4 per thread; consecutive threads read consecutive addresses.
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int e = tid + r * kThreads;
      int ii, kk;
      if (a.ta) {
        kk = e / kBM;
        ii = e % kBM;
      } else {
        ii = e / kBK;
        kk = e % kBK;
      }
      const int64_t gi = i0 + ii, gk = k0 + kk;
      float v = 0.f;
      if (gi < M && gk < K) v = a.ta ? a.A[gk * M + gi] : a.A[gi * K + gk];
      As[kk][ii] = v;
    }
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int e = tid + r * kThreads;
      int jj, kk;
      if (a.tb) {
        jj = e / kBK;
        kk = e % kBK;
      } else {
        kk = e / kBN;
        jj = e % kBN;
      }
      const int64_t gj = j0 + jj, gk = k0 + kk;
      float v = 0.f;
      if (gj < N && gk < K) v = a.tb ? a.B[gj * K + gk] : a.B[gk * N + gj];
      Bs[kk][jj] = v;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      float av[4], bv[4];
#pragma unroll
      for (int r = 0; r < 4; ++r) av[r] = As[kk][ty + 16 * r];
#pragma unroll
      for (int c = 0; c < 4; ++c) bv[c] = Bs[kk][tx + 16 * c];
#pragma unroll
      for (int r = 0; r < 4; ++r)
#pragma unroll
        for (int c = 0; c < 4; ++c) acc[r][c] = fmaf(av[r], bv[c], acc[r][c]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    const int64_t gi = i0 + ty + 16 * r;
    if (gi >= M) continue;
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const int64_t gj = j0 + tx + 16 * c;
      if (gj >= N) continue;
      const int64_t at = gi * N + gj;
      float v = acc[r][c];
      if (a.accumulate) v = a.C[at] + v;
      if (a.bias) v += a.bias[gj];
      if (a.residual) v += a.residual[at];
      a.C[at] = v;
    }
  }
}

// inverse = 0: src [B·N, H·Dh] -> dst [B, H, N, Dh]; inverse = 1: the other way.
__global__ void heads_kernel(const float* src, float* dst, int64_t B, int64_t N, int64_t H, int64_t Dh, int inverse) {
  const int64_t total = B * N * H * Dh;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    // e indexes the [B, N, H, Dh] (row-major [B·N, H·Dh]) layout.
    const int64_t dd = e % Dh, h = (e / Dh) % H, n = (e / (Dh * H)) % N, b = e / (Dh * H * N);
    const int64_t s = ((b * H + h) * N + n) * Dh + dd;
    if (inverse) dst[e] = src[s];
    else dst[s] = src[e];
  }
}

constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2 / pi)

__global__ void gelu_kernel(const float* h, float* out, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float x = h[i];
    out[i] = 0.5f * x * (1.f + tanhf(kGeluC * (x + 0.044715f * x * x * x)));
  }
}

// dh[i] *= GELU'(h[i])
__global__ void gelu_grad_kernel(const float* h, float* dh, int64_t n) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float x = h[i];
    const float t = tanhf(kGeluC * (x + 0.044715f * x * x * x));
    dh[i] *= 0.5f * (1.f + t) + 0.5f * x * (1.f - t * t) * kGeluC * (1.f + 3.f * 0.044715f * x * x);
  }
}

// out[j] = Σ_i X[i, j], X [rows, cols]. Block (32, 8): 32 columns, 8 row-strided partial sums,
// then a fixed-order sum of the 8.
__global__ void colsum_kernel(const float* X, float* out, int64_t rows, int64_t cols) {
  LEMMA_SHARED(float, part, [8][33]);
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t j = static_cast<int64_t>(blockIdx.x) * 32 + tx;
  float s = 0.f;
  if (j < cols)
    for (int64_t i = ty; i < rows; i += 8) s += X[i * cols + j];
  part[ty][tx] = s;
  __syncthreads();
  if (ty == 0 && j < cols) {
    float t = part[0][tx];
    for (int r = 1; r < 8; ++r) t += part[r][tx];
    out[j] = t;
  }
}

__global__ void adam_kernel(float* p, const float* g, float* m, float* v, int64_t n, NnAdamParams hp) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float gi = g[i];
    const float mi = hp.beta1 * m[i] + (1.f - hp.beta1) * gi;
    const float vi = hp.beta2 * v[i] + (1.f - hp.beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= (hp.lr * (mi / hp.c1)) / (sqrtf(vi / hp.c2) + hp.eps);
  }
}

unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + 255) / 256;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 65535 ? 65535 : blocks));
}

Status heads(const float* src, float* dst, const NnLayerDims& d, bool inverse, cudaStream_t s) {
  const int64_t n = d.B * d.N * d.H * d.Dh;
  LEMMA_LAUNCH(heads_kernel, grid_for(n), 256, 0, s)(src, dst, d.B, d.N, d.H, d.Dh, inverse ? 1 : 0);
  LEMMA_CUDA_CHECK_LAUNCH("heads_kernel");
  return Status::Ok();
}

Status colsum(const float* X, float* out, int64_t rows, int64_t cols, cudaStream_t s) {
  const unsigned blocks = static_cast<unsigned>((cols + 31) / 32);
  LEMMA_LAUNCH(colsum_kernel, blocks, dim3(32, 8), 0, s)(X, out, rows, cols);
  LEMMA_CUDA_CHECK_LAUNCH("colsum_kernel");
  return Status::Ok();
}

AttentionParams attention_params(const NnLayerDims& d) {
  AttentionParams p;
  p.B = d.B;
  p.Hq = p.Hkv = d.H;
  p.Nq = p.Nk = d.N;
  p.D = d.Dh;
  p.scale = 1.0 / std::sqrt(static_cast<double>(d.Dh));
  p.causal = d.causal;
  p.deterministic = true;
  return p;
}

Status check_dims(const NnLayerDims& d) {
  if (d.B < 1 || d.N < 1 || d.H < 1 || d.Dh < 1 || d.Dh > 256 || d.m < 1)
    return Status::Error(Code::kShape, "nn layer: B, N, H, m must be positive and 1 <= Dh <= 256");
  if (d.B * d.N > int64_t{65535} * kBM || d.m > int64_t{1} << 30 || d.H * d.Dh > int64_t{1} << 30)
    return Status::Error(Code::kRange, "nn layer: too many rows for one GEMM launch");
  return Status::Ok();
}

Status alloc_f32(Workspace& ws, float** p, int64_t n) {
  void* v = nullptr;
  LEMMA_RETURN_IF_ERROR(ws.alloc(&v, static_cast<size_t>(n) * sizeof(float)));
  *p = static_cast<float*>(v);
  return Status::Ok();
}

}  // namespace

Status nn_sgemm_cuda(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, const float* B,
                     float* C, bool accumulate, const float* bias, const float* residual, void* stream) {
  if (M < 0 || N < 0 || K < 0) return Status::Error(Code::kShape, "nn_sgemm_cuda: negative size");
  if (M == 0 || N == 0) return Status::Ok();
  const int64_t gy = (M + kBM - 1) / kBM, gx = (N + kBN - 1) / kBN;
  if (gy > 65535 || gx > 2147483647LL) return Status::Error(Code::kRange, "nn_sgemm_cuda: matrix too large for one launch");
  GemmArgs a{A, B, C, bias, residual, M, N, K, ta ? 1 : 0, tb ? 1 : 0, accumulate ? 1 : 0};
  LEMMA_LAUNCH(sgemm_kernel, dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy)), kThreads, 0,
               static_cast<cudaStream_t>(stream))(a);
  LEMMA_CUDA_CHECK_LAUNCH("sgemm_kernel");
  return Status::Ok();
}

Status nn_layer_forward_cuda(const NnLayerDims& dims, const NnLayerWeights& w, const float* T, float* T_save,
                             const NnLayerTape& t, float* Tn, void* stream) {
  LEMMA_RETURN_IF_ERROR(check_dims(dims));
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t d = dims.H * dims.Dh, m = dims.m, R = dims.B * dims.N;
  if (T_save) LEMMA_CUDA_CHECK(cudaMemcpyAsync(T_save, T, static_cast<size_t>(R * d) * sizeof(float), cudaMemcpyDeviceToDevice, s));
  Workspace ws(s);
  float* tmp = nullptr;
  LEMMA_RETURN_IF_ERROR(alloc_f32(ws, &tmp, R * d));
  const float* Wp[3] = {w.Wq, w.Wk, w.Wv};
  float* hp[3] = {t.qh, t.kh, t.vh};
  for (int i = 0; i < 3; ++i) {
    LEMMA_RETURN_IF_ERROR(nn_sgemm_cuda(false, false, R, d, d, T, Wp[i], tmp, false, nullptr, nullptr, s));
    LEMMA_RETURN_IF_ERROR(heads(tmp, hp[i], dims, false, s));
  }
  LEMMA_RETURN_IF_ERROR(attention_forward_cuda(attention_params(dims), CudaPrecision::kFp32, DeviceDtype::kF32,
                                               t.qh, t.kh, t.vh, t.oh, t.lse, s));
  LEMMA_RETURN_IF_ERROR(heads(t.oh, t.O, dims, true, s));
  LEMMA_RETURN_IF_ERROR(nn_sgemm_cuda(false, false, R, d, d, t.O, w.Wo, t.Z, false, nullptr, T, s));      // Z = T + O Wo
  LEMMA_RETURN_IF_ERROR(nn_sgemm_cuda(false, false, R, m, d, t.Z, w.W1, t.h1, false, w.b1, nullptr, s));  // h1 = Z W1 + b1
  LEMMA_LAUNCH(gelu_kernel, grid_for(R * m), 256, 0, s)(t.h1, t.a1, R * m);
  LEMMA_CUDA_CHECK_LAUNCH("gelu_kernel");
  LEMMA_RETURN_IF_ERROR(nn_sgemm_cuda(false, false, R, d, m, t.a1, w.W2, Tn, false, w.b2, t.Z, s));       // Tn = Z + a1 W2 + b2
  return Status::Ok();
}

Status nn_layer_backward_cuda(const NnLayerDims& dims, const NnLayerWeights& w, const float* T,
                              const NnLayerTape& t, const float* G, float* dT, const NnLayerGrads& g,
                              void* stream) {
  LEMMA_RETURN_IF_ERROR(check_dims(dims));
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int64_t d = dims.H * dims.Dh, m = dims.m, R = dims.B * dims.N;
  Workspace ws(s);
  float *dh1, *dZ, *tmp, *dOh, *dqh, *dkh, *dvh, *dq, *dk, *dv;
  LEMMA_RETURN_IF_ERROR(alloc_f32(ws, &dh1, R * m));
  for (float** p : {&dZ, &tmp, &dOh, &dqh, &dkh, &dvh, &dq, &dk, &dv}) LEMMA_RETURN_IF_ERROR(alloc_f32(ws, p, R * d));
  // MLP: Tn = Z + GELU(h1) W2 + b2
  LEMMA_RETURN_IF_ERROR(nn_sgemm_cuda(true, false, m, d, R, t.a1, G, g.W2, false, nullptr, nullptr, s));  // dW2 = a1ᵀ G
  LEMMA_RETURN_IF_ERROR(colsum(G, g.b2, R, d, s));
  LEMMA_RETURN_IF_ERROR(nn_sgemm_cuda(false, true, R, m, d, G, w.W2, dh1, false, nullptr, nullptr, s));  // G W2ᵀ
  LEMMA_LAUNCH(gelu_grad_kernel, grid_for(R * m), 256, 0, s)(t.h1, dh1, R * m);
  LEMMA_CUDA_CHECK_LAUNCH("gelu_grad_kernel");
  LEMMA_RETURN_IF_ERROR(nn_sgemm_cuda(true, false, d, m, R, t.Z, dh1, g.W1, false, nullptr, nullptr, s));  // dW1 = Zᵀ dh1
  LEMMA_RETURN_IF_ERROR(colsum(dh1, g.b1, R, m, s));
  LEMMA_RETURN_IF_ERROR(nn_sgemm_cuda(false, true, R, d, m, dh1, w.W1, dZ, false, nullptr, G, s));  // dZ = dh1 W1ᵀ + G
  // Attention: Z = T + O Wo
  LEMMA_RETURN_IF_ERROR(nn_sgemm_cuda(true, false, d, d, R, t.O, dZ, g.Wo, false, nullptr, nullptr, s));  // dWo = Oᵀ dZ
  LEMMA_RETURN_IF_ERROR(nn_sgemm_cuda(false, true, R, d, d, dZ, w.Wo, tmp, false, nullptr, nullptr, s));  // dO = dZ Woᵀ
  LEMMA_RETURN_IF_ERROR(heads(tmp, dOh, dims, false, s));
  LEMMA_RETURN_IF_ERROR(attention_backward_cuda(attention_params(dims), CudaPrecision::kFp32, DeviceDtype::kF32, t.qh,
                                                t.kh, t.vh, t.oh, t.lse, dOh, dqh, dkh, dvh, s));
  LEMMA_RETURN_IF_ERROR(heads(dqh, dq, dims, true, s));
  LEMMA_RETURN_IF_ERROR(heads(dkh, dk, dims, true, s));
  LEMMA_RETURN_IF_ERROR(heads(dvh, dv, dims, true, s));
  // dT = dZ + dq Wqᵀ + dk Wkᵀ + dv Wvᵀ (the CPU stack's order)
  LEMMA_RETURN_IF_ERROR(nn_sgemm_cuda(false, true, R, d, d, dq, w.Wq, dT, false, nullptr, dZ, s));
  LEMMA_RETURN_IF_ERROR(nn_sgemm_cuda(false, true, R, d, d, dk, w.Wk, dT, true, nullptr, nullptr, s));
  LEMMA_RETURN_IF_ERROR(nn_sgemm_cuda(false, true, R, d, d, dv, w.Wv, dT, true, nullptr, nullptr, s));
  LEMMA_RETURN_IF_ERROR(nn_sgemm_cuda(true, false, d, d, R, T, dq, g.Wq, false, nullptr, nullptr, s));
  LEMMA_RETURN_IF_ERROR(nn_sgemm_cuda(true, false, d, d, R, T, dk, g.Wk, false, nullptr, nullptr, s));
  LEMMA_RETURN_IF_ERROR(nn_sgemm_cuda(true, false, d, d, R, T, dv, g.Wv, false, nullptr, nullptr, s));
  return Status::Ok();
}

Status nn_adam_cuda(float* p, const float* g, float* m, float* v, int64_t n, const NnAdamParams& hp, void* stream) {
  if (n <= 0) return Status::Ok();
  LEMMA_LAUNCH(adam_kernel, grid_for(n), 256, 0, static_cast<cudaStream_t>(stream))(p, g, m, v, n, hp);
  LEMMA_CUDA_CHECK_LAUNCH("adam_kernel");
  return Status::Ok();
}

}  // namespace lemma
