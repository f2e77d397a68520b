// N-API bindings of the polytope family (lib/polytope/ and lib/sample/ are the only callers):
//   new PolytopeBody(spec)                        an immutable body (copies its arrays)
//     .contains(x) -> string ('' when interior, else the reason)
//     .analyticCenter() -> Promise<{ x, phase1Iterations, newtonIterations }>
//     .lewisWeights(x, p, tol, maxIter) -> Promise<{ weights, iterations, residual, converged }>
//     .dispose()
//   new DikinSampler(body, target, params)        C chains on the CPU (or the GPU, device 'cuda')
//     .setStart(x0, fx0 | null)  .run(steps) -> Promise<number>
//     .propose(zOut, need) -> Promise<void>  .finish(fz) -> Promise<void>   (callback targets)
//     .samples() .acceptance() .stepsDone() .recorded() .stepSeconds() .kernel() .abort() .dispose()
//   polytopeDiagnostics(samples, C, N, d) -> Promise<{ ess, rhat }>
//   johnEllipsoid(A, M, d, { epsilon, sketch, sketchSize, seed, maxIterations })
//     -> Promise<{ weights, Q, iterations, sumWeights, maxTau, complementary, logDet }>
// Objects are type-tagged; use after dispose() is ERR_DISPOSED; a sampler refuses a second call
// while one is running (the TS layer serialises). Every async job holds shared ownership of the
// native state, so dispose() during a run frees it when the run ends.
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

constexpr napi_type_tag kBodyTag = {0x6c656d6d61706f6cULL, 0x79626f6479000001ULL};
constexpr napi_type_tag kSamplerTag = {0x6c656d6d61706f6cULL, 0x7973616d706c0001ULL};

[[noreturn]] void fail(Napi::Env env, Code code, const std::string& msg) { throw_status(env, Status::Error(code, msg)); }

// A Float64Array argument copied into a vector (length checked when `length` >= 0).
std::vector<double> f64(Napi::Env env, const Napi::Value& v, const char* name, int64_t length) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    fail(env, Code::kDtype, std::string(name) + " must be a Float64Array");
  Napi::Float64Array a = v.As<Napi::Float64Array>();
  if (length >= 0 && static_cast<int64_t>(a.ElementLength()) != length)
    fail(env, Code::kShape, std::string(name) + " has " + std::to_string(a.ElementLength()) + " elements, expected " +
                                std::to_string(length));
  return std::vector<double>(a.Data(), a.Data() + a.ElementLength());
}

std::vector<int64_t> i32(Napi::Env env, const Napi::Value& v, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    fail(env, Code::kDtype, std::string(name) + " must be an Int32Array");
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  return std::vector<int64_t>(a.Data(), a.Data() + a.ElementLength());
}

Napi::Float64Array to_js(Napi::Env env, const double* p, size_t n) {
  Napi::Float64Array a = Napi::Float64Array::New(env, n);
  if (n) std::memcpy(a.Data(), p, n * sizeof(double));
  return a;
}

// ------------------------------------------------------------------ PolytopeBody
class BodyWrap : public Napi::ObjectWrap<BodyWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "PolytopeBody",
                       {InstanceMethod("contains", &BodyWrap::Contains),
                        InstanceMethod("analyticCenter", &BodyWrap::AnalyticCenter),
                        InstanceMethod("lewisWeights", &BodyWrap::LewisWeights),
                        InstanceMethod("dispose", &BodyWrap::Dispose)});
  }

  explicit BodyWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BodyWrap>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) fail(env, Code::kInternal, "PolytopeBody(spec): spec must be an object");
    Napi::Object s = info[0].As<Napi::Object>();
    auto b = std::make_shared<Body>();
    const std::string kind = s.Get("kind").As<Napi::String>().Utf8Value();
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
    const Status st = body_prepare(b.get());
    if (!st.ok()) throw_status(env, st);
    body_ = b;
    info.This().As<Napi::Object>().TypeTag(&kBodyTag);
  }

  std::shared_ptr<const Body> body(Napi::Env env) const {
    if (!body_) fail(env, Code::kDisposed, "the body was disposed");
    return body_;
  }

 private:
  Napi::Value Contains(const Napi::CallbackInfo& info) {
    auto b = body(info.Env());
    const std::vector<double> x = f64(info.Env(), info[0], "x", b->d);
    std::string why;
    return Napi::String::New(info.Env(), body_contains(*b, x.data(), &why) ? "" : why);
  }

  Napi::Value AnalyticCenter(const Napi::CallbackInfo& info) {
    auto b = body(info.Env());
    auto x = std::make_shared<std::vector<double>>(b->d);
    auto ci = std::make_shared<CenterInfo>();
    auto* job = new AsyncJob(info.Env(), "lemma:analyticCenter",
                             [b, x, ci]() { return body_analytic_center(*b, x->data(), ci.get()); });
    job->OnDone([x, ci](Napi::Env env) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("x", to_js(env, x->data(), x->size()));
      o.Set("phase1Iterations", static_cast<double>(ci->phase1_iterations));
      o.Set("newtonIterations", static_cast<double>(ci->newton_iterations));
      return o;
    });
    return job->Start();
  }

  Napi::Value LewisWeights(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto b = body(env);
    auto x = std::make_shared<std::vector<double>>(f64(env, info[0], "x", b->d));
    const double p = info[1].As<Napi::Number>().DoubleValue();
    const double tol = info[2].As<Napi::Number>().DoubleValue();
    const int64_t max_iter = info[3].As<Napi::Number>().Int64Value();
    auto w = std::make_shared<std::vector<double>>(b->M);
    auto li = std::make_shared<LewisInfo>();
    auto* job = new AsyncJob(env, "lemma:lewisWeights", [=]() {
      return body_lewis_weights(*b, x->data(), p, tol, max_iter, nullptr, w->data(), li.get());
    });
    job->OnDone([w, li](Napi::Env e) {
      Napi::Object o = Napi::Object::New(e);
      o.Set("weights", to_js(e, w->data(), w->size()));
      o.Set("iterations", static_cast<double>(li->iterations));
      o.Set("residual", li->residual);
      o.Set("converged", li->converged);
      return o;
    });
    return job->Start();
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    body_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<const Body> body_;
};

// ------------------------------------------------------------------ DikinSampler
struct SamplerState {
  std::unique_ptr<DikinSampler> s;
  std::atomic<bool> busy{false};
};

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

class SamplerWrap : public Napi::ObjectWrap<SamplerWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "DikinSampler",
                       {InstanceMethod("setStart", &SamplerWrap::SetStart), InstanceMethod("run", &SamplerWrap::Run),
                        InstanceMethod("propose", &SamplerWrap::Propose), InstanceMethod("finish", &SamplerWrap::Finish),
                        InstanceMethod("samples", &SamplerWrap::Samples),
                        InstanceMethod("acceptance", &SamplerWrap::Acceptance),
                        InstanceMethod("stepsDone", &SamplerWrap::StepsDone),
                        InstanceMethod("recorded", &SamplerWrap::Recorded),
                        InstanceMethod("stepSeconds", &SamplerWrap::StepSeconds),
                        InstanceMethod("kernel", &SamplerWrap::Kernel), InstanceMethod("abort", &SamplerWrap::Abort),
                        InstanceMethod("dispose", &SamplerWrap::Dispose)});
  }

  explicit SamplerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SamplerWrap>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject() || !info[0].As<Napi::Object>().CheckTypeTag(&kBodyTag))
      fail(env, Code::kInternal, "DikinSampler(body, ...): body must be a PolytopeBody");
    BodyWrap* bw = BodyWrap::Unwrap(info[0].As<Napi::Object>());
    std::shared_ptr<const Body> body = bw->body(env);
    Target target = read_target(env, info[1].As<Napi::Object>(), body->d);
    const Napi::Object po = info[2].As<Napi::Object>();
    DikinParams p = read_params(po);
    d_ = body->d;
    C_ = p.C;
    const std::string device = po.Get("device").IsString() ? po.Get("device").As<Napi::String>().Utf8Value() : "cpu";
    auto st = std::make_shared<SamplerState>();
    Status s;
    if (device == "cuda") {
#ifdef LEMMA_WITH_CUDA
      s = dikin_create_cuda(body, std::move(target), p, &st->s);
#else
      s = Status::Error(Code::kCudaUnavailable, "this build of lemma has no CUDA kernels (built without nvcc)");
#endif
    } else {
      s = dikin_create(body, std::move(target), p, &st->s);
    }
    if (!s.ok()) throw_status(env, s);
    state_ = st;
    info.This().As<Napi::Object>().TypeTag(&kSamplerTag);
  }

 private:
  std::shared_ptr<SamplerState> live(Napi::Env env) {
    if (!state_) fail(env, Code::kDisposed, "the sampler was disposed");
    if (state_->busy.load()) fail(env, Code::kInternal, "the sampler is already running a call");
    return state_;
  }

  Napi::Value SetStart(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto st = live(env);
    const std::vector<double> x0 = f64(env, info[0], "x0", C_ * d_);
    std::vector<double> fx0;
    if (!info[1].IsNull() && !info[1].IsUndefined()) fx0 = f64(env, info[1], "fx0", C_);
    const Status s = st->s->set_start(x0.data(), fx0.empty() ? nullptr : fx0.data());
    if (!s.ok()) throw_status(env, s);
    return env.Undefined();
  }

  Napi::Value Run(const Napi::CallbackInfo& info) {
    auto st = live(info.Env());
    const int64_t steps = info[0].As<Napi::Number>().Int64Value();
    auto done = std::make_shared<int64_t>(0);
    st->busy.store(true);
    auto* job = new AsyncJob(info.Env(), "lemma:dikinRun", [st, steps, done]() {
      BusyGuard g{st};
      return st->s->run(steps, done.get());
    });
    job->OnDone([done](Napi::Env env) { return Napi::Number::New(env, static_cast<double>(*done)); });
    return job->Start();
  }

  Napi::Value Propose(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto st = live(env);
    ArrayView z = get_array(info, 0, "zOut", Dtype::kFloat64, static_cast<size_t>(C_ * d_));
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
        static_cast<int64_t>(info[1].As<Napi::Uint8Array>().ElementLength()) != C_)
      fail(env, Code::kShape, "need must be a Uint8Array of C entries");
    uint8_t* need = info[1].As<Napi::Uint8Array>().Data();
    double* zp = static_cast<double*>(z.data);
    st->busy.store(true);
    auto* job = new AsyncJob(env, "lemma:dikinPropose", [st, zp, need]() {
      BusyGuard g{st};
      return st->s->propose(zp, need);
    });
    job->Keep(info[0]);
    job->Keep(info[1]);
    return job->Start();
  }

  Napi::Value Finish(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto st = live(env);
    auto fz = std::make_shared<std::vector<double>>(f64(env, info[0], "fz", C_));
    st->busy.store(true);
    auto* job = new AsyncJob(env, "lemma:dikinFinish", [st, fz]() {
      BusyGuard g{st};
      return st->s->finish(fz->data());
    });
    return job->Start();
  }

  Napi::Value Samples(const Napi::CallbackInfo& info) {
    auto st = live(info.Env());
    const int64_t r = st->s->recorded();
    Napi::Float64Array a = Napi::Float64Array::New(info.Env(), static_cast<size_t>(C_ * r * d_));
    st->s->copy_samples(a.Data());
    return a;
  }
  Napi::Value Acceptance(const Napi::CallbackInfo& info) {
    auto st = live(info.Env());
    Napi::Float64Array a = Napi::Float64Array::New(info.Env(), static_cast<size_t>(C_));
    st->s->acceptance(a.Data());
    return a;
  }
  Napi::Value StepsDone(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(live(info.Env())->s->steps_done()));
  }
  Napi::Value Recorded(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(live(info.Env())->s->recorded()));
  }
  Napi::Value StepSeconds(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), live(info.Env())->s->step_seconds());
  }
  Napi::Value Kernel(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), live(info.Env())->s->kernel_name());
  }
  Napi::Value Abort(const Napi::CallbackInfo& info) {
    if (state_) state_->s->abort();
    return info.Env().Undefined();
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (state_) state_->s->abort();
    state_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<SamplerState> state_;
  int64_t d_ = 0, C_ = 0;
};

// ------------------------------------------------------------------ free functions
Napi::Value Diagnostics(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t C = info[1].As<Napi::Number>().Int64Value(), N = info[2].As<Napi::Number>().Int64Value(),
                d = info[3].As<Napi::Number>().Int64Value();
  ArrayView s = get_array(info, 0, "samples", Dtype::kFloat64, static_cast<size_t>(C * N * d));
  auto ess = std::make_shared<std::vector<double>>(d), rhat = std::make_shared<std::vector<double>>(d);
  const double* sp = static_cast<const double*>(s.data);
  auto* job = new AsyncJob(env, "lemma:polytopeDiagnostics",
                           [=]() { return mcmc_diagnostics(sp, C, N, d, ess->data(), rhat->data()); });
  job->Keep(info[0]);
  job->OnDone([ess, rhat](Napi::Env e) {
    Napi::Object o = Napi::Object::New(e);
    o.Set("ess", to_js(e, ess->data(), ess->size()));
    o.Set("rhat", to_js(e, rhat->data(), rhat->size()));
    return o;
  });
  return job->Start();
}

Napi::Value John(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t M = info[1].As<Napi::Number>().Int64Value(), d = info[2].As<Napi::Number>().Int64Value();
  auto A = std::make_shared<std::vector<double>>(f64(env, info[0], "A", M * d));
  const Napi::Object o = info[3].As<Napi::Object>();
  JohnParams p;
  p.epsilon = get_number(o, "epsilon");
  p.sketch = get_bool(o, "sketch", false);
  p.sketch_size = get_int(o, "sketchSize");
  p.seed = static_cast<uint64_t>(get_number(o, "seed"));
  p.max_iterations = get_int(o, "maxIterations");
  auto r = std::make_shared<JohnResult>();
  auto* job = new AsyncJob(env, "lemma:johnEllipsoid", [=]() { return john_ellipsoid(A->data(), M, d, p, r.get()); });
  job->OnDone([r](Napi::Env e) {
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
  return job->Start();
}

}  // namespace

void register_polytope(Napi::Env env, Napi::Object exports) {
  exports.Set("PolytopeBody", BodyWrap::Init(env));
  exports.Set("DikinSampler", SamplerWrap::Init(env));
  exports.Set("polytopeDiagnostics", Napi::Function::New(env, Diagnostics, "polytopeDiagnostics"));
  exports.Set("johnEllipsoid", Napi::Function::New(env, John, "johnEllipsoid"));
}

}  // namespace lemma::napi
