// Sparse attention by half-space reporting (spec: shared/specs/sparse-attention-hsr.md, arXiv
// 2410.10165). For query q and threshold b on the scaled score s = scale <q, k>:
//   ReLU^a:  w_j = max(0, s_j - b)^a,           out = sum_j w_j v_j / sum_j w_j   (0 if all w = 0)
//   softmax: w_j = exp(s_j) for s_j >= b only,  out = sum_j w_j v_j / sum_j w_j
// The keys with s_j >= b are the points of the halfspace {k : <q', k> >= b}, q' = scale q.
// Instead of partition trees (spec 2.6) the index is a list of key blocks with bounding balls
// (centre c, radius r) and, above them, superblocks of kSparseSuper blocks with their own balls:
//   <q', k> <= <q', c> + ||q'|| r   for every key k of the ball,
// so a ball whose bound is below b holds no reported key and is skipped. The bound is made
// conservative for fp32: the filter compares fl(<q', c>) + ||q'||_up * R with R = r_up +
// eta (2 ||c|| + 2 r_up), eta = 1.01 (D + 8) 2^-24 >= gamma_D + 4u, which covers the rounding of
// the centre dot product, of every key's fp32 score (a sequential FMA chain over d) and of the
// two final operations (see sparse_attention_index.cc). Hence: no false negatives, ever.
// Balls are loose for anisotropic keys (a block's keys spread along a few directions), so every
// superblock also stores kSparseAxes principal axes u_i of its keys, and every ball that passes
// is tested again as a box along those axes (centre c as the ball's, key k = c + sum_i t_i u_i + w):
//   <q', k> <= <q', c> + sum_i max(lo_i a_i, hi_i a_i) + ||q'|| rho,   a_i = <q', u_i>,
// lo_i <= t_i <= hi_i, rho >= ||w||; it is an identity for any vectors u_i, so the axes only
// decide how tight it is. Its fp32 evaluation is made conservative the same way (box radius
// R' = rho + margins, sparse_attention_index.cc). The filter compares both bounds with the
// threshold lowered by 2^-138 (1 + 16 max||k||), which covers the absolute rounding errors of
// subnormal results (filter_threshold, sparse_attention_cpu.cc).
//
// Shapes (row-major, contiguous, d fastest):
//   q, out [B, Hq, M, D]     k, v [B, Hkv, N, D]     thresholds [B, Hq]     error_bound [B, Hq, M]
// Grouped heads: query head h reads kv head h / (Hq / Hkv); one index per (b, kv head).
// Causal masking is bottom-right aligned (as in attention.h): query i sees key j iff
// j <= i + (N - M); keys are identified by their position in the sequence (append order).
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "core/status.h"

namespace lemma {

constexpr int kSparseSuper = 16;       // blocks per superblock = lanes of a centre group
constexpr int kSparseAxes = 8;         // principal axes per superblock (box bounds)
constexpr int kSparseBox = 2 * kSparseAxes + 1;  // lo[P], hi[P], box radius R'
constexpr int64_t kSparseMaxD = 256;
constexpr int64_t kSparseMaxKeys = (int64_t{1} << 31) - 1;  // positions are int32

enum class SparseOrder { kPosition = 0, kCluster = 1 };
enum class SparseActivation { kRelu = 0, kSoftmax = 1 };

struct SparseIndexParams {
  int64_t B = 0, Hkv = 0, N = 0, D = 0;
  int64_t block_size = 64;  // multiple of 16 in [16, 256]
  SparseOrder order = SparseOrder::kPosition;
  int levels = 0;  // 1 (blocks only), 2 (superblocks too), 0 = auto (2 when >= 64 blocks)
};

// One (b, kv head) of the index. Slots are grouped in blocks of Bs; block g holds
//   Kt  [D][Bs]   keys transposed (lane = slot), zero-padded past len
//   V   [Bs][Dp]  values, Dp = D rounded up to 16, zero-padded
//   pos [Bs]      sequence position of each slot (INT32_MAX past len)
// and its ball (centre in the transposed group of its superblock, filter radius R).
// Blocks [0, n_built) come from the build (reordered under kCluster); later blocks hold appended
// keys in position order. Superblock s covers blocks [16 s, 16 s + 16).
struct SparseHead {
  int64_t n = 0;         // keys
  int64_t nb = 0;        // blocks
  int64_t n_built = 0;   // blocks made by the build (the rest came from append)
  std::vector<float> kt, v;
  std::vector<int32_t> pos;
  std::vector<int32_t> len;                  // [nb]
  std::vector<int32_t> bpos_min, bpos_max;   // [nb]
  std::vector<float> bct;                    // [ns][D][16] block centres, by superblock
  std::vector<float> brad;                   // [ns * 16] filter radius R (-inf past nb)
  std::vector<int32_t> spos_min, spos_max;   // [ns]
  std::vector<float> sct;                    // [ceil(ns/16)][D][16] superblock centres
  std::vector<float> srad;                   // [ceil(ns/16) * 16] (-inf past ns)
  // Boxes (CPU filter only; the CUDA filter reads the balls): superblock s has axes u_i, one
  // box per group of 16 slots of each of its blocks (G = Bs / 16 groups; lane = block, centre =
  // the block's ball centre, so a block's ball and its G boxes share one centre dot) and its own
  // box (centre = its ball centre). R' = -inf for empty groups and lanes past nb.
  std::vector<float> sax;                    // [ns][kSparseAxes][D] axes u_i of superblock s
  std::vector<float> bbox;                   // [ns][G][kSparseBox][16] lo_i, hi_i, R' per group
  std::vector<float> sbox;                   // [ns][kSparseBox] lo_i, hi_i, R' per superblock
  // 1 where the boxes can beat the balls: a box bound is at least <q', c> + ||q'|| R' (its axis
  // terms are >= 0, the centre being the mean), so boxes whose R' is close to the ball's R (keys
  // spread in every direction) cannot prune what the ball keeps and are not tested.
  std::vector<uint8_t> sbox_on;              // [ns]
  double knorm_max = 0;  // max ||k|| over the head's keys
  double vmax = 0;       // max |v| over the head's values
};

struct SparseIndex {
  SparseIndexParams p;
  int64_t Dp = 0;     // D rounded up to 16
  int levels = 2;     // resolved
  std::vector<SparseHead> heads;  // [B * Hkv]
  mutable std::shared_mutex mu;   // attend/report take it shared, append exclusive
  uint64_t version = 0;           // bumped by every append (device mirrors compare it)
  // CUDA: a device copy made on first use (cuda/sparse_attention/), rebuilt when stale.
  mutable std::mutex mirror_mu;
  mutable std::shared_ptr<void> cuda_mirror;
  int64_t N() const { return heads.empty() ? 0 : heads[0].n; }
  int64_t bytes() const;
};

// Builds the index (threaded). k, v: [B, Hkv, N, D] fp32, finite (ERR_RANGE otherwise).
Status sparse_index_build(const SparseIndexParams& p, const float* k, const float* v,
                          std::unique_ptr<SparseIndex>* out);
// Appends keys at positions [N, N + n_new): k_new, v_new [B, Hkv, n_new, D]. Caller holds mu
// exclusively. Position order: identical to rebuilding over the concatenation.
Status sparse_index_append(SparseIndex* idx, int64_t n_new, const float* k_new,
                           const float* v_new);

struct SparseAttendParams {
  int64_t Hq = 0, M = 0;  // B, Hkv, N, D come from the index
  double scale = 0;       // caller resolves the 1/sqrt(D) default
  bool causal = false;
  SparseActivation activation = SparseActivation::kRelu;
  int alpha = 1;                 // ReLU power, 1..32
  bool calibrate = false;        // softmax: thresholds from keep (else from thresholds[])
  double keep = 0;               // target reported entries per row (calibrate)
  double tolerance = 1e-3;       // softmax: dense fallback above this error bound
  double dense_above = 0.9;      // a row tile whose surviving (row, block) fraction is at least
                                 // this goes to the dense kernel (0: always, > 1: never)
};

struct SparseStats {
  double keys_scored = 0, keys_total = 0;      // (row, key) pairs scored / visible
  double blocks_visited = 0, blocks_total = 0; // (row, block) pairs kept by the filter / visible
  double active_sum = 0, active_max = 0;       // reported entries (s >= b) per row
  int64_t rows = 0, fallback_rows = 0, dense_rows = 0;
  // softmax: fallback rows computed densely at once (the filter kept none of their blocks), and
  // rows computed by lemma's flash attention (every tile dense, M >= 64, explicit thresholds)
  int64_t predicted_rows = 0, flash_rows = 0;
};

// Forward. q [B, Hq, M, D]; thresholds [B, Hq] (read, or written when p.calibrate);
// out [B, Hq, M, D]; error_bound [B, Hq, M] (softmax; may be null). Caller holds idx.mu shared.
Status sparse_attend_cpu(const SparseIndex& idx, const SparseAttendParams& p, const float* q,
                         double* thresholds, float* out, float* error_bound, SparseStats* stats);

// ReLU^a backward through the exact sparse set (recomputes the forward). dout like q.
// dq [B, Hq, M, D]; dk, dv [B, Hkv, N, D] in position order.
Status sparse_relu_backward_cpu(const SparseIndex& idx, const SparseAttendParams& p,
                                const float* q, const double* thresholds, const float* dout,
                                float* dq, float* dk, float* dv, SparseStats* stats);

// Half-space reporting itself: for every row (b, h, i), the positions j (visible under causal)
// with fl32 score >= thresholds[b, h], ascending, and their scores (CSR over B*Hq*M rows).
Status sparse_report_cpu(const SparseIndex& idx, const SparseAttendParams& p, const float* q,
                         const double* thresholds, std::vector<int64_t>* row_ptr,
                         std::vector<int32_t>* keys, std::vector<float>* scores);

// The score every fp32 path uses: q'_d = fl(q_d * float(scale)), s = fl chain of FMAs over
// d = 0..D-1 starting from 0. Brute-force reference of the reported set (tests).
float sparse_score_fp32(const float* qs, const float* k, int64_t D);

// ---- fp64 oracle (sparse_attention_ref.cc): dense brute force in double.
struct SparseRefParams {
  int64_t B = 0, Hq = 0, Hkv = 0, M = 0, N = 0, D = 0;
  double scale = 0;
  bool causal = false;
  SparseActivation activation = SparseActivation::kRelu;
  int alpha = 1;
};
Status sparse_check_ref_params(const SparseRefParams& p);
// out as defined above with every score in double; softmax rows with nothing >= b give 0.
// counts [B*Hq*M] (may be null): entries with s >= b per row.
Status sparse_attention_ref(const SparseRefParams& p, const double* thresholds, const double* q,
                            const double* k, const double* v, double* out, double* counts);
Status sparse_relu_backward_ref(const SparseRefParams& p, const double* thresholds,
                                const double* q, const double* k, const double* v,
                                const double* dout, double* dq, double* dk, double* dv);

// Host-side steps shared by the CPU and CUDA paths (sparse_attention_cpu.cc).
struct SparseRows {
  std::vector<float> qs;       // [R][Dp] q' = fl(scale q), zero padded
  std::vector<float> qn;       // [R] ||q'|| rounded up
  std::vector<float> thr;      // [R] threshold rounded up to fp32
  std::vector<int64_t> limit;  // [R] last visible position
};
// Validates, computes q', norms, limits, calibrates thresholds (p.calibrate) and rounds them.
Status sparse_prepare_rows(const SparseIndex& idx, const SparseAttendParams& p, const float* q,
                           double* thresholds, SparseRows* rows);
// The certified softmax bound 2 eps ||V||inf of one row (spec 2.5; see sparse_attention_cpu.cc):
// kept entries with running max m and sum l (relative to m), `visible` keys in all. Returns +inf
// when nothing is kept (the row must fall back).
float sparse_softmax_bound(const SparseHead& hd, int64_t D, float qn, float thr, float m, float l,
                           int64_t kept, int64_t visible);

#ifdef LEMMA_WITH_CUDA
// CUDA path (cuda/sparse_attention/): same contract as the CPU functions. The index is mirrored
// on the device on first use and refreshed after append.
Status sparse_attend_cuda(const SparseIndex& idx, const SparseAttendParams& p, const float* q,
                          double* thresholds, float* out, float* error_bound, SparseStats* stats);
Status sparse_relu_backward_cuda(const SparseIndex& idx, const SparseAttendParams& p,
                                 const float* q, const double* thresholds, const float* dout,
                                 float* dq, float* dk, float* dv, SparseStats* stats);
#endif

}  // namespace lemma
