// The polytope family: convex bodies (polytopes {x : Ax <= b}, dense or CSR, and spectrahedra
// {x : Σ x_i A_i ⪰ C}), their barriers, the soft-threshold Dikin walk of arXiv 2410.05700
// (spec: shared/specs/dikin-walk.md), ℓp Lewis weights, and the John ellipsoid of a symmetric
// polytope (spec: shared/specs/john-ellipsoid.md). fp64 throughout.
//
// Shapes (STYLE.md letters): C chains, M constraints (or the matrix order n of a
// spectrahedron), d dimension; A is M×d row-major.
//
// Files:
//   polytope_body.cc        bodies, barriers, phase I, analytic centre, Lewis weights, John ellipsoid
//   polytope_walk.inl       one Dikin step (propose / finish), written once, compiled three times:
//   polytope_cpu_{scalar,avx2,avx512}.cc  ... with the blocked SIMD kernels
//   polytope_ref.cc         the fp64 oracle: the walk written again from the spec, plain loops,
//                           its own linear algebra (shares only WalkCtx and core/rng.h)
//   polytope_cpu.cc         the sampler: chains over the thread pool, recording, ISA dispatch
//   polytope_diag.cc        ESS (Geyer initial monotone sequence, multi-chain) and split R-hat
// Tests: test/3x.*.test.ts (statistics, via the addon), test/native/polytope_test.cc (kernels
// vs the scalar oracle, Philox known answers). Bench: bench/node/polytope.bench.ts,
// build-*/polytope_bench.
//
// Randomness: Philox4x32-10 (core/rng.h), key = the 64-bit seed, counter
//   (block, step & 0xffffffff, chain, purpose | (step >> 32) << 8)
// with purposes kRngCoin (lazy coin, Metropolis uniform), kRngXi (the proposal's normals; block k
// gives ξ[2k], ξ[2k+1]), kRngHessX / kRngHessZ (fresh randomness of the approximate Hessian at x
// and at z: never shared, spec §3.10). The CUDA kernels use the same layout.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "polytope/polytope_walk.h"

namespace lemma {

enum class BodyKind : int { kDense = 0, kCsr = 1, kSpectrahedron = 2 };

// An immutable convex body. Polytope: A (dense M×d, or CSR), b. Spectrahedron: F = A_1..A_d
// (d×n×n, symmetric), Cm = C (n×n), M = n.
struct Body {
  BodyKind kind = BodyKind::kDense;
  int64_t M = 0, d = 0;
  std::vector<double> A, b, row_norm;                 // dense A; b; ‖a_i‖
  std::vector<int64_t> row_ptr, col_idx;              // CSR
  std::vector<double> vals;
  std::vector<double> F, Cm;                          // spectrahedron
  double scale = 1.0;                                 // typical coordinate size (for tolerances)
  bool is_polytope() const { return kind != BodyKind::kSpectrahedron; }
};

// Checks sizes and finiteness and computes row norms. A zero row with b_i <= 0 makes the body
// empty or flat (ERR_INFEASIBLE); with b_i > 0 it is harmless and kept.
Status body_prepare(Body* body);

// Interior test with the spec's boundary rule (§3.10): slack s_i <= 64·eps·(|b_i| + ‖a_i‖‖x‖)
// counts as outside; a spectrahedron needs a Cholesky of S(x) with pivots above 64·eps·scale.
// On false, *why (if given) names the constraint.
bool body_contains(const Body& body, const double* x, std::string* why);

struct CenterInfo {
  int64_t phase1_iterations = 0, newton_iterations = 0;
  double newton_decrement = 0;
};
// The analytic centre argmin −Σ log s_i (or −log det S): phase I from the origin, then damped
// Newton. An empty, flat or unbounded body returns ERR_INFEASIBLE with the reason.
Status body_analytic_center(const Body& body, double* x_out, CenterInfo* info);

// ℓp Lewis weights of A_x = S⁻¹A at an interior x (damped log-space fixed point,
// θ = min(1, 2/p), spec §3.4). w_init may be null (starts at d/M). Polytopes only.
struct LewisInfo {
  int64_t iterations = 0;
  double residual = 0;  // max_i |log T_i(w) − log w_i| at exit
  bool converged = false;
};
Status body_lewis_weights(const Body& body, const double* x, double p, double tol, int64_t max_iter,
                          const double* w_init, double* w_out, LewisInfo* info);

// John ellipsoid of {x : ‖Ax‖∞ <= 1} (CCLY fixed point, averaged iterates).
struct JohnParams {
  double epsilon = 0.1;
  bool sketch = false;
  int64_t sketch_size = 32;
  uint64_t seed = 0;
  int64_t max_iterations = 0;  // 0: T = ceil(ln(M/d) / ln(1+eps))
};
struct JohnResult {
  std::vector<double> weights;  // M
  std::vector<double> Q;        // d×d, Aᵀ diag(w) A
  int64_t iterations = 0;
  double sum_weights = 0, max_tau = 0, complementary = 0, log_det = 0;
};
Status john_ellipsoid(const double* A, int64_t M, int64_t d, const JohnParams& p, JohnResult* out);
// tau_i(w) = a_iᵀ (Aᵀ diag(w) A)⁻¹ a_i for all rows (exact; the CHECK of spec §5.5).
Status john_taus(const double* A, int64_t M, int64_t d, const double* w, double* tau, double* log_det);

// ---------------------------------------------------------------- targets π ∝ exp(−f)
enum class TargetKind : int { kUniform = 0, kLinear = 1, kGaussian = 2, kLogistic = 3, kCallback = 4 };
struct Target {
  TargetKind kind = TargetKind::kUniform;
  std::vector<double> c;           // linear: f = cᵀx
  std::vector<double> mean, prec;  // gaussian: f = ½(x−μ)ᵀP(x−μ), P d×d
  std::vector<double> X, y;        // logistic: X nobs×d, y ∈ {−1, +1}
  int64_t nobs = 0;
  double prior_prec = 0;           // logistic: + ½·prior_prec·‖x‖²
};

// ---------------------------------------------------------------- the walk
// (RNG purposes kRngCoin, kRngXi, kRngHessX, kRngHessZ: polytope_walk.h)

enum class BarrierKind : int { kLog = 0, kLewis = 1 };
enum class HessianKind : int { kExact = 0, kSubsample = 1 };

struct DikinParams {
  int64_t C = 1;
  BarrierKind barrier = BarrierKind::kLog;
  HessianKind hessian = HessianKind::kExact;
  int64_t hessian_samples = 0;  // rows drawn per approximate Hessian
  int64_t sketch_rows = 0;      // CountSketch rows for the leverage estimates (0: min(M, 4d))
  int64_t jl_cols = 8;          // Gaussian JL columns for the leverage estimates
  double alpha = 0;             // Φ = H/alpha + I/eta
  double eta_inv = 0;           // 0: uniform target, the I/η term vanishes
  double ridge_rel = 1e-12;     // when eta_inv == 0: Φ += ridge_rel·tr(Φ)/d·I (spec §3.2)
  double lewis_p = 0;
  double lewis_tol = 1e-10;
  int64_t lewis_max_iter = 2000;
  bool lazy = true;
  uint64_t seed = 0;
  int64_t burn_in = 0, thin = 1, kept = 0;
  bool reference = false;       // run the scalar oracle instead of the SIMD kernels
};

// Validates the parameters against the body and target (ERR_RANGE / ERR_SHAPE).
Status dikin_check(const Body& body, const Target& target, const DikinParams& p);

class DikinSampler {
 public:
  virtual ~DikinSampler() = default;
  // Places every chain at its start (C×d, all interior) with f(start) (C values; null: computed
  // from the built-in target).
  virtual Status set_start(const double* x0, const double* fx0) = 0;
  // Built-in targets: `steps` more steps of every chain (threads over chains). Sets *done to the
  // steps taken (fewer when abort() was called).
  virtual Status run(int64_t steps, int64_t* done) = 0;
  // Callback targets, one step in two halves: propose() writes the C points whose f is needed
  // (rows of chains that need no value hold their current point) and need[c] = 1 for those
  // that do; finish() takes the C values of f at them.
  virtual Status propose(double* z_out, uint8_t* need) = 0;
  virtual Status finish(const double* fz) = 0;
  virtual void abort() = 0;
  virtual int64_t steps_done() const = 0;
  virtual int64_t recorded() const = 0;
  // [C, recorded, d], acceptance per chain (moves / post-burn-in steps), seconds in steps.
  virtual void copy_samples(double* out) const = 0;
  virtual void acceptance(double* out) const = 0;
  virtual double step_seconds() const = 0;
  virtual const char* kernel_name() const = 0;
};

Status dikin_create(std::shared_ptr<const Body> body, Target target, const DikinParams& p,
                    std::unique_ptr<DikinSampler>* out);

// The barrier's Hessian H(x) (α = 1, no η term) for the centring Newton steps, through the same
// kernels as the walk. ridge is added to the diagonal (phase I's proximal term).
class BarrierHessian {
 public:
  BarrierHessian(const Body& body, double ridge);
  ~BarrierHessian();
  BarrierHessian(const BarrierHessian&) = delete;
  BarrierHessian& operator=(const BarrierHessian&) = delete;
  // Factor L of H(x) + ridge·I (row-major lower, leading dimension ld()); null when x is not
  // interior or H is singular.
  const double* factor(const double* x);
  int64_t ld() const;
  // ℓp Lewis weights at x (polytopes); iterations or −1.
  int64_t lewis(const double* x, double p, double tol, int64_t max_iter, const double* w_in, double* w_out,
                double* residual);

 private:
  struct Impl;
  Impl* impl_;
};

// Bytes the sampler allocates for these sizes (checked before allocating; ERR_OOM above 4 GiB).
double dikin_state_bytes(const Body& body, const DikinParams& p);

// ---------------------------------------------------------------- diagnostics
// samples [C, N, d]: ess[d] (multi-chain, Geyer initial monotone sequence on the combined
// autocorrelation, BDA3 §11.5) and rhat[d] (split R-hat). N >= 4.
Status mcmc_diagnostics(const double* samples, int64_t C, int64_t N, int64_t d, double* ess, double* rhat);

}  // namespace lemma
