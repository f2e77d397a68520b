// N-API bindings of the sparse attention family (lib/sparse/ is the only caller).
// The index is a convert.h handle of SparseIndex (type-tagged External over a shared_ptr):
// dispose() drops the handle's reference (later calls: ERR_DISPOSED); jobs in flight keep their
// own reference, so memory lives until the last one ends; the finalizer is only a safety net.
//   sparseIndexBuild(k, v, params) -> Promise<handle>          (Sync twin returns the handle)
//   sparseIndexAppend(handle, kNew, vNew, nNew) -> Promise<void> (Sync twin)
//   sparseIndexAttend(handle, q, thresholds, out, errorBound | null, params) -> Promise<stats>
//   sparseIndexReport(handle, q, thresholds, params) -> Promise<{ rowPtr, keys, scores }>
//   sparseIndexBackward(handle, q, thresholds, dOut, dq, dk, dv, params) -> Promise<stats>
//   sparseIndexInfo(handle) -> { N, numBlocks, levels, bytes }          (ERR_DISPOSED when disposed)
//   sparseIndexDispose(handle) -> void (idempotent)
//   sparseAttentionRef(q, k, v, thresholds, out, counts, params) -> Promise<void>   (fp64)
//   sparseReluBackwardRef(q, k, v, thresholds, dOut, dq, dk, dv, params) -> Promise<void>
// (every async function also has a *Sync twin; the sync twins run the CUDA path too, on the
// calling thread, when params.cuda is set). Attend/report/backward hold the index's lock
// shared on the worker thread, append exclusive; outputs are allocated by the caller and fully
// overwritten.
#include <napi.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "napi/async_job.h"
#include "napi/convert.h"
#include "sparse_attention/sparse_attention.h"

namespace lemma::napi {

template <>
struct HandleKind<SparseIndex> {
  static constexpr napi_type_tag tag = {0x6c656d6d61737061ull, 0x72736569646b7832ull};
  static constexpr const char* name = "sparse key index";
};

namespace {

std::shared_ptr<SparseIndex> get_index(const Napi::Value& v) { return get_handle<SparseIndex>(v, "index"); }

Napi::Object as_object(const Napi::Value& v, const char* what) {
  if (!v.IsObject())
    throw_error(v.Env(), Code::kInternal, std::string(what) + " must be an object");
  return v.As<Napi::Object>();
}

SparseIndexParams read_index_params(const Napi::Value& v) {
  Napi::Object o = as_object(v, "index params");
  SparseIndexParams p;
  p.B = get_int(o, "B");
  p.Hkv = get_int(o, "Hkv");
  p.N = get_int(o, "N");
  p.D = get_int(o, "D");
  p.block_size = get_int(o, "blockSize");
  p.order = get_int(o, "order") == 1 ? SparseOrder::kCluster : SparseOrder::kPosition;
  p.levels = static_cast<int>(get_int(o, "levels"));
  return p;
}

SparseAttendParams read_attend_params(const Napi::Value& v, bool* cuda) {
  Napi::Object o = as_object(v, "attend params");
  SparseAttendParams p;
  p.Hq = get_int(o, "Hq");
  p.M = get_int(o, "M");
  p.scale = get_number(o, "scale");
  p.causal = get_bool(o, "causal", false);
  p.activation = get_int(o, "activation") == 1 ? SparseActivation::kSoftmax : SparseActivation::kRelu;
  p.alpha = static_cast<int>(get_int(o, "alpha"));
  p.calibrate = get_bool(o, "calibrate", false);
  p.keep = p.calibrate ? get_number(o, "keep") : 0;
  p.tolerance = get_number(o, "tolerance");
  p.dense_above = get_number(o, "denseAbove");
  *cuda = get_bool(o, "cuda", false);
  return p;
}

SparseRefParams read_ref_params(const Napi::Value& v) {
  Napi::Object o = as_object(v, "reference params");
  SparseRefParams p;
  p.B = get_int(o, "B");
  p.Hq = get_int(o, "Hq");
  p.Hkv = get_int(o, "Hkv");
  p.M = get_int(o, "M");
  p.N = get_int(o, "N");
  p.D = get_int(o, "D");
  p.scale = get_number(o, "scale");
  p.causal = get_bool(o, "causal", false);
  p.activation = get_int(o, "activation") == 1 ? SparseActivation::kSoftmax : SparseActivation::kRelu;
  p.alpha = static_cast<int>(get_int(o, "alpha"));
  const Status st = sparse_check_ref_params(p);
  if (!st.ok()) throw_status(v.Env(), st);
  return p;
}

Napi::Object stats_object(Napi::Env env, const SparseStats& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("keysScored", s.keys_scored);
  o.Set("keysTotal", s.keys_total);
  o.Set("blocksVisited", s.blocks_visited);
  o.Set("blocksTotal", s.blocks_total);
  o.Set("activeSum", s.active_sum);
  o.Set("activeMax", s.active_max);
  o.Set("rows", static_cast<double>(s.rows));
  o.Set("fallbackRows", static_cast<double>(s.fallback_rows));
  o.Set("denseRows", static_cast<double>(s.dense_rows));
  o.Set("predictedRows", static_cast<double>(s.predicted_rows));
  o.Set("flashRows", static_cast<double>(s.flash_rows));
  return o;
}

size_t sz(int64_t n) { return static_cast<size_t>(n); }

// ---------------------------------------------------------------------------- build -------
Napi::Value Build(const Napi::CallbackInfo& info, bool sync) {
  const SparseIndexParams p = read_index_params(info[2]);
  const size_t n = sz(p.B * p.Hkv * p.N * p.D);
  ArrayView k = get_array(info, 0, "k", Dtype::kFloat32, n);
  ArrayView v = get_array(info, 1, "v", Dtype::kFloat32, n);
  auto result = std::make_shared<std::shared_ptr<SparseIndex>>();
  auto work = [=]() {
    std::unique_ptr<SparseIndex> idx;
    LEMMA_RETURN_IF_ERROR(sparse_index_build(p, static_cast<const float*>(k.data),
                                             static_cast<const float*>(v.data), &idx));
    *result = std::move(idx);
    return Status::Ok();
  };
  return dispatch(info, sync, "lemma:sparseIndexBuild", 2, work, [result](Napi::Env env) {
    const int64_t bytes = static_cast<int64_t>((*result)->bytes());
    return make_handle<SparseIndex>(env, std::move(*result), bytes);
  });
}

Napi::Value Append(const Napi::CallbackInfo& info, bool sync) {
  std::shared_ptr<SparseIndex> idx = get_index(info[0]);
  const int64_t n_new = info[3].As<Napi::Number>().Int64Value();
  if (n_new < 1) throw_error(info.Env(), Code::kShape, "append needs at least one key");
  const size_t n = sz(idx->p.B * idx->p.Hkv * n_new * idx->p.D);
  ArrayView k = get_array(info, 1, "kNew", Dtype::kFloat32, n);
  ArrayView v = get_array(info, 2, "vNew", Dtype::kFloat32, n);
  auto work = [=]() {
    std::unique_lock<std::shared_mutex> lock(idx->mu);
    return sparse_index_append(idx.get(), n_new, static_cast<const float*>(k.data),
                               static_cast<const float*>(v.data));
  };
  return dispatch(info, sync, "lemma:sparseIndexAppend", 3, work, nullptr);
}

// ---------------------------------------------------------------------------- attend ------
Napi::Value Attend(const Napi::CallbackInfo& info, bool sync) {
  std::shared_ptr<SparseIndex> idx = get_index(info[0]);
  bool cuda = false;
  const SparseAttendParams p = read_attend_params(info[5], &cuda);
  // Sizes are fixed at call time: N may grow by a later append, so q's rows, not N, matter.
  const int64_t R = idx->p.B * p.Hq * p.M;
  ArrayView q = get_array(info, 1, "q", Dtype::kFloat32, sz(R * idx->p.D));
  ArrayView thr = get_array(info, 2, "thresholds", Dtype::kFloat64, sz(idx->p.B * p.Hq));
  ArrayView out = get_array(info, 3, "out", Dtype::kFloat32, sz(R * idx->p.D));
  ArrayView eb;
  if (!info[4].IsNull()) eb = get_array(info, 4, "errorBound", Dtype::kFloat32, sz(R));
  auto stats = std::make_shared<SparseStats>();
  auto work = [=]() {
    std::shared_lock<std::shared_mutex> lock(idx->mu);
    if (cuda) {
#ifdef LEMMA_WITH_CUDA
      return sparse_attend_cuda(*idx, p, static_cast<const float*>(q.data),
                                static_cast<double*>(thr.data), static_cast<float*>(out.data),
                                static_cast<float*>(eb.data), stats.get());
#else
      return Status::Error(Code::kCudaUnavailable, "this build has no CUDA kernels");
#endif
    }
    return sparse_attend_cpu(*idx, p, static_cast<const float*>(q.data),
                             static_cast<double*>(thr.data), static_cast<float*>(out.data),
                             static_cast<float*>(eb.data), stats.get());
  };
  return dispatch(info, sync, "lemma:sparseIndexAttend", 5, work, [stats](Napi::Env env) { return stats_object(env, *stats); });
}

Napi::Value Report(const Napi::CallbackInfo& info, bool sync) {
  std::shared_ptr<SparseIndex> idx = get_index(info[0]);
  bool cuda = false;
  const SparseAttendParams p = read_attend_params(info[3], &cuda);
  const int64_t R = idx->p.B * p.Hq * p.M;
  ArrayView q = get_array(info, 1, "q", Dtype::kFloat32, sz(R * idx->p.D));
  ArrayView thr = get_array(info, 2, "thresholds", Dtype::kFloat64, sz(idx->p.B * p.Hq));
  struct Result {
    std::vector<int64_t> row_ptr;
    std::vector<int32_t> keys;
    std::vector<float> scores;
  };
  auto res = std::make_shared<Result>();
  auto work = [=]() {
    std::shared_lock<std::shared_mutex> lock(idx->mu);
    LEMMA_RETURN_IF_ERROR(sparse_report_cpu(*idx, p, static_cast<const float*>(q.data),
                                            static_cast<const double*>(thr.data), &res->row_ptr,
                                            &res->keys, &res->scores));
    if (res->keys.size() > (size_t{1} << 32))
      return Status::Error(Code::kRange, "report: more than 2^32 entries");
    return Status::Ok();
  };
  auto done = [res](Napi::Env env) -> Napi::Value {
    Napi::Object o = Napi::Object::New(env);
    auto rp = Napi::Float64Array::New(env, res->row_ptr.size());
    for (size_t i = 0; i < res->row_ptr.size(); ++i) rp[i] = static_cast<double>(res->row_ptr[i]);
    auto ks = Napi::Int32Array::New(env, res->keys.size());
    if (!res->keys.empty()) std::memcpy(ks.Data(), res->keys.data(), res->keys.size() * 4);
    auto sc = Napi::Float32Array::New(env, res->scores.size());
    if (!res->scores.empty()) std::memcpy(sc.Data(), res->scores.data(), res->scores.size() * 4);
    o.Set("rowPtr", rp);
    o.Set("keys", ks);
    o.Set("scores", sc);
    return o;
  };
  return dispatch(info, sync, "lemma:sparseIndexReport", 3, work, done);
}

Napi::Value Backward(const Napi::CallbackInfo& info, bool sync) {
  std::shared_ptr<SparseIndex> idx = get_index(info[0]);
  bool cuda = false;
  const SparseAttendParams p = read_attend_params(info[7], &cuda);
  const int64_t R = idx->p.B * p.Hq * p.M, D = idx->p.D;
  const int64_t nk = idx->p.B * idx->p.Hkv * idx->N() * D;
  ArrayView q = get_array(info, 1, "q", Dtype::kFloat32, sz(R * D));
  ArrayView thr = get_array(info, 2, "thresholds", Dtype::kFloat64, sz(idx->p.B * p.Hq));
  ArrayView dout = get_array(info, 3, "dOut", Dtype::kFloat32, sz(R * D));
  ArrayView dq = get_array(info, 4, "dq", Dtype::kFloat32, sz(R * D));
  ArrayView dk = get_array(info, 5, "dk", Dtype::kFloat32, sz(nk));
  ArrayView dv = get_array(info, 6, "dv", Dtype::kFloat32, sz(nk));
  auto stats = std::make_shared<SparseStats>();
  auto work = [=]() {
    std::shared_lock<std::shared_mutex> lock(idx->mu);
    if (idx->p.B * idx->p.Hkv * idx->N() * D != nk)
      return Status::Error(Code::kShape, "the key index grew while the backward was queued");
    if (cuda) {
#ifdef LEMMA_WITH_CUDA
      return sparse_relu_backward_cuda(*idx, p, static_cast<const float*>(q.data),
                                       static_cast<const double*>(thr.data),
                                       static_cast<const float*>(dout.data),
                                       static_cast<float*>(dq.data), static_cast<float*>(dk.data),
                                       static_cast<float*>(dv.data), stats.get());
#else
      return Status::Error(Code::kCudaUnavailable, "this build has no CUDA kernels");
#endif
    }
    return sparse_relu_backward_cpu(*idx, p, static_cast<const float*>(q.data),
                                    static_cast<const double*>(thr.data),
                                    static_cast<const float*>(dout.data), static_cast<float*>(dq.data),
                                    static_cast<float*>(dk.data), static_cast<float*>(dv.data),
                                    stats.get());
  };
  return dispatch(info, sync, "lemma:sparseIndexBackward", 7, work, [stats](Napi::Env env) { return stats_object(env, *stats); });
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<SparseIndex> idx = get_index(info[0]);
  std::shared_lock<std::shared_mutex> lock(idx->mu);
  Napi::Object o = Napi::Object::New(env);
  o.Set("N", static_cast<double>(idx->N()));
  o.Set("numBlocks", static_cast<double>(idx->heads[0].nb));
  o.Set("levels", idx->levels);
  o.Set("bytes", static_cast<double>(idx->bytes()));
  return o;
}

// Drops the handle's reference (idempotent); jobs in flight keep theirs.
Napi::Value Dispose(const Napi::CallbackInfo& info) {
  dispose_handle<SparseIndex>(info[0], "index");
  return info.Env().Undefined();
}

// ------------------------------------------------------------------------- fp64 oracle ----
Napi::Value Ref(const Napi::CallbackInfo& info, bool sync) {
  const SparseRefParams p = read_ref_params(info[6]);
  ArrayView q = get_array(info, 0, "q", Dtype::kFloat64, sz(p.B * p.Hq * p.M * p.D));
  ArrayView k = get_array(info, 1, "k", Dtype::kFloat64, sz(p.B * p.Hkv * p.N * p.D));
  ArrayView v = get_array(info, 2, "v", Dtype::kFloat64, sz(p.B * p.Hkv * p.N * p.D));
  ArrayView thr = get_array(info, 3, "thresholds", Dtype::kFloat64, sz(p.B * p.Hq));
  ArrayView out = get_array(info, 4, "out", Dtype::kFloat64, sz(p.B * p.Hq * p.M * p.D));
  ArrayView cnt = get_array(info, 5, "counts", Dtype::kFloat64, sz(p.B * p.Hq * p.M));
  auto work = [=]() {
    return sparse_attention_ref(p, static_cast<const double*>(thr.data), static_cast<const double*>(q.data),
                                static_cast<const double*>(k.data), static_cast<const double*>(v.data),
                                static_cast<double*>(out.data), static_cast<double*>(cnt.data));
  };
  return dispatch(info, sync, "lemma:sparseAttentionRef", 6, work, nullptr);
}

Napi::Value RefBackward(const Napi::CallbackInfo& info, bool sync) {
  const SparseRefParams p = read_ref_params(info[8]);
  const size_t nq = sz(p.B * p.Hq * p.M * p.D), nk = sz(p.B * p.Hkv * p.N * p.D);
  ArrayView q = get_array(info, 0, "q", Dtype::kFloat64, nq);
  ArrayView k = get_array(info, 1, "k", Dtype::kFloat64, nk);
  ArrayView v = get_array(info, 2, "v", Dtype::kFloat64, nk);
  ArrayView thr = get_array(info, 3, "thresholds", Dtype::kFloat64, sz(p.B * p.Hq));
  ArrayView dout = get_array(info, 4, "dOut", Dtype::kFloat64, nq);
  ArrayView dq = get_array(info, 5, "dq", Dtype::kFloat64, nq);
  ArrayView dk = get_array(info, 6, "dk", Dtype::kFloat64, nk);
  ArrayView dv = get_array(info, 7, "dv", Dtype::kFloat64, nk);
  auto work = [=]() {
    return sparse_relu_backward_ref(p, static_cast<const double*>(thr.data), static_cast<const double*>(q.data),
                                    static_cast<const double*>(k.data), static_cast<const double*>(v.data),
                                    static_cast<const double*>(dout.data), static_cast<double*>(dq.data),
                                    static_cast<double*>(dk.data), static_cast<double*>(dv.data));
  };
  return dispatch(info, sync, "lemma:sparseReluBackwardRef", 8, work, nullptr);
}

template <Napi::Value (*F)(const Napi::CallbackInfo&, bool), bool kSync>
Napi::Value call(const Napi::CallbackInfo& info) {
  return F(info, kSync);
}

}  // namespace

void register_sparse_attention(Napi::Env env, Napi::Object exports) {
  auto def = [&](const char* name, Napi::Value (*cb)(const Napi::CallbackInfo&)) {
    export_function(env, exports, name, cb);
  };
  def("sparseIndexBuild", call<Build, false>);
  def("sparseIndexBuildSync", call<Build, true>);
  def("sparseIndexAppend", call<Append, false>);
  def("sparseIndexAppendSync", call<Append, true>);
  def("sparseIndexAttend", call<Attend, false>);
  def("sparseIndexAttendSync", call<Attend, true>);
  def("sparseIndexReport", call<Report, false>);
  def("sparseIndexReportSync", call<Report, true>);
  def("sparseIndexBackward", call<Backward, false>);
  def("sparseIndexBackwardSync", call<Backward, true>);
  def("sparseIndexInfo", Info);
  def("sparseIndexDispose", Dispose);
  def("sparseAttentionRef", call<Ref, false>);
  def("sparseAttentionRefSync", call<Ref, true>);
  def("sparseReluBackwardRef", call<RefBackward, false>);
  def("sparseReluBackwardRefSync", call<RefBackward, true>);
}

}  // namespace lemma::napi
