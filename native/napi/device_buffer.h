// Device buffers shared by the bindings that run on device tensors: the cuda binding (alloc,
// upload, download, free) and the attention binding (attention on device tensors).
// A JS device tensor handle is a convert.h handle of DeviceBuffer: a type-tagged External over a
// shared_ptr<DeviceBuffer>. A call takes its own shared_ptrs when it is made (on the event loop)
// and drops them on its worker thread when its work is done, so dispose() while a call runs
// frees nothing under it; the last owner's release goes to the reclaimer thread
// (cuda_free_deferred). No allocation or free runs on the event loop. In a CPU-only build the
// same code compiles against the stubs (every device call fails with ERR_CUDA_UNAVAILABLE and
// cudaAlloc / cudaUpload refuse first, so no handle of this kind ever exists there).
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "attention/attention_cuda.h"
#include "napi/async_job.h"
#include "napi/convert.h"

namespace lemma::napi {

// One device allocation. Created unallocated by cudaAlloc (the first call that uses it
// allocates it, on its worker thread) or allocated by cudaUpload. The destructor hands the
// pointer to the reclaimer, whichever thread drops the last reference.
class DeviceBuffer {
 public:
  DeviceBuffer(size_t elements, DeviceDtype dtype, void* ptr = nullptr)
      : elements(elements), dtype(dtype), bytes_(elements * device_dtype_size(dtype)), ptr_(ptr) {}
  ~DeviceBuffer() { cuda_free_deferred(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // The device pointer, allocated on first use (worker threads only); nullptr for 0 bytes.
  Status get(void** p) {
    std::lock_guard<std::mutex> lock(mu_);
    if (ptr_ == nullptr && bytes_ > 0) LEMMA_RETURN_IF_ERROR(cuda_alloc(&ptr_, bytes_));
    *p = ptr_;
    return Status::Ok();
  }

  const size_t elements;
  const DeviceDtype dtype;

 private:
  std::mutex mu_;
  const size_t bytes_;
  void* ptr_;
};
using BufferRef = std::shared_ptr<DeviceBuffer>;

template <>
struct HandleKind<DeviceBuffer> {
  static constexpr napi_type_tag tag = {0x6c656d6d61646576ULL, 0x6963656275660002ULL};
  static constexpr const char* name = "device tensor";
};

// Queues `body` on a worker thread. The job co-owns `bufs` from this moment until `body`
// returns; ptrs[i] is bufs[i]'s device pointer, allocated first if it was not yet. Bodies end
// with a stream sync, so the memory is idle when released; if a body fails half-way, the
// reclaimer's cudaFree still waits for the device first. Defined in cuda_binding.cc.
using DeviceBody = std::function<Status(void* stream, const std::vector<void*>& ptrs)>;
AsyncJob* device_job(Napi::Env env, const char* name, std::vector<BufferRef> bufs, DeviceBody body);

}  // namespace lemma::napi
