// The looped iteration's tile kernel at the baseline ISA (x86-64: SSE2, 2 fp64 lanes; or any
// architecture), one row per pass. The kernel is looped_cpu_kernels.inl; this TU selects the
// namespace lemma::scalar. Test: build/looped_test
#define LEMMA_SIMD_NS scalar
#define LEMMA_LOOPED_RB 2
#define LEMMA_LOOPED_VBYTES 16
#include "looped/looped_cpu_kernels.inl"
