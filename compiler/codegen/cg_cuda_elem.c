/* compiler/codegen/cg_cuda_elem.c -- CUDA kernels for the elementwise ops
 * (fill, add/sub/mul/div with suffix broadcast, scale, gelu, silu and their
 * backward, the causal mask), rotary embedding and the embedding gather.
 *
 * One idea: all of them are one grid-stride loop around an expression, so
 * each is a map template with its expression and its shape constants
 * baked in (a broadcast's width, the mask's Tq and Tk) -- the modulo and
 * divisions by constants become multiplies. The expressions follow the CPU
 * kernels' formulas (runtime/kernels/elementwise_tmpl.h) term by term, so
 * the two backends differ only by rounding.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg_cuda.h"

#define S(x) ((long long)(x))

int cu_emit_elem(Cu *c, int id) {
  const IrNode *n = &c->g->nodes[id];
  const int *in = n->in;
  const char *ty = c->f64 ? "f64" : "f32";
  const int64_t N = cu_numel(c, id);
  char name[96], args[256], d1[64];
  char *expr = NULL;
  int rc = 0;
  switch (n->op) {
  case IR_FILL:
    snprintf(name, sizeof name, "fill_%s", ty);
    snprintf(args, sizeof args, "D(%lld), %lld, %s", S(cu_off(c, id)), S(N),
             cu_dbl(n->fa[0], d1, sizeof d1));
    return cu_map(c, name, "y = v", "$T *y, i64 n, double v", "    y[i] = ($T)v;", N, args);
  case IR_ADD:
  case IR_SUB:
  case IR_MUL:
  case IR_DIV: {
    const char *op = n->op == IR_ADD ? "+" : n->op == IR_SUB ? "-" : n->op == IR_MUL ? "*" : "/";
    const char *nm = ir_ops[n->op].name;
    const int64_t nb = cu_numel(c, in[1]);
    char doc[96];
    if (nb == N) {
      snprintf(name, sizeof name, "%s_%s", nm, ty);
      snprintf(doc, sizeof doc, "y = a %s b (in place ok: y may be a)", op);
      expr = cu_str(c, "    y[i] = a[i] %s b[i];", op);
    } else if (nb == 1) {
      snprintf(name, sizeof name, "%s_s_%s", nm, ty);
      snprintf(doc, sizeof doc, "y = a %s b[0]", op);
      expr = cu_str(c, "    y[i] = a[i] %s b[0];", op);
    } else {
      snprintf(name, sizeof name, "%s_b%lld_%s", nm, S(nb), ty);
      snprintf(doc, sizeof doc, "y = a %s b broadcast over rows of %lld", op, S(nb));
      expr = cu_str(c, "    y[i] = a[i] %s b[i %% %lld];", op, S(nb));
    }
    snprintf(args, sizeof args, "D(%lld), D(%lld), D(%lld), %lld", S(cu_off(c, id)),
             S(cu_off(c, in[0])), S(cu_off(c, in[1])), S(N));
    rc = cu_map(c, name, doc, "$T *y, const $T *a, const $T *b, i64 n", expr, N, args);
    break;
  }
  case IR_ACC_GRAD: /* passes/accumulate.c: a device step runs one micro-batch per update
                      (runtime/accum.c refuses more), so the gradient is written: a copy */
    cu_copy(c, cu_off(c, id), cu_off(c, in[0]), N * cu_esz(c));
    return 0;
  case IR_SCALE:
    if (n->fa[0] == 1.0) {
      cu_copy(c, cu_off(c, id), cu_off(c, in[0]), N * cu_esz(c));
      return 0;
    }
    snprintf(name, sizeof name, "scale_%s", ty);
    snprintf(args, sizeof args, "D(%lld), D(%lld), %lld, %s", S(cu_off(c, id)), S(cu_off(c, in[0])),
             S(N), cu_dbl(n->fa[0], d1, sizeof d1));
    return cu_map(c, name, "y = x * s", "$T *y, const $T *x, i64 n, double s",
                  "    y[i] = x[i] * ($T)s;", N, args);
  case IR_GELU:
  case IR_SILU:
  case IR_GELU_BWD:
  case IR_SILU_BWD: {
    const int bwd = n->op == IR_GELU_BWD || n->op == IR_SILU_BWD;
    const int gelu = n->op == IR_GELU || n->op == IR_GELU_BWD;
    snprintf(name, sizeof name, "%s_%s", ir_ops[n->op].name, ty);
    const char *e =
        n->op == IR_GELU
            ? "    const $T k0 = ($T)0.7978845608028654, k1 = ($T)0.044715, v = x[i];\n"
              "    const $T u = k0 * (v + k1 * v * v * v);\n"
              "    y[i] = v / (($T)1 + $EXP(($T)-2 * u));"
        : n->op == IR_SILU ? "    const $T v = x[i];\n    y[i] = v / (($T)1 + $EXP(-v));"
        : n->op == IR_GELU_BWD
            ? "    const $T k0 = ($T)0.7978845608028654, k1 = ($T)0.044715, v = x[i];\n"
              "    const $T s = ($T)1 / (($T)1 + $EXP(($T)-2 * k0 * (v + k1 * v * v * v)));\n"
              "    const $T du = k0 * (($T)1 + ($T)3 * k1 * v * v);\n"
              "    y[i] = dy[i] * (s + ($T)2 * v * s * (($T)1 - s) * du);"
            : "    const $T v = x[i];\n"
              "    const $T s = ($T)1 / (($T)1 + $EXP(-v));\n"
              "    y[i] = dy[i] * (s * (($T)1 + v * (($T)1 - s)));";
    const char *doc = n->op == IR_GELU
                          ? "gelu, tanh form: x * sigmoid(2u), u = sqrt(2/pi)(x + 0.044715 x^3)"
                      : n->op == IR_SILU ? "silu: x * sigmoid(x)"
                      : gelu             ? "d gelu: dy * (s + 2 x s (1 - s) du/dx), s = sigmoid(2u)"
                                         : "d silu: dy * s (1 + x (1 - s)), s = sigmoid(x)";
    if (bwd)
      snprintf(args, sizeof args, "D(%lld), D(%lld), D(%lld), %lld", S(cu_off(c, id)),
               S(cu_off(c, in[0])), S(cu_off(c, in[1])), S(N));
    else
      snprintf(args, sizeof args, "D(%lld), D(%lld), %lld", S(cu_off(c, id)), S(cu_off(c, in[0])),
               S(N));
    return cu_map(c, name, doc,
                  bwd ? "$T *y, const $T *dy, const $T *x, i64 n" : "$T *y, const $T *x, i64 n", e,
                  N, args);
  }
  case IR_CAUSAL_MASK: {
    const IrShape *y = &n->shape;
    const int64_t Tq = y->d[y->rank - 2], Tk = y->d[y->rank - 1];
    snprintf(name, sizeof name, "causal_mask_q%lld_k%lld_%s", S(Tq), S(Tk), ty);
    expr = cu_str(c,
                  "    const i64 r = i / %lld, j = i %% %lld;\n"
                  "    const i64 keep = FTC_MIN(FTC_MAX(%lld + r %% %lld + 1, 0), %lld);\n"
                  "    y[i] = j < keep ? x[i] : ($T)fill;",
                  S(Tk), S(Tk), S(Tk - Tq), S(Tq), S(Tk));
    snprintf(args, sizeof args, "D(%lld), D(%lld), %lld, %s", S(cu_off(c, id)), S(cu_off(c, in[0])),
             S(N), cu_dbl(n->fa[0], d1, sizeof d1));
    rc = cu_map(c, name, "keys after the query (key j > i + Tk - Tq) get `fill`",
                "$T *y, const $T *x, i64 n, double fill", expr, N, args);
    break;
  }
  case IR_ROPE: {
    const IrShape *y = &n->shape;
    const int64_t B = y->d[0], T = y->d[1], H = y->d[2], Dh = y->d[3], half = Dh / 2;
    const int64_t work = B * T * H * (half + (Dh & 1));
    snprintf(name, sizeof name, "rope_t%lld_h%lld_d%lld_%s", S(T), S(H), S(Dh), ty);
    expr =
        cu_str(c,
               "    /* (b t, h, pair p): angle in double as the CPU computes it */\n"
               "    const i64 p = i %% %lld, bth = i / %lld, t = (bth / %lld) %% %lld;\n"
               "    const $T *xr = x + bth * %lld;\n"
               "    $T *yr = y + bth * %lld;\n"
               "    if (p == %lld) { yr[%lld] = xr[%lld]; continue; } /* odd D: last kept */\n"
               "    const double ang = sign * (double)t * exp(-2.0 * (double)p / %lld.0 * lt);\n"
               "    const $T cs = ($T)cos(ang), sn = ($T)sin(ang), a = xr[p], b = xr[p + %lld];\n"
               "    yr[p] = a * cs - b * sn;\n"
               "    yr[p + %lld] = b * cs + a * sn;",
               S(half + (Dh & 1)), S(half + (Dh & 1)), S(H), S(T), S(Dh), S(Dh), S(half), S(Dh - 1),
               S(Dh - 1), S(Dh), S(half), S(half));
    snprintf(args, sizeof args, "D(%lld), D(%lld), %lld, %s, %d.0", S(cu_off(c, id)),
             S(cu_off(c, in[0])), S(work), cu_dbl(log(n->fa[0]), d1, sizeof d1),
             n->ia[0] < 0 ? -1 : 1);
    rc = cu_map(c, name, "rotate-half RoPE over [B,T,H,D] pairs (p, p + D/2); sign -1 inverts",
                "$T *y, const $T *x, i64 n, double lt, double sign", expr, work, args);
    break;
  }
  case IR_EMBEDDING: {
    const int64_t C = cu_lastd(c, in[0]);
    snprintf(name, sizeof name, "embedding_c%lld_%s", S(C), ty);
    expr = cu_str(c, "    y[i] = table[(i64)idx[i / %lld] * %lld + i %% %lld];", S(C), S(C), S(C));
    snprintf(args, sizeof args, "D(%lld), D(%lld), D(%lld), %lld", S(cu_off(c, id)),
             S(cu_off(c, in[0])), S(cu_off(c, in[1])), S(N));
    rc = cu_map(
        c, name, "y[r, :] = table[idx[r], :]",
        "$T *__restrict__ y, const $T *__restrict__ table, const int *__restrict__ idx, i64 n",
        expr, N, args);
    break;
  }
  default:
    fprintf(stderr, "ftc: internal: no CUDA elementwise emitter for %s\n", ir_ops[n->op].name);
    return -1;
  }
  free(expr);
  return rc;
}
