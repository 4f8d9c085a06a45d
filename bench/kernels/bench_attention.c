/* bench/kernels/bench_attention.c -- attention at the GPT-2 124M shape
 * (B = 4, T = 256, 12 heads of 64, causal), forward + backward, f32:
 *   - the unfused composite as the trainer runs it without the
 *     flash_attention pass: permutes, causal matmuls (rt_matmul_causal),
 *     scale, mask, softmax and their backward, with its [B,H,T,T] scores,
 *     probabilities and their gradients;
 *   - the fused kernels (runtime/kernels/attention.c) for several block
 *     sizes;
 *   - the same fused template compiled with its tile products as plain
 *     `omp simd` loops instead of small BLAS calls (cblas vs loops).
 * Best of N runs by wall clock. Not a test.
 *   gcc -O3 -march=native -fopenmp -Iruntime -Iruntime/kernels \
 *       bench/kernels/bench_attention.c build/libftrt.a -lopenblas -lm \
 *       -o /tmp/ba && /tmp/ba [reps] [T]
 */
#include <omp.h>
#include "kern.h"

#include "bench_util.h"

/* ---- the fused template with loop products (symbols rt_*_loopf32) ----- */

static inline int64_t attn_block(int64_t block) {
  return block < 1 ? 1 : block > RT_ATTN_MAXBLK ? RT_ATTN_MAXBLK : block;
}
#define kexp_loopf32 kexp_f32
/* y = alpha op(a) op(b) + beta y for the three layouts the kernel uses,
 * the innermost loop over a contiguous dimension */
static void agemm_loopf32(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                          const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                          float *y, int64_t ldy) {
  for (int64_t r = 0; r < M; r++) {
    float *yr = y + r * ldy;
    if (beta == 0) memset(yr, 0, (size_t)N * sizeof(float));
    if (!ta && tb) { /* y[r,c] += a_r . b_c */
      for (int64_t c = 0; c < N; c++) {
        const float *ar = a + r * lda, *bc = b + c * ldb;
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t k = 0; k < K; k++) s += ar[k] * bc[k];
        yr[c] += alpha * s;
      }
    } else { /* y[r,:] += sum_k op(a)[r,k] b[k,:] */
      for (int64_t k = 0; k < K; k++) {
        const float f = alpha * (ta ? a[k * lda + r] : a[r * lda + k]);
        const float *bk = b + k * ldb;
#pragma omp simd
        for (int64_t c = 0; c < N; c++) yr[c] += f * bk[c];
      }
    }
  }
}
#define T float
#define S loopf32
#include "attention_tmpl.h"
#undef T
#undef S

/* ---- the unfused composite (what autodiff emits for it) --------------- */

enum { B = 4, H = 12, D = 64 };

typedef struct Bufs {
  int64_t Tn;
  float *q, *k, *v, *o, *dout, *dq, *dk, *dv, *lse;      /* [B,T,H,D], lse [B,H,T] */
  float *qp, *kp, *vp, *s, *ctx, *dctx, *dp, *dqp, *dkp, *dvp; /* composite temporaries */
} Bufs;

static void unfused(Bufs *b) {
  const int64_t Tn = b->Tn, BH = B * H;
  static const int perm[4] = {0, 2, 1, 3};
  const int64_t shp[4] = {B, Tn, H, D}, hs[4] = {B, H, Tn, D};
  const float sc = 0.125f;
  /* forward */
  rt_permute_f32(b->qp, b->q, 4, shp, perm);
  rt_permute_f32(b->kp, b->k, 4, shp, perm);
  rt_permute_f32(b->vp, b->v, 4, shp, perm);
  rt_matmul_causal_f32(b->s, b->qp, b->kp, BH, Tn, Tn, D, 0, 1, Tn * D, Tn * D, 0, RT_TRI_OUT);
  rt_scale_f32(b->s, b->s, BH * Tn * Tn, sc);
  rt_causal_mask_f32(b->s, b->s, BH, Tn, Tn, -INFINITY);
  rt_softmax_f32(b->s, b->s, BH * Tn, Tn);
  rt_matmul_causal_f32(b->ctx, b->s, b->vp, BH, Tn, D, Tn, 0, 0, Tn * Tn, Tn * D, 0, RT_TRI_A);
  rt_permute_f32(b->o, b->ctx, 4, hs, perm);
  /* backward */
  rt_permute_f32(b->dctx, b->dout, 4, shp, perm);
  rt_matmul_causal_f32(b->dp, b->dctx, b->vp, BH, Tn, Tn, D, 0, 1, Tn * D, Tn * D, 0, RT_TRI_OUT);
  rt_matmul_causal_f32(b->dvp, b->s, b->dctx, BH, Tn, D, Tn, 1, 0, Tn * Tn, Tn * D, 0, RT_TRI_A);
  rt_softmax_bwd_f32(b->dp, b->dp, b->s, BH * Tn, Tn);
  rt_causal_mask_f32(b->dp, b->dp, BH, Tn, Tn, 0.0);
  rt_scale_f32(b->dp, b->dp, BH * Tn * Tn, sc);
  rt_matmul_causal_f32(b->dqp, b->dp, b->kp, BH, Tn, D, Tn, 0, 0, Tn * Tn, Tn * D, 0, RT_TRI_A);
  rt_matmul_causal_f32(b->dkp, b->dp, b->qp, BH, Tn, D, Tn, 1, 0, Tn * Tn, Tn * D, 0, RT_TRI_A);
  rt_permute_f32(b->dq, b->dqp, 4, hs, perm);
  rt_permute_f32(b->dk, b->dkp, 4, hs, perm);
  rt_permute_f32(b->dv, b->dvp, 4, hs, perm);
}

static void report(const char *what, double tf, double tb, double pairs) {
  printf("%-28s fwd %7.2f ms (%5.1f GFLOP/s)  bwd %7.2f ms (%5.1f GFLOP/s)  total %7.2f ms\n",
         what, tf * 1e3, 4.0 * pairs * D / tf * 1e-9, tb * 1e3, 10.0 * pairs * D / tb * 1e-9,
         (tf + tb) * 1e3);
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 5;
  rt_set_threads(0); /* as trainers do: OpenBLAS single-threaded under OpenMP */
  Bufs b = {.Tn = argc > 2 ? atoll(argv[2]) : 256};
  const int64_t Tn = b.Tn, n = B * Tn * H * D, nt = (int64_t)B * H * Tn * Tn;
  b.q = buf(n), b.k = buf(n), b.v = buf(n), b.o = buf(n), b.dout = buf(n);
  b.dq = buf(n), b.dk = buf(n), b.dv = buf(n), b.lse = buf(B * H * Tn);
  b.qp = buf(n), b.kp = buf(n), b.vp = buf(n), b.ctx = buf(n), b.dctx = buf(n);
  b.dqp = buf(n), b.dkp = buf(n), b.dvp = buf(n), b.s = buf(nt), b.dp = buf(nt);
  for (int64_t i = 0; i < n; i++) b.k[i] *= 0.5f;
  const double pairs = (double)B * H * Tn * (Tn + 1) / 2; /* causal (query, key) pairs */
  printf("threads %d, B %d T %lld H %d D %d causal; GFLOP/s over the causal half (fwd 4, "
         "bwd 10 flops per pair and head dim); best of %d\n",
         omp_get_max_threads(), B, (long long)Tn, H, D, reps);
  printf("unfused: 2 x [B,H,T,T] f32 = %.1f MiB of scores/probs (+ their gradient)\n",
         2.0 * nt * 4 / 1048576.0);
  double bt = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    unfused(&b);
    double t = now() - t0;
    if (t < bt) bt = t;
  }
  printf("%-28s fwd+bwd %7.2f ms\n", "unfused composite", bt * 1e3);
  static const int64_t blocks[] = {16, 32, 64, 128};
  for (int loops = 0; loops < 2; loops++)
    for (size_t k = 0; k < sizeof blocks / sizeof blocks[0]; k++) {
      double tf = 1e30, tb = 1e30;
      for (int r = 0; r < reps; r++) {
        double t0 = now();
        if (loops)
          rt_flash_attention_loopf32(b.o, b.lse, b.q, b.k, b.v, B, Tn, Tn, H, H, D, 1, 0.125,
                                     blocks[k]);
        else
          rt_flash_attention_f32(b.o, b.lse, b.q, b.k, b.v, B, Tn, Tn, H, H, D, 1, 0.125,
                                 blocks[k]);
        double t1 = now();
        if (loops)
          rt_flash_attention_bwd_loopf32(b.dq, b.dk, b.dv, b.dout, b.q, b.k, b.v, b.o, b.lse, B,
                                         Tn, Tn, H, H, D, 1, 0.125, blocks[k]);
        else
          rt_flash_attention_bwd_f32(b.dq, b.dk, b.dv, b.dout, b.q, b.k, b.v, b.o, b.lse, B, Tn,
                                     Tn, H, H, D, 1, 0.125, blocks[k]);
        double t2 = now();
        if (t1 - t0 < tf) tf = t1 - t0;
        if (t2 - t1 < tb) tb = t2 - t1;
      }
      char what[64];
      snprintf(what, sizeof what, "fused %s block %lld", loops ? "loops" : "cblas",
               (long long)blocks[k]);
      report(what, tf, tb, pairs);
    }
  return 0;
}
