// Status: the C++ core's only error channel. Core functions never throw and never exit;
// they return a Status that the N-API layer turns into a LemmaError with the same code.
#pragma once
#include <string>
#include <utility>

namespace lemma {

enum class Code {
  kOk = 0,
  kShape,           // ERR_SHAPE
  kDtype,           // ERR_DTYPE
  kRange,           // ERR_RANGE
  kCudaUnavailable, // ERR_CUDA_UNAVAILABLE
  kCuda,            // ERR_CUDA
  kCudaOom,         // ERR_CUDA_OOM
  kDisposed,        // ERR_DISPOSED
  kOom,             // ERR_OOM (host allocation failed)
  kInternal,        // ERR_INTERNAL
  kInfeasible,      // ERR_INFEASIBLE (empty, flat or unbounded body)
  kAborted,         // ABORT_ERR (the caller's AbortSignal fired: core/cancel.h); JS makes it an AbortError
};

inline const char* code_name(Code c) {
  switch (c) {
    case Code::kOk: return "OK";
    case Code::kShape: return "ERR_SHAPE";
    case Code::kDtype: return "ERR_DTYPE";
    case Code::kRange: return "ERR_RANGE";
    case Code::kCudaUnavailable: return "ERR_CUDA_UNAVAILABLE";
    case Code::kCuda: return "ERR_CUDA";
    case Code::kCudaOom: return "ERR_CUDA_OOM";
    case Code::kDisposed: return "ERR_DISPOSED";
    case Code::kOom: return "ERR_OOM";
    case Code::kInternal: return "ERR_INTERNAL";
    case Code::kInfeasible: return "ERR_INFEASIBLE";
    case Code::kAborted: return "ABORT_ERR";
  }
  return "ERR_INTERNAL";
}

struct Status {
  Code code = Code::kOk;
  std::string message;

  static Status Ok() { return {}; }
  static Status Error(Code c, std::string msg) { return {c, std::move(msg)}; }
  bool ok() const { return code == Code::kOk; }
};

#define LEMMA_RETURN_IF_ERROR(expr)      \
  do {                                   \
    ::lemma::Status _st = (expr);        \
    if (!_st.ok()) return _st;           \
  } while (0)

}  // namespace lemma
