// Compatibility layer of the emulated CUDA device: force-included (-include) into every .cu file
// when lemma is built with LEMMA_CUDA=EMULATE, so the unmodified kernel sources compile with the
// host C++ compiler. It supplies what nvcc would: the qualifiers, the built-in variables, the
// device intrinsics lemma's kernels use, and the launch / shared-memory macros of
// common/launch.cuh. The toolkit's own headers (cuda_runtime.h, cuda_fp16.h, cuda_bf16.h) give
// the types; runtime.cc implements the runtime API they declare.
#pragma once
#ifndef LEMMA_CUDA_EMULATE
#error "emulate.h is only for the LEMMA_CUDA=EMULATE build"
#endif

// Qualifiers first: the toolkit's host_defines.h keeps a definition it finds.
#define __global__
#define __device__
#define __host__
#define __constant__
// Shared memory is declared with LEMMA_SHARED / LEMMA_DYNAMIC_SMEM (common/launch.cuh), which
// the emulator sizes, poisons and bounds per block; a bare __shared__ would be one static
// variable for every block and thread.
#define __shared__ use_LEMMA_SHARED_or_LEMMA_DYNAMIC_SMEM_from_common_launch_cuh

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "emulate/device.h"

#undef __forceinline__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __noinline__ __attribute__((noinline))

// ---- built-in variables ------------------------------------------------------------------------
#define threadIdx (::emu::cur()->tid)
#define blockIdx (::emu::cur()->bid)
#define blockDim (::emu::cur()->bdim)
#define gridDim (::emu::cur()->gdim)
constexpr int warpSize = 32;

// ---- barriers ----------------------------------------------------------------------------------
// Macros, so that emu::barrier gets its call site as "file:line" (one string literal per place in
// the source). A return address would not do: the host compiler duplicates a barrier call along
// paths it threads apart (e.g. threads that ran a loop over threadIdx and threads that skipped
// it), and the copies would count as different barriers.
#define LEMMA_EMU_STR2(x) #x
#define LEMMA_EMU_STR(x) LEMMA_EMU_STR2(x)
#define LEMMA_EMU_SITE (__FILE__ ":" LEMMA_EMU_STR(__LINE__))
#define __syncthreads() ::emu::barrier(LEMMA_EMU_SITE, 0, 0)
#define __syncthreads_count(p) ::emu::barrier(LEMMA_EMU_SITE, 1, (p))
#define __syncthreads_and(p) ::emu::barrier(LEMMA_EMU_SITE, 2, (p))
#define __syncthreads_or(p) ::emu::barrier(LEMMA_EMU_SITE, 3, (p))
inline void __syncwarp(unsigned mask = 0xffffffffu) { ::emu::syncwarp(mask); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// ---- warp collectives ------------------------------------------------------------------------
namespace emu {
template <class T>
inline T shfl_t(unsigned mask, T v, int mode, int arg, int width) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffles move up to 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = shfl(mask, bits, mode, arg, width);
  T r;
  std::memcpy(&r, &bits, sizeof(T));
  return r;
}
}  // namespace emu
template <class T>
inline T __shfl_sync(unsigned m, T v, int src, int w = 32) { return ::emu::shfl_t(m, v, ::emu::kShflIdx, src, w); }
template <class T>
inline T __shfl_up_sync(unsigned m, T v, unsigned d, int w = 32) { return ::emu::shfl_t(m, v, ::emu::kShflUp, int(d), w); }
template <class T>
inline T __shfl_down_sync(unsigned m, T v, unsigned d, int w = 32) { return ::emu::shfl_t(m, v, ::emu::kShflDown, int(d), w); }
template <class T>
inline T __shfl_xor_sync(unsigned m, T v, int lm, int w = 32) { return ::emu::shfl_t(m, v, ::emu::kShflXor, lm, w); }
inline unsigned __ballot_sync(unsigned m, int pred) { return ::emu::ballot(m, pred); }
inline int __all_sync(unsigned m, int pred) { return ::emu::ballot(m, pred) == m; }
inline int __any_sync(unsigned m, int pred) { return ::emu::ballot(m, pred) != 0; }
inline unsigned __activemask() { return 0xffffffffu; }

// ---- atomics (real atomics: streams run on different OS threads) ------------------------------
namespace emu {
template <class T, class F>
inline T atomic_update(T* p, F f) {
  note_atomic();
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "atomics on 4- and 8-byte words");
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  U* u = reinterpret_cast<U*>(p);
  U old = __atomic_load_n(u, __ATOMIC_RELAXED);
  for (;;) {
    T o;
    std::memcpy(&o, &old, sizeof(T));
    const T n = f(o);
    U nb;
    std::memcpy(&nb, &n, sizeof(T));
    if (__atomic_compare_exchange_n(u, &old, nb, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return o;
  }
}
}  // namespace emu
inline float atomicAdd(float* p, float v) { return ::emu::atomic_update(p, [v](float o) { return o + v; }); }
inline double atomicAdd(double* p, double v) { return ::emu::atomic_update(p, [v](double o) { return o + v; }); }
inline int atomicAdd(int* p, int v) { ::emu::note_atomic(); return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { ::emu::note_atomic(); return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  ::emu::note_atomic();
  return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
inline int atomicMax(int* p, int v) { return ::emu::atomic_update(p, [v](int o) { return o > v ? o : v; }); }
inline int atomicMin(int* p, int v) { return ::emu::atomic_update(p, [v](int o) { return o < v ? o : v; }); }
inline int atomicExch(int* p, int v) { ::emu::note_atomic(); return __atomic_exchange_n(p, v, __ATOMIC_RELAXED); }
inline int atomicCAS(int* p, int cmp, int v) {
  ::emu::note_atomic();
  __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return cmp;
}

// ---- bit casts and integer intrinsics ---------------------------------------------------------
namespace emu {
template <class To, class From>
inline To bit_cast(From f) {
  static_assert(sizeof(To) == sizeof(From), "same size");
  To t;
  std::memcpy(&t, &f, sizeof(To));
  return t;
}
}  // namespace emu
inline float __int_as_float(int x) { return ::emu::bit_cast<float>(x); }
inline float __uint_as_float(unsigned x) { return ::emu::bit_cast<float>(x); }
inline int __float_as_int(float x) { return ::emu::bit_cast<int>(x); }
inline unsigned __float_as_uint(float x) { return ::emu::bit_cast<unsigned>(x); }
inline double __longlong_as_double(long long x) { return ::emu::bit_cast<double>(x); }
inline long long __double_as_longlong(double x) { return ::emu::bit_cast<long long>(x); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline unsigned __brev(unsigned x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
  x = ((x >> 8) & 0x00ff00ffu) | ((x & 0x00ff00ffu) << 8);
  return (x >> 16) | (x << 16);
}
template <class T>
inline T __ldg(const T* p) { return *p; }
inline size_t __cvta_generic_to_shared(const void* p) { return reinterpret_cast<size_t>(p); }

// ---- math: the host's correctly rounded (or nearly) functions stand in for the GPU's ----------
// (the fast-math approximations of a real GPU are not modelled: see NOTES.md).
inline float __expf(float x) { return std::exp(x); }
inline float __exp2f(float x) { return std::exp2(x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float saturatef(float x) { return x < 0.f ? 0.f : (x > 1.f ? 1.f : x); }

// CUDA's min / max overloads for the integer types (the float ones are fminf / fmaxf).
#define LEMMA_EMU_MINMAX(T)                                 \
  inline T min(T a, T b) { return b < a ? b : a; }         \
  inline T max(T a, T b) { return a < b ? b : a; }
LEMMA_EMU_MINMAX(int)
LEMMA_EMU_MINMAX(unsigned)
LEMMA_EMU_MINMAX(long)
LEMMA_EMU_MINMAX(unsigned long)
LEMMA_EMU_MINMAX(long long)
LEMMA_EMU_MINMAX(unsigned long long)
LEMMA_EMU_MINMAX(float)
LEMMA_EMU_MINMAX(double)
#undef LEMMA_EMU_MINMAX
