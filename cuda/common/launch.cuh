// The three places where a kernel meets the machine, as macros, so that the same sources build
// with nvcc for a GPU and with the host compiler for the emulated device (LEMMA_CUDA=EMULATE,
// cuda/emulate/):
//   LEMMA_LAUNCH(kernel, grid, block[, smem[, stream]])(args...)   kernel<<<grid, block, smem, stream>>>(args...)
//       (parenthesize a kernel name that contains a comma: LEMMA_LAUNCH((k<A, B>), ...))
//   LEMMA_DYNAMIC_SMEM(T, name);          extern __shared__ T name[] (128-byte aligned)
//   LEMMA_SHARED(T, name[, dims]);        __shared__ T name dims, e.g. LEMMA_SHARED(float, red, [8]);
// On the emulated device every launch gets a dynamic buffer of exactly `smem` bytes and every
// block fresh static shared variables, both filled with 0xFF (NaN) bytes at block start.
#pragma once

#if defined(LEMMA_CUDA_EMULATE)

#define LEMMA_LAUNCH(kernel, ...) ::emu::Launch(kernel, #kernel, __FILE__, __LINE__, __VA_ARGS__)
#define LEMMA_DYNAMIC_SMEM(T, name) T* const name = static_cast<T*>(::emu::dynamic_smem())
#define LEMMA_SHARED(T, name, ...)                                                              \
  static const int name##_emu_slot = ::emu::new_smem_slot();                                   \
  auto& name = *static_cast<::emu::ptr_t<T __VA_ARGS__>>(                                       \
      ::emu::static_smem(name##_emu_slot, sizeof(T __VA_ARGS__), alignof(T __VA_ARGS__)))

#else

#define LEMMA_LAUNCH(kernel, ...) kernel<<<__VA_ARGS__>>>
#define LEMMA_DYNAMIC_SMEM(T, name) extern __shared__ __align__(128) T name[]
#define LEMMA_SHARED(T, name, ...) __shared__ T name __VA_ARGS__

#endif
