// attention_cuda_test: every CUDA attention kernel against the fp64 oracle, under the
// flash-attention rule: for each output X (out, lse, dq, dk, dv)
//   max|X_flash - X_ref| <= 2 max|X_plain - X_ref| + atol,   atol = 4 u max|X_ref|
// where X_plain comes from the plain same-precision CUDA implementation
// (attention_*_cuda_plain: S, P, dP, dS stored at the precision, no tiling), X_ref from the
// fp64 oracle (attention_*_ref) on the very values the GPU sees (inputs are uploaded from fp64,
// rounded on the device, and downloaded back), and u is the unit roundoff of the output type
// (2^-24 for fp32 storage, 2^-11 fp16, 2^-8 bf16). Outputs are poisoned with NaN before each run:
// a NaN anywhere (unwritten or computed) fails. Rows that see no key must give out = 0 and
// lse = +inf exactly. The deterministic backward must be bitwise reproducible (run twice).
// Checked per case: forward, backward deterministic (dQ second pass), backward atomic (dQ by
// fp32 atomics). Grid: precisions fp32 / tf32 / fp16 / bf16; D in {16, 32, 48, 64, 96, 128,
// 256} (16 and 48 exercise the padded staging path); causal on/off; Nq != Nk both ways with
// fully masked rows; B*H up to 6 with GQA; tails at every length; N up to 16k (N >= 2048:
// forward checked on every row, dq on 192 sampled rows, dk / dv on 48 sampled keys).
// Without a usable GPU it prints why and exits 0 with "0 passed, 0 failed, N skipped".
// Build and run: npx cmake-js build --out build-cuda --CDLEMMA_CUDA=ON &&
//   build-cuda/attention_cuda_test [--quick] [--filter TEXT] [--json parity.json] [--oracle-self-check (CPU only)]
// Exit code 0 iff every check passed.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "attention/attention_cuda.h"
#include "core/cuda_info.h"
#include "core/thread_pool.h"

using namespace lemma;

namespace {

struct Case {
  int64_t B, Hq, Hkv, Nq, Nk, D;
  bool causal;
  CudaPrecision pr;
  DeviceDtype dt;  // storage dtype (normally the precision's own)
};

DeviceDtype natural_dtype(CudaPrecision pr) {
  switch (pr) {
    case CudaPrecision::kFp16: return DeviceDtype::kF16;
    case CudaPrecision::kBf16: return DeviceDtype::kBF16;
    default: return DeviceDtype::kF32;
  }
}

// Unit roundoff of what the output is stored in (and computed at, for 16-bit precisions).
double unit_roundoff(const Case& c) {
  double u = 0x1p-24;
  if (c.dt == DeviceDtype::kF16 || c.pr == CudaPrecision::kFp16) u = std::max(u, 0x1p-11);
  if (c.dt == DeviceDtype::kBF16 || c.pr == CudaPrecision::kBf16) u = std::max(u, 0x1p-8);
  return u;
}

std::string describe(const Case& c) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s/%s B=%lld Hq=%lld Hkv=%lld Nq=%lld Nk=%lld D=%lld causal=%d",
                cuda_precision_name(c.pr), device_dtype_name(c.dt), (long long)c.B, (long long)c.Hq,
                (long long)c.Hkv, (long long)c.Nq, (long long)c.Nk, (long long)c.D, c.causal ? 1 : 0);
  return buf;
}

bool sampled(const Case& c) { return std::max(c.Nq, c.Nk) >= 2048; }

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 7) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return ((next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
  double normal() { return std::sqrt(-2.0 * std::log(uniform())) * std::cos(6.283185307179586 * uniform()); }
};

// ---- device buffers ------------------------------------------------------------------------------
struct DevBuf {
  void* p = nullptr;
  size_t n = 0;
  DeviceDtype dt = DeviceDtype::kF32;
  DevBuf() = default;
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  ~DevBuf() {
    if (p) cuda_free(p);
  }
};

Status make(DevBuf& b, size_t n, DeviceDtype dt) {
  b.n = n;
  b.dt = dt;
  return cuda_alloc(&b.p, n * device_dtype_size(dt));
}
Status put(DevBuf& b, const std::vector<double>& h, void* s) {
  return cuda_upload(b.p, h.data(), h.size() * sizeof(double), b.dt, true, s);
}
Status get(std::vector<double>& h, const DevBuf& b, void* s) {
  h.assign(b.n, 0.0);
  return cuda_download(h.data(), true, b.p, b.n, b.dt, s);
}
Status poison(DevBuf& b, void* s) {
  return put(b, std::vector<double>(b.n, std::numeric_limits<double>::quiet_NaN()), s);
}

// ---- checks ------------------------------------------------------------------------------------
struct Check {
  std::string name;
  double flash = 0, plain = 0, ref_max = 0, atol = 0;
  bool nan = false, masked_bad = false;
  bool ok() const { return !nan && !masked_bad && flash <= 2 * plain + atol; }
};

// Max-abs errors over `rows` (all rows when empty) of a [*, width] array. Reference +inf entries
// (lse of rows that see nothing) must be matched exactly by the flash result.
Check compare(const std::string& name, const std::vector<double>& flash, const std::vector<double>& plain,
              const std::vector<double>& ref, int64_t width, const std::vector<int64_t>& rows, double u) {
  Check c;
  c.name = name;
  auto visit = [&](int64_t i) {
    const double r = ref[i], f = flash[i], p = plain[i];
    if (std::isnan(f)) {
      c.nan = true;
      return;
    }
    if (std::isinf(r)) {
      if (f != r) c.masked_bad = true;
      return;
    }
    c.ref_max = std::max(c.ref_max, std::fabs(r));
    c.flash = std::max(c.flash, std::fabs(f - r));
    c.plain = std::isfinite(p) ? std::max(c.plain, std::fabs(p - r)) : std::numeric_limits<double>::infinity();
  };
  if (rows.empty()) {
    for (size_t i = 0; i < ref.size(); ++i) visit(static_cast<int64_t>(i));
  } else {
    for (int64_t r : rows)
      for (int64_t j = 0; j < width; ++j) visit(r * width + j);
  }
  c.atol = 4 * u * std::max(c.ref_max, 1e-3);
  return c;
}

// ---- sampled fp64 oracle (long sequences) --------------------------------------------------------
int64_t key_end(const AttentionParams& p, int64_t i) {
  if (!p.causal) return p.Nk;
  const int64_t e = i + (p.Nk - p.Nq) + 1;
  return std::clamp<int64_t>(e, 0, p.Nk);
}
double dot(const double* a, const double* b, int64_t n) {
  double s = 0;
  for (int64_t d = 0; d < n; ++d) s += a[d] * b[d];
  return s;
}

// dq for the given global query rows (b*Hq*Nq indexing), from the full oracle out / lse.
void oracle_dq_rows(const AttentionParams& p, const std::vector<double>& q, const std::vector<double>& k,
                    const std::vector<double>& v, const std::vector<double>& out, const std::vector<double>& lse,
                    const std::vector<double>& dout, const std::vector<int64_t>& rows, std::vector<double>& dq) {
  const int64_t D = p.D, group = p.Hq / p.Hkv;
  ThreadPool::parallel_for(static_cast<int64_t>(rows.size()), [&](int64_t t, int) {
    const int64_t row = rows[t], bh = row / p.Nq, i = row % p.Nq;
    const int64_t bk = (bh / p.Hq) * p.Hkv + (bh % p.Hq) / group;
    const double* K = k.data() + bk * p.Nk * D;
    const double* V = v.data() + bk * p.Nk * D;
    const double* qi = q.data() + row * D;
    const double* doi = dout.data() + row * D;
    double* g = dq.data() + row * D;
    std::fill(g, g + D, 0.0);
    const double L = lse[row];
    if (!std::isfinite(L)) return;
    const double Di = dot(doi, out.data() + row * D, D);
    for (int64_t j = 0; j < key_end(p, i); ++j) {
      const double pr = std::exp(p.scale * dot(qi, K + j * D, D) - L);
      const double ds = pr * (dot(doi, V + j * D, D) - Di);
      for (int64_t d = 0; d < D; ++d) g[d] += p.scale * ds * K[j * D + d];
    }
  });
}

// dk, dv for the given global key rows (b*Hkv*Nk indexing).
void oracle_dkdv_keys(const AttentionParams& p, const std::vector<double>& q, const std::vector<double>& k,
                      const std::vector<double>& v, const std::vector<double>& out, const std::vector<double>& lse,
                      const std::vector<double>& dout, const std::vector<int64_t>& keys, std::vector<double>& dk,
                      std::vector<double>& dv) {
  const int64_t D = p.D, group = p.Hq / p.Hkv;
  ThreadPool::parallel_for(static_cast<int64_t>(keys.size()), [&](int64_t t, int) {
    const int64_t krow = keys[t], bk = krow / p.Nk, j = krow % p.Nk;
    const int64_t b = bk / p.Hkv, hk = bk % p.Hkv;
    const double* kj = k.data() + krow * D;
    const double* vj = v.data() + krow * D;
    double* gk = dk.data() + krow * D;
    double* gv = dv.data() + krow * D;
    std::fill(gk, gk + D, 0.0);
    std::fill(gv, gv + D, 0.0);
    for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
      const int64_t bh = b * p.Hq + h;
      for (int64_t i = 0; i < p.Nq; ++i) {
        if (j >= key_end(p, i)) continue;
        const int64_t row = bh * p.Nq + i;
        const double L = lse[row];
        if (!std::isfinite(L)) continue;
        const double* qi = q.data() + row * D;
        const double* doi = dout.data() + row * D;
        const double pr = std::exp(p.scale * dot(qi, kj, D) - L);
        const double ds = pr * (dot(doi, vj, D) - dot(doi, out.data() + row * D, D));
        for (int64_t d = 0; d < D; ++d) {
          gk[d] += p.scale * ds * qi[d];
          gv[d] += pr * doi[d];
        }
      }
    }
  });
}

std::vector<int64_t> sample_rows(int64_t total, int64_t want, uint64_t seed) {
  std::vector<int64_t> r;
  if (total <= want) {
    for (int64_t i = 0; i < total; ++i) r.push_back(i);
    return r;
  }
  Rng rng(seed);
  r.push_back(0);
  r.push_back(total - 1);
  while (static_cast<int64_t>(r.size()) < want) r.push_back(static_cast<int64_t>(rng.next() % uint64_t(total)));
  std::sort(r.begin(), r.end());
  r.erase(std::unique(r.begin(), r.end()), r.end());
  return r;
}

// The sampled oracle against the full one (fp64, CPU only): GQA, causal with Nq != Nk.
bool oracle_self_check() {
  bool ok = true;
  for (bool causal : {false, true}) {
    AttentionParams p;
    p.B = 2, p.Hq = 4, p.Hkv = 2, p.Nq = 37, p.Nk = 29, p.D = 24, p.scale = 0.3, p.causal = causal;
    const size_t nq = size_t(p.B * p.Hq * p.Nq * p.D), nk = size_t(p.B * p.Hkv * p.Nk * p.D);
    Rng rng(99);
    std::vector<double> q(nq), k(nk), v(nk), dout(nq), out(nq), lse(size_t(p.B * p.Hq * p.Nq));
    for (auto* a : {&q, &dout}) for (auto& x : *a) x = rng.normal();
    for (auto* a : {&k, &v}) for (auto& x : *a) x = rng.normal();
    std::vector<double> dq(nq), dk(nk), dv(nk), sdq(nq, 0.0), sdk(nk, 0.0), sdv(nk, 0.0);
    if (!attention_forward_ref(p, q.data(), k.data(), v.data(), out.data(), lse.data()).ok() ||
        !attention_backward_ref(p, q.data(), k.data(), v.data(), out.data(), lse.data(), dout.data(), dq.data(),
                                dk.data(), dv.data()).ok())
      return false;
    std::vector<int64_t> rows, keys;
    for (int64_t i = 0; i < p.B * p.Hq * p.Nq; ++i) rows.push_back(i);
    for (int64_t i = 0; i < p.B * p.Hkv * p.Nk; ++i) keys.push_back(i);
    oracle_dq_rows(p, q, k, v, out, lse, dout, rows, sdq);
    oracle_dkdv_keys(p, q, k, v, out, lse, dout, keys, sdk, sdv);
    double e = 0;
    for (size_t i = 0; i < nq; ++i) e = std::max(e, std::fabs(dq[i] - sdq[i]));
    for (size_t i = 0; i < nk; ++i) e = std::max({e, std::fabs(dk[i] - sdk[i]), std::fabs(dv[i] - sdv[i])});
    ok = ok && e < 1e-12;
  }
  return ok;
}

// ---- one case ----------------------------------------------------------------------------------
int g_passed = 0, g_failed = 0;
std::vector<std::string> g_json;

std::string json_escape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') o += '\\';
    o += ch;
  }
  return o;
}

void report(const Case& c, const std::string& kernel, const std::vector<Check>& checks, const std::string& extra,
            double ms) {
  bool ok = extra.empty();
  std::string detail, jchecks;
  for (const Check& ch : checks) {
    ok = ok && ch.ok();
    char buf[200];
    std::snprintf(buf, sizeof buf, " %s %.2e/%.2e%s", ch.name.c_str(), ch.flash, ch.plain,
                  ch.nan ? " NaN" : (ch.masked_bad ? " MASKED-ROW" : (ch.ok() ? "" : " <-- over")));
    detail += buf;
    char jb[300];
    std::snprintf(jb, sizeof jb, "%s{\"name\":\"%s\",\"flash\":%.6e,\"plain\":%.6e,\"atol\":%.6e,\"ok\":%s}",
                  jchecks.empty() ? "" : ",", ch.name.c_str(), std::isfinite(ch.flash) ? ch.flash : -1.0,
                  std::isfinite(ch.plain) ? ch.plain : -1.0, ch.atol, ch.ok() ? "true" : "false");
    jchecks += jb;
  }
  std::printf("%s %-10s %s |%s%s%s (%.0f ms)\n", ok ? "ok  " : "FAIL", kernel.c_str(), describe(c).c_str(),
              detail.c_str(), extra.empty() ? "" : " ", extra.c_str(), ms);
  std::fflush(stdout);
  (ok ? g_passed : g_failed)++;
  g_json.push_back("{\"case\":\"" + json_escape(describe(c)) + "\",\"kernel\":\"" + kernel +
                   "\",\"ok\":" + (ok ? "true" : "false") + ",\"checks\":[" + jchecks + "],\"note\":\"" +
                   json_escape(extra) + "\"}");
}

void fail_case(const Case& c, const std::string& kernel, const Status& st) {
  report(c, kernel, {}, std::string(code_name(st.code)) + ": " + st.message, 0);
}

#define TRY(kernel, expr)            \
  do {                               \
    const Status _st = (expr);       \
    if (!_st.ok()) {                 \
      fail_case(c, kernel, _st);     \
      return;                        \
    }                                \
  } while (0)

void run_case(const Case& c, void* s, uint64_t seed) {
  const auto t0 = std::chrono::steady_clock::now();
  AttentionParams p;
  p.B = c.B;
  p.Hq = c.Hq;
  p.Hkv = c.Hkv;
  p.Nq = c.Nq;
  p.Nk = c.Nk;
  p.D = c.D;
  p.scale = 1.0 / std::sqrt(double(c.D));
  p.causal = c.causal;
  const size_t nq = size_t(c.B * c.Hq * c.Nq * c.D), nk = size_t(c.B * c.Hkv * c.Nk * c.D);
  const size_t nl = size_t(c.B * c.Hq * c.Nq);
  const double u = unit_roundoff(c);

  Rng rng(seed);
  std::vector<double> hq(nq), hk(nk), hv(nk), hdo(nq);
  for (auto& x : hq) x = rng.normal();
  for (auto& x : hk) x = rng.normal();
  for (auto& x : hv) x = rng.normal();
  for (auto& x : hdo) x = rng.normal();

  DevBuf q, k, v, dout;
  TRY("setup", make(q, nq, c.dt));
  TRY("setup", make(k, nk, c.dt));
  TRY("setup", make(v, nk, c.dt));
  TRY("setup", make(dout, nq, c.dt));
  TRY("setup", put(q, hq, s));
  TRY("setup", put(k, hk, s));
  TRY("setup", put(v, hv, s));
  TRY("setup", put(dout, hdo, s));
  // The oracle sees exactly the rounded values the kernels see.
  TRY("setup", get(hq, q, s));
  TRY("setup", get(hk, k, s));
  TRY("setup", get(hv, v, s));
  TRY("setup", get(hdo, dout, s));

  // fp64 oracle.
  std::vector<double> r_out(nq), r_lse(nl), r_dq(nq, 0.0), r_dk(nk, 0.0), r_dv(nk, 0.0);
  TRY("oracle", attention_forward_ref(p, hq.data(), hk.data(), hv.data(), r_out.data(), r_lse.data()));
  std::vector<int64_t> qrows, krows;  // empty = all
  if (sampled(c)) {
    qrows = sample_rows(c.B * c.Hq * c.Nq, 192, seed + 11);
    krows = sample_rows(c.B * c.Hkv * c.Nk, 48, seed + 12);
    oracle_dq_rows(p, hq, hk, hv, r_out, r_lse, hdo, qrows, r_dq);
    oracle_dkdv_keys(p, hq, hk, hv, r_out, r_lse, hdo, krows, r_dk, r_dv);
  } else {
    TRY("oracle", attention_backward_ref(p, hq.data(), hk.data(), hv.data(), r_out.data(), r_lse.data(),
                                         hdo.data(), r_dq.data(), r_dk.data(), r_dv.data()));
  }

  // Forward: flash and plain.
  DevBuf fo, fl, po, pl;
  TRY("setup", make(fo, nq, c.dt));
  TRY("setup", make(fl, nl, DeviceDtype::kF32));
  TRY("setup", make(po, nq, c.dt));
  TRY("setup", make(pl, nl, DeviceDtype::kF32));
  TRY("setup", poison(fo, s));
  TRY("setup", poison(fl, s));
  TRY("forward", attention_forward_cuda(p, c.pr, c.dt, q.p, k.p, v.p, fo.p, static_cast<float*>(fl.p), s));
  TRY("forward", cuda_stream_sync(s));
  TRY("plain-fwd", attention_forward_cuda_plain(p, c.pr, c.dt, q.p, k.p, v.p, po.p, static_cast<float*>(pl.p), s));
  std::vector<double> f_out, f_lse, p_out, p_lse;
  TRY("forward", get(f_out, fo, s));
  TRY("forward", get(f_lse, fl, s));
  TRY("plain-fwd", get(p_out, po, s));
  TRY("plain-fwd", get(p_lse, pl, s));
  const double ms_fwd = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  report(c, "forward",
         {compare("out", f_out, p_out, r_out, c.D, {}, u), compare("lse", f_lse, p_lse, r_lse, 1, {}, 0x1p-24)},
         "", ms_fwd);

  // Plain backward (from the plain forward's out / lse).
  DevBuf pdq, pdk, pdv;
  TRY("plain-bwd", make(pdq, nq, c.dt));
  TRY("plain-bwd", make(pdk, nk, c.dt));
  TRY("plain-bwd", make(pdv, nk, c.dt));
  TRY("plain-bwd", attention_backward_cuda_plain(p, c.pr, c.dt, q.p, k.p, v.p, po.p, static_cast<const float*>(pl.p),
                                                 dout.p, pdq.p, pdk.p, pdv.p, s));
  std::vector<double> p_dq, p_dk, p_dv;
  TRY("plain-bwd", get(p_dq, pdq, s));
  TRY("plain-bwd", get(p_dk, pdk, s));
  TRY("plain-bwd", get(p_dv, pdv, s));

  // Flash backward (from the flash forward's out / lse), both dQ modes.
  std::vector<double> det_dq;
  for (int mode = 0; mode < 2; ++mode) {
    const auto tb = std::chrono::steady_clock::now();
    const char* name = mode == 0 ? "bwd-det" : "bwd-atomic";
    p.deterministic = mode == 0;
    DevBuf dq, dk, dv;
    TRY(name, make(dq, nq, c.dt));
    TRY(name, make(dk, nk, c.dt));
    TRY(name, make(dv, nk, c.dt));
    TRY(name, poison(dq, s));
    TRY(name, poison(dk, s));
    TRY(name, poison(dv, s));
    TRY(name, attention_backward_cuda(p, c.pr, c.dt, q.p, k.p, v.p, fo.p, static_cast<const float*>(fl.p), dout.p,
                                      dq.p, dk.p, dv.p, s));
    std::vector<double> f_dq, f_dk, f_dv;
    TRY(name, get(f_dq, dq, s));
    TRY(name, get(f_dk, dk, s));
    TRY(name, get(f_dv, dv, s));
    std::string extra;
    if (mode == 0) {
      // Bitwise reproducibility of the deterministic mode.
      TRY(name, poison(dq, s));
      TRY(name, attention_backward_cuda(p, c.pr, c.dt, q.p, k.p, v.p, fo.p, static_cast<const float*>(fl.p),
                                        dout.p, dq.p, dk.p, dv.p, s));
      TRY(name, get(det_dq, dq, s));
      if (std::memcmp(det_dq.data(), f_dq.data(), det_dq.size() * sizeof(double)) != 0)
        extra = "dq differs between two deterministic runs";
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - tb).count();
    report(c, name,
           {compare("dq", f_dq, p_dq, r_dq, c.D, qrows, u), compare("dk", f_dk, p_dk, r_dk, c.D, krows, u),
            compare("dv", f_dv, p_dv, r_dv, c.D, krows, u)},
           extra, ms);
  }
}

std::vector<Case> build_cases(bool quick) {
  std::vector<Case> cs;
  const CudaPrecision precs[] = {CudaPrecision::kFp32, CudaPrecision::kTf32, CudaPrecision::kFp16,
                                 CudaPrecision::kBf16};
  auto add = [&](int64_t B, int64_t Hq, int64_t Hkv, int64_t Nq, int64_t Nk, int64_t D, bool causal, CudaPrecision pr) {
    cs.push_back({B, Hq, Hkv, Nq, Nk, D, causal, pr, natural_dtype(pr)});
  };
  // Every precision x head dim x causal, on a tail length and on a multi-head batch.
  for (CudaPrecision pr : precs)
    for (int64_t D : {16, 32, 48, 64, 96, 128, 256})
      for (bool causal : {false, true}) {
        add(1, 1, 1, 257, 257, D, causal, pr);
        add(2, 3, 3, 64, 64, D, causal, pr);
      }
  // The CPU suite's shapes: tiny, Nq != Nk both ways (fully masked rows when causal), GQA.
  for (CudaPrecision pr : precs)
    for (int64_t D : {64, 128})
      for (bool causal : {false, true}) {
        add(1, 1, 1, 1, 1, D, causal, pr);
        add(1, 1, 1, 2, 2, D, causal, pr);
        add(1, 1, 1, 7, 7, D, causal, pr);
        add(3, 1, 1, 7, 257, D, causal, pr);
        add(1, 3, 3, 257, 64, D, causal, pr);
        add(1, 1, 1, 64, 1, D, causal, pr);
        add(1, 1, 1, 1, 1024, D, causal, pr);
        add(3, 1, 1, 100, 37, D, causal, pr);
        add(1, 3, 1, 257, 257, D, causal, pr);
        add(2, 6, 2, 64, 130, D, causal, pr);
        add(1, 2, 1, 1024, 1024, D, causal, pr);
      }
  // Storage dtype other than the precision's (the staging path): fp32 tensors at bf16 / fp16,
  // bf16 tensors computed exactly in fp32.
  for (bool causal : {false, true}) {
    cs.push_back({1, 2, 1, 300, 200, 64, causal, CudaPrecision::kBf16, DeviceDtype::kF32});
    cs.push_back({1, 2, 1, 300, 200, 64, causal, CudaPrecision::kFp16, DeviceDtype::kF32});
    cs.push_back({1, 2, 1, 300, 200, 128, causal, CudaPrecision::kFp32, DeviceDtype::kBF16});
  }
  if (quick) return cs;
  // Long sequences (sampled oracle for dq / dk / dv).
  for (CudaPrecision pr : precs)
    for (bool causal : {false, true}) add(1, 2, 1, 4096, 4096, 128, causal, pr);
  add(1, 1, 1, 2048, 6000, 128, true, CudaPrecision::kBf16);
  add(1, 1, 1, 6000, 2048, 64, true, CudaPrecision::kFp16);
  for (bool causal : {false, true}) add(1, 1, 1, 16384, 16384, 64, causal, CudaPrecision::kBf16);
  add(1, 1, 1, 16384, 16384, 64, true, CudaPrecision::kFp16);
  return cs;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, oracle_only = false;
  std::string json_path, filter;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    else if (std::strcmp(argv[i], "--filter") == 0 && i + 1 < argc) filter = argv[++i];
    else if (std::strcmp(argv[i], "--oracle-self-check") == 0) oracle_only = true;
    else if (std::strcmp(argv[i], "--json") == 0 && i + 1 < argc) json_path = argv[++i];
  }
  if (oracle_only) {
    const bool ok = oracle_self_check();
    std::printf("%s sampled oracle agrees with attention_backward_ref\n%d passed, %d failed\n", ok ? "ok  " : "FAIL",
                ok ? 1 : 0, ok ? 0 : 1);
    return ok ? 0 : 1;
  }
  std::vector<Case> cases = build_cases(quick);
  if (!filter.empty())  // cases whose description contains the text, e.g. "fp16/float16 B=1"
    cases.erase(std::remove_if(cases.begin(), cases.end(),
                               [&](const Case& c) { return describe(c).find(filter) == std::string::npos; }),
                cases.end());
  const int checks_per_case = 3;
  const CudaInfo info = cuda_info();
  if (!info.compiled || info.device_count == 0) {
    std::printf("attention_cuda_test: skipped, no usable GPU: %s\n",
                info.compiled ? info.error.c_str() : "CUDA support was not compiled in");
    std::printf("0 passed, 0 failed, %zu skipped\n", cases.size() * checks_per_case);
    return 0;
  }
  const GpuDevice& dev = info.devices.empty() ? GpuDevice{} : info.devices[0];
  std::printf("attention_cuda_test on %s (sm_%d%d, %d SMs), driver %d, runtime %d, %zu cases\n", dev.name.c_str(),
              dev.major, dev.minor, dev.multiprocessors, info.driver_version, info.runtime_version, cases.size());
  void* s = nullptr;
  Status st = cuda_stream_create(&s);
  if (!st.ok()) {
    std::printf("cannot create a stream: %s %s\n0 passed, 1 failed\n", code_name(st.code), st.message.c_str());
    return 1;
  }
  if (oracle_self_check()) {
    std::printf("ok   sampled oracle agrees with attention_backward_ref\n");
    ++g_passed;
  } else {
    std::printf("FAIL sampled oracle disagrees with attention_backward_ref\n");
    ++g_failed;
  }
  const int64_t mem0 = cuda_bytes_in_use();
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t seed = 1;
  for (const Case& c : cases) run_case(c, s, seed++);
  // Memory accounting: every buffer above was freed; workspace is released in stream order.
  cuda_stream_sync(s);
  const int64_t mem1 = cuda_bytes_in_use();
  if (mem1 != mem0) {
    std::printf("FAIL memory: %lld bytes in use after the run, %lld before\n", (long long)mem1, (long long)mem0);
    ++g_failed;
  } else {
    std::printf("ok   memory: bytes in use back to %lld\n", (long long)mem0);
    ++g_passed;
  }
  cuda_stream_destroy(s);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!json_path.empty()) {
    if (FILE* f = std::fopen(json_path.c_str(), "w")) {
      std::fprintf(f, "{\"device\":\"%s\",\"passed\":%d,\"failed\":%d,\"seconds\":%.1f,\"results\":[\n",
                   json_escape(dev.name).c_str(), g_passed, g_failed, secs);
      for (size_t i = 0; i < g_json.size(); ++i)
        std::fprintf(f, "%s%s\n", g_json[i].c_str(), i + 1 < g_json.size() ? "," : "");
      std::fprintf(f, "]}\n");
      std::fclose(f);
    }
  }
  std::printf("%.1f s\n%d passed, %d failed\n", secs, g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
