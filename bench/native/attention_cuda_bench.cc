// attention_cuda_bench: TFLOP/s of attention_forward_cuda / attention_backward_cuda at the
// FlashAttention benchmark shapes: H*D = 2048, B*N = 16384, N in {512, 1k, 2k, 4k, 8k, 16k},
// D in {64, 128}, causal off/on, bf16 and fp16 (plus tf32 and exact fp32 at N = 4k, D = 128).
// FlashAttention counting: forward 4 B H N^2 D flops (halved when causal), backward 2.5x that.
// Backward is timed in both dQ modes: "bwd" = atomic dQ (FlashAttention-2's default),
// "bwd_det" = deterministic (dQ by a second pass). Time = median of >= 10 runs (cudaEvent
// around each call) after 3 warm-up runs; inputs are random (never zeros).
// One JSON line per (configuration, op) on stdout, with the same keys as bench/gpu/torch_sdpa.py:
//   {"impl":"lemma","op":"fwd","dtype":"bf16","causal":false,"B":32,"H":16,"N":512,"D":128,
//    "ms":..., "tflops":..., "device":"..."}
// Progress and a table go to stderr. Without a usable GPU: prints why, exits 0.
// Decode shapes (the split-KV path, cuda/attention/flash_split.cu), after the table: B = 1,
// (Hq, Hkv) in {(1, 1), (8, 1)}, Nq in {1, 16}, Nk in {16k, 64k, 256k}, D = 128, non-causal,
// fp16 / bf16 / fp32. Each is timed on the automatic path (attention_forward_cuda; "chunks" = the
// key chunks it used, 0 = the regular grid) and on the regular grid forced
// (attention_forward_cuda_split, chunk -1), with the achieved bandwidth: bytes of K and V
// (2 B Hkv Nk D x element size) / time. One JSON line each, as bench/gpu/torch_sdpa.py's:
//   {"impl":"lemma","op":"decode","path":"auto","chunks":54,"dtype":"bf16","causal":false,"B":1,
//    "Hq":8,"Hkv":1,"Nq":16,"Nk":65536,"D":128,"ms":...,"gbps":...,"device":"..."}
// Usage: build-cuda/attention_cuda_bench [--quick] [--reps 10] [--decode-only | --no-decode]
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "attention/attention.h"
#include "attention/attention_cuda.h"
#include "core/cuda_info.h"

using namespace lemma;

namespace {

struct Config {
  CudaPrecision pr;
  int64_t N, D;
  bool causal;
};

const char* dtype_key(CudaPrecision pr) {
  switch (pr) {
    case CudaPrecision::kBf16: return "bf16";
    case CudaPrecision::kFp16: return "fp16";
    case CudaPrecision::kTf32: return "tf32";
    case CudaPrecision::kFp32: return "fp32";
  }
  return "?";
}

DeviceDtype storage(CudaPrecision pr) {
  return pr == CudaPrecision::kBf16 ? DeviceDtype::kBF16 : pr == CudaPrecision::kFp16 ? DeviceDtype::kF16 : DeviceDtype::kF32;
}

double median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

bool check(const Status& st, const char* what) {
  if (st.ok()) return true;
  std::fprintf(stderr, "attention_cuda_bench: %s failed: %s %s\n", what, code_name(st.code), st.message.c_str());
  return false;
}

// Fills a host buffer with uniform(-sqrt(3), sqrt(3)) values (unit variance), xorshift64*.
void fill_random(std::vector<float>& h, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (float& v : h) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    const uint64_t r = x * 0x2545F4914F6CDD1Dull;
    v = static_cast<float>((static_cast<double>(r >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0) * 1.7320508075688772);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, decode = true, table_shapes = true;
  int reps = 10;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    else if (std::strcmp(argv[i], "--decode-only") == 0) table_shapes = false;
    else if (std::strcmp(argv[i], "--no-decode") == 0) decode = false;
    else if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = std::max(3, std::atoi(argv[++i]));
  }
  const CudaInfo info = cuda_info();
  if (!info.compiled || info.device_count == 0) {
    std::fprintf(stderr, "attention_cuda_bench: skipped, no usable GPU: %s\n",
                 info.compiled ? info.error.c_str() : "CUDA support was not compiled in");
    return 0;
  }
  const std::string device = info.devices.empty() ? std::string("?") : info.devices[0].name;
  std::fprintf(stderr, "attention_cuda_bench on %s (sm_%d%d), driver %d, runtime %d\n", device.c_str(),
               info.devices.empty() ? 0 : info.devices[0].major, info.devices.empty() ? 0 : info.devices[0].minor,
               info.driver_version, info.runtime_version);

  std::vector<Config> configs;
  if (table_shapes) {
    const std::vector<int64_t> Ns =
        quick ? std::vector<int64_t>{1024, 4096} : std::vector<int64_t>{512, 1024, 2048, 4096, 8192, 16384};
    for (CudaPrecision pr : {CudaPrecision::kBf16, CudaPrecision::kFp16})
      for (int64_t D : {64, 128})
        for (bool causal : {false, true})
          for (int64_t N : Ns) configs.push_back({pr, N, D, causal});
    configs.push_back({CudaPrecision::kTf32, 4096, 128, false});
    configs.push_back({CudaPrecision::kFp32, 4096, 128, false});
  }

  const int64_t kTotal = 16384 * 2048;  // B*N*H*D, the same for every configuration (and Hkv*Nk*D of
                                        // the largest decode shape)
  void* s = nullptr;
  if (!check(cuda_stream_create(&s), "cuda_stream_create")) return 1;
  struct Buf {
    void* p = nullptr;
    ~Buf() {
      if (p) cuda_free(p);
    }
  } q, k, v, o, dout, dq, dk, dv, lse;
  const size_t max_bytes = static_cast<size_t>(kTotal) * 4;  // room for fp32 storage
  for (Buf* b : {&q, &k, &v, &o, &dout, &dq, &dk, &dv})
    if (!check(cuda_alloc(&b->p, max_bytes), "cuda_alloc")) return 1;
  if (!check(cuda_alloc(&lse.p, static_cast<size_t>(16384) * 32 * 4), "cuda_alloc")) return 1;

  std::vector<float> host(static_cast<size_t>(kTotal));
  DeviceDtype loaded = DeviceDtype::kF32;
  bool have = false;
  // Random inputs in dtype dt in q, k, v, dout (uploaded again only when the dtype changes).
  auto ensure_inputs = [&](DeviceDtype dt) {
    if (have && dt == loaded) return true;
    uint64_t seed = 1;
    for (Buf* b : {&q, &k, &v, &dout}) {
      fill_random(host, seed++);
      if (!check(cuda_upload(b->p, host.data(), host.size() * 4, dt, false, s), "cuda_upload")) return false;
    }
    loaded = dt;
    have = true;
    return true;
  };
  // Median of reps timed runs after 3 warm-ups.
  auto time_it = [&](const std::function<Status()>& f, double* ms) {
    for (int w = 0; w < 3; ++w)
      if (!check(f(), "warm-up")) return false;
    if (!check(cuda_stream_sync(s), "warm-up sync")) return false;
    std::vector<float> t;
    for (int r = 0; r < reps; ++r) {
      float m = 0;
      if (!check(cuda_time_ms(s, f, &m), "timed run")) return false;
      t.push_back(m);
    }
    *ms = median(t);
    return true;
  };
  struct Row {
    std::string label;
    double fwd, bwd, bwd_det;
  };
  std::vector<Row> table;
  for (const Config& c : configs) {
    const DeviceDtype dt = storage(c.pr);
    if (!ensure_inputs(dt)) return 1;
    AttentionParams p;
    p.B = 16384 / c.N;
    p.Hq = p.Hkv = 2048 / c.D;
    p.Nq = p.Nk = c.N;
    p.D = c.D;
    p.scale = 1.0 / std::sqrt(double(c.D));
    p.causal = c.causal;
    const double flops = 4.0 * p.B * p.Hq * double(c.N) * double(c.N) * c.D / (c.causal ? 2.0 : 1.0);
    auto fwd = [&]() { return attention_forward_cuda(p, c.pr, dt, q.p, k.p, v.p, o.p, static_cast<float*>(lse.p), s); };
    auto bwd = [&]() {
      return attention_backward_cuda(p, c.pr, dt, q.p, k.p, v.p, o.p, static_cast<const float*>(lse.p), dout.p, dq.p,
                                     dk.p, dv.p, s);
    };
    double ms_f = 0, ms_b = 0, ms_bd = 0;
    if (!time_it(fwd, &ms_f)) return 1;  // also leaves o, lse from this configuration for backward
    p.deterministic = false;
    if (!time_it(bwd, &ms_b)) return 1;
    p.deterministic = true;
    if (!time_it(bwd, &ms_bd)) return 1;
    const struct {
      const char* op;
      double ms, fl;
    } ops[] = {{"fwd", ms_f, flops}, {"bwd", ms_b, 2.5 * flops}, {"bwd_det", ms_bd, 2.5 * flops}};
    for (const auto& r : ops)
      std::printf(
          "{\"impl\":\"lemma\",\"op\":\"%s\",\"dtype\":\"%s\",\"causal\":%s,\"B\":%lld,\"H\":%lld,\"N\":%lld,"
          "\"D\":%lld,\"ms\":%.4f,\"tflops\":%.2f,\"device\":\"%s\"}\n",
          r.op, dtype_key(c.pr), c.causal ? "true" : "false", (long long)p.B, (long long)p.Hq, (long long)c.N,
          (long long)c.D, r.ms, r.fl / (r.ms * 1e-3) / 1e12, device.c_str());
    std::fflush(stdout);
    char label[96];
    std::snprintf(label, sizeof label, "%s D=%lld N=%5lld %s", dtype_key(c.pr), (long long)c.D, (long long)c.N,
                  c.causal ? "causal" : "      ");
    table.push_back({label, flops / (ms_f * 1e-3) / 1e12, 2.5 * flops / (ms_b * 1e-3) / 1e12,
                     2.5 * flops / (ms_bd * 1e-3) / 1e12});
    std::fprintf(stderr, "%-32s fwd %7.1f  bwd %7.1f  bwd_det %7.1f TFLOP/s\n", label, table.back().fwd,
                 table.back().bwd, table.back().bwd_det);
  }

  // Decode shapes: the automatic path (split-KV) against the regular grid, in GB/s of K and V.
  if (decode) {
    for (CudaPrecision pr : {CudaPrecision::kFp16, CudaPrecision::kBf16, CudaPrecision::kFp32})
      for (int64_t Hq : {1, 8})
        for (int64_t Nq : {1, 16})
          for (int64_t Nk : {16384, 65536, 262144}) {
            const DeviceDtype dt = storage(pr);
            if (!ensure_inputs(dt)) return 1;
            AttentionParams p;
            p.B = 1;
            p.Hq = Hq;
            p.Hkv = 1;
            p.Nq = Nq;
            p.Nk = Nk;
            p.D = 128;
            p.scale = 1.0 / std::sqrt(128.0);
            const int64_t chunks = attention_cuda_split_plan(p);
            const double bytes = 2.0 * p.B * p.Hkv * double(Nk) * p.D * double(device_dtype_size(dt));
            double ms[2] = {0, 0};
            for (int path = 0; path < 2; ++path) {  // 0: automatic, 1: regular grid
              auto f = [&]() {
                return attention_forward_cuda_split(p, pr, dt, q.p, k.p, v.p, o.p, static_cast<float*>(lse.p),
                                                    path == 0 ? 0 : -1, s);
              };
              if (!time_it(f, &ms[path])) return 1;
              std::printf(
                  "{\"impl\":\"lemma\",\"op\":\"decode\",\"path\":\"%s\",\"chunks\":%lld,\"dtype\":\"%s\","
                  "\"causal\":false,\"B\":1,\"Hq\":%lld,\"Hkv\":1,\"Nq\":%lld,\"Nk\":%lld,\"D\":128,\"ms\":%.4f,"
                  "\"gbps\":%.1f,\"device\":\"%s\"}\n",
                  path == 0 ? "auto" : "regular", path == 0 ? (long long)chunks : 0LL, dtype_key(pr), (long long)Hq,
                  (long long)Nq, (long long)Nk, ms[path], bytes / (ms[path] * 1e-3) / 1e9, device.c_str());
              std::fflush(stdout);
            }
            std::fprintf(stderr,
                         "decode %s Hq=%lld Hkv=1 Nq=%2lld Nk=%6lld: auto (%3lld chunks) %8.4f ms %7.1f GB/s | regular "
                         "%8.4f ms %7.1f GB/s | %5.2fx\n",
                         dtype_key(pr), (long long)Hq, (long long)Nq, (long long)Nk, (long long)chunks, ms[0],
                         bytes / (ms[0] * 1e-3) / 1e9, ms[1], bytes / (ms[1] * 1e-3) / 1e9, ms[1] / ms[0]);
          }
  }
  cuda_stream_destroy(s);
  return 0;
}
