// subleq_test: the looped ReLU-MLP (subleq_build + subleq_run_cpu) against subleq_reference_step,
// bit-exact at every step (decoded memory and PC, and the halt step = the first fixed point), and
// the final state vector equal to the encoding of the reference's memory and PC.
//   LM-1: 7 x 9 by repeated addition ends with a = 63 and halts (9 and 23 layers)
//   200 random programs (M in 3..9, P in 2..8 slots, N in 3..8), 50 steps, run as one batch per
//   geometry and also one machine at a time, in chunks (step_begin > 0) and traced at every step
//   N = 30 with words at the range ends (wrap-around; the int32 limit of the executor)
//   the 23-layer padding; the geometry and encoder refusals; the weights' sizes
// Build and run: cmake-js build --out build-subleq --CDLEMMA_CUDA=OFF && build-subleq/subleq_test
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "looped/subleq.h"

#include "test_harness.h"

using namespace lemma;

namespace {

using lemma_test::report;
using lemma_test::Rng;

struct Machine {
  std::vector<int32_t> program;  // [n, 3]
  std::vector<int32_t> memory;   // [m]
};

std::vector<SubleqLayerView> views(const std::vector<SubleqLayer>& L) {
  std::vector<SubleqLayerView> v(L.size());
  for (size_t l = 0; l < L.size(); ++l) {
    v[l].rows = L[l].rows;
    v[l].inputs = L[l].inputs;
    v[l].nnz = static_cast<int64_t>(L[l].cols.size());
    v[l].row_ptr = L[l].row_ptr.data();
    v[l].cols = L[l].cols.data();
    v[l].vals = L[l].vals.data();
    v[l].bias = L[l].bias.data();
  }
  return v;
}

// Runs `machines` (one batch) for `steps` in chunks of `chunk`; compares every step with the
// reference. Returns the number of mismatching machines; *halted counts machines that halted.
int check_batch(const SubleqGeometry& g, const std::vector<Machine>& machines, int64_t steps, int64_t chunk,
                int* halted = nullptr, std::string* why = nullptr) {
  std::vector<SubleqLayer> L;
  if (!subleq_build(g, &L).ok()) return -1;
  auto V = views(L);
  const int64_t B = static_cast<int64_t>(machines.size()), D0 = subleq_state_size(g), M = g.M;
  std::vector<int32_t> X(B * D0), halt(B, -1), mem((steps + 1) * B * M), pc((steps + 1) * B);
  for (int64_t b = 0; b < B; ++b) {
    const Machine& mc = machines[b];
    const Status st = subleq_encode(g, mc.program.data(), mc.program.size() / 3, mc.memory.data(), mc.memory.size(),
                                    X.data() + b * D0);
    if (!st.ok()) {
      if (why) *why = st.message;
      return -1;
    }
  }
  SubleqRunParams p;
  p.g = g;
  p.B = B;
  p.total_steps = steps;
  p.trace_every = true;
  for (int64_t s0 = 0; s0 < steps; s0 += chunk) {
    p.step_begin = s0;
    p.steps = std::min(chunk, steps - s0);
    const Status st = subleq_run_cpu(p, V.data(), static_cast<int>(V.size()), X.data(), halt.data(), mem.data(), pc.data());
    if (!st.ok()) {
      if (why) *why = st.message;
      return -1;
    }
  }
  int bad = 0, nh = 0;
  for (int64_t b = 0; b < B; ++b) {
    const Machine& mc = machines[b];
    std::vector<int32_t> rm(M, 0);
    for (size_t j = 0; j < mc.memory.size(); ++j) rm[j] = mc.memory[j];
    int32_t rpc = 0;
    int64_t rhalt = -1;
    bool ok = true;
    for (int64_t t = 0; t <= steps && ok; ++t) {
      const int32_t* got = mem.data() + (b * (steps + 1) + t) * M;
      for (int64_t j = 0; j < M; ++j) ok = ok && got[j] == rm[j];
      ok = ok && pc[b * (steps + 1) + t] == rpc;
      if (!ok && why && why->empty())
        *why = "machine " + std::to_string(b) + " differs at step " + std::to_string(t);
      if (t == steps) break;
      std::vector<int32_t> before = rm;
      const int32_t pc_before = rpc;
      subleq_reference_step(g, mc.program.data(), mc.program.size() / 3, rm.data(), &rpc);
      if (rhalt < 0 && before == rm && pc_before == rpc) rhalt = t;
    }
    // The whole state, not only what decodes: the encoding of the reference's memory and PC
    // (every entry 0 or 1, the program field untouched).
    if (ok) {
      std::vector<int32_t> want(D0);
      ok = subleq_encode(g, mc.program.data(), mc.program.size() / 3, rm.data(), M - 1, want.data()).ok();
      const int Lp = subleq_pc_bits(g.P);
      for (int t = 0; t < Lp; ++t) want[D0 - Lp + t] = (rpc >> t) & 1;
      ok = ok && std::equal(want.begin(), want.end(), X.begin() + b * D0);
      if (!ok && why && why->empty()) *why = "machine " + std::to_string(b) + ": the final state is not the encoding";
    }
    if (ok && halt[b] != rhalt) {
      ok = false;
      if (why && why->empty())
        *why = "machine " + std::to_string(b) + " halt step " + std::to_string(halt[b]) + " vs " + std::to_string(rhalt);
    }
    if (halt[b] >= 0) ++nh;
    if (!ok) ++bad;
  }
  if (halted) *halted = nh;
  return bad;
}

Machine multiply() {
  // data [a, b, temp, zero, one] = [7, 9, 0, 0, 1]; HALT = slot 4 (the first padded slot).
  return {{0, 2, 1, /*loop:*/ 4, 1, 4, 2, 0, 3, 3, 3, 1}, {7, 9, 0, 0, 1}};
}

Machine random_machine(Rng& r, const SubleqGeometry& g, int64_t n, int64_t m) {
  Machine mc;
  const int64_t lo = -(int64_t{1} << (g.N - 1)), span = int64_t{1} << g.N;
  for (int64_t i = 0; i < n; ++i) {
    mc.program.push_back(static_cast<int32_t>(r.next() % m));
    mc.program.push_back(static_cast<int32_t>(r.next() % m));
    mc.program.push_back(static_cast<int32_t>(r.next() % g.P));
  }
  for (int64_t j = 0; j < m; ++j) mc.memory.push_back(static_cast<int32_t>(lo + static_cast<int64_t>(r.next() % span)));
  return mc;
}

void test_multiply() {
  for (int layers : {9, 23}) {
    SubleqGeometry g{8, 8, 16, layers};
    int halted = 0;
    std::string why;
    const int bad = check_batch(g, {multiply()}, 200, 64, &halted, &why);
    report(bad == 0 && halted == 1, "LM-1 multiply 7 x 9, layers " + std::to_string(layers) + " " + why);
    // The final word: run once more and read a.
    std::vector<SubleqLayer> L;
    subleq_build(g, &L);
    auto V = views(L);
    const int64_t D0 = subleq_state_size(g);
    std::vector<int32_t> X(D0), halt(1, -1), mem(g.M), pc(1);
    Machine mc = multiply();
    subleq_encode(g, mc.program.data(), 4, mc.memory.data(), 5, X.data());
    SubleqRunParams p;
    p.g = g;
    p.B = 1;
    p.steps = 200;
    subleq_run_cpu(p, V.data(), static_cast<int>(V.size()), X.data(), halt.data(), mem.data(), pc.data());
    report(mem[0] == 63 && mem[1] == 0 && pc[0] == 4 && halt[0] > 0,
           "LM-1 ends with a = 63, b = 0, pc = HALT slot 4 (a = " + std::to_string(mem[0]) + ", halt step " +
               std::to_string(halt[0]) + ")");
  }
}

void test_random() {
  Rng r(2410);
  int total = 0, bad_batch = 0, bad_single = 0, fails = 0, halted_total = 0;
  std::string why;
  // 8 geometries x 25 programs = 200 programs; each geometry runs as one batch (exercising the
  // block widths) and the first 5 again one at a time with an odd chunk.
  for (int gi = 0; gi < 8; ++gi) {
    const int64_t M = 3 + static_cast<int64_t>(r.next() % 7);
    const int64_t P = int64_t{1} << (1 + r.next() % 3);
    const int N = 3 + static_cast<int>(r.next() % 6);
    SubleqGeometry g{M, P, N, 9};
    std::vector<Machine> ms;
    for (int k = 0; k < 25; ++k) {
      const int64_t n = 1 + static_cast<int64_t>(r.next() % P);
      ms.push_back(random_machine(r, g, n, M - 1));
    }
    int h = 0;
    const int bad = check_batch(g, ms, 50, 16, &h, &why);
    if (bad < 0) ++fails;
    else bad_batch += bad;
    halted_total += h;
    for (int k = 0; k < 5; ++k) {
      const int b1 = check_batch(g, {ms[k]}, 50, 7, nullptr, &why);
      if (b1 != 0) ++bad_single;
    }
    total += 25;
  }
  report(fails == 0 && bad_batch == 0 && total == 200,
         "200 random programs x 50 steps, batched: every step bit-exact (" + std::to_string(halted_total) +
             " halted) " + why);
  report(bad_single == 0, "40 of them one at a time in chunks of 7 steps " + why);
}

void test_wide_words() {
  // N = 30: words at the ends of [-2^29, 2^29) wrap; the executor's int32 limit.
  Rng r(7);
  SubleqGeometry g{6, 4, 30, 9};
  std::vector<Machine> ms;
  const int32_t lo = -(1 << 29), hi = (1 << 29) - 1;
  for (int k = 0; k < 40; ++k) {
    Machine mc = random_machine(r, g, 4, 5);
    mc.memory = {lo, hi, 0, 1, -1};
    std::swap(mc.memory[r.next() % 5], mc.memory[r.next() % 5]);
    ms.push_back(mc);
  }
  std::string why;
  report(check_batch(g, ms, 40, 13, nullptr, &why) == 0, "N = 30 with extreme words: exact (wrap-around) " + why);
}

void test_batch_widths() {
  // B = 1, 5, 9, 33, 70 machines of one geometry: every block width the executor picks.
  Rng r(11);
  SubleqGeometry g{16, 16, 12, 23};
  std::string why;
  bool ok = true;
  for (int B : {1, 5, 9, 33, 70}) {
    std::vector<Machine> ms;
    for (int k = 0; k < B; ++k) ms.push_back(random_machine(r, g, 1 + r.next() % 16, 15));
    ok = ok && check_batch(g, ms, 30, 30, nullptr, &why) == 0;
  }
  report(ok, "batches of 1, 5, 9, 33, 70 machines, 23 layers " + why);
}

void test_refusals() {
  std::vector<SubleqLayer> L;
  report(subleq_build({64, 48, 16, 9}, &L).code == Code::kRange, "P not a power of two: ERR_RANGE");
  report(subleq_build({64, 64, 31, 9}, &L).code == Code::kRange, "N = 31 (int32 limit): ERR_RANGE");
  report(subleq_build({1, 64, 16, 9}, &L).code == Code::kRange, "M = 1: ERR_RANGE");
  report(subleq_build({8, 8, 8, 10}, &L).code == Code::kRange, "layers = 10: ERR_RANGE");
  SubleqGeometry g{8, 4, 8, 9};
  std::vector<int32_t> x(subleq_state_size(g));
  const int32_t prog_bad_b[3] = {0, 7, 0}, prog_bad_c[3] = {0, 1, 4}, ok_prog[3] = {0, 1, 0};
  const int32_t mem[2] = {1, 2}, big[1] = {128};
  report(subleq_encode(g, prog_bad_b, 1, mem, 2, x.data()).code == Code::kRange, "b = M - 1 (the halt word): refused");
  report(subleq_encode(g, prog_bad_c, 1, mem, 2, x.data()).code == Code::kRange, "c = P: refused");
  report(subleq_encode(g, ok_prog, 1, big, 1, x.data()).code == Code::kRange, "word 128 with N = 8: refused");
  std::vector<int32_t> many(15, 0);
  report(subleq_encode(g, ok_prog, 1, many.data(), 8, x.data()).code == Code::kRange, "m = M words: refused");
  report(subleq_encode(g, many.data(), 5, mem, 2, x.data()).code == Code::kRange, "n > P: refused");
  // A tampered layer shape is refused before any work.
  subleq_build(g, &L);
  auto V = views(L);
  V[3].inputs += 1;
  SubleqRunParams p;
  p.g = g;
  p.B = 1;
  p.steps = 1;
  std::vector<int32_t> halt(1, -1), mo(8), po(1);
  report(subleq_run_cpu(p, V.data(), 9, x.data(), halt.data(), mo.data(), po.data()).code == Code::kShape,
         "a layer whose input size breaks the chain: ERR_SHAPE");
}

void test_sizes() {
  SubleqGeometry g{64, 64, 16, 9};
  std::vector<SubleqLayer> L;
  subleq_build(g, &L);
  const int64_t D0 = subleq_state_size(g);
  int64_t nnz = 0;
  for (auto& l : L) nnz += static_cast<int64_t>(l.cols.size());
  // D0 = M N + P (2 La + Lp) + Lp = 1024 + 64 * 18 + 6.
  char b[160];
  std::snprintf(b, sizeof b, "M = P = 64, N = 16: D0 = %lld (expect 2182), %zu layers, nnz = %lld",
                (long long)D0, L.size(), (long long)nnz);
  report(D0 == 2182 && L.size() == 9 && L.back().rows == D0 && L.front().inputs == D0, b);
}

}  // namespace

int main() {
  ThreadPool::set_size(2);
  test_multiply();
  test_random();
  test_wide_words();
  test_batch_widths();
  test_refusals();
  test_sizes();
  return lemma_test::finish();
}
