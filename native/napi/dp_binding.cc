// N-API bindings of the dp family (lib/dp/ is the only caller). Outputs are allocated by TS.
//   dpL1Build(X, cnt, sum, params)          -> Promise<void>   exact tree (no noise: TS adds it)
//   dpL1BuildSync(X, cnt, sum, params)      -> void
//   dpL1Query(cnt, sum, Y, out, params)     -> Promise<void>   params.device 'cpu' | 'cuda'
//   dpL1QuerySync(cnt, sum, Y, out, params) -> void            (CPU)
//   dpL1BaselineQuery(cnt, Y, out, params)  -> Promise<void>;  dpL1BaselineQuerySync (same args)
//   dpL1BruteForce(X, Y, out, params)       -> Promise<void>   fp64 oracle for tests / benches
// params: { n?, d, levels, gridBits, lo: Float64Array[d], hi: Float64Array[d], alpha?,
//           prefixBands?, ref?, device?, quantised? }. X is [n, d] Float32Array or Float64Array (the oracle builder
// takes Float64Array only); cnt, sum are [d, 2^{levels+1}] Float64Array; Y [q, d], out [q] fp64.
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "dp/dp.h"
#include "napi/async_job.h"
#include "napi/convert.h"

namespace lemma::napi {

namespace {

// Params plus the storage its lo/hi pointers point into (owned by the job's closure).
struct Plan {
  DpL1Params p;
  std::vector<double> lo, hi;
  bool ref = false;
  bool cuda = false;
  bool quantised = false;
};

std::vector<double> read_f64(const Napi::Object& o, const char* key, int64_t d) {
  Napi::Value v = o.Get(key);
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw_status(o.Env(), Status::Error(Code::kInternal, std::string("params.") + key + " must be a Float64Array"));
  Napi::Float64Array a = v.As<Napi::Float64Array>();
  if (static_cast<int64_t>(a.ElementLength()) != d)
    throw_status(o.Env(), Status::Error(Code::kShape, std::string("params.") + key + " must hold d values"));
  return std::vector<double>(a.Data(), a.Data() + d);
}

std::shared_ptr<Plan> read_plan(const Napi::Value& v, bool for_build) {
  if (!v.IsObject()) throw_status(v.Env(), Status::Error(Code::kInternal, "dp params must be an object"));
  Napi::Object o = v.As<Napi::Object>();
  auto plan = std::make_shared<Plan>();
  DpL1Params& p = plan->p;
  p.d = get_int(o, "d");
  p.levels = static_cast<int>(get_int(o, "levels"));
  p.grid_bits = static_cast<int>(get_int(o, "gridBits"));
  if (for_build) p.n = get_int(o, "n");
  if (o.Get("alpha").IsNumber()) p.alpha = get_number(o, "alpha");
  p.prefix_bands = get_bool(o, "prefixBands", false);
  if (p.d < 1 || p.d > (int64_t{1} << 24))
    throw_status(v.Env(), Status::Error(Code::kShape, "d must lie in [1, 2^24]"));
  plan->lo = read_f64(o, "lo", p.d);
  plan->hi = read_f64(o, "hi", p.d);
  p.lo = plan->lo.data();
  p.hi = plan->hi.data();
  plan->ref = get_bool(o, "ref", false);
  plan->quantised = get_bool(o, "quantised", false);
  Napi::Value dev = o.Get("device");
  plan->cuda = dev.IsString() && dev.As<Napi::String>().Utf8Value() == "cuda";
  const Status st = dp_l1_check_params(p, for_build);
  if (!st.ok()) throw_status(v.Env(), st);
  return plan;
}

size_t tree_size(const DpL1Params& p) { return static_cast<size_t>(p.d * dp_slots(p.levels)); }

std::function<Status()> build_work(const Napi::CallbackInfo& info) {
  auto plan = read_plan(info[3], true);
  const DpL1Params& p = plan->p;
  const Dtype dt = array_dtype(info[0], "X");
  if (plan->ref && dt != Dtype::kFloat64)
    throw_status(info.Env(), Status::Error(Code::kDtype, "the oracle builder takes a Float64Array X"));
  ArrayView X = get_array(info, 0, "X", dt, static_cast<size_t>(p.n * p.d));
  ArrayView cnt = get_array(info, 1, "cnt", Dtype::kFloat64, tree_size(p));
  ArrayView sum = get_array(info, 2, "sum", Dtype::kFloat64, tree_size(p));
  return [plan, X, cnt, sum]() {
    double* c = static_cast<double*>(cnt.data);
    double* s = static_cast<double*>(sum.data);
    if (plan->ref) return dp_l1_build_ref(plan->p, static_cast<const double*>(X.data), c, s);
    if (X.dtype == Dtype::kFloat32) return dp_l1_build_cpu(plan->p, static_cast<const float*>(X.data), c, s);
    return dp_l1_build_cpu(plan->p, static_cast<const double*>(X.data), c, s);
  };
}

std::function<Status()> query_work(const Napi::CallbackInfo& info, bool allow_cuda) {
  auto plan = read_plan(info[4], false);
  const DpL1Params& p = plan->p;
  ArrayView cnt = get_array(info, 0, "cnt", Dtype::kFloat64, tree_size(p));
  ArrayView sum = get_array(info, 1, "sum", Dtype::kFloat64, tree_size(p));
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().ElementLength() % static_cast<size_t>(p.d) != 0)
    throw_status(info.Env(), Status::Error(Code::kShape, "Y must be a Float64Array of q·d values"));
  const int64_t q = static_cast<int64_t>(info[2].As<Napi::TypedArray>().ElementLength()) / p.d;
  ArrayView Y = get_array(info, 2, "Y", Dtype::kFloat64, static_cast<size_t>(q * p.d));
  ArrayView out = get_array(info, 3, "out", Dtype::kFloat64, static_cast<size_t>(q));
  if (plan->cuda && !allow_cuda)
    throw_status(info.Env(), Status::Error(Code::kInternal, "the synchronous query runs on the CPU only"));
#ifndef LEMMA_WITH_CUDA
  if (plan->cuda)
    throw_status(info.Env(), Status::Error(Code::kCudaUnavailable, "lemma was built without CUDA"));
#endif
  return [plan, cnt, sum, Y, out, q]() {
    const double* c = static_cast<const double*>(cnt.data);
    const double* s = static_cast<const double*>(sum.data);
    const double* y = static_cast<const double*>(Y.data);
    double* o = static_cast<double*>(out.data);
#ifdef LEMMA_WITH_CUDA
    if (plan->cuda) return dp_l1_query_cuda(plan->p, c, s, y, q, o);
#endif
    if (plan->ref) return dp_l1_query_ref(plan->p, c, s, y, q, o);
    return dp_l1_query_cpu(plan->p, c, s, y, q, o);
  };
}

std::function<Status()> baseline_work(const Napi::CallbackInfo& info) {
  auto plan = read_plan(info[3], false);
  const DpL1Params& p = plan->p;
  ArrayView cnt = get_array(info, 0, "cnt", Dtype::kFloat64, tree_size(p));
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().ElementLength() % static_cast<size_t>(p.d) != 0)
    throw_status(info.Env(), Status::Error(Code::kShape, "Y must be a Float64Array of q·d values"));
  const int64_t q = static_cast<int64_t>(info[1].As<Napi::TypedArray>().ElementLength()) / p.d;
  ArrayView Y = get_array(info, 1, "Y", Dtype::kFloat64, static_cast<size_t>(q * p.d));
  ArrayView out = get_array(info, 2, "out", Dtype::kFloat64, static_cast<size_t>(q));
  return [plan, cnt, Y, out, q]() {
    return dp_l1_baseline_query_cpu(plan->p, static_cast<const double*>(cnt.data),
                                    static_cast<const double*>(Y.data), q, static_cast<double*>(out.data));
  };
}

std::function<Status()> brute_work(const Napi::CallbackInfo& info) {
  auto plan = read_plan(info[3], true);
  const DpL1Params& p = plan->p;
  ArrayView X = get_array(info, 0, "X", Dtype::kFloat64, static_cast<size_t>(p.n * p.d));
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().ElementLength() % static_cast<size_t>(p.d) != 0)
    throw_status(info.Env(), Status::Error(Code::kShape, "Y must be a Float64Array of q·d values"));
  const int64_t q = static_cast<int64_t>(info[1].As<Napi::TypedArray>().ElementLength()) / p.d;
  ArrayView Y = get_array(info, 1, "Y", Dtype::kFloat64, static_cast<size_t>(q * p.d));
  ArrayView out = get_array(info, 2, "out", Dtype::kFloat64, static_cast<size_t>(q));
  return [plan, X, Y, out, q]() {
    return dp_l1_brute_force(plan->p, static_cast<const double*>(X.data), static_cast<const double*>(Y.data), q,
                             plan->quantised, static_cast<double*>(out.data));
  };
}

Napi::Value Build(const Napi::CallbackInfo& info) { return run_async(info, 3, "lemma:dpL1Build", build_work(info)); }
Napi::Value BuildSync(const Napi::CallbackInfo& info) { return run_sync(info, build_work(info)); }
Napi::Value Query(const Napi::CallbackInfo& info) { return run_async(info, 4, "lemma:dpL1Query", query_work(info, true)); }
Napi::Value QuerySync(const Napi::CallbackInfo& info) { return run_sync(info, query_work(info, false)); }
Napi::Value BaselineQuery(const Napi::CallbackInfo& info) {
  return run_async(info, 3, "lemma:dpL1BaselineQuery", baseline_work(info));
}
Napi::Value BaselineQuerySync(const Napi::CallbackInfo& info) { return run_sync(info, baseline_work(info)); }
Napi::Value BruteForce(const Napi::CallbackInfo& info) {
  return run_async(info, 3, "lemma:dpL1BruteForce", brute_work(info));
}

}  // namespace

void register_dp(Napi::Env env, Napi::Object exports) {
  exports.Set("dpL1Build", Napi::Function::New(env, Build, "dpL1Build"));
  exports.Set("dpL1BuildSync", Napi::Function::New(env, BuildSync, "dpL1BuildSync"));
  exports.Set("dpL1Query", Napi::Function::New(env, Query, "dpL1Query"));
  exports.Set("dpL1QuerySync", Napi::Function::New(env, QuerySync, "dpL1QuerySync"));
  exports.Set("dpL1BaselineQuery", Napi::Function::New(env, BaselineQuery, "dpL1BaselineQuery"));
  exports.Set("dpL1BaselineQuerySync", Napi::Function::New(env, BaselineQuerySync, "dpL1BaselineQuerySync"));
  exports.Set("dpL1BruteForce", Napi::Function::New(env, BruteForce, "dpL1BruteForce"));
}

}  // namespace lemma::napi
