// CUDA path of sparse attention by half-space reporting (spec 2.6; math and layouts in
// native/sparse_attention/sparse_attention.h; the CPU path sparse_attention_cpu.cc is the model).
//   q [B, Hq, M, D] -> out [B, Hq, M, D] against the key index (mirrored on the device).
// Tiles: 16 query rows of one (b, kv head) group; CTA = 128 threads = 16 rows x 8 threads.
//  1. filter_kernel, grid (tiles, min(blocks / 128, 65535)): thread = block g (striding over the
//     key blocks when they need more than 65535 CTAs), loops d outer / rows inner
//     (16 register accumulators): ub = fma(qn, R, <q', c>) >= b and pos_min <= limit sets bit r
//     of masks[tile][g]. The bound is the CPU's (conservative for any summation order).
//  2. compact_kernel, grid (tiles): warp ballot + block-wide ordered scan writes the compact list
//     of surviving blocks per tile, in block order (deterministic; no atomic counter, so the
//     value accumulation order, and the output bits, do not change from run to run).
//  3. rows_kernel<mode>, grid (tiles, key chunks): FlashAttention-style over the tile's list:
//     K^T sub-tiles of 32 keys in shared memory, each thread scores 4 (row, key) pairs with the
//     CPU's exact fp32 FMA chain (same reported set), 8-lane group reductions for the row max /
//     sum, running-max rescaling (ReLU^a) or online softmax, o += w v with o in registers
//     (thread owns d = sub + 8 e). Key chunks split long lists (decoding, N up to 1M) and are
//     merged by merge_kernel (m, l rescaling) — the decode split-K.
//  4. softmax: the host computes the certified bounds (sparse_softmax_bound) and reruns tiles with
//     flagged rows through every block (kSoftFull), as the CPU does.
// Backward (ReLU^a): forward first (m, l, out), then rows_kernel<kBackward>: dv, dK^T by atomicAdd
// into block layout, dq in registers then atomicAdd; scatter_kernel writes dk, dv by position.
// The backward's atomics make its last bits run-to-run nondeterministic (the forward is not).
// No dense switch on the GPU (the filter costs ~1/Bs of the scoring there): stats.dense_rows = 0.
// Device mirror: allocated with room for 2x the blocks; append uploads only the changed tail.
// Grid limits (grid.y <= 65535 on every GPU): tiles always go on grid.x (check_attend caps the
// rows at 4e9 / Dp, so tiles and rows stay below 2^31); what goes on grid.y is capped at 65535
// and strided over (filter: key blocks, scatter: B * Hkv) or bounded (rows: key chunks).
// Device memory: DeviceBuffer (common/device_buffer.cuh), so the mirror and every per-call array
// count in cuda_bytes_in_use().
// Compiled with -Werror=all-warnings. Tested by test/native/sparse_attention_cuda_test.cc (CUDA vs
// CPU vs the fp64 oracle; runs on the emulated device: LEMMA_CUDA=EMULATE) and
// test/gpu/20.sparse-cuda.test.ts.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <vector>

#include "common/launch.cuh"
#include "common/cuda_check.cuh"
#include "common/device_buffer.cuh"
#include "sparse_attention/sparse_attention.h"

namespace lemma {
namespace {

constexpr int kRows = 16;      // query rows per tile / CTA
constexpr int kSub = 32;       // keys per shared-memory sub-tile
constexpr int kThreads = 128;  // kRows x 8
constexpr int kMaxE = 32;      // Dp / 8 <= 32 (D <= 256)
constexpr int S16 = kSparseSuper;
constexpr int64_t kMaxGridY = 65535;  // grid.y and grid.z limit of every GPU

enum Mode { kRelu = 0, kSoftTrunc = 1, kSoftFull = 2, kBackward = 3 };

// ------------------------------------------------------------------------ device mirror ---
struct Mirror {
  uint64_t version = ~uint64_t{0};
  int64_t nb = 0, nb_cap = 0, ns_cap = 0;
  DeviceBuffer<float> kt, v, bct, brad;
  DeviceBuffer<int32_t> pos, len, bpos_min;
};

template <class T>
Status put_heads(const SparseIndex& idx, std::vector<T> SparseHead::*field, DeviceBuffer<T>* dst,
                 size_t head_stride, size_t from) {
  for (size_t h = 0; h < idx.heads.size(); ++h) {
    const std::vector<T>& src = idx.heads[h].*field;
    if (src.size() > from)
      LEMMA_RETURN_IF_ERROR(dst->upload(src.data() + from, src.size() - from, h * head_stride + from));
  }
  return Status::Ok();
}

// Refreshes the device copy: blocks from g_from on (the whole index when it must grow).
Status mirror_of(const SparseIndex& idx, std::shared_ptr<Mirror>* out) {
  std::lock_guard<std::mutex> lock(idx.mirror_mu);
  std::shared_ptr<Mirror> m = std::static_pointer_cast<Mirror>(idx.cuda_mirror);
  const int64_t nb = idx.heads[0].nb, ns = (nb + S16 - 1) / S16, H = int64_t(idx.heads.size());
  const int64_t D = idx.p.D, Dp = idx.Dp, Bs = idx.p.block_size;
  if (m && m->version == idx.version) {
    *out = m;
    return Status::Ok();
  }
  int64_t g_from = 0;
  if (!m || nb > m->nb_cap) {
    m = std::make_shared<Mirror>();
    // Room for appends: twice the blocks (amortised re-uploads). No larger floor: with many
    // (b, kv head) pairs of a few blocks each, a floor of 16 blocks multiplied the mirror.
    m->nb_cap = 2 * std::max<int64_t>(nb, 1);
    m->ns_cap = (m->nb_cap + S16 - 1) / S16;
    LEMMA_RETURN_IF_ERROR(m->kt.alloc(H * m->nb_cap * Bs * D));
    LEMMA_RETURN_IF_ERROR(m->v.alloc(H * m->nb_cap * Bs * Dp));
    LEMMA_RETURN_IF_ERROR(m->pos.alloc(H * m->nb_cap * Bs));
    LEMMA_RETURN_IF_ERROR(m->len.alloc(H * m->nb_cap));
    LEMMA_RETURN_IF_ERROR(m->bpos_min.alloc(H * m->nb_cap));
    LEMMA_RETURN_IF_ERROR(m->bct.alloc(H * m->ns_cap * D * S16));
    LEMMA_RETURN_IF_ERROR(m->brad.alloc(H * m->ns_cap * S16));
  } else {
    g_from = std::max<int64_t>(0, m->nb - 1);  // the old last block may have been extended
  }
  const size_t gf = size_t(g_from), sf = size_t(g_from / S16);
  LEMMA_RETURN_IF_ERROR(put_heads(idx, &SparseHead::kt, &m->kt, m->nb_cap * Bs * D, gf * Bs * D));
  LEMMA_RETURN_IF_ERROR(put_heads(idx, &SparseHead::v, &m->v, m->nb_cap * Bs * Dp, gf * Bs * Dp));
  LEMMA_RETURN_IF_ERROR(put_heads(idx, &SparseHead::pos, &m->pos, m->nb_cap * Bs, gf * Bs));
  LEMMA_RETURN_IF_ERROR(put_heads(idx, &SparseHead::len, &m->len, m->nb_cap, gf));
  LEMMA_RETURN_IF_ERROR(put_heads(idx, &SparseHead::bpos_min, &m->bpos_min, m->nb_cap, gf));
  LEMMA_RETURN_IF_ERROR(put_heads(idx, &SparseHead::bct, &m->bct, m->ns_cap * D * S16, sf * D * S16));
  LEMMA_RETURN_IF_ERROR(put_heads(idx, &SparseHead::brad, &m->brad, m->ns_cap * S16, sf * S16));
  m->nb = nb;
  m->version = idx.version;
  (void)ns;
  idx.cuda_mirror = m;
  *out = m;
  return Status::Ok();
}

// ------------------------------------------------------------------------ kernels ---------
struct Params {
  // index (head h at offset h * stride)
  const float *kt, *v, *bct, *brad;
  const int32_t *pos, *len, *bpos_min;
  int64_t nb, nb_cap, ns_cap;
  int D, Dp, Bs;
  // rows
  const float *qs, *qn, *thr;
  const int64_t* limit;
  int64_t M, Hq, Hkv, G, GM, nt;  // nt: tiles per (b, kv head)
  // filter output / lists
  uint32_t* masks;  // [tiles][nb_cap]
  int32_t* lists;   // [tiles][nb_cap]
  int32_t* counts;  // [tiles]
  const int32_t* tile_ids;  // rows_kernel: blockIdx.x -> tile (null: identity)
  bool all_blocks;          // rows_kernel: every block, every visible row (dense rerun)
  int C;                    // key chunks
  int alpha;
  float scale;
  // partials [C][R]: o [C][R][Dp], m, l, cnt
  float *po, *pm, *pl;
  int32_t* pc;
  int64_t R;
  unsigned long long* scored;  // keys scored
  unsigned long long* visited; // (row, block) pairs
  // backward
  const float *dO, *dvec, *mf, *lf;  // [R][Dp], [R], final m, l
  float *dq, *dkt, *dvp;             // [R][Dp], like kt, like v
};

__device__ __forceinline__ void tile_geometry(const Params& p, int t, int64_t* bk, int64_t* row0,
                                              int* n) {
  *bk = t / p.nt;
  const int64_t tt = t % p.nt;
  const int64_t b = *bk / p.Hkv, hk = *bk % p.Hkv;
  *row0 = (b * p.Hq + hk * p.G) * p.M + tt * kRows;
  *n = int(min(int64_t(kRows), p.GM - tt * kRows));
}

__device__ __forceinline__ float group_max(float x) {
  for (int o = 4; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o, 8));
  return x;
}
__device__ __forceinline__ float group_sum(float x) {
  for (int o = 4; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o, 8);
  return x;
}
__device__ __forceinline__ int group_sum_int(int x) {  // exact (a float sum rounds above 2^24)
  for (int o = 4; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o, 8);
  return x;
}
__device__ __forceinline__ float ipowf(float x, int a) {
  float r = 1.0f;
  for (int i = 0; i < a; ++i) r *= x;
  return r;
}

__global__ void __launch_bounds__(kThreads) filter_kernel(Params p) {
  LEMMA_SHARED(float, q_s, [kRows][kSparseMaxD]);
  LEMMA_SHARED(float, qn_s, [kRows]);
  LEMMA_SHARED(float, thr_s, [kRows]);
  LEMMA_SHARED(long long, lim_s, [kRows]);
  const int t = blockIdx.x;
  int64_t bk, row0;
  int n;
  tile_geometry(p, t, &bk, &row0, &n);
  for (int i = threadIdx.x; i < kRows * p.D; i += blockDim.x) {
    const int r = i / p.D, d = i % p.D;
    q_s[r][d] = r < n ? p.qs[(row0 + r) * p.Dp + d] : 0.0f;
  }
  if (threadIdx.x < kRows) {
    const int r = threadIdx.x;
    qn_s[r] = r < n ? p.qn[row0 + r] : 0.0f;
    thr_s[r] = r < n ? p.thr[row0 + r] : INFINITY;
    lim_s[r] = r < n ? p.limit[row0 + r] : -1;
  }
  __syncthreads();
  // Key blocks g = blockIdx.y * 128 + threadIdx.x, striding by the grid (grid.y <= 65535).
  for (int64_t g = int64_t(blockIdx.y) * blockDim.x + threadIdx.x; g < p.nb;
       g += int64_t(gridDim.y) * blockDim.x) {
    const float* ct = p.bct + bk * p.ns_cap * p.D * S16 + (g / S16) * p.D * S16 + (g % S16);
    float acc[kRows];
    for (int r = 0; r < kRows; ++r) acc[r] = 0.0f;
    for (int d = 0; d < p.D; ++d) {
      const float c = ct[d * S16];
#pragma unroll
      for (int r = 0; r < kRows; ++r) acc[r] = fmaf(q_s[r][d], c, acc[r]);
    }
    const float R = p.brad[bk * p.ns_cap * S16 + g];
    const int32_t pmin = p.bpos_min[bk * p.nb_cap + g];
    uint32_t bits = 0;
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const float ub = fmaf(qn_s[r], R, acc[r]);
      if (r < n && !(ub < thr_s[r]) && pmin <= lim_s[r]) bits |= 1u << r;
    }
    p.masks[int64_t(t) * p.nb_cap + g] = bits;
  }
}

__global__ void __launch_bounds__(256) compact_kernel(Params p) {
  LEMMA_SHARED(int, warp_n, [8]);
  LEMMA_SHARED(int, base);
  const int t = blockIdx.x, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (threadIdx.x == 0) base = 0;
  __syncthreads();
  unsigned long long pairs = 0;
  for (int64_t g0 = 0; g0 < p.nb; g0 += 256) {
    const int64_t g = g0 + threadIdx.x;
    const uint32_t bits = g < p.nb ? p.masks[int64_t(t) * p.nb_cap + g] : 0u;
    pairs += __popc(bits);
    const unsigned ballot = __ballot_sync(0xffffffffu, bits != 0);
    if (lane == 0) warp_n[warp] = __popc(ballot);
    __syncthreads();
    int off = base;
    for (int w = 0; w < warp; ++w) off += warp_n[w];
    if (bits) p.lists[int64_t(t) * p.nb_cap + off + __popc(ballot & ((1u << lane) - 1u))] = int32_t(g);
    __syncthreads();
    if (threadIdx.x == 0)
      for (int w = 0; w < 8; ++w) base += warp_n[w];
    __syncthreads();
  }
  if (threadIdx.x == 0) p.counts[t] = base;
  if (pairs) atomicAdd(p.visited, pairs);
}

template <int MODE>
__global__ void __launch_bounds__(kThreads) rows_kernel(Params p) {
  LEMMA_DYNAMIC_SMEM(float, smem);
  float* q_s = smem;                  // [16][D]
  float* k_s = q_s + kRows * p.D;     // [D][32]
  float* w_s = k_s + p.D * kSub;      // [16][32] weights (backward: scores)
  const int t = p.tile_ids ? p.tile_ids[blockIdx.x] : int(blockIdx.x);
  const int c = blockIdx.y;
  const int r = threadIdx.x >> 3, sub = threadIdx.x & 7;
  int64_t bk, row0;
  int n;
  tile_geometry(p, t, &bk, &row0, &n);
  for (int i = threadIdx.x; i < kRows * p.D; i += kThreads) {
    const int rr = i / p.D, d = i % p.D;
    q_s[i] = rr < n ? p.qs[(row0 + rr) * p.Dp + d] : 0.0f;
  }
  const bool valid = r < n;
  const int64_t row = row0 + r;
  const float thr = valid ? p.thr[row] : INFINITY;
  const long long lim = valid ? p.limit[row] : -1;
  const int ne = p.Dp / 8;
  float acc[kMaxE], dOr[kMaxE];
#pragma unroll
  for (int e = 0; e < kMaxE; ++e) acc[e] = 0.0f, dOr[e] = 0.0f;
  float m = MODE == kRelu ? 0.0f : -INFINITY, l = 0.0f, dv_r = 0.0f;
  if (MODE == kBackward && valid) {
    m = p.mf[row];
    l = p.lf[row];
    dv_r = p.dvec[row];
#pragma unroll
    for (int e = 0; e < kMaxE; ++e)
      if (e < ne) dOr[e] = p.dO[row * p.Dp + sub + 8 * e];
  }
  int cnt = 0;
  unsigned long long scored = 0;
  const float* kt = p.kt + bk * p.nb_cap * p.Bs * p.D;
  const float* V = p.v + bk * p.nb_cap * p.Bs * p.Dp;
  const int32_t* pos = p.pos + bk * p.nb_cap * p.Bs;
  const int64_t total = p.all_blocks ? p.nb : p.counts[t];
  const int64_t e0 = c * total / p.C, e1 = (c + 1) * total / p.C;
  for (int64_t ei = e0; ei < e1; ++ei) {
    const int64_t g = p.all_blocks ? ei : p.lists[int64_t(t) * p.nb_cap + ei];
    const uint32_t bits = p.all_blocks ? 0xffffffffu : p.masks[int64_t(t) * p.nb_cap + g];
    const bool on = valid && ((bits >> r) & 1u);
    const int len = p.len[bk * p.nb_cap + g];
    for (int k0 = 0; k0 < len; k0 += kSub) {
      __syncthreads();
      for (int i = threadIdx.x; i < p.D * kSub; i += kThreads) {
        const int d = i / kSub, j = i % kSub;
        k_s[i] = k0 + j < p.Bs ? kt[(g * p.D + d) * p.Bs + k0 + j] : 0.0f;
      }
      __syncthreads();
      float s[4];
      float bmax = -INFINITY;
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const int key = k0 + sub + 8 * u;
        s[u] = -INFINITY;
        if (on && key < len && pos[g * p.Bs + key] <= lim) {
          float a = 0.0f;  // the CPU's chain: fma over d = 0..D-1 from 0
          for (int d = 0; d < p.D; ++d) a = fmaf(q_s[r * p.D + d], k_s[d * kSub + sub + 8 * u], a);
          s[u] = a;
          ++scored;
          cnt += a >= thr;
        }
        bmax = fmaxf(bmax, s[u]);
      }
      float w[4];
      if (MODE == kBackward) {
#pragma unroll
        for (int u = 0; u < 4; ++u) w_s[r * kSub + sub + 8 * u] = s[u];
      } else if (MODE == kRelu) {
        const float e = group_max(bmax) - thr;
        if (e > m) {
          const float corr = m > 0.0f ? ipowf(m / e, p.alpha) : 0.0f;
#pragma unroll
          for (int x = 0; x < kMaxE; ++x) acc[x] *= corr;
          l *= corr;
          m = e;
        }
        float ws = 0.0f;
#pragma unroll
        for (int u = 0; u < 4; ++u) {
          w[u] = s[u] > thr && m > 0.0f ? ipowf((s[u] - thr) / m, p.alpha) : 0.0f;
          ws += w[u];
          w_s[r * kSub + sub + 8 * u] = w[u];
        }
        l += group_sum(ws);
      } else {
        if (MODE == kSoftTrunc) {
          bmax = -INFINITY;
#pragma unroll
          for (int u = 0; u < 4; ++u) {
            s[u] = s[u] >= thr ? s[u] : -INFINITY;
            bmax = fmaxf(bmax, s[u]);
          }
        }
        const float mx = group_max(bmax);
        if (mx > m) {
          const float corr = m > -INFINITY ? expf(m - mx) : 0.0f;
#pragma unroll
          for (int x = 0; x < kMaxE; ++x) acc[x] *= corr;
          l *= corr;
          m = mx;
        }
        float ws = 0.0f;
#pragma unroll
        for (int u = 0; u < 4; ++u) {
          w[u] = s[u] > -INFINITY ? expf(s[u] - m) : 0.0f;
          ws += w[u];
          w_s[r * kSub + sub + 8 * u] = w[u];
        }
        l += group_sum(ws);
      }
      __syncthreads();
      const int kn = min(kSub, len - k0);
      for (int j = 0; j < kn; ++j) {
        const float* vrow = V + (g * p.Bs + k0 + j) * p.Dp;
        if (MODE == kBackward) {
          const float sj = w_s[r * kSub + j];
          float gv = 0.0f;
#pragma unroll
          for (int e = 0; e < kMaxE; ++e)
            if (e < ne) gv = fmaf(dOr[e], vrow[sub + 8 * e], gv);
          gv = group_sum(gv) - dv_r;
          if (!(sj > thr) || !(m > 0.0f) || !(l > 0.0f)) continue;
          const float tt = (sj - thr) / m, tp = ipowf(tt, p.alpha - 1);
          const float pr = tp * tt / l, ds = float(p.alpha) * tp * gv / (m * l);
          float* dvrow = p.dvp + bk * p.nb_cap * p.Bs * p.Dp + (g * p.Bs + k0 + j) * p.Dp;
          float* dkcol = p.dkt + bk * p.nb_cap * p.Bs * p.D + g * p.D * p.Bs + k0 + j;
#pragma unroll
          for (int e = 0; e < kMaxE; ++e) {
            const int d = sub + 8 * e;
            if (e < ne) atomicAdd(dvrow + d, pr * dOr[e]);
            if (e < ne && d < p.D) {
              atomicAdd(dkcol + int64_t(d) * p.Bs, ds * q_s[r * p.D + d]);
              acc[e] = fmaf(p.scale * ds, k_s[d * kSub + j], acc[e]);
            }
          }
        } else {
          const float wj = w_s[r * kSub + j];
          if (wj == 0.0f) continue;
#pragma unroll
          for (int e = 0; e < kMaxE; ++e)
            if (e < ne) acc[e] = fmaf(wj, vrow[sub + 8 * e], acc[e]);
        }
      }
    }
  }
  if (scored) atomicAdd(p.scored, scored);
  // The count's reduction names the whole warp, so every lane takes part, rows past the tile's
  // end included, before those leave (a shuffle whose mask names an exited lane is undefined).
  if (MODE != kBackward) cnt = group_sum_int(cnt);
  if (!valid) return;
  if (MODE == kBackward) {
#pragma unroll
    for (int e = 0; e < kMaxE; ++e)
      if (e < ne) atomicAdd(p.dq + row * p.Dp + sub + 8 * e, acc[e]);
    return;
  }
  const int64_t at = int64_t(c) * p.R + row;
#pragma unroll
  for (int e = 0; e < kMaxE; ++e)
    if (e < ne) p.po[at * p.Dp + sub + 8 * e] = acc[e];
  if (sub == 0) {
    p.pm[at] = m;
    p.pl[at] = l;
    p.pc[at] = cnt;
  }
}

// out = sum_c f_c o_c / sum_c f_c l_c per row, f_c the rescaling to the common max.
__global__ void merge_kernel(Params p, bool relu, int D, float* out, float* mo, float* lo,
                             int32_t* co) {
  const int64_t row = blockIdx.x;
  float mx = relu ? 0.0f : -INFINITY, l = 0.0f;
  int cn = 0;
  for (int c = 0; c < p.C; ++c) {
    mx = fmaxf(mx, p.pm[c * p.R + row]);
    cn += p.pc[c * p.R + row];
  }
  for (int c = 0; c < p.C; ++c) {
    const float lc = p.pl[c * p.R + row];
    if (lc > 0.0f) l += lc * (relu ? ipowf(p.pm[c * p.R + row] / mx, p.alpha) : expf(p.pm[c * p.R + row] - mx));
  }
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float o = 0.0f;
    for (int c = 0; c < p.C; ++c) {
      const float lc = p.pl[c * p.R + row];
      if (!(lc > 0.0f)) continue;
      const float f = relu ? ipowf(p.pm[c * p.R + row] / mx, p.alpha) : expf(p.pm[c * p.R + row] - mx);
      o += f * p.po[(c * p.R + row) * p.Dp + d];
    }
    out[row * D + d] = l > 0.0f ? o / l : 0.0f;
  }
  if (threadIdx.x == 0) {
    mo[row] = mx;
    lo[row] = l;
    co[row] = cn;
  }
}

// dk, dv [B*Hkv][N][D] from the block-layout partials. grid (slots / 256, min(B*Hkv, 65535)):
// heads stride by grid.y (B*Hkv may exceed the 65535 a grid's y dimension allows).
__global__ void scatter_kernel(Params p, int64_t N, int64_t H, float* dk, float* dv) {
  const int64_t slot = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (slot >= p.nb * p.Bs) return;
  const int64_t g = slot / p.Bs, j = slot % p.Bs;
  for (int64_t bk = blockIdx.y; bk < H; bk += gridDim.y) {
    if (j >= p.len[bk * p.nb_cap + g]) continue;
    const int64_t ps = p.pos[bk * p.nb_cap * p.Bs + slot];
    for (int d = 0; d < p.D; ++d) {
      dk[(bk * N + ps) * p.D + d] = p.dkt[bk * p.nb_cap * p.Bs * p.D + (g * p.D + d) * p.Bs + j];
      dv[(bk * N + ps) * p.D + d] = p.dvp[bk * p.nb_cap * p.Bs * p.Dp + slot * p.Dp + d];
    }
  }
}

// ------------------------------------------------------------------------ launcher --------
Status require_device() {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    cudaGetLastError();
    return Status::Error(Code::kCudaUnavailable,
                         std::string("no usable CUDA device: ") + cudaGetErrorName(e));
  }
  return Status::Ok();
}

struct Run {
  const SparseIndex& idx;
  const SparseAttendParams& p;
  std::shared_ptr<Mirror> mir;
  SparseRows rows;
  Params kp{};
  int64_t R = 0, T = 0, Bs = 0, D = 0, Dp = 0, N = 0;
  DeviceBuffer<float> qs, qn, thr, po, pm, pl, out, mo, lo;
  DeviceBuffer<int64_t> limit;
  DeviceBuffer<uint32_t> masks;
  DeviceBuffer<int32_t> lists, counts, pc, co, tile_ids;
  DeviceBuffer<unsigned long long> counters;
  std::vector<float> m_h, l_h;
  std::vector<int32_t> c_h;
  Run(const SparseIndex& i, const SparseAttendParams& pp) : idx(i), p(pp) {}

  size_t smem_bytes() const { return sizeof(float) * (kRows * D + D * kSub + kRows * kSub); }

  template <int MODE>
  Status launch_rows(int ntiles) {
    const size_t sm = smem_bytes();
    LEMMA_CUDA_CHECK(cudaFuncSetAttribute(reinterpret_cast<const void*>(rows_kernel<MODE>),
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, int(sm)));
    LEMMA_LAUNCH(rows_kernel<MODE>, dim3(unsigned(ntiles), unsigned(kp.C)), kThreads, sm)(kp);
    LEMMA_CUDA_CHECK_LAUNCH("sparse rows_kernel");
    return Status::Ok();
  }

  Status setup(const float* q, double* thresholds) {
    LEMMA_RETURN_IF_ERROR(require_device());
    LEMMA_RETURN_IF_ERROR(sparse_prepare_rows(idx, p, q, thresholds, &rows));
    LEMMA_RETURN_IF_ERROR(mirror_of(idx, &mir));
    const int64_t B = idx.p.B, Hkv = idx.p.Hkv, G = p.Hq / Hkv, GM = G * p.M;
    D = idx.p.D, Dp = idx.Dp, Bs = idx.p.block_size, N = idx.N(), R = B * p.Hq * p.M;
    const int64_t nt = (GM + kRows - 1) / kRows;
    T = B * Hkv * nt;
    int dev = 0, sms = 1;
    LEMMA_CUDA_CHECK(cudaGetDevice(&dev));
    LEMMA_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    // Tiles go on grid.x (check_attend caps the rows at 4e9 / Dp, so T < 2^28), key chunks on
    // grid.y (<= 65535).
    if (T > INT32_MAX) return Status::Error(Code::kRange, "sparse attention: too many row tiles for one launch");
    const int64_t C = std::clamp<int64_t>((4 * int64_t(sms) + T - 1) / T, 1,
                                          std::clamp<int64_t>(mir->nb / 4, 1, kMaxGridY));
    LEMMA_RETURN_IF_ERROR(qs.alloc(R * Dp));
    LEMMA_RETURN_IF_ERROR(qs.upload(rows.qs.data(), R * Dp));
    LEMMA_RETURN_IF_ERROR(qn.alloc(R));
    LEMMA_RETURN_IF_ERROR(qn.upload(rows.qn.data(), R));
    LEMMA_RETURN_IF_ERROR(thr.alloc(R));
    LEMMA_RETURN_IF_ERROR(thr.upload(rows.thr.data(), R));
    LEMMA_RETURN_IF_ERROR(limit.alloc(R));
    LEMMA_RETURN_IF_ERROR(limit.upload(rows.limit.data(), R));
    LEMMA_RETURN_IF_ERROR(masks.alloc(T * mir->nb_cap));
    LEMMA_RETURN_IF_ERROR(lists.alloc(T * mir->nb_cap));
    LEMMA_RETURN_IF_ERROR(counts.alloc(T));
    LEMMA_RETURN_IF_ERROR(po.alloc(C * R * Dp));
    LEMMA_RETURN_IF_ERROR(pm.alloc(C * R));
    LEMMA_RETURN_IF_ERROR(pl.alloc(C * R));
    LEMMA_RETURN_IF_ERROR(pc.alloc(C * R));
    LEMMA_RETURN_IF_ERROR(out.alloc(R * D));
    LEMMA_RETURN_IF_ERROR(mo.alloc(R));
    LEMMA_RETURN_IF_ERROR(lo.alloc(R));
    LEMMA_RETURN_IF_ERROR(co.alloc(R));
    LEMMA_RETURN_IF_ERROR(counters.alloc(2));
    LEMMA_RETURN_IF_ERROR(counters.zero());
    kp.kt = mir->kt.get(), kp.v = mir->v.get(), kp.bct = mir->bct.get(), kp.brad = mir->brad.get();
    kp.pos = mir->pos.get(), kp.len = mir->len.get(), kp.bpos_min = mir->bpos_min.get();
    kp.nb = mir->nb, kp.nb_cap = mir->nb_cap, kp.ns_cap = mir->ns_cap;
    kp.D = int(D), kp.Dp = int(Dp), kp.Bs = int(Bs);
    kp.qs = qs.get(), kp.qn = qn.get(), kp.thr = thr.get(), kp.limit = limit.get();
    kp.M = p.M, kp.Hq = p.Hq, kp.Hkv = Hkv, kp.G = G, kp.GM = GM, kp.nt = nt;
    kp.masks = masks.get(), kp.lists = lists.get(), kp.counts = counts.get();
    kp.C = int(C), kp.alpha = p.alpha, kp.scale = float(p.scale);
    kp.po = po.get(), kp.pm = pm.get(), kp.pl = pl.get(), kp.pc = pc.get(), kp.R = R;
    kp.scored = counters.get(), kp.visited = counters.get() + 1;
    LEMMA_LAUNCH(filter_kernel, dim3(unsigned(T), unsigned(std::min<int64_t>((kp.nb + kThreads - 1) / kThreads, kMaxGridY))),
                 kThreads)(kp);
    LEMMA_CUDA_CHECK_LAUNCH("sparse filter_kernel");
    LEMMA_LAUNCH(compact_kernel, unsigned(T), 256)(kp);
    LEMMA_CUDA_CHECK_LAUNCH("sparse compact_kernel");
    return Status::Ok();
  }

  Status merge(bool relu) {
    LEMMA_LAUNCH(merge_kernel, unsigned(R), 64)(kp, relu, int(D), out.get(), mo.get(), lo.get(), co.get());
    LEMMA_CUDA_CHECK_LAUNCH("sparse merge_kernel");
    m_h.resize(R), l_h.resize(R), c_h.resize(R);
    LEMMA_RETURN_IF_ERROR(mo.download(m_h.data(), R));
    LEMMA_RETURN_IF_ERROR(lo.download(l_h.data(), R));
    LEMMA_RETURN_IF_ERROR(co.download(c_h.data(), R));
    return Status::Ok();
  }

  int64_t visible(int64_t row) const {
    return p.causal ? std::clamp<int64_t>(rows.limit[row] + 1, 0, N) : N;
  }

  Status stats_into(SparseStats* st) {
    unsigned long long cn[2];
    LEMMA_RETURN_IF_ERROR(counters.download(cn, 2));
    st->keys_scored = double(cn[0]);
    st->blocks_visited = double(cn[1]);
    st->rows = R;
    const SparseHead& h0 = idx.heads[0];
    for (int64_t row = 0; row < R; ++row) {
      st->keys_total += double(visible(row));
      st->active_sum += c_h[row];
      st->active_max = std::max(st->active_max, double(c_h[row]));
      if (!p.causal) {
        st->blocks_total += double(h0.nb);
      } else {
        const int64_t bk = (row / p.M / p.Hq) * idx.p.Hkv + (row / p.M % p.Hq) / (p.Hq / idx.p.Hkv);
        const SparseHead& hd = idx.heads[bk];
        for (int64_t g = 0; g < hd.nb; ++g) st->blocks_total += hd.bpos_min[g] <= rows.limit[row];
      }
    }
    return Status::Ok();
  }
};

}  // namespace

Status sparse_attend_cuda(const SparseIndex& idx, const SparseAttendParams& p, const float* q,
                          double* thresholds, float* out, float* error_bound, SparseStats* stats) {
  Run run(idx, p);
  LEMMA_RETURN_IF_ERROR(run.setup(q, thresholds));
  const bool relu = p.activation == SparseActivation::kRelu;
  if (relu) LEMMA_RETURN_IF_ERROR(run.launch_rows<kRelu>(int(run.T)));
  else LEMMA_RETURN_IF_ERROR(run.launch_rows<kSoftTrunc>(int(run.T)));
  LEMMA_RETURN_IF_ERROR(run.merge(relu));
  SparseStats st;
  if (!relu) {
    // Certified bounds on the host; tiles with a flagged row go through every block again.
    std::vector<int32_t> redo;
    const int64_t GM = run.kp.GM;
    for (int64_t t = 0; t < run.T; ++t) {
      const int64_t bk = t / run.kp.nt, tt = t % run.kp.nt;
      const int64_t b = bk / idx.p.Hkv, hk = bk % idx.p.Hkv;
      const int64_t row0 = (b * p.Hq + hk * run.kp.G) * p.M + tt * kRows;
      const int n = int(std::min<int64_t>(kRows, GM - tt * kRows));
      bool flag = false;
      for (int r = 0; r < n; ++r) {
        const int64_t row = row0 + r, vis = run.visible(row);
        const float bound = vis > 0 ? sparse_softmax_bound(idx.heads[bk], run.D, run.rows.qn[row], run.rows.thr[row],
                                                           run.m_h[row], run.l_h[row], run.c_h[row], vis)
                                    : 0.0f;
        if (error_bound) error_bound[row] = bound;
        flag = flag || !(bound <= p.tolerance);
      }
      if (flag) {
        redo.push_back(int32_t(t));
        st.fallback_rows += n;
        if (error_bound)
          for (int r = 0; r < n; ++r) error_bound[row0 + r] = 0.0f;
      }
    }
    if (!redo.empty()) {
      LEMMA_RETURN_IF_ERROR(run.tile_ids.alloc(redo.size()));
      LEMMA_RETURN_IF_ERROR(run.tile_ids.upload(redo.data(), redo.size()));
      run.kp.tile_ids = run.tile_ids.get();
      run.kp.all_blocks = true;
      LEMMA_RETURN_IF_ERROR(run.launch_rows<kSoftFull>(int(redo.size())));
      run.kp.tile_ids = nullptr;
      run.kp.all_blocks = false;
      LEMMA_RETURN_IF_ERROR(run.merge(false));
    }
  }
  LEMMA_RETURN_IF_ERROR(run.out.download(out, run.R * run.D));
  LEMMA_RETURN_IF_ERROR(run.stats_into(&st));
  if (stats) *stats = st;
  return Status::Ok();
}

Status sparse_relu_backward_cuda(const SparseIndex& idx, const SparseAttendParams& p,
                                 const float* q, const double* thresholds, const float* dout,
                                 float* dq, float* dk, float* dv, SparseStats* stats) {
  if (p.activation != SparseActivation::kRelu || p.calibrate)
    return Status::Error(Code::kRange, "sparse attention: backward is defined for relu with a threshold");
  std::vector<double> thr(thresholds, thresholds + idx.p.B * p.Hq);
  Run run(idx, p);
  LEMMA_RETURN_IF_ERROR(run.setup(q, thr.data()));
  LEMMA_RETURN_IF_ERROR(run.launch_rows<kRelu>(int(run.T)));
  LEMMA_RETURN_IF_ERROR(run.merge(true));
  const int64_t R = run.R, D = run.D, Dp = run.Dp, H = int64_t(idx.heads.size());
  std::vector<float> o(R * D), dOp(R * Dp, 0.0f), dvec(R);
  LEMMA_RETURN_IF_ERROR(run.out.download(o.data(), R * D));
  for (int64_t row = 0; row < R; ++row) {
    double s = 0;
    for (int64_t d = 0; d < D; ++d) {
      dOp[row * Dp + d] = dout[row * D + d];
      s += double(dout[row * D + d]) * o[row * D + d];
    }
    dvec[row] = float(s);
  }
  DeviceBuffer<float> dO_d, dvec_d, dq_d, dkt_d, dvp_d, dk_d, dv_d;
  LEMMA_RETURN_IF_ERROR(dO_d.alloc(R * Dp));
  LEMMA_RETURN_IF_ERROR(dO_d.upload(dOp.data(), R * Dp));
  LEMMA_RETURN_IF_ERROR(dvec_d.alloc(R));
  LEMMA_RETURN_IF_ERROR(dvec_d.upload(dvec.data(), R));
  LEMMA_RETURN_IF_ERROR(dq_d.alloc(R * Dp));
  LEMMA_RETURN_IF_ERROR(dq_d.zero());
  const int64_t cap = run.kp.nb_cap * run.Bs;
  LEMMA_RETURN_IF_ERROR(dkt_d.alloc(H * cap * D));
  LEMMA_RETURN_IF_ERROR(dkt_d.zero());
  LEMMA_RETURN_IF_ERROR(dvp_d.alloc(H * cap * Dp));
  LEMMA_RETURN_IF_ERROR(dvp_d.zero());
  const int64_t N = run.N;
  LEMMA_RETURN_IF_ERROR(dk_d.alloc(H * N * D));
  LEMMA_RETURN_IF_ERROR(dv_d.alloc(H * N * D));
  run.kp.dO = dO_d.get(), run.kp.dvec = dvec_d.get(), run.kp.mf = run.mo.get(), run.kp.lf = run.lo.get();
  run.kp.dq = dq_d.get(), run.kp.dkt = dkt_d.get(), run.kp.dvp = dvp_d.get();
  LEMMA_RETURN_IF_ERROR(run.launch_rows<kBackward>(int(run.T)));
  LEMMA_LAUNCH(scatter_kernel, dim3(unsigned((run.kp.nb * run.Bs + 255) / 256), unsigned(std::min<int64_t>(H, kMaxGridY))),
               256)(run.kp, N, H, dk_d.get(), dv_d.get());
  LEMMA_CUDA_CHECK_LAUNCH("sparse scatter_kernel");
  std::vector<float> dqp(R * Dp);
  LEMMA_RETURN_IF_ERROR(dq_d.download(dqp.data(), R * Dp));
  for (int64_t row = 0; row < R; ++row) std::memcpy(dq + row * D, dqp.data() + row * Dp, sizeof(float) * D);
  LEMMA_RETURN_IF_ERROR(dk_d.download(dk, H * N * D));
  LEMMA_RETURN_IF_ERROR(dv_d.download(dv, H * N * D));
  SparseStats st;
  LEMMA_RETURN_IF_ERROR(run.stats_into(&st));
  if (stats) *stats = st;
  return Status::Ok();
}

}  // namespace lemma
