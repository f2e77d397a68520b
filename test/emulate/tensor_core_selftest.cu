// tensor_core_selftest: checks the emulated device's tensor-core tables against a real GPU.
// One warp runs, on fixed data, one mma of each kind lemma uses (m16n8k16 f16, m16n8k16 bf16,
// m16n8k8 tf32, fp32 accumulators) and one ldmatrix .x4 and .x4.trans, and prints every output
// register of every lane in hex (160 lines). The same source is compiled by nvcc (the CUDA
// build: the hardware answers) and by the host compiler (LEMMA_CUDA=EMULATE: cuda/emulate/
// answers). Checks:
//   math    the registers equal the mathematically expected ones, computed here on the host from
//           the logical matrices with this file's own fragment packing (PTX ISA tables, read
//           independently of cuda/emulate/device.cc). The data are small integers and dyadics,
//           so every product and partial sum is exact in fp32: any summation order, the
//           hardware's included, gives the same bits, and a difference means a layout error.
//   golden  the registers equal the committed test/emulate/tensor_core_selftest.golden, which the
//           emulated build wrote (--write) and CI re-checks (emulated: golden == emulator ==
//           math, so the golden is not circular). On a GPU (scripts/gpu-bundle/run.sh ->
//           selftest.txt) golden == hardware says the emulator's fragment tables are the
//           hardware's; a mismatch names the operation, lane and register.
// Build: emulated: ninja -C build-emu tensor_core_selftest; CUDA: part of the nvcc build (build-gpu/).
// Run:   tensor_core_selftest [--golden FILE] [--write FILE] [--quiet]
//        (default golden: the source tree's copy). Without a usable CUDA device (or one below
//        sm_80) it prints why and exits 0. Exit 0 iff every check ran passed.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/launch.cuh"
#include "common/mma.cuh"

#ifndef LEMMA_SELFTEST_GOLDEN
#define LEMMA_SELFTEST_GOLDEN ""
#endif

namespace {

constexpr int kOps = 5;  // mma f16, mma bf16, mma tf32, ldmatrix x4, ldmatrix x4.trans
const char* const kOpNames[kOps] = {"mma.m16n8k16.f16", "mma.m16n8k16.bf16", "mma.m16n8k8.tf32", "ldmatrix.x4",
                                    "ldmatrix.x4.trans"};
constexpr int kTileRows = 32, kTileStride = 16;  // ldmatrix tile, b16 elements
struct alignas(16) Tile {  // ldmatrix rows must be 16-byte aligned
  uint16_t e[kTileRows * kTileStride];
};

// in: per op and lane 10 words (c0..c3, a0..a3, b0, b1) for the three mma; the ldmatrix tile
// and per-lane element offsets. out: [op][lane][4].
__global__ void selftest_kernel(const uint32_t* in, const uint16_t* tile_g, const int* offset, uint32_t* out) {
  LEMMA_SHARED(Tile, tile);
  const int lane = threadIdx.x;
  for (int i = lane; i < kTileRows * kTileStride; i += 32) tile.e[i] = tile_g[i];
  __syncthreads();
  for (int op = 0; op < 3; ++op) {
    const uint32_t* r = in + (op * 32 + lane) * 10;
    float c[4] = {__uint_as_float(r[0]), __uint_as_float(r[1]), __uint_as_float(r[2]), __uint_as_float(r[3])};
    const uint32_t a[4] = {r[4], r[5], r[6], r[7]};
    if (op == 0) lemma::cuda::mma_m16n8k16_f16(c, a, r[8], r[9]);
    else if (op == 1) lemma::cuda::mma_m16n8k16_bf16(c, a, r[8], r[9]);
    else lemma::cuda::mma_m16n8k8_tf32(c, a, r[8], r[9]);
    for (int i = 0; i < 4; ++i) out[(op * 32 + lane) * 4 + i] = __float_as_uint(c[i]);
  }
  uint32_t x[4], y[4];
  lemma::cuda::ldmatrix_x4(x, tile.e + offset[lane]);
  lemma::cuda::ldmatrix_x4_trans(y, tile.e + offset[lane]);
  for (int i = 0; i < 4; ++i) {
    out[(3 * 32 + lane) * 4 + i] = x[i];
    out[(4 * 32 + lane) * 4 + i] = y[i];
  }
}

uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

[[noreturn]] void inexact(const char* what, double v) {
  std::fprintf(stderr, "tensor_core_selftest: %s: %.17g is not exact\n", what, v);
  std::exit(2);
}
// binary16 bits of an exactly representable normal value (or zero).
uint32_t half_bits(double v) {
  if (v == 0) return 0;
  int e = 0;
  const double m = std::frexp(std::fabs(v), &e);
  const int biased = e + 14;
  const double f = m * 2048.0;
  if (biased < 1 || biased > 30 || f != std::floor(f)) inexact("half", v);
  return (v < 0 ? 0x8000u : 0u) | unsigned(biased) << 10 | (unsigned(f) - 1024u);
}
uint32_t bf16_bits(double v) {
  const uint32_t u = f32_bits(float(v));
  if (double(float(v)) != v || (u & 0xffffu) != 0) inexact("bf16", v);
  return u >> 16;
}
uint32_t tf32_bits(double v) {
  const uint32_t u = f32_bits(float(v));
  if (double(float(v)) != v || (u & 0x1fffu) != 0) inexact("tf32", v);
  return u;
}

// The logical operands of mma op (0 f16, 1 bf16, 2 tf32): A 16 x K, B K x 8, C 16 x 8; signed
// small integers and quarters, all distinct enough that a misplaced element changes the result.
struct Mats {
  int K;
  double A[16][16], B[16][8], C[16][8];
};
Mats operands(int op) {
  Mats m{};
  m.K = op == 2 ? 8 : 16;
  for (int r = 0; r < 16; ++r)
    for (int k = 0; k < m.K; ++k) m.A[r][k] = ((r * m.K + k) * 37 % 256 - 128) * 0.25;  // -32 .. 31.75
  for (int k = 0; k < m.K; ++k)
    for (int n = 0; n < 8; ++n) m.B[k][n] = (k * 8 + n) * 19 % 61 - 30;  // -30 .. 30
  for (int r = 0; r < 16; ++r)
    for (int n = 0; n < 8; ++n) m.C[r][n] = (r * 8 + n) * 0.5 - 20.0 + op;
  return m;
}

// PTX fragment tables (lane = 4 g + t):
//   m16n8k16 A (.f16 / .bf16, a0..a7, two per register, low half first): row g for i in {0,1,4,5},
//     g + 8 otherwise; col 2t + (i & 1), + 8 for i >= 4.  B (b0..b3): row 2t + (i & 1), + 8 for
//     i >= 2; col g.
//   m16n8k8 .tf32: A a0..a3: row g (a0, a2) / g + 8 (a1, a3); col t (a0, a1) / t + 4 (a2, a3).
//     B b0, b1: row t / t + 4; col g.
//   C / D (.f32): c0..c3: row g (c0, c1) / g + 8 (c2, c3); col 2t + (i & 1).
void pack(int op, const Mats& m, uint32_t* r /* [32][10] */) {
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    uint32_t* w = r + 10 * lane;
    for (int i = 0; i < 4; ++i) w[i] = f32_bits(float(m.C[g + (i >= 2 ? 8 : 0)][2 * t + (i & 1)]));
    if (op == 2) {
      w[4] = tf32_bits(m.A[g][t]);
      w[5] = tf32_bits(m.A[g + 8][t]);
      w[6] = tf32_bits(m.A[g][t + 4]);
      w[7] = tf32_bits(m.A[g + 8][t + 4]);
      w[8] = tf32_bits(m.B[t][g]);
      w[9] = tf32_bits(m.B[t + 4][g]);
      continue;
    }
    auto enc = [&](double v) { return op == 0 ? half_bits(v) : bf16_bits(v); };
    for (int j = 4; j < 10; ++j) w[j] = 0;
    for (int i = 0; i < 8; ++i) {
      const int row = (i < 2 || (i >= 4 && i < 6)) ? g : g + 8, col = 2 * t + (i & 1) + (i >= 4 ? 8 : 0);
      w[4 + i / 2] |= enc(m.A[row][col]) << (16 * (i & 1));
    }
    for (int i = 0; i < 4; ++i) w[8 + i / 2] |= enc(m.B[2 * t + (i & 1) + (i >= 2 ? 8 : 0)][g]) << (16 * (i & 1));
  }
}

// Lane l points at tile row (13 l + 5) mod 32, column block 8 ((l / 4) mod 2); element (r, c)
// holds its code r << 8 | c. ldmatrix .x4: lane i supplies row i % 8 of matrix i / 8; register
// j of lane 4 g + t holds matrix j's (g, 2t), (g, 2t + 1) (.trans: (2t, g), (2t + 1, g)).
int lane_row(int l) { return (13 * l + 5) % 32; }
int lane_col(int l) { return 8 * ((l / 4) % 2); }
uint32_t tile_code(int r, int c) { return uint32_t(r << 8 | c); }
uint32_t matrix_elem(int m, int q, int c) { return tile_code(lane_row(8 * m + q), lane_col(8 * m + q) + c); }

std::vector<uint32_t> expected() {
  std::vector<uint32_t> e(size_t(kOps) * 128);
  for (int op = 0; op < 3; ++op) {
    const Mats m = operands(op);
    for (int lane = 0; lane < 32; ++lane)
      for (int i = 0; i < 4; ++i) {
        const int g = lane / 4, t = lane % 4, row = g + (i >= 2 ? 8 : 0), col = 2 * t + (i & 1);
        double s = m.C[row][col];
        for (int k = 0; k < m.K; ++k) s += m.A[row][k] * m.B[k][col];
        if (double(float(s)) != s) inexact("fp32 result", s);
        e[size_t((op * 32 + lane) * 4 + i)] = f32_bits(float(s));
      }
  }
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    for (int j = 0; j < 4; ++j) {
      e[size_t((3 * 32 + lane) * 4 + j)] = matrix_elem(j, g, 2 * t) | matrix_elem(j, g, 2 * t + 1) << 16;
      e[size_t((4 * 32 + lane) * 4 + j)] = matrix_elem(j, 2 * t, g) | matrix_elem(j, 2 * t + 1, g) << 16;
    }
  }
  return e;
}

std::string line_of(int op, int lane, const uint32_t* r) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%s lane %02d: %08x %08x %08x %08x", kOpNames[op], lane, r[0], r[1], r[2], r[3]);
  return buf;
}
std::vector<std::string> lines_of(const std::vector<uint32_t>& regs) {
  std::vector<std::string> l;
  for (int op = 0; op < kOps; ++op)
    for (int lane = 0; lane < 32; ++lane) l.push_back(line_of(op, lane, &regs[size_t((op * 32 + lane) * 4)]));
  return l;
}

// Lines of `want` that `got` does not reproduce (at most 12 shown).
int compare(const char* what, const std::vector<std::string>& got, const std::vector<std::string>& want) {
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const std::string w = i < want.size() ? want[i] : "(missing)";
    if (got[i] == w) continue;
    if (bad++ < 12) std::printf("  %s differs:\n    got  %s\n    want %s\n", what, got[i].c_str(), w.c_str());
  }
  if (want.size() != got.size()) ++bad;
  return bad;
}

bool cuda_ok(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return true;
  std::printf("FAIL %s: %s (%s)\n", what, cudaGetErrorName(e), cudaGetErrorString(e));
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::string golden = LEMMA_SELFTEST_GOLDEN, write;
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--golden") == 0 && i + 1 < argc) golden = argv[++i];
    else if (std::strcmp(argv[i], "--write") == 0 && i + 1 < argc) write = argv[++i];
    else if (std::strcmp(argv[i], "--quiet") == 0) quiet = true;
    else {
      std::fprintf(stderr, "usage: tensor_core_selftest [--golden FILE] [--write FILE] [--quiet]\n");
      return 2;
    }
  }
  int count = 0;
  const cudaError_t ce = cudaGetDeviceCount(&count);
  if (ce != cudaSuccess || count == 0) {
    std::printf("tensor-core self-test skipped: no CUDA device (%s)\n0 passed, 0 failed, 1 skipped\n",
                ce != cudaSuccess ? cudaGetErrorString(ce) : "cudaGetDeviceCount reported 0");
    return 0;
  }
  cudaDeviceProp prop{};
  if (!cuda_ok(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties")) return 1;
  if (prop.major < 8) {
    std::printf("tensor-core self-test skipped: %s is sm_%d%d; mma.m16n8k16 bf16 / tf32 need sm_80\n"
                "0 passed, 0 failed, 1 skipped\n", prop.name, prop.major, prop.minor);
    return 0;
  }
  std::printf("tensor-core self-test on %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);

  std::vector<uint32_t> in(3 * 320);
  for (int op = 0; op < 3; ++op) pack(op, operands(op), in.data() + op * 320);
  std::vector<uint16_t> tile(kTileRows * kTileStride);
  for (int r = 0; r < kTileRows; ++r)
    for (int c = 0; c < kTileStride; ++c) tile[size_t(r * kTileStride + c)] = uint16_t(tile_code(r, c));
  std::vector<int> offset(32);
  for (int l = 0; l < 32; ++l) offset[size_t(l)] = lane_row(l) * kTileStride + lane_col(l);

  uint32_t* d_in = nullptr;
  uint16_t* d_tile = nullptr;
  int* d_off = nullptr;
  uint32_t* d_out = nullptr;
  std::vector<uint32_t> out(size_t(kOps) * 128, 0xdeadbeefu);
  const bool ran =
      cuda_ok(cudaMalloc(reinterpret_cast<void**>(&d_in), in.size() * 4), "cudaMalloc") &&
      cuda_ok(cudaMalloc(reinterpret_cast<void**>(&d_tile), tile.size() * 2), "cudaMalloc") &&
      cuda_ok(cudaMalloc(reinterpret_cast<void**>(&d_off), offset.size() * 4), "cudaMalloc") &&
      cuda_ok(cudaMalloc(reinterpret_cast<void**>(&d_out), out.size() * 4), "cudaMalloc") &&
      cuda_ok(cudaMemcpy(d_in, in.data(), in.size() * 4, cudaMemcpyHostToDevice), "cudaMemcpy") &&
      cuda_ok(cudaMemcpy(d_tile, tile.data(), tile.size() * 2, cudaMemcpyHostToDevice), "cudaMemcpy") &&
      cuda_ok(cudaMemcpy(d_off, offset.data(), offset.size() * 4, cudaMemcpyHostToDevice), "cudaMemcpy") &&
      cuda_ok(cudaMemset(d_out, 0xee, out.size() * 4), "cudaMemset") &&
      [&] {
        LEMMA_LAUNCH(selftest_kernel, dim3(1), dim3(32))(d_in, d_tile, d_off, d_out);
        return cuda_ok(cudaGetLastError(), "launch");
      }() &&
      cuda_ok(cudaDeviceSynchronize(), "kernel") &&
      cuda_ok(cudaMemcpy(out.data(), d_out, out.size() * 4, cudaMemcpyDeviceToHost), "cudaMemcpy");
  cudaFree(d_in);
  cudaFree(d_tile);
  cudaFree(d_off);
  cudaFree(d_out);
  if (!ran) {
    std::printf("0 passed, 1 failed\n");
    return 1;
  }

  const std::vector<std::string> got = lines_of(out);
  if (!quiet)
    for (const std::string& l : got) std::printf("%s\n", l.c_str());
  int passed = 0, failed = 0;
  const int math_bad = compare("vs the expected math", got, lines_of(expected()));
  std::printf("%s math: %s\n", math_bad ? "FAIL" : "ok  ",
              math_bad ? "registers differ from the values computed on the host (see above)"
                       : "every register equals the value computed on the host from the PTX fragment tables");
  (math_bad ? failed : passed)++;
  if (!write.empty() && math_bad) {
    std::printf("FAIL not writing %s: the registers are not the expected math\n", write.c_str());
    ++failed;
  } else if (!write.empty()) {
    FILE* f = std::fopen(write.c_str(), "w");
    if (f == nullptr) {
      std::printf("FAIL cannot write %s\n", write.c_str());
      ++failed;
    } else {
      std::fprintf(f, "# tensor_core_selftest golden: the registers of test/emulate/tensor_core_selftest.cu, one line per op\n"
                      "# and lane (written by the emulated build with --write; a real GPU must reproduce it).\n");
      for (const std::string& l : got) std::fprintf(f, "%s\n", l.c_str());
      std::fclose(f);
      std::printf("wrote %s\n", write.c_str());
    }
  } else if (!golden.empty()) {
    std::vector<std::string> want;
    if (FILE* f = std::fopen(golden.c_str(), "r")) {
      char buf[256];
      while (std::fgets(buf, sizeof buf, f) != nullptr) {
        std::string l(buf);
        while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) l.pop_back();
        if (!l.empty() && l[0] != '#') want.push_back(l);
      }
      std::fclose(f);
      const int bad = compare("vs the golden file", got, want);
      std::printf("%s golden: %s (%s)\n", bad ? "FAIL" : "ok  ",
                  bad ? "registers differ from the golden file" : "every register equals the golden file",
                  golden.c_str());
      (bad ? failed : passed)++;
    } else {
      std::printf("FAIL golden: cannot read %s\n", golden.c_str());
      ++failed;
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
