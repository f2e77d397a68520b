// N-API bindings of the CUDA backend: device buffers and attention on device tensors
// (lib/cuda/ is the only caller). In a CPU-only build every call fails with
// ERR_CUDA_UNAVAILABLE; the TS layer checks capabilities() first, so users see its reason.
//   cudaMemory() -> { bytesInUse }
//   cudaAlloc(elements, dtype) -> handle            (dtype 0 f32, 1 f16, 2 bf16)
//   cudaUpload(hostArray, dtype) -> Promise<handle>  (Float32Array / Float64Array -> dtype)
//   cudaDownload(handle, hostArray) -> Promise<void> (device -> Float32Array / Float64Array)
//   cudaFree(handle) -> void                          (idempotent; the finalizer is a safety net)
//   attentionForwardCuda(q, k, v, out, lse, params, precision) -> Promise<void>
//   attentionBackwardCuda(q, k, v, out, lse, dOut, dq, dk, dv, params, precision) -> Promise<void>
// Handles are type-tagged Externals over a DeviceBuffer. Jobs queue their kernels on one
// process-wide non-blocking stream and wait for it on a libuv worker thread.
#include <napi.h>

#include <memory>
#include <mutex>

#include "attention/attention.h"
#include "napi/async_job.h"
#include "napi/convert.h"

#ifdef LEMMA_WITH_CUDA
#include "attention/attention_cuda.h"
#endif

namespace lemma::napi {

// Defined in attention_binding.cc: the attention sizes object, checked.
AttentionParams read_attention_params(const Napi::Value& v);

namespace {

#ifdef LEMMA_WITH_CUDA

struct DeviceBuffer {
  void* ptr = nullptr;
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
  auto ext = Napi::External<DeviceBuffer>::New(env, buf, [](Napi::Env, DeviceBuffer* b) {
    if (b->ptr) cuda_free(b->ptr);  // safety net: dispose() normally freed it already
    delete b;
  });
  napi_type_tag_object(env, ext, &kDeviceBufferTag);
  return ext;
}

DeviceBuffer* unwrap(const Napi::Value& v, const char* name) {
  bool ok = false;
  if (v.IsExternal()) napi_check_object_type_tag(v.Env(), v, &kDeviceBufferTag, &ok);
  if (!ok) throw_status(v.Env(), Status::Error(Code::kDtype, std::string(name) + " is not a device tensor"));
  DeviceBuffer* b = v.As<Napi::External<DeviceBuffer>>().Data();
  if (!b->ptr && b->elements > 0)
    throw_status(v.Env(), Status::Error(Code::kDisposed, std::string(name) + " has been disposed"));
  return b;
}

DeviceDtype read_dtype(const Napi::Value& v) {
  const int d = v.As<Napi::Number>().Int32Value();
  if (d < 0 || d > 2) throw_status(v.Env(), Status::Error(Code::kDtype, "unknown device dtype"));
  return static_cast<DeviceDtype>(d);
}

Napi::Value Memory(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("bytesInUse", static_cast<double>(cuda_bytes_in_use()));
  return o;
}

Napi::Value Alloc(const Napi::CallbackInfo& info) {
  const double n = info[0].As<Napi::Number>().DoubleValue();
  auto* b = new DeviceBuffer{nullptr, static_cast<size_t>(n), read_dtype(info[1])};
  const Status st = b->elements ? cuda_alloc(&b->ptr, b->elements * device_dtype_size(b->dtype)) : Status::Ok();
  if (!st.ok()) {
    delete b;
    throw_status(info.Env(), st);
  }
  return wrap(info.Env(), b);
}

Napi::Value Upload(const Napi::CallbackInfo& info) {
  const Dtype host = array_dtype(info[0], "data");
  Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
  const size_t n = ta.ElementLength();
  const DeviceDtype dt = read_dtype(info[1]);
  const void* src = n ? static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset() : nullptr;
  // Owned by the job until OnDone hands it to the External; freed with the job on failure.
  auto holder = std::make_shared<std::unique_ptr<DeviceBuffer>>(new DeviceBuffer{nullptr, n, dt});
  DeviceBuffer* b = holder->get();
  const bool f64 = host == Dtype::kFloat64;
  auto* job = new AsyncJob(info.Env(), "lemma:cudaUpload", [=]() -> Status {
    if (n == 0) return Status::Ok();
    Status st;
    void* stream = shared_stream(&st);
    if (!st.ok()) return st;
    LEMMA_RETURN_IF_ERROR(cuda_alloc(&b->ptr, n * device_dtype_size(dt)));
    st = cuda_upload(b->ptr, src, n * (f64 ? 8 : 4), dt, f64, stream);
    if (st.ok()) st = cuda_stream_sync(stream);
    if (!st.ok()) {
      cuda_free(b->ptr);
      b->ptr = nullptr;
    }
    return st;
  });
  job->Keep(info[0]);
  job->OnDone([holder](Napi::Env env) { return wrap(env, holder->release()); });
  return job->Start();
}

Napi::Value Download(const Napi::CallbackInfo& info) {
  DeviceBuffer* b = unwrap(info[0], "tensor");
  const Dtype host = array_dtype(info[1], "out");
  Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
  if (ta.ElementLength() != b->elements)
    throw_status(info.Env(), Status::Error(Code::kShape, "download target has the wrong length"));
  void* dst = b->elements ? static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset() : nullptr;
  const void* src = b->ptr;
  const size_t n = b->elements;
  const DeviceDtype dt = b->dtype;
  auto* job = new AsyncJob(info.Env(), "lemma:cudaDownload", [=]() -> Status {
    if (n == 0) return Status::Ok();
    Status st;
    void* stream = shared_stream(&st);
    if (!st.ok()) return st;
    return cuda_download(dst, host == Dtype::kFloat64, src, n, dt, stream);
  });
  job->Keep(info[0]);
  job->Keep(info[1]);
  return job->Start();
}

Napi::Value Free(const Napi::CallbackInfo& info) {
  bool ok = false;
  if (info[0].IsExternal()) napi_check_object_type_tag(info.Env(), info[0], &kDeviceBufferTag, &ok);
  if (!ok) throw_status(info.Env(), Status::Error(Code::kDtype, "not a device tensor"));
  DeviceBuffer* b = info[0].As<Napi::External<DeviceBuffer>>().Data();
  if (b->ptr) {
    const Status st = cuda_free(b->ptr);
    b->ptr = nullptr;
    b->elements = 0;
    if (!st.ok()) throw_status(info.Env(), st);
  }
  b->elements = 0;
  return info.Env().Undefined();
}

CudaPrecision read_precision(const Napi::Value& v) {
  const int p = v.As<Napi::Number>().Int32Value();
  if (p < 0 || p > 3) throw_status(v.Env(), Status::Error(Code::kRange, "unknown precision"));
  return static_cast<CudaPrecision>(p);
}

Napi::Value ForwardCuda(const Napi::CallbackInfo& info) {
  DeviceBuffer *q = unwrap(info[0], "q"), *k = unwrap(info[1], "k"), *v = unwrap(info[2], "v"),
               *out = unwrap(info[3], "out"), *lse = unwrap(info[4], "lse");
  const AttentionParams p = read_attention_params(info[5]);
  const CudaPrecision prec = read_precision(info[6]);
  if (lse->dtype != DeviceDtype::kF32) throw_status(info.Env(), Status::Error(Code::kDtype, "lse must be float32"));
  const DeviceDtype dt = q->dtype;
  auto* job = new AsyncJob(info.Env(), "lemma:attentionForwardCuda", [=]() -> Status {
    Status st;
    void* stream = shared_stream(&st);
    if (!st.ok()) return st;
    LEMMA_RETURN_IF_ERROR(attention_forward_cuda(p, prec, dt, q->ptr, k->ptr, v->ptr, out->ptr,
                                                 static_cast<float*>(lse->ptr), stream));
    return cuda_stream_sync(stream);
  });
  for (size_t i = 0; i < 5; ++i) job->Keep(info[i]);
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
  auto* job = new AsyncJob(info.Env(), "lemma:attentionBackwardCuda", [=]() -> Status {
    Status st;
    void* stream = shared_stream(&st);
    if (!st.ok()) return st;
    LEMMA_RETURN_IF_ERROR(attention_backward_cuda(p, prec, dt, q->ptr, k->ptr, v->ptr, out->ptr,
                                                  static_cast<const float*>(lse->ptr), dout->ptr,
                                                  dq->ptr, dk->ptr, dv->ptr, stream));
    return cuda_stream_sync(stream);
  });
  for (size_t i = 0; i < 9; ++i) job->Keep(info[i]);
  return job->Start();
}

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
  exports.Set("attentionForwardCuda", Napi::Function::New(env, ForwardCuda, "attentionForwardCuda"));
  exports.Set("attentionBackwardCuda", Napi::Function::New(env, BackwardCuda, "attentionBackwardCuda"));
}

}  // namespace lemma::napi
