/* runtime/kernels/kern.h -- private helpers shared by the CPU kernel files.
 *
 * Every kernel file is one template (NAME_tmpl.h) included twice, once with
 * T=float,S=f32 and once with T=double,S=f64. Inside a template, FN(name)
 * names the public kernel (rt_name_f32) and L(name) a per-type helper from
 * this file (name_f32), so type-dependent choices (which exp, which BLAS
 * call) are made by suffix, never by duplicating kernel code.
 *
 * Determinism: for a given thread count every kernel gives the same bits
 * on every run. Every kernel but the matrix products also gives the same
 * bits for any thread count: work is split by sizes only (rows, column
 * blocks, a fixed number of chunks), and every output element is reduced
 * in a fixed order by exactly one thread. A product split over threads
 * (rt_matmul's row or column pieces) is not: OpenBLAS's result for an
 * element depends on the shape of the call it is computed in, so 1 and 2
 * threads differ in the last bits (bench/PERF.md). Batched products that
 * run one call per item (attention's), the causal ones and the attention
 * tiles are split by items, not inside a call, and keep the stronger
 * property.
 */
#ifndef FTC_RUNTIME_KERN_H
#define FTC_RUNTIME_KERN_H

/* Kernel code never reads the floating-point exception flags, so let gcc
 * assume that comparisons do not trap: only then does it turn the selects
 * in clamps, max and masks into vector blends (no change to any result). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

#define RT_PASTE_(a, b) a##b
#define RT_PASTE(a, b) RT_PASTE_(a, b)
#define FN(name) RT_PASTE(rt_##name##_, S)
#define L(name) RT_PASTE(name##_, S)

/* Below this many elements a kernel runs on the calling thread only: the
 * fork/join of a parallel region costs more than the work. */
#define RT_PAR_MIN 16384
/* Fixed chunk count for reductions to a scalar (sumsq, loss): partial sums
 * per chunk, then summed in chunk order, whatever the thread count. */
#define RT_NCHUNK 64
/* Column block width for column-parallel reductions (stack accumulators). */
#define RT_CBLK 64

#define RT_SQRT_2_OVER_PI 0.7978845608028654
#define RT_GELU_K 0.044715

/* a*b+c fused where the target has FMA (-std=c11 turns off implicit
 * contraction; without FMA hardware fmaf would be a slow library call) */
#ifdef __FMA__
#define RT_FMAF(a, b, c) fmaf(a, b, c)
#else
#define RT_FMAF(a, b, c) ((a) * (b) + (c))
#endif

/* Row sums run in blocks of this many elements: a vector sum in T inside
 * a block (fast), blocks added in double (accurate over V = 50257). */
#define RT_SUMBLK 512

/* expf for float, vectorizable inside `omp simd` loops (glibc's expf is not
 * without -ffast-math): 2^n * p(r), x = n ln2 + r, |r| <= ln2/2, degree-6
 * polynomial, about 2 ulp. Gradual underflow below -87.3, exactly 0 below
 * -104 (so exp(-inf) = 0); above 88.4 it saturates near FLT_MAX, not inf. */
static inline __attribute__((always_inline)) float kexp_f32(float x) {
  /* Clamp low enough that 2^n underflows to exactly 0 (exp(-inf) = 0): a
   * result select would not vectorize (gcc will not if-convert one under
   * the default -ftrapping-math), a clamp does. */
  x = x < -105.0f ? -105.0f : x;
  x = x > 88.37626f ? 88.37626f : x;
  const float magic = 12582912.0f; /* 1.5 * 2^23: adds round to integer */
  float t = x * 1.44269504088896341f + magic;
  float n = t - magic;
  float r = x - n * 0.693145751953125f; /* ln2 split: hi exact in float */
  r = r - n * 1.428606765330187045e-06f;
  float p = 1.0f / 720.0f;
  p = RT_FMAF(p, r, 1.0f / 120.0f);
  p = RT_FMAF(p, r, 1.0f / 24.0f);
  p = RT_FMAF(p, r, 1.0f / 6.0f);
  p = RT_FMAF(p, r, 0.5f);
  p = RT_FMAF(p, r, 1.0f);
  p = RT_FMAF(p, r, 1.0f);
  union { float f; int32_t i; } u;
  u.f = t;
  int32_t ni = u.i - 0x4B400000; /* integer value of n from t's mantissa */
  /* 2^n split in two factors so n = -151..128 stay normal/finite */
  int32_t n1 = ni >> 1, n2 = ni - n1;
  union { float f; int32_t i; } s1, s2;
  /* unsigned shifts: a NaN input gives garbage bits (the product is NaN
   * anyway) but never signed-overflow UB */
  s1.i = (int32_t)((uint32_t)(n1 + 127) << 23);
  s2.i = (int32_t)((uint32_t)(n2 + 127) << 23);
  return p * s1.f * s2.f;
}
static inline double kexp_f64(double x) { return exp(x); }

/* parallel region only when the work is large enough */
#define RT_OMP_IF(n) if ((n) >= RT_PAR_MIN)
/* the same for maps that cost an exp per element: threads pay off sooner */
#define RT_OMP_IF_HEAVY(n) if ((n) * 8 >= RT_PAR_MIN)

#endif
