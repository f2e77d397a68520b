// What the CUDA backend can offer right now. Implemented by cuda/common/cuda_info.cu when the
// addon is built with nvcc, and by native/core/cuda_stub.cc otherwise.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lemma {

struct GpuDevice {
  int index = 0;
  std::string name;
  int64_t total_memory = 0;  // bytes
  int major = 0, minor = 0;  // compute capability
  int multiprocessors = 0;
};

struct CudaInfo {
  bool compiled = false;    // built with nvcc (or for the emulated device)?
  bool emulated = false;    // the emulated device (LEMMA_CUDA=EMULATE): kernels run on the CPU
  int device_count = 0;     // usable devices (0 when none or no driver)
  int error_code = 0;       // cudaError_t of cudaGetDeviceCount (35: no driver, 100: no device)
  std::string error;        // why no GPU is usable ("" when one is)
  int runtime_version = 0;  // cudaRuntimeGetVersion
  int driver_version = 0;   // cudaDriverGetVersion (0 = no driver)
  std::string architectures;  // the SASS/PTX targets compiled in
  std::vector<GpuDevice> devices;
};

CudaInfo cuda_info();

}  // namespace lemma
