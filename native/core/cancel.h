// Cancellation and progress of long native work, without a per-kernel API.
//
// A token is four int32 words owned by the caller (a JS Int32Array kept alive by the job):
//   [0] cancel flag: JS stores 1 when its AbortSignal fires;
//   [1] tasks done and [2] tasks issued, both counted by ThreadPool::parallel_for;
//   [3] reserved (0).
// The worker thread that runs a job installs the token with a CancelScope; every parallel
// region it issues (ThreadPool::parallel_for) records the token, adds its task count to [2],
// adds one to [1] per finished task, and skips the tasks not yet started once [0] is set. When
// the region has drained, parallel_for throws lemma::Aborted on the issuing thread, so the
// kernel unwinds (RAII only) instead of going on with half-computed data; the job's exception
// guard turns that into Code::kAborted and the outputs are discarded. Work that never enters
// the thread pool (CUDA kernels, serial loops) is not interrupted: it finishes, and the job is
// still reported aborted. Without a token nothing is counted and nothing throws.
// The words are read and written with relaxed atomics from any thread; JS reads [1] and [2]
// with Atomics.load to report progress while the job runs.
// Tested by: test/08.long-work.test.ts (abort and progress of every long operation).
#pragma once
#include <cstdint>

#include "core/status.h"

namespace lemma {

// Thrown by ThreadPool::parallel_for on the issuing thread of an aborted job (see above).
struct Aborted {};

namespace cancel_detail {
inline thread_local int32_t* tls_token = nullptr;
}

// The token of the job running on this thread (nullptr when none).
inline int32_t* current_cancel_token() { return cancel_detail::tls_token; }

inline bool cancel_requested(const int32_t* token) {
  return token != nullptr && __atomic_load_n(&token[0], __ATOMIC_RELAXED) != 0;
}

// True when the job running on this thread was asked to stop (for serial loops to poll).
inline bool cancel_requested() { return cancel_requested(cancel_detail::tls_token); }

inline void cancel_add(int32_t* token, int index, int64_t n) {
  if (token == nullptr || n <= 0) return;
  // Saturates instead of wrapping: progress is advisory, the count is not.
  const int32_t add = n > 0x3fffffff ? 0x3fffffff : static_cast<int32_t>(n);
  __atomic_fetch_add(&token[index], add, __ATOMIC_RELAXED);
}

// Progress and abort of a serial loop (one that does not go through the thread pool): counts
// `total` steps into the job's token, one per next(); next() is false once the job was aborted,
// and the loop returns aborted() (a Status the job reports as ABORT_ERR).
class SerialProgress {
 public:
  explicit SerialProgress(int64_t total) : token_(current_cancel_token()) { cancel_add(token_, 2, total); }
  bool next() {
    cancel_add(token_, 1, 1);
    return !cancel_requested(token_);
  }
  static Status aborted() { return Status::Error(Code::kAborted, "the operation was aborted"); }

 private:
  int32_t* token_;
};

// Installs `token` as this thread's job token for the scope's lifetime (restores the previous).
class CancelScope {
 public:
  explicit CancelScope(int32_t* token) : prev_(cancel_detail::tls_token) { cancel_detail::tls_token = token; }
  ~CancelScope() { cancel_detail::tls_token = prev_; }
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;

 private:
  int32_t* prev_;
};

}  // namespace lemma
