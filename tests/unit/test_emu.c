/* tests/unit/test_emu.c -- the emulation device's contract, checked on
 * hand-written kernels: barriers, warp shuffles and votes, atomics,
 * multi-dimensional blocks, dynamic shared memory, loop vs fiber mode, the
 * failure on divergent barriers; the cuBLASLt descriptor executor against a
 * naive column-major product (transposes, batches, beta, epilogues, bf16,
 * f64); graph capture and replay; 16-bit float rounding. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "cuda_emu.h"
#include "dev.h"
#include "emu.h"

typedef long long i64;
#define FTC_FULL 0xffffffffu

/* ---- kernels (the generator's subset) --------------------------------------- */
typedef struct {
  const float *x;
  float *y;
  i64 n;
} SumArgs;
/* per block: y[b] = sum of x over the block's 256 elements (shared tree) */
FTC_KERNEL void block_sum(const float *x, float *y, i64 n) {
  __shared__ float s[256];
  const i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  s[threadIdx.x] = i < n ? x[i] : 0.0f;
  __syncthreads();
  for (unsigned k = blockDim.x / 2; k > 0; k >>= 1) {
    if (threadIdx.x < k) s[threadIdx.x] += s[threadIdx.x + k];
    __syncthreads();
  }
  if (threadIdx.x == 0) y[blockIdx.x] = s[0];
}
static void t_block_sum(const void *p) {
  const SumArgs *a = p;
  block_sum(a->x, a->y, a->n);
}

typedef struct {
  int *out;
} ShflArgs;
/* per lane of a 48-thread block: 8 results of shuffles and votes */
FTC_KERNEL void shuffles(int *out) {
  const int l = (int)threadIdx.x, lane = l & 31;
  int *o = out + l * 8;
  o[0] = __shfl_xor_sync(FTC_FULL, l, 1);
  o[1] = __shfl_down_sync(FTC_FULL, l, 4);
  o[2] = __shfl_up_sync(FTC_FULL, l, 2);
  o[3] = __shfl_sync(FTC_FULL, l, 5);
  o[4] = __shfl_xor_sync(FTC_FULL, l, 8, 16); /* within segments of 16 */
  o[5] = (int)__ballot_sync(FTC_FULL, lane % 3 == 0);
  o[6] = __any_sync(FTC_FULL, lane == 7);
  o[7] = __all_sync(FTC_FULL, lane < 40);
  float f = (float)l;
  for (int k = 16; k > 0; k >>= 1) f += __shfl_xor_sync(FTC_FULL, f, k);
  if (lane == 0) out[48 * 8 + l / 32] = (int)f;
}
static void t_shuffles(const void *p) { shuffles(((const ShflArgs *)p)->out); }

typedef struct {
  int *count;
  float *fsum;
  int *coords;
} AtomArgs;
FTC_KERNEL void atomics(int *count, float *fsum, int *coords) {
  atomicAdd(count, 1);
  atomicAdd(fsum, 0.5f);
  const int t = (int)(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z));
  const int b = (int)(blockIdx.x + gridDim.x * blockIdx.y);
  int *c = coords + (b * 24 + t) * 3;
  c[0] = (int)threadIdx.x;
  c[1] = (int)threadIdx.y;
  c[2] = (int)threadIdx.z;
  atomicMax(coords + 2 * 24 * 3 * 3, b * 100 + t);
}
static void t_atomics(const void *p) {
  const AtomArgs *a = p;
  atomics(a->count, a->fsum, a->coords);
}

typedef struct {
  float *y;
} DynArgs;
/* reverse 64 values through dynamic shared memory */
FTC_KERNEL void dyn(float *y) {
  FTC_DYN_SMEM(float, s);
  s[threadIdx.x] = (float)threadIdx.x;
  __syncthreads();
  y[threadIdx.x] = s[63 - threadIdx.x];
}
static void t_dyn(const void *p) { dyn(((const DynArgs *)p)->y); }

FTC_KERNEL void bad_barrier(float *y) {
  /* half the warp waits at the block barrier, half at a warp barrier: a
   * hang on a GPU, a named error in the emulator */
  if (threadIdx.x < 16)
    __syncthreads();
  else
    __syncwarp();
  y[threadIdx.x] = 1;
}
static void t_bad(const void *p) { bad_barrier(((const DynArgs *)p)->y); }

typedef struct {
  float *y;
  i64 n;
} IncArgs;
FTC_KERNEL void inc(float *y, i64 n) {
  const i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] += 1.0f;
}
static void t_inc(const void *p) {
  const IncArgs *a = p;
  inc(a->y, a->n);
}

/* Runs fn in a child; returns 1 when it aborted with `needle` in stderr. */
static int aborts_with(void (*fn)(void), const char *needle) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return 0;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 2);
    close(pipefd[0]);
    fn();
    _exit(0);
  }
  close(pipefd[1]);
  char buf[1024] = "";
  ssize_t n = read(pipefd[0], buf, sizeof buf - 1);
  buf[n > 0 ? n : 0] = 0;
  close(pipefd[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(buf, needle) != NULL;
}
static void run_bad(void) {
  float y[32];
  DynArgs a = {y};
  const unsigned g[3] = {1, 1, 1}, b[3] = {32, 1, 1};
  rt_emu_run("bad_barrier", t_bad, &a, 1, g, b, 0);
}
static void run_sync_in_loop_mode(void) {
  float x[256] = {0}, y[1];
  SumArgs a = {x, y, 256};
  const unsigned g[3] = {1, 1, 1}, b[3] = {256, 1, 1};
  rt_emu_run("block_sum", t_block_sum, &a, 0, g, b, 0); /* sync = 0: wrong */
}

/* ---- products ----------------------------------------------------------------- */
static double ref_at(const float *p, int t, int64_t r, int64_t c, int64_t ld, int tr) {
  return t == 2 ? rt_bf16_to_f32(((const uint16_t *)p)[tr ? c + r * ld : r + c * ld])
                : p[tr ? c + r * ld : r + c * ld];
}

/* naive column-major D = alpha op(A) op(B) + beta C, the same epilogue */
static void ref_gemm(const rt_gemm *g, const void *A, const void *B, double *D, const double *C0,
                     double *bias, double *aux) {
  for (int64_t j = 0; j < g->n; j++)
    for (int64_t i = 0; i < g->m; i++) {
      double s = 0;
      for (int64_t k = 0; k < g->k; k++)
        s +=
            ref_at(A, g->type_ab, i, k, g->lda, g->ta) * ref_at(B, g->type_ab, k, j, g->ldb, g->tb);
      s = g->alpha * s + g->beta * C0[i + j * g->ldc];
      if (g->epi == RT_EPI_BIAS || g->epi == RT_EPI_GELU_AUX_BIAS) s += bias[i];
      if (g->epi == RT_EPI_GELU_AUX_BIAS) {
        aux[i + j * g->aux_ld] = s;
        s = 0.5 * s * (1 + tanh(0.7978845608028654 * (s + 0.044715 * s * s * s)));
      }
      D[i + j * g->ldc] = s;
    }
  if (g->epi == RT_EPI_BGRADA)
    for (int64_t i = 0; i < g->m; i++) {
      double s = 0;
      for (int64_t k = 0; k < g->k; k++) s += ref_at(A, g->type_ab, i, k, g->lda, g->ta);
      bias[i] = s;
    }
  if (g->epi == RT_EPI_BGRADB)
    for (int64_t j = 0; j < g->n; j++) {
      double s = 0;
      for (int64_t k = 0; k < g->k; k++) s += ref_at(B, g->type_ab, k, j, g->ldb, g->tb);
      bias[j] = s;
    }
}

static void nop_site(rt_dev *d, unsigned char *B, int ng) { (void)d, (void)B, (void)ng; }

static int check_gemms(void) {
  /* cases: ta tb m n k lda ldb ldc batch epi types */
  /* clang-format off */
  rt_gemm gm[] = {
      /* ta tb  m  n  k lda ldb ldc batch sa  sb  sc  types               alpha beta epilogue          bias aux aux_ld */
      {0, 0, 5, 7, 3, 5, 3, 5, 1, 0, 0, 0, RT_DT_F32, RT_DT_F32, 1, 0, RT_EPI_NONE, -1, -1, -1, "nn", 4},
      {1, 0, 5, 7, 3, 3, 3, 6, 1, 0, 0, 0, RT_DT_F32, RT_DT_F32, 1, 1, RT_EPI_NONE, -1, -1, -1, "tn acc ldc", 4},
      {0, 1, 4, 6, 8, 4, 6, 4, 3, 32, 48, 24, RT_DT_F32, RT_DT_F32, 1, 0, RT_EPI_NONE, -1, -1, -1, "nt batch", 4},
      {1, 1, 6, 5, 4, 4, 5, 6, 2, 24, 0, 30, RT_DT_F32, RT_DT_F32, 2, 0, RT_EPI_NONE, -1, -1, -1, "tt shared B", 4},
      {0, 0, 6, 4, 5, 6, 5, 6, 1, 0, 0, 0, RT_DT_F32, RT_DT_F32, 1, 0, RT_EPI_BIAS, 0, -1, -1, "bias", 4},
      {0, 0, 6, 4, 5, 6, 5, 6, 1, 0, 0, 0, RT_DT_F32, RT_DT_F32, 1, 0, RT_EPI_GELU_AUX_BIAS, 0, 64, 6, "gelu aux bias", 4},
      {0, 1, 6, 4, 5, 6, 4, 6, 1, 0, 0, 0, RT_DT_F32, RT_DT_F32, 1, 0, RT_EPI_BGRADA, 0, -1, -1, "bgrad a", 4},
      {1, 0, 6, 4, 5, 5, 5, 6, 1, 0, 0, 0, RT_DT_F32, RT_DT_F32, 1, 0, RT_EPI_BGRADB, 0, -1, -1, "bgrad b", 4},
      {0, 0, 8, 8, 16, 8, 16, 8, 1, 0, 0, 0, RT_DT_BF16, RT_DT_F32, 1, 0, RT_EPI_NONE, -1, -1, -1, "bf16 in", 4},
  };
  /* clang-format on */
  const int ng = (int)(sizeof gm / sizeof gm[0]);
  rt_dev_site_fn fns[1] = {nop_site};
  rt_dev_program prog = {.gemms = gm,
                         .ngemms = ng,
                         .arena_bytes = 1 << 16,
                         .bytes = 1 << 16,
                         .site_fn = fns,
                         .update = nop_site,
                         .sumsq = nop_site};
  rt_dev *d = rt_dev_open(RT_DEVICE_EMU, 0, &prog);
  CHECK(d != NULL, "emu device opens");
  if (!d) return 1;
  /* layout in device memory: bias at 0 (64 floats), aux at 256 B.., A at
   * 4 KiB, B at 12 KiB, D at 20 KiB */
  float *bias = (float *)d->base, *A = (float *)(d->base + 4096), *B = (float *)(d->base + 12288),
        *D = (float *)(d->base + 20480), *aux = (float *)(d->base + 256);
  unsigned seed = 7;
  for (int c = 0; c < ng; c++) {
    rt_gemm *g = &gm[c];
    gm[c].bias_off = g->bias_off >= 0 ? 0 : -1;
    gm[c].aux_off = g->aux_off >= 0 ? 256 : -1;
    double Dref[512], C0[512], bref[64], auxref[512];
    for (int i = 0; i < 1024; i++) {
      seed = seed * 1103515245u + 12345u;
      float v = (float)((seed >> 8) % 2001) / 1000.0f - 1.0f;
      if (g->type_ab == RT_DT_BF16) {
        ((uint16_t *)A)[i] = rt_f32_to_bf16(v);
        ((uint16_t *)B)[i] = rt_f32_to_bf16(-v * 0.5f);
      } else {
        A[i] = v;
        B[i] = 0.25f - v;
      }
    }
    for (int i = 0; i < 512; i++) D[i] = C0[i] = (float)(i % 13) * 0.125f;
    for (int i = 0; i < 64; i++) bias[i] = (float)i * 0.01f, bref[i] = bias[i];
    for (int b = 0; b < g->batch; b++) {
      const size_t es = g->type_ab == RT_DT_BF16 ? 2 : 4;
      const char *a = (const char *)A + b * g->stride_a * (int64_t)es;
      const char *bb = (const char *)B + b * g->stride_b * (int64_t)es;
      ref_gemm(g, a, bb, Dref + b * g->stride_c, C0 + b * g->stride_c, bref, auxref);
    }
    rt_dev_gemm(d, c, A, B, D);
    double err = 0;
    for (int b = 0; b < g->batch; b++)
      for (int64_t j = 0; j < g->n; j++)
        for (int64_t i = 0; i < g->m; i++) {
          int64_t at = b * g->stride_c + i + j * g->ldc;
          err = fmax(err, fabs(D[at] - Dref[at]));
        }
    if (g->epi == RT_EPI_GELU_AUX_BIAS)
      for (int64_t j = 0; j < g->n; j++)
        for (int64_t i = 0; i < g->m; i++)
          err = fmax(err, fabs(aux[i + j * g->aux_ld] - auxref[i + j * g->aux_ld]));
    if (g->epi == RT_EPI_BGRADA || g->epi == RT_EPI_BGRADB)
      for (int64_t i = 0; i < (g->epi == RT_EPI_BGRADA ? g->m : g->n); i++)
        err = fmax(err, fabs(bias[i] - bref[i]));
    CHECK(err < 1e-5, "product '%s' differs from the naive column-major one by %g", g->site, err);
  }
  CHECK(!d->failed, "no device failure");
  rt_dev_close(d);
  return 0;
}

/* graphs: a captured launch is not run; each replay runs it */
static void check_graph(void) {
  rt_dev_kernel ks[] = {{"inc", t_inc, 0, 0}};
  rt_dev_site_fn fns[1] = {nop_site};
  rt_dev_program prog = {.kernels = ks,
                         .nkernels = 1,
                         .arena_bytes = 4096,
                         .bytes = 4096,
                         .site_fn = fns,
                         .update = nop_site,
                         .sumsq = nop_site};
  rt_dev *d = rt_dev_open(RT_DEVICE_EMU, 0, &prog);
  CHECK(d != NULL, "emu device opens");
  if (!d) return;
  float *y = (float *)d->base;
  for (int i = 0; i < 100; i++) y[i] = (float)i;
  IncArgs a = {y, 100};
  void *g = NULL;
  CHECK(d->ops->capture_begin(d) == 0, "capture begins");
  rt_dev_launch(d, 0, 2, 1, 1, 64, 1, 1, &a, sizeof a);
  a.n = 0; /* the recorded launch kept its own copy of the arguments */
  CHECK(d->ops->capture_end(d, &g) == 0 && g, "capture ends");
  CHECK(y[5] == 5.0f, "a captured launch does not run (%g)", y[5]);
  CHECK(d->ops->replay(d, g) == 0 && d->ops->replay(d, g) == 0, "replays");
  CHECK(y[5] == 7.0f && y[99] == 101.0f, "two replays ran it twice (%g, %g)", y[5], y[99]);
  d->ops->graph_free(d, g);
  rt_dev_close(d);
}

int main(void) {
  /* block reduction with barriers and shared memory, many blocks */
  enum { N = 7 * 256 - 5 };
  static float x[N], y[7];
  for (int i = 0; i < N; i++) x[i] = (float)(i % 17);
  SumArgs sa = {x, y, N};
  const unsigned g7[3] = {7, 1, 1}, b256[3] = {256, 1, 1};
  rt_emu_run("block_sum", t_block_sum, &sa, 1, g7, b256, 0);
  for (int b = 0; b < 7; b++) {
    float s = 0;
    for (int i = b * 256; i < (b + 1) * 256 && i < N; i++) s += x[i];
    CHECK(y[b] == s, "block %d sum %g, want %g", b, y[b], s);
  }

  /* shuffles and votes in a block of 48: a full warp and a partial one */
  static int out[48 * 8 + 2];
  ShflArgs sh = {out};
  const unsigned g1[3] = {1, 1, 1}, b48[3] = {48, 1, 1};
  rt_emu_run("shuffles", t_shuffles, &sh, 1, g1, b48, 0);
  for (int l = 0; l < 48; l++) {
    const int *o = out + l * 8, lane = l & 31, w0 = l - lane, wl = l < 32 ? 32 : 16;
    int xr = lane ^ 1, dn = lane + 4 < 32 ? lane + 4 : lane, up = lane >= 2 ? lane - 2 : lane;
    int x16 = (lane & 16) | ((lane & 15) ^ 8);
    /* sources beyond the partial warp give the lane's own value */
    CHECK(o[0] == (xr < wl ? w0 + xr : l), "xor lane %d: %d", l, o[0]);
    CHECK(o[1] == (dn < wl ? w0 + dn : l), "down lane %d: %d", l, o[1]);
    CHECK(o[2] == w0 + up, "up lane %d: %d", l, o[2]);
    CHECK(o[3] == w0 + 5, "idx lane %d: %d", l, o[3]);
    CHECK(o[4] == (x16 < wl ? w0 + x16 : l), "xor width 16 lane %d: %d", l, o[4]);
    unsigned bal = 0;
    for (int i = 0; i < wl; i++)
      if (i % 3 == 0) bal |= 1u << i;
    CHECK((unsigned)o[5] == bal, "ballot lane %d: %x want %x", l, (unsigned)o[5], bal);
    CHECK(o[6] == 1, "any lane %d", l);
    CHECK(o[7] == 1, "all lane %d", l);
  }
  CHECK(out[48 * 8] == 496 && out[48 * 8 + 1] == 2 * (32 * 16 + 120), "warp sums %d %d",
        out[48 * 8], out[48 * 8 + 1]);

  /* atomics across parallel blocks; a 3-D block's coordinates */
  static int coords[2 * 24 * 3 * 3 + 1];
  int count = 0;
  float fsum = 0;
  coords[2 * 24 * 3 * 3] = -1;
  AtomArgs aa = {&count, &fsum, coords};
  const unsigned g2[3] = {2, 3, 1}, b3d[3] = {4, 3, 2};
  rt_emu_run("atomics", t_atomics, &aa, 0, g2, b3d, 0);
  CHECK(count == 6 * 24, "atomicAdd count %d", count);
  CHECK(fsum == 72.0f, "atomicAdd float %g", fsum);
  CHECK(coords[2 * 24 * 3 * 3] == 5 * 100 + 23, "atomicMax %d", coords[2 * 24 * 3 * 3]);
  for (int t = 0; t < 24; t++)
    CHECK(coords[t * 3] == t % 4 && coords[t * 3 + 1] == (t / 4) % 3 && coords[t * 3 + 2] == t / 12,
          "thread %d coordinates (%d,%d,%d)", t, coords[t * 3], coords[t * 3 + 1],
          coords[t * 3 + 2]);

  /* dynamic shared memory */
  float r[64];
  DynArgs da = {r};
  const unsigned b64[3] = {64, 1, 1};
  rt_emu_run("dyn", t_dyn, &da, 1, g1, b64, 64 * sizeof(float));
  int rev = 1;
  for (int i = 0; i < 64; i++) rev &= r[i] == (float)(63 - i);
  CHECK(rev, "dynamic shared memory round trip");

  /* bugs the emulator names instead of computing garbage */
  CHECK(aborts_with(run_bad, "bad_barrier: threads wait at different barriers"),
        "a divergent __syncthreads is reported");
  CHECK(aborts_with(run_sync_in_loop_mode, "__syncthreads in a kernel the generator marked"),
        "a barrier in a loop-mode kernel is reported");

  check_gemms();
  check_graph();

  /* 16-bit floats: round to nearest even, specials */
  CHECK(rt_f32_to_bf16(1.0f) == 0x3f80 && rt_bf16_to_f32(0x3f80) == 1.0f, "bf16 1.0");
  CHECK(rt_f32_to_bf16(1.00390625f) == 0x3f80, "bf16 ties to even (down)");
  CHECK(rt_f32_to_bf16(1.01171875f) == 0x3f82, "bf16 ties to even (up)");
  CHECK(rt_f32_to_bf16(-INFINITY) == 0xff80 && (rt_f32_to_bf16(NAN) & 0x7fc0) == 0x7fc0,
        "bf16 inf nan");
  CHECK(rt_f32_to_f16(1.0f) == 0x3c00 && rt_f16_to_f32(0x3c00) == 1.0f, "f16 1.0");
  CHECK(rt_f32_to_f16(65504.0f) == 0x7bff && rt_f32_to_f16(65520.0f) == 0x7c00,
        "f16 max, overflow");
  CHECK(rt_f32_to_f16(5.9604644775390625e-8f) == 0x0001, "f16 smallest subnormal");
  CHECK(rt_f32_to_f16(2.98023223876953125e-8f) == 0x0000, "f16 half of it ties to 0");
  CHECK(rt_f16_to_f32(0x0001) == 5.9604644775390625e-8f, "f16 subnormal back");
  int rt = 1;
  for (uint32_t h = 0; h < 0x7c00; h++) rt &= rt_f32_to_f16(rt_f16_to_f32((uint16_t)h)) == h;
  CHECK(rt, "every finite f16 round-trips");
  return check_exit("test_emu");
}
