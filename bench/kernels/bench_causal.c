/* bench/kernels/bench_causal.c -- the four causal attention GEMM shapes
 * (GPT-2 small: batch*heads x T=256, head_dim 64, by default), rt_matmul
 * against rt_matmul_causal. Best of N by process CPU time, not wall clock:
 * on the shared 2-core machine CPU time still counts the work done when the
 * process is descheduled half of the time. Not a test.
 *   gcc -O2 -fopenmp -Iruntime bench/kernels/bench_causal.c build/libftrt.a \
 *       -lopenblas -lm -o /tmp/bc && /tmp/bc [reps] [threads] [T]
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "kernels.h"

static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 5;
  rt_set_threads(argc > 2 ? atoi(argv[2]) : 1);
  int64_t T = argc > 3 ? atoll(argv[3]) : 256, D = 64;
  if (T < 1 || T > 4096) T = 256;
  int64_t B = 48 * 256 / T > 0 ? 48 * 256 / T : 1; /* same work per T^2 */
  float *q = malloc(sizeof(float) * B * T * D), *k = malloc(sizeof(float) * B * T * D),
        *s = malloc(sizeof(float) * B * T * T), *o = malloc(sizeof(float) * B * T * D);
  if (!q || !k || !s || !o) return 1;
  for (int64_t i = 0; i < B * T * D; i++) q[i] = k[i] = (float)(i % 7) * 0.1f;
  for (int64_t i = 0; i < B * T * T; i++) s[i] = (float)(i % 5) * 0.1f;
  /* tri 1: scores-like [T,T] = [T,D] @ [T,D]^T; tri 2: context-like
   * [T,D] = tril([T,T]) @ [T,D] (ta = 1: the dv = P^T @ dO form) */
  const struct { const char *n; int tri, ta, tb; } c[] = {{"scores q@k^T", 1, 0, 1},
                                                          {"context p@v", 2, 0, 0},
                                                          {"dS@k (dq)", 2, 0, 0},
                                                          {"dv p^T@dO", 2, 1, 0}};
  printf("B=%lld T=%lld D=%lld, best of %d, CPU ms\n", (long long)B, (long long)T,
         (long long)D, reps);
  for (int i = 0; i < 4; i++) {
    double best[2] = {1e9, 1e9};
    int64_t M = T, N = c[i].tri == 1 ? T : D, K = c[i].tri == 1 ? D : T;
    const float *a = c[i].tri == 1 ? q : s, *b = c[i].tri == 1 ? k : q;
    float *y = c[i].tri == 1 ? s : o;
    for (int r = 0; r < reps; r++)
      for (int v = 0; v < 2; v++) { /* interleaved, so drift hits both */
        double t0 = cpu_now();
        if (v)
          rt_matmul_causal_f32(y, a, b, B, M, N, K, c[i].ta, c[i].tb, M * K, K * N, 0, c[i].tri);
        else
          rt_matmul_f32(y, a, b, B, M, N, K, c[i].ta, c[i].tb, M * K, K * N, 0);
        double t = cpu_now() - t0;
        if (t < best[v]) best[v] = t;
      }
    printf("%-14s plain %7.2f  causal %7.2f  (x%.2f)\n", c[i].n, best[0] * 1e3,
           best[1] * 1e3, best[0] / best[1]);
  }
  free(q), free(k), free(s), free(o);
  return 0;
}
