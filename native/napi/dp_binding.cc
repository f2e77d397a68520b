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
  return copy_array<double>(o.Get(key), std::string("params.") + key, Dtype::kFloat64, static_cast<size_t>(d));
}

std::shared_ptr<Plan> read_plan(const Napi::Value& v, bool for_build) {
  if (!v.IsObject()) throw_error(v.Env(), Code::kInternal, "dp params must be an object");
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
    throw_error(v.Env(), Code::kShape, "d must lie in [1, 2^24]");
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

// Y: a Float64Array of q·d values (any q).
ArrayView read_queries(const Napi::CallbackInfo& info, size_t i, const DpL1Params& p) {
  ArrayView Y = get_array(info, i, "Y", Dtype::kFloat64);
  if (Y.length % static_cast<size_t>(p.d) != 0)
    throw_error(info.Env(), Code::kShape, "Y must hold q·d values");
  return Y;
}

std::function<Status()> build_work(const Napi::CallbackInfo& info) {
  auto plan = read_plan(info[3], true);
  const DpL1Params& p = plan->p;
  const Dtype dt = float_dtype(info[0], "X");
  if (plan->ref && dt != Dtype::kFloat64)
    throw_error(info.Env(), Code::kDtype, "the oracle builder takes a Float64Array X");
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
  ArrayView Y = read_queries(info, 2, p);
  const int64_t q = static_cast<int64_t>(Y.length) / p.d;
  ArrayView out = get_array(info, 3, "out", Dtype::kFloat64, static_cast<size_t>(q));
  // A sync call asking for CUDA: ERR_CUDA_UNAVAILABLE in every family (no sync CUDA path here).
  if (plan->cuda && !allow_cuda)
    throw_error(info.Env(), Code::kCudaUnavailable, "the synchronous query has no CUDA path; use query()");
#ifndef LEMMA_WITH_CUDA
  if (plan->cuda) throw_error(info.Env(), Code::kCudaUnavailable, "lemma was built without CUDA");
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
  ArrayView Y = read_queries(info, 1, p);
  const int64_t q = static_cast<int64_t>(Y.length) / p.d;
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
  ArrayView Y = read_queries(info, 1, p);
  const int64_t q = static_cast<int64_t>(Y.length) / p.d;
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
  export_function(env, exports, "dpL1Build", Build);
  export_function(env, exports, "dpL1BuildSync", BuildSync);
  export_function(env, exports, "dpL1Query", Query);
  export_function(env, exports, "dpL1QuerySync", QuerySync);
  export_function(env, exports, "dpL1BaselineQuery", BaselineQuery);
  export_function(env, exports, "dpL1BaselineQuerySync", BaselineQuerySync);
  export_function(env, exports, "dpL1BruteForce", BruteForce);
}

}  // namespace lemma::napi
