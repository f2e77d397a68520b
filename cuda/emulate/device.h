// The emulated CUDA device, kernel side: what a kernel compiled by the host C++ compiler calls
// instead of the hardware (thread indices, barriers, warp collectives, tensor-core fragments,
// asynchronous copies, shared memory, launches). Implemented in device.cc; the CUDA runtime API
// the host code calls is in runtime.cc. Included through emulate.h, never directly.
//
// Model: one fiber per CUDA thread; the blocks of a launch run one after another on the stream's
// worker thread; the 32 lanes of a warp meet at every collective (shuffle, ballot, __syncwarp,
// ldmatrix, mma), where the last lane to arrive computes the result for the whole warp from the
// PTX ISA fragment tables. Everything a real GPU leaves undefined and lemma must not rely on is
// made visible: shared memory and device allocations start as 0xFF bytes (NaN), cp.async
// destinations read as 0xFF until the issuing thread waits for them, barriers reached from
// different places or by part of a block, warps that diverge at a collective, misaligned
// operands, unrounded TF32 operands. A violation is a device fault: the launch stops, the fault
// is printed to stderr, and every later runtime call returns it (a sticky error, as on a GPU).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

namespace emu {

// One in-flight cp.async (the copy happens at the issuing thread's wait).
struct AsyncCopy {
  char* dst;
  const char* src;
  int n;     // bytes read from src (0: zero fill)
  int size;  // bytes written to dst
};

// A CUDA thread. Kernels read tid / bid / bdim / gdim through the built-in macros.
struct Thread {
  uint3 tid;
  uint3 bid;
  dim3 bdim, gdim;
  int index = 0;  // linear thread index in the block
  int lane = 0, warp = 0;
};

// The CUDA thread running on this OS thread (null outside a kernel).
extern thread_local Thread* t_cur;

[[noreturn]] void fault(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
inline Thread* cur() {
  Thread* t = t_cur;
  if (t == nullptr) fault("a device built-in was used outside a kernel");
  return t;
}

// ---- block-wide barriers -------------------------------------------------------------------
// `site` identifies the call site (every thread of the block must arrive at the same one).
// kind: 0 plain, 1 count, 2 and, 3 or; returns the reduction over the block's predicates.
int barrier(const void* site, int kind, int pred);

// ---- warp collectives ----------------------------------------------------------------------
enum ShflMode { kShflIdx = 0, kShflUp = 1, kShflDown = 2, kShflXor = 3 };
uint64_t shfl(unsigned mask, uint64_t bits, int mode, int arg, int width);
unsigned ballot(unsigned mask, int pred);
void syncwarp(unsigned mask);
enum MmaKind { kMmaF16 = 0, kMmaBF16 = 1, kMmaTF32 = 2 };
void mma(int kind, float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
void ldmatrix_x4(uint32_t (&r)[4], const void* row, bool trans);

// ---- asynchronous copies (cp.async) ----------------------------------------------------------
void cp_async(void* smem, const void* gmem, int size, int n);
void cp_async_commit();
void cp_async_wait(int keep);

// ---- shared memory -------------------------------------------------------------------------
void* dynamic_smem();
int new_smem_slot();
void* static_smem(int slot, size_t bytes, size_t align);
template <class T>
using ptr_t = T*;

// ---- atomics (counted: a launch that used none can be checked for order independence) -------
void note_atomic();

// ---- launches ------------------------------------------------------------------------------
struct KernelLaunch {
  const void* fn;  // the kernel's address: the key of cudaFuncSetAttribute
  const char* name;
  const char* file;
  int line;
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;
};
// Validates the configuration (the device's limits), then queues body() to run once per thread
// of every block on the stream. Configuration errors become the thread's last error, as a
// failed <<<>>> launch does.
void launch(const KernelLaunch& k, std::function<void()> body);

template <class... P>
class Launch {
 public:
  Launch(void (*fn)(P...), const char* name, const char* file, int line, dim3 grid, dim3 block,
         size_t smem = 0, cudaStream_t stream = nullptr)
      : fn_(fn), k_{reinterpret_cast<const void*>(fn), name, file, line, grid, block, smem, stream} {}
  template <class... A>
  void operator()(A&&... a) const {
    static_assert(sizeof...(A) == sizeof...(P), "kernel launched with the wrong number of arguments");
    // Arguments are converted to the parameter types and copied, as a launch does.
    auto args = std::make_shared<std::tuple<std::decay_t<P>...>>(std::forward<A>(a)...);
    void (*fn)(P...) = fn_;
    launch(k_, [fn, args] { std::apply(fn, *args); });
  }

 private:
  void (*fn_)(P...);
  KernelLaunch k_;
};
}  // namespace emu
