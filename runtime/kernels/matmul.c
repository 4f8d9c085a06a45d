/* runtime/kernels/matmul.c -- batched matrix product through OpenBLAS.
 *
 * One template (matmul_tmpl.h) for float and double; the only per-type
 * difference is which cblas routine runs, chosen by suffix (gemm_f32 ->
 * cblas_sgemm). A batch whose b is shared and whose a is plain row-major
 * is one tall GEMM ([batch*M, K] @ [K, N]), which BLAS runs far better than
 * `batch` small ones.
 *
 * Threads: OpenBLAS runs single-threaded (threads.c) and OpenMP splits each
 * product by rows, or a batch by items. Two thread pools on the same cores
 * (OpenBLAS's pthreads and OpenMP's) spin against each other after every
 * switch between a GEMM and another kernel: steps were 10x slower. */
#include <cblas.h>
#include <omp.h>
#include "kern.h"

static inline void gemm_f32(int ta, int tb, int64_t M, int64_t N, int64_t K,
                            const float *a, int64_t lda, const float *b,
                            int64_t ldb, float beta, float *y, int64_t ldy) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
              tb ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N,
              (blasint)K, 1.0f, a, (blasint)lda, b, (blasint)ldb, beta, y,
              (blasint)ldy);
}

static inline void gemm_f64(int ta, int tb, int64_t M, int64_t N, int64_t K,
                            const double *a, int64_t lda, const double *b,
                            int64_t ldb, double beta, double *y, int64_t ldy) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
              tb ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N,
              (blasint)K, 1.0, a, (blasint)lda, b, (blasint)ldb, beta, y,
              (blasint)ldy);
}

#define KERN_TMPL "matmul_tmpl.h"
#include "instantiate.h"
