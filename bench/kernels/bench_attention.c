/* bench/kernels/bench_attention.c -- the fused attention kernels
 * (runtime/kernels/attention.c), forward and backward, f32, causal, at a
 * given shape, for several tile edges; block 0 stands for the unfused
 * composite as the trainer runs it without the flash_attention pass
 * (permutes, causal matmuls, scale, mask, softmax and their backward, with
 * its [B,H,T,T] scores, probabilities and their gradient).
 * GFLOP/s count the causal (query, key) pairs as the profiler does (fwd 4,
 * bwd 10 flops per pair and head dim). Best of N runs by wall clock, and
 * the same per CPU-second of the process ("cpu"): on a shared machine the
 * second says what the code does on the cores it gets. Threads:
 * OMP_NUM_THREADS (default all cores). Not a test.
 *   gcc -O3 -march=native -fopenmp -Iruntime bench/kernels/bench_attention.c \
 *       build/libftrt.a -lopenblas -lm -o /tmp/ba
 *   /tmp/ba [reps] [B T H Hkv D] [block...]     (default 5  4 256 12 12 64  0 32 64 128)
 * For instruction counts (valgrind has no AVX-512), build the kernels in at
 * AVX2 and run one repetition under callgrind:
 *   gcc -O3 -march=x86-64-v3 -fopenmp -Iruntime bench/kernels/bench_attention.c \
 *       runtime/kernels/attention.c build/libftrt.a -lopenblas -lm -o /tmp/ba2
 *   OMP_NUM_THREADS=1 valgrind --tool=callgrind /tmp/ba2 1 1 1024 6 6 64 64
 */
#include <math.h>
#include <omp.h>
#include "kernels.h"

#include "bench_util.h"

typedef struct Shape {
  int64_t B, T, H, Hkv, D;
} Shape;

typedef struct Bufs {
  float *q, *k, *v, *o, *dout, *dq, *dk, *dv, *lse, *ws; /* [B,T,H,D], lse [B,H,T] */
  float *qp, *kp, *vp, *s, *ctx, *dctx, *dp, *dqp, *dkp, *dvp; /* composite temporaries */
} Bufs;

/* the unfused composite (what autodiff emits for it); MHA only */
static void unfused(const Shape *z, Bufs *b) {
  const int64_t B = z->B, Tn = z->T, H = z->H, D = z->D, BH = B * H;
  static const int perm[4] = {0, 2, 1, 3};
  const int64_t shp[4] = {B, Tn, H, D}, hs[4] = {B, H, Tn, D};
  const float sc = (float)(1.0 / sqrt((double)D));
  rt_permute_f32(b->qp, b->q, 4, shp, perm);
  rt_permute_f32(b->kp, b->k, 4, shp, perm);
  rt_permute_f32(b->vp, b->v, 4, shp, perm);
  rt_matmul_causal_f32(b->s, b->qp, b->kp, BH, Tn, Tn, D, 0, 1, Tn * D, Tn * D, 0, RT_TRI_OUT);
  rt_scale_f32(b->s, b->s, BH * Tn * Tn, sc);
  rt_causal_mask_f32(b->s, b->s, BH, Tn, Tn, -INFINITY);
  rt_softmax_f32(b->s, b->s, BH * Tn, Tn);
  rt_matmul_causal_f32(b->ctx, b->s, b->vp, BH, Tn, D, Tn, 0, 0, Tn * Tn, Tn * D, 0, RT_TRI_A);
  rt_permute_f32(b->o, b->ctx, 4, hs, perm);
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

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* wall and CPU seconds, best of the repetitions */
static void report(const char *what, const double t[4], double flop) {
  printf("%-18s fwd %8.2f ms %6.1f GFLOP/s (cpu %6.1f)  bwd %8.2f ms %6.1f GFLOP/s (cpu %6.1f)  "
         "all %6.1f GFLOP/s (cpu %6.1f)\n",
         what, t[0] * 1e3, 4.0 * flop / t[0] * 1e-9, 4.0 * flop / t[2] * 1e-9, t[1] * 1e3,
         10.0 * flop / t[1] * 1e-9, 10.0 * flop / t[3] * 1e-9, 14.0 * flop / (t[0] + t[1]) * 1e-9,
         14.0 * flop / (t[2] + t[3]) * 1e-9);
}

int main(int argc, char **argv) {
  const int reps = argc > 1 ? atoi(argv[1]) : 5;
  Shape z = {4, 256, 12, 12, 64};
  if (argc > 6) z = (Shape){atoll(argv[2]), atoll(argv[3]), atoll(argv[4]), atoll(argv[5]),
                            atoll(argv[6])};
  int64_t blocks[8] = {0, 32, 64, 128};
  int nblk = 4;
  if (argc > 7) {
    nblk = 0;
    for (int i = 7; i < argc && nblk < 8; i++) blocks[nblk++] = atoll(argv[i]);
  }
  rt_set_threads(omp_get_max_threads()); /* OpenBLAS single-threaded under OpenMP */
  const int64_t n = z.B * z.T * z.H * z.D, nk = z.B * z.T * z.Hkv * z.D;
  const float sc = (float)(1.0 / sqrt((double)z.D));
  Bufs b = {0};
  b.q = buf(n), b.k = buf(nk), b.v = buf(nk), b.o = buf(n), b.dout = buf(n);
  b.dq = buf(n), b.dk = buf(nk), b.dv = buf(nk), b.lse = buf(z.B * z.H * z.T);
  for (int64_t i = 0; i < nk; i++) b.k[i] *= 0.5f;
  /* (query, key) pairs times head dim: the profiler's flop unit */
  const double flop = (double)z.B * z.H * z.T * (z.T + 1) / 2 * z.D;
  printf("threads %d, B %lld T %lld H %lld Hkv %lld D %lld causal, best of %d\n",
         omp_get_max_threads(), (long long)z.B, (long long)z.T, (long long)z.H,
         (long long)z.Hkv, (long long)z.D, reps);
  for (int k = 0; k < nblk; k++) {
    if (blocks[k] == 0) { /* the unfused composite (MHA only) */
      if (z.H != z.Hkv) continue;
      const int64_t nt = z.B * z.H * z.T * z.T;
      b.qp = buf(n), b.kp = buf(n), b.vp = buf(n), b.ctx = buf(n), b.dctx = buf(n);
      b.dqp = buf(n), b.dkp = buf(n), b.dvp = buf(n), b.s = buf(nt), b.dp = buf(nt);
      double bt = 1e30, bc = 1e30;
      for (int r = 0; r < reps; r++) {
        double t0 = now(), c0 = cpu_now();
        unfused(&z, &b);
        double t = now() - t0, c = cpu_now() - c0;
        if (t < bt) bt = t;
        if (c < bc) bc = c;
      }
      printf("%-18s fwd+bwd %8.2f ms, all %6.1f GFLOP/s (cpu %6.1f); 2 x [B,H,T,T] = %.1f MiB\n",
             "unfused composite", bt * 1e3, 14.0 * flop / bt * 1e-9, 14.0 * flop / bc * 1e-9,
             2.0 * nt * 4 / 1048576.0);
      continue;
    }
    const int64_t th = omp_get_max_threads();
    const rt_attn_ws wf = rt_attn_ws_layout(z.B, z.T, z.T, z.Hkv, z.D, blocks[k], th, 0);
    const rt_attn_ws wb = rt_attn_ws_layout(z.B, z.T, z.T, z.Hkv, z.D, blocks[k], th, 1);
    b.ws = buf(wb.total > wf.total ? wb.total : wf.total);
    double t[4] = {1e30, 1e30, 1e30, 1e30};
    for (int r = 0; r < reps; r++) {
      double t0 = now(), c0 = cpu_now();
      rt_flash_attention_f32(b.o, b.lse, b.ws, b.q, b.k, b.v, z.B, z.T, z.T, z.H, z.Hkv, z.D, 1,
                             sc, blocks[k], th);
      double t1 = now(), c1 = cpu_now();
      rt_flash_attention_bwd_f32(b.dq, b.dk, b.dv, b.ws, b.dout, b.q, b.k, b.v, b.o, b.lse, z.B,
                                 z.T, z.T, z.H, z.Hkv, z.D, 1, sc, blocks[k], th);
      double t2 = now(), c2 = cpu_now();
      const double d[4] = {t1 - t0, t2 - t1, c1 - c0, c2 - c1};
      for (int i = 0; i < 4; i++)
        if (d[i] < t[i]) t[i] = d[i];
    }
    free(b.ws);
    char what[64];
    snprintf(what, sizeof what, "fused block %lld", (long long)blocks[k]);
    report(what, t, flop);
  }
  return 0;
}
