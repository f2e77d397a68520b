// The one compute kernel of the fast polynomial-attention path: C[M x N] += A[M x K] B[K x N]
// (row-major, fp32), written once over the vector type of core/simd.h and compiled once per ISA
// by poly_attention_cpu_{scalar,avx2,avx512}.cc, each in its own namespace. Register tile: 4 rows
// of A x 2 vectors of N (8 rows x 1 vector for narrow panels), accumulated over all of K, then added to C (so every output element is
// one FMA chain over k in order: the same sums on every ISA up to FMA contraction).
// Tested by: test/native/poly_attention_test.cc (every SIMD level this CPU has).
#include <cstdint>

namespace lemma {
namespace LEMMA_SIMD_NS {

#if defined(LEMMA_SIMD_AVX512)
using PolyV = V512;
#elif defined(LEMMA_SIMD_AVX2)
using PolyV = V256;
#else
using PolyV = V1;
#endif

namespace {

constexpr int kPL = PolyV::kLanes;

// Rows [0, R) of C, columns [n0, n0 + w), w <= NV vectors (w1, w2 lanes in the first, second).
template <int R, int NV, bool kFull>
inline void tile(int K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc,
                 int n0, int w1, int w2) {
  PolyV acc0[R], acc1[R];
  for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = PolyV::zero();
  for (int k = 0; k < K; ++k) {
    const float* b = B + k * ldb + n0;
    const PolyV b0 = kFull ? PolyV::loadu(b) : PolyV::load_partial(b, w1);
    if (NV == 1) {
      for (int r = 0; r < R; ++r) acc0[r] = fmadd(PolyV::set1(A[r * lda + k]), b0, acc0[r]);
      continue;
    }
    const PolyV b1 = kFull ? PolyV::loadu(b + kPL) : PolyV::load_partial(b + kPL, w2);
    for (int r = 0; r < R; ++r) {
      const PolyV a = PolyV::set1(A[r * lda + k]);
      acc0[r] = fmadd(a, b0, acc0[r]);
      acc1[r] = fmadd(a, b1, acc1[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    float* c = C + r * ldc + n0;
    if (kFull) {
      add(PolyV::loadu(c), acc0[r]).storeu(c);
      if (NV == 2) add(PolyV::loadu(c + kPL), acc1[r]).storeu(c + kPL);
    } else {
      add(PolyV::load_partial(c, w1), acc0[r]).store_partial(c, w1);
      if (NV == 2 && w2 > 0) add(PolyV::load_partial(c + kPL, w2), acc1[r]).store_partial(c + kPL, w2);
    }
  }
}

// One column panel: 4-row tiles of two vectors, or 8-row tiles of one vector when the panel is
// at most one vector wide (N = D = 16 on AVX-512 would otherwise spend half its FMAs on zeros).
template <int NV, bool kFull>
void panel(int M, int K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc,
           int n0, int w1, int w2) {
  constexpr int R = NV == 1 ? 8 : 4;
  int i = 0;
  for (; i + R <= M; i += R) tile<R, NV, kFull>(K, A + i * lda, lda, B, ldb, C + i * ldc, ldc, n0, w1, w2);
  for (; i < M; ++i) tile<1, NV, kFull>(K, A + i * lda, lda, B, ldb, C + i * ldc, ldc, n0, w1, w2);
}

}  // namespace

void poly_gemm_f32(int M, int N, int K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
                   int64_t ldc) {
  for (int n0 = 0; n0 < N; n0 += 2 * kPL) {
    const int w = N - n0 < 2 * kPL ? N - n0 : 2 * kPL;
    if (w == 2 * kPL) {
      panel<2, true>(M, K, A, lda, B, ldb, C, ldc, n0, kPL, kPL);
    } else if (w == kPL) {
      panel<1, true>(M, K, A, lda, B, ldb, C, ldc, n0, kPL, 0);
    } else if (w < kPL) {
      panel<1, false>(M, K, A, lda, B, ldb, C, ldc, n0, w, 0);
    } else {
      panel<2, false>(M, K, A, lda, B, ldb, C, ldc, n0, kPL, w - kPL);
    }
  }
}

}  // namespace LEMMA_SIMD_NS
}  // namespace lemma
