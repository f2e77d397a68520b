// Exact fp32 FlashAttention-2 on CUDA cores (precision 'fp32'): the same algorithm as the
// tensor-core kernels (online softmax, lse saved, D pre-pass, dK/dV per key block, dQ by atomics
// or a second pass), written as plain SIMT code: every product is an fp32 FMA (dot4_chunk).
// Layout: 4 warps per CTA; a warp owns kRows query rows (forward, dQ) or kKeys key rows (dK/dV);
// the 32 lanes of a warp index the 32 keys (or queries) of the streaming tile when scores are
// formed, and the head dim (d = lane + 32 u) when rows are accumulated. Scores go through a
// per-warp shared-memory tile to become broadcast operands of the row updates.
// Shared tiles whose rows are read one row per lane use a pitch of D + 1 floats (conflict-free);
// tiles read as broadcasts or along the head dim use a pitch of D.
#pragma once
#include "attention/flash_common.cuh"

namespace lemma::cuda {

// Rows [row0, row0 + kRowsT) of a row-major [nrows][kD] fp32 array into shared memory with
// pitch kPitch floats; rows at or past nrows become zeros. Plain loads (no async copy).
template <int kRowsT, int kD, int kPitch, int kThreads>
__device__ __forceinline__ void load_rows_f32(float* s, const float* g, int row0, int nrows) {
  constexpr int kV = kD / 4;  // float4 per row
  for (int i = threadIdx.x; i < kRowsT * kV; i += kThreads) {
    const int r = i / kV, c = (i - r * kV) * 4;
    float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
    if (row0 + r < nrows) x = *reinterpret_cast<const float4*>(g + static_cast<int64_t>(row0 + r) * kD + c);
    float* d = s + r * kPitch + c;
    if constexpr (kPitch % 4 == 0) {
      *reinterpret_cast<float4*>(d) = x;
    } else {
      d[0] = x.x;
      d[1] = x.y;
      d[2] = x.z;
      d[3] = x.w;
    }
  }
}

__device__ __forceinline__ float warp_max(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(kFullMask, x, o));
  return x;
}

// One 4-element chunk of a dot product: an FMA chain from its first product. Every fp32 dot
// product over the head dim (S, dP, D) is the in-order sum of these chunks: a blocked summation,
// whose error bound grows with D / 4 + 4 terms instead of D. (One FMA chain over all of D was
// less accurate than the plain reference, which sums 8 values per lane and then the 32 lanes as
// a tree: at D = 256 the backward's errors were a median 1.45x, at worst 2.9x, the plain ones.)
// One more instruction per 4 products, no register.
__device__ __forceinline__ float dot4_chunk(float4 a, float b0, float b1, float b2, float b3) {
  return fmaf(a.w, b3, fmaf(a.z, b2, fmaf(a.y, b1, a.x * b0)));
}

// ---- forward ------------------------------------------------------------------------------------
// kSmall (all three fp32 kernels): the variant for devices with 99 KB of shared memory per block
// (sm_86/89/120), instantiated only where the default does not fit: rows (keys) per warp
// halved until it fits (fwd D=256: 4 rows; dq D=128: 8, D=256: 4; dK/dV D=256: 2 keys).
template <int kD, bool kSmall = false>
struct F32FwdTraits {
  static constexpr int kWarps = 4, kThreads = 128;
  static constexpr int kBc = 32;                    // keys per tile = lanes
  static constexpr int kRowsDefault = kD == 256 ? 8 : 16;
  // Bytes: K, V: 4 kBc (2 kD + 1); per row of a warp: 4 kWarps (kD + kBc) (Q and the P tile).
  static constexpr int kRows = kSmall ? halve_to_fit(kRowsDefault, 1, 4 * kBc * (2 * kD + 1), 4 * kWarps * (kD + kBc))
                                      : kRowsDefault;  // query rows per warp
  static constexpr int kBr = kWarps * kRows;
  static constexpr int kDL = kD / 32;               // head-dim values per lane
  static constexpr int kSmemFloats = kBr * kD + kBc * (kD + 1) + kBc * kD + kWarps * kRows * kBc;
  static constexpr int kSmem = kSmemFloats * 4;
  static_assert(kD % 32 == 0 && kD <= 256, "head dims 32, 64, 96, 128, 256");
  static_assert(kSmem <= kMaxSmemBytes, "shared memory must fit an A100");
  static_assert(!kSmall || kSmem <= kSmallSmemBytes, "the small variant must fit 99 KB");
  static_assert(!kSmall || F32FwdTraits<kD, false>::kSmem > kSmallSmemBytes,
                "a small variant only where the default does not fit");
};

template <int kD, bool kSmall>
__global__ void __launch_bounds__(128, 1) flash_fwd_f32_kernel(const FlashParams p) {
  using T = F32FwdTraits<kD, kSmall>;
  LEMMA_DYNAMIC_SMEM(char, smem);
  float* sQ = reinterpret_cast<float*>(smem);   // [kBr][kD]
  float* sK = sQ + T::kBr * kD;                 // [kBc][kD + 1]
  float* sV = sK + T::kBc * (kD + 1);           // [kBc][kD]
  float* sP = sV + T::kBc * kD;                 // [kWarps][kRows][kBc]

  const int num_m = (p.Nq + T::kBr - 1) / T::kBr;
  const int m_block = num_m - 1 - static_cast<int>(blockIdx.x % num_m);
  const int bh = static_cast<int>(blockIdx.x / num_m);
  const int b = bh / p.Hq, h = bh % p.Hq, hk = h / p.group;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int m0 = m_block * T::kBr;
  const int r0 = m0 + warp * T::kRows;  // this warp's first row
  const int shift = p.Nk - p.Nq;

  const float* gQ = static_cast<const float*>(p.q) + static_cast<int64_t>(bh) * p.Nq * kD;
  const float* gK = static_cast<const float*>(p.k) + static_cast<int64_t>(b * p.Hkv + hk) * p.Nk * kD;
  const float* gV = static_cast<const float*>(p.v) + static_cast<int64_t>(b * p.Hkv + hk) * p.Nk * kD;
  float* gO = static_cast<float*>(p.out) + static_cast<int64_t>(bh) * p.Nq * kD;
  float* gL = p.lse + static_cast<int64_t>(bh) * p.Nq;
  float* sPw = sP + warp * T::kRows * T::kBc;

  int n_end = p.Nk;
  if (p.causal) n_end = min(p.Nk, m0 + T::kBr + shift);
  const int num_n = n_end > 0 ? (n_end + T::kBc - 1) / T::kBc : 0;

  load_rows_f32<T::kBr, kD, kD, T::kThreads>(sQ, gQ, m0, p.Nq);
  float o[T::kRows][T::kDL];
  float m_run[T::kRows], l_run[T::kRows];  // m: warp-uniform; l: this lane's share
#pragma unroll
  for (int r = 0; r < T::kRows; ++r) {
    m_run[r] = -INFINITY;
    l_run[r] = 0.f;
#pragma unroll
    for (int u = 0; u < T::kDL; ++u) o[r][u] = 0.f;
  }

  for (int n_block = 0; n_block < num_n; ++n_block) {
    const int n0 = n_block * T::kBc;
    __syncthreads();  // previous K, V consumed (and Q stored, first time)
    load_rows_f32<T::kBc, kD, kD + 1, T::kThreads>(sK, gK, n0, p.Nk);
    load_rows_f32<T::kBc, kD, kD, T::kThreads>(sV, gV, n0, p.Nk);
    __syncthreads();

    float s[T::kRows];
#pragma unroll
    for (int r = 0; r < T::kRows; ++r) s[r] = 0.f;
    const float* krow = sK + lane * (kD + 1);
#pragma unroll 2
    for (int d = 0; d < kD; d += 4) {
      const float k0 = krow[d], k1 = krow[d + 1], k2 = krow[d + 2], k3 = krow[d + 3];
#pragma unroll
      for (int r = 0; r < T::kRows; ++r) {
        const float4 q = *reinterpret_cast<const float4*>(sQ + (warp * T::kRows + r) * kD + d);
        s[r] += dot4_chunk(q, k0, k1, k2, k3);
      }
    }

    const int key = n0 + lane;
    const bool need_mask = n0 + T::kBc > p.Nk || (p.causal && n0 + T::kBc - 1 > m0 + shift);
#pragma unroll
    for (int r = 0; r < T::kRows; ++r) {
      float x = s[r] * p.scale_log2;
      if (need_mask && (key >= p.Nk || (p.causal && key > r0 + r + shift))) x = -INFINITY;
      const float mx = fmaxf(m_run[r], warp_max(x));
      const float m_use = mx == -INFINITY ? 0.f : mx;
      const float corr = exp2f(m_run[r] - m_use);
      const float pv = exp2f(x - m_use);
      m_run[r] = mx;
      l_run[r] = l_run[r] * corr + pv;
#pragma unroll
      for (int u = 0; u < T::kDL; ++u) o[r][u] *= corr;
      sPw[r * T::kBc + lane] = pv;
    }
    __syncwarp();

#pragma unroll 2
    for (int j = 0; j < T::kBc; j += 4) {
      float v[4][T::kDL];
#pragma unroll
      for (int jj = 0; jj < 4; ++jj)
#pragma unroll
        for (int u = 0; u < T::kDL; ++u) v[jj][u] = sV[(j + jj) * kD + lane + 32 * u];
#pragma unroll
      for (int r = 0; r < T::kRows; ++r) {
        const float4 pr = *reinterpret_cast<const float4*>(sPw + r * T::kBc + j);
#pragma unroll
        for (int u = 0; u < T::kDL; ++u)
          o[r][u] = fmaf(pr.w, v[3][u], fmaf(pr.z, v[2][u], fmaf(pr.y, v[1][u], fmaf(pr.x, v[0][u], o[r][u]))));
      }
    }
    __syncwarp();  // sPw is rewritten next tile
  }

#pragma unroll
  for (int r = 0; r < T::kRows; ++r) {
    const int row = r0 + r;
    const float l = warp_sum(l_run[r]);
    const bool empty = !(l > 0.f);
    const float inv = empty ? 0.f : 1.f / l;
    if (row < p.Nq) {
#pragma unroll
      for (int u = 0; u < T::kDL; ++u) gO[static_cast<int64_t>(row) * kD + lane + 32 * u] = o[r][u] * inv;
      if (lane == 0) gL[row] = empty ? __int_as_float(0x7f800000) : (m_run[r] + __log2f(l)) * kLn2;
    }
  }
}

// ---- backward: D = rowsum(dO . O) ------------------------------------------------------------
// The dK/dV and dQ kernels form dP_ij = dO_i . V_j in fp32 as a sum of 4-element chunks, in order,
// each chunk an FMA chain from its first product (dot4_chunk). D is summed exactly the same way,
// so that dS_ij = P_ij (dP_ij - D_i) cancels exactly when O_i = V_j (a row that sees one key:
// the forward stores that V row bit for bit), as it does in a softmax backward with
// D = sum_j P dP; any other order leaves a rounding-level dS that is not in the reference.
// One thread per row (rows = B * Hq * Nq); the block also zeroes its rows of dq_accum (atomic mode).

template <int kD>
__global__ void __launch_bounds__(128) flash_bwd_dsum_f32_kernel(const FlashParams p, int64_t rows, float* dsum) {
  const int64_t row0 = blockIdx.x * 128LL, row = row0 + threadIdx.x;
  if (row < rows) {
    const float4* o = reinterpret_cast<const float4*>(static_cast<const float*>(p.o) + row * kD);
    const float4* g = reinterpret_cast<const float4*>(static_cast<const float*>(p.dout) + row * kD);
    float acc = 0.f;
    for (int c = 0; c < kD / 4; ++c) {
      const float4 x = g[c];
      acc += dot4_chunk(o[c], x.x, x.y, x.z, x.w);
    }
    dsum[row] = acc;
  }
  if (p.atomic_dq) {
    const int64_t n = (rows - row0 < 128 ? rows - row0 : 128) * kD;
    float* a = p.dq_accum + row0 * kD;
    for (int64_t i = threadIdx.x; i < n; i += 128) a[i] = 0.f;
  }
}

// ---- backward: dK, dV (+ atomic dQ) -----------------------------------------------------------
template <int kD, bool kSmall = false>
struct F32KVTraits {
  static constexpr int kWarps = 4, kThreads = 128;
  static constexpr int kBr = 32;                   // queries per step = lanes
  // Bytes: Q, dO, lse, D: 4 (2 kBr (kD + 1) + 2 kBr); per key of a warp: 4 kWarps (2 kD + 2 kBr)
  // (K, V and the P, dS tiles).
  static constexpr int kKeys = kSmall ? halve_to_fit(8, 1, 4 * (2 * kBr * (kD + 1) + 2 * kBr), 4 * kWarps * (2 * kD + 2 * kBr))
                                      : 8;         // keys per warp
  static constexpr int kBc = kWarps * kKeys;       // keys per CTA
  static constexpr int kDL = kD / 32;
  static constexpr int kSmemFloats = 2 * kBc * kD + 2 * kBr * (kD + 1) + 2 * kBc * kBr + 2 * kBr;
  static constexpr int kSmem = kSmemFloats * 4;
  static_assert(kD % 32 == 0 && kD <= 256, "head dims 32, 64, 96, 128, 256");
  static_assert(kWarps * 8 == kBr, "atomic dQ: each warp owns 8 query rows of the step");
  static_assert(kSmem <= kMaxSmemBytes, "shared memory must fit an A100");
  static_assert(!kSmall || kSmem <= kSmallSmemBytes, "the small variant must fit 99 KB");
  static_assert(!kSmall || F32KVTraits<kD, false>::kSmem > kSmallSmemBytes,
                "a small variant only where the default does not fit");
};

template <int kD, bool kSmall>
__global__ void __launch_bounds__(128, 1) flash_bwd_dkdv_f32_kernel(const FlashParams p) {
  using T = F32KVTraits<kD, kSmall>;
  LEMMA_DYNAMIC_SMEM(char, smem);
  float* sK = reinterpret_cast<float*>(smem);  // [kBc][kD]
  float* sV = sK + T::kBc * kD;                // [kBc][kD]
  float* sQ = sV + T::kBc * kD;                // [kBr][kD + 1]
  float* sdO = sQ + T::kBr * (kD + 1);         // [kBr][kD + 1]
  float* sP = sdO + T::kBr * (kD + 1);         // [kBc][kBr]  (warp w: keys w*kKeys..)
  float* sdS = sP + T::kBc * T::kBr;           // [kBc][kBr]
  float* sLse = sdS + T::kBc * T::kBr;         // [kBr]
  float* sDsum = sLse + T::kBr;                // [kBr]

  const int num_n = (p.Nk + T::kBc - 1) / T::kBc;
  const int n_block = static_cast<int>(blockIdx.x % num_n);
  const int bhk = static_cast<int>(blockIdx.x / num_n);
  const int b = bhk / p.Hkv, hk = bhk % p.Hkv;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n0 = n_block * T::kBc;
  const int k0 = warp * T::kKeys;  // this warp's keys within the block
  const int shift = p.Nk - p.Nq;

  const int64_t kv_off = static_cast<int64_t>(bhk) * p.Nk * kD;
  load_rows_f32<T::kBc, kD, kD, T::kThreads>(sK, static_cast<const float*>(p.k) + kv_off, n0, p.Nk);
  load_rows_f32<T::kBc, kD, kD, T::kThreads>(sV, static_cast<const float*>(p.v) + kv_off, n0, p.Nk);

  float dk[T::kKeys][T::kDL], dv[T::kKeys][T::kDL];
#pragma unroll
  for (int kk = 0; kk < T::kKeys; ++kk)
#pragma unroll
    for (int u = 0; u < T::kDL; ++u) dk[kk][u] = dv[kk][u] = 0.f;

  const int m_begin = p.causal ? max(0, n0 - shift) / T::kBr : 0;
  const int num_m = (p.Nq + T::kBr - 1) / T::kBr;
  for (int hh = 0; hh < p.group; ++hh) {
    const int64_t bh = static_cast<int64_t>(b) * p.Hq + hk * p.group + hh;
    const float* gQ = static_cast<const float*>(p.q) + bh * p.Nq * kD;
    const float* gdO = static_cast<const float*>(p.dout) + bh * p.Nq * kD;
    for (int mb = m_begin; mb < num_m; ++mb) {
      const int m0 = mb * T::kBr;
      __syncthreads();  // previous Q, dO, P, dS consumed
      load_rows_f32<T::kBr, kD, kD + 1, T::kThreads>(sQ, gQ, m0, p.Nq);
      load_rows_f32<T::kBr, kD, kD + 1, T::kThreads>(sdO, gdO, m0, p.Nq);
      if (threadIdx.x < T::kBr) {
        const int qi = m0 + threadIdx.x;
        sLse[threadIdx.x] = qi < p.Nq ? p.lse[bh * p.Nq + qi] : 0.f;
        sDsum[threadIdx.x] = qi < p.Nq ? p.dsum[bh * p.Nq + qi] : 0.f;
      }
      __syncthreads();

      // S^T, dP^T for keys k0.. (rows) x query = lane.
      float st[T::kKeys], dpt[T::kKeys];
#pragma unroll
      for (int kk = 0; kk < T::kKeys; ++kk) st[kk] = dpt[kk] = 0.f;
      const float* qrow = sQ + lane * (kD + 1);
      const float* dorow = sdO + lane * (kD + 1);
#pragma unroll 2
      for (int d = 0; d < kD; d += 4) {
        const float q0 = qrow[d], q1 = qrow[d + 1], q2 = qrow[d + 2], q3 = qrow[d + 3];
        const float o0 = dorow[d], o1 = dorow[d + 1], o2 = dorow[d + 2], o3 = dorow[d + 3];
#pragma unroll
        for (int kk = 0; kk < T::kKeys; ++kk) {
          const float4 kv = *reinterpret_cast<const float4*>(sK + (k0 + kk) * kD + d);
          const float4 vv = *reinterpret_cast<const float4*>(sV + (k0 + kk) * kD + d);
          st[kk] += dot4_chunk(kv, q0, q1, q2, q3);
          dpt[kk] += dot4_chunk(vv, o0, o1, o2, o3);
        }
      }
      const int qi = m0 + lane;
      const float lse2 = sLse[lane] * kLog2e, dsum = sDsum[lane];
      const bool need_mask = n0 + T::kBc > p.Nk || m0 + T::kBr > p.Nq ||
                             (p.causal && n0 + T::kBc - 1 > m0 + shift);
#pragma unroll
      for (int kk = 0; kk < T::kKeys; ++kk) {
        const int key = n0 + k0 + kk;
        float pv = exp2f(st[kk] * p.scale_log2 - lse2);
        if (need_mask && (key >= p.Nk || qi >= p.Nq || (p.causal && key > qi + shift))) pv = 0.f;
        sP[(k0 + kk) * T::kBr + lane] = pv;
        sdS[(k0 + kk) * T::kBr + lane] = pv * (dpt[kk] - dsum);
      }
      __syncwarp();

      // dV += P^T dO, dK += dS^T Q over the 32 queries (d = lane + 32 u).
#pragma unroll 2
      for (int j = 0; j < T::kBr; j += 4) {
        float qv[4][T::kDL], ov[4][T::kDL];
#pragma unroll
        for (int jj = 0; jj < 4; ++jj)
#pragma unroll
          for (int u = 0; u < T::kDL; ++u) {
            qv[jj][u] = sQ[(j + jj) * (kD + 1) + lane + 32 * u];
            ov[jj][u] = sdO[(j + jj) * (kD + 1) + lane + 32 * u];
          }
#pragma unroll
        for (int kk = 0; kk < T::kKeys; ++kk) {
          const float4 pr = *reinterpret_cast<const float4*>(sP + (k0 + kk) * T::kBr + j);
          const float4 dr = *reinterpret_cast<const float4*>(sdS + (k0 + kk) * T::kBr + j);
#pragma unroll
          for (int u = 0; u < T::kDL; ++u) {
            dv[kk][u] = fmaf(pr.w, ov[3][u], fmaf(pr.z, ov[2][u], fmaf(pr.y, ov[1][u], fmaf(pr.x, ov[0][u], dv[kk][u]))));
            dk[kk][u] = fmaf(dr.w, qv[3][u], fmaf(dr.z, qv[2][u], fmaf(dr.y, qv[1][u], fmaf(dr.x, qv[0][u], dk[kk][u]))));
          }
        }
      }

      if (p.atomic_dq) {
        __syncthreads();  // every warp's dS rows written
        // dQ[m0 + warp*8 + r][lane + 32u] += sum over the kBc keys of dS[key][q] K[key][d]
        float* gacc = p.dq_accum + bh * p.Nq * kD;
#pragma unroll
        for (int u = 0; u < T::kDL; ++u) {
          float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
          for (int key = 0; key < T::kBc; ++key) {
            const float kd = sK[key * kD + lane + 32 * u];
            const float4 a = *reinterpret_cast<const float4*>(sdS + key * T::kBr + warp * 8);
            const float4 c = *reinterpret_cast<const float4*>(sdS + key * T::kBr + warp * 8 + 4);
            acc[0] = fmaf(a.x, kd, acc[0]);
            acc[1] = fmaf(a.y, kd, acc[1]);
            acc[2] = fmaf(a.z, kd, acc[2]);
            acc[3] = fmaf(a.w, kd, acc[3]);
            acc[4] = fmaf(c.x, kd, acc[4]);
            acc[5] = fmaf(c.y, kd, acc[5]);
            acc[6] = fmaf(c.z, kd, acc[6]);
            acc[7] = fmaf(c.w, kd, acc[7]);
          }
#pragma unroll
          for (int r = 0; r < 8; ++r) {
            const int q = m0 + warp * 8 + r;
            if (q < p.Nq) atomicAdd(gacc + static_cast<int64_t>(q) * kD + lane + 32 * u, acc[r]);
          }
        }
      }
    }
  }

  float* gdK = static_cast<float*>(p.dk) + kv_off;
  float* gdV = static_cast<float*>(p.dv) + kv_off;
#pragma unroll
  for (int kk = 0; kk < T::kKeys; ++kk) {
    const int key = n0 + k0 + kk;
    if (key < p.Nk) {
#pragma unroll
      for (int u = 0; u < T::kDL; ++u) {
        gdK[static_cast<int64_t>(key) * kD + lane + 32 * u] = dk[kk][u] * p.scale;
        gdV[static_cast<int64_t>(key) * kD + lane + 32 * u] = dv[kk][u];
      }
    }
  }
}

// ---- backward: deterministic dQ ---------------------------------------------------------------
template <int kD, bool kSmall = false>
struct F32QTraits {
  static constexpr int kWarps = 4, kThreads = 128;
  static constexpr int kBc = 32;                    // keys per tile = lanes
  static constexpr int kRowsDefault = kD == 256 ? 8 : 16;
  // Bytes: K, V: 4 * 2 kBc (kD + 1); per row of a warp: 4 kWarps (2 kD + kBc) (Q, dO, the dS tile).
  static constexpr int kRows = kSmall ? halve_to_fit(kRowsDefault, 1, 4 * 2 * kBc * (kD + 1), 4 * kWarps * (2 * kD + kBc))
                                      : kRowsDefault;  // query rows per warp
  static constexpr int kBr = kWarps * kRows;
  static constexpr int kDL = kD / 32;
  static constexpr int kSmemFloats = 2 * kBr * kD + 2 * kBc * (kD + 1) + kWarps * kRows * kBc;
  static constexpr int kSmem = kSmemFloats * 4;
  static_assert(kD % 32 == 0 && kD <= 256, "head dims 32, 64, 96, 128, 256");
  static_assert(kSmem <= kMaxSmemBytes, "shared memory must fit an A100");
  static_assert(!kSmall || kSmem <= kSmallSmemBytes, "the small variant must fit 99 KB");
  static_assert(!kSmall || F32QTraits<kD, false>::kSmem > kSmallSmemBytes,
                "a small variant only where the default does not fit");
};

template <int kD, bool kSmall>
__global__ void __launch_bounds__(128, 1) flash_bwd_dq_f32_kernel(const FlashParams p) {
  using T = F32QTraits<kD, kSmall>;
  LEMMA_DYNAMIC_SMEM(char, smem);
  float* sQ = reinterpret_cast<float*>(smem);  // [kBr][kD]
  float* sdO = sQ + T::kBr * kD;               // [kBr][kD]
  float* sK = sdO + T::kBr * kD;               // [kBc][kD + 1]
  float* sV = sK + T::kBc * (kD + 1);          // [kBc][kD + 1]
  float* sdS = sV + T::kBc * (kD + 1);         // [kWarps][kRows][kBc]

  const int num_m = (p.Nq + T::kBr - 1) / T::kBr;
  const int m_block = num_m - 1 - static_cast<int>(blockIdx.x % num_m);
  const int bh = static_cast<int>(blockIdx.x / num_m);
  const int b = bh / p.Hq, h = bh % p.Hq, hk = h / p.group;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int m0 = m_block * T::kBr;
  const int r0 = m0 + warp * T::kRows;
  const int shift = p.Nk - p.Nq;
  const int64_t q_off = static_cast<int64_t>(bh) * p.Nq;
  const int64_t kv_off = static_cast<int64_t>(b * p.Hkv + hk) * p.Nk * kD;
  const float* gK = static_cast<const float*>(p.k) + kv_off;
  const float* gV = static_cast<const float*>(p.v) + kv_off;
  float* sdSw = sdS + warp * T::kRows * T::kBc;

  load_rows_f32<T::kBr, kD, kD, T::kThreads>(sQ, static_cast<const float*>(p.q) + q_off * kD, m0, p.Nq);
  load_rows_f32<T::kBr, kD, kD, T::kThreads>(sdO, static_cast<const float*>(p.dout) + q_off * kD, m0, p.Nq);

  float dq[T::kRows][T::kDL], lse2[T::kRows], dsum[T::kRows];
#pragma unroll
  for (int r = 0; r < T::kRows; ++r) {
    const int row = r0 + r;
    lse2[r] = row < p.Nq ? p.lse[q_off + row] * kLog2e : __int_as_float(0x7f800000);
    dsum[r] = row < p.Nq ? p.dsum[q_off + row] : 0.f;
#pragma unroll
    for (int u = 0; u < T::kDL; ++u) dq[r][u] = 0.f;
  }

  int n_end = p.Nk;
  if (p.causal) n_end = min(p.Nk, m0 + T::kBr + shift);
  const int num_n = n_end > 0 ? (n_end + T::kBc - 1) / T::kBc : 0;
  for (int n_block = 0; n_block < num_n; ++n_block) {
    const int n0 = n_block * T::kBc;
    __syncthreads();
    load_rows_f32<T::kBc, kD, kD + 1, T::kThreads>(sK, gK, n0, p.Nk);
    load_rows_f32<T::kBc, kD, kD + 1, T::kThreads>(sV, gV, n0, p.Nk);
    __syncthreads();

    float s[T::kRows], dp[T::kRows];
#pragma unroll
    for (int r = 0; r < T::kRows; ++r) s[r] = dp[r] = 0.f;
    const float* krow = sK + lane * (kD + 1);
    const float* vrow = sV + lane * (kD + 1);
#pragma unroll 2
    for (int d = 0; d < kD; d += 4) {
      const float k0 = krow[d], k1 = krow[d + 1], k2 = krow[d + 2], k3 = krow[d + 3];
      const float v0 = vrow[d], v1 = vrow[d + 1], v2 = vrow[d + 2], v3 = vrow[d + 3];
#pragma unroll
      for (int r = 0; r < T::kRows; ++r) {
        const float4 q = *reinterpret_cast<const float4*>(sQ + (warp * T::kRows + r) * kD + d);
        const float4 o = *reinterpret_cast<const float4*>(sdO + (warp * T::kRows + r) * kD + d);
        s[r] += dot4_chunk(q, k0, k1, k2, k3);
        dp[r] += dot4_chunk(o, v0, v1, v2, v3);
      }
    }
    const int key = n0 + lane;
    const bool need_mask = n0 + T::kBc > p.Nk || (p.causal && n0 + T::kBc - 1 > m0 + shift);
#pragma unroll
    for (int r = 0; r < T::kRows; ++r) {
      float pv = exp2f(s[r] * p.scale_log2 - lse2[r]);
      if (need_mask && (key >= p.Nk || (p.causal && key > r0 + r + shift))) pv = 0.f;
      sdSw[r * T::kBc + lane] = pv * (dp[r] - dsum[r]);
    }
    __syncwarp();
#pragma unroll 2
    for (int j = 0; j < T::kBc; j += 4) {
      float kv[4][T::kDL];
#pragma unroll
      for (int jj = 0; jj < 4; ++jj)
#pragma unroll
        for (int u = 0; u < T::kDL; ++u) kv[jj][u] = sK[(j + jj) * (kD + 1) + lane + 32 * u];
#pragma unroll
      for (int r = 0; r < T::kRows; ++r) {
        const float4 ds = *reinterpret_cast<const float4*>(sdSw + r * T::kBc + j);
#pragma unroll
        for (int u = 0; u < T::kDL; ++u)
          dq[r][u] = fmaf(ds.w, kv[3][u], fmaf(ds.z, kv[2][u], fmaf(ds.y, kv[1][u], fmaf(ds.x, kv[0][u], dq[r][u]))));
      }
    }
    __syncwarp();
  }

  float* gdQ = static_cast<float*>(p.dq) + q_off * kD;
#pragma unroll
  for (int r = 0; r < T::kRows; ++r) {
    const int row = r0 + r;
    if (row < p.Nq) {
#pragma unroll
      for (int u = 0; u < T::kDL; ++u) gdQ[static_cast<int64_t>(row) * kD + lane + 32 * u] = dq[r][u] * p.scale;
    }
  }
}

}  // namespace lemma::cuda
