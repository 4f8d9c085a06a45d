/* bench/kernels/bench_sgemm.c -- the prototype GEMM (sgemm_proto.h, not in
 * the runtime) against rt_matmul_f32 (OpenMP split + single-threaded
 * OpenBLAS) on the GPT-2 124M shapes (B*T = 1024 rows; the lm-head in its
 * 512-row chunks), in one process: per shape, repetitions rotate the order
 * of three runs -- rt, proto (the team shares one packed B), split (rt's
 * row/column split, each piece the prototype on one thread) -- and a
 * repetition during which another process got CPU time (/proc/stat) is
 * thrown away; best of N undisturbed ones. Also checks proto against rt
 * (maxrel: relative difference, large only where sums cancel) and prints
 * the step-weighted total (count = calls per training step). Results and
 * the verdict: sgemm_proto.h's head comment. Not a test.
 *   gcc -O3 -march=native -fopenmp -Iruntime bench/kernels/bench_sgemm.c \
 *       build/libftrt.a -lopenblas -lm -o /tmp/bsg && /tmp/bsg [reps] [threads] [filter]
 *   /tmp/bsg check     (correctness: double reference, 1 vs 2 threads bitwise)
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

#include "bench_util.h"
#include "sgemm_proto.h"

typedef struct Shape {
  const char *name;
  int64_t batch, M, N, K;
  int ta, tb, acc;
  int count; /* per training step (12 layers, lm-head in 2 chunks of 512) */
} Shape;

static void run_rt(const Shape *s, float *y, const float *a, const float *b) {
  rt_matmul_f32(y, a, b, s->batch, s->M, s->N, s->K, s->ta, s->tb,
                s->batch > 1 ? s->M * s->K : 0, s->batch > 1 ? s->K * s->N : 0, s->acc);
}

static void run_sg(const Shape *s, float *y, const float *a, const float *b) {
  const int64_t lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
  if (s->batch == 1) {
    sg_gemm(s->ta, s->tb, s->M, s->N, s->K, a, lda, b, ldb, s->acc, y, s->N);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < s->batch; i++)
    sg_gemm(s->ta, s->tb, s->M, s->N, s->K, a + i * s->M * s->K, lda, b + i * s->K * s->N,
            ldb, s->acc, y + i * s->M * s->N, s->N);
}

/* CPU jiffies used by other processes (and stolen by the hypervisor) since
 * the last call: a repetition during which they ran is thrown away, so the
 * best-of is taken over undisturbed runs only */
static long foreign_jiffies(void) {
  static long last = -1;
  long v[8] = {0}, ut = 0, st = 0;
  FILE *f = fopen("/proc/stat", "r");
  if (!f || fscanf(f, "cpu %ld %ld %ld %ld %ld %ld %ld %ld", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]) != 8) {
    if (f) fclose(f);
    return 0;
  }
  fclose(f);
  f = fopen("/proc/self/stat", "r");
  if (f) {
    char buf_[1024];
    if (fgets(buf_, sizeof buf_, f)) {
      char *q = strrchr(buf_, ')');
      /* fields after the name: state(3) ... utime(14) stime(15) */
      if (q && sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st) != 2)
        ut = st = 0;
    }
    fclose(f);
  }
  long now_ = v[0] + v[1] + v[2] + v[5] + v[6] + v[7] - ut - st;
  long d = last < 0 ? 0 : now_ - last;
  last = now_;
  return d;
}

/* variant: the row split of rt_matmul, each piece our GEMM on one thread
 * (each thread packs its own B) */
static void run_sp(const Shape *s, float *y, const float *a, const float *b) {
  const int64_t lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
  if (s->batch > 1) {
    run_sg(s, y, a, b);
    return;
  }
  const int cols = s->N >= 4 * s->M;
#pragma omp parallel
  {
    int t = omp_get_thread_num(), n = omp_get_num_threads();
    const int64_t D = cols ? s->N : s->M, q = cols ? 16 : 6, units = (D + q - 1) / q;
    int64_t i0 = units * t / n * q, i1 = units * (t + 1) / n * q;
    if (i1 > D) i1 = D;
    if (i0 < i1 && cols)
      sg_gemm(s->ta, s->tb, s->M, i1 - i0, s->K, a, lda, s->tb ? b + i0 * ldb : b + i0, ldb,
              s->acc, y + i0, s->N);
    else if (i0 < i1)
      sg_gemm(s->ta, s->tb, i1 - i0, s->N, s->K, s->ta ? a + i0 : a + i0 * lda, lda, b, ldb,
              s->acc, y + i0 * s->N, s->N);
  }
}

static double load1(void) {
  double l = -1;
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) {
    if (fscanf(f, "%lf", &l) != 1) l = -1;
    fclose(f);
  }
  return l;
}

/* `check`: the prototype against a double reference (relative to sum |ab|)
 * on awkward sizes, every ta/tb, with and without add, and 1 vs 2 threads
 * bitwise; returns the failure count */
static int check(void) {
  static const int sh[][3] = {{1, 1, 1},     {7, 13, 5},     {97, 131, 67},  {6, 16, 8},
                              {12, 32, 300}, {200, 100, 1000}, {130, 50, 5000}, {1, 300, 7},
                              {300, 1, 9},   {35, 17, 2},    {301, 257, 513}, {1024, 40, 17},
                              {50, 600, 5000}, {400, 700, 300}};
  int fails = 0;
  for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++)
    for (int v = 0; v < 8; v++) {
      const int M = sh[s][0], N = sh[s][1], K = sh[s][2], ta = v & 1, tb = (v >> 1) & 1,
                add = v >> 2, lda = ta ? M : K, ldb = tb ? K : N;
      float *a = buf((int64_t)M * K), *b = buf((int64_t)K * N), *c0 = buf((int64_t)M * N);
      float *c1 = buf((int64_t)M * N), *c2 = buf((int64_t)M * N);
      for (int64_t i = 0; i < (int64_t)K * N; i++) b[i] = sinf((float)i * 0.37f);
      for (int64_t i = 0; i < (int64_t)M * N; i++) c0[i] = c1[i] = c2[i] = cosf((float)i * 0.11f);
      omp_set_num_threads(1);
      sg_gemm(ta, tb, M, N, K, a, lda, b, ldb, add, c1, N);
      omp_set_num_threads(2);
      sg_gemm(ta, tb, M, N, K, a, lda, b, ldb, add, c2, N);
      double md = 0;
      for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
          double r = add ? c0[(int64_t)i * N + j] : 0, mag = fabs(r);
          for (int k = 0; k < K; k++) {
            double x = ta ? a[(int64_t)k * lda + i] : a[(int64_t)i * lda + k];
            double y = tb ? b[(int64_t)j * ldb + k] : b[(int64_t)k * ldb + j];
            r += x * y, mag += fabs(x * y);
          }
          double d = fabs(c1[(int64_t)i * N + j] - r) / (mag + 1e-30);
          if (d > md) md = d;
        }
      const int same = memcmp(c1, c2, sizeof(float) * (size_t)M * N) == 0;
      if (md > 1e-6 || !same) {
        fails++;
        printf("FAIL %dx%dx%d ta %d tb %d add %d: maxrel %.2e, 1 vs 2 threads %s\n", M, N, K,
               ta, tb, add, md, same ? "same" : "DIFFER");
      }
      free(a), free(b), free(c0), free(c1), free(c2);
    }
  printf("check: %d failure(s)\n", fails);
  return fails != 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "check")) return check();
  int reps = argc > 1 ? atoi(argv[1]) : 5;
  int nth = argc > 2 ? atoi(argv[2]) : 2;
  const char *only = argc > 3 ? argv[3] : NULL;
  rt_set_threads(nth);
  const Shape shapes[] = {
      {"fwd qkv x@W 1024x2304x768", 1, 1024, 2304, 768, 0, 0, 0, 12},
      {"fwd att-o x@W 1024x768x768", 1, 1024, 768, 768, 0, 0, 0, 12},
      {"fwd fc x@W 1024x3072x768", 1, 1024, 3072, 768, 0, 0, 0, 12},
      {"fwd proj x@W 1024x768x3072", 1, 1024, 768, 3072, 0, 0, 0, 12},
      {"dx qkv 1024x768x2304 tb", 1, 1024, 768, 2304, 0, 1, 0, 12},
      {"dx att-o 1024x768x768 tb", 1, 1024, 768, 768, 0, 1, 0, 12},
      {"dx fc 1024x768x3072 tb", 1, 1024, 768, 3072, 0, 1, 0, 12},
      {"dx proj 1024x3072x768 tb", 1, 1024, 3072, 768, 0, 1, 0, 12},
      {"dW qkv 768x2304x1024 ta", 1, 768, 2304, 1024, 1, 0, 0, 12},
      {"dW att-o 768x768x1024 ta", 1, 768, 768, 1024, 1, 0, 0, 12},
      {"dW fc 768x3072x1024 ta", 1, 768, 3072, 1024, 1, 0, 0, 12},
      {"dW proj 3072x768x1024 ta", 1, 3072, 768, 1024, 1, 0, 0, 12},
      {"lm x@E^T 512x50257x768 tb", 1, 512, 50257, 768, 0, 1, 0, 2},
      {"lm dx dl@E 512x768x50257", 1, 512, 768, 50257, 0, 0, 0, 2},
      {"lm dE+=dl^T@x 50257x768x512", 1, 50257, 768, 512, 1, 0, 1, 2},
      {"att q@k^T 48x256x256x64 tb", 48, 256, 256, 64, 0, 1, 0, 0},
      {"att p@v 48x256x64x256", 48, 256, 64, 256, 0, 0, 0, 0},
  };
  const int ns = (int)(sizeof shapes / sizeof shapes[0]);
  printf("threads %d, best of %d, interleaved (GFLOP/s; time weighted by count per step)\n",
         nth, reps);
  printf("%-30s %8s %8s %8s %7s %7s %9s %5s\n", "shape", "rt", "proto", "split", "ratio", "ratio2",
         "maxrel", "load");
  double tot_rt = 0, tot_sg = 0, tot_sp = 0;
  int missing = 0;
  for (int i = 0; i < ns; i++) {
    const Shape *s = &shapes[i];
    if (only && !strstr(s->name, only)) continue;
    float *a = buf(s->batch * s->M * s->K), *b = buf(s->batch * s->K * s->N);
    float *y0 = buf(s->batch * s->M * s->N), *y1 = buf(s->batch * s->M * s->N);
    /* correctness: same start (accumulate) and compare */
    run_rt(s, y0, a, b);
    run_sg(s, y1, a, b);
    double md = 0;
    for (int64_t e = 0; e < s->batch * s->M * s->N; e++) {
      double d = fabs((double)y0[e] - y1[e]) / (fabs((double)y0[e]) + 1e-3);
      if (d > md) md = d;
    }
    double b0 = 1e30, b1 = 1e30, b2 = 1e30;
    int got = 0, tries = 0;
    for (; got < reps && tries < 6 * reps; tries++) { /* rotate the order */
      double t[3];
      foreign_jiffies();
      for (int h = 0; h < 3; h++) {
        const int which = (tries + h) % 3;
        double t0 = now();
        if (which == 1) run_sg(s, y1, a, b);
        else if (which == 2) run_sp(s, y1, a, b);
        else run_rt(s, y0, a, b);
        t[which] = now() - t0;
      }
      if (foreign_jiffies() > 1) continue; /* someone else ran: discard */
      got++;
      if (t[0] < b0) b0 = t[0];
      if (t[1] < b1) b1 = t[1];
      if (t[2] < b2) b2 = t[2];
    }
    if (got == 0) { /* never quiet: left out of the total */
      printf("%-30s disturbed in all %d tries\n", s->name, tries);
      missing++;
      free(a), free(b), free(y0), free(y1);
      continue;
    }
    const double fl = 2.0 * s->batch * s->M * s->N * s->K * 1e-9;
    printf("%-30s %8.1f %8.1f %8.1f %7.3f %7.3f %9.2e %5.2f %2d/%d\n", s->name, fl / b0, fl / b1,
           fl / b2, b0 / b1, b0 / b2, md, load1(), got, tries);
    fflush(stdout);
    tot_rt += s->count * b0;
    tot_sg += s->count * b1;
    tot_sp += s->count * b2;
    free(a), free(b), free(y0), free(y1);
  }
  if (missing) printf("(%d shape(s) left out of the mix)\n", missing);
  printf("step mix: rt %.1f ms, proto %.1f ms (speedup %.3f), split %.1f ms (speedup %.3f)\n",
         tot_rt * 1e3, tot_sg * 1e3, tot_rt / tot_sg, tot_sp * 1e3, tot_rt / tot_sp);
  return 0;
}
