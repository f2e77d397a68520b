// CUDA error handling for the core: every runtime call is checked and turned into a Status
// (ERR_CUDA with the error's name, the call and file:line; ERR_CUDA_OOM for allocation
// failures). Never aborts. A sticky error (the context is broken after a faulting kernel) is
// reported the same way by every later call; the process stays alive.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "core/status.h"

namespace lemma {

inline Status cuda_status(cudaError_t e, const char* what, const char* file, int line) {
  const Code code = e == cudaErrorMemoryAllocation ? Code::kCudaOom : Code::kCuda;
  std::string msg = std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ") in " +
                    what + " at " + file + ":" + std::to_string(line);
  // Clear a non-sticky error so the next call starts clean; a sticky one stays regardless.
  cudaGetLastError();
  return Status::Error(code, msg);
}

}  // namespace lemma

// Evaluates a cudaError_t expression; on failure returns the Status from the enclosing function.
#define LEMMA_CUDA_CHECK(expr)                                                  \
  do {                                                                          \
    const cudaError_t _lemma_e = (expr);                                        \
    if (_lemma_e != cudaSuccess)                                                \
      return ::lemma::cuda_status(_lemma_e, #expr, __FILE__, __LINE__);         \
  } while (0)

// After a kernel launch: configuration errors (cudaGetLastError) come back as ERR_CUDA.
#define LEMMA_CUDA_CHECK_LAUNCH(what)                                           \
  do {                                                                          \
    const cudaError_t _lemma_e = cudaGetLastError();                            \
    if (_lemma_e != cudaSuccess)                                                \
      return ::lemma::cuda_status(_lemma_e, what, __FILE__, __LINE__);          \
  } while (0)
