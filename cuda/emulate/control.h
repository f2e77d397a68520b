// Controls of the emulated CUDA device for tests (plain C++: no CUDA header, so the N-API layer
// and the native tests can include it). Only the LEMMA_CUDA=EMULATE build defines these.
//
// Environment (read once, at the first use):
//   LEMMA_EMULATE_ARCH       8.0 (default) | 8.6 | 8.9 | 9.0 | 12.0: the limits enforced
//   LEMMA_EMULATE_MEMORY_MB  device memory capacity (default 4096)
//   LEMMA_EMULATE_SMEM_OPTIN shared memory per block with the opt-in attribute, in bytes, when
//                            lower than the architecture's (tests of the "does not fit" paths)
//   LEMMA_EMU_POLICY         rotate (default) | lockstep | ahead | behind | random
//   LEMMA_EMU_BLOCK_ORDER    in-order (default) | reverse | shuffle
//   LEMMA_EMU_SEED           seed of the random policy and the shuffled block order
//   LEMMA_EMU_ABORT=1        abort() at the first fault (for a debugger) instead of a sticky error
//   LEMMA_EMU_STACK_KB       fiber stack size (default 256, 1024 under sanitizers)
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace emu {

struct EmulatorInfo {
  int major = 0, minor = 0;
  const char* family = "";
  size_t smem_optin = 0, memory = 0, memory_used = 0;
  uint64_t launches = 0, blocks = 0, threads = 0, switches = 0;
};

bool emulated();
EmulatorInfo info();
// The k-th allocation from now (cudaMalloc / cudaMallocAsync) fails with
// cudaErrorMemoryAllocation; 0 turns the injector off.
void fail_allocation_after(int k);
// Breaks the context as a faulting kernel would: every later runtime call returns a sticky
// cudaErrorLaunchFailure until reset().
void inject_fault(const char* why);
// The sticky fault's description ("" when there is none).
std::string fault_message();
// Waits for all streams, clears a sticky fault, the injector and every thread's last error.
void reset();

}  // namespace emu
