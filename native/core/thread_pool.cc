// ThreadPool: persistent workers + the calling thread, dynamic scheduling by an atomic counter.
//   parallel_for(n, fn): fn(task, worker) for task in [0, n), worker in [0, size()).
// Size: std::thread::hardware_concurrency(), or LEMMA_NUM_THREADS at first use, or set_size().
// Regions are serialised by a mutex. A parallel_for issued from inside a region (nested) runs
// inline on the calling worker with that worker's id, so per-worker scratch stays race-free.
// Workers are created lazily (the first region that needs them) and then sleep on a condition
// variable between regions.
//
// Process exit: the pool state is heap-allocated and deliberately never destroyed, and the
// workers are detached. Joining at static destruction is unsafe under Node (the addon may be
// torn down while a libuv worker still sits in a region, and exit() can be called from any
// thread); leaked state means a sleeping worker never touches a destroyed mutex, and the OS
// reclaims the threads when the process ends.
// Tested by: test/native/attention_cpu_test.cc (every kernel runs through here).
#include "core/thread_pool.h"

#include "core/cancel.h"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace lemma {

namespace {

constexpr int kMaxThreads = 1024;

int default_size() {
  if (const char* env = std::getenv("LEMMA_NUM_THREADS")) {
    const long v = std::strtol(env, nullptr, 10);
    if (v >= 1) return v > kMaxThreads ? kMaxThreads : static_cast<int>(v);
  }
  const unsigned hc = std::thread::hardware_concurrency();
  if (hc == 0) return 1;
  return hc > unsigned(kMaxThreads) ? kMaxThreads : static_cast<int>(hc);
}

struct Pool {
  std::mutex region_mu;  // one parallel region at a time
  std::mutex mu;         // guards everything below except `next`
  std::condition_variable cv_start, cv_done;
  uint64_t generation = 0;
  int active = 1;        // threads taking part in the current region (caller included)
  int pending = 0;       // workers of the current region that have not finished yet
  int64_t n = 0;
  const std::function<void(int64_t, int)>* fn = nullptr;
  int32_t* token = nullptr;  // the issuing job's cancel/progress token (core/cancel.h), or null
  std::atomic<int64_t> next{0};
  std::atomic<int> size{0};
  int spawned = 0;       // worker threads created so far (ids 1..spawned)

  void run_tasks(int worker) {
    const auto& f = *fn;
    for (;;) {
      if (cancel_requested(token)) break;  // the job was aborted: leave the rest undone
      const int64_t t = next.fetch_add(1, std::memory_order_relaxed);
      if (t >= n) break;
      f(t, worker);
      cancel_add(token, 1, 1);
    }
  }

  void worker_main(int id);
};

thread_local int tls_worker = -1;  // >= 0 while this thread executes inside a region

Pool& pool() {
  static Pool* p = [] {
    Pool* q = new Pool();  // never deleted: see the file header
    q->size.store(default_size());
    return q;
  }();
  return *p;
}

void Pool::worker_main(int id) {
  uint64_t seen = 0;
  for (;;) {
    std::unique_lock<std::mutex> lk(mu);
    cv_start.wait(lk, [&] { return generation != seen; });
    seen = generation;
    if (id >= active) continue;
    lk.unlock();
    tls_worker = id;
    run_tasks(id);
    tls_worker = -1;
    lk.lock();
    if (--pending == 0) cv_done.notify_one();
  }
}

}  // namespace

int ThreadPool::size() { return pool().size.load(std::memory_order_relaxed); }

void ThreadPool::set_size(int n) {
  if (n < 1) n = 1;
  if (n > kMaxThreads) n = kMaxThreads;
  pool().size.store(n, std::memory_order_relaxed);
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int)>& fn) {
  if (n <= 0) return;
  if (tls_worker >= 0) {  // nested region: run inline on this worker (counted by the outer task)
    for (int64_t t = 0; t < n; ++t) fn(t, tls_worker);
    return;
  }
  // The issuing thread's job token: progress counts tasks, an abort skips the tasks not started.
  int32_t* token = current_cancel_token();
  if (cancel_requested(token)) throw Aborted{};
  cancel_add(token, 2, n);
  Pool& p = pool();
  std::lock_guard<std::mutex> region(p.region_mu);
  int threads = p.size.load(std::memory_order_relaxed);
  if (int64_t(threads) > n) threads = static_cast<int>(n);
  if (threads <= 1) {
    tls_worker = 0;
    for (int64_t t = 0; t < n && !cancel_requested(token); ++t) {
      fn(t, 0);
      cancel_add(token, 1, 1);
    }
    tls_worker = -1;
    if (cancel_requested(token)) throw Aborted{};
    return;
  }
  {
    std::unique_lock<std::mutex> lk(p.mu);
    while (p.spawned < threads - 1) {
      const int id = ++p.spawned;
      std::thread([&p, id] { p.worker_main(id); }).detach();
    }
    p.fn = &fn;
    p.token = token;
    p.n = n;
    p.next.store(0, std::memory_order_relaxed);
    p.active = threads;
    p.pending = threads - 1;
    ++p.generation;
  }
  p.cv_start.notify_all();
  tls_worker = 0;
  p.run_tasks(0);
  tls_worker = -1;
  {
    std::unique_lock<std::mutex> lk(p.mu);
    p.cv_done.wait(lk, [&] { return p.pending == 0; });
    p.fn = nullptr;
    p.token = nullptr;
  }
  // Every worker has left the region: unwinding the kernel now is safe.
  if (cancel_requested(token)) throw Aborted{};
}

}  // namespace lemma
