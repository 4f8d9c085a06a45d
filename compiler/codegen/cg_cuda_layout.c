/* compiler/codegen/cg_cuda_layout.c -- CUDA kernels that move data or
 * reduce over an axis: permute, slice (+ backward), concat, expand (+
 * backward), sum / mean / sum_to, broadcast, and the embedding's backward.
 *
 * One idea: the CPU kernels (runtime/kernels/layout_tmpl.h) see every axis
 * op as [outer, n, inner]; here each is a map over its OUTPUT with that
 * decomposition baked in as constants, so every output element is written
 * by exactly one thread, and a sum is taken in one fixed order. Reductions
 * with few outputs and a long axis (a bias gradient over B*T rows) split
 * the axis into a fixed number of chunks, partial sums to scratch, then the
 * chunks in order. The embedding's backward never adds with atomics: the
 * vocabulary rows are dealt to groups, one thread owns a (row group,
 * column) and adds the rows of dy in index order -- the CPU's order, so
 * the sums are the CPU's bit for bit.
 */
#include <stdlib.h>
#include <string.h>

#include "cg_cuda.h"

#define S(x) ((long long)(x))
#define CU_CHUNKS 64

static int64_t prod(const IrShape *s, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; i++) p *= s->d[i];
  return p;
}

static const char *ty(const Cu *c) { return c->f64 ? "f64" : "f32"; }

static int permute(Cu *c, int id) {
  const IrNode *n = &c->g->nodes[id];
  const IrShape *x = &c->g->nodes[n->in[0]].shape;
  int64_t xs[IR_MAXRANK], total = ir_numel(x);
  int64_t st = 1;
  for (int k = x->rank - 1; k >= 0; k--) {
    xs[k] = st;
    st *= x->d[k];
  }
  char name[160] = "", doc[160], args[160];
  size_t len = (size_t)snprintf(name, sizeof name, "permute");
  for (int i = 0; i < x->rank; i++)
    len += (size_t)snprintf(name + len, sizeof name - len, "_%lld", S(x->d[i]));
  len += (size_t)snprintf(name + len, sizeof name - len, "_p");
  for (int i = 0; i < x->rank; i++)
    len += (size_t)snprintf(name + len, sizeof name - len, "%d", n->perm[i]);
  snprintf(name + len, sizeof name - len, "_%s", ty(c));
  /* output coordinates from the last dim, each times its x stride */
  char *expr = cu_str(c, "    i64 rem = i, src = 0;\n");
  for (int i = x->rank - 1; i >= 0 && expr; i--) {
    const int64_t d = x->d[n->perm[i]], s = xs[n->perm[i]];
    char *e =
        cu_str(c, "%s    src += (rem %% %lld) * %lld;\n    rem /= %lld;\n", expr, S(d), S(s), S(d));
    free(expr);
    expr = e;
  }
  char *e = expr ? cu_str(c, "%s    y[i] = x[src];", expr) : NULL;
  free(expr);
  snprintf(doc, sizeof doc, "y = permute(x): y's dim i is x's dim perm[i]");
  snprintf(args, sizeof args, "D(%lld), D(%lld), %lld", S(cu_off(c, id)), S(cu_off(c, n->in[0])),
           S(total));
  int rc =
      cu_map(c, name, doc, "$T *__restrict__ y, const $T *__restrict__ x, i64 n", e, total, args);
  free(e);
  return rc;
}

/* y [outer, inner] = scale * sum over n of x [outer, n, inner] */
static int reduce(Cu *c, int64_t y_off, int64_t x_off, int64_t outer, int64_t nn, int64_t inner,
                  double scale) {
  const int64_t outs = outer * inner;
  char name[128], args[192], d1[64];
  cu_dbl(scale, d1, sizeof d1);
  if (outs * CU_CHUNKS <= (1 << 20) && nn >= 4 * CU_CHUNKS) {
    const int64_t P = CU_CHUNKS, cs = (nn + P - 1) / P;
    const int64_t part = cu_scratch(c, P * outs * 8);
    snprintf(name, sizeof name, "reduce_part_o%lld_n%lld_i%lld_%s", S(outer), S(nn), S(inner),
             ty(c));
    char *e = cu_str(
        c,
        "    /* output j of chunk p: its rows in order */\n"
        "    const i64 j = i %% %lld, p = i / %lld, o = j / %lld, in = j %% %lld;\n"
        "    const i64 r1 = FTC_MIN((p + 1) * %lld, (i64)%lld);\n"
        "    double s = 0;\n"
        "    for (i64 r = p * %lld; r < r1; r++) s += (double)x[(o * %lld + r) * %lld + in];\n"
        "    part[i] = s;",
        S(outs), S(outs), S(inner), S(inner), S(cs), S(nn), S(cs), S(nn), S(inner));
    snprintf(args, sizeof args, "D(%lld), D(%lld), %lld", S(part), S(x_off), S(P * outs));
    int rc = cu_map(c, name, "partial sums over one chunk of the reduced axis",
                    "double *part, const $T *x, i64 n", e, P * outs, args);
    free(e);
    if (rc) return -1;
    snprintf(name, sizeof name, "reduce_sum_o%lld_p%lld_%s", S(outs), S(P), ty(c));
    e = cu_str(c,
               "    double s = 0;\n"
               "    for (int p = 0; p < %lld; p++) s += part[p * %lld + i];\n"
               "    y[i] = ($T)(s * scale);",
               S(P), S(outs));
    snprintf(args, sizeof args, "D(%lld), D(%lld), %lld, %s", S(y_off), S(part), S(outs), d1);
    rc = cu_map(c, name, "y = scale * the chunks' partial sums, in chunk order",
                "$T *y, const double *part, i64 n, double scale", e, outs, args);
    free(e);
    return rc;
  }
  snprintf(name, sizeof name, "reduce_o%lld_n%lld_i%lld_%s", S(outer), S(nn), S(inner), ty(c));
  char *e =
      cu_str(c,
             "    const i64 o = i / %lld, in = i %% %lld;\n"
             "    double s = 0;\n"
             "    for (i64 r = 0; r < %lld; r++) s += (double)x[(o * %lld + r) * %lld + in];\n"
             "    y[i] = ($T)(s * scale);",
             S(inner), S(inner), S(nn), S(nn), S(inner));
  snprintf(args, sizeof args, "D(%lld), D(%lld), %lld, %s", S(y_off), S(x_off), S(outs), d1);
  int rc = cu_map(c, name, "y[o, in] = scale * sum over r of x[o, r, in], r in order",
                  "$T *y, const $T *x, i64 n, double scale", e, outs, args);
  free(e);
  return rc;
}

static int embedding_bwd(Cu *c, int id) {
  const IrNode *n = &c->g->nodes[id];
  const int acc = n->nin == 3;
  const int64_t C = cu_lastd(c, id), V = n->shape.d[0], ni = cu_numel(c, n->in[1]);
  const int64_t G = V < 512 ? V : 512;
  if (acc) cu_copy(c, cu_off(c, id), cu_off(c, n->in[2]), cu_numel(c, id) * cu_esz(c));
  char name[128], args[192], v[4][32];
  snprintf(name, sizeof name, "embedding_bwd%s_v%lld_c%lld_n%lld_%s", acc ? "_acc" : "", S(V), S(C),
           S(ni), ty(c));
  snprintf(v[0], 32, "%lld", S(C));
  snprintf(v[1], 32, "%lld", S(V));
  snprintf(v[2], 32, "%lld", S(G));
  snprintf(v[3], 32, "%lld", S(ni));
  const char *argv[] = {v[0], v[1], v[2], v[3], acc ? "0" : "1"};
  int k =
      cu_kernel_tmpl(c, name,
                     acc ? "dtable[idx[i], :] += dy[i, :], i in order, no atomics"
                         : "dtable = 0; dtable[idx[i], :] += dy[i, :], i in order, no atomics",
                     "$T *__restrict__ dt, const $T *__restrict__ dy, const int *__restrict__ idx",
                     "{\n"
                     "  /* this thread owns column c of the vocabulary rows v = g (mod $2) */\n"
                     "  const i64 g = blockIdx.x, c = (i64)blockIdx.y * blockDim.x + threadIdx.x;\n"
                     "  if (c >= $0) return;\n"
                     "  if ($4)\n"
                     "    for (i64 v = g; v < $1; v += $2) dt[v * $0 + c] = ($T)0;\n"
                     "  for (i64 i = 0; i < $3; i++) {\n"
                     "    const i64 v = idx[i];\n"
                     "    if (v % $2 == g) dt[v * $0 + c] += dy[i * $0 + c];\n"
                     "  }\n"
                     "}\n",
                     argv, 5, 0, 0);
  snprintf(args, sizeof args, "D(%lld), D(%lld), D(%lld)", S(cu_off(c, id)), S(cu_off(c, n->in[0])),
           S(cu_off(c, n->in[1])));
  cu_launch(c, k, G, (C + CU_BLOCK - 1) / CU_BLOCK, 1, CU_BLOCK, args);
  return k < 0 ? -1 : 0;
}

int cu_emit_layout(Cu *c, int id) {
  const IrNode *n = &c->g->nodes[id];
  const int *in = n->in;
  char name[128], args[192];
  char *e = NULL;
  int rc = 0;
  const int64_t yo = cu_off(c, id), xo = cu_off(c, in[0]), N = cu_numel(c, id);
  switch (n->op) {
  case IR_PERMUTE:
    return permute(c, id);
  case IR_SLICE:
  case IR_SLICE_BWD: {
    const IrShape *full = n->op == IR_SLICE ? &c->g->nodes[in[0]].shape : &n->shape;
    const int ax = (int)n->ia[0];
    const int64_t outer = prod(full, 0, ax), nn = full->d[ax],
                  inner = prod(full, ax + 1, full->rank);
    const int64_t start = n->ia[1], len = n->ia[2];
    const int acc = n->op == IR_SLICE_BWD && n->nin == 2;
    if (n->op == IR_SLICE) {
      snprintf(name, sizeof name, "slice_n%lld_i%lld_s%lld_l%lld_%s", S(nn), S(inner), S(start),
               S(len), ty(c));
      e = cu_str(c, "    y[i] = x[(i / %lld * %lld + %lld) * %lld + i %% %lld];", S(len * inner),
                 S(nn), S(start), S(inner), S(len * inner));
      snprintf(args, sizeof args, "D(%lld), D(%lld), %lld", S(yo), S(xo), S(N));
      rc = cu_map(c, name, "y = x[:, start:start+len, :]",
                  "$T *__restrict__ y, const $T *__restrict__ x, i64 n", e, N, args);
    } else if (!acc) {
      snprintf(name, sizeof name, "slice_bwd_n%lld_i%lld_s%lld_l%lld_%s", S(nn), S(inner), S(start),
               S(len), ty(c));
      e = cu_str(
          c,
          "    const i64 o = i / %lld, p = i / %lld %% %lld;\n"
          "    y[i] = p >= %lld && p < %lld ? x[(o * %lld + p - %lld) * %lld + i %% %lld] : ($T)0;",
          S(nn * inner), S(inner), S(nn), S(start), S(start + len), S(len), S(start), S(inner),
          S(inner));
      snprintf(args, sizeof args, "D(%lld), D(%lld), %lld", S(yo), S(xo), S(N));
      rc = cu_map(c, name, "dx = 0 outside [start, start+len), dy inside",
                  "$T *__restrict__ y, const $T *__restrict__ x, i64 n", e, N, args);
    } else {
      cu_copy(c, yo, cu_off(c, in[1]), N * cu_esz(c));
      const int64_t m = outer * len * inner;
      snprintf(name, sizeof name, "slice_bwd_acc_n%lld_i%lld_s%lld_l%lld_%s", S(nn), S(inner),
               S(start), S(len), ty(c));
      e = cu_str(c, "    y[(i / %lld * %lld + %lld) * %lld + i %% %lld] += x[i];", S(len * inner),
                 S(nn), S(start), S(inner), S(len * inner));
      snprintf(args, sizeof args, "D(%lld), D(%lld), %lld", S(yo), S(xo), S(m));
      rc = cu_map(c, name, "dx[:, start:start+len, :] += dy",
                  "$T *__restrict__ y, const $T *__restrict__ x, i64 n", e, m, args);
    }
    break;
  }
  case IR_CONCAT: {
    const IrShape *a = &c->g->nodes[in[0]].shape, *b = &c->g->nodes[in[1]].shape;
    const int ax = (int)n->ia[0];
    const int64_t inner = prod(a, ax + 1, a->rank), ra = a->d[ax] * inner, rb = b->d[ax] * inner;
    snprintf(name, sizeof name, "concat_a%lld_b%lld_%s", S(ra), S(rb), ty(c));
    e = cu_str(c,
               "    const i64 o = i / %lld, r = i %% %lld;\n"
               "    y[i] = r < %lld ? a[o * %lld + r] : b[o * %lld + r - %lld];",
               S(ra + rb), S(ra + rb), S(ra), S(ra), S(rb), S(ra));
    snprintf(args, sizeof args, "D(%lld), D(%lld), D(%lld), %lld", S(yo), S(xo),
             S(cu_off(c, in[1])), S(N));
    rc = cu_map(c, name, "y = cat(a, b) along the axis",
                "$T *__restrict__ y, const $T *a, const $T *b, i64 n", e, N, args);
    break;
  }
  case IR_EXPAND:
  case IR_EXPAND_BWD: {
    const IrShape *x = n->op == IR_EXPAND ? &c->g->nodes[in[0]].shape : &n->shape;
    const int ax = (int)n->ia[0];
    const int64_t nn = x->d[ax], reps = n->ia[1], inner = prod(x, ax + 1, x->rank);
    if (n->op == IR_EXPAND) {
      snprintf(name, sizeof name, "expand_n%lld_r%lld_i%lld_%s", S(nn), S(reps), S(inner), ty(c));
      e = cu_str(c,
                 "    const i64 q = i / %lld %% %lld, o = i / %lld;\n"
                 "    y[i] = x[(o * %lld + q / %lld) * %lld + i %% %lld];",
                 S(inner), S(nn * reps), S(inner * nn * reps), S(nn), S(reps), S(inner), S(inner));
      rc =
          cu_map(c, name, "y[o, k*reps + r, :] = x[o, k, :]",
                 "$T *__restrict__ y, const $T *__restrict__ x, i64 n", e, N,
                 (snprintf(args, sizeof args, "D(%lld), D(%lld), %lld", S(yo), S(xo), S(N)), args));
    } else {
      snprintf(name, sizeof name, "expand_bwd_n%lld_r%lld_i%lld_%s", S(nn), S(reps), S(inner),
               ty(c));
      e = cu_str(c,
                 "    const i64 it = i / %lld, in = i %% %lld;\n"
                 "    $T s = x[it * %lld + in];\n"
                 "    for (int r = 1; r < %lld; r++) s += x[(it * %lld + r) * %lld + in];\n"
                 "    y[i] = s;",
                 S(inner), S(inner), S(reps * inner), S(reps), S(reps), S(inner));
      snprintf(args, sizeof args, "D(%lld), D(%lld), %lld", S(yo), S(xo), S(N));
      rc = cu_map(c, name, "dx[o, k, :] = sum over r of dy[o, k*reps + r, :], r in order",
                  "$T *__restrict__ y, const $T *__restrict__ x, i64 n", e, N, args);
    }
    break;
  }
  case IR_SUM:
  case IR_MEAN: {
    const IrShape *full = &c->g->nodes[in[0]].shape;
    const int ax = (int)n->ia[0];
    int64_t outer = 1, cnt = ir_numel(full), inner = 1;
    if (ax >= 0) {
      outer = prod(full, 0, ax);
      cnt = full->d[ax];
      inner = prod(full, ax + 1, full->rank);
    }
    return reduce(c, yo, xo, outer, cnt, inner, n->op == IR_SUM ? 1.0 : 1.0 / (double)cnt);
  }
  case IR_SUM_TO: {
    const int64_t m = N, nx = cu_numel(c, in[0]);
    return reduce(c, yo, xo, 1, m ? nx / m : 0, m, 1.0);
  }
  case IR_BROADCAST: {
    const IrShape *full = &n->shape;
    const int ax = (int)n->ia[0];
    int64_t nn = ir_numel(full), inner = 1;
    if (ax >= 0) {
      nn = full->d[ax];
      inner = prod(full, ax + 1, full->rank);
    }
    char d1[64];
    snprintf(name, sizeof name, "broadcast_n%lld_i%lld_%s", S(nn), S(inner), ty(c));
    e = cu_str(c, "    y[i] = x[i / %lld * %lld + i %% %lld] * ($T)scale;", S(nn * inner), S(inner),
               S(inner));
    snprintf(args, sizeof args, "D(%lld), D(%lld), %lld, %s", S(yo), S(xo), S(N),
             cu_dbl(n->fa[0], d1, sizeof d1));
    rc = cu_map(c, name, "y[o, k, :] = scale * x[o, :]",
                "$T *__restrict__ y, const $T *__restrict__ x, i64 n, double scale", e, N, args);
    break;
  }
  case IR_EMBEDDING_BWD:
    return embedding_bwd(c, id);
  default:
    fprintf(stderr, "ftc: internal: no CUDA layout emitter for %s\n", ir_ops[n->op].name);
    return -1;
  }
  free(e);
  return rc;
}
