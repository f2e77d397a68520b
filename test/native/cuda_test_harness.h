// What the native CUDA tests (test/native/*_cuda_test.cc) share besides test_harness.h: device
// memory once the queued work and the deferred frees have run, the --quick / --full flags, the
// skip line without a GPU and the header line with one, and the allocation-failure sweep of the
// emulated device.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "attention/attention_cuda.h"
#include "core/cuda_info.h"
#include "core/status.h"
#if defined(LEMMA_CUDA_EMULATE)
#include "emulate/control.h"
#endif

#include "test_harness.h"

namespace lemma_test {

// Bytes in use once the queued work and the deferred frees have run (device buffers free
// through the reclaimer, off the calling thread).
inline int64_t settled_bytes() {
  (void)lemma::cuda_synchronize();
  return lemma::cuda_bytes_in_use();
}

// --quick / --full. Sanitizer builds run the kernels ten to thirty times slower: --quick unless
// --full.
inline bool quick_flag(int argc, char** argv) {
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  bool quick = true;
#else
  bool quick = false;
#endif
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    if (std::strcmp(argv[i], "--full") == 0) quick = false;
  }
  return quick;
}

// Without a usable GPU: prints why and "0 passed, 0 failed, <checks> skipped", returns false.
// With one: prints "<name> on <device>[ (emulated)][ (--quick)]", returns true.
inline bool cuda_test_start(const char* name, long long checks, bool quick) {
  const lemma::CudaInfo info = lemma::cuda_info();
  if (!info.compiled || info.device_count == 0) {
    std::printf("%s: skipped, no usable GPU: %s\n", name,
                info.compiled ? info.error.c_str() : "CUDA support was not compiled in");
    std::printf("0 passed, 0 failed, %lld skipped\n", checks);
    return false;
  }
  std::printf("%s on %s%s%s\n", name, info.devices.empty() ? "?" : info.devices[0].name.c_str(),
              info.emulated ? " (emulated)" : "", quick ? " (--quick)" : "");
  return true;
}

#if defined(LEMMA_CUDA_EMULATE)
struct OomSweep {
  int failures = 0;  // calls that returned ERR_CUDA_OOM
  int other = 0;     // calls that returned another error (each printed)
  int leaks = 0;     // calls after which the settled bytes differ from mem0
  bool finished = false;  // a call succeeded (no allocation left to fail)
};

// call() with its k-th device allocation failing, for k = 1, 2, ... until it succeeds or k passes
// max_k. `after` runs after each call (before the leak check), e.g. to drop an index.
template <typename Call, typename After>
OomSweep oom_sweep(int max_k, int64_t mem0, Call&& call, After&& after) {
  OomSweep s;
  for (int k = 1; k <= max_k && !s.finished; ++k) {
    emu::fail_allocation_after(k);
    const lemma::Status st = call();
    emu::fail_allocation_after(0);
    if (st.ok()) s.finished = true;
    else if (st.code == lemma::Code::kCudaOom) ++s.failures;
    else ++s.other, std::printf("allocation %d: %s %s\n", k, lemma::code_name(st.code), st.message.c_str());
    after();
    s.leaks += settled_bytes() != mem0;
  }
  return s;
}
template <typename Call>
OomSweep oom_sweep(int max_k, int64_t mem0, Call&& call) {
  return oom_sweep(max_k, mem0, call, [] {});
}
#endif

}  // namespace lemma_test
