// N-API bindings of the CUDA backend's device buffers (lib/cuda/ is the only caller; attention on
// device tensors lives in attention_binding.cc). In a CPU-only build cudaAlloc / cudaUpload fail
// with ERR_CUDA_UNAVAILABLE (so no handle exists there); the TS layer checks capabilities()
// first, so users see its reason.
//   cudaMemory() -> { bytesInUse }
//   cudaAlloc(elements, dtype) -> handle            (dtype 0 f32, 1 f16, 2 bf16; allocated by
//                                                     the first call that uses it)
//   cudaUpload(hostArray, dtype) -> Promise<handle>  (Float32Array / Float64Array -> dtype)
//   cudaDownload(handle, hostArray) -> Promise<void> (device -> Float32Array / Float64Array)
//   cudaFree(handle) -> void                          (idempotent; never blocks; the finalizer is
//                                                     a safety net)
//   cudaSynchronize() -> Promise<void>               (queued work and pending frees are done:
//                                                     cudaMemory() is exact afterwards)
//   cudaEmulator(op, arg) -> ...                      (emulated builds only, tests only:
//                                                     'failAllocationAfter' k, 'injectFault' why,
//                                                     'reset', 'info', 'faultMessage')
// Ownership and handles: napi/device_buffer.h. Jobs queue their kernels on one process-wide
// non-blocking stream and wait for it on a libuv worker thread.
#include <napi.h>

#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "napi/async_job.h"
#include "napi/convert.h"
#include "napi/device_buffer.h"

#if defined(LEMMA_CUDA_EMULATE)
#include "emulate/control.h"
#endif

namespace lemma::napi {

namespace {

void* shared_stream(Status* st) {
  static std::once_flag once;
  static void* stream = nullptr;
  static Status created;
  std::call_once(once, [] { created = cuda_stream_create(&stream); });
  *st = created;
  return stream;
}

// cudaAlloc / cudaUpload in a build without CUDA: no device handle is ever made there.
void require_cuda(Napi::Env env) {
#ifndef LEMMA_WITH_CUDA
  throw_error(env, Code::kCudaUnavailable, "CUDA support was not compiled into this build");
#endif
}

DeviceDtype read_dtype(const Napi::Value& v) {
  const int d = v.IsNumber() ? v.As<Napi::Number>().Int32Value() : -1;
  if (d < 0 || d > 2) throw_error(v.Env(), Code::kDtype, "unknown device dtype");
  return static_cast<DeviceDtype>(d);
}

Napi::Value Memory(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("bytesInUse", static_cast<double>(cuda_bytes_in_use()));
  return o;
}

// Largest element count a handle may have: sizes stay exact in a double and bytes fit size_t.
constexpr double kMaxElements = 4503599627370496.0;  // 2^52

Napi::Value Alloc(const Napi::CallbackInfo& info) {
  require_cuda(info.Env());
  const double n = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(n >= 0 && n <= kMaxElements && std::floor(n) == n))
    throw_error(info.Env(), Code::kRange, "element count must be an integer in [0, 2^52]");
  const DeviceDtype dt = read_dtype(info[1]);
  return make_handle(info.Env(), std::make_shared<DeviceBuffer>(static_cast<size_t>(n), dt));
}

Napi::Value Upload(const Napi::CallbackInfo& info) {
  require_cuda(info.Env());
  const Dtype host = float_dtype(info[0], "data");
  const ArrayView a = get_array(info, 0, "data", host);
  const DeviceDtype dt = read_dtype(info[1]);
  const size_t n = a.length;
  const void* src = a.data;
  const bool f64 = host == Dtype::kFloat64;
  // The job's result: OnDone hands it to a new handle; dropped with the job on failure.
  auto made = std::make_shared<BufferRef>();
  auto work = [=]() -> Status {
    if (n == 0) {
      *made = std::make_shared<DeviceBuffer>(0, dt);
      return Status::Ok();
    }
    Status st;
    void* stream = shared_stream(&st);
    if (!st.ok()) return st;
    void* p = nullptr;
    LEMMA_RETURN_IF_ERROR(cuda_alloc(&p, n * device_dtype_size(dt)));
    auto buf = std::make_shared<DeviceBuffer>(n, dt, p);
    LEMMA_RETURN_IF_ERROR(cuda_upload(p, src, n * (f64 ? 8 : 4), dt, f64, stream));
    LEMMA_RETURN_IF_ERROR(cuda_stream_sync(stream));
    *made = std::move(buf);
    return Status::Ok();
  };
  return run_async(info, 1, "lemma:cudaUpload", work,
                   [made](Napi::Env env) { return make_handle(env, std::move(*made)); });
}

Napi::Value Download(const Napi::CallbackInfo& info) {
  BufferRef b = get_handle<DeviceBuffer>(info[0], "tensor");
  const Dtype host = float_dtype(info[1], "out");
  const ArrayView a = get_array(info, 1, "out", host, b->elements);
  void* dst = a.data;
  const size_t n = b->elements;
  const DeviceDtype dt = b->dtype;
  const bool f64 = host == Dtype::kFloat64;
  AsyncJob* job = device_job(info.Env(), "lemma:cudaDownload", {b},
                             [=](void* stream, const std::vector<void*>& ptrs) -> Status {
                               if (n == 0) return Status::Ok();
                               return cuda_download(dst, f64, ptrs[0], n, dt, stream);
                             });
  job->Keep(info[1]);
  return job->Start();
}

// Drops the handle's reference: the memory is freed (off the event loop) once no queued call
// uses it any more. Idempotent.
Napi::Value Free(const Napi::CallbackInfo& info) {
  dispose_handle<DeviceBuffer>(info[0], "tensor");
  return info.Env().Undefined();
}

// Nothing can be queued or held without CUDA: resolves at once there (cuda_synchronize's stub).
Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  return run_async(info, 0, "lemma:cudaSynchronize", [] { return cuda_synchronize(); });
}

#if defined(LEMMA_CUDA_EMULATE)
// The emulated device's test hooks (cuda/emulate/control.h), for tests only: not part of the
// public API. 'reset' waits for every stream (on the calling thread: tests only).
Napi::Value Emulator(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : std::string();
  if (op == "failAllocationAfter") {
    if (!info[1].IsNumber()) throw_error(env, Code::kRange, "failAllocationAfter needs a count");
    emu::fail_allocation_after(info[1].As<Napi::Number>().Int32Value());
    return env.Undefined();
  }
  if (op == "injectFault") {
    const std::string why = info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : std::string("test");
    emu::inject_fault(why.c_str());
    return env.Undefined();
  }
  if (op == "reset") {
    emu::reset();
    return env.Undefined();
  }
  if (op == "faultMessage") return Napi::String::New(env, emu::fault_message());
  if (op == "info") {
    const emu::EmulatorInfo i = emu::info();
    Napi::Object o = Napi::Object::New(env);
    o.Set("major", i.major);
    o.Set("minor", i.minor);
    o.Set("family", i.family);
    o.Set("smemOptin", static_cast<double>(i.smem_optin));
    o.Set("memory", static_cast<double>(i.memory));
    o.Set("memoryUsed", static_cast<double>(i.memory_used));
    o.Set("launches", static_cast<double>(i.launches));
    o.Set("blocks", static_cast<double>(i.blocks));
    o.Set("threads", static_cast<double>(i.threads));
    o.Set("switches", static_cast<double>(i.switches));
    return o;
  }
  throw_error(env, Code::kRange, "unknown emulator operation '" + op + "'");
}
#endif


}  // namespace

AsyncJob* device_job(Napi::Env env, const char* name, std::vector<BufferRef> bufs, DeviceBody body) {
  auto held = std::make_shared<std::vector<BufferRef>>(std::move(bufs));
  return new AsyncJob(env, name, [held, body = std::move(body)]() -> Status {
    auto run = [&]() -> Status {
      Status st;
      void* stream = shared_stream(&st);
      if (!st.ok()) return st;
      std::vector<void*> ptrs(held->size(), nullptr);
      for (size_t i = 0; i < held->size(); ++i) LEMMA_RETURN_IF_ERROR((*held)[i]->get(&ptrs[i]));
      return body(stream, ptrs);
    };
    Status st = guarded(run);
    held->clear();
    return st;
  });
}

void register_cuda(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "cudaMemory", Memory);
  export_function(env, exports, "cudaAlloc", Alloc);
  export_function(env, exports, "cudaUpload", Upload);
  export_function(env, exports, "cudaDownload", Download);
  export_function(env, exports, "cudaFree", Free);
  export_function(env, exports, "cudaSynchronize", Synchronize);
#if defined(LEMMA_CUDA_EMULATE)
  export_function(env, exports, "cudaEmulator", Emulator);
#endif
}

}  // namespace lemma::napi
