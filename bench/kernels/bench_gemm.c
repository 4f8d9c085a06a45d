/* bench/kernels/bench_gemm.c -- GFLOP/s of the GPT-2 124M GEMM shapes
 * (B*T = 1024 rows), three ways: one thread, rt_matmul (OpenMP splits the
 * product over its team, OpenBLAS single-threaded; what trainers run), and
 * OpenBLAS's own pthreads with OpenMP idle. Best of N runs by wall clock, so
 * a shared machine disturbs it less than a mean would. Not a test.
 *   gcc -O2 -fopenmp -Iruntime bench/kernels/bench_gemm.c build/libftrt.a \
 *       -lopenblas -lm -o /tmp/bg && /tmp/bg [reps]
 */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "kernels.h"

#include "bench_util.h"

typedef struct Shape {
  const char *name;
  int64_t batch, M, N, K;
  int ta, tb;
} Shape;

static int reps = 5;

static double best(void (*f)(const Shape *, float *, float *, float *), const Shape *s,
                   float *y, float *a, float *b) {
  double bt = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    f(s, y, a, b);
    double t = now() - t0;
    if (t < bt) bt = t;
  }
  return 2.0 * (double)s->batch * s->M * s->N * s->K / bt * 1e-9;
}

static void run_rt(const Shape *s, float *y, float *a, float *b) {
  rt_matmul_f32(y, a, b, s->batch, s->M, s->N, s->K, s->ta, s->tb,
                s->batch > 1 ? s->M * s->K : 0, s->batch > 1 ? s->K * s->N : 0, 0);
}

static void run_blas(const Shape *s, float *y, float *a, float *b) {
  for (int64_t i = 0; i < s->batch; i++)
    cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
                s->tb ? CblasTrans : CblasNoTrans, (int)s->M, (int)s->N, (int)s->K, 1.0f,
                a + i * s->M * s->K, s->ta ? (int)s->M : (int)s->K, b + i * s->K * s->N,
                s->tb ? (int)s->K : (int)s->N, 0.0f, y + i * s->M * s->N, (int)s->N);
}

int main(int argc, char **argv) {
  if (argc > 1) reps = atoi(argv[1]);
  const Shape shapes[] = {
      {"qkv  x@W   1024x2304x768", 1, 1024, 2304, 768, 0, 0},
      {"fc   x@W   1024x3072x768", 1, 1024, 3072, 768, 0, 0},
      {"proj x@W   1024x768x3072", 1, 1024, 768, 3072, 0, 0},
      {"dx   dy@W^T 1024x768x3072", 1, 1024, 768, 3072, 0, 1},
      {"dW   x^T@dy 768x3072x1024", 1, 768, 3072, 1024, 1, 0},
      {"dW   x^T@dy 3072x768x1024", 1, 3072, 768, 1024, 1, 0},
      {"lm   x@E^T 1024x50257x768", 1, 1024, 50257, 768, 0, 1},
      {"lm dE dl^T@x 50257x768x1024", 1, 50257, 768, 1024, 1, 0},
      {"lm dx dl@E 1024x768x50257", 1, 1024, 768, 50257, 0, 0},
      {"att q@k^T 48x 256x256x64", 48, 256, 256, 64, 0, 1},
      {"att p@v   48x 256x64x256", 48, 256, 64, 256, 0, 0},
  };
  int ns = (int)(sizeof shapes / sizeof shapes[0]);
  printf("%-30s %10s %10s %10s   (GFLOP/s, best of %d)\n", "shape", "1 thread",
         "rt 2 omp", "blas 2 pt", reps);
  for (int i = 0; i < ns; i++) {
    const Shape *s = &shapes[i];
    float *a = buf(s->batch * s->M * s->K), *b = buf(s->batch * s->K * s->N),
          *y = buf(s->batch * s->M * s->N);
    rt_set_threads(1);
    double g1 = best(run_rt, s, y, a, b);
    rt_set_threads(2);
    double g2 = best(run_rt, s, y, a, b);
    openblas_set_num_threads(2);
    double g3 = best(run_blas, s, y, a, b);
    openblas_set_num_threads(1);
    printf("%-30s %10.1f %10.1f %10.1f\n", s->name, g1, g2, g3);
    free(a);
    free(b);
    free(y);
  }
  return 0;
}
