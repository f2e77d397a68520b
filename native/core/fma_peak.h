// fp32 FMA peak of this machine at the SIMD level in use (a micro-benchmark, for % of peak).
//   GFLOP/s = sum over threads of (FMAs * lanes * 2) / seconds
// Tested by: bench/native/attention_bench.cc (prints it beside the kernel numbers).
#pragma once

namespace lemma {

// Runs `threads` threads concurrently for about `seconds` each, every thread issuing
// independent chains of vector FMAs of the widest ISA in use; returns the sum over threads of
// each thread's best GFLOP/s over ~20 ms windows (robust to intermittent neighbours).
double fma_peak_gflops(int threads, double seconds);
// The ISA fma_peak_gflops measures now: "avx512", "avx2" or "scalar".
const char* fma_peak_isa();

namespace avx512 {
// One thread: at least `iters` rounds of 24 zmm FMAs; returns the number of FMA lane-ops.
double fma_peak_run(long iters);
}  // namespace avx512
namespace avx2 {
double fma_peak_run(long iters);  // 12 ymm chains
}  // namespace avx2

}  // namespace lemma
