// DeviceBuffer<T>: an owned device array of n elements, allocated by cuda_alloc and released by
// cuda_free (native/attention/attention_cuda.h), so that every byte a CUDA family holds is
// counted by cuda_bytes_in_use() and shows in lemma.cuda.memory(). The families' private
// buffers (sparse attention's index mirror and per-call arrays, the Dikin walk's chain state,
// the dp query's tree copy) all live in these; none calls cudaMalloc / cudaFree directly.
//   alloc(n)               frees what it held, then n elements (contents undefined; n = 0 holds
//                          nothing and get() is null)
//   zero()                 every byte 0 (synchronous, legacy default stream)
//   upload(src, n, at)     host -> elements [at, at + n) (synchronous cudaMemcpy)
//   download(dst, n, at)   elements [at, at + n) -> host (waits for the work queued before it)
// Transfers outside [0, size()) return ERR_INTERNAL instead of touching memory. The destructor
// and reset() hand the memory to the reclaimer (cuda_free_deferred): they never block, so an
// owner may be destroyed on the event loop (a sparse index or a sampler disposed from JS) while
// kernels run; the bytes stay counted until the free has run (exact after cuda_synchronize()).
// Move-only.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include "attention/attention_cuda.h"
#include "common/cuda_check.cuh"
#include "core/status.h"

namespace lemma {

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), n_(o.n_) {
    o.p_ = nullptr;
    o.n_ = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = o.p_;
      n_ = o.n_;
      o.p_ = nullptr;
      o.n_ = 0;
    }
    return *this;
  }

  Status alloc(size_t n) {
    reset();
    if (n == 0) return Status::Ok();
    if (n > std::numeric_limits<size_t>::max() / sizeof(T))
      return Status::Error(Code::kCudaOom, "device buffer of " + std::to_string(n) + " elements overflows size_t");
    void* p = nullptr;
    LEMMA_RETURN_IF_ERROR(cuda_alloc(&p, n * sizeof(T)));
    p_ = static_cast<T*>(p);
    n_ = n;
    return Status::Ok();
  }

  Status zero() {
    if (n_) LEMMA_CUDA_CHECK(cudaMemset(p_, 0, n_ * sizeof(T)));
    return Status::Ok();
  }

  Status upload(const T* src, size_t n, size_t at = 0) {
    if (n == 0) return Status::Ok();
    LEMMA_RETURN_IF_ERROR(check_range(n, at, "upload"));
    LEMMA_CUDA_CHECK(cudaMemcpy(p_ + at, src, n * sizeof(T), cudaMemcpyHostToDevice));
    return Status::Ok();
  }

  Status download(T* dst, size_t n, size_t at = 0) const {
    if (n == 0) return Status::Ok();
    LEMMA_RETURN_IF_ERROR(check_range(n, at, "download"));
    LEMMA_CUDA_CHECK(cudaMemcpy(dst, p_ + at, n * sizeof(T), cudaMemcpyDeviceToHost));
    return Status::Ok();
  }

  // Releases the memory through the reclaimer (after the work queued before it has run).
  void reset() {
    cuda_free_deferred(p_);
    p_ = nullptr;
    n_ = 0;
  }

  T* get() const { return p_; }
  size_t size() const { return n_; }

 private:
  Status check_range(size_t n, size_t at, const char* what) const {
    if (at > n_ || n > n_ - at)
      return Status::Error(Code::kInternal, std::string("device buffer ") + what + " of [" + std::to_string(at) +
                                                ", " + std::to_string(at) + " + " + std::to_string(n) +
                                                ") outside its " + std::to_string(n_) + " elements");
    return Status::Ok();
  }

  T* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace lemma
