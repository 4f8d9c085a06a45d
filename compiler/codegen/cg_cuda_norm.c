/* compiler/codegen/cg_cuda_norm.c -- CUDA kernels for the row ops: layer
 * and RMS norm (forward, dx, dw) and softmax (forward, backward).
 *
 * One idea: a row is one block. Its threads stride over the row, and the
 * row's statistics come from the prelude's fixed-tree block reductions in
 * double -- the CPU kernels' two-pass double statistics
 * (runtime/kernels/norm_tmpl.h), so both backends agree to rounding and
 * every run gives the same bits. A weight gradient reduces over ROWS, which
 * a block cannot own without serializing the GPU, so it runs in three
 * launches: row statistics to scratch, partial column sums over a fixed
 * number of row chunks, and the chunks summed in order -- deterministic
 * and without atomics.
 */
#include <stdlib.h>
#include <string.h>

#include "cg_cuda.h"

#define S(x) ((long long)(x))
#define CU_CHUNKS 64 /* row chunks of a weight gradient's partial sums */

static int row_threads(int64_t C) { return C >= 2048 ? 256 : C >= 256 ? 128 : 32; }

/* The row statistics, as the CPU computes them: mean (0 for rms) and
 * rstd = 1/sqrt(var + eps), both double. Needs sh[33] and xr. */
static const char *stats_text(int centered) {
  return centered ? "  double s = 0;\n"
                    "  for (int c = threadIdx.x; c < $0; c += blockDim.x) s += (double)xr[c];\n"
                    "  const double m = ftc_block_sum(s, sh) / $0.0;\n"
                    "  double v = 0;\n"
                    "  for (int c = threadIdx.x; c < $0; c += blockDim.x) {\n"
                    "    const double e = (double)xr[c] - m;\n"
                    "    v += e * e;\n"
                    "  }\n"
                    "  const double rs = 1.0 / sqrt(ftc_block_sum(v, sh) / $0.0 + eps);\n"
                  : "  double v = 0;\n"
                    "  for (int c = threadIdx.x; c < $0; c += blockDim.x) v += (double)xr[c] * "
                    "(double)xr[c];\n"
                    "  const double m = 0, rs = 1.0 / sqrt(ftc_block_sum(v, sh) / $0.0 + eps);\n";
}

static int row_kernel(Cu *c, const char *name, const char *doc, const char *params, const char *pre,
                      const char *body, int64_t C, int64_t rows, const char *args) {
  char cs[32];
  snprintf(cs, sizeof cs, "%lld", S(C));
  const char *argv[] = {cs};
  char *t = cu_str(c,
                   "{\n"
                   "  __shared__ double sh[33];\n"
                   "  const i64 r = blockIdx.x;\n"
                   "%s%s"
                   "}\n",
                   pre, body);
  char *full = t ? cu_tmpl(c, t, name, argv, 1) : NULL;
  char *p = cu_tmpl(c, params, name, argv, 1);
  int k = cu_kernel(c, name, doc, p, full, 1, 0);
  cu_launch(c, k, rows, 1, 1, row_threads(C), args);
  free(t);
  free(full);
  free(p);
  return k < 0 ? -1 : 0;
}

/* dw[c] = sum over rows of dy[r,c] * xhat[r,c] (three launches) */
static int norm_bwd_w(Cu *c, int id, int centered) {
  const IrNode *n = &c->g->nodes[id];
  const char *ty = c->f64 ? "f64" : "f32", *kind = centered ? "layer_norm" : "rms_norm";
  const int64_t C = cu_lastd(c, n->in[1]), rows = cu_numel(c, n->in[1]) / C;
  const int64_t P = rows < CU_CHUNKS ? (rows > 0 ? rows : 1) : CU_CHUNKS, cs = (rows + P - 1) / P;
  char name[96], args[256], cstr[32], pstr[32], csstr[32], d1[64];
  snprintf(cstr, sizeof cstr, "%lld", S(C));
  snprintf(pstr, sizeof pstr, "%lld", S(P));
  snprintf(csstr, sizeof csstr, "%lld", S(cs));
  const int64_t st = cu_scratch(c, (2 * rows + P * C) * 8), part = st + 2 * rows * 8;
  /* 1: statistics per row */
  snprintf(name, sizeof name, "%s_stats_c%lld_%s", kind, S(C), ty);
  char *pre = cu_str(c, "  const $T *xr = x + r * $0;\n%s", stats_text(centered));
  snprintf(args, sizeof args, "D(%lld), D(%lld), %s", S(st), S(cu_off(c, n->in[1])),
           cu_dbl(n->fa[0], d1, sizeof d1));
  int rc =
      row_kernel(c, name, "row mean and rstd (double) for a weight gradient",
                 "double *st, const $T *x, double eps", pre,
                 "  if (threadIdx.x == 0) {\n    st[2 * r] = m;\n    st[2 * r + 1] = rs;\n  }\n", C,
                 rows, args);
  free(pre);
  if (rc) return -1;
  /* 2: partial sums over row chunks: 32 columns x 8 row lanes a block */
  const char *argv[] = {cstr, pstr, csstr};
  snprintf(name, sizeof name, "norm_dw_part_c%lld_p%lld_%s", S(C), S(P), ty);
  int k = cu_kernel_tmpl(
      c, name, "partial weight-gradient sums of one chunk of rows",
      "double *part, const $T *dy, const $T *x, const double *st, i64 rows",
      "{\n"
      "  __shared__ double acc[8][33];\n"
      "  const int cl = threadIdx.x & 31, rl = threadIdx.x >> 5;\n"
      "  const i64 col = (i64)blockIdx.x * 32 + cl, p = blockIdx.y;\n"
      "  const i64 r0 = p * $2, r1 = FTC_MIN(r0 + $2, rows);\n"
      "  double a = 0;\n"
      "  if (col < $0)\n"
      "    for (i64 r = r0 + rl; r < r1; r += 8)\n"
      "      a += (double)dy[r * $0 + col] *\n"
      "           (((double)x[r * $0 + col] - st[2 * r]) * st[2 * r + 1]);\n"
      "  acc[rl][cl] = a;\n"
      "  __syncthreads();\n"
      "  if (rl == 0 && col < $0) {\n"
      "    double s = 0;\n"
      "    for (int k = 0; k < 8; k++) s += acc[k][cl]; /* in order */\n"
      "    part[p * $0 + col] = s;\n"
      "  }\n"
      "}\n",
      argv, 3, 1, 0);
  snprintf(args, sizeof args, "D(%lld), D(%lld), D(%lld), D(%lld), %lld", S(part),
           S(cu_off(c, n->in[0])), S(cu_off(c, n->in[1])), S(st), S(rows));
  cu_launch(c, k, (C + 31) / 32, P, 1, 256, args);
  /* 3: the chunks in order */
  snprintf(name, sizeof name, "sum_parts_c%lld_p%lld_%s", S(C), S(P), ty);
  k = cu_kernel_tmpl(c, name, "y[c] = sum over p of part[p, c], p in order",
                     "$T *y, const double *part",
                     "{\n"
                     "  for (i64 col = FTC_GID; col < $0; col += FTC_GSTRIDE) {\n"
                     "    double s = 0;\n"
                     "    for (int p = 0; p < $1; p++) s += part[p * $0 + col];\n"
                     "    y[col] = ($T)s;\n"
                     "  }\n"
                     "}\n",
                     argv, 3, 0, 0);
  snprintf(args, sizeof args, "D(%lld), D(%lld)", S(cu_off(c, id)), S(part));
  cu_launch(c, k, (C + 255) / 256, 1, 1, 256, args);
  return c->err ? -1 : 0;
}

int cu_emit_norm(Cu *c, int id) {
  const IrNode *n = &c->g->nodes[id];
  const int *in = n->in;
  const char *ty = c->f64 ? "f64" : "f32";
  char name[96], args[256], d1[64];
  const int64_t C = cu_lastd(c, id), rows = cu_numel(c, id) / (C ? C : 1);
  char *pre = NULL;
  int rc;
  switch (n->op) {
  case IR_LAYER_NORM:
  case IR_RMS_NORM: {
    const int ln = n->op == IR_LAYER_NORM;
    snprintf(name, sizeof name, "%s_c%lld_%s", ir_ops[n->op].name, S(C), ty);
    pre = cu_str(c, "  const $T *xr = x + r * $0;\n  $T *yr = y + r * $0;\n%s", stats_text(ln));
    if (ln)
      snprintf(args, sizeof args, "D(%lld), D(%lld), D(%lld), D(%lld), %s", S(cu_off(c, id)),
               S(cu_off(c, in[0])), S(cu_off(c, in[1])), S(cu_off(c, in[2])),
               cu_dbl(n->fa[0], d1, sizeof d1));
    else
      snprintf(args, sizeof args, "D(%lld), D(%lld), D(%lld), %s", S(cu_off(c, id)),
               S(cu_off(c, in[0])), S(cu_off(c, in[1])), cu_dbl(n->fa[0], d1, sizeof d1));
    rc = row_kernel(
        c, name,
        ln ? "y = (x - mean) * rstd * w + b over each row"
           : "y = x * rstd * w over each row (rstd = 1/sqrt(mean(x^2) + eps))",
        ln ? "$T *y, const $T *x, const $T *w, const $T *b, double eps"
           : "$T *y, const $T *x, const $T *w, double eps",
        pre,
        ln ? "  const $T tm = ($T)m, trs = ($T)rs;\n"
             "  for (int c = threadIdx.x; c < $0; c += blockDim.x)\n"
             "    yr[c] = (xr[c] - tm) * trs * w[c] + b[c];\n"
           : "  const $T trs = ($T)rs;\n"
             "  (void)m;\n"
             "  for (int c = threadIdx.x; c < $0; c += blockDim.x) yr[c] = xr[c] * trs * w[c];\n",
        C, rows, args);
    break;
  }
  case IR_LAYER_NORM_BWD_X:
  case IR_RMS_NORM_BWD_X: {
    const int ln = n->op == IR_LAYER_NORM_BWD_X;
    snprintf(name, sizeof name, "%s_c%lld_%s", ir_ops[n->op].name, S(C), ty);
    pre =
        cu_str(c, "  const $T *xr = x + r * $0, *dyr = dy + r * $0;\n  $T *dxr = dx + r * $0;\n%s",
               stats_text(ln));
    snprintf(args, sizeof args, "D(%lld), D(%lld), D(%lld), D(%lld), %s", S(cu_off(c, id)),
             S(cu_off(c, in[0])), S(cu_off(c, in[1])), S(cu_off(c, in[2])),
             cu_dbl(n->fa[0], d1, sizeof d1));
    rc = row_kernel(c, name,
                    ln ? "dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy w"
                       : "dx = rstd g - x rstd^3 mean(g x), g = dy w",
                    "$T *dx, const $T *dy, const $T *x, const $T *w, double eps", pre,
                    ln ? "  double sg = 0, sgx = 0;\n"
                         "  for (int c = threadIdx.x; c < $0; c += blockDim.x) {\n"
                         "    const double g = (double)dyr[c] * (double)w[c];\n"
                         "    sg += g;\n"
                         "    sgx += g * ((double)xr[c] - m);\n"
                         "  }\n"
                         "  sg = ftc_block_sum(sg, sh);\n"
                         "  sgx = ftc_block_sum(sgx, sh);\n"
                         "  const $T tm = ($T)m, trs = ($T)rs, a = ($T)(sg / $0.0), bb = ($T)(sgx "
                         "* rs / $0.0);\n"
                         "  for (int c = threadIdx.x; c < $0; c += blockDim.x) {\n"
                         "    const $T xh = (xr[c] - tm) * trs;\n"
                         "    dxr[c] = trs * (dyr[c] * w[c] - a - xh * bb);\n"
                         "  }\n"
                       : "  double sgx = 0;\n"
                         "  (void)m;\n"
                         "  for (int c = threadIdx.x; c < $0; c += blockDim.x)\n"
                         "    sgx += (double)dyr[c] * (double)w[c] * (double)xr[c];\n"
                         "  sgx = ftc_block_sum(sgx, sh);\n"
                         "  const $T trs = ($T)rs, k = ($T)(rs * rs * rs * sgx / $0.0);\n"
                         "  for (int c = threadIdx.x; c < $0; c += blockDim.x) dxr[c] = trs * "
                         "dyr[c] * w[c] - xr[c] * k;\n",
                    C, rows, args);
    break;
  }
  case IR_LAYER_NORM_BWD_W:
  case IR_RMS_NORM_BWD_W:
    return norm_bwd_w(c, id, n->op == IR_LAYER_NORM_BWD_W);
  case IR_SOFTMAX:
    snprintf(name, sizeof name, "softmax_c%lld_%s", S(C), ty);
    snprintf(args, sizeof args, "D(%lld), D(%lld)", S(cu_off(c, id)), S(cu_off(c, in[0])));
    rc = row_kernel(
        c, name, "y = exp(x - max) / sum over each row (in place ok)", "$T *y, const $T *x",
        "  const $T *xr = x + r * $0;\n  $T *yr = y + r * $0;\n",
        "  double mx = __longlong_as_double(0xfff0000000000000LL); /* -inf */\n"
        "  for (int c = threadIdx.x; c < $0; c += blockDim.x) mx = fmax(mx, (double)xr[c]);\n"
        "  const $T tm = ($T)ftc_block_max(mx, sh);\n"
        "  double s = 0;\n"
        "  for (int c = threadIdx.x; c < $0; c += blockDim.x) {\n"
        "    const $T e = $EXP(xr[c] - tm);\n"
        "    yr[c] = e;\n"
        "    s += (double)e;\n"
        "  }\n"
        "  const $T f = ($T)(1.0 / ftc_block_sum(s, sh));\n"
        "  for (int c = threadIdx.x; c < $0; c += blockDim.x) yr[c] *= f;\n",
        C, rows, args);
    break;
  case IR_SOFTMAX_BWD:
    snprintf(name, sizeof name, "softmax_bwd_c%lld_%s", S(C), ty);
    snprintf(args, sizeof args, "D(%lld), D(%lld), D(%lld)", S(cu_off(c, id)), S(cu_off(c, in[0])),
             S(cu_off(c, in[1])));
    rc = row_kernel(
        c, name, "dx = y (dy - sum(dy y)) over each row (dx may be dy)",
        "$T *dx, const $T *dy, const $T *y",
        "  const $T *dyr = dy + r * $0, *yr = y + r * $0;\n  $T *dxr = dx + r * $0;\n",
        "  double dot = 0;\n"
        "  for (int c = threadIdx.x; c < $0; c += blockDim.x) dot += (double)dyr[c] * "
        "(double)yr[c];\n"
        "  const $T td = ($T)ftc_block_sum(dot, sh);\n"
        "  for (int c = threadIdx.x; c < $0; c += blockDim.x) dxr[c] = yr[c] * (dyr[c] - td);\n",
        C, rows, args);
    break;
  default:
    fprintf(stderr, "ftc: internal: no CUDA row emitter for %s\n", ir_ops[n->op].name);
    return -1;
  }
  free(pre);
  return rc;
}
