// N-API bindings of the CUDA path of lemma.nn.attentionStack (lib/nn/attention-stack-device.ts is
// the only caller). Every argument is a device tensor handle (napi/device_buffer.h), fp32;
// outputs are allocated by TS (lemma.cuda's empty()) and fully overwritten.
//   nnLayerForwardCuda(bufs, params)   -> Promise<void>
//       bufs: [T, Wq, Wk, Wv, Wo, W1, b1, W2, b2, qh, kh, vh, oh, lse, O, Z, h1, a1, Tn, Tsave?]
//   nnLayerBackwardCuda(bufs, params)  -> Promise<void>
//       bufs: [T, Wq, Wk, Wv, Wo, W1, b1, W2, b2, qh, kh, vh, oh, lse, O, Z, h1, a1, G, dT,
//              gWq, gWk, gWv, gWo, gW1, gb1, gW2, gb2]
//   nnAdamCuda(params[], grads[], m[], v[], hp) -> Promise<void>   one job, one launch per tensor
// params: { B, N, H, Dh, m, causal }; hp: { lr, beta1, beta2, eps, c1, c2 }.
// In a CPU-only build no device handle exists: the calls refuse with ERR_CUDA_UNAVAILABLE (the
// TS layer checks capabilities first). Kernels: cuda/nn/nn_stack.cu.
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "attention/attention_cuda.h"
#include "napi/async_job.h"
#include "napi/convert.h"
#include "napi/device_buffer.h"

#ifdef LEMMA_WITH_CUDA
#include "nn/nn_cuda.h"
#endif

namespace lemma::napi {

namespace {

struct Dims {
  int64_t B, N, H, Dh, m;
  bool causal;
};

Dims read_dims(const Napi::Value& v) {
  if (!v.IsObject()) throw_error(v.Env(), Code::kInternal, "nn params must be an object");
  Napi::Object o = v.As<Napi::Object>();
  Dims d{get_int(o, "B"), get_int(o, "N"), get_int(o, "H"), get_int(o, "Dh"), get_int(o, "m"), get_bool(o, "causal", true)};
  if (d.B < 1 || d.N < 1 || d.H < 1 || d.Dh < 1 || d.Dh > 256 || d.m < 1)
    throw_error(v.Env(), Code::kShape, "nn params: B, N, H, m must be positive and 1 <= Dh <= 256");
  return d;
}

struct Want {
  const char* name;
  size_t elements;
  bool output;
};

// Reads bufs[i] for every wanted entry: a live fp32 device tensor of the expected size; no
// output shares memory with any other argument.
std::vector<BufferRef> read_bufs(Napi::Env env, const Napi::Value& v, const std::vector<Want>& want, size_t optional = 0) {
  if (!v.IsArray()) throw_error(env, Code::kInternal, "nn buffers must be an array");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() < want.size() - optional || a.Length() > want.size())
    throw_error(env, Code::kInternal, "nn buffers: wrong count");
  std::vector<BufferRef> bufs;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    const Want& w = want[i];
    BufferRef b = get_handle<DeviceBuffer>(a.Get(i), w.name);
    if (b->elements != w.elements)
      throw_error(env, Code::kShape, std::string(w.name) + " has " + std::to_string(b->elements) + " elements, expected " +
                                         std::to_string(w.elements));
    if (b->dtype != DeviceDtype::kF32)
      throw_error(env, Code::kDtype, std::string(w.name) + " is " + device_dtype_name(b->dtype) + ", expected float32");
    for (size_t j = 0; j < bufs.size(); ++j)
      if (bufs[j] == b && (w.output || want[j].output))
        throw_error(env, Code::kRange, std::string(w.name) + " and " + want[j].name +
                                           " are the same device tensor; outputs must not alias");
    bufs.push_back(std::move(b));
  }
  return bufs;
}

// The layer's input and weights, then its tape (written by the forward, read by the backward):
// entries 0..17 of both calls, in NnLayerWeights and NnLayerTape order.
std::vector<Want> layer_wants(const Dims& d, bool tape_is_output) {
  const size_t dm = static_cast<size_t>(d.H * d.Dh), m = static_cast<size_t>(d.m), R = static_cast<size_t>(d.B * d.N);
  std::vector<Want> want = {{"T", R * dm, false},   {"Wq", dm * dm, false}, {"Wk", dm * dm, false}, {"Wv", dm * dm, false},
                            {"Wo", dm * dm, false}, {"W1", dm * m, false},  {"b1", m, false},       {"W2", m * dm, false},
                            {"b2", dm, false}};
  for (const char* n : {"qh", "kh", "vh", "oh"}) want.push_back({n, R * dm, tape_is_output});
  want.push_back({"lse", R * static_cast<size_t>(d.H), tape_is_output});
  want.push_back({"O", R * dm, tape_is_output});
  want.push_back({"Z", R * dm, tape_is_output});
  want.push_back({"h1", R * m, tape_is_output});
  want.push_back({"a1", R * m, tape_is_output});
  return want;
}

void require_cuda(Napi::Env env) {
#ifndef LEMMA_WITH_CUDA
  throw_error(env, Code::kCudaUnavailable, "CUDA support was not compiled into this build");
#else
  (void)env;
#endif
}

Napi::Value LayerForward(const Napi::CallbackInfo& info) {
  require_cuda(info.Env());
  const Dims d = read_dims(info[1]);
  const size_t dm = static_cast<size_t>(d.H * d.Dh), R = static_cast<size_t>(d.B * d.N);
  std::vector<Want> want = layer_wants(d, true);
  want.push_back({"Tn", R * dm, true});
  want.push_back({"Tsave", R * dm, true});
  std::vector<BufferRef> bufs = read_bufs(info.Env(), info[0], want, 1);
  const bool save = bufs.size() == want.size();
  AsyncJob* job = device_job(info.Env(), "lemma:nnLayerForwardCuda", std::move(bufs),
                             [=](void* stream, const std::vector<void*>& p) -> Status {
#ifdef LEMMA_WITH_CUDA
                               auto f = [&](size_t i) { return static_cast<float*>(p[i]); };
                               const NnLayerDims nd{d.B, d.N, d.H, d.Dh, d.m, d.causal};
                               const NnLayerWeights w{f(1), f(2), f(3), f(4), f(5), f(6), f(7), f(8)};
                               const NnLayerTape t{f(9), f(10), f(11), f(12), f(13), f(14), f(15), f(16), f(17)};
                               LEMMA_RETURN_IF_ERROR(nn_layer_forward_cuda(nd, w, f(0), save ? f(19) : nullptr, t, f(18), stream));
                               return cuda_stream_sync(stream);
#else
                               (void)stream; (void)p; (void)save; (void)d;
                               return Status::Error(Code::kCudaUnavailable, "CUDA support was not compiled into this build");
#endif
                             });
  return job->Start();
}

Napi::Value LayerBackward(const Napi::CallbackInfo& info) {
  require_cuda(info.Env());
  const Dims d = read_dims(info[1]);
  const size_t dm = static_cast<size_t>(d.H * d.Dh), m = static_cast<size_t>(d.m), R = static_cast<size_t>(d.B * d.N);
  std::vector<Want> want = layer_wants(d, false);
  want.push_back({"G", R * dm, false});
  want.push_back({"dT", R * dm, true});
  for (const char* n : {"dWq", "dWk", "dWv", "dWo"}) want.push_back({n, dm * dm, true});
  want.push_back({"dW1", dm * m, true});
  want.push_back({"db1", m, true});
  want.push_back({"dW2", m * dm, true});
  want.push_back({"db2", dm, true});
  std::vector<BufferRef> bufs = read_bufs(info.Env(), info[0], want);
  AsyncJob* job = device_job(info.Env(), "lemma:nnLayerBackwardCuda", std::move(bufs),
                             [=](void* stream, const std::vector<void*>& p) -> Status {
#ifdef LEMMA_WITH_CUDA
                               auto f = [&](size_t i) { return static_cast<float*>(p[i]); };
                               const NnLayerDims nd{d.B, d.N, d.H, d.Dh, d.m, d.causal};
                               const NnLayerWeights w{f(1), f(2), f(3), f(4), f(5), f(6), f(7), f(8)};
                               const NnLayerTape t{f(9), f(10), f(11), f(12), f(13), f(14), f(15), f(16), f(17)};
                               const NnLayerGrads g{f(20), f(21), f(22), f(23), f(24), f(25), f(26), f(27)};
                               LEMMA_RETURN_IF_ERROR(nn_layer_backward_cuda(nd, w, f(0), t, f(18), f(19), g, stream));
                               return cuda_stream_sync(stream);
#else
                               (void)stream; (void)p; (void)d;
                               return Status::Error(Code::kCudaUnavailable, "CUDA support was not compiled into this build");
#endif
                             });
  return job->Start();
}

Napi::Value Adam(const Napi::CallbackInfo& info) {
  require_cuda(info.Env());
  Napi::Env env = info.Env();
  for (int i = 0; i < 4; ++i)
    if (!info[i].IsArray()) throw_error(env, Code::kInternal, "nnAdamCuda takes four arrays of device tensors");
  const uint32_t count = info[0].As<Napi::Array>().Length();
  for (int i = 1; i < 4; ++i)
    if (info[i].As<Napi::Array>().Length() != count) throw_error(env, Code::kInternal, "nnAdamCuda: arrays of different lengths");
  if (!info[4].IsObject()) throw_error(env, Code::kInternal, "nnAdamCuda: hp must be an object");
  Napi::Object h = info[4].As<Napi::Object>();
  const double hp[6] = {get_number(h, "lr"), get_number(h, "beta1"), get_number(h, "beta2"),
                        get_number(h, "eps"), get_number(h, "c1"), get_number(h, "c2")};
  std::vector<BufferRef> bufs;
  std::vector<size_t> sizes;
  for (uint32_t t = 0; t < count; ++t) {
    const size_t n = get_handle<DeviceBuffer>(info[0].As<Napi::Array>().Get(t), "param")->elements;
    const Napi::Value vals[4] = {info[0].As<Napi::Array>().Get(t), info[1].As<Napi::Array>().Get(t),
                                 info[2].As<Napi::Array>().Get(t), info[3].As<Napi::Array>().Get(t)};
    const std::vector<BufferRef> four =
        read_bufs(env, [&] {
          Napi::Array a = Napi::Array::New(env, 4);
          for (uint32_t i = 0; i < 4; ++i) a.Set(i, vals[i]);
          return a;
        }(), {{"param", n, true}, {"grad", n, false}, {"m", n, true}, {"v", n, true}});
    // One tensor may not appear twice among the params or states of the step.
    // (Gradients are only read: the same one may serve two steps.)
    for (size_t r = 0; r < 4; ++r)
      for (size_t j = 0; j < bufs.size(); ++j)
        if (bufs[j] == four[r] && (r != 1 || j % 4 != 1))
          throw_error(env, Code::kRange, "nnAdamCuda: a device tensor appears twice; outputs must not alias");
    bufs.insert(bufs.end(), four.begin(), four.end());
    sizes.push_back(n);
  }
  AsyncJob* job = device_job(env, "lemma:nnAdamCuda", std::move(bufs),
                             [=](void* stream, const std::vector<void*>& p) -> Status {
#ifdef LEMMA_WITH_CUDA
                               const NnAdamParams a{static_cast<float>(hp[0]), static_cast<float>(hp[1]),
                                                    static_cast<float>(hp[2]), static_cast<float>(hp[3]),
                                                    static_cast<float>(hp[4]), static_cast<float>(hp[5])};
                               for (size_t t = 0; t < sizes.size(); ++t)
                                 LEMMA_RETURN_IF_ERROR(nn_adam_cuda(static_cast<float*>(p[4 * t]), static_cast<const float*>(p[4 * t + 1]),
                                                                    static_cast<float*>(p[4 * t + 2]), static_cast<float*>(p[4 * t + 3]),
                                                                    static_cast<int64_t>(sizes[t]), a, stream));
                               return cuda_stream_sync(stream);
#else
                               (void)stream; (void)p; (void)hp; (void)sizes;
                               return Status::Error(Code::kCudaUnavailable, "CUDA support was not compiled into this build");
#endif
                             });
  return job->Start();
}

}  // namespace

void register_nn(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "nnLayerForwardCuda", LayerForward);
  export_function(env, exports, "nnLayerBackwardCuda", LayerBackward);
  export_function(env, exports, "nnAdamCuda", Adam);
}

}  // namespace lemma::napi
