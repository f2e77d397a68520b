// A persistent pool of worker threads for the CPU kernels.
// parallel_for(n, fn) runs fn(task, worker) for task in [0, n) with dynamic (atomic-counter)
// scheduling; the calling thread takes part as worker 0, so worker ids lie in [0, size()).
// Calls from different threads are serialised (one parallel region at a time), which keeps
// per-worker scratch indexed by `worker` race-free. fn must not throw.
// A region issued by a job with a cancel token (core/cancel.h) counts its tasks into the token
// and skips the tasks not yet started once the token's cancel flag is set.
#pragma once
#include <cstdint>
#include <functional>

namespace lemma {

class ThreadPool {
 public:
  // Number of threads a parallel region uses (workers + caller).
  static int size();
  // Sets the thread count (>= 1). Takes effect for the next parallel region.
  static void set_size(int n);
  // Runs fn(task, worker) for every task in [0, n).
  static void parallel_for(int64_t n, const std::function<void(int64_t task, int worker)>& fn);
};

}  // namespace lemma
