// Device memory for lemma: tracked allocations (cuda_alloc / cuda_free / cuda_bytes_in_use),
// frees handed to a reclaimer thread (cuda_free_deferred / cuda_synchronize), uploads and
// downloads with dtype conversion on the device, streams, event timing, and the stream-ordered
// Workspace used by the launchers.
//   convert: fp64/fp32 -> fp32/fp16/bf16 rounds once to nearest-even; downloads are exact.
//   accounting: g_bytes_in_use counts a block from its allocation until it is released to the
//     runtime: cudaFree has returned, or the stream has reached a Workspace's cudaFreeAsync (a
//     host function queued behind the free subtracts it). Never less than what lemma holds.
// Tested by test/native/attention_cuda_test.cc (uploads/downloads round-trip every case) and,
// on the emulated device, test/gpu/17.cuda-memory.test.ts (dispose during calls, exact
// accounting, OOM and sticky faults).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "attention/attention_cuda.h"
#include "common/cuda_check.cuh"
#include "common/launch.cuh"
#include "common/device_memory.cuh"

namespace lemma {

namespace {

std::atomic<int64_t> g_bytes_in_use{0};
std::mutex g_alloc_mutex;
std::unordered_map<void*, size_t>& alloc_table() {
  static auto* t = new std::unordered_map<void*, size_t>();  // never destroyed: safe at exit
  return *t;
}

// ---- element conversion ----
template <class Dst> __device__ __forceinline__ Dst cvt_from_f64(double x);
template <> __device__ __forceinline__ float cvt_from_f64<float>(double x) { return static_cast<float>(x); }
template <> __device__ __forceinline__ double cvt_from_f64<double>(double x) { return x; }
template <> __device__ __forceinline__ __half cvt_from_f64<__half>(double x) { return __double2half(x); }
template <> __device__ __forceinline__ __nv_bfloat16 cvt_from_f64<__nv_bfloat16>(double x) {
  return __double2bfloat16(x);
}

__device__ __forceinline__ double to_f64(float x) { return x; }
__device__ __forceinline__ double to_f64(double x) { return x; }
__device__ __forceinline__ double to_f64(__half x) { return __half2float(x); }
__device__ __forceinline__ double to_f64(__nv_bfloat16 x) { return __bfloat162float(x); }

// Every value of every supported type is exactly representable in fp64, so going through fp64
// rounds exactly once (at the final conversion).
template <class Src, class Dst>
__global__ void repack_kernel(const Src* __restrict__ src, int64_t src_cols, Dst* __restrict__ dst,
                              int64_t dst_cols, int64_t rows) {
  const int64_t n = rows * dst_cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / dst_cols, c = i - r * dst_cols;
    dst[i] = c < src_cols ? cvt_from_f64<Dst>(to_f64(src[r * src_cols + c])) : cvt_from_f64<Dst>(0.0);
  }
}

template <class Src, class Dst>
Status launch_repack(const void* src, int64_t src_cols, void* dst, int64_t dst_cols, int64_t rows,
                     cudaStream_t s) {
  const int64_t n = rows * dst_cols;
  if (n == 0) return Status::Ok();
  const int threads = 256;
  const int64_t want = (n + threads - 1) / threads;
  const int blocks = static_cast<int>(want < 65536 ? want : 65536);
  LEMMA_LAUNCH((repack_kernel<Src, Dst>), blocks, threads, 0, s)(static_cast<const Src*>(src), src_cols,
                                                     static_cast<Dst*>(dst), dst_cols, rows);
  LEMMA_CUDA_CHECK_LAUNCH("repack_kernel");
  return Status::Ok();
}

template <class Src>
Status repack_from(const void* src, int64_t src_cols, void* dst, Elt dst_t, int64_t dst_cols,
                   int64_t rows, cudaStream_t s) {
  switch (dst_t) {
    case Elt::kF32: return launch_repack<Src, float>(src, src_cols, dst, dst_cols, rows, s);
    case Elt::kF16: return launch_repack<Src, __half>(src, src_cols, dst, dst_cols, rows, s);
    case Elt::kBF16: return launch_repack<Src, __nv_bfloat16>(src, src_cols, dst, dst_cols, rows, s);
    case Elt::kF64: return launch_repack<Src, double>(src, src_cols, dst, dst_cols, rows, s);
  }
  return Status::Error(Code::kInternal, "repack: bad destination type");
}

// Stream-ordered release of workspace bytes: runs on the stream after the cudaFreeAsync calls
// queued before it. The byte count travels in the pointer (no allocation to leak if it never
// runs: CUDA skips host functions once the context is broken, and then nothing is usable anyway).
void CUDART_CB release_bytes(void* bytes) {
  g_bytes_in_use -= static_cast<int64_t>(reinterpret_cast<uintptr_t>(bytes));
}

// The reclaimer: one thread that cuda_free()s what cuda_free_deferred hands it, so the event loop
// never waits in cudaFree (which waits for the whole device). `queued` / `freed` count requests,
// so cuda_synchronize waits only for those made before it.
struct Reclaimer {
  std::mutex mu;
  std::condition_variable work, done;
  std::deque<void*> q;
  uint64_t queued = 0, freed = 0;
  bool started = false;
};
Reclaimer& reclaimer() {
  static auto* r = new Reclaimer();  // never destroyed: finalizers may hand it pointers at exit
  return *r;
}

void reclaim_loop() {
  Reclaimer& r = reclaimer();
  std::unique_lock<std::mutex> lock(r.mu);
  for (;;) {
    r.work.wait(lock, [&] { return !r.q.empty(); });
    std::deque<void*> batch;
    batch.swap(r.q);
    lock.unlock();
    // The count drops even when the runtime refuses (a broken context): the memory is not lemma's
    // to use any more, and only destroying the context would give it back.
    for (void* p : batch) cuda_free(p);
    lock.lock();
    r.freed += batch.size();
    r.done.notify_all();
  }
}

bool pools_supported() {
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  int v = 0;
  if (cudaDeviceGetAttribute(&v, cudaDevAttrMemoryPoolsSupported, dev) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return v != 0;
}

}  // namespace

Status cuda_require_device() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    switch (e) {
      // The errors that break a context that worked (a faulting kernel, an ECC error): every
      // later call returns them. The device exists, so this is ERR_CUDA naming the fault.
      case cudaErrorECCUncorrectable:
      case cudaErrorIllegalAddress:
      case cudaErrorLaunchTimeout:
      case cudaErrorContextIsDestroyed:
      case cudaErrorAssert:
      case cudaErrorHardwareStackError:
      case cudaErrorIllegalInstruction:
      case cudaErrorMisalignedAddress:
      case cudaErrorInvalidAddressSpace:
      case cudaErrorInvalidPc:
      case cudaErrorLaunchFailure:
        return cuda_status(e, "cudaGetDeviceCount", __FILE__, __LINE__);
      default:
        cudaGetLastError();
        return Status::Error(Code::kCudaUnavailable,
                             std::string("no usable CUDA device: ") + cudaGetErrorName(e) + " (" +
                                 cudaGetErrorString(e) + ")");
    }
  }
  if (count == 0)
    return Status::Error(Code::kCudaUnavailable, "no usable CUDA device: cudaGetDeviceCount reported 0");
  return Status::Ok();
}

Status cuda_repack(const void* src, Elt src_t, int64_t src_cols, void* dst, Elt dst_t,
                   int64_t dst_cols, int64_t rows, cudaStream_t s) {
  switch (src_t) {
    case Elt::kF32: return repack_from<float>(src, src_cols, dst, dst_t, dst_cols, rows, s);
    case Elt::kF16: return repack_from<__half>(src, src_cols, dst, dst_t, dst_cols, rows, s);
    case Elt::kBF16: return repack_from<__nv_bfloat16>(src, src_cols, dst, dst_t, dst_cols, rows, s);
    case Elt::kF64: return repack_from<double>(src, src_cols, dst, dst_t, dst_cols, rows, s);
  }
  return Status::Error(Code::kInternal, "repack: bad source type");
}

// ---- Workspace ----
Status Workspace::alloc(void** p, size_t bytes) {
  *p = nullptr;
  if (bytes == 0) bytes = 16;
  static const bool pooled = pools_supported();
  if (pooled) {
    LEMMA_CUDA_CHECK(cudaMallocAsync(p, bytes, stream_));
  } else {
    LEMMA_CUDA_CHECK(cudaMalloc(p, bytes));
  }
  blocks_.push_back({*p, bytes, pooled});
  g_bytes_in_use += static_cast<int64_t>(bytes);
  return Status::Ok();
}

// Pooled blocks stay counted until the stream reaches their cudaFreeAsync (release_bytes runs
// behind them), so cuda_bytes_in_use() never under-reports and is exact after a stream sync.
Workspace::~Workspace() {
  bool synced = false;
  size_t pending = 0;  // bytes whose stream-ordered free was queued
  for (const Block& b : blocks_) {
    if (b.pooled) {
      if (cudaFreeAsync(b.p, stream_) == cudaSuccess) {
        pending += b.bytes;
        continue;
      }
      cudaGetLastError();  // a broken context: the block is lost with it
    } else {
      if (!synced) {
        if (cudaStreamSynchronize(stream_) != cudaSuccess) cudaGetLastError();
        synced = true;
      }
      if (cudaFree(b.p) != cudaSuccess) cudaGetLastError();
    }
    g_bytes_in_use -= static_cast<int64_t>(b.bytes);
  }
  if (pending == 0) return;
  void* arg = reinterpret_cast<void*>(static_cast<uintptr_t>(pending));
  if (cudaLaunchHostFunc(stream_, release_bytes, arg) != cudaSuccess) {
    cudaGetLastError();
    if (cudaStreamSynchronize(stream_) != cudaSuccess) cudaGetLastError();
    release_bytes(arg);
  }
}

// ---- public API ----
Status cuda_alloc(void** p, size_t bytes) {
  *p = nullptr;
  LEMMA_RETURN_IF_ERROR(cuda_require_device());
  if (bytes == 0) bytes = 16;  // a distinct, freeable pointer even for empty tensors
  LEMMA_CUDA_CHECK(cudaMalloc(p, bytes));
  {
    std::lock_guard<std::mutex> lock(g_alloc_mutex);
    alloc_table()[*p] = bytes;
  }
  g_bytes_in_use += static_cast<int64_t>(bytes);
  return Status::Ok();
}

Status cuda_free(void* p) {
  if (p == nullptr) return Status::Ok();
  size_t bytes = 0;
  {
    std::lock_guard<std::mutex> lock(g_alloc_mutex);
    auto it = alloc_table().find(p);
    if (it == alloc_table().end())
      return Status::Error(Code::kInternal, "cuda_free: pointer was not allocated by cuda_alloc");
    bytes = it->second;
    alloc_table().erase(it);
  }
  const cudaError_t e = cudaFree(p);
  g_bytes_in_use -= static_cast<int64_t>(bytes);  // after the free: never under-reports
  if (e != cudaSuccess) return cuda_status(e, "cudaFree(p)", __FILE__, __LINE__);
  return Status::Ok();
}

void cuda_free_deferred(void* p) {
  if (p == nullptr) return;
  Reclaimer& r = reclaimer();
  bool queued = false;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    if (!r.started) {
      try {
        std::thread(reclaim_loop).detach();  // lives as long as the process, like the runtime's
        r.started = true;
      } catch (...) {
      }
    }
    if (r.started) {
      r.q.push_back(p);
      ++r.queued;
      queued = true;
    }
  }
  if (queued) {
    r.work.notify_one();
  } else {
    cuda_free(p);  // no thread to be had: free here rather than leak
  }
}

Status cuda_synchronize() {
  Reclaimer& r = reclaimer();
  {
    std::unique_lock<std::mutex> lock(r.mu);
    const uint64_t target = r.queued;
    r.done.wait(lock, [&] { return r.freed >= target; });
  }
  const Status dev = cuda_require_device();
  if (dev.code == Code::kCudaUnavailable) return Status::Ok();  // nothing can be in use
  LEMMA_RETURN_IF_ERROR(dev);
  LEMMA_CUDA_CHECK(cudaDeviceSynchronize());  // every stream, so every release_bytes has run
  return Status::Ok();
}

int64_t cuda_bytes_in_use() { return g_bytes_in_use.load(); }

Status cuda_upload(void* dst, const void* host, size_t host_bytes, DeviceDtype dst_dtype,
                   bool host_is_f64, void* stream) {
  LEMMA_RETURN_IF_ERROR(cuda_require_device());
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  const size_t host_elt = host_is_f64 ? 8 : 4;
  if (host_bytes % host_elt != 0)
    return Status::Error(Code::kRange, "cuda_upload: host_bytes is not a whole number of elements");
  const size_t n = host_bytes / host_elt;
  if (n == 0) return Status::Ok();
  if (!host_is_f64 && dst_dtype == DeviceDtype::kF32) {
    LEMMA_CUDA_CHECK(cudaMemcpyAsync(dst, host, host_bytes, cudaMemcpyHostToDevice, s));
    return Status::Ok();
  }
  Workspace ws(s);
  void* staging = nullptr;
  LEMMA_RETURN_IF_ERROR(ws.alloc(&staging, host_bytes));
  // Pageable source: returns once the bytes are staged, so `host` may be reused right away.
  LEMMA_CUDA_CHECK(cudaMemcpyAsync(staging, host, host_bytes, cudaMemcpyHostToDevice, s));
  return cuda_repack(staging, host_is_f64 ? Elt::kF64 : Elt::kF32, 1, dst, elt_of(dst_dtype), 1,
                     static_cast<int64_t>(n), s);
}

Status cuda_download(void* host, bool host_is_f64, const void* src, size_t n_elements,
                     DeviceDtype src_dtype, void* stream) {
  LEMMA_RETURN_IF_ERROR(cuda_require_device());
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (n_elements == 0) return Status::Ok();
  const size_t host_bytes = n_elements * (host_is_f64 ? 8 : 4);
  if (!host_is_f64 && src_dtype == DeviceDtype::kF32) {
    LEMMA_CUDA_CHECK(cudaMemcpyAsync(host, src, host_bytes, cudaMemcpyDeviceToHost, s));
    LEMMA_CUDA_CHECK(cudaStreamSynchronize(s));
    return Status::Ok();
  }
  Workspace ws(s);
  void* staging = nullptr;
  LEMMA_RETURN_IF_ERROR(ws.alloc(&staging, host_bytes));
  LEMMA_RETURN_IF_ERROR(cuda_repack(src, elt_of(src_dtype), 1, staging,
                                    host_is_f64 ? Elt::kF64 : Elt::kF32, 1,
                                    static_cast<int64_t>(n_elements), s));
  LEMMA_CUDA_CHECK(cudaMemcpyAsync(host, staging, host_bytes, cudaMemcpyDeviceToHost, s));
  LEMMA_CUDA_CHECK(cudaStreamSynchronize(s));
  return Status::Ok();
}

Status cuda_stream_create(void** s) {
  *s = nullptr;
  LEMMA_RETURN_IF_ERROR(cuda_require_device());
  cudaStream_t st = nullptr;
  LEMMA_CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  *s = st;
  return Status::Ok();
}

Status cuda_stream_sync(void* s) {
  LEMMA_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(s)));
  return Status::Ok();
}

Status cuda_stream_destroy(void* s) {
  if (s == nullptr) return Status::Ok();
  LEMMA_CUDA_CHECK(cudaStreamDestroy(static_cast<cudaStream_t>(s)));
  return Status::Ok();
}

Status cuda_time_ms(void* stream, const std::function<Status()>& body, float* ms) {
  *ms = 0;
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  cudaEvent_t a = nullptr, b = nullptr;
  LEMMA_CUDA_CHECK(cudaEventCreate(&a));
  if (cudaEventCreate(&b) != cudaSuccess) {
    cudaEventDestroy(a);
    return cuda_status(cudaGetLastError(), "cudaEventCreate", __FILE__, __LINE__);
  }
  Status st = Status::Ok();
  cudaError_t e = cudaEventRecord(a, s);
  if (e == cudaSuccess) {
    st = body();
    if (st.ok()) {
      e = cudaEventRecord(b, s);
      if (e == cudaSuccess) e = cudaEventSynchronize(b);
      if (e == cudaSuccess) e = cudaEventElapsedTime(ms, a, b);
    }
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  if (!st.ok()) return st;
  if (e != cudaSuccess) return cuda_status(e, "event timing", __FILE__, __LINE__);
  return Status::Ok();
}

}  // namespace lemma
