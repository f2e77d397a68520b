// Internal device-memory helpers shared by the CUDA families (the public face is
// native/attention/attention_cuda.h): the "is a GPU usable" check, stream-ordered workspace that
// counts toward cuda_bytes_in_use(), and the convert/pad copy kernel.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "attention/attention_cuda.h"
#include "core/status.h"

namespace lemma {

// Element types a copy can read or write (device dtypes plus fp64 for host uploads).
enum class Elt { kF32 = 0, kF16 = 1, kBF16 = 2, kF64 = 3 };
inline Elt elt_of(DeviceDtype d) { return static_cast<Elt>(static_cast<int>(d)); }

// ERR_CUDA_UNAVAILABLE with the runtime's reason when no device is usable.
Status cuda_require_device();

// dst[r][c] = convert(src[r][c]) for c < min(src_cols, dst_cols), 0 for src_cols <= c < dst_cols;
// rows x dst_cols elements written. Rows are contiguous (pitch = cols).
Status cuda_repack(const void* src, Elt src_t, int64_t src_cols, void* dst, Elt dst_t,
                   int64_t dst_cols, int64_t rows, cudaStream_t s);

// Stream-ordered scratch memory (cudaMallocAsync when the device has memory pools, else
// cudaMalloc + a stream sync before cudaFree). Frees everything it holds when destroyed, in
// stream order, so the memory is released once the queued work that uses it has run. Its bytes
// count in cuda_bytes_in_use() until then: a host function queued behind the frees subtracts
// them when the stream gets there (exact after a sync of the stream).
class Workspace {
 public:
  explicit Workspace(cudaStream_t s) : stream_(s) {}
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  Status alloc(void** p, size_t bytes);

 private:
  struct Block {
    void* p;
    size_t bytes;
    bool pooled;
  };
  cudaStream_t stream_;
  std::vector<Block> blocks_;
};

}  // namespace lemma
