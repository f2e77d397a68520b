// The memory-bandwidth baseline of the decoding benchmarks: reads arrays once, as an attention
// decode step must read the key/value cache once, on the ThreadPool (same threads as the
// kernels). Chunks of 256 KiB, 8 independent 64-bit XOR chains per chunk; the result is a
// checksum only (it keeps the reads from being optimised away).
// Used by: bench/native/attention_bench.cc (--decode), lib/bench/attention.ts (streamRead).
#pragma once
#include <cstdint>

namespace lemma {

uint64_t stream_read(const void* const* arrays, const int64_t* bytes, int n);

}  // namespace lemma
