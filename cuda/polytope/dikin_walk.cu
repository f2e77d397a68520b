// The soft-threshold Dikin walk on the GPU: C independent chains per launch, fp64, on a dense
// polytope {x : Ax <= b} (CSR bodies are densified), log barrier, exact Hessian, built-in or
// callback targets. The same step as native/polytope/polytope_walk.inl, with the same Philox
// counters (core/rng.h), so a seed gives the CPU's chains up to rounding.
//
// One step = 8 launches over all chains (each a no-op for chains that need nothing):
//   k_begin      lazy coin; ξ (kRngXi); g_i = √α⁻¹/s_i(x) when Φ(x) is not cached   [block/chain]
//   k_hessian    Φ = Σ g_i² a_i a_iᵀ, lower 64×64 tiles, 4×4 outputs per thread, A streamed
//                through shared memory 16 rows at a time. d <= 128: one block per chain loops
//                over its (at most 3) tiles; d > 128: one block per tile (several per chain).
//   k_cholesky   + η⁻¹I (or the ridge), right-looking Cholesky in place, ½ log det   [block/chain]
//   k_propose    u = Lₓ⁻ᵀξ, z = x + u, slacks at z and the boundary rule, g_i(z)     [block/chain]
//   k_hessian, k_cholesky at z
//   k_quad       ‖Lᵤᵀu‖², and f(z) for built-in targets                               [block/chain]
//   k_accept     Metropolis filter (u_acc from the coin block), recording             [block/chain]
// Our own batched Cholesky and triangular solves (no cuSOLVER/cuBLAS on the build machine).
// Matrices are d×d per chain in global memory (two slots: Φ(x)'s factor is cached, exact
// Hessians being a function of the point). Samples of a round are recorded on the device and
// copied to the host (step-major) when the round ends.
//
// Device memory: DeviceBuffer (common/device_buffer.cuh), counted in cuda_bytes_in_use().
// Test: test/native/polytope_cuda_test.cc (chains = the CPU's with the same seed, callback path,
// singular Φ, refusals, memory; runs on the emulated device: LEMMA_CUDA=EMULATE) and
// test/gpu/polytope.gpu.test.ts (parity with the CPU, moments). Bench: bench/node/polytope.bench.ts --gpu.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/device_buffer.cuh"
#include "common/launch.cuh"
#include "core/rng.h"
#include "polytope/polytope.h"
#include "polytope/polytope_cuda.h"

namespace lemma {

namespace {

#define DW_CHECK(expr)                                                                              \
  do {                                                                                              \
    const cudaError_t _e = (expr);                                                                  \
    if (_e != cudaSuccess) {                                                                        \
      cudaGetLastError();                                                                           \
      return Status::Error(_e == cudaErrorMemoryAllocation ? Code::kCudaOom : Code::kCuda,           \
                           std::string(cudaGetErrorName(_e)) + " in " #expr " at " __FILE__ ":" +   \
                               std::to_string(__LINE__));                                           \
    }                                                                                               \
  } while (0)

constexpr int kThreads = 256;
constexpr int kTile = 64;     // Hessian tile (rows and columns)
constexpr int kChunk = 16;    // constraints staged in shared memory per pass
constexpr double kEps = 2.220446049250313e-16;

// Chain state and body, by value into every kernel (pointers are device memory).
struct DevParams {
  int64_t C, M, d;
  const double* A;         // M × d
  const double* b;         // M
  const double* row_norm;  // M
  int target;
  const double *tc, *tmean, *tprec, *tX, *ty;
  int64_t nobs;
  double prior_prec;
  double sqrt_alpha_inv, eta_inv, ridge_rel;
  int lazy;
  uint64_t seed;
  int64_t burn_in, thin, kept;
  double* x;        // C × d
  double* fx;       // C
  double* mats;     // C × 2 × d × d
  uint8_t* cur;     // C
  uint8_t* have;    // C: factor of Φ(x) cached
  double* hl;       // C
  double* z;        // C × d
  double* u;        // C × d: ξ, then Lₓ⁻ᵀξ
  uint8_t* flag;    // C: 1 = this step proposes (not a lazy stay)
  uint8_t* status;  // C: 2 = z inside (needs Φ(z)), 1 = needs f(z), 0 = stay
  double* g;        // C × M: √α⁻¹/s_i at the point being factored
  double* p_hlz;    // C
  double* p_qz;     // C
  double* p_qx;     // C
  double* p_fz;     // C
  unsigned long long* accepted;  // C
  double* rec;      // [rec_n][C][d]: this round's samples
  int64_t rec_k0;   // sample index of rec[0]
  int64_t rec_n;
};

__device__ __forceinline__ rng::U4 dev_block(const DevParams& p, uint32_t blk, int64_t t, int64_t ch, uint32_t purpose) {
  rng::U4 c;
  c.v[0] = blk;
  c.v[1] = static_cast<uint32_t>(t);
  c.v[2] = static_cast<uint32_t>(ch);
  c.v[3] = purpose | (static_cast<uint32_t>(static_cast<uint64_t>(t) >> 32) << 8);
  return rng::philox4x32_10(c, rng::key_lo(p.seed), rng::key_hi(p.seed));
}

// Sum over the block (every thread gets the result). red has kThreads/32 doubles.
__device__ double block_sum(double v, double* red) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int w = threadIdx.x >> 5, l = threadIdx.x & 31;
  __syncthreads();
  if (l == 0) red[w] = v;
  __syncthreads();
  double s = 0.0;
  for (int i = 0; i < static_cast<int>(blockDim.x >> 5); ++i) s += red[i];
  return s;
}

// Slacks of the point pt (shared, d values) into g as √α⁻¹/s_i; returns whether pt is interior
// (spec §3.10 boundary rule), the same answer in every thread: the "some slack is too small"
// predicate is reduced by __syncthreads_or (no shared flag written by many threads). Uses red
// for the norm's reduction.
__device__ bool slack_weights(const DevParams& p, const double* pt, double* g, double* red) {
  const int64_t d = p.d;
  double sq = 0.0;
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x) sq += pt[j] * pt[j];
  const double xn = sqrt(block_sum(sq, red));
  bool bad = false;
  for (int64_t i = threadIdx.x; i < p.M; i += blockDim.x) {
    const double* a = p.A + i * d;
    double ax = 0.0;
    for (int64_t j = 0; j < d; ++j) ax += a[j] * pt[j];
    const double s = p.b[i] - ax;
    bad = bad || !(s > 64.0 * kEps * (fabs(p.b[i]) + p.row_norm[i] * xn));
    g[i] = p.sqrt_alpha_inv / s;
  }
  return __syncthreads_or(bad) == 0;
}

// ------------------------------------------------------------------ kernels
__global__ void __launch_bounds__(kThreads) k_begin(DevParams p, int64_t t) {
  LEMMA_DYNAMIC_SMEM(double, sh);  // d doubles (the point)
  LEMMA_SHARED(double, red, [kThreads / 32]);
  const int64_t ch = blockIdx.x;
  const int64_t d = p.d;
  const rng::U4 coin = dev_block(p, 0, t, ch, kRngCoin);
  const bool stay = p.lazy && rng::u01(coin.v[0], coin.v[1]) < 0.5;
  if (threadIdx.x == 0) {
    p.flag[ch] = stay ? 0 : 1;
    p.status[ch] = 0;
  }
  if (stay) return;
  for (int64_t k = threadIdx.x; 2 * k < d; k += blockDim.x) {
    double a, b2;
    rng::normal_pair(dev_block(p, static_cast<uint32_t>(k), t, ch, kRngXi), &a, &b2);
    p.u[ch * d + 2 * k] = a;
    if (2 * k + 1 < d) p.u[ch * d + 2 * k + 1] = b2;
  }
  if (!p.have[ch]) {
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) sh[j] = p.x[ch * d + j];
    __syncthreads();
    slack_weights(p, sh, p.g + ch * p.M, red);
  }
}

// mode 0: Φ(x) for chains with flag && !have into slot cur; mode 1: Φ(z) for status == 2 into
// the other slot. Lower tiles only (entries j <= i); the diagonal term comes in k_cholesky.
__global__ void __launch_bounds__(kThreads) k_hessian(DevParams p, int mode, int tiles_per_block) {
  LEMMA_SHARED(double, sa, [kChunk][kTile]);
  LEMMA_SHARED(double, sb, [kChunk][kTile]);
  const int64_t ch = blockIdx.x;
  const bool want = mode == 0 ? (p.flag[ch] && !p.have[ch]) : p.status[ch] == 2;
  if (!want) return;
  const int64_t d = p.d, M = p.M;
  const int slot = mode == 0 ? p.cur[ch] : 1 - p.cur[ch];
  double* H = p.mats + (2 * ch + slot) * d * d;
  const double* g = p.g + ch * M;
  const int64_t T = (d + kTile - 1) / kTile;
  const int64_t ntiles = T * (T + 1) / 2;
  const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
  for (int64_t tile = blockIdx.y * tiles_per_block; tile < ntiles && tile < (blockIdx.y + 1) * tiles_per_block; ++tile) {
    int64_t ti = 0;  // tile row ti, column tj <= ti, tile = ti(ti+1)/2 + tj
    while ((ti + 1) * (ti + 2) / 2 <= tile) ++ti;
    const int64_t tj = tile - ti * (ti + 1) / 2;
    const int64_t r0 = ti * kTile, c0 = tj * kTile;
    double acc[4][4];
    for (int a = 0; a < 4; ++a)
      for (int c = 0; c < 4; ++c) acc[a][c] = 0.0;
    for (int64_t i0 = 0; i0 < M; i0 += kChunk) {
      __syncthreads();
      for (int e = threadIdx.x; e < kChunk * kTile; e += blockDim.x) {
        const int r = e / kTile, col = e % kTile;
        const int64_t i = i0 + r;
        const double gi = i < M ? g[i] : 0.0;
        sa[r][col] = (i < M && r0 + col < d) ? gi * p.A[i * d + r0 + col] : 0.0;
        sb[r][col] = (i < M && c0 + col < d) ? gi * p.A[i * d + c0 + col] : 0.0;
      }
      __syncthreads();
      for (int r = 0; r < kChunk; ++r) {
        double av[4], bv[4];
        for (int a = 0; a < 4; ++a) av[a] = sa[r][ty * 4 + a];
        for (int c = 0; c < 4; ++c) bv[c] = sb[r][tx * 4 + c];
        for (int a = 0; a < 4; ++a)
          for (int c = 0; c < 4; ++c) acc[a][c] = fma(av[a], bv[c], acc[a][c]);
      }
    }
    for (int a = 0; a < 4; ++a)
      for (int c = 0; c < 4; ++c) {
        const int64_t i = r0 + ty * 4 + a, j = c0 + tx * 4 + c;
        if (i < d && j <= i) H[i * d + j] = acc[a][c];
      }
  }
}

// Adds the diagonal term, factors in place (right-looking), ½ log det. mode as in k_hessian.
__global__ void __launch_bounds__(kThreads) k_cholesky(DevParams p, int mode) {
  LEMMA_SHARED(double, red, [kThreads / 32]);
  const int64_t ch = blockIdx.x;
  const bool want = mode == 0 ? (p.flag[ch] && !p.have[ch]) : p.status[ch] == 2;
  if (!want) return;
  const int64_t d = p.d;
  const int slot = mode == 0 ? p.cur[ch] : 1 - p.cur[ch];
  double* L = p.mats + (2 * ch + slot) * d * d;
  double tr = 0.0;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) tr += L[i * d + i];
  tr = block_sum(tr, red);
  const double add = p.eta_inv != 0.0 ? p.eta_inv : p.ridge_rel * tr / static_cast<double>(d);
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) L[i * d + i] += add;
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
  // Every thread reads the pivot (final since the last barrier) and takes the same decision, so
  // the whole block leaves the loop at the same k with no flag in shared memory. The pivots stay
  // on the diagonal until the loop ends (no later step reads a finished one); their square roots
  // are stored afterwards, each thread its own rows.
  bool ok = true;
  for (int64_t k = 0; k < d; ++k) {
    const double piv = L[k * d + k];
    if (!(piv > 0.0) || !(piv < INFINITY)) {
      ok = false;
      break;
    }
    const double lkk = sqrt(piv);
    for (int64_t i = k + 1 + threadIdx.x; i < d; i += blockDim.x) L[i * d + k] /= lkk;
    __syncthreads();
    for (int64_t i = k + 1 + warp; i < d; i += nw) {
      const double lik = L[i * d + k];
      for (int64_t j = k + 1 + lane; j <= i; j += 32) L[i * d + j] -= lik * L[j * d + k];
    }
    __syncthreads();
  }
  double s = 0.0;
  if (ok)
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
      const double lii = sqrt(L[i * d + i]);
      L[i * d + i] = lii;
      s += log(lii);
    }
  s = block_sum(s, red);
  if (threadIdx.x == 0) {
    if (mode == 0) {
      if (ok) {
        p.hl[ch] = s;
        p.have[ch] = 1;
      } else {
        p.flag[ch] = 0;  // cannot propose from here this step
      }
    } else {
      if (ok) p.p_hlz[ch] = s;
      else p.status[ch] = 0;
    }
  }
}

__global__ void __launch_bounds__(kThreads) k_propose(DevParams p) {
  LEMMA_DYNAMIC_SMEM(double, sh);  // u (d), z (d)
  LEMMA_SHARED(double, red, [kThreads / 32]);
  const int64_t ch = blockIdx.x;
  if (!p.flag[ch]) return;
  const int64_t d = p.d;
  double* u = sh;
  double* z = sh + d;
  const double* L = p.mats + (2 * ch + p.cur[ch]) * d * d;
  double q = 0.0;
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
    u[j] = p.u[ch * d + j];
    q += u[j] * u[j];
  }
  q = block_sum(q, red);  // ‖ξ‖² (also syncs u)
  // u <- L⁻ᵀ ξ, back substitution with row-contiguous axpys. Every thread forms u_i = u[i] / L_ii
  // itself (u[i] is final since the last barrier and no later step reads it), so one barrier per
  // row suffices (thread 0 dividing first took two); the quotients are stored after the loop.
  for (int64_t i = d - 1; i >= 0; --i) {
    const double ui = u[i] / L[i * d + i];
    for (int64_t k = threadIdx.x; k < i; k += blockDim.x) u[k] -= ui * L[i * d + k];
    __syncthreads();
  }
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
    u[j] /= L[j * d + j];
    z[j] = p.x[ch * d + j] + u[j];
    p.z[ch * d + j] = z[j];
    p.u[ch * d + j] = u[j];
  }
  __syncthreads();
  const bool inside = slack_weights(p, z, p.g + ch * p.M, red);
  if (threadIdx.x == 0) {
    p.p_qx[ch] = q;
    p.status[ch] = inside ? 2 : 0;
  }
}

__device__ double softplus(double v) { return (v > 0.0 ? v : 0.0) + log1p(exp(-fabs(v))); }

// f at pt (shared, d values) for the built-in targets; every thread gets it.
__device__ double target_f(const DevParams& p, const double* pt, double* red) {
  const int64_t d = p.d;
  double s = 0.0;
  if (p.target == 1) {
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) s += p.tc[j] * pt[j];
  } else if (p.target == 2) {
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
      double r = 0.0;
      for (int64_t j = 0; j < d; ++j) r += p.tprec[i * d + j] * (pt[j] - p.tmean[j]);
      s += 0.5 * (pt[i] - p.tmean[i]) * r;
    }
  } else if (p.target == 3) {
    for (int64_t k = threadIdx.x; k < p.nobs; k += blockDim.x) {
      double m = 0.0;
      for (int64_t j = 0; j < d; ++j) m += p.tX[k * d + j] * pt[j];
      s += softplus(-p.ty[k] * m);
    }
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) s += 0.5 * p.prior_prec * pt[j] * pt[j];
  }
  return block_sum(s, red);
}

// ‖Lᵤᵀu‖² (u = z − x) and, for built-in targets, f(z). status 2 -> 1.
__global__ void __launch_bounds__(kThreads) k_quad(DevParams p, int builtin) {
  LEMMA_DYNAMIC_SMEM(double, sh);  // u (d), z (d)
  LEMMA_SHARED(double, red, [kThreads / 32]);
  const int64_t ch = blockIdx.x;
  if (p.status[ch] != 2) return;
  const int64_t d = p.d;
  double* u = sh;
  double* z = sh + d;
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
    u[j] = p.u[ch * d + j];
    z[j] = p.z[ch * d + j];
  }
  __syncthreads();
  const double* L = p.mats + (2 * ch + 1 - p.cur[ch]) * d * d;
  double s = 0.0;
  for (int64_t k = threadIdx.x; k < d; k += blockDim.x) {
    double v = 0.0;
    for (int64_t i = k; i < d; ++i) v += L[i * d + k] * u[i];
    s += v * v;
  }
  s = block_sum(s, red);
  const double f = builtin ? target_f(p, z, red) : 0.0;
  if (threadIdx.x == 0) {
    p.p_qz[ch] = s;
    if (builtin) p.p_fz[ch] = f;
    p.status[ch] = 1;
  }
}

// f at the chain states (start): fx = f(x).
__global__ void __launch_bounds__(kThreads) k_target_x(DevParams p) {
  LEMMA_DYNAMIC_SMEM(double, sh);
  LEMMA_SHARED(double, red, [kThreads / 32]);
  const int64_t ch = blockIdx.x;
  for (int64_t j = threadIdx.x; j < p.d; j += blockDim.x) sh[j] = p.x[ch * p.d + j];
  __syncthreads();
  const double f = target_f(p, sh, red);
  if (threadIdx.x == 0) p.fx[ch] = f;
}

__global__ void __launch_bounds__(kThreads) k_accept(DevParams p, int64_t t) {
  LEMMA_SHARED(int, move);
  const int64_t ch = blockIdx.x;
  const int64_t d = p.d;
  if (threadIdx.x == 0) {
    move = 0;
    if (p.status[ch] == 1) {
      const double fz = p.p_fz[ch];
      if (fz < INFINITY) {
        const double log_tau = (-fz + p.p_hlz[ch] - 0.5 * p.p_qz[ch]) - (-p.fx[ch] + p.hl[ch] - 0.5 * p.p_qx[ch]);
        const rng::U4 coin = dev_block(p, 0, t, ch, kRngCoin);
        if (log(rng::u01(coin.v[2], coin.v[3])) < log_tau) move = 1;
      }
    }
    if (move) {
      p.fx[ch] = p.p_fz[ch];
      p.cur[ch] = static_cast<uint8_t>(1 - p.cur[ch]);
      p.hl[ch] = p.p_hlz[ch];
      if (t >= p.burn_in) p.accepted[ch] += 1ull;
    }
    p.status[ch] = 0;
  }
  __syncthreads();
  if (move)
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) p.x[ch * d + j] = p.z[ch * d + j];
  __syncthreads();
  if (t < p.burn_in) return;
  const int64_t k = t - p.burn_in + 1;
  if (k % p.thin != 0 || k / p.thin > p.kept) return;
  const int64_t r = k / p.thin - 1 - p.rec_k0;
  if (r < 0 || r >= p.rec_n) return;
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x) p.rec[(r * p.C + ch) * d + j] = p.x[ch * d + j];
}

// ------------------------------------------------------------------ host side
// Chain state starts zeroed (the flags, counters and the upper triangles the kernels never
// write); every buffer comes from cuda_alloc, so it counts in cuda_bytes_in_use().
template <class T>
Status alloc_zeroed(DeviceBuffer<T>* b, size_t count) {
  LEMMA_RETURN_IF_ERROR(b->alloc(count));
  return b->zero();
}
template <class T>
Status upload_vector(DeviceBuffer<T>* b, const std::vector<T>& v) {
  LEMMA_RETURN_IF_ERROR(b->alloc(v.size()));
  return b->upload(v.data(), v.size());
}

class CudaSampler final : public DikinSampler {
 public:
  CudaSampler(std::shared_ptr<const Body> body, Target target, const DikinParams& p)
      : body_(std::move(body)), target_(std::move(target)), p_(p) {}

  Status init() {
    const Body& b = *body_;
    const int64_t C = p_.C, d = b.d, M = b.M;
    std::vector<double> A(M * d, 0.0);
    for (int64_t i = 0; i < M; ++i) {
      if (b.kind == BodyKind::kCsr) {
        for (int64_t q = b.row_ptr[i]; q < b.row_ptr[i + 1]; ++q) A[i * d + b.col_idx[q]] = b.vals[q];
      } else {
        std::copy(b.A.begin() + i * d, b.A.begin() + (i + 1) * d, A.begin() + i * d);
      }
    }
    size_t free_b = 0, total_b = 0;
    DW_CHECK(cudaMemGetInfo(&free_b, &total_b));
    const double need = 8.0 * (double(C) * (2.0 * double(d) * double(d) + 4.0 * double(d) + double(M) + 12.0) +
                               double(M) * double(d + 2));
    if (need > 0.8 * double(free_b))
      return Status::Error(Code::kCudaOom, "the GPU walk needs " + std::to_string(int64_t(need / 1048576)) +
                                               " MiB but only " + std::to_string(int64_t(free_b / 1048576)) +
                                               " MiB are free; use fewer chains");
    LEMMA_RETURN_IF_ERROR(upload_vector(&A_, A));
    LEMMA_RETURN_IF_ERROR(upload_vector(&b_, b.b));
    LEMMA_RETURN_IF_ERROR(upload_vector(&rn_, b.row_norm));
    LEMMA_RETURN_IF_ERROR(upload_vector(&tc_, target_.c));
    LEMMA_RETURN_IF_ERROR(upload_vector(&tmean_, target_.mean));
    LEMMA_RETURN_IF_ERROR(upload_vector(&tprec_, target_.prec));
    LEMMA_RETURN_IF_ERROR(upload_vector(&tX_, target_.X));
    LEMMA_RETURN_IF_ERROR(upload_vector(&ty_, target_.y));
    LEMMA_RETURN_IF_ERROR(alloc_zeroed(&x_, C * d));
    LEMMA_RETURN_IF_ERROR(alloc_zeroed(&fx_, C));
    LEMMA_RETURN_IF_ERROR(alloc_zeroed(&mats_, 2 * C * d * d));
    LEMMA_RETURN_IF_ERROR(alloc_zeroed(&cur_, C));
    LEMMA_RETURN_IF_ERROR(alloc_zeroed(&have_, C));
    LEMMA_RETURN_IF_ERROR(alloc_zeroed(&hl_, C));
    LEMMA_RETURN_IF_ERROR(alloc_zeroed(&z_, C * d));
    LEMMA_RETURN_IF_ERROR(alloc_zeroed(&u_, C * d));
    LEMMA_RETURN_IF_ERROR(alloc_zeroed(&flag_, C));
    LEMMA_RETURN_IF_ERROR(alloc_zeroed(&status_, C));
    LEMMA_RETURN_IF_ERROR(alloc_zeroed(&g_, C * M));
    LEMMA_RETURN_IF_ERROR(alloc_zeroed(&p_hlz_, C));
    LEMMA_RETURN_IF_ERROR(alloc_zeroed(&p_qz_, C));
    LEMMA_RETURN_IF_ERROR(alloc_zeroed(&p_qx_, C));
    LEMMA_RETURN_IF_ERROR(alloc_zeroed(&p_fz_, C));
    LEMMA_RETURN_IF_ERROR(alloc_zeroed(&acc_, C));
    DevParams& q = dp_;
    q.C = C;
    q.M = M;
    q.d = d;
    q.A = A_.get();
    q.b = b_.get();
    q.row_norm = rn_.get();
    q.target = static_cast<int>(target_.kind);
    q.tc = tc_.get();
    q.tmean = tmean_.get();
    q.tprec = tprec_.get();
    q.tX = tX_.get();
    q.ty = ty_.get();
    q.nobs = target_.nobs;
    q.prior_prec = target_.prior_prec;
    q.sqrt_alpha_inv = std::sqrt(1.0 / p_.alpha);
    q.eta_inv = p_.eta_inv;
    q.ridge_rel = p_.ridge_rel;
    q.lazy = p_.lazy ? 1 : 0;
    q.seed = p_.seed;
    q.burn_in = p_.burn_in;
    q.thin = p_.thin;
    q.kept = p_.kept;
    q.x = x_.get();
    q.fx = fx_.get();
    q.mats = mats_.get();
    q.cur = cur_.get();
    q.have = have_.get();
    q.hl = hl_.get();
    q.z = z_.get();
    q.u = u_.get();
    q.flag = flag_.get();
    q.status = status_.get();
    q.g = g_.get();
    q.p_hlz = p_hlz_.get();
    q.p_qz = p_qz_.get();
    q.p_qx = p_qx_.get();
    q.p_fz = p_fz_.get();
    q.accepted = acc_.get();
    q.rec = nullptr;
    q.rec_k0 = 0;
    q.rec_n = 0;
    return Status::Ok();
  }

  Status set_start(const double* x0, const double* fx0) override {
    const int64_t C = p_.C, d = body_->d;
    for (int64_t ch = 0; ch < C; ++ch) {
      std::string why;
      if (!body_contains(*body_, x0 + ch * d, &why))
        return Status::Error(Code::kRange, "the start of chain " + std::to_string(ch) +
                                               " is not in the interior of the body (" + why + ")");
    }
    DW_CHECK(cudaMemcpy(x_.get(), x0, C * d * sizeof(double), cudaMemcpyHostToDevice));
    DW_CHECK(cudaMemset(have_.get(), 0, C));
    DW_CHECK(cudaMemset(cur_.get(), 0, C));
    std::vector<double> fx(C);
    if (fx0) {
      std::copy(fx0, fx0 + C, fx.begin());
      DW_CHECK(cudaMemcpy(fx_.get(), fx0, C * sizeof(double), cudaMemcpyHostToDevice));
    } else {
      LEMMA_LAUNCH(k_target_x, static_cast<unsigned>(C), kThreads, d * sizeof(double))(dp_);
      DW_CHECK(cudaGetLastError());
      DW_CHECK(cudaMemcpy(fx.data(), fx_.get(), C * sizeof(double), cudaMemcpyDeviceToHost));
    }
    for (int64_t ch = 0; ch < C; ++ch)
      if (!std::isfinite(fx[ch]))
        return Status::Error(Code::kRange, "f at the start of chain " + std::to_string(ch) + " is not finite");
    started_ = true;
    return Status::Ok();
  }

  Status run(int64_t steps, int64_t* done) override {
    *done = 0;
    if (!started_) return Status::Error(Code::kInternal, "run() before set_start()");
    if (aborted_) return Status::Ok();
    const auto start = std::chrono::steady_clock::now();
    const int64_t r0 = recorded_at(t_), r1 = recorded_at(t_ + steps);
    LEMMA_RETURN_IF_ERROR(begin_round(r0, r1));
    for (int64_t s = 0; s < steps; ++s, ++t_) {
      LEMMA_RETURN_IF_ERROR(half_step(true));
      LEMMA_LAUNCH(k_accept, grid1(), kThreads)(dp_, t_);
      DW_CHECK(cudaGetLastError());
    }
    LEMMA_RETURN_IF_ERROR(end_round(r0, r1));
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    *done = steps;
    return Status::Ok();
  }

  Status propose(double* z_out, uint8_t* need) override {
    if (!started_) return Status::Error(Code::kInternal, "propose() before set_start()");
    const auto start = std::chrono::steady_clock::now();
    LEMMA_RETURN_IF_ERROR(half_step(false));
    const int64_t C = p_.C, d = body_->d;
    std::vector<double> z(C * d), x(C * d);
    DW_CHECK(cudaMemcpy(need, status_.get(), C, cudaMemcpyDeviceToHost));
    DW_CHECK(cudaMemcpy(z.data(), z_.get(), C * d * sizeof(double), cudaMemcpyDeviceToHost));
    DW_CHECK(cudaMemcpy(x.data(), x_.get(), C * d * sizeof(double), cudaMemcpyDeviceToHost));
    for (int64_t ch = 0; ch < C; ++ch) {
      const double* src = need[ch] ? z.data() + ch * d : x.data() + ch * d;
      std::copy(src, src + d, z_out + ch * d);
    }
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return Status::Ok();
  }

  Status finish(const double* fz) override {
    const int64_t C = p_.C;
    std::vector<uint8_t> st(C);
    DW_CHECK(cudaMemcpy(st.data(), status_.get(), C, cudaMemcpyDeviceToHost));
    for (int64_t ch = 0; ch < C; ++ch)
      if (st[ch] && std::isnan(fz[ch]))
        return Status::Error(Code::kRange, "the callback returned NaN for chain " + std::to_string(ch) +
                                               " (return +Infinity for a point of zero density)");
    const auto start = std::chrono::steady_clock::now();
    const int64_t r0 = recorded_at(t_), r1 = recorded_at(t_ + 1);
    LEMMA_RETURN_IF_ERROR(begin_round(r0, r1));
    DW_CHECK(cudaMemcpy(p_fz_.get(), fz, C * sizeof(double), cudaMemcpyHostToDevice));
    LEMMA_LAUNCH(k_accept, grid1(), kThreads)(dp_, t_);
    DW_CHECK(cudaGetLastError());
    ++t_;
    LEMMA_RETURN_IF_ERROR(end_round(r0, r1));
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return Status::Ok();
  }

  void abort() override { aborted_ = true; }
  int64_t steps_done() const override { return t_; }
  int64_t recorded() const override { return recorded_at(t_); }
  void copy_samples(double* out) const override {
    const int64_t d = body_->d, r = recorded(), C = p_.C;
    for (int64_t k = 0; k < r; ++k)
      for (int64_t ch = 0; ch < C; ++ch)
        std::copy(samples_.begin() + (k * C + ch) * d, samples_.begin() + (k * C + ch + 1) * d, out + (ch * r + k) * d);
  }
  void acceptance(double* out) const override {
    const int64_t C = p_.C, post = std::max<int64_t>(0, t_ - p_.burn_in);
    std::vector<unsigned long long> a(C, 0);
    if (cudaMemcpy(a.data(), acc_.get(), C * sizeof(unsigned long long), cudaMemcpyDeviceToHost) != cudaSuccess)
      cudaGetLastError();
    for (int64_t ch = 0; ch < C; ++ch) out[ch] = post > 0 ? double(a[ch]) / double(post) : 0.0;
  }
  double step_seconds() const override { return seconds_; }
  const char* kernel_name() const override { return "cuda"; }

 private:
  unsigned grid1() const { return static_cast<unsigned>(p_.C); }

  int64_t recorded_at(int64_t t) const {
    if (t <= p_.burn_in) return 0;
    return std::min(p_.kept, (t - p_.burn_in) / p_.thin);
  }

  // Everything of a step before the Metropolis filter (f(z) too when builtin).
  Status half_step(bool builtin) {
    const int64_t d = body_->d;
    const size_t sh1 = static_cast<size_t>(d) * sizeof(double), sh2 = 2 * sh1;
    const int64_t T = (d + kTile - 1) / kTile, ntiles = T * (T + 1) / 2;
    // d <= 128: one block per chain walks its (<= 3) tiles; above: one block per tile.
    const int per_block = d <= 128 ? static_cast<int>(ntiles) : 1;
    const dim3 hgrid(grid1(), static_cast<unsigned>((ntiles + per_block - 1) / per_block));
    LEMMA_LAUNCH(k_begin, grid1(), kThreads, sh1)(dp_, t_);
    LEMMA_LAUNCH(k_hessian, hgrid, kThreads)(dp_, 0, per_block);
    LEMMA_LAUNCH(k_cholesky, grid1(), kThreads)(dp_, 0);
    LEMMA_LAUNCH(k_propose, grid1(), kThreads, sh2)(dp_);
    LEMMA_LAUNCH(k_hessian, hgrid, kThreads)(dp_, 1, per_block);
    LEMMA_LAUNCH(k_cholesky, grid1(), kThreads)(dp_, 1);
    LEMMA_LAUNCH(k_quad, grid1(), kThreads, sh2)(dp_, builtin ? 1 : 0);
    DW_CHECK(cudaGetLastError());
    return Status::Ok();
  }

  Status begin_round(int64_t r0, int64_t r1) {
    const int64_t n = r1 - r0;
    if (n > 0 && static_cast<size_t>(n * p_.C * body_->d) > rec_.size())
      LEMMA_RETURN_IF_ERROR(alloc_zeroed(&rec_, static_cast<size_t>(n * p_.C * body_->d)));
    dp_.rec = rec_.get();
    dp_.rec_k0 = r0;
    dp_.rec_n = n;
    return Status::Ok();
  }

  Status end_round(int64_t r0, int64_t r1) {
    const int64_t n = r1 - r0, C = p_.C, d = body_->d;
    if (n > 0) {
      if (static_cast<size_t>(r1 * C * d) > samples_.size()) samples_.resize(static_cast<size_t>(r1 * C * d));
      DW_CHECK(cudaMemcpy(samples_.data() + r0 * C * d, rec_.get(), n * C * d * sizeof(double), cudaMemcpyDeviceToHost));
    } else {
      DW_CHECK(cudaDeviceSynchronize());
    }
    return Status::Ok();
  }

  std::shared_ptr<const Body> body_;
  Target target_;
  DikinParams p_;
  DevParams dp_{};
  DeviceBuffer<double> A_, b_, rn_, tc_, tmean_, tprec_, tX_, ty_, x_, fx_, mats_, hl_, z_, u_, g_, p_hlz_, p_qz_, p_qx_,
      p_fz_, rec_;
  DeviceBuffer<uint8_t> cur_, have_, flag_, status_;
  DeviceBuffer<unsigned long long> acc_;
  std::vector<double> samples_;
  int64_t t_ = 0;
  double seconds_ = 0;
  bool started_ = false, aborted_ = false;
};

}  // namespace

Status dikin_create_cuda(std::shared_ptr<const Body> body, Target target, const DikinParams& p,
                         std::unique_ptr<DikinSampler>* out) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    cudaGetLastError();
    return Status::Error(Code::kCudaUnavailable, std::string("no usable GPU: ") +
                                                     (e != cudaSuccess ? cudaGetErrorName(e) : "no device"));
  }
  if (!body->is_polytope())
    return Status::Error(Code::kCudaUnavailable, "the CUDA walk supports polytopes only (spectrahedra run on the CPU)");
  if (p.barrier != BarrierKind::kLog)
    return Status::Error(Code::kCudaUnavailable, "the CUDA walk supports the log barrier only (Lewis weights run on the CPU)");
  if (p.hessian != HessianKind::kExact)
    return Status::Error(Code::kCudaUnavailable, "the CUDA walk supports exact Hessians only (subsampling runs on the CPU)");
  if (p.reference) return Status::Error(Code::kCudaUnavailable, "the fp64 oracle runs on the CPU only");
  if (body->d > 2048)
    return Status::Error(Code::kCudaUnavailable, "the CUDA walk keeps two d-vectors per chain in shared memory: d <= 2048");
  LEMMA_RETURN_IF_ERROR(dikin_check(*body, target, p));
  auto s = std::make_unique<CudaSampler>(std::move(body), std::move(target), p);
  LEMMA_RETURN_IF_ERROR(s->init());
  *out = std::move(s);
  return Status::Ok();
}

}  // namespace lemma
