// N-API bindings of the CUDA backend: device buffers and attention on device tensors
// (lib/cuda/ is the only caller). In a CPU-only build every call fails with
// ERR_CUDA_UNAVAILABLE; the TS layer checks capabilities() first, so users see its reason.
//   cudaMemory() -> { bytesInUse }
//   cudaAlloc(elements, dtype) -> handle            (dtype 0 f32, 1 f16, 2 bf16; allocated by
//                                                     the first call that uses it)
//   cudaUpload(hostArray, dtype) -> Promise<handle>  (Float32Array / Float64Array -> dtype)
//   cudaDownload(handle, hostArray) -> Promise<void> (device -> Float32Array / Float64Array)
//   cudaFree(handle) -> void                          (idempotent; never blocks; the finalizer is
//                                                     a safety net)
//   cudaSynchronize() -> Promise<void>               (queued work and pending frees are done:
//                                                     cudaMemory() is exact afterwards)
//   attentionForwardCuda(q, k, v, out, lse, params, precision) -> Promise<void>
//   attentionBackwardCuda(q, k, v, out, lse, dOut, dq, dk, dv, params, precision) -> Promise<void>
//   cudaEmulator(op, arg) -> ...                      (emulated builds only, tests only:
//                                                     'failAllocationAfter' k, 'injectFault' why,
//                                                     'reset', 'info', 'faultMessage')
// Ownership: a handle is a type-tagged External over a DeviceBuffer, which holds a shared_ptr to
// the DeviceMemory. A call takes its own shared_ptrs when it is made (on the event loop) and
// drops them on its worker thread when its work is done, so dispose() while a call runs frees
// nothing under it; the last owner's release goes to the reclaimer thread (cuda_free_deferred).
// No allocation or free runs on the event loop. Jobs queue their kernels on one process-wide
// non-blocking stream and wait for it on a libuv worker thread.
#include <napi.h>

#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "napi/async_job.h"
#include "napi/convert.h"

#ifdef LEMMA_WITH_CUDA
#include "attention/attention_cuda.h"
#endif
#if defined(LEMMA_CUDA_EMULATE)
#include "emulate/control.h"
#endif

namespace lemma::napi {

// Defined in attention_binding.cc: the attention sizes object, checked.
AttentionParams read_attention_params(const Napi::Value& v);

namespace {

#ifdef LEMMA_WITH_CUDA

// One device allocation, co-owned by the JS handle and by every call that uses it. Created
// unallocated by cudaAlloc (the first call that uses it allocates it, on its worker thread) or
// allocated by cudaUpload. The destructor hands the pointer to the reclaimer, whichever thread
// drops the last reference (the event loop in dispose() or the finalizer, a worker after a call).
class DeviceMemory {
 public:
  explicit DeviceMemory(size_t bytes, void* ptr = nullptr) : bytes_(bytes), ptr_(ptr) {}
  ~DeviceMemory() { cuda_free_deferred(ptr_); }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

  // The device pointer, allocated on first use (worker threads only); nullptr for 0 bytes.
  Status get(void** p) {
    std::lock_guard<std::mutex> lock(mu_);
    if (ptr_ == nullptr && bytes_ > 0) LEMMA_RETURN_IF_ERROR(cuda_alloc(&ptr_, bytes_));
    *p = ptr_;
    return Status::Ok();
  }

 private:
  std::mutex mu_;
  const size_t bytes_;
  void* ptr_;
};
using MemoryRef = std::shared_ptr<DeviceMemory>;

// What a JS handle points at. `mem` is null once disposed.
struct DeviceBuffer {
  MemoryRef mem;
  size_t elements = 0;
  DeviceDtype dtype = DeviceDtype::kF32;
};

constexpr napi_type_tag kDeviceBufferTag = {0x6c656d6d61646576ULL, 0x6963656275660001ULL};

void* shared_stream(Status* st) {
  static std::once_flag once;
  static void* stream = nullptr;
  static Status created;
  std::call_once(once, [] { created = cuda_stream_create(&stream); });
  *st = created;
  return stream;
}

Napi::Value wrap(Napi::Env env, DeviceBuffer* buf) {
  // The finalizer only drops the handle's reference (the memory goes to the reclaimer).
  auto ext = Napi::External<DeviceBuffer>::New(env, buf, [](Napi::Env, DeviceBuffer* b) { delete b; });
  napi_type_tag_object(env, ext, &kDeviceBufferTag);
  return ext;
}

DeviceBuffer* tagged(const Napi::Value& v, const char* name) {
  bool ok = false;
  if (v.IsExternal()) napi_check_object_type_tag(v.Env(), v, &kDeviceBufferTag, &ok);
  if (!ok) throw_status(v.Env(), Status::Error(Code::kDtype, std::string(name) + " is not a device tensor"));
  return v.As<Napi::External<DeviceBuffer>>().Data();
}

DeviceBuffer* unwrap(const Napi::Value& v, const char* name) {
  DeviceBuffer* b = tagged(v, name);
  if (!b->mem) throw_status(v.Env(), Status::Error(Code::kDisposed, std::string(name) + " has been disposed"));
  return b;
}

DeviceDtype read_dtype(const Napi::Value& v) {
  const int d = v.IsNumber() ? v.As<Napi::Number>().Int32Value() : -1;
  if (d < 0 || d > 2) throw_status(v.Env(), Status::Error(Code::kDtype, "unknown device dtype"));
  return static_cast<DeviceDtype>(d);
}

// Queues `body` on a worker thread. The job co-owns `mem` from this moment (the pointers are
// taken now, on the event loop, not when the job runs) until `body` returns; it drops them on
// the worker, before the Promise settles. ptrs[i] is mem[i]'s device pointer, allocated first
// if it was not yet. Bodies end with a stream sync, so the memory is idle when released; if a
// body fails half-way, the reclaimer's cudaFree still waits for the device first.
using DeviceBody = std::function<Status(void* stream, const std::vector<void*>& ptrs)>;
AsyncJob* device_job(Napi::Env env, const char* name, std::vector<MemoryRef> mem, DeviceBody body) {
  auto held = std::make_shared<std::vector<MemoryRef>>(std::move(mem));
  return new AsyncJob(env, name, [held, body = std::move(body)]() -> Status {
    auto run = [&]() -> Status {
      Status st;
      void* stream = shared_stream(&st);
      if (!st.ok()) return st;
      std::vector<void*> ptrs(held->size(), nullptr);
      for (size_t i = 0; i < held->size(); ++i) LEMMA_RETURN_IF_ERROR((*held)[i]->get(&ptrs[i]));
      return body(stream, ptrs);
    };
    Status st = run();
    held->clear();
    return st;
  });
}

Napi::Value Memory(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("bytesInUse", static_cast<double>(cuda_bytes_in_use()));
  return o;
}

// Largest element count a handle may have: sizes stay exact in a double and bytes fit size_t.
constexpr double kMaxElements = 4503599627370496.0;  // 2^52

Napi::Value Alloc(const Napi::CallbackInfo& info) {
  const double n = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(n >= 0 && n <= kMaxElements && std::floor(n) == n))
    throw_status(info.Env(), Status::Error(Code::kRange, "element count must be an integer in [0, 2^52]"));
  const DeviceDtype dt = read_dtype(info[1]);
  const size_t elements = static_cast<size_t>(n);
  auto* b = new DeviceBuffer{std::make_shared<DeviceMemory>(elements * device_dtype_size(dt)), elements, dt};
  return wrap(info.Env(), b);
}

Napi::Value Upload(const Napi::CallbackInfo& info) {
  const Dtype host = array_dtype(info[0], "data");
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  const size_t n = ta.ElementLength();
  const DeviceDtype dt = read_dtype(info[1]);
  const void* src = n ? static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset() : nullptr;
  const bool f64 = host == Dtype::kFloat64;
  // The job's result: OnDone hands it to a new handle; dropped with the job on failure.
  auto made = std::make_shared<MemoryRef>();
  auto* job = new AsyncJob(info.Env(), "lemma:cudaUpload", [=]() -> Status {
    if (n == 0) {
      *made = std::make_shared<DeviceMemory>(0);
      return Status::Ok();
    }
    Status st;
    void* stream = shared_stream(&st);
    if (!st.ok()) return st;
    void* p = nullptr;
    LEMMA_RETURN_IF_ERROR(cuda_alloc(&p, n * device_dtype_size(dt)));
    auto mem = std::make_shared<DeviceMemory>(n * device_dtype_size(dt), p);
    LEMMA_RETURN_IF_ERROR(cuda_upload(p, src, n * (f64 ? 8 : 4), dt, f64, stream));
    LEMMA_RETURN_IF_ERROR(cuda_stream_sync(stream));
    *made = std::move(mem);
    return Status::Ok();
  });
  job->Keep(info[0]);
  job->OnDone([made, n, dt](Napi::Env env) { return wrap(env, new DeviceBuffer{std::move(*made), n, dt}); });
  return job->Start();
}

Napi::Value Download(const Napi::CallbackInfo& info) {
  DeviceBuffer* b = unwrap(info[0], "tensor");
  const Dtype host = array_dtype(info[1], "out");
  Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
  if (ta.ElementLength() != b->elements)
    throw_status(info.Env(), Status::Error(Code::kShape, "download target has the wrong length"));
  void* dst = b->elements ? static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset() : nullptr;
  const size_t n = b->elements;
  const DeviceDtype dt = b->dtype;
  const bool f64 = host == Dtype::kFloat64;
  AsyncJob* job = device_job(info.Env(), "lemma:cudaDownload", {b->mem},
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
  DeviceBuffer* b = tagged(info[0], "tensor");
  b->mem.reset();
  return info.Env().Undefined();
}

Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  return run_async(info, 0, "lemma:cudaSynchronize", [] { return cuda_synchronize(); });
}

CudaPrecision read_precision(const Napi::Value& v) {
  const int p = v.IsNumber() ? v.As<Napi::Number>().Int32Value() : -1;
  if (p < 0 || p > 3) throw_status(v.Env(), Status::Error(Code::kRange, "unknown precision"));
  return static_cast<CudaPrecision>(p);
}

// The C++ re-check of what lib/attention validated: every buffer has the size the params say
// and its expected dtype, and no output shares memory with another buffer of the call.
struct Arg {
  const char* name;
  DeviceBuffer* buf;
  size_t elements;
  DeviceDtype dtype;
  bool output;
};
std::vector<MemoryRef> check_args(Napi::Env env, const std::vector<Arg>& args) {
  std::vector<MemoryRef> mem;
  for (const Arg& a : args) {
    if (a.buf->elements != a.elements)
      throw_status(env, Status::Error(Code::kShape, std::string(a.name) + " has " + std::to_string(a.buf->elements) +
                                                        " elements, expected " + std::to_string(a.elements)));
    if (a.buf->dtype != a.dtype)
      throw_status(env, Status::Error(Code::kDtype, std::string(a.name) + " is " + device_dtype_name(a.buf->dtype) +
                                                        ", expected " + device_dtype_name(a.dtype)));
    for (size_t i = 0; i < mem.size(); ++i)
      if (mem[i] == a.buf->mem && (a.output || args[i].output))
        throw_status(env, Status::Error(Code::kRange, std::string(a.name) + " and " + args[i].name +
                                                          " are the same device tensor; outputs must not alias"));
    mem.push_back(a.buf->mem);
  }
  return mem;
}

Napi::Value ForwardCuda(const Napi::CallbackInfo& info) {
  DeviceBuffer *q = unwrap(info[0], "q"), *k = unwrap(info[1], "k"), *v = unwrap(info[2], "v"),
               *out = unwrap(info[3], "out"), *lse = unwrap(info[4], "lse");
  const AttentionParams p = read_attention_params(info[5]);
  const CudaPrecision prec = read_precision(info[6]);
  const DeviceDtype dt = q->dtype;
  const size_t nq = static_cast<size_t>(p.B * p.Hq * p.Nq), nk = static_cast<size_t>(p.B * p.Hkv * p.Nk);
  const size_t D = static_cast<size_t>(p.D);
  std::vector<MemoryRef> mem = check_args(info.Env(), {{"q", q, nq * D, dt, false},
                                                       {"k", k, nk * D, dt, false},
                                                       {"v", v, nk * D, dt, false},
                                                       {"out", out, nq * D, dt, true},
                                                       {"lse", lse, nq, DeviceDtype::kF32, true}});
  AsyncJob* job = device_job(info.Env(), "lemma:attentionForwardCuda", std::move(mem),
                             [=](void* stream, const std::vector<void*>& m) -> Status {
                               LEMMA_RETURN_IF_ERROR(attention_forward_cuda(p, prec, dt, m[0], m[1], m[2], m[3],
                                                                            static_cast<float*>(m[4]), stream));
                               return cuda_stream_sync(stream);
                             });
  return job->Start();
}

Napi::Value BackwardCuda(const Napi::CallbackInfo& info) {
  DeviceBuffer *q = unwrap(info[0], "q"), *k = unwrap(info[1], "k"), *v = unwrap(info[2], "v"),
               *out = unwrap(info[3], "out"), *lse = unwrap(info[4], "lse"),
               *dout = unwrap(info[5], "dOut"), *dq = unwrap(info[6], "dq"),
               *dk = unwrap(info[7], "dk"), *dv = unwrap(info[8], "dv");
  const AttentionParams p = read_attention_params(info[9]);
  const CudaPrecision prec = read_precision(info[10]);
  const DeviceDtype dt = q->dtype;
  const size_t nq = static_cast<size_t>(p.B * p.Hq * p.Nq), nk = static_cast<size_t>(p.B * p.Hkv * p.Nk);
  const size_t D = static_cast<size_t>(p.D);
  std::vector<MemoryRef> mem = check_args(info.Env(), {{"q", q, nq * D, dt, false},
                                                       {"k", k, nk * D, dt, false},
                                                       {"v", v, nk * D, dt, false},
                                                       {"out", out, nq * D, dt, false},
                                                       {"lse", lse, nq, DeviceDtype::kF32, false},
                                                       {"dOut", dout, nq * D, dt, false},
                                                       {"dq", dq, nq * D, dt, true},
                                                       {"dk", dk, nk * D, dt, true},
                                                       {"dv", dv, nk * D, dt, true}});
  AsyncJob* job = device_job(info.Env(), "lemma:attentionBackwardCuda", std::move(mem),
                             [=](void* stream, const std::vector<void*>& m) -> Status {
                               LEMMA_RETURN_IF_ERROR(attention_backward_cuda(
                                   p, prec, dt, m[0], m[1], m[2], m[3], static_cast<const float*>(m[4]), m[5],
                                   m[6], m[7], m[8], stream));
                               return cuda_stream_sync(stream);
                             });
  return job->Start();
}

#if defined(LEMMA_CUDA_EMULATE)
// The emulated device's test hooks (cuda/emulate/control.h), for tests only: not part of the
// public API. 'reset' waits for every stream (on the calling thread: tests only).
Napi::Value Emulator(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string op = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : std::string();
  if (op == "failAllocationAfter") {
    if (!info[1].IsNumber()) throw_status(env, Status::Error(Code::kRange, "failAllocationAfter needs a count"));
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
  throw_status(env, Status::Error(Code::kRange, "unknown emulator operation '" + op + "'"));
}
#endif

#else  // CPU-only build

Status unavailable() {
  return Status::Error(Code::kCudaUnavailable, "CUDA support was not compiled into this build");
}

Napi::Value Memory(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("bytesInUse", 0);
  return o;
}
Napi::Value Unavailable(const Napi::CallbackInfo& info) { throw_status(info.Env(), unavailable()); }
// Nothing can be queued or held: resolves at once.
Napi::Value Synchronize(const Napi::CallbackInfo& info) {
  auto d = Napi::Promise::Deferred::New(info.Env());
  d.Resolve(info.Env().Undefined());
  return d.Promise();
}
#define Alloc Unavailable
#define Upload Unavailable
#define Download Unavailable
#define Free Unavailable
#define ForwardCuda Unavailable
#define BackwardCuda Unavailable

#endif

}  // namespace

void register_cuda(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaMemory", Napi::Function::New(env, Memory, "cudaMemory"));
  exports.Set("cudaAlloc", Napi::Function::New(env, Alloc, "cudaAlloc"));
  exports.Set("cudaUpload", Napi::Function::New(env, Upload, "cudaUpload"));
  exports.Set("cudaDownload", Napi::Function::New(env, Download, "cudaDownload"));
  exports.Set("cudaFree", Napi::Function::New(env, Free, "cudaFree"));
  exports.Set("cudaSynchronize", Napi::Function::New(env, Synchronize, "cudaSynchronize"));
  exports.Set("attentionForwardCuda", Napi::Function::New(env, ForwardCuda, "attentionForwardCuda"));
  exports.Set("attentionBackwardCuda", Napi::Function::New(env, BackwardCuda, "attentionBackwardCuda"));
#if defined(LEMMA_CUDA_EMULATE)
  exports.Set("cudaEmulator", Napi::Function::New(env, Emulator, "cudaEmulator"));
#endif
}

}  // namespace lemma::napi
