// Interface between the two halves of the emulated device: device.cc (fibers, scheduling, the
// kernel-side operations) and runtime.cc (the CUDA runtime API: memory, streams, events, limits,
// errors). Not seen by kernels.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "emulate/device.h"

namespace emu {

// The limits of the emulated architecture (LEMMA_EMULATE_ARCH), as a GPU of that kind enforces them.
struct Limits {
  int major = 8, minor = 0;
  const char* family = "";          // e.g. "A100"
  int sms = 108;
  size_t smem_default = 48 * 1024;  // dynamic shared memory per block without the opt-in attribute
  size_t smem_optin = 0;            // opt-in maximum per block (static + dynamic)
  size_t smem_per_sm = 0;
  int max_threads_per_sm = 2048;
  size_t memory = 0;                // bytes of emulated device memory
};
const Limits& limits();

// A launch as the stream worker runs it.
struct KernelRun {
  KernelLaunch k;
  std::function<void()> body;
  size_t smem_limit;  // the dynamic shared memory the launch may use (attribute or default)
  uint64_t seq;       // launch number (selects the rotating schedule)
};
// Runs every block of the launch on the calling thread (a stream worker).
void run_kernel(const KernelRun& r);

// runtime.cc
void enqueue_kernel(KernelRun r);
void set_last_error(cudaError_t e);
// A fault found while a kernel ran: sticky, as an illegal address is on a GPU.
void device_fault(cudaError_t e, const std::string& message);
bool device_faulted();
size_t kernel_dynamic_smem_limit(const void* fn);

// Counters (control.h reports them).
struct Counters {
  std::atomic<uint64_t> launches{0}, blocks{0}, threads{0}, switches{0};
};
Counters& counters();

}  // namespace emu
