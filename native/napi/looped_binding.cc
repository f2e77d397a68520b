// N-API bindings of the looped family's fixed-point iteration (lib/looped/ is the only caller).
//   loopedIterate(W, b, x, steps, stab, last, residuals, params)     -> Promise<void>
//   loopedIterateSync(W, b, x, steps, stab, last, residuals, params) -> void
// W [d, d], b [d], x [S, d]: all Float32Array or all Float64Array (x is updated in place);
// steps, stab: Int32Array [S]; last: Float64Array [S]; residuals: Float64Array [S·maxSteps], or
// empty for no history. params: { S, d, activation (0..4), maxSteps, tEnd, tol, noise, seedLo,
// seedHi, earlyExit, ref } (ref: the fp64 oracle, Float64Array only). State: looped/looped.h.
#include <napi.h>

#include <algorithm>
#include <string>

#include "looped/looped.h"
#include "napi/async_job.h"
#include "napi/convert.h"

namespace lemma::napi {

namespace {

template <typename T>
T* typed(const Napi::CallbackInfo& info, size_t i, Dtype dtype, const char* name, size_t length) {
  return static_cast<T*>(get_array(info, i, name, dtype, length).data);
}

std::function<Status()> iterate_work(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 8 || !info[7].IsObject())
    throw_error(env, Code::kInternal, "loopedIterate takes 7 arrays and a params object");
  Napi::Object o = info[7].As<Napi::Object>();
  LoopedParams p;
  p.S = get_int(o, "S");
  p.d = get_int(o, "d");
  p.activation = static_cast<LoopedActivation>(get_int(o, "activation"));
  p.max_steps = static_cast<int>(std::min<int64_t>(get_int(o, "maxSteps"), int64_t{1} << 30));
  p.t_end = static_cast<int>(std::min<int64_t>(get_int(o, "tEnd"), int64_t{1} << 30));
  p.tol = get_number(o, "tol");
  p.noise = get_number(o, "noise");
  p.seed = static_cast<uint64_t>(get_int(o, "seedLo")) | (static_cast<uint64_t>(get_int(o, "seedHi")) << 32);
  p.early_exit = get_bool(o, "earlyExit", true);
  const bool ref = get_bool(o, "ref", false);
  const Status st = looped_check_params(p);
  if (!st.ok()) throw_status(env, st);
  const size_t S = static_cast<size_t>(p.S), d = static_cast<size_t>(p.d);
  const Dtype dt = float_dtype(info[0], "W");
  if (ref && dt != Dtype::kFloat64)
    throw_error(env, Code::kDtype, "the oracle takes Float64Array W, b and x");
  ArrayView W = get_array(info, 0, "W", dt, d * d);
  ArrayView b = get_array(info, 1, "b", dt, d);
  ArrayView x = get_array(info, 2, "x", dt, S * d);
  int32_t* steps = typed<int32_t>(info, 3, Dtype::kInt32, "steps", S);
  int32_t* stab = typed<int32_t>(info, 4, Dtype::kInt32, "stab", S);
  double* last = typed<double>(info, 5, Dtype::kFloat64, "last", S);
  // residuals: empty (no history) or S·maxSteps values.
  const size_t hist = get_array(info, 6, "residuals", Dtype::kFloat64).length > 0 ? S * static_cast<size_t>(p.max_steps) : 0;
  double* residuals = typed<double>(info, 6, Dtype::kFloat64, "residuals", hist);
  return [p, ref, W, b, x, steps, stab, last, residuals]() -> Status {
    if (ref)
      return looped_iterate_ref(p, static_cast<const double*>(W.data), static_cast<const double*>(b.data),
                                static_cast<double*>(x.data), steps, stab, last, residuals);
    if (W.dtype == Dtype::kFloat32)
      return looped_iterate_cpu(p, static_cast<const float*>(W.data), static_cast<const float*>(b.data),
                                static_cast<float*>(x.data), steps, stab, last, residuals);
    return looped_iterate_cpu(p, static_cast<const double*>(W.data), static_cast<const double*>(b.data),
                              static_cast<double*>(x.data), steps, stab, last, residuals);
  };
}

Napi::Value Iterate(const Napi::CallbackInfo& info) {
  return run_async(info, 7, "lemma:loopedIterate", iterate_work(info));
}
Napi::Value IterateSync(const Napi::CallbackInfo& info) { return run_sync(info, iterate_work(info)); }

}  // namespace

void register_looped(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "loopedIterate", Iterate);
  export_function(env, exports, "loopedIterateSync", IterateSync);
}

}  // namespace lemma::napi
