// N-API bindings of the attention family (lib/attention/ is the only caller):
//   attentionForward(q, k, v, out, lse, params)                 -> Promise<void>
//   attentionBackward(q, k, v, out, lse, dout, dq, dk, dv, params) -> Promise<void>
//   attentionForwardSync / attentionBackwardSync (same arguments, run on the calling thread)
//   attentionWorkspaceBytes(params, pass) -> number
// Outputs are allocated by the caller (TS) and fully overwritten. Float32Array inputs run the
// fast CPU path; Float64Array inputs run the fp64 oracle.
#include <napi.h>

#include <memory>

#include "attention/attention.h"
#include "napi/async_job.h"
#include "napi/convert.h"

namespace lemma::napi {

AttentionParams read_attention_params(const Napi::Value& v) {
  if (!v.IsObject())
    throw_status(v.Env(), Status::Error(Code::kInternal, "attention params must be an object"));
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

namespace {

struct Sizes {
  size_t q, kv, lse;
};
Sizes sizes(const AttentionParams& p) {
  return {static_cast<size_t>(p.B * p.Hq * p.Nq * p.D), static_cast<size_t>(p.B * p.Hkv * p.Nk * p.D),
          static_cast<size_t>(p.B * p.Hq * p.Nq)};
}

// Builds the closure for the forward pass over the arrays in info[0..4].
std::function<Status()> forward_work(const Napi::CallbackInfo& info, const AttentionParams& p) {
  const Dtype dt = array_dtype(info[0], "q");
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
  const Dtype dt = array_dtype(info[0], "q");
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

}  // namespace

void register_attention(Napi::Env env, Napi::Object exports) {
  exports.Set("attentionForward", Napi::Function::New(env, Forward, "attentionForward"));
  exports.Set("attentionForwardSync", Napi::Function::New(env, ForwardSync, "attentionForwardSync"));
  exports.Set("attentionBackward", Napi::Function::New(env, Backward, "attentionBackward"));
  exports.Set("attentionBackwardSync", Napi::Function::New(env, BackwardSync, "attentionBackwardSync"));
  exports.Set("attentionWorkspaceBytes", Napi::Function::New(env, WorkspaceBytes, "attentionWorkspaceBytes"));
}

}  // namespace lemma::napi
