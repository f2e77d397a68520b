// FlashAttention-2 forward (spec 1.4): O = softmax(scale Q K^T) V, lse = logsumexp(scale Q K^T).
//   grid: one CTA per (query block of kBr rows, batch * query head), longest (causal) first;
//   each warp owns 16 query rows; K and V stream through shared memory in blocks of kBc keys.
//   Pipeline (FA-2): V_j loads while S = Q K_j^T is computed, K_{j-1} loads while O += P V_j.
//   Online softmax in exp2 units (x = scale log2(e) s), fp32 m, l, O; P rounded to the input
//   type for the P V product. Masks (key tail, causal diagonal) only on blocks that need them.
//   Fully masked rows: m stays -inf, guarded to give P = 0, then O = 0, lse = +inf.
#pragma once
#include "attention/flash_common.cuh"

namespace lemma::cuda {

// kSmall: the variant for devices with 99 KB of shared memory per block (sm_86/89/120): the key
// block halved until Q, K and V fit. Instantiated only where the default does not fit.
template <class P, int kD, bool kSmall = false>
struct FwdTraits {
  static constexpr int kE = P::kElemBytes;
  static constexpr int kWarps = kD == 256 ? 4 : 8;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kBr = 16 * kWarps;                  // query rows per CTA
  static constexpr int kRowBytes = kD * kE;
  static constexpr int kPitch = kRowBytes + 16;
  static constexpr int kBcDefault = kD == 256 ? (kE == 4 ? 16 : 32) : 64;  // D = 256: registers
  // Q, K, V: kBr * kPitch + kBc * 2 kPitch bytes.
  static constexpr int kBc = kSmall ? halve_to_fit(kBcDefault, 16, kBr * kPitch, 2 * kPitch) : kBcDefault;  // keys per block
  static constexpr int kSmem = (kBr + 2 * kBc) * kPitch;
  static constexpr int kKSteps = kRowBytes / 32;           // k-steps of Q K^T over D
  // Long rows (D = 256 at 16 bits, D >= 128 at 32 bits): a rolled k loop keeps fewer
  // addresses live, so the accumulators stay in registers.
  static constexpr int kUnrollK = kRowBytes >= 512 ? 2 : kKSteps;
  static constexpr int kNT = kBc / 8;                      // n8 tiles of S per warp
  static constexpr int kDT = kD / 8;                       // n8 tiles of O per warp
  static_assert(kD % 32 == 0 && kD <= 256, "head dims 32, 64, 96, 128, 256");
  static_assert(kRowBytes % 32 == 0, "whole k-steps");
  static_assert(kBc % P::kK == 0 && kBc % 16 == 0, "key block is whole k-steps and n8 pairs");
  static_assert(kDT % 2 == 0, "O tiles come in pairs");
  static_assert(kSmem <= kMaxSmemBytes, "shared memory must fit an A100");
  static_assert(!kSmall || kSmem <= kSmallSmemBytes, "the small variant must fit 99 KB");
  static_assert(!kSmall || (kBr + 2 * kBcDefault) * kPitch > kSmallSmemBytes,
                "a small variant only where the default does not fit");
};

template <class P, int kD, bool kSmall>
__global__ void __launch_bounds__(FwdTraits<P, kD, kSmall>::kThreads, 1) flash_fwd_kernel(const FlashParams p) {
  using T = FwdTraits<P, kD, kSmall>;
  LEMMA_DYNAMIC_SMEM(char, smem);
  char* sQ = smem;
  char* sK = sQ + T::kBr * T::kPitch;
  char* sV = sK + T::kBc * T::kPitch;

  const int num_m = (p.Nq + T::kBr - 1) / T::kBr;
  const int m_block = num_m - 1 - static_cast<int>(blockIdx.x % num_m);
  const int bh = static_cast<int>(blockIdx.x / num_m);
  const int b = bh / p.Hq, h = bh % p.Hq, hk = h / p.group;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int m0 = m_block * T::kBr;
  const int shift = p.Nk - p.Nq;  // causal: row i sees keys j <= i + shift

  const char* gQ = static_cast<const char*>(p.q) + static_cast<int64_t>(bh) * p.Nq * T::kRowBytes;
  const char* gK = static_cast<const char*>(p.k) + static_cast<int64_t>(b * p.Hkv + hk) * p.Nk * T::kRowBytes;
  const char* gV = static_cast<const char*>(p.v) + static_cast<int64_t>(b * p.Hkv + hk) * p.Nk * T::kRowBytes;
  char* gO = static_cast<char*>(p.out) + static_cast<int64_t>(bh) * p.Nq * T::kRowBytes;
  float* gL = p.lse + static_cast<int64_t>(bh) * p.Nq;

  int n_end = p.Nk;
  if (p.causal) n_end = min(p.Nk, m0 + T::kBr + shift);
  if (n_end <= 0) {  // every row of this block sees no key
    for (int i = threadIdx.x; i < T::kBr * kD; i += T::kThreads) {
      const int r = i / kD, c = i - r * kD;
      if (m0 + r < p.Nq) {
        typename P::Elem* row = reinterpret_cast<typename P::Elem*>(gO + static_cast<int64_t>(m0 + r) * T::kRowBytes);
        row[c] = typename P::Elem(0.f);
      }
    }
    for (int r = threadIdx.x; r < T::kBr; r += T::kThreads)
      if (m0 + r < p.Nq) gL[m0 + r] = __int_as_float(0x7f800000);
    return;
  }
  const int num_n = (n_end + T::kBc - 1) / T::kBc;

  load_rows_async<T::kBr, T::kRowBytes, T::kPitch, T::kThreads>(sQ, gQ, m0, p.Nq);
  load_rows_async<T::kBc, T::kRowBytes, T::kPitch, T::kThreads>(sK, gK, (num_n - 1) * T::kBc, p.Nk);
  cp_async_commit();

  float o[T::kDT][4];
  zero_acc(o);
  float m_run[2] = {-INFINITY, -INFINITY};  // running max of x, rows g and g + 8
  float l_run[2] = {0.f, 0.f};              // this thread's share of the running sum
  const int row_lo = m0 + warp * 16 + g;    // rows row_lo and row_lo + 8

  for (int n_block = num_n - 1; n_block >= 0; --n_block) {
    const int n0 = n_block * T::kBc;
    cp_async_wait<0>();
    __syncthreads();  // K_j visible; every warp is done with V_{j+1}
    load_rows_async<T::kBc, T::kRowBytes, T::kPitch, T::kThreads>(sV, gV, n0, p.Nk);
    cp_async_commit();

    float s[T::kNT][4];
    zero_acc(s);
#pragma unroll(T::kUnrollK)
    for (int ks = 0; ks < T::kKSteps; ++ks) {
      uint32_t a[4];
      load_a<P>(a, sQ, T::kPitch, warp * 16, ks * 32);
#pragma unroll
      for (int np = 0; np < T::kNT / 2; ++np) {
        uint32_t bb[4];
        load_b2<P>(bb, sK, T::kPitch, np * 16, ks * 32);
        P::mma(s[2 * np], a, bb[0], bb[1]);
        P::mma(s[2 * np + 1], a, bb[2], bb[3]);
      }
    }

    // Scale to exp2 units and mask.
    const bool need_mask = n0 + T::kBc > p.Nk || (p.causal && n0 + T::kBc - 1 > m0 + shift);
#pragma unroll
    for (int nt = 0; nt < T::kNT; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float x = s[nt][e] * p.scale_log2;
        if (need_mask) {
          const int col = n0 + nt * 8 + 2 * t + (e & 1);
          const int row = row_lo + (e >> 1) * 8;
          if (col >= p.Nk || (p.causal && col > row + shift)) x = -INFINITY;
        }
        s[nt][e] = x;
      }
    }

    // Online softmax (rows g: elements 0, 1; row g + 8: elements 2, 3).
#pragma unroll
    for (int hh = 0; hh < 2; ++hh) {
      float mx = m_run[hh];
#pragma unroll
      for (int nt = 0; nt < T::kNT; ++nt) mx = fmaxf(mx, fmaxf(s[nt][2 * hh], s[nt][2 * hh + 1]));
      mx = quad_max(mx);
      const float m_use = mx == -INFINITY ? 0.f : mx;  // fully masked so far: P = exp2(-inf) = 0
      const float corr = exp2f(m_run[hh] - m_use);
      m_run[hh] = mx;
      float sum = 0.f;
#pragma unroll
      for (int nt = 0; nt < T::kNT; ++nt) {
        s[nt][2 * hh] = exp2f(s[nt][2 * hh] - m_use);
        s[nt][2 * hh + 1] = exp2f(s[nt][2 * hh + 1] - m_use);
        sum += s[nt][2 * hh] + s[nt][2 * hh + 1];
      }
      l_run[hh] = l_run[hh] * corr + sum;
#pragma unroll
      for (int dt = 0; dt < T::kDT; ++dt) {
        o[dt][2 * hh] *= corr;
        o[dt][2 * hh + 1] *= corr;
      }
    }

    cp_async_wait<0>();
    __syncthreads();  // V_j visible; every warp is done with K_j
    if (n_block > 0) {
      load_rows_async<T::kBc, T::kRowBytes, T::kPitch, T::kThreads>(sK, gK, n0 - T::kBc, p.Nk);
      cp_async_commit();
    }

    // O += P V_j
#pragma unroll
    for (int kk = 0; kk < T::kBc / P::kK; ++kk) {
      uint32_t a[4];
      c_to_a<P>(a, s, kk);
#pragma unroll
      for (int dp = 0; dp < T::kDT / 2; ++dp) {
        uint32_t bb[4];
        load_b2_trans<P>(bb, sV, T::kPitch, kk * P::kK, dp * 16);
        P::mma(o[2 * dp], a, bb[0], bb[1]);
        P::mma(o[2 * dp + 1], a, bb[2], bb[3]);
      }
    }
  }

  float inv[2], lse[2];
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const float l = quad_sum(l_run[hh]);
    const bool empty = !(l > 0.f);
    inv[hh] = empty ? 0.f : 1.f / l;
    lse[hh] = empty ? __int_as_float(0x7f800000) : (m_run[hh] + __log2f(l)) * kLn2;
  }
  store_acc_rows<P>(gO, kD, warp * 16 + m0, p.Nq, 0, o, inv[0], inv[1]);
  if (t == 0) {
    if (row_lo < p.Nq) gL[row_lo] = lse[0];
    if (row_lo + 8 < p.Nq) gL[row_lo + 8] = lse[1];
  }
}

}  // namespace lemma::cuda
