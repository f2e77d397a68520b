// attention_forward_cuda / attention_backward_cuda: argument checks, staging, dispatch.
//   Fast path: storage dtype = the precision's type, D in {32, 64, 96, 128, 256}, 16-byte
//   aligned pointers: the kernels read and write the caller's tensors directly.
//   Otherwise (e.g. D = 16 or 48, fp32 tensors at bf16 precision): inputs are converted and
//   zero-padded to the next kernel head dim in stream-ordered workspace, and the outputs are
//   converted back (zero columns of Q and K leave S unchanged; zero columns of V give zero
//   output columns, which are dropped).
//   Backward workspace: D = rowsum(dO . O) (fp32, B*Hq*Nq) and, in atomic mode, the fp32 dQ
//   accumulator (B*Hq*Nq*D).
//   Forward dispatch: decode shapes, whose regular grid would leave most SMs idle, go to the
//   split-KV kernels (flash_split.cu; split_chunk_keys says when); everything else to the
//   regular grid. Both read the same (staged) inputs.
// Tested by test/native/attention_cuda_test.cc.
#include <cuda_runtime.h>

#include <atomic>
#include <cmath>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "attention/attention_cuda.h"
#include "attention/flash_launch.cuh"
#include "attention/flash_split.cuh"
#include "common/cuda_check.cuh"
#include "common/device_memory.cuh"

namespace lemma {

namespace cuda {

// A device attribute, asked once per device (devices 0..63; beyond that, every time): launches
// are frequent, the query is not. Each attribute passes its own cache.
Status cached_device_attr(cudaDeviceAttr attr, std::atomic<int> (&cache)[64], int* value) {
  int dev = 0;
  LEMMA_CUDA_CHECK(cudaGetDevice(&dev));
  if (dev >= 0 && dev < 64) {
    const int v = cache[dev].load(std::memory_order_relaxed);
    if (v > 0) {
      *value = v;
      return Status::Ok();
    }
  }
  int v = 0;
  LEMMA_CUDA_CHECK(cudaDeviceGetAttribute(&v, attr, dev));
  if (dev >= 0 && dev < 64 && v > 0) cache[dev].store(v, std::memory_order_relaxed);
  *value = v;
  return Status::Ok();
}

Status device_smem_optin(int* bytes) {
  static std::atomic<int> cache[64];  // 0: not yet asked
  return cached_device_attr(cudaDevAttrMaxSharedMemoryPerBlockOptin, cache, bytes);
}

Status device_sm_count(int* sms) {
  static std::atomic<int> cache[64];
  return cached_device_attr(cudaDevAttrMultiProcessorCount, cache, sms);
}

Status smem_error(const char* name, int bytes, int optin) {
  return Status::Error(Code::kCuda, std::string("attention: ") + name + " needs " + std::to_string(bytes) +
                                        " bytes of shared memory per block (its smallest tiles); this device offers " +
                                        std::to_string(optin));
}

Status prepare_kernel(const void* kernel, int bytes, const char* name) {
  int optin = 0;
  LEMMA_RETURN_IF_ERROR(device_smem_optin(&optin));
  if (bytes > optin) return smem_error(name, bytes, optin);
  // The attribute is per (kernel, device); set it once.
  static std::mutex mu;
  static std::vector<std::pair<const void*, int>> done;
  int dev = 0;
  LEMMA_CUDA_CHECK(cudaGetDevice(&dev));
  std::lock_guard<std::mutex> lock(mu);
  for (const auto& d : done)
    if (d.first == kernel && d.second == dev) return Status::Ok();
  LEMMA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  done.emplace_back(kernel, dev);
  return Status::Ok();
}

Status check_grid(int64_t blocks, const char* name) {
  if (blocks > 2147483647LL)
    return Status::Error(Code::kRange, std::string("attention: too many thread blocks for ") + name);
  return Status::Ok();
}

}  // namespace cuda

namespace {

using cuda::FlashParams;

int kernel_head_dim(int64_t D) {
  for (int d : {32, 64, 96, 128, 256})
    if (D <= d) return d;
  return 0;
}

DeviceDtype compute_dtype(CudaPrecision pr) {
  switch (pr) {
    case CudaPrecision::kFp16: return DeviceDtype::kF16;
    case CudaPrecision::kBf16: return DeviceDtype::kBF16;
    default: return DeviceDtype::kF32;
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

Status check_args(const AttentionParams& p, CudaPrecision pr, DeviceDtype dt) {
  LEMMA_RETURN_IF_ERROR(attention_check_params(p));
  const int prv = static_cast<int>(pr), dtv = static_cast<int>(dt);
  if (prv < 0 || prv > 3) return Status::Error(Code::kDtype, "attention: unknown CUDA precision");
  if (dtv < 0 || dtv > 2) return Status::Error(Code::kDtype, "attention: unknown device dtype");
  // Kernels index rows with int and grids with 31 bits.
  if (p.Nq > (int64_t{1} << 30) || p.Nk > (int64_t{1} << 30) || p.B * p.Hq > (int64_t{1} << 30))
    return Status::Error(Code::kRange, "attention: Nq, Nk and B*Hq must each be at most 2^30 on CUDA");
  // The kernels take scale and scale * log2(e) (their exponentials are exp2) as fp32.
  if (!std::isfinite(static_cast<float>(p.scale)) || !std::isfinite(static_cast<float>(p.scale * 1.4426950408889634)))
    return Status::Error(Code::kRange, "attention: scale * log2(e) does not fit in fp32");
  return Status::Ok();
}

Status check_device() {
  LEMMA_RETURN_IF_ERROR(cuda_require_device());
  int dev = 0, major = 0, minor = 0;
  LEMMA_CUDA_CHECK(cudaGetDevice(&dev));
  LEMMA_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  LEMMA_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
  if (major < 8)
    return Status::Error(Code::kCudaUnavailable,
                         "attention on CUDA needs compute capability 8.0 or newer; device " + std::to_string(dev) +
                             " is " + std::to_string(major) + "." + std::to_string(minor));
  return Status::Ok();
}

FlashParams base_params(const AttentionParams& p) {
  FlashParams f;
  f.B = static_cast<int>(p.B);
  f.Hq = static_cast<int>(p.Hq);
  f.Hkv = static_cast<int>(p.Hkv);
  f.group = static_cast<int>(p.Hq / p.Hkv);
  f.Nq = static_cast<int>(p.Nq);
  f.Nk = static_cast<int>(p.Nk);
  f.scale = static_cast<float>(p.scale);
  f.scale_log2 = static_cast<float>(p.scale * 1.4426950408889634);
  f.causal = p.causal ? 1 : 0;
  return f;
}

Status launch_fwd(CudaPrecision pr, const FlashParams& f, int D, cudaStream_t s) {
  switch (pr) {
    case CudaPrecision::kFp16: return cuda::flash_fwd_launch<cuda::PolicyF16>(f, D, s);
    case CudaPrecision::kBf16: return cuda::flash_fwd_launch<cuda::PolicyBF16>(f, D, s);
    case CudaPrecision::kTf32: return cuda::flash_fwd_launch<cuda::PolicyTF32>(f, D, s);
    case CudaPrecision::kFp32: return cuda::flash_fwd_launch_f32(f, D, s);
  }
  return Status::Error(Code::kDtype, "attention: unknown CUDA precision");
}

Status launch_bwd(CudaPrecision pr, const FlashParams& f, int D, cudaStream_t s) {
  switch (pr) {
    case CudaPrecision::kFp16: return cuda::flash_bwd_launch<cuda::PolicyF16>(f, D, s);
    case CudaPrecision::kBf16: return cuda::flash_bwd_launch<cuda::PolicyBF16>(f, D, s);
    case CudaPrecision::kTf32: return cuda::flash_bwd_launch<cuda::PolicyTF32>(f, D, s);
    case CudaPrecision::kFp32: return cuda::flash_bwd_launch_f32(f, D, s);
  }
  return Status::Error(Code::kDtype, "attention: unknown CUDA precision");
}

Status stage_in(Workspace& ws, const void* src, int64_t rows, int64_t D, DeviceDtype dt, int Dk,
                DeviceDtype cd, bool direct, cudaStream_t s, const void** out) {
  if (direct) {
    *out = src;
    return Status::Ok();
  }
  void* p = nullptr;
  LEMMA_RETURN_IF_ERROR(ws.alloc(&p, static_cast<size_t>(rows * Dk) * device_dtype_size(cd)));
  LEMMA_RETURN_IF_ERROR(cuda_repack(src, elt_of(dt), D, p, elt_of(cd), Dk, rows, s));
  *out = p;
  return Status::Ok();
}

Status stage_out_alloc(Workspace& ws, void* dst, int64_t rows, int Dk, DeviceDtype cd, bool direct, void** out) {
  if (direct) {
    *out = dst;
    return Status::Ok();
  }
  return ws.alloc(out, static_cast<size_t>(rows * Dk) * device_dtype_size(cd));
}

Status stage_out_copy(const void* staged, void* dst, int64_t rows, int64_t D, DeviceDtype dt, int Dk,
                      DeviceDtype cd, bool direct, cudaStream_t s) {
  if (direct) return Status::Ok();
  return cuda_repack(staged, elt_of(cd), Dk, dst, elt_of(dt), D, rows, s);
}

}  // namespace

std::string attention_cuda_tiles(CudaPrecision precision, int64_t D) {
  const int Dk = kernel_head_dim(D);
  int optin = 0;
  if (Dk == 0 || !cuda_require_device().ok() || !cuda::device_smem_optin(&optin).ok()) return "";
  switch (precision) {
    case CudaPrecision::kFp16:
      return cuda::flash_fwd_tiles<cuda::PolicyF16>(Dk, optin) + " | " + cuda::flash_bwd_tiles<cuda::PolicyF16>(Dk, optin);
    case CudaPrecision::kBf16:
      return cuda::flash_fwd_tiles<cuda::PolicyBF16>(Dk, optin) + " | " + cuda::flash_bwd_tiles<cuda::PolicyBF16>(Dk, optin);
    case CudaPrecision::kTf32:
      return cuda::flash_fwd_tiles<cuda::PolicyTF32>(Dk, optin) + " | " + cuda::flash_bwd_tiles<cuda::PolicyTF32>(Dk, optin);
    case CudaPrecision::kFp32:
      return cuda::flash_fwd_tiles_f32(Dk, optin) + " | " + cuda::flash_bwd_tiles_f32(Dk, optin);
  }
  return "";
}

namespace {

// chunk_req > 0: split-KV with chunks of that many keys; 0: the automatic choice; < 0: regular grid.
Status forward(const AttentionParams& p, CudaPrecision precision, DeviceDtype dtype, const void* q, const void* k,
               const void* v, void* out, float* lse, int64_t chunk_req, void* stream) {
  LEMMA_RETURN_IF_ERROR(check_args(p, precision, dtype));
  LEMMA_RETURN_IF_ERROR(check_device());
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int Dk = kernel_head_dim(p.D);
  const DeviceDtype cd = compute_dtype(precision);
  const bool direct = Dk == p.D && dtype == cd && aligned16(q) && aligned16(k) && aligned16(v) && aligned16(out);
  const int64_t qrows = p.B * p.Hq * p.Nq, krows = p.B * p.Hkv * p.Nk;
  int64_t chunk = chunk_req;
  if (chunk_req == 0) {
    int sms = 0;
    LEMMA_RETURN_IF_ERROR(cuda::device_sm_count(&sms));
    chunk = cuda::split_chunk_keys(p, sms);
    bool fits = true;
    if (chunk > 0) LEMMA_RETURN_IF_ERROR(cuda::split_fits(cd, Dk, &fits));
    if (!fits) chunk = 0;  // only under an artificially low shared-memory limit
  }

  Workspace ws(s);
  FlashParams f = base_params(p);
  LEMMA_RETURN_IF_ERROR(stage_in(ws, q, qrows, p.D, dtype, Dk, cd, direct, s, &f.q));
  LEMMA_RETURN_IF_ERROR(stage_in(ws, k, krows, p.D, dtype, Dk, cd, direct, s, &f.k));
  LEMMA_RETURN_IF_ERROR(stage_in(ws, v, krows, p.D, dtype, Dk, cd, direct, s, &f.v));
  LEMMA_RETURN_IF_ERROR(stage_out_alloc(ws, out, qrows, Dk, cd, direct, &f.out));
  f.lse = lse;
  if (chunk > 0)
    LEMMA_RETURN_IF_ERROR(cuda::flash_split_fwd_launch(f, cd, Dk, chunk, ws, s));
  else
    LEMMA_RETURN_IF_ERROR(launch_fwd(precision, f, Dk, s));
  return stage_out_copy(f.out, out, qrows, p.D, dtype, Dk, cd, direct, s);
}

}  // namespace

Status attention_forward_cuda(const AttentionParams& p, CudaPrecision precision, DeviceDtype dtype,
                              const void* q, const void* k, const void* v, void* out, float* lse,
                              void* stream) {
  return forward(p, precision, dtype, q, k, v, out, lse, 0, stream);
}

Status attention_forward_cuda_split(const AttentionParams& p, CudaPrecision precision, DeviceDtype dtype,
                                    const void* q, const void* k, const void* v, void* out, float* lse,
                                    int64_t chunk_keys, void* stream) {
  return forward(p, precision, dtype, q, k, v, out, lse, chunk_keys, stream);
}

int64_t attention_cuda_split_plan(const AttentionParams& p) {
  int sms = 0;
  if (!attention_check_params(p).ok() || !cuda_require_device().ok() || !cuda::device_sm_count(&sms).ok()) return 0;
  const int64_t chunk = cuda::split_chunk_keys(p, sms);
  return chunk > 0 ? (p.Nk + chunk - 1) / chunk : 0;
}

Status attention_backward_cuda(const AttentionParams& p, CudaPrecision precision, DeviceDtype dtype,
                               const void* q, const void* k, const void* v, const void* out,
                               const float* lse, const void* dout, void* dq, void* dk, void* dv,
                               void* stream) {
  LEMMA_RETURN_IF_ERROR(check_args(p, precision, dtype));
  LEMMA_RETURN_IF_ERROR(check_device());
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int Dk = kernel_head_dim(p.D);
  const DeviceDtype cd = compute_dtype(precision);
  const bool direct = Dk == p.D && dtype == cd && aligned16(q) && aligned16(k) && aligned16(v) &&
                      aligned16(out) && aligned16(dout) && aligned16(dq) && aligned16(dk) && aligned16(dv);
  const int64_t qrows = p.B * p.Hq * p.Nq, krows = p.B * p.Hkv * p.Nk;

  Workspace ws(s);
  FlashParams f = base_params(p);
  LEMMA_RETURN_IF_ERROR(stage_in(ws, q, qrows, p.D, dtype, Dk, cd, direct, s, &f.q));
  LEMMA_RETURN_IF_ERROR(stage_in(ws, k, krows, p.D, dtype, Dk, cd, direct, s, &f.k));
  LEMMA_RETURN_IF_ERROR(stage_in(ws, v, krows, p.D, dtype, Dk, cd, direct, s, &f.v));
  LEMMA_RETURN_IF_ERROR(stage_in(ws, out, qrows, p.D, dtype, Dk, cd, direct, s, &f.o));
  LEMMA_RETURN_IF_ERROR(stage_in(ws, dout, qrows, p.D, dtype, Dk, cd, direct, s, &f.dout));
  LEMMA_RETURN_IF_ERROR(stage_out_alloc(ws, dq, qrows, Dk, cd, direct, &f.dq));
  LEMMA_RETURN_IF_ERROR(stage_out_alloc(ws, dk, krows, Dk, cd, direct, &f.dk));
  LEMMA_RETURN_IF_ERROR(stage_out_alloc(ws, dv, krows, Dk, cd, direct, &f.dv));
  f.lse = const_cast<float*>(lse);
  void* dsum = nullptr;
  LEMMA_RETURN_IF_ERROR(ws.alloc(&dsum, static_cast<size_t>(qrows) * sizeof(float)));
  f.dsum = static_cast<const float*>(dsum);
  f.atomic_dq = p.deterministic ? 0 : 1;
  if (f.atomic_dq) {
    void* acc = nullptr;
    LEMMA_RETURN_IF_ERROR(ws.alloc(&acc, static_cast<size_t>(qrows * Dk) * sizeof(float)));
    f.dq_accum = static_cast<float*>(acc);
  }
  LEMMA_RETURN_IF_ERROR(launch_bwd(precision, f, Dk, s));
  LEMMA_RETURN_IF_ERROR(stage_out_copy(f.dq, dq, qrows, p.D, dtype, Dk, cd, direct, s));
  LEMMA_RETURN_IF_ERROR(stage_out_copy(f.dk, dk, krows, p.D, dtype, Dk, cd, direct, s));
  return stage_out_copy(f.dv, dv, krows, p.D, dtype, Dk, cd, direct, s);
}

}  // namespace lemma
