// Split-KV ("Flash-Decoding") forward for decode shapes: the launcher (flash_split.cu) and the
// automatic choice (attention_cuda.cu). See flash_split.cu for the algorithm.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "attention/attention.h"
#include "attention/attention_cuda.h"
#include "attention/flash_common.cuh"
#include "common/device_memory.cuh"
#include "core/status.h"

namespace lemma::cuda {

// Keys per chunk the automatic dispatch uses for p on a device with `sms` multiprocessors, or 0
// for the regular grid (see flash_split.cu for the rule).
int64_t split_chunk_keys(const AttentionParams& p, int sms);

// Whether the split kernel's smallest configuration for this dtype and head dim fits the
// device's shared memory (always on sm_80+; not under a low LEMMA_EMULATE_SMEM_OPTIN).
Status split_fits(DeviceDtype cd, int D, bool* fits);

// Forward by split-KV: p.q, p.k, p.v (element type of `cd`, head dim D: a multiple of 32 up to
// 256, i.e. a kernel head dim), p.out (same type), p.lse. Keys go in chunks of `chunk` keys
// (any chunk >= 1); partial results live in `ws` (stream-ordered workspace).
Status flash_split_fwd_launch(const FlashParams& p, DeviceDtype cd, int D, int64_t chunk, Workspace& ws,
                              cudaStream_t s);

}  // namespace lemma::cuda
