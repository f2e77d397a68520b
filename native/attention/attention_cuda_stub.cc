// CPU-only build (LEMMA_CUDA=OFF or no nvcc): the attention_cuda.h entry points exist and say
// that CUDA was not compiled in, so the native tests and benches link and skip cleanly.
#include "attention/attention_cuda.h"

namespace lemma {

namespace {
Status unavailable() {
  return Status::Error(Code::kCudaUnavailable,
                       "CUDA support was not compiled in (built without nvcc or with LEMMA_CUDA=OFF)");
}
}  // namespace

Status attention_forward_cuda(const AttentionParams&, CudaPrecision, DeviceDtype, const void*, const void*,
                              const void*, void*, float*, void*) {
  return unavailable();
}
int64_t attention_cuda_split_plan(const AttentionParams&) { return 0; }
Status attention_forward_cuda_split(const AttentionParams&, CudaPrecision, DeviceDtype, const void*, const void*,
                                    const void*, void*, float*, int64_t, void*) {
  return unavailable();
}
Status attention_backward_cuda(const AttentionParams&, CudaPrecision, DeviceDtype, const void*, const void*,
                               const void*, const void*, const float*, const void*, void*, void*, void*, void*) {
  return unavailable();
}
Status attention_forward_cuda_plain(const AttentionParams&, CudaPrecision, DeviceDtype, const void*, const void*,
                                    const void*, void*, float*, void*) {
  return unavailable();
}
Status attention_backward_cuda_plain(const AttentionParams&, CudaPrecision, DeviceDtype, const void*,
                                     const void*, const void*, const void*, const float*, const void*, void*,
                                     void*, void*, void*) {
  return unavailable();
}
std::string attention_cuda_tiles(CudaPrecision, int64_t) { return ""; }
Status cuda_alloc(void** p, size_t) {
  *p = nullptr;
  return unavailable();
}
Status cuda_free(void* p) { return p == nullptr ? Status::Ok() : unavailable(); }
void cuda_free_deferred(void*) {}  // cuda_alloc never succeeds here: there is nothing to free
Status cuda_synchronize() { return Status::Ok(); }
int64_t cuda_bytes_in_use() { return 0; }
Status cuda_upload(void*, const void*, size_t, DeviceDtype, bool, void*) { return unavailable(); }
Status cuda_download(void*, bool, const void*, size_t, DeviceDtype, void*) { return unavailable(); }
Status cuda_stream_create(void** s) {
  *s = nullptr;
  return unavailable();
}
Status cuda_stream_sync(void*) { return unavailable(); }
Status cuda_stream_destroy(void* s) { return s == nullptr ? Status::Ok() : unavailable(); }
Status cuda_time_ms(void*, const std::function<Status()>&, float* ms) {
  *ms = 0;
  return unavailable();
}

}  // namespace lemma
