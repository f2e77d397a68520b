// The emulated CUDA device, host side: the CUDA runtime API calls lemma makes, implemented over
// host memory and worker threads, with the limits a real GPU enforces (LEMMA_EMULATE_ARCH).
//
//   memory   cudaMalloc / cudaFree (+ Async, Memset, MemGetInfo): host memory, 256-byte aligned,
//            filled with 0xFF bytes (NaN) when allocated and when freed; copies and memsets must
//            lie inside a live allocation (cudaErrorInvalidValue otherwise); a capacity
//            (LEMMA_EMULATE_MEMORY_MB, default 4096) makes oversized requests fail with
//            cudaErrorMemoryAllocation, as does the fault injector (control.h).
//   streams  one worker thread per stream runs its kernels, copies, memsets, host functions and
//            event records in order, asynchronously to the caller. The legacy default stream
//            waits for the blocking streams and they for it; non-blocking streams are
//            independent. A pageable host-to-device cudaMemcpyAsync stages the source before it
//            returns (as CUDA does); device-to-host copies land only when the stream gets there,
//            so a missing synchronisation reads stale data here as it would on a GPU.
//            cudaFree waits for the whole device, as CUDA's does.
//   limits   1024 threads per block, grid.y / grid.z <= 65535, 48 KiB of dynamic shared memory
//            unless cudaFuncSetAttribute raised it, up to the architecture's opt-in maximum
//            (sm_80: 163 KiB, sm_86 / sm_89 / sm_120: 99 KiB, sm_90: 227 KiB).
//   errors   the call's error, the per-thread last error (cudaGetLastError) and sticky faults:
//            a fault in a kernel (device.cc) or one injected breaks the context: every later
//            call returns it until control.h's reset().
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "emulate/control.h"
#include "emulate/internal.h"

// ---- streams and events (the opaque handle types of cuda_runtime_api.h) ------------------------
struct CUstream_st {
  bool legacy = false, blocking = true;
  std::mutex mu;
  std::condition_variable cv_work, cv_idle;
  std::deque<std::function<void()>> q;
  bool busy = false;
  void push(std::function<void()> f) {
    {
      std::lock_guard<std::mutex> lock(mu);
      q.push_back(std::move(f));
    }
    cv_work.notify_one();
  }
  void drain() {
    std::unique_lock<std::mutex> lock(mu);
    cv_idle.wait(lock, [&] { return q.empty() && !busy; });
  }
  bool idle() {
    std::lock_guard<std::mutex> lock(mu);
    return q.empty() && !busy;
  }
  void start() {
    std::thread([this] {
      std::unique_lock<std::mutex> lock(mu);
      for (;;) {
        cv_work.wait(lock, [&] { return !q.empty(); });
        std::function<void()> f = std::move(q.front());
        q.pop_front();
        busy = true;
        lock.unlock();
        f();
        f = nullptr;
        lock.lock();
        busy = false;
        if (q.empty()) cv_idle.notify_all();
      }
    }).detach();  // workers live as long as the process (the context is never torn down)
  }
};

struct CUevent_st {
  std::mutex mu;
  std::condition_variable cv;
  bool recorded = false, done = true;
  std::chrono::steady_clock::time_point t;
};

namespace emu {

namespace {

// ---- limits ------------------------------------------------------------------------------------
Limits make_limits() {
  Limits l;
  std::string arch = "8.0";
  if (const char* s = std::getenv("LEMMA_EMULATE_ARCH")) arch = s;
  if (arch.rfind("sm_", 0) == 0) arch = arch.substr(3);
  if (arch.find('.') == std::string::npos && arch.size() >= 2) arch = arch.substr(0, arch.size() - 1) + "." + arch.back();
  const size_t k = 1024;
  if (arch == "8.6") {
    l = {8, 6, "GA10x (RTX 30, A10, A40)", 84, 48 * k, 99 * k, 100 * k, 1536, 0};
  } else if (arch == "8.9") {
    l = {8, 9, "AD10x (RTX 40, L4, L40S)", 142, 48 * k, 99 * k, 100 * k, 1536, 0};
  } else if (arch == "9.0") {
    l = {9, 0, "H100", 132, 48 * k, 227 * k, 228 * k, 2048, 0};
  } else if (arch == "12.0") {
    l = {12, 0, "GB20x (RTX 50)", 170, 48 * k, 99 * k, 100 * k, 1536, 0};
  } else {
    if (arch != "8.0")
      std::fprintf(stderr, "lemma emulated device: LEMMA_EMULATE_ARCH=%s is not one of 8.0, 8.6, 8.9, 9.0, 12.0; using 8.0\n",
                   arch.c_str());
    l = {8, 0, "A100", 108, 48 * k, 163 * k, 164 * k, 2048, 0};
  }
  size_t mb = 4096;
  if (const char* s = std::getenv("LEMMA_EMULATE_MEMORY_MB")) mb = size_t(std::strtoull(s, nullptr, 10));
  l.memory = mb << 20;
  // A lower opt-in limit than the architecture's, to test launchers' "does not fit" paths.
  if (const char* s = std::getenv("LEMMA_EMULATE_SMEM_OPTIN")) {
    const size_t v = size_t(std::strtoull(s, nullptr, 10));
    if (v > 0 && v < l.smem_optin) l.smem_optin = v;
  }
  return l;
}

// ---- errors ------------------------------------------------------------------------------------
thread_local cudaError_t t_last = cudaSuccess;
// reset() clears every thread's last error, not only the caller's: a worker thread that saw the
// sticky error would otherwise report it from its next cudaGetLastError after the reset.
std::atomic<uint64_t> g_error_epoch{0};
thread_local uint64_t t_epoch = 0;
cudaError_t& last_error() {
  const uint64_t now = g_error_epoch.load(std::memory_order_acquire);
  if (t_epoch != now) {
    t_epoch = now;
    t_last = cudaSuccess;
  }
  return t_last;
}
std::mutex g_err_mu;
std::atomic<int> g_sticky{0};
std::string* g_sticky_msg = new std::string();  // never freed: error strings outlive everything

cudaError_t sticky() { return static_cast<cudaError_t>(g_sticky.load(std::memory_order_acquire)); }

cudaError_t ret(cudaError_t e) {
  if (e != cudaSuccess) last_error() = e;
  return e;
}

// ---- memory ------------------------------------------------------------------------------------
struct Alloc {
  size_t bytes;
  bool freeing;  // cudaFreeAsync queued: the host may not use it any more
};
std::mutex g_mem_mu;
std::map<uintptr_t, Alloc>* g_allocs = new std::map<uintptr_t, Alloc>();
size_t g_used = 0;
std::atomic<int> g_fail_countdown{0};

// True when [p, p + n) lies inside one live allocation.
bool in_device_memory(const void* p, size_t n) {
  std::lock_guard<std::mutex> lock(g_mem_mu);
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = g_allocs->upper_bound(a);
  if (it == g_allocs->begin()) return false;
  --it;
  return !it->second.freeing && a >= it->first && a + n <= it->first + it->second.bytes && a + n >= a;
}

cudaError_t allocate(void** p, size_t bytes) {
  if (p == nullptr) return ret(cudaErrorInvalidValue);
  *p = nullptr;
  if (cudaError_t s = sticky()) return ret(s);
  for (int c = g_fail_countdown.load(); c > 0; c = g_fail_countdown.load())
    if (g_fail_countdown.compare_exchange_weak(c, c - 1)) {
      if (c == 1) return ret(cudaErrorMemoryAllocation);
      break;
    }
  const size_t n = std::max<size_t>(bytes, 1);
  {
    std::lock_guard<std::mutex> lock(g_mem_mu);
    if (n > limits().memory || g_used + n > limits().memory) return ret(cudaErrorMemoryAllocation);
    g_used += n;
  }
  void* m = nullptr;
  if (posix_memalign(&m, 256, n) != 0) {
    std::lock_guard<std::mutex> lock(g_mem_mu);
    g_used -= n;
    return ret(cudaErrorMemoryAllocation);
  }
  std::memset(m, 0xff, n);  // device memory starts undefined: NaN bytes show a read before a write
  {
    std::lock_guard<std::mutex> lock(g_mem_mu);
    (*g_allocs)[reinterpret_cast<uintptr_t>(m)] = {n, false};
  }
  *p = m;
  return cudaSuccess;
}

// Removes p from the table (marks it when `mark_only`); false when p is not a live allocation.
bool take(void* p, bool mark_only, size_t* bytes) {
  std::lock_guard<std::mutex> lock(g_mem_mu);
  auto it = g_allocs->find(reinterpret_cast<uintptr_t>(p));
  if (it == g_allocs->end() || (it->second.freeing && mark_only)) return false;
  *bytes = it->second.bytes;
  if (mark_only) {
    it->second.freeing = true;
  } else {
    g_used -= it->second.bytes;
    g_allocs->erase(it);
  }
  return true;
}

void release(void* p, size_t bytes) {
  std::memset(p, 0xff, bytes);  // a use after free reads NaN (and ASan reports it)
  std::free(p);
}

// ---- streams -----------------------------------------------------------------------------------
std::mutex g_streams_mu;
std::vector<CUstream_st*>* g_streams = new std::vector<CUstream_st*>();

CUstream_st* legacy() {
  static CUstream_st* s = [] {
    auto* st = new CUstream_st();
    st->legacy = true;
    st->start();
    std::lock_guard<std::mutex> lock(g_streams_mu);
    g_streams->push_back(st);
    return st;
  }();
  return s;
}

CUstream_st* resolve(cudaStream_t s) {
  if (s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread) return legacy();
  return s;
}

bool known_stream(CUstream_st* s) {
  std::lock_guard<std::mutex> lock(g_streams_mu);
  return std::find(g_streams->begin(), g_streams->end(), s) != g_streams->end();
}

// Implicit synchronisation of the legacy default stream with the blocking streams.
void order_before_enqueue(CUstream_st* s) {
  std::vector<CUstream_st*> wait;
  {
    std::lock_guard<std::mutex> lock(g_streams_mu);
    for (CUstream_st* o : *g_streams) {
      if (o == s) continue;
      if (s->legacy ? o->blocking : (s->blocking && o->legacy)) wait.push_back(o);
    }
  }
  for (CUstream_st* o : wait) o->drain();
}

void enqueue(CUstream_st* s, std::function<void()> f) {
  order_before_enqueue(s);
  s->push(std::move(f));
}

void device_sync() {
  std::vector<CUstream_st*> all;
  {
    std::lock_guard<std::mutex> lock(g_streams_mu);
    all = *g_streams;
  }
  for (CUstream_st* s : all) s->drain();
}

// ---- kernels: per-function attributes ---------------------------------------------------------
std::mutex g_func_mu;
std::unordered_map<const void*, size_t>* g_func_smem = new std::unordered_map<const void*, size_t>();

struct ErrorText {
  cudaError_t e;
  const char* name;
  const char* text;
};
const ErrorText kErrors[] = {
    {cudaSuccess, "cudaSuccess", "no error"},
    {cudaErrorInvalidValue, "cudaErrorInvalidValue", "invalid argument"},
    {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation", "out of memory"},
    {cudaErrorInitializationError, "cudaErrorInitializationError", "initialization error"},
    {cudaErrorInvalidConfiguration, "cudaErrorInvalidConfiguration", "invalid configuration argument"},
    {cudaErrorInvalidDevice, "cudaErrorInvalidDevice", "invalid device ordinal"},
    {cudaErrorInvalidResourceHandle, "cudaErrorInvalidResourceHandle", "invalid resource handle"},
    {cudaErrorNotReady, "cudaErrorNotReady", "device not ready"},
    {cudaErrorNoDevice, "cudaErrorNoDevice", "no CUDA-capable device is detected"},
    {cudaErrorIllegalAddress, "cudaErrorIllegalAddress", "an illegal memory access was encountered"},
    {cudaErrorMisalignedAddress, "cudaErrorMisalignedAddress", "misaligned address"},
    {cudaErrorLaunchFailure, "cudaErrorLaunchFailure", "unspecified launch failure"},
    {cudaErrorInvalidDevicePointer, "cudaErrorInvalidDevicePointer", "invalid device pointer"},
    {cudaErrorNotSupported, "cudaErrorNotSupported", "operation not supported"},
};

const ErrorText* error_text(cudaError_t e) {
  for (const ErrorText& t : kErrors)
    if (t.e == e) return &t;
  return nullptr;
}

}  // namespace

const Limits& limits() {
  static const Limits l = make_limits();
  return l;
}

Counters& counters() {
  static Counters* c = new Counters();
  return *c;
}

void set_last_error(cudaError_t e) { ret(e); }

void device_fault(cudaError_t e, const std::string& message) {
  std::lock_guard<std::mutex> lock(g_err_mu);
  if (g_sticky.load() != 0) return;  // the first fault is the one reported
  const ErrorText* t = error_text(e);
  *g_sticky_msg = std::string(t ? t->text : "unspecified launch failure") + " (emulated device: " + message + ")";
  g_sticky.store(int(e), std::memory_order_release);
}

bool device_faulted() { return g_sticky.load(std::memory_order_acquire) != 0; }

size_t kernel_dynamic_smem_limit(const void* fn) {
  std::lock_guard<std::mutex> lock(g_func_mu);
  auto it = g_func_smem->find(fn);
  return it == g_func_smem->end() ? limits().smem_default : it->second;
}

void enqueue_kernel(KernelRun r) {
  CUstream_st* s = resolve(r.k.stream);
  auto run = std::make_shared<KernelRun>(std::move(r));
  enqueue(s, [run] { run_kernel(*run); });
}

// ---- control.h -----------------------------------------------------------------------------------
bool emulated() { return true; }
void fail_allocation_after(int k) { g_fail_countdown.store(k < 0 ? 0 : k); }
void inject_fault(const char* why) { device_fault(cudaErrorLaunchFailure, std::string("injected: ") + why); }
std::string fault_message() {
  std::lock_guard<std::mutex> lock(g_err_mu);
  return g_sticky.load() ? *g_sticky_msg : std::string();
}
void reset() {
  device_sync();
  std::lock_guard<std::mutex> lock(g_err_mu);
  g_sticky.store(0);
  g_sticky_msg->clear();
  g_fail_countdown.store(0);
  g_error_epoch.fetch_add(1, std::memory_order_acq_rel);
}
EmulatorInfo info() {
  const Limits& l = limits();
  EmulatorInfo i;
  i.major = l.major;
  i.minor = l.minor;
  i.family = l.family;
  i.smem_optin = l.smem_optin;
  i.memory = l.memory;
  {
    std::lock_guard<std::mutex> lock(g_mem_mu);
    i.memory_used = g_used;
  }
  const Counters& c = counters();
  i.launches = c.launches;
  i.blocks = c.blocks;
  i.threads = c.threads;
  i.switches = c.switches;
  return i;
}

}  // namespace emu

// ---- the runtime API ------------------------------------------------------------------------------
using emu::ret;
using emu::sticky;

namespace {
#define EMU_STICKY()                          \
  do {                                        \
    if (cudaError_t _s = sticky()) return ret(_s); \
  } while (0)

bool is_device_kind(cudaMemcpyKind k, bool dst) {
  switch (k) {
    case cudaMemcpyHostToDevice: return dst;
    case cudaMemcpyDeviceToHost: return !dst;
    case cudaMemcpyDeviceToDevice: return true;
    default: return false;
  }
}

cudaError_t check_copy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  if (kind != cudaMemcpyHostToDevice && kind != cudaMemcpyDeviceToHost && kind != cudaMemcpyDeviceToDevice &&
      kind != cudaMemcpyHostToHost && kind != cudaMemcpyDefault)
    return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  if (kind == cudaMemcpyDefault) return cudaSuccess;  // unified addressing: either side may be host
  if (is_device_kind(kind, true) && !emu::in_device_memory(dst, n)) return cudaErrorInvalidValue;
  if (is_device_kind(kind, false) && !emu::in_device_memory(src, n)) return cudaErrorInvalidValue;
  return cudaSuccess;
}
}  // namespace

cudaError_t cudaGetDeviceCount(int* count) {
  if (count == nullptr) return ret(cudaErrorInvalidValue);
  *count = 1;
  EMU_STICKY();
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* dev) {
  if (dev == nullptr) return ret(cudaErrorInvalidValue);
  *dev = 0;
  EMU_STICKY();
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int dev) {
  EMU_STICKY();
  return dev == 0 ? cudaSuccess : ret(cudaErrorInvalidDevice);
}
cudaError_t cudaRuntimeGetVersion(int* v) {
  if (v == nullptr) return ret(cudaErrorInvalidValue);
  *v = CUDART_VERSION;
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* v) {
  if (v == nullptr) return ret(cudaErrorInvalidValue);
  *v = CUDART_VERSION;  // the emulator plays the driver of the runtime it was built against
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int dev) {
  if (p == nullptr) return ret(cudaErrorInvalidValue);
  if (dev != 0) return ret(cudaErrorInvalidDevice);
  EMU_STICKY();
  const emu::Limits& l = emu::limits();
  std::memset(p, 0, sizeof *p);
  std::snprintf(p->name, sizeof p->name, "lemma emulated CUDA device (sm_%d%d limits, %s; kernels run on the CPU)",
                l.major, l.minor, l.family);
  p->totalGlobalMem = l.memory;
  p->sharedMemPerBlock = l.smem_default;
  p->sharedMemPerBlockOptin = l.smem_optin;
  p->sharedMemPerMultiprocessor = l.smem_per_sm;
  p->regsPerBlock = 65536;
  p->regsPerMultiprocessor = 65536;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = 1024;
  p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 2147483647;
  p->maxGridSize[1] = 65535;
  p->maxGridSize[2] = 65535;
  p->major = l.major;
  p->minor = l.minor;
  p->multiProcessorCount = l.sms;
  p->maxThreadsPerMultiProcessor = l.max_threads_per_sm;
  p->concurrentKernels = 1;
  p->unifiedAddressing = 1;
  p->memoryPoolsSupported = 1;
  p->totalConstMem = 65536;
  p->maxBlocksPerMultiProcessor = 32;
  return cudaSuccess;
}

// Read from the properties above, so the two views of the device cannot disagree.
cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr attr, int dev) {
  if (v == nullptr) return ret(cudaErrorInvalidValue);
  cudaDeviceProp p;
  const cudaError_t e = cudaGetDeviceProperties(&p, dev);
  if (e != cudaSuccess) return e;
  switch (attr) {
    case cudaDevAttrComputeCapabilityMajor: *v = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: *v = p.minor; break;
    case cudaDevAttrMultiProcessorCount: *v = p.multiProcessorCount; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = int(p.sharedMemPerBlockOptin); break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *v = int(p.sharedMemPerBlock); break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *v = int(p.sharedMemPerMultiprocessor); break;
    case cudaDevAttrMaxThreadsPerBlock: *v = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxBlockDimX: *v = p.maxThreadsDim[0]; break;
    case cudaDevAttrMaxBlockDimY: *v = p.maxThreadsDim[1]; break;
    case cudaDevAttrMaxBlockDimZ: *v = p.maxThreadsDim[2]; break;
    case cudaDevAttrMaxGridDimX: *v = p.maxGridSize[0]; break;
    case cudaDevAttrMaxGridDimY: *v = p.maxGridSize[1]; break;
    case cudaDevAttrMaxGridDimZ: *v = p.maxGridSize[2]; break;
    case cudaDevAttrWarpSize: *v = p.warpSize; break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: *v = p.maxThreadsPerMultiProcessor; break;
    case cudaDevAttrMemoryPoolsSupported: *v = p.memoryPoolsSupported; break;
    case cudaDevAttrConcurrentKernels: *v = p.concurrentKernels; break;
    case cudaDevAttrUnifiedAddressing: *v = p.unifiedAddressing; break;
    default: return ret(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_b, size_t* total) {
  EMU_STICKY();
  std::lock_guard<std::mutex> lock(emu::g_mem_mu);
  if (free_b) *free_b = emu::limits().memory - emu::g_used;
  if (total) *total = emu::limits().memory;
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* fn, cudaFuncAttribute attr, int value) {
  EMU_STICKY();
  if (fn == nullptr) return ret(cudaErrorInvalidDeviceFunction);
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || size_t(value) > emu::limits().smem_optin) return ret(cudaErrorInvalidValue);
    std::lock_guard<std::mutex> lock(emu::g_func_mu);
    (*emu::g_func_smem)[fn] = size_t(value);
    return cudaSuccess;
  }
  if (attr == cudaFuncAttributePreferredSharedMemoryCarveout) return cudaSuccess;
  return ret(cudaErrorInvalidValue);
}

cudaError_t cudaGetLastError(void) {
  if (cudaError_t s = sticky()) return s;
  const cudaError_t e = emu::last_error();
  emu::last_error() = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError(void) {
  if (cudaError_t s = sticky()) return s;
  return emu::last_error();
}
const char* cudaGetErrorName(cudaError_t e) {
  const emu::ErrorText* t = emu::error_text(e);
  return t ? t->name : "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t e) {
  if (e != cudaSuccess && int(e) == emu::g_sticky.load()) {
    std::lock_guard<std::mutex> lock(emu::g_err_mu);
    return emu::g_sticky_msg->c_str();  // the fault, with what the emulator saw
  }
  const emu::ErrorText* t = emu::error_text(e);
  return t ? t->text : "unknown error";
}

// ---- memory ----
cudaError_t cudaMalloc(void** p, size_t bytes) { return emu::allocate(p, bytes); }
cudaError_t cudaMallocAsync(void** p, size_t bytes, cudaStream_t s) {
  if (s != nullptr && s != cudaStreamLegacy && s != cudaStreamPerThread && !emu::known_stream(s))
    return ret(cudaErrorInvalidResourceHandle);
  return emu::allocate(p, bytes);
}
cudaError_t cudaFree(void* p) {
  if (p == nullptr) return cudaSuccess;
  EMU_STICKY();
  emu::device_sync();  // CUDA's cudaFree waits for the device
  size_t bytes = 0;
  if (!emu::take(p, false, &bytes)) return ret(cudaErrorInvalidValue);
  emu::release(p, bytes);
  return cudaSuccess;
}
cudaError_t cudaFreeAsync(void* p, cudaStream_t s) {
  if (p == nullptr) return cudaSuccess;
  EMU_STICKY();
  size_t bytes = 0;
  if (!emu::take(p, true, &bytes)) return ret(cudaErrorInvalidValue);
  emu::enqueue(emu::resolve(s), [p] {
    size_t b = 0;
    if (emu::take(p, false, &b)) emu::release(p, b);
  });
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind, cudaStream_t s) {
  EMU_STICKY();
  if (cudaError_t e = check_copy(dst, src, n, kind)) return ret(e);
  if (n == 0) return cudaSuccess;
  CUstream_st* st = emu::resolve(s);
  if (kind == cudaMemcpyHostToDevice) {
    // Pageable source: staged before returning, so the caller may reuse it at once.
    auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(src), static_cast<const char*>(src) + n);
    emu::enqueue(st, [dst, staged] { std::memcpy(dst, staged->data(), staged->size()); });
  } else {
    emu::enqueue(st, [dst, src, n] { std::memmove(dst, src, n); });
  }
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  if (cudaError_t e = cudaMemcpyAsync(dst, src, n, kind, nullptr)) return e;
  emu::legacy()->drain();
  EMU_STICKY();
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* p, int value, size_t n, cudaStream_t s) {
  EMU_STICKY();
  if (n == 0) return cudaSuccess;
  if (!emu::in_device_memory(p, n)) return ret(cudaErrorInvalidValue);
  emu::enqueue(emu::resolve(s), [p, value, n] { std::memset(p, value, n); });
  return cudaSuccess;
}
cudaError_t cudaMemset(void* p, int value, size_t n) { return cudaMemsetAsync(p, value, n, nullptr); }

// ---- streams ----
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags) {
  if (s == nullptr) return ret(cudaErrorInvalidValue);
  EMU_STICKY();
  auto* st = new CUstream_st();
  st->blocking = (flags & cudaStreamNonBlocking) == 0;
  st->start();
  {
    std::lock_guard<std::mutex> lock(emu::g_streams_mu);
    emu::g_streams->push_back(st);
  }
  *s = st;
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  if (s == nullptr || !emu::known_stream(s)) return ret(cudaErrorInvalidResourceHandle);
  // The queued work still runs; the worker stays (a handful per process): streams are rare.
  s->drain();
  std::lock_guard<std::mutex> lock(emu::g_streams_mu);
  emu::g_streams->erase(std::find(emu::g_streams->begin(), emu::g_streams->end(), s));
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  CUstream_st* st = emu::resolve(s);
  if (st != emu::legacy() && !emu::known_stream(st)) return ret(cudaErrorInvalidResourceHandle);
  st->drain();
  EMU_STICKY();
  return cudaSuccess;
}
cudaError_t cudaStreamQuery(cudaStream_t s) {
  EMU_STICKY();
  return emu::resolve(s)->idle() ? cudaSuccess : cudaErrorNotReady;
}
cudaError_t cudaDeviceSynchronize(void) {
  emu::device_sync();
  EMU_STICKY();
  return cudaSuccess;
}
cudaError_t cudaLaunchHostFunc(cudaStream_t s, cudaHostFn_t fn, void* data) {
  EMU_STICKY();
  if (fn == nullptr) return ret(cudaErrorInvalidValue);
  emu::enqueue(emu::resolve(s), [fn, data] { fn(data); });
  return cudaSuccess;
}

// ---- events ----
cudaError_t cudaEventCreate(cudaEvent_t* e) {
  if (e == nullptr) return ret(cudaErrorInvalidValue);
  EMU_STICKY();
  *e = new CUevent_st();
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) { return cudaEventCreate(e); }
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  if (e == nullptr) return ret(cudaErrorInvalidResourceHandle);
  cudaEventSynchronize(e);  // a pending record still writes it
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  if (e == nullptr) return ret(cudaErrorInvalidResourceHandle);
  EMU_STICKY();
  {
    std::lock_guard<std::mutex> lock(e->mu);
    e->recorded = true;
    e->done = false;
  }
  emu::enqueue(emu::resolve(s), [e] {
    std::lock_guard<std::mutex> lock(e->mu);
    e->t = std::chrono::steady_clock::now();
    e->done = true;
    e->cv.notify_all();
  });
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  if (e == nullptr) return ret(cudaErrorInvalidResourceHandle);
  std::unique_lock<std::mutex> lock(e->mu);
  e->cv.wait(lock, [&] { return e->done; });
  lock.unlock();
  EMU_STICKY();
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t e) {
  if (e == nullptr) return ret(cudaErrorInvalidResourceHandle);
  EMU_STICKY();
  std::lock_guard<std::mutex> lock(e->mu);
  return e->done ? cudaSuccess : cudaErrorNotReady;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  if (ms == nullptr || a == nullptr || b == nullptr) return ret(cudaErrorInvalidValue);
  EMU_STICKY();
  std::scoped_lock lock(a->mu, b->mu);
  if (!a->recorded || !b->recorded) return ret(cudaErrorInvalidResourceHandle);
  if (!a->done || !b->done) return ret(cudaErrorNotReady);
  *ms = std::chrono::duration<float, std::milli>(b->t - a->t).count();
  return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned) {
  if (e == nullptr) return ret(cudaErrorInvalidResourceHandle);
  EMU_STICKY();
  emu::enqueue(emu::resolve(s), [e] {
    std::unique_lock<std::mutex> lock(e->mu);
    e->cv.wait(lock, [&] { return e->done; });
  });
  return cudaSuccess;
}
