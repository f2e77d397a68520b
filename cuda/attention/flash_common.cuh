// Shared pieces of the FlashAttention-2 kernels (flash_fwd.cuh, flash_bwd.cuh):
//   FlashParams   the one parameter block, passed by value;
//   Policy*       one per precision: element type, the warp MMA, operand rounding;
//   load_rows_async / load_a / load_b2 / load_b2_trans / load_a_trans / c_to_a
//                 tile and fragment movers, so the kernels read like the math.
//
// Shared-memory tiles are row-major with a pitch of (row bytes + 16): the 16-byte pad puts the
// 8 rows of every ldmatrix (and the scalar fp32 transposed reads) in distinct banks.
//
// One MMA "k-step" always spans 32 bytes of a row: 16 elements of fp16/bf16 (m16n8k16) or 8 of
// fp32 (m16n8k8). ldmatrix treats 32-bit data as pairs of b16, which yields exactly the TF32 A
// and B fragments for row-major (non-transposed) operands, so load_a / load_b2 are the same
// code for every precision.
//
// Exact fp32 ('fp32' precision) does not use these: see flash_f32.cuh.
//
// Transposed operands in fp32 (load_b2_trans, load_a_trans, c_to_a) are read with scalar loads
// and a permuted k order: MMA k index t <-> element 2t, t+4 <-> 2t+1 of each 8-wide k block.
// A k permutation applied to both operands leaves the product unchanged; the permutation makes
// the C fragment of one product (c0 c1 = columns 2t, 2t+1) usable directly as the A fragment
// of the next without shuffles. Pairs are always (c_to_a or load_a_trans) x load_b2_trans, or
// load_a x load_b2 (natural order): never mixed.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "common/launch.cuh"
#include "common/mma.cuh"

namespace lemma::cuda {

struct FlashParams {
  // Inputs (element type = the policy's), contiguous: q/out/dout/dq [B,Hq,Nq,D], k/v/dk/dv [B,Hkv,Nk,D].
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  const void* o = nullptr;     // backward: the forward output
  const void* dout = nullptr;  // backward
  void* out = nullptr;         // forward output
  float* lse = nullptr;        // [B,Hq,Nq]: written by forward, read by backward (natural log)
  const float* dsum = nullptr; // backward: D = rowsum(dO . O), [B,Hq,Nq]
  void* dq = nullptr;
  void* dk = nullptr;
  void* dv = nullptr;
  float* dq_accum = nullptr;   // backward, atomic mode: fp32 [B,Hq,Nq,D], zeroed, unscaled
  int B = 0, Hq = 0, Hkv = 0, group = 1, Nq = 0, Nk = 0;
  float scale = 0;       // softmax scale
  float scale_log2 = 0;  // scale * log2(e): exponentials are exp2
  int causal = 0;        // bottom-right: query i sees key j iff j <= i + (Nk - Nq)
  int atomic_dq = 0;     // backward: accumulate dQ with atomics in the dK/dV kernel
};

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
// Largest dynamic shared memory per block on the smallest target (A100: 163 KB opt-in).
constexpr int kMaxSmemBytes = 166912;
// The opt-in limit of sm_86 / sm_89 / sm_120 (RTX 30/40/50, A10, L4, L40S): 99 KB. Kernels whose
// default tiles need more have a small-tile variant (template parameter kSmall) that fits it;
// the launchers pick one at run time from the device's limit (flash_launch.cuh).
constexpr int kSmallSmemBytes = 101376;

// The tile parameter v halved (not below lo) until fixed + v * per bytes fit kSmallSmemBytes:
// how the small variants derive their tiles from the default ones.
constexpr int halve_to_fit(int v, int lo, int fixed, int per) {
  while (v > lo && fixed + v * per > kSmallSmemBytes) v /= 2;
  return v;
}
constexpr unsigned kFullMask = 0xffffffffu;

// ---- precisions -------------------------------------------------------------------------------
struct PolicyF16 {
  using Elem = __half;
  static constexpr int kElemBytes = 2;
  static constexpr int kK = 16;  // MMA k per step
  __device__ static __forceinline__ void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    mma_m16n8k16_f16(c, a, b0, b1);
  }
  __device__ static __forceinline__ uint32_t fix(uint32_t x) { return x; }
  __device__ static __forceinline__ uint32_t pack(float lo, float hi) { return pack_half2(lo, hi); }
  __device__ static __forceinline__ void store2(void* p, float x, float y) {
    *reinterpret_cast<__half2*>(p) = __floats2half2_rn(x, y);
  }
  __device__ static __forceinline__ float to_float(Elem x) { return __half2float(x); }
  __device__ static __forceinline__ float op(float x) { return x; }  // a product operand's value
};

struct PolicyBF16 {
  using Elem = __nv_bfloat16;
  static constexpr int kElemBytes = 2;
  static constexpr int kK = 16;
  __device__ static __forceinline__ void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    mma_m16n8k16_bf16(c, a, b0, b1);
  }
  __device__ static __forceinline__ uint32_t fix(uint32_t x) { return x; }
  __device__ static __forceinline__ uint32_t pack(float lo, float hi) { return pack_bf162(lo, hi); }
  __device__ static __forceinline__ void store2(void* p, float x, float y) {
    *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(x, y);
  }
  __device__ static __forceinline__ float to_float(Elem x) { return __bfloat162float(x); }
  __device__ static __forceinline__ float op(float x) { return x; }
};

// fp32 storage, TF32 tensor cores; every operand rounded to nearest TF32 on its way in.
struct PolicyTF32 {
  using Elem = float;
  static constexpr int kElemBytes = 4;
  static constexpr int kK = 8;
  __device__ static __forceinline__ void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    mma_m16n8k8_tf32(c, a, b0, b1);
  }
  __device__ static __forceinline__ uint32_t fix(uint32_t x) { return f32_to_tf32(__uint_as_float(x)); }
  __device__ static __forceinline__ void store2(void* p, float x, float y) {
    *reinterpret_cast<float2*>(p) = make_float2(x, y);
  }
  __device__ static __forceinline__ float to_float(Elem x) { return x; }
  __device__ static __forceinline__ float op(float x) { return __uint_as_float(f32_to_tf32(x)); }
};

// Exact fp32 (flash_f32.cuh: CUDA-core FMAs, no MMA): for the shared dQ cast kernel only.
struct PolicyF32 {
  using Elem = float;
  static constexpr int kElemBytes = 4;
  __device__ static __forceinline__ float to_float(Elem x) { return x; }
  __device__ static __forceinline__ float op(float x) { return x; }
};

// ---- tiles --------------------------------------------------------------------------------------
// Rows [row0, row0 + kRows) of a row-major global array (kRowBytes per row, nrows rows) into
// shared memory with pitch kPitch. Rows at or past nrows are zero-filled (never read).
template <int kRows, int kRowBytes, int kPitch, int kThreads>
__device__ __forceinline__ void load_rows_async(char* smem, const char* g, int row0, int nrows) {
  static_assert(kRowBytes % 16 == 0, "rows must be whole 16-byte chunks");
  constexpr int kChunks = kRowBytes / 16;
  constexpr int kTotal = kRows * kChunks;
  constexpr int kIters = (kTotal + kThreads - 1) / kThreads;
#pragma unroll
  for (int it = 0; it < kIters; ++it) {
    const int idx = static_cast<int>(threadIdx.x) + it * kThreads;
    if (kTotal % kThreads == 0 || idx < kTotal) {
      const int r = idx / kChunks, c = idx - r * kChunks;
      const bool ok = row0 + r < nrows;
      const char* src = g + static_cast<int64_t>(ok ? row0 + r : 0) * kRowBytes + c * 16;
      cp_async_16(smem + r * kPitch + c * 16, src, ok);
    }
  }
}

// kRows fp32 values (lse or D) starting at row0 into shared memory; zero past nrows.
template <int kRows, int kThreads>
__device__ __forceinline__ void load_vec_async(float* smem, const float* g, int row0, int nrows) {
  static_assert(kRows <= kThreads, "one element per thread");
  const int r = static_cast<int>(threadIdx.x);
  if (r < kRows) {
    const bool ok = row0 + r < nrows;
    cp_async_4(smem + r, g + (ok ? row0 + r : 0), ok);
  }
}

template <int N>
__device__ __forceinline__ void zero_acc(float (&c)[N][4]) {
#pragma unroll
  for (int i = 0; i < N; ++i) c[i][0] = c[i][1] = c[i][2] = c[i][3] = 0.f;
}

// ---- fragments (all lanes of the warp take part) -----------------------------------------------
// A (16 rows x one k-step) from a row-major tile: rows r0..r0+15, bytes kb..kb+31 of each row.
template <class P>
__device__ __forceinline__ void load_a(uint32_t (&a)[4], const char* s, int pitch, int r0, int kb) {
  const int lane = threadIdx.x & 31, mi = lane >> 3, ri = lane & 7;
  ldmatrix_x4(a, s + (r0 + ri + (mi & 1) * 8) * pitch + kb + (mi >> 1) * 16);
#pragma unroll
  for (int i = 0; i < 4; ++i) a[i] = P::fix(a[i]);
}

// B for two n8 tiles when the tile's rows are the n index (B = tile^T): rows n0..n0+15,
// bytes kb..kb+31. b[0], b[1]: tile n0; b[2], b[3]: tile n0 + 8.
template <class P>
__device__ __forceinline__ void load_b2(uint32_t (&b)[4], const char* s, int pitch, int n0, int kb) {
  const int lane = threadIdx.x & 31, mi = lane >> 3, ri = lane & 7;
  ldmatrix_x4(b, s + (n0 + ri + (mi >> 1) * 8) * pitch + kb + (mi & 1) * 16);
#pragma unroll
  for (int i = 0; i < 4; ++i) b[i] = P::fix(b[i]);
}

// B for two n8 tiles when the tile's rows are the k index (B = tile): rows k0..k0+kK-1,
// element columns n0..n0+15. b[0], b[1]: columns n0..n0+7; b[2], b[3]: n0+8..n0+15.
template <class P>
__device__ __forceinline__ void load_b2_trans(uint32_t (&b)[4], const char* s, int pitch, int k0, int n0) {
  const int lane = threadIdx.x & 31;
  if constexpr (P::kElemBytes == 2) {
    const int mi = lane >> 3, ri = lane & 7;
    ldmatrix_x4_trans(b, s + (k0 + ri + (mi & 1) * 8) * pitch + (n0 + (mi >> 1) * 8) * 2);
  } else {
    const int g = lane >> 2, t = lane & 3;
    const float* r0 = reinterpret_cast<const float*>(s + (k0 + 2 * t) * pitch);
    const float* r1 = reinterpret_cast<const float*>(s + (k0 + 2 * t + 1) * pitch);
    b[0] = P::fix(__float_as_uint(r0[n0 + g]));
    b[1] = P::fix(__float_as_uint(r1[n0 + g]));
    b[2] = P::fix(__float_as_uint(r0[n0 + 8 + g]));
    b[3] = P::fix(__float_as_uint(r1[n0 + 8 + g]));
  }
}

// A (16 x one k-step) when the tile is stored transposed: tile rows are the k index
// (k0..k0+kK-1), element columns the m index (m0..m0+15).
template <class P>
__device__ __forceinline__ void load_a_trans(uint32_t (&a)[4], const char* s, int pitch, int m0, int k0) {
  const int lane = threadIdx.x & 31;
  if constexpr (P::kElemBytes == 2) {
    const int mi = lane >> 3, ri = lane & 7;
    ldmatrix_x4_trans(a, s + (k0 + ri + (mi >> 1) * 8) * pitch + (m0 + (mi & 1) * 8) * 2);
  } else {
    const int g = lane >> 2, t = lane & 3;
    const float* r0 = reinterpret_cast<const float*>(s + (k0 + 2 * t) * pitch);
    const float* r1 = reinterpret_cast<const float*>(s + (k0 + 2 * t + 1) * pitch);
    a[0] = P::fix(__float_as_uint(r0[m0 + g]));
    a[1] = P::fix(__float_as_uint(r0[m0 + 8 + g]));
    a[2] = P::fix(__float_as_uint(r1[m0 + g]));
    a[3] = P::fix(__float_as_uint(r1[m0 + 8 + g]));
  }
}

// A for k-step kk from an accumulator whose n8 tiles run along k (the S -> P -> P V reuse).
template <class P, int N>
__device__ __forceinline__ void c_to_a(uint32_t (&a)[4], const float (&c)[N][4], int kk) {
  if constexpr (P::kElemBytes == 2) {
    a[0] = P::pack(c[2 * kk][0], c[2 * kk][1]);
    a[1] = P::pack(c[2 * kk][2], c[2 * kk][3]);
    a[2] = P::pack(c[2 * kk + 1][0], c[2 * kk + 1][1]);
    a[3] = P::pack(c[2 * kk + 1][2], c[2 * kk + 1][3]);
  } else {
    a[0] = P::fix(__float_as_uint(c[kk][0]));
    a[1] = P::fix(__float_as_uint(c[kk][2]));
    a[2] = P::fix(__float_as_uint(c[kk][1]));
    a[3] = P::fix(__float_as_uint(c[kk][3]));
  }
}

// Stores a warp's 16-row accumulator (N n8 tiles: columns col0 + 8 nt + 2t, +1) times `mul`
// into rows row0 + g, row0 + g + 8 of a row-major [nrows][ld] array, skipping rows >= nrows.
template <class P, int N>
__device__ __forceinline__ void store_acc_rows(char* g_base, int ld, int row0, int nrows, int col0,
                                               const float (&c)[N][4], float mul0, float mul1) {
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int row = row0 + g + 8 * h;
    if (row < nrows) {
      const float mul = h ? mul1 : mul0;
      char* rp = g_base + static_cast<int64_t>(row) * ld * P::kElemBytes;
#pragma unroll
      for (int nt = 0; nt < N; ++nt) {
        const int col = col0 + nt * 8 + 2 * t;
        P::store2(rp + col * P::kElemBytes, c[nt][2 * h] * mul, c[nt][2 * h + 1] * mul);
      }
    }
  }
}

}  // namespace lemma::cuda
