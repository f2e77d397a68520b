// The Dikin walk's working state as plain pointers (no std templates: this header is included by
// the per-ISA translation units, see core/linalg.h on the ODR), the per-worker scratch layout,
// and the kernel table each ISA provides. Owner: polytope_cpu.cc (allocates, fills, runs).
#pragma once
#include <cstdint>

namespace lemma {

// Philox purposes (the last counter word); see polytope.h for the counter layout.
enum RngPurpose : uint32_t { kRngCoin = 1, kRngXi = 2, kRngHessX = 3, kRngHessZ = 4, kRngJohn = 5 };

struct WalkCtx {
  // ---- body
  int kind = 0;                 // BodyKind
  int64_t M = 0, d = 0;
  const double* A = nullptr;    // M × lda, zero columns [d, lda)
  int64_t lda = 0;              // round_up(d, 16)
  const double* b = nullptr;    // M
  const double* row_norm = nullptr;
  const int64_t* row_ptr = nullptr;  // CSR (A is still filled densely for the subsample path)
  const int64_t* col_idx = nullptr;
  const double* vals = nullptr;
  const double* F = nullptr;    // spectrahedron: d × n × n (n = M)
  const double* Cm = nullptr;   // n × n
  const double* f_norm = nullptr;  // ‖F_i‖_F (d), then ‖C‖_F at [d]
  // ---- target
  int target = 0;               // TargetKind
  const double* tc = nullptr;   // linear c (d)
  const double* tmean = nullptr;  // gaussian μ (d)
  const double* tprec = nullptr;  // gaussian P (d × d)
  const double* tX = nullptr;   // logistic X (nobs × d)
  const double* ty = nullptr;   // logistic y (nobs), ±1
  int64_t nobs = 0;
  double prior_prec = 0;
  // ---- walk parameters
  int barrier = 0, hessian = 0;
  int64_t hs = 0, sketch_rows = 0, jl_cols = 0;
  double alpha_inv = 0, eta_inv = 0, ridge_rel = 0;
  double lewis_p = 0, lewis_tol = 0;
  int64_t lewis_max_iter = 0;
  int lazy = 1;
  uint64_t seed = 0;
  int64_t burn_in = 0, thin = 1, kept = 0;
  // ---- chain state (C chains)
  int64_t ldm = 0, msz = 0;     // factor leading dim (padded(d)) and ldm²
  double* x = nullptr;          // C × d
  double* fx = nullptr;         // C
  double* mats = nullptr;       // C × 2 × msz: the factors of Φ at x (slot cur) and at z
  uint8_t* cur = nullptr;       // C
  uint8_t* have = nullptr;      // C: slot cur holds the factor of Φ(x) (exact Hessians)
  uint8_t* lw_have = nullptr;   // C: Lewis weights at x are valid
  double* hl = nullptr;         // C: ½ log det Φ(x)
  double* lw = nullptr;         // C × 2 × M: Lewis weights at x (slot cur) and at z
  double* z = nullptr;          // C × d: pending proposal
  uint8_t* status = nullptr;    // C: 1 = pending proposal needs f(z)
  double* p_hlz = nullptr;      // C: ½ log det Φ(z)
  double* p_qz = nullptr;       // C: ‖x − z‖²_Φ(z)
  double* p_qx = nullptr;       // C: ‖x − z‖²_Φ(x) = ‖ξ‖²
  double* p_hlx = nullptr;      // C: ½ log det of the Φ(x) that proposed
  int64_t* accepted = nullptr;  // C: moves after burn-in
  int64_t* lewis_iters = nullptr;  // C: Lewis iterations spent (diagnostic)
  int64_t C = 0;
  double* samples = nullptr;    // step-major [kept][C][d]; grown by the owner before each round
  // ---- scratch: worker w owns [scratch + w·scratch_stride, +scratch_stride)
  double* scratch = nullptr;
  int64_t scratch_stride = 0;
};

// Scratch offsets (in doubles) inside one worker's block.
struct WalkScratchLayout {
  int64_t xi, u, tmp, g, slack, B, work, K, logw, T, Y, P, Yg, prob, cdf, cnt, Bs, S, V, W, total;
};

static inline int64_t walk_round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }
// Row length of the transposed leverage buffer Y (d rows) and of the per-row vectors.
static inline int64_t walk_mp(int64_t M) { return walk_round_up(M, 16) + 16; }

// kPad = 16 and kNB = 32 of core/linalg.h (fixed for every ISA).
static inline WalkScratchLayout walk_scratch_layout(const WalkCtx& c) {
  WalkScratchLayout L{};
  const int64_t ldm = c.ldm, lda = c.lda, Mp = walk_mp(c.M);
  const bool lewis = c.barrier == 1, sub = c.hessian == 1, spec = c.kind == 2;
  const int64_t n = c.M;
  int64_t o = 0;
  const int64_t sizes[] = {
      ldm, ldm, ldm, Mp, Mp,                                  // xi u tmp g slack
      (c.M + 16) * lda,                                       // B
      32 * (walk_round_up(c.d, 16) + 16),                     // work (Cholesky panels)
      c.msz,                                                  // K
      lewis ? Mp : 0, lewis ? Mp : 0, lewis || sub ? ldm * Mp : 0,  // logw T Y
      sub ? (c.sketch_rows + 16) * lda : 0,                   // P
      sub ? (c.jl_cols + 1) * ldm : 0,                        // Yg
      sub ? Mp : 0, sub ? Mp : 0, sub ? Mp : 0,               // prob cdf cnt
      sub ? (c.M + 16) * lda : 0,                             // Bs
      spec ? n * n : 0, spec ? n * n : 0,                     // S V
      spec ? (n * n + 16) * lda : 0,                          // W
  };
  int64_t* fields[] = {&L.xi, &L.u, &L.tmp, &L.g, &L.slack, &L.B, &L.work, &L.K, &L.logw, &L.T, &L.Y,
                       &L.P, &L.Yg, &L.prob, &L.cdf, &L.cnt, &L.Bs, &L.S, &L.V, &L.W};
  for (int k = 0; k < 20; ++k) {
    *fields[k] = o;
    o += walk_round_up(sizes[k], 8);  // 64-byte granules
  }
  L.total = o + 8;
  return L;
}

// One ISA's implementation of the walk (polytope_walk.inl).
struct WalkKernels {
  // One step's first half for chain ch at step t: sets status[ch] (and the pending fields).
  void (*propose)(const WalkCtx& c, int64_t ch, int64_t t, int worker);
  // Second half: Metropolis filter with f(z) = fz; records the sample of step t.
  void (*finish)(const WalkCtx& c, int64_t ch, int64_t t, double fz);
  // Steps [t0, t1) of chain ch with the built-in target.
  void (*run_chain)(const WalkCtx& c, int64_t ch, int64_t t0, int64_t t1, int worker);
  // f(x) of the built-in target; tmp holds d doubles.
  double (*target)(const WalkCtx& c, const double* x, double* tmp);
  // Builds the factor of Φ at interior x into out (ldm × ldm) and returns ½ log det Φ, or
  // NaN when the Cholesky fails (exact Hessian; Lewis weights lw at x when barrier = lewis).
  double (*phi_exact)(const WalkCtx& c, const double* x, const double* lw, double* out, int worker);
  // Lewis weights at interior x from w_in (null: d/M); returns iterations, or −1 on failure.
  int64_t (*lewis)(const WalkCtx& c, const double* x, const double* w_in, double* w_out, int worker,
                   int64_t max_iter, double* residual);
  const char* name;
};

namespace poly_ref { const WalkKernels& walk_kernels(); }
namespace poly_scalar { const WalkKernels& walk_kernels(); }
namespace poly_avx2 { const WalkKernels& walk_kernels(); }
namespace poly_avx512 { const WalkKernels& walk_kernels(); }

}  // namespace lemma
