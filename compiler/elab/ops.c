/* compiler/elab/ops.c -- the built-in functions a .ft file may call:
 * number functions (sqrt, exp) and the tensor ops of a forward, each
 * lowered to IR nodes; attention is a composite expanded into primitives.
 *
 * The idea: a built-in is a row of a table (name, formals, lowering), so
 * argument binding, arity and "did you mean" come for free and each
 * lowering only checks what its op's shape rule cannot (argument kinds,
 * divisibility). Attention's nodes all carry one fresh group id and the
 * composite name "attention", so a later pass (flash attention) can find
 * and replace exactly one attention instance.
 */
#include <math.h>
#include <string.h>

#include "elaborate.h"

#define SB 128

static int want_tensor(El *E, const Value *v, Span sp, const char *who, const char *arg) {
  if (v->k == V_TENSOR) return (int)v->i;
  el_error(E, sp, "%s: argument '%s' must be a tensor, got %s", who, arg, v_kind_name(v));
  return -1;
}

static int want_num(El *E, const Value *v, Span sp, const char *who, const char *arg, double def,
                    double *out) {
  if (v->k == V_NONE) {
    *out = def;
    return 0;
  }
  if (v_is_num(v)) {
    *out = v_num(v);
    return 0;
  }
  el_error(E, sp, "%s: argument '%s' must be a number, got %s", who, arg, v_kind_name(v));
  return -1;
}

static int want_int(El *E, const Value *v, Span sp, const char *who, const char *arg, int64_t def,
                    int64_t *out) {
  if (v->k == V_NONE) {
    *out = def;
    return 0;
  }
  if (v_as_int(v, out)) return 0;
  el_error(E, sp, "%s: argument '%s' must be an integer, got %s", who, arg, v_kind_name(v));
  return -1;
}

static Value ret(int id) { return id < 0 ? v_err() : v_tensor(id); }

static const char *scope_path(Scope *sc) { return sc->self ? sc->self->path : ""; }

/* ---- numbers ----------------------------------------------------------- */

static Value bi_sqrt(El *E, Scope *sc, const AstNode *c, Value *a, Span *sp) {
  (void)sc;
  double x;
  if (want_num(E, &a[0], sp[0], "sqrt", "x", 0, &x)) return v_err();
  if (x < 0) {
    el_error(E, c->span, "sqrt of a negative number (%g)", x);
    return v_err();
  }
  return v_float(sqrt(x));
}

static Value bi_exp(El *E, Scope *sc, const AstNode *c, Value *a, Span *sp) {
  (void)sc;
  (void)c;
  double x;
  if (want_num(E, &a[0], sp[0], "exp", "x", 0, &x)) return v_err();
  return v_float(exp(x));
}

/* ---- elementwise and normalization ----------------------------------- */

static Value unary(El *E, const AstNode *c, Value *a, Span *sp, IrOp op) {
  int x = want_tensor(E, &a[0], sp[0], ir_ops[op].name, "x");
  if (x < 0) return v_err();
  return ret(el_op(E, c->span, op, &x, 1));
}

static Value bi_gelu(El *E, Scope *sc, const AstNode *c, Value *a, Span *sp) {
  (void)sc;
  return unary(E, c, a, sp, IR_GELU);
}
static Value bi_silu(El *E, Scope *sc, const AstNode *c, Value *a, Span *sp) {
  (void)sc;
  return unary(E, c, a, sp, IR_SILU);
}
static Value bi_softmax(El *E, Scope *sc, const AstNode *c, Value *a, Span *sp) {
  (void)sc;
  return unary(E, c, a, sp, IR_SOFTMAX);
}

static Value bi_layer_norm(El *E, Scope *sc, const AstNode *c, Value *a, Span *sp) {
  (void)sc;
  int in[3];
  double eps;
  static const char *const nm[] = {"x", "weight", "bias"};
  for (int i = 0; i < 3; i++)
    if ((in[i] = want_tensor(E, &a[i], sp[i], "layer_norm", nm[i])) < 0) return v_err();
  if (want_num(E, &a[3], sp[3], "layer_norm", "eps", 1e-5, &eps)) return v_err();
  return ret(el_op_attr(E, c->span, IR_LAYER_NORM, in, 3, NULL, eps, NULL, NULL));
}

static Value bi_rms_norm(El *E, Scope *sc, const AstNode *c, Value *a, Span *sp) {
  (void)sc;
  int in[2];
  double eps;
  if ((in[0] = want_tensor(E, &a[0], sp[0], "rms_norm", "x")) < 0) return v_err();
  if ((in[1] = want_tensor(E, &a[1], sp[1], "rms_norm", "weight")) < 0) return v_err();
  if (want_num(E, &a[2], sp[2], "rms_norm", "eps", 1e-6, &eps)) return v_err();
  return ret(el_op_attr(E, c->span, IR_RMS_NORM, in, 2, NULL, eps, NULL, NULL));
}

static Value bi_rope(El *E, Scope *sc, const AstNode *c, Value *a, Span *sp) {
  (void)sc;
  double theta;
  int x = want_tensor(E, &a[0], sp[0], "rope", "x");
  if (x < 0 || want_num(E, &a[1], sp[1], "rope", "theta", 10000.0, &theta)) return v_err();
  int64_t ia[4] = {1, 0, 0, 0};
  return ret(el_op_attr(E, c->span, IR_ROPE, &x, 1, ia, theta, NULL, NULL));
}

static Value bi_cross_entropy(El *E, Scope *sc, const AstNode *c, Value *a, Span *sp) {
  (void)sc;
  int l = want_tensor(E, &a[0], sp[0], "cross_entropy", "logits");
  int t = want_tensor(E, &a[1], sp[1], "cross_entropy", "targets");
  if (l < 0 || t < 0) return v_err();
  /* [..., V] logits with [...] targets: flatten both to rows. */
  if (el_shape(E, l)->rank > 2) {
    IrShape s = {2, {-1, el_shape(E, l)->d[el_shape(E, l)->rank - 1]}};
    if ((l = el_op_attr(E, c->span, IR_RESHAPE, &l, 1, NULL, 0, &s, NULL)) < 0) return v_err();
  }
  if (el_shape(E, t)->rank > 1) {
    IrShape s = {1, {-1}};
    if ((t = el_op_attr(E, c->span, IR_RESHAPE, &t, 1, NULL, 0, &s, NULL)) < 0) return v_err();
  }
  int in[2] = {l, t};
  return ret(el_op(E, c->span, IR_CROSS_ENTROPY, in, 2));
}

/* ---- layout ------------------------------------------------------------ */

static Value bi_transpose(El *E, Scope *sc, const AstNode *c, Value *a, Span *sp) {
  (void)sc;
  char sb[SB];
  int x = want_tensor(E, &a[0], sp[0], "transpose", "x");
  if (x < 0) return v_err();
  int r = el_shape(E, x)->rank;
  if (r < 2) {
    el_error(E, c->span, "transpose: needs at least 2 dims, got %s",
             ir_shape_str(el_shape(E, x), sb, SB));
    return v_err();
  }
  int perm[IR_MAXRANK];
  for (int i = 0; i < IR_MAXRANK; i++) perm[i] = i;
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return ret(el_op_attr(E, c->span, IR_PERMUTE, &x, 1, NULL, 0, NULL, perm));
}

/* A list of integers (permute dims, reshape shape). */
static int int_list(El *E, const Value *v, Span sp, const char *who, int64_t *out, int max) {
  if (v->k != V_LIST) {
    el_error(E, sp, "%s: expected a list of integers, got %s", who, v_kind_name(v));
    return -1;
  }
  const VList *l = v->p;
  if (l->n < 1 || l->n > max) {
    el_error(E, sp, "%s: expected 1 to %d dims, got %d", who, max, l->n);
    return -1;
  }
  for (int i = 0; i < l->n; i++)
    if (!v_as_int(&l->v[i], &out[i])) {
      el_error(E, sp, "%s: item %d must be an integer, got %s", who, i, v_kind_name(&l->v[i]));
      return -1;
    }
  return l->n;
}

static Value bi_permute(El *E, Scope *sc, const AstNode *c, Value *a, Span *sp) {
  (void)sc;
  char sb[SB];
  int64_t dims[IR_MAXRANK];
  int x = want_tensor(E, &a[0], sp[0], "permute", "x");
  if (x < 0) return v_err();
  int n = int_list(E, &a[1], sp[1], "permute", dims, IR_MAXRANK);
  if (n < 0) return v_err();
  int r = el_shape(E, x)->rank;
  if (n != r) {
    el_error(E, sp[1], "permute: %d dims given for a tensor of shape %s", n,
             ir_shape_str(el_shape(E, x), sb, SB));
    return v_err();
  }
  int perm[IR_MAXRANK];
  for (int i = 0; i < IR_MAXRANK; i++) perm[i] = i;
  for (int i = 0; i < n; i++) perm[i] = (int)(dims[i] < 0 ? dims[i] + r : dims[i]);
  return ret(el_op_attr(E, c->span, IR_PERMUTE, &x, 1, NULL, 0, NULL, perm));
}

static Value bi_reshape(El *E, Scope *sc, const AstNode *c, Value *a, Span *sp) {
  (void)sc;
  IrShape s;
  int x = want_tensor(E, &a[0], sp[0], "reshape", "x");
  if (x < 0) return v_err();
  int n = int_list(E, &a[1], sp[1], "reshape", s.d, IR_MAXRANK);
  if (n < 0) return v_err();
  s.rank = n;
  return ret(el_op_attr(E, c->span, IR_RESHAPE, &x, 1, NULL, 0, &s, NULL));
}

static Value bi_split_heads(El *E, Scope *sc, const AstNode *c, Value *a, Span *sp) {
  (void)sc;
  char sb[SB];
  int64_t h;
  int x = want_tensor(E, &a[0], sp[0], "split_heads", "x");
  if (x < 0 || want_int(E, &a[1], sp[1], "split_heads", "heads", 1, &h)) return v_err();
  const IrShape *xs = el_shape(E, x);
  if (xs->rank != 3) {
    el_error(E, c->span, "split_heads: needs [B, T, C], got %s", ir_shape_str(xs, sb, SB));
    return v_err();
  }
  if (h <= 0 || xs->d[2] % h) {
    el_error_from(E, c->span, &a[1], NULL, "split_heads: dim %lld of %s is not divisible by "
                  "heads %lld", (long long)xs->d[2], ir_shape_str(xs, sb, SB), (long long)h);
    return v_err();
  }
  IrShape s = {4, {xs->d[0], xs->d[1], h, xs->d[2] / h}};
  return ret(el_op_attr(E, c->span, IR_RESHAPE, &x, 1, NULL, 0, &s, NULL));
}

static Value bi_merge_heads(El *E, Scope *sc, const AstNode *c, Value *a, Span *sp) {
  (void)sc;
  char sb[SB];
  int x = want_tensor(E, &a[0], sp[0], "merge_heads", "x");
  if (x < 0) return v_err();
  const IrShape *xs = el_shape(E, x);
  if (xs->rank != 4) {
    el_error(E, c->span, "merge_heads: needs [B, T, heads, head_dim], got %s",
             ir_shape_str(xs, sb, SB));
    return v_err();
  }
  IrShape s = {3, {xs->d[0], xs->d[1], xs->d[2] * xs->d[3]}};
  return ret(el_op_attr(E, c->span, IR_RESHAPE, &x, 1, NULL, 0, &s, NULL));
}

static int axis_arg(El *E, const Value *v, Span sp, const char *who, int rank, int64_t def,
                    int64_t *out) {
  if (want_int(E, v, sp, who, "axis", def, out)) return -1;
  if (*out < 0) *out += rank;
  if (*out < 0 || *out >= rank) {
    el_error(E, sp, "%s: axis is out of range for a tensor of rank %d", who, rank);
    return -1;
  }
  return 0;
}

static Value bi_concat(El *E, Scope *sc, const AstNode *c, Value *a, Span *sp) {
  (void)sc;
  int in[2];
  if ((in[0] = want_tensor(E, &a[0], sp[0], "concat", "a")) < 0) return v_err();
  if ((in[1] = want_tensor(E, &a[1], sp[1], "concat", "b")) < 0) return v_err();
  int64_t ax;
  if (axis_arg(E, &a[2], sp[2], "concat", el_shape(E, in[0])->rank, -1, &ax)) return v_err();
  int64_t ia[4] = {ax, 0, 0, 0};
  return ret(el_op_attr(E, c->span, IR_CONCAT, in, 2, ia, 0, NULL, NULL));
}

static Value reduce(El *E, const AstNode *c, Value *a, Span *sp, IrOp op) {
  const char *who = ir_ops[op].name;
  int x = want_tensor(E, &a[0], sp[0], who, "x");
  if (x < 0) return v_err();
  int64_t ax = -1;
  if (a[1].k != V_NONE && a[1].k != V_ALL &&
      axis_arg(E, &a[1], sp[1], who, el_shape(E, x)->rank, 0, &ax))
    return v_err();
  int64_t ia[4] = {ax, 0, 0, 0};
  return ret(el_op_attr(E, c->span, op, &x, 1, ia, 0, NULL, NULL));
}

static Value bi_sum(El *E, Scope *sc, const AstNode *c, Value *a, Span *sp) {
  (void)sc;
  return reduce(E, c, a, sp, IR_SUM);
}
static Value bi_mean(El *E, Scope *sc, const AstNode *c, Value *a, Span *sp) {
  (void)sc;
  return reduce(E, c, a, sp, IR_MEAN);
}

/* ---- attention: the composite ---------------------------------------- */

static int tagged(El *E, int id, int grp, const char *path, const char *local) {
  if (id < 0) return -1;
  IrNode *n = &E->g->nodes[id];
  n->group = grp;
  n->composite = "attention";
  el_name(E, v_tensor(id), id, path, local);
  return id;
}

static Value bi_attention(El *E, Scope *sc, const AstNode *c, Value *a, Span *sp) {
  char s1[SB], s2[SB], s3[SB];
  int q = want_tensor(E, &a[0], sp[0], "attention", "q");
  int k = q < 0 ? -1 : want_tensor(E, &a[1], sp[1], "attention", "k");
  int v = k < 0 ? -1 : want_tensor(E, &a[2], sp[2], "attention", "v");
  if (v < 0) return v_err();
  int causal = 0; /* the documented default (lang/builtins.def) */
  if (a[3].k == V_BOOL) causal = (int)a[3].i;
  else if (a[3].k != V_NONE) {
    el_error(E, sp[3], "attention: causal must be true or false, got %s", v_kind_name(&a[3]));
    return v_err();
  }
  IrShape qs = *el_shape(E, q), ks = *el_shape(E, k), vs = *el_shape(E, v);
  ir_shape_str(&qs, s1, SB);
  ir_shape_str(&ks, s2, SB);
  ir_shape_str(&vs, s3, SB);
  if (qs.rank != 4 || ks.rank != 4 || vs.rank != 4) {
    el_error(E, c->span, "attention: q, k, v must be [B, T, heads, head_dim], got %s, %s, %s",
             s1, s2, s3);
    return v_err();
  }
  int64_t H = qs.d[2], Hkv = ks.d[2];
  if (ks.d[0] != qs.d[0] || ks.d[3] != qs.d[3] || ks.d[0] != vs.d[0] || ks.d[1] != vs.d[1] ||
      ks.d[2] != vs.d[2] || ks.d[3] != vs.d[3]) {
    el_error(E, c->span, "attention: shapes do not fit: q %s, k %s, v %s (k and v must agree, "
             "and share batch and head_dim with q)", s1, s2, s3);
    return v_err();
  }
  if (H % Hkv) {
    el_error(E, c->span, "attention: %lld kv heads do not divide %lld query heads (q %s, k %s)",
             (long long)Hkv, (long long)H, s1, s2);
    return v_err();
  }
  const char *path = el_path(E, scope_path(sc), "attention");
  int grp = E->g->ngroups++;
  Span cs = c->span;
  int perm[IR_MAXRANK] = {0, 2, 1, 3, 4, 5};
  q = tagged(E, el_op_attr(E, cs, IR_PERMUTE, &q, 1, NULL, 0, NULL, perm), grp, path, "q");
  k = q < 0 ? -1 : tagged(E, el_op_attr(E, cs, IR_PERMUTE, &k, 1, NULL, 0, NULL, perm), grp, path, "k");
  v = k < 0 ? -1 : tagged(E, el_op_attr(E, cs, IR_PERMUTE, &v, 1, NULL, 0, NULL, perm), grp, path, "v");
  if (v < 0) return v_err();
  if (Hkv < H) { /* grouped-query: each kv head serves H/Hkv query heads */
    int64_t ia[4] = {1, H / Hkv, 0, 0};
    k = tagged(E, el_op_attr(E, cs, IR_EXPAND, &k, 1, ia, 0, NULL, NULL), grp, path, "k_expanded");
    v = k < 0 ? -1 : tagged(E, el_op_attr(E, cs, IR_EXPAND, &v, 1, ia, 0, NULL, NULL), grp, path, "v_expanded");
    if (v < 0) return v_err();
  }
  /* causal with as many queries as keys: scores are only needed on and
   * below the diagonal, and probs are 0 above it (rt_matmul_causal) */
  int tri = causal && qs.d[1] == ks.d[1];
  int in[2] = {q, k};
  int64_t tb[4] = {0, 1, tri ? IR_TRI_OUT : IR_TRI_NONE, 0};
  int s = tagged(E, el_op_attr(E, cs, IR_MATMUL, in, 2, tb, 0, NULL, NULL), grp, path, "scores");
  if (s < 0) return v_err();
  s = tagged(E, el_op_attr(E, cs, IR_SCALE, &s, 1, NULL, 1.0 / sqrt((double)qs.d[3]), NULL, NULL),
             grp, path, "scaled");
  if (s >= 0 && causal)
    s = tagged(E, el_op_attr(E, cs, IR_CAUSAL_MASK, &s, 1, NULL, -INFINITY, NULL, NULL), grp, path,
               "masked");
  if (s >= 0) s = tagged(E, el_op(E, cs, IR_SOFTMAX, &s, 1), grp, path, "probs");
  if (s < 0) return v_err();
  in[0] = s;
  in[1] = v;
  int64_t pa[4] = {0, 0, tri ? IR_TRI_A : IR_TRI_NONE, 0};
  int o = tagged(E, el_op_attr(E, cs, IR_MATMUL, in, 2, pa, 0, NULL, NULL), grp, path, "context");
  if (o < 0) return v_err();
  o = tagged(E, el_op_attr(E, cs, IR_PERMUTE, &o, 1, NULL, 0, NULL, perm), grp, path, "out");
  return ret(o);
}

/* ---- the table -------------------------------------------------------- */

static const Builtin builtins[] = {
    {"sqrt", 1, {"x"}, bi_sqrt, 0},
    {"exp", 1, {"x"}, bi_exp, 0},
    {"layer_norm", 3, {"x", "weight", "bias", "eps"}, bi_layer_norm, 1},
    {"rms_norm", 2, {"x", "weight", "eps"}, bi_rms_norm, 1},
    {"gelu", 1, {"x"}, bi_gelu, 1},
    {"silu", 1, {"x"}, bi_silu, 1},
    {"softmax", 1, {"x"}, bi_softmax, 1},
    {"attention", 3, {"q", "k", "v", "causal"}, bi_attention, 1},
    {"rope", 1, {"x", "theta"}, bi_rope, 1},
    {"cross_entropy", 2, {"logits", "targets"}, bi_cross_entropy, 1},
    {"transpose", 1, {"x"}, bi_transpose, 1},
    {"permute", 2, {"x", "dims"}, bi_permute, 1},
    {"reshape", 2, {"x", "shape"}, bi_reshape, 1},
    {"split_heads", 2, {"x", "heads"}, bi_split_heads, 1},
    {"merge_heads", 1, {"x"}, bi_merge_heads, 1},
    {"concat", 2, {"a", "b", "axis"}, bi_concat, 1},
    {"sum", 1, {"x", "axis"}, bi_sum, 1},
    {"mean", 1, {"x", "axis"}, bi_mean, 1},
};
#define NBUILTINS (int)(sizeof builtins / sizeof builtins[0])

const Builtin *el_builtin(const char *name) {
  for (int i = 0; i < NBUILTINS; i++)
    if (!strcmp(builtins[i].name, name)) return &builtins[i];
  return NULL;
}

const char *const *el_builtin_names(void) {
  static const char *names[NBUILTINS + 1];
  for (int i = 0; i < NBUILTINS; i++) names[i] = builtins[i].name;
  names[NBUILTINS] = NULL;
  return names;
}
