/* compiler/shape.c -- shape and dtype inference, one shape_<name> function
 * per op of ops.def, dispatched by ir_infer.
 *
 * The idea: a shape error is a user error, not an assert. Every rule checks
 * its inputs and, when they do not fit, reports at the node's span (the .ft
 * text that made it) with a message that names the op and every shape
 * involved, then returns -1; nothing is ever computed from a bad shape.
 * Ops whose result shape is an attribute (leaves, reshape, the backward ops
 * that restore an input's shape) find the shape already in the node and only
 * check it.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "../runtime/kernels.h" /* rt_attn_ws_layout: the fused attention's workspace */

typedef int (*ShapeFn)(IrGraph *g, Diag *d, IrNode *n);

#define SB 128 /* room for one printed shape */

static int shape_err(Diag *d, const IrNode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int shape_err(Diag *d, const IrNode *n, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (d)
    diag_at(d, DIAG_ERROR, n->span, "%s: %s", ir_ops[n->op].name, msg);
  else
    fprintf(stderr, "error: %s: %s\n", ir_ops[n->op].name, msg);
  return -1;
}

static const IrNode *IN(const IrGraph *g, const IrNode *n, int i) { return &g->nodes[n->in[i]]; }
static const IrShape *S(const IrGraph *g, const IrNode *n, int i) { return &g->nodes[n->in[i]].shape; }

static int same_shape(const IrShape *a, const IrShape *b) {
  if (a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->d[i] != b->d[i]) return 0;
  return 1;
}

/* b equals a or is a suffix of a (the broadcast of ADD/SUB/MUL/DIV). */
static int is_suffix(const IrShape *b, const IrShape *a) {
  if (b->rank > a->rank) return 0;
  for (int i = 1; i <= b->rank; i++)
    if (b->d[b->rank - i] != a->d[a->rank - i]) return 0;
  return 1;
}

static int is_float(IrDtype t) { return t != IR_I32; }

static int check_shape_attr(Diag *d, IrNode *n) {
  char sb[SB];
  if (n->shape.rank < 1 || n->shape.rank > IR_MAXRANK)
    return shape_err(d, n, "rank %d is out of range 1..%d", n->shape.rank, IR_MAXRANK);
  for (int i = 0; i < n->shape.rank; i++)
    if (n->shape.d[i] <= 0)
      return shape_err(d, n, "dimension %d of %s is not positive", i,
                       ir_shape_str(&n->shape, sb, sizeof sb));
  return 0;
}

static int same_inputs(IrGraph *g, Diag *d, IrNode *n, int a, int b) {
  char s1[SB], s2[SB];
  if (!same_shape(S(g, n, a), S(g, n, b)))
    return shape_err(d, n, "shapes differ: %s and %s", ir_shape_str(S(g, n, a), s1, SB),
                     ir_shape_str(S(g, n, b), s2, SB));
  if (IN(g, n, a)->dtype != IN(g, n, b)->dtype)
    return shape_err(d, n, "dtypes differ: %s and %s", ir_dtype_name(IN(g, n, a)->dtype),
                     ir_dtype_name(IN(g, n, b)->dtype));
  return 0;
}

/* ---- leaves ----------------------------------------------------------- */

static int shape_leaf(IrGraph *g, Diag *d, IrNode *n) {
  (void)g;
  return check_shape_attr(d, n);
}
#define shape_input shape_leaf
#define shape_param shape_leaf
#define shape_fill shape_leaf

/* ---- forward ops ------------------------------------------------------ */

static int shape_embedding(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB], s2[SB];
  const IrShape *t = S(g, n, 0), *ix = S(g, n, 1);
  if (t->rank != 2)
    return shape_err(d, n, "the table must be 2-D [rows, dim], got %s", ir_shape_str(t, s1, SB));
  if (IN(g, n, 1)->dtype != IR_I32)
    return shape_err(d, n, "indices must be i32, got %s", ir_dtype_name(IN(g, n, 1)->dtype));
  if (ix->rank + 1 > IR_MAXRANK)
    return shape_err(d, n, "indices %s have too many dims", ir_shape_str(ix, s2, SB));
  n->shape = *ix;
  n->shape.d[n->shape.rank++] = t->d[1];
  n->dtype = IN(g, n, 0)->dtype;
  return 0;
}

static int shape_matmul(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB], s2[SB];
  const IrShape *a = S(g, n, 0), *b = S(g, n, 1);
  int ta = n->ia[0] != 0, tb = n->ia[1] != 0;
  ir_shape_str(a, s1, SB);
  ir_shape_str(b, s2, SB);
  const char *ma = ta ? "^T" : "", *mb = tb ? "^T" : "";
  if (a->rank < 2 || b->rank < 2)
    return shape_err(d, n, "operands must have at least 2 dims: %s%s @ %s%s", s1, ma, s2, mb);
  int64_t M = a->d[a->rank - 2 + ta], K = a->d[a->rank - 1 - ta];
  int64_t K2 = b->d[b->rank - 2 + tb], N = b->d[b->rank - 1 - tb];
  if (K != K2)
    return shape_err(d, n, "inner dimensions differ: %s%s @ %s%s", s1, ma, s2, mb);
  /* b is either one shared matrix or has exactly a's batch dims. */
  if (b->rank > 2) {
    int ok = b->rank == a->rank;
    for (int i = 0; ok && i < a->rank - 2; i++) ok = a->d[i] == b->d[i];
    if (!ok) return shape_err(d, n, "batch dimensions differ: %s%s @ %s%s", s1, ma, s2, mb);
  }
  if (IN(g, n, 0)->dtype != IN(g, n, 1)->dtype || !is_float(IN(g, n, 0)->dtype))
    return shape_err(d, n, "operands must have the same float dtype, got %s and %s",
                     ir_dtype_name(IN(g, n, 0)->dtype), ir_dtype_name(IN(g, n, 1)->dtype));
  /* ia[2]: causal structure (ops.def); the triangle must be square */
  if (n->ia[2] < 0 || n->ia[2] > IR_TRI_A)
    return shape_err(d, n, "unknown causal structure %lld", (long long)n->ia[2]);
  if ((n->ia[2] == IR_TRI_OUT && M != N) || (n->ia[2] == IR_TRI_A && M != K))
    return shape_err(d, n, "causal structure needs a square %s: %s%s @ %s%s",
                     n->ia[2] == IR_TRI_OUT ? "result" : "first operand", s1, ma, s2, mb);
  n->shape = *a;
  n->shape.d[a->rank - 2] = M;
  n->shape.d[a->rank - 1] = N;
  n->dtype = IN(g, n, 0)->dtype;
  return 0;
}

static int shape_binary(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB], s2[SB];
  const IrShape *a = S(g, n, 0), *b = S(g, n, 1);
  if (!is_suffix(b, a))
    return shape_err(d, n, "shapes do not broadcast: %s and %s (the second must equal "
                     "the first or match its trailing dims)",
                     ir_shape_str(a, s1, SB), ir_shape_str(b, s2, SB));
  if (IN(g, n, 0)->dtype != IN(g, n, 1)->dtype)
    return shape_err(d, n, "dtypes differ: %s and %s", ir_dtype_name(IN(g, n, 0)->dtype),
                     ir_dtype_name(IN(g, n, 1)->dtype));
  n->shape = *a;
  n->dtype = IN(g, n, 0)->dtype;
  return 0;
}
#define shape_add shape_binary
#define shape_sub shape_binary
#define shape_mul shape_binary
#define shape_div shape_binary

static int shape_unary(IrGraph *g, Diag *d, IrNode *n) {
  if (!is_float(IN(g, n, 0)->dtype))
    return shape_err(d, n, "needs a float tensor, got %s", ir_dtype_name(IN(g, n, 0)->dtype));
  n->shape = *S(g, n, 0);
  n->dtype = IN(g, n, 0)->dtype;
  return 0;
}
#define shape_scale shape_unary
#define shape_gelu shape_unary
#define shape_silu shape_unary
#define shape_softmax shape_unary
#define shape_acc_grad shape_unary

static int shape_causal_mask(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB];
  const IrShape *x = S(g, n, 0);
  if (x->rank < 2 || x->d[x->rank - 2] > x->d[x->rank - 1])
    return shape_err(d, n, "needs [..., Tq, Tk] with Tq <= Tk, got %s", ir_shape_str(x, s1, SB));
  return shape_unary(g, d, n);
}

/* (x[..., C], w[C], b[C]) and (x, w) for rms_norm. */
static int shape_norm(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB], s2[SB];
  const IrShape *x = S(g, n, 0);
  int64_t C = x->d[x->rank - 1];
  for (int i = 1; i < n->nin; i++) {
    const IrShape *w = S(g, n, i);
    if (w->rank != 1 || w->d[0] != C)
      return shape_err(d, n, "%s %s must be [%lld] to match the last dim of %s",
                       i == 1 ? "weight" : "bias", ir_shape_str(w, s2, SB), (long long)C,
                       ir_shape_str(x, s1, SB));
    if (IN(g, n, i)->dtype != IN(g, n, 0)->dtype)
      return shape_err(d, n, "dtypes differ: %s and %s", ir_dtype_name(IN(g, n, 0)->dtype),
                       ir_dtype_name(IN(g, n, i)->dtype));
  }
  return shape_unary(g, d, n);
}
#define shape_layer_norm shape_norm
#define shape_rms_norm shape_norm

static int shape_rope(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB];
  const IrShape *x = S(g, n, 0);
  if (x->rank != 4 || x->d[3] % 2)
    return shape_err(d, n, "needs [B, T, heads, head_dim] with an even head_dim, got %s",
                     ir_shape_str(x, s1, SB));
  return shape_unary(g, d, n);
}

static int shape_cross_entropy(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB], s2[SB];
  const IrShape *l = S(g, n, 0), *t = S(g, n, 1);
  if (l->rank != 2 || t->rank != 1 || t->d[0] != l->d[0])
    return shape_err(d, n, "needs logits [N, V] and targets [N], got %s and %s",
                     ir_shape_str(l, s1, SB), ir_shape_str(t, s2, SB));
  if (IN(g, n, 1)->dtype != IR_I32)
    return shape_err(d, n, "targets must be i32, got %s", ir_dtype_name(IN(g, n, 1)->dtype));
  n->shape = (IrShape){1, {1}};
  n->dtype = IN(g, n, 0)->dtype;
  return 0;
}

static int shape_reshape(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB], s2[SB];
  const IrShape *x = S(g, n, 0);
  int64_t known = 1;
  int free_dim = -1;
  if (n->shape.rank < 1 || n->shape.rank > IR_MAXRANK)
    return shape_err(d, n, "rank %d is out of range 1..%d", n->shape.rank, IR_MAXRANK);
  for (int i = 0; i < n->shape.rank; i++) {
    if (n->shape.d[i] == -1 && free_dim < 0) free_dim = i;
    else if (n->shape.d[i] <= 0)
      return shape_err(d, n, "bad target dimension %lld (only one -1 is allowed)",
                       (long long)n->shape.d[i]);
    else known *= n->shape.d[i];
  }
  if (free_dim >= 0) {
    if (ir_numel(x) % known)
      return shape_err(d, n, "cannot reshape %s (%lld elements) to %s",
                       ir_shape_str(x, s1, SB), (long long)ir_numel(x),
                       ir_shape_str(&n->shape, s2, SB));
    n->shape.d[free_dim] = ir_numel(x) / known;
  }
  if (ir_numel(&n->shape) != ir_numel(x))
    return shape_err(d, n, "cannot reshape %s (%lld elements) to %s",
                     ir_shape_str(x, s1, SB), (long long)ir_numel(x),
                     ir_shape_str(&n->shape, s2, SB));
  n->dtype = IN(g, n, 0)->dtype;
  return 0;
}

static int shape_permute(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB];
  const IrShape *x = S(g, n, 0);
  int seen = 0;
  for (int i = 0; i < x->rank; i++) {
    int p = n->perm[i];
    if (p < 0 || p >= x->rank || (seen >> p) & 1)
      return shape_err(d, n, "perm is not a permutation of the %d dims of %s", x->rank,
                       ir_shape_str(x, s1, SB));
    seen |= 1 << p;
  }
  n->shape.rank = x->rank;
  for (int i = 0; i < x->rank; i++) n->shape.d[i] = x->d[n->perm[i]];
  n->dtype = IN(g, n, 0)->dtype;
  return 0;
}

static int shape_slice(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB];
  const IrShape *x = S(g, n, 0);
  int64_t ax = n->ia[0], st = n->ia[1], len = n->ia[2];
  if (ax < 0 || ax >= x->rank)
    return shape_err(d, n, "axis %lld is out of range for %s", (long long)ax, ir_shape_str(x, s1, SB));
  if (st < 0 || len <= 0 || st + len > x->d[ax])
    return shape_err(d, n, "%lld:%lld is out of range for dim %lld of %s", (long long)st,
                     (long long)(st + len), (long long)ax, ir_shape_str(x, s1, SB));
  n->shape = *x;
  n->shape.d[ax] = len;
  n->dtype = IN(g, n, 0)->dtype;
  return 0;
}

static int shape_concat(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB], s2[SB];
  const IrShape *a = S(g, n, 0), *b = S(g, n, 1);
  int64_t ax = n->ia[0];
  int ok = a->rank == b->rank && ax >= 0 && ax < a->rank;
  for (int i = 0; ok && i < a->rank; i++)
    if (i != ax && a->d[i] != b->d[i]) ok = 0;
  if (!ok)
    return shape_err(d, n, "shapes %s and %s differ outside axis %lld", ir_shape_str(a, s1, SB),
                     ir_shape_str(b, s2, SB), (long long)ax);
  if (IN(g, n, 0)->dtype != IN(g, n, 1)->dtype)
    return shape_err(d, n, "dtypes differ: %s and %s", ir_dtype_name(IN(g, n, 0)->dtype),
                     ir_dtype_name(IN(g, n, 1)->dtype));
  n->shape = *a;
  n->shape.d[ax] += b->d[ax];
  n->dtype = IN(g, n, 0)->dtype;
  return 0;
}

static int shape_reduce(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB];
  const IrShape *x = S(g, n, 0);
  int64_t ax = n->ia[0];
  n->dtype = IN(g, n, 0)->dtype;
  if (ax == -1) {
    n->shape = (IrShape){1, {1}};
    return 0;
  }
  if (ax < 0 || ax >= x->rank)
    return shape_err(d, n, "axis %lld is out of range for %s", (long long)ax, ir_shape_str(x, s1, SB));
  n->shape = *x;
  if (n->ia[1] || x->rank == 1) {
    n->shape.d[ax] = 1;
  } else {
    for (int i = (int)ax; i + 1 < x->rank; i++) n->shape.d[i] = x->d[i + 1];
    n->shape.rank--;
  }
  return 0;
}
#define shape_sum shape_reduce
#define shape_mean shape_reduce

static int shape_expand(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB];
  const IrShape *x = S(g, n, 0);
  int64_t ax = n->ia[0], reps = n->ia[1];
  if (ax < 0 || ax >= x->rank || reps < 1)
    return shape_err(d, n, "axis %lld / repeats %lld do not fit %s", (long long)ax,
                     (long long)reps, ir_shape_str(x, s1, SB));
  n->shape = *x;
  n->shape.d[ax] *= reps;
  n->dtype = IN(g, n, 0)->dtype;
  return 0;
}

/* ---- backward ops ----------------------------------------------------- */

static int shape_embedding_bwd(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB], s2[SB];
  const IrShape *dy = S(g, n, 0), *ix = S(g, n, 1);
  if (check_shape_attr(d, n)) return -1;
  if (n->shape.rank != 2 || dy->d[dy->rank - 1] != n->shape.d[1] ||
      ir_numel(ix) * n->shape.d[1] != ir_numel(dy))
    return shape_err(d, n, "dy %s and indices %s do not fit the table %s",
                     ir_shape_str(dy, s1, SB), ir_shape_str(ix, s2, SB),
                     ir_shape_str(&n->shape, s2, SB));
  n->dtype = IN(g, n, 0)->dtype;
  return 0;
}

static int shape_sum_to(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB], s2[SB];
  if (check_shape_attr(d, n)) return -1;
  if (!is_suffix(&n->shape, S(g, n, 0)))
    return shape_err(d, n, "%s is not a suffix of %s", ir_shape_str(&n->shape, s1, SB),
                     ir_shape_str(S(g, n, 0), s2, SB));
  n->dtype = IN(g, n, 0)->dtype;
  return 0;
}

static int shape_broadcast(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB], s2[SB];
  const IrShape *x = S(g, n, 0);
  if (check_shape_attr(d, n)) return -1;
  int64_t ax = n->ia[0];
  int ok;
  if (ax == -1) {
    ok = ir_numel(x) == 1;
  } else {
    ok = ax >= 0 && ax < n->shape.rank &&
         ir_numel(x) * n->shape.d[ax] == ir_numel(&n->shape);
  }
  if (!ok)
    return shape_err(d, n, "cannot broadcast %s back to %s along axis %lld",
                     ir_shape_str(x, s1, SB), ir_shape_str(&n->shape, s2, SB), (long long)ax);
  n->dtype = IN(g, n, 0)->dtype;
  return 0;
}

static int shape_norm_bwd_x(IrGraph *g, Diag *d, IrNode *n) {
  if (same_inputs(g, d, n, 0, 1)) return -1;
  const IrShape *x = S(g, n, 1), *w = S(g, n, 2);
  char s1[SB], s2[SB];
  if (w->rank != 1 || w->d[0] != x->d[x->rank - 1])
    return shape_err(d, n, "weight %s does not match %s", ir_shape_str(w, s1, SB),
                     ir_shape_str(x, s2, SB));
  n->shape = *x;
  n->dtype = IN(g, n, 1)->dtype;
  return 0;
}
#define shape_layer_norm_bwd_x shape_norm_bwd_x
#define shape_rms_norm_bwd_x shape_norm_bwd_x

static int shape_norm_bwd_w(IrGraph *g, Diag *d, IrNode *n) {
  if (same_inputs(g, d, n, 0, 1)) return -1;
  const IrShape *x = S(g, n, 1);
  n->shape = (IrShape){1, {x->d[x->rank - 1]}};
  n->dtype = IN(g, n, 1)->dtype;
  return 0;
}
#define shape_layer_norm_bwd_w shape_norm_bwd_w
#define shape_rms_norm_bwd_w shape_norm_bwd_w

/* (dy, x) -> like x */
static int shape_pair(IrGraph *g, Diag *d, IrNode *n) {
  if (same_inputs(g, d, n, 0, 1)) return -1;
  n->shape = *S(g, n, 1);
  n->dtype = IN(g, n, 1)->dtype;
  return 0;
}
#define shape_gelu_bwd shape_pair
#define shape_silu_bwd shape_pair
#define shape_softmax_bwd shape_pair

static int shape_cross_entropy_bwd(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB], s2[SB];
  const IrShape *l = S(g, n, 1), *t = S(g, n, 2);
  if (ir_numel(S(g, n, 0)) != 1)
    return shape_err(d, n, "dloss must be a scalar, got %s", ir_shape_str(S(g, n, 0), s1, SB));
  if (l->rank != 2 || t->rank != 1 || t->d[0] != l->d[0] || IN(g, n, 2)->dtype != IR_I32)
    return shape_err(d, n, "needs logits [N, V] and i32 targets [N], got %s and %s",
                     ir_shape_str(l, s1, SB), ir_shape_str(t, s2, SB));
  n->shape = *l;
  n->dtype = IN(g, n, 1)->dtype;
  return 0;
}

static int shape_slice_bwd(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB], s2[SB];
  const IrShape *dy = S(g, n, 0);
  if (check_shape_attr(d, n)) return -1;
  int64_t ax = n->ia[0];
  IrShape want = n->shape;
  int ok = ax >= 0 && ax < n->shape.rank && n->ia[1] >= 0 &&
           n->ia[1] + n->ia[2] <= n->shape.d[ax];
  if (ok) {
    want.d[ax] = n->ia[2];
    ok = same_shape(&want, dy);
  }
  if (!ok)
    return shape_err(d, n, "dy %s is not slice %lld:+%lld of axis %lld of %s",
                     ir_shape_str(dy, s1, SB), (long long)n->ia[1], (long long)n->ia[2],
                     (long long)ax, ir_shape_str(&n->shape, s2, SB));
  n->dtype = IN(g, n, 0)->dtype;
  return 0;
}

static int shape_expand_bwd(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB];
  const IrShape *x = S(g, n, 0);
  int64_t ax = n->ia[0], reps = n->ia[1];
  if (ax < 0 || ax >= x->rank || reps < 1 || x->d[ax] % reps)
    return shape_err(d, n, "axis %lld / repeats %lld do not fit %s", (long long)ax,
                     (long long)reps, ir_shape_str(x, s1, SB));
  n->shape = *x;
  n->shape.d[ax] /= reps;
  n->dtype = IN(g, n, 0)->dtype;
  return 0;
}

/* ---- fused lm-head + cross-entropy ------------------------------------ */

#define shape_scratch shape_leaf

/* (a, b) -> a: a view of a that orders its readers after b */
static int shape_after(IrGraph *g, Diag *d, IrNode *n) {
  (void)d;
  n->shape = *S(g, n, 0);
  n->dtype = IN(g, n, 0)->dtype;
  return 0;
}

/* Checks (x, w, targets, ws) starting at input i0 and returns V, or -1. */
static int64_t lm_head_operands(IrGraph *g, Diag *d, IrNode *n, int i0) {
  char s1[SB], s2[SB];
  const IrShape *x = S(g, n, i0), *w = S(g, n, i0 + 1), *t = S(g, n, i0 + 2),
                *ws = S(g, n, i0 + 3);
  int wt = n->ia[0] != 0;
  int64_t C = x->d[x->rank - 1];
  if (x->rank < 2 || w->rank != 2 || w->d[wt ? 1 : 0] != C)
    return shape_err(d, n, "needs x [..., C] and a weight %s, got %s and %s",
                     wt ? "[V, C]" : "[C, V]", ir_shape_str(x, s1, SB), ir_shape_str(w, s2, SB));
  int64_t V = w->d[wt ? 0 : 1];
  if (ir_numel(t) * C != ir_numel(x) || IN(g, n, i0 + 2)->dtype != IR_I32)
    return shape_err(d, n, "targets %s must be i32 with one entry per row of %s",
                     ir_shape_str(t, s1, SB), ir_shape_str(x, s2, SB));
  if (ws->rank != 2 || ws->d[1] != V)
    return shape_err(d, n, "workspace %s must be [rows, %lld]", ir_shape_str(ws, s1, SB),
                     (long long)V);
  if (!is_float(IN(g, n, i0)->dtype) || IN(g, n, i0)->dtype != IN(g, n, i0 + 1)->dtype)
    return shape_err(d, n, "x and w must have the same float dtype");
  return V;
}

static int shape_lm_head_ce(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB], s2[SB];
  if (lm_head_operands(g, d, n, 0) < 0) return -1;
  IrShape dw = n->ia[1] ? (IrShape){1, {1}} : *S(g, n, 1);
  if (!same_shape(S(g, n, 4), S(g, n, 0)) || !same_shape(S(g, n, 5), &dw))
    return shape_err(d, n, "gradient buffers %s and %s must be shaped like x and w",
                     ir_shape_str(S(g, n, 4), s1, SB), ir_shape_str(S(g, n, 5), s2, SB));
  n->shape = (IrShape){1, {1}};
  n->dtype = IN(g, n, 0)->dtype;
  return 0;
}

/* ---- fused attention (passes/flash_attention.c) ----------------------- */

/* Checks q, k, v at inputs i0.., lse at input il and the workspace (the
 * last input: a flat tensor of rt_attn_ws_layout's size); 0 or -1. */
static int attention_operands(IrGraph *g, Diag *d, IrNode *n, int i0, int il) {
  char s1[SB], s2[SB], s3[SB];
  const IrShape *q = S(g, n, i0), *k = S(g, n, i0 + 1), *v = S(g, n, i0 + 2),
                *l = S(g, n, il);
  ir_shape_str(q, s1, SB);
  ir_shape_str(k, s2, SB);
  ir_shape_str(v, s3, SB);
  if (q->rank != 4 || !same_shape(k, v) || k->rank != 4 || k->d[0] != q->d[0] ||
      k->d[3] != q->d[3] || q->d[2] % k->d[2])
    return shape_err(d, n, "needs q [B, Tq, H, D] and k, v [B, Tk, Hkv, D] with Hkv dividing H, "
                     "got %s, %s, %s", s1, s2, s3);
  if (n->ia[0] && q->d[1] > k->d[1])
    return shape_err(d, n, "causal attention needs Tq <= Tk, got q %s and k %s", s1, s2);
  if (n->ia[1] < 1) return shape_err(d, n, "block %lld is not positive", (long long)n->ia[1]);
  if (n->ia[2] < 1) return shape_err(d, n, "threads %lld is not positive", (long long)n->ia[2]);
  const int bwd = n->op == IR_FLASH_ATTENTION_BWD;
  const rt_attn_ws w = rt_attn_ws_layout(q->d[0], q->d[1], k->d[1], k->d[2], q->d[3], n->ia[1],
                                         n->ia[2], bwd);
  const IrShape wws = {1, {w.total}};
  if (!same_shape(S(g, n, n->nin - 1), &wws))
    return shape_err(d, n, "workspace %s must be [%lld] (rt_attn_ws_layout)",
                     ir_shape_str(S(g, n, n->nin - 1), s1, SB), (long long)w.total);
  IrShape want = {3, {q->d[0], q->d[2], q->d[1]}};
  if (!same_shape(l, &want))
    return shape_err(d, n, "log-sum-exp buffer %s must be [B, H, Tq] = %s",
                     ir_shape_str(l, s1, SB), ir_shape_str(&want, s2, SB));
  IrDtype t = IN(g, n, i0)->dtype;
  const int ops[5] = {i0, i0 + 1, i0 + 2, il, n->nin - 1};
  for (int i = 0; i < 5; i++)
    if (!is_float(IN(g, n, ops[i])->dtype) || IN(g, n, ops[i])->dtype != t)
      return shape_err(d, n, "q, k, v, lse and the workspace must have the same float dtype");
  return 0;
}

static int shape_flash_attention(IrGraph *g, Diag *d, IrNode *n) {
  if (attention_operands(g, d, n, 0, 3)) return -1;
  n->shape = *S(g, n, 0);
  n->dtype = IN(g, n, 0)->dtype;
  return 0;
}

/* (dout, q, k, v, out, lse, dk, dv, ws) -> dq */
static int shape_flash_attention_bwd(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB], s2[SB], s3[SB];
  if (attention_operands(g, d, n, 1, 5) < 0) return -1;
  const IrShape *q = S(g, n, 1);
  if (!same_shape(S(g, n, 0), q) || !same_shape(S(g, n, 4), q))
    return shape_err(d, n, "dout %s and out %s must be shaped like q %s",
                     ir_shape_str(S(g, n, 0), s1, SB), ir_shape_str(S(g, n, 4), s2, SB),
                     ir_shape_str(q, s3, SB));
  if (!same_shape(S(g, n, 6), S(g, n, 2)) || !same_shape(S(g, n, 7), S(g, n, 3)))
    return shape_err(d, n, "gradient buffers %s and %s must be shaped like k and v",
                     ir_shape_str(S(g, n, 6), s1, SB), ir_shape_str(S(g, n, 7), s2, SB));
  n->shape = *q;
  n->dtype = IN(g, n, 1)->dtype;
  return 0;
}

/* One rule per op; test_ir checks that no entry is missing. */
static const ShapeFn shape_fns[IR_OP_COUNT] = {
    [IR_INPUT] = shape_input, [IR_PARAM] = shape_param, [IR_FILL] = shape_fill,
    [IR_EMBEDDING] = shape_embedding, [IR_MATMUL] = shape_matmul,
    [IR_ADD] = shape_add, [IR_SUB] = shape_sub, [IR_MUL] = shape_mul, [IR_DIV] = shape_div,
    [IR_SCALE] = shape_scale, [IR_LAYER_NORM] = shape_layer_norm,
    [IR_RMS_NORM] = shape_rms_norm, [IR_GELU] = shape_gelu, [IR_SILU] = shape_silu,
    [IR_SOFTMAX] = shape_softmax, [IR_CAUSAL_MASK] = shape_causal_mask,
    [IR_ROPE] = shape_rope, [IR_CROSS_ENTROPY] = shape_cross_entropy,
    [IR_RESHAPE] = shape_reshape, [IR_PERMUTE] = shape_permute, [IR_SLICE] = shape_slice,
    [IR_CONCAT] = shape_concat, [IR_SUM] = shape_sum, [IR_MEAN] = shape_mean,
    [IR_EXPAND] = shape_expand, [IR_EMBEDDING_BWD] = shape_embedding_bwd,
    [IR_SUM_TO] = shape_sum_to, [IR_BROADCAST] = shape_broadcast,
    [IR_LAYER_NORM_BWD_X] = shape_layer_norm_bwd_x,
    [IR_LAYER_NORM_BWD_W] = shape_layer_norm_bwd_w,
    [IR_RMS_NORM_BWD_X] = shape_rms_norm_bwd_x, [IR_RMS_NORM_BWD_W] = shape_rms_norm_bwd_w,
    [IR_GELU_BWD] = shape_gelu_bwd, [IR_SILU_BWD] = shape_silu_bwd,
    [IR_SOFTMAX_BWD] = shape_softmax_bwd, [IR_CROSS_ENTROPY_BWD] = shape_cross_entropy_bwd,
    [IR_SLICE_BWD] = shape_slice_bwd, [IR_EXPAND_BWD] = shape_expand_bwd,
    [IR_LM_HEAD_CE] = shape_lm_head_ce, [IR_SCRATCH] = shape_scratch,
    [IR_AFTER] = shape_after, [IR_GRAD_SYNC] = shape_after, [IR_COMM_WAIT] = shape_after,
    [IR_PARAM_GATHER] = shape_after, [IR_GATHER_WAIT] = shape_after, [IR_FLASH_ATTENTION] = shape_flash_attention,
    [IR_FLASH_ATTENTION_BWD] = shape_flash_attention_bwd, [IR_ACC_GRAD] = shape_acc_grad,
};

int ir_op_accumulates(IrOp op) {
  return op == IR_MATMUL || op == IR_EMBEDDING_BWD || op == IR_SLICE_BWD;
}

/* The optional accumulator (last input of an accumulating op): same shape
 * and dtype as the result. */
static int check_acc(IrGraph *g, Diag *d, IrNode *n) {
  char s1[SB], s2[SB];
  const IrNode *a = &g->nodes[n->in[n->nin - 1]];
  if (a->dtype != n->dtype || ir_numel(&a->shape) != ir_numel(&n->shape) ||
      a->shape.rank != n->shape.rank)
    return shape_err(d, n, "accumulator %s does not match the result %s",
                     ir_shape_str(&a->shape, s1, SB), ir_shape_str(&n->shape, s2, SB));
  return 0;
}

int ir_has_shape_rule(IrOp op) { return (unsigned)op < IR_OP_COUNT && shape_fns[op] != NULL; }

int ir_infer(IrGraph *g, Diag *d, int id) {
  if (id < 0 || id >= g->n) return -1;
  IrNode *n = &g->nodes[id];
  if ((unsigned)n->op >= IR_OP_COUNT || !shape_fns[n->op]) {
    fprintf(stderr, "ftc: internal error: no shape rule for op %d\n", (int)n->op);
    return -1;
  }
  int arity = ir_ops[n->op].arity;
  int acc = arity >= 0 && n->nin == arity + 1 && ir_op_accumulates(n->op);
  if (arity >= 0 && n->nin != arity && !acc)
    return shape_err(d, n, "takes %d input%s, got %d", arity, arity == 1 ? "" : "s", n->nin);
  for (int i = 0; i < n->nin; i++)
    if (n->in[i] < 0 || n->in[i] >= g->n || n->in[i] == id) { /* a pass may read ahead (ir_sort) */
      fprintf(stderr, "ftc: internal error: %s node %d reads node %d\n", ir_ops[n->op].name, id,
              n->in[i]);
      return -1;
    }
  int rc = shape_fns[n->op](g, d, n);
  return rc == 0 && acc ? check_acc(g, d, n) : rc;
}

int ir_check_shape(const IrGraph *g, int id, char *why, size_t cap) {
  const IrNode *n = &g->nodes[id];
  if ((unsigned)n->op >= IR_OP_COUNT || !shape_fns[n->op]) {
    snprintf(why, cap, "no shape rule for op %d", (int)n->op);
    return -1;
  }
  /* the rule runs on a copy, reporting into a buffer: the graph is not
   * touched, and the message is the one a user would get */
  IrNode t = *n;
  t.span = (Span){0};
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  Diag *d = f ? diag_new(f, 1) : NULL;
  int rc = 0;
  if (d) {
    rc = shape_fns[t.op]((IrGraph *)g, d, &t);
    int arity = ir_ops[t.op].arity;
    if (rc == 0 && arity >= 0 && t.nin == arity + 1 && ir_op_accumulates(t.op))
      rc = check_acc((IrGraph *)g, d, &t);
    diag_free(d);
  }
  if (f) fclose(f);
  char s1[SB], s2[SB];
  if (rc < 0) {
    const char *m = text ? text : "";
    if (!strncmp(m, "ftc: error: ", 12)) m += 12;
    snprintf(why, cap, "%.*s", (int)strcspn(m, "\n"), m);
  } else if (!same_shape(&t.shape, &n->shape) || t.dtype != n->dtype) {
    snprintf(why, cap, "it says %s%s but its inputs give %s%s", ir_dtype_name(n->dtype),
             ir_shape_str(&n->shape, s1, SB), ir_dtype_name(t.dtype),
             ir_shape_str(&t.shape, s2, SB));
    rc = -1;
  }
  free(text);
  return rc;
}
