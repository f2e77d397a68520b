// N-API bindings of the polytope family (lib/polytope/ and lib/sample/ are the only callers).
// Bodies and samplers are convert.h handles (type-tagged Externals over a shared_ptr), like every
// native object lemma hands to JS:
//   polytopeBody(spec) -> body handle                   an immutable body (copies its arrays)
//   polytopeBodyContains(body, x) -> string             ('' when interior, else the reason)
//   polytopeAnalyticCenter(body) -> Promise<{ x, phase1Iterations, newtonIterations }>
//   polytopeLewisWeights(body, x, p, tol, maxIter) -> Promise<{ weights, iterations, residual, converged }>
//   polytopeBodyDispose(body)
//   dikinSampler(body, target, params) -> sampler handle  C chains on the CPU (or the GPU, device 'cuda')
//   dikinSetStart(s, x0, fx0 | null)  dikinRun(s, steps) -> Promise<number>
//   dikinPropose(s, zOut, need) -> Promise<void>  dikinFinish(s, fz) -> Promise<void>   (callback targets)
//   dikinSamples(s) dikinAcceptance(s) dikinStepsDone(s) dikinRecorded(s) dikinStepSeconds(s)
//   dikinKernel(s) dikinAbort(s) dikinDispose(s)
//   polytopeDiagnostics(samples, C, N, d) -> Promise<{ ess, rhat }>
//   johnEllipsoid(A, M, d, { epsilon, sketch, sketchSize, seed, maxIterations })
//     -> Promise<{ weights, Q, iterations, sumWeights, maxTau, complementary, logDet }>
// Use after dispose is ERR_DISPOSED; every async job holds shared ownership of the native state,
// so dispose() during a run frees it when the run ends (dikinDispose also aborts the run).
// Concurrency: a body is immutable, so any number of calls may share it. A sampler is a state
// machine: it takes one call at a time (a second call while one runs is refused with
// ERR_INTERNAL; lib/sample/dikin.ts serialises, so reaching it is a lemma bug), except abort()
// and dispose(), which may come at any time.
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "napi/async_job.h"
#include "napi/convert.h"
#include "polytope/polytope.h"
#include "polytope/polytope_cuda.h"

namespace lemma::napi {

namespace {

// A sampler and the call it is running. `busy` is set on the event loop when a job is queued
// and cleared by the job's BusyGuard when its work ends, however it ends.
struct SamplerState {
  std::unique_ptr<DikinSampler> s;
  std::atomic<bool> busy{false};
  int64_t d = 0, C = 0;
};

}  // namespace

template <>
struct HandleKind<Body> {
  static constexpr napi_type_tag tag = {0x6c656d6d61706f6cULL, 0x79626f6479000002ULL};
  static constexpr const char* name = "polytope body";
};
template <>
struct HandleKind<SamplerState> {
  static constexpr napi_type_tag tag = {0x6c656d6d61706f6cULL, 0x7973616d706c0002ULL};
  static constexpr const char* name = "Dikin sampler";
};

namespace {

[[noreturn]] void fail(Napi::Env env, Code code, const std::string& msg) { throw_error(env, code, msg); }

// A Float64Array argument copied into a vector (length checked when `length` >= 0).
std::vector<double> f64(Napi::Env, const Napi::Value& v, const char* name, int64_t length) {
  return copy_array<double>(v, name, Dtype::kFloat64, length < 0 ? kAnyLength : static_cast<size_t>(length));
}

std::vector<int64_t> i32(Napi::Env, const Napi::Value& v, const char* name) {
  const ArrayView a = read_array(v, name, Dtype::kInt32);
  const int32_t* p = static_cast<const int32_t*>(a.data);
  return p ? std::vector<int64_t>(p, p + a.length) : std::vector<int64_t>();
}

Napi::Float64Array to_js(Napi::Env env, const double* p, size_t n) {
  Napi::Float64Array a = Napi::Float64Array::New(env, n);
  if (n) std::memcpy(a.Data(), p, n * sizeof(double));
  return a;
}

// ------------------------------------------------------------------ bodies
std::shared_ptr<Body> get_body(const Napi::Value& v) { return get_handle<Body>(v, "body"); }

Napi::Value BodyCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) fail(env, Code::kInternal, "polytopeBody(spec): spec must be an object");
  Napi::Object s = info[0].As<Napi::Object>();
  auto b = std::make_shared<Body>();
  const Napi::Value kv = s.Get("kind");
  const std::string kind = kv.IsString() ? kv.As<Napi::String>().Utf8Value() : std::string();
  b->M = get_int(s, "M");
  b->d = get_int(s, "d");
  if (kind == "dense") {
    b->kind = BodyKind::kDense;
    b->A = f64(env, s.Get("A"), "A", b->M * b->d);
    b->b = f64(env, s.Get("b"), "b", b->M);
  } else if (kind == "csr") {
    b->kind = BodyKind::kCsr;
    b->row_ptr = i32(env, s.Get("rowPtr"), "rowPtr");
    b->col_idx = i32(env, s.Get("colIdx"), "colIdx");
    b->vals = f64(env, s.Get("values"), "values", static_cast<int64_t>(b->col_idx.size()));
    b->b = f64(env, s.Get("b"), "b", b->M);
    if (static_cast<int64_t>(b->row_ptr.size()) != b->M + 1 || b->row_ptr[0] != 0 ||
        b->row_ptr[b->M] != static_cast<int64_t>(b->col_idx.size()))
      fail(env, Code::kShape, "rowPtr must have M + 1 entries from 0 to nnz");
  } else if (kind == "spectrahedron") {
    b->kind = BodyKind::kSpectrahedron;
    b->F = f64(env, s.Get("F"), "F", b->d * b->M * b->M);
    b->Cm = f64(env, s.Get("C"), "C", b->M * b->M);
  } else {
    fail(env, Code::kInternal, "unknown body kind " + kind);
  }
  Body* raw = b.get();
  return run_sync(info, [raw]() { return body_prepare(raw); },
                  [b](Napi::Env e) {
                    const size_t n = b->A.size() + b->b.size() + b->row_norm.size() + b->vals.size() + b->F.size() +
                                     b->Cm.size() + b->row_ptr.size() + b->col_idx.size();
                    return make_handle<Body>(e, b, static_cast<int64_t>(n * sizeof(double)));
                  });
}

Napi::Value BodyContains(const Napi::CallbackInfo& info) {
  auto b = get_body(info[0]);
  const std::vector<double> x = f64(info.Env(), info[1], "x", b->d);
  std::string why;
  return Napi::String::New(info.Env(), body_contains(*b, x.data(), &why) ? "" : why);
}

Napi::Value AnalyticCenter(const Napi::CallbackInfo& info) {
  auto b = get_body(info[0]);
  auto x = std::make_shared<std::vector<double>>(b->d);
  auto ci = std::make_shared<CenterInfo>();
  return run_async(info, 0, "lemma:analyticCenter", [b, x, ci]() { return body_analytic_center(*b, x->data(), ci.get()); },
                   [x, ci](Napi::Env env) {
                     Napi::Object o = Napi::Object::New(env);
                     o.Set("x", to_js(env, x->data(), x->size()));
                     o.Set("phase1Iterations", static_cast<double>(ci->phase1_iterations));
                     o.Set("newtonIterations", static_cast<double>(ci->newton_iterations));
                     return o;
                   });
}

Napi::Value LewisWeights(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto b = get_body(info[0]);
  auto x = std::make_shared<std::vector<double>>(f64(env, info[1], "x", b->d));
  const double p = info[2].As<Napi::Number>().DoubleValue();
  const double tol = info[3].As<Napi::Number>().DoubleValue();
  const int64_t max_iter = info[4].As<Napi::Number>().Int64Value();
  auto w = std::make_shared<std::vector<double>>(b->M);
  auto li = std::make_shared<LewisInfo>();
  return run_async(
      info, 0, "lemma:lewisWeights",
      [=]() { return body_lewis_weights(*b, x->data(), p, tol, max_iter, nullptr, w->data(), li.get()); },
      [w, li](Napi::Env e) {
        Napi::Object o = Napi::Object::New(e);
        o.Set("weights", to_js(e, w->data(), w->size()));
        o.Set("iterations", static_cast<double>(li->iterations));
        o.Set("residual", li->residual);
        o.Set("converged", li->converged);
        return o;
      });
}

Napi::Value BodyDispose(const Napi::CallbackInfo& info) {
  dispose_handle<Body>(info[0], "body");
  return info.Env().Undefined();
}

// ------------------------------------------------------------------ Dikin sampler
// Clears `busy` when the job's work ends, however it ends.
struct BusyGuard {
  std::shared_ptr<SamplerState> st;
  ~BusyGuard() { st->busy.store(false); }
};

Target read_target(Napi::Env env, const Napi::Object& o, int64_t d) {
  Target t;
  const std::string kind = o.Get("kind").As<Napi::String>().Utf8Value();
  if (kind == "uniform") {
    t.kind = TargetKind::kUniform;
  } else if (kind == "linear") {
    t.kind = TargetKind::kLinear;
    t.c = f64(env, o.Get("c"), "c", d);
  } else if (kind == "gaussian") {
    t.kind = TargetKind::kGaussian;
    t.mean = f64(env, o.Get("mean"), "mean", d);
    t.prec = f64(env, o.Get("precision"), "precision", d * d);
  } else if (kind == "logistic") {
    t.kind = TargetKind::kLogistic;
    t.nobs = get_int(o, "nobs");
    t.X = f64(env, o.Get("X"), "X", t.nobs * d);
    t.y = f64(env, o.Get("y"), "y", t.nobs);
    t.prior_prec = get_number(o, "priorPrecision");
  } else if (kind == "callback") {
    t.kind = TargetKind::kCallback;
  } else {
    fail(env, Code::kInternal, "unknown target kind " + kind);
  }
  return t;
}

DikinParams read_params(const Napi::Object& o) {
  DikinParams p;
  p.C = get_int(o, "chains");
  const std::string barrier = o.Get("barrier").As<Napi::String>().Utf8Value();
  p.barrier = barrier == "lewis" ? BarrierKind::kLewis : BarrierKind::kLog;
  const std::string hessian = o.Get("hessian").As<Napi::String>().Utf8Value();
  p.hessian = hessian == "subsample" ? HessianKind::kSubsample : HessianKind::kExact;
  p.hessian_samples = get_int(o, "hessianSamples");
  p.sketch_rows = get_int(o, "sketchRows");
  p.jl_cols = get_int(o, "jlColumns");
  p.alpha = get_number(o, "alpha");
  p.eta_inv = get_number(o, "etaInv");
  p.lewis_p = get_number(o, "lewisP");
  p.lewis_tol = get_number(o, "lewisTolerance");
  p.lewis_max_iter = get_int(o, "lewisMaxIterations");
  p.lazy = get_bool(o, "lazy", true);
  const double seed = get_number(o, "seed");
  p.seed = static_cast<uint64_t>(seed);
  p.burn_in = get_int(o, "burnIn");
  p.thin = get_int(o, "thin");
  p.kept = get_int(o, "kept");
  p.reference = get_bool(o, "reference", false);
  return p;
}

Napi::Value SamplerCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<const Body> body = get_body(info[0]);
  if (!info[1].IsObject() || !info[2].IsObject())
    fail(env, Code::kInternal, "dikinSampler(body, target, params): target and params must be objects");
  Target target = read_target(env, info[1].As<Napi::Object>(), body->d);
  const Napi::Object po = info[2].As<Napi::Object>();
  DikinParams p = read_params(po);
  auto st = std::make_shared<SamplerState>();
  st->d = body->d;
  st->C = p.C;
  const std::string device = po.Get("device").IsString() ? po.Get("device").As<Napi::String>().Utf8Value() : "cpu";
  return run_sync(
      info,
      [&]() -> Status {
        if (device == "cuda") {
#ifdef LEMMA_WITH_CUDA
          return dikin_create_cuda(body, std::move(target), p, &st->s);
#else
          return Status::Error(Code::kCudaUnavailable, "this build of lemma has no CUDA kernels (built without nvcc)");
#endif
        }
        return dikin_create(body, std::move(target), p, &st->s);
      },
      [st](Napi::Env e) { return make_handle<SamplerState>(e, st); });
}

// The sampler, live and idle (ERR_DISPOSED after dispose; ERR_INTERNAL while a call runs).
std::shared_ptr<SamplerState> live(const Napi::Value& v) {
  std::shared_ptr<SamplerState> st = get_handle<SamplerState>(v, "sampler");
  if (st->busy.load()) fail(v.Env(), Code::kInternal, "the sampler is already running a call");
  return st;
}

// Queues `work` with the sampler marked busy until it ends.
Napi::Value run_busy(const Napi::CallbackInfo& info, size_t n_keep, const char* name, std::shared_ptr<SamplerState> st,
                     std::function<Status()> work, std::function<Napi::Value(Napi::Env)> done = nullptr) {
  st->busy.store(true);
  try {
    return run_async(info, n_keep, name, [st, work = std::move(work)]() {
      BusyGuard g{st};
      return work();
    }, std::move(done));
  } catch (...) {
    st->busy.store(false);
    throw;
  }
}

Napi::Value SetStart(const Napi::CallbackInfo& info) {
  auto st = live(info[0]);
  const std::vector<double> x0 = f64(info.Env(), info[1], "x0", st->C * st->d);
  std::vector<double> fx0;
  if (!info[2].IsNull() && !info[2].IsUndefined()) fx0 = f64(info.Env(), info[2], "fx0", st->C);
  return run_sync(info, [&]() { return st->s->set_start(x0.data(), fx0.empty() ? nullptr : fx0.data()); });
}

Napi::Value Run(const Napi::CallbackInfo& info) {
  auto st = live(info[0]);
  const int64_t steps = info[1].As<Napi::Number>().Int64Value();
  auto done = std::make_shared<int64_t>(0);
  return run_busy(info, 0, "lemma:dikinRun", st, [st, steps, done]() { return st->s->run(steps, done.get()); },
                  [done](Napi::Env env) { return Napi::Number::New(env, static_cast<double>(*done)); });
}

Napi::Value Propose(const Napi::CallbackInfo& info) {
  auto st = live(info[0]);
  const ArrayView z = get_array(info, 1, "zOut", Dtype::kFloat64, static_cast<size_t>(st->C * st->d));
  const ArrayView need = get_array(info, 2, "need", Dtype::kUint8, static_cast<size_t>(st->C));
  double* zp = static_cast<double*>(z.data);
  uint8_t* np = static_cast<uint8_t*>(need.data);
  // Keeps zOut and need (info[1], info[2]) alive: n_keep counts from info[0], the handle.
  return run_busy(info, 3, "lemma:dikinPropose", st, [st, zp, np]() { return st->s->propose(zp, np); });
}

Napi::Value Finish(const Napi::CallbackInfo& info) {
  auto st = live(info[0]);
  auto fz = std::make_shared<std::vector<double>>(f64(info.Env(), info[1], "fz", st->C));
  return run_busy(info, 0, "lemma:dikinFinish", st, [st, fz]() { return st->s->finish(fz->data()); });
}

Napi::Value Samples(const Napi::CallbackInfo& info) {
  auto st = live(info[0]);
  const int64_t r = st->s->recorded();
  Napi::Float64Array a = Napi::Float64Array::New(info.Env(), static_cast<size_t>(st->C * r * st->d));
  st->s->copy_samples(a.Data());
  return a;
}
Napi::Value Acceptance(const Napi::CallbackInfo& info) {
  auto st = live(info[0]);
  Napi::Float64Array a = Napi::Float64Array::New(info.Env(), static_cast<size_t>(st->C));
  st->s->acceptance(a.Data());
  return a;
}
Napi::Value StepsDone(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(live(info[0])->s->steps_done()));
}
Napi::Value Recorded(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(live(info[0])->s->recorded()));
}
Napi::Value StepSeconds(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), live(info[0])->s->step_seconds());
}
Napi::Value Kernel(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), live(info[0])->s->kernel_name());
}
// Asks a running call to stop at its next check; a no-op once disposed.
Napi::Value Abort(const Napi::CallbackInfo& info) {
  std::shared_ptr<SamplerState>& st = handle_slot<SamplerState>(info[0], "sampler");
  if (st) st->s->abort();
  return info.Env().Undefined();
}
// Aborts a running call and drops the handle's reference (the call keeps its own). Idempotent.
Napi::Value SamplerDispose(const Napi::CallbackInfo& info) {
  std::shared_ptr<SamplerState> st = dispose_handle<SamplerState>(info[0], "sampler");
  if (st) st->s->abort();
  return info.Env().Undefined();
}

// ------------------------------------------------------------------ free functions
Napi::Value Diagnostics(const Napi::CallbackInfo& info) {
  const int64_t C = info[1].As<Napi::Number>().Int64Value(), N = info[2].As<Napi::Number>().Int64Value(),
                d = info[3].As<Napi::Number>().Int64Value();
  if (C < 0 || N < 0 || d < 0) fail(info.Env(), Code::kShape, "polytopeDiagnostics: negative size");
  ArrayView s = get_array(info, 0, "samples", Dtype::kFloat64, static_cast<size_t>(C * N * d));
  auto ess = std::make_shared<std::vector<double>>(d), rhat = std::make_shared<std::vector<double>>(d);
  const double* sp = static_cast<const double*>(s.data);
  return run_async(info, 1, "lemma:polytopeDiagnostics",
                   [=]() { return mcmc_diagnostics(sp, C, N, d, ess->data(), rhat->data()); },
                   [ess, rhat](Napi::Env e) {
                     Napi::Object o = Napi::Object::New(e);
                     o.Set("ess", to_js(e, ess->data(), ess->size()));
                     o.Set("rhat", to_js(e, rhat->data(), rhat->size()));
                     return o;
                   });
}

Napi::Value John(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t M = info[1].As<Napi::Number>().Int64Value(), d = info[2].As<Napi::Number>().Int64Value();
  if (M < 0 || d < 0) fail(env, Code::kShape, "johnEllipsoid: negative size");
  auto A = std::make_shared<std::vector<double>>(f64(env, info[0], "A", M * d));
  if (!info[3].IsObject()) fail(env, Code::kInternal, "johnEllipsoid: options must be an object");
  const Napi::Object o = info[3].As<Napi::Object>();
  JohnParams p;
  p.epsilon = get_number(o, "epsilon");
  p.sketch = get_bool(o, "sketch", false);
  p.sketch_size = get_int(o, "sketchSize");
  p.seed = static_cast<uint64_t>(get_number(o, "seed"));
  p.max_iterations = get_int(o, "maxIterations");
  auto r = std::make_shared<JohnResult>();
  return run_async(info, 0, "lemma:johnEllipsoid", [=]() { return john_ellipsoid(A->data(), M, d, p, r.get()); },
                   [r](Napi::Env e) {
                     Napi::Object out = Napi::Object::New(e);
                     out.Set("weights", to_js(e, r->weights.data(), r->weights.size()));
                     out.Set("Q", to_js(e, r->Q.data(), r->Q.size()));
                     out.Set("iterations", static_cast<double>(r->iterations));
                     out.Set("sumWeights", r->sum_weights);
                     out.Set("maxTau", r->max_tau);
                     out.Set("complementary", r->complementary);
                     out.Set("logDet", r->log_det);
                     return out;
                   });
}

}  // namespace

void register_polytope(Napi::Env env, Napi::Object exports) {
  export_function(env, exports, "polytopeBody", BodyCreate);
  export_function(env, exports, "polytopeBodyContains", BodyContains);
  export_function(env, exports, "polytopeAnalyticCenter", AnalyticCenter);
  export_function(env, exports, "polytopeLewisWeights", LewisWeights);
  export_function(env, exports, "polytopeBodyDispose", BodyDispose);
  export_function(env, exports, "dikinSampler", SamplerCreate);
  export_function(env, exports, "dikinSetStart", SetStart);
  export_function(env, exports, "dikinRun", Run);
  export_function(env, exports, "dikinPropose", Propose);
  export_function(env, exports, "dikinFinish", Finish);
  export_function(env, exports, "dikinSamples", Samples);
  export_function(env, exports, "dikinAcceptance", Acceptance);
  export_function(env, exports, "dikinStepsDone", StepsDone);
  export_function(env, exports, "dikinRecorded", Recorded);
  export_function(env, exports, "dikinStepSeconds", StepSeconds);
  export_function(env, exports, "dikinKernel", Kernel);
  export_function(env, exports, "dikinAbort", Abort);
  export_function(env, exports, "dikinDispose", SamplerDispose);
  export_function(env, exports, "polytopeDiagnostics", Diagnostics);
  export_function(env, exports, "johnEllipsoid", John);
}

}  // namespace lemma::napi
