// emulator_test: the emulated CUDA device (cuda/emulate/) tested on its own, before it is trusted
// to test lemma's kernels. Every expectation here is written from the PTX ISA and the CUDA
// programming guide, never from device.cc:
//   primitives  mma m16n8k16 (f16, bf16) and m16n8k8 (tf32) on one-hot and index-valued
//               matrices (exact small integers and dyadics: results compare bit for bit), packed
//               into registers by this file's own reading of the PTX fragment tables ("Matrix
//               fragments for mma.m16n8k16 / m16n8k8"), with non-zero accumulators; ldmatrix .x4
//               and .x4.trans on tiles whose elements are their own (row, col) codes, from the
//               standard A-operand addresses and from scattered rows; shuffles (idx / up / down /
//               xor, widths 2..32, 32- and 64-bit values, the shfl.sync clamping rules); ballot /
//               any / all; __syncthreads_count / _and / _or; cp.async (zero fill, data only after
//               the wait, 0xFF bytes before it, wait_group N); fresh memory reads as 0xFF bytes.
//   checkers    each fires as a device fault (sticky error from cudaDeviceSynchronize and
//               cudaGetLastError, emu::fault_message() names it, stderr reports it, emu::reset()
//               clears it): barriers at two call sites, after threads exited, deadlocked; lanes
//               at different collectives, partial masks, collectives with exited lanes;
//               misaligned ldmatrix / cp.async; TF32 operands with low bits set; static +
//               dynamic shared memory over the opt-in limit; exiting with cp.async pending.
//               Launch errors (not sticky): > 48 KiB dynamic smem without the attribute
//               (cudaErrorInvalidValue), grid.y = 65536, 1025 threads, block.z = 65
//               (cudaErrorInvalidConfiguration).
//   runtime     copies / memsets outside an allocation, cudaFree of unknown pointers, the
//               allocation-failure injector, injected sticky faults, the memory capacity
//               (LEMMA_EMULATE_MEMORY_MB), the per-architecture shared-memory limits
//               (LEMMA_EMULATE_ARCH 8.0 / 8.6 / 9.0), stream semantics made deterministic with
//               host functions that hold a stream until the test releases it (a device-to-host
//               copy does not land before the stream gets there; pageable host-to-device copies
//               are staged; legacy / blocking / non-blocking ordering; cudaStreamWaitEvent;
//               events and cudaEventElapsedTime; cudaLaunchHostFunc order).
//   scheduling  the environment is read once per process, so the policy checks run this
//               executable again as child processes: under every LEMMA_EMU_POLICY and block
//               order the primitives and a multi-warp, multi-block reduction / scan give the
//               same, correct answers, and a planted shared-memory race (a missing
//               __syncthreads) gives a wrong answer under at least one of ahead / behind (in a
//               LEMMA_SANITIZE=thread build: ThreadSanitizer reports it, even under lockstep).
// This process keeps the environment it is given (e.g. LEMMA_EMULATE_ARCH from a CI loop: the
// limits it checks are queried); children start clean plus what they test. A watchdog turns a
// hang (a stream that never drains) into a failure.
// Built only with LEMMA_CUDA=EMULATE (also with LEMMA_SANITIZE=thread | address):
//   cmake -S . -B build-emu -DLEMMA_CUDA=EMULATE -G Ninja && ninja -C build-emu emulator_test
//   build-emu/emulator_test [--verbose]      (ends with "N passed, M failed"; exit 0 iff M == 0)
//   About 1 s (TSan build: about 55 s, ASan: 5 s).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/launch.cuh"
#include "common/mma.cuh"
#include "emulate/control.h"

using namespace lemma::cuda;

namespace {

// ---- the harness -------------------------------------------------------------------------------
#if defined(__SANITIZE_THREAD__)
constexpr bool kTsan = true;  // ThreadSanitizer reports the planted race (and halts the child)
#else
constexpr bool kTsan = false;
#endif
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;  // instrumented: many times slower
#else
constexpr bool kSanitized = false;
#endif
int g_pass = 0, g_fail = 0;
bool g_verbose = false;
const char* g_prefix = "";  // a child process names its configuration

void check(bool ok, const std::string& name, const std::string& detail = "") {
  if (ok) {
    ++g_pass;
    std::printf("ok   %s%s\n", g_prefix, name.c_str());
  } else {
    ++g_fail;
    std::printf("FAIL %s%s%s%s\n", g_prefix, name.c_str(), detail.empty() ? "" : ": ", detail.c_str());
  }
  std::fflush(stdout);
}

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

std::string err_name(cudaError_t e) { return cudaGetErrorName(e); }

// A CUDA call that must succeed; the failure is reported once, as part of `what`.
#define CK(x)                                                                                   \
  do {                                                                                          \
    const cudaError_t ck_ = (x);                                                                \
    if (ck_ != cudaSuccess) {                                                                   \
      check(false, std::string("call ") + #x, err_name(ck_) + " at line " + std::to_string(__LINE__)); \
      cudaGetLastError();                                                                       \
    }                                                                                           \
  } while (0)

template <class T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  explicit Dev(size_t count) : n(count) { CK(cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(T))); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  ~Dev() { cudaFree(p); }
  void put(const std::vector<T>& h) { CK(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice)); }
  std::vector<T> get() const {
    std::vector<T> h(n);
    CK(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }
};

uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Captures what the process writes to stderr (fd 2, any thread: the stream workers print faults).
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    saved_ = dup(2);
    file_ = std::tmpfile();
    if (saved_ >= 0 && file_ != nullptr) dup2(fileno(file_), 2);
  }
  std::string finish() {
    if (done_) return text_;
    done_ = true;
    std::fflush(stderr);
    if (saved_ >= 0) {
      dup2(saved_, 2);
      close(saved_);
    }
    if (file_ != nullptr) {
      std::rewind(file_);
      char buf[4096];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, file_)) > 0) text_.append(buf, n);
      std::fclose(file_);
    }
    if (g_verbose && !text_.empty()) std::printf("     (stderr) %s", text_.c_str());
    return text_;
  }
  ~StderrCapture() { finish(); }

 private:
  int saved_ = -1;
  FILE* file_ = nullptr;
  bool done_ = false;
  std::string text_;
};

bool contains(const std::string& s, const char* needle) { return s.find(needle) != std::string::npos; }

// A hang (a stream that never drains, a missed wake-up) fails the run instead of stalling CI.
void watchdog(unsigned seconds) {
  signal(SIGALRM, [](int) {
    const char msg[] = "FAIL emulator_test: watchdog: no progress, the run hung\n0 passed, 1 failed\n";
    (void)!write(1, msg, sizeof msg - 1);
    _exit(1);
  });
  alarm(seconds);
}

// ---- exact encodings (this file's own, not the toolkit's conversions) -------------------------
[[noreturn]] void die(const char* what, double v) {
  std::fprintf(stderr, "emulator_test: %s: %.17g is not exact\n", what, v);
  std::exit(2);
}
// IEEE binary16 bits of v, which must be zero or an exactly representable normal half.
uint16_t half_bits(double v) {
  if (v == 0) return std::signbit(v) ? 0x8000u : 0u;
  int e = 0;
  const double m = std::frexp(std::fabs(v), &e);  // |v| = m 2^e, m in [0.5, 1)
  const int biased = e - 1 + 15;
  const double f = m * 2048.0;  // 11 significant bits
  if (biased < 1 || biased > 30 || f != std::floor(f)) die("half", v);
  return uint16_t((v < 0 ? 0x8000u : 0u) | unsigned(biased) << 10 | (unsigned(f) - 1024u));
}
// bfloat16: the high half of the binary32 encoding (exact values only).
uint16_t bf16_bits(double v) {
  const float f = float(v);
  const uint32_t u = f32_bits(f);
  if (double(f) != v || (u & 0xffffu) != 0) die("bf16", v);
  return uint16_t(u >> 16);
}
// TF32 operand: binary32 with the low 13 bits zero.
uint32_t tf32_bits(double v) {
  const float f = float(v);
  const uint32_t u = f32_bits(f);
  if (double(f) != v || (u & 0x1fffu) != 0) die("tf32", v);
  return u;
}

// ---- mma: fragment packing from the PTX ISA tables ---------------------------------------------
// lane = 4 groupID + threadID_in_group (g, t).
// m16n8k16 (.f16 / .bf16): A is four .b32 registers of two elements a0..a7 (low half first):
//   row = g for a_i with 0 <= i < 2 or 4 <= i < 6, g + 8 otherwise;  col = 2t + (i & 1) (+ 8 for i >= 4)
//   B: two registers, b0..b3: row = 2t + (i & 1) (+ 8 for i >= 2), col = g
// m16n8k8 (.tf32): A a0..a3: row = g for a0, a2, g + 8 for a1, a3; col = t for a0, a1, t + 4 for a2, a3
//   B b0, b1: row = t (b0), t + 4 (b1), col = g
// C / D (.f32), both shapes: c0..c3: row = g for c0, c1, g + 8 for c2, c3; col = 2t + (i & 1)
enum Kind { kF16 = 0, kBF16 = 1, kTF32 = 2 };
const char* kind_name(int k) { return k == kF16 ? "f16" : k == kBF16 ? "bf16" : "tf32"; }

struct MmaCase {
  int kind = kF16;
  double A[16][16] = {};  // 16 x K (K = 16, or 8 for tf32)
  double B[16][8] = {};   // K x 8
  double C[16][8] = {};
};
int kdim(int kind) { return kind == kTF32 ? 8 : 16; }

int c_row(int g, int i) { return g + (i >= 2 ? 8 : 0); }
int c_col(int t, int i) { return 2 * t + (i & 1); }

// Per lane: c0..c3 (binary32 bits), a0..a3, b0, b1.
void pack(const MmaCase& m, uint32_t* in /* [32][10] */) {
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    uint32_t* r = in + 10 * lane;
    for (int i = 0; i < 4; ++i) r[i] = f32_bits(float(m.C[c_row(g, i)][c_col(t, i)]));
    if (m.kind == kTF32) {
      for (int i = 0; i < 4; ++i) {
        const int row = (i == 1 || i == 3) ? g + 8 : g, col = i < 2 ? t : t + 4;
        r[4 + i] = tf32_bits(m.A[row][col]);
      }
      r[8] = tf32_bits(m.B[t][g]);
      r[9] = tf32_bits(m.B[t + 4][g]);
    } else {
      auto enc = [&](double v) -> uint32_t { return m.kind == kF16 ? half_bits(v) : bf16_bits(v); };
      uint32_t a[4] = {0, 0, 0, 0}, b[2] = {0, 0};
      for (int i = 0; i < 8; ++i) {
        const int row = (i < 2 || (i >= 4 && i < 6)) ? g : g + 8;
        const int col = 2 * t + (i & 1) + (i >= 4 ? 8 : 0);
        a[i / 2] |= enc(m.A[row][col]) << (16 * (i & 1));
      }
      for (int i = 0; i < 4; ++i) {
        const int row = 2 * t + (i & 1) + (i >= 2 ? 8 : 0);
        b[i / 2] |= enc(m.B[row][g]) << (16 * (i & 1));
      }
      for (int i = 0; i < 4; ++i) r[4 + i] = a[i];
      r[8] = b[0];
      r[9] = b[1];
    }
  }
}

// D = A B + C in fp64 (exact for the values used here), as the registers lane by lane.
void expected_d(const MmaCase& m, uint32_t* out /* [32][4] */) {
  const int K = kdim(m.kind);
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    for (int i = 0; i < 4; ++i) {
      const int row = c_row(g, i), col = c_col(t, i);
      double s = m.C[row][col];
      for (int k = 0; k < K; ++k) s += m.A[row][k] * m.B[k][col];
      if (double(float(s)) != s) die("fp32 result", s);
      out[4 * lane + i] = f32_bits(float(s));
    }
  }
}

// One warp per block, one case per block: in [blocks][32][10], out [blocks][32][4].
__global__ void k_mma(int kind, const uint32_t* in, float* out) {
  const int lane = threadIdx.x;
  const uint32_t* r = in + (size_t(blockIdx.x) * 32 + lane) * 10;
  float c[4] = {__uint_as_float(r[0]), __uint_as_float(r[1]), __uint_as_float(r[2]), __uint_as_float(r[3])};
  const uint32_t a[4] = {r[4], r[5], r[6], r[7]};
  if (kind == kF16) mma_m16n8k16_f16(c, a, r[8], r[9]);
  else if (kind == kBF16) mma_m16n8k16_bf16(c, a, r[8], r[9]);
  else mma_m16n8k8_tf32(c, a, r[8], r[9]);
  float* o = out + (size_t(blockIdx.x) * 32 + lane) * 4;
  for (int i = 0; i < 4; ++i) o[i] = c[i];
}

// Runs every case (one launch) and compares the registers bit for bit; `name` is one check.
void run_mma_cases(const std::string& name, const std::vector<MmaCase>& cases) {
  const size_t n = cases.size();
  std::vector<uint32_t> in(n * 320), want(n * 128);
  for (size_t c = 0; c < n; ++c) {
    pack(cases[c], in.data() + c * 320);
    expected_d(cases[c], want.data() + c * 128);
  }
  Dev<uint32_t> din(in.size());
  Dev<float> dout(want.size());
  din.put(in);
  LEMMA_LAUNCH(k_mma, dim3(unsigned(n)), dim3(32))(cases[0].kind, din.p, dout.p);
  CK(cudaGetLastError());
  const std::vector<float> got = dout.get();
  size_t bad = 0;
  std::string first;
  for (size_t c = 0; c < n; ++c)
    for (int l = 0; l < 32; ++l)
      for (int i = 0; i < 4; ++i) {
        const size_t j = c * 128 + size_t(l) * 4 + size_t(i);
        if (f32_bits(got[j]) != want[j]) {
          if (bad++ == 0)
            first = fmt("case %zu lane %d c%d: got %08x (%g), want %08x (%g)", c, l, i, f32_bits(got[j]), double(got[j]),
                        want[j], double(bits_f32(want[j])));
        }
      }
  check(bad == 0, name, fmt("%zu of %zu registers differ; first: %s", bad, want.size(), first.c_str()));
}

void test_mma() {
  for (int kind : {kF16, kBF16, kTF32}) {
    const int K = kdim(kind);
    const std::string kn = kind_name(kind);
    // A one-hot at (r, k), B index-valued: D row r = B row k, zero elsewhere.
    std::vector<MmaCase> cases;
    for (int r = 0; r < 16; ++r)
      for (int k = 0; k < K; ++k) {
        MmaCase m;
        m.kind = kind;
        m.A[r][k] = 1;
        for (int kk = 0; kk < K; ++kk)
          for (int nn = 0; nn < 8; ++nn) m.B[kk][nn] = kk * 8 + nn + 1;
        cases.push_back(m);
      }
    run_mma_cases("mma " + kn + ": A one-hot at every (row, k), B index-valued", cases);
    // B one-hot at (k, n), A index-valued: D column n = A column k.
    cases.clear();
    for (int k = 0; k < K; ++k)
      for (int n = 0; n < 8; ++n) {
        MmaCase m;
        m.kind = kind;
        m.B[k][n] = 1;
        for (int r = 0; r < 16; ++r)
          for (int kk = 0; kk < K; ++kk) m.A[r][kk] = r * K + kk + 1;
        cases.push_back(m);
      }
    run_mma_cases("mma " + kn + ": B one-hot at every (k, n), A index-valued", cases);
    // A = B = 0, C index-valued: D = C (the accumulator passes through its own layout).
    cases.clear();
    {
      MmaCase m;
      m.kind = kind;
      for (int r = 0; r < 16; ++r)
        for (int n = 0; n < 8; ++n) m.C[r][n] = r * 8 + n - 40.5;
      cases.push_back(m);
    }
    run_mma_cases("mma " + kn + ": zero operands pass C through", cases);
    // Index-valued A, B (signed, with fractions) accumulated into a non-zero C; and a second
    // case with scattered small integers. All exact in fp32, so any summation order agrees.
    cases.clear();
    {
      MmaCase m;
      m.kind = kind;
      for (int r = 0; r < 16; ++r)
        for (int k = 0; k < K; ++k) m.A[r][k] = (r * K + k - 64) * 0.25;
      for (int k = 0; k < K; ++k)
        for (int n = 0; n < 8; ++n) m.B[k][n] = k * 8 + n - 40;
      for (int r = 0; r < 16; ++r)
        for (int n = 0; n < 8; ++n) m.C[r][n] = 1000 + r * 8 + n;
      cases.push_back(m);
      MmaCase q;
      q.kind = kind;
      for (int r = 0; r < 16; ++r)
        for (int k = 0; k < K; ++k) q.A[r][k] = ((r * 31 + k * 7) % 17) - 8;
      for (int k = 0; k < K; ++k)
        for (int n = 0; n < 8; ++n) q.B[k][n] = ((k * 13 + n * 5) % 11) - 5;
      for (int r = 0; r < 16; ++r)
        for (int n = 0; n < 8; ++n) q.C[r][n] = -0.5 * (r * 8 + n);
      cases.push_back(q);
    }
    run_mma_cases("mma " + kn + ": index-valued A, B accumulated into non-zero C", cases);
  }
}

// ---- ldmatrix ----------------------------------------------------------------------------------
// Tile [rows][stride] of b16 codes (row << 8 | col) staged in dynamic shared memory; lane l
// points at (row[l], col[l]). x4: lane i supplies row i % 8 of matrix i / 8; register j of lane
// 4g + t holds matrix j's elements (g, 2t), (g, 2t + 1) (.trans: (2t, g), (2t + 1, g)), low first.
__global__ void k_ldmatrix(const uint16_t* tile_g, int elems, const int* row, const int* col, int stride, int trans,
                           uint32_t* out) {
  LEMMA_DYNAMIC_SMEM(uint16_t, tile);
  for (int i = threadIdx.x; i < elems; i += blockDim.x) tile[i] = tile_g[i];
  __syncthreads();
  const int l = threadIdx.x;
  uint32_t r[4];
  const uint16_t* p = tile + row[l] * stride + col[l];
  if (trans) ldmatrix_x4_trans(r, p);
  else ldmatrix_x4(r, p);
  for (int j = 0; j < 4; ++j) out[4 * l + j] = r[j];
}

void run_ldmatrix(const std::string& name, int rows, int stride, const std::vector<int>& row,
                  const std::vector<int>& col, bool trans) {
  std::vector<uint16_t> tile(size_t(rows * stride));
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < stride; ++c) tile[size_t(r * stride + c)] = uint16_t(r << 8 | c);
  Dev<uint16_t> dt(tile.size());
  Dev<int> dr(32), dc(32);
  Dev<uint32_t> dout(128);
  dt.put(tile);
  dr.put(row);
  dc.put(col);
  LEMMA_LAUNCH(k_ldmatrix, dim3(1), dim3(32), tile.size() * 2)(dt.p, int(tile.size()), dr.p, dc.p, stride,
                                                                 trans ? 1 : 0, dout.p);
  CK(cudaGetLastError());
  const std::vector<uint32_t> got = dout.get();
  // Matrix m, row q starts at the address lane 8 m + q supplied.
  auto elem = [&](int m, int q, int c) -> uint32_t {
    const int lane = 8 * m + q;
    return tile[size_t(row[size_t(lane)] * stride + col[size_t(lane)] + c)];
  };
  int bad = 0;
  std::string first;
  for (int l = 0; l < 32; ++l) {
    const int g = l / 4, t = l % 4;
    for (int j = 0; j < 4; ++j) {
      const uint32_t lo = trans ? elem(j, 2 * t, g) : elem(j, g, 2 * t);
      const uint32_t hi = trans ? elem(j, 2 * t + 1, g) : elem(j, g, 2 * t + 1);
      const uint32_t want = lo | hi << 16;
      if (got[size_t(4 * l + j)] != want && bad++ == 0)
        first = fmt("lane %d r%d: got %08x, want %08x", l, j, got[size_t(4 * l + j)], want);
    }
  }
  check(bad == 0, name, fmt("%d of 128 registers differ; first: %s", bad, first.c_str()));
}

void test_ldmatrix() {
  // The A-operand addresses of a 16 x 16 tile (matrix 0: rows 0-7 cols 0-7, 1: rows 8-15,
  // 2: cols 8-15, 3: both), row pitch 24 elements (48 B).
  std::vector<int> row(32), col(32);
  for (int l = 0; l < 32; ++l) {
    row[size_t(l)] = l % 16;
    col[size_t(l)] = 8 * (l / 16);
  }
  run_ldmatrix("ldmatrix .x4: A-operand addresses of a 16 x 16 tile", 16, 24, row, col, false);
  run_ldmatrix("ldmatrix .x4.trans: A-operand addresses of a 16 x 16 tile", 16, 24, row, col, true);
  // Scattered rows: lane l points at row (13 l + 5) mod 32, column block 8 ((l / 4) mod 2).
  for (int l = 0; l < 32; ++l) {
    row[size_t(l)] = (13 * l + 5) % 32;
    col[size_t(l)] = 8 * ((l / 4) % 2);
  }
  run_ldmatrix("ldmatrix .x4: scattered row addresses", 32, 16, row, col, false);
  run_ldmatrix("ldmatrix .x4.trans: scattered row addresses", 32, 16, row, col, true);
}

// ---- shuffles, votes ---------------------------------------------------------------------------
enum ShflMode { kIdx = 0, kUp = 1, kDown = 2, kXor = 3 };
const char* mode_name(int m) { return m == kIdx ? "idx" : m == kUp ? "up" : m == kDown ? "down" : "xor"; }

// shfl.sync (PTX ISA): b[4:0] is the lane or offset; the CUDA intrinsics pass the segment mask
// (32 - width) << 8 and the clamp 0 (up) or 31 (others), so with a segment [lo, hi]:
//   idx: j = lo | (b & (width - 1));  up: j = lane - b, own value if j < lo;
//   down: j = lane + b, own value if j > hi;  xor: j = lane ^ b, own value if j > hi (a lane
//   may read an EARLIER segment: the programming guide says so for __shfl_xor_sync).
int shfl_source(int mode, int lane, int b, int width) {
  const int lo = lane & ~(width - 1), hi = lo + width - 1, bv = b & 31;
  switch (mode) {
    case kIdx: return lo | (b & (width - 1));
    case kUp: return lane - bv >= lo ? lane - bv : lane;
    case kDown: return lane + bv <= hi ? lane + bv : lane;
    default: return (lane ^ bv) <= hi ? (lane ^ bv) : lane;
  }
}

// arg for lane l: base + mul * l (idx: a source lane; others: an offset or a lane mask).
template <class T>
__global__ void k_shfl(int mode, int base, int mul, int width, const T* in, T* out) {
  const int l = threadIdx.x;
  const T v = in[l];
  const int arg = base + mul * l;
  T r;
  switch (mode) {
    case kIdx: r = __shfl_sync(0xffffffffu, v, arg, width); break;
    case kUp: r = __shfl_up_sync(0xffffffffu, v, unsigned(arg), width); break;
    case kDown: r = __shfl_down_sync(0xffffffffu, v, unsigned(arg), width); break;
    default: r = __shfl_xor_sync(0xffffffffu, v, arg, width); break;
  }
  out[l] = r;
}

template <class T>
T lane_value(int l);
template <>
uint32_t lane_value<uint32_t>(int l) {
  return 0xa5000000u + uint32_t(l) * 0x10101u;
}
template <>
unsigned long long lane_value<unsigned long long>(int l) {
  return (0x1234ull + uint64_t(l)) << 40 | (0xbeef00ull + uint64_t(l) * 3);
}
template <>
double lane_value<double>(int l) {
  return -1.0 / 3.0 * (l + 1);  // every bit of the mantissa in use
}

template <class T>
void run_shfl(const char* tname, int mode, int base, int mul, int width, int& bad, std::string& first) {
  std::vector<T> in(32);
  for (int l = 0; l < 32; ++l) in[size_t(l)] = lane_value<T>(l);
  Dev<T> din(32), dout(32);
  din.put(in);
  LEMMA_LAUNCH((k_shfl<T>), dim3(1), dim3(32))(mode, base, mul, width, din.p, dout.p);
  CK(cudaGetLastError());
  const std::vector<T> got = dout.get();
  for (int l = 0; l < 32; ++l) {
    const int src = shfl_source(mode, l, base + mul * l, width);
    if (std::memcmp(&got[size_t(l)], &in[size_t(src)], sizeof(T)) != 0 && bad++ == 0)
      first = fmt("%s %s width %d arg %d: lane %d did not get lane %d's value", tname, mode_name(mode), width,
                  base + mul * l, l, src);
  }
}

void test_shuffles() {
  struct Arg {
    int mode, base, mul;
  };
  // Offsets and lane masks within and beyond the width (xor into an earlier segment, b >= 32 is
  // taken mod 32), idx with per-lane sources including negative and out-of-segment ones.
  const Arg args[] = {{kIdx, 0, 0},  {kIdx, 5, 0},  {kIdx, 3, 7},  {kIdx, -1, 0}, {kIdx, 40, -3},
                      {kUp, 1, 0},   {kUp, 3, 0},   {kUp, 16, 0},  {kUp, 33, 0},  {kDown, 1, 0},
                      {kDown, 5, 0}, {kDown, 16, 0}, {kDown, 34, 0}, {kXor, 1, 0}, {kXor, 2, 0},
                      {kXor, 7, 0},  {kXor, 8, 0},  {kXor, 16, 0}, {kXor, 31, 0}, {kXor, 33, 0}};
  for (int width : {2, 8, 16, 32}) {
    int bad = 0;
    std::string first;
    for (const Arg& a : args) {
      run_shfl<uint32_t>("u32", a.mode, a.base, a.mul, width, bad, first);
      run_shfl<unsigned long long>("u64", a.mode, a.base, a.mul, width, bad, first);
      run_shfl<double>("f64", a.mode, a.base, a.mul, width, bad, first);
    }
    check(bad == 0, fmt("shuffles idx/up/down/xor, width %d, 32- and 64-bit values", width),
          fmt("%d wrong; first: %s", bad, first.c_str()));
  }
}

__global__ void k_vote(int pattern, unsigned* out) {
  const int l = threadIdx.x;
  int p = 0;
  switch (pattern) {
    case 0: p = l % 3 == 0; break;
    case 1: p = 1; break;
    case 2: p = 0; break;
    case 3: p = l == 17 ? 5 : 0; break;  // any non-zero value counts as true
    default: p = l != 9; break;
  }
  out[3 * l] = __ballot_sync(0xffffffffu, p);
  out[3 * l + 1] = unsigned(__any_sync(0xffffffffu, p));
  out[3 * l + 2] = unsigned(__all_sync(0xffffffffu, p));
}

void test_votes() {
  int bad = 0;
  std::string first;
  for (int pattern = 0; pattern < 5; ++pattern) {
    unsigned want = 0;
    for (int l = 0; l < 32; ++l) {
      bool p = pattern == 0 ? l % 3 == 0 : pattern == 1 ? true : pattern == 2 ? false : pattern == 3 ? l == 17 : l != 9;
      want |= unsigned(p) << l;
    }
    Dev<unsigned> d(96);
    LEMMA_LAUNCH(k_vote, dim3(1), dim3(32))(pattern, d.p);
    const std::vector<unsigned> got = d.get();
    for (int l = 0; l < 32; ++l) {
      const unsigned b = got[size_t(3 * l)], any = got[size_t(3 * l + 1)], all = got[size_t(3 * l + 2)];
      if ((b != want || (any != 0) != (want != 0) || (all != 0) != (want == 0xffffffffu)) && bad++ == 0)
        first = fmt("pattern %d lane %d: ballot %08x any %u all %u, want ballot %08x", pattern, l, b, any, all, want);
    }
  }
  check(bad == 0, "__ballot_sync / __any_sync / __all_sync", first);
}

// ---- block-wide reductions at barriers ---------------------------------------------------------
int pred_of(int round, int t) {
  switch (round % 4) {
    case 0: return t % 5 == 0;
    case 1: return 1;
    case 2: return t == 77 ? 3 : 0;
    default: return t != 42;
  }
}
// Several consecutive barriers: a thread that runs ahead must still read its own round's result.
__global__ void k_sync_reduce(int rounds, int* out) {
  const int t = threadIdx.x, n = blockDim.x;
  for (int r = 0; r < rounds; ++r) {
    const int p = pred_of(r, t);
    const int c = __syncthreads_count(p);
    const int a = __syncthreads_and(p);
    const int o = __syncthreads_or(p);
    int* q = out + (size_t(r) * n + t) * 3;
    q[0] = c;
    q[1] = a;
    q[2] = o;
  }
}

void test_sync_reduce() {
  for (int n : {96, 100, 1024}) {
    const int rounds = 6;
    Dev<int> d(size_t(rounds * n * 3));
    LEMMA_LAUNCH(k_sync_reduce, dim3(1), dim3(unsigned(n)))(rounds, d.p);
    CK(cudaGetLastError());
    const std::vector<int> got = d.get();
    int bad = 0;
    std::string first;
    for (int r = 0; r < rounds; ++r) {
      int cnt = 0, all = 1, any = 0;
      for (int t = 0; t < n; ++t) {
        const int p = pred_of(r, t) != 0;
        cnt += p;
        all &= p;
        any |= p;
      }
      for (int t = 0; t < n; ++t) {
        const int* q = &got[size_t((r * n + t) * 3)];
        if ((q[0] != cnt || (q[1] != 0) != (all != 0) || (q[2] != 0) != (any != 0)) && bad++ == 0)
          first = fmt("round %d thread %d: count %d and %d or %d, want %d %d %d", r, t, q[0], q[1], q[2], cnt, all, any);
      }
    }
    check(bad == 0, fmt("__syncthreads_count / _and / _or, %d threads, %d rounds", n, rounds), first);
  }
}

// ---- cp.async, poisoning ------------------------------------------------------------------------
// 32 threads. Group 1: 16-byte copies into s[4t..4t+3], invalid (zero fill) when t % 4 == 3.
// Group 2: 4-byte copies into s[128 + t], invalid when t is odd. Each thread reads only its own
// destinations: before any wait (0xFF bytes), after wait_group 1 (group 1 landed, group 2 not),
// after wait_group 0. s[200 + t] is never written: fresh shared memory reads as 0xFF bytes.
__global__ void k_cp_async(const uint32_t* g, uint32_t* out) {
  LEMMA_SHARED(uint32_t, s, [256]);
  const int t = threadIdx.x;
  cp_async_16(&s[4 * t], g + 4 * t, t % 4 != 3);
  cp_async_commit();
  cp_async_4(&s[128 + t], g + 128 + t, t % 2 == 0);
  cp_async_commit();
  uint32_t* o = out + 16 * t;
  for (int i = 0; i < 4; ++i) o[i] = s[4 * t + i];
  o[4] = s[128 + t];
  cp_async_wait<1>();
  for (int i = 0; i < 4; ++i) o[5 + i] = s[4 * t + i];
  o[9] = s[128 + t];
  cp_async_wait<0>();
  o[10] = s[128 + t];
  o[11] = s[200 + t];
}

void test_cp_async() {
  std::vector<uint32_t> src(256);
  for (int i = 0; i < 256; ++i) src[size_t(i)] = 0x11000000u + uint32_t(i) * 0x01010101u % 0x00ffffffu;
  Dev<uint32_t> dg(256), dout(32 * 16);
  dg.put(src);
  LEMMA_LAUNCH(k_cp_async, dim3(1), dim3(32))(dg.p, dout.p);
  CK(cudaGetLastError());
  const std::vector<uint32_t> got = dout.get();
  int before = 0, landed = 0, pending = 0, last = 0, fresh = 0;
  for (int t = 0; t < 32; ++t) {
    const uint32_t* o = &got[size_t(16 * t)];
    for (int i = 0; i < 5; ++i) before += o[i] != 0xffffffffu;
    for (int i = 0; i < 4; ++i) landed += o[5 + i] != (t % 4 != 3 ? src[size_t(4 * t + i)] : 0u);
    pending += o[9] != 0xffffffffu;
    last += o[10] != (t % 2 == 0 ? src[size_t(128 + t)] : 0u);
    fresh += o[11] != 0xffffffffu;
  }
  check(before == 0, "cp.async: destinations read 0xFF bytes before the wait", fmt("%d words differ", before));
  check(landed == 0, "cp.async: wait_group 1 lands the first group (data, or zeros when invalid)",
        fmt("%d words differ", landed));
  check(pending == 0, "cp.async: wait_group 1 leaves the newest group pending (0xFF)", fmt("%d words differ", pending));
  check(last == 0, "cp.async: wait_group 0 lands everything (4-byte copies, zero fill)", fmt("%d words differ", last));
  check(fresh == 0, "shared memory starts as 0xFF bytes", fmt("%d words differ", fresh));
  // Fresh device memory is 0xFF bytes too.
  Dev<uint32_t> fresh_dev(64);
  const std::vector<uint32_t> f = fresh_dev.get();
  check(std::all_of(f.begin(), f.end(), [](uint32_t x) { return x == 0xffffffffu; }),
        "cudaMalloc memory starts as 0xFF bytes");
}

// ---- a race-free multi-warp, multi-block kernel (the policy checks compare it) ------------------
// 256 threads per block: a shared-memory tree reduction, a warp scan (shfl_up) plus warp
// offsets, an fp32 sum in a fixed order (bitwise identical under any schedule), an atomic total.
__global__ void k_reduce_scan(const int* in, int* block_sum, int* scan, float* fsum, unsigned long long* total) {
  LEMMA_SHARED(int, s, [256]);
  LEMMA_SHARED(int, wsum, [8]);
  LEMMA_SHARED(float, fs, [256]);
  const int t = threadIdx.x, i = int(blockIdx.x) * 256 + t;
  const int v = in[i];
  s[t] = v;
  fs[t] = float(v) * 0.1f;
  __syncthreads();
  for (int o = 128; o > 0; o >>= 1) {
    if (t < o) {
      s[t] += s[t + o];
      fs[t] += fs[t + o];
    }
    __syncthreads();
  }
  if (t == 0) {
    block_sum[blockIdx.x] = s[0];
    fsum[blockIdx.x] = fs[0];
    atomicAdd(total, static_cast<unsigned long long>(s[0]));
  }
  int x = v;
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, x, unsigned(o));
    if ((t & 31) >= o) x += y;
  }
  if ((t & 31) == 31) wsum[t >> 5] = x;
  __syncthreads();
  int off = 0;
  for (int w = 0; w < (t >> 5); ++w) off += wsum[w];
  scan[i] = x + off;
}

// Returns a digest of every output (so children under different policies can be compared).
uint64_t test_reduce_scan() {
  const int blocks = 6, n = blocks * 256;
  std::vector<int> in(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) in[size_t(i)] = (i * 7919) % 1000 - 300;
  Dev<int> din(static_cast<size_t>(n)), dbs(blocks), dscan(static_cast<size_t>(n));
  Dev<float> dfs(blocks);
  Dev<unsigned long long> dtot(1);
  din.put(in);
  CK(cudaMemset(dtot.p, 0, sizeof(unsigned long long)));
  LEMMA_LAUNCH(k_reduce_scan, dim3(blocks), dim3(256))(din.p, dbs.p, dscan.p, dfs.p, dtot.p);
  CK(cudaGetLastError());
  const std::vector<int> bs = dbs.get(), scan = dscan.get();
  const std::vector<float> fs = dfs.get();
  const unsigned long long tot = dtot.get()[0];
  int bad = 0;
  std::string first;
  long long all = 0;
  for (int b = 0; b < blocks; ++b) {
    int sum = 0, run = 0;
    float f[256];
    for (int t = 0; t < 256; ++t) {
      const int v = in[size_t(b * 256 + t)];
      sum += v;
      run += v;
      f[t] = float(v) * 0.1f;
      if (scan[size_t(b * 256 + t)] != run && bad++ == 0) first = fmt("scan[%d] = %d, want %d", b * 256 + t, scan[size_t(b * 256 + t)], run);
    }
    for (int o = 128; o > 0; o >>= 1)
      for (int t = 0; t < o; ++t) f[t] += f[t + o];
    if (bs[size_t(b)] != sum && bad++ == 0) first = fmt("block %d sum %d, want %d", b, bs[size_t(b)], sum);
    if (f32_bits(fs[size_t(b)]) != f32_bits(f[0]) && bad++ == 0)
      first = fmt("block %d fp32 sum %a, want %a", b, double(fs[size_t(b)]), double(f[0]));
    all += sum;
  }
  if (tot != static_cast<unsigned long long>(all) && bad++ == 0) first = fmt("atomic total %llu, want %lld", tot, all);
  check(bad == 0, "multi-warp, multi-block reduction and scan (barriers, shfl_up, atomics)", first);
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const void* p, size_t n_bytes) {
    const unsigned char* c = static_cast<const unsigned char*>(p);
    for (size_t k = 0; k < n_bytes; ++k) h = (h ^ c[k]) * 1099511628211ull;
  };
  mix(bs.data(), bs.size() * 4);
  mix(scan.data(), scan.size() * 4);
  mix(fs.data(), fs.size() * 4);
  mix(&tot, 8);
  return h;
}

// A planted race: warp 0 writes shared memory that warp 1 reads with no __syncthreads between.
__global__ void k_planted_race(float* out) {
  LEMMA_SHARED(float, s, [32]);
  const int t = threadIdx.x;
  if (t < 32) s[t] = float(t) * 2.0f;
  // (missing __syncthreads())
  if (t >= 32) out[t - 32] = s[t - 32] + 1.0f;
}
// A planted conflict between blocks: every block writes the same 32 words (a missing blockIdx
// in the index). Blocks run one after another here, so no schedule changes the answer; only the
// TSan build, where blocks share no happens-before edge, can see it.
__global__ void k_planted_block_conflict(float* out) { out[threadIdx.x] = float(blockIdx.x); }
void planted_block_conflict() {
  Dev<float> d(32);
  LEMMA_LAUNCH(k_planted_block_conflict, dim3(4), dim3(32))(d.p);
  (void)d.get();
}

// True when the race gave the answer a correct kernel would.
bool planted_race_correct() {
  Dev<float> d(32);
  LEMMA_LAUNCH(k_planted_race, dim3(1), dim3(64))(d.p);
  const std::vector<float> got = d.get();
  for (int i = 0; i < 32; ++i)
    if (got[size_t(i)] != float(i) * 2.0f + 1.0f) return false;
  return true;
}

// ---- checkers: device faults ------------------------------------------------------------------
// Launches, then expects the sticky fault `want` whose message contains `needle` (either of
// two needles when alt is set); reset() must clear it.
void expect_fault(const std::string& name, const std::function<void()>& launch, cudaError_t want, const char* needle,
                  const char* alt = nullptr) {
  std::string why;
  {
    StderrCapture cap;
    launch();
    const cudaError_t sync = cudaDeviceSynchronize();
    const cudaError_t last = cudaGetLastError();
    const cudaError_t again = cudaGetLastError();  // sticky: reading it does not clear it
    void* p = nullptr;
    const cudaError_t alloc = cudaMalloc(&p, 16);
    const std::string msg = emu::fault_message();
    const std::string text = cap.finish();
    const bool found = contains(msg, needle) || (alt != nullptr && contains(msg, alt));
    if (sync != want || last != want || again != want || alloc != want)
      why = fmt("sync %s, last error %s, again %s, cudaMalloc %s; want %s", err_name(sync).c_str(),
                err_name(last).c_str(), err_name(again).c_str(), err_name(alloc).c_str(), err_name(want).c_str());
    else if (!found)
      why = "fault message \"" + msg + "\" does not mention \"" + needle + "\"";
    else if (!contains(text, "lemma emulated device: fault:"))
      why = "nothing on stderr: \"" + text + "\"";
  }
  emu::reset();
  if (why.empty()) {
    const cudaError_t after = cudaDeviceSynchronize();
    if (after != cudaSuccess || cudaGetLastError() != cudaSuccess || !emu::fault_message().empty())
      why = "emu::reset() did not clear the fault: " + err_name(after);
  }
  check(why.empty(), "fault: " + name, why);
}

__global__ void k_divergent_barrier(int* out) {
  const int t = threadIdx.x;
  if (t < 32) {
    out[t] = 1;
    __syncthreads();
    out[t] += 2;
  } else {
    out[t] = 5;
    __syncthreads();
    out[t] *= 3;
  }
}
__global__ void k_barrier_after_exit(int* out) {
  if (threadIdx.x >= 32) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}
// Warp 0 and lane 0 of warp 1 wait at the barrier; lanes 1..31 of warp 1 wait for lane 0 at
// __syncwarp: no thread can move.
__global__ void k_deadlock(int* out) {
  const int t = threadIdx.x;
  if (t <= 32) __syncthreads();
  else __syncwarp();
  out[t] = 1;
}
__global__ void k_mixed_collectives(unsigned* out) {
  const int l = threadIdx.x;
  if (l < 16) out[l] = unsigned(__shfl_sync(0xffffffffu, l, 0));
  else out[l] = __ballot_sync(0xffffffffu, 1);
}
__global__ void k_partial_mask(unsigned* out) {
  const int l = threadIdx.x;
  out[l] = unsigned(__shfl_sync(0x0000ffffu, l, 0));
}
__global__ void k_collective_after_exit(unsigned* out) {
  const int l = threadIdx.x;
  if (l >= 16) return;
  out[l] = unsigned(__shfl_xor_sync(0xffffffffu, l, 1));
}
__global__ void k_misaligned_ldmatrix(uint32_t* out) {
  LEMMA_SHARED(uint16_t, tile, [16 * 16 + 8]);
  uint32_t r[4];
  ldmatrix_x4(r, tile + (threadIdx.x % 16) * 16 + 1);  // 2 bytes off a 16-byte boundary
  out[threadIdx.x] = r[0];
}
__global__ void k_misaligned_cp_async(const uint32_t* g, uint32_t* out) {
  LEMMA_SHARED(uint32_t, s, [32 * 4 + 4]);
  cp_async_16(&s[4 * threadIdx.x + 1], g + 4 * threadIdx.x, true);  // 4 bytes off
  cp_async_commit();
  cp_async_wait<0>();
  out[threadIdx.x] = s[4 * threadIdx.x + 1];
}
__global__ void k_tf32_low_bits(float* out) {
  float c[4] = {0, 0, 0, 0};
  uint32_t a[4] = {0x3f800000u, 0, 0, 0};
  if (threadIdx.x == 5) a[2] = 0x3f800001u;  // 1 + 2^-23: not a TF32 value
  mma_m16n8k8_tf32(c, a, 0x3f800000u, 0);
  out[threadIdx.x] = c[0];
}
__global__ void k_cp_async_pending(const uint32_t* g) {
  LEMMA_SHARED(uint32_t, s, [128]);
  cp_async_16(&s[4 * threadIdx.x], g + 4 * threadIdx.x, true);
  cp_async_commit();
}
__global__ void k_static_plus_dynamic(int* out) {
  LEMMA_SHARED(char, big, [40 * 1024]);
  LEMMA_DYNAMIC_SMEM(char, dyn);
  big[threadIdx.x] = 1;
  dyn[threadIdx.x] = 2;
  __syncthreads();
  out[threadIdx.x] = big[threadIdx.x] + dyn[threadIdx.x];
}

void test_faults() {
  Dev<int> di(1024);
  Dev<unsigned> du(1024);
  Dev<uint32_t> dg(512);
  Dev<float> df(64);
  dg.put(std::vector<uint32_t>(512, 7u));
  expect_fault("__syncthreads at two call sites", [&] { LEMMA_LAUNCH(k_divergent_barrier, dim3(1), dim3(64))(di.p); },
               cudaErrorLaunchFailure, "different __syncthreads");
  // Which message depends on who runs first: the barrier after the exit, or the exit while
  // others wait at the barrier.
  expect_fault("__syncthreads after some threads exited",
               [&] { LEMMA_LAUNCH(k_barrier_after_exit, dim3(1), dim3(64))(di.p); }, cudaErrorLaunchFailure,
               "exited");
  expect_fault("deadlock (a barrier one warp never reaches)", [&] { LEMMA_LAUNCH(k_deadlock, dim3(1), dim3(64))(di.p); },
               cudaErrorLaunchFailure, "deadlock");
  expect_fault("lanes of a warp at different collectives",
               [&] { LEMMA_LAUNCH(k_mixed_collectives, dim3(1), dim3(32))(du.p); }, cudaErrorLaunchFailure,
               "different collectives");
  expect_fault("a collective with a partial mask", [&] { LEMMA_LAUNCH(k_partial_mask, dim3(1), dim3(32))(du.p); },
               cudaErrorLaunchFailure, "mask 0x0000ffff");
  expect_fault("a collective after lanes of the warp exited",
               [&] { LEMMA_LAUNCH(k_collective_after_exit, dim3(1), dim3(32))(du.p); }, cudaErrorLaunchFailure,
               "live lanes", "lane exited");
  expect_fault("misaligned ldmatrix row", [&] { LEMMA_LAUNCH(k_misaligned_ldmatrix, dim3(1), dim3(32))(du.p); },
               cudaErrorMisalignedAddress, "ldmatrix row");
  expect_fault("misaligned cp.async destination",
               [&] { LEMMA_LAUNCH(k_misaligned_cp_async, dim3(1), dim3(32))(dg.p, du.p); }, cudaErrorMisalignedAddress,
               "cp.async shared destination");
  expect_fault("TF32 operand with low bits set", [&] { LEMMA_LAUNCH(k_tf32_low_bits, dim3(1), dim3(32))(df.p); },
               cudaErrorLaunchFailure, "low 13 bits");
  expect_fault("a thread exits with cp.async copies pending",
               [&] { LEMMA_LAUNCH(k_cp_async_pending, dim3(1), dim3(32))(dg.p); }, cudaErrorLaunchFailure,
               "never waited");

  // Static + dynamic shared memory: exactly the opt-in limit runs, one KiB more faults.
  int optin = 0;
  CK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
  const size_t dyn_fit = size_t(optin) - 40 * 1024;
  CK(cudaFuncSetAttribute(reinterpret_cast<const void*>(k_static_plus_dynamic),
                          cudaFuncAttributeMaxDynamicSharedMemorySize, int(dyn_fit)));
  LEMMA_LAUNCH(k_static_plus_dynamic, dim3(1), dim3(64), dyn_fit)(di.p);
  const cudaError_t fit = cudaDeviceSynchronize();
  const std::vector<int> got = di.get();
  check(fit == cudaSuccess && got[0] == 3 && got[63] == 3,
        fmt("40 KiB static + %zu B dynamic shared memory (= the %d B opt-in limit) runs", dyn_fit, optin),
        err_name(fit));
  emu::reset();
  CK(cudaFuncSetAttribute(reinterpret_cast<const void*>(k_static_plus_dynamic),
                          cudaFuncAttributeMaxDynamicSharedMemorySize, int(dyn_fit) + 1024));
  expect_fault("static + dynamic shared memory over the opt-in limit",
               [&] { LEMMA_LAUNCH(k_static_plus_dynamic, dim3(1), dim3(64), dyn_fit + 1024)(di.p); },
               cudaErrorInvalidValue, "static +");
}

// ---- launch errors (not sticky) ---------------------------------------------------------------
__global__ void k_touch(int* out, size_t dyn_bytes) {
  const int t = int(threadIdx.x + blockDim.x * (blockIdx.x + gridDim.x * blockIdx.y));
  if (dyn_bytes) {
    LEMMA_DYNAMIC_SMEM(unsigned char, dyn);
    if (t == 0) {
      dyn[0] = 1;
      dyn[dyn_bytes - 1] = 2;
    }
    __syncthreads();
    out[t] = dyn[0] + dyn[dyn_bytes - 1];
  } else {
    out[t] = 3;
  }
}
__global__ void k_touch_noattr(int* out, size_t dyn_bytes) {
  LEMMA_DYNAMIC_SMEM(unsigned char, dyn);
  if (threadIdx.x == 0) dyn[dyn_bytes - 1] = 1;
  out[threadIdx.x] = 3;
}

// Launches, expects the launch error `want` from cudaGetLastError (once), then a working device.
void expect_launch_error(const std::string& name, const std::function<void()>& launch, cudaError_t want,
                         int* out_probe) {
  std::string why;
  {
    StderrCapture cap;
    CK(cudaMemset(out_probe, 0, sizeof(int)));
    launch();
    const cudaError_t last = cudaGetLastError();
    const cudaError_t next = cudaGetLastError();
    const cudaError_t sync = cudaDeviceSynchronize();
    int probe = -1;
    CK(cudaMemcpy(&probe, out_probe, sizeof(int), cudaMemcpyDeviceToHost));
    const std::string text = cap.finish();
    if (last != want) why = "cudaGetLastError " + err_name(last) + ", want " + err_name(want);
    else if (next != cudaSuccess || sync != cudaSuccess) why = "the launch error is sticky: " + err_name(next) + " / " + err_name(sync);
    else if (probe != 0) why = "the refused kernel ran";
    else if (!contains(text, "launch refused")) why = "nothing on stderr";
  }
  check(why.empty(), "launch error: " + name, why);
}

void test_launch_limits() {
  Dev<int> d(65536 + 1024);  // a refused launch that ran anyway must fail cleanly, not corrupt the heap
  expect_launch_error("dynamic shared memory > 48 KiB without cudaFuncSetAttribute",
                      [&] { LEMMA_LAUNCH(k_touch_noattr, dim3(1), dim3(32), 49 * 1024)(d.p, size_t(49 * 1024)); },
                      cudaErrorInvalidValue, d.p);
  expect_launch_error("grid.y = 65536", [&] { LEMMA_LAUNCH(k_touch, dim3(1, 65536), dim3(1))(d.p, size_t(0)); },
                      cudaErrorInvalidConfiguration, d.p);
  expect_launch_error("grid.z = 65536", [&] { LEMMA_LAUNCH(k_touch, dim3(1, 1, 65536), dim3(1))(d.p, size_t(0)); },
                      cudaErrorInvalidConfiguration, d.p);
  expect_launch_error("1025 threads per block", [&] { LEMMA_LAUNCH(k_touch, dim3(1), dim3(1025))(d.p, size_t(0)); },
                      cudaErrorInvalidConfiguration, d.p);
  expect_launch_error("block (1, 1, 65)", [&] { LEMMA_LAUNCH(k_touch, dim3(1), dim3(1, 1, 65))(d.p, size_t(0)); },
                      cudaErrorInvalidConfiguration, d.p);
  // The largest legal shapes run: 1024 threads; grid.y = 65535 (one thread each, out indexed
  // by y; 65535 blocks take long under a sanitizer, which adds nothing to a host-side limit).
  {
    const unsigned gy = kSanitized ? 2 : 65535;
    Dev<int> big(gy);
    LEMMA_LAUNCH(k_touch, dim3(1), dim3(1024))(d.p, size_t(0));
    const cudaError_t e1 = cudaDeviceSynchronize();
    LEMMA_LAUNCH(k_touch, dim3(1, gy), dim3(1))(big.p, size_t(0));
    const cudaError_t e2 = cudaDeviceSynchronize();
    const std::vector<int> a = d.get(), b = big.get();
    check(e1 == cudaSuccess && e2 == cudaSuccess && a[1023] == 3 && b[gy - 1] == 3 && b[0] == 3,
          fmt("launch limits: 1024 threads and grid.y = %u run", gy), err_name(e1) + " / " + err_name(e2));
  }
}

// The architecture's opt-in limit: a kernel asking for exactly it runs, one byte more is refused
// by cudaFuncSetAttribute and by the launch; 100 KiB runs iff the limit allows it.
void test_smem_limits(const char* arch, int want_optin) {
  int optin = 0, major = 0, minor = 0;
  CK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
  CK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0));
  CK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0));
  check(optin == want_optin && fmt("%d.%d", major, minor) == arch,
        fmt("LEMMA_EMULATE_ARCH=%s: compute capability and %d B opt-in shared memory", arch, want_optin),
        fmt("got %d.%d, %d B", major, minor, optin));
  Dev<int> d(64);
  const void* fn = reinterpret_cast<const void*>(k_touch);
  CK(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, optin));
  CK(cudaMemset(d.p, 0, 64 * sizeof(int)));
  LEMMA_LAUNCH(k_touch, dim3(1), dim3(32), size_t(optin))(d.p, size_t(optin));
  const cudaError_t e = cudaDeviceSynchronize();
  check(e == cudaSuccess && d.get()[31] == 3, fmt("%s: a kernel with %d B of dynamic shared memory runs", arch, optin),
        err_name(e));
  const cudaError_t over = cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, optin + 1);
  const cudaError_t over_last = cudaGetLastError();
  check(over == cudaErrorInvalidValue && over_last == cudaErrorInvalidValue,
        fmt("%s: cudaFuncSetAttribute(%d B) is refused", arch, optin + 1), err_name(over));
  // 100 KiB: fits sm_80 (163 KiB) and sm_90 (227 KiB), not sm_86 / sm_89 / sm_120 (99 KiB).
  const size_t k100 = 100 * 1024;
  const void* fn2 = reinterpret_cast<const void*>(k_touch_noattr);
  const cudaError_t set = cudaFuncSetAttribute(fn2, cudaFuncAttributeMaxDynamicSharedMemorySize, int(k100));
  cudaGetLastError();
  CK(cudaMemset(d.p, 0, 64 * sizeof(int)));
  {
    StderrCapture cap;
    LEMMA_LAUNCH(k_touch_noattr, dim3(1), dim3(32), k100)(d.p, k100);
    const cudaError_t launch = cudaGetLastError();
    const cudaError_t sync = cudaDeviceSynchronize();
    const int ran = d.get()[0];
    cap.finish();
    if (size_t(optin) >= k100)
      check(set == cudaSuccess && launch == cudaSuccess && sync == cudaSuccess && ran == 3,
            fmt("%s: a kernel with 100 KiB of dynamic shared memory runs", arch),
            err_name(set) + " / " + err_name(launch) + " / " + err_name(sync));
    else
      check(set == cudaErrorInvalidValue && launch == cudaErrorInvalidValue && sync == cudaSuccess && ran == 0,
            fmt("%s: a kernel with 100 KiB of dynamic shared memory is refused (cudaErrorInvalidValue)", arch),
            err_name(set) + " / " + err_name(launch) + " / " + err_name(sync));
  }
}

// ---- the runtime ------------------------------------------------------------------------------
void test_memory_errors() {
  char* p = nullptr;
  CK(cudaMalloc(reinterpret_cast<void**>(&p), 1024));
  std::vector<char> h(64, 1);
  struct Case {
    const char* name;
    std::function<cudaError_t()> call;
  };
  const Case bad[] = {
      {"H2D copy running past the end", [&] { return cudaMemcpy(p + 1020, h.data(), 8, cudaMemcpyHostToDevice); }},
      {"D2H copy starting at the end", [&] { return cudaMemcpy(h.data(), p + 1024, 4, cudaMemcpyDeviceToHost); }},
      {"H2D copy to a host pointer", [&] { return cudaMemcpy(h.data() + 8, h.data(), 8, cudaMemcpyHostToDevice); }},
      {"D2D copy from a host pointer", [&] { return cudaMemcpy(p, h.data(), 8, cudaMemcpyDeviceToDevice); }},
      {"async D2H copy running past the end",
       [&] { return cudaMemcpyAsync(h.data(), p + 1000, 32, cudaMemcpyDeviceToHost, nullptr); }},
      {"memset running past the end", [&] { return cudaMemset(p + 1000, 0, 25); }},
      {"memset of a host pointer", [&] { return cudaMemset(h.data(), 0, 8); }},
  };
  for (const Case& c : bad) {
    const cudaError_t e = c.call();
    const cudaError_t last = cudaGetLastError(), next = cudaGetLastError();
    check(e == cudaErrorInvalidValue && last == cudaErrorInvalidValue && next == cudaSuccess,
          std::string("runtime: ") + c.name + " -> cudaErrorInvalidValue (not sticky)",
          err_name(e) + " / " + err_name(last) + " / " + err_name(next));
  }
  const cudaError_t inside = cudaMemcpy(p + 1016, h.data(), 8, cudaMemcpyHostToDevice);
  check(inside == cudaSuccess, "runtime: a copy ending exactly at the end of an allocation", err_name(inside));
  int local = 0;
  const cudaError_t unknown = cudaFree(&local);
  cudaGetLastError();
  const cudaError_t interior = cudaFree(p + 16);
  cudaGetLastError();
  const cudaError_t ok = cudaFree(p);
  const cudaError_t twice = cudaFree(p);
  cudaGetLastError();
  const cudaError_t null = cudaFree(nullptr);
  const cudaError_t after = cudaMemcpy(p, h.data(), 8, cudaMemcpyHostToDevice);
  cudaGetLastError();
  check(unknown == cudaErrorInvalidValue && interior == cudaErrorInvalidValue && ok == cudaSuccess &&
            twice == cudaErrorInvalidValue && null == cudaSuccess && after == cudaErrorInvalidValue,
        "runtime: cudaFree of unknown, interior and freed pointers fails; cudaFree(nullptr) and copies after free",
        err_name(unknown) + " " + err_name(interior) + " " + err_name(ok) + " " + err_name(twice) + " " +
            err_name(null) + " " + err_name(after));
}

void test_injection() {
  // The 3rd allocation from now fails, the others do not (cudaMallocAsync counts too).
  emu::fail_allocation_after(3);
  void* a[5] = {};
  cudaError_t e[5];
  e[0] = cudaMalloc(&a[0], 100);
  e[1] = cudaMallocAsync(&a[1], 100, nullptr);
  a[2] = reinterpret_cast<void*>(1);
  e[2] = cudaMalloc(&a[2], 100);
  const cudaError_t last = cudaGetLastError();
  e[3] = cudaMalloc(&a[3], 100);
  e[4] = cudaMalloc(&a[4], 100);
  check(e[0] == cudaSuccess && e[1] == cudaSuccess && e[2] == cudaErrorMemoryAllocation && a[2] == nullptr &&
            last == cudaErrorMemoryAllocation && e[3] == cudaSuccess && e[4] == cudaSuccess &&
            cudaGetLastError() == cudaSuccess,
        "runtime: emu::fail_allocation_after(3) fails exactly the third allocation",
        err_name(e[0]) + " " + err_name(e[1]) + " " + err_name(e[2]) + " " + err_name(e[3]) + " " + err_name(e[4]));
  for (void* p : a)
    if (p != nullptr) cudaFree(p);
  // 0 turns it off.
  emu::fail_allocation_after(1);
  emu::fail_allocation_after(0);
  void* q = nullptr;
  check(cudaMalloc(&q, 8) == cudaSuccess, "runtime: emu::fail_allocation_after(0) turns the injector off");
  cudaFree(q);

  // An injected fault is sticky until reset: every call fails, no kernel runs.
  Dev<int> d(32);
  CK(cudaMemset(d.p, 0, 32 * sizeof(int)));
  CK(cudaDeviceSynchronize());
  emu::inject_fault("emulator_test");
  void* r = nullptr;
  const cudaError_t m = cudaMalloc(&r, 8);
  int h = 0;
  const cudaError_t c = cudaMemcpy(d.p, &h, 4, cudaMemcpyHostToDevice);
  LEMMA_LAUNCH(k_touch, dim3(1), dim3(32))(d.p, size_t(0));
  const cudaError_t s = cudaDeviceSynchronize();
  const cudaError_t l1 = cudaGetLastError(), l2 = cudaGetLastError();
  const std::string msg = emu::fault_message();
  const std::string str = cudaGetErrorString(cudaErrorLaunchFailure);
  const bool sticky = m == cudaErrorLaunchFailure && c == cudaErrorLaunchFailure && s == cudaErrorLaunchFailure &&
                      l1 == cudaErrorLaunchFailure && l2 == cudaErrorLaunchFailure;
  emu::reset();
  const std::vector<int> after = d.get();
  const bool cleared = cudaDeviceSynchronize() == cudaSuccess && cudaGetLastError() == cudaSuccess &&
                       emu::fault_message().empty();
  check(sticky && contains(msg, "injected: emulator_test") && contains(str, "emulator_test") && after[0] == 0 &&
            cleared,
        "runtime: emu::inject_fault is sticky (every call fails, no kernel runs) until emu::reset()",
        fmt("malloc %s memcpy %s sync %s last %s/%s msg \"%s\" kernel ran %d cleared %d", err_name(m).c_str(),
            err_name(c).c_str(), err_name(s).c_str(), err_name(l1).c_str(), err_name(l2).c_str(), msg.c_str(),
            after[0] != 0, cleared));
}

// LEMMA_EMULATE_MEMORY_MB=64 (a child process).
void test_capacity() {
  size_t free_b = 0, total = 0;
  CK(cudaMemGetInfo(&free_b, &total));
  check(total == 64u << 20 && free_b == total, "LEMMA_EMULATE_MEMORY_MB=64: cudaMemGetInfo reports 64 MiB free",
        fmt("free %zu total %zu", free_b, total));
  void* big = nullptr;
  const cudaError_t e1 = cudaMalloc(&big, (64u << 20) + 1);
  cudaGetLastError();
  void* a = nullptr;
  void* b = nullptr;
  void* c = nullptr;
  const cudaError_t e2 = cudaMalloc(&a, 32u << 20);
  const cudaError_t e3 = cudaMalloc(&b, 32u << 20);
  const cudaError_t e4 = cudaMalloc(&c, 1);
  cudaGetLastError();
  CK(cudaMemGetInfo(&free_b, &total));
  const size_t free_full = free_b;
  cudaFree(a);
  const cudaError_t e5 = cudaMalloc(&c, 1);
  check(e1 == cudaErrorMemoryAllocation && e2 == cudaSuccess && e3 == cudaSuccess &&
            e4 == cudaErrorMemoryAllocation && free_full == 0 && e5 == cudaSuccess,
        "capacity: 64 MiB + 1 B fails, 2 x 32 MiB fit, then 1 B fails until a free",
        err_name(e1) + " " + err_name(e2) + " " + err_name(e3) + " " + err_name(e4) + " " + err_name(e5));
  cudaFree(b);
  cudaFree(c);
}

// ---- streams and events ----------------------------------------------------------------------
// A host function that holds its stream until the test opens the gate.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  static void CUDART_CB wait(void* p) {
    Gate* g = static_cast<Gate*>(p);
    std::unique_lock<std::mutex> lock(g->mu);
    g->cv.wait(lock, [&] { return g->open; });
  }
  void release() {
    {
      std::lock_guard<std::mutex> lock(mu);
      open = true;
    }
    cv.notify_all();
  }
  bool is_open() {
    std::lock_guard<std::mutex> lock(mu);
    return open;
  }
};
// Host functions that append their id to a log (and note whether a gate was open then).
struct Log {
  std::mutex mu;
  std::vector<int> ids;
  std::atomic<int> count{0};
  std::vector<int> snapshot() {
    std::lock_guard<std::mutex> lock(mu);
    return ids;
  }
};
struct Mark {
  Log* log;
  int id;
  Gate* gate = nullptr;
  bool gate_open_then = false;
  static void CUDART_CB run(void* p) {
    Mark* m = static_cast<Mark*>(p);
    if (m->gate != nullptr) m->gate_open_then = m->gate->is_open();
    std::lock_guard<std::mutex> lock(m->log->mu);
    m->log->ids.push_back(m->id);
    m->log->count++;
  }
};
// Waits up to `ms` for the log to reach `n` entries.
bool wait_for(Log& log, int n, int ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (log.count.load() < n) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

__global__ void k_fill(int* out, int base) { out[threadIdx.x + blockIdx.x * blockDim.x] = base + int(threadIdx.x + blockIdx.x * blockDim.x); }

void test_streams() {
  const int n = 256;
  // A device-to-host copy queued behind a kernel does not land before the stream gets there.
  {
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    Dev<int> d(n);
    CK(cudaMemset(d.p, 0, n * sizeof(int)));
    CK(cudaDeviceSynchronize());
    Gate gate;
    std::vector<int> h(n, -1), staged(n, 5);
    CK(cudaLaunchHostFunc(s, Gate::wait, &gate));
    LEMMA_LAUNCH(k_fill, dim3(n / 64), dim3(64), 0, s)(d.p, 100);
    CK(cudaMemcpyAsync(h.data(), d.p, n * sizeof(int), cudaMemcpyDeviceToHost, s));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const bool untouched = std::all_of(h.begin(), h.end(), [](int x) { return x == -1; });
    const cudaError_t q = cudaStreamQuery(s);
    gate.release();
    CK(cudaStreamSynchronize(s));
    bool landed = true;
    for (int i = 0; i < n; ++i) landed &= h[size_t(i)] == 100 + i;
    check(untouched && q == cudaErrorNotReady && landed,
          "streams: a D2H cudaMemcpyAsync behind a kernel lands only when the stream gets there",
          fmt("untouched %d, query %s, landed %d", untouched, err_name(q).c_str(), landed));
    // A pageable host-to-device copy is staged when it is queued: the caller may reuse the source.
    Gate g2;
    CK(cudaLaunchHostFunc(s, Gate::wait, &g2));
    CK(cudaMemcpyAsync(d.p, staged.data(), n * sizeof(int), cudaMemcpyHostToDevice, s));
    std::fill(staged.begin(), staged.end(), 9);
    g2.release();
    CK(cudaStreamSynchronize(s));
    const std::vector<int> dev = d.get();
    check(std::all_of(dev.begin(), dev.end(), [](int x) { return x == 5; }),
          "streams: a pageable H2D cudaMemcpyAsync copies the source as it was when queued");
    CK(cudaStreamDestroy(s));
  }
  // The order of host functions, kernels, copies and memsets on one stream.
  {
    cudaStream_t s;
    CK(cudaStreamCreate(&s));
    Dev<int> d(n);
    std::vector<int> h(n, -1);
    Log log;
    struct Seen {
      std::vector<int>* h;
      bool ok = false;
      static void CUDART_CB run(void* p) {
        Seen* x = static_cast<Seen*>(p);
        x->ok = (*x->h)[0] == 7 && (*x->h)[255] == 7 + 255;
      }
    } seen{&h};
    Mark m1{&log, 1}, m2{&log, 2}, m3{&log, 3};
    Gate gate;
    CK(cudaLaunchHostFunc(s, Gate::wait, &gate));
    CK(cudaLaunchHostFunc(s, Mark::run, &m1));
    LEMMA_LAUNCH(k_fill, dim3(4), dim3(64), 0, s)(d.p, 7);
    CK(cudaMemcpyAsync(h.data(), d.p, n * sizeof(int), cudaMemcpyDeviceToHost, s));
    CK(cudaLaunchHostFunc(s, Seen::run, &seen));
    CK(cudaLaunchHostFunc(s, Mark::run, &m2));
    CK(cudaMemsetAsync(d.p, 0, n * sizeof(int), s));
    CK(cudaLaunchHostFunc(s, Mark::run, &m3));
    const bool none_yet = log.snapshot().empty();
    gate.release();
    CK(cudaStreamSynchronize(s));
    const std::vector<int> ids = log.snapshot();
    const std::vector<int> dev = d.get();
    check(none_yet && ids == std::vector<int>({1, 2, 3}) && seen.ok && dev[5] == 0,
          "streams: cudaLaunchHostFunc, kernels, copies and memsets run in stream order",
          fmt("none before release %d, %zu host functions ran, copy seen by the next host function %d", none_yet,
              ids.size(), seen.ok));
    CK(cudaStreamDestroy(s));
  }
  // The legacy default stream waits for blocking streams (and they for it); non-blocking streams
  // are independent. A helper thread opens the gate once the answer is known (or after a
  // timeout), so a wrong ordering shows as a wrong log, never as a hang.
  auto ordering = [&](bool gate_legacy, bool nonblocking) {
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, nonblocking ? cudaStreamNonBlocking : cudaStreamDefault));
    cudaStream_t held = gate_legacy ? cudaStream_t(nullptr) : s, other = gate_legacy ? s : cudaStream_t(nullptr);
    Log log;
    Gate gate;
    Mark first{&log, 1}, second{&log, 2, &gate};
    CK(cudaLaunchHostFunc(held, Gate::wait, &gate));
    CK(cudaLaunchHostFunc(held, Mark::run, &first));
    std::thread opener([&] {
      wait_for(log, 1, nonblocking ? 2000 : 150);  // independent: `second` runs at once
      gate.release();
    });
    CK(cudaLaunchHostFunc(other, Mark::run, &second));  // blocks here while `held` is held, if ordered
    CK(cudaStreamSynchronize(other));
    opener.join();
    CK(cudaStreamSynchronize(held));
    CK(cudaStreamDestroy(s));
    const std::vector<int> ids = log.snapshot();
    const std::string name = gate_legacy ? (nonblocking ? "a non-blocking stream does not wait for the legacy stream"
                                                        : "a blocking stream waits for the legacy stream")
                                         : (nonblocking ? "the legacy stream does not wait for a non-blocking stream"
                                                        : "the legacy stream waits for a blocking stream");
    const bool ok = nonblocking ? ids == std::vector<int>({2, 1}) && !second.gate_open_then
                                : ids == std::vector<int>({1, 2}) && second.gate_open_then;
    check(ok, "streams: " + name, fmt("order %d %d", ids.size() > 0 ? ids[0] : 0, ids.size() > 1 ? ids[1] : 0));
  };
  ordering(false, false);
  ordering(false, true);
  ordering(true, false);
  ordering(true, true);
  // cudaStreamWaitEvent: work queued on s2 after the wait runs after the event on s1.
  {
    cudaStream_t s1, s2;
    CK(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking));
    CK(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
    cudaEvent_t ev;
    CK(cudaEventCreate(&ev));
    Gate gate;
    Log log;
    Mark m{&log, 1, &gate};
    CK(cudaLaunchHostFunc(s1, Gate::wait, &gate));
    CK(cudaEventRecord(ev, s1));
    CK(cudaStreamWaitEvent(s2, ev, 0));
    CK(cudaLaunchHostFunc(s2, Mark::run, &m));
    const bool early = wait_for(log, 1, 30);
    const cudaError_t q = cudaEventQuery(ev);
    gate.release();
    CK(cudaStreamSynchronize(s2));
    check(!early && q == cudaErrorNotReady && log.snapshot() == std::vector<int>({1}) && m.gate_open_then,
          "streams: cudaStreamWaitEvent holds the waiting stream until the event",
          fmt("ran early %d, event query %s", early, err_name(q).c_str()));
    CK(cudaEventDestroy(ev));
    CK(cudaStreamDestroy(s1));
    CK(cudaStreamDestroy(s2));
  }
  // Events: not ready while the stream is held, then the elapsed time covers a 30 ms host
  // function; an event never recorded has no time.
  {
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    cudaEvent_t e0, e1, never;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    CK(cudaEventCreate(&never));
    Gate gate;
    CK(cudaLaunchHostFunc(s, Gate::wait, &gate));
    CK(cudaEventRecord(e0, s));
    CK(cudaLaunchHostFunc(s, [](void*) { std::this_thread::sleep_for(std::chrono::milliseconds(30)); }, nullptr));
    CK(cudaEventRecord(e1, s));
    float ms = -1;
    const cudaError_t q = cudaEventQuery(e1);
    const cudaError_t early = cudaEventElapsedTime(&ms, e0, e1);
    cudaGetLastError();
    gate.release();
    CK(cudaEventSynchronize(e1));
    const cudaError_t q2 = cudaEventQuery(e1);
    const cudaError_t el = cudaEventElapsedTime(&ms, e0, e1);
    float ms2 = 0;
    const cudaError_t unrec = cudaEventElapsedTime(&ms2, e0, never);
    cudaGetLastError();
    check(q == cudaErrorNotReady && early == cudaErrorNotReady && q2 == cudaSuccess && el == cudaSuccess &&
              ms >= 29.9f && ms < 5000.0f && unrec == cudaErrorInvalidResourceHandle,
          "events: query / elapsed time not ready while held, then >= 30 ms; never-recorded event refused",
          fmt("query %s, early %s, after %s, elapsed %s %.3f ms, unrecorded %s", err_name(q).c_str(),
              err_name(early).c_str(), err_name(q2).c_str(), err_name(el).c_str(), double(ms),
              err_name(unrec).c_str()));
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    CK(cudaEventDestroy(never));
    CK(cudaStreamDestroy(s));
  }
}

// ---- child processes --------------------------------------------------------------------------
std::string g_self;
// Children start from a clean emulator environment plus what they test.
const char* const kChildEnv =
    "env -u LEMMA_EMU_POLICY -u LEMMA_EMU_BLOCK_ORDER -u LEMMA_EMU_SEED -u LEMMA_EMULATE_ARCH "
    "-u LEMMA_EMULATE_MEMORY_MB -u LEMMA_EMULATE_SMEM_OPTIN ";

// Runs this executable with `env` prepended; echoes its ok / FAIL lines (counted here) and
// returns every line. A child that does not end with "0 failed" and exit 0 is a failure.
std::vector<std::string> run_child(const std::string& env, const std::string& mode) {
  const std::string cmd = kChildEnv + env + " '" + g_self + "' --child " + mode + (g_verbose ? " --verbose" : "");
  std::vector<std::string> lines;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    check(false, "child " + mode, "popen failed");
    return lines;
  }
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p) != nullptr) {
    std::string l(buf);
    while (!l.empty() && (l.back() == '\n' || l.back() == '\r')) l.pop_back();
    lines.push_back(l);
    if (l.rfind("ok   ", 0) == 0) {
      ++g_pass;
      std::printf("%s\n", l.c_str());
    } else if (l.rfind("FAIL ", 0) == 0) {
      ++g_fail;
      std::printf("%s\n", l.c_str());
    }
  }
  const int status = pclose(p);
  const bool clean = status == 0 && !lines.empty() && contains(lines.back(), " 0 failed");
  if (!clean) check(false, "child [" + env + "] " + mode, fmt("exit status %d, last line \"%s\"", status,
                                                               lines.empty() ? "" : lines.back().c_str()));
  return lines;
}

std::string value_of(const std::vector<std::string>& lines, const std::string& key) {
  for (const std::string& l : lines)
    if (l.rfind(key + " ", 0) == 0) return l.substr(key.size() + 1);
  return "";
}


// The scheduling policies and block orders: same, correct answers for race-free kernels; the
// planted race is caught by ahead or behind (and by ThreadSanitizer in a TSan build).
void test_policies() {
  const char* envs[] = {"LEMMA_EMU_POLICY=lockstep",         "LEMMA_EMU_POLICY=ahead",
                        "LEMMA_EMU_POLICY=behind",           "LEMMA_EMU_POLICY=random LEMMA_EMU_SEED=7",
                        "LEMMA_EMU_POLICY=rotate",           "LEMMA_EMU_BLOCK_ORDER=reverse",
                        "LEMMA_EMU_BLOCK_ORDER=shuffle LEMMA_EMU_SEED=3"};
  std::string digest0;
  bool same = true;
  std::string races;
  bool caught = false;
  for (const char* env : envs) {
    const std::vector<std::string> lines = run_child(env, "policy");
    const std::string dg = value_of(lines, "digest"), race = value_of(lines, "race");
    if (digest0.empty()) digest0 = dg;
    same &= !dg.empty() && dg == digest0;
    races += fmt("%s: %s; ", env, race.c_str());
    if ((contains(env, "=ahead") || contains(env, "=behind")) && race == "wrong") caught = true;
  }
  check(same, "scheduling: every policy and block order gives bit-identical results on race-free kernels");
  if (!kTsan) {
    check(caught, "scheduling: a planted missing __syncthreads gives a wrong answer under ahead or behind", races);
    return;
  }
  // TSan build: the race child must be stopped by a ThreadSanitizer report (its own output).
  const std::string cmd = std::string(kChildEnv) + "LEMMA_EMU_POLICY=lockstep '" + g_self + "' --child race 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while (p != nullptr && (n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = p != nullptr ? pclose(p) : -1;
  check(status != 0 && contains(out, "ThreadSanitizer: data race"),
        "scheduling: ThreadSanitizer reports the planted missing __syncthreads (even under lockstep)",
        fmt("child exit status %d", status));
  // Conflicting global writes from different blocks of one launch.
  const std::string cmd2 = std::string(kChildEnv) + "'" + g_self + "' --child block-race 2>&1";
  std::string out2;
  FILE* p2 = popen(cmd2.c_str(), "r");
  while (p2 != nullptr && (n = std::fread(buf, 1, sizeof buf, p2)) > 0) out2.append(buf, n);
  const int status2 = p2 != nullptr ? pclose(p2) : -1;
  check(status2 != 0 && contains(out2, "ThreadSanitizer: data race"),
        "scheduling: ThreadSanitizer reports blocks of one launch writing the same global words",
        fmt("child exit status %d", status2));
}

void run_primitives() {
  test_mma();
  test_ldmatrix();
  test_shuffles();
  test_votes();
  test_sync_reduce();
  test_cp_async();
}

int child_main(const std::string& mode) {
  static std::string prefix;
  const char* pol = std::getenv("LEMMA_EMU_POLICY");
  const char* ord = std::getenv("LEMMA_EMU_BLOCK_ORDER");
  const char* arch = std::getenv("LEMMA_EMULATE_ARCH");
  prefix = "[" + mode + (pol ? std::string(" ") + pol : "") + (ord ? std::string(" ") + ord : "") +
           (mode == "arch" && arch ? std::string(" ") + arch : "") + "] ";
  g_prefix = prefix.c_str();
  if (mode == "policy") {
    run_primitives();
    const uint64_t h = test_reduce_scan();
    std::printf("digest %016llx\n", static_cast<unsigned long long>(h));
    if (!kTsan) std::printf("race %s\n", planted_race_correct() ? "correct" : "wrong");
  } else if (mode == "race") {
    std::printf("race %s\n", planted_race_correct() ? "correct" : "wrong");
  } else if (mode == "block-race") {
    planted_block_conflict();
  } else if (mode == "arch") {
    const std::string a = arch ? arch : "8.0";
    test_smem_limits(a.c_str(), a == "8.6" ? 99 * 1024 : a == "9.0" ? 227 * 1024 : 163 * 1024);
  } else if (mode == "capacity") {
    test_capacity();
  } else {
    check(false, "unknown child mode " + mode);
  }
  std::printf("%s%d passed, %d failed\n", g_prefix, g_pass, g_fail);
  return g_fail == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string child;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--verbose") == 0) g_verbose = true;
    else if (std::strcmp(argv[i], "--child") == 0 && i + 1 < argc) child = argv[++i];
  }
  // Faults must become sticky errors here, never abort().
  unsetenv("LEMMA_EMU_ABORT");
  if (!emu::emulated()) {
    std::printf("emulator_test needs the emulated device (LEMMA_CUDA=EMULATE)\n0 passed, 1 failed\n");
    return 1;
  }
  const unsigned slow = kSanitized ? 8 : 1;
  if (!child.empty()) {
    watchdog(45 * slow);
    return child_main(child);
  }
  watchdog(90 * slow);

  const auto t0 = std::chrono::steady_clock::now();
  char exe[4096];
  const ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  g_self = len > 0 ? std::string(exe, size_t(len)) : std::string(argv[0]);
  // This process keeps whatever environment it was given (e.g. a CI loop over architectures);
  // the children set what they test.
  run_primitives();
  test_reduce_scan();
  test_faults();
  test_launch_limits();
  test_memory_errors();
  test_injection();
  test_streams();
  run_child("LEMMA_EMULATE_ARCH=8.0", "arch");
  run_child("LEMMA_EMULATE_ARCH=8.6", "arch");
  run_child("LEMMA_EMULATE_ARCH=9.0", "arch");
  run_child("LEMMA_EMULATE_MEMORY_MB=64", "capacity");
  test_policies();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const emu::EmulatorInfo info = emu::info();
  std::printf("emulated sm_%d%d (%s): %llu launches, %llu blocks, %llu threads in this process; %.1f s\n", info.major,
              info.minor, info.family, static_cast<unsigned long long>(info.launches),
              static_cast<unsigned long long>(info.blocks), static_cast<unsigned long long>(info.threads), s);
  std::printf("%d passed, %d failed\n", g_pass, g_fail);
  return g_fail == 0 ? 0 : 1;
}
