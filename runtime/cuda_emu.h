/* runtime/cuda_emu.h -- the CUDA subset generated kernels may use, for the
 * host: `--device emu` compiles the very kernel source NVRTC compiles,
 * after this header, with the C compiler.
 *
 * One idea: a CUDA kernel is a function every thread of a block runs, so on
 * the host a block is that function called once per thread index. Kernels
 * without barriers or warp collectives run their threads as a plain loop;
 * the others run them as fibers (emu_fiber.c) that switch at each barrier,
 * shuffle or vote, so every thread of a block sees the others' writes to
 * shared memory exactly where CUDA guarantees it. Blocks are independent
 * and run in parallel over the OpenMP team. Shared memory is a static
 * thread-local array: one copy per OS thread, shared by the fibers of the
 * block it runs. The subset (keep the generator inside it):
 *   __global__ / __device__ / __forceinline__ / __shared__ / __restrict__,
 *   threadIdx, blockIdx, blockDim, gridDim, warpSize,
 *   __syncthreads, __syncwarp, __shfl{,_xor,_up,_down}_sync (float, double,
 *   int, unsigned, long long, unsigned long long), __ballot_sync,
 *   __any_sync, __all_sync, atomicAdd / atomicMax / atomicCAS (int,
 *   unsigned, unsigned long long; atomicAdd also float and double),
 *   __threadfence, the float bit casts, rsqrtf/__expf/__logf/__fdividef,
 *   and FTC_DYN_SMEM (dynamic shared memory) from the kernel prelude.
 */
#ifndef FTC_RUNTIME_CUDA_EMU_H
#define FTC_RUNTIME_CUDA_EMU_H

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct ftc_dim3 {
  unsigned x, y, z;
} ftc_dim3;

/* the running thread's coordinates (emu_fiber.c sets them per switch) */
extern _Thread_local ftc_dim3 ftc_emu_tid, ftc_emu_bid, ftc_emu_bdim, ftc_emu_gdim;
#define threadIdx ftc_emu_tid
#define blockIdx ftc_emu_bid
#define blockDim ftc_emu_bdim
#define gridDim ftc_emu_gdim
#define warpSize 32

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __shared__ static _Thread_local
#define __restrict__ restrict
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

/* barriers and warp collectives (emu_fiber.c) */
void ftc_emu_syncthreads(void);
void ftc_emu_syncwarp(void);
uint64_t ftc_emu_shfl(uint64_t v, int kind, int arg, int width);
unsigned ftc_emu_vote(int pred, int kind);
void *ftc_emu_dyn_smem(void);
enum { FTC_SHFL_IDX, FTC_SHFL_XOR, FTC_SHFL_UP, FTC_SHFL_DOWN };
enum { FTC_VOTE_BALLOT, FTC_VOTE_ANY, FTC_VOTE_ALL };

#define __syncthreads() ftc_emu_syncthreads()
#define __syncwarp(...) ftc_emu_syncwarp()
#define __threadfence() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define __threadfence_block() __atomic_thread_fence(__ATOMIC_SEQ_CST)

/* shuffles by value type: the bits travel as a uint64_t */
#define FTC_EMU_SHFL_T(T, N)                                                                       \
  static inline T ftc_emu_shfl_##N(T v, int kind, int arg, int width) {                            \
    uint64_t b = 0;                                                                                \
    memcpy(&b, &v, sizeof v);                                                                      \
    b = ftc_emu_shfl(b, kind, arg, width);                                                         \
    memcpy(&v, &b, sizeof v);                                                                      \
    return v;                                                                                      \
  }
FTC_EMU_SHFL_T(float, f)
FTC_EMU_SHFL_T(double, d)
FTC_EMU_SHFL_T(int, i)
FTC_EMU_SHFL_T(unsigned, u)
FTC_EMU_SHFL_T(long long, ll)
FTC_EMU_SHFL_T(unsigned long long, ull)
#undef FTC_EMU_SHFL_T
#define FTC_EMU_SHFL(kind, v, arg, width)                                                          \
  _Generic((v), float                                                                              \
           : ftc_emu_shfl_f, double                                                                \
           : ftc_emu_shfl_d, int                                                                   \
           : ftc_emu_shfl_i, unsigned                                                              \
           : ftc_emu_shfl_u, long long                                                             \
           : ftc_emu_shfl_ll, unsigned long long                                                   \
           : ftc_emu_shfl_ull)((v), (kind), (arg), (width))
/* the optional width argument (default warpSize) arrives as 0 */
#define __shfl_sync(m, v, lane, ...) FTC_EMU_SHFL(FTC_SHFL_IDX, v, lane, __VA_ARGS__ + 0)
#define __shfl_xor_sync(m, v, lm, ...) FTC_EMU_SHFL(FTC_SHFL_XOR, v, lm, __VA_ARGS__ + 0)
#define __shfl_up_sync(m, v, d, ...) FTC_EMU_SHFL(FTC_SHFL_UP, v, d, __VA_ARGS__ + 0)
#define __shfl_down_sync(m, v, d, ...) FTC_EMU_SHFL(FTC_SHFL_DOWN, v, d, __VA_ARGS__ + 0)
#define __ballot_sync(m, p) ftc_emu_vote((p) != 0, FTC_VOTE_BALLOT)
#define __any_sync(m, p) ((int)ftc_emu_vote((p) != 0, FTC_VOTE_ANY))
#define __all_sync(m, p) ((int)ftc_emu_vote((p) != 0, FTC_VOTE_ALL))

/* atomics: blocks run on several OS threads, so these are real atomics */
static inline float ftc_emu_atomic_add_f(float *p, float v) {
  uint32_t old = __atomic_load_n((uint32_t *)p, __ATOMIC_RELAXED), nw;
  float f;
  do {
    memcpy(&f, &old, 4);
    f += v;
    memcpy(&nw, &f, 4);
  } while (
      !__atomic_compare_exchange_n((uint32_t *)p, &old, nw, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
  memcpy(&f, &old, 4);
  return f;
}
static inline double ftc_emu_atomic_add_d(double *p, double v) {
  uint64_t old = __atomic_load_n((uint64_t *)p, __ATOMIC_RELAXED), nw;
  double f;
  do {
    memcpy(&f, &old, 8);
    f += v;
    memcpy(&nw, &f, 8);
  } while (
      !__atomic_compare_exchange_n((uint64_t *)p, &old, nw, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
  memcpy(&f, &old, 8);
  return f;
}
static inline int ftc_emu_atomic_add_i(int *p, int v) {
  return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
static inline unsigned ftc_emu_atomic_add_u(unsigned *p, unsigned v) {
  return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
static inline unsigned long long ftc_emu_atomic_add_ull(unsigned long long *p,
                                                        unsigned long long v) {
  return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
#define atomicAdd(p, v)                                                                            \
  _Generic((p), float *: ftc_emu_atomic_add_f, double *: ftc_emu_atomic_add_d,  \
           int *: ftc_emu_atomic_add_i, unsigned *: ftc_emu_atomic_add_u,       \
           unsigned long long *: ftc_emu_atomic_add_ull)((p), (v))
static inline int ftc_emu_atomic_max_i(int *p, int v) {
  int old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (old < v &&
         !__atomic_compare_exchange_n(p, &old, v, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
  }
  return old;
}
static inline unsigned ftc_emu_atomic_max_u(unsigned *p, unsigned v) {
  unsigned old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (old < v &&
         !__atomic_compare_exchange_n(p, &old, v, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
  }
  return old;
}
#define atomicMax(p, v)                                                                            \
  _Generic((p), int * : ftc_emu_atomic_max_i, unsigned * : ftc_emu_atomic_max_u)((p), (v))
static inline int ftc_emu_cas_i(int *p, int cmp, int v) {
  __atomic_compare_exchange_n(p, &cmp, v, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return cmp;
}
static inline unsigned ftc_emu_cas_u(unsigned *p, unsigned cmp, unsigned v) {
  __atomic_compare_exchange_n(p, &cmp, v, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return cmp;
}
static inline unsigned long long ftc_emu_cas_ull(unsigned long long *p, unsigned long long cmp,
                                                 unsigned long long v) {
  __atomic_compare_exchange_n(p, &cmp, v, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return cmp;
}
#define atomicCAS(p, c, v)                                                                         \
  _Generic((p), int *: ftc_emu_cas_i, unsigned *: ftc_emu_cas_u,                \
           unsigned long long *: ftc_emu_cas_ull)((p), (c), (v))

/* intrinsics */
static inline unsigned __float_as_uint(float f) {
  unsigned u;
  memcpy(&u, &f, 4);
  return u;
}
static inline float __uint_as_float(unsigned u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static inline int __float_as_int(float f) {
  int u;
  memcpy(&u, &f, 4);
  return u;
}
static inline float __int_as_float(int u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static inline long long __double_as_longlong(double f) {
  long long u;
  memcpy(&u, &f, 8);
  return u;
}
static inline double __longlong_as_double(long long u) {
  double f;
  memcpy(&f, &u, 8);
  return f;
}
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
#define __expf(x) expf(x)
#define __logf(x) logf(x)
#define __fdividef(a, b) ((a) / (b))
#define __ldg(p) (*(p))

/* the kernel prelude's portability macros, emu side */
#define FTC_KERNEL static
#define FTC_DEV static inline
#define FTC_DYN_SMEM(T, name) T *name = (T *)ftc_emu_dyn_smem()

#endif
