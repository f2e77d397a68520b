// The CUDA Dikin walk (cuda/polytope/dikin_walk.cu), compiled only when nvcc is found
// (LEMMA_WITH_CUDA). Same DikinSampler interface and the same Philox counters as the CPU path.
// Supported: dense or CSR polytopes (CSR is densified), log barrier, exact Hessian, built-in
// targets (uniform, linear, gaussian, logistic) and callback targets; others return
// ERR_CUDA_UNAVAILABLE naming what is missing. Test: test/gpu/polytope.gpu.test.ts.
#pragma once
#include <memory>

#include "core/status.h"
#include "polytope/polytope.h"

namespace lemma {

#ifdef LEMMA_WITH_CUDA
Status dikin_create_cuda(std::shared_ptr<const Body> body, Target target, const DikinParams& p,
                         std::unique_ptr<DikinSampler>* out);
#endif

}  // namespace lemma
