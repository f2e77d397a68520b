// dp_l1_query_cuda: F̂(y) = Σ_j γ_j Σ_{ℓ=1..L} ±(u_j·c̃ − s̃) over the path siblings of u_j's leaf
// (+ the own leaf when it lies on one side of u_j; see native/dp/dp.h), for a batch of queries, on the GPU. Post-processing only: the tree is the
// already-noised release; no noise is ever drawn here. fp64 throughout.
//   cnt, sum: [d, N] (N = 2^{L+1}, implicit heap per coordinate)   Y: [q, d]   out: [q]
// Mapping: one segment of S = min(32, next_pow2(d)) lanes per query; lane k walks coordinates
// k, k + S, ...; a shuffle reduction inside the segment in a fixed order (deterministic).
// The tree, Y and out are copied per call (a device-resident tree would save the upload;
// the upload is ~2·d·N·8 bytes).
// Tested by test/native/dp_cuda_test.cc (parity with dp_l1_query_cpu and the oracle, memory, OOM
// paths; runs on the emulated device: LEMMA_CUDA=EMULATE) and test/gpu/dp-query.test.ts.
#include <cuda_runtime.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/device_buffer.cuh"
#include "common/launch.cuh"
#include "dp/dp.h"

namespace lemma {

namespace {

struct QueryArgs {
  const double* cnt;   // [d, N]
  const double* sum;   // [d, N]
  const double* Y;     // [q, d]
  const double* lo;    // [d]
  const double* scale; // [2d]: γ_j then 1/γ_j
  double* out;         // [q]
  long long q, d, N;
  int L, grid_bits, seg;
};

__device__ __forceinline__ unsigned long long leaf_of(double u, int q, int L) {
  const double top = static_cast<double>((1ull << q) - 1);
  const double f = floor(u);
  const unsigned long long g = !(f > 0.0) ? 0ull : (f >= top ? (1ull << q) - 1 : static_cast<unsigned long long>(f));
  return g >> (q - L);
}

// Same operations, same order as walk() in native/dp/dp_cpu.cc.
__device__ __forceinline__ double walk(const double* c, const double* s, int L, int q, unsigned long long leaf, double u) {
  double acc = 0.0;
  for (int l = 1; l <= L; ++l) {
    const unsigned long long idx = (1ull << l) | (leaf >> (L - l));
    const unsigned long long sib = idx ^ 1ull;
    if (idx & 1ull) acc += u * c[sib] - s[sib];
    else acc += s[sib] - u * c[sib];
  }
  const unsigned long long v = (1ull << L) | leaf;
  const double first = static_cast<double>(leaf << (q - L));
  const double last = first + static_cast<double>((1ull << (q - L)) - 1ull);
  if (u >= last) acc += u * c[v] - s[v];
  else if (u <= first) acc += s[v] - u * c[v];
  return acc;
}

__device__ __forceinline__ double segment_sum(double v, int seg) {
  for (int off = seg >> 1; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off, seg);
  return v;
}

__global__ void dp_l1_query_kernel(QueryArgs a) {
  const long long t = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const long long query = t / a.seg;
  const int k = static_cast<int>(t % a.seg);
  double acc = 0.0;
  if (query < a.q) {
    const double* y = a.Y + query * a.d;
    for (long long j = k; j < a.d; j += a.seg) {
      const double u = (y[j] - a.lo[j]) * a.scale[a.d + j];
      acc += a.scale[j] * walk(a.cnt + j * a.N, a.sum + j * a.N, a.L, a.grid_bits, leaf_of(u, a.grid_bits, a.L), u);
    }
  }
  acc = segment_sum(acc, a.seg);  // every lane takes part (no early return above)
  if (query < a.q && k == 0) a.out[query] = acc;
}

Status cuda_status(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::Ok();
  cudaGetLastError();
  const Code c = e == cudaErrorMemoryAllocation ? Code::kCudaOom : Code::kCuda;
  return Status::Error(c, std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

#define DP_CUDA(expr, what) LEMMA_RETURN_IF_ERROR(cuda_status((expr), what))

}  // namespace

Status dp_l1_query_cuda(const DpL1Params& p, const double* cnt, const double* sum, const double* Y,
                        int64_t q, double* out) {
  // The caller (native/napi/dp_binding.cc) has run dp_l1_check_params; not called here so that
  // lemma_cuda does not depend on lemma_core's link order.
  for (int64_t i = 0; i < q * p.d; ++i)
    if (!std::isfinite(Y[i])) return Status::Error(Code::kRange, "Y holds a non-finite number");
  if (q == 0) return Status::Ok();
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    return Status::Error(Code::kCudaUnavailable, "no usable CUDA device");
  }
  const int64_t N = dp_slots(p.levels), d = p.d;
  const double top = std::ldexp(1.0, p.grid_bits) - 1.0;
  std::vector<double> host_scale(2 * d);
  for (int64_t j = 0; j < d; ++j) {
    host_scale[j] = (p.hi[j] - p.lo[j]) / top;
    host_scale[d + j] = top / (p.hi[j] - p.lo[j]);
  }
  // Freed on every path (cuda_free), counted in cuda_bytes_in_use() while the call runs.
  DeviceBuffer<double> dc, ds, dy, dlo, dsc, dout;
  LEMMA_RETURN_IF_ERROR(dc.alloc(d * N));
  LEMMA_RETURN_IF_ERROR(ds.alloc(d * N));
  LEMMA_RETURN_IF_ERROR(dy.alloc(q * d));
  LEMMA_RETURN_IF_ERROR(dlo.alloc(d));
  LEMMA_RETURN_IF_ERROR(dsc.alloc(2 * d));
  LEMMA_RETURN_IF_ERROR(dout.alloc(q));
  LEMMA_RETURN_IF_ERROR(dc.upload(cnt, d * N));
  LEMMA_RETURN_IF_ERROR(ds.upload(sum, d * N));
  LEMMA_RETURN_IF_ERROR(dy.upload(Y, q * d));
  LEMMA_RETURN_IF_ERROR(dlo.upload(p.lo, d));
  LEMMA_RETURN_IF_ERROR(dsc.upload(host_scale.data(), 2 * d));
  int seg = 1;
  while (seg < d && seg < 32) seg <<= 1;
  QueryArgs a{dc.get(), ds.get(), dy.get(), dlo.get(), dsc.get(), dout.get(), static_cast<long long>(q), static_cast<long long>(d),
              static_cast<long long>(N), p.levels, p.grid_bits, seg};
  constexpr int kThreads = 256;
  const long long threads = static_cast<long long>(q) * seg;
  const long long blocks = (threads + kThreads - 1) / kThreads;
  if (blocks > 2147483647LL) return Status::Error(Code::kRange, "too many queries for one launch");
  LEMMA_LAUNCH(dp_l1_query_kernel, static_cast<unsigned>(blocks), kThreads)(a);
  DP_CUDA(cudaGetLastError(), "dp_l1_query_kernel launch");
  LEMMA_RETURN_IF_ERROR(dout.download(out, q));
  return Status::Ok();
}

}  // namespace lemma
