// CPU-only build: the CUDA backend reports that it was not compiled in.
#include "core/cuda_info.h"

namespace lemma {

CudaInfo cuda_info() {
  CudaInfo info;
  info.compiled = false;
  info.error = "CUDA support was not compiled in (built without nvcc or with LEMMA_CUDA=OFF)";
  return info;
}

}  // namespace lemma
