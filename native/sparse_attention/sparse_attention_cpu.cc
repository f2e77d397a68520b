// sparse_*_cpu: the fast fp32 CPU path of sparse attention by half-space reporting
// (spec: shared/specs/sparse-attention-hsr.md 2.4-2.6; math in sparse_attention.h).
// Shapes: q, out, dq [B, Hq, M, D]; k, v, dk, dv [B, Hkv, N, D]; thresholds [B, Hq].
//
// Rows: the G = Hq / Hkv query heads of a kv head share its index, so the G*M rows of (b, kv head)
// are processed together, in tiles of 64 rows (one bit each in a block's row mask). Per call:
//  0. q' = fl(scale q), ||q'|| rounded up, per-row fp32 threshold (rounded up) and causal limit;
//     'keep' calibrates b per query head as the (1 - keep/N) quantile of sampled scores.
//  1. filter, task = (b, kv head, row tile, key chunk): every row walks the superblock balls
//     and boxes (levels = 2) and the block balls and 16-slot group boxes of the survivors,
//     setting its bit in masks[block] and the groups it keeps in gmasks[block] (a union over the
//     tile's rows); all against the threshold lowered by the absolute slack of filter_threshold.
//     A tile whose surviving (row, block) fraction is >= dense_above goes to the dense kernel
//     (every visible block; softmax then computes the full softmax, so its rows need no bound).
//  2. accumulate, same tasks: sparse_k::run_rows scores the rows of a block (only its groups in
//     gmasks; the weight of a key a row's own filter dropped is 0 anyway) and keeps
//     per (row, chunk) partials (m, l, o): ReLU^a with running-max rescaling, softmax online.
//     Key chunks (superblock-aligned) make decoding (M small, N large) parallel; their number
//     depends on the shape and the machine only, so results do not depend on set_size().
//  3. merge the chunks per row; out = o / l (0 when l = 0). Softmax rows get the certified
//     bound 2 eps ||V||inf with eps <= x / (l_lo + x), x = n_drop e^(b + delta - m) (spec 2.5;
//     delta = eta ||q'|| max||k|| bounds the fp32 score error, l_lo bounds the fp32 sum below);
//  4. softmax rows with nothing reported or a bound above tolerance: dense pass (all blocks,
//     full softmax), bound 0.
// Backward (ReLU^a): recomputes 0-3 (keeping masks, m, l), then task = (b, kv head, row chunk)
// accumulates dq rows and block-layout dK^T / dV partials of its chunk over the kept pairs
// (s > b); partials are summed in chunk order and scattered to positions.
// Test: build-sparse/sparse_attention_test; npx ava test/2x.sparse-*.test.ts
// Bench: node --import tsx bench/node/sparse.bench.ts
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "core/cpu_features.h"
#include "attention/attention.h"
#include "core/thread_pool.h"
#include "sparse_attention/sparse_attention.h"
#include "sparse_attention/sparse_attention_kernels.inl"

namespace lemma {

float sparse_score_fp32(const float* qs, const float* k, int64_t D) {
  float s = 0.0f;
  for (int64_t d = 0; d < D; ++d) s = std::fma(qs[d], k[d], s);
  return s;
}

namespace {

using sparse_cpu::kMaxRows;
using sparse_cpu::RowsArgs;
using sparse_cpu::SparseKernels;

constexpr int S16 = kSparseSuper;
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr double kU = 0x1p-24;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// run_rows scratch of the calling thread (each pool worker and the caller has its own).
float* thread_scratch(int64_t Bs) {
  static thread_local std::vector<float> buf;
  const size_t need = size_t(sparse_cpu::kScratchPerBs * Bs + 16);
  if (buf.size() < need) buf.resize(need);
  return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t{63});
}

const SparseKernels& kernels_for(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAvx512: return avx512::sparse_kernels();
    case SimdLevel::kAvx2: return avx2::sparse_kernels();
    default: return scalar::sparse_kernels();
  }
}

float round_up_f(double x) {
  if (x >= double(std::numeric_limits<float>::max())) return kInf;
  if (x <= -double(std::numeric_limits<float>::max())) return -std::numeric_limits<float>::max();
  float f = static_cast<float>(x);
  if (static_cast<double>(f) < x) f = std::nextafter(f, kInf);
  return f;
}

int64_t target_tasks() {
  static const int64_t t = std::max<int64_t>(16, 4 * int64_t(std::thread::hardware_concurrency()));
  return t;
}

sparse_cpu::HeadView view_of(const SparseIndex& idx, const SparseHead& h) {
  return {h.kt.data(), h.v.data(), h.pos.data(), h.len.data(), h.bpos_min.data(),
          h.bpos_max.data(), static_cast<int>(idx.p.D), static_cast<int>(idx.Dp),
          static_cast<int>(idx.p.block_size)};
}

// ------------------------------------------------------------------------ the plan --------
struct Tile {
  int64_t bk;    // b * Hkv + kv head
  int64_t row0;  // first global row (rows row0 .. row0 + n - 1 are contiguous)
  int n;
  bool dense = false;
  bool predicted = false;  // softmax: dense because every row was predicted to fall back
};

struct Call {
  const SparseIndex& idx;
  const SparseAttendParams& p;
  const SparseKernels& kt;
  int64_t B, Hq, Hkv, G, M, N, D, Dp, Bs, nb, ns, R;
  int64_t C = 1;  // key chunks per tile
  std::vector<float> qs;        // [R][Dp]
  std::vector<float> qn;        // [R]
  std::vector<float> thr;       // [R]
  std::vector<int64_t> limit;   // [R]
  std::vector<Tile> tiles;
  std::vector<uint64_t> masks;  // [tiles][nb] rows the filter kept per block
  std::vector<uint16_t> gmasks; // [tiles][nb] groups of 16 slots kept for any of those rows
  std::vector<int64_t> fkeys;   // [C][R] keys in the blocks the filter kept
  // partials [C][R]: o [C][R][Dp], m, l, cnt
  std::vector<float> po, pm, pl;
  std::vector<int64_t> pc;
  // merged per row
  std::vector<float> m, l;
  std::vector<int64_t> cnt;
  SparseStats st;

  Call(const SparseIndex& i, const SparseAttendParams& pp)
      : idx(i), p(pp), kt(kernels_for(simd_level())) {
    B = idx.p.B, Hkv = idx.p.Hkv, D = idx.p.D, Dp = idx.Dp, Bs = idx.p.block_size;
    Hq = p.Hq, M = p.M, G = Hq / Hkv, N = idx.N();
    nb = idx.heads[0].nb, ns = ceil_div(nb, S16), R = B * Hq * M;
    swap_cache();
  }
  // The buffers are swapped in from a per-thread cache and back out afterwards, so repeated
  // calls (decoding) reuse memory instead of faulting fresh pages in; above kCacheCap bytes they
  // are released instead.
  ~Call() {
    const size_t bytes = 4 * (qs.capacity() + qn.capacity() + thr.capacity() + po.capacity() +
                              pm.capacity() + pl.capacity() + m.capacity() + l.capacity()) +
                         8 * (limit.capacity() + masks.capacity() + pc.capacity() + cnt.capacity()) +
                         2 * gmasks.capacity();
    if (bytes <= kCacheCap) swap_cache();
  }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;
  static constexpr size_t kCacheCap = size_t{256} << 20;
  struct Cache {
    std::vector<float> qs, qn, thr, po, pm, pl, m, l;
    std::vector<int64_t> limit, pc, cnt;
    std::vector<uint64_t> masks;
    std::vector<uint16_t> gmasks;
  };
  void swap_cache() {
    static thread_local Cache cache;
    qs.swap(cache.qs), qn.swap(cache.qn), thr.swap(cache.thr), po.swap(cache.po);
    pm.swap(cache.pm), pl.swap(cache.pl), m.swap(cache.m), l.swap(cache.l);
    limit.swap(cache.limit), pc.swap(cache.pc), cnt.swap(cache.cnt), masks.swap(cache.masks);
    gmasks.swap(cache.gmasks);
  }
  const SparseHead& head(int64_t bk) const { return idx.heads[bk]; }
  int64_t visible(int64_t row) const {
    return p.causal ? std::clamp<int64_t>(limit[row] + 1, 0, N) : N;
  }
  // blocks [g0, g1) of chunk c
  int64_t chunk_g0(int64_t c) const { return std::min(nb, (c * ns / C) * S16); }
  int64_t chunk_g1(int64_t c) const { return std::min(nb, ((c + 1) * ns / C) * S16); }
};

Status check_attend(const SparseIndex& idx, const SparseAttendParams& p) {
  if (p.Hq < 1 || p.M < 1) return Status::Error(Code::kShape, "sparse attention: Hq, M must be positive");
  if (p.Hq % idx.p.Hkv != 0)
    return Status::Error(Code::kShape, "sparse attention: Hq must be a multiple of the index's Hkv");
  if (p.alpha < 1 || p.alpha > 32)
    return Status::Error(Code::kRange, "sparse attention: alpha must be in [1, 32]");
  if (!std::isfinite(p.scale)) return Status::Error(Code::kRange, "sparse attention: bad scale");
  if (p.calibrate && !(p.keep >= 1))
    return Status::Error(Code::kRange, "sparse attention: keep must be at least 1");
  if (!(p.tolerance >= 0) || !(p.dense_above >= 0))
    return Status::Error(Code::kRange, "sparse attention: bad tolerance or denseAbove");
  if (double(idx.p.B) * p.Hq * p.M * idx.Dp > 4e9)
    return Status::Error(Code::kRange, "sparse attention: too many query rows");
  return Status::Ok();
}

// Step 0: scaled queries, norms, limits (thresholds after calibration).
Status prepare_rows(Call* c, const float* q) {
  c->qs.resize(c->R * c->Dp);  // every element is written below (padding zeroed)
  c->qn.resize(c->R);
  c->limit.resize(c->R);
  const float sc = static_cast<float>(c->p.scale);
  std::vector<uint8_t> bad(c->R, 0);
  constexpr int64_t kRowsPerTask = 64;  // one task per row costs more than the row itself
  ThreadPool::parallel_for(ceil_div(c->R, kRowsPerTask), [&](int64_t task, int) {
    const int64_t row_end = std::min(c->R, (task + 1) * kRowsPerTask);
    for (int64_t row = task * kRowsPerTask; row < row_end; ++row) {
      const float* x = q + row * c->D;
      float* y = c->qs.data() + row * c->Dp;
      double n4[4] = {0, 0, 0, 0};  // independent chains (the sum only feeds an upper bound)
      int64_t d = 0;
      for (; d + 4 <= c->D; d += 4)
        for (int u = 0; u < 4; ++u) {
          y[d + u] = x[d + u] * sc;
          n4[u] += double(y[d + u]) * y[d + u];
        }
      for (; d < c->D; ++d) {
        y[d] = x[d] * sc;
        n4[0] += double(y[d]) * y[d];
      }
      std::fill(y + c->D, y + c->Dp, 0.0f);
      const double n2 = (n4[0] + n4[1]) + (n4[2] + n4[3]);
      const int64_t bh = row / c->M, bk = (bh / c->Hq) * c->Hkv + (bh % c->Hq) / c->G;
      const double qn = std::sqrt(n2) * (1 + 1e-12);
      if (!std::isfinite(n2) || qn * c->idx.heads[bk].knorm_max > 1e37) bad[row] = 1;
      c->qn[row] = round_up_f(qn);
      const int64_t i = row % c->M;
      c->limit[row] = c->p.causal ? i + (c->N - c->M) : std::numeric_limits<int64_t>::max();
    }
  });
  for (int64_t row = 0; row < c->R; ++row)
    if (bad[row])
      return Status::Error(Code::kRange,
                           "sparse attention: q has a non-finite value or scores would overflow fp32 (row " +
                               std::to_string(row) + ")");
  return Status::Ok();
}

// 'keep': b per query head = the (1 - keep / n_vis) quantile of sampled fp32 scores.
void calibrate(Call* c, double* thresholds) {
  ThreadPool::parallel_for(c->B * c->Hq, [&](int64_t bh, int) {
    const int64_t b = bh / c->Hq, h = bh % c->Hq, bk = b * c->Hkv + h / c->G;
    const SparseHead& hd = c->head(bk);
    const int64_t nsr = std::min<int64_t>(c->M, 16), nsb = std::min<int64_t>(c->nb, 64);
    std::vector<float> sample, S(4 * c->Bs);
    double vis = 0;
    for (int64_t t0 = 0; t0 < nsr; t0 += 4) {
      const int nr = static_cast<int>(std::min<int64_t>(4, nsr - t0));
      const float* qrow[4];
      int64_t rows[4];
      for (int t = 0; t < nr; ++t) {
        rows[t] = bh * c->M + (t0 + t) * c->M / nsr;
        qrow[t] = c->qs.data() + rows[t] * c->Dp;
        vis += double(c->visible(rows[t]));
      }
      for (int64_t u = 0; u < nsb; ++u) {
        const int64_t g = u * c->nb / nsb;
        c->kt.scores(qrow, nr, hd.kt.data() + g * c->D * c->Bs, static_cast<int>(c->Bs),
                     static_cast<int>(c->D), S.data());
        for (int t = 0; t < nr; ++t)
          for (int64_t j = 0; j < hd.len[g]; ++j)
            if (hd.pos[g * c->Bs + j] <= c->limit[rows[t]]) sample.push_back(S[t * c->Bs + j]);
      }
    }
    vis /= double(nsr);
    const double frac = c->p.keep / std::max(vis, 1.0);
    double thr = -double(std::numeric_limits<float>::max());
    if (frac < 1 && !sample.empty()) {
      const size_t at = std::min(sample.size() - 1, size_t((1 - frac) * double(sample.size())));
      std::nth_element(sample.begin(), sample.begin() + at, sample.end());
      thr = sample[at];
    }
    thresholds[bh] = thr;
  });
}

void make_tiles(Call* c) {
  const int64_t GM = c->G * c->M, nt = ceil_div(GM, kMaxRows);
  c->tiles.clear();
  for (int64_t bk = 0; bk < c->B * c->Hkv; ++bk) {
    const int64_t b = bk / c->Hkv, hk = bk % c->Hkv;
    const int64_t base = (b * c->Hq + hk * c->G) * c->M;
    for (int64_t t = 0; t < nt; ++t)
      c->tiles.push_back({bk, base + t * kMaxRows,
                          static_cast<int>(std::min<int64_t>(kMaxRows, GM - t * kMaxRows))});
  }
  const int64_t T = static_cast<int64_t>(c->tiles.size());
  c->C = std::clamp<int64_t>(ceil_div(target_tasks(), T), 1, c->ns);
}

// The threshold the filter compares its bounds with: fthr <= thr - 2^-138 (1 + 16 max||k||).
// The relative rounding errors are in the radii (sparse_attention_index.cc); this covers the
// absolute ones of subnormal results (<= 2^-150 per operation: 2D + D sum_i max|t_i| + 2P + 4
// of them, max|t_i| <= 2 max||k|| (1 + 1e-3)). One more ulp down absorbs the double rounding of
// the difference, so fthr is at most 3 ulps below thr (the filter loses nothing measurable).
float filter_threshold(float thr, double knorm_max) {
  const double slack = 0x1p-138 * (1 + 16 * knorm_max);
  const double x = double(thr) - slack;
  float f = static_cast<float>(x);
  if (static_cast<double>(f) > x) f = std::nextafter(f, -kInf);
  return std::nextafter(f, -kInf);
}

// The box test of one superblock (the scalar twin of box16, same operation order).
bool super_box(float dot, const float* a, const float* box, float qn, float thr) {
  constexpr int P = kSparseAxes;
  float acc = dot;
  for (int i = 0; i < P; ++i) {
    const float lo = box[i] * a[i], hi = box[P + i] * a[i];
    acc = acc + (lo < hi ? hi : lo);
  }
  const float rad = qn * box[2 * P];
  acc = acc + rad;
  return !(acc < thr);
}

// Step 1: the filter. Writes masks, the dense flags, blocks_total, keys_total. Per row: the
// balls of the superblocks (levels = 2), then for each that passes its box (axes dots a_i, once
// per (row, superblock)), then the balls and boxes of its blocks.
void filter(Call* c) {
  const int64_t T = static_cast<int64_t>(c->tiles.size()), C = c->C;
  c->masks.assign(T * c->nb, 0);
  c->gmasks.assign(T * c->nb, 0);
  c->fkeys.resize(C * c->R);
  std::vector<double> survivors(T * C, 0.0), vis_blocks(T * C, 0.0);
  const int levels = c->idx.levels;
  const int G = static_cast<int>(c->Bs / 16);
  const uint16_t all_groups = uint16_t((1u << G) - 1u);
  ThreadPool::parallel_for(T * C, [&](int64_t task, int) {
    const Tile& tl = c->tiles[task / C];
    const int64_t ch = task % C;
    const SparseHead& hd = c->head(tl.bk);
    uint64_t* mk = c->masks.data() + (task / C) * c->nb;
    uint16_t* gk = c->gmasks.data() + (task / C) * c->nb;
    const int64_t g0 = c->chunk_g0(ch), g1 = c->chunk_g1(ch);
    const int64_t s0 = g0 / S16, s1 = ceil_div(g1, S16);
    const int D = static_cast<int>(c->D);
    double surv = 0, visb = 0;
    for (int r = 0; r < tl.n; ++r) {
      const int64_t row = tl.row0 + r;
      const float* q = c->qs.data() + row * c->Dp;
      const float qn = c->qn[row], thr = filter_threshold(c->thr[row], hd.knorm_max);
      const int64_t lim = c->limit[row];
      const uint64_t bit = uint64_t{1} << r;
      int64_t keys = 0;
      if (c->p.causal) {
        for (int64_t g = g0; g < g1; ++g) visb += hd.bpos_min[g] <= lim;
      } else {
        visb += double(g1 - g0);
      }
      float dots[S16], a[kSparseAxes];
      uint16_t groups[S16];
      // a: the axes dots of superblock s when already computed, else null. A block is kept when
      // its ball and at least one of its groups' boxes pass; gk[g] collects the groups that pass
      // for any row of the tile (run_rows scores only those).
      auto blocks_of = [&](int64_t s, const float* as) {
        if (hd.spos_min[s] > lim) return;
        uint32_t mb = c->kt.filter16(q, qn, hd.bct.data() + s * D * S16, hd.brad.data() + s * S16,
                                     D, thr, dots);
        if (!mb) return;
        if (hd.sbox_on[s]) {
          if (!as) {
            c->kt.axes_dots(q, hd.sax.data() + s * kSparseAxes * D, D, a);
            as = a;
          }
          uint32_t keep = 0;
          std::fill(groups, groups + S16, uint16_t{0});
          const float* boxes = hd.bbox.data() + s * G * kSparseBox * S16;
          for (int grp = 0; grp < G; ++grp) {
            uint32_t m = mb & c->kt.box16(dots, as, boxes + grp * kSparseBox * S16, qn, thr);
            keep |= m;
            for (; m; m &= m - 1) groups[__builtin_ctz(m)] |= uint16_t(1u << grp);
          }
          mb = keep;
        } else {  // balls only
          std::fill(groups, groups + S16, all_groups);
        }
        while (mb) {
          const int lane = __builtin_ctz(mb);
          const int64_t g = s * S16 + lane;
          mb &= mb - 1;
          if (g >= g1 || hd.bpos_min[g] > lim) continue;
          mk[g] |= bit;
          gk[g] |= groups[lane];
          surv += 1;
          keys += hd.len[g];
        }
      };
      if (levels == 2) {
        float sdots[S16];
        for (int64_t sg = s0 / S16; sg < ceil_div(s1, S16); ++sg) {
          uint32_t ms = c->kt.filter16(q, qn, hd.sct.data() + sg * D * S16,
                                       hd.srad.data() + sg * S16, D, thr, sdots);
          while (ms) {
            const int lane = __builtin_ctz(ms);
            const int64_t s = sg * S16 + lane;
            ms &= ms - 1;
            if (s < s0 || s >= s1 || hd.spos_min[s] > lim) continue;
            if (!hd.sbox_on[s]) {
              blocks_of(s, nullptr);
              continue;
            }
            c->kt.axes_dots(q, hd.sax.data() + s * kSparseAxes * D, D, a);
            if (super_box(sdots[lane], a, hd.sbox.data() + s * kSparseBox, qn, thr)) blocks_of(s, a);
          }
        }
      } else {
        for (int64_t s = s0; s < s1; ++s) blocks_of(s, nullptr);
      }
      c->fkeys[ch * c->R + row] = keys;
    }
    survivors[task] = surv;
    vis_blocks[task] = visb;
  });
  for (int64_t t = 0; t < T; ++t) {
    double surv = 0, visb = 0;
    for (int64_t ch = 0; ch < C; ++ch) surv += survivors[t * C + ch], visb += vis_blocks[t * C + ch];
    c->tiles[t].dense = visb > 0 && surv >= c->p.dense_above * visb;
    c->st.blocks_total += visb;
  }
  for (int64_t row = 0; row < c->R; ++row) c->st.keys_total += double(c->visible(row));
  c->st.rows += c->R;
}

// Every ball passes the filter for every row when <q', c> + ||q'|| R >= b whatever the direction
// of q': with slack = min over balls (R - ||c||) > 0 (wide balls around a centre near the origin,
// as for isotropic keys), the fp32 bound is at least ||q'|| slack (1 - 1e-3) (the dot product's
// rounding is below gamma_D ||q'|| ||c||). Then every tile keeps all its visible blocks, and its
// density decision is known without running the filter. Sets the tiles' flags and the filter's
// counters as filter() would; returns false (nothing done) when not certain for every row.
bool certain_dense(Call* c) {
  if (!(c->p.dense_above <= 1)) return false;
  const int64_t BK = c->B * c->Hkv, D = c->D, nb = c->nb, ns = c->ns;
  std::vector<double> slack(BK, std::numeric_limits<double>::infinity());
  for (int64_t bk = 0; bk < BK; ++bk) {
    const SparseHead& hd = c->head(bk);
    auto ball = [&](const float* ct, int lane, float R) {
      double cn = 0;
      for (int64_t d = 0; d < D; ++d) cn += double(ct[d * S16 + lane]) * ct[d * S16 + lane];
      slack[bk] = std::min(slack[bk], double(R) - std::sqrt(cn) * (1 + 1e-3));
    };
    for (int64_t g = 0; g < nb; ++g) ball(hd.bct.data() + (g / S16) * D * S16, int(g % S16), hd.brad[g]);
    if (c->idx.levels == 2)
      for (int64_t s = 0; s < ns; ++s) ball(hd.sct.data() + (s / S16) * D * S16, int(s % S16), hd.srad[s]);
    if (!(slack[bk] > 0)) return false;
  }
  for (const Tile& tl : c->tiles)
    for (int r = 0; r < tl.n; ++r) {
      const int64_t row = tl.row0 + r;
      const double lower = double(c->qn[row]) * slack[tl.bk];
      if (!(lower * (1 - 1e-3) >= double(c->thr[row]))) return false;
    }
  // As filter(): visible (row, block) pairs, all kept.
  c->masks.assign(c->tiles.size() * nb, 0);
  c->gmasks.assign(c->tiles.size() * nb, 0);
  c->fkeys.assign(c->C * c->R, 0);
  std::vector<int32_t> starts;  // causal: sorted block starts of the tile's head
  int64_t starts_bk = -1;
  for (Tile& tl : c->tiles) {
    if (c->p.causal && tl.bk != starts_bk) {
      const SparseHead& hd = c->head(tl.bk);
      starts.assign(hd.bpos_min.begin(), hd.bpos_min.begin() + nb);
      std::sort(starts.begin(), starts.end());
      starts_bk = tl.bk;
    }
    double visb = 0;
    for (int r = 0; r < tl.n; ++r) {
      const int64_t lim = c->limit[tl.row0 + r];
      if (c->p.causal) {  // blocks with bpos_min <= lim
        const int32_t key = int32_t(std::min<int64_t>(lim, std::numeric_limits<int32_t>::max()));
        visb += double(lim < 0 ? 0 : std::upper_bound(starts.begin(), starts.end(), key) - starts.begin());
      } else {
        visb += double(nb);
      }
    }
    tl.dense = visb > 0;
    c->st.blocks_total += visb;
  }
  for (int64_t row = 0; row < c->R; ++row) c->st.keys_total += double(c->visible(row));
  c->st.rows += c->R;
  return true;
}

// Step 2 for the given tiles: partials [C][R] (only the tiles' rows are touched).
void accumulate(Call* c, const std::vector<Tile>& tiles, const uint64_t* masks, bool use_masks,
                int mode_sparse, int mode_dense) {
  const int64_t T = static_cast<int64_t>(tiles.size()), C = c->C, R = c->R, Dp = c->Dp;
  if (c->po.size() < size_t(C * R * Dp) || c->pm.size() < size_t(C * R)) {
    c->po.resize(C * R * Dp);
    c->pm.resize(C * R);
    c->pl.resize(C * R);
    c->pc.resize(C * R);
  }
  const bool relu = c->p.activation == SparseActivation::kRelu;
  std::vector<int64_t> scored(T * C, 0), visited(T * C, 0);
  ThreadPool::parallel_for(T * C, [&](int64_t task, int) {
    const Tile& tl = tiles[task / C];
    const int64_t ch = task % C;
    const int64_t base = ch * R + tl.row0;
    std::memset(c->po.data() + base * Dp, 0, sizeof(float) * tl.n * Dp);
    for (int r = 0; r < tl.n; ++r) {
      c->pm[base + r] = relu ? 0.0f : -kInf;
      c->pl[base + r] = 0.0f;
      c->pc[base + r] = 0;
    }
    float* scratch = thread_scratch(c->Bs);
    const float* qrows[kMaxRows];
    for (int r = 0; r < tl.n; ++r) qrows[r] = c->qs.data() + (tl.row0 + r) * Dp;
    RowsArgs a;
    a.h = view_of(c->idx, c->head(tl.bk));
    a.g0 = c->chunk_g0(ch);
    a.g1 = c->chunk_g1(ch);
    a.masks = (use_masks && !tl.dense) ? masks + (task / C) * c->nb : nullptr;
    a.gmasks = a.masks ? c->gmasks.data() + (task / C) * c->nb : nullptr;
    a.nrows = tl.n;
    a.q = qrows;
    a.limit = c->limit.data() + tl.row0;
    a.thr = c->thr.data() + tl.row0;
    a.mode = tl.dense ? mode_dense : mode_sparse;
    a.alpha = c->p.alpha;
    a.o = c->po.data() + base * Dp;
    a.ldo = Dp;
    a.m = c->pm.data() + base;
    a.l = c->pl.data() + base;
    a.cnt = c->pc.data() + base;
    a.scored = &scored[task];
    a.visited = &visited[task];
    a.scratch = scratch;
    c->kt.run_rows(a);
  });
  for (int64_t t = 0; t < T * C; ++t) {
    c->st.keys_scored += double(scored[t]);
    c->st.blocks_visited += double(visited[t]);
  }
}

// Step 3 for the rows of the given tiles: merged m, l, cnt and out rows.
void merge(Call* c, const std::vector<Tile>& tiles, float* out) {
  const int64_t C = c->C, R = c->R, Dp = c->Dp, D = c->D;
  const bool relu = c->p.activation == SparseActivation::kRelu;
  c->m.resize(R);
  c->l.resize(R);
  c->cnt.resize(R);
  ThreadPool::parallel_for(static_cast<int64_t>(tiles.size()), [&](int64_t t, int) {
    const Tile& tl = tiles[t];
    std::vector<float> o(Dp);
    for (int r = 0; r < tl.n; ++r) {
      const int64_t row = tl.row0 + r;
      float mx = relu ? 0.0f : -kInf;
      int64_t cn = 0;
      for (int64_t ch = 0; ch < C; ++ch) {
        mx = std::max(mx, c->pm[ch * R + row]);
        cn += c->pc[ch * R + row];
      }
      std::fill(o.begin(), o.end(), 0.0f);
      float l = 0;
      for (int64_t ch = 0; ch < C; ++ch) {
        const float lc = c->pl[ch * R + row];
        if (!(lc > 0)) continue;
        const float mc = c->pm[ch * R + row];
        float f = 1.0f;
        if (relu) {
          const float ratio = mc / mx;
          for (int a = 0; a < c->p.alpha; ++a) f *= ratio;
        } else {
          f = std::exp(mc - mx);
        }
        l += f * lc;
        const float* po = c->po.data() + (ch * R + row) * Dp;
        for (int64_t d = 0; d < Dp; ++d) o[d] += f * po[d];
      }
      c->m[row] = mx;
      c->l[row] = l;
      c->cnt[row] = cn;
      float* y = out + row * D;
      if (l > 0) {
        const float inv = 1.0f / l;
        for (int64_t d = 0; d < D; ++d) y[d] = o[d] * inv;
      } else {
        std::fill(y, y + D, 0.0f);
      }
    }
  });
}

double eta_for(int64_t D) { return 1.01 * double(D + 8) * kU; }

// Softmax, before the sparse pass: a row whose filter kept no block reports nothing, so its
// fallback is certain; it is computed densely once instead of sparsely and then again densely.
// (Estimating the kept mass from a sample of kept blocks was tried: it misjudges rows whose
// mass sits in a few blocks, the massive-activation case the sparse path is for.)
void predict_fallback(Call* c, std::vector<uint8_t>* pred) {
  pred->assign(c->R, 0);
  for (const Tile& tl : c->tiles) {
    if (tl.dense) continue;
    for (int r = 0; r < tl.n; ++r) {
      const int64_t row = tl.row0 + r;
      int64_t keys = 0;
      for (int64_t ch = 0; ch < c->C; ++ch) keys += c->fkeys[ch * c->R + row];
      if (keys == 0 && c->visible(row) > 0) (*pred)[row] = 1;
    }
  }
  for (Tile& tl : c->tiles) {
    if (tl.dense) continue;
    int np = 0;
    for (int r = 0; r < tl.n; ++r) np += (*pred)[tl.row0 + r];
    if (np == 0) continue;
    if (np * 4 >= tl.n) {  // as in step 4: one dense pass for the whole tile
      tl.dense = tl.predicted = true;
      for (int r = 0; r < tl.n; ++r) (*pred)[tl.row0 + r] = 0;
      c->st.predicted_rows += tl.n;
      continue;
    }
    uint64_t clear = 0;  // the predicted rows leave the sparse pass
    for (int r = 0; r < tl.n; ++r) clear |= uint64_t((*pred)[tl.row0 + r]) << r;
    uint64_t* mk = c->masks.data() + (&tl - c->tiles.data()) * c->nb;
    for (int64_t g = 0; g < c->nb; ++g) mk[g] &= ~clear;
    c->st.predicted_rows += np;
  }
}

// Softmax with every tile dense: the dense answer is the full softmax, which lemma's flash
// attention computes faster than the block kernel once there are enough rows to fill its
// 64-query tiles. Keys and values are gathered back to position order (O(N D), against the
// O(M N D) of the attention; values are read in place when already in that order). Returns
// false (nothing done) when not applicable.
bool flash_dense(Call* c, const float* q, float* out, float* error_bound) {
  const int64_t BK = c->B * c->Hkv, N = c->N, D = c->D, Bs = c->Bs, nb = c->nb;
  if (c->M < 64 || N < 1 || c->p.calibrate) return false;  // calibrate: meanActive wanted
  if (8.0 * double(BK) * double(N) * double(D) > double(int64_t{512} << 20)) return false;
  AttentionParams ap;
  ap.B = c->B, ap.Hq = c->Hq, ap.Hkv = c->Hkv, ap.Nq = c->M, ap.Nk = N, ap.D = D;
  ap.scale = c->p.scale, ap.causal = c->p.causal;
  if (!attention_check_params(ap).ok()) return false;
  // One head whose slots are already in position order with unpadded rows (a position-order
  // index, D a multiple of 16): its V storage is V in position order, no copy needed.
  bool v_direct = BK == 1 && c->Dp == D;
  if (v_direct) {
    const SparseHead& hd = c->head(0);
    for (int64_t g = 0; g < nb && v_direct; ++g) {
      v_direct = hd.len[g] == (g + 1 < nb ? Bs : N - g * Bs);
      for (int64_t j = 0; j < hd.len[g] && v_direct; ++j) v_direct = hd.pos[g * Bs + j] == g * Bs + j;
    }
  }
  std::vector<float> kr(BK * N * D), vr(v_direct ? 0 : BK * N * D), lse(c->R);
  ThreadPool::parallel_for(BK * nb, [&](int64_t t, int) {
    const int64_t bk = t / nb, g = t % nb;
    const SparseHead& hd = c->head(bk);
    const float* kt = hd.kt.data() + g * D * Bs;
    const float* vb = hd.v.data() + g * Bs * c->Dp;
    for (int64_t j = 0; j < hd.len[g]; ++j) {
      const int64_t pos = hd.pos[g * Bs + j];
      float* kd = kr.data() + (bk * N + pos) * D;
      for (int64_t d = 0; d < D; ++d) kd[d] = kt[d * Bs + j];
      if (!v_direct) std::memcpy(vr.data() + (bk * N + pos) * D, vb + j * c->Dp, sizeof(float) * D);
    }
  });
  const float* vp = v_direct ? c->head(0).v.data() : vr.data();
  if (!attention_forward_cpu(ap, q, kr.data(), vp, out, lse.data()).ok()) return false;
  for (int64_t row = 0; row < c->R; ++row) c->st.keys_scored += double(c->visible(row));
  c->st.blocks_visited += c->st.blocks_total;
  c->st.flash_rows += c->R;
  if (error_bound) std::fill(error_bound, error_bound + c->R, 0.0f);
  return true;
}

// Forward steps 0-4. Leaves the plan in *c (masks, m, l) for the backward.
Status attend(Call* c, const float* q, double* thresholds, float* out, float* error_bound) {
  const SparseAttendParams& p = c->p;
  LEMMA_RETURN_IF_ERROR(prepare_rows(c, q));
  if (p.calibrate) calibrate(c, thresholds);
  for (int64_t bh = 0; bh < c->B * c->Hq; ++bh)
    if (!std::isfinite(thresholds[bh]))
      return Status::Error(Code::kRange, "sparse attention: thresholds must be finite");
  c->thr.resize(c->R);
  for (int64_t row = 0; row < c->R; ++row) c->thr[row] = round_up_f(thresholds[row / c->M]);
  make_tiles(c);
  const bool relu = p.activation == SparseActivation::kRelu;
  // Softmax prefill: skip the filter when every tile is certainly dense (the flash shortcut).
  if (relu || c->M < 64 || !certain_dense(c)) filter(c);
  std::vector<uint8_t> pred;
  if (!relu) predict_fallback(c, &pred);
  for (const Tile& tl : c->tiles) {
    if (tl.predicted) c->st.fallback_rows += tl.n;
    else if (tl.dense) c->st.dense_rows += tl.n;
  }
  if (!relu) {
    bool all_dense = true;
    for (const Tile& tl : c->tiles) all_dense = all_dense && tl.dense;
    if (all_dense && flash_dense(c, q, out, error_bound)) return Status::Ok();
  }
  accumulate(c, c->tiles, c->masks.data(), true, relu ? sparse_cpu::kRelu : sparse_cpu::kSoftTrunc,
             relu ? sparse_cpu::kRelu : sparse_cpu::kSoftFull);
  merge(c, c->tiles, out);
  if (relu) {
    for (int64_t row = 0; row < c->R; ++row) {
      c->st.active_sum += double(c->cnt[row]);
      c->st.active_max = std::max(c->st.active_max, double(c->cnt[row]));
    }
    return Status::Ok();
  }
  // Step 3b: certified bounds; step 4: dense fallback rows (with the predicted ones).
  std::vector<Tile> ft;
  int64_t n_fb = 0;
  for (const Tile& tl : c->tiles) {
    std::vector<int64_t> fb;
    int np = 0;
    for (int r = 0; r < tl.n; ++r) {
      const int64_t row = tl.row0 + r;
      float bound = 0.0f;
      const int64_t vis = c->visible(row);
      if (pred[row]) {
        fb.push_back(row), ++np;
      } else if (!tl.dense && vis > 0) {
        bound = sparse_softmax_bound(c->head(tl.bk), c->D, c->qn[row], c->thr[row], c->m[row],
                                     c->l[row], c->cnt[row], vis);
        if (!(bound <= p.tolerance)) fb.push_back(row);
      }
      if (error_bound) error_bound[row] = bound;
    }
    if (fb.empty()) continue;
    // Many flagged rows: recompute the whole tile densely (one pass over the keys for all of
    // them; its other rows become exact too). Few: one single-row tile each.
    if (int64_t(fb.size()) * 4 >= tl.n) {
      ft.push_back({tl.bk, tl.row0, tl.n, true});
      n_fb += tl.n - np;
      if (error_bound)
        for (int r = 0; r < tl.n; ++r) error_bound[tl.row0 + r] = 0.0f;
    } else {
      for (int64_t row : fb) {
        ft.push_back({tl.bk, row, 1, true});
        if (error_bound) error_bound[row] = 0.0f;
      }
      n_fb += int64_t(fb.size()) - np;
    }
    c->st.fallback_rows += np;
  }
  if (!ft.empty()) {
    accumulate(c, ft, nullptr, false, sparse_cpu::kSoftFull, sparse_cpu::kSoftFull);
    merge(c, ft, out);  // kSoftFull still counts s >= b, so cnt is unchanged
    c->st.fallback_rows += n_fb;
  }
  for (int64_t row = 0; row < c->R; ++row) {
    c->st.active_sum += double(c->cnt[row]);
    c->st.active_max = std::max(c->st.active_max, double(c->cnt[row]));
  }
  return Status::Ok();
}

}  // namespace

float sparse_softmax_bound(const SparseHead& hd, int64_t D, float qn, float thr, float m, float l,
                           int64_t kept, int64_t visible) {
  // Dropped keys have fp32 score < b, so true score < b + delta (delta bounds the fp32 score
  // error); kept keys have true score >= s_hat - delta. With x = n_drop e^(b + delta - m) and
  // l_lo <= the kept mass / e^m (fp32 summation of kept + 8 terms, exp2 within 2 ulp each):
  // eps = drop / (kept + drop) <= x / (l_lo + x), increasing in the dropped mass.
  if (kept == 0) return kInf;
  const double drop = double(visible - kept);
  if (drop <= 0) return 0.0f;
  const double delta = eta_for(D) * double(qn) * hd.knorm_max;
  const double x = drop * std::exp(double(thr) + delta - double(m));
  const double l_lo = double(l) * std::exp(-delta) / (1 + 3 * kU * (double(kept) + 8));
  const double eps = std::min(1.0, x / (l_lo + x) * (1 + 1e-6));
  return round_up_f(2 * eps * hd.vmax);
}

Status sparse_prepare_rows(const SparseIndex& idx, const SparseAttendParams& p, const float* q,
                           double* thresholds, SparseRows* rows) {
  LEMMA_RETURN_IF_ERROR(check_attend(idx, p));
  Call c(idx, p);
  LEMMA_RETURN_IF_ERROR(prepare_rows(&c, q));
  if (p.calibrate) calibrate(&c, thresholds);
  rows->thr.resize(c.R);
  for (int64_t row = 0; row < c.R; ++row) {
    if (!std::isfinite(thresholds[row / c.M]))
      return Status::Error(Code::kRange, "sparse attention: thresholds must be finite");
    rows->thr[row] = round_up_f(thresholds[row / c.M]);
  }
  rows->qs.assign(c.qs.begin(), c.qs.begin() + c.R * c.Dp);
  rows->qn.assign(c.qn.begin(), c.qn.begin() + c.R);
  rows->limit.assign(c.limit.begin(), c.limit.begin() + c.R);
  return Status::Ok();
}

Status sparse_attend_cpu(const SparseIndex& idx, const SparseAttendParams& p, const float* q,
                         double* thresholds, float* out, float* error_bound, SparseStats* stats) {
  LEMMA_RETURN_IF_ERROR(check_attend(idx, p));
  if (!q || !thresholds || !out)
    return Status::Error(Code::kShape, "sparse attention: a required buffer is null");
  Call c(idx, p);
  LEMMA_RETURN_IF_ERROR(attend(&c, q, thresholds, out, error_bound));
  if (stats) *stats = c.st;
  return Status::Ok();
}

Status sparse_report_cpu(const SparseIndex& idx, const SparseAttendParams& p, const float* q,
                         const double* thresholds, std::vector<int64_t>* row_ptr,
                         std::vector<int32_t>* keys, std::vector<float>* scores) {
  LEMMA_RETURN_IF_ERROR(check_attend(idx, p));
  Call c(idx, p);
  LEMMA_RETURN_IF_ERROR(prepare_rows(&c, q));
  c.thr.resize(c.R);
  for (int64_t row = 0; row < c.R; ++row) {
    if (!std::isfinite(thresholds[row / c.M]))
      return Status::Error(Code::kRange, "sparse attention: thresholds must be finite");
    c.thr[row] = round_up_f(thresholds[row / c.M]);
  }
  make_tiles(&c);
  filter(&c);  // the masks are used whatever the density: reporting has no dense shortcut
  const int64_t T = static_cast<int64_t>(c.tiles.size()), C = c.C;
  // per (task) list of (row, pos, score)
  struct Hit {
    int64_t row;
    int32_t pos;
    float s;
  };
  struct Sink {
    std::vector<Hit> hits;
    int64_t row0;
  };
  std::vector<Sink> sinks(T * C);
  std::vector<int64_t> dummy_cnt(c.R * C, 0), scored(T * C), visited(T * C);
  ThreadPool::parallel_for(T * C, [&](int64_t task, int) {
    const Tile& tl = c.tiles[task / C];
    const int64_t ch = task % C;
    float* scratch = thread_scratch(c.Bs);
    const float* qrows[kMaxRows];
    for (int r = 0; r < tl.n; ++r) qrows[r] = c.qs.data() + (tl.row0 + r) * c.Dp;
    Sink& sk = sinks[task];
    sk.row0 = tl.row0;
    RowsArgs a;
    a.h = view_of(idx, c.head(tl.bk));
    a.g0 = c.chunk_g0(ch);
    a.g1 = c.chunk_g1(ch);
    a.masks = c.masks.data() + (task / C) * c.nb;
    a.gmasks = c.gmasks.data() + (task / C) * c.nb;
    a.nrows = tl.n;
    a.q = qrows;
    a.limit = c.limit.data() + tl.row0;
    a.thr = c.thr.data() + tl.row0;
    a.mode = sparse_cpu::kReport;
    a.cnt = dummy_cnt.data() + ch * c.R + tl.row0;
    a.scored = &scored[task];
    a.visited = &visited[task];
    a.scratch = scratch;
    a.emit = [](void* ctx, int r, int32_t pos, float s) {
      Sink* k = static_cast<Sink*>(ctx);
      k->hits.push_back({k->row0 + r, pos, s});
    };
    a.emit_ctx = &sk;
    c.kt.run_rows(a);
  });
  std::vector<std::vector<std::pair<int32_t, float>>> per_row(c.R);
  for (auto& sk : sinks)
    for (const Hit& h : sk.hits) per_row[h.row].push_back({h.pos, h.s});
  row_ptr->assign(c.R + 1, 0);
  keys->clear();
  scores->clear();
  for (int64_t row = 0; row < c.R; ++row) {
    auto& v = per_row[row];
    std::sort(v.begin(), v.end());
    for (auto& e : v) keys->push_back(e.first), scores->push_back(e.second);
    (*row_ptr)[row + 1] = static_cast<int64_t>(keys->size());
  }
  return Status::Ok();
}

Status sparse_relu_backward_cpu(const SparseIndex& idx, const SparseAttendParams& p,
                                const float* q, const double* thresholds, const float* dout,
                                float* dq, float* dk, float* dv, SparseStats* stats) {
  LEMMA_RETURN_IF_ERROR(check_attend(idx, p));
  if (p.activation != SparseActivation::kRelu || p.calibrate)
    return Status::Error(Code::kRange, "sparse attention: backward is defined for relu with a threshold");
  if (!q || !thresholds || !dout || !dq || !dk || !dv)
    return Status::Error(Code::kShape, "sparse attention: a required buffer is null");
  Call c(idx, p);
  std::vector<double> thr(thresholds, thresholds + c.B * c.Hq);
  std::vector<float> out(c.R * c.D);
  LEMMA_RETURN_IF_ERROR(attend(&c, q, thr.data(), out.data(), nullptr));
  const int64_t R = c.R, D = c.D, Dp = c.Dp, Bs = c.Bs, nb = c.nb, BK = c.B * c.Hkv;
  // Row data: padded dO, Dvec = <dO, o>, dq accumulators.
  std::vector<float> dO(R * Dp, 0.0f), dvec(R), dqa(R * Dp, 0.0f);
  ThreadPool::parallel_for(R, [&](int64_t row, int) {
    double s = 0;
    for (int64_t d = 0; d < D; ++d) {
      dO[row * Dp + d] = dout[row * D + d];
      s += double(dout[row * D + d]) * out[row * D + d];
    }
    dvec[row] = static_cast<float>(s);
  });
  // Row chunks per kv head: fixed by the shape and the machine (never by set_size()), so the
  // chunk-ordered sums are reproducible; partials capped at 256 MiB.
  const int64_t T = static_cast<int64_t>(c.tiles.size()), tiles_per_bk = T / BK;
  const int64_t part_floats = nb * Bs * (D + Dp);
  static const int64_t hw = std::max<int64_t>(2, std::thread::hardware_concurrency());
  int64_t CB = std::clamp<int64_t>(ceil_div(2 * hw, BK), 1, tiles_per_bk);
  CB = std::max<int64_t>(1, std::min<int64_t>(CB, (int64_t{256} << 20) / (4 * part_floats * BK)));
  std::vector<float> part(BK * CB * part_floats, 0.0f);
  std::vector<int64_t> scored(BK * CB, 0), visited(BK * CB, 0), cnt(R, 0);
  ThreadPool::parallel_for(BK * CB, [&](int64_t task, int) {
    const int64_t bk = task / CB, cb = task % CB;
    float* dkt = part.data() + task * part_floats;
    float* dvp = dkt + nb * Bs * D;
    float* scratch = thread_scratch(Bs);
    for (int64_t t = bk * tiles_per_bk + cb * tiles_per_bk / CB;
         t < bk * tiles_per_bk + (cb + 1) * tiles_per_bk / CB; ++t) {
      const Tile& tl = c.tiles[t];
      const float* qrows[kMaxRows];
      const float* drows[kMaxRows];
      float* dqrows[kMaxRows];
      for (int r = 0; r < tl.n; ++r) {
        qrows[r] = c.qs.data() + (tl.row0 + r) * Dp;
        drows[r] = dO.data() + (tl.row0 + r) * Dp;
        dqrows[r] = dqa.data() + (tl.row0 + r) * Dp;
      }
      RowsArgs a;
      a.h = view_of(idx, c.head(bk));
      a.g0 = 0;
      a.g1 = nb;
      a.masks = tl.dense ? nullptr : c.masks.data() + t * nb;
      a.gmasks = tl.dense ? nullptr : c.gmasks.data() + t * nb;
      a.nrows = tl.n;
      a.q = qrows;
      a.limit = c.limit.data() + tl.row0;
      a.thr = c.thr.data() + tl.row0;
      a.mode = sparse_cpu::kBackward;
      a.alpha = p.alpha;
      a.m = c.m.data() + tl.row0;
      a.l = c.l.data() + tl.row0;
      a.cnt = cnt.data() + tl.row0;
      a.scored = &scored[task];
      a.visited = &visited[task];
      a.scratch = scratch;
      a.dout = drows;
      a.dvec = dvec.data() + tl.row0;
      a.scale = static_cast<float>(p.scale);
      a.dq = dqrows;
      a.dkt = dkt;
      a.dvp = dvp;
      c.kt.run_rows(a);
    }
  });
  ThreadPool::parallel_for(R, [&](int64_t row, int) {
    std::memcpy(dq + row * D, dqa.data() + row * Dp, sizeof(float) * D);
  });
  // Sum the chunk partials in chunk order, scatter to positions.
  ThreadPool::parallel_for(BK * nb, [&](int64_t t, int) {
    const int64_t bk = t / nb, g = t % nb;
    const SparseHead& hd = c.head(bk);
    const int64_t len = hd.len[g], N = c.N;
    for (int64_t j = 0; j < len; ++j) {
      const int64_t pos = hd.pos[g * Bs + j];
      float* dkr = dk + (bk * N + pos) * D;
      float* dvr = dv + (bk * N + pos) * D;
      for (int64_t d = 0; d < D; ++d) {
        float sk = 0, sv = 0;
        for (int64_t cb = 0; cb < CB; ++cb) {
          const float* base = part.data() + (bk * CB + cb) * part_floats;
          sk += base[(g * D + d) * Bs + j];
          sv += base[nb * Bs * D + (g * Bs + j) * Dp + d];
        }
        dkr[d] = sk;
        dvr[d] = sv;
      }
    }
  });
  for (int64_t t = 0; t < BK * CB; ++t) {
    c.st.keys_scored += double(scored[t]);
    c.st.blocks_visited += double(visited[t]);
  }
  if (stats) *stats = c.st;
  return Status::Ok();
}

}  // namespace lemma
