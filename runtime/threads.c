/* runtime/threads.c -- one thread count for both parallel runtimes the
 * kernels use: OpenMP (elementwise, norms, softmax, layout) and OpenBLAS
 * (matmul, which has its own pthread pool). Setting only one would leave
 * the other oversubscribing the cores. */
#include <cblas.h>
#include <omp.h>
#include "kernels.h"

void rt_set_threads(int n) {
  if (n <= 0) n = omp_get_num_procs();
  if (n < 1) n = 1;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

int rt_get_threads(void) { return omp_get_max_threads(); }
