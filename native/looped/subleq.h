// The looped ReLU-MLP that executes SUBLEQ programs (arXiv 2410.09375's machine, our 9-layer
// construction): x <- relu(W_L ... relu(W_1 x + b_1) ... + b_L), looped, with every
// loop-boundary state entry in {0,1} and all weights small integers, so int32 runs it exactly.
//
// Machine: M data words of N bits (two's complement), P = 2^Lp instruction slots holding
// (a, b, c); SUBLEQ a, b, c: mem[b] <- wrap_N(mem[b] - mem[a]); pc <- mem[b] <= 0 ? c : pc + 1
// (mod P). Program and data are separate (no self-modifying code). Slots past the program hold
// HALT = (Z, Z, self) with Z = M - 1, a data word reserved at 0, so a halted machine is a fixed
// point of the MLP.
//
// Loop-boundary state x [D0] (little-endian bits, La = ceil(log2 M)):
//   MEM  [M, N]           at 0
//   PROG [P, 2 La + Lp]   at M N            (bits of a | b | c per slot)
//   PC   [Lp]             at M N + P (2La + Lp) = D0 - Lp
// Layers (fields carried by identity rows, valid because every entry is >= 0):
//   L1 fetch    H[i,t] = relu(agree(PC,i) - Lp + PROG[i,t])
//   L2 collect  A, B, C = sum_i H[i, field]
//   L3 read     HA[j,k] = relu(agree(A,j) - La + MEM[j,k]), HB the same with B
//   L4 collect  VA[k] = sum_j HA[j,k], VB[k] = sum_j HB[j,k]
//   L5 arith    6 step units per result bit (VB - VA mod 2^N), 4 per PC bit (PC + 1 mod P)
//   L6 collect  VR, INC
//   L7 match    MATCH[j] = relu(agree(B,j) - La + 1), ZERO = relu(1 - sum VR)
//   L8 select   P1 = relu(MEM - MATCH), P2 = relu(VR + MATCH - 1), Q1 = relu(C + VR[N-1] + ZERO - 1),
//               Q2 = relu(INC - VR[N-1] - ZERO)
//   L9 write    MEM' = P1 + P2, PROG copied, PC' = Q1 + Q2
// layers = 23 appends 14 identity layers [D0, D0] (depth parity with the paper).
//
// Exactness: the largest |pre-activation| of the compiled weights is L5's 3 * 2^(N-1); the
// executor accumulates in uint32 (wrapping, no UB), so every pre-activation that fits in int32 is
// exact whatever the order of the partial sums: N <= 30.
// Tested by: test/native/subleq_test.cc (build + run against subleq_reference_step),
// test/72.looped-subleq.test.ts. Bench: bench/node/subleq.bench.ts.
#pragma once
#include <cstdint>
#include <vector>

#include "core/status.h"

namespace lemma {

constexpr int64_t kSubleqMaxWords = int64_t{1} << 14;  // M and P limits
constexpr int kSubleqMaxWordBits = 30;                 // int32 exactness (see above)

struct SubleqGeometry {
  int64_t M = 0;   // data words (>= 2; word M - 1 is the halt word Z)
  int64_t P = 0;   // instruction slots, a power of two >= 2
  int N = 16;      // word bits in [2, 30]
  int layers = 9;  // 9 or 23
};

// Derived sizes: address bits and the state size D0.
int subleq_addr_bits(int64_t M);  // La = ceil(log2 M)
int subleq_pc_bits(int64_t P);    // Lp = log2 P
int64_t subleq_state_size(const SubleqGeometry& g);

Status subleq_check_geometry(const SubleqGeometry& g);

// One layer y = relu(W x + b), W [rows, inputs] in CSR.
struct SubleqLayer {
  int64_t rows = 0, inputs = 0;
  std::vector<int32_t> row_ptr, cols, vals, bias;
};

// Builds the weights (depend only on the geometry).
Status subleq_build(const SubleqGeometry& g, std::vector<SubleqLayer>* layers);

// x0 [D0] (entries 0/1) from program [n, 3] (a, b, c) and memory [m]: slots n..P-1 become HALT,
// words m..M-1 are 0. Requires n <= P, m <= M - 1, a, b < M - 1, c < P, words in N-bit range.
Status subleq_encode(const SubleqGeometry& g, const int32_t* program, int64_t n, const int32_t* memory,
                     int64_t m, int32_t* x0);

// One reference SUBLEQ step on mem [M] (the HALT padding included): the oracle of the tests.
void subleq_reference_step(const SubleqGeometry& g, const int32_t* program, int64_t n, int32_t* mem,
                           int32_t* pc);

// A borrowed view of one layer (the N-API layer points it into JS typed arrays).
struct SubleqLayerView {
  int64_t rows = 0, inputs = 0, nnz = 0;
  const int32_t* row_ptr = nullptr;  // [rows + 1]
  const int32_t* cols = nullptr;     // [nnz]
  const int32_t* vals = nullptr;     // [nnz]
  const int32_t* bias = nullptr;     // [rows]
};

// Shapes chain D0 -> ... -> D0, row_ptr monotone from 0, every column < inputs.
Status subleq_check_layers(const SubleqGeometry& g, const SubleqLayerView* layers, int n_layers);

struct SubleqRunParams {
  SubleqGeometry g;
  int64_t B = 0;            // machines
  int64_t step_begin = 0;   // steps already done (the trace row of the input state)
  int64_t steps = 0;        // steps to run in this call
  int64_t total_steps = 0;  // trace rows - 1 (trace_every only)
  bool trace_every = false;
};

// Runs `steps` loop iterations of every machine. X [B, D0] in/out. halt_step [B] in/out: -1 while
// running, else the first step t with x_t == F(x_t) (observed when step t + 1 ran).
// trace_every: mem_out [B, total_steps + 1, M], pc_out [B, total_steps + 1]; rows step_begin + 1 ..
// step_begin + steps are written (and row 0 when step_begin == 0). Otherwise mem_out [B, M],
// pc_out [B] receive the final state. Memory is decoded as signed N-bit words.
Status subleq_run_cpu(const SubleqRunParams& p, const SubleqLayerView* layers, int n_layers, int32_t* X,
                      int32_t* halt_step, int32_t* mem_out, int32_t* pc_out);

}  // namespace lemma
