// cuda_info(): the CUDA runtime's view of this machine (compiled in when nvcc is found).
// Static cudart: loads on machines without a driver and reports cudaErrorInsufficientDriver.
#include <cuda_runtime.h>

#include "core/cuda_info.h"

#ifndef LEMMA_CUDA_ARCHS
#define LEMMA_CUDA_ARCHS ""
#endif

namespace lemma {

CudaInfo cuda_info() {
  CudaInfo info;
  info.compiled = true;
#if defined(LEMMA_CUDA_EMULATE)
  info.emulated = true;
#endif
  info.architectures = LEMMA_CUDA_ARCHS;
  cudaRuntimeGetVersion(&info.runtime_version);
  cudaDriverGetVersion(&info.driver_version);
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  info.error_code = static_cast<int>(e);
  if (e != cudaSuccess) {
    info.error = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
    cudaGetLastError();  // clear it so later calls start clean
    return info;
  }
  if (count == 0) {
    info.error = "cudaGetDeviceCount reported no device";
    return info;
  }
  info.device_count = count;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    GpuDevice d;
    d.index = i;
    d.name = prop.name;
    d.total_memory = static_cast<int64_t>(prop.totalGlobalMem);
    d.major = prop.major;
    d.minor = prop.minor;
    d.multiprocessors = prop.multiProcessorCount;
    info.devices.push_back(d);
  }
  return info;
}

}  // namespace lemma
