// SUBLEQ as a looped ReLU-MLP on the CPU: the weight builder (9 layers, or 23 with identity
// padding), the state encoder, a reference SUBLEQ step, and the exact int32 executor.
//   x_{t+1} = F(x_t),  F = relu(W_L . ... relu(W_1 x + b_1) ... + b_L),  X [B, D0] int32
// Layout and layer table: subleq.h. Executor: machines are taken in blocks of BB (1, 4, 8 or 16)
// stored feature-major [D, BB], so each non-zero of W does BB contiguous multiply-adds (a CSR x
// dense [D, BB] product, vectorised by the compiler); one block runs all the call's steps on one
// worker (no synchronisation between layers or steps). Accumulation is uint32 (wrap-around,
// defined) so every pre-activation that fits int32 comes out exact whatever the summation order.
// Rows that only copy a field forward (25-45 % of the non-zeros) are grouped into runs and
// done as one clamped copy. A block whose machines have all reached their fixed point stops
// computing and only repeats the decoded state into the trace.
// Speed (2 AMD EPYC threads, N = 16, bench/results/subleq-amd-epyc-2t.jsonl): M = 16, P = 128
// (D0 = 2183, 43k non-zeros): 47k steps/s for one machine, 220-290k machine-steps/s at B = 64 ..
// 1024 (10-12 G int32 multiply-adds/s); M = P = 8: 238k steps/s for one machine, 1.78M at B = 1024.
// Run to run the shared 2-core VM varies by about 30 %.
// Test: build-*/subleq_test (test/native/subleq_test.cc); npx ava test/72.looped-subleq.test.ts
#include "looped/subleq.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/thread_pool.h"

namespace lemma {

int subleq_addr_bits(int64_t M) {
  int l = 0;
  while ((int64_t{1} << l) < M) ++l;
  return l;
}

int subleq_pc_bits(int64_t P) { return subleq_addr_bits(P); }

int64_t subleq_state_size(const SubleqGeometry& g) {
  const int La = subleq_addr_bits(g.M), Lp = subleq_pc_bits(g.P);
  return g.M * g.N + g.P * (2 * La + Lp) + Lp;
}

Status subleq_check_geometry(const SubleqGeometry& g) {
  if (g.M < 2 || g.M > kSubleqMaxWords)
    return Status::Error(Code::kRange, "dataWords M must lie in [2, " + std::to_string(kSubleqMaxWords) + "]");
  if (g.P < 2 || g.P > kSubleqMaxWords || (g.P & (g.P - 1)) != 0)
    return Status::Error(Code::kRange, "programSlots P must be a power of two in [2, " +
                                           std::to_string(kSubleqMaxWords) + "]");
  if (g.N < 2 || g.N > kSubleqMaxWordBits)
    return Status::Error(Code::kRange, "wordBits N must lie in [2, 30] (the int32 executor: layer 5's "
                                       "pre-activations reach 3 * 2^(N-1))");
  if (g.layers != 9 && g.layers != 23) return Status::Error(Code::kRange, "layers must be 9 or 23");
  return Status::Ok();
}

namespace {

int bit(int64_t v, int t) { return static_cast<int>((v >> t) & 1); }
int zeros(int64_t v, int L) {
  int z = 0;
  for (int t = 0; t < L; ++t) z += 1 - bit(v, t);
  return z;
}

// Appends rows one at a time.
class LayerBuilder {
 public:
  explicit LayerBuilder(int64_t inputs) { L_.inputs = inputs; L_.row_ptr.push_back(0); }
  void row(int32_t bias) {
    if (open_) close();
    L_.bias.push_back(bias);
    open_ = true;
  }
  void add(int64_t col, int32_t val) {
    L_.cols.push_back(static_cast<int32_t>(col));
    L_.vals.push_back(val);
  }
  // Rows out = in[from .. from + n).
  void copy(int64_t from, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      row(0);
      add(from + i, 1);
    }
  }
  // Row: agree(bits at `at`, constant v over L bits) + extra_bias (the caller adds more terms).
  void agree_row(int64_t at, int L, int64_t v, int32_t extra_bias) {
    row(zeros(v, L) + extra_bias);
    for (int t = 0; t < L; ++t) add(at + t, bit(v, t) ? 1 : -1);
  }
  SubleqLayer finish() {
    if (open_) close();
    L_.rows = static_cast<int64_t>(L_.bias.size());
    return std::move(L_);
  }

 private:
  void close() {
    L_.row_ptr.push_back(static_cast<int32_t>(L_.cols.size()));
    open_ = false;
  }
  SubleqLayer L_;
  bool open_ = false;
};

}  // namespace

Status subleq_build(const SubleqGeometry& g, std::vector<SubleqLayer>* layers) {
  LEMMA_RETURN_IF_ERROR(subleq_check_geometry(g));
  const int64_t M = g.M, P = g.P;
  const int N = g.N, La = subleq_addr_bits(M), Lp = subleq_pc_bits(P);
  const int W = 2 * La + Lp;  // bits per program slot
  const int64_t MN = M * N, PW = P * W, D0 = MN + PW + Lp;
  const int64_t PC = D0 - Lp;
  layers->clear();

  // L1 fetch: [MEM | PROG | PC | H (P W)].
  {
    LayerBuilder b(D0);
    b.copy(0, D0);
    for (int64_t i = 0; i < P; ++i)
      for (int t = 0; t < W; ++t) {
        b.agree_row(PC, Lp, i, -Lp);
        b.add(MN + i * W + t, 1);
      }
    layers->push_back(b.finish());
  }
  // L2 collect: [MEM | PROG | PC | A (La) B (La) C (Lp)], the addressed slot's fields.
  {
    LayerBuilder b(D0 + PW);
    b.copy(0, D0);
    for (int t = 0; t < W; ++t) {
      b.row(0);
      for (int64_t i = 0; i < P; ++i) b.add(D0 + i * W + t, 1);
    }
    layers->push_back(b.finish());
  }
  const int64_t A2 = D0, B2 = D0 + La;  // C at D0 + 2 La travels with B
  // L3 read: [MEM | PROG | PC | B | C | HA (M N) | HB (M N)].
  {
    LayerBuilder b(D0 + W);
    b.copy(0, D0);
    b.copy(B2, La + Lp);
    for (int pass = 0; pass < 2; ++pass) {
      const int64_t addr = pass == 0 ? A2 : B2;
      for (int64_t j = 0; j < M; ++j)
        for (int k = 0; k < N; ++k) {
          b.agree_row(addr, La, j, -La);
          b.add(j * N + k, 1);
        }
    }
    layers->push_back(b.finish());
  }
  const int64_t B3 = D0, HA3 = D0 + La + Lp, HB3 = HA3 + MN;
  // L4 collect: [MEM | PROG | PC | B | C | VA (N) | VB (N)].
  {
    LayerBuilder b(HB3 + MN);
    b.copy(0, D0 + La + Lp);
    for (int pass = 0; pass < 2; ++pass) {
      const int64_t at = pass == 0 ? HA3 : HB3;
      for (int k = 0; k < N; ++k) {
        b.row(0);
        for (int64_t j = 0; j < M; ++j) b.add(at + j * N + k, 1);
      }
    }
    layers->push_back(b.finish());
  }
  const int64_t B4 = B3, VA4 = D0 + La + Lp, VB4 = VA4 + N;
  // L5 arith: [MEM | PROG | B | C | U (6N) | I (4 Lp)]. Bit i of VB - VA = VB + not(VA) + 1 is
  // floor(S_i / 2^i) mod 2 with S_i = 1 + sum_{j<=i} 2^j (VB_j + 1 - VA_j) in [1, 2^{i+2});
  // a unit step at theta is relu(S - theta + 1) - relu(S - theta) for integer S.
  {
    LayerBuilder b(VB4 + N);
    b.copy(0, PC);
    b.copy(B4, La + Lp);
    for (int i = 0; i < N; ++i) {
      const int64_t base = int64_t{1} << (i + 1);  // 1 + sum_{j<=i} 2^j
      const int64_t th[3] = {int64_t{1} << i, int64_t{1} << (i + 1), int64_t{3} << i};
      for (int u = 0; u < 6; ++u) {
        b.row(static_cast<int32_t>(base - th[u / 2] + (u % 2 == 0 ? 1 : 0)));
        for (int j = 0; j <= i; ++j) {
          b.add(VB4 + j, static_cast<int32_t>(int64_t{1} << j));
          b.add(VA4 + j, static_cast<int32_t>(-(int64_t{1} << j)));
        }
      }
    }
    // PC + 1: S_i = 1 + sum_{j<=i} 2^j PC_j in [1, 2^{i+1}]; bit i is 1 on [2^i, 2^{i+1}).
    for (int i = 0; i < Lp; ++i) {
      const int64_t th[2] = {int64_t{1} << i, int64_t{1} << (i + 1)};
      for (int u = 0; u < 4; ++u) {
        b.row(static_cast<int32_t>(1 - th[u / 2] + (u % 2 == 0 ? 1 : 0)));
        for (int j = 0; j <= i; ++j) b.add(PC + j, 1 << j);
      }
    }
    layers->push_back(b.finish());
  }
  const int64_t B5 = PC, C5 = PC + La, U5 = PC + La + Lp, I5 = U5 + 6 * N;
  // L6 collect: [MEM | PROG | B | C | VR (N) | INC (Lp)].
  {
    LayerBuilder b(I5 + 4 * Lp);
    b.copy(0, U5);
    static const int32_t sU[6] = {1, -1, -1, 1, 1, -1};
    static const int32_t sI[4] = {1, -1, -1, 1};
    for (int i = 0; i < N; ++i) {
      b.row(0);
      for (int u = 0; u < 6; ++u) b.add(U5 + 6 * i + u, sU[u]);
    }
    for (int i = 0; i < Lp; ++i) {
      b.row(0);
      for (int u = 0; u < 4; ++u) b.add(I5 + 4 * i + u, sI[u]);
    }
    layers->push_back(b.finish());
  }
  const int64_t B6 = B5, C6 = C5, VR6 = U5, INC6 = U5 + N;
  // L7 match: [MEM | PROG | C | VR | INC | MATCH (M) | ZERO]. ZERO = [VR == 0].
  {
    LayerBuilder b(INC6 + Lp);
    b.copy(0, PC);
    b.copy(C6, Lp);
    b.copy(VR6, N + Lp);
    for (int64_t j = 0; j < M; ++j) b.agree_row(B6, La, j, -La + 1);
    b.row(1);
    for (int k = 0; k < N; ++k) b.add(VR6 + k, -1);
    layers->push_back(b.finish());
  }
  const int64_t C7 = PC, VR7 = PC + Lp, INC7 = VR7 + N, MATCH7 = INC7 + Lp, ZERO7 = MATCH7 + M;
  // L8 select: [PROG | P1 (M N) | P2 (M N) | Q1 (Lp) | Q2 (Lp)]. The branch flag
  // VR[N-1] + ZERO is in {0,1} (a negative result is never zero).
  {
    LayerBuilder b(ZERO7 + 1);
    b.copy(MN, PW);
    for (int64_t j = 0; j < M; ++j)
      for (int k = 0; k < N; ++k) {
        b.row(0);
        b.add(j * N + k, 1);
        b.add(MATCH7 + j, -1);
      }
    for (int64_t j = 0; j < M; ++j)
      for (int k = 0; k < N; ++k) {
        b.row(-1);
        b.add(VR7 + k, 1);
        b.add(MATCH7 + j, 1);
      }
    for (int t = 0; t < Lp; ++t) {
      b.row(-1);
      b.add(C7 + t, 1);
      b.add(VR7 + N - 1, 1);
      b.add(ZERO7, 1);
    }
    for (int t = 0; t < Lp; ++t) {
      b.row(0);
      b.add(INC7 + t, 1);
      b.add(VR7 + N - 1, -1);
      b.add(ZERO7, -1);
    }
    layers->push_back(b.finish());
  }
  const int64_t P18 = PW, P28 = PW + MN, Q18 = PW + 2 * MN, Q28 = Q18 + Lp;
  // L9 write: back to [MEM' | PROG | PC'].
  {
    LayerBuilder b(Q28 + Lp);
    for (int64_t e = 0; e < MN; ++e) {
      b.row(0);
      b.add(P18 + e, 1);
      b.add(P28 + e, 1);
    }
    b.copy(0, PW);
    for (int t = 0; t < Lp; ++t) {
      b.row(0);
      b.add(Q18 + t, 1);
      b.add(Q28 + t, 1);
    }
    layers->push_back(b.finish());
  }
  for (int l = 9; l < g.layers; ++l) {
    LayerBuilder b(D0);
    b.copy(0, D0);
    layers->push_back(b.finish());
  }
  return Status::Ok();
}

Status subleq_encode(const SubleqGeometry& g, const int32_t* program, int64_t n, const int32_t* memory,
                     int64_t m, int32_t* x0) {
  LEMMA_RETURN_IF_ERROR(subleq_check_geometry(g));
  const int64_t M = g.M, P = g.P, Z = M - 1;
  const int N = g.N, La = subleq_addr_bits(M), Lp = subleq_pc_bits(P), W = 2 * La + Lp;
  if (n < 0 || n > P) return Status::Error(Code::kRange, "the program does not fit the P slots");
  if (m < 0 || m > M - 1) return Status::Error(Code::kRange, "memory must hold at most M - 1 words");
  const int64_t lo = -(int64_t{1} << (N - 1)), hi = int64_t{1} << (N - 1);
  const int64_t D0 = subleq_state_size(g);
  std::fill(x0, x0 + D0, 0);
  for (int64_t j = 0; j < m; ++j) {
    const int64_t v = memory[j];
    if (v < lo || v >= hi) return Status::Error(Code::kRange, "memory word " + std::to_string(j) + " is outside the N-bit range");
    const uint64_t u = static_cast<uint64_t>(v);
    for (int k = 0; k < N; ++k) x0[j * N + k] = static_cast<int32_t>((u >> k) & 1);
  }
  for (int64_t i = 0; i < P; ++i) {
    int64_t a = Z, b = Z, c = i;
    if (i < n) {
      a = program[3 * i];
      b = program[3 * i + 1];
      c = program[3 * i + 2];
      if (a < 0 || a >= Z || b < 0 || b >= Z)
        return Status::Error(Code::kRange, "instruction " + std::to_string(i) + ": operands must lie in [0, M - 1)");
      if (c < 0 || c >= P)
        return Status::Error(Code::kRange, "instruction " + std::to_string(i) + ": jump target must lie in [0, P)");
    }
    int32_t* s = x0 + M * N + i * W;
    for (int t = 0; t < La; ++t) {
      s[t] = bit(a, t);
      s[La + t] = bit(b, t);
    }
    for (int t = 0; t < Lp; ++t) s[2 * La + t] = bit(c, t);
  }
  return Status::Ok();  // PC = 0: its bits stay 0.
}

void subleq_reference_step(const SubleqGeometry& g, const int32_t* program, int64_t n, int32_t* mem,
                           int32_t* pc) {
  const int64_t i = *pc;
  const int64_t a = i < n ? program[3 * i] : g.M - 1;
  const int64_t b = i < n ? program[3 * i + 1] : g.M - 1;
  const int64_t c = i < n ? program[3 * i + 2] : i;
  const int64_t mod = int64_t{1} << g.N;
  int64_t r = ((static_cast<int64_t>(mem[b]) - mem[a]) % mod + mod) % mod;
  if (r >= mod / 2) r -= mod;
  mem[b] = static_cast<int32_t>(r);
  *pc = static_cast<int32_t>(r <= 0 ? c : (i + 1) & (g.P - 1));
}

Status subleq_check_layers(const SubleqGeometry& g, const SubleqLayerView* layers, int n_layers) {
  LEMMA_RETURN_IF_ERROR(subleq_check_geometry(g));
  if (n_layers != g.layers)
    return Status::Error(Code::kShape, "expected " + std::to_string(g.layers) + " layers, got " + std::to_string(n_layers));
  const int64_t D0 = subleq_state_size(g);
  int64_t in = D0;
  for (int l = 0; l < n_layers; ++l) {
    const SubleqLayerView& L = layers[l];
    const std::string at = "layer " + std::to_string(l + 1);
    if (L.inputs != in) return Status::Error(Code::kShape, at + " takes " + std::to_string(L.inputs) + " inputs, expected " + std::to_string(in));
    if (L.rows < 1 || L.rows > (int64_t{1} << 30)) return Status::Error(Code::kShape, at + " has an invalid row count");
    if (L.row_ptr[0] != 0) return Status::Error(Code::kShape, at + ": rowPtr[0] must be 0");
    for (int64_t r = 0; r < L.rows; ++r)
      if (L.row_ptr[r + 1] < L.row_ptr[r]) return Status::Error(Code::kShape, at + ": rowPtr must be non-decreasing");
    if (L.row_ptr[L.rows] != L.nnz) return Status::Error(Code::kShape, at + ": rowPtr[rows] must equal the number of non-zeros");
    for (int64_t k = 0; k < L.nnz; ++k)
      if (L.cols[k] < 0 || L.cols[k] >= L.inputs) return Status::Error(Code::kShape, at + ": column index out of range");
    in = L.rows;
  }
  if (in != D0) return Status::Error(Code::kShape, "the last layer must return the state size D0 = " + std::to_string(D0));
  return Status::Ok();
}

namespace {

// A layer's rows cut into runs: a copy run is consecutive rows that each copy one input
// (one non-zero of value 1 at consecutive columns, bias 0); other runs go through the CSR.
// 25-45 % of the non-zeros are such identity rows (fields carried past a layer).
struct Run {
  int64_t row_begin, row_end, col_begin;  // col_begin < 0: a CSR run
};

std::vector<Run> plan_runs(const SubleqLayerView& L) {
  std::vector<Run> runs;
  auto is_copy = [&](int64_t r) {
    return L.row_ptr[r + 1] - L.row_ptr[r] == 1 && L.vals[L.row_ptr[r]] == 1 && L.bias[r] == 0;
  };
  for (int64_t r = 0; r < L.rows; ++r) {
    const bool copy = is_copy(r);
    const int64_t col = copy ? L.cols[L.row_ptr[r]] : -1;
    if (!runs.empty()) {
      Run& last = runs.back();
      const bool last_copy = last.col_begin >= 0;
      if (copy && last_copy && col == last.col_begin + (r - last.row_begin)) { last.row_end = r + 1; continue; }
      if (!copy && !last_copy) { last.row_end = r + 1; continue; }
    }
    runs.push_back({r, r + 1, col});
  }
  return runs;
}

// out [rows, BB] = relu(W in + b), in [inputs, BB]; uint32 wrap-around accumulation.
template <int BB>
void layer_forward(const SubleqLayerView& L, const std::vector<Run>& runs, const int32_t* in, int32_t* out) {
  for (const Run& run : runs) {
    if (run.col_begin >= 0) {
      const int32_t* x = in + run.col_begin * BB;
      int32_t* o = out + run.row_begin * BB;
      const int64_t n = (run.row_end - run.row_begin) * BB;
      for (int64_t e = 0; e < n; ++e) o[e] = x[e] > 0 ? x[e] : 0;
      continue;
    }
    for (int64_t r = run.row_begin; r < run.row_end; ++r) {
      uint32_t acc[BB];
      const uint32_t bias = static_cast<uint32_t>(L.bias[r]);
      for (int j = 0; j < BB; ++j) acc[j] = bias;
      for (int32_t k = L.row_ptr[r]; k < L.row_ptr[r + 1]; ++k) {
        const uint32_t v = static_cast<uint32_t>(L.vals[k]);
        const int32_t* x = in + static_cast<int64_t>(L.cols[k]) * BB;
        for (int j = 0; j < BB; ++j) acc[j] += v * static_cast<uint32_t>(x[j]);
      }
      int32_t* o = out + r * BB;
      for (int j = 0; j < BB; ++j) {
        const int32_t s = static_cast<int32_t>(acc[j]);
        o[j] = s > 0 ? s : 0;
      }
    }
  }
}

struct Decoder {
  int64_t M, D0;
  int N, Lp;
  // state [D0, BB], column j -> mem [M] (signed N-bit words), *pc.
  template <int BB>
  void decode(const int32_t* state, int j, int32_t* mem, int32_t* pc) const {
    const int64_t half = int64_t{1} << (N - 1);
    for (int64_t w = 0; w < M; ++w) {
      int64_t v = 0;
      for (int k = 0; k < N; ++k) v |= static_cast<int64_t>(state[(w * N + k) * BB + j] & 1) << k;
      mem[w] = static_cast<int32_t>((v ^ half) - half);
    }
    int32_t p = 0;
    for (int t = 0; t < Lp; ++t) p |= (state[(D0 - Lp + t) * BB + j] & 1) << t;
    *pc = p;
  }
};

template <int BB>
void run_block(const SubleqRunParams& p, const SubleqLayerView* layers, const std::vector<std::vector<Run>>& runs,
               int n_layers, int64_t b0, int nb,
               int32_t* X, int32_t* halt_step, int32_t* mem_out, int32_t* pc_out, int32_t* scratch,
               int64_t max_rows) {
  const SubleqGeometry& g = p.g;
  const int64_t D0 = subleq_state_size(g), M = g.M, T1 = p.total_steps + 1;
  const Decoder dec{M, D0, g.N, subleq_pc_bits(g.P)};
  int32_t* state = scratch;                 // [D0, BB]
  int32_t* buf[2] = {scratch + D0 * BB, scratch + D0 * BB + max_rows * BB};
  for (int64_t d = 0; d < D0; ++d)
    for (int j = 0; j < BB; ++j) state[d * BB + j] = j < nb ? X[(b0 + j) * D0 + d] : 0;
  auto emit_trace = [&](int64_t step) {
    for (int j = 0; j < nb; ++j)
      dec.decode<BB>(state, j, mem_out + ((b0 + j) * T1 + step) * M, pc_out + (b0 + j) * T1 + step);
  };
  auto all_halted = [&]() {
    for (int j = 0; j < nb; ++j)
      if (halt_step[b0 + j] < 0) return false;
    return true;
  };
  if (p.trace_every && p.step_begin == 0) emit_trace(0);
  bool running = !all_halted();
  for (int64_t s = 1; s <= p.steps; ++s) {
    const int64_t step = p.step_begin + s;
    if (running) {
      const int32_t* in = state;
      for (int l = 0; l < n_layers; ++l) {
        int32_t* out = buf[l & 1];
        layer_forward<BB>(layers[l], runs[l], in, out);
        in = out;
      }
      for (int j = 0; j < nb; ++j) {
        if (halt_step[b0 + j] >= 0) continue;
        bool same = true;
        for (int64_t d = 0; d < D0 && same; ++d) same = in[d * BB + j] == state[d * BB + j];
        if (same) halt_step[b0 + j] = static_cast<int32_t>(step - 1);
      }
      std::memcpy(state, in, sizeof(int32_t) * D0 * BB);
      running = !all_halted();
    }
    if (p.trace_every) emit_trace(step);
  }
  for (int j = 0; j < nb; ++j) {
    for (int64_t d = 0; d < D0; ++d) X[(b0 + j) * D0 + d] = state[d * BB + j];
    if (!p.trace_every) dec.decode<BB>(state, j, mem_out + (b0 + j) * M, pc_out + b0 + j);
  }
}

template <int BB>
void run_all(const SubleqRunParams& p, const SubleqLayerView* layers, int n_layers, int32_t* X,
             int32_t* halt_step, int32_t* mem_out, int32_t* pc_out) {
  int64_t max_rows = 0;
  for (int l = 0; l < n_layers; ++l) max_rows = std::max(max_rows, layers[l].rows);
  const int64_t D0 = subleq_state_size(p.g);
  const int64_t per_worker = (D0 + 2 * max_rows) * BB;
  std::vector<int32_t> scratch(static_cast<size_t>(per_worker) * ThreadPool::size());
  std::vector<std::vector<Run>> runs(n_layers);
  for (int l = 0; l < n_layers; ++l) runs[l] = plan_runs(layers[l]);
  const int64_t blocks = (p.B + BB - 1) / BB;
  ThreadPool::parallel_for(blocks, [&](int64_t task, int worker) {
    const int64_t b0 = task * BB;
    const int nb = static_cast<int>(std::min<int64_t>(BB, p.B - b0));
    run_block<BB>(p, layers, runs, n_layers, b0, nb, X, halt_step, mem_out, pc_out,
                  scratch.data() + per_worker * worker, max_rows);
  });
}

}  // namespace

Status subleq_run_cpu(const SubleqRunParams& p, const SubleqLayerView* layers, int n_layers, int32_t* X,
                      int32_t* halt_step, int32_t* mem_out, int32_t* pc_out) {
  LEMMA_RETURN_IF_ERROR(subleq_check_layers(p.g, layers, n_layers));
  if (p.B < 0 || p.steps < 0 || p.step_begin < 0) return Status::Error(Code::kRange, "B and steps must be >= 0");
  if (p.trace_every && p.step_begin + p.steps > p.total_steps)
    return Status::Error(Code::kRange, "the trace holds fewer steps than requested");
  if (p.B == 0) return Status::Ok();
  // Blocks wide enough to vectorise, yet at least one per thread when the batch allows.
  const int64_t T = ThreadPool::size();
  if (p.B >= 16 * T) run_all<16>(p, layers, n_layers, X, halt_step, mem_out, pc_out);
  else if (p.B >= 8 * T) run_all<8>(p, layers, n_layers, X, halt_step, mem_out, pc_out);
  else if (p.B >= 4 * T) run_all<4>(p, layers, n_layers, X, halt_step, mem_out, pc_out);
  else run_all<1>(p, layers, n_layers, X, halt_step, mem_out, pc_out);
  return Status::Ok();
}

}  // namespace lemma
