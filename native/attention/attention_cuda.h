// CUDA attention (forward and backward) and the device-memory API that the N-API layer uses.
// Plain C++: no CUDA header here, so the binding, the native tests and the benches compile
// without nvcc. Implemented by cuda/attention/*.cu and cuda/common/device_memory.cu when CUDA is
// compiled in, and by native/attention/attention_cuda_stub.cc otherwise (every call then returns
// ERR_CUDA_UNAVAILABLE).
//
// Shapes and masks are those of attention.h: q, out, dout, dq: [B, Hq, Nq, D];
// k, v, dk, dv: [B, Hkv, Nk, D]; lse: [B, Hq, Nq] fp32; bottom-right causal; a row that sees no
// key gets out = 0 and lse = +inf. All pointers are device pointers to contiguous tensors.
//
// Precision (how the products are computed) and storage dtype are separate:
//   kBf16 / kFp16: tensor cores (mma.sync m16n8k16), fp32 accumulation, P and dS rounded to the
//                  16-bit type before their products (FlashAttention-2's choice);
//   kTf32:         fp32 storage, tensor cores in TF32 (m16n8k8, operands rounded to nearest);
//   kFp32:         exact fp32 on CUDA cores (FMA), same tiling.
// The fast path reads the storage dtype that matches the precision (kF16, kBF16, kF32) with
// D in {32, 64, 96, 128, 256}; any other combination (another D <= 256, a storage dtype other
// than the precision's, a pointer not 16-byte aligned) is staged through converted, zero-padded
// copies in workspace memory: correct, a little slower.
//
// Every call is asynchronous on `stream` (nullptr = the legacy default stream): it returns once
// the work is queued; cuda_stream_sync waits for it. Errors come back as Status: ERR_CUDA (with
// the CUDA error name and file:line), ERR_CUDA_OOM, ERR_CUDA_UNAVAILABLE, ERR_SHAPE, ERR_DTYPE,
// ERR_RANGE. Nothing here aborts the process.
//
// Tested by test/native/attention_cuda_test.cc, timed by bench/native/attention_cuda_bench.cc.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "attention/attention.h"
#include "core/status.h"

namespace lemma {

enum class DeviceDtype { kF32 = 0, kF16 = 1, kBF16 = 2 };
enum class CudaPrecision { kFp32 = 0, kTf32 = 1, kFp16 = 2, kBf16 = 3 };

inline const char* device_dtype_name(DeviceDtype d) {
  switch (d) {
    case DeviceDtype::kF32: return "float32";
    case DeviceDtype::kF16: return "float16";
    case DeviceDtype::kBF16: return "bfloat16";
  }
  return "?";
}
inline const char* cuda_precision_name(CudaPrecision p) {
  switch (p) {
    case CudaPrecision::kFp32: return "fp32";
    case CudaPrecision::kTf32: return "tf32";
    case CudaPrecision::kFp16: return "fp16";
    case CudaPrecision::kBf16: return "bf16";
  }
  return "?";
}
inline size_t device_dtype_size(DeviceDtype d) { return d == DeviceDtype::kF32 ? 4 : 2; }

// ---- attention ----------------------------------------------------------------------------
// out: [B, Hq, Nq, D] in `dtype`; lse: [B, Hq, Nq] fp32. p.deterministic is ignored here.
Status attention_forward_cuda(const AttentionParams& p, CudaPrecision precision, DeviceDtype dtype,
                              const void* q, const void* k, const void* v, void* out, float* lse,
                              void* stream);

// Decode shapes (few query rows, many keys: the regular grid would leave most SMs idle) take a
// split-KV ("Flash-Decoding") path: the keys of each (b, kv head) are cut into chunks, one block
// per (b, kv head, chunk) processes all query rows of the GQA group (K and V read once per
// group), and a combine pass merges the chunks by log-sum-exp in a fixed order (bitwise
// reproducible for a given shape and device). It computes in fp32 on CUDA cores at every
// precision (no TF32 / 16-bit rounding of operands or P; out is rounded to the storage dtype).
// The number of key chunks attention_forward_cuda uses for p on the current device: 0 = the
// regular grid (no split); also 0 when p is invalid or no device is usable.
int64_t attention_cuda_split_plan(const AttentionParams& p);
// attention_forward_cuda with the path forced, for tests and benches: chunk_keys > 0 = split-KV
// with chunks of that many keys (any shape; the last chunk takes the rest), 0 = the automatic
// choice (= attention_forward_cuda), < 0 = the regular grid.
Status attention_forward_cuda_split(const AttentionParams& p, CudaPrecision precision, DeviceDtype dtype,
                                    const void* q, const void* k, const void* v, void* out, float* lse,
                                    int64_t chunk_keys, void* stream);

// out and lse are the forward pass's (same precision). dq, dk, dv in `dtype`, fully overwritten.
// p.deterministic: true = dQ by a second pass (bitwise reproducible); false = dQ accumulated
// with fp32 atomics during the dK/dV pass (faster, order-dependent rounding).
// Workspace (the D = rowsum(dO . O) vector, the fp32 dQ accumulator, staging copies) is
// stream-ordered device memory, released when the queued work completes.
Status attention_backward_cuda(const AttentionParams& p, CudaPrecision precision, DeviceDtype dtype,
                               const void* q, const void* k, const void* v, const void* out,
                               const float* lse, const void* dout, void* dq, void* dk, void* dv,
                               void* stream);

// The plain same-precision implementation the parity test measures the flash kernels against
// (flash-attention's rule): one warp per row, no tiling, S and P materialised one element at a
// time and rounded where a naive implementation at this precision would store them (S, P, dP,
// dS in the 16-bit type for fp16/bf16; operands rounded to TF32 for tf32). Slow; tests only.
Status attention_forward_cuda_plain(const AttentionParams& p, CudaPrecision precision,
                                    DeviceDtype dtype, const void* q, const void* k, const void* v,
                                    void* out, float* lse, void* stream);
Status attention_backward_cuda_plain(const AttentionParams& p, CudaPrecision precision,
                                     DeviceDtype dtype, const void* q, const void* k,
                                     const void* v, const void* out, const float* lse,
                                     const void* dout, void* dq, void* dk, void* dv, void* stream);

// The tiles the flash kernels use for this precision and kernel head dim (32, 64, 96, 128 or
// 256; other D use the next one) on the current device, which depend on its shared memory per
// block, e.g. "fwd 128x32 small | dkdv 64x32 | dq 64x32 x2": fwd and dq query rows x keys per
// block, dkdv keys x queries per step, "x2" double-buffered, "small" the small-tile variant
// (99 KB devices: sm_86, sm_89, sm_120). "" when no device is usable. For tests and benches.
std::string attention_cuda_tiles(CudaPrecision precision, int64_t D);

// ---- device memory --------------------------------------------------------------------------
// cudaMalloc / cudaFree with a byte count of what is live (cuda_bytes_in_use). OOM -> ERR_CUDA_OOM;
// a device whose context a fault broke -> ERR_CUDA naming the fault.
// cuda_free waits for the whole device (cudaFree does): never call it on the event loop; call it
// from a worker thread, or hand the pointer to cuda_free_deferred. cuda_free(nullptr) is a no-op;
// freeing an unknown pointer is ERR_INTERNAL.
Status cuda_alloc(void** p, size_t bytes);
Status cuda_free(void* p);
// Hands p (from cuda_alloc) to lemma's reclaimer thread, which cuda_free()s it once the device has
// finished the work queued so far (so work still using p is safe). Returns at once: the one free
// that the event loop may call. nullptr is a no-op.
void cuda_free_deferred(void* p);
// Waits for the frees handed to cuda_free_deferred before this call and for all work queued on
// the device (every stream). Blocks: worker threads only. Ok when no device is usable.
Status cuda_synchronize();
// Device bytes lemma holds: live cuda_alloc blocks (including those waiting in the reclaimer)
// plus workspace whose stream-ordered free the stream has not reached yet. Never less than
// what is held; exact once the streams that used workspace are synchronised and the deferred
// frees are done (after cuda_synchronize()).
int64_t cuda_bytes_in_use();

// Host -> device with conversion: the host array holds host_bytes bytes of float32
// (host_is_f64 = false) or float64 values; dst receives host_bytes / (4 or 8) elements of
// dst_dtype (fp64 rounds once, straight to the target type). Returns when the host array may
// be reused (the pageable copy has been staged); the conversion runs on `stream`.
Status cuda_upload(void* dst, const void* host, size_t host_bytes, DeviceDtype dst_dtype,
                   bool host_is_f64, void* stream);
// Device -> host with conversion to float32 / float64 (exact from every device dtype). Waits for
// the preceding work on `stream` and for the copy: the host array is filled on return.
Status cuda_download(void* host_f32_or_f64, bool host_is_f64, const void* src, size_t n_elements,
                     DeviceDtype src_dtype, void* stream);

// Non-blocking streams (they do not synchronise with the legacy default stream).
Status cuda_stream_create(void** s);
Status cuda_stream_sync(void* s);
Status cuda_stream_destroy(void* s);

// Runs `body` (which queues work on `stream`) between two events and waits for the second;
// *ms = the elapsed device time. For benchmarks.
Status cuda_time_ms(void* stream, const std::function<Status()>& body, float* ms);

}  // namespace lemma
