// Dense fp64 linear algebra for small symmetric positive-definite systems (d up to a few
// hundred): Cholesky A = L·Lᵀ, triangular solves, ½·log det, and the symmetric rank-k update
// C += s·BᵀB (SYRK), the one kernel behind both the Hessian AᵀDA and the blocked Cholesky.
//
// Storage: row-major, lower triangle, leading dimension `ld` in elements; the strict upper
// triangle is never read (and the blocked routines may scribble on it).
//
// Two tiers:
//   * scalar routines (`*_unblocked`, solves, log-det): plain loops, usable from CUDA device
//     code too (`__host__ __device__` under nvcc). (The Dikin walk's fp64 oracle does not use
//     this file: native/polytope/polytope_ref.cc has its own linear algebra.)
//   * blocked host routines (`syrk_lower`, `cholesky_blocked`): register-tiled outer-product
//     micro-kernel (MR rows × NV vectors), with intrinsics picked by the including translation
//     unit: it sets `#pragma GCC target(...)` and defines LEMMA_LINALG_AVX512 or
//     LEMMA_LINALG_AVX2 before the include (g++ does not define __AVX512F__ for a target pragma
//     in C++), else the baseline (SSE2 pairs, no FMA). One source, three builds.
//     Every function has internal linkage (static), so copies compiled for different ISAs can
//     never be merged by the linker (the ODR trap that core/simd.h avoids with namespaces).
//
// Padding contract of the blocked routines: matrices are allocated with `padded(n)` rows and a
// leading dimension >= padded(n); the SYRK writes whole MR×NR tiles, so entries in the padding
// (and in the strict upper triangle) receive junk-free but meaningless values. Packed operands
// (the B of syrk_lower) must have zero columns from m up to round_up(m, kNR).
//
// Tested by test/native/polytope_test.cc (blocked vs scalar on random SPD matrices, every ISA).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define LEMMA_LA_FN static __host__ __device__ __forceinline__
#else
#define LEMMA_LA_FN static inline
#endif

namespace lemma {
namespace linalg {

// ---------------------------------------------------------------- scalar tier (host + device)

// In-place Cholesky of the n×n lower triangle (row-oriented Crout: contiguous dot products).
// Returns false when a pivot is not strictly positive and finite (A not numerically PD).
LEMMA_LA_FN bool cholesky_unblocked(double* a, int64_t n, int64_t lda) {
  for (int64_t i = 0; i < n; ++i) {
    double* ri = a + i * lda;
    for (int64_t j = 0; j < i; ++j) {
      const double* rj = a + j * lda;
      double s = ri[j];
      for (int64_t k = 0; k < j; ++k) s -= ri[k] * rj[k];
      ri[j] = s / rj[j];
    }
    double s = ri[i];
    for (int64_t k = 0; k < i; ++k) s -= ri[k] * ri[k];
    if (!(s > 0.0) || !(s < INFINITY)) return false;
    ri[i] = sqrt(s);
  }
  return true;
}

// x <- L⁻¹ x (forward substitution).
LEMMA_LA_FN void solve_lower(const double* L, int64_t n, int64_t ld, double* x) {
  for (int64_t i = 0; i < n; ++i) {
    const double* ri = L + i * ld;
    double s = x[i];
    for (int64_t k = 0; k < i; ++k) s -= ri[k] * x[k];
    x[i] = s / ri[i];
  }
}

// x <- L⁻ᵀ x (back substitution, row-major: column updates are row-contiguous axpys).
LEMMA_LA_FN void solve_lower_t(const double* L, int64_t n, int64_t ld, double* x) {
  for (int64_t i = n - 1; i >= 0; --i) {
    const double* ri = L + i * ld;
    const double xi = x[i] / ri[i];
    x[i] = xi;
    for (int64_t k = 0; k < i; ++k) x[k] -= xi * ri[k];
  }
}

// Σ log L_ii = ½·log det(L·Lᵀ). Never forms the determinant (overflows for d >= 50).
LEMMA_LA_FN double half_log_det(const double* L, int64_t n, int64_t ld) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += log(L[i * ld + i]);
  return s;
}

}  // namespace linalg
}  // namespace lemma

// ---------------------------------------------------------------- blocked tier (host only)
#if !defined(__CUDACC__)
#if defined(LEMMA_LINALG_AVX512) || defined(LEMMA_LINALG_AVX2)
#include <immintrin.h>
#endif

namespace lemma {
namespace linalg {

#if defined(LEMMA_LINALG_AVX512)
typedef __m512d VD;
constexpr int kW = 8;
constexpr int kMR = 8;
constexpr int kNV = 2;
static inline VD vd_load(const double* p) { return _mm512_loadu_pd(p); }
static inline void vd_store(double* p, VD v) { _mm512_storeu_pd(p, v); }
static inline VD vd_set1(double x) { return _mm512_set1_pd(x); }
static inline VD vd_zero() { return _mm512_setzero_pd(); }
static inline VD vd_fmadd(VD a, VD b, VD c) { return _mm512_fmadd_pd(a, b, c); }
static inline VD vd_fnmadd(VD a, VD b, VD c) { return _mm512_fnmadd_pd(a, b, c); }
static inline VD vd_mul(VD a, VD b) { return _mm512_mul_pd(a, b); }
static inline VD vd_add(VD a, VD b) { return _mm512_add_pd(a, b); }
static inline double vd_sum(VD a) { return _mm512_reduce_add_pd(a); }
static inline const char* isa_name() { return "avx512"; }
#elif defined(LEMMA_LINALG_AVX2)
typedef __m256d VD;
constexpr int kW = 4;
constexpr int kMR = 4;
constexpr int kNV = 2;
static inline VD vd_load(const double* p) { return _mm256_loadu_pd(p); }
static inline void vd_store(double* p, VD v) { _mm256_storeu_pd(p, v); }
static inline VD vd_set1(double x) { return _mm256_set1_pd(x); }
static inline VD vd_zero() { return _mm256_setzero_pd(); }
static inline VD vd_fmadd(VD a, VD b, VD c) { return _mm256_fmadd_pd(a, b, c); }
static inline VD vd_fnmadd(VD a, VD b, VD c) { return _mm256_fnmadd_pd(a, b, c); }
static inline VD vd_mul(VD a, VD b) { return _mm256_mul_pd(a, b); }
static inline VD vd_add(VD a, VD b) { return _mm256_add_pd(a, b); }
static inline double vd_sum(VD a) {
  const __m128d lo = _mm256_castpd256_pd128(a), hi = _mm256_extractf128_pd(a, 1);
  const __m128d s = _mm_add_pd(lo, hi);
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
static inline const char* isa_name() { return "avx2"; }
#else
// Baseline x86-64 (SSE2) or any other target: plain doubles in pairs; no FMA.
struct VD {
  double v[2];
};
constexpr int kW = 2;
constexpr int kMR = 4;
constexpr int kNV = 2;
static inline VD vd_load(const double* p) { return {{p[0], p[1]}}; }
static inline void vd_store(double* p, VD v) { p[0] = v.v[0], p[1] = v.v[1]; }
static inline VD vd_set1(double x) { return {{x, x}}; }
static inline VD vd_zero() { return {{0.0, 0.0}}; }
static inline VD vd_fmadd(VD a, VD b, VD c) { return {{a.v[0] * b.v[0] + c.v[0], a.v[1] * b.v[1] + c.v[1]}}; }
static inline VD vd_fnmadd(VD a, VD b, VD c) { return {{c.v[0] - a.v[0] * b.v[0], c.v[1] - a.v[1] * b.v[1]}}; }
static inline VD vd_mul(VD a, VD b) { return {{a.v[0] * b.v[0], a.v[1] * b.v[1]}}; }
static inline VD vd_add(VD a, VD b) { return {{a.v[0] + b.v[0], a.v[1] + b.v[1]}}; }
static inline double vd_sum(VD a) { return a.v[0] + a.v[1]; }
static inline const char* isa_name() { return "scalar"; }
#endif

static inline VD vd_sub(VD a, VD b) { return vd_fnmadd(vd_set1(1.0), b, a); }

constexpr int kNR = kW * kNV;  // tile width (columns)
constexpr int kPad = 16;       // >= kMR and >= kNR on every ISA
constexpr int kNB = 32;        // Cholesky panel width
static_assert(kMR <= kPad && kNR <= kPad && kPad % kW == 0, "tile larger than the padding");

static inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }
// Rows and leading dimension for an n×n matrix the blocked routines may touch.
static inline int64_t padded(int64_t n) { return round_up(n, kPad) + kPad; }
// Doubles of scratch cholesky_blocked needs for order n.
static inline int64_t cholesky_work_size(int64_t n) { return kNB * (round_up(n, kPad) + kPad); }

// y[0..n) += a·x[0..n); n a multiple of kW (callers pad).
static inline void axpy_padded(double a, const double* x, double* y, int64_t n) {
  const VD va = vd_set1(a);
  for (int64_t i = 0; i < n; i += kW) vd_store(y + i, vd_fmadd(va, vd_load(x + i), vd_load(y + i)));
}
// y[0..n) *= a; n a multiple of kW.
static inline void scal_padded(double a, double* y, int64_t n) {
  const VD va = vd_set1(a);
  for (int64_t i = 0; i < n; i += kW) vd_store(y + i, vd_mul(va, vd_load(y + i)));
}
// Σ x[i]·y[i] over n (any n; 4 independent accumulators).
static inline double dot(const double* x, const double* y, int64_t n) {
  VD a0 = vd_zero(), a1 = vd_zero();
  int64_t i = 0;
  for (; i + 2 * kW <= n; i += 2 * kW) {
    a0 = vd_fmadd(vd_load(x + i), vd_load(y + i), a0);
    a1 = vd_fmadd(vd_load(x + i + kW), vd_load(y + i + kW), a1);
  }
  for (; i + kW <= n; i += kW) a0 = vd_fmadd(vd_load(x + i), vd_load(y + i), a0);
  double s = vd_sum(vd_add(a0, a1));
  for (; i < n; ++i) s += x[i] * y[i];
  return s;
}

// One MR×NR tile over rows [0, k) of B: C[i0+ii][j0+jj] ±= Σ_r B[r][i0+ii]·B[r][j0+jj].
template <bool kSubtract>
static inline void syrk_tile(double* C, int64_t ldc, const double* B, int64_t ldb, int64_t k, int64_t i0,
                             int64_t j0) {
  VD acc[kMR][kNV];
  for (int ii = 0; ii < kMR; ++ii)
    for (int v = 0; v < kNV; ++v) acc[ii][v] = vd_zero();
  const double* bp = B;
  for (int64_t r = 0; r < k; ++r, bp += ldb) {
    VD bj[kNV];
    for (int v = 0; v < kNV; ++v) bj[v] = vd_load(bp + j0 + v * kW);
    for (int ii = 0; ii < kMR; ++ii) {
      const VD bi = vd_set1(bp[i0 + ii]);
      for (int v = 0; v < kNV; ++v) acc[ii][v] = vd_fmadd(bi, bj[v], acc[ii][v]);
    }
  }
  for (int ii = 0; ii < kMR; ++ii) {
    double* cr = C + (i0 + ii) * ldc + j0;
    for (int v = 0; v < kNV; ++v) {
      const VD c = vd_load(cr + v * kW);
      vd_store(cr + v * kW, kSubtract ? vd_sub(c, acc[ii][v]) : vd_add(c, acc[ii][v]));
    }
  }
}

// C (m×m lower, ld ldc) ±= BᵀB, B k×m row-major with ldb >= round_up(m, kPad) and zero columns
// [m, round_up(m, kPad)). Rows of B are taken in chunks that stay in L1.
template <bool kSubtract>
static inline void syrk_lower(double* C, int64_t ldc, int64_t m, const double* B, int64_t ldb, int64_t k) {
  const int64_t kc = ldb > 0 ? (4096 / ldb > 8 ? 4096 / ldb : 8) : k;
  for (int64_t r0 = 0; r0 < k; r0 += kc) {
    const int64_t rk = k - r0 < kc ? k - r0 : kc;
    const double* Bc = B + r0 * ldb;
    for (int64_t i0 = 0; i0 < m; i0 += kMR)
      for (int64_t j0 = 0; j0 < m && j0 < i0 + kMR; j0 += kNR) syrk_tile<kSubtract>(C, ldc, Bc, ldb, rk, i0, j0);
  }
}

// In-place blocked right-looking Cholesky of the n×n lower triangle. A must follow the padding
// contract (padded(n) rows, lda >= padded(n)); work holds cholesky_work_size(n) doubles.
// Returns false when A is not numerically positive definite.
static inline bool cholesky_blocked(double* A, int64_t n, int64_t lda, double* work) {
  if (n <= 2 * kNB) return cholesky_unblocked(A, n, lda);
  for (int64_t k0 = 0; k0 < n; k0 += kNB) {
    const int64_t kb = n - k0 < kNB ? n - k0 : kNB;
    double* D = A + k0 * lda + k0;
    if (!cholesky_unblocked(D, kb, lda)) return false;
    const int64_t m = n - k0 - kb;
    if (m == 0) break;
    const int64_t mp = round_up(m, kPad);
    double* Y = work;  // kb × mp: the panel, transposed
    const double* P = A + (k0 + kb) * lda + k0;
    for (int64_t j = 0; j < kb; ++j) {
      double* yj = Y + j * mp;
      for (int64_t i = 0; i < m; ++i) yj[i] = P[i * lda + j];
      for (int64_t i = m; i < mp; ++i) yj[i] = 0.0;
    }
    // L21ᵀ = L11⁻¹ A21ᵀ, row by row of Y (vector axpys over the m panel rows).
    for (int64_t j = 0; j < kb; ++j) {
      double* yj = Y + j * mp;
      const double* dj = D + j * lda;
      for (int64_t l = 0; l < j; ++l) axpy_padded(-dj[l], Y + l * mp, yj, mp);
      scal_padded(1.0 / dj[j], yj, mp);
    }
    double* Pw = A + (k0 + kb) * lda + k0;
    for (int64_t j = 0; j < kb; ++j) {
      const double* yj = Y + j * mp;
      for (int64_t i = 0; i < m; ++i) Pw[i * lda + j] = yj[i];
    }
    syrk_lower<true>(A + (k0 + kb) * lda + (k0 + kb), lda, m, Y, mp, kb);
  }
  return true;
}

// Y <- L⁻¹·Y for ncols right-hand sides stored as the rows of Y (n × ldy, ldy a multiple of
// kW, ncols <= ldy; columns past ncols are carried along).
static inline void solve_lower_multi(const double* L, int64_t n, int64_t ld, double* Y, int64_t ldy) {
  for (int64_t j = 0; j < n; ++j) {
    double* yj = Y + j * ldy;
    const double* lj = L + j * ld;
    for (int64_t l = 0; l < j; ++l) axpy_padded(-lj[l], Y + l * ldy, yj, ldy);
    scal_padded(1.0 / lj[j], yj, ldy);
  }
}

// x <- L⁻ᵀ x with vector axpys (the proposal step z = x + L⁻ᵀξ).
static inline void solve_lower_t_fast(const double* L, int64_t n, int64_t ld, double* x) {
  for (int64_t i = n - 1; i >= 0; --i) {
    const double* ri = L + i * ld;
    const double xi = x[i] / ri[i];
    x[i] = xi;
    const VD vx = vd_set1(-xi);
    int64_t k = 0;
    for (; k + kW <= i; k += kW) vd_store(x + k, vd_fmadd(vx, vd_load(ri + k), vd_load(x + k)));
    for (; k < i; ++k) x[k] -= xi * ri[k];
  }
}

// ‖Lᵀu‖² with vector axpys; tmp holds round_up(n, kW) doubles.
static inline double quad_form_lower_t_fast(const double* L, int64_t n, int64_t ld, const double* u, double* tmp) {
  const int64_t np = round_up(n, kW);
  for (int64_t k = 0; k < np; ++k) tmp[k] = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double* ri = L + i * ld;
    const VD vu = vd_set1(u[i]);
    int64_t k = 0;
    for (; k + kW <= i + 1; k += kW) vd_store(tmp + k, vd_fmadd(vu, vd_load(ri + k), vd_load(tmp + k)));
    for (; k <= i; ++k) tmp[k] += u[i] * ri[k];
  }
  return dot(tmp, tmp, n);
}

}  // namespace linalg
}  // namespace lemma
#endif  // !__CUDACC__
