// MCMC diagnostics over samples [C, N, d]:
//   ess[j]  multi-chain effective sample size (BDA3 §11.5 / Stan's basic ESS): per-chain
//           autocovariances γ_c(t) by FFT, ρ_t = 1 − (W − mean_c γ_c(t))/var⁺,
//           var⁺ = (N−1)/N·W + B/N, Geyer's initial monotone sequence on the pair sums
//           P_k = ρ_2k + ρ_2k+1, ESS = C·N/τ with τ = −1 + 2·Σ P_k (capped at C·N·log10(C·N)).
//   rhat[j] split R-hat: each chain halved, R̂ = sqrt(var⁺/W) over the 2C half-chains.
// A coordinate whose kept samples are all identical has W = 0: ess = 0 and rhat = NaN.
// Test: test/30.polytope-uniform.test.ts (AR(1) chains with a closed-form ESS).
#include <cmath>
#include <utility>
#include <vector>

#include "polytope/polytope.h"

namespace lemma {

namespace {

// In-place radix-2 FFT on split real / imaginary arrays (n a power of two).
void fft(std::vector<double>& re, std::vector<double>& im, bool inverse) {
  const size_t n = re.size();
  for (size_t i = 1, j = 0; i < n; ++i) {
    size_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      std::swap(re[i], re[j]);
      std::swap(im[i], im[j]);
    }
  }
  std::vector<double> tr(n / 2 + 1), ti(n / 2 + 1);
  for (size_t len = 2; len <= n; len <<= 1) {
    const size_t h = len / 2;
    const double ang = 2 * M_PI / double(len) * (inverse ? 1 : -1);
    for (size_t k = 0; k < h; ++k) {
      tr[k] = std::cos(ang * double(k));
      ti[k] = std::sin(ang * double(k));
    }
    for (size_t i0 = 0; i0 < n; i0 += len) {
      double *ar = &re[i0], *ai = &im[i0], *br = &re[i0 + h], *bi = &im[i0 + h];
      for (size_t k = 0; k < h; ++k) {
        const double xr = br[k] * tr[k] - bi[k] * ti[k], xi = br[k] * ti[k] + bi[k] * tr[k];
        br[k] = ar[k] - xr;
        bi[k] = ai[k] - xi;
        ar[k] += xr;
        ai[k] += xi;
      }
    }
  }
}

// Biased autocovariance γ(t) = (1/N) Σ (x_i − m)(x_{i+t} − m), t < N.
void autocov(const std::vector<double>& x, std::vector<double>& out, std::vector<double>& re, std::vector<double>& im) {
  const size_t N = x.size();
  size_t n = 1;
  while (n < 2 * N) n <<= 1;
  double m = 0;
  for (double v : x) m += v;
  m /= double(N);
  re.assign(n, 0.0);
  im.assign(n, 0.0);
  for (size_t i = 0; i < N; ++i) re[i] = x[i] - m;
  fft(re, im, false);
  for (size_t i = 0; i < n; ++i) {
    re[i] = re[i] * re[i] + im[i] * im[i];
    im[i] = 0.0;
  }
  fft(re, im, true);
  out.resize(N);
  for (size_t t = 0; t < N; ++t) out[t] = re[t] / double(n) / double(N);
}

}  // namespace

Status mcmc_diagnostics(const double* s, int64_t C, int64_t N, int64_t d, double* ess, double* rhat) {
  if (N < 4 || C < 1) return Status::Error(Code::kRange, "diagnostics need at least 4 samples per chain");
  std::vector<double> x(N), g, mean(C), var(C), rho(N);
  std::vector<std::vector<double>> ac(C);
  std::vector<double> re, im;
  for (int64_t j = 0; j < d; ++j) {
    // ---- ESS on whole chains
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t i = 0; i < N; ++i) x[i] = s[(c * N + i) * d + j];
      autocov(x, ac[c], re, im);
      double m = 0;
      for (double v : x) m += v;
      mean[c] = m / double(N);
      var[c] = ac[c][0] * double(N) / double(N - 1);
    }
    double W = 0, gm = 0;
    for (int64_t c = 0; c < C; ++c) W += var[c], gm += mean[c];
    W /= double(C);
    gm /= double(C);
    double Bn = 0;  // B/N
    if (C > 1) {
      for (int64_t c = 0; c < C; ++c) Bn += (mean[c] - gm) * (mean[c] - gm);
      Bn /= double(C - 1);
    }
    const double varp = double(N - 1) / double(N) * W + Bn;
    if (!(W > 0) || !(varp > 0)) {
      ess[j] = 0;
    } else {
      for (int64_t t = 0; t < N; ++t) {
        double a = 0;
        for (int64_t c = 0; c < C; ++c) a += ac[c][t];
        rho[t] = 1.0 - (W - a / double(C)) / varp;
      }
      // Geyer initial positive + monotone sequence on pair sums.
      double tau = -1.0, prev = INFINITY;
      for (int64_t k = 0; 2 * k + 1 < N; ++k) {
        double P = rho[2 * k] + rho[2 * k + 1];
        if (!(P > 0)) break;
        if (P > prev) P = prev;
        prev = P;
        tau += 2.0 * P;
      }
      const double total = double(C) * double(N);
      const double e = total / std::max(tau, 1e-12);
      ess[j] = std::min(e, total * std::log10(total));
    }
    // ---- split R-hat
    const int64_t h = N / 2;
    double Ws = 0, ms = 0;
    std::vector<double> hm(2 * C);
    for (int64_t c = 0; c < C; ++c)
      for (int half = 0; half < 2; ++half) {
        const int64_t off = half == 0 ? 0 : N - h;
        double m = 0;
        for (int64_t i = 0; i < h; ++i) m += s[(c * N + off + i) * d + j];
        m /= double(h);
        double v = 0;
        for (int64_t i = 0; i < h; ++i) {
          const double e = s[(c * N + off + i) * d + j] - m;
          v += e * e;
        }
        v /= double(h - 1);
        hm[2 * c + half] = m;
        Ws += v;
        ms += m;
      }
    const double mcount = double(2 * C);
    Ws /= mcount;
    ms /= mcount;
    double Bs = 0;
    for (double m : hm) Bs += (m - ms) * (m - ms);
    Bs /= (mcount - 1.0);  // B/h
    const double vp = double(h - 1) / double(h) * Ws + Bs;
    rhat[j] = Ws > 0 ? std::sqrt(vp / Ws) : NAN;
  }
  return Status::Ok();
}

}  // namespace lemma
