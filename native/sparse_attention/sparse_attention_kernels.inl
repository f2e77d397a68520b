// Sparse attention CPU kernels, written once as templates over a vector type V (core/simd.h)
// and compiled once per ISA by sparse_attention_cpu_{scalar,avx2,avx512}.cc, each in its own
// namespace; sparse_attention_cpu.cc drives them through the SparseKernels table.
//
// Layouts (fp32, see sparse_attention.h): a key block is Kt [D][Bs] (lane = key slot) and
// V [Bs][Dp]; a query row q' = scale q is Dp floats (zero padded). Scores of up to 4 rows against
// a block are vertical FMAs over d (no horizontal sums): S[r][j] = fma chain over d of
// q'_r[d] Kt[d][j], the same chain as sparse_score_fp32, so every ISA reports the same set.
// The filter evaluates 16 balls at once from transposed centres Ct [D][16]:
//   ub = fma(qn, R, <q', c>), kept iff !(ub < thr) (a NaN bound keeps the block),
// and 16 boxes along P = kSparseAxes axes from the same centre dots, a_i = <q', u_i> and
// Box [2P + 1][16] (lo_i, hi_i, R'):  ub = <q', c> + sum_i max(lo_i a_i, hi_i a_i) + qn R'
// (the bound and its rounding argument: sparse_attention_index.cc).
// run_rows: for each block of [g0, g1) and the rows its mask names (all rows when masks is null),
// scores 4 rows at a time over the 16-slot groups gmasks names (all when null; the other lanes
// are -inf), masks padding / causal lanes to -inf and then, by mode:
//   kRelu      w = ((s - b) / m)^a with m the running max of s - b (rescaling keeps w <= 1)
//   kSoftTrunc w = exp(s - m) over s >= b only;  kSoftFull: over every visible key
//   kReport    emit every visible (position, s) with s >= b
//   kBackward  ReLU^a gradients (see sparse_attention_cpu.cc)
// and accumulates o += sum w v (GEMM-like 4-row tile when the rows are dense, else one axpy per
// non-zero weight). Counts: reported entries (s >= b) per row, keys scored, (row, block) pairs.
// This file has two parts: the ISA-neutral table and argument structs (included by
// sparse_attention_cpu.cc without LEMMA_SIMD_NS) and the kernels (only with LEMMA_SIMD_NS).
// No std:: templates in the kernel part (one copy per ISA namespace, ODR-safe).
// Tested by: test/native/sparse_attention_test.cc (every SIMD level this CPU has).

#ifndef LEMMA_SPARSE_KERNELS_SHARED
#define LEMMA_SPARSE_KERNELS_SHARED
#include <cstdint>

#include "sparse_attention/sparse_attention.h"

namespace lemma {
namespace sparse_cpu {

enum Mode : int { kRelu = 0, kSoftTrunc = 1, kSoftFull = 2, kReport = 3, kBackward = 4 };
constexpr int kMaxRows = 64;  // rows per tile (one uint64 mask bit each)
constexpr int kScratchPerBs = 2 * kMaxRows + 2;  // run_rows scratch: floats per key of a block

struct HeadView {
  const float* kt;  // [nb][D][Bs]
  const float* v;   // [nb][Bs][Dp]
  const int32_t* pos;       // [nb][Bs]
  const int32_t* len;       // [nb]
  const int32_t* bpos_min;  // [nb]
  const int32_t* bpos_max;  // [nb]
  int D, Dp, Bs;
};

struct RowsArgs {
  HeadView h;
  int64_t g0 = 0, g1 = 0;            // blocks of this task
  const uint64_t* masks = nullptr;   // [nb] rows per block (bit r); null: every row
  const uint16_t* gmasks = nullptr;  // [nb] groups of 16 slots to score (bit grp); null: all
  int nrows = 0;
  const float* const* q = nullptr;   // [nrows] q' rows (Dp floats)
  const int64_t* limit = nullptr;    // [nrows] last visible position
  const float* thr = nullptr;        // [nrows] threshold, rounded up to fp32
  int mode = kRelu, alpha = 1;
  // forward state per row (in/out): o [nrows][ldo], m, l; counters
  float* o = nullptr;
  int64_t ldo = 0;
  float* m = nullptr;
  float* l = nullptr;
  int64_t* cnt = nullptr;       // [nrows] reported entries
  int64_t* scored = nullptr;    // keys scored (one counter)
  int64_t* visited = nullptr;   // (row, block) pairs processed (one counter)
  float* scratch = nullptr;     // >= kScratchPerBs * Bs floats, 64-byte aligned
  // kReport
  void (*emit)(void* ctx, int row, int32_t pos, float s) = nullptr;
  void* emit_ctx = nullptr;
  // kBackward: rows' dO, Dvec = <dO, o>, final m, l; outputs dq rows, block-layout partials
  const float* const* dout = nullptr;
  const float* dvec = nullptr;
  float scale = 1;
  float* const* dq = nullptr;   // [nrows] rows (Dp floats)
  float* dkt = nullptr;         // [nb][D][Bs]
  float* dvp = nullptr;         // [nb][Bs][Dp]
};

struct SparseKernels {
  // ball test of 16 centres; dots[16] receives fl<q', c> of each
  uint32_t (*filter16)(const float* q, float qn, const float* ct, const float* rad, int D,
                       float thr, float* dots);
  // a[i] = fl<q', u_i> for the kSparseAxes rows of ax [P][D]
  void (*axes_dots)(const float* q, const float* ax, int D, float* a);
  // box test of 16 lanes from their centre dots, a[P] and box [2P + 1][16]
  uint32_t (*box16)(const float* dots, const float* a, const float* box, float qn, float thr);
  void (*scores)(const float* const* q, int nr, const float* kt, int Bs, int D, float* S);
  void (*run_rows)(const RowsArgs& a);
  // Build time, double (plain loops, compiled per ISA so that they vectorise):
  // C [D][D] upper triangle += sum_t x_t x_t^T over x [n][D]
  void (*gram)(const double* x, int n, int D, double* C);
  // one block: Kt [D][Bs] (L keys), centre c [D], axes ax [P][D], shift z [D]; writes
  // E [D][Bs] (scratch), T [P][Bs] t_i = <k - c, u_i>, wn[j] = ||w_j||^2, wsn[j] = ||w_j + z||^2
  // with w_j = (k_j - c) - sum_i t_ij u_i (sparse_attention_index.cc)
  void (*box_block)(const float* Kt, int Bs, int L, int D, const double* c, const float* ax,
                    const double* z, double* E, double* T, double* wn, double* wsn);
  // Z [D][P] = C [D][D] Q [D][P], C symmetric (both triangles filled)
  void (*sym_times)(const double* C, const double* Q, int D, double* Z);
};

}  // namespace sparse_cpu

namespace scalar { const sparse_cpu::SparseKernels& sparse_kernels(); }
namespace avx2 { const sparse_cpu::SparseKernels& sparse_kernels(); }
namespace avx512 { const sparse_cpu::SparseKernels& sparse_kernels(); }

}  // namespace lemma
#endif  // LEMMA_SPARSE_KERNELS_SHARED

#ifdef LEMMA_SIMD_NS
namespace lemma {
namespace LEMMA_SIMD_NS {
namespace sparse_k {

using sparse_cpu::RowsArgs;

#if defined(LEMMA_SIMD_AVX512)
using V = V512;
#elif defined(LEMMA_SIMD_AVX2)
using V = V256;
#else
using V = V1;
#endif
constexpr int L = V::kLanes;
constexpr float kInf = __builtin_inff();

// FMA with one rounding on every ISA (the scalar build has no FMA instruction: libm fmaf).
inline V fma1(V a, V b, V c) {
#if defined(LEMMA_SIMD_AVX512) || defined(LEMMA_SIMD_AVX2)
  return fmadd(a, b, c);
#else
  return {__builtin_fmaf(a.v, b.v, c.v)};
#endif
}

inline float hsum(V x) {
#if defined(LEMMA_SIMD_AVX512)
  return _mm512_reduce_add_ps(x.v);
#elif defined(LEMMA_SIMD_AVX2)
  __m128 a = _mm_add_ps(_mm256_castps256_ps128(x.v), _mm256_extractf128_ps(x.v, 1));
  a = _mm_add_ps(a, _mm_movehl_ps(a, a));
  a = _mm_add_ss(a, _mm_movehdup_ps(a));
  return _mm_cvtss_f32(a);
#else
  alignas(64) float t[L];
  x.storeu(t);
  float s = 0;
  for (int i = 0; i < L; ++i) s += t[i];
  return s;
#endif
}
inline float hmax(V x) {
#if defined(LEMMA_SIMD_AVX512)
  return _mm512_reduce_max_ps(x.v);
#elif defined(LEMMA_SIMD_AVX2)
  __m128 a = _mm_max_ps(_mm256_castps256_ps128(x.v), _mm256_extractf128_ps(x.v, 1));
  a = _mm_max_ps(a, _mm_movehl_ps(a, a));
  a = _mm_max_ss(a, _mm_movehdup_ps(a));
  return _mm_cvtss_f32(a);
#else
  alignas(64) float t[L];
  x.storeu(t);
  float s = t[0];
  for (int i = 1; i < L; ++i) s = t[i] > s ? t[i] : s;
  return s;
#endif
}
inline int imin(int a, int b) { return a < b ? a : b; }

// bits[j / 64] bit j%64 = (s[j] >= thr) for j < n (n a multiple of 16, <= 256); returns the count.
inline int ge_mask(const float* s, int n, float thr, uint64_t* bits) {
  int c = 0;
  for (int w = 0; w < (n + 63) / 64; ++w) {
    uint64_t b = 0;
    const int e = imin(64, n - w * 64);
#if defined(LEMMA_SIMD_AVX512)
    const __m512 t = _mm512_set1_ps(thr);
    for (int j = 0; j < e; j += 16)
      b |= uint64_t(_mm512_cmp_ps_mask(_mm512_loadu_ps(s + w * 64 + j), t, _CMP_GE_OQ)) << j;
#elif defined(LEMMA_SIMD_AVX2)
    const __m256 t = _mm256_set1_ps(thr);
    for (int j = 0; j < e; j += 8)
      b |= uint64_t(unsigned(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(s + w * 64 + j), t, _CMP_GE_OQ)))) << j;
#else
    for (int j = 0; j < e; ++j) b |= uint64_t(s[w * 64 + j] >= thr) << j;
#endif
    bits[w] = b;
    c += __builtin_popcountll(b);
  }
  return c;
}

// ---------------------------------------------------------------------------- filter ------
inline uint32_t filter16(const float* q, float qn, const float* ct, const float* rad, int D,
                         float thr, float* dots) {
  // Four independent chains over d (any summation order is covered by gamma_D).
  constexpr int NV = 16 / L;
  V acc[4][NV];
  for (int c = 0; c < 4; ++c)
    for (int v = 0; v < NV; ++v) acc[c][v] = V::zero();
  int d = 0;
  for (; d + 4 <= D; d += 4)
    for (int c = 0; c < 4; ++c) {
      const V qd = V::set1(q[d + c]);
      for (int v = 0; v < NV; ++v) acc[c][v] = fmadd(qd, V::loadu(ct + (d + c) * 16 + v * L), acc[c][v]);
    }
  for (; d < D; ++d) {
    const V qd = V::set1(q[d]);
    for (int v = 0; v < NV; ++v) acc[0][v] = fmadd(qd, V::loadu(ct + d * 16 + v * L), acc[0][v]);
  }
  alignas(64) float ub[16];
  const V qv = V::set1(qn);
  for (int v = 0; v < NV; ++v) {
    const V sum = add(add(acc[0][v], acc[1][v]), add(acc[2][v], acc[3][v]));
    sum.storeu(dots + v * L);
    fmadd(qv, V::loadu(rad + v * L), sum).storeu(ub + v * L);
  }
  uint32_t mask = 0;
  for (int i = 0; i < 16; ++i) mask |= uint32_t(!(ub[i] < thr)) << i;
  return mask;
}

inline void axes_dots(const float* q, const float* ax, int D, float* a) {
  constexpr int P = kSparseAxes;
  int d = 0;
  V acc[P];
  for (int i = 0; i < P; ++i) acc[i] = V::zero();
  for (; d + L <= D; d += L) {
    const V qv = V::loadu(q + d);
    for (int i = 0; i < P; ++i) acc[i] = fmadd(qv, V::loadu(ax + i * D + d), acc[i]);
  }
  for (int i = 0; i < P; ++i) {
    float s = hsum(acc[i]);
    for (int e = d; e < D; ++e) s = __builtin_fmaf(q[e], ax[i * D + e], s);
    a[i] = s;
  }
}

// Sequential sum of the P + 2 terms (each rounded once: the products) as the argument assumes.
inline uint32_t box16(const float* dots, const float* a, const float* box, float qn, float thr) {
  constexpr int P = kSparseAxes, NV = 16 / L;
  alignas(64) float ub[16];
  for (int v = 0; v < NV; ++v) {
    V acc = V::loadu(dots + v * L);
    for (int i = 0; i < P; ++i) {
      const V ai = V::set1(a[i]);
      acc = add(acc, max(mul(V::loadu(box + i * 16 + v * L), ai),
                         mul(V::loadu(box + (P + i) * 16 + v * L), ai)));
    }
    acc = add(acc, mul(V::set1(qn), V::loadu(box + 2 * P * 16 + v * L)));
    acc.storeu(ub + v * L);
  }
  uint32_t mask = 0;
  for (int i = 0; i < 16; ++i) mask |= uint32_t(!(ub[i] < thr)) << i;
  return mask;
}

// ---------------------------------------------------------------------------- scores ------
template <int NR, int NV>
inline void score_tile(const float* const* q, const float* kt, int Bs, int D, float* S, int j0) {
  V acc[NR][NV];
  for (int r = 0; r < NR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
  for (int d = 0; d < D; ++d) {
    V kv[NV];
    for (int v = 0; v < NV; ++v) kv[v] = V::loadu(kt + int64_t(d) * Bs + j0 + v * L);
    for (int r = 0; r < NR; ++r) {
      const V qd = V::set1(q[r][d]);
      for (int v = 0; v < NV; ++v) acc[r][v] = fma1(qd, kv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < NR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v].storeu(S + r * Bs + j0 + v * L);
}

template <int NR>
inline void scores_nr(const float* const* q, const float* kt, int Bs, int D, float* S) {
  constexpr int NV = L >= 8 ? 4 : 16;  // 64 lanes (AVX-512), 32 (AVX2), 16 (scalar)
  int j0 = 0;
  for (; j0 + NV * L <= Bs; j0 += NV * L) score_tile<NR, NV>(q, kt, Bs, D, S, j0);
  for (; j0 < Bs; j0 += L) score_tile<NR, 1>(q, kt, Bs, D, S, j0);
}

// Scores of nr rows (any count): AVX-512 in 6-row register tiles (24 accumulators), else 4.
inline void scores(const float* const* q, int nr, const float* kt, int Bs, int D, float* S) {
  constexpr int R = L == 16 ? 6 : 4;
  int r0 = 0;
  for (; r0 + R <= nr; r0 += R) scores_nr<R>(q + r0, kt, Bs, D, S + r0 * Bs);
  switch (nr - r0) {
    case 1: return scores_nr<1>(q + r0, kt, Bs, D, S + r0 * Bs);
    case 2: return scores_nr<2>(q + r0, kt, Bs, D, S + r0 * Bs);
    case 3: return scores_nr<3>(q + r0, kt, Bs, D, S + r0 * Bs);
    case 4: return scores_nr<4>(q + r0, kt, Bs, D, S + r0 * Bs);
    case 5: return scores_nr<5>(q + r0, kt, Bs, D, S + r0 * Bs);
    default: return;
  }
}

// Scores of the groups of 16 lanes at offsets j0[0, NG) only (the same FMA chain per lane).
template <int NR, int NG>
inline void score_groups_tile(const float* const* q, const float* kt, int Bs, int D, float* S,
                              const int* j0) {
  constexpr int NVG = 16 / L, NX = NG * NVG;
  V acc[NR][NX];
  for (int r = 0; r < NR; ++r)
    for (int x = 0; x < NX; ++x) acc[r][x] = V::zero();
  for (int d = 0; d < D; ++d) {
    V kv[NX];
    for (int gi = 0; gi < NG; ++gi)
      for (int v = 0; v < NVG; ++v) kv[gi * NVG + v] = V::loadu(kt + int64_t(d) * Bs + j0[gi] + v * L);
    for (int r = 0; r < NR; ++r) {
      const V qd = V::set1(q[r][d]);
      for (int x = 0; x < NX; ++x) acc[r][x] = fma1(qd, kv[x], acc[r][x]);
    }
  }
  for (int r = 0; r < NR; ++r)
    for (int gi = 0; gi < NG; ++gi)
      for (int v = 0; v < NVG; ++v) acc[r][gi * NVG + v].storeu(S + r * Bs + j0[gi] + v * L);
}

template <int NR>
inline void score_groups_nr(const float* const* q, const float* kt, int Bs, int D, float* S,
                            const int* j0, int ng) {
  constexpr int NG = L >= 16 ? 4 : (L >= 8 ? 2 : 1);  // 4 vectors per row (16 for scalar)
  int t = 0;
  for (; t + NG <= ng; t += NG) score_groups_tile<NR, NG>(q, kt, Bs, D, S, j0 + t);
  for (; t < ng; ++t) score_groups_tile<NR, 1>(q, kt, Bs, D, S, j0 + t);
}

// Scores of nr rows against the groups named by gm; the other lanes get -inf.
inline void scores_groups(const float* const* q, int nr, const float* kt, int Bs, int D, float* S,
                          unsigned gm) {
  int j0[16], ng = 0;
  for (int grp = 0; grp < Bs / 16; ++grp)
    if (gm >> grp & 1u) {
      j0[ng++] = grp * 16;
    } else {
      for (int r = 0; r < nr; ++r)
        for (int j = grp * 16; j < grp * 16 + 16; ++j) S[r * Bs + j] = -kInf;
    }
  constexpr int R = L == 16 ? 6 : 4;
  int r0 = 0;
  for (; r0 + R <= nr; r0 += R) score_groups_nr<R>(q + r0, kt, Bs, D, S + r0 * Bs, j0, ng);
  switch (nr - r0) {
    case 1: return score_groups_nr<1>(q + r0, kt, Bs, D, S + r0 * Bs, j0, ng);
    case 2: return score_groups_nr<2>(q + r0, kt, Bs, D, S + r0 * Bs, j0, ng);
    case 3: return score_groups_nr<3>(q + r0, kt, Bs, D, S + r0 * Bs, j0, ng);
    case 4: return score_groups_nr<4>(q + r0, kt, Bs, D, S + r0 * Bs, j0, ng);
    case 5: return score_groups_nr<5>(q + r0, kt, Bs, D, S + r0 * Bs, j0, ng);
    default: return;
  }
}

// ---------------------------------------------------------------------- value products ----
// o_r[0, Dp) += sum_{j < n} W_r[j] V[j]   for r < NR (Dp a multiple of 16)
template <int NR>
inline void pv_rows(const float* const* W, int n, const float* Vb, int Dp, float* const* o) {
  constexpr int NV = L >= 8 ? 4 : 16;
  int d0 = 0;
  for (; d0 + NV * L <= Dp; d0 += NV * L) {
    V acc[NR][NV];
    for (int r = 0; r < NR; ++r)
      for (int v = 0; v < NV; ++v) acc[r][v] = V::loadu(o[r] + d0 + v * L);
    for (int j = 0; j < n; ++j) {
      V vv[NV];
      for (int v = 0; v < NV; ++v) vv[v] = V::loadu(Vb + int64_t(j) * Dp + d0 + v * L);
      for (int r = 0; r < NR; ++r) {
        const V w = V::set1(W[r][j]);
        for (int v = 0; v < NV; ++v) acc[r][v] = fmadd(w, vv[v], acc[r][v]);
      }
    }
    for (int r = 0; r < NR; ++r)
      for (int v = 0; v < NV; ++v) acc[r][v].storeu(o[r] + d0 + v * L);
  }
  for (; d0 < Dp; d0 += L) {
    V acc[NR];
    for (int r = 0; r < NR; ++r) acc[r] = V::loadu(o[r] + d0);
    for (int j = 0; j < n; ++j) {
      const V vv = V::loadu(Vb + int64_t(j) * Dp + d0);
      for (int r = 0; r < NR; ++r) acc[r] = fmadd(V::set1(W[r][j]), vv, acc[r]);
    }
    for (int r = 0; r < NR; ++r) acc[r].storeu(o[r] + d0);
  }
}

inline void pv(const float* const* W, int nr, int n, const float* Vb, int Dp, float* const* o) {
  switch (nr) {
    case 1: return pv_rows<1>(W, n, Vb, Dp, o);
    case 2: return pv_rows<2>(W, n, Vb, Dp, o);
    case 3: return pv_rows<3>(W, n, Vb, Dp, o);
    default: return pv_rows<4>(W, n, Vb, Dp, o);
  }
}

// o[0, Dp) += sum_t w[idx[t]] V[idx[t]] with o held in registers (few active keys).
inline void pv_sparse(const float* w, const int* idx, int na, const float* Vb, int Dp, float* o) {
  constexpr int NV = L >= 8 ? 8 : 16;
  int d0 = 0;
  for (; d0 + NV * L <= Dp; d0 += NV * L) {
    V acc[NV];
    for (int v = 0; v < NV; ++v) acc[v] = V::loadu(o + d0 + v * L);
    for (int t = 0; t < na; ++t) {
      const V wv = V::set1(w[idx[t]]);
      const float* row = Vb + int64_t(idx[t]) * Dp + d0;
      for (int v = 0; v < NV; ++v) acc[v] = fmadd(wv, V::loadu(row + v * L), acc[v]);
    }
    for (int v = 0; v < NV; ++v) acc[v].storeu(o + d0 + v * L);
  }
  for (; d0 < Dp; d0 += L) {
    V acc = V::loadu(o + d0);
    for (int t = 0; t < na; ++t) acc = fmadd(V::set1(w[idx[t]]), V::loadu(Vb + int64_t(idx[t]) * Dp + d0), acc);
    acc.storeu(o + d0);
  }
}

inline void axpy(float w, const float* x, float* y, int n) {
  const V wv = V::set1(w);
  for (int d = 0; d < n; d += L) fmadd(wv, V::loadu(x + d), V::loadu(y + d)).storeu(y + d);
}
inline void scal(float f, float* y, int n) {
  const V fv = V::set1(f);
  for (int d = 0; d < n; d += L) mul(fv, V::loadu(y + d)).storeu(y + d);
}
inline float dot(const float* x, const float* y, int n) {
  V acc = V::zero();
  for (int d = 0; d < n; d += L) acc = fmadd(V::loadu(x + d), V::loadu(y + d), acc);
  return hsum(acc);
}

// ------------------------------------------------------------------ lane-wise helpers ----
inline float lanes_max(const float* s, int n) {
  V m = V::set1(-kInf);
  for (int j = 0; j < n; j += L) m = max(m, V::loadu(s + j));
  return hmax(m);
}
inline float lanes_sum(const float* s, int n) {
  V a = V::zero();
  for (int j = 0; j < n; j += L) a = add(a, V::loadu(s + j));
  return hsum(a);
}
// w = exp(s - m) (0 for s = -inf)
inline void lanes_exp(const float* s, int n, float m, float* w) {
  const V mv = V::set1(m), l2e = V::set1(1.4426950408889634f);
  for (int j = 0; j < n; j += L) exp2(mul(sub(V::loadu(s + j), mv), l2e)).storeu(w + j);
}
inline V vpow(V t, int a) {
  V r = V::set1(1.0f), b = t;
  while (a > 0) {
    if (a & 1) r = mul(r, b);
    a >>= 1;
    if (a) b = mul(b, b);
  }
  return r;
}
// w = max(0, (s - thr) inv)^a
inline void lanes_relu(const float* s, int n, float thr, float inv, int a, float* w) {
  const V tv = V::set1(thr), iv = V::set1(inv), z = V::zero();
  for (int j = 0; j < n; j += L) vpow(max(z, mul(sub(V::loadu(s + j), tv), iv)), a).storeu(w + j);
}
inline float fpow(float t, int a) {
  float r = 1.0f, b = t;
  while (a > 0) {
    if (a & 1) r *= b;
    a >>= 1;
    if (a) b *= b;
  }
  return r;
}

// ------------------------------------------------------------------------ run_rows ------
// Masks the scores of row r against block g: padding lanes and positions past the row's limit
// become -inf. Returns the number of visible lanes scored (in the groups of gm; nsel of them
// lie below len).
inline int mask_lanes(const RowsArgs& a, int64_t g, int r, float* s, bool partial, int nsel) {
  const int Bs = a.h.Bs, len = a.h.len[g];
  for (int j = len; j < Bs; ++j) s[j] = -kInf;
  if (a.limit[r] >= a.h.bpos_max[g]) return nsel;
  const int32_t* pos = a.h.pos + g * Bs;
  const int64_t lim = a.limit[r];
  int vis = 0;
  for (int j = 0; j < len; ++j) {
    const bool ok = pos[j] <= lim;
    s[j] = ok ? s[j] : -kInf;
    vis += ok;
  }
  if (partial) {  // the lanes of the groups not scored are -inf already; scores are finite
    vis = 0;
    for (int j = 0; j < len; ++j) vis += s[j] != -kInf;
  }
  return vis;
}

inline void backward_row(const RowsArgs& a, int64_t g, int r, const float* s, float* ds) {
  const int Bs = a.h.Bs, D = a.h.D, Dp = a.h.Dp;
  const float thr = a.thr[r], m = a.m[r], l = a.l[r];
  if (!(l > 0) || !(m > 0)) return;
  const float inv_m = 1.0f / m, inv_l = 1.0f / l, coef = float(a.alpha) / (m * l);
  const float* Vb = a.h.v + g * Bs * Dp;
  const float* dO = a.dout[r];
  int act[256];
  int na = 0;
  for (int j = 0; j < Bs; ++j) {
    ds[j] = 0.0f;
    if (!(s[j] > thr)) continue;
    const float t = (s[j] - thr) * inv_m;
    const float tp = fpow(t, a.alpha - 1);
    const float p = tp * t * inv_l;
    const float gv = dot(dO, Vb + int64_t(j) * Dp, Dp) - a.dvec[r];
    ds[j] = coef * tp * gv;
    axpy(p, dO, a.dvp + (g * Bs + j) * Dp, Dp);
    act[na++] = j;
  }
  if (na == 0) return;
  // dK^T[d][j] += ds_j q'_r[d]  (q' = scale q: d s / d k = q')
  float* dkt = a.dkt + g * int64_t(D) * Bs;
  const float* q = a.q[r];
  for (int d = 0; d < D; ++d) {
    const V qd = V::set1(q[d]);
    float* row = dkt + int64_t(d) * Bs;
    for (int j = 0; j < Bs; j += L) fmadd(qd, V::loadu(ds + j), V::loadu(row + j)).storeu(row + j);
  }
  // dq_r += scale sum_j ds_j k_j
  const float* kt = a.h.kt + g * int64_t(D) * Bs;
  float* dq = a.dq[r];
  if (na <= Bs / L + 4) {  // few active keys: strided columns of Kt beat D horizontal sums
    for (int t = 0; t < na; ++t) {
      const int j = act[t];
      const float c = a.scale * ds[j];
      for (int d = 0; d < D; ++d) dq[d] += c * kt[int64_t(d) * Bs + j];
    }
  } else {
    for (int d = 0; d < D; ++d) {
      V acc = V::zero();
      for (int j = 0; j < Bs; j += L) acc = fmadd(V::loadu(kt + int64_t(d) * Bs + j), V::loadu(ds + j), acc);
      dq[d] += a.scale * hsum(acc);
    }
  }
}

inline void run_rows(const RowsArgs& a) {
  const int Bs = a.h.Bs, D = a.h.D, Dp = a.h.Dp;
  float* S = a.scratch;              // [64][Bs] scores of the rows of one block
  float* W = S + 64 * Bs;            // [64][Bs] weights
  float* aux = W + 64 * Bs;          // [2 Bs] (backward: ds; sparse rows: active list)
  const uint64_t all = a.nrows >= 64 ? ~uint64_t{0} : (uint64_t{1} << a.nrows) - 1;
  const unsigned all_groups = (1u << (Bs / 16)) - 1u;
  int64_t scored = 0, visited = 0;
  for (int64_t g = a.g0; g < a.g1; ++g) {
    uint64_t mask = a.masks ? a.masks[g] : all;
    if (!mask) continue;
    const int32_t pmin = a.h.bpos_min[g];
    int rows[sparse_cpu::kMaxRows];
    int nr_total = 0;
    while (mask) {
      const int r = __builtin_ctzll(mask);
      mask &= mask - 1;
      if (a.limit[r] >= pmin) rows[nr_total++] = r;  // causal: the block starts past the row
    }
    if (nr_total == 0) continue;
    const float* kt = a.h.kt + g * int64_t(D) * Bs;
    const float* Vb = a.h.v + g * int64_t(Bs) * Dp;
    const int n = a.h.len[g];
    // Groups of 16 slots to score: those the filter kept for any listed row (a row's scores in
    // the other kept groups are exact too, and below its threshold when its own filter said so).
    const unsigned gm = a.gmasks ? a.gmasks[g] : all_groups;
    const bool partial = gm != all_groups;
    int nsel = 0;  // selected slots below len
    for (int grp = 0; grp < Bs / 16; ++grp)
      if (gm >> grp & 1u) nsel += imin(16, n - grp * 16) > 0 ? imin(16, n - grp * 16) : 0;
    // Phase 1: every listed row against the block (K^T block stays in L1).
    {
      const float* qs[sparse_cpu::kMaxRows];
      for (int t = 0; t < nr_total; ++t) qs[t] = a.q[rows[t]];
      if (partial) {
        scores_groups(qs, nr_total, kt, Bs, D, S, gm);
      } else {
        scores(qs, nr_total, kt, Bs, D, S);
      }
    }
    visited += nr_total;
    // Phase 2: per row mask, count, weights; rows with few non-zero weights accumulate their
    // values right away (register-resident gather), the others wait for phase 3.
    const float* wd[sparse_cpu::kMaxRows];
    float* od[sparse_cpu::kMaxRows];
    int ndense = 0;
    for (int t = 0; t < nr_total; ++t) {
      const int r = rows[t];
      float* s = S + t * Bs;
      float* w = W + t * Bs;
      scored += mask_lanes(a, g, r, s, partial, nsel);
      const float thr = a.thr[r];
      uint64_t bits[4];
      const int c = ge_mask(s, Bs, thr, bits);
      a.cnt[r] += c;
      if (a.mode == sparse_cpu::kReport) {
        const int32_t* pos = a.h.pos + g * Bs;
        for (int u = 0; u < (Bs + 63) / 64; ++u)
          for (uint64_t b = bits[u]; b; b &= b - 1) {
            const int j = u * 64 + __builtin_ctzll(b);
            a.emit(a.emit_ctx, r, pos[j], s[j]);
          }
        continue;
      }
      if (a.mode == sparse_cpu::kBackward) {
        if (c > 0) backward_row(a, g, r, s, aux);
        continue;
      }
      if (c == 0 && a.mode != sparse_cpu::kSoftFull) continue;
      float* o = a.o + r * a.ldo;
      if (a.mode == sparse_cpu::kRelu) {
        const float e = lanes_max(s, Bs) - thr;
        if (e > a.m[r]) {
          if (a.m[r] > 0) {
            const float corr = fpow(a.m[r] / e, a.alpha);
            scal(corr, o, Dp);
            a.l[r] *= corr;
          }
          a.m[r] = e;
        }
        if (!(a.m[r] > 0)) continue;
        lanes_relu(s, Bs, thr, 1.0f / a.m[r], a.alpha, w);  // 0 outside s > b
      } else {
        float mx;
        if (a.mode == sparse_cpu::kSoftTrunc) {
          mx = -kInf;
          for (int u = 0; u < (Bs + 63) / 64; ++u)
            for (uint64_t b = bits[u]; b; b &= b - 1) {
              const float x = s[u * 64 + __builtin_ctzll(b)];
              mx = x > mx ? x : mx;
            }
        } else {
          mx = lanes_max(s, Bs);
        }
        if (mx == -kInf) continue;
        if (mx > a.m[r]) {
          if (a.m[r] > -kInf) {
            const float corr = __builtin_expf(a.m[r] - mx);
            scal(corr, o, Dp);
            a.l[r] *= corr;
          }
          a.m[r] = mx;
        }
        lanes_exp(s, Bs, a.m[r], w);  // every visible lane; truncation uses the bits below
      }
      // The choice depends on the row and the block only (not on the groups other rows of the
      // tile kept), so a row's result does not depend on the tile it is computed in.
      if (a.mode == sparse_cpu::kSoftFull || c * 4 >= n) {
        if (a.mode == sparse_cpu::kSoftTrunc)  // the GEMM tile reads every lane: zero the dropped
          for (int j = 0; j < Bs; ++j) w[j] = (bits[j >> 6] >> (j & 63)) & 1 ? w[j] : 0.0f;
        a.l[r] += lanes_sum(w, Bs);
        wd[ndense] = w;
        od[ndense++] = o;
      } else {
        int* idx = reinterpret_cast<int*>(aux);
        int k = 0;
        float lsum = 0;
        for (int u = 0; u < (Bs + 63) / 64; ++u)
          for (uint64_t b = bits[u]; b; b &= b - 1) {
            const int j = u * 64 + __builtin_ctzll(b);
            idx[k++] = j;
            lsum += w[j];
          }
        a.l[r] += lsum;
        pv_sparse(w, idx, k, Vb, Dp, o);
      }
    }
    // Phase 3: the dense rows, 4 at a time (V block stays in L1), over the scored groups only
    // (the weights elsewhere are 0).
    if (!partial) {
      for (int t0 = 0; t0 < ndense; t0 += 4) pv(wd + t0, imin(4, ndense - t0), n, Vb, Dp, od + t0);
    } else if (ndense > 0) {
      for (int grp = 0; grp < Bs / 16; ++grp) {
        const int j0 = grp * 16, cnt = imin(16, n - j0);
        if (!(gm >> grp & 1u) || cnt <= 0) continue;
        const float* ws[sparse_cpu::kMaxRows];
        for (int t = 0; t < ndense; ++t) ws[t] = wd[t] + j0;
        for (int t0 = 0; t0 < ndense; t0 += 4)
          pv(ws + t0, imin(4, ndense - t0), cnt, Vb + int64_t(j0) * Dp, Dp, od + t0);
      }
    }
  }
  *a.scored += scored;
  *a.visited += visited;
}

// ------------------------------------------------------------------- build (double) ------
inline void gram(const double* x, int n, int D, double* C) {
  for (int t = 0; t < n; ++t) {
    const double* __restrict xt = x + int64_t(t) * D;
    for (int a = 0; a < D; ++a) {
      const double xa = xt[a];
      double* __restrict row = C + int64_t(a) * D;
      for (int b = a; b < D; ++b) row[b] += xa * xt[b];
    }
  }
}

inline void box_block(const float* Kt, int Bs, int L, int D, const double* c, const float* ax,
                      const double* z, double* E, double* T, double* wn, double* wsn) {
  constexpr int P = kSparseAxes;
  for (int d = 0; d < D; ++d) {
    const float* __restrict kd = Kt + int64_t(d) * Bs;
    double* __restrict ed = E + int64_t(d) * Bs;
    const double cd = c[d];
    for (int j = 0; j < L; ++j) ed[j] = double(kd[j]) - cd;
  }
  for (int i = 0; i < P; ++i) {
    double* __restrict ti = T + i * Bs;
    for (int j = 0; j < L; ++j) ti[j] = 0.0;
    for (int d = 0; d < D; ++d) {
      const double ud = ax[i * D + d];
      const double* __restrict ed = E + int64_t(d) * Bs;
      for (int j = 0; j < L; ++j) ti[j] += ed[j] * ud;
    }
  }
  for (int j = 0; j < L; ++j) wn[j] = wsn[j] = 0.0;
  for (int d = 0; d < D; ++d) {
    double* __restrict ed = E + int64_t(d) * Bs;  // becomes w[d][j]
    for (int i = 0; i < P; ++i) {
      const double ud = ax[i * D + d];
      const double* __restrict ti = T + i * Bs;
      for (int j = 0; j < L; ++j) ed[j] -= ti[j] * ud;
    }
    const double zd = z[d];
    double* __restrict wnj = wn;
    double* __restrict wsnj = wsn;
    for (int j = 0; j < L; ++j) {
      const double w = ed[j], ws = w + zd;
      wnj[j] += w * w;
      wsnj[j] += ws * ws;
    }
  }
}

// Z [D][P] = C [D][D] Q [D][P] (C symmetric, full)
inline void sym_times(const double* C, const double* Q, int D, double* Z) {
  static_assert(kSparseAxes == 8, "one 8-double vector per row of Q");
  typedef double v8d __attribute__((vector_size(64)));
  for (int a = 0; a < D; ++a) {
    v8d z = {0, 0, 0, 0, 0, 0, 0, 0};
    const double* __restrict row = C + int64_t(a) * D;
    for (int b = 0; b < D; ++b) {
      v8d qb;
      __builtin_memcpy(&qb, Q + int64_t(b) * 8, sizeof qb);
      z += row[b] * qb;
    }
    __builtin_memcpy(Z + int64_t(a) * 8, &z, sizeof z);
  }
}

}  // namespace sparse_k

// Not inline: the one external symbol of each ISA translation unit.
const sparse_cpu::SparseKernels& sparse_kernels() {
  static const sparse_cpu::SparseKernels k = {sparse_k::filter16, sparse_k::axes_dots,
                                              sparse_k::box16, sparse_k::scores,
                                              sparse_k::run_rows, sparse_k::gram,
                                              sparse_k::box_block, sparse_k::sym_times};
  return k;
}

}  // namespace LEMMA_SIMD_NS
}  // namespace lemma
#endif  // LEMMA_SIMD_NS
