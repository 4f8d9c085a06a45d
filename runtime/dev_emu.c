/* runtime/dev_emu.c -- `--device emu`: the CUDA trainer's own step on the
 * CPU. The same generated host code, kernel sources (compiled against
 * cuda_emu.h), launch configurations, arena offsets and cuBLASLt
 * descriptors; a test device, slow by design.
 *
 * One idea: emulate the contract, not the hardware. Device memory is a host
 * allocation SEPARATE from the host's arena (a missing upload or download
 * shows up as wrong numbers, as it would on a GPU), filled with the arena's
 * canary and followed by a guard; a launch runs the kernel's threads
 * (emu_fiber.c); a product runs the descriptor's column-major operation on
 * the CPU BLAS with its operand types and epilogue; the stream is in order
 * and synchronous, and a captured graph is the list of calls, replayed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"
#include "emu.h"
#include "kernels/gemm.h"
#include "rt_internal.h"

enum { C_LAUNCH, C_GEMM, C_COPY, C_FILL };

typedef struct Call {
  int kind, k;
  unsigned g[3], b[3];
  void *args; /* owned copy (launch) */
  size_t argsz;
  const void *p0, *p1; /* gemm A, B; copy src */
  void *p2;            /* gemm D; copy / fill dst */
  int64_t n;
  int byte;
} Call;

typedef struct Graph {
  Call *c;
  int n, cap;
} Graph;

typedef struct Emu {
  rt_arena mem;        /* the device allocation (canary + guard) */
  Graph *rec;          /* recording, or NULL */
  float *ta, *tb, *td; /* f32 staging for 16-bit operands */
  int64_t na, nb, nd;
} Emu;

static Emu *E(rt_dev *d) { return d->impl; }

/* elements a column-major [rows x cols] operand with leading dim ld spans */
static int64_t span(int64_t rows, int64_t cols, int64_t ld) {
  return rows <= 0 || cols <= 0 ? 0 : ld * (cols - 1) + rows;
}

static int emu_open(rt_dev *d) {
  Emu *e = rt_xcalloc(1, sizeof *e, "emu device");
  if (!e) return -1;
  d->impl = e;
  if (rt_arena_open(&e->mem, d->prog->bytes) != 0) {
    free(e);
    return -1;
  }
  rt_arena_fill_canary(&e->mem);
  d->base = e->mem.mem;
  /* staging for products with 16-bit operands or results */
  for (int i = 0; i < d->prog->ngemms; i++) {
    const rt_gemm *g = &d->prog->gemms[i];
    if (g->type_ab == RT_DT_BF16 || g->type_ab == RT_DT_F16) {
      int64_t a = span(g->ta ? g->k : g->m, g->ta ? g->m : g->k, g->lda);
      int64_t b = span(g->tb ? g->n : g->k, g->tb ? g->k : g->n, g->ldb);
      if (a > e->na) e->na = a;
      if (b > e->nb) e->nb = b;
    }
    if (g->type_cd == RT_DT_BF16 || g->type_cd == RT_DT_F16) {
      int64_t c = span(g->m, g->n, g->ldc);
      if (c > e->nd) e->nd = c;
    }
  }
  if ((e->na && !(e->ta = rt_xmalloc((size_t)e->na * 4, "emu staging"))) ||
      (e->nb && !(e->tb = rt_xmalloc((size_t)e->nb * 4, "emu staging"))) ||
      (e->nd && !(e->td = rt_xmalloc((size_t)e->nd * 4, "emu staging")))) {
    free(e->ta);
    free(e->tb);
    rt_arena_close(&e->mem);
    free(e);
    return -1;
  }
  /* a test hook: every epilogue apart, as a cuBLASLt that refuses them */
  const char *apart = getenv("FTC_EMU_EPILOGUE_APART");
  if (apart && !strcmp(apart, "1") && d->prog->k_epi_bias >= 0) {
    d->epi_apart = rt_xcalloc((size_t)d->prog->ngemms + 1, 1, "epilogue flags");
    for (int i = 0; d->epi_apart && i < d->prog->ngemms; i++)
      d->epi_apart[i] = d->prog->gemms[i].epi != RT_EPI_NONE;
  }
  snprintf(d->name, sizeof d->name, "emu (the CUDA step on the CPU, %d kernels, %d products)",
           d->prog->nkernels, d->prog->ngemms);
  return 0;
}

static void graph_free(rt_dev *d, void *graph) {
  (void)d;
  Graph *g = graph;
  if (!g) return;
  for (int i = 0; i < g->n; i++) free(g->c[i].args);
  free(g->c);
  free(g);
}

static void emu_close(rt_dev *d) {
  Emu *e = E(d);
  if (!e) return;
  graph_free(d, e->rec);
  free(e->ta);
  free(e->tb);
  free(e->td);
  rt_arena_close(&e->mem);
  free(e);
  d->impl = NULL;
}

/* A recorded call's slot, or NULL when not recording (run it now). */
static Call *record(rt_dev *d) {
  Graph *g = E(d)->rec;
  if (!g) return NULL;
  if (g->n == g->cap) {
    int cap = g->cap ? 2 * g->cap : 64;
    Call *c = realloc(g->c, (size_t)cap * sizeof *c);
    if (!c) {
      rt_dev_fail(d, "out of memory recording a graph");
      return NULL;
    }
    g->c = c;
    g->cap = cap;
  }
  Call *c = &g->c[g->n++];
  memset(c, 0, sizeof *c);
  return c;
}

/* ---- products --------------------------------------------------------------- */
static float ld16(const void *p, int64_t i, rt_dt t) {
  uint16_t h = ((const uint16_t *)p)[i];
  return t == RT_DT_BF16 ? rt_bf16_to_f32(h) : rt_f16_to_f32(h);
}

static void to_f32(float *dst, const void *src, rt_dt t, int64_t rows, int64_t cols, int64_t ld) {
  for (int64_t j = 0; j < cols; j++)
    for (int64_t i = 0; i < rows; i++) dst[i + j * ld] = ld16(src, i + j * ld, t);
}

static double gelu_tanh(double x) {
  return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

/* Epilogue on the f32/f64 result D (column-major m x n, ldc). */
#define EPILOGUE(T)                                                                                \
  static void epilogue_##T(rt_dev *d, const rt_gemm *g, T *D, const T *A, const T *B) {            \
    unsigned char *base = d->base;                                                                 \
    T *bias = g->bias_off >= 0 ? (T *)(base + g->bias_off) : NULL;                                 \
    T *aux = g->aux_off >= 0 ? (T *)(base + g->aux_off) : NULL;                                    \
    switch (g->epi) {                                                                              \
    case RT_EPI_BIAS:                                                                              \
    case RT_EPI_GELU_AUX_BIAS:                                                                     \
      for (int64_t j = 0; j < g->n; j++)                                                           \
        for (int64_t i = 0; i < g->m; i++) {                                                       \
          T v = D[i + j * g->ldc] + bias[i];                                                       \
          if (g->epi == RT_EPI_BIAS) {                                                             \
            D[i + j * g->ldc] = v;                                                                 \
          } else {                                                                                 \
            aux[i + j * g->aux_ld] = v;                                                            \
            D[i + j * g->ldc] = (T)gelu_tanh((double)v);                                           \
          }                                                                                        \
        }                                                                                          \
      break;                                                                                       \
    case RT_EPI_BGRADA: /* sum over k of op(A)[i, :] */                                            \
      for (int64_t i = 0; i < g->m; i++) {                                                         \
        double s = 0;                                                                              \
        for (int64_t c = 0; c < g->k; c++)                                                         \
          s += (double)(g->ta ? A[c + i * g->lda] : A[i + c * g->lda]);                            \
        bias[i] = (T)s;                                                                            \
      }                                                                                            \
      break;                                                                                       \
    case RT_EPI_BGRADB: /* sum over k of op(B)[:, j] */                                            \
      for (int64_t j = 0; j < g->n; j++) {                                                         \
        double s = 0;                                                                              \
        for (int64_t c = 0; c < g->k; c++)                                                         \
          s += (double)(g->tb ? B[j + c * g->ldb] : B[c + j * g->ldb]);                            \
        bias[j] = (T)s;                                                                            \
      }                                                                                            \
      break;                                                                                       \
    default:                                                                                       \
      break;                                                                                       \
    }                                                                                              \
  }
EPILOGUE(float)
EPILOGUE(double)
#undef EPILOGUE

/* Column-major D = alpha op(A) op(B) + beta D is the row-major product
 * D^T = alpha op(B)^T op(A)^T + beta D^T: gemm.h's row-major call with the
 * operands swapped (a col-major operand read row-major is its transpose). */
static void run_gemm(rt_dev *d, const rt_gemm *g, const void *A, const void *B, void *D,
                     int plain) {
  Emu *e = E(d);
  const int int16in = g->type_ab == RT_DT_BF16 || g->type_ab == RT_DT_F16;
  const int int16out = g->type_cd == RT_DT_BF16 || g->type_cd == RT_DT_F16;
  if (g->type_ab == RT_DT_F64 || g->type_cd == RT_DT_F64) {
    if (g->type_ab != RT_DT_F64 || g->type_cd != RT_DT_F64) {
      rt_dev_fail(d, "product %s mixes f64 with other types", g->site);
      return;
    }
    for (int64_t b = 0; b < g->batch; b++) {
      const double *a = (const double *)A + b * g->stride_a;
      const double *bb = (const double *)B + b * g->stride_b;
      double *y = (double *)D + b * g->stride_c;
      gemm_f64(g->tb, g->ta, g->n, g->m, g->k, g->alpha, bb, g->ldb, a, g->lda, g->beta, y, g->ldc);
      if (!plain) epilogue_double(d, g, y, a, bb);
    }
    return;
  }
  const size_t ein = int16in ? 2 : 4, eout = int16out ? 2 : 4;
  for (int64_t b = 0; b < g->batch; b++) {
    const void *a = (const char *)A + b * g->stride_a * (int64_t)ein;
    const void *bb = (const char *)B + b * g->stride_b * (int64_t)ein;
    void *y = (char *)D + b * g->stride_c * (int64_t)eout;
    const float *fa = a, *fb = bb;
    float *fy = y;
    if (int16in) {
      to_f32(e->ta, a, g->type_ab, g->ta ? g->k : g->m, g->ta ? g->m : g->k, g->lda);
      to_f32(e->tb, bb, g->type_ab, g->tb ? g->n : g->k, g->tb ? g->k : g->n, g->ldb);
      fa = e->ta;
      fb = e->tb;
    }
    if (int16out) {
      if (g->beta != 0) to_f32(e->td, y, g->type_cd, g->m, g->n, g->ldc);
      fy = e->td;
    }
    gemm_f32(g->tb, g->ta, g->n, g->m, g->k, (float)g->alpha, fb, g->ldb, fa, g->lda,
             (float)g->beta, fy, g->ldc);
    if (!plain) epilogue_float(d, g, fy, fa, fb);
    if (int16out)
      for (int64_t j = 0; j < g->n; j++)
        for (int64_t i = 0; i < g->m; i++) {
          float v = fy[i + j * g->ldc];
          ((uint16_t *)y)[i + j * g->ldc] =
              g->type_cd == RT_DT_BF16 ? rt_f32_to_bf16(v) : rt_f32_to_f16(v);
        }
  }
}

/* ---- the stream --------------------------------------------------------------- */
static void run_call(rt_dev *d, const Call *c) {
  const rt_dev_program *p = d->prog;
  switch (c->kind) {
  case C_LAUNCH: {
    const rt_dev_kernel *k = &p->kernels[c->k];
    rt_emu_run(k->name, k->emu, c->args, k->sync, c->g, c->b, k->smem);
    break;
  }
  case C_GEMM:
    run_gemm(d, &p->gemms[c->k], c->p0, c->p1, c->p2, c->byte);
    break;
  case C_COPY:
    memmove(c->p2, c->p0, (size_t)c->n);
    break;
  case C_FILL:
    memset(c->p2, c->byte, (size_t)c->n);
    break;
  }
}

static void emu_launch(rt_dev *d, int k, const unsigned g[3], const unsigned b[3], const void *args,
                       size_t n) {
  Call now = {C_LAUNCH, k, {g[0], g[1], g[2]}, {b[0], b[1], b[2]}, (void *)args, n, 0, 0, 0, 0, 0};
  Call *c = record(d);
  if (!c) {
    if (!d->failed) run_call(d, &now);
    return;
  }
  *c = now;
  c->args = rt_xmalloc(n ? n : 1, "recorded launch");
  if (!c->args) {
    rt_dev_fail(d, "out of memory recording a graph");
    return;
  }
  memcpy(c->args, args, n);
}

static void emu_gemm(rt_dev *d, int g, const void *A, const void *B, void *D, int plain) {
  Call now = {C_GEMM, g, {0}, {0}, NULL, 0, A, B, D, 0, plain};
  Call *c = record(d);
  if (c)
    *c = now;
  else if (!d->failed)
    run_call(d, &now);
}

static void emu_copy(rt_dev *d, void *dst, const void *src, int64_t n) {
  Call now = {C_COPY, 0, {0}, {0}, NULL, 0, src, NULL, dst, n, 0};
  Call *c = record(d);
  if (c)
    *c = now;
  else if (!d->failed)
    run_call(d, &now);
}

static void emu_fill(rt_dev *d, void *dst, int byte, int64_t n) {
  Call now = {C_FILL, 0, {0}, {0}, NULL, 0, NULL, NULL, dst, n, byte};
  Call *c = record(d);
  if (c)
    *c = now;
  else if (!d->failed)
    run_call(d, &now);
}

static int check_range(rt_dev *d, const char *what, int64_t off, int64_t n) {
  if (off < 0 || n < 0 || off + n > d->prog->bytes) {
    rt_dev_fail(d, "internal error: %s [%lld, +%lld) outside the device allocation", what,
                (long long)off, (long long)n);
    return -1;
  }
  if (E(d)->rec) {
    rt_dev_fail(d, "internal error: %s while a graph is being captured", what);
    return -1;
  }
  return 0;
}

static int emu_upload(rt_dev *d, int64_t off, const void *src, int64_t n) {
  if (d->failed || check_range(d, "upload", off, n)) return -1;
  memcpy(d->base + off, src, (size_t)n);
  return 0;
}

static int emu_download(rt_dev *d, void *dst, int64_t off, int64_t n) {
  if (d->failed || check_range(d, "download", off, n)) return -1;
  memcpy(dst, d->base + off, (size_t)n);
  return 0;
}

static int emu_capture_begin(rt_dev *d) {
  Emu *e = E(d);
  if (e->rec) {
    rt_dev_fail(d, "internal error: nested graph capture");
    return -1;
  }
  e->rec = rt_xcalloc(1, sizeof *e->rec, "graph");
  return e->rec ? 0 : -1;
}

static int emu_capture_end(rt_dev *d, void **graph) {
  Emu *e = E(d);
  *graph = e->rec;
  e->rec = NULL;
  return d->failed ? -1 : 0;
}

static int emu_replay(rt_dev *d, void *graph) {
  const Graph *g = graph;
  for (int i = 0; i < g->n && !d->failed; i++) run_call(d, &g->c[i]);
  return d->failed ? -1 : 0;
}

static int64_t emu_memory(rt_dev *d, char *desc, size_t n) {
  const rt_dev_program *p = d->prog;
  snprintf(desc, n,
           "one host block standing in for device memory: arena + workspace %lld B + "
           "scratch %lld B",
           (long long)p->ws_bytes, (long long)p->scratch_bytes);
  return E(d)->mem.bytes + E(d)->mem.guard;
}

/* over the plan's arena only: the tail past it is written at open */
static int64_t emu_high_water(rt_dev *d, int *guard_ok) {
  Emu *e = E(d);
  *guard_ok = rt_arena_guard_ok(&e->mem);
  rt_arena arena = {e->mem.mem, d->prog->arena_bytes, 0};
  return rt_arena_high_water(&arena);
}

static int emu_sync(rt_dev *d) { return d->failed ? -1 : 0; } /* it is synchronous */

const rt_dev_ops rt_dev_emu_ops = {
    .name = "emu",
    .open = emu_open,
    .close = emu_close,
    .launch = emu_launch,
    .gemm = emu_gemm,
    .copy = emu_copy,
    .fill = emu_fill,
    .upload = emu_upload,
    .download = emu_download,
    .capture_begin = emu_capture_begin,
    .capture_end = emu_capture_end,
    .replay = emu_replay,
    .graph_free = graph_free,
    .memory = emu_memory,
    .sync = emu_sync,
    .high_water = emu_high_water,
};
