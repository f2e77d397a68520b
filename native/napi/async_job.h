// AsyncJob: runs a Status-returning closure on a libuv worker thread and settles a Promise.
// The job holds a reference to every JS buffer it touches until it ends, so the memory stays
// alive even when the caller drops its references and GC runs; native objects are co-owned
// through the shared_ptr the closure captured (convert.h, handles). Execute() touches no Napi
// value. (Detaching or transferring an input while a call is pending is not supported: N-API
// cannot pin an ArrayBuffer. The TS layer documents this.)
// Both ways of running work go through convert.h's guarded(): the same C++ exceptions give the
// same codes whether a call is async (run_async / AsyncJob) or sync (run_sync / dispatch).
// Cancellation and progress (core/cancel.h): lib/long-work.ts arms a four-word Int32Array with
// armCancel() just before it makes one native async call; the job created by that call takes
// the token (keeping the array alive), installs it on its worker thread, and reports ABORT_ERR
// when the cancel word was set. One armed token per JS thread, consumed by the next job.
#pragma once
#include <napi.h>

#include <functional>
#include <vector>

#include "core/cancel.h"
#include "core/status.h"
#include "napi/convert.h"

namespace lemma::napi {

// The token armCancel() armed on this JS thread (main thread or a worker_thread), if any. It
// holds a plain napi_ref (no destructor touches N-API at thread exit); armCancel(null) or the
// next job releases it.
struct ArmedCancel {
  napi_env env = nullptr;
  napi_ref ref = nullptr;
  int32_t* words = nullptr;
};
inline ArmedCancel& armed_cancel() {
  static thread_local ArmedCancel a;
  return a;
}
inline void disarm_cancel() {
  ArmedCancel& a = armed_cancel();
  if (a.ref != nullptr) napi_delete_reference(a.env, a.ref);
  a = ArmedCancel{};
}

class AsyncJob : public Napi::AsyncWorker {
 public:
  AsyncJob(Napi::Env env, const char* name, std::function<Status()> work)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)) {
    ArmedCancel& a = armed_cancel();
    if (a.words != nullptr && a.env == static_cast<napi_env>(env)) {
      napi_value v = nullptr;
      if (napi_get_reference_value(a.env, a.ref, &v) == napi_ok && v != nullptr) {
        Keep(Napi::Value(env, v));
        token_ = a.words;
      }
      disarm_cancel();
    }
  }

  // Keeps `v` (a typed array or any object) alive until the job ends; other values are ignored.
  void Keep(const Napi::Value& v) {
    if (v.IsObject()) refs_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }

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
    {
      CancelScope scope(token_);
      status_ = guarded(work_);
    }
    // Aborted: the outputs may be partial whatever the work returned (core/cancel.h).
    if (cancel_requested(token_)) status_ = Status::Error(Code::kAborted, "the operation was aborted");
    // The closure's captures (shared_ptrs to native objects) are released here, on the worker,
    // before the Promise settles.
    work_ = nullptr;
    if (!status_.ok()) SetError(status_.message);
  }
  // Settling can itself fail when the JS environment is going away (a worker_thread terminated,
  // or the process exiting, while the job ran): then there is nobody to tell, and an exception
  // escaping here would abort the process, so it is dropped.
  void OnOK() override {
    Napi::Env env = Env();
    try {
      if (!done_) {
        deferred_.Resolve(env.Undefined());
        return;
      }
      Status st;
      try {
        deferred_.Resolve(done_(env));
        return;
      } catch (const Napi::Error& e) {
        deferred_.Reject(e.Value());
        return;
      } catch (...) {
        st = exception_status();
      }
      deferred_.Reject(to_js_error(env, st).Value());
    } catch (...) {
      // the environment is shutting down
    }
  }
  void OnError(const Napi::Error&) override {
    try {
      deferred_.Reject(to_js_error(Env(), status_).Value());
    } catch (...) {
      // the environment is shutting down
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<Status()> work_;
  std::function<Napi::Value(Napi::Env)> done_;
  std::vector<Napi::ObjectReference> refs_;
  Status status_;
  int32_t* token_ = nullptr;  // the armed cancel/progress token (kept alive in refs_), or null
};

// Queues `work` with the first n_keep arguments kept alive; returns the Promise.
inline Napi::Value run_async(const Napi::CallbackInfo& info, size_t n_keep, const char* name,
                             std::function<Status()> work,
                             std::function<Napi::Value(Napi::Env)> done = nullptr) {
  auto* job = new AsyncJob(info.Env(), name, std::move(work));
  for (size_t i = 0; i < n_keep && i < info.Length(); ++i) job->Keep(info[i]);
  if (done) job->OnDone(std::move(done));
  return job->Start();
}

// Runs `work` on the calling (main) thread: the *Sync twins. Throws the Status as a JS error;
// otherwise returns done(env) (undefined without `done`).
inline Napi::Value run_sync(const Napi::CallbackInfo& info, const std::function<Status()>& work,
                            const std::function<Napi::Value(Napi::Env)>& done = nullptr) {
  const Status st = guarded(work);
  if (!st.ok()) throw_status(info.Env(), st);
  return done ? done(info.Env()) : info.Env().Undefined();
}

// run_sync when `sync`, else run_async: one body for an operation and its *Sync twin.
inline Napi::Value dispatch(const Napi::CallbackInfo& info, bool sync, const char* name, size_t n_keep,
                            std::function<Status()> work, std::function<Napi::Value(Napi::Env)> done = nullptr) {
  if (sync) return run_sync(info, work, done);
  return run_async(info, n_keep, name, std::move(work), std::move(done));
}

}  // namespace lemma::napi
