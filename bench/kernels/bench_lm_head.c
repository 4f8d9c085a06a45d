/* bench/kernels/bench_lm_head.c -- the fused lm-head + cross-entropy at the
 * GPT-2 124M shape (N = B*T = 1024 rows, C = 768, V = 50257, tied [V,C]
 * weight) for several chunk sizes R, forward + both gradients, against the
 * three plain GEMMs it replaces. GFLOP/s counts the 3 GEMMs (6*N*C*V). Best
 * of N runs by wall clock. Not a test.
 *   gcc -O2 -fopenmp -Iruntime bench/kernels/bench_lm_head.c build/libftrt.a \
 *       -lopenblas -lm -o /tmp/blm && /tmp/blm [reps]
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include "kernels.h"

#include "bench_util.h"

enum { N = 1024, C = 768, V = 50257 };

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 3;
  float *x = buf((int64_t)N * C), *w = buf((int64_t)V * C);
  float *dx = buf((int64_t)N * C), *dw = buf((int64_t)V * C);
  float *ws = buf((int64_t)N * V);
  int32_t *tgt = malloc(N * sizeof *tgt);
  for (int i = 0; i < N; i++) tgt[i] = (i * 7919) % V;
  for (int64_t i = 0; i < (int64_t)V * C; i++) w[i] *= 0.02f;
  const double flop = 6.0 * N * C * V;
  printf("threads %d, N %d C %d V %d (GFLOP/s over 3 GEMMs, best of %d)\n",
         omp_get_max_threads(), N, C, V, reps);
  double bt = 1e30;
  for (int r = 0; r < reps; r++) { /* the unfused GEMMs alone */
    double t0 = now();
    rt_matmul_f32(ws, x, w, 1, N, V, C, 0, 1, 0, 0, 0);
    rt_matmul_f32(dx, ws, w, 1, N, C, V, 0, 0, 0, 0, 0);
    rt_matmul_f32(dw, ws, x, 1, V, C, N, 1, 0, 0, 0, 0);
    double t = now() - t0;
    if (t < bt) bt = t;
  }
  printf("3 plain GEMMs        %8.1f ms %7.1f GFLOP/s\n", bt * 1e3, flop / bt * 1e-9);
  static const int64_t rs[] = {64, 128, 256, 512, 1024};
  for (size_t k = 0; k < sizeof rs / sizeof rs[0]; k++) {
    float loss;
    bt = 1e30;
    for (int r = 0; r < reps; r++) {
      double t0 = now();
      rt_lm_head_ce_f32(&loss, dx, dw, x, w, tgt, N, C, V, 1, ws, rs[k]);
      double t = now() - t0;
      if (t < bt) bt = t;
    }
    printf("fused R=%-5lld       %8.1f ms %7.1f GFLOP/s (loss %.4f)\n", (long long)rs[k],
           bt * 1e3, flop / bt * 1e-9, loss);
  }
  return 0;
}
