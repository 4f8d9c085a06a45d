/* runtime/kernels/gemm.h -- the one BLAS entry of the CPU kernels:
 * y = alpha op(a) op(b) + beta y, row-major, with explicit leading
 * dimensions (so callers can address sub-blocks and strided rows). The
 * routine is chosen by suffix (gemm_f32 -> cblas_sgemm), so a kernel
 * template calls L(gemm) for both types. OpenBLAS runs single-threaded
 * here (threads.c); callers split the work over OpenMP. */
#ifndef FTC_RUNTIME_GEMM_H
#define FTC_RUNTIME_GEMM_H

#include <cblas.h>
#include <stdint.h>

#define RT_GEMM_DEF(S, T, FN)                                                   \
  static inline void gemm_##S(int ta, int tb, int64_t M, int64_t N, int64_t K, \
                              T alpha, const T *a, int64_t lda, const T *b,     \
                              int64_t ldb, T beta, T *y, int64_t ldy) {         \
    FN(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,                           \
       tb ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N, (blasint)K,      \
       alpha, a, (blasint)lda, b, (blasint)ldb, beta, y, (blasint)ldy);         \
  }
RT_GEMM_DEF(f32, float, cblas_sgemm)
RT_GEMM_DEF(f64, double, cblas_dgemm)
#undef RT_GEMM_DEF

#endif
