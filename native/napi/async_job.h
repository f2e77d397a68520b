// AsyncJob: runs a Status-returning closure on a libuv worker thread and settles a Promise.
// The job holds a reference to every JS buffer it touches until it ends, so the memory stays
// alive even when the caller drops its references and GC runs. Execute() touches no Napi value.
// (Detaching or transferring an input while a call is pending is not supported: N-API cannot
// pin an ArrayBuffer. The TS layer documents this.)
#pragma once
#include <napi.h>

#include <exception>
#include <functional>
#include <new>
#include <vector>

#include "core/status.h"
#include "napi/convert.h"

namespace lemma::napi {

class AsyncJob : public Napi::AsyncWorker {
 public:
  AsyncJob(Napi::Env env, const char* name, std::function<Status()> work)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)) {}

  // Keeps `v` (a typed array or any object) alive until the job ends.
  void Keep(const Napi::Value& v) { refs_.push_back(Napi::Persistent(v.As<Napi::Object>())); }

  // Queues the job; ownership passes to libuv (deleted after OnOK/OnError).
  Napi::Promise Start() {
    Napi::Promise p = deferred_.Promise();
    Queue();
    return p;
  }

  // Sets the value the promise resolves with (computed on the main thread after the work).
  void OnDone(std::function<Napi::Value(Napi::Env)> fn) { done_ = std::move(fn); }

 protected:
  void Execute() override {
    try {
      status_ = work_();
    } catch (const std::bad_alloc&) {
      status_ = Status::Error(Code::kOom, "out of host memory");
    } catch (const std::exception& e) {
      status_ = Status::Error(Code::kInternal, e.what());
    }
    if (!status_.ok()) SetError(status_.message);
  }
  void OnOK() override {
    Napi::Env env = Env();
    deferred_.Resolve(done_ ? done_(env) : env.Undefined());
  }
  void OnError(const Napi::Error&) override {
    deferred_.Reject(to_js_error(Env(), status_).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<Status()> work_;
  std::function<Napi::Value(Napi::Env)> done_;
  std::vector<Napi::ObjectReference> refs_;
  Status status_;
};

// Queues `work` with the first n_arrays arguments kept alive; returns the Promise.
inline Napi::Value run_async(const Napi::CallbackInfo& info, size_t n_arrays, const char* name,
                             std::function<Status()> work) {
  auto* job = new AsyncJob(info.Env(), name, std::move(work));
  for (size_t i = 0; i < n_arrays; ++i) job->Keep(info[i]);
  return job->Start();
}

// Runs `work` on the calling (main) thread: the *Sync twins. Throws the Status as a JS error.
inline Napi::Value run_sync(const Napi::CallbackInfo& info, const std::function<Status()>& work) {
  Status st;
  try {
    st = work();
  } catch (const std::bad_alloc&) {
    st = Status::Error(Code::kOom, "out of host memory");
  }
  if (!st.ok()) throw_status(info.Env(), st);
  return info.Env().Undefined();
}

}  // namespace lemma::napi
