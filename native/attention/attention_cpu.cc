// attention_*_cpu: the fast fp32 CPU path (spec: shared/specs/attention-io.md 1.4-1.8, 1.11).
//   S = scale Q K^T (masked), P = softmax_row(S), O = P V, lse = logsumexp_row(S); backward
//   dV = P^T dO, dS = P (dO V^T - rowsum(dO O)), dQ = scale dS K, dK = scale dS^T Q.
// Shapes: q, out, dout, dq [B, Hq, Nq, D]; k, v, dk, dv [B, Hkv, Nk, D]; lse [B, Hq, Nq].
//
// Everything is fp32 with fp32 accumulation, in the log2 domain: scale * log2(e) is folded into
// the packed query tile, so scores are base 2 and exponentials are exp2; lse = ln2 (m + log2 l).
// The score tile is computed transposed, St[key][query] (64 query lanes), so the per-query
// softmax statistics are vertical SIMD ops. Kernels: attention_cpu_kernels.inl (per ISA).
//
// Forward (flash), task = (b, h, up to 8 consecutive 64-query tiles), largest tiles first under
// causal: pack Qt, then per 64-key block J (skipping blocks entirely above the diagonal):
// St = K_J Qt, online softmax (masking only straddling blocks), O = corr O + Pt^T V_J, finally
// O /= l. The tiles of a task walk the keys together in L2-sized passes of K and V.
// Decoding shapes (Nq < 64, or too few tiles to fill the threads) take the split-KV schedule:
// a kv group's query rows packed into 16- or 64-lane tiles (K and V read once per group), keys
// split into chunks whose partial (O, m, l) are merged by log-sum-exp (see SplitPlan); the
// backward packs the same row tiles.
// Backward (flash), deterministic without atomics: a pre-pass packs Qt, dOt (transposed tiles),
// L2 = lse log2(e) and Dvec = rowsum(dO O) per (b, h); task = (b, kv head, key chunk), where the
// chunk count per kv head depends on the shape and the machine's core count (never on
// ThreadPool::size()), so results are bitwise identical for any thread count. Per key block J,
// for each query head of the group and each query tile I that sees J: St,
// Pt = 2^(St - L2), dPt = V_J dOt, dSt = scale Pt (dPt - D),
// dV_J += Pt dO_I, dK_J += dSt Q_I, dQ_I += dSt^T K_J (chunk 0 into dq, chunk c into partial c,
// reduced afterwards in a fixed order).
// Materialized (spec 1.7, small-cache schedule): the full St strip (Nk x 64 per query tile) of a
// head is materialised (workspace O(Nk Nq)), softmax in column passes, O by one long product;
// backward materialises Pt and dSt for all heads of a kv group, then dK/dV per key block and dQ
// per query tile. Refused above 2 GiB of workspace (use 'flash').
// Workspace: one process-wide arena, grow-only up to kArenaCapBytes and held (mutex) for the
// whole call, so buffers are reused between calls rather than faulted in afresh; larger needs
// get a one-off allocation that is freed at the end of the call.
//
// Test:  cmake --build build-native && build-native/attention_cpu_test
// Bench: build-native/attention_bench [--threads N] [--quick]
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "attention/attention.h"
#include "attention/attention_cpu_kernels.inl"
#include "core/cpu_features.h"
#include "core/thread_pool.h"

namespace lemma {

namespace {

using attn_cpu::Kernels;
using attn_cpu::kLanes;
using attn_cpu::kNoMask;

// Keys per block. 48, 64, 96 and 128 measured within noise of each other at D = 64 (the
// microkernels stream their operands from L1 in D chunks of 64, see the .inl); 64 keeps the
// causal diagonal waste at 1/(2 * tiles).
constexpr int kBc = 64;
constexpr double kLog2e = 1.4426950408889634074;
constexpr int64_t kArenaCapBytes = int64_t{512} << 20;
constexpr int64_t kMatLimitBytes = int64_t{2} << 30;
constexpr int64_t kMatBatchBytes = int64_t{64} << 20;   // heads materialised per region
constexpr int64_t kPartialCapBytes = int64_t{256} << 20;  // dQ partials of the key chunks
constexpr int kMaxKeyChunks = 64;
// Split-KV forward (decoding): a key chunk holds at least kMinSplitBlocks key blocks, and a unit
// is split at most kMaxSplits ways. See SplitPlan.
constexpr int64_t kMinSplitBlocks = 4;
// Flash forward: up to kMaxGroupTiles query tiles of a head per task walk the keys together in
// passes of kPassBytes of K and V, so a pass stays in L2 for all of them (see
// forward_flash_group_task).
constexpr int64_t kMaxGroupTiles = 8;
constexpr int64_t kPassBytes = int64_t{512} << 10;
constexpr int64_t kMaxSplits = 64;
constexpr float kInf = std::numeric_limits<float>::infinity();

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t round16(int64_t n) { return (n + 15) & ~int64_t{15}; }

const Kernels& kernels_for(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAvx512: return avx512::attention_kernels();
    case SimdLevel::kAvx2: return avx2::attention_kernels();
    default: return scalar::attention_kernels();
  }
}

// ------------------------------------------------------------------------ geometry --------
struct Geo {
  int64_t B, Hq, Hkv, Nq, Nk, D, group, BH, nt, nq_pad, nj, off;
  bool causal;
  float qscale;  // scale * log2(e), folded into the packed queries
  float scale;
};

Geo geo_of(const AttentionParams& p) {
  Geo g;
  g.B = p.B, g.Hq = p.Hq, g.Hkv = p.Hkv, g.Nq = p.Nq, g.Nk = p.Nk, g.D = p.D;
  g.group = p.Hq / p.Hkv;
  g.BH = p.B * p.Hq;
  g.nt = ceil_div(p.Nq, kLanes);
  g.nq_pad = g.nt * kLanes;
  g.nj = ceil_div(p.Nk, kBc);
  g.off = p.Nk - p.Nq;
  g.causal = p.causal;
  g.qscale = static_cast<float>(p.scale * kLog2e);
  g.scale = static_cast<float>(p.scale);
  return g;
}

// Keys [0, key_end) are visible to some query of tile I (bottom-right causal).
inline int64_t key_end(const Geo& g, int64_t I) {
  if (!g.causal) return g.Nk;
  const int64_t i_last = std::min(g.Nq, (I + 1) * kLanes) - 1;
  return std::clamp<int64_t>(i_last + g.off + 1, 0, g.Nk);
}
// First query tile that sees any key of the block starting at j0 (nt if none).
inline int64_t first_tile(const Geo& g, int64_t j0) {
  if (!g.causal) return 0;
  const int64_t i_first = j0 - g.off;  // first query that sees key j0
  if (i_first >= g.Nq) return g.nt;
  return i_first <= 0 ? 0 : i_first / kLanes;
}
inline int64_t mask_base(const Geo& g, int64_t j0, int64_t i0) {
  return g.causal ? j0 - g.off - i0 : kNoMask;
}

// Packs rows [i0, i0 + nq) of a [N, D] matrix, times s, as [D][lanes] (lanes past nq zero).
void pack_transposed(const float* src, int64_t nq, int64_t D, float s, float* dst,
                     int64_t lanes = kLanes) {
  if (nq < lanes)
    for (int64_t d = 0; d < D; ++d) std::memset(dst + d * lanes, 0, sizeof(float) * lanes);
  for (int64_t i = 0; i < nq; ++i) {
    const float* row = src + i * D;
    for (int64_t d = 0; d < D; ++d) dst[d * lanes + i] = row[d] * s;
  }
}

// ------------------------------------------------------------------------ workspace -------
struct Arena {
  std::mutex mu;
  char* buf = nullptr;
  int64_t cap = 0;
};
Arena& arena() {
  static Arena* a = new Arena();  // never freed: may be in use by a call at process exit
  return *a;
}

struct Workspace {
  std::unique_lock<std::mutex> lock;
  float* base = nullptr;
  void* oneoff = nullptr;
  Workspace() = default;
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  ~Workspace() {
    if (oneoff) ::operator delete(oneoff, std::align_val_t(64));
  }
};

Status acquire_workspace(int64_t bytes, Workspace* ws) {
  Arena& a = arena();
  ws->lock = std::unique_lock<std::mutex>(a.mu);
  if (bytes <= 0) bytes = 64;
  if (bytes <= a.cap) {
    ws->base = reinterpret_cast<float*>(a.buf);
    return Status::Ok();
  }
  auto oom = [bytes] {
    return Status::Error(Code::kOom, "attention: could not allocate " + std::to_string(bytes) +
                                         " bytes of CPU workspace");
  };
  if (bytes <= kArenaCapBytes) {
    // Grow geometrically (bounded by the cap) so a sweep of growing shapes reallocates rarely.
    int64_t want = std::min(kArenaCapBytes, std::max(bytes, a.cap + a.cap / 2));
    if (a.buf) ::operator delete(a.buf, std::align_val_t(64));
    a.buf = nullptr;
    a.cap = 0;
    void* m = ::operator new(static_cast<size_t>(want), std::align_val_t(64), std::nothrow);
    if (!m && want > bytes) {
      want = bytes;
      m = ::operator new(static_cast<size_t>(want), std::align_val_t(64), std::nothrow);
    }
    if (!m) return oom();
    a.buf = static_cast<char*>(m);
    a.cap = want;
    ws->base = reinterpret_cast<float*>(a.buf);
    return Status::Ok();
  }
  ws->oneoff = ::operator new(static_cast<size_t>(bytes), std::align_val_t(64), std::nothrow);
  if (!ws->oneoff) return oom();
  ws->base = static_cast<float*>(ws->oneoff);
  return Status::Ok();
}

// Per-worker scratch, indexed by ThreadPool worker id. If the pool was resized between planning
// and the region (another thread called set_size), extra workers use a thread-local buffer.
float* worker_scratch(float* base, int planned, int64_t stride, int worker) {
  if (worker < planned) return base + worker * stride;
  thread_local std::vector<float> spill;
  if (int64_t(spill.size()) < stride + 16) spill.resize(static_cast<size_t>(stride + 16));
  float* p = spill.data();
  return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t{63});
}

// ------------------------------------------------------------------------ plans -----------
// The row path's tiles (see SplitPlan): a kv group's R = group * Nq query rows, L per tile.
struct RowTiles {
  int64_t R = 0, L = 0, nt = 0;  // rows per kv group, rows per tile, tiles per kv group
};
RowTiles row_tiles(const Geo& g) {
  RowTiles t;
  t.R = g.group * g.Nq;
  t.L = t.R <= attn_cpu::kLanes16 ? attn_cpu::kLanes16 : kLanes;
  t.nt = ceil_div(t.R, t.L);
  return t;
}
inline bool use_row_path(const Geo& g) { return g.Nq < kLanes; }

// How many parallel tasks a pass aims at. A property of the machine, not of ThreadPool::size():
// set_size() never changes results.
int64_t target_tasks() {
  static const int64_t t = std::max<int64_t>(16, 2 * int64_t(std::thread::hardware_concurrency()));
  return t;
}

struct FwdPlan {
  int workers = 1;
  int64_t worker_floats = 0;   // per tile of a task: Qt [D][64], m, l, corr [64]; St [Bc][64]
  int64_t unit_floats = 0;     // materialized: one head's St strips, Nk x nq_pad
  int64_t units_per_region = 0;
  int64_t off_worker = 0, off_mat = 0, total_floats = 0;
};

// Flash forward, query tiles per task and key blocks per pass (see forward_flash_group_task).
inline int64_t tile_state_floats(const Geo& g) { return round16(g.D * kLanes) + 3 * kLanes; }
inline int64_t fwd_group_tiles(const Geo& g) {
  return std::clamp<int64_t>(g.BH * g.nt / target_tasks(), 1, kMaxGroupTiles);
}
inline int64_t fwd_pass_blocks(const Geo& g) {
  return std::max<int64_t>(1, kPassBytes / (2 * 4 * g.D * kBc));
}

FwdPlan plan_forward(const Geo& g, bool mat) {
  FwdPlan f;
  f.workers = std::max(1, ThreadPool::size());
  f.worker_floats = (mat ? 1 : fwd_group_tiles(g)) * tile_state_floats(g) +
                    round16(int64_t{kBc} * kLanes);
  f.off_worker = 0;
  f.total_floats = f.workers * f.worker_floats;
  if (mat) {
    f.unit_floats = g.Nk * g.nq_pad;
    f.units_per_region =
        std::clamp<int64_t>(kMatBatchBytes / (4 * f.unit_floats), 1, g.BH);
    f.off_mat = f.total_floats;
    f.total_floats += f.units_per_region * f.unit_floats;
  }
  return f;
}

struct BwdPlan {
  bool rows = false;          // the row path (as the forward's, Nq < 64): off_qt, off_dot,
                              // off_l2, off_dv hold the packed row tiles (b, kv head, tile)
  int workers = 1;
  int64_t key_chunks = 1;
  int64_t worker_floats = 0;  // flash: St, dPt [Bc][64], dK, dV acc [Bc][D]
  int64_t tile_floats = 0;    // one packed tile [D][64]
  int64_t unit_floats = 0;    // materialized: Pt and dSt for every head of one kv group
  int64_t units_per_region = 0;
  int64_t off_qt = 0, off_dot = 0, off_l2 = 0, off_dv = 0, off_part = 0, off_worker = 0,
          off_mat = 0, total_floats = 0;
};

BwdPlan plan_backward(const Geo& g, bool mat) {
  BwdPlan b;
  b.rows = !mat && use_row_path(g);
  b.workers = std::max(1, ThreadPool::size());
  b.tile_floats = g.D * kLanes;
  int64_t t = 0;
  b.off_qt = t;  t += round16(g.BH * g.nt * b.tile_floats);
  b.off_dot = t; t += round16(g.BH * g.nt * b.tile_floats);
  b.off_l2 = t;  t += round16(g.BH * g.nq_pad);
  b.off_dv = t;  t += round16(g.BH * g.nq_pad);
  if (!mat) {
    const int64_t dq_floats = g.BH * g.Nq * g.D;
    int64_t kc = std::max<int64_t>(1, ceil_div(target_tasks(), g.B * g.Hkv));
    kc = std::min<int64_t>({kc, g.nj, kMaxKeyChunks,
                            1 + kPartialCapBytes / std::max<int64_t>(1, 4 * dq_floats)});
    b.key_chunks = kc;
    b.off_part = t; t += round16((kc - 1) * dq_floats);
    b.worker_floats = 2 * int64_t{kBc} * kLanes + 2 * round16(int64_t{kBc} * g.D);
    b.off_worker = t; t += b.workers * b.worker_floats;
  } else {
    b.unit_floats = g.group * 2 * g.Nk * g.nq_pad;
    b.units_per_region =
        std::clamp<int64_t>(kMatBatchBytes / (4 * b.unit_floats), 1, g.B * g.Hkv);
    b.off_mat = t; t += b.units_per_region * b.unit_floats;
  }
  b.total_floats = t;
  return b;
}

Status check_materialized_bytes(int64_t bytes, const char* pass) {
  if (bytes <= kMatLimitBytes) return Status::Ok();
  return Status::Error(Code::kRange,
                       std::string("attention: the materialized algorithm (") + pass +
                           ") needs " + std::to_string(bytes) +
                           " bytes of CPU workspace (O(Nq*Nk) per head), above the limit of " +
                           std::to_string(kMatLimitBytes) + " bytes; use algorithm 'flash'");
}

Status check_pointers(std::initializer_list<const void*> ptrs) {
  for (const void* p : ptrs)
    if (!p) return Status::Error(Code::kShape, "attention: a required buffer is null");
  return Status::Ok();
}

// ------------------------------------------------------------------------ forward ---------
struct FwdCtx {
  Geo g;
  const Kernels* kt;
  const float *q, *k, *v;
  float *out, *lse;
};

// Output rows [i0, i0 + nq) of a tile that sees no key at all.
void write_empty_rows(const FwdCtx& c, int64_t bh, int64_t i0, int64_t nq) {
  std::memset(c.out + (bh * c.g.Nq + i0) * c.g.D, 0, sizeof(float) * nq * c.g.D);
  for (int64_t i = 0; i < nq; ++i) c.lse[bh * c.g.Nq + i0 + i] = kInf;
}

void forward_materialized_task(const FwdCtx& c, int64_t bh, int64_t I, float* strip,
                               float* ws) {
  const Geo& g = c.g;
  const Kernels& kt = *c.kt;
  const int64_t b = bh / g.Hq, hk = (bh % g.Hq) / g.group;
  const int64_t i0 = I * kLanes, nq = std::min<int64_t>(kLanes, g.Nq - i0);
  const int64_t j_end = key_end(g, I);
  if (j_end == 0) return write_empty_rows(c, bh, i0, nq);
  const float* K = c.k + (b * g.Hkv + hk) * g.Nk * g.D;
  const float* V = c.v + (b * g.Hkv + hk) * g.Nk * g.D;
  float* O = c.out + (bh * g.Nq + i0) * g.D;
  float* Qt = ws;
  float* m = Qt + round16(g.D * kLanes) + round16(int64_t{kBc} * kLanes);
  float* l = m + kLanes;
  float* corr = l + kLanes;
  pack_transposed(c.q + (bh * g.Nq + i0) * g.D, nq, g.D, g.qscale, Qt);
  for (int i = 0; i < kLanes; ++i) m[i] = -kInf, l[i] = 0.0f;
  // St strip [j_end][64] in one product, then the column softmax passes over it.
  const int64_t mb = mask_base(g, 0, i0);
  kt.gemm_lanes(K, g.D, static_cast<int>(j_end), Qt, static_cast<int>(g.D), strip, mb);
  kt.softmax_block(strip, static_cast<int>(j_end), mb, m, l, corr);
  kt.gemm_rows(strip, 1, kLanes, static_cast<int>(nq), static_cast<int>(j_end), V, g.D,
               static_cast<int>(g.D), O, g.D, nullptr, 0, mb);
  kt.finalize_rows(O, g.D, static_cast<int>(nq), static_cast<int>(g.D), m, l,
                   c.lse + bh * g.Nq + i0);
}

// ------------------------------------------------------------------------ split-KV --------
// Split-KV forward (decoding). The flash schedule runs one task per (b, h, 64-query tile): with
// few query rows (a handful of new rows against a long cache) that leaves threads idle, pads most
// of the 64 lanes, and under grouped-query attention reads each K/V block once per query head.
//  - Row path (Nq < 64): the query rows of every head of a kv group are adjacent in q (heads
//    hk*group .. hk*group + group - 1 of batch b), so they form one [R = group*Nq, D] matrix,
//    cut into tiles of L rows: L = 16 when R <= 16 (the 16-lane kernels), else 64. A unit is one
//    (b, kv head, row tile); K and V are read once per tile, not once per query head. Row r of
//    the group is query i = r mod Nq; causal masks are written into the scores as -inf.
//  - Key splits: with fewer units than target_tasks(), the unit's visible keys are cut into
//    `splits` runs of whole key blocks; each task leaves unnormalised partials (O, m, l) that
//    combine_task merges in split order by log-sum-exp (Flash-Decoding):
//      M = max_s m_s,  l = sum_s 2^(m_s - M) l_s,  O = sum_s 2^(m_s - M) O_s / l,
//      lse = ln2 (M + log2 l)        (m in base 2, as everywhere in this file).
//    The lanes path (Nq >= 64, one unit per (b, h, tile)) is split the same way when its tiles
//    are too few.
// splits depends on the shape and target_tasks() only, so results are bitwise identical for any
// pool size, as elsewhere.

struct SplitPlan {
  bool rows = false;      // the row path
  RowTiles rt;            // its tiles
  int64_t units = 0;      // row path: B * Hkv * rt.nt; lanes path: B * Hq * nt (bh * nt + I)
  int64_t unit_rows = 0;  // rows per unit (tile width): rt.L, or 64
  int64_t splits = 1;
  int workers = 1;
  int64_t worker_floats = 0;
  int64_t part_floats = 0;  // one (unit, split): O [unit_rows][D], then m, l [unit_rows]
  int64_t off_worker = 0, off_part = 0, total_floats = 0;
  bool used() const { return rows || splits > 1; }
};

SplitPlan plan_split(const Geo& g) {
  SplitPlan s;
  s.rows = use_row_path(g);
  s.rt = row_tiles(g);
  s.units = s.rows ? g.B * g.Hkv * s.rt.nt : g.BH * g.nt;
  s.unit_rows = s.rows ? s.rt.L : kLanes;
  const int64_t most = std::min(std::max<int64_t>(1, g.nj / kMinSplitBlocks), kMaxSplits);
  s.splits = std::clamp<int64_t>(ceil_div(target_tasks(), s.units), 1, most);
  s.workers = std::max(1, ThreadPool::size());
  const int64_t L = s.unit_rows;
  // Qt [D][L], St [Bc][L], m, l, corr [L]
  s.worker_floats = round16(g.D * L) + round16(int64_t{kBc} * L) + 3 * round16(L);
  if (s.splits > 1) s.part_floats = round16(L * g.D) + 2 * round16(L);
  s.off_worker = 0;
  s.off_part = s.workers * s.worker_floats;
  s.total_floats = s.off_part + s.units * s.splits * s.part_floats;
  return s;
}

// Where split s of a unit leaves its rows: O [rows][D], and for a partial its m and l (m null:
// the task finalizes into out and lse itself).
struct SplitOut {
  float* O;
  float* m;
  float* l;
};
SplitOut split_out(const Geo& g, const SplitPlan& sp, float* parts, int64_t unit, int64_t s,
                   float* out_rows) {
  if (sp.splits == 1) return {out_rows, nullptr, nullptr};
  float* p = parts + (unit * sp.splits + s) * sp.part_floats;
  float* m = p + round16(sp.unit_rows * g.D);
  return {p, m, m + round16(sp.unit_rows)};
}

// First row (of q, out, lse) of a row-path unit.
inline int64_t row_of(const SplitPlan& sp, int64_t unit) {
  return (unit / sp.rt.nt) * sp.rt.R + (unit % sp.rt.nt) * sp.rt.L;
}

// Key blocks [b0, b1) of split s when the unit sees `visible` keys.
inline void split_blocks(int64_t visible, int64_t s, int64_t splits, int64_t* b0, int64_t* b1) {
  const int64_t nb = ceil_div(visible, kBc);
  *b0 = s * nb / splits;
  *b1 = (s + 1) * nb / splits;
}

// Split s of `splits` of one (b, h, tile) (splits = 1: the whole tile, finalized in place).
void forward_flash_task(const FwdCtx& c, int64_t bh, int64_t I, float* ws, int64_t s,
                        int64_t splits, const SplitOut& dst) {
  const Geo& g = c.g;
  const Kernels& kt = *c.kt;
  const int64_t b = bh / g.Hq, hk = (bh % g.Hq) / g.group;
  const int64_t i0 = I * kLanes, nq = std::min<int64_t>(kLanes, g.Nq - i0);
  int64_t b0, b1;
  split_blocks(key_end(g, I), s, splits, &b0, &b1);
  float* Qt = ws;                                         // [D][64]
  float* St = Qt + round16(g.D * kLanes);                 // [Bc][64]
  float* m = St + round16(int64_t{kBc} * kLanes);
  float* l = m + kLanes;
  float* corr = l + kLanes;
  for (int i = 0; i < kLanes; ++i) m[i] = -kInf, l[i] = 0.0f;
  if (b0 == b1) {
    if (!dst.m) return write_empty_rows(c, bh, i0, nq);
  } else {
    const float* K = c.k + (b * g.Hkv + hk) * g.Nk * g.D;  // [Nk, D]
    const float* V = c.v + (b * g.Hkv + hk) * g.Nk * g.D;  // [Nk, D]
    const int64_t j_end = key_end(g, I);
    pack_transposed(c.q + (bh * g.Nq + i0) * g.D, nq, g.D, g.qscale, Qt);
    for (int64_t J = b0; J < b1; ++J) {
      const int64_t j0 = J * kBc;
      const int nk = static_cast<int>(std::min<int64_t>(kBc, j_end - j0));
      const int64_t mb = mask_base(g, j0, i0);
      kt.gemm_lanes(K + j0 * g.D, g.D, nk, Qt, static_cast<int>(g.D), St, mb);
      kt.softmax_block(St, nk, mb, m, l, corr);
      kt.gemm_rows(St, 1, kLanes, static_cast<int>(nq), nk, V + j0 * g.D, g.D,
                   static_cast<int>(g.D), dst.O, g.D, corr, J > b0, mb);
    }
  }
  if (!dst.m) {
    kt.finalize_rows(dst.O, g.D, static_cast<int>(nq), static_cast<int>(g.D), m, l,
                     c.lse + bh * g.Nq + i0);
    return;
  }
  std::memcpy(dst.m, m, sizeof(float) * nq);
  std::memcpy(dst.l, l, sizeof(float) * nq);
}

// Flash forward for query tiles [I0, I0 + n) of one (b, h): the tiles walk the key blocks
// together, one pass of fwd_pass_blocks() blocks (about kPassBytes of K and V) at a time, every
// tile taking its blocks of the pass before the next pass starts. Without it each tile streams
// all of K and V on its own, and once a head's K and V outgrow L2 (N = 4096 at D = 64) they
// come from L3 once per tile. Per tile the block order is unchanged (J ascending), so results
// are bitwise those of one tile per task. State per tile (Qt, m, l, corr) at tile_state_floats()
// apart; the scores tile St after the last.
void forward_flash_group_task(const FwdCtx& c, int64_t bh, int64_t I0, int64_t n, float* ws) {
  const Geo& g = c.g;
  const Kernels& kt = *c.kt;
  const int64_t hk = (bh % g.Hq) / g.group, b = bh / g.Hq;
  const float* K = c.k + (b * g.Hkv + hk) * g.Nk * g.D;
  const float* V = c.v + (b * g.Hkv + hk) * g.Nk * g.D;
  const int64_t ts = tile_state_floats(g);
  float* St = ws + n * ts;
  int64_t nb_max = 0;
  for (int64_t t = 0; t < n; ++t) {
    const int64_t I = I0 + t, i0 = I * kLanes, nq = std::min<int64_t>(kLanes, g.Nq - i0);
    float* Qt = ws + t * ts;
    float* m = Qt + round16(g.D * kLanes);
    for (int i = 0; i < kLanes; ++i) m[i] = -kInf, m[kLanes + i] = 0.0f;
    pack_transposed(c.q + (bh * g.Nq + i0) * g.D, nq, g.D, g.qscale, Qt);
    nb_max = std::max(nb_max, ceil_div(key_end(g, I), kBc));
  }
  const int64_t pass = fwd_pass_blocks(g);
  for (int64_t p0 = 0; p0 < nb_max; p0 += pass)
    for (int64_t t = 0; t < n; ++t) {
      const int64_t I = I0 + t, i0 = I * kLanes, nq = std::min<int64_t>(kLanes, g.Nq - i0);
      const int64_t j_end = key_end(g, I);
      float* Qt = ws + t * ts;
      float* m = Qt + round16(g.D * kLanes);
      float* O = c.out + (bh * g.Nq + i0) * g.D;
      const int64_t J1 = std::min(p0 + pass, ceil_div(j_end, kBc));
      for (int64_t J = p0; J < J1; ++J) {
        const int64_t j0 = J * kBc;
        const int nk = static_cast<int>(std::min<int64_t>(kBc, j_end - j0));
        const int64_t mb = mask_base(g, j0, i0);
        kt.gemm_lanes(K + j0 * g.D, g.D, nk, Qt, static_cast<int>(g.D), St, mb);
        kt.softmax_block(St, nk, mb, m, m + kLanes, m + 2 * kLanes);
        kt.gemm_rows(St, 1, kLanes, static_cast<int>(nq), nk, V + j0 * g.D, g.D,
                     static_cast<int>(g.D), O, g.D, m + 2 * kLanes, J > 0, mb);
      }
    }
  for (int64_t t = 0; t < n; ++t) {
    const int64_t I = I0 + t, i0 = I * kLanes, nq = std::min<int64_t>(kLanes, g.Nq - i0);
    if (key_end(g, I) == 0) {
      write_empty_rows(c, bh, i0, nq);
      continue;
    }
    const float* m = ws + t * ts + round16(g.D * kLanes);
    kt.finalize_rows(c.out + (bh * g.Nq + i0) * g.D, g.D, static_cast<int>(nq),
                     static_cast<int>(g.D), m, m + kLanes, c.lse + bh * g.Nq + i0);
  }
}

// Writes -inf over the scores St [nk][L] of a key block at j0 that rows [r0, r0 + nr) of a kv
// group must not see (row r is query r mod Nq, which sees keys j <= i + off).
void mask_row_tile(const Geo& g, int64_t r0, int64_t nr, int64_t L, int64_t j0, int nk,
                   float* St) {
  if (!g.causal || j0 + nk - 1 <= g.off) return;
  for (int64_t i = 0; i < nr; ++i) {
    const int64_t first_masked = std::max<int64_t>(0, (r0 + i) % g.Nq + g.off + 1 - j0);
    for (int64_t j = first_masked; j < nk; ++j) St[j * L + i] = -kInf;
  }
}

// Asks for the next key block's K and V rows (into L2) while this block is computed: a decode
// step streams K and V once, and the hardware prefetcher alone leaves the FMA units waiting.
inline void prefetch_block(const float* K, const float* V, int64_t j0, int64_t nk, int64_t D) {
  const char* k = reinterpret_cast<const char*>(K + j0 * D);
  const char* v = reinterpret_cast<const char*>(V + j0 * D);
  const int64_t bytes = nk * D * int64_t(sizeof(float));
  for (int64_t o = 0; o < bytes; o += 64) {
    __builtin_prefetch(k + o, 0, 2);
    __builtin_prefetch(v + o, 0, 2);
  }
}

// Split s of one row-path unit (b, kv head, row tile), see SplitPlan.
void forward_rows_task(const FwdCtx& c, const SplitPlan& sp, int64_t unit, int64_t s, float* ws,
                       const SplitOut& dst) {
  const Geo& g = c.g;
  const Kernels& kt = *c.kt;
  const RowTiles& rt = sp.rt;
  const int64_t L = rt.L, u = unit / rt.nt, r0 = (unit % rt.nt) * L;
  const int64_t nr = std::min(L, rt.R - r0), row0 = u * rt.R + r0;  // rows of q, out, lse
  const int D = static_cast<int>(g.D);
  const bool narrow = L == attn_cpu::kLanes16;
  // The last query row sees the most keys.
  const int64_t j_end = g.causal ? std::clamp<int64_t>(g.Nq + g.off, 0, g.Nk) : g.Nk;
  int64_t b0, b1;
  split_blocks(j_end, s, sp.splits, &b0, &b1);
  float* Qt = ws;                             // [D][L], times scale log2(e)
  float* St = Qt + round16(g.D * L);          // [Bc][L]
  float* m = St + round16(int64_t{kBc} * L);
  float* l = m + round16(L);
  float* corr = l + round16(L);
  for (int64_t i = 0; i < L; ++i) m[i] = -kInf, l[i] = 0.0f;
  // A tile holding one row (M = 1, no grouped heads) scores it with gemm_dot1 from a plain
  // scaled copy of the row; its other 15 lanes then hold finite leftovers nobody reads.
  const bool single = narrow && nr == 1;
  if (b0 < b1) {
    if (single) {
      for (int64_t d = 0; d < g.D; ++d) Qt[d] = c.q[row0 * g.D + d] * g.qscale;
      std::memset(St, 0, sizeof(float) * kBc * L);
    } else {
      pack_transposed(c.q + row0 * g.D, nr, g.D, g.qscale, Qt, L);
    }
    const float* K = c.k + u * g.Nk * g.D;  // u = b * Hkv + hk
    const float* V = c.v + u * g.Nk * g.D;
    for (int64_t J = b0; J < b1; ++J) {
      const int64_t j0 = J * kBc;
      const int nk = static_cast<int>(std::min<int64_t>(kBc, j_end - j0));
      if (J + 1 < b1) prefetch_block(K, V, (J + 1) * kBc, std::min<int64_t>(kBc, j_end - (J + 1) * kBc), g.D);
      if (single) kt.gemm_dot1(K + j0 * g.D, g.D, nk, Qt, D, St, L);
      else (narrow ? kt.gemm_lanes16 : kt.gemm_lanes)(K + j0 * g.D, g.D, nk, Qt, D, St, kNoMask);
      mask_row_tile(g, r0, nr, L, j0, nk, St);
      (narrow ? kt.softmax_block16 : kt.softmax_block)(St, nk, kNoMask, m, l, corr);
      kt.gemm_rows(St, 1, L, static_cast<int>(nr), nk, V + j0 * g.D, g.D, D, dst.O, g.D, corr,
                   J > b0, kNoMask);
    }
  } else if (!dst.m) {
    std::memset(dst.O, 0, sizeof(float) * nr * g.D);  // no visible key: finalize writes 0, +inf
  }
  if (!dst.m) {
    kt.finalize_rows(dst.O, g.D, static_cast<int>(nr), D, m, l, c.lse + row0);
    return;
  }
  std::memcpy(dst.m, m, sizeof(float) * nr);
  std::memcpy(dst.l, l, sizeof(float) * nr);
}

// Merges the splits of one unit (rows [row0, row0 + n) of out and lse) in split order.
void combine_task(const FwdCtx& c, const SplitPlan& sp, float* parts, int64_t unit, int64_t row0,
                  int64_t n) {
  const Geo& g = c.g;
  constexpr double kLn2 = 0.69314718055994530942;
  double w[kMaxSplits];
  for (int64_t r = 0; r < n; ++r) {
    float* o = c.out + (row0 + r) * g.D;
    double M = -std::numeric_limits<double>::infinity();
    bool nan = false;
    for (int64_t s = 0; s < sp.splits; ++s) {
      const double ms = split_out(g, sp, parts, unit, s, nullptr).m[r];
      nan |= std::isnan(ms);
      M = std::max(M, ms);
    }
    if (nan || M == -std::numeric_limits<double>::infinity()) {
      // NaN scores propagate (as on the one-task path); no visible key: out = 0, lse = +inf.
      const float fill = nan ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
      for (int64_t d = 0; d < g.D; ++d) o[d] = fill;
      c.lse[row0 + r] = nan ? fill : kInf;
      continue;
    }
    double L = 0;
    for (int64_t s = 0; s < sp.splits; ++s) {
      const SplitOut p = split_out(g, sp, parts, unit, s, nullptr);
      w[s] = p.m[r] == -kInf ? 0.0 : std::exp2(double(p.m[r]) - M);
      L += w[s] * double(p.l[r]);
    }
    for (int64_t d = 0; d < g.D; ++d) {
      double acc = 0;
      for (int64_t s = 0; s < sp.splits; ++s)
        if (w[s] != 0) acc += w[s] * double(split_out(g, sp, parts, unit, s, nullptr).O[r * g.D + d]);
      o[d] = static_cast<float>(acc / L);
    }
    c.lse[row0 + r] = static_cast<float>(kLn2 * (M + std::log2(L)));
  }
}

Status forward_split(const FwdCtx& c, const SplitPlan& sp) {
  Workspace ws;
  LEMMA_RETURN_IF_ERROR(acquire_workspace(4 * sp.total_floats, &ws));
  struct Run {
    const FwdCtx& c;
    const SplitPlan& sp;
    float* base;
    float* parts() const { return base + sp.off_part; }
  } r{c, sp, ws.base};
  ThreadPool::parallel_for(sp.units * sp.splits, [&r](int64_t task, int worker) {
    const Geo& g = r.c.g;
    const int64_t unit = task / r.sp.splits, s = task % r.sp.splits;
    float* scratch = worker_scratch(r.base + r.sp.off_worker, r.sp.workers, r.sp.worker_floats,
                                    worker);
    if (r.sp.rows) {
      const SplitOut dst = split_out(g, r.sp, r.parts(), unit, s, r.c.out + row_of(r.sp, unit) * g.D);
      return forward_rows_task(r.c, r.sp, unit, s, scratch, dst);
    }
    const int64_t bh = unit / g.nt, I = unit % g.nt;
    const SplitOut dst =
        split_out(g, r.sp, r.parts(), unit, s, r.c.out + (bh * g.Nq + I * kLanes) * g.D);
    forward_flash_task(r.c, bh, I, scratch, s, r.sp.splits, dst);
  });
  if (sp.splits == 1) return Status::Ok();
  ThreadPool::parallel_for(sp.units, [&r](int64_t unit, int) {
    const Geo& g = r.c.g;
    if (r.sp.rows) {
      const int64_t r0 = (unit % r.sp.rt.nt) * r.sp.rt.L;
      return combine_task(r.c, r.sp, r.parts(), unit, row_of(r.sp, unit),
                          std::min(r.sp.rt.L, r.sp.rt.R - r0));
    }
    const int64_t bh = unit / g.nt, i0 = (unit % g.nt) * kLanes;
    combine_task(r.c, r.sp, r.parts(), unit, bh * g.Nq + i0, std::min<int64_t>(kLanes, g.Nq - i0));
  });
  return Status::Ok();
}

// ------------------------------------------------------------------------ backward --------
struct BwdCtx {
  Geo g;
  BwdPlan plan;
  const Kernels* kt;
  const float *q, *k, *v, *out, *lse, *dout;
  float *dq, *dk, *dv;
  float* ws;
  bool zero_dq;
  int64_t chunk_begin[kMaxKeyChunks + 1];  // key-block boundaries of the key chunks
  const float* qt(int64_t bh, int64_t I) const {
    return ws + plan.off_qt + (bh * g.nt + I) * plan.tile_floats;
  }
  const float* dot(int64_t bh, int64_t I) const {
    return ws + plan.off_dot + (bh * g.nt + I) * plan.tile_floats;
  }
  const float* l2(int64_t bh, int64_t i0) const { return ws + plan.off_l2 + bh * g.nq_pad + i0; }
  const float* dvec(int64_t bh, int64_t i0) const {
    return ws + plan.off_dv + bh * g.nq_pad + i0;
  }
};

// Backward pre-pass pieces shared by the lanes and row paths: L2 = lse log2(e) and
// Dvec = rowsum(dO . O) for rows [row0, row0 + n) into lanes [0, lanes) (+inf and 0 past n);
// zero_dq_rows zeroes their dQ accumulators (dq and every key chunk's partial).
void tile_stats(const BwdCtx& c, int64_t row0, int64_t n, int64_t lanes, float* L2, float* Dv) {
  const Geo& g = c.g;
  for (int64_t i = 0; i < lanes; ++i) {
    if (i >= n) {
      L2[i] = kInf, Dv[i] = 0.0f;
      continue;
    }
    L2[i] = static_cast<float>(double(c.lse[row0 + i]) * kLog2e);
    const float* o = c.out + (row0 + i) * g.D;
    const float* d = c.dout + (row0 + i) * g.D;
    double s = 0;
    for (int64_t e = 0; e < g.D; ++e) s += double(o[e]) * double(d[e]);
    Dv[i] = static_cast<float>(s);
  }
}
void zero_dq_rows(const BwdCtx& c, int64_t row0, int64_t n) {
  const Geo& g = c.g;
  std::memset(c.dq + row0 * g.D, 0, sizeof(float) * n * g.D);
  const int64_t dq_floats = g.BH * g.Nq * g.D;
  for (int64_t kc = 1; kc < c.plan.key_chunks; ++kc)
    std::memset(c.ws + c.plan.off_part + (kc - 1) * dq_floats + row0 * g.D, 0,
                sizeof(float) * n * g.D);
}

// Pre-pass for one (b, h, query tile): packed Qt, dOt, L2, Dvec; zeroes the dQ accumulators.
void backward_prepass_task(const BwdCtx& c, int64_t bh, int64_t I, bool zero_dq) {
  const Geo& g = c.g;
  const int64_t i0 = I * kLanes, nq = std::min<int64_t>(kLanes, g.Nq - i0);
  const int64_t row0 = bh * g.Nq + i0;
  pack_transposed(c.q + row0 * g.D, nq, g.D, g.qscale, const_cast<float*>(c.qt(bh, I)));
  pack_transposed(c.dout + row0 * g.D, nq, g.D, 1.0f, const_cast<float*>(c.dot(bh, I)));
  tile_stats(c, row0, nq, kLanes, const_cast<float*>(c.l2(bh, i0)),
             const_cast<float*>(c.dvec(bh, i0)));
  if (zero_dq) zero_dq_rows(c, row0, nq);
}

// Key chunk boundaries with balanced work (under causal, later key blocks see fewer tiles).
void set_key_chunks(BwdCtx* c) {
  const Geo& g = c->g;
  const int64_t kc = c->plan.key_chunks;  // 1 <= kc <= nj
  auto cost = [&](int64_t J) { return g.nt - first_tile(g, J * kBc); };
  int64_t total = 0;
  for (int64_t J = 0; J < g.nj; ++J) total += cost(J);
  // Chunk ch begins at the first block whose prefix work reaches ch/kc of the total, keeping at
  // least one block for every chunk.
  int64_t J = 0, cum = 0;
  c->chunk_begin[0] = 0;
  for (int64_t ch = 1; ch < kc; ++ch) {
    do {
      cum += cost(J);
      ++J;
    } while (J < g.nj - (kc - ch) && cum * kc < ch * total);
    c->chunk_begin[ch] = J;
  }
  c->chunk_begin[kc] = g.nj;
}

void backward_flash_task(const BwdCtx& c, int64_t task, float* ws) {
  const Geo& g = c.g;
  const Kernels& kt = *c.kt;
  const int64_t kc = c.plan.key_chunks;
  const int64_t bk = task / kc, chunk = task % kc;
  const int64_t b = bk / g.Hkv, hk = bk % g.Hkv;
  const float* K = c.k + bk * g.Nk * g.D;  // [Nk, D]
  const float* V = c.v + bk * g.Nk * g.D;
  float* St = ws;                                   // [Bc][64] scores, then Pt
  float* dPt = St + int64_t{kBc} * kLanes;          // [Bc][64] dPt, then dSt
  float* dKa = dPt + int64_t{kBc} * kLanes;         // [Bc][D]
  float* dVa = dKa + round16(int64_t{kBc} * g.D);   // [Bc][D]
  float* dq_dst = chunk == 0 ? c.dq
                             : c.ws + c.plan.off_part + (chunk - 1) * g.BH * g.Nq * g.D;
  const int D = static_cast<int>(g.D);
  for (int64_t J = c.chunk_begin[chunk]; J < c.chunk_begin[chunk + 1]; ++J) {
    const int64_t j0 = J * kBc;
    const int nk = static_cast<int>(std::min<int64_t>(kBc, g.Nk - j0));
    const int64_t I_first = first_tile(g, j0);
    bool any = false;
    for (int64_t h = hk * g.group; h < (hk + 1) * g.group; ++h) {
      const int64_t bh = b * g.Hq + h;
      for (int64_t I = I_first; I < g.nt; ++I) {
        const int64_t i0 = I * kLanes;
        const int nq = static_cast<int>(std::min<int64_t>(kLanes, g.Nq - i0));
        const int64_t row0 = bh * g.Nq + i0;
        const int64_t mb = mask_base(g, j0, i0);
        kt.gemm_lanes(K + j0 * g.D, g.D, nk, c.qt(bh, I), D, St, mb);
        kt.gemm_lanes(V + j0 * g.D, g.D, nk, c.dot(bh, I), D, dPt, mb);
        kt.probs_block(St, dPt, nk, mb, c.l2(bh, i0), c.dvec(bh, i0), g.scale);
        kt.gemm_rows(St, kLanes, 1, nk, nq, c.dout + row0 * g.D, g.D, D, dVa, g.D, nullptr, any,
                     mb);
        kt.gemm_rows(dPt, kLanes, 1, nk, nq, c.q + row0 * g.D, g.D, D, dKa, g.D, nullptr, any,
                     mb);
        kt.gemm_rows(dPt, 1, kLanes, nq, nk, K + j0 * g.D, g.D, D, dq_dst + row0 * g.D, g.D,
                     nullptr, 1, mb);
        any = true;
      }
    }
    float* dk_out = c.dk + (bk * g.Nk + j0) * g.D;
    float* dv_out = c.dv + (bk * g.Nk + j0) * g.D;
    if (any) {
      std::memcpy(dk_out, dKa, sizeof(float) * nk * g.D);
      std::memcpy(dv_out, dVa, sizeof(float) * nk * g.D);
    } else {
      std::memset(dk_out, 0, sizeof(float) * nk * g.D);
      std::memset(dv_out, 0, sizeof(float) * nk * g.D);
    }
  }
}

// Row path (see SplitPlan), pre-pass for one (b, kv head, row tile): Qt, dOt [D][L], L2, Dvec;
// zeroes the dQ accumulators of its rows. Tiles sit where the lanes path keeps (b, h, I).
void backward_rows_prepass_task(const BwdCtx& c, const RowTiles& rt, int64_t unit) {
  const Geo& g = c.g;
  const int64_t L = rt.L, r0 = (unit % rt.nt) * L, nr = std::min(L, rt.R - r0);
  const int64_t row0 = (unit / rt.nt) * rt.R + r0;
  float* Qt = c.ws + c.plan.off_qt + unit * g.D * L;
  float* dOt = c.ws + c.plan.off_dot + unit * g.D * L;
  float* L2 = c.ws + c.plan.off_l2 + unit * L;
  float* Dv = c.ws + c.plan.off_dv + unit * L;
  pack_transposed(c.q + row0 * g.D, nr, g.D, g.qscale, Qt, L);
  pack_transposed(c.dout + row0 * g.D, nr, g.D, 1.0f, dOt, L);
  tile_stats(c, row0, nr, L, L2, Dv);
  zero_dq_rows(c, row0, nr);
}

// Row path: one key chunk of one (b, kv head), every row tile of the group per key block, as
// backward_flash_task does for the query tiles of each head.
void backward_rows_task(const BwdCtx& c, const RowTiles& rt, int64_t task, float* ws) {
  const Geo& g = c.g;
  const Kernels& kt = *c.kt;
  const int64_t kc = c.plan.key_chunks;
  const int64_t u = task / kc, chunk = task % kc, L = rt.L;
  const bool narrow = L == attn_cpu::kLanes16;
  const int D = static_cast<int>(g.D);
  const float* K = c.k + u * g.Nk * g.D;
  const float* V = c.v + u * g.Nk * g.D;
  float* St = ws;                               // [Bc][L] scores, then Pt
  float* dPt = St + int64_t{kBc} * L;           // [Bc][L] dPt, then dSt
  float* dq_base = chunk == 0 ? c.dq : c.ws + c.plan.off_part + (chunk - 1) * g.BH * g.Nq * g.D;
  const int64_t j_vis = g.causal ? std::clamp<int64_t>(g.Nq + g.off, 0, g.Nk) : g.Nk;
  for (int64_t J = c.chunk_begin[chunk]; J < c.chunk_begin[chunk + 1]; ++J) {
    const int64_t j0 = J * kBc;
    const int nk = static_cast<int>(std::min<int64_t>(kBc, g.Nk - j0));
    float* dk_out = c.dk + (u * g.Nk + j0) * g.D;
    float* dv_out = c.dv + (u * g.Nk + j0) * g.D;
    if (j0 >= j_vis) {  // past the last row's horizon: no gradient
      std::memset(dk_out, 0, sizeof(float) * nk * g.D);
      std::memset(dv_out, 0, sizeof(float) * nk * g.D);
      continue;
    }
    if (J + 1 < c.chunk_begin[chunk + 1] && (J + 1) * kBc < j_vis)
      prefetch_block(K, V, (J + 1) * kBc, std::min<int64_t>(kBc, g.Nk - (J + 1) * kBc), g.D);
    for (int64_t t = 0; t < rt.nt; ++t) {
      const int64_t unit = u * rt.nt + t, r0 = t * L;
      const int nr = static_cast<int>(std::min(L, rt.R - r0));
      const int64_t row0 = u * rt.R + r0;
      const float* L2 = c.ws + c.plan.off_l2 + unit * L;
      const float* Dv = c.ws + c.plan.off_dv + unit * L;
      const auto lanes = narrow ? kt.gemm_lanes16 : kt.gemm_lanes;
      lanes(K + j0 * g.D, g.D, nk, c.ws + c.plan.off_qt + unit * g.D * L, D, St, kNoMask);
      lanes(V + j0 * g.D, g.D, nk, c.ws + c.plan.off_dot + unit * g.D * L, D, dPt, kNoMask);
      mask_row_tile(g, r0, nr, L, j0, nk, St);
      (narrow ? kt.probs_block16 : kt.probs_block)(St, dPt, nk, kNoMask, L2, Dv, g.scale);
      kt.gemm_rows(St, L, 1, nk, nr, c.dout + row0 * g.D, g.D, D, dv_out, g.D, nullptr, t > 0,
                   kNoMask);
      kt.gemm_rows(dPt, L, 1, nk, nr, c.q + row0 * g.D, g.D, D, dk_out, g.D, nullptr, t > 0,
                   kNoMask);
      kt.gemm_rows(dPt, 1, L, nr, nk, K + j0 * g.D, g.D, D, dq_base + row0 * g.D, g.D, nullptr,
                   1, kNoMask);
    }
  }
}

// dq rows of one (b, h, tile) += the partials of key chunks 1.. in chunk order.
void backward_reduce_task(const BwdCtx& c, int64_t bh, int64_t I) {
  const Geo& g = c.g;
  const int64_t i0 = I * kLanes, nq = std::min<int64_t>(kLanes, g.Nq - i0);
  const int64_t base = (bh * g.Nq + i0) * g.D, n = nq * g.D;
  const int64_t dq_floats = g.BH * g.Nq * g.D;
  float* dst = c.dq + base;
  for (int64_t kc = 1; kc < c.plan.key_chunks; ++kc) {
    const float* src = c.ws + c.plan.off_part + (kc - 1) * dq_floats + base;
    for (int64_t e = 0; e < n; ++e) dst[e] += src[e];
  }
}

// Materialized backward, phase 1: Pt and dSt strips of one (b, h, tile).
struct MatBwd {
  const BwdCtx* c;
  int64_t u0;        // first kv unit (b * Hkv + hk) of this region
  int64_t per_unit;  // tasks per kv unit in phases 1 and 3
  float* head_base(int64_t bk, int64_t h_in_group) const {
    return c->ws + c->plan.off_mat + ((bk - u0) * c->g.group + h_in_group) * 2 * c->g.Nk *
                                         c->g.nq_pad;
  }
  float* pt(int64_t bk, int64_t hh, int64_t I) const {
    return head_base(bk, hh) + I * c->g.Nk * kLanes;
  }
  float* dst(int64_t bk, int64_t hh, int64_t I) const {
    return head_base(bk, hh) + c->g.Nk * c->g.nq_pad + I * c->g.Nk * kLanes;
  }
};

void backward_mat_probs_task(const MatBwd& mb, int64_t bk, int64_t hh, int64_t I) {
  const BwdCtx& c = *mb.c;
  const Geo& g = c.g;
  const int64_t b = bk / g.Hkv, hk = bk % g.Hkv, bh = b * g.Hq + hk * g.group + hh;
  const int64_t rows = key_end(g, I);
  if (rows == 0) return;
  const int D = static_cast<int>(g.D);
  float* P = mb.pt(bk, hh, I);
  float* S = mb.dst(bk, hh, I);
  const int64_t mbase = mask_base(g, 0, I * kLanes);
  c.kt->gemm_lanes(c.k + bk * g.Nk * g.D, g.D, static_cast<int>(rows), c.qt(bh, I), D, P, mbase);
  c.kt->gemm_lanes(c.v + bk * g.Nk * g.D, g.D, static_cast<int>(rows), c.dot(bh, I), D, S, mbase);
  c.kt->probs_block(P, S, static_cast<int>(rows), mbase, c.l2(bh, I * kLanes),
                    c.dvec(bh, I * kLanes), g.scale);
}

// Phase 2: dK, dV rows of one key block, summed over the group's heads and query tiles.
void backward_mat_kv_task(const MatBwd& mb, int64_t bk, int64_t J) {
  const BwdCtx& c = *mb.c;
  const Geo& g = c.g;
  const int64_t b = bk / g.Hkv, hk = bk % g.Hkv;
  const int64_t j0 = J * kBc;
  const int nk = static_cast<int>(std::min<int64_t>(kBc, g.Nk - j0));
  const int D = static_cast<int>(g.D);
  float* dk_out = c.dk + (bk * g.Nk + j0) * g.D;
  float* dv_out = c.dv + (bk * g.Nk + j0) * g.D;
  std::memset(dk_out, 0, sizeof(float) * nk * g.D);
  std::memset(dv_out, 0, sizeof(float) * nk * g.D);
  for (int64_t hh = 0; hh < g.group; ++hh) {
    const int64_t bh = b * g.Hq + hk * g.group + hh;
    for (int64_t I = first_tile(g, j0); I < g.nt; ++I) {
      const int64_t i0 = I * kLanes;
      const int nq = static_cast<int>(std::min<int64_t>(kLanes, g.Nq - i0));
      const int rows = static_cast<int>(std::min<int64_t>(nk, key_end(g, I) - j0));
      if (rows <= 0) continue;
      const int64_t row0 = bh * g.Nq + i0;
      const int64_t mbase = mask_base(g, j0, i0);
      c.kt->gemm_rows(mb.pt(bk, hh, I) + j0 * kLanes, kLanes, 1, rows, nq, c.dout + row0 * g.D,
                      g.D, D, dv_out, g.D, nullptr, 1, mbase);
      c.kt->gemm_rows(mb.dst(bk, hh, I) + j0 * kLanes, kLanes, 1, rows, nq, c.q + row0 * g.D,
                      g.D, D, dk_out, g.D, nullptr, 1, mbase);
    }
  }
}

// Phase 3: dQ rows of one (b, h, tile) from its dSt strip in one long product.
void backward_mat_dq_task(const MatBwd& mb, int64_t bk, int64_t hh, int64_t I) {
  const BwdCtx& c = *mb.c;
  const Geo& g = c.g;
  const int64_t b = bk / g.Hkv, hk = bk % g.Hkv, bh = b * g.Hq + hk * g.group + hh;
  const int64_t i0 = I * kLanes, nq = std::min<int64_t>(kLanes, g.Nq - i0);
  float* dq_rows = c.dq + (bh * g.Nq + i0) * g.D;
  const int64_t rows = key_end(g, I);
  if (rows == 0) {
    std::memset(dq_rows, 0, sizeof(float) * nq * g.D);
    return;
  }
  c.kt->gemm_rows(mb.dst(bk, hh, I), 1, kLanes, static_cast<int>(nq), static_cast<int>(rows),
                  c.k + bk * g.Nk * g.D, g.D, static_cast<int>(g.D), dq_rows, g.D, nullptr, 0,
                  mask_base(g, 0, i0));
}

}  // namespace

// ------------------------------------------------------------------------ API -------------
int64_t attention_workspace_bytes_cpu(const AttentionParams& p, int pass) {
  if (!attention_check_params(p).ok()) return 0;
  const Geo g = geo_of(p);
  const bool mat = p.algorithm == AttentionAlgorithm::kMaterialized;
  if (pass == 0 && !mat && plan_split(g).used()) return 4 * plan_split(g).total_floats;
  return 4 * (pass == 0 ? plan_forward(g, mat).total_floats : plan_backward(g, mat).total_floats);
}

AttentionCpuSchedule attention_cpu_schedule(const AttentionParams& p) {
  AttentionCpuSchedule s;
  if (!attention_check_params(p).ok() || p.algorithm != AttentionAlgorithm::kFlash) return s;
  const SplitPlan sp = plan_split(geo_of(p));
  if (sp.used()) s.row_path = sp.rows, s.splits = sp.splits;
  return s;
}

// The parallel_for bodies below capture one reference each, so std::function keeps them in its
// small-object buffer: no heap allocation per call besides the workspace arena.
Status attention_forward_cpu(const AttentionParams& p, const float* q, const float* k,
                             const float* v, float* out, float* lse) {
  LEMMA_RETURN_IF_ERROR(attention_check_params(p));
  LEMMA_RETURN_IF_ERROR(check_pointers({q, k, v, out, lse}));
  const bool mat = p.algorithm == AttentionAlgorithm::kMaterialized;
  if (!mat) {
    FwdCtx c;
    c.g = geo_of(p);
    c.kt = &kernels_for(simd_level());
    c.q = q, c.k = k, c.v = v, c.out = out, c.lse = lse;
    const SplitPlan sp = plan_split(c.g);
    if (sp.used()) return forward_split(c, sp);
  }
  struct Run {
    FwdCtx c;
    FwdPlan plan;
    float* ws;
    int64_t u0, nu;
    float* scratch(int worker) const {
      return worker_scratch(ws + plan.off_worker, plan.workers, plan.worker_floats, worker);
    }
  } r;
  r.c.g = geo_of(p);
  r.c.kt = &kernels_for(simd_level());
  r.c.q = q, r.c.k = k, r.c.v = v, r.c.out = out, r.c.lse = lse;
  r.plan = plan_forward(r.c.g, mat);
  if (mat) LEMMA_RETURN_IF_ERROR(check_materialized_bytes(4 * r.plan.total_floats, "forward"));
  Workspace ws;
  LEMMA_RETURN_IF_ERROR(acquire_workspace(4 * r.plan.total_floats, &ws));
  r.ws = ws.base;
  const Geo& g = r.c.g;
  if (!mat) {
    // Groups of consecutive tiles; largest first under causal (tile I sees about I + 1 key
    // blocks).
    r.nu = fwd_group_tiles(g);
    r.u0 = ceil_div(g.nt, r.nu);  // groups per head
    ThreadPool::parallel_for(g.BH * r.u0, [&r](int64_t task, int worker) {
      const Geo& g = r.c.g;
      const int64_t grp = g.causal ? r.u0 - 1 - task / g.BH : task / g.BH;
      const int64_t I0 = grp * r.nu;
      forward_flash_group_task(r.c, task % g.BH, I0, std::min(r.nu, g.nt - I0),
                               r.scratch(worker));
    });
    return Status::Ok();
  }
  for (r.u0 = 0; r.u0 < g.BH; r.u0 += r.plan.units_per_region) {
    r.nu = std::min(r.plan.units_per_region, g.BH - r.u0);
    ThreadPool::parallel_for(r.nu * g.nt, [&r](int64_t task, int worker) {
      const Geo& g = r.c.g;
      const int64_t I = g.causal ? g.nt - 1 - task / r.nu : task / r.nu;
      const int64_t u = task % r.nu;
      float* strip = r.ws + r.plan.off_mat + u * r.plan.unit_floats + I * g.Nk * kLanes;
      forward_materialized_task(r.c, r.u0 + u, I, strip, r.scratch(worker));
    });
  }
  return Status::Ok();
}

Status attention_backward_cpu(const AttentionParams& p, const float* q, const float* k,
                              const float* v, const float* out, const float* lse,
                              const float* dout, float* dq, float* dk, float* dv) {
  LEMMA_RETURN_IF_ERROR(attention_check_params(p));
  LEMMA_RETURN_IF_ERROR(check_pointers({q, k, v, out, lse, dout, dq, dk, dv}));
  const bool mat = p.algorithm == AttentionAlgorithm::kMaterialized;
  BwdCtx c;
  c.g = geo_of(p);
  c.plan = plan_backward(c.g, mat);
  c.kt = &kernels_for(simd_level());
  c.q = q, c.k = k, c.v = v, c.out = out, c.lse = lse, c.dout = dout;
  c.dq = dq, c.dk = dk, c.dv = dv;
  if (mat) LEMMA_RETURN_IF_ERROR(check_materialized_bytes(4 * c.plan.total_floats, "backward"));
  Workspace ws;
  LEMMA_RETURN_IF_ERROR(acquire_workspace(4 * c.plan.total_floats, &ws));
  c.ws = ws.base;
  c.zero_dq = !mat;
  const Geo& g = c.g;
  const BwdPlan& plan = c.plan;
  if (plan.rows) {
    struct Rows {
      const BwdCtx& c;
      RowTiles rt;
    } r{c, row_tiles(g)};
    ThreadPool::parallel_for(g.B * g.Hkv * r.rt.nt, [&r](int64_t unit, int) {
      backward_rows_prepass_task(r.c, r.rt, unit);
    });
    set_key_chunks(&c);
    ThreadPool::parallel_for(g.B * g.Hkv * plan.key_chunks, [&r](int64_t task, int worker) {
      backward_rows_task(r.c, r.rt, task,
                         worker_scratch(r.c.ws + r.c.plan.off_worker, r.c.plan.workers,
                                        r.c.plan.worker_floats, worker));
    });
    if (plan.key_chunks > 1)
      ThreadPool::parallel_for(g.BH * g.nt, [&c](int64_t task, int) {
        backward_reduce_task(c, task / c.g.nt, task % c.g.nt);
      });
    return Status::Ok();
  }
  ThreadPool::parallel_for(g.BH * g.nt, [&c](int64_t task, int) {
    backward_prepass_task(c, task / c.g.nt, task % c.g.nt, c.zero_dq);
  });
  if (!mat) {
    set_key_chunks(&c);
    ThreadPool::parallel_for(g.B * g.Hkv * plan.key_chunks, [&c](int64_t task, int worker) {
      backward_flash_task(c, task,
                          worker_scratch(c.ws + c.plan.off_worker, c.plan.workers,
                                         c.plan.worker_floats, worker));
    });
    if (plan.key_chunks > 1)
      ThreadPool::parallel_for(g.BH * g.nt, [&c](int64_t task, int) {
        backward_reduce_task(c, task / c.g.nt, task % c.g.nt);
      });
    return Status::Ok();
  }
  const int64_t units = g.B * g.Hkv;
  MatBwd mb{&c, 0, 0};
  for (mb.u0 = 0; mb.u0 < units; mb.u0 += plan.units_per_region) {
    const int64_t nu = std::min(plan.units_per_region, units - mb.u0);
    mb.per_unit = g.group * g.nt;  // (head of the group, query tile) pairs
    ThreadPool::parallel_for(nu * mb.per_unit, [&mb](int64_t task, int) {
      const int64_t r = task % mb.per_unit, nt = mb.c->g.nt;
      backward_mat_probs_task(mb, mb.u0 + task / mb.per_unit, r / nt, nt - 1 - r % nt);
    });
    ThreadPool::parallel_for(nu * g.nj, [&mb](int64_t task, int) {
      backward_mat_kv_task(mb, mb.u0 + task / mb.c->g.nj, task % mb.c->g.nj);
    });
    ThreadPool::parallel_for(nu * mb.per_unit, [&mb](int64_t task, int) {
      const int64_t r = task % mb.per_unit, nt = mb.c->g.nt;
      backward_mat_dq_task(mb, mb.u0 + task / mb.per_unit, r / nt, nt - 1 - r % nt);
    });
  }
  return Status::Ok();
}

}  // namespace lemma
