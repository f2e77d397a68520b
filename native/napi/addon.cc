// The addon's single registry: capabilities(), runtime settings, and each family's
// register_<family>(). Everything callable from JS goes through lib/binding.ts; every function is
// exported through convert.h export_function (the one exception guard).
#include <napi.h>

#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/cuda_info.h"
#include "core/fma_peak.h"
#include "core/stream_read.h"
#include "core/thread_pool.h"
#include "napi/async_job.h"
#include "napi/convert.h"

#ifndef LEMMA_VERSION
#define LEMMA_VERSION "0.0.0"
#endif

namespace lemma::napi {

void register_attention(Napi::Env env, Napi::Object exports);
void register_polytope(Napi::Env env, Napi::Object exports);
void register_sparse_attention(Napi::Env env, Napi::Object exports);
void register_cuda(Napi::Env env, Napi::Object exports);
void register_dp(Napi::Env env, Napi::Object exports);
void register_poly_attention(Napi::Env env, Napi::Object exports);
void register_looped(Napi::Env env, Napi::Object exports);
void register_subleq(Napi::Env env, Napi::Object exports);
void register_nn(Napi::Env env, Napi::Object exports);

namespace {

Napi::Value Capabilities(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("nativeVersion", LEMMA_VERSION);
  o.Set("threads", ThreadPool::size());
  o.Set("simd", simd_level_name(simd_level()));
  o.Set("simdSupported", simd_level_name(simd_supported()));
  const CudaInfo ci = cuda_info();
  Napi::Object c = Napi::Object::New(env);
  c.Set("compiled", ci.compiled);
  c.Set("emulated", ci.emulated);
  c.Set("deviceCount", ci.device_count);
  c.Set("errorCode", ci.error_code);
  c.Set("reason", ci.error);
  c.Set("runtimeVersion", ci.runtime_version);
  c.Set("driverVersion", ci.driver_version);
  c.Set("architectures", ci.architectures);
  Napi::Array devs = Napi::Array::New(env, ci.devices.size());
  for (size_t i = 0; i < ci.devices.size(); ++i) {
    const GpuDevice& d = ci.devices[i];
    Napi::Object g = Napi::Object::New(env);
    g.Set("index", d.index);
    g.Set("name", d.name);
    g.Set("totalMemory", static_cast<double>(d.total_memory));
    g.Set("computeCapability", std::to_string(d.major) + "." + std::to_string(d.minor));
    g.Set("multiprocessors", d.multiprocessors);
    devs.Set(static_cast<uint32_t>(i), g);
  }
  c.Set("devices", devs);
  o.Set("cuda", c);
  return o;
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  const int n = info[0].As<Napi::Number>().Int32Value();
  ThreadPool::set_size(n);
  return Napi::Number::New(info.Env(), ThreadPool::size());
}

Napi::Value SetSimdLevel(const Napi::CallbackInfo& info) {
  const std::string s = info[0].As<Napi::String>().Utf8Value();
  SimdLevel want = s == "avx512" ? SimdLevel::kAvx512 : s == "avx2" ? SimdLevel::kAvx2 : SimdLevel::kScalar;
  return Napi::String::New(info.Env(), simd_level_name(set_simd_level(want)));
}

// fmaPeak(threads, seconds) -> Promise<number> GFLOP/s of fp32 FMA at the SIMD level in use.
Napi::Value FmaPeak(const Napi::CallbackInfo& info) {
  const int threads = info[0].As<Napi::Number>().Int32Value();
  const double seconds = info[1].As<Napi::Number>().DoubleValue();
  auto result = std::make_shared<double>(0.0);
  return run_async(
      info, 0, "lemma:fmaPeak",
      [=]() {
        *result = fma_peak_gflops(threads, seconds);
        return Status::Ok();
      },
      [result](Napi::Env env) { return Napi::Number::New(env, *result); });
}

// streamRead(arrays: Float32Array[]) -> checksum (number): reads every array once on the thread
// pool (core/stream_read.h), synchronously: the memory-bandwidth baseline of the decode benches.
Napi::Value StreamRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray())
    throw Napi::TypeError::New(env, "streamRead: expected an array of typed arrays");
  const Napi::Array list = info[0].As<Napi::Array>();
  std::vector<const void*> ptrs;
  std::vector<int64_t> bytes;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    const ArrayView a = read_any_array(list.Get(i), "streamRead: arrays[" + std::to_string(i) + "]");
    ptrs.push_back(a.data);
    bytes.push_back(static_cast<int64_t>(a.bytes));
  }
  const uint64_t s = stream_read(ptrs.data(), bytes.data(), int(ptrs.size()));
  return Napi::Number::New(env, double(s & 0xFFFFFFFFu));
}

// armCancel(token: Int32Array(4) | null): arms `token` for the next native async call made on
// this JS thread (async_job.h), or disarms. Called by lib/long-work.ts only.
Napi::Value ArmCancel(const Napi::CallbackInfo& info) {
  disarm_cancel();
  if (info.Length() < 1 || info[0].IsNull() || info[0].IsUndefined()) return info.Env().Undefined();
  const ArrayView a = read_array(info[0], "token", Dtype::kInt32, 4);
  ArmedCancel& armed = armed_cancel();
  armed.env = info.Env();
  if (napi_create_reference(info.Env(), info[0], 1, &armed.ref) != napi_ok) {
    armed = ArmedCancel{};
    throw_error(info.Env(), Code::kInternal, "armCancel: cannot reference the token");
  }
  armed.words = static_cast<int32_t*>(a.data);
  return info.Env().Undefined();
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "capabilities", Capabilities);
  export_function(env, exports, "setNumThreads", SetNumThreads);
  export_function(env, exports, "setSimdLevel", SetSimdLevel);
  export_function(env, exports, "fmaPeak", FmaPeak);
  export_function(env, exports, "streamRead", StreamRead);
  export_function(env, exports, "armCancel", ArmCancel);
  register_attention(env, exports);
  register_polytope(env, exports);
  register_sparse_attention(env, exports);
  register_cuda(env, exports);
  register_dp(env, exports);
  register_poly_attention(env, exports);
  register_looped(env, exports);
  register_subleq(env, exports);
  register_nn(env, exports);
  return exports;
}

}  // namespace lemma::napi

static Napi::Object InitLemma(Napi::Env env, Napi::Object exports) {
  return lemma::napi::Init(env, exports);
}

NODE_API_MODULE(lemma, InitLemma)
