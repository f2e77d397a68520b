// N-API bindings of polynomial attention (lib/poly-attention/ is the only caller).
//   polyAttentionForward(q, k, v, out, norm, params)                   -> Promise<void>
//   polyAttentionBackward(q, k, v, out, norm, dout, dq, dk, dv, params) -> Promise<void>
//   polyAttentionFeatures(D, degree) -> number (r, or -1 when over 2^62)
//   matmul(A, B, C, { m, k, n, ta, tb }) -> Promise<void>   C = op(A) op(B) (lemma.nn's dense layers)
// params: { B, Hq, Hkv, Nq, Nk, D, scale, degree, causal, chunk, ref }. Float32Array arrays run
// the fp32 fast path, Float64Array the same algorithm in fp64, or with ref: true (Float64Array
// only) the pair-by-pair oracle. Outputs are allocated by TS and fully overwritten.
#include <napi.h>

#include "napi/async_job.h"
#include "napi/convert.h"
#include "poly_attention/poly_attention.h"

namespace lemma::napi {

namespace {

struct Plan {
  PolyAttentionParams p;
  bool ref = false;
};

Plan read_plan(const Napi::Value& v) {
  if (!v.IsObject()) throw_error(v.Env(), Code::kInternal, "polyAttention params must be an object");
  Napi::Object o = v.As<Napi::Object>();
  Plan plan;
  PolyAttentionParams& p = plan.p;
  p.B = get_int(o, "B");
  p.Hq = get_int(o, "Hq");
  p.Hkv = get_int(o, "Hkv");
  p.Nq = get_int(o, "Nq");
  p.Nk = get_int(o, "Nk");
  p.D = get_int(o, "D");
  p.scale = get_number(o, "scale");
  p.degree = static_cast<int>(get_int(o, "degree"));
  p.causal = get_bool(o, "causal", false);
  p.chunk = static_cast<int>(get_int(o, "chunk"));
  plan.ref = get_bool(o, "ref", false);
  const Status st = poly_attention_check_params(p);
  if (!st.ok()) throw_status(v.Env(), st);
  return plan;
}

size_t q_size(const PolyAttentionParams& p) { return static_cast<size_t>(p.B * p.Hq * p.Nq * p.D); }
size_t kv_size(const PolyAttentionParams& p) { return static_cast<size_t>(p.B * p.Hkv * p.Nk * p.D); }
size_t norm_size(const PolyAttentionParams& p) { return static_cast<size_t>(p.B * p.Hq * p.Nq); }

template <typename T>
const T* in(const ArrayView& a) { return static_cast<const T*>(a.data); }
template <typename T>
T* outp(const ArrayView& a) { return static_cast<T*>(a.data); }

std::function<Status()> forward_work(const Napi::CallbackInfo& info) {
  const Plan plan = read_plan(info[5]);
  const PolyAttentionParams& p = plan.p;
  const Dtype dt = float_dtype(info[0], "q");
  if (plan.ref && dt != Dtype::kFloat64)
    throw_error(info.Env(), Code::kDtype, "the polyAttention oracle takes Float64Array tensors");
  ArrayView q = get_array(info, 0, "q", dt, q_size(p)), k = get_array(info, 1, "k", dt, kv_size(p)),
            v = get_array(info, 2, "v", dt, kv_size(p)), out = get_array(info, 3, "out", dt, q_size(p)),
            norm = get_array(info, 4, "norm", dt, norm_size(p));
  return [plan, q, k, v, out, norm]() {
    const PolyAttentionParams& p = plan.p;
    if (q.dtype == Dtype::kFloat32)
      return poly_attention_forward_cpu(p, in<float>(q), in<float>(k), in<float>(v), outp<float>(out),
                                        outp<float>(norm));
    if (plan.ref)
      return poly_attention_forward_ref(p, in<double>(q), in<double>(k), in<double>(v), outp<double>(out),
                                        outp<double>(norm));
    return poly_attention_forward_cpu(p, in<double>(q), in<double>(k), in<double>(v), outp<double>(out),
                                      outp<double>(norm));
  };
}

std::function<Status()> backward_work(const Napi::CallbackInfo& info) {
  const Plan plan = read_plan(info[9]);
  const PolyAttentionParams& p = plan.p;
  const Dtype dt = float_dtype(info[0], "q");
  if (plan.ref && dt != Dtype::kFloat64)
    throw_error(info.Env(), Code::kDtype, "the polyAttention oracle takes Float64Array tensors");
  ArrayView q = get_array(info, 0, "q", dt, q_size(p)), k = get_array(info, 1, "k", dt, kv_size(p)),
            v = get_array(info, 2, "v", dt, kv_size(p)), out = get_array(info, 3, "out", dt, q_size(p)),
            norm = get_array(info, 4, "norm", dt, norm_size(p)), dout = get_array(info, 5, "dOut", dt, q_size(p)),
            dq = get_array(info, 6, "dq", dt, q_size(p)), dk = get_array(info, 7, "dk", dt, kv_size(p)),
            dv = get_array(info, 8, "dv", dt, kv_size(p));
  return [plan, q, k, v, out, norm, dout, dq, dk, dv]() {
    const PolyAttentionParams& p = plan.p;
    if (q.dtype == Dtype::kFloat32)
      return poly_attention_backward_cpu(p, in<float>(q), in<float>(k), in<float>(v), in<float>(out),
                                         in<float>(norm), in<float>(dout), outp<float>(dq), outp<float>(dk),
                                         outp<float>(dv));
    if (plan.ref)
      return poly_attention_backward_ref(p, in<double>(q), in<double>(k), in<double>(v), in<double>(out),
                                         in<double>(norm), in<double>(dout), outp<double>(dq), outp<double>(dk),
                                         outp<double>(dv));
    return poly_attention_backward_cpu(p, in<double>(q), in<double>(k), in<double>(v), in<double>(out),
                                       in<double>(norm), in<double>(dout), outp<double>(dq), outp<double>(dk),
                                       outp<double>(dv));
  };
}

Napi::Value Forward(const Napi::CallbackInfo& info) {
  return run_async(info, 5, "lemma:polyAttentionForward", forward_work(info));
}
Napi::Value Backward(const Napi::CallbackInfo& info) {
  return run_async(info, 9, "lemma:polyAttentionBackward", backward_work(info));
}
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  if (info.Length() < 4 || !info[3].IsObject())
    throw_error(info.Env(), Code::kInternal, "matmul(A, B, C, { m, k, n, ta, tb })");
  Napi::Object o = info[3].As<Napi::Object>();
  const int64_t m = get_int(o, "m"), k = get_int(o, "k"), n = get_int(o, "n");
  const bool ta = get_bool(o, "ta", false), tb = get_bool(o, "tb", false);
  if (m < 1 || k < 1 || n < 1 || double(m) * double(k) > 9e15 || double(k) * double(n) > 9e15 ||
      double(m) * double(n) > 9e15)
    throw_error(info.Env(), Code::kShape, "matmul: m, k, n must be positive");
  const Dtype dt = float_dtype(info[0], "A");
  ArrayView A = get_array(info, 0, "A", dt, size_t(m * k)), B = get_array(info, 1, "B", dt, size_t(k * n)),
            C = get_array(info, 2, "C", dt, size_t(m * n));
  return run_async(info, 3, "lemma:matmul", [A, B, C, m, k, n, ta, tb]() {
    if (A.dtype == Dtype::kFloat32)
      return poly_matmul_cpu(in<float>(A), in<float>(B), outp<float>(C), m, k, n, ta, tb);
    return poly_matmul_cpu(in<double>(A), in<double>(B), outp<double>(C), m, k, n, ta, tb);
  });
}

Napi::Value Features(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber())
    throw_error(info.Env(), Code::kInternal, "polyAttentionFeatures(D, degree)");
  const int64_t D = info[0].As<Napi::Number>().Int64Value();
  const int degree = info[1].As<Napi::Number>().Int32Value();
  return Napi::Number::New(info.Env(), double(poly_attention_features(D, degree)));
}

}  // namespace

void register_poly_attention(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "polyAttentionForward", Forward);
  export_function(env, exports, "polyAttentionBackward", Backward);
  export_function(env, exports, "matmul", Matmul);
  export_function(env, exports, "polyAttentionFeatures", Features);
}

}  // namespace lemma::napi
