/* bench/kernels/bench_kernels.c -- micro-benchmark of the hot CPU kernels on
 * GPT-2 124M shapes (B=4, T=256, C=768, H=12, V=50257): milliseconds per
 * call (best of a few runs) and the effective memory bandwidth. Not a test.
 *   gcc -O3 -march=native -fopenmp -Iruntime bench/kernels/bench_kernels.c \
 *       build/libftrt.a -lopenblas -lm -o /tmp/bk && /tmp/bk [threads]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "kernels.h"

#include "bench_util.h"

#define BENCH(name, bytes, call)                                            \
  do {                                                                      \
    double best = 1e30;                                                     \
    for (int r_ = 0; r_ < 5; r_++) {                                        \
      double t0 = now();                                                    \
      call;                                                                 \
      double t = now() - t0;                                                \
      if (t < best) best = t;                                               \
    }                                                                       \
    printf("%-34s %9.3f ms %8.1f GB/s\n", name, best * 1e3,                 \
           (double)(bytes) / best * 1e-9);                                  \
  } while (0)

int main(int argc, char **argv) {
  rt_set_threads(argc > 1 ? atoi(argv[1]) : 0);
  const int64_t B = 4, T = 256, C = 768, H = 12, D = 64, V = 50257;
  const int64_t R = B * T;
  printf("threads %d, B=%lld T=%lld C=%lld V=%lld\n", rt_get_threads(),
         (long long)B, (long long)T, (long long)C, (long long)V);
  float *x = buf(R * 4 * C), *y = buf(R * 4 * C), *dy = buf(R * 4 * C);
  float *w = buf(4 * C), *b = buf(4 * C), *dw = buf(4 * C);
  float *logits = buf(R * V), *dl = buf(R * V), loss, one = 1;
  float *att = buf(B * H * T * T), *wte = buf(V * C);
  int32_t *tgt = malloc(sizeof(int32_t) * (size_t)R);
  if (!tgt) return 3;
  for (int64_t i = 0; i < R; i++) tgt[i] = (int32_t)(i * 4567 % V);
  const int64_t fb = sizeof(float);

  BENCH("layer_norm [1024,768]", 2 * R * C * fb,
        rt_layer_norm_f32(y, x, w, b, R, C, 1e-5));
  BENCH("layer_norm_bwd_x", 3 * R * C * fb,
        rt_layer_norm_bwd_x_f32(y, dy, x, w, R, C, 1e-5));
  BENCH("layer_norm_bwd_w", 2 * R * C * fb,
        rt_layer_norm_bwd_w_f32(dw, dy, x, R, C, 1e-5));
  BENCH("gelu [1024,3072]", 2 * R * 4 * C * fb, rt_gelu_f32(y, x, R * 4 * C));
  BENCH("gelu_bwd [1024,3072]", 3 * R * 4 * C * fb,
        rt_gelu_bwd_f32(y, dy, x, R * 4 * C));
  BENCH("add bias [1024,2304]+[2304]", 2 * R * 3 * C * fb,
        rt_add_f32(y, x, b, R * 3 * C, 3 * C));
  BENCH("sum_to [1024,2304]->[2304]", R * 3 * C * fb,
        rt_sum_to_f32(dw, x, R * 3 * C, 3 * C));
  BENCH("softmax [4*12*256,256]", 2 * B * H * T * T * fb,
        rt_softmax_f32(att, att, B * H * T, T));
  BENCH("causal_mask [4*12,256,256]", B * H * T * T * fb,
        rt_causal_mask_f32(att, att, B * H, T, T, -1e30));
  BENCH("softmax_bwd [4*12*256,256]", 3 * B * H * T * T * fb,
        rt_softmax_bwd_f32(y, att, att, B * H * T, T));
  {
    int64_t shp[4] = {B, T, H, D};
    int perm[4] = {0, 2, 1, 3};
    BENCH("permute [4,256,12,64]->[4,12,256,64]", 2 * R * C * fb,
          rt_permute_f32(y, x, 4, shp, perm));
    int perm2[4] = {0, 2, 3, 1};
    BENCH("permute [4,256,12,64]->[4,12,64,256]", 2 * R * C * fb,
          rt_permute_f32(y, x, 4, shp, perm2));
  }
  BENCH("embedding [1024] of [50257,768]", 2 * R * C * fb,
        rt_embedding_f32(y, wte, tgt, R, C));
  BENCH("embedding_bwd -> [50257,768]", (V * C + R * C) * fb,
        rt_embedding_bwd_f32(wte, dy, tgt, R, C, V));
  BENCH("cross_entropy [1024,50257]", R * V * fb,
        rt_cross_entropy_f32(&loss, logits, tgt, R, V));
  BENCH("cross_entropy_bwd [1024,50257]", 2 * R * V * fb,
        rt_cross_entropy_bwd_f32(dl, &one, logits, tgt, R, V));
  BENCH("matmul [1024,768]@[768,2304]", 2 * R * C * 3 * C /* flops */,
        rt_matmul_f32(y, x, wte /* any 768x2304 */, 1, R, 3 * C, C, 0, 0,
                      0, 0, 0));
  BENCH("matmul 48x [256,64]@[64,256]^T", 2 * B * H * T * T * D,
        rt_matmul_f32(att, x, y, B * H, T, T, D, 0, 1, T * D, T * D, 0));
  printf("(matmul column is GFLOP/s)\n");
  free(x), free(y), free(dy), free(w), free(b), free(dw), free(logits);
  free(dl), free(att), free(wte), free(tgt);
  return 0;
}
