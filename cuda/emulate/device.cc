// The emulated CUDA device, kernel side: fibers, the block scheduler, barriers, warp collectives
// (shuffle, ballot, __syncwarp, ldmatrix, mma from the PTX ISA fragment tables), cp.async, shared
// memory, and the checks that turn undefined behaviour into device faults. See device.h.
//
// Scheduling (LEMMA_EMU_POLICY): every policy runs each fiber until it blocks (barrier, warp
// collective, exit); they differ in which fiber goes next, because a missing barrier shows only
// when some warp gets ahead of another:
//   lockstep  one pass over all ready threads in order, repeated;
//   ahead     the lowest-numbered warp with a ready lane runs until it blocks, then the next;
//   behind    the same from the highest-numbered warp;
//   random    ready threads in a random order each pass (LEMMA_EMU_SEED);
//   rotate    (default) lockstep, ahead, behind for launches 0, 1, 2, 3, ... in turn.
// Blocks run one after another; LEMMA_EMU_BLOCK_ORDER=reverse|shuffle changes their order.
//
// Under ThreadSanitizer (LEMMA_EMU_TSAN, this file itself uninstrumented) each CUDA thread is a
// TSan fiber; barriers and __syncwarp are release/acquire pairs on sync objects that alternate
// by generation (with one object a thread that runs ahead would hide races), cp.async and
// ldmatrix report their memory accesses as the issuing lane's. Blocks of a launch share no
// happens-before edge, and consecutive blocks run on different fiber sets, so TSan also reports
// global-memory conflicts between blocks, not only shared-memory races inside one.
//
// Context switches: a few instructions of assembly on x86-64 (the callee-saved registers; MXCSR
// and the x87 control word are left alone: no kernel changes rounding modes), ucontext elsewhere;
// AddressSanitizer is told about every stack switch.
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cuda_fp16.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <numeric>
#include <string>
#include <vector>

#include "emulate/internal.h"

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define LEMMA_EMU_ASAN 1
extern "C" void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom, size_t size);
extern "C" void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old, size_t* size_old);
extern "C" void __asan_unpoison_memory_region(void const volatile* addr, size_t size);
#endif
#if defined(LEMMA_EMU_TSAN)
extern "C" {
void* __tsan_get_current_fiber(void);
void* __tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void* fiber);
void __tsan_switch_to_fiber(void* fiber, unsigned flags);
void __tsan_acquire(void* addr);
void __tsan_release(void* addr);
void __tsan_read_range(void* addr, unsigned long size);
void __tsan_write_range(void* addr, unsigned long size);
void AnnotateIgnoreReadsBegin(const char* f, int l);
void AnnotateIgnoreReadsEnd(const char* f, int l);
void AnnotateIgnoreWritesBegin(const char* f, int l);
void AnnotateIgnoreWritesEnd(const char* f, int l);
}
#define TSAN_ONLY(...) __VA_ARGS__
#else
#define TSAN_ONLY(...)
#endif

namespace emu {

thread_local Thread* t_cur = nullptr;

float bit_cast_float(uint32_t u);
uint32_t bit_cast_u32(float f);

namespace {

// ---- configuration ---------------------------------------------------------------------------
enum Policy { kLockstep = 0, kAhead = 1, kBehind = 2, kRandom = 3, kRotate = 4 };
enum BlockOrder { kInOrder = 0, kReverse = 1, kShuffle = 2 };

struct Config {
  int policy = kRotate;
  int block_order = kInOrder;
  bool abort_on_fault = false;
  uint64_t seed = 1;
  size_t stack_bytes = 256 * 1024;
};

const Config& config() {
  static const Config c = [] {
    Config k;
    if (const char* s = std::getenv("LEMMA_EMU_POLICY")) {
      const std::string v = s;
      k.policy = v == "lockstep" ? kLockstep : v == "ahead" ? kAhead : v == "behind" ? kBehind
                 : v == "random" ? kRandom : kRotate;
    }
    if (const char* s = std::getenv("LEMMA_EMU_BLOCK_ORDER")) {
      const std::string v = s;
      k.block_order = v == "reverse" ? kReverse : v == "shuffle" ? kShuffle : kInOrder;
    }
    if (const char* s = std::getenv("LEMMA_EMU_SEED")) k.seed = std::strtoull(s, nullptr, 10) | 1;
    if (const char* s = std::getenv("LEMMA_EMU_ABORT")) k.abort_on_fault = s[0] == '1';
#if defined(LEMMA_EMU_ASAN) || defined(LEMMA_EMU_TSAN)
    k.stack_bytes = 1024 * 1024;  // instrumented frames are several times larger
#endif
    if (const char* s = std::getenv("LEMMA_EMU_STACK_KB")) k.stack_bytes = size_t(std::atoi(s)) * 1024;
    return k;
  }();
  return c;
}

uint64_t splitmix(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// ---- fibers ------------------------------------------------------------------------------------
struct Fiber {
  char* mem = nullptr;  // mapping, guard page first
  char* stack = nullptr;
  size_t size = 0;
  void* sp = nullptr;
#if !defined(__x86_64__)
  ucontext_t uc;
#endif
  TSAN_ONLY(void* tsan = nullptr;)
};

#if defined(__x86_64__)
extern "C" void lemma_emu_switch(void** save_sp, void* load_sp);
asm(R"(
  .text
  .p2align 4
  .globl lemma_emu_switch
  .hidden lemma_emu_switch
  .type lemma_emu_switch, @function
lemma_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size lemma_emu_switch, .-lemma_emu_switch
  .section .note.GNU-stack,"",@progbits
  .text
)");
#endif

enum State { kReady = 0, kAtBarrier = 1, kAtWarp = 2, kDone = 3 };
enum Collective { kNone = 0, kShfl, kBallot, kSyncWarp, kLdm, kLdmT, kMma };

struct ThreadState {
  Thread t;
  int state = kReady;
  Fiber* fiber = nullptr;
  std::vector<AsyncCopy> open;
  std::deque<std::vector<AsyncCopy>> groups;
};

struct WarpSlot {
  int kind = kNone, sub = 0, arrived = 0, present = 32;
  unsigned gen = 0;
  uint32_t in[32][10];
  uint32_t out[32][4];
};

// Per-block sync objects for TSan, in fresh memory each block (so no edge crosses blocks).
struct SyncObjects {
  char start, statics, bar[2];
  char warp[32][2];
};

struct Exec;

struct Block {
  const KernelRun* run = nullptr;
  Exec* ex = nullptr;
  int n = 0, nw = 0, live = 0;
  std::vector<ThreadState> th;
  std::vector<WarpSlot> warps;
  int bar_arrived = 0, bar_kind = 0, bar_acc = 0;
  unsigned bar_gen = 0;
  const void* bar_site = nullptr;
  int bar_result[2] = {0, 0};
  char* dyn = nullptr;
  size_t dyn_bytes = 0;
  std::vector<void*> statics;
  size_t static_bytes = 0;
  bool faulted = false;
  int done = 0;    // threads that have exited
  int policy = 0;  // kLockstep, kAhead, kBehind or kRandom for this block
  SyncObjects* sync = nullptr;
  uint3 bid;
};

// The scheduler state of one OS thread (a stream worker).
struct Exec {
  void* sched_sp = nullptr;
#if !defined(__x86_64__)
  ucontext_t sched_uc;
#endif
  std::vector<std::unique_ptr<Fiber>> fibers[3];
  Block* blk = nullptr;
  ThreadState* running = nullptr;  // null while the scheduler runs
  uint64_t switches = 0;
  const void* sched_stack_bottom = nullptr;  // the worker thread's own stack (for ASan)
  size_t sched_stack_size = 0;
  TSAN_ONLY(void* tsan_sched = nullptr;)
  TSAN_ONLY(char launch_end = 0;)
};

thread_local Exec* t_exec = nullptr;
int g_smem_slots = 0;  // static shared variables seen so far (slot numbers)

Exec& exec() {
  if (t_exec == nullptr) {
    t_exec = new Exec();  // one per worker thread, lives as long as it
#if defined(LEMMA_EMU_ASAN)
    pthread_attr_t a;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
      void* lo = nullptr;
      pthread_attr_getstack(&a, &lo, &t_exec->sched_stack_size);
      t_exec->sched_stack_bottom = lo;
      pthread_attr_destroy(&a);
    }
#endif
  }
  return *t_exec;
}

void fiber_entry();

Fiber* make_fiber(size_t bytes) {
  auto* f = new Fiber();
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  bytes = (bytes + page - 1) / page * page;
  void* m = mmap(nullptr, bytes + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) {
    std::fprintf(stderr, "lemma emulated device: cannot map a fiber stack\n");
    std::abort();
  }
  mprotect(m, page, PROT_NONE);  // guard: a stack overflow faults instead of corrupting memory
  f->mem = static_cast<char*>(m);
  f->stack = f->mem + page;
  f->size = bytes;
  TSAN_ONLY(f->tsan = __tsan_create_fiber(0);)
  return f;
}

// Sets the fiber up to start in fiber_entry at the next switch to it.
void fiber_reset(Fiber& f) {
#if defined(LEMMA_EMU_ASAN)
  // A finished (or abandoned) fiber leaves its frames' redzones poisoned on the stack.
  __asan_unpoison_memory_region(f.stack, f.size);
#endif
#if defined(__x86_64__)
  uint64_t* sp = reinterpret_cast<uint64_t*>(reinterpret_cast<uintptr_t>(f.stack + f.size) & ~uintptr_t(15));
  *--sp = 0;                                       // return address of fiber_entry (never used)
  *--sp = reinterpret_cast<uint64_t>(&fiber_entry);  // popped by `ret`: 16-byte aligned slot
  for (int i = 0; i < 6; ++i) *--sp = 0;           // rbp rbx r12 r13 r14 r15
  f.sp = sp;
#else
  getcontext(&f.uc);
  f.uc.uc_stack.ss_sp = f.stack;
  f.uc.uc_stack.ss_size = f.size;
  f.uc.uc_link = nullptr;
  makecontext(&f.uc, fiber_entry, 0);
#endif
}

// Switches from what runs now (a fiber, or the scheduler when ex.running is null) to the fiber
// `to`, or to the scheduler when `to` is null. `final`: the current fiber never resumes.
// Returns when something switches back to the caller.
void transfer(Exec& ex, ThreadState* to, bool final) {
  ThreadState* from = ex.running;
  ex.running = to;
  t_cur = to ? &to->t : nullptr;
  ++ex.switches;
  TSAN_ONLY(__tsan_switch_to_fiber(to ? to->fiber->tsan : ex.tsan_sched, 1);)
#if defined(LEMMA_EMU_ASAN)
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(final ? nullptr : &fake, to ? to->fiber->stack : ex.sched_stack_bottom,
                                 to ? to->fiber->size : ex.sched_stack_size);
#endif
#if defined(__x86_64__)
  lemma_emu_switch(from ? &from->fiber->sp : &ex.sched_sp, to ? to->fiber->sp : ex.sched_sp);
#else
  swapcontext(from ? &from->fiber->uc : &ex.sched_uc, to ? &to->fiber->uc : &ex.sched_uc);
#endif
#if defined(LEMMA_EMU_ASAN)
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
  (void)final;
}

// The thread to run when `s` blocks or exits, without a round trip through the scheduler: the
// next ready thread of the pass (lockstep) or of s's warp (ahead / behind); null: the scheduler
// decides (a new pass, the next warp, a random pick).
ThreadState* next_after(Block& b, const ThreadState& s) {
  if (b.faulted) return nullptr;
  if (b.policy == kLockstep) {
    for (int j = s.t.index + 1; j < b.n; ++j)
      if (b.th[size_t(j)].state == kReady) return &b.th[size_t(j)];
    return nullptr;
  }
  if (b.policy == kAhead || b.policy == kBehind) {
    const int base = 32 * s.t.warp, cnt = std::min(32, b.n - base);
    for (int k = 1; k < cnt; ++k) {
      ThreadState& o = b.th[size_t(base + (s.t.lane + k) % cnt)];
      if (o.state == kReady) return &o;
    }
  }
  return nullptr;
}

// The running thread blocks (its state already says why) or exits (final).
void block_running(bool final) {
  Exec& ex = *t_exec;
  // A parked thread may never resume (a fault abandons its block): what it did so far is ordered
  // before the end of the launch, as an exit is, or TSan sees the worker free the block's state
  // and the kernel's arguments under it. Only the worker, after the last block, acquires this.
  TSAN_ONLY(if (!final) __tsan_release(&ex.launch_end);)
  transfer(ex, next_after(*ex.blk, *ex.running), final);
}

// ---- faults ------------------------------------------------------------------------------------
std::string where() {
  Exec* ex = t_exec;
  if (ex == nullptr || ex->blk == nullptr) return "";
  const Block& b = *ex->blk;
  char buf[256];
  int n = std::snprintf(buf, sizeof buf, "%s (%s:%d), block (%u,%u,%u)", b.run->k.name, b.run->k.file,
                        b.run->k.line, b.bid.x, b.bid.y, b.bid.z);
  if (ex->running != nullptr && n > 0 && size_t(n) < sizeof buf) {
    const uint3 t = ex->running->t.tid;
    std::snprintf(buf + n, sizeof buf - size_t(n), ", thread (%u,%u,%u) (warp %d lane %d)", t.x, t.y, t.z,
                  ex->running->t.warp, ex->running->t.lane);
  }
  return buf;
}

// A fault inside a kernel: report, make it sticky, abandon the block (the fiber never resumes).
[[noreturn]] void fault_with(cudaError_t e, const char* fmt, va_list ap) {
  {  // the strings die here: the fiber below is abandoned, its frames never unwound
    char msg[512];
    std::vsnprintf(msg, sizeof msg, fmt, ap);
    const std::string text = std::string(msg) + (where().empty() ? "" : " [" + where() + "]");
    std::fprintf(stderr, "lemma emulated device: fault: %s\n", text.c_str());
    if (config().abort_on_fault || t_exec == nullptr || t_exec->blk == nullptr) std::abort();
    device_fault(e, text);
  }
  t_exec->blk->faulted = true;
  if (t_exec->running != nullptr) {
    TSAN_ONLY(__tsan_release(&t_exec->launch_end);)  // as block_running: the fiber is abandoned
    transfer(*t_exec, nullptr, true);
    std::abort();  // unreachable: a faulted block is never resumed
  }
  std::abort();
}

[[noreturn]] void fault_code(cudaError_t e, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void fault_code(cudaError_t e, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fault_with(e, fmt, ap);
}

ThreadState& me() {
  Exec* ex = t_exec;
  if (ex == nullptr || ex->running == nullptr) fault("a device operation was called outside a kernel");
  return *ex->running;
}

void check_aligned(const void* p, size_t a, const char* what) {
  if (reinterpret_cast<uintptr_t>(p) % a != 0)
    fault_code(cudaErrorMisalignedAddress, "%s: address %p is not %zu-byte aligned", what, p, a);
}

// ---- fiber body ---------------------------------------------------------------------------------
void fiber_entry() {
#if defined(LEMMA_EMU_ASAN)
  __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
  Exec& ex = *t_exec;
  Block& b = *ex.blk;
  TSAN_ONLY(__tsan_acquire(&b.sync->start);)
  b.run->body();
  ThreadState& s = *ex.running;
  if (!s.open.empty() || !s.groups.empty())
    fault("the thread exited with cp.async copies that it never waited for");
  const WarpSlot& w = b.warps[size_t(s.t.warp)];
  if (w.arrived > 0) fault("a lane exited while the rest of its warp waits at a collective");
  if (b.bar_arrived > 0) fault("a thread exited while others wait at __syncthreads");
  s.state = kDone;
  --b.live;
  ++b.done;
  --b.warps[size_t(s.t.warp)].present;
  TSAN_ONLY(__tsan_release(&ex.launch_end);)
  block_running(true);
  std::abort();  // never resumed
}

// ---- blocks -------------------------------------------------------------------------------------
void describe_stuck(const Block& b, char* out, size_t n) {
  int bar = 0, warp = 0;
  for (const ThreadState& s : b.th) {
    bar += s.state == kAtBarrier;
    warp += s.state == kAtWarp;
  }
  std::snprintf(out, n, "%d threads wait at __syncthreads and %d at warp collectives; %d have exited", bar, warp,
                b.n - b.live);
}

void run_block(Block& b, Exec& ex, int set) {
  const Limits& lim = limits();
  (void)lim;
  TSAN_ONLY(b.sync = static_cast<SyncObjects*>(std::calloc(1, sizeof(SyncObjects)));)
  b.live = b.n;
  b.bar_arrived = 0;
  b.bar_gen = 0;
  b.bar_site = nullptr;
  b.faulted = false;
  for (int w = 0; w < b.nw; ++w) {
    WarpSlot& ws = b.warps[size_t(w)];
    ws.kind = kNone;
    ws.arrived = 0;
    ws.gen = 0;
    ws.present = std::min(32, b.n - 32 * w);
  }
  if (b.dyn_bytes) {
#if defined(LEMMA_EMU_TSAN)
    void* p = nullptr;
    if (posix_memalign(&p, 128, b.dyn_bytes) != 0) std::abort();
    b.dyn = static_cast<char*>(p);
#endif
    std::memset(b.dyn, 0xff, b.dyn_bytes);
  }
  b.statics.assign(size_t(g_smem_slots), nullptr);
  b.static_bytes = 0;
  auto& fibers = ex.fibers[set];
  for (int i = 0; i < b.n; ++i) {
    ThreadState& s = b.th[size_t(i)];
    const dim3 bd = b.run->k.block;
    s.t.tid = make_uint3(unsigned(i) % bd.x, unsigned(i) / bd.x % bd.y, unsigned(i) / (bd.x * bd.y));
    s.t.bid = b.bid;
    s.t.bdim = bd;
    s.t.gdim = b.run->k.grid;
    s.t.index = i;
    s.t.warp = i / 32;
    s.t.lane = i % 32;
    s.state = kReady;
    s.fiber = fibers[size_t(i)].get();
    fiber_reset(*s.fiber);
  }
  TSAN_ONLY(__tsan_release(&b.sync->start);)

  const Config& cfg = config();
  b.policy = cfg.policy == kRotate ? int(b.run->seq % 3) : cfg.policy;
  b.done = 0;
  uint64_t rng = cfg.seed ^ (b.run->seq * 0x100000001b3ull) ^ (uint64_t(b.bid.x) << 20);
  std::vector<int> order(size_t(b.n));
  for (int i = 0; i < b.n; ++i) order[size_t(i)] = i;
  // Each transfer runs a chain of threads (next_after) until one hands control back here.
  while (b.done < b.n && !b.faulted) {
    bool progress = false;
    if (b.policy == kLockstep || b.policy == kRandom) {
      if (b.policy == kRandom)
        for (int i = b.n - 1; i > 0; --i) std::swap(order[size_t(i)], order[size_t(splitmix(rng) % uint64_t(i + 1))]);
      for (int k = 0; k < b.n && !b.faulted; ++k) {
        ThreadState& s = b.th[size_t(order[size_t(k)])];
        if (s.state != kReady) continue;
        transfer(ex, &s, false);
        progress = true;
      }
    } else {
      for (int k = 0; k < b.nw && !b.faulted; ++k) {
        const int w = b.policy == kAhead ? k : b.nw - 1 - k;
        const int l1 = std::min(32, b.n - 32 * w);
        for (int l = 0; l < l1 && !b.faulted;) {
          ThreadState& s = b.th[size_t(32 * w + l)];
          if (s.state != kReady) {
            ++l;
            continue;
          }
          transfer(ex, &s, false);
          progress = true;
          l = 0;  // the warp runs until none of its lanes can
        }
      }
    }
    if (!progress && !b.faulted && b.done < b.n) {
      char why[160];
      describe_stuck(b, why, sizeof why);
      ex.running = nullptr;
      const std::string text = std::string("deadlock: no thread can run (") + why + ") [" + where() + "]";
      std::fprintf(stderr, "lemma emulated device: fault: %s\n", text.c_str());
      if (cfg.abort_on_fault) std::abort();
      device_fault(cudaErrorLaunchFailure, text);
      b.faulted = true;
    }
  }
  // The worker frees the block's shared memory without acquiring what the block's threads did
  // (that would order this block before the next one and hide conflicts between them), so the
  // frees are hidden from TSan. So are the threads' cp.async queues, emptied into fresh memory:
  // a deque keeps nodes across clear(), and a node one block's fiber allocated must not be freed
  // by a fiber of a later block (TSan sees each fiber as a thread).
  TSAN_ONLY(AnnotateIgnoreReadsBegin(__FILE__, __LINE__); AnnotateIgnoreWritesBegin(__FILE__, __LINE__);)
  for (ThreadState& t : b.th) {
    std::vector<AsyncCopy>().swap(t.open);
    std::deque<std::vector<AsyncCopy>>().swap(t.groups);
  }
  for (void* p : b.statics) std::free(p);
  b.statics.clear();
#if defined(LEMMA_EMU_TSAN)
  std::free(b.dyn);
  b.dyn = nullptr;
  std::free(b.sync);
  b.sync = nullptr;
#endif
  TSAN_ONLY(AnnotateIgnoreWritesEnd(__FILE__, __LINE__); AnnotateIgnoreReadsEnd(__FILE__, __LINE__);)
}

// ---- warp collectives ---------------------------------------------------------------------------
void do_mma(WarpSlot& w) {
  // D = A B + C from the PTX ISA fragment tables, lane = 4 g + t; in[] = c0..c3, a0..a3, b0, b1.
  const int kind = w.sub;
  double A[16][16] = {}, B[16][8] = {}, C[16][8];
  const bool k16 = kind != kMmaTF32;
  auto h16 = [&](uint32_t x) -> double {
    if (kind == kMmaF16) {
      __half_raw r;
      r.x = static_cast<unsigned short>(x);
      return double(__half2float(__half(r)));
    }
    return double(bit_cast_float(x << 16));
  };
  for (int l = 0; l < 32; ++l) {
    const int g = l >> 2, t = l & 3;
    const uint32_t* in = w.in[l];
    if (k16) {
      // a_i (i = 0..7, two per register): row g for registers 0, 2, g + 8 for 1, 3;
      // column 2t + (i & 1), + 8 for registers 2, 3.
      for (int i = 0; i < 8; ++i) {
        const int reg = i / 2;
        const uint32_t h = (i & 1) ? in[4 + reg] >> 16 : in[4 + reg] & 0xffffu;
        A[g + ((reg & 1) ? 8 : 0)][2 * t + (i & 1) + (reg >= 2 ? 8 : 0)] = h16(h);
      }
      // b_i: k row 2t + (i & 1), + 8 for register 1; column g.
      for (int i = 0; i < 4; ++i) {
        const int reg = i / 2;
        const uint32_t h = (i & 1) ? in[8 + reg] >> 16 : in[8 + reg] & 0xffffu;
        B[2 * t + (i & 1) + (reg ? 8 : 0)][g] = h16(h);
      }
    } else {
      // tf32 m16n8k8: a0 (g, t) a1 (g+8, t) a2 (g, t+4) a3 (g+8, t+4); b0 (t, g) b1 (t+4, g).
      // lemma rounds every TF32 operand with cvt.rna: low bits set mean a missing rounding,
      // which the hardware would silently truncate.
      for (int i = 4; i < 10; ++i)
        if (in[i] & 0x1fffu)
          fault_code(cudaErrorLaunchFailure,
                     "mma.m16n8k8.tf32: lane %d operand %d has its low 13 bits set (not rounded with cvt.rna)", l,
                     i - 4);
      A[g][t] = bit_cast_float(in[4]);
      A[g + 8][t] = bit_cast_float(in[5]);
      A[g][t + 4] = bit_cast_float(in[6]);
      A[g + 8][t + 4] = bit_cast_float(in[7]);
      B[t][g] = bit_cast_float(in[8]);
      B[t + 4][g] = bit_cast_float(in[9]);
    }
    for (int i = 0; i < 4; ++i) C[g + (i >= 2 ? 8 : 0)][2 * t + (i & 1)] = bit_cast_float(in[i]);
  }
  const int K = k16 ? 16 : 8;
  for (int l = 0; l < 32; ++l) {
    const int g = l >> 2, t = l & 3;
    for (int i = 0; i < 4; ++i) {
      const int row = g + (i >= 2 ? 8 : 0), col = 2 * t + (i & 1);
      double s = 0;
      for (int k = 0; k < K; ++k) s += A[row][k] * B[k][col];
      w.out[l][i] = bit_cast_u32(float(s + C[row][col]));
    }
  }
}

void do_ldmatrix(WarpSlot& w, bool trans) {
  // Lane i read row i % 8 of matrix i / 8 (in[i][0..3], 8 b16 elements). Register j of lane 4g+t:
  // matrix j, row g, elements 2t, 2t+1 (.trans: column g, rows 2t, 2t+1).
  auto elem = [&](int m, int row, int col) -> uint32_t {
    const uint32_t word = w.in[8 * m + row][col / 2];
    return (col & 1) ? word >> 16 : word & 0xffffu;
  };
  for (int l = 0; l < 32; ++l) {
    const int g = l >> 2, t = l & 3;
    for (int j = 0; j < 4; ++j) {
      const uint32_t e0 = trans ? elem(j, 2 * t, g) : elem(j, g, 2 * t);
      const uint32_t e1 = trans ? elem(j, 2 * t + 1, g) : elem(j, g, 2 * t + 1);
      w.out[l][j] = e0 | (e1 << 16);
    }
  }
}

// shfl.sync (PTX ISA): only b[4:0] of the lane / offset operand counts; the CUDA intrinsics clamp
// `up` at the start of the lane's segment and `down` / `xor` at its end, so a butterfly may read
// an EARLIER segment (the programming guide says so for __shfl_xor_sync), never a later one.
void do_shfl(WarpSlot& w) {
  for (int l = 0; l < 32; ++l) {
    const int mode = int(w.in[l][2]), arg = int(w.in[l][3]), width = int(w.in[l][4]);
    const int base = l & ~(width - 1), last = base + width - 1, b = arg & 31;
    int src = l;
    switch (mode) {
      case kShflIdx: src = base + (arg & (width - 1)); break;
      case kShflUp: src = l - b < base ? l : l - b; break;
      case kShflDown: src = l + b > last ? l : l + b; break;
      default: src = (l ^ b) > last ? l : l ^ b; break;
    }
    w.out[l][0] = w.in[src][0];
    w.out[l][1] = w.in[src][1];
  }
}

const char* collective_name(int k) {
  switch (k) {
    case kShfl: return "a shuffle";
    case kBallot: return "a ballot/vote";
    case kSyncWarp: return "__syncwarp";
    case kLdm: return "ldmatrix";
    case kLdmT: return "ldmatrix.trans";
    case kMma: return "mma";
  }
  return "?";
}

// Every lane of the warp arrives with its inputs in in[lane]; the last computes and releases the
// others. Returns with out[lane] valid.
WarpSlot& collective(int kind, int sub, unsigned mask) {
  ThreadState& s = me();
  Block& b = *t_exec->blk;
  WarpSlot& w = b.warps[size_t(s.t.warp)];
  if (mask != 0xffffffffu) fault("%s with mask 0x%08x: lemma's kernels use full warps only", collective_name(kind), mask);
  if (w.present != 32) fault("%s in a warp with %d live lanes (every lane must take part)", collective_name(kind), w.present);
  if (w.arrived == 0) {
    w.kind = kind;
    w.sub = sub;
  } else if (w.kind != kind || w.sub != sub) {
    fault("lanes of one warp meet at different collectives (%s and %s): divergence", collective_name(w.kind),
          collective_name(kind));
  }
  const unsigned gen = w.gen;
  TSAN_ONLY(if (kind == kSyncWarp) __tsan_release(&b.sync->warp[s.t.warp][gen & 1]);)
  if (++w.arrived == 32) {
    switch (kind) {
      case kShfl: do_shfl(w); break;
      case kBallot: {
        uint32_t m = 0;
        for (int l = 0; l < 32; ++l) m |= (w.in[l][0] != 0 ? 1u : 0u) << l;
        for (int l = 0; l < 32; ++l) w.out[l][0] = m;
        break;
      }
      case kSyncWarp: break;
      case kLdm: do_ldmatrix(w, false); break;
      case kLdmT: do_ldmatrix(w, true); break;
      case kMma: do_mma(w); break;
    }
    const int base = 32 * s.t.warp;
    for (int l = 0; l < 32; ++l)
      if (b.th[size_t(base + l)].state == kAtWarp) b.th[size_t(base + l)].state = kReady;
    w.arrived = 0;
    ++w.gen;
  } else {
    s.state = kAtWarp;
    block_running(false);
  }
  TSAN_ONLY(if (kind == kSyncWarp) __tsan_acquire(&b.sync->warp[s.t.warp][gen & 1]);)
  (void)gen;
  return w;
}

}  // namespace

float bit_cast_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint32_t bit_cast_u32(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

void fault(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fault_with(cudaErrorLaunchFailure, fmt, ap);
}

// ---- kernel-side API ------------------------------------------------------------------------------
int barrier(const void* where, int kind, int pred) {
  // emulate.h passes the call site as "file:line"; without one, the return address names it.
  const void* site = where != nullptr ? where : __builtin_return_address(0);
  ThreadState& s = me();
  Block& b = *t_exec->blk;
  if (b.live != b.n)
    fault("__syncthreads after %d thread(s) of the block exited (every thread must reach it)", b.n - b.live);
  if (b.bar_arrived == 0) {
    b.bar_site = site;
    b.bar_kind = kind;
    b.bar_acc = kind == 2 ? 1 : 0;
  } else if (site != b.bar_site || kind != b.bar_kind) {
    fault("threads of one block wait at different __syncthreads (divergent barrier)%s%s",
          where != nullptr ? "; this thread at " : "", where != nullptr ? static_cast<const char*>(where) : "");
  }
  const unsigned gen = b.bar_gen;
  if (kind == 1) b.bar_acc += pred != 0;
  else if (kind == 2) b.bar_acc &= pred != 0;
  else if (kind == 3) b.bar_acc |= pred != 0;
  TSAN_ONLY(__tsan_release(&b.sync->bar[gen & 1]);)
  if (++b.bar_arrived == b.live) {
    b.bar_result[gen & 1] = b.bar_acc;
    for (ThreadState& t : b.th)
      if (t.state == kAtBarrier) t.state = kReady;
    b.bar_arrived = 0;
    ++b.bar_gen;
  } else {
    s.state = kAtBarrier;
    block_running(false);
  }
  TSAN_ONLY(__tsan_acquire(&b.sync->bar[gen & 1]);)
  return b.bar_result[gen & 1];
}

uint64_t shfl(unsigned mask, uint64_t bits, int mode, int arg, int width) {
  if (width <= 0 || width > 32 || (width & (width - 1)) != 0) fault("shuffle width %d is not a power of two <= 32", width);
  ThreadState& s = me();
  WarpSlot& w0 = t_exec->blk->warps[size_t(s.t.warp)];
  uint32_t* in = w0.in[s.t.lane];
  in[0] = uint32_t(bits);
  in[1] = uint32_t(bits >> 32);
  in[2] = uint32_t(mode);
  in[3] = uint32_t(arg);
  in[4] = uint32_t(width);
  WarpSlot& w = collective(kShfl, mode * 64 + width, mask);
  return uint64_t(w.out[s.t.lane][0]) | (uint64_t(w.out[s.t.lane][1]) << 32);
}

unsigned ballot(unsigned mask, int pred) {
  ThreadState& s = me();
  t_exec->blk->warps[size_t(s.t.warp)].in[s.t.lane][0] = pred != 0;
  WarpSlot& w = collective(kBallot, 0, mask);
  return w.out[s.t.lane][0];
}

void syncwarp(unsigned mask) { collective(kSyncWarp, 0, mask); }

void mma(int kind, float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  ThreadState& s = me();
  uint32_t* in = t_exec->blk->warps[size_t(s.t.warp)].in[s.t.lane];
  for (int i = 0; i < 4; ++i) in[i] = bit_cast_u32(c[i]);
  for (int i = 0; i < 4; ++i) in[4 + i] = a[i];
  in[8] = b0;
  in[9] = b1;
  WarpSlot& w = collective(kMma, kind, 0xffffffffu);
  for (int i = 0; i < 4; ++i) c[i] = bit_cast_float(w.out[s.t.lane][i]);
}

void ldmatrix_x4(uint32_t (&r)[4], const void* row, bool trans) {
  ThreadState& s = me();
  check_aligned(row, 16, "ldmatrix row");
  uint32_t* in = t_exec->blk->warps[size_t(s.t.warp)].in[s.t.lane];
  TSAN_ONLY(__tsan_read_range(const_cast<void*>(row), 16);)
  std::memcpy(in, row, 16);  // this lane's row (8 b16 elements), read by this lane
  WarpSlot& w = collective(trans ? kLdmT : kLdm, 0, 0xffffffffu);
  for (int j = 0; j < 4; ++j) r[j] = w.out[s.t.lane][j];
}

void cp_async(void* smem, const void* gmem, int size, int n) {
  ThreadState& s = me();
  check_aligned(smem, size_t(size), "cp.async shared destination");
  if (n) check_aligned(gmem, size_t(size), "cp.async global source");
  TSAN_ONLY(__tsan_write_range(smem, size_t(size));)
  std::memset(smem, 0xff, size_t(size));  // undefined until the wait: reads before it see NaN
  s.open.push_back({static_cast<char*>(smem), static_cast<const char*>(gmem), n, size});
}

void cp_async_commit() {
  ThreadState& s = me();
  s.groups.push_back(std::move(s.open));
  s.open.clear();
}

void cp_async_wait(int keep) {
  ThreadState& s = me();
  while (int(s.groups.size()) > keep) {
    for (const AsyncCopy& c : s.groups.front()) {
      TSAN_ONLY(__tsan_write_range(c.dst, size_t(c.size));)
      TSAN_ONLY(if (c.n) __tsan_read_range(const_cast<char*>(c.src), size_t(c.n));)
      if (c.n) std::memcpy(c.dst, c.src, size_t(c.n));
      if (c.size > c.n) std::memset(c.dst + c.n, 0, size_t(c.size - c.n));
    }
    s.groups.pop_front();
  }
}

void* dynamic_smem() {
  me();
  Block& b = *t_exec->blk;
  if (b.dyn_bytes == 0) fault("the kernel reads dynamic shared memory but was launched with 0 bytes of it");
  return b.dyn;
}

int new_smem_slot() {
  static std::atomic<int> next{0};
  const int s = next++;
  g_smem_slots = std::max(g_smem_slots, s + 1);
  return s;
}

void* static_smem(int slot, size_t bytes, size_t align) {
  me();
  Block& b = *t_exec->blk;
  if (size_t(slot) >= b.statics.size()) b.statics.resize(size_t(slot) + 1, nullptr);
  void*& p = b.statics[size_t(slot)];
  if (p == nullptr) {
    b.static_bytes += bytes;
    const Limits& lim = limits();
    if (b.static_bytes > lim.smem_default)
      fault_code(cudaErrorInvalidValue, "%zu bytes of static shared memory: more than the %zu a block may declare",
                 b.static_bytes, lim.smem_default);
    if (b.static_bytes + b.dyn_bytes > lim.smem_optin)
      fault_code(cudaErrorInvalidValue,
                 "%zu bytes of static + %zu of dynamic shared memory: more than the %zu this device offers a block",
                 b.static_bytes, b.dyn_bytes, lim.smem_optin);
    if (posix_memalign(&p, std::max<size_t>(align, 16), bytes) != 0) std::abort();
    std::memset(p, 0xff, bytes);
    TSAN_ONLY(__tsan_release(&b.sync->statics);)
  }
  // The variable is made by whichever thread reaches its declaration first; on a GPU it exists
  // before the block starts, so every thread is ordered after its making (no race with the
  // allocation's own write).
  TSAN_ONLY(__tsan_acquire(&b.sync->statics);)
  return p;
}

void note_atomic() { me(); }

// ---- launches ------------------------------------------------------------------------------------
void launch(const KernelLaunch& k, std::function<void()> body) {
  const Limits& lim = limits();
  const dim3 g = k.grid, bl = k.block;
  const uint64_t threads = uint64_t(bl.x) * bl.y * bl.z;
  const char* bad = nullptr;
  char why[200];
  if (bl.x == 0 || bl.y == 0 || bl.z == 0 || g.x == 0 || g.y == 0 || g.z == 0) bad = "a zero grid or block dimension";
  else if (threads > 1024 || bl.x > 1024 || bl.y > 1024 || bl.z > 64) bad = "more than 1024 threads per block (or block.z > 64)";
  else if (g.x > 2147483647u || g.y > 65535u || g.z > 65535u) bad = "grid.x > 2^31 - 1 or grid.y / grid.z > 65535";
  if (bad != nullptr) {
    std::snprintf(why, sizeof why, "%s: invalid configuration (%s): grid (%u,%u,%u), block (%u,%u,%u)", k.name, bad,
                  g.x, g.y, g.z, bl.x, bl.y, bl.z);
    std::fprintf(stderr, "lemma emulated device: launch refused: %s\n", why);
    set_last_error(cudaErrorInvalidConfiguration);
    return;
  }
  const size_t smem_limit = kernel_dynamic_smem_limit(k.fn);
  if (k.smem > smem_limit) {
    std::fprintf(stderr,
                 "lemma emulated device: launch refused: %s asks for %zu bytes of dynamic shared memory; the limit is "
                 "%zu (%s)\n",
                 k.name, k.smem, smem_limit,
                 smem_limit == lim.smem_default ? "raise it with cudaFuncSetAttribute" : "the kernel's attribute");
    set_last_error(cudaErrorInvalidValue);
    return;
  }
  if (device_faulted()) return;  // a broken context runs nothing (the next call reports it)
  static std::atomic<uint64_t> seq{0};
  enqueue_kernel(KernelRun{k, std::move(body), smem_limit, seq++});
}

void run_kernel(const KernelRun& r) {
  if (device_faulted()) return;
  Exec& ex = exec();
  Counters& cnt = counters();
  ++cnt.launches;
  TSAN_ONLY(if (ex.tsan_sched == nullptr) ex.tsan_sched = __tsan_get_current_fiber();)
  Block b;
  b.run = &r;
  b.ex = &ex;
  b.n = int(r.k.block.x * r.k.block.y * r.k.block.z);
  b.nw = (b.n + 31) / 32;
  b.th.resize(size_t(b.n));
  b.warps.resize(size_t(b.nw));
  b.dyn_bytes = r.k.smem;
#if !defined(LEMMA_EMU_TSAN)
  void* dyn = nullptr;
  if (b.dyn_bytes && posix_memalign(&dyn, 128, b.dyn_bytes) != 0) std::abort();
  b.dyn = static_cast<char*>(dyn);
#endif
#if defined(LEMMA_EMU_TSAN)
  const int sets = 3;
#else
  const int sets = 1;
#endif
  for (int set = 0; set < sets; ++set)
    while (ex.fibers[set].size() < size_t(b.n)) ex.fibers[set].emplace_back(make_fiber(config().stack_bytes));
  const dim3 g = r.k.grid;
  const uint64_t nblocks = uint64_t(g.x) * g.y * g.z;
  // Shuffled order: i -> (a i + c) mod n with gcd(a, n) = 1, a permutation of the blocks.
  uint64_t rng = config().seed + r.seq, a = 1, c = 0;
  if (config().block_order == kShuffle && nblocks > 1) {
    a = splitmix(rng) % nblocks | 1;
    while (std::gcd(a, nblocks) != 1) a += 2;
    c = splitmix(rng) % nblocks;
  }
  ex.blk = &b;
  for (uint64_t i = 0; i < nblocks && !b.faulted && !device_faulted(); ++i) {
    uint64_t lin = i;
    if (config().block_order == kReverse) lin = nblocks - 1 - i;
    else if (config().block_order == kShuffle) lin = uint64_t((unsigned __int128)a * i % nblocks + c) % nblocks;
    b.bid = make_uint3(unsigned(lin % g.x), unsigned(lin / g.x % g.y), unsigned(lin / (uint64_t(g.x) * g.y)));
    run_block(b, ex, int(i % uint64_t(sets)));
    ++cnt.blocks;
    cnt.threads += uint64_t(b.n);
  }
  ex.blk = nullptr;
  cnt.switches += ex.switches;
  ex.switches = 0;
  TSAN_ONLY(__tsan_acquire(&ex.launch_end);)
#if !defined(LEMMA_EMU_TSAN)
  std::free(b.dyn);
#endif
}

}  // namespace emu
