/* compiler/codegen/cg_cuda_kern.c -- the CUDA generator's kernel table,
 * templates and call emission, and the module prelude.
 *
 * One idea: kernels are deduplicated by their whole text, so a model's
 * twelve identical layers cost one kernel and one NVRTC compile, and the
 * module depends only on the graph (the same recipe gives the same bytes,
 * which is what the kernel cache keys on).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../back.h"
#include "cg_cuda.h"

const char cu_prelude[] =
    "/* ---- prelude: the same text NVRTC compiles for the GPU and the C compiler\n"
    " * compiles for --device emu after runtime/cuda_emu.h. Kernels keep to the\n"
    " * subset cuda_emu.h implements; their parameters are pointers, i64 and\n"
    " * double only (8 bytes each: the launch buffer is a plain struct). */\n"
    "#ifdef __CUDACC__\n"
    "#define FTC_KERNEL extern \"C\" __global__\n"
    "#define FTC_DEV static __device__ __forceinline__\n"
    "#define FTC_DYN_SMEM(T, name) extern __shared__ __align__(16) unsigned char ftc_smem_[]; \\\n"
    "  T *name = (T *)ftc_smem_\n"
    "#endif\n"
    "typedef long long i64;\n"
    "typedef unsigned short ftc_bf16;\n"
    "#define FTC_FULL 0xffffffffu\n"
    "#define FTC_MIN(a, b) ((a) < (b) ? (a) : (b))\n"
    "#define FTC_MAX(a, b) ((a) > (b) ? (a) : (b))\n"
    "\n"
    "/* Block-wide reductions over a fixed tree (warp butterflies, then warp 0\n"
    " * over the warps): every thread gets the same bits, on every run. sh is\n"
    " * __shared__ [33]; blockDim.x is a multiple of 32. */\n"
    "FTC_DEV double ftc_block_sum(double v, double *sh) {\n"
    "  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FTC_FULL, v, o);\n"
    "  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;\n"
    "  if (lane == 0) sh[w] = v;\n"
    "  __syncthreads();\n"
    "  if (w == 0) {\n"
    "    v = lane < nw ? sh[lane] : 0.0;\n"
    "    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FTC_FULL, v, o);\n"
    "    if (lane == 0) sh[32] = v;\n"
    "  }\n"
    "  __syncthreads();\n"
    "  v = sh[32];\n"
    "  __syncthreads();\n"
    "  return v;\n"
    "}\n"
    "FTC_DEV double ftc_block_max(double v, double *sh) {\n"
    "  for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(FTC_FULL, v, o));\n"
    "  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;\n"
    "  if (lane == 0) sh[w] = v;\n"
    "  __syncthreads();\n"
    "  if (w == 0) {\n"
    "    v = lane < nw ? sh[lane] : sh[0];\n"
    "    for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(FTC_FULL, v, o));\n"
    "    if (lane == 0) sh[32] = v;\n"
    "  }\n"
    "  __syncthreads();\n"
    "  v = sh[32];\n"
    "  __syncthreads();\n"
    "  return v;\n"
    "}\n"
    "FTC_DEV float ftc_warp_sumf(float v) {\n"
    "  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FTC_FULL, v, o);\n"
    "  return v;\n"
    "}\n"
    "FTC_DEV float ftc_warp_maxf(float v) {\n"
    "  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FTC_FULL, v, o));\n"
    "  return v;\n"
    "}\n"
    "FTC_DEV double ftc_warp_sum(double v) {\n"
    "  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FTC_FULL, v, o);\n"
    "  return v;\n"
    "}\n"
    "FTC_DEV double ftc_warp_max(double v) {\n"
    "  for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(FTC_FULL, v, o));\n"
    "  return v;\n"
    "}\n"
    "/* bf16 storage: round to nearest even, NaN kept quiet (as the host's) */\n"
    "FTC_DEV float ftc_bf16_to_f(ftc_bf16 h) { return __uint_as_float(((unsigned)h) << 16); }\n"
    "FTC_DEV ftc_bf16 ftc_f_to_bf16(float f) {\n"
    "  unsigned u = __float_as_uint(f);\n"
    "  if ((u & 0x7fffffffu) > 0x7f800000u) return (ftc_bf16)((u >> 16) | 0x40);\n"
    "  u += 0x7fffu + ((u >> 16) & 1u);\n"
    "  return (ftc_bf16)(u >> 16);\n"
    "}\n"
    "/* the index of this thread in a 1-D grid, and the grid's thread count */\n"
    "#define FTC_GID ((i64)blockIdx.x * blockDim.x + threadIdx.x)\n"
    "#define FTC_GSTRIDE ((i64)gridDim.x * blockDim.x)\n"
    "/* ---- end of prelude */\n\n";

char *cu_str(Cu *c, const char *fmt, ...) {
  va_list ap;
  char *s = NULL;
  va_start(ap, fmt);
  if (vasprintf(&s, fmt, ap) < 0) {
    s = NULL;
    c->err = 1;
  }
  va_end(ap);
  return s;
}

const char *cu_dbl(double v, char *buf, size_t cap) {
  if (isinf(v))
    snprintf(buf, cap, "%sINFINITY", v < 0 ? "-" : "");
  else if (isnan(v))
    snprintf(buf, cap, "NAN");
  else
    snprintf(buf, cap, "%.17g", v);
  return buf;
}

/* the element type's math functions */
static const char *math_name(const Cu *c, const char *w) {
  static const struct {
    const char *k, *f, *d;
  } t[] = {
      {"EXP", "expf", "exp"},    {"LOG", "logf", "log"},    {"SQRT", "sqrtf", "sqrt"},
      {"TANH", "tanhf", "tanh"}, {"FMAX", "fmaxf", "fmax"}, {"FMIN", "fminf", "fmin"},
      {"FABS", "fabsf", "fabs"}, {"COS", "cosf", "cos"},    {"SIN", "sinf", "sin"},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (!strcmp(t[i].k, w)) return c->f64 ? t[i].d : t[i].f;
  return NULL;
}

char *cu_tmpl(Cu *c, const char *tmpl, const char *name, const char *const *argv, int argc) {
  char *out = NULL;
  size_t len = 0;
  FILE *o = open_memstream(&out, &len);
  if (!o) {
    c->err = 1;
    return NULL;
  }
  for (const char *s = tmpl; *s; s++) {
    if (*s != '$') {
      fputc(*s, o);
      continue;
    }
    const char *w = s + 1;
    if (isdigit((unsigned char)*w)) {
      int i = *w - '0';
      fputs(i < argc && argv[i] ? argv[i] : "?", o);
      s = w;
      continue;
    }
    size_t n = 0;
    while (isupper((unsigned char)w[n])) n++;
    char key[16] = "";
    if (n > 0 && n < sizeof key) memcpy(key, w, n);
    const char *m = math_name(c, key);
    if (!strcmp(key, "T"))
      fputs(c->T, o);
    else if (!strcmp(key, "A"))
      fputs("double", o);
    else if (!strcmp(key, "F"))
      fputs(c->f64 ? "" : "f", o);
    else if (!strcmp(key, "NAME"))
      fputs(name, o);
    else if (!strcmp(key, "NINF"))
      fputs(c->f64 ? "__longlong_as_double(0xfff0000000000000LL)" : "__uint_as_float(0xff800000u)",
            o);
    else if (m)
      fputs(m, o);
    else {
      fputc('$', o); /* not a placeholder */
      continue;
    }
    s = w + n - 1;
  }
  if (fclose(o) != 0) {
    free(out);
    c->err = 1;
    return NULL;
  }
  return out;
}

int cu_kernel(Cu *c, const char *name, const char *doc, const char *params, const char *body,
              int sync, unsigned smem) {
  if (c->err || !name || !params || !body) {
    c->err = 1;
    return -1;
  }
  char *text = cu_str(c, "FTC_KERNEL void %s(%s) %s", name, params, body);
  if (!text) return -1;
  for (int i = 0; i < c->nk; i++) {
    if (strcmp(c->k[i].name, name)) continue;
    if (strcmp(c->k[i].text, text) || c->k[i].sync != sync || c->k[i].smem != smem) {
      fprintf(stderr, "ftc: internal: two different CUDA kernels named %s\n", name);
      c->err = 1;
      free(text);
      return -1;
    }
    free(text);
    c->k[i].uses++;
    return i;
  }
  if (c->nk == CU_MAXKERN) {
    fprintf(stderr, "ftc: internal: more than %d CUDA kernels\n", CU_MAXKERN);
    c->err = 1;
    free(text);
    return -1;
  }
  CuKernel *k = &c->k[c->nk];
  k->name = strdup(name);
  k->params = strdup(params);
  k->first = cu_str(c, "%s%s%s", doc ? doc : "", doc ? "\n * first used by " : "", c->what);
  k->text = text;
  k->sync = sync;
  k->smem = smem;
  k->uses = 1;
  if (!k->name || !k->params || !k->first) c->err = 1;
  return c->nk++;
}

int cu_kernel_tmpl(Cu *c, const char *name, const char *doc, const char *params, const char *body,
                   const char *const *argv, int argc, int sync, unsigned smem) {
  char *b = cu_tmpl(c, body, name, argv, argc), *p = cu_tmpl(c, params, name, argv, argc);
  int k = cu_kernel(c, name, doc, p, b, sync, smem);
  free(b);
  free(p);
  return k;
}

void cu_launch(Cu *c, int k, int64_t gx, int64_t gy, int64_t gz, int bx, const char *args) {
  if (k < 0 || c->err) return;
  if (gx < 1) gx = 1;
  if (gx > 0x7fffffff || gy > 65535 || gz > 65535) {
    fprintf(stderr, "ftc: internal: grid %lld x %lld x %lld too large for kernel %s\n",
            (long long)gx, (long long)gy, (long long)gz, c->k[k].name);
    c->err = 1;
    return;
  }
  fprintf(c->host,
          "  {\n    struct ka_%s a = {%s};\n    rt_dev_launch(d, K_%s, %lld, %lld, %lld, %d, 1, 1, "
          "&a, sizeof a);\n  }\n",
          c->k[k].name, args, c->k[k].name, (long long)gx, (long long)gy, (long long)gz, bx);
}

static int same_gemm(const CuGemm *a, const CuGemm *b) {
  return a->ta == b->ta && a->tb == b->tb && a->m == b->m && a->n == b->n && a->k == b->k &&
         a->lda == b->lda && a->ldb == b->ldb && a->ldc == b->ldc && a->batch == b->batch &&
         a->sa == b->sa && a->sb == b->sb && a->sc == b->sc && a->type_ab == b->type_ab &&
         a->type_cd == b->type_cd && a->alpha == b->alpha && a->beta == b->beta &&
         a->epi == b->epi && a->bias_off == b->bias_off && a->aux_off == b->aux_off &&
         a->aux_ld == b->aux_ld;
}

int cu_gemm(Cu *c, const CuGemm *g) {
  if (c->err) return -1;
  for (int i = 0; i < c->ngm; i++)
    if (same_gemm(&c->gm[i], g)) return i;
  if (c->ngm == CU_MAXGEMM) {
    fprintf(stderr, "ftc: internal: more than %d product sites\n", CU_MAXGEMM);
    c->err = 1;
    return -1;
  }
  c->gm[c->ngm] = *g;
  c->gm[c->ngm].site = strdup(c->what);
  if (!c->gm[c->ngm].site) c->err = 1;
  return c->ngm++;
}

void cu_call_gemm(Cu *c, int g, int64_t A, int64_t B, int64_t D) {
  if (g < 0 || c->err) return;
  CuGemm *m = &c->gm[g];
  /* the alignment every call guarantees (the device base is 256-aligned) */
  int64_t al = 256;
  while (al > 4 && (A % al || B % al || D % al)) al /= 2;
  if (m->align == 0 || al < m->align) m->align = al;
  fprintf(c->host,
          "  rt_dev_gemm(d, %d, D(%lld), D(%lld), D(%lld)); /* D[%lld,%lld] = %s%s x %s%s, k "
          "%lld%s%s */\n",
          g, (long long)A, (long long)B, (long long)D, (long long)m->m, (long long)m->n,
          m->ta ? "A^T" : "A", m->batch > 1 ? "[b]" : "", m->tb ? "B^T" : "B",
          m->batch > 1 ? "[b]" : "", (long long)m->k, m->beta != 0 ? ", += D" : "",
          m->epi == 1 ? ", + bias" : m->epi >= 3 ? ", bias grad" : "");
}

void cu_copy(Cu *c, int64_t dst_off, int64_t src_off, int64_t bytes) {
  if (dst_off == src_off || bytes <= 0) return;
  fprintf(c->host, "  rt_dev_copy(d, D(%lld), D(%lld), %lld);\n", (long long)dst_off,
          (long long)src_off, (long long)bytes);
}

int64_t cu_scratch(Cu *c, int64_t bytes) {
  bytes = (bytes + 255) & ~(int64_t)255;
  if (bytes > c->scratch) c->scratch = bytes;
  return c->scratch_off;
}

static int64_t grid_for(int64_t n) {
  int64_t g = (n + CU_BLOCK - 1) / CU_BLOCK;
  return g < 1 ? 1 : g > 8192 ? 8192 : g;
}

int cu_map(Cu *c, const char *name, const char *doc, const char *params, const char *expr,
           int64_t n, const char *args) {
  char *t = cu_str(c,
                   "{\n"
                   "  for (i64 i = FTC_GID; i < n; i += FTC_GSTRIDE) {\n"
                   "%s\n"
                   "  }\n"
                   "}\n",
                   expr);
  char *body = t ? cu_tmpl(c, t, name, NULL, 0) : NULL;
  char *p = cu_tmpl(c, params, name, NULL, 0);
  int k = cu_kernel(c, name, doc, p, body, 0, 0);
  cu_launch(c, k, grid_for(n), 1, 1, CU_BLOCK, args);
  free(t);
  free(body);
  free(p);
  return k < 0 ? -1 : 0;
}

int64_t cu_off(const Cu *c, int id) { return c->p->offset[id]; }
int64_t cu_numel(const Cu *c, int id) { return ir_numel(&c->g->nodes[id].shape); }
int64_t cu_lastd(const Cu *c, int id) {
  const IrShape *s = &c->g->nodes[id].shape;
  return s->d[s->rank - 1];
}
int64_t cu_esz(const Cu *c) { return c->f64 ? 8 : 4; }
