// FlashAttention-2 forward, bf16 instantiations for head dims 32, 64, 96, 128, 256
// (kernels in flash_fwd.cuh; one translation unit per pass and precision so builds run in parallel).
// Tested by test/native/attention_cuda_test.cc; timed by bench/native/attention_cuda_bench.cc.
#include "attention/flash_launch_impl.cuh"

namespace lemma::cuda {
template Status flash_fwd_launch<PolicyBF16>(const FlashParams&, int, cudaStream_t);
template std::string flash_fwd_tiles<PolicyBF16>(int, int);
}  // namespace lemma::cuda
