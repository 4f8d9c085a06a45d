/* runtime/kernels/matmul_causal.c -- batched matrix products with causal
 * (lower-triangular) structure, for attention.
 *
 * The idea: in causal attention, scores are only needed on and below the
 * diagonal and probabilities are zero above it, so each product is cut into
 * blocks and only the ones the triangle touches go to BLAS (a bit over half
 * the FLOPs at T >> RT_CAUSAL_BLK): row blocks for a triangular result,
 * recursive halving for a triangular operand. Diagonal blocks go through a
 * small scratch block, so the result is exactly
 *   RT_TRI_OUT: y = tril(op(a) @ op(b))     (M == N; above the diagonal 0,
 *               or y unchanged there when accumulating)
 *   RT_TRI_A:   y = op(tril(a)) @ op(b)     (a stored [M,M]; its stored
 *               upper triangle is never read)
 * Threads: OpenMP over the batch (batch * heads), BLAS single-threaded as
 * in matmul.c. */
#include <cblas.h>
#include <omp.h>
#include <string.h>
#include "kern.h"

/* Rows per block: small enough to skip most of the upper triangle, big
 * enough that each BLAS call still runs near full speed (32 and 64 measured
 * alike on 48 x 256x256x64, about 1.15-1.4x over rt_matmul, CPU time). */
#ifndef RT_CAUSAL_BLK
#define RT_CAUSAL_BLK 32
#endif

/* gemm with an explicit output leading dimension (sub-blocks of y). */
static inline void gemmx_f32(int ta, int tb, int64_t M, int64_t N, int64_t K,
                             const float *a, int64_t lda, const float *b,
                             int64_t ldb, float beta, float *y, int64_t ldy) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
              tb ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N,
              (blasint)K, 1.0f, a, (blasint)lda, b, (blasint)ldb, beta, y,
              (blasint)ldy);
}

static inline void gemmx_f64(int ta, int tb, int64_t M, int64_t N, int64_t K,
                             const double *a, int64_t lda, const double *b,
                             int64_t ldb, double beta, double *y, int64_t ldy) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
              tb ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N,
              (blasint)K, 1.0, a, (blasint)lda, b, (blasint)ldb, beta, y,
              (blasint)ldy);
}

#define KERN_TMPL "matmul_causal_tmpl.h"
#include "instantiate.h"
