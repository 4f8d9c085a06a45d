/* runtime/kernels/matmul.c -- batched matrix product through OpenBLAS.
 *
 * One template (matmul_tmpl.h) for float and double; the only per-type
 * difference is which cblas routine gemm.h's L(gemm) runs. A batch whose b is shared and whose a is plain row-major
 * is one tall GEMM ([batch*M, K] @ [K, N]), which BLAS runs far better than
 * `batch` small ones.
 *
 * Threads: OpenBLAS runs single-threaded (threads.c) and OpenMP splits each
 * product by rows, or a batch by items. Two thread pools on the same cores
 * (OpenBLAS's pthreads and OpenMP's) spin against each other after every
 * switch between a GEMM and another kernel: steps were 10x slower. */
#include <omp.h>
#include "gemm.h"
#include "kern.h"

#define KERN_TMPL "matmul_tmpl.h"
#include "instantiate.h"
