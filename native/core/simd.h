// A thin vector abstraction over intrinsics, so a kernel is written once as a template over V:
//   V512 (__m512, 16 lanes, AVX-512F/DQ), V256 (__m256, 8 lanes, AVX2+FMA), V1 (float, 1 lane).
// Same interface on all three: zero/set1/load/loadu/load_partial, store/storeu/store_partial,
// with_first(n, fill), fmadd/add/sub/mul/max/min, exp2, and transpose_sum(a[kLanes]) (lane k of
// the result = the sum of the lanes of a[k]: kLanes horizontal sums in one shuffle tree).
//
// Usage (one ISA per translation unit, never per-file compiler flags):
//   #pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,fma,avx2")   // or "avx2,fma", or none
//   #define LEMMA_SIMD_NS avx512        // the namespace these types live in: lemma::avx512
//   #define LEMMA_SIMD_AVX512 1         // resp. LEMMA_SIMD_AVX2
//   #include "core/simd.h"
// Each TU gets its own copy of these inline functions in its own namespace, so the linker can
// never substitute an AVX-512 body for a scalar one (ODR). For the same reason nothing here
// calls std:: templates. No include guard: exactly one inclusion per TU.
//
// exp2(x): range reduction x = n + f, 2^f by a degree-6 polynomial, 2^n by exponent bits
// (AVX2, scalar: n = round(x), |f| <= 1/2, Cephes exp2f coefficients) or by vscalefps (AVX-512:
// n = floor(x), f in [0, 1), own fit); max error ~1 ulp. exp2(-inf) == 0 exactly, never NaN
// (NaN still propagates). Results that would be subnormal are flushed to 0 (x < -126, or
// < -126.5 on AVX2/scalar, where x is clamped to -127 first): a subnormal result costs a
// microcode assist (~100x slower), and probabilities below 2^-126 of the row maximum are 0 to
// fp32 accuracy anyway. Domain above: x <= 127 on AVX2/scalar (the kernels only pass x <= 0).
// Tested by: test/native/attention_cpu_test.cc (exp2 ulp sweep at every level).

#ifndef LEMMA_SIMD_NS
#error "define LEMMA_SIMD_NS (and LEMMA_SIMD_AVX512 or LEMMA_SIMD_AVX2) before core/simd.h"
#endif

#include <cstdint>
#include <cstring>
#if defined(LEMMA_SIMD_AVX512) || defined(LEMMA_SIMD_AVX2)
#include <immintrin.h>
#endif

namespace lemma {
namespace LEMMA_SIMD_NS {

// exp2 polynomial: 2^f ~= 1 + f*(c0 + f*(c1 + ... f*c5)), |f| <= 1/2.
constexpr float kExp2C0 = 6.931472028550421E-1f;
constexpr float kExp2C1 = 2.402264791363012E-1f;
constexpr float kExp2C2 = 5.550332471162809E-2f;
constexpr float kExp2C3 = 9.618437357674640E-3f;
constexpr float kExp2C4 = 1.339887440266574E-3f;
constexpr float kExp2C5 = 1.535336188319500E-4f;
constexpr float kNegInf = -__builtin_inff();
constexpr float kLowestFinite = -3.40282346638528859811704183484516925e+38f;

// ---------------------------------------------------------------------------------- V1 ----
struct V1 {
  static constexpr int kLanes = 1;
  float v;
  static V1 zero() { return {0.0f}; }
  static V1 set1(float x) { return {x}; }
  static V1 load(const float* p) { return {*p}; }
  static V1 loadu(const float* p) { return {*p}; }
  static V1 load_partial(const float* p, int n) { return {n > 0 ? *p : 0.0f}; }
  void store(float* p) const { *p = v; }
  void storeu(float* p) const { *p = v; }
  void store_partial(float* p, int n) const {
    if (n > 0) *p = v;
  }
  // Lanes [0, n) replaced by fill.
  V1 with_first(int n, float fill) const { return {n > 0 ? fill : v}; }
};
inline V1 fmadd(V1 a, V1 b, V1 c) { return {a.v * b.v + c.v}; }
inline V1 add(V1 a, V1 b) { return {a.v + b.v}; }
inline V1 sub(V1 a, V1 b) { return {a.v - b.v}; }
inline V1 mul(V1 a, V1 b) { return {a.v * b.v}; }
inline V1 max(V1 a, V1 b) { return {a.v > b.v ? a.v : b.v}; }
inline V1 min(V1 a, V1 b) { return {a.v < b.v ? a.v : b.v}; }
inline V1 transpose_sum(const V1* a) { return a[0]; }
inline V1 exp2(V1 x) {
  float t = x.v < -127.0f ? -127.0f : x.v;               // NaN compares false: kept
  const float n = (t + 12582912.0f) - 12582912.0f;      // round to nearest (1.5 * 2^23 trick)
  const float f = t - n;
  float p = kExp2C5;
  p = p * f + kExp2C4;
  p = p * f + kExp2C3;
  p = p * f + kExp2C2;
  p = p * f + kExp2C1;
  p = p * f + kExp2C0;
  p = p * f + 1.0f;
  const int32_t e = (static_cast<int32_t>(n) + 127) << 23;  // n = -127 gives +0.0
  float s;
  std::memcpy(&s, &e, 4);
  return {p * s};
}

#if defined(LEMMA_SIMD_AVX2) || defined(LEMMA_SIMD_AVX512)
// --------------------------------------------------------------------------------- V256 ----
struct V256 {
  static constexpr int kLanes = 8;
  __m256 v;
  static __m256i first_mask(int n) {  // lanes [0, n) all-ones
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), iota);
  }
  static V256 zero() { return {_mm256_setzero_ps()}; }
  static V256 set1(float x) { return {_mm256_set1_ps(x)}; }
  static V256 load(const float* p) { return {_mm256_load_ps(p)}; }
  static V256 loadu(const float* p) { return {_mm256_loadu_ps(p)}; }
  static V256 load_partial(const float* p, int n) { return {_mm256_maskload_ps(p, first_mask(n))}; }
  void store(float* p) const { _mm256_store_ps(p, v); }
  void storeu(float* p) const { _mm256_storeu_ps(p, v); }
  void store_partial(float* p, int n) const { _mm256_maskstore_ps(p, first_mask(n), v); }
  V256 with_first(int n, float fill) const {
    return {_mm256_blendv_ps(v, _mm256_set1_ps(fill), _mm256_castsi256_ps(first_mask(n)))};
  }
};
inline V256 fmadd(V256 a, V256 b, V256 c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
inline V256 add(V256 a, V256 b) { return {_mm256_add_ps(a.v, b.v)}; }
inline V256 sub(V256 a, V256 b) { return {_mm256_sub_ps(a.v, b.v)}; }
inline V256 mul(V256 a, V256 b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline V256 max(V256 a, V256 b) { return {_mm256_max_ps(a.v, b.v)}; }
inline V256 min(V256 a, V256 b) { return {_mm256_min_ps(a.v, b.v)}; }
// Lane k = sum of the lanes of a[k], k < 8: pairs interleave and add (per 128-bit half: sums of
// lanes {0,2} and {1,3}), then 64-bit pairs, then the two halves. 21 instructions for 8 sums.
inline V256 transpose_sum(const V256* a) {
  __m256 s[4], t[2];
  for (int i = 0; i < 4; ++i)
    s[i] = _mm256_add_ps(_mm256_unpacklo_ps(a[2 * i].v, a[2 * i + 1].v),
                         _mm256_unpackhi_ps(a[2 * i].v, a[2 * i + 1].v));
  for (int i = 0; i < 2; ++i)
    t[i] = _mm256_add_ps(_mm256_shuffle_ps(s[2 * i], s[2 * i + 1], 0x44),
                         _mm256_shuffle_ps(s[2 * i], s[2 * i + 1], 0xEE));
  return {_mm256_add_ps(_mm256_permute2f128_ps(t[0], t[1], 0x20),
                        _mm256_permute2f128_ps(t[0], t[1], 0x31))};
}
inline V256 exp2(V256 x) {
  // maxps returns its second operand when either is NaN: x second, so NaN propagates.
  const __m256 t = _mm256_max_ps(_mm256_set1_ps(-127.0f), x.v);
  const __m256 n = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 f = _mm256_sub_ps(t, n);
  __m256 p = _mm256_set1_ps(kExp2C5);
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2C4));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2C3));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2C2));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2C1));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2C0));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);  // -127 -> +0.0
  return {_mm256_mul_ps(p, _mm256_castsi256_ps(e))};
}
#endif

#if defined(LEMMA_SIMD_AVX512)
// --------------------------------------------------------------------------------- V512 ----
struct V512 {
  static constexpr int kLanes = 16;
  __m512 v;
  static __mmask16 first_mask(int n) {
    return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
  }
  static V512 zero() { return {_mm512_setzero_ps()}; }
  static V512 set1(float x) { return {_mm512_set1_ps(x)}; }
  static V512 load(const float* p) { return {_mm512_load_ps(p)}; }
  static V512 loadu(const float* p) { return {_mm512_loadu_ps(p)}; }
  static V512 load_partial(const float* p, int n) {
    return {_mm512_maskz_loadu_ps(first_mask(n), p)};
  }
  void store(float* p) const { _mm512_store_ps(p, v); }
  void storeu(float* p) const { _mm512_storeu_ps(p, v); }
  void store_partial(float* p, int n) const { _mm512_mask_storeu_ps(p, first_mask(n), v); }
  V512 with_first(int n, float fill) const {
    return {_mm512_mask_mov_ps(v, first_mask(n), _mm512_set1_ps(fill))};
  }
};
inline V512 fmadd(V512 a, V512 b, V512 c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
inline V512 add(V512 a, V512 b) { return {_mm512_add_ps(a.v, b.v)}; }
inline V512 sub(V512 a, V512 b) { return {_mm512_sub_ps(a.v, b.v)}; }
inline V512 mul(V512 a, V512 b) { return {_mm512_mul_ps(a.v, b.v)}; }
inline V512 max(V512 a, V512 b) { return {_mm512_max_ps(a.v, b.v)}; }
inline V512 min(V512 a, V512 b) { return {_mm512_min_ps(a.v, b.v)}; }
// Lane k = sum of the lanes of a[k], k < 16: within each 128-bit quarter, interleave-and-add
// pairs of vectors, then 64-bit pairs (each quarter then holds 4 partial sums, one per vector
// of a group of 4), then fold quarters twice with shuffle_f32x4. 45 instructions for 16 sums.
inline V512 transpose_sum(const V512* a) {
  __m512 s[8], t[4], u[2];
  for (int i = 0; i < 8; ++i)
    s[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i].v, a[2 * i + 1].v),
                         _mm512_unpackhi_ps(a[2 * i].v, a[2 * i + 1].v));
  for (int i = 0; i < 4; ++i)
    t[i] = _mm512_add_ps(_mm512_shuffle_ps(s[2 * i], s[2 * i + 1], 0x44),
                         _mm512_shuffle_ps(s[2 * i], s[2 * i + 1], 0xEE));
  for (int i = 0; i < 2; ++i)  // quarters (0, 2 | 0, 2) + (1, 3 | 1, 3)
    u[i] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], 0x88),
                         _mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], 0xDD));
  return {_mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], 0x88),
                        _mm512_shuffle_f32x4(u[0], u[1], 0xDD))};
}
// exp2 on AVX-512 reduces with floor instead: f = x - floor(x) in [0, 1) in one vreduceps, and
// vscalefps applies 2^floor(x) from x itself, so no separate round and subtract.
constexpr float kExp2F0 = 0.693146983840782f;  // 2^f ~= 1 + f*(F0 + f*(F1 + ... f*F5)), f in [0,1)
constexpr float kExp2F1 = 0.2402298362719284f;  // (weighted least-squares fit, max 1 ulp in fp32)
constexpr float kExp2F2 = 0.05548334199372994f;
constexpr float kExp2F3 = 0.009678840977690562f;
constexpr float kExp2F4 = 0.0012439687996819858f;
constexpr float kExp2F5 = 0.00021702254878694708f;

inline V512 exp2(V512 x) {
  // Lanes with x < -126 (and -inf) are zeroed by the mask instead of being scaled into the
  // subnormal range: a subnormal vscalefps result takes a microcode assist (~100x slower). NLT
  // is true for NaN, so NaN propagates; vreduceps(+-inf) = 0 and vscalefps(1, +inf) = +inf.
  const __mmask16 keep = _mm512_cmp_ps_mask(x.v, _mm512_set1_ps(-126.0f), _CMP_NLT_UQ);
  const __m512 f = _mm512_reduce_ps(x.v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  __m512 p = _mm512_set1_ps(kExp2F5);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExp2F4));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExp2F3));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExp2F2));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExp2F1));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExp2F0));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return {_mm512_maskz_scalef_ps(keep, p, x.v)};
}
#endif

}  // namespace LEMMA_SIMD_NS
}  // namespace lemma
