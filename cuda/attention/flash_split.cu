// Split-KV ("Flash-Decoding") attention forward for decode shapes: O = softmax(scale Q K^T) V and
// lse = logsumexp(scale Q K^T), bottom-right causal, for few query rows (Nq) against many keys.
//   q, out: [B, Hq, Nq, D]; k, v: [B, Hkv, Nk, D] (the compute dtype, D a kernel head dim:
//   32, 64, 96, 128 or 256, staged by attention_cuda.cu); lse: [B, Hq, Nq] fp32 (natural log).
// Why: the regular grid (flash_fwd.cuh) has one block per (b, query head, 128 query rows): a
// decode shape gives it B * Hq blocks, most SMs idle, and every query head of a GQA group
// re-reads the same K and V.
// Algorithm:
//  1. flash_split_kernel, one block per (b, kv head, packed row block, key chunk), 128 threads.
//     The rows of a kv head's group are packed: packed row r = h_local * Nq + i, R = group * Nq
//     of them, contiguous in q / out / lse, so K and V are read once per group. A block takes 16
//     packed rows (4 per warp: packed row 4 slot + warp) and one chunk of keys, streamed through
//     shared memory in tiles of 32 keys (cp.async, double-buffered when the device's shared
//     memory allows, else single). Per tile, lane j scores key j against its warp's rows
//     (Q in shared memory as fp32, broadcast reads), online softmax in exp2 units with the
//     running max warp-uniform and the running sum per lane; then lanes own pairs of head-dim
//     columns (d = 2 lane + 64 u) and accumulate P V. The chunk's unnormalised (m, l, O) go to
//     fp32 workspace: m, l [rows][chunks], O [rows][chunks][D].
//  2. flash_split_combine_kernel, one block per (row, 32 columns): M = max_c m_c, then
//     w_c = exp2(m_c - M), L = sum w_c l_c, O = sum w_c O_c (warp w sums chunks w, w + 16, ... in
//     order, then the warps' sums are added in warp order); out = O / L (storage dtype),
//     lse = (M + log2 L) ln 2. Chunks a row sees no key of (l_c = 0) weigh 0; a row that sees
//     no key at all gets out = 0, lse = +inf. The order is fixed, so the result is bitwise the
//     same from run to run for a given shape and device (the chunk count depends on the
//     device's SM count).
// Precision: every product and sum is fp32 on CUDA cores (FMA; scores as in-order sums of
// 4-element FMA chains, dot4_chunk, as the exact fp32 kernels), whatever the precision: the case
// is memory-bound, and the inputs are already in the precision's storage type. For fp32 this is
// the exact fp32 kernels' arithmetic; for tf32 the operands are not rounded to TF32 and for
// fp16 / bf16 P is not rounded to 16 bits before P V, so the only rounding at the precision is
// the output's: the error is at most the regular kernels' and the plain reference's, which
// round those operands (the parity rule bounds it by 2 x plain + 4u max|ref|). A row that sees
// one key gets out = that V row bit for bit (P = 1 exactly, one non-empty chunk of weight 1).
// This file is not in the fast-math list: exp2f and log2f are IEEE.
// Dispatch (split_chunk_keys, used by attention_forward_cuda): see below.
// Test: LEMMA_EMULATE_ARCH=8.6 build-emulate/attention_cuda_test --emulated --filter split
// (test/native/attention_cuda_test.cc; 8.6 runs the single-buffered fp32 D=256 variant).
// Bench: build-cuda/attention_cuda_bench --decode-only (decode shapes, GB/s of K and V, against
// the regular grid; bench/gpu/torch_sdpa.py --decode-only for PyTorch SDPA).
#include <algorithm>

#include "attention/flash_f32.cuh"
#include "attention/flash_launch.cuh"
#include "attention/flash_split.cuh"
#include "common/cuda_check.cuh"

namespace lemma::cuda {

namespace {

constexpr int kSplitWarps = 4;
constexpr int kSplitThreads = 32 * kSplitWarps;
constexpr int kSplitSlots = 4;                        // packed rows per warp
constexpr int kSplitRows = kSplitWarps * kSplitSlots;  // packed rows per block
constexpr int kSplitKeys = 32;                        // keys per tile (= lanes)
constexpr int kSplitPairs = 4;                        // head-dim pairs per lane: D <= 64 * 4

// Automatic dispatch (split_chunk_keys). Constants are estimates until timed on a GPU.
constexpr int64_t kMaxPackedRows = 128;  // group * Nq: beyond this the fp32 CUDA-core work dominates
constexpr int64_t kMinChunk = 256;       // keys: a chunk's partial (R x D fp32) stays small next to its K, V
constexpr int64_t kBlocksPerSm = 4;      // target blocks per SM (one wave at 45 KB smem / block)
constexpr int64_t kRegularBr = 64;       // query rows per regular block (64 or 128): for counting blocks

struct SplitParams {
  const void* q;
  const void* k;
  const void* v;
  void* out;
  float* lse;
  float* pm;  // [rows][chunks] running max (exp2 units)
  float* pl;  // [rows][chunks] sum of exp2(x - m)
  float* po;  // [rows][chunks][D] sum of exp2(x - m) v, unnormalised
  int Nq, Nk, D;
  int R;           // packed rows per (b, kv head) = group * Nq
  int row_blocks;  // ceil(R / kSplitRows)
  int chunks, chunk;
  int stages;      // 1 or 2 shared-memory buffers for K, V
  int causal;
  float scale_log2;
};

// Storage types: 16 bytes of a shared-memory row to fp32, a pair of columns to fp32, fp32 to storage.
template <class E>
struct SplitElem;
template <>
struct SplitElem<float> {
  static constexpr int kPer = 4;  // elements per 16 bytes
  __device__ static __forceinline__ void unpack16(const char* p, float (&x)[kPer]) {
    const float4 v = *reinterpret_cast<const float4*>(p);
    x[0] = v.x, x[1] = v.y, x[2] = v.z, x[3] = v.w;
  }
  __device__ static __forceinline__ float2 pair(const char* p) { return *reinterpret_cast<const float2*>(p); }
  __device__ static __forceinline__ float to_float(float x) { return x; }
  __device__ static __forceinline__ float from_float(float x) { return x; }
};
template <>
struct SplitElem<__half> {
  static constexpr int kPer = 8;
  __device__ static __forceinline__ void unpack16(const char* p, float (&x)[kPer]) {
    const uint4 v = *reinterpret_cast<const uint4*>(p);
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&w[i]));
      x[2 * i] = f.x, x[2 * i + 1] = f.y;
    }
  }
  __device__ static __forceinline__ float2 pair(const char* p) {
    return __half22float2(*reinterpret_cast<const __half2*>(p));
  }
  __device__ static __forceinline__ float to_float(__half x) { return __half2float(x); }
  __device__ static __forceinline__ __half from_float(float x) { return __float2half_rn(x); }
};
template <>
struct SplitElem<__nv_bfloat16> {
  static constexpr int kPer = 8;
  // bf16 -> fp32 is exact: the 16 bits are the top half of the fp32 pattern.
  __device__ static __forceinline__ void unpack16(const char* p, float (&x)[kPer]) {
    const uint4 v = *reinterpret_cast<const uint4*>(p);
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      x[2 * i] = __uint_as_float(w[i] << 16);
      x[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
    }
  }
  __device__ static __forceinline__ float2 pair(const char* p) {
    const uint32_t w = *reinterpret_cast<const uint32_t*>(p);
    return make_float2(__uint_as_float(w << 16), __uint_as_float(w & 0xffff0000u));
  }
  __device__ static __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
  __device__ static __forceinline__ __nv_bfloat16 from_float(float x) { return __float2bfloat16_rn(x); }
};

// Shared memory: Q [16][D] fp32 | P [4 warps][4 slots][32] fp32 | stages x (K, V) [32][pitch].
__host__ __device__ constexpr int split_pitch(int D, int elem_bytes) { return D * elem_bytes + 16; }
__host__ __device__ constexpr int split_kv_offset(int D) { return (kSplitRows * D + kSplitWarps * kSplitSlots * kSplitKeys) * 4; }
constexpr int split_smem_bytes(int D, int elem_bytes, int stages) {
  return split_kv_offset(D) + stages * 2 * kSplitKeys * split_pitch(D, elem_bytes);
}

// Keys [n0, n0 + 32) of K and V into a stage; rows at or past k_hi are zero-filled (not read).
template <int kE>
__device__ __forceinline__ void split_load_tile(char* stage, const char* gK, const char* gV, int n0, int k_hi,
                                                int D) {
  const int row_bytes = D * kE, pitch = row_bytes + 16, per_row = row_bytes / 16, per_tile = kSplitKeys * per_row;
  for (int i = threadIdx.x; i < 2 * per_tile; i += kSplitThreads) {
    const int which = i >= per_tile ? 1 : 0;
    const int rem = i - which * per_tile, r = rem / per_row, c = rem - r * per_row;
    const bool ok = n0 + r < k_hi;
    const char* src = (which ? gV : gK) + static_cast<int64_t>(ok ? n0 + r : n0) * row_bytes + c * 16;
    cp_async_16(stage + which * kSplitKeys * pitch + r * pitch + c * 16, src, ok);
  }
}

// Bounds: 4 blocks per SM (kBlocksPerSm), i.e. at most 128 registers (121-128 used, no spill).
template <class Elem>
__global__ void __launch_bounds__(kSplitThreads, 4) flash_split_kernel(const SplitParams p) {
  using T = SplitElem<Elem>;
  constexpr int kE = sizeof(Elem), kPer = T::kPer;
  LEMMA_DYNAMIC_SMEM(char, smem);
  const int D = p.D, pitch = split_pitch(D, kE), stage_bytes = 2 * kSplitKeys * pitch;
  float* sQ = reinterpret_cast<float*>(smem);  // [kSplitRows][D]
  char* sKV = smem + split_kv_offset(D);

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float* sPw = reinterpret_cast<float*>(smem) + kSplitRows * D + warp * kSplitSlots * kSplitKeys;  // [slot][32]
  const unsigned rb = blockIdx.x % static_cast<unsigned>(p.row_blocks);
  const unsigned bc = blockIdx.x / static_cast<unsigned>(p.row_blocks);
  const int c = static_cast<int>(bc % static_cast<unsigned>(p.chunks));
  const int64_t bk = bc / static_cast<unsigned>(p.chunks);  // b * Hkv + kv head
  const int pr0 = static_cast<int>(rb) * kSplitRows;        // first packed row of the block
  const int nrows = min(kSplitRows, p.R - pr0);
  const int64_t row0 = bk * p.R + pr0;                      // its global row (q, out, lse)
  const int shift = p.Nk - p.Nq;                            // causal: row i sees keys j <= i + shift

  const int k_lo = c * p.chunk;
  int k_hi = min(p.Nk, k_lo + p.chunk);
  if (p.causal) {  // no row of the block sees a key past its largest i + shift
    const int i_first = pr0 % p.Nq;
    const int i_max = i_first + nrows - 1 >= p.Nq ? p.Nq - 1 : i_first + nrows - 1;
    k_hi = min(k_hi, i_max + shift + 1);
  }
  const int ntiles = k_hi > k_lo ? (k_hi - k_lo + kSplitKeys - 1) / kSplitKeys : 0;
  // This warp's rows: slot s is packed row 4 s + warp; ns of them are valid (warp-uniform).
  const int ns = nrows > warp ? (nrows - warp + kSplitWarps - 1) / kSplitWarps : 0;
  int lim[kSplitSlots];  // causal: the last key each row sees
#pragma unroll
  for (int s = 0; s < kSplitSlots; ++s) lim[s] = (pr0 + s * kSplitWarps + warp) % p.Nq + shift;

  const char* gK = static_cast<const char*>(p.k) + bk * p.Nk * static_cast<int64_t>(D) * kE;
  const char* gV = static_cast<const char*>(p.v) + bk * p.Nk * static_cast<int64_t>(D) * kE;

  float o[kSplitSlots][kSplitPairs][2];
  float m_run[kSplitSlots], l_run[kSplitSlots];  // m: warp-uniform (exp2 units); l: this lane's share
#pragma unroll
  for (int s = 0; s < kSplitSlots; ++s) {
    m_run[s] = -INFINITY;
    l_run[s] = 0.f;
#pragma unroll
    for (int u = 0; u < kSplitPairs; ++u) o[s][u][0] = o[s][u][1] = 0.f;
  }

  if (ntiles > 0) {
    split_load_tile<kE>(sKV, gK, gV, k_lo, k_hi, D);
    cp_async_commit();
    const Elem* gQ = static_cast<const Elem*>(p.q) + row0 * D;
    for (int i = threadIdx.x; i < kSplitRows * D; i += kSplitThreads)
      sQ[i] = i < nrows * D ? T::to_float(gQ[i]) : 0.f;
  }

  for (int tile = 0; tile < ntiles; ++tile) {
    const int n0 = k_lo + tile * kSplitKeys;
    const char* sK = sKV + (p.stages == 2 ? (tile & 1) * stage_bytes : 0);
    const char* sV = sK + kSplitKeys * pitch;
    if (p.stages == 2 && tile + 1 < ntiles) {
      split_load_tile<kE>(sKV + ((tile + 1) & 1) * stage_bytes, gK, gV, n0 + kSplitKeys, k_hi, D);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();  // tile visible (and Q, the first time)

    if (ns > 0) {
      // Scores of key n0 + lane against this warp's rows.
      float sc[kSplitSlots];
#pragma unroll
      for (int s = 0; s < kSplitSlots; ++s) sc[s] = 0.f;
      const char* krow = sK + lane * pitch;
      for (int d = 0; d < D; d += kPer) {
        float kx[kPer];
        T::unpack16(krow + d * kE, kx);
#pragma unroll
        for (int s = 0; s < kSplitSlots; ++s) {
          if (s < ns) {
            const float* qr = sQ + (s * kSplitWarps + warp) * D + d;
#pragma unroll
            for (int h = 0; h < kPer; h += 4)
              sc[s] += dot4_chunk(*reinterpret_cast<const float4*>(qr + h), kx[h], kx[h + 1], kx[h + 2], kx[h + 3]);
          }
        }
      }
      // Mask, online softmax; P to this warp's shared row.
      const int key = n0 + lane;
#pragma unroll
      for (int s = 0; s < kSplitSlots; ++s) {
        if (s < ns) {
          float x = sc[s] * p.scale_log2;
          if (key >= k_hi || (p.causal && key > lim[s])) x = -INFINITY;
          const float mx = fmaxf(m_run[s], warp_max(x));
          const float m_use = mx == -INFINITY ? 0.f : mx;  // nothing seen yet: P = exp2(-inf) = 0
          const float corr = exp2f(m_run[s] - m_use);
          const float pv = exp2f(x - m_use);
          m_run[s] = mx;
          l_run[s] = l_run[s] * corr + pv;
#pragma unroll
          for (int u = 0; u < kSplitPairs; ++u) o[s][u][0] *= corr, o[s][u][1] *= corr;
          sPw[s * kSplitKeys + lane] = pv;
        }
      }
      __syncwarp();
      // O += P V (lane owns columns 2 lane + 64 u, +1).
      for (int j = 0; j < kSplitKeys; j += 4) {
        float2 vv[4][kSplitPairs];
#pragma unroll
        for (int jj = 0; jj < 4; ++jj)
#pragma unroll
          for (int u = 0; u < kSplitPairs; ++u) {
            const int col = 2 * lane + 64 * u;
            vv[jj][u] = col < D ? T::pair(sV + (j + jj) * pitch + col * kE) : make_float2(0.f, 0.f);
          }
#pragma unroll
        for (int s = 0; s < kSplitSlots; ++s) {
          if (s < ns) {
            const float4 pr = *reinterpret_cast<const float4*>(sPw + s * kSplitKeys + j);
#pragma unroll
            for (int u = 0; u < kSplitPairs; ++u) {
              o[s][u][0] = fmaf(pr.w, vv[3][u].x, fmaf(pr.z, vv[2][u].x, fmaf(pr.y, vv[1][u].x, fmaf(pr.x, vv[0][u].x, o[s][u][0]))));
              o[s][u][1] = fmaf(pr.w, vv[3][u].y, fmaf(pr.z, vv[2][u].y, fmaf(pr.y, vv[1][u].y, fmaf(pr.x, vv[0][u].y, o[s][u][1]))));
            }
          }
        }
      }
      __syncwarp();  // sPw is rewritten next tile
    }
    __syncthreads();  // every warp is done with this stage before it is refilled
    if (p.stages == 1 && tile + 1 < ntiles) {
      split_load_tile<kE>(sKV, gK, gV, n0 + kSplitKeys, k_hi, D);
      cp_async_commit();
    }
  }

  // The chunk's partial state for every valid row (an empty chunk writes m = -inf, l = 0, O = 0).
#pragma unroll
  for (int s = 0; s < kSplitSlots; ++s) {
    if (s < ns) {
      const float l = warp_sum(l_run[s]);
      const int64_t at = (row0 + s * kSplitWarps + warp) * p.chunks + c;
      float* po = p.po + at * D;
#pragma unroll
      for (int u = 0; u < kSplitPairs; ++u) {
        const int col = 2 * lane + 64 * u;
        if (col < D) *reinterpret_cast<float2*>(po + col) = make_float2(o[s][u][0], o[s][u][1]);
      }
      if (lane == 0) {
        p.pm[at] = m_run[s];
        p.pl[at] = l;
      }
    }
  }
}

// One block per (row, 32 columns of D): warp w takes chunks w, w + 16, ... (lane = column), then
// the 16 warps' sums are added in warp order: a fixed order, so the result is deterministic. Many
// warps per row keep the partials' reads (up to chunks x D x 4 bytes a row) from being a chain of
// dependent round trips; every warp recomputes M and its chunks' weights (a few floats a chunk).
constexpr int kCombineWarps = 16;

template <class Elem>
__global__ void __launch_bounds__(32 * kCombineWarps) flash_split_combine_kernel(const SplitParams p) {
  using T = SplitElem<Elem>;
  LEMMA_SHARED(float, s_max, [kCombineWarps]);
  LEMMA_SHARED(float, s_l, [kCombineWarps]);
  LEMMA_SHARED(float, s_acc, [kCombineWarps][32]);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, C = p.chunks, D = p.D, slices = D / 32;
  const int64_t row = blockIdx.x / static_cast<unsigned>(slices);
  const int col = static_cast<int>(blockIdx.x % static_cast<unsigned>(slices)) * 32 + lane;
  const float* pm = p.pm + row * C;
  const float* pl = p.pl + row * C;
  const float* po = p.po + row * C * D + col;
  float M = -INFINITY;
  for (int c = threadIdx.x; c < C; c += 32 * kCombineWarps) M = fmaxf(M, pm[c]);
  M = warp_max(M);
  if (lane == 0) s_max[warp] = M;
  __syncthreads();
#pragma unroll
  for (int w = 0; w < kCombineWarps; ++w) M = fmaxf(M, s_max[w]);
  float L = 0.f, acc = 0.f;  // this warp's chunks; L is the same in every lane
  if (M != -INFINITY) {
#pragma unroll 8
    for (int c = warp; c < C; c += kCombineWarps) {
      const float lc = pl[c];
      // A chunk the row sees no key of has l = 0 and O = 0 (and m = -inf): weight 0.
      const float w = lc > 0.f ? exp2f(pm[c] - M) : 0.f;
      L = fmaf(w, lc, L);
      acc = fmaf(w, po[static_cast<int64_t>(c) * D], acc);
    }
  }
  s_acc[warp][lane] = acc;
  if (lane == 0) s_l[warp] = L;
  __syncthreads();
  if (warp == 0) {
    float a = 0.f, l = 0.f;
#pragma unroll
    for (int w = 0; w < kCombineWarps; ++w) {
      a += s_acc[w][lane];
      l += s_l[w];
    }
    const bool empty = !(l > 0.f);
    static_cast<Elem*>(p.out)[row * D + col] = T::from_float(empty ? 0.f : a * (1.f / l));
    if (lane == 0 && col == 0) p.lse[row] = empty ? __int_as_float(0x7f800000) : (M + log2f(l)) * kLn2;
  }
}

int split_stages(int D, int elem_bytes, int optin) {
  return split_smem_bytes(D, elem_bytes, 2) <= optin ? 2 : 1;
}

int elem_bytes(DeviceDtype cd) { return cd == DeviceDtype::kF32 ? 4 : 2; }

template <class Elem>
Status split_launch(SplitParams sp, int64_t rows, cudaStream_t s) {
  constexpr int kE = sizeof(Elem);
  int optin = 0;
  LEMMA_RETURN_IF_ERROR(device_smem_optin(&optin));
  sp.stages = split_stages(sp.D, kE, optin);
  const int bytes = split_smem_bytes(sp.D, kE, sp.stages);
  if (bytes > optin) return smem_error("flash_split_kernel", bytes, optin);
  // The kernel's dynamic shared-memory limit is set once per device (prepare_kernel): to the
  // most any head dim asks for that fits, so that every later launch fits under it.
  int cap = 0;
  for (int d : {32, 64, 96, 128, 256}) {
    const int b = split_smem_bytes(d, kE, split_stages(d, kE, optin));
    if (b <= optin) cap = std::max(cap, b);
  }
  const auto kernel = flash_split_kernel<Elem>;
  LEMMA_RETURN_IF_ERROR(prepare_kernel(reinterpret_cast<const void*>(kernel), cap, "flash_split_kernel"));
  const int64_t grid = rows / sp.R * sp.row_blocks * sp.chunks;  // (b, kv head) x row blocks x chunks
  LEMMA_RETURN_IF_ERROR(check_grid(grid, "flash_split_kernel"));
  LEMMA_LAUNCH(kernel, static_cast<unsigned>(grid), kSplitThreads, bytes, s)(sp);
  LEMMA_CUDA_CHECK_LAUNCH("flash_split_kernel");
  const int64_t cgrid = rows * (sp.D / 32);
  LEMMA_RETURN_IF_ERROR(check_grid(cgrid, "flash_split_combine_kernel"));
  LEMMA_LAUNCH(flash_split_combine_kernel<Elem>, static_cast<unsigned>(cgrid), 32 * kCombineWarps, 0, s)(sp);
  LEMMA_CUDA_CHECK_LAUNCH("flash_split_combine_kernel");
  return Status::Ok();
}

}  // namespace

// The rule: split when the regular grid (B * Hq * ceil(Nq / 64) blocks) would leave at least
// half of the SMs idle, the packed rows per kv head (group * Nq) are few (<= 128), and there are
// at least two chunks of kMinChunk keys. Chunks: enough (b, kv head, row block, chunk) blocks for
// kBlocksPerSm per SM, each chunk a multiple of 32 keys and at least kMinChunk.
int64_t split_chunk_keys(const AttentionParams& p, int sms) {
  if (sms <= 0 || p.Hkv <= 0 || p.Hq % p.Hkv != 0) return 0;
  const int64_t group = p.Hq / p.Hkv, R = group * p.Nq;
  const int64_t regular = p.B * p.Hq * ((p.Nq + kRegularBr - 1) / kRegularBr);
  if (2 * regular > sms || R > kMaxPackedRows || p.Nk < 2 * kMinChunk) return 0;
  const int64_t base = p.B * p.Hkv * ((R + kSplitRows - 1) / kSplitRows);
  const int64_t want = std::max<int64_t>(1, (kBlocksPerSm * sms + base - 1) / base);
  int64_t chunk = (p.Nk + want - 1) / want;
  chunk = std::max(kMinChunk, (chunk + kSplitKeys - 1) / kSplitKeys * kSplitKeys);
  return (p.Nk + chunk - 1) / chunk >= 2 ? chunk : 0;
}

Status split_fits(DeviceDtype cd, int D, bool* fits) {
  int optin = 0;
  LEMMA_RETURN_IF_ERROR(device_smem_optin(&optin));
  *fits = split_smem_bytes(D, elem_bytes(cd), 1) <= optin;
  return Status::Ok();
}

Status flash_split_fwd_launch(const FlashParams& f, DeviceDtype cd, int D, int64_t chunk, Workspace& ws,
                              cudaStream_t s) {
  if (D % 32 != 0 || D < 32 || D > 64 * kSplitPairs || chunk < 1)
    return Status::Error(Code::kInternal, "attention: split-KV needs a kernel head dim and a chunk of at least one key");
  const int64_t R = int64_t(f.group) * f.Nq, rows = int64_t(f.B) * f.Hq * f.Nq;
  chunk = std::min<int64_t>(chunk, f.Nk);  // k_lo + chunk < Nk + chunk <= 2^31: int in the kernel
  const int64_t chunks = (f.Nk + chunk - 1) / chunk;
  if (R > (int64_t{1} << 30)) return Status::Error(Code::kRange, "attention: split-KV needs group * Nq <= 2^30");
  SplitParams sp{};
  sp.q = f.q, sp.k = f.k, sp.v = f.v, sp.out = f.out, sp.lse = f.lse;
  sp.Nq = f.Nq, sp.Nk = f.Nk, sp.D = D;
  sp.R = static_cast<int>(R);
  sp.row_blocks = static_cast<int>((R + kSplitRows - 1) / kSplitRows);
  sp.chunks = static_cast<int>(chunks);
  sp.chunk = static_cast<int>(chunk);
  sp.causal = f.causal;
  sp.scale_log2 = f.scale_log2;
  void *pm = nullptr, *pl = nullptr, *po = nullptr;
  LEMMA_RETURN_IF_ERROR(ws.alloc(&pm, static_cast<size_t>(rows * chunks) * sizeof(float)));
  LEMMA_RETURN_IF_ERROR(ws.alloc(&pl, static_cast<size_t>(rows * chunks) * sizeof(float)));
  LEMMA_RETURN_IF_ERROR(ws.alloc(&po, static_cast<size_t>(rows * chunks * D) * sizeof(float)));
  sp.pm = static_cast<float*>(pm), sp.pl = static_cast<float*>(pl), sp.po = static_cast<float*>(po);
  switch (cd) {
    case DeviceDtype::kF32: return split_launch<float>(sp, rows, s);
    case DeviceDtype::kF16: return split_launch<__half>(sp, rows, s);
    case DeviceDtype::kBF16: return split_launch<__nv_bfloat16>(sp, rows, s);
  }
  return Status::Error(Code::kDtype, "attention: unknown device dtype");
}

}  // namespace lemma::cuda
