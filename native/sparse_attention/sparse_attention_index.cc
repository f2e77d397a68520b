// The key index of the sparse attention family: blocks with bounding balls, superblocks above
// them (spec 2.6, 2.7). Build, append, and the conservative filter radius.
//   ball of a key set S: centre c = fl32(mean S) (mean in double), r = max_{k in S} ||k - c||
//   (double, over the fp32 values), filter radius R = r_up + eta (2 ||c|| + 2 r_up),
//   eta = 1.01 (D + 8) 2^-24. With s_hat(k) the fp32 score (FMA chain, error <= gamma_D
//   ||q'|| ||k||), the filter bound fl(fma(qn_up, R, fl<q', c>)) >= s_hat(k) for all k in S:
//   gamma_D ||q'|| ||c|| (centre dot) + gamma_D ||q'|| (||c|| + r) (key score) + u ||q'|| (||c|| + R)
//   (final fma) <= eta ||q'|| (2 ||c|| + 2 r) since eta >= gamma_D + 4u for D <= 256.
//   R is rounded up to fp32, qn_up = ||q'|| rounded up.
// Boxes (superblock_boxes): the axes u_1..u_P of superblock s are the top principal directions of
// a strided sample of its keys (covariance in double, subspace iteration from a fixed start, so
// they depend on the keys only). For a key k of block g (ball centre c, fp32) the coefficients
// t_i = <k - c, u_i> and the rest w = (k - c) - sum_i t_i u_i are computed in double; whatever
// their rounding, k = c + sum_i t_i u_i + w holds exactly for these t_i and this w, so
//   <q', k> = <q', c> + sum_i t_i a_i + <q', w> <= <q', c> + sum_i max(lo_i a_i, hi_i a_i) + ||q'|| rho
// with a_i = <q', u_i>, lo_i = min t_i rounded down, hi_i = max t_i rounded up (fp32), rho >= max ||w||
// (||w|| has a relative double rounding error far below 1e-12 of ||k - c|| + sum |t_i| ||u_i||).
// The filter evaluates fl(fl<q', c> + sum_i max(fl(lo_i a^_i), fl(hi_i a^_i)) + qn_up R') with
// a^_i = fl<q', u_i> (any summation order). With A = ||c||, r = the ball's filter radius (>= max
// ||k - c||), M = sum_i max(|lo_i|, |hi_i|) ||u_i||, and the relative errors: gamma_D ||q'|| A
// (centre dot), (gamma_D + 2u) ||q'|| M (a^_i, and the products), gamma_D ||q'|| (A + r) (the key's
// fp32 score), gamma_{P+2} of the sum of the P + 2 terms' magnitudes (<= ||q'|| (A + M)(1 + 2 gamma_D)
// + qn_up R'), the box radius
//   R' = (rho (1 + 1e-12) + 1e-12 (r + M) + eta_P (2 A + r + 2 M)) (1 + 2 (P + 2) u),  eta_P = 1.01 (D + P + 8) u
// rounded up to fp32 covers them all (2 eta_P >= 2 gamma_D + gamma_{P+2} (1 + 2 gamma_D) and
// (1 + 2 (P + 2) u)(1 - gamma_{P+2}) >= 1), so the fp32 bound is >= the fp32 score of every key of
// the block. The superblock's own box is the same over all its keys around its ball centre c_s
// (t^s_i = t_i + <c - c_s, u_i>, w^s = w + (c - c_s) - sum_i <c - c_s, u_i> u_i, exact identities
// again). Subnormal results add absolute errors (<= 2^-150 per operation): the filter lowers
// the threshold by 2^-138 (1 + 16 max||k||) >= all of them (sparse_attention_cpu.cc).
// Orders: 'position' (blocks are consecutive positions) or 'cluster' (a PCA tree over the keys:
// split each node at the median of its projection on the top principal direction of a sample
// (power iteration), leaves of exactly Bs keys, so siblings share tight balls).
// Appended keys always go to new position-ordered blocks after the built ones; the touched
// blocks and superblocks get their balls recomputed from their keys, so in position order an
// index grown by append is bit-identical to one built over the concatenation.
// Test: build-sparse/sparse_attention_test
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "sparse_attention/sparse_attention.h"
#include "sparse_attention/sparse_attention_kernels.inl"

namespace lemma {

namespace {

constexpr int S = kSparseSuper;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

float round_up_f(double x) {
  float f = static_cast<float>(x);
  if (static_cast<double>(f) < x) f = std::nextafter(f, std::numeric_limits<float>::infinity());
  return f;
}

double eta_for(int64_t D) { return 1.01 * double(D + 8) * 0x1p-24; }

bool all_finite(const float* x, int64_t n) {
  std::atomic<bool> ok{true};
  const int64_t chunk = 1 << 16;
  ThreadPool::parallel_for(ceil_div(n, chunk), [&](int64_t t, int) {
    const int64_t a = t * chunk, e = std::min(n, a + chunk);
    float acc = 0;  // x * 0 is NaN exactly for inf / NaN inputs
    for (int64_t i = a; i < e; ++i) acc += x[i] * 0.0f;
    if (acc != 0.0f || std::isnan(acc)) ok.store(false, std::memory_order_relaxed);
  });
  return ok.load();
}

// Ball of the keys of blocks [g0, g1) of head h (transposed storage): fp32 centre cf and the
// filter radius R (-inf for an empty set).
void ball_of_blocks(const SparseHead& h, int64_t D, int64_t Bs, int64_t g0, int64_t g1,
                    std::vector<double>* mean, std::vector<float>* cf, float* R) {
  mean->assign(D, 0.0);
  int64_t cnt = 0;
  for (int64_t g = g0; g < g1; ++g) {
    const float* Kt = h.kt.data() + g * Bs * D;
    const int64_t L = h.len[g];
    for (int64_t d = 0; d < D; ++d) {
      double s = 0;
      for (int64_t j = 0; j < L; ++j) s += Kt[d * Bs + j];
      (*mean)[d] += s;
    }
    cnt += L;
  }
  cf->resize(D);
  double cn2 = 0;
  for (int64_t d = 0; d < D; ++d) {
    (*cf)[d] = static_cast<float>((*mean)[d] / double(std::max<int64_t>(cnt, 1)));
    cn2 += double((*cf)[d]) * (*cf)[d];
  }
  double r2 = 0;
  std::vector<double> dist;
  for (int64_t g = g0; g < g1; ++g) {
    const float* Kt = h.kt.data() + g * Bs * D;
    const int64_t L = h.len[g];
    dist.assign(L, 0.0);
    for (int64_t d = 0; d < D; ++d) {
      const double c = (*cf)[d];
      for (int64_t j = 0; j < L; ++j) {
        const double e = Kt[d * Bs + j] - c;
        dist[j] += e * e;
      }
    }
    for (int64_t j = 0; j < L; ++j) r2 = std::max(r2, dist[j]);
  }
  const double r_up = std::sqrt(r2) * (1 + 1e-12);
  const double cn_up = std::sqrt(cn2) * (1 + 1e-12);
  *R = cnt == 0 ? kNegInf : round_up_f(r_up + eta_for(D) * (2 * cn_up + 2 * r_up));
}

// Recomputes balls of blocks [g_from, nb) and superblocks from g_from / 16 on; (re)sizes the
// group arrays. Parallel over (head, block) and (head, superblock) by the caller's loop.
void resize_groups(SparseHead* h, int64_t D, int64_t Bs) {
  const int64_t G = Bs / 16;  // lane groups per block
  const int64_t ns = ceil_div(h->nb, S);
  const int64_t nsg = ceil_div(ns, S);
  h->bct.resize(ns * D * S, 0.0f);
  h->brad.resize(ns * S, kNegInf);
  h->spos_min.resize(ns, std::numeric_limits<int32_t>::max());
  h->spos_max.resize(ns, -1);
  h->sct.resize(nsg * D * S, 0.0f);
  h->srad.resize(nsg * S, kNegInf);
  h->sax.resize(ns * kSparseAxes * D, 0.0f);
  const int64_t old_boxes = static_cast<int64_t>(h->sbox.size()) / kSparseBox;
  h->bbox.resize(ns * G * kSparseBox * S, 0.0f);
  h->sbox.resize(ns * kSparseBox, 0.0f);
  h->sbox_on.resize(ns, 0);
  for (int64_t s = old_boxes; s < ns; ++s) {  // empty lanes fail the box test
    for (int64_t grp = 0; grp < G; ++grp)
      for (int64_t lane = 0; lane < S; ++lane)
        h->bbox[((s * G + grp) * kSparseBox + 2 * kSparseAxes) * S + lane] = kNegInf;
    h->sbox[s * kSparseBox + 2 * kSparseAxes] = kNegInf;
  }
}

void block_ball(SparseHead* h, int64_t D, int64_t Bs, int64_t g) {
  std::vector<double> mean;
  std::vector<float> cf;
  float R;
  ball_of_blocks(*h, D, Bs, g, g + 1, &mean, &cf, &R);
  const int64_t s = g / S, lane = g % S;
  float* ct = h->bct.data() + s * D * S;
  for (int64_t d = 0; d < D; ++d) ct[d * S + lane] = cf[d];
  h->brad[g] = R;
  const int32_t* pos = h->pos.data() + g * Bs;
  int32_t lo = std::numeric_limits<int32_t>::max(), hi = -1;
  for (int64_t j = 0; j < h->len[g]; ++j) lo = std::min(lo, pos[j]), hi = std::max(hi, pos[j]);
  h->bpos_min[g] = lo;
  h->bpos_max[g] = hi;
}

void super_ball(SparseHead* h, int64_t D, int64_t Bs, int64_t s) {
  const int64_t g0 = s * S, g1 = std::min(h->nb, g0 + S);
  std::vector<double> mean;
  std::vector<float> cf;
  float R;
  ball_of_blocks(*h, D, Bs, g0, g1, &mean, &cf, &R);
  const int64_t sg = s / S, lane = s % S;
  float* ct = h->sct.data() + sg * D * S;
  for (int64_t d = 0; d < D; ++d) ct[d * S + lane] = cf[d];
  h->srad[s] = R;
  int32_t lo = std::numeric_limits<int32_t>::max(), hi = -1;
  for (int64_t g = g0; g < g1; ++g)
    lo = std::min(lo, h->bpos_min[g]), hi = std::max(hi, h->bpos_max[g]);
  h->spos_min[s] = lo;
  h->spos_max[s] = hi;
}

// ------------------------------------------------------------------------- boxes ---------
constexpr int P = kSparseAxes;
constexpr double kBoxUseful = 0.9;  // boxes are tested where R' < 0.9 R (sbox_on)

// The build loops of the box statistics, vectorised for this CPU (sparse_attention_kernels.inl).
const sparse_cpu::SparseKernels& build_kernels() {
  switch (simd_level()) {
    case SimdLevel::kAvx512: return avx512::sparse_kernels();
    case SimdLevel::kAvx2: return avx2::sparse_kernels();
    default: return scalar::sparse_kernels();
  }
}

float round_down_f(double x) {
  float f = static_cast<float>(x);
  if (static_cast<double>(f) > x) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
  return f;
}

// Top-P principal axes (rows of ax [P][D], unit length in double, then fp32; zero rows past the
// sample's rank) of up to 256 keys sampled with a fixed stride from blocks [g0, g1).
void superblock_axes(const SparseHead& h, int64_t D, int64_t Bs, int64_t g0, int64_t g1, float* ax) {
  int64_t n = 0;
  for (int64_t g = g0; g < g1; ++g) n += h.len[g];
  const int64_t ns = std::min<int64_t>(n, 256);
  std::vector<double> x(ns * D), mu(D, 0.0);
  {
    int64_t t = 0, g = g0, before = 0;  // sample t is the key of rank t * n / ns
    for (; t < ns; ++t) {
      const int64_t want = t * n / ns;
      while (want >= before + h.len[g]) before += h.len[g++];
      const float* Kt = h.kt.data() + g * Bs * D;
      for (int64_t d = 0; d < D; ++d) x[t * D + d] = Kt[d * Bs + (want - before)];
    }
  }
  for (int64_t t = 0; t < ns; ++t)
    for (int64_t d = 0; d < D; ++d) mu[d] += x[t * D + d];
  for (auto& m : mu) m /= double(std::max<int64_t>(ns, 1));
  for (int64_t t = 0; t < ns; ++t)
    for (int64_t d = 0; d < D; ++d) x[t * D + d] -= mu[d];
  std::vector<double> C(D * D, 0.0);  // sum_t x_t x_t^T
  build_kernels().gram(x.data(), static_cast<int>(ns), static_cast<int>(D), C.data());
  for (int64_t a = 0; a < D; ++a)
    for (int64_t b = 0; b < a; ++b) C[a * D + b] = C[b * D + a];
  // Subspace iteration on C (Q [D][P], columns orthonormalised by modified Gram-Schmidt).
  std::vector<double> Q(D * P), Z(D * P);
  for (int64_t d = 0; d < D; ++d)  // fixed, generic start (no data-dependent randomness)
    for (int i = 0; i < P; ++i) Q[d * P + i] = double((d * 7919 + i * 104729 + 17) % 1013) / 1013.0 - 0.5;
  double scale = 0;
  for (int64_t a = 0; a < D; ++a) scale = std::max(scale, C[a * D + a]);
  const int np = static_cast<int>(std::min<int64_t>(P, D));
  for (int it = 0; it < 8; ++it) {
    build_kernels().sym_times(C.data(), Q.data(), static_cast<int>(D), Z.data());
    for (int i = 0; i < P; ++i) {
      if (i >= np) {
        for (int64_t d = 0; d < D; ++d) Z[d * P + i] = 0;
        continue;
      }
      for (int rep = 0; rep < 2; ++rep)  // twice, for orthogonality in finite precision
        for (int k = 0; k < i; ++k) {
          double p = 0;
          for (int64_t d = 0; d < D; ++d) p += Z[d * P + i] * Z[d * P + k];
          for (int64_t d = 0; d < D; ++d) Z[d * P + i] -= p * Z[d * P + k];
        }
      double nn = 0;
      for (int64_t d = 0; d < D; ++d) nn += Z[d * P + i] * Z[d * P + i];
      // Directions with (numerically) no variance are dropped: any axis is valid, none is needed.
      const bool keep = scale > 0 && nn > 1e-24 * scale * scale;
      const double inv = keep ? 1 / std::sqrt(nn) : 0.0;
      for (int64_t d = 0; d < D; ++d) Z[d * P + i] *= inv;
    }
    Q.swap(Z);
  }
  for (int i = 0; i < P; ++i)
    for (int64_t d = 0; d < D; ++d) ax[i * D + d] = static_cast<float>(Q[d * P + i]);
}

// Box radius R' from rho = max ||w||, the centre norm A, the ball's filter radius r and
// M = sum_i max(|lo_i|, |hi_i|) ||u_i|| (see the file header).
float box_radius(double rho, double A, double r, double M, int64_t D) {
  constexpr double u = 0x1p-24;
  const double eta = 1.01 * double(D + P + 8) * u;
  return round_up_f((rho * (1 + 1e-12) + 1e-12 * (r + M) + eta * (2 * A + r + 2 * M)) *
                    (1 + 2 * (P + 2) * u));
}

// Axes of superblock s, the boxes of its blocks and its own box (after the balls: it reads the
// centres and the filter radii).
void superblock_boxes(SparseHead* h, int64_t D, int64_t Bs, int64_t s) {
  const int64_t g0 = s * S, g1 = std::min(h->nb, g0 + S);
  float* ax = h->sax.data() + s * P * D;
  superblock_axes(*h, D, Bs, g0, g1, ax);
  double un[P];  // ||u_i|| (fp32 values), rounded up
  for (int i = 0; i < P; ++i) {
    double nn = 0;
    for (int64_t d = 0; d < D; ++d) nn += double(ax[i * D + d]) * ax[i * D + d];
    un[i] = std::sqrt(nn) * (1 + 1e-12);
  }
  const float* sct = h->sct.data() + (s / S) * D * S;
  const int64_t slane = s % S;
  std::vector<double> cs(D);
  double As = 0;
  for (int64_t d = 0; d < D; ++d) {
    cs[d] = sct[d * S + slane];
    As += cs[d] * cs[d];
  }
  As = std::sqrt(As) * (1 + 1e-12);
  double slo[P], shi[P], srho = 0;
  for (int i = 0; i < P; ++i) slo[i] = std::numeric_limits<double>::infinity(), shi[i] = -slo[i];
  std::vector<double> T(P * Bs), wn(Bs), wsn(Bs), z(D), c(D), E(D * Bs);  // E: scratch
  const float* bct = h->bct.data() + s * D * S;
  const int64_t G = Bs / 16;
  float* boxes = h->bbox.data() + s * G * kSparseBox * S;
  for (int64_t g = g0; g < g1; ++g) {
    const int64_t lane = g - g0, L = h->len[g];
    const float* Kt = h->kt.data() + g * Bs * D;
    double A = 0;
    for (int64_t d = 0; d < D; ++d) {
      c[d] = bct[d * S + lane];
      A += c[d] * c[d];
    }
    A = std::sqrt(A) * (1 + 1e-12);
    // superblock shift: t^s_i = t_i + delta_i, w^s = w + z with z = (c - c_s) - sum delta_i u_i
    double delta[P];
    for (int i = 0; i < P; ++i) {
      double p = 0;
      for (int64_t d = 0; d < D; ++d) p += (c[d] - cs[d]) * double(ax[i * D + d]);
      delta[i] = p;
    }
    for (int64_t d = 0; d < D; ++d) {
      double zd = c[d] - cs[d];
      for (int i = 0; i < P; ++i) zd -= delta[i] * double(ax[i * D + d]);
      z[d] = zd;
    }
    // t_i, ||w||^2, ||w + z||^2 of every key (lane j), in double
    build_kernels().box_block(Kt, static_cast<int>(Bs), static_cast<int>(L), static_cast<int>(D),
                              c.data(), ax, z.data(), E.data(), T.data(), wn.data(), wsn.data());
    for (int64_t j = 0; j < L; ++j) srho = std::max(srho, wsn[j]);
    // One box per group of 16 lanes (the block's centre, so the filter reuses its dot).
    for (int64_t grp = 0; grp < G; ++grp) {
      float* box = boxes + grp * kSparseBox * S;
      const int64_t j0 = grp * 16, j1 = std::min(L, j0 + 16);
      double rho = 0, M = 0;
      for (int64_t j = j0; j < j1; ++j) rho = std::max(rho, wn[j]);
      rho = std::sqrt(rho);
      for (int i = 0; i < P; ++i) {
        double lo = std::numeric_limits<double>::infinity(), hi = -lo;
        for (int64_t j = j0; j < j1; ++j) lo = std::min(lo, T[i * Bs + j]), hi = std::max(hi, T[i * Bs + j]);
        if (j1 <= j0) lo = hi = 0;
        const float flo = round_down_f(lo), fhi = round_up_f(hi);
        box[i * S + lane] = flo;
        box[(P + i) * S + lane] = fhi;
        M += std::max(std::fabs(double(flo)), std::fabs(double(fhi))) * un[i];
        if (j1 > j0) {
          slo[i] = std::min(slo[i], lo + delta[i]);
          shi[i] = std::max(shi[i], hi + delta[i]);
        }
      }
      box[2 * P * S + lane] = j1 <= j0 ? kNegInf : box_radius(rho, A, double(h->brad[g]), M, D);
    }
  }
  for (int64_t grp = 0; grp < G; ++grp)
    for (int64_t lane = g1 - g0; lane < S; ++lane) {
      float* box = boxes + grp * kSparseBox * S;
      for (int i = 0; i < 2 * P; ++i) box[i * S + lane] = 0.0f;
      box[2 * P * S + lane] = kNegInf;
    }
  // The superblock's box. Its t^s ranges are computed as lo + delta (double): lo <= t_i and the
  // identity uses t^s_i = t_i + delta_i exactly, so lo_i + delta_i rounded down is a lower bound up
  // to the double rounding of the sum, which the outward fp32 rounding absorbs (|error| <= 2^-53
  // |lo + delta|, far below one fp32 ulp).
  float* sb = h->sbox.data() + s * kSparseBox;
  double Ms = 0;
  for (int i = 0; i < P; ++i) {
    const float flo = std::nextafter(round_down_f(slo[i]), -std::numeric_limits<float>::infinity());
    const float fhi = std::nextafter(round_up_f(shi[i]), std::numeric_limits<float>::infinity());
    sb[i] = flo;
    sb[P + i] = fhi;
    Ms += std::max(std::fabs(double(flo)), std::fabs(double(fhi))) * un[i];
  }
  srho = std::sqrt(srho);
  sb[2 * P] = g1 > g0 ? box_radius(srho, As, double(h->srad[s]), Ms, D) : kNegInf;
  // Worth testing when the superblock's box or its groups' boxes have a radius well below the
  // balls' (on average): the box bound's slack is at least ||q'|| R', whatever the query.
  double ratio = 0;
  int64_t cnt = 0;
  for (int64_t g = g0; g < g1; ++g)
    for (int64_t grp = 0; grp < G && grp * 16 < h->len[g]; ++grp, ++cnt)
      ratio += double(boxes[(grp * kSparseBox + 2 * P) * S + (g - g0)]) / double(h->brad[g]);
  h->sbox_on[s] = g1 > g0 && (sb[2 * P] < kBoxUseful * h->srad[s] || ratio < kBoxUseful * double(cnt));
}

// Norm maxima of the head, updated with blocks [g_from, nb) (max is monotone, so appending
// gives the same values as a rebuild).
void head_norms(SparseHead* h, int64_t D, int64_t Dp, int64_t Bs, int64_t g_from) {
  double kn = 0, vm = h->vmax;
  std::vector<double> n2(Bs);
  for (int64_t g = g_from; g < h->nb; ++g) {
    const float* Kt = h->kt.data() + g * Bs * D;
    const float* V = h->v.data() + g * Bs * Dp;
    std::fill(n2.begin(), n2.end(), 0.0);
    for (int64_t d = 0; d < D; ++d)
      for (int64_t j = 0; j < Bs; ++j) n2[j] += double(Kt[d * Bs + j]) * Kt[d * Bs + j];
    for (int64_t j = 0; j < h->len[g]; ++j) kn = std::max(kn, n2[j]);
    for (int64_t e = 0; e < h->len[g] * Dp; ++e) vm = std::max(vm, double(std::fabs(V[e])));
  }
  h->knorm_max = std::max(h->knorm_max, std::sqrt(kn) * (1 + 1e-12));
  h->vmax = vm;
}

// Grows storage to nb blocks (new blocks zeroed, pos = INT32_MAX, len = 0).
void grow_blocks(SparseHead* h, int64_t nb, int64_t D, int64_t Dp, int64_t Bs) {
  h->kt.resize(nb * Bs * D, 0.0f);
  h->v.resize(nb * Bs * Dp, 0.0f);
  h->pos.resize(nb * Bs, std::numeric_limits<int32_t>::max());
  h->len.resize(nb, 0);
  h->bpos_min.resize(nb, std::numeric_limits<int32_t>::max());
  h->bpos_max.resize(nb, -1);
  h->nb = nb;
  resize_groups(h, D, Bs);
}

inline void put_key(SparseHead* h, int64_t D, int64_t Dp, int64_t Bs, int64_t slot,
                    const float* k, const float* v, int32_t position) {
  const int64_t g = slot / Bs, j = slot % Bs;
  float* Kt = h->kt.data() + g * Bs * D;
  for (int64_t d = 0; d < D; ++d) Kt[d * Bs + j] = k[d];
  std::memcpy(h->v.data() + (g * Bs + j) * Dp, v, sizeof(float) * D);
  h->pos[g * Bs + j] = position;
}

// ------------------------------------------------------------------ cluster order ---------
double dotf(const float* a, const double* b, int64_t D) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t d = 0;
  for (; d + 4 <= D; d += 4) {
    s0 += a[d] * b[d], s1 += a[d + 1] * b[d + 1], s2 += a[d + 2] * b[d + 2],
        s3 += a[d + 3] * b[d + 3];
  }
  for (; d < D; ++d) s0 += a[d] * b[d];
  return (s0 + s1) + (s2 + s3);
}

// Top principal direction of a strided sample of the node's keys (power iteration).
void node_direction(const float* K, int64_t D, const int32_t* ids, int64_t n,
                    std::vector<double>* dir) {
  const int64_t ns = std::min<int64_t>(n, 256);
  const int64_t stride = n / ns;
  std::vector<double> mu(D, 0.0), x(ns * D);
  for (int64_t t = 0; t < ns; ++t) {
    const float* k = K + int64_t(ids[t * stride]) * D;
    for (int64_t d = 0; d < D; ++d) mu[d] += k[d];
  }
  for (auto& m : mu) m /= double(ns);
  int64_t far = 0;
  double far_d = -1;
  for (int64_t t = 0; t < ns; ++t) {
    const float* k = K + int64_t(ids[t * stride]) * D;
    double e2 = 0;
    for (int64_t d = 0; d < D; ++d) {
      x[t * D + d] = k[d] - mu[d];
      e2 += x[t * D + d] * x[t * D + d];
    }
    if (e2 > far_d) far_d = e2, far = t;
  }
  dir->assign(x.begin() + far * D, x.begin() + far * D + D);
  std::vector<double> nv(D);
  for (int it = 0; it < 3; ++it) {
    double nn = 0;
    for (double a : *dir) nn += a * a;
    if (!(nn > 0)) break;
    const double inv = 1 / std::sqrt(nn);
    for (auto& a : *dir) a *= inv;
    std::fill(nv.begin(), nv.end(), 0.0);
    for (int64_t t = 0; t < ns; ++t) {
      double p = 0;
      for (int64_t d = 0; d < D; ++d) p += x[t * D + d] * (*dir)[d];
      for (int64_t d = 0; d < D; ++d) nv[d] += p * x[t * D + d];
    }
    dir->swap(nv);
  }
  double nn = 0;
  for (double a : *dir) nn += a * a;
  if (!(nn > 0)) {  // all sampled keys equal: any direction splits by position
    std::fill(dir->begin(), dir->end(), 0.0);
    (*dir)[0] = 1;
  }
}

// Splits ids[0, n) so that the first `left` have the smallest projections (ties by position).
void split_node(const float* K, int64_t D, int32_t* ids, int64_t n, int64_t left,
                bool parallel) {
  std::vector<double> dir;
  node_direction(K, D, ids, n, &dir);
  std::vector<std::pair<float, int32_t>> pr(n);
  auto project = [&](int64_t a, int64_t e) {
    for (int64_t t = a; t < e; ++t)
      pr[t] = {static_cast<float>(dotf(K + int64_t(ids[t]) * D, dir.data(), D)), ids[t]};
  };
  if (parallel) {
    const int64_t chunk = 8192;
    ThreadPool::parallel_for(ceil_div(n, chunk),
                             [&](int64_t c, int) { project(c * chunk, std::min(n, c * chunk + chunk)); });
  } else {
    project(0, n);
  }
  std::nth_element(pr.begin(), pr.begin() + left, pr.end());
  for (int64_t t = 0; t < n; ++t) ids[t] = pr[t].second;
}

// Fills ids with a PCA-tree order of [0, N): leaves of Bs keys (the last may be short).
void cluster_order(const float* K, int64_t N, int64_t D, int64_t Bs, std::vector<int32_t>* ids) {
  ids->resize(N);
  for (int64_t j = 0; j < N; ++j) (*ids)[j] = static_cast<int32_t>(j);
  std::vector<std::pair<int64_t, int64_t>> level{{0, N}}, next;
  while (!level.empty()) {
    next.clear();
    std::vector<std::pair<int64_t, int64_t>> big, small;
    for (auto& nd : level)
      if (nd.second - nd.first > Bs) (nd.second - nd.first > 65536 ? big : small).push_back(nd);
    auto left_of = [&](int64_t n) { return Bs * ceil_div(ceil_div(n, Bs), 2); };
    for (auto& nd : big) {
      const int64_t n = nd.second - nd.first;
      split_node(K, D, ids->data() + nd.first, n, left_of(n), true);
    }
    ThreadPool::parallel_for(static_cast<int64_t>(small.size()), [&](int64_t t, int) {
      const int64_t n = small[t].second - small[t].first;
      split_node(K, D, ids->data() + small[t].first, n, left_of(n), false);
    });
    for (auto* lst : {&big, &small})
      for (auto& nd : *lst) {
        const int64_t mid = nd.first + left_of(nd.second - nd.first);
        next.push_back({nd.first, mid});
        next.push_back({mid, nd.second});
      }
    level.swap(next);
  }
}

// Balls of blocks [g_from, nb) and superblocks [g_from / 16, ns) of every head, in parallel.
void refresh_balls(SparseIndex* idx, int64_t g_from) {
  const int64_t D = idx->p.D, Bs = idx->p.block_size;
  const int64_t H = static_cast<int64_t>(idx->heads.size());
  const int64_t nb = idx->heads[0].nb, nblk = nb - g_from;
  if (nblk > 0)
    ThreadPool::parallel_for(H * nblk, [&](int64_t t, int) {
      block_ball(&idx->heads[t / nblk], D, Bs, g_from + t % nblk);
    });
  const int64_t s0 = g_from / S, ns = ceil_div(nb, S) - s0;
  if (ns > 0)
    ThreadPool::parallel_for(H * ns, [&](int64_t t, int) {
      super_ball(&idx->heads[t / ns], D, Bs, s0 + t % ns);
      superblock_boxes(&idx->heads[t / ns], D, Bs, s0 + t % ns);
    });
  ThreadPool::parallel_for(H, [&](int64_t h, int) {
    head_norms(&idx->heads[h], D, idx->Dp, Bs, g_from);
  });
}

}  // namespace

int64_t SparseIndex::bytes() const {
  int64_t b = 0;
  for (const auto& h : heads)
    b += int64_t(h.kt.capacity() + h.v.capacity() + h.bct.capacity() + h.brad.capacity() +
                 h.sct.capacity() + h.srad.capacity() + h.sax.capacity() + h.bbox.capacity() +
                 h.sbox.capacity()) * 4 + int64_t(h.sbox_on.capacity()) +
         int64_t(h.pos.capacity() + h.len.capacity() + h.bpos_min.capacity() +
                 h.bpos_max.capacity() + h.spos_min.capacity() + h.spos_max.capacity()) * 4;
  return b;
}

Status sparse_index_build(const SparseIndexParams& p, const float* k, const float* v,
                          std::unique_ptr<SparseIndex>* out) {
  if (p.B < 1 || p.Hkv < 1 || p.N < 1 || p.D < 1)
    return Status::Error(Code::kShape, "sparse index: B, Hkv, N, D must be positive");
  if (p.D > kSparseMaxD) return Status::Error(Code::kShape, "sparse index: D must be at most 256");
  if (p.N > kSparseMaxKeys)
    return Status::Error(Code::kRange, "sparse index: at most 2^31 - 1 keys per head");
  if (p.block_size < 16 || p.block_size > 256 || p.block_size % 16 != 0)
    return Status::Error(Code::kRange, "sparse index: blockSize must be a multiple of 16 in [16, 256]");
  if (p.levels < 0 || p.levels > 2)
    return Status::Error(Code::kRange, "sparse index: levels must be 1 or 2");
  if (!k || !v) return Status::Error(Code::kShape, "sparse index: a required buffer is null");
  const int64_t total = p.B * p.Hkv * p.N * p.D;
  if (!all_finite(k, total))
    return Status::Error(Code::kRange, "sparse index: k contains a non-finite value");
  if (!all_finite(v, total))
    return Status::Error(Code::kRange, "sparse index: v contains a non-finite value");
  auto idx = std::make_unique<SparseIndex>();
  idx->p = p;
  idx->Dp = (p.D + 15) / 16 * 16;
  const int64_t D = p.D, Dp = idx->Dp, Bs = p.block_size, N = p.N;
  const int64_t H = p.B * p.Hkv, nb = ceil_div(N, Bs);
  idx->levels = p.levels != 0 ? p.levels : (nb >= 64 ? 2 : 1);
  idx->heads.resize(H);
  for (int64_t h = 0; h < H; ++h) {
    SparseHead& hd = idx->heads[h];
    grow_blocks(&hd, nb, D, Dp, Bs);
    hd.n = N;
    hd.n_built = nb;
    const float* K = k + h * N * D;
    std::vector<int32_t> ids;
    if (p.order == SparseOrder::kCluster) cluster_order(K, N, D, Bs, &ids);
    ThreadPool::parallel_for(nb, [&](int64_t g, int) {
      const int64_t j1 = std::min(N, (g + 1) * Bs);
      for (int64_t slot = g * Bs; slot < j1; ++slot) {
        const int64_t j = ids.empty() ? slot : ids[slot];
        put_key(&hd, D, Dp, Bs, slot, K + j * D, v + (h * N + j) * D, static_cast<int32_t>(j));
      }
      hd.len[g] = static_cast<int32_t>(j1 - g * Bs);
    });
  }
  refresh_balls(idx.get(), 0);
  *out = std::move(idx);
  return Status::Ok();
}

Status sparse_index_append(SparseIndex* idx, int64_t n_new, const float* k_new,
                           const float* v_new) {
  if (n_new < 1) return Status::Error(Code::kShape, "sparse index: append needs at least one key");
  const int64_t D = idx->p.D, Dp = idx->Dp, Bs = idx->p.block_size;
  const int64_t H = static_cast<int64_t>(idx->heads.size());
  const int64_t N0 = idx->N();
  if (N0 + n_new > kSparseMaxKeys)
    return Status::Error(Code::kRange, "sparse index: at most 2^31 - 1 keys per head");
  if (!all_finite(k_new, H * n_new * D))
    return Status::Error(Code::kRange, "sparse index: k contains a non-finite value");
  if (!all_finite(v_new, H * n_new * D))
    return Status::Error(Code::kRange, "sparse index: v contains a non-finite value");
  // Every head has the same block structure: fill the last block if it has room, then new
  // blocks. Under 'cluster' built blocks are never extended (each holds one tree leaf).
  SparseHead& h0 = idx->heads[0];
  const int64_t nb0 = h0.nb;
  const bool tail_open = (idx->p.order == SparseOrder::kPosition || nb0 > h0.n_built) &&
                         h0.len[nb0 - 1] < Bs;
  const int64_t first_slot = tail_open ? (nb0 - 1) * Bs + h0.len[nb0 - 1] : nb0 * Bs;
  const int64_t g_from = tail_open ? nb0 - 1 : nb0;
  const int64_t nb = ceil_div(first_slot + n_new, Bs);
  ThreadPool::parallel_for(H, [&](int64_t h, int) {
    SparseHead& hd = idx->heads[h];
    grow_blocks(&hd, nb, D, Dp, Bs);
    for (int64_t t = 0; t < n_new; ++t)
      put_key(&hd, D, Dp, Bs, first_slot + t, k_new + (h * n_new + t) * D,
              v_new + (h * n_new + t) * D, static_cast<int32_t>(N0 + t));
    for (int64_t g = g_from; g < nb; ++g)
      hd.len[g] = static_cast<int32_t>(std::min<int64_t>(Bs, first_slot + n_new - g * Bs));
    hd.n = N0 + n_new;
  });
  if (idx->p.levels == 0) idx->levels = nb >= 64 ? 2 : 1;
  refresh_balls(idx, g_from);
  ++idx->version;
  return Status::Ok();
}

}  // namespace lemma
