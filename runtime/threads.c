/* runtime/threads.c -- one thread pool for every kernel: OpenMP. OpenBLAS
 * is kept single-threaded and matmul.c splits products over the OpenMP
 * team, so no second pool spins against the first. */
#include <cblas.h>
#include <omp.h>
#include "kernels.h"

void rt_set_threads(int n) {
  if (n <= 0) n = omp_get_num_procs();
  if (n < 1) n = 1;
  omp_set_num_threads(n);
  openblas_set_num_threads(1);
}

int rt_get_threads(void) { return omp_get_max_threads(); }

/* Before any kernel runs (trainers, tests): OpenBLAS single-threaded. */
__attribute__((constructor)) static void blas_single_thread(void) {
  openblas_set_num_threads(1);
}
