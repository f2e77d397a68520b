// Attention CPU microkernels, written once as templates over a vector type V (core/simd.h) and
// compiled once per ISA by attention_cpu_{scalar,avx2,avx512}.cc, each in its own namespace.
// attention_cpu.cc (generic code) drives them through the Kernels table below.
//
// Layouts (fp32): a query tile is kLanes = 64 queries. "Lanes" arrays are [rows][64]: row j is
// a key of the block, lane i a query of the tile, so per-query softmax statistics are plain
// vertical SIMD ops over rows (no horizontal reductions anywhere).
//   Qt, dOt: the query tile packed transposed, [D][64], lanes past Nq zero.
//   St/Pt, dPt/dSt: [Bc][64] (flash) or [Nk][64] (one materialised strip).
// Two microkernels cover every product:
//   gemm_lanes (A): C[j][0..64) = sum_d X[j*ldx + d] * Yt[d][0..64)
//     X row-major (K or V rows: one scalar broadcast per row and d), Yt packed [D][64].
//     St = K_J Q_I^T and dPt = V_J dO_I^T.
//   gemm_rows (B): C[r][0..D) (= or +=, rows optionally pre-scaled)
//                  sum_k W[r*sr + k*sk] * Z[k][0..D)
//     W addressed by two strides (scalar broadcasts), Z row-major (ldz), D tail by masked vectors.
//     O += Pt^T V (r = i), dV += Pt dO, dK += dSt Q (r = j), dQ += dSt^T K (r = i).
// Register tiles: AVX-512 6 rows x 4 zmm (24 accumulators), AVX2 6 x 2 ymm, scalar 4 x 4.
// Both walk D in chunks of 64 (outermost) so the streamed operand chunk (Yt or Z, 16 KiB) stays
// in L1 across all row groups; in isolation (L1-hot) A runs at ~98 % and B at ~93 % of the FMA
// peak on AVX-512, and the whole forward at ~75 % (1 thread, D = 64/128, N = 2048).
// Masking convention (bottom-right causal): lane i of row j is masked iff i < mask_base + j,
// where mask_base = j0 - (Nk - Nq) - i0; a huge negative mask_base means no mask. On the
// straddling (diagonal) blocks both kernels skip what is masked: A the all-masked lane vectors,
// B the all-masked k range of each row group, so causal costs what its halved flop count says.
//
// This file has two parts: the ISA-neutral Kernels table and declarations (included by
// attention_cpu.cc without LEMMA_SIMD_NS), and the kernels themselves (only with LEMMA_SIMD_NS).
// Tested by: test/native/attention_cpu_test.cc. Benchmarked by: bench/native/attention_bench.cc.

#ifndef LEMMA_ATTENTION_CPU_KERNELS_SHARED
#define LEMMA_ATTENTION_CPU_KERNELS_SHARED
#include <cstdint>

namespace lemma {
namespace attn_cpu {

constexpr int kLanes = 64;    // queries per tile (Br)
constexpr int kLanes16 = 16;  // query rows per tile of the decode (row) path when they are few
constexpr int64_t kNoMask = -(int64_t{1} << 60);

struct Kernels {
  // St = K_J Q_I^T: C [rows][64] = X [rows x D] (row stride ldx) times Yt [D][64].
  // Vectors of C whose lanes are all masked (mask_base) may be left unwritten: the softmax and
  // probs steps overwrite masked lanes.
  void (*gemm_lanes)(const float* X, int64_t ldx, int rows, const float* Yt, int D, float* C,
                     int64_t mask_base);
  // C [rows][D] (row stride ldc): accumulate ? C * (rowscale ? rowscale[r] : 1) : 0, then
  // += sum_{k < K} W[r*sr + k*sk] * Z[k*ldz + 0..D).
  // With a lanes-array W ((sr, sk) = (1, 64) or (64, 1)), terms whose W entry is masked under
  // mask_base are known to be 0 and skipped (only straddling causal blocks have any).
  void (*gemm_rows)(const float* W, int64_t sr, int64_t sk, int rows, int K, const float* Z,
                    int64_t ldz, int D, float* C, int64_t ldc, const float* rowscale,
                    int accumulate, int64_t mask_base);
  // One online-softmax step on a [rows][64] score tile (base-2 scores): masks it, updates the
  // running max m[64] and sum l[64], writes corr[64] = 2^(m_old - m_new) and turns St into
  // Pt = 2^(St - m_new) (rows whose lanes are all masked stay 0).
  void (*softmax_block)(float* St, int rows, int64_t mask_base, float* m, float* l,
                        float* corr);
  // Backward elementwise step: St -> Pt = 2^(St - L2) (masked -> 0),
  // dPt -> dSt = ds_scale * Pt (dPt - Dv) (ds_scale = the softmax scale, which dQ and dK share).
  void (*probs_block)(float* St, float* dPt, int rows, int64_t mask_base, const float* L2,
                      const float* Dv, float ds_scale);
  // O rows i < nq (stride ldo) /= l[i] (l == 0 -> 0); lse[i] = ln2 (m[i] + log2 l[i]) or +inf.
  void (*finalize_rows)(float* O, int64_t ldo, int nq, int D, const float* m, const float* l,
                        float* lse);
  // Test hook: y[i] = exp2(x[i]) with this ISA's vector exp2 (n a multiple of 64).
  void (*exp2_array)(const float* x, float* y, int64_t n);
  // The three lanes kernels above on 16-lane tiles ([rows][16] arrays, Yt [D][16]): the row
  // path's tiles when a kv group has at most 16 query rows.
  void (*gemm_lanes16)(const float* X, int64_t ldx, int rows, const float* Yt, int D, float* C,
                       int64_t mask_base);
  void (*softmax_block16)(float* St, int rows, int64_t mask_base, float* m, float* l,
                          float* corr);
  void (*probs_block16)(float* St, float* dPt, int rows, int64_t mask_base, const float* L2,
                        const float* Dv, float ds_scale);
  // One query row's scores, for a tile holding a single row: C[j * ldc] = sum_d x[d] K[j*ldk + d]
  // for j < rows (the other lanes of C untouched). W keys at a time (W = the vector width): W
  // accumulators over the D chunks, one K load per FMA, then one transpose_sum; about 3x fewer
  // instructions than gemm_lanes16 spends on a 16-lane tile with one live lane.
  void (*gemm_dot1)(const float* K, int64_t ldk, int rows, const float* x, int D, float* C,
                    int64_t ldc);
};

}  // namespace attn_cpu

namespace scalar { const attn_cpu::Kernels& attention_kernels(); }
namespace avx2 { const attn_cpu::Kernels& attention_kernels(); }
namespace avx512 { const attn_cpu::Kernels& attention_kernels(); }

}  // namespace lemma
#endif  // LEMMA_ATTENTION_CPU_KERNELS_SHARED

#ifdef LEMMA_SIMD_NS
namespace lemma {
namespace LEMMA_SIMD_NS {
namespace {

using attn_cpu::kLanes;
using attn_cpu::kLanes16;

#if defined(LEMMA_SIMD_AVX512)
using V = V512;
constexpr int kRowsA = 6, kVecsA = 4;  // 24 zmm accumulators + 4 Yt vectors + 1 broadcast
constexpr int kRowsB = 6, kVecsB = 4;
#elif defined(LEMMA_SIMD_AVX2)
using V = V256;
constexpr int kRowsA = 6, kVecsA = 2;  // 12 ymm accumulators + 2 + 1 of 16 registers
constexpr int kRowsB = 6, kVecsB = 2;
#else
using V = V1;
constexpr int kRowsA = 4, kVecsA = 4;
constexpr int kRowsB = 4, kVecsB = 4;
#endif
constexpr int kW = V::kLanes;
static_assert(kLanes % (kVecsA * kW) == 0, "lane tile must divide the 64-query tile");
static_assert(attn_cpu::kLanes16 % kW == 0, "a vector must divide the 16-row tile");

inline int imin(int a, int b) { return a < b ? a : b; }

// Register tiles of the lanes kernels per tile width L (64: the query tile; 16: the decode
// tile of the row path): kVecs vectors of lanes per accumulator row, kRows key rows.
// AVX-512 at L = 16 has one vector per row, so it takes 8 rows (8 FMA chains cover the FMA
// latency); the other widths keep the (A) tiles.
template <int L>
struct LaneTile {
  static constexpr int kVecs = kVecsA < L / kW ? kVecsA : L / kW;
  static constexpr int kRows = (L == kLanes || kVecs > 1) ? kRowsA : 8;
};

// ---------------------------------------------------------------- (A) gemm_lanes ----------
// R rows; lane chunks of kVecsA vectors from chunk l_first on, and in the first of them only
// vectors c >= C0 (the ones before are masked for every row of the tile).
template <int L, int R, int C0>
inline void lanes_tile(const float* __restrict X, int64_t ldx, const float* __restrict Yt, int D,
                       float* __restrict C, int l_first, bool accumulate) {
  constexpr int kVecs = LaneTile<L>::kVecs;
  for (int l0 = l_first; l0 < L; l0 += kVecs * kW) {
    if (C0 > 0 && l0 != l_first) return lanes_tile<L, R, 0>(X, ldx, Yt, D, C, l0, accumulate);
    V acc[R][kVecs];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int c = C0; c < kVecs; ++c)
        acc[r][c] = accumulate ? V::load(C + r * L + l0 + c * kW) : V::zero();
    const float* y = Yt + l0;
    for (int d = 0; d < D; ++d, y += L) {
      V yv[kVecs];
#pragma GCC unroll 8
      for (int c = C0; c < kVecs; ++c) yv[c] = V::load(y + c * kW);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const V x = V::set1(X[r * ldx + d]);
#pragma GCC unroll 8
        for (int c = C0; c < kVecs; ++c) acc[r][c] = fmadd(x, yv[c], acc[r][c]);
      }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int c = C0; c < kVecs; ++c) acc[r][c].store(C + r * L + l0 + c * kW);
  }
}

template <int L, int R, int C0>
inline void lanes_skip(int c0, const float* X, int64_t ldx, const float* Yt, int D, float* C,
                       int l_first, bool acc) {
  if constexpr (C0 < LaneTile<L>::kVecs) {
    if (c0 == C0) return lanes_tile<L, R, C0>(X, ldx, Yt, D, C, l_first, acc);
    lanes_skip<L, R, C0 + 1>(c0, X, ldx, Yt, D, C, l_first, acc);
  }
}

// Rows [r0, r0 + R): lanes below mask_base + r0 are masked in all of them; skip those vectors.
template <int L, int R>
inline void lanes_rows(const float* X, int64_t ldx, const float* Yt, int D, float* C,
                       int64_t masked, bool acc) {
  constexpr int kVecs = LaneTile<L>::kVecs;
  const int64_t v0 = masked <= 0 ? 0 : masked / kW;  // first vector with a visible lane
  if (v0 >= L / kW) return;
  const int v = static_cast<int>(v0);
  lanes_skip<L, R, 0>(v % kVecs, X, ldx, Yt, D, C, (v / kVecs) * kVecs * kW, acc);
}

template <int L, int R>
inline void lanes_rem(int rem, const float* X, int64_t ldx, const float* Yt, int D, float* C,
                      int64_t masked, bool acc) {
  if constexpr (R > 0) {
    if (rem == R) return lanes_rows<L, R>(X, ldx, Yt, D, C, masked, acc);
    lanes_rem<L, R - 1>(rem, X, ldx, Yt, D, C, masked, acc);
  }
}

// D is walked in chunks of kDChunk so the chunk of Yt ([kDChunk][64], 16 KiB) stays in L1
// across all row groups (for D = 128 the whole Yt is 32 KiB and, beside St and the K block,
// would stream from L2 once per row group); partial sums go through C.
constexpr int kDChunk = 64;

template <int L>
void gemm_lanes_t(const float* X, int64_t ldx, int rows, const float* Yt, int D, float* C,
                  int64_t mask_base) {
  constexpr int kRows = LaneTile<L>::kRows;
  for (int d0 = 0; d0 < D; d0 += kDChunk) {
    const int dn = imin(kDChunk, D - d0);
    const bool acc = d0 > 0;
    const float* Xd = X + d0;
    const float* Yd = Yt + int64_t(d0) * L;
    int r = 0;
    for (; r + kRows <= rows; r += kRows)
      lanes_rows<L, kRows>(Xd + r * ldx, ldx, Yd, dn, C + r * L, mask_base + r, acc);
    if (r < rows)
      lanes_rem<L, kRows - 1>(rows - r, Xd + r * ldx, ldx, Yd, dn, C + r * L, mask_base + r,
                              acc);
  }
}

// ----------------------------------------------------------------- (B) gemm_rows ----------
// W strides are template constants for the two layouts every caller uses (W is a [.][64] lanes
// array: kSr, kSk = 1, 64 for r = lane, k = row, or 64, 1 for r = row, k = lane); 0, 0 means
// runtime strides. Constant strides turn the six broadcast addresses into immediate offsets,
// which keeps the loop free of general-register spills.
// NV vectors of D per row; kTail: the last vector holds only `tail` valid lanes.
template <int R, int NV, bool kTail, int kSr, int kSk>
inline void rows_tile(const float* __restrict W, int64_t sr_rt, int64_t sk_rt, int K,
                      const float* __restrict Z, int64_t ldz, float* __restrict C, int64_t ldc,
                      const float* rowscale, int accumulate, int tail) {
  const int64_t sr = kSr ? kSr : sr_rt, sk = kSk ? kSk : sk_rt;
  V acc[R][NV];
  if (accumulate) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
      for (int c = 0; c < NV; ++c)
        acc[r][c] = (kTail && c == NV - 1) ? V::load_partial(C + r * ldc + c * kW, tail)
                                           : V::loadu(C + r * ldc + c * kW);
      if (rowscale) {
        const V s = V::set1(rowscale[r]);
#pragma GCC unroll 8
        for (int c = 0; c < NV; ++c) acc[r][c] = mul(acc[r][c], s);
      }
    }
  } else {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int c = 0; c < NV; ++c) acc[r][c] = V::zero();
  }
  const float* z = Z;
  const float* w = W;
  for (int k = 0; k < K; ++k, z += ldz, w += sk) {
    V zv[NV];
#pragma GCC unroll 8
    for (int c = 0; c < NV; ++c)
      zv[c] = (kTail && c == NV - 1) ? V::load_partial(z + c * kW, tail) : V::loadu(z + c * kW);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const V x = V::set1(w[r * sr]);
#pragma GCC unroll 8
      for (int c = 0; c < NV; ++c) acc[r][c] = fmadd(x, zv[c], acc[r][c]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int c = 0; c < NV; ++c) {
      if (kTail && c == NV - 1) acc[r][c].store_partial(C + r * ldc + c * kW, tail);
      else acc[r][c].storeu(C + r * ldc + c * kW);
    }
}

struct RowsArgs {
  const float* W;
  int64_t sr, sk;
  int K;
  const float* Z;
  int64_t ldz;
  int D;
  float* C;
  int64_t ldc;
  const float* rowscale;
  int accumulate;
  int64_t mask_base;
};

// Runtime (nv, tail) -> template, for one row count R.
template <int R, int NV, int kSr, int kSk>
inline void rows_tail(int nv, int tail, const RowsArgs& a, const float* Z, float* C) {
  if constexpr (NV > 0) {
    if (nv == NV) {
      if (tail == kW)
        return rows_tile<R, NV, false, kSr, kSk>(a.W, a.sr, a.sk, a.K, Z, a.ldz, C, a.ldc,
                                                 a.rowscale, a.accumulate, tail);
      return rows_tile<R, NV, true, kSr, kSk>(a.W, a.sr, a.sk, a.K, Z, a.ldz, C, a.ldc,
                                              a.rowscale, a.accumulate, tail);
    }
    rows_tail<R, NV - 1, kSr, kSk>(nv, tail, a, Z, C);
  }
}

// All D columns for R rows: full chunks of kVecsB vectors, then one tail chunk.
template <int R, int kSr, int kSk>
inline void rows_block(const RowsArgs& a) {
  constexpr int kChunk = kVecsB * kW;
  int d0 = 0;
  for (; d0 + kChunk <= a.D; d0 += kChunk)
    rows_tile<R, kVecsB, false, kSr, kSk>(a.W, a.sr, a.sk, a.K, a.Z + d0, a.ldz, a.C + d0, a.ldc,
                                          a.rowscale, a.accumulate, kW);
  const int rem = a.D - d0;
  if (rem > 0) {
    const int nv = (rem + kW - 1) / kW;
    rows_tail<R, kVecsB, kSr, kSk>(nv, rem - (nv - 1) * kW, a, a.Z + d0, a.C + d0);
  }
}

template <int R, int kSr, int kSk>
inline void rows_rem(int rem, const RowsArgs& a) {
  if constexpr (R > 0) {
    if (rem == R) return rows_block<R, kSr, kSk>(a);
    rows_rem<R - 1, kSr, kSk>(rem, a);
  }
}

// The k range of rows [r, r + nr) that can hold unmasked W entries:
//   (1, 64): r = lane i, k = key row j; visible iff j <= i - mask_base  -> k < r + nr - mask_base
//   (64, 1): r = key row j, k = lane i; visible iff i >= mask_base + j  -> k >= mask_base + r
template <int kSr, int kSk>
inline RowsArgs rows_group(const RowsArgs& a, int r, int nr) {
  RowsArgs b = a;
  b.W = a.W + r * a.sr;
  b.C = a.C + r * a.ldc;
  b.rowscale = a.rowscale ? a.rowscale + r : nullptr;
  if (kSr == 1 && (kSk == kLanes || kSk == kLanes16)) {
    const int64_t end = r + nr - a.mask_base;
    b.K = end <= 0 ? 0 : (end < a.K ? static_cast<int>(end) : a.K);
  } else if ((kSr == kLanes || kSr == kLanes16) && kSk == 1) {
    const int64_t begin = a.mask_base + r;
    const int k0 = begin <= 0 ? 0 : (begin < a.K ? static_cast<int>(begin) : a.K);
    b.K = a.K - k0;
    b.W += k0;
    b.Z += k0 * a.ldz;
  }
  return b;
}

// D chunks outermost: one chunk of Z ([K][kVecsB vectors]) stays in L1 across the row groups.
template <int kSr, int kSk>
inline void gemm_rows_t(const RowsArgs& a, int rows) {
  constexpr int kChunk = kVecsB * kW;
  for (int d0 = 0; d0 < a.D; d0 += kChunk) {
    RowsArgs c = a;
    c.Z += d0;
    c.C += d0;
    c.D = imin(kChunk, a.D - d0);
    int r = 0;
    for (; r + kRowsB <= rows; r += kRowsB)
      rows_block<kRowsB, kSr, kSk>(rows_group<kSr, kSk>(c, r, kRowsB));
    if (r < rows) rows_rem<kRowsB - 1, kSr, kSk>(rows - r, rows_group<kSr, kSk>(c, r, rows - r));
  }
}

void gemm_rows(const float* W, int64_t sr, int64_t sk, int rows, int K, const float* Z,
               int64_t ldz, int D, float* C, int64_t ldc, const float* rowscale, int accumulate,
               int64_t mask_base) {
  const RowsArgs a{W, sr, sk, K, Z, ldz, D, C, ldc, rowscale, accumulate, mask_base};
  if (sr == 1 && sk == kLanes) return gemm_rows_t<1, kLanes>(a, rows);
  if (sr == kLanes && sk == 1) return gemm_rows_t<kLanes, 1>(a, rows);
  if (sr == 1 && sk == kLanes16) return gemm_rows_t<1, kLanes16>(a, rows);
  if (sr == kLanes16 && sk == 1) return gemm_rows_t<kLanes16, 1>(a, rows);
  gemm_rows_t<0, 0>(a, rows);
}

// ------------------------------------------------------------- elementwise steps ----------
// Lanes [0, n) of row vector c (lanes c*kW ...) hold masked entries when n = mask_base + j.
inline int masked_in_vec(int64_t masked, int c) {
  const int64_t n = masked - int64_t(c) * kW;
  return n <= 0 ? 0 : (n >= kW ? kW : int(n));
}

template <int L>
void softmax_block_t(float* St, int rows, int64_t mask_base, float* m, float* l, float* corr) {
  constexpr int kVecsPerTile = L / kW;
  if (mask_base + rows - 1 > 0) {  // some lanes of some rows are masked (straddling block)
    for (int j = 0; j < rows; ++j) {
      const int64_t masked = mask_base + j;
      if (masked <= 0) continue;
      float* row = St + j * L;
      for (int c = 0; c < kVecsPerTile; ++c) {
        const int n = masked_in_vec(masked, c);
        if (n == 0) break;
        V::load(row + c * kW).with_first(n, kNegInf).store(row + c * kW);
      }
    }
  }
  V mx[kVecsPerTile];
  for (int c = 0; c < kVecsPerTile; ++c) mx[c] = V::load(m + c * kW);
  for (int j = 0; j < rows; ++j) {
    const float* row = St + j * L;
#pragma GCC unroll 4
    for (int c = 0; c < kVecsPerTile; ++c) mx[c] = max(mx[c], V::load(row + c * kW));
  }
  V msafe[kVecsPerTile], sum[kVecsPerTile];
  for (int c = 0; c < kVecsPerTile; ++c) {
    // A lane that has seen only masked keys keeps m = -inf; any finite stand-in makes
    // 2^(-inf - stand-in) = 0 without a NaN from (-inf) - (-inf).
    msafe[c] = max(mx[c], V::set1(kLowestFinite));
    exp2(sub(V::load(m + c * kW), msafe[c])).store(corr + c * kW);
    mx[c].store(m + c * kW);
    sum[c] = V::zero();
  }
  for (int j = 0; j < rows; ++j) {
    float* row = St + j * L;
#pragma GCC unroll 4
    for (int c = 0; c < kVecsPerTile; ++c) {
      const V p = exp2(sub(V::load(row + c * kW), msafe[c]));
      p.store(row + c * kW);
      sum[c] = add(sum[c], p);
    }
  }
  for (int c = 0; c < kVecsPerTile; ++c)
    fmadd(V::load(l + c * kW), V::load(corr + c * kW), sum[c]).store(l + c * kW);
}

template <int L>
void probs_block_t(float* St, float* dPt, int rows, int64_t mask_base, const float* L2,
                   const float* Dv, float ds_scale) {
  constexpr int kVecsPerTile = L / kW;
  V l2[kVecsPerTile], dv[kVecsPerTile];
  const V sc = V::set1(ds_scale);
  for (int c = 0; c < kVecsPerTile; ++c) {
    l2[c] = V::load(L2 + c * kW);
    dv[c] = V::load(Dv + c * kW);
  }
  for (int j = 0; j < rows; ++j) {
    float* srow = St + j * L;
    float* drow = dPt + j * L;
    const int64_t masked = mask_base + j;
#pragma GCC unroll 4
    for (int c = 0; c < kVecsPerTile; ++c) {
      // Masked lanes may hold garbage (gemm_lanes skips all-masked vectors): select, never scale.
      V p = exp2(sub(V::load(srow + c * kW), l2[c]));
      V ds = mul(mul(p, sc), sub(V::load(drow + c * kW), dv[c]));
      if (masked > 0) {
        const int n = masked_in_vec(masked, c);
        p = p.with_first(n, 0.0f);
        ds = ds.with_first(n, 0.0f);
      }
      p.store(srow + c * kW);
      ds.store(drow + c * kW);
    }
  }
}

void finalize_rows(float* O, int64_t ldo, int nq, int D, const float* m, const float* l,
                   float* lse) {
  constexpr float kLn2 = 0.693147180559945309f;
  for (int i = 0; i < nq; ++i) {
    const float li = l[i];
    const float inv = li > 0.0f ? 1.0f / li : 0.0f;
    lse[i] = li > 0.0f ? (m[i] + __builtin_log2f(li)) * kLn2 : __builtin_inff();
    float* row = O + i * ldo;
    const V s = V::set1(inv);
    int d = 0;
    for (; d + kW <= D; d += kW) mul(V::loadu(row + d), s).storeu(row + d);
    if (d < D) mul(V::load_partial(row + d, D - d), s).store_partial(row + d, D - d);
  }
}

void exp2_array(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i += kW) exp2(V::loadu(x + i)).storeu(y + i);
}

// x against keys [0, n) of K (n <= kW): kW accumulators over the D chunks, one transpose_sum.
template <bool kFull>
inline V dot_group(const float* __restrict x, const float* __restrict K, int64_t ldk, int n,
                   int D) {
  V acc[kW];
#pragma GCC unroll 16
  for (int k = 0; k < kW; ++k) acc[k] = V::zero();
  int d = 0;
  for (; d + kW <= D; d += kW) {
    const V xv = V::loadu(x + d);
#pragma GCC unroll 16
    for (int k = 0; k < kW; ++k)
      if (kFull || k < n) acc[k] = fmadd(V::loadu(K + k * ldk + d), xv, acc[k]);
  }
  if (d < D) {
    const int t = D - d;
    const V xv = V::load_partial(x + d, t);
#pragma GCC unroll 16
    for (int k = 0; k < kW; ++k)
      if (kFull || k < n) acc[k] = fmadd(V::load_partial(K + k * ldk + d, t), xv, acc[k]);
  }
  return transpose_sum(acc);
}

void gemm_dot1(const float* K, int64_t ldk, int rows, const float* x, int D, float* C,
               int64_t ldc) {
  alignas(64) float s[kW];
  for (int j = 0; j < rows; j += kW) {
    const int n = imin(kW, rows - j);
    (n == kW ? dot_group<true>(x, K + j * ldk, ldk, n, D)
             : dot_group<false>(x, K + j * ldk, ldk, n, D))
        .store(s);
    for (int k = 0; k < n; ++k) C[(j + k) * ldc] = s[k];
  }
}

}  // namespace

const attn_cpu::Kernels& attention_kernels() {
  static const attn_cpu::Kernels k = {
      gemm_lanes_t<kLanes>,   gemm_rows,  softmax_block_t<kLanes>,   probs_block_t<kLanes>,
      finalize_rows,          exp2_array, gemm_lanes_t<kLanes16>,    softmax_block_t<kLanes16>,
      probs_block_t<kLanes16>, gemm_dot1};
  return k;
}

}  // namespace LEMMA_SIMD_NS
}  // namespace lemma
#endif  // LEMMA_SIMD_NS
