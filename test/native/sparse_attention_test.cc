// sparse_attention_test: the fp32 CPU path of sparse attention (every SIMD level this CPU
// supports) against the fp64 brute-force oracle sparse_*_ref and against a brute-force fp32
// reporting loop with the product path's score arithmetic (sparse_score_fp32).
//   report:  the reported (position, score) lists equal the brute-force fp32 set exactly
//   relu:    max|out - ref| <= tol ||ref||inf, tol = max(1e-5, 2 x the error of a plain fp32
//            dense loop) (the flash-attention 2x rule)
//   softmax: for every row, |o_trunc64(R) - o_full64|inf <= error_bound (R = the reported set,
//            both in fp64), and |out - o_full64|inf <= error_bound + 1e-5 ||V||inf
//   backward (relu): dq, dk, dv within 1e-4 ||ref||inf of sparse_relu_backward_ref
//   append:  position order bit-identical to a rebuild; cluster order within tol of the ref
//   adversarial rounding: keys on the threshold with zero-radius balls, huge cancelling
//            components; nothing may be missed
// Grid: N in {1k, 8k, 32k (relu only)}, D in {8, 64, 128}, block sizes 16 / 64 / 256, levels
// 1 / 2, position / cluster order, causal, grouped heads (Hq = 4, Hkv = 2), M != N.
// Build and run: npx cmake-js build --out build-sparse && build-sparse/sparse_attention_test
// Exit code 0 iff every case passed; prints one line per case and "N passed, N failed".
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "sparse_attention/sparse_attention.h"

#include "test_harness.h"

using namespace lemma;

namespace {

using lemma_test::report;
using lemma_test::Rng;


std::vector<float> randn(size_t n, Rng& r, double sigma = 1) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(sigma * r.normal());
  return v;
}

// A mixture of `nc` anisotropic Gaussians (the bench's generator, lib/bench/sparse.ts): centre
// c_m = sqrt(D) u (u uniform on the sphere), k = c_m + sum_{i<8} 0.6 * 0.7^i z_i a_{m,i} + 0.02 z,
// a_{m,i} random unit directions per cluster (a few dominant directions, like real KV caches).
std::vector<float> clustered(int64_t H, int64_t N, int64_t D, int nc, Rng& r) {
  const int P = 8;
  std::vector<double> cen(nc * D), dir(nc * P * D);
  auto unit = [&](double* x) {
    double n2 = 0;
    for (int64_t d = 0; d < D; ++d) x[d] = r.normal(), n2 += x[d] * x[d];
    for (int64_t d = 0; d < D; ++d) x[d] /= std::sqrt(n2);
  };
  for (int c = 0; c < nc; ++c) {
    unit(&cen[c * D]);
    for (int64_t d = 0; d < D; ++d) cen[c * D + d] *= std::sqrt(double(D));
    for (int i = 0; i < P; ++i) unit(&dir[(c * P + i) * D]);
  }
  std::vector<float> out(H * N * D);
  for (int64_t t = 0; t < H * N; ++t) {
    const int c = int(r.next() % nc);
    double z[P];
    for (int i = 0; i < P; ++i) z[i] = 0.6 * std::pow(0.7, i) * r.normal();
    for (int64_t d = 0; d < D; ++d) {
      double x = cen[c * D + d] + 0.02 * r.normal();
      for (int i = 0; i < P; ++i) x += z[i] * dir[(c * P + i) * D + d];
      out[t * D + d] = float(x);
    }
  }
  return out;
}

std::vector<double> widen(const std::vector<float>& a) { return std::vector<double>(a.begin(), a.end()); }

double max_abs(const std::vector<double>& a) {
  double m = 0;
  for (double x : a) m = std::max(m, std::fabs(x));
  return m;
}
template <class A, class B>
double max_diff(const A& a, const B& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
  return m;
}

struct Case {
  int64_t B = 1, Hq = 1, Hkv = 1, M = 8, N = 1024, D = 64, Bs = 64;
  SparseOrder order = SparseOrder::kPosition;
  int levels = 0;
  bool causal = false;
  SparseActivation act = SparseActivation::kRelu;
  int alpha = 1;
  bool clustered_keys = false;
  double b = 0;  // threshold (scaled score units); NaN: paper's sqrt(0.4 ln N)
  std::string name() const {
    char buf[256];
    std::snprintf(buf, sizeof buf, "B%lld Hq%lld Hkv%lld M%lld N%lld D%lld Bs%lld %s L%d %s %s a%d %s b=%.3f",
                  (long long)B, (long long)Hq, (long long)Hkv, (long long)M, (long long)N,
                  (long long)D, (long long)Bs, order == SparseOrder::kCluster ? "cluster" : "position",
                  levels, causal ? "causal" : "full", act == SparseActivation::kRelu ? "relu" : "softmax",
                  alpha, clustered_keys ? "clustered" : "gaussian", b);
    return buf;
  }
};

struct Data {
  std::vector<float> q, k, v, dout;
};

Data make_data(const Case& c, uint64_t seed) {
  Rng r(seed);
  Data d;
  d.q = randn(c.B * c.Hq * c.M * c.D, r);
  d.k = c.clustered_keys ? clustered(c.B * c.Hkv, c.N, c.D, 64, r) : randn(c.B * c.Hkv * c.N * c.D, r);
  d.v = randn(c.B * c.Hkv * c.N * c.D, r);
  d.dout = randn(c.B * c.Hq * c.M * c.D, r);
  return d;
}

SparseRefParams ref_params(const Case& c) {
  SparseRefParams p;
  p.B = c.B, p.Hq = c.Hq, p.Hkv = c.Hkv, p.M = c.M, p.N = c.N, p.D = c.D;
  p.scale = 1 / std::sqrt(double(c.D));
  p.causal = c.causal;
  p.activation = c.act;
  p.alpha = c.alpha;
  return p;
}
SparseAttendParams attend_params(const Case& c) {
  SparseAttendParams p;
  p.Hq = c.Hq, p.M = c.M;
  p.scale = 1 / std::sqrt(double(c.D));
  p.causal = c.causal;
  p.activation = c.act;
  p.alpha = c.alpha;
  p.tolerance = 1e30;   // the bound test wants the sparse rows, not the fallback
  p.dense_above = 2;    // and the masked path even where the filter prunes little
  return p;
}

std::unique_ptr<SparseIndex> build(const Case& c, const Data& d) {
  SparseIndexParams ip;
  ip.B = c.B, ip.Hkv = c.Hkv, ip.N = c.N, ip.D = c.D, ip.block_size = c.Bs, ip.order = c.order;
  ip.levels = c.levels;
  std::unique_ptr<SparseIndex> idx;
  const Status st = sparse_index_build(ip, d.k.data(), d.v.data(), &idx);
  if (!st.ok()) std::printf("build failed: %s\n", st.message.c_str());
  return idx;
}

// Brute-force fp32 reporting with the product path's arithmetic.
void brute_report(const Case& c, const Data& d, const std::vector<double>& thr,
                  std::vector<int64_t>* rp, std::vector<int32_t>* keys, std::vector<float>* sc) {
  const int64_t G = c.Hq / c.Hkv, R = c.B * c.Hq * c.M;
  const float scale = float(1 / std::sqrt(double(c.D)));
  rp->assign(R + 1, 0);
  keys->clear();
  sc->clear();
  std::vector<float> qs(c.D);
  for (int64_t row = 0; row < R; ++row) {
    const int64_t bh = row / c.M, i = row % c.M, b = bh / c.Hq, h = bh % c.Hq;
    const float* K = d.k.data() + (b * c.Hkv + h / G) * c.N * c.D;
    for (int64_t e = 0; e < c.D; ++e) qs[e] = d.q[row * c.D + e] * scale;
    float tf = float(thr[bh]);
    if (double(tf) < thr[bh]) tf = std::nextafter(tf, INFINITY);
    const int64_t vis = c.causal ? std::clamp<int64_t>(i + c.N - c.M + 1, 0, c.N) : c.N;
    for (int64_t j = 0; j < vis; ++j) {
      const float s = sparse_score_fp32(qs.data(), K + j * c.D, c.D);
      if (s >= tf) keys->push_back(int32_t(j)), sc->push_back(s);
    }
    (*rp)[row + 1] = int64_t(keys->size());
  }
}

std::vector<double> thresholds_for(const Case& c) {
  return std::vector<double>(c.B * c.Hq, c.b);
}

// Plain fp32 dense ReLU loop (for the 2x rule).
std::vector<float> plain_relu_fp32(const Case& c, const Data& d, const std::vector<double>& thr) {
  const int64_t G = c.Hq / c.Hkv, R = c.B * c.Hq * c.M;
  const float scale = float(1 / std::sqrt(double(c.D)));
  std::vector<float> out(R * c.D, 0.0f), o(c.D);
  for (int64_t row = 0; row < R; ++row) {
    const int64_t bh = row / c.M, i = row % c.M, b = bh / c.Hq, h = bh % c.Hq;
    const int64_t kv = (b * c.Hkv + h / G) * c.N * c.D;
    const int64_t vis = c.causal ? std::clamp<int64_t>(i + c.N - c.M + 1, 0, c.N) : c.N;
    std::fill(o.begin(), o.end(), 0.0f);
    float W = 0;
    for (int64_t j = 0; j < vis; ++j) {
      float s = 0;
      for (int64_t e = 0; e < c.D; ++e) s += d.q[row * c.D + e] * d.k[kv + j * c.D + e];
      s *= scale;
      if (!(s > float(thr[bh]))) continue;
      float w = 1;
      for (int a = 0; a < c.alpha; ++a) w *= s - float(thr[bh]);
      W += w;
      for (int64_t e = 0; e < c.D; ++e) o[e] += w * d.v[kv + j * c.D + e];
    }
    if (W > 0)
      for (int64_t e = 0; e < c.D; ++e) out[row * c.D + e] = o[e] / W;
  }
  return out;
}

void check_report(const Case& c, const Data& d, const SparseIndex& idx, const std::string& tag) {
  const auto thr = thresholds_for(c);
  std::vector<int64_t> rp, rp2;
  std::vector<int32_t> keys, keys2;
  std::vector<float> sc, sc2;
  const Status st = sparse_report_cpu(idx, attend_params(c), d.q.data(), thr.data(), &rp, &keys, &sc);
  brute_report(c, d, thr, &rp2, &keys2, &sc2);
  const bool ok = st.ok() && rp == rp2 && keys == keys2 &&
                  std::memcmp(sc.data(), sc2.data(), sizeof(float) * sc.size()) == 0 && sc.size() == sc2.size();
  report(ok, "report == brute force fp32 " + tag + " " + c.name() + " nnz=" + std::to_string(keys2.size()) +
                 (st.ok() ? "" : " " + st.message));
}

void check_forward(const Case& c, uint64_t seed) {
  const Data d = make_data(c, seed);
  auto idx = build(c, d);
  if (!idx) return report(false, "build " + c.name());
  const auto thr = thresholds_for(c);
  const SparseRefParams rp = ref_params(c);
  const int64_t R = c.B * c.Hq * c.M;
  std::vector<double> ref(R * c.D), cnt(R);
  sparse_attention_ref(rp, thr.data(), widen(d.q).data(), widen(d.k).data(), widen(d.v).data(),
                       ref.data(), cnt.data());
  for (SimdLevel lvl : {SimdLevel::kAvx512, SimdLevel::kAvx2, SimdLevel::kScalar}) {
    if (int(lvl) > int(simd_supported())) continue;
    if (lvl == SimdLevel::kScalar && c.N * c.M * c.Hq > 8 * 8192) continue;  // libm fmaf is slow
    set_simd_level(lvl);
    const std::string tag = simd_level_name(lvl);
    check_report(c, d, *idx, tag);
    std::vector<float> out(R * c.D);
    std::vector<float> eb(R);
    std::vector<double> th = thr;
    SparseStats stats;
    const Status st = sparse_attend_cpu(*idx, attend_params(c), d.q.data(), th.data(), out.data(), eb.data(), &stats);
    if (!st.ok()) {
      report(false, "attend " + c.name() + " " + st.message);
      continue;
    }
    const double scale = std::max(max_abs(ref), 1e-30);
    if (c.act == SparseActivation::kRelu) {
      const auto plain = plain_relu_fp32(c, d, thr);
      const double e_plain = max_diff(plain, ref) / scale;
      const double tol = std::max(1e-5, 2 * e_plain);
      const double e = max_diff(out, ref) / scale;
      char buf[200];
      std::snprintf(buf, sizeof buf, " err %.2e (plain fp32 %.2e) scored %.3f dense_rows %lld", e, e_plain,
                    stats.keys_scored / stats.keys_total, (long long)stats.dense_rows);
      report(e <= tol, "relu " + tag + " " + c.name() + buf);
      if (lvl == simd_supported()) {  // the dense kernel (every block, no masks) is exact too
        SparseAttendParams pd = attend_params(c);
        pd.dense_above = 0;
        std::vector<double> th2 = thr;
        sparse_attend_cpu(*idx, pd, d.q.data(), th2.data(), out.data(), nullptr, &stats);
        const double e2 = max_diff(out, ref) / scale;
        std::snprintf(buf, sizeof buf, " err %.2e dense_rows %lld", e2, (long long)stats.dense_rows);
        const int64_t blind = c.causal ? c.B * c.Hq * std::max<int64_t>(0, c.M - c.N) : 0;
        report(e2 <= tol && stats.dense_rows >= R - blind, "relu dense kernel " + c.name() + buf);
      }
    } else {
      // fp64 full softmax and fp64 truncated softmax over the reported set, per row.
      std::vector<int64_t> rpt;
      std::vector<int32_t> keys;
      std::vector<float> sc;
      sparse_report_cpu(*idx, attend_params(c), d.q.data(), thr.data(), &rpt, &keys, &sc);
      const int64_t G = c.Hq / c.Hkv;
      bool ok = true;
      double worst = 0, vinf = max_abs(widen(d.v));
      int64_t fb = 0;
      for (int64_t row = 0; row < R && ok; ++row) {
        const int64_t bh = row / c.M, i = row % c.M, b = bh / c.Hq, h = bh % c.Hq;
        const int64_t kv = (b * c.Hkv + h / G) * c.N * c.D;
        const int64_t vis = c.causal ? std::clamp<int64_t>(i + c.N - c.M + 1, 0, c.N) : c.N;
        if (vis == 0) continue;
        std::vector<double> s(vis);
        double mx = -INFINITY;
        for (int64_t j = 0; j < vis; ++j) {
          double a = 0;
          for (int64_t e = 0; e < c.D; ++e) a += double(d.q[row * c.D + e]) * d.k[kv + j * c.D + e];
          s[j] = a / std::sqrt(double(c.D));
          mx = std::max(mx, s[j]);
        }
        std::vector<double> full(c.D, 0.0), trunc(c.D, 0.0);
        double Z = 0, ZR = 0;
        for (int64_t j = 0; j < vis; ++j) Z += std::exp(s[j] - mx);
        for (int64_t t = rpt[row]; t < rpt[row + 1]; ++t) ZR += std::exp(s[keys[t]] - mx);
        for (int64_t j = 0; j < vis; ++j)
          for (int64_t e = 0; e < c.D; ++e) full[e] += std::exp(s[j] - mx) / Z * d.v[kv + j * c.D + e];
        for (int64_t t = rpt[row]; t < rpt[row + 1]; ++t)
          for (int64_t e = 0; e < c.D; ++e)
            trunc[e] += std::exp(s[keys[t]] - mx) / ZR * d.v[kv + int64_t(keys[t]) * c.D + e];
        const double bound = eb[row];
        if (bound == 0) ++fb;
        const double e_trunc = rpt[row + 1] > rpt[row] ? max_diff(trunc, full) : 0;
        std::vector<double> outrow(out.begin() + row * c.D, out.begin() + (row + 1) * c.D);
        const double e_out = max_diff(outrow, full);
        if (bound > 0 && e_trunc > bound) ok = false;
        if (e_out > bound + 1e-5 * vinf) ok = false;
        worst = std::max(worst, bound > 0 ? e_trunc / bound : 0);
      }
      char buf[200];
      std::snprintf(buf, sizeof buf, " worst err/bound %.3g, bound-0 rows %lld, fallback %lld", worst,
                    (long long)fb, (long long)stats.fallback_rows);
      report(ok, "softmax bound " + tag + " " + c.name() + buf);
      if (lvl == simd_supported()) {
        // Default tolerance 1e-3 with the dense switch: every row within its bound (+ fp32),
        // fallback and dense rows report bound 0 and equal the full softmax.
        SparseAttendParams pd = attend_params(c);
        pd.tolerance = 1e-3;
        pd.dense_above = 0.9;
        std::vector<double> th2 = thr;
        sparse_attend_cpu(*idx, pd, d.q.data(), th2.data(), out.data(), eb.data(), &stats);
        bool ok2 = true;
        for (int64_t row = 0; row < R; ++row) {
          const int64_t bh = row / c.M, i = row % c.M, b = bh / c.Hq, h = bh % c.Hq;
          const int64_t kv = (b * c.Hkv + h / G) * c.N * c.D;
          const int64_t vis = c.causal ? std::clamp<int64_t>(i + c.N - c.M + 1, 0, c.N) : c.N;
          std::vector<double> full(c.D, 0.0), s(vis);
          double mx = -INFINITY, Z = 0;
          for (int64_t j = 0; j < vis; ++j) {
            double a = 0;
            for (int64_t e = 0; e < c.D; ++e) a += double(d.q[row * c.D + e]) * d.k[kv + j * c.D + e];
            s[j] = a / std::sqrt(double(c.D)), mx = std::max(mx, s[j]);
          }
          for (int64_t j = 0; j < vis; ++j) Z += std::exp(s[j] - mx);
          for (int64_t j = 0; j < vis; ++j)
            for (int64_t e = 0; e < c.D; ++e) full[e] += std::exp(s[j] - mx) / Z * d.v[kv + j * c.D + e];
          std::vector<double> outrow(out.begin() + row * c.D, out.begin() + (row + 1) * c.D);
          if (!(eb[row] <= 1e-3) || max_diff(outrow, full) > eb[row] + 1e-5 * vinf) ok2 = false;
        }
        std::snprintf(buf, sizeof buf, " fallback %lld dense %lld", (long long)stats.fallback_rows,
                      (long long)stats.dense_rows);
        report(ok2, "softmax tolerance 1e-3 " + c.name() + buf);
      }
    }
  }
  set_simd_level(simd_supported());
}

void check_backward(const Case& c, uint64_t seed) {
  const Data d = make_data(c, seed);
  auto idx = build(c, d);
  if (!idx) return report(false, "build " + c.name());
  const auto thr = thresholds_for(c);
  const int64_t nq = c.B * c.Hq * c.M * c.D, nk = c.B * c.Hkv * c.N * c.D;
  std::vector<double> dq(nq), dk(nk), dv(nk);
  sparse_relu_backward_ref(ref_params(c), thr.data(), widen(d.q).data(), widen(d.k).data(),
                           widen(d.v).data(), widen(d.dout).data(), dq.data(), dk.data(), dv.data());
  std::vector<float> gq(nq), gk(nk), gv(nk);
  SparseStats st;
  const Status s = sparse_relu_backward_cpu(*idx, attend_params(c), d.q.data(), thr.data(), d.dout.data(),
                                            gq.data(), gk.data(), gv.data(), &st);
  if (!s.ok()) return report(false, "backward " + c.name() + " " + s.message);
  const double eq = max_diff(gq, dq) / std::max(max_abs(dq), 1e-30);
  const double ek = max_diff(gk, dk) / std::max(max_abs(dk), 1e-30);
  const double ev = max_diff(gv, dv) / std::max(max_abs(dv), 1e-30);
  char buf[160];
  std::snprintf(buf, sizeof buf, " dq %.2e dk %.2e dv %.2e", eq, ek, ev);
  report(eq <= 1e-4 && ek <= 1e-4 && ev <= 1e-4, "backward " + c.name() + buf);
}

void check_append(const Case& c, uint64_t seed) {
  const Data d = make_data(c, seed);
  auto full = build(c, d);
  // Build over the first n0 keys, then append in uneven pieces.
  const int64_t n0 = c.N / 3, H = c.B * c.Hkv;
  Case c0 = c;
  c0.N = n0;
  Data d0;
  for (int64_t h = 0; h < H; ++h) {
    d0.k.insert(d0.k.end(), d.k.begin() + h * c.N * c.D, d.k.begin() + (h * c.N + n0) * c.D);
    d0.v.insert(d0.v.end(), d.v.begin() + h * c.N * c.D, d.v.begin() + (h * c.N + n0) * c.D);
  }
  auto grown = build(c0, d0);
  int64_t at = n0;
  const int64_t pieces[] = {1, 7, 64, 1000, 1 << 30};
  for (int64_t want : pieces) {
    const int64_t n = std::min(want, c.N - at);
    if (n <= 0) break;
    std::vector<float> kn, vn;
    for (int64_t h = 0; h < H; ++h) {
      kn.insert(kn.end(), d.k.begin() + (h * c.N + at) * c.D, d.k.begin() + (h * c.N + at + n) * c.D);
      vn.insert(vn.end(), d.v.begin() + (h * c.N + at) * c.D, d.v.begin() + (h * c.N + at + n) * c.D);
    }
    const Status st = sparse_index_append(grown.get(), n, kn.data(), vn.data());
    if (!st.ok()) return report(false, "append " + st.message);
    at += n;
  }
  const int64_t R = c.B * c.Hq * c.M;
  std::vector<float> o1(R * c.D), o2(R * c.D);
  auto t1 = thresholds_for(c), t2 = thresholds_for(c);
  sparse_attend_cpu(*full, attend_params(c), d.q.data(), t1.data(), o1.data(), nullptr, nullptr);
  sparse_attend_cpu(*grown, attend_params(c), d.q.data(), t2.data(), o2.data(), nullptr, nullptr);
  if (c.order == SparseOrder::kPosition) {
    bool same = full->heads[0].nb == grown->heads[0].nb;
    for (int64_t h = 0; h < H && same; ++h) {
      same = same && full->heads[h].kt == grown->heads[h].kt && full->heads[h].v == grown->heads[h].v &&
             full->heads[h].bct == grown->heads[h].bct && full->heads[h].brad == grown->heads[h].brad &&
             full->heads[h].sct == grown->heads[h].sct && full->heads[h].srad == grown->heads[h].srad &&
             full->heads[h].knorm_max == grown->heads[h].knorm_max;
    }
    same = same && std::memcmp(o1.data(), o2.data(), sizeof(float) * o1.size()) == 0;
    report(same, "append == rebuild (bitwise) " + c.name());
  } else {
    std::vector<double> ref(R * c.D);
    sparse_attention_ref(ref_params(c), t1.data(), widen(d.q).data(), widen(d.k).data(), widen(d.v).data(),
                         ref.data(), nullptr);
    const double e1 = max_diff(o1, ref) / max_abs(ref), e2 = max_diff(o2, ref) / max_abs(ref);
    char buf[100];
    std::snprintf(buf, sizeof buf, " err rebuild %.2e grown %.2e", e1, e2);
    report(e1 <= 2e-5 && e2 <= 2e-5, "append ~ rebuild (cluster) " + c.name() + buf);
    check_report(c, d, *grown, "grown");
  }
}

// Keys placed so that fp32 scores sit exactly on the threshold, balls of radius 0, and huge
// components that cancel: the conservative bound must not lose a single key.
void check_adversarial() {
  Rng r(99);
  for (int variant = 0; variant < 3; ++variant) {
    Case c;
    c.M = 4, c.N = 512, c.D = 96, c.Bs = 16, c.levels = 2;
    Data d = make_data(c, 1234 + variant);
    if (variant == 0) {  // every block: 16 copies of one key
      for (int64_t j = 0; j < c.N; ++j)
        std::copy(d.k.begin() + (j / 16 * 16) * c.D, d.k.begin() + (j / 16 * 16 + 1) * c.D, d.k.begin() + j * c.D);
    } else if (variant == 1) {  // huge cancelling components: |k_d| ~ 1e4, <q, k> ~ O(1)
      for (int64_t j = 0; j < c.N; ++j)
        for (int64_t e = 0; e < c.D; e += 2) {
          const float big = float(1e4 * (1 + r.uniform()));
          d.k[j * c.D + e] += big;
          d.k[j * c.D + e + 1] += big;
        }
      for (int64_t i = 0; i < c.M; ++i)
        for (int64_t e = 0; e < c.D; e += 2) d.q[i * c.D + e + 1] = -d.q[i * c.D + e];
    } else {  // tiny perturbations of one key
      for (int64_t j = 0; j < c.N; ++j)
        for (int64_t e = 0; e < c.D; ++e) d.k[j * c.D + e] = d.k[e] + float(1e-7 * r.normal());
    }
    auto idx = build(c, d);
    // Threshold = the fp32 score of one key per row (the largest, the median, one at random):
    // those keys lie exactly on the halfspace boundary.
    const float scale = float(1 / std::sqrt(double(c.D)));
    std::vector<float> qs(c.D);
    for (int which = 0; which < 3; ++which) {
      for (int64_t e = 0; e < c.D; ++e) qs[e] = d.q[e] * scale;
      std::vector<float> s(c.N);
      for (int64_t j = 0; j < c.N; ++j) s[j] = sparse_score_fp32(qs.data(), d.k.data() + j * c.D, c.D);
      std::vector<float> sorted = s;
      std::sort(sorted.begin(), sorted.end());
      c.b = which == 0 ? sorted.back() : which == 1 ? sorted[c.N / 2] : s[r.next() % c.N];
      c.M = 1;
      check_report(c, d, *idx, "adversarial v" + std::to_string(variant));
      c.M = 4;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  std::printf("simd supported: %s, threads %d\n", simd_level_name(simd_supported()), ThreadPool::size());
  uint64_t seed = 1;
  auto paper_b = [](int64_t N) { return std::sqrt(0.4 * std::log(double(N))); };
  // ReLU exactness and reporting (spec 2.9.1): n in {1k, 8k, 32k}, d in {64, 128}.
  for (int64_t N : {1024, 8192}) {
    for (int64_t D : {64, 128}) {
      Case c;
      c.N = N, c.D = D, c.M = 16, c.b = paper_b(N);
      check_forward(c, seed++);
      c.order = SparseOrder::kCluster, c.clustered_keys = true, c.b = 1.0;
      check_forward(c, seed++);
    }
  }
  {
    Case c;
    c.N = 32768, c.D = 64, c.M = 4, c.b = paper_b(c.N), c.levels = 2;
    check_forward(c, seed++);
    c.order = SparseOrder::kCluster, c.clustered_keys = true, c.b = 1.5;
    check_forward(c, seed++);
  }
  // Shapes: block sizes, levels, D = 8, causal with M != N, grouped heads, alpha.
  for (int64_t Bs : {16, 256}) {
    for (int levels : {1, 2}) {
      Case c;
      c.B = 2, c.Hq = 4, c.Hkv = 2, c.M = 37, c.N = 1500, c.D = 8, c.Bs = Bs, c.levels = levels;
      c.causal = true, c.alpha = 3, c.b = 0.8;
      check_forward(c, seed++);
      c.order = SparseOrder::kCluster, c.clustered_keys = true;
      check_forward(c, seed++);
    }
  }
  {
    Case c;  // prefill-like: M = N, causal, cluster order
    c.M = 600, c.N = 600, c.D = 48, c.causal = true, c.order = SparseOrder::kCluster;
    c.clustered_keys = true, c.b = 1.0, c.alpha = 2;
    check_forward(c, seed++);
    c.M = 700;  // M > N: the first 100 rows see nothing
    check_forward(c, seed++);
  }
  // Softmax bound (spec 2.9.3): thresholds from loose to tight.
  for (double b : {0.5, 1.5, 2.5}) {
    Case c;
    c.N = 4096, c.D = 64, c.M = 8, c.b = b, c.act = SparseActivation::kSoftmax;
    c.order = SparseOrder::kCluster, c.clustered_keys = true;
    check_forward(c, seed++);
    c.clustered_keys = false, c.order = SparseOrder::kPosition;
    c.Hq = 2, c.causal = true;
    check_forward(c, seed++);
  }
  // Backward.
  for (int alpha : {1, 2, 3}) {
    Case c;
    c.B = 1, c.Hq = 4, c.Hkv = 2, c.M = 70, c.N = 900, c.D = 32, c.b = 0.7, c.alpha = alpha;
    c.causal = alpha == 2;
    check_backward(c, seed++);
    c.order = SparseOrder::kCluster, c.clustered_keys = true, c.b = 1.0;
    check_backward(c, seed++);
  }
  // Append.
  for (SparseOrder o : {SparseOrder::kPosition, SparseOrder::kCluster}) {
    Case c;
    c.B = 2, c.Hq = 2, c.Hkv = 2, c.M = 5, c.N = 3001, c.D = 40, c.b = 0.6, c.order = o;
    c.clustered_keys = o == SparseOrder::kCluster, c.causal = true;
    check_append(c, seed++);
  }
  check_adversarial();
  (void)quick;
  return lemma_test::finish();
}
