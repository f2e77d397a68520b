// FlashAttention-2 backward (spec 1.5), three kernels:
//   flash_bwd_dsum_kernel   D = rowsum(dO . O) in fp32 (from the O the forward stored, operands
//                           rounded as dP's), and zeroes the fp32 dQ accumulator in atomic mode.
//   flash_bwd_dkdv_kernel   one CTA per (key block of kBc keys, batch * kv head); loops over the
//                           query heads of the group and the query blocks that see the keys,
//                           computing the transposed tiles S^T = K Q^T and dP^T = V dO^T so that
//                           P^T and dS^T sit in registers as the A operands of
//                           dV += P^T dO and dK += dS^T Q (no shared-memory transposes).
//                           Each warp owns 16 keys (and kD / kSplit columns of dK, dV).
//                           Atomic mode: dS^T also goes to shared memory and the CTA adds
//                           dS K into the fp32 dQ accumulator with atomics.
//   flash_bwd_dq_kernel     deterministic mode: one CTA per (query block, batch * head)
//                           recomputes S, P, dP, dS over the key blocks and accumulates
//                           dQ = scale dS K in registers (bitwise reproducible).
//   flash_bwd_dq_convert_kernel  atomic mode: dQ = scale * accumulator, cast.
// P is recomputed from the saved lse: P = exp2(scale log2(e) s - log2(e) lse); rows with
// lse = +inf (no visible key) give P = 0, hence dS = 0.
#pragma once
#include "attention/flash_common.cuh"

namespace lemma::cuda {

// ---- D = rowsum(dO . O) ----------------------------------------------------------------------
// One warp per row; rows = B * Hq * Nq. Also zeroes dq_accum rows when it is set.
// dO and O are rounded as the MMA rounds the operands of dP = dO V^T (P::op: TF32 for tf32), so
// that dS = P (dP - D) cancels where a row's attention sits on one key (O = V_j) up to fp32
// accumulation order; with fp32 O and dO the TF32 rounding of dP alone stayed in dS (tf32 dq, dk
// errors of 1e-3 where the truth is 0).
template <class P>
__global__ void __launch_bounds__(256) flash_bwd_dsum_kernel(const FlashParams p, int d, int64_t rows,
                                                               float* dsum) {
  using E = typename P::Elem;
  const int64_t row = blockIdx.x * 8LL + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  const E* o = static_cast<const E*>(p.o) + row * d;
  const E* dout = static_cast<const E*>(p.dout) + row * d;
  float acc = 0.f;
  for (int c = lane; c < d; c += 32) acc += P::op(P::to_float(o[c])) * P::op(P::to_float(dout[c]));
  acc = warp_sum(acc);
  if (lane == 0) dsum[row] = acc;
  if (p.atomic_dq) {
    float* a = p.dq_accum + row * d;
    for (int c = lane; c < d; c += 32) a[c] = 0.f;
  }
}

// dQ = scale * accumulator, in the policy's element type. n = B * Hq * Nq * D elements.
template <class P>
__global__ void flash_bwd_dq_convert_kernel(const float* __restrict__ acc, void* dq, float scale, int64_t n) {
  using E = typename P::Elem;
  E* out = static_cast<E*>(dq);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    out[i] = E(acc[i] * scale);
}

// ---- dK, dV (and atomic dQ) --------------------------------------------------------------------
// kSmall: the variant for devices with 99 KB of shared memory per block (sm_86/89/120),
// instantiated only where the default does not fit. From the default: the query step halved
// while the atomic-dQ split stays whole, then single-buffered Q/dO, then fewer keys:
//   16-bit D=256  8 warps, kBr 32 -> 16, 2 -> 1 stage      140800 -> 87680 bytes
//   tf32   D=64   kBr 64 -> 32                              122880 -> 79360
//   tf32   D=96   2 -> 1 stage (kBr 16 would split 96 dQ columns into 24s)  112128 -> 86272
//   tf32   D=128  kBr 32 -> 16, 2 -> 1 stage               144896 -> 89728
//   tf32   D=256  kBr 16, 1 stage, 32 -> 16 keys: the 4 warps split the columns 4 ways (2 warps
//                 splitting them 2 ways needed 255 registers and spilled)   102528 -> 67968
template <class P, int kD, bool kSmall = false>
struct BwdKVTraits {
  static constexpr int kE = P::kElemBytes;
  static constexpr int kSplit = kD == 256 ? (kSmall && kE == 4 ? 4 : 2) : 1;  // warps sharing 16 keys, splitting dK/dV columns
  static constexpr int kWarps = (kD == 256 && kE == 2) ? 8 : 4;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kBc = 16 * kWarps / kSplit;  // keys per CTA
  static constexpr int kBr = kSmall ? ((kE == 4 && kD <= 96) ? 32 : 16)  // queries per step
                             : ((kE == 2 && kD <= 96) || (kE == 4 && kD <= 64)) ? 64
                             : (kE == 4 && kD == 256)                         ? 16
                                                                              : 32;
  static constexpr int kStages = kSmall ? (kE == 4 && kD == 64 ? 2 : 1) : (kE == 4 && kD == 256 ? 1 : 2);  // Q/dO buffers
  static constexpr int kRowBytes = kD * kE;
  static constexpr int kPitch = kRowBytes + 16;
  static constexpr int kDsPitch = kBr * kE + 16;  // dS^T tile: kBc rows (keys) x kBr (queries)
  static constexpr int kDW = kD / kSplit;         // dK/dV columns per warp
  static constexpr int kDWT = kDW / 8;
  static constexpr int kNTq = kBr / 8;            // n8 tiles of S^T per warp
  static constexpr int kKSteps = kRowBytes / 32;
  // Long rows (D = 256 at 16 bits, D >= 128 at 32 bits): a rolled k loop keeps fewer
  // addresses live, so the accumulators stay in registers.
  static constexpr int kUnrollK = kRowBytes >= 512 ? 2 : kKSteps;
  static constexpr int kMT = kBr / 16;            // atomic dQ: m16 tiles
  static constexpr int kCG = kWarps / kMT;        // atomic dQ: column groups
  static constexpr int kQCols = kD / kCG;         // atomic dQ: columns per warp
  static constexpr int kSmemKV = 2 * kBc * kPitch;
  static constexpr int kSmemQdO = kStages * 2 * kBr * kPitch;
  static constexpr int kSmemDs = kBc * kDsPitch;
  static constexpr int kSmemVec = kStages * 2 * kBr * 4;
  static constexpr int kSmem = kSmemKV + kSmemQdO + kSmemDs + kSmemVec;
  static_assert(kD % 32 == 0 && kD <= 256, "head dims 32, 64, 96, 128, 256");
  static_assert(kWarps % kSplit == 0 && kDW % 16 == 0, "column split in n8 pairs");
  static_assert(kBr % 16 == 0 && kBr % P::kK == 0 && kNTq % 2 == 0, "query step in n8 pairs");
  static_assert(kBc % P::kK == 0, "key block is whole k-steps");
  static_assert(kWarps % kMT == 0 && kQCols % 16 == 0, "atomic dQ work divides among warps");
  static_assert(kBr <= kThreads, "lse / D loads: one element per thread");
  static_assert(kSmem <= kMaxSmemBytes, "shared memory must fit an A100");
  static_assert(!kSmall || kSmem <= kSmallSmemBytes, "the small variant must fit 99 KB");
  static_assert(!kSmall || BwdKVTraits<P, kD, false>::kSmem > kSmallSmemBytes,
                "a small variant only where the default does not fit");
};

template <class P, int kD, bool kSmall>
__global__ void __launch_bounds__(BwdKVTraits<P, kD, kSmall>::kThreads, 1) flash_bwd_dkdv_kernel(const FlashParams p) {
  using T = BwdKVTraits<P, kD, kSmall>;
  LEMMA_DYNAMIC_SMEM(char, smem);
  char* sK = smem;
  char* sV = sK + T::kBc * T::kPitch;
  char* sQ0 = sV + T::kBc * T::kPitch;                    // [kStages][kBr rows]
  char* sdO0 = sQ0 + T::kStages * T::kBr * T::kPitch;     // [kStages][kBr rows]
  char* sdS = sdO0 + T::kStages * T::kBr * T::kPitch;     // [kBc][kDsPitch]
  float* sLse0 = reinterpret_cast<float*>(sdS + T::kSmemDs);  // [kStages][kBr]
  float* sDsum0 = sLse0 + T::kStages * T::kBr;                // [kStages][kBr]

  const int num_n = (p.Nk + T::kBc - 1) / T::kBc;
  const int n_block = static_cast<int>(blockIdx.x % num_n);
  const int bhk = static_cast<int>(blockIdx.x / num_n);
  const int b = bhk / p.Hkv, hk = bhk % p.Hkv;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int kr = (warp / T::kSplit) * 16;          // this warp's keys within the block
  const int dcol0 = (warp % T::kSplit) * T::kDW;   // this warp's dK / dV columns
  const int n0 = n_block * T::kBc;
  const int shift = p.Nk - p.Nq;

  const int64_t kv_off = static_cast<int64_t>(bhk) * p.Nk * T::kRowBytes;
  const char* gK = static_cast<const char*>(p.k) + kv_off;
  const char* gV = static_cast<const char*>(p.v) + kv_off;
  char* gdK = static_cast<char*>(p.dk) + kv_off;
  char* gdV = static_cast<char*>(p.dv) + kv_off;

  // Query blocks that can see a key of this block: i >= n0 - shift.
  const int m_begin = p.causal ? max(0, n0 - shift) / T::kBr : 0;
  const int num_m = (p.Nq + T::kBr - 1) / T::kBr;
  const int cnt = num_m - m_begin;
  const int total = cnt > 0 ? cnt * p.group : 0;

  float dk[T::kDWT][4], dv[T::kDWT][4];
  zero_acc(dk);
  zero_acc(dv);

  auto issue = [&](int it, int st) {
    const int hh = it / cnt, mb = m_begin + it % cnt;
    const int bh = b * p.Hq + hk * p.group + hh;
    const int64_t q_off = static_cast<int64_t>(bh) * p.Nq;
    load_rows_async<T::kBr, T::kRowBytes, T::kPitch, T::kThreads>(
        sQ0 + st * T::kBr * T::kPitch, static_cast<const char*>(p.q) + q_off * T::kRowBytes, mb * T::kBr, p.Nq);
    load_rows_async<T::kBr, T::kRowBytes, T::kPitch, T::kThreads>(
        sdO0 + st * T::kBr * T::kPitch, static_cast<const char*>(p.dout) + q_off * T::kRowBytes, mb * T::kBr, p.Nq);
    load_vec_async<T::kBr, T::kThreads>(sLse0 + st * T::kBr, p.lse + q_off, mb * T::kBr, p.Nq);
    load_vec_async<T::kBr, T::kThreads>(sDsum0 + st * T::kBr, p.dsum + q_off, mb * T::kBr, p.Nq);
  };

  load_rows_async<T::kBc, T::kRowBytes, T::kPitch, T::kThreads>(sK, gK, n0, p.Nk);
  load_rows_async<T::kBc, T::kRowBytes, T::kPitch, T::kThreads>(sV, gV, n0, p.Nk);
  if (T::kStages == 2 && total > 0) issue(0, 0);
  cp_async_commit();

  for (int it = 0; it < total; ++it) {
    const int st = T::kStages == 2 ? (it & 1) : 0;
    if (T::kStages == 1) {
      if (it > 0) __syncthreads();  // every warp is done with the previous Q, dO, dS
      issue(it, 0);
      cp_async_commit();
    }
    cp_async_wait<0>();
    __syncthreads();  // this step's Q, dO, lse, D visible; previous step fully consumed
    if (T::kStages == 2 && it + 1 < total) {
      issue(it + 1, st ^ 1);
      cp_async_commit();
    }
    const char* sQ = sQ0 + st * T::kBr * T::kPitch;
    const char* sdO = sdO0 + st * T::kBr * T::kPitch;
    const float* sLse = sLse0 + st * T::kBr;
    const float* sDsum = sDsum0 + st * T::kBr;
    const int hh = it / cnt;
    const int m0 = (m_begin + it % cnt) * T::kBr;

    // S^T = K Q^T and dP^T = V dO^T for this warp's 16 keys x kBr queries.
    float sacc[T::kNTq][4], dpacc[T::kNTq][4];
    zero_acc(sacc);
    zero_acc(dpacc);
#pragma unroll(T::kUnrollK)
    for (int ks = 0; ks < T::kKSteps; ++ks) {
      uint32_t a[4];
      load_a<P>(a, sK, T::kPitch, kr, ks * 32);
#pragma unroll
      for (int np = 0; np < T::kNTq / 2; ++np) {
        uint32_t bb[4];
        load_b2<P>(bb, sQ, T::kPitch, np * 16, ks * 32);
        P::mma(sacc[2 * np], a, bb[0], bb[1]);
        P::mma(sacc[2 * np + 1], a, bb[2], bb[3]);
      }
      load_a<P>(a, sV, T::kPitch, kr, ks * 32);
#pragma unroll
      for (int np = 0; np < T::kNTq / 2; ++np) {
        uint32_t bb[4];
        load_b2<P>(bb, sdO, T::kPitch, np * 16, ks * 32);
        P::mma(dpacc[2 * np], a, bb[0], bb[1]);
        P::mma(dpacc[2 * np + 1], a, bb[2], bb[3]);
      }
    }

    // P^T (into sacc) and dS^T (into dpacc).
    const bool need_mask = n0 + T::kBc > p.Nk || m0 + T::kBr > p.Nq ||
                           (p.causal && n0 + T::kBc - 1 > m0 + shift);
#pragma unroll
    for (int nt = 0; nt < T::kNTq; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int ql = nt * 8 + 2 * t + (e & 1);  // query within the step
        float pv = exp2f(sacc[nt][e] * p.scale_log2 - sLse[ql] * kLog2e);
        if (need_mask) {
          const int key = n0 + kr + g + (e >> 1) * 8;
          const int qi = m0 + ql;
          if (key >= p.Nk || qi >= p.Nq || (p.causal && key > qi + shift)) pv = 0.f;
        }
        sacc[nt][e] = pv;
        dpacc[nt][e] = pv * (dpacc[nt][e] - sDsum[ql]);
      }
    }

    // dV += P^T dO, dK += dS^T Q (this warp's columns).
#pragma unroll
    for (int kk = 0; kk < T::kBr / P::kK; ++kk) {
      uint32_t ap[4], ads[4];
      c_to_a<P>(ap, sacc, kk);
      c_to_a<P>(ads, dpacc, kk);
#pragma unroll
      for (int dp = 0; dp < T::kDWT / 2; ++dp) {
        uint32_t bb[4];
        load_b2_trans<P>(bb, sdO, T::kPitch, kk * P::kK, dcol0 + dp * 16);
        P::mma(dv[2 * dp], ap, bb[0], bb[1]);
        P::mma(dv[2 * dp + 1], ap, bb[2], bb[3]);
        load_b2_trans<P>(bb, sQ, T::kPitch, kk * P::kK, dcol0 + dp * 16);
        P::mma(dk[2 * dp], ads, bb[0], bb[1]);
        P::mma(dk[2 * dp + 1], ads, bb[2], bb[3]);
      }
    }

    if (p.atomic_dq) {
      // dS^T to shared memory (rounded to the element type, as the dK product saw it).
      if (warp % T::kSplit == 0) {
#pragma unroll
        for (int nt = 0; nt < T::kNTq; ++nt) {
#pragma unroll
          for (int hr = 0; hr < 2; ++hr) {
            char* dst = sdS + (kr + g + 8 * hr) * T::kDsPitch + (nt * 8 + 2 * t) * T::kE;
            P::store2(dst, dpacc[nt][2 * hr], dpacc[nt][2 * hr + 1]);
          }
        }
      }
      __syncthreads();
      // dQ[m0 .. m0 + kBr) += dS K: warp -> (m16 tile, column group), 16 columns at a time.
      const int mt = warp % T::kMT, cg = warp / T::kMT;
      const int bh = b * p.Hq + hk * p.group + hh;
      float* gacc = p.dq_accum + static_cast<int64_t>(bh) * p.Nq * kD;
#pragma unroll
      for (int cc = 0; cc < T::kQCols / 16; ++cc) {
        const int c0 = cg * T::kQCols + cc * 16;
        float acc[2][4];
        zero_acc(acc);
#pragma unroll
        for (int kk = 0; kk < T::kBc / P::kK; ++kk) {
          uint32_t a[4], bb[4];
          load_a_trans<P>(a, sdS, T::kDsPitch, mt * 16, kk * P::kK);
          load_b2_trans<P>(bb, sK, T::kPitch, kk * P::kK, c0);
          P::mma(acc[0], a, bb[0], bb[1]);
          P::mma(acc[1], a, bb[2], bb[3]);
        }
#pragma unroll
        for (int hr = 0; hr < 2; ++hr) {
          const int qi = m0 + mt * 16 + g + 8 * hr;
          if (qi < p.Nq) {
            float* rowp = gacc + static_cast<int64_t>(qi) * kD + c0 + 2 * t;
#pragma unroll
            for (int j = 0; j < 2; ++j) {
              atomicAdd(rowp + 8 * j, acc[j][2 * hr]);
              atomicAdd(rowp + 8 * j + 1, acc[j][2 * hr + 1]);
            }
          }
        }
      }
    }
  }

  cp_async_wait<0>();  // nothing may still be in flight at exit (the loop may not have run)
  // dK = scale dS^T Q, dV = P^T dO; key rows past Nk are not stored. Blocks that no query
  // sees (none exist with bottom-right causal, but the loop allows it) store zeros.
  store_acc_rows<P>(gdK, kD, n0 + kr, p.Nk, dcol0, dk, p.scale, p.scale);
  store_acc_rows<P>(gdV, kD, n0 + kr, p.Nk, dcol0, dv, 1.f, 1.f);
}

// ---- deterministic dQ -------------------------------------------------------------------------
// kSmall: the variant for devices with 99 KB of shared memory per block (sm_86/89/120),
// instantiated only where the default does not fit: the key block halved until it fits
// (16-bit D=128 and tf32 D=64: 32 keys; tf32 D=96: 16; tf32 D=128: 32, single-buffered).
template <class P, int kD, bool kSmall = false>
struct BwdQTraits {
  static constexpr int kE = P::kElemBytes;
  static constexpr int kWarps = (kD == 256 && kE == 4) ? 2 : 4;
  static constexpr int kThreads = 32 * kWarps;
  static constexpr int kBr = 16 * kWarps;
  static constexpr int kStages = (kE == 4 && kD >= 128) ? 1 : 2;  // K/V buffers
  static constexpr int kRowBytes = kD * kE;
  static constexpr int kPitch = kRowBytes + 16;
  static constexpr int kBcDefault = kD == 256 ? 16 : 64;  // D = 256: keeps dQ (128 regs) + S, dP in registers
  // Q, dO: 2 kBr * kPitch bytes; K, V: kBc * kStages * 2 kPitch.
  static constexpr int kBc = kSmall ? halve_to_fit(kBcDefault, 16, 2 * kBr * kPitch, kStages * 2 * kPitch) : kBcDefault;
  static constexpr int kKSteps = kRowBytes / 32;
  // Long rows (D = 256 at 16 bits, D >= 128 at 32 bits): a rolled k loop keeps fewer
  // addresses live, so the accumulators stay in registers.
  static constexpr int kUnrollK = kRowBytes >= 512 ? 2 : kKSteps;
  static constexpr int kNT = kBc / 8;
  static constexpr int kDT = kD / 8;
  static constexpr int kSmem = 2 * kBr * kPitch + kStages * 2 * kBc * kPitch;
  static_assert(kD % 32 == 0 && kD <= 256, "head dims 32, 64, 96, 128, 256");
  static_assert(kBc % P::kK == 0 && kNT % 2 == 0 && kDT % 2 == 0, "whole k-steps, n8 pairs");
  static_assert(kSmem <= kMaxSmemBytes, "shared memory must fit an A100");
  static_assert(!kSmall || kSmem <= kSmallSmemBytes, "the small variant must fit 99 KB");
  static_assert(!kSmall || BwdQTraits<P, kD, false>::kSmem > kSmallSmemBytes,
                "a small variant only where the default does not fit");
};

template <class P, int kD, bool kSmall>
__global__ void __launch_bounds__(BwdQTraits<P, kD, kSmall>::kThreads, 1) flash_bwd_dq_kernel(const FlashParams p) {
  using T = BwdQTraits<P, kD, kSmall>;
  LEMMA_DYNAMIC_SMEM(char, smem);
  char* sQ = smem;
  char* sdO = sQ + T::kBr * T::kPitch;
  char* sK0 = sdO + T::kBr * T::kPitch;             // [kStages][kBc rows]
  char* sV0 = sK0 + T::kStages * T::kBc * T::kPitch;  // [kStages][kBc rows]

  const int num_m = (p.Nq + T::kBr - 1) / T::kBr;
  const int m_block = num_m - 1 - static_cast<int>(blockIdx.x % num_m);
  const int bh = static_cast<int>(blockIdx.x / num_m);
  const int b = bh / p.Hq, h = bh % p.Hq, hk = h / p.group;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int m0 = m_block * T::kBr;
  const int shift = p.Nk - p.Nq;

  const int64_t q_off = static_cast<int64_t>(bh) * p.Nq;
  const char* gQ = static_cast<const char*>(p.q) + q_off * T::kRowBytes;
  const char* gdO = static_cast<const char*>(p.dout) + q_off * T::kRowBytes;
  const int64_t kv_off = static_cast<int64_t>(b * p.Hkv + hk) * p.Nk * T::kRowBytes;
  const char* gK = static_cast<const char*>(p.k) + kv_off;
  const char* gV = static_cast<const char*>(p.v) + kv_off;
  char* gdQ = static_cast<char*>(p.dq) + q_off * T::kRowBytes;

  float dq[T::kDT][4];
  zero_acc(dq);
  int n_end = p.Nk;
  if (p.causal) n_end = min(p.Nk, m0 + T::kBr + shift);
  const int num_n = n_end > 0 ? (n_end + T::kBc - 1) / T::kBc : 0;

  const int row_lo = m0 + warp * 16 + g;
  float lse2[2], dsum[2];
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const int r = row_lo + 8 * hh;
    lse2[hh] = r < p.Nq ? p.lse[q_off + r] * kLog2e : __int_as_float(0x7f800000);
    dsum[hh] = r < p.Nq ? p.dsum[q_off + r] : 0.f;
  }

  if (num_n > 0) {
    load_rows_async<T::kBr, T::kRowBytes, T::kPitch, T::kThreads>(sQ, gQ, m0, p.Nq);
    load_rows_async<T::kBr, T::kRowBytes, T::kPitch, T::kThreads>(sdO, gdO, m0, p.Nq);
    if (T::kStages == 2) {
      load_rows_async<T::kBc, T::kRowBytes, T::kPitch, T::kThreads>(sK0, gK, 0, p.Nk);
      load_rows_async<T::kBc, T::kRowBytes, T::kPitch, T::kThreads>(sV0, gV, 0, p.Nk);
    }
    cp_async_commit();
  }

  for (int n_block = 0; n_block < num_n; ++n_block) {
    const int st = T::kStages == 2 ? (n_block & 1) : 0;
    const int n0 = n_block * T::kBc;
    if (T::kStages == 1) {
      if (n_block > 0) __syncthreads();  // every warp is done with the previous K, V
      load_rows_async<T::kBc, T::kRowBytes, T::kPitch, T::kThreads>(sK0, gK, n0, p.Nk);
      load_rows_async<T::kBc, T::kRowBytes, T::kPitch, T::kThreads>(sV0, gV, n0, p.Nk);
      cp_async_commit();
    }
    cp_async_wait<0>();
    __syncthreads();
    if (T::kStages == 2 && n_block + 1 < num_n) {
      load_rows_async<T::kBc, T::kRowBytes, T::kPitch, T::kThreads>(sK0 + (st ^ 1) * T::kBc * T::kPitch, gK,
                                                                    n0 + T::kBc, p.Nk);
      load_rows_async<T::kBc, T::kRowBytes, T::kPitch, T::kThreads>(sV0 + (st ^ 1) * T::kBc * T::kPitch, gV,
                                                                    n0 + T::kBc, p.Nk);
      cp_async_commit();
    }
    const char* sK = sK0 + st * T::kBc * T::kPitch;
    const char* sV = sV0 + st * T::kBc * T::kPitch;

    float s[T::kNT][4], dp[T::kNT][4];
    zero_acc(s);
    zero_acc(dp);
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
      load_a<P>(a, sdO, T::kPitch, warp * 16, ks * 32);
#pragma unroll
      for (int np = 0; np < T::kNT / 2; ++np) {
        uint32_t bb[4];
        load_b2<P>(bb, sV, T::kPitch, np * 16, ks * 32);
        P::mma(dp[2 * np], a, bb[0], bb[1]);
        P::mma(dp[2 * np + 1], a, bb[2], bb[3]);
      }
    }

    const bool need_mask = n0 + T::kBc > p.Nk || (p.causal && n0 + T::kBc - 1 > m0 + shift);
#pragma unroll
    for (int nt = 0; nt < T::kNT; ++nt) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float pv = exp2f(s[nt][e] * p.scale_log2 - lse2[e >> 1]);
        if (need_mask) {
          const int col = n0 + nt * 8 + 2 * t + (e & 1);
          const int row = row_lo + (e >> 1) * 8;
          if (col >= p.Nk || (p.causal && col > row + shift)) pv = 0.f;
        }
        s[nt][e] = pv * (dp[nt][e] - dsum[e >> 1]);  // dS
      }
    }

    // dQ += dS K
#pragma unroll
    for (int kk = 0; kk < T::kBc / P::kK; ++kk) {
      uint32_t a[4];
      c_to_a<P>(a, s, kk);
#pragma unroll
      for (int dd = 0; dd < T::kDT / 2; ++dd) {
        uint32_t bb[4];
        load_b2_trans<P>(bb, sK, T::kPitch, kk * P::kK, dd * 16);
        P::mma(dq[2 * dd], a, bb[0], bb[1]);
        P::mma(dq[2 * dd + 1], a, bb[2], bb[3]);
      }
    }
  }

  store_acc_rows<P>(gdQ, kD, m0 + warp * 16, p.Nq, 0, dq, p.scale, p.scale);
}

}  // namespace lemma::cuda
