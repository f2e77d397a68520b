// N-API bindings of the attention family (lib/attention/ is the only caller):
//   attentionForward(q, k, v, out, lse, params)                 -> Promise<void>
//   attentionBackward(q, k, v, out, lse, dout, dq, dk, dv, params) -> Promise<void>
//   attentionForwardSync / attentionBackwardSync (same arguments, run on the calling thread)
//   attentionWorkspaceBytes(params, pass) -> number
//   attentionForwardCuda(q, k, v, out, lse, params, precision) -> Promise<void>   (device tensors)
//   attentionBackwardCuda(q, k, v, out, lse, dOut, dq, dk, dv, params, precision) -> Promise<void>
// Host outputs are allocated by the caller (TS) and fully overwritten. Float32Array inputs run
// the fast CPU path; Float64Array inputs run the fp64 oracle. The *Cuda entry points take device
// tensor handles (napi/device_buffer.h); in a CPU-only build no such handle exists, so they
// refuse every argument with the handle TypeError (lib/attention checks capabilities first).
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "attention/attention_cuda.h"
#include "napi/async_job.h"
#include "napi/convert.h"
#include "napi/device_buffer.h"

namespace lemma::napi {

namespace {

AttentionParams read_attention_params(const Napi::Value& v) {
  if (!v.IsObject()) throw_error(v.Env(), Code::kInternal, "attention params must be an object");
  Napi::Object o = v.As<Napi::Object>();
  AttentionParams p;
  p.B = get_int(o, "B");
  p.Hq = get_int(o, "Hq");
  p.Hkv = get_int(o, "Hkv");
  p.Nq = get_int(o, "Nq");
  p.Nk = get_int(o, "Nk");
  p.D = get_int(o, "D");
  p.scale = get_number(o, "scale");
  p.causal = get_bool(o, "causal", false);
  p.deterministic = get_bool(o, "deterministic", true);
  p.algorithm = get_bool(o, "materialized", false) ? AttentionAlgorithm::kMaterialized
                                                    : AttentionAlgorithm::kFlash;
  const Status st = attention_check_params(p);
  if (!st.ok()) throw_status(v.Env(), st);
  return p;
}

struct Sizes {
  size_t q, kv, lse;
};
Sizes sizes(const AttentionParams& p) {
  return {static_cast<size_t>(p.B * p.Hq * p.Nq * p.D), static_cast<size_t>(p.B * p.Hkv * p.Nk * p.D),
          static_cast<size_t>(p.B * p.Hq * p.Nq)};
}

// Builds the closure for the forward pass over the arrays in info[0..4].
std::function<Status()> forward_work(const Napi::CallbackInfo& info, const AttentionParams& p) {
  const Dtype dt = float_dtype(info[0], "q");
  const Sizes n = sizes(p);
  ArrayView q = get_array(info, 0, "q", dt, n.q), k = get_array(info, 1, "k", dt, n.kv),
            v = get_array(info, 2, "v", dt, n.kv), out = get_array(info, 3, "out", dt, n.q),
            lse = get_array(info, 4, "lse", dt, n.lse);
  if (dt == Dtype::kFloat64)
    return [=]() {
      return attention_forward_ref(p, static_cast<const double*>(q.data), static_cast<const double*>(k.data),
                                   static_cast<const double*>(v.data), static_cast<double*>(out.data),
                                   static_cast<double*>(lse.data));
    };
  return [=]() {
    return attention_forward_cpu(p, static_cast<const float*>(q.data), static_cast<const float*>(k.data),
                                 static_cast<const float*>(v.data), static_cast<float*>(out.data),
                                 static_cast<float*>(lse.data));
  };
}

std::function<Status()> backward_work(const Napi::CallbackInfo& info, const AttentionParams& p) {
  const Dtype dt = float_dtype(info[0], "q");
  const Sizes n = sizes(p);
  ArrayView q = get_array(info, 0, "q", dt, n.q), k = get_array(info, 1, "k", dt, n.kv),
            v = get_array(info, 2, "v", dt, n.kv), out = get_array(info, 3, "out", dt, n.q),
            lse = get_array(info, 4, "lse", dt, n.lse), dout = get_array(info, 5, "dOut", dt, n.q),
            dq = get_array(info, 6, "dq", dt, n.q), dk = get_array(info, 7, "dk", dt, n.kv),
            dv = get_array(info, 8, "dv", dt, n.kv);
  if (dt == Dtype::kFloat64)
    return [=]() {
      return attention_backward_ref(
          p, static_cast<const double*>(q.data), static_cast<const double*>(k.data),
          static_cast<const double*>(v.data), static_cast<const double*>(out.data),
          static_cast<const double*>(lse.data), static_cast<const double*>(dout.data),
          static_cast<double*>(dq.data), static_cast<double*>(dk.data), static_cast<double*>(dv.data));
    };
  return [=]() {
    return attention_backward_cpu(
        p, static_cast<const float*>(q.data), static_cast<const float*>(k.data),
        static_cast<const float*>(v.data), static_cast<const float*>(out.data),
        static_cast<const float*>(lse.data), static_cast<const float*>(dout.data),
        static_cast<float*>(dq.data), static_cast<float*>(dk.data), static_cast<float*>(dv.data));
  };
}

Napi::Value Forward(const Napi::CallbackInfo& info) {
  const AttentionParams p = read_attention_params(info[5]);
  return run_async(info, 5, "lemma:attentionForward", forward_work(info, p));
}
Napi::Value ForwardSync(const Napi::CallbackInfo& info) {
  const AttentionParams p = read_attention_params(info[5]);
  return run_sync(info, forward_work(info, p));
}
Napi::Value Backward(const Napi::CallbackInfo& info) {
  const AttentionParams p = read_attention_params(info[9]);
  return run_async(info, 9, "lemma:attentionBackward", backward_work(info, p));
}
Napi::Value BackwardSync(const Napi::CallbackInfo& info) {
  const AttentionParams p = read_attention_params(info[9]);
  return run_sync(info, backward_work(info, p));
}
Napi::Value WorkspaceBytes(const Napi::CallbackInfo& info) {
  const AttentionParams p = read_attention_params(info[0]);
  const int pass = info[1].As<Napi::Number>().Int32Value();
  return Napi::Number::New(info.Env(), static_cast<double>(attention_workspace_bytes_cpu(p, pass)));
}

// ------------------------------------------------------------------ device tensors (CUDA) ---
CudaPrecision read_precision(const Napi::Value& v) {
  const int p = v.IsNumber() ? v.As<Napi::Number>().Int32Value() : -1;
  if (p < 0 || p > 3) throw_error(v.Env(), Code::kRange, "unknown precision");
  return static_cast<CudaPrecision>(p);
}

// The C++ re-check of what lib/attention validated: every buffer has the size the params say
// and its expected dtype, and no output shares memory with another buffer of the call.
struct Arg {
  const char* name;
  BufferRef buf;
  size_t elements;
  DeviceDtype dtype;
  bool output;
};
std::vector<BufferRef> check_args(Napi::Env env, const std::vector<Arg>& args) {
  std::vector<BufferRef> bufs;
  for (const Arg& a : args) {
    if (a.buf->elements != a.elements)
      throw_error(env, Code::kShape, std::string(a.name) + " has " + std::to_string(a.buf->elements) +
                                         " elements, expected " + std::to_string(a.elements));
    if (a.buf->dtype != a.dtype)
      throw_error(env, Code::kDtype, std::string(a.name) + " is " + device_dtype_name(a.buf->dtype) +
                                         ", expected " + device_dtype_name(a.dtype));
    for (size_t i = 0; i < bufs.size(); ++i)
      if (bufs[i] == a.buf && (a.output || args[i].output))
        throw_error(env, Code::kRange, std::string(a.name) + " and " + args[i].name +
                                           " are the same device tensor; outputs must not alias");
    bufs.push_back(a.buf);
  }
  return bufs;
}

BufferRef dev(const Napi::CallbackInfo& info, size_t i, const char* name) {
  return get_handle<DeviceBuffer>(info[i], name);
}

Napi::Value ForwardCuda(const Napi::CallbackInfo& info) {
  BufferRef q = dev(info, 0, "q"), k = dev(info, 1, "k"), v = dev(info, 2, "v"), out = dev(info, 3, "out"),
            lse = dev(info, 4, "lse");
  const AttentionParams p = read_attention_params(info[5]);
  const CudaPrecision prec = read_precision(info[6]);
  const DeviceDtype dt = q->dtype;
  const size_t nq = static_cast<size_t>(p.B * p.Hq * p.Nq), nk = static_cast<size_t>(p.B * p.Hkv * p.Nk);
  const size_t D = static_cast<size_t>(p.D);
  std::vector<BufferRef> bufs = check_args(info.Env(), {{"q", q, nq * D, dt, false},
                                                        {"k", k, nk * D, dt, false},
                                                        {"v", v, nk * D, dt, false},
                                                        {"out", out, nq * D, dt, true},
                                                        {"lse", lse, nq, DeviceDtype::kF32, true}});
  AsyncJob* job = device_job(info.Env(), "lemma:attentionForwardCuda", std::move(bufs),
                             [=](void* stream, const std::vector<void*>& m) -> Status {
                               LEMMA_RETURN_IF_ERROR(attention_forward_cuda(p, prec, dt, m[0], m[1], m[2], m[3],
                                                                            static_cast<float*>(m[4]), stream));
                               return cuda_stream_sync(stream);
                             });
  return job->Start();
}

Napi::Value BackwardCuda(const Napi::CallbackInfo& info) {
  BufferRef q = dev(info, 0, "q"), k = dev(info, 1, "k"), v = dev(info, 2, "v"), out = dev(info, 3, "out"),
            lse = dev(info, 4, "lse"), dout = dev(info, 5, "dOut"), dq = dev(info, 6, "dq"),
            dk = dev(info, 7, "dk"), dv = dev(info, 8, "dv");
  const AttentionParams p = read_attention_params(info[9]);
  const CudaPrecision prec = read_precision(info[10]);
  const DeviceDtype dt = q->dtype;
  const size_t nq = static_cast<size_t>(p.B * p.Hq * p.Nq), nk = static_cast<size_t>(p.B * p.Hkv * p.Nk);
  const size_t D = static_cast<size_t>(p.D);
  std::vector<BufferRef> bufs = check_args(info.Env(), {{"q", q, nq * D, dt, false},
                                                        {"k", k, nk * D, dt, false},
                                                        {"v", v, nk * D, dt, false},
                                                        {"out", out, nq * D, dt, false},
                                                        {"lse", lse, nq, DeviceDtype::kF32, false},
                                                        {"dOut", dout, nq * D, dt, false},
                                                        {"dq", dq, nq * D, dt, true},
                                                        {"dk", dk, nk * D, dt, true},
                                                        {"dv", dv, nk * D, dt, true}});
  AsyncJob* job = device_job(info.Env(), "lemma:attentionBackwardCuda", std::move(bufs),
                             [=](void* stream, const std::vector<void*>& m) -> Status {
                               LEMMA_RETURN_IF_ERROR(attention_backward_cuda(
                                   p, prec, dt, m[0], m[1], m[2], m[3], static_cast<const float*>(m[4]), m[5],
                                   m[6], m[7], m[8], stream));
                               return cuda_stream_sync(stream);
                             });
  return job->Start();
}

}  // namespace

void register_attention(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "attentionForward", Forward);
  export_function(env, exports, "attentionForwardSync", ForwardSync);
  export_function(env, exports, "attentionBackward", Backward);
  export_function(env, exports, "attentionBackwardSync", BackwardSync);
  export_function(env, exports, "attentionWorkspaceBytes", WorkspaceBytes);
  export_function(env, exports, "attentionForwardCuda", ForwardCuda);
  export_function(env, exports, "attentionBackwardCuda", BackwardCuda);
}

}  // namespace lemma::napi
