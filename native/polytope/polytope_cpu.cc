// dikin_create / DikinSampler on the CPU: C independent chains spread over the thread pool
// (one task per chain per round; a chain's steps run on one worker with that worker's scratch),
// the ISA picked at run time (polytope_cpu_{scalar,avx2,avx512}.cc) or the scalar oracle
// (polytope_ref.cc) when params.reference is set. All memory is allocated at creation (and the
// per-worker scratch when the thread count grows); the step loop allocates nothing.
//
// Memory per chain: two factors of Φ (padded(d)² doubles each), x, z, f(x), the kept samples,
// and for the Lewis barrier two weight vectors (M each). Per worker: walk_scratch_layout().
//
// Test: test/30.polytope-uniform.test.ts .. 35, test/native/polytope_test.cc.
// Bench: bench/node/polytope.bench.ts, build-*/polytope_bench.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/linalg.h"
#include "core/thread_pool.h"
#include "polytope/polytope.h"

namespace lemma {

namespace {

const WalkKernels& fast_kernels() {
  switch (simd_level()) {
    case SimdLevel::kAvx512: return poly_avx512::walk_kernels();
    case SimdLevel::kAvx2: return poly_avx2::walk_kernels();
    default: return poly_scalar::walk_kernels();
  }
}

// Body data in the walk's layout (padded dense rows, norms of the spectrahedron matrices).
struct BodyLayout {
  std::vector<double> A, f_norm;

  void fill(const Body& b, WalkCtx* c) {
    c->kind = static_cast<int>(b.kind);
    c->M = b.M;
    c->d = b.d;
    c->lda = linalg::round_up(b.d, linalg::kPad);
    c->ldm = linalg::padded(b.d);
    c->msz = c->ldm * c->ldm;
    if (b.is_polytope()) {
      A.assign(b.M * c->lda, 0.0);
      for (int64_t i = 0; i < b.M; ++i) {
        if (b.kind == BodyKind::kCsr) {
          for (int64_t p = b.row_ptr[i]; p < b.row_ptr[i + 1]; ++p) A[i * c->lda + b.col_idx[p]] = b.vals[p];
        } else {
          std::copy(b.A.begin() + i * b.d, b.A.begin() + (i + 1) * b.d, A.begin() + i * c->lda);
        }
      }
      c->A = A.data();
      c->b = b.b.data();
      c->row_norm = b.row_norm.data();
      if (b.kind == BodyKind::kCsr) {
        c->row_ptr = b.row_ptr.data();
        c->col_idx = b.col_idx.data();
        c->vals = b.vals.data();
      }
    } else {
      const int64_t nn = b.M * b.M;
      f_norm.assign(b.d + 1, 0.0);
      for (int64_t i = 0; i <= b.d; ++i) {
        const double* m = i < b.d ? b.F.data() + i * nn : b.Cm.data();
        double s = 0;
        for (int64_t a = 0; a < nn; ++a) s += m[a] * m[a];
        f_norm[i] = std::sqrt(s);
      }
      c->F = b.F.data();
      c->Cm = b.Cm.data();
      c->f_norm = f_norm.data();
    }
  }
};

template <class T>
T* grow(std::vector<T>& v, size_t n) {
  v.assign(n, T{});
  return v.data();
}

class CpuSampler final : public DikinSampler {
 public:
  CpuSampler(std::shared_ptr<const Body> body, Target target, const DikinParams& p)
      : body_(std::move(body)), target_(std::move(target)), p_(p),
        k_(p.reference ? &poly_ref::walk_kernels() : &fast_kernels()) {
    const Body& b = *body_;
    layout_.fill(b, &c_);
    const int64_t C = p.C, d = b.d, M = b.M;
    c_.target = static_cast<int>(target_.kind);
    c_.tc = target_.c.empty() ? nullptr : target_.c.data();
    c_.tmean = target_.mean.empty() ? nullptr : target_.mean.data();
    c_.tprec = target_.prec.empty() ? nullptr : target_.prec.data();
    c_.tX = target_.X.empty() ? nullptr : target_.X.data();
    c_.ty = target_.y.empty() ? nullptr : target_.y.data();
    c_.nobs = target_.nobs;
    c_.prior_prec = target_.prior_prec;
    c_.barrier = static_cast<int>(p.barrier);
    c_.hessian = static_cast<int>(p.hessian);
    c_.hs = p.hessian_samples;
    c_.sketch_rows = p.sketch_rows > 0 ? p.sketch_rows : std::min<int64_t>(M, 4 * d);
    c_.jl_cols = p.jl_cols;
    c_.alpha_inv = 1.0 / p.alpha;
    c_.eta_inv = p.eta_inv;
    c_.ridge_rel = p.ridge_rel;
    c_.lewis_p = p.lewis_p;
    c_.lewis_tol = p.lewis_tol;
    c_.lewis_max_iter = p.lewis_max_iter;
    c_.lazy = p.lazy ? 1 : 0;
    c_.seed = p.seed;
    c_.burn_in = p.burn_in;
    c_.thin = p.thin;
    c_.kept = p.kept;
    c_.x = grow(x_, C * d);
    c_.fx = grow(fx_, C);
    c_.mats = grow(mats_, 2 * C * c_.msz);
    c_.cur = grow(cur_, C);
    c_.have = grow(have_, C);
    c_.lw_have = grow(lw_have_, C);
    c_.hl = grow(hl_, C);
    c_.lw = p.barrier == BarrierKind::kLewis ? grow(lw_, 2 * C * M) : nullptr;
    c_.z = grow(z_, C * d);
    c_.status = grow(status_, C);
    c_.p_hlz = grow(p_hlz_, C);
    c_.p_qz = grow(p_qz_, C);
    c_.p_qx = grow(p_qx_, C);
    c_.p_hlx = grow(p_hlx_, C);
    c_.accepted = grow(accepted_, C);
    c_.lewis_iters = grow(lewis_iters_, C);
    c_.C = C;
    c_.scratch_stride = walk_scratch_layout(c_).total;
    ensure_scratch();
  }

  Status set_start(const double* x0, const double* fx0) override {
    const int64_t C = p_.C, d = body_->d;
    for (int64_t ch = 0; ch < C; ++ch) {
      std::string why;
      if (!body_contains(*body_, x0 + ch * d, &why))
        return Status::Error(Code::kRange, "the start of chain " + std::to_string(ch) +
                                               " is not in the interior of the body (" + why + ")");
    }
    std::copy(x0, x0 + C * d, x_.begin());
    ensure_scratch();
    for (int64_t ch = 0; ch < C; ++ch) {
      double f = fx0 ? fx0[ch] : k_->target(c_, x0 + ch * d, scratch_.data());
      if (!std::isfinite(f))
        return Status::Error(Code::kRange, "f at the start of chain " + std::to_string(ch) + " is " +
                                               (std::isnan(f) ? "NaN" : "not finite") + "; π must be positive there");
      fx_[ch] = f;
      cur_[ch] = have_[ch] = lw_have_[ch] = 0;
    }
    started_ = true;
    return Status::Ok();
  }

  Status run(int64_t steps, int64_t* done) override {
    *done = 0;
    if (!started_) return Status::Error(Code::kInternal, "run() before set_start()");
    if (abort_.load()) return Status::Ok();
    ensure_scratch();
    const int64_t t0 = t_, t1 = t_ + steps;
    ensure_samples(t1);
    const auto start = std::chrono::steady_clock::now();
    const WalkKernels* k = k_;
    WalkCtx* c = &c_;
    ThreadPool::parallel_for(p_.C, [=](int64_t ch, int worker) { k->run_chain(*c, ch, t0, t1, worker); });
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    t_ = t1;
    *done = steps;
    return Status::Ok();
  }

  Status propose(double* z_out, uint8_t* need) override {
    if (!started_) return Status::Error(Code::kInternal, "propose() before set_start()");
    ensure_scratch();
    const auto start = std::chrono::steady_clock::now();
    const WalkKernels* k = k_;
    WalkCtx* c = &c_;
    const int64_t t = t_;
    ThreadPool::parallel_for(p_.C, [=](int64_t ch, int worker) { k->propose(*c, ch, t, worker); });
    const int64_t d = body_->d;
    for (int64_t ch = 0; ch < p_.C; ++ch) {
      need[ch] = status_[ch];
      const double* src = status_[ch] ? z_.data() + ch * d : x_.data() + ch * d;
      std::copy(src, src + d, z_out + ch * d);
    }
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return Status::Ok();
  }

  Status finish(const double* fz) override {
    for (int64_t ch = 0; ch < p_.C; ++ch)
      if (status_[ch] && std::isnan(fz[ch]))
        return Status::Error(Code::kRange, "the callback returned NaN for chain " + std::to_string(ch) +
                                               " (return +Infinity for a point of zero density)");
    ensure_samples(t_ + 1);
    const auto start = std::chrono::steady_clock::now();
    for (int64_t ch = 0; ch < p_.C; ++ch) k_->finish(c_, ch, t_, fz[ch]);
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ++t_;
    return Status::Ok();
  }

  void abort() override { abort_.store(true); }
  int64_t steps_done() const override { return t_; }
  int64_t recorded() const override {
    if (t_ <= p_.burn_in) return 0;
    return std::min(p_.kept, (t_ - p_.burn_in) / p_.thin);
  }
  void copy_samples(double* out) const override {
    const int64_t d = body_->d, r = recorded(), C = p_.C;
    for (int64_t k = 0; k < r; ++k)
      for (int64_t ch = 0; ch < C; ++ch)
        std::copy(samples_.begin() + (k * C + ch) * d, samples_.begin() + (k * C + ch + 1) * d, out + (ch * r + k) * d);
  }
  void acceptance(double* out) const override {
    const int64_t post = std::max<int64_t>(0, t_ - p_.burn_in);
    for (int64_t ch = 0; ch < p_.C; ++ch) out[ch] = post > 0 ? double(accepted_[ch]) / double(post) : 0.0;
  }
  double step_seconds() const override { return seconds_; }
  const char* kernel_name() const override { return k_->name; }

 private:
  // Room for the samples recorded up to step t (grows geometrically; nothing is preallocated,
  // so an aborted long run never pays for the samples it did not draw).
  void ensure_samples(int64_t t) {
    const int64_t r = t <= p_.burn_in ? 0 : std::min(p_.kept, (t - p_.burn_in) / p_.thin);
    const size_t need = static_cast<size_t>(r * p_.C * body_->d);
    if (need > samples_.size()) {
      size_t cap = std::max(need, std::min(samples_.size() * 2, static_cast<size_t>(p_.kept * p_.C * body_->d)));
      samples_.resize(cap);
    }
    c_.samples = samples_.data();
  }

  void ensure_scratch() {
    const int64_t n = std::max(1, ThreadPool::size());
    if (n > workers_) {
      scratch_.assign(n * c_.scratch_stride, 0.0);
      c_.scratch = scratch_.data();
      workers_ = n;
    }
  }

  std::shared_ptr<const Body> body_;
  Target target_;
  DikinParams p_;
  const WalkKernels* k_;
  BodyLayout layout_;
  WalkCtx c_;
  std::vector<double> x_, fx_, mats_, hl_, lw_, z_, p_hlz_, p_qz_, p_qx_, p_hlx_, samples_, scratch_;
  std::vector<uint8_t> cur_, have_, lw_have_, status_;
  std::vector<int64_t> accepted_, lewis_iters_;
  int64_t workers_ = 0, t_ = 0;
  double seconds_ = 0;
  bool started_ = false;
  std::atomic<bool> abort_{false};
};

}  // namespace

double dikin_state_bytes(const Body& b, const DikinParams& p) {
  WalkCtx c;
  c.kind = static_cast<int>(b.kind);
  c.M = b.M;
  c.d = b.d;
  c.lda = linalg::round_up(b.d, linalg::kPad);
  c.ldm = linalg::padded(b.d);
  c.msz = c.ldm * c.ldm;
  c.barrier = static_cast<int>(p.barrier);
  c.hessian = static_cast<int>(p.hessian);
  c.sketch_rows = p.sketch_rows > 0 ? p.sketch_rows : std::min<int64_t>(b.M, 4 * b.d);
  c.jl_cols = p.jl_cols;
  const double per_chain = 2.0 * double(c.msz) + 6.0 * double(b.d) + 12.0 +
                           (p.barrier == BarrierKind::kLewis ? 2.0 * double(b.M) : 0.0) + double(p.kept) * double(b.d);
  const double workers = std::max(1, ThreadPool::size());
  return 8.0 * (double(p.C) * per_chain + workers * double(walk_scratch_layout(c).total) + double(b.M) * double(c.lda));
}

Status dikin_check(const Body& b, const Target& t, const DikinParams& p) {
  const int64_t d = b.d;
  if (p.C < 1) return Status::Error(Code::kRange, "chains must be >= 1");
  if (!(p.alpha > 0) || !std::isfinite(p.alpha)) return Status::Error(Code::kRange, "alpha must be a positive finite number");
  if (!(p.eta_inv >= 0) || !std::isfinite(p.eta_inv)) return Status::Error(Code::kRange, "1/eta must be finite and >= 0");
  if (p.thin < 1 || p.burn_in < 0 || p.kept < 0) return Status::Error(Code::kRange, "bad thin / burnIn / kept");
  if (p.barrier == BarrierKind::kLewis) {
    if (!b.is_polytope()) return Status::Error(Code::kRange, "the Lewis-weight barrier is defined for polytopes only");
    if (!(p.lewis_p > 0) || !std::isfinite(p.lewis_p)) return Status::Error(Code::kRange, "the Lewis p must be > 0");
  }
  if (p.hessian == HessianKind::kSubsample) {
    if (!b.is_polytope()) return Status::Error(Code::kRange, "hessian 'subsample' is implemented for polytopes only");
    if (p.hessian_samples < 1 || p.jl_cols < 1 || p.sketch_rows < 0)
      return Status::Error(Code::kRange, "bad subsample sizes");
  }
  switch (t.kind) {
    case TargetKind::kLinear:
      if (static_cast<int64_t>(t.c.size()) != d) return Status::Error(Code::kShape, "linear target: c must have d entries");
      break;
    case TargetKind::kGaussian:
      if (static_cast<int64_t>(t.mean.size()) != d || static_cast<int64_t>(t.prec.size()) != d * d)
        return Status::Error(Code::kShape, "gaussian target: mean must have d entries and precision d×d");
      break;
    case TargetKind::kLogistic:
      if (t.nobs < 1 || static_cast<int64_t>(t.X.size()) != t.nobs * d || static_cast<int64_t>(t.y.size()) != t.nobs)
        return Status::Error(Code::kShape, "logistic target: X must be nobs×d and y nobs");
      for (double v : t.y)
        if (v != 1.0 && v != -1.0) return Status::Error(Code::kRange, "logistic target: labels must be ±1");
      break;
    default: break;
  }
  if (dikin_state_bytes(b, p) > 4.0 * 1024 * 1024 * 1024)
    return Status::Error(Code::kOom, "the sampler would need more than 4 GiB (" +
                                         std::to_string(static_cast<int64_t>(dikin_state_bytes(b, p) / 1048576)) +
                                         " MiB); use fewer chains or keep fewer samples");
  return Status::Ok();
}

Status dikin_create(std::shared_ptr<const Body> body, Target target, const DikinParams& p,
                    std::unique_ptr<DikinSampler>* out) {
  LEMMA_RETURN_IF_ERROR(dikin_check(*body, target, p));
  out->reset(new CpuSampler(std::move(body), std::move(target), p));
  return Status::Ok();
}

// ------------------------------------------------------------------ BarrierHessian
struct BarrierHessian::Impl {
  const Body& body;
  BodyLayout layout;
  WalkCtx c;
  std::vector<double> mat, scratch, lwin;
  const WalkKernels* k;
  explicit Impl(const Body& b) : body(b), k(&fast_kernels()) {}
  void configure(int barrier) {
    c.barrier = barrier;
    c.scratch_stride = walk_scratch_layout(c).total;
    if (static_cast<int64_t>(scratch.size()) < c.scratch_stride) scratch.assign(c.scratch_stride, 0.0);
    c.scratch = scratch.data();
  }
};

BarrierHessian::BarrierHessian(const Body& body, double ridge) : impl_(new Impl(body)) {
  WalkCtx& c = impl_->c;
  impl_->layout.fill(body, &c);
  c.alpha_inv = 1.0;
  c.eta_inv = ridge;
  c.ridge_rel = 0.0;
  impl_->mat.assign(c.msz, 0.0);
  impl_->configure(0);
}
BarrierHessian::~BarrierHessian() { delete impl_; }
int64_t BarrierHessian::ld() const { return impl_->c.ldm; }

const double* BarrierHessian::factor(const double* x) {
  impl_->configure(0);
  const double hl = impl_->k->phi_exact(impl_->c, x, nullptr, impl_->mat.data(), 0);
  return hl == hl ? impl_->mat.data() : nullptr;
}

int64_t BarrierHessian::lewis(const double* x, double p, double tol, int64_t max_iter, const double* w_in,
                              double* w_out, double* residual) {
  impl_->c.lewis_p = p;
  impl_->c.lewis_tol = tol;
  impl_->configure(1);
  return impl_->k->lewis(impl_->c, x, w_in, w_out, 0, max_iter, residual);
}

}  // namespace lemma
