/* compiler/autodiff.c -- reverse-mode automatic differentiation on the IR.
 *
 * One idea: the backward pass is just more nodes in the same graph. Walking
 * the forward nodes that lie between a trainable parameter and the loss in
 * reverse dependency order, each op's rule (grad_<name>, one table keyed by
 * op) reads the finished gradient of its output and adds one contribution
 * per differentiable input; several contributions are summed with ADD.
 * Nothing the loss gradient does not need is differentiated. At the end
 * every trainable parameter owns exactly one IR_ROLE_GRAD node.
 */
#include <stdlib.h>
#include <string.h>
#include "back.h"
#include "../runtime/kernels.h" /* rt_attn_ws_layout: the fused attention's workspace */

typedef struct Ad {
  IrGraph *g;
  Diag *d;
  int *grad;   /* per forward node: its accumulated gradient node, or -1 */
  char *need;  /* per node: lies on a path trainable param -> loss */
  int cur;     /* the forward node being differentiated (span, names) */
  int n0;      /* forward node count: grad[] and need[] cover ids < n0 */
  int rule0;   /* first node id the running gradient rule created */
  int *gref;   /* per node: how many grad[] slots hold it (grown with g) */
  int ngref;
  int *uses;   /* per node: readers among live nodes, counted once for
                * finish_param (NULL before) */
} Ad;

typedef int (*GradFn)(Ad *ad, int y, int dy);

/* ---- building backward nodes ------------------------------------------ */

/* Appends a backward node with the expected shape preset (ops whose shape
 * comes "from the node" keep it; others are checked against it). */
static int bnode(Ad *ad, IrOp op, const int *in, int nin, const IrShape *shape,
                 const int64_t *ia, double fa0) {
  IrGraph *g = ad->g;
  Span sp = g->nodes[ad->cur].span;
  /* `shape` often points into g->nodes (shp()), which ir_new may move */
  const IrShape want = *shape;
  shape = &want;
  int id = ir_new(g, op, in, nin, sp);
  if (id < 0) return -1;
  IrNode *n = &g->nodes[id];
  n->shape = *shape;
  if (ia) memcpy(n->ia, ia, sizeof n->ia);
  n->fa[0] = fa0;
  n->role = IR_ROLE_BWD;
  n->phase = IR_PHASE_BWD;
  n->dtype = g->nodes[ad->cur].dtype == IR_I32 ? IR_F32 : g->nodes[ad->cur].dtype;
  n->grad_of = -1;
  n->group = g->nodes[ad->cur].group;
  n->composite = g->nodes[ad->cur].composite;
  if (ir_infer(g, ad->d, id) < 0) return -1;
  n = &g->nodes[id];
  /* inference may reset bookkeeping fields; the backward owns them */
  n->role = IR_ROLE_BWD;
  n->phase = IR_PHASE_BWD;
  n->grad_of = -1;
  if (n->shape.rank != shape->rank || ir_numel(&n->shape) != ir_numel(shape)) {
    char a[96], b[96];
    diag_at(ad->d, DIAG_ERROR, sp,
            "internal: gradient node %s has shape %s, expected %s",
            ir_ops[op].name, back_shape_str(&n->shape, a, sizeof a),
            back_shape_str(shape, b, sizeof b));
    return -1;
  }
  return id;
}

static const IrShape *shp(Ad *ad, int id) { return &ad->g->nodes[id].shape; }

static int b1(Ad *ad, IrOp op, int x, const IrShape *s) {
  return bnode(ad, op, &x, 1, s, NULL, 0);
}
static int b2(Ad *ad, IrOp op, int x, int y, const IrShape *s) {
  int in[2] = {x, y};
  return bnode(ad, op, in, 2, s, NULL, 0);
}
static int b3(Ad *ad, IrOp op, int x, int y, int z, const IrShape *s, double fa0) {
  int in[3] = {x, y, z};
  return bnode(ad, op, in, 3, s, NULL, fa0);
}
static int bscale(Ad *ad, int x, double s) {
  return bnode(ad, IR_SCALE, &x, 1, shp(ad, x), NULL, s);
}
static int breshape(Ad *ad, int x, const IrShape *s) {
  IrShape t = *s;
  return b1(ad, IR_RESHAPE, x, &t);
}
static int bmatmul_tri(Ad *ad, int a, int b, int ta, int tb, int tri, const IrShape *s) {
  int in[2] = {a, b};
  int64_t ia[4] = {ta, tb, tri, 0};
  return bnode(ad, IR_MATMUL, in, 2, s, ia, 0);
}
static int bmatmul(Ad *ad, int a, int b, int ta, int tb, const IrShape *s) {
  return bmatmul_tri(ad, a, b, ta, tb, IR_TRI_NONE, s);
}

static int shared_elsewhere(const Ad *ad, int c, int p);
static int same_shape(const IrShape *a, const IrShape *b);

/* Can contribution c absorb the running sum `prev` as its accumulator
 * input (ir_op_accumulates: y = f(...) + prev, BLAS beta = 1, scatter-add,
 * slice-add)? Only a node the current rule just made for this one use, of
 * prev's shape, that does not read prev itself (it runs in place over
 * prev). Saves the ADD's full read-read-write pass and, in place, a tensor. */
static int can_fold(const Ad *ad, int c, int prev) {
  const IrGraph *g = ad->g;
  const IrNode *n = &g->nodes[c];
  if (c < ad->rule0 || n->phase != IR_PHASE_BWD || !ir_op_accumulates(n->op) ||
      n->nin != ir_ops[n->op].arity || n->dtype != g->nodes[prev].dtype ||
      !same_shape(&n->shape, &g->nodes[prev].shape))
    return 0;
  int pb = back_view_base(g, prev);
  for (int i = 0; i < n->nin; i++)
    if (back_view_base(g, n->in[i]) == pb) return 0;
  return !shared_elsewhere(ad, c, -1);
}

/* grad[x] = c, keeping gref (how many slots hold each node) exact, so
 * shared_elsewhere need not scan every slot. */
static int set_grad(Ad *ad, int x, int c) {
  if (c >= ad->ngref) {
    int nc = ad->g->n > c ? ad->g->n : c + 1;
    nc = nc > 2 * ad->ngref ? nc : 2 * ad->ngref;
    int *ng = realloc(ad->gref, sizeof(int) * (size_t)nc);
    if (!ng) return -1;
    memset(ng + ad->ngref, 0, sizeof(int) * (size_t)(nc - ad->ngref));
    ad->gref = ng;
    ad->ngref = nc;
  }
  if (ad->grad[x] >= 0) ad->gref[ad->grad[x]]--;
  ad->grad[x] = c;
  if (c >= 0) ad->gref[c]++;
  return 0;
}

/* Adds a contribution to the gradient of forward node x. */
static int acc(Ad *ad, int x, int c) {
  if (c < 0) return -1;
  if (ad->grad[x] < 0) return set_grad(ad, x, c);
  if (can_fold(ad, c, ad->grad[x])) {
    IrNode *n = &ad->g->nodes[c];
    n->in[n->nin++] = ad->grad[x];
    if (ir_infer(ad->g, ad->d, c) < 0) return -1;
    n = &ad->g->nodes[c];
    n->role = IR_ROLE_BWD;
    n->phase = IR_PHASE_BWD;
    n->grad_of = -1;
    return set_grad(ad, x, c);
  }
  int s = b2(ad, IR_ADD, ad->grad[x], c, shp(ad, x));
  if (s < 0) return -1;
  return set_grad(ad, x, s);
}

static int wants(Ad *ad, int x) { return ad->need[x]; }

static int same_shape(const IrShape *a, const IrShape *b) {
  if (a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->d[i] != b->d[i]) return 0;
  return 1;
}

/* dy reduced to the shape of a broadcast operand b (a suffix of y's). */
static int reduce_to(Ad *ad, int dy, int b) {
  if (same_shape(shp(ad, dy), shp(ad, b))) return dy;
  return b1(ad, IR_SUM_TO, dy, shp(ad, b));
}

/* ---- gradient rules ---------------------------------------------------- */

static int grad_add(Ad *ad, int y, int dy) {
  const IrNode *n = &ad->g->nodes[y];
  int a = n->in[0], b = n->in[1];
  if (wants(ad, a) && acc(ad, a, dy) < 0) return -1;
  if (wants(ad, b) && acc(ad, b, reduce_to(ad, dy, b)) < 0) return -1;
  return 0;
}

static int grad_sub(Ad *ad, int y, int dy) {
  const IrNode *n = &ad->g->nodes[y];
  int a = n->in[0], b = n->in[1];
  if (wants(ad, a) && acc(ad, a, dy) < 0) return -1;
  if (wants(ad, b)) {
    int r = reduce_to(ad, dy, b);
    if (r < 0 || acc(ad, b, bscale(ad, r, -1.0)) < 0) return -1;
  }
  return 0;
}

static int grad_mul(Ad *ad, int y, int dy) {
  const IrNode *n = &ad->g->nodes[y];
  int a = n->in[0], b = n->in[1];
  if (wants(ad, a) && acc(ad, a, b2(ad, IR_MUL, dy, b, shp(ad, y))) < 0) return -1;
  if (wants(ad, b)) {
    int t = b2(ad, IR_MUL, dy, a, shp(ad, y));
    if (t < 0 || acc(ad, b, reduce_to(ad, t, b)) < 0) return -1;
  }
  return 0;
}

/* y = a / b: da = dy / b, db = -sum(dy * y / b). */
static int grad_div(Ad *ad, int y, int dy) {
  const IrNode *n = &ad->g->nodes[y];
  int a = n->in[0], b = n->in[1];
  if (wants(ad, a) && acc(ad, a, b2(ad, IR_DIV, dy, b, shp(ad, y))) < 0) return -1;
  if (wants(ad, b)) {
    int q = b2(ad, IR_DIV, y, b, shp(ad, y));
    int t = q < 0 ? -1 : b2(ad, IR_MUL, dy, q, shp(ad, y));
    int r = t < 0 ? -1 : reduce_to(ad, t, b);
    if (r < 0 || acc(ad, b, bscale(ad, r, -1.0)) < 0) return -1;
  }
  return 0;
}

static int grad_scale(Ad *ad, int y, int dy) {
  /* read what is needed first: bscale may move the node array */
  int x = ad->g->nodes[y].in[0];
  return acc(ad, x, bscale(ad, dy, ad->g->nodes[y].fa[0]));
}

/* y = op(a) @ op(b) with A = op(a) [M,K], B = op(b) [K,N]:
 * dA = dy B^T, dB = A^T dy, written in terms of the stored a and b. A 2-D b
 * shared by a batched a gets ONE product over the flattened batch,
 * [batch*M,K]^T @ [batch*M,N], instead of a sum of per-batch products. */
static int grad_matmul(Ad *ad, int y, int dy) {
  const IrNode *n = &ad->g->nodes[y];
  int a = n->in[0], b = n->in[1];
  int ta = (int)n->ia[0], tb = (int)n->ia[1], tri = (int)n->ia[2];
  IrShape as = *shp(ad, a), bs = *shp(ad, b), ys = *shp(ad, y);
  int shared = bs.rank == 2 && as.rank > 2;
  if (as.rank == 2 && bs.rank > 2) {
    diag_at(ad->d, DIAG_ERROR, n->span,
            "gradient of a 2-D by batched matmul is not supported");
    return -1;
  }
  /* Causal structure (ir.h) stays exact: with y = tril(P) the gradient
   * flows through tril(dy), so dy is a lower-triangular first operand
   * (IR_TRI_A); with y = tril(a) @ b, da = tril(dy @ b^T) (IR_TRI_OUT) and
   * tril(a) stays a triangular first operand of db. The kernel has no
   * triangular second operand, so layouts needing one are refused (the
   * attention composite never makes them). */
  int out_a = tri == IR_TRI_OUT ? IR_TRI_A : IR_TRI_NONE; /* dy as first operand */
  int da_tri = tri == IR_TRI_A ? IR_TRI_OUT : IR_TRI_NONE;
  if (tri && (shared || (tri == IR_TRI_OUT && (ta || !tb)) || (tri == IR_TRI_A && tb))) {
    diag_at(ad->d, DIAG_ERROR, n->span,
            "gradient of this causal matmul layout is not supported (ta=%d tb=%d tri=%d)",
            ta, tb, tri);
    return -1;
  }
  if (wants(ad, a)) {
    int c;
    if (!ta) {
      c = bmatmul_tri(ad, dy, b, 0, !tb, out_a | da_tri, &as);
    } else if (!shared) {
      c = tb ? bmatmul_tri(ad, b, dy, 1, 1, da_tri, &as)
             : bmatmul_tri(ad, b, dy, 0, 1, da_tri, &as);
    } else {
      /* stored a is A^T per batch; compute dA then swap its last two dims */
      IrShape da = as;
      da.d[as.rank - 2] = as.d[as.rank - 1];
      da.d[as.rank - 1] = as.d[as.rank - 2];
      int t = bmatmul(ad, dy, b, 0, !tb, &da);
      c = -1;
      if (t >= 0) {
        int id = ir_new(ad->g, IR_PERMUTE, &t, 1, ad->g->nodes[y].span);
        if (id < 0) return -1;
        IrNode *p = &ad->g->nodes[id];
        for (int i = 0; i < as.rank; i++) p->perm[i] = i;
        p->perm[as.rank - 2] = as.rank - 1;
        p->perm[as.rank - 1] = as.rank - 2;
        p->shape = as;
        p->role = IR_ROLE_BWD;
        p->phase = IR_PHASE_BWD;
        p->grad_of = -1;
        if (ir_infer(ad->g, ad->d, id) < 0) return -1;
        ad->g->nodes[id].role = IR_ROLE_BWD;
        ad->g->nodes[id].phase = IR_PHASE_BWD;
        ad->g->nodes[id].grad_of = -1;
        c = id;
      }
    }
    if (acc(ad, a, c) < 0) return -1;
  }
  if (wants(ad, b)) {
    int aa = a, dd = dy, ta2 = ta;
    if (shared) {
      int64_t rows = ir_numel(&as) / (as.d[as.rank - 1] * as.d[as.rank - 2]);
      IrShape a2 = {2, {0}}, d2 = {2, {0}};
      if (ta) {
        /* make A contiguous [.., M, K] first so rows flatten */
        IrShape at = as;
        at.d[as.rank - 2] = as.d[as.rank - 1];
        at.d[as.rank - 1] = as.d[as.rank - 2];
        int id = ir_new(ad->g, IR_PERMUTE, &a, 1, ad->g->nodes[y].span);
        if (id < 0) return -1;
        IrNode *p = &ad->g->nodes[id];
        for (int i = 0; i < as.rank; i++) p->perm[i] = i;
        p->perm[as.rank - 2] = as.rank - 1;
        p->perm[as.rank - 1] = as.rank - 2;
        p->shape = at;
        if (ir_infer(ad->g, ad->d, id) < 0) return -1;
        ad->g->nodes[id].role = IR_ROLE_BWD;
        ad->g->nodes[id].phase = IR_PHASE_BWD;
        ad->g->nodes[id].grad_of = -1;
        aa = id;
        as = at;
        ta2 = 0;
      }
      a2.d[0] = rows * as.d[as.rank - 2];
      a2.d[1] = as.d[as.rank - 1];
      d2.d[0] = rows * ys.d[ys.rank - 2];
      d2.d[1] = ys.d[ys.rank - 1];
      aa = breshape(ad, aa, &a2);
      dd = breshape(ad, dy, &d2);
      if (aa < 0 || dd < 0) return -1;
    }
    int c;
    /* tril(a) stays the first operand (!tb); dy is the first operand (tb) */
    if (!tb)
      c = ta2 ? bmatmul_tri(ad, aa, dd, 0, 0, tri, &bs) : bmatmul_tri(ad, aa, dd, 1, 0, tri, &bs);
    else
      c = ta2 ? bmatmul_tri(ad, dd, aa, 1, 1, out_a, &bs)
              : bmatmul_tri(ad, dd, aa, 1, 0, out_a, &bs);
    if (acc(ad, b, c) < 0) return -1;
  }
  /* y = a @ b + acc (passes/lora.c adds an adapter into the base's output):
   * the accumulator's gradient is dy itself */
  if (ad->g->nodes[y].nin == 3) { /* (n may be stale: the array grew) */
    int ac = ad->g->nodes[y].in[2];
    if (wants(ad, ac) && acc(ad, ac, dy) < 0) return -1;
  }
  return 0;
}

static int grad_embedding(Ad *ad, int y, int dy) {
  int w = ad->g->nodes[y].in[0], tok = ad->g->nodes[y].in[1];
  return acc(ad, w, b2(ad, IR_EMBEDDING_BWD, dy, tok, shp(ad, w)));
}

static int grad_layer_norm(Ad *ad, int y, int dy) {
  const IrNode *n = &ad->g->nodes[y];
  int x = n->in[0], w = n->in[1], b = n->in[2];
  double eps = n->fa[0];
  if (wants(ad, x) && acc(ad, x, b3(ad, IR_LAYER_NORM_BWD_X, dy, x, w, shp(ad, x), eps)) < 0)
    return -1;
  if (wants(ad, w)) {
    int in[2] = {dy, x};
    if (acc(ad, w, bnode(ad, IR_LAYER_NORM_BWD_W, in, 2, shp(ad, w), NULL, eps)) < 0) return -1;
  }
  if (wants(ad, b) && acc(ad, b, reduce_to(ad, dy, b)) < 0) return -1;
  return 0;
}

static int grad_rms_norm(Ad *ad, int y, int dy) {
  const IrNode *n = &ad->g->nodes[y];
  int x = n->in[0], w = n->in[1];
  double eps = n->fa[0];
  if (wants(ad, x) && acc(ad, x, b3(ad, IR_RMS_NORM_BWD_X, dy, x, w, shp(ad, x), eps)) < 0)
    return -1;
  if (wants(ad, w)) {
    int in[2] = {dy, x};
    if (acc(ad, w, bnode(ad, IR_RMS_NORM_BWD_W, in, 2, shp(ad, w), NULL, eps)) < 0) return -1;
  }
  return 0;
}

static int grad_gelu(Ad *ad, int y, int dy) {
  int x = ad->g->nodes[y].in[0];
  return acc(ad, x, b2(ad, IR_GELU_BWD, dy, x, shp(ad, x)));
}

static int grad_silu(Ad *ad, int y, int dy) {
  int x = ad->g->nodes[y].in[0];
  return acc(ad, x, b2(ad, IR_SILU_BWD, dy, x, shp(ad, x)));
}

static int grad_softmax(Ad *ad, int y, int dy) {
  int x = ad->g->nodes[y].in[0];
  return acc(ad, x, b2(ad, IR_SOFTMAX_BWD, dy, y, shp(ad, x)));
}

/* masked positions are constants: their gradient is zero */
static int grad_causal_mask(Ad *ad, int y, int dy) {
  int x = ad->g->nodes[y].in[0];
  return acc(ad, x, bnode(ad, IR_CAUSAL_MASK, &dy, 1, shp(ad, x), NULL, 0.0));
}

/* RoPE is a rotation; its gradient is the inverse rotation */
static int grad_rope(Ad *ad, int y, int dy) {
  const IrNode *n = &ad->g->nodes[y];
  int64_t ia[4] = {n->ia[0] < 0 ? 1 : -1, 0, 0, 0};
  int x = n->in[0];
  double theta = n->fa[0];
  return acc(ad, x, bnode(ad, IR_ROPE, &dy, 1, shp(ad, x), ia, theta));
}

static int grad_cross_entropy(Ad *ad, int y, int dy) {
  const IrNode *n = &ad->g->nodes[y];
  int lg = n->in[0], tg = n->in[1];
  return acc(ad, lg, b3(ad, IR_CROSS_ENTROPY_BWD, dy, lg, tg, shp(ad, lg), 0));
}

static int grad_reshape(Ad *ad, int y, int dy) {
  int x = ad->g->nodes[y].in[0];
  return acc(ad, x, breshape(ad, dy, shp(ad, x)));
}

static int grad_permute(Ad *ad, int y, int dy) {
  const IrNode *n = &ad->g->nodes[y];
  int x = n->in[0], rank = n->shape.rank;
  int inv[IR_MAXRANK];
  for (int i = 0; i < rank; i++) inv[n->perm[i]] = i;
  int id = ir_new(ad->g, IR_PERMUTE, &dy, 1, n->span);
  if (id < 0) return -1;
  IrNode *p = &ad->g->nodes[id];
  memcpy(p->perm, inv, sizeof inv);
  p->shape = *shp(ad, x);
  if (ir_infer(ad->g, ad->d, id) < 0) return -1;
  p = &ad->g->nodes[id];
  p->role = IR_ROLE_BWD;
  p->phase = IR_PHASE_BWD;
  p->grad_of = -1;
  return acc(ad, x, id);
}

static int grad_slice(Ad *ad, int y, int dy) {
  const IrNode *n = &ad->g->nodes[y];
  int64_t ia[4];
  memcpy(ia, n->ia, sizeof ia);
  int x = n->in[0];
  return acc(ad, x, bnode(ad, IR_SLICE_BWD, &dy, 1, shp(ad, x), ia, 0));
}

/* each half of a concat gets its slice of dy */
static int grad_concat(Ad *ad, int y, int dy) {
  const IrNode *n = &ad->g->nodes[y];
  int axis = (int)n->ia[0];
  int a = n->in[0], b = n->in[1];
  int64_t na = shp(ad, a)->d[axis];
  if (wants(ad, a)) {
    int64_t ia[4] = {axis, 0, na, 0};
    if (acc(ad, a, bnode(ad, IR_SLICE, &dy, 1, shp(ad, a), ia, 0)) < 0) return -1;
  }
  if (wants(ad, b)) {
    int64_t ia[4] = {axis, na, shp(ad, b)->d[axis], 0};
    if (acc(ad, b, bnode(ad, IR_SLICE, &dy, 1, shp(ad, b), ia, 0)) < 0) return -1;
  }
  return 0;
}

static int64_t reduced_count(const IrNode *y, const IrShape *xs) {
  return y->ia[0] < 0 ? ir_numel(xs) : xs->d[y->ia[0]];
}

static int grad_sum(Ad *ad, int y, int dy) {
  const IrNode *n = &ad->g->nodes[y];
  int64_t ia[4] = {n->ia[0], 0, 0, 0};
  int x = n->in[0];
  return acc(ad, x, bnode(ad, IR_BROADCAST, &dy, 1, shp(ad, x), ia, 1.0));
}

static int grad_mean(Ad *ad, int y, int dy) {
  const IrNode *n = &ad->g->nodes[y];
  int64_t ia[4] = {n->ia[0], 0, 0, 0};
  int x = n->in[0];
  double s = 1.0 / (double)reduced_count(n, shp(ad, x));
  return acc(ad, x, bnode(ad, IR_BROADCAST, &dy, 1, shp(ad, x), ia, s));
}

static int grad_expand(Ad *ad, int y, int dy) {
  const IrNode *n = &ad->g->nodes[y];
  int64_t ia[4];
  memcpy(ia, n->ia, sizeof ia);
  int x = n->in[0];
  return acc(ad, x, bnode(ad, IR_EXPAND_BWD, &dy, 1, shp(ad, x), ia, 0));
}

/* The fused lm-head + cross-entropy (passes/fuse_lm_head_ce.c) is the
 * loss, so its incoming gradient is the seed 1 and its forward already
 * wrote dx and dw into its scratch inputs: the contributions are views of
 * those, ordered after it (AFTER). Any other dy would be an internal error. */
static int grad_lm_head_ce(Ad *ad, int y, int dy) {
  const IrNode *n = &ad->g->nodes[y], *s = &ad->g->nodes[dy];
  int x = n->in[0], w = n->in[1], dxs = n->in[4], dws = n->in[5], frozen = n->ia[1] != 0;
  if (y != ad->g->loss || s->op != IR_FILL || s->fa[0] != 1.0) {
    diag_at(ad->d, DIAG_ERROR, n->span, "internal: the fused lm-head is not the loss");
    return -1;
  }
  if (wants(ad, w) && frozen) {
    diag_at(ad->d, DIAG_ERROR, n->span, "internal: the fused lm-head's weight was frozen");
    return -1;
  }
  IrShape xs = *shp(ad, x), ws = *shp(ad, dws);
  if (wants(ad, w) && acc(ad, w, b2(ad, IR_AFTER, dws, y, &ws)) < 0) return -1;
  if (wants(ad, x) && acc(ad, x, b2(ad, IR_AFTER, dxs, y, &xs)) < 0) return -1;
  return 0;
}

/* The fused attention (passes/flash_attention.c): one backward kernel
 * recomputes the probabilities tile by tile from the forward's log-sum-exp
 * (read through an AFTER view, so it runs after the forward wrote it) and
 * writes dq as its result and dk, dv into two scratch tensors, handed on as
 * AFTER views of them. The kernel always computes all three. Its tiles live
 * in a third scratch, the workspace (rt_attn_ws_layout's backward size). */
static int grad_flash_attention(Ad *ad, int y, int dy) {
  const IrNode *n = &ad->g->nodes[y];
  int q = n->in[0], k = n->in[1], v = n->in[2], lse = n->in[3];
  int64_t ia[4] = {n->ia[0], n->ia[1], n->ia[2], 0};
  double scale = n->fa[0];
  IrShape qs = *shp(ad, q), ks = *shp(ad, k), vs = *shp(ad, v), ls = *shp(ad, lse);
  const rt_attn_ws w =
      rt_attn_ws_layout(qs.d[0], qs.d[1], ks.d[1], ks.d[2], qs.d[3], ia[1], ia[2], 1);
  IrShape wss = {1, {w.total}};
  int la = b2(ad, IR_AFTER, lse, y, &ls);
  int dks = la < 0 ? -1 : bnode(ad, IR_SCRATCH, NULL, 0, &ks, NULL, 0);
  int dvs = dks < 0 ? -1 : bnode(ad, IR_SCRATCH, NULL, 0, &vs, NULL, 0);
  int wsn = dvs < 0 ? -1 : bnode(ad, IR_SCRATCH, NULL, 0, &wss, NULL, 0);
  if (wsn < 0) return -1;
  int in[9] = {dy, q, k, v, y, la, dks, dvs, wsn};
  int dq = bnode(ad, IR_FLASH_ATTENTION_BWD, in, 9, &qs, ia, scale);
  if (dq < 0) return -1;
  if (wants(ad, q) && acc(ad, q, dq) < 0) return -1;
  if (wants(ad, k) && acc(ad, k, b2(ad, IR_AFTER, dks, dq, &ks)) < 0) return -1;
  if (wants(ad, v) && acc(ad, v, b2(ad, IR_AFTER, dvs, dq, &vs)) < 0) return -1;
  return 0;
}

/* The rule table. Leaves and backward-only ops have none: a node reaching
 * one of those with a gradient is an internal error. */
static const GradFn grad_rules[IR_OP_COUNT] = {
    [IR_EMBEDDING] = grad_embedding, [IR_MATMUL] = grad_matmul,
    [IR_ADD] = grad_add,             [IR_SUB] = grad_sub,
    [IR_MUL] = grad_mul,             [IR_DIV] = grad_div,
    [IR_SCALE] = grad_scale,         [IR_LAYER_NORM] = grad_layer_norm,
    [IR_RMS_NORM] = grad_rms_norm,   [IR_GELU] = grad_gelu,
    [IR_SILU] = grad_silu,           [IR_SOFTMAX] = grad_softmax,
    [IR_CAUSAL_MASK] = grad_causal_mask, [IR_ROPE] = grad_rope,
    [IR_CROSS_ENTROPY] = grad_cross_entropy, [IR_RESHAPE] = grad_reshape,
    [IR_PERMUTE] = grad_permute,     [IR_SLICE] = grad_slice,
    [IR_CONCAT] = grad_concat,       [IR_SUM] = grad_sum,
    [IR_MEAN] = grad_mean,           [IR_EXPAND] = grad_expand,
    [IR_LM_HEAD_CE] = grad_lm_head_ce, [IR_FLASH_ATTENTION] = grad_flash_attention,
};

/* ---- driver ------------------------------------------------------------ */

/* need[x]: x depends on a trainable parameter AND the loss depends on x. */
static void mark_needed(const IrGraph *g, const int *order, int n, char *need) {
  char *from = calloc((size_t)g->n, 1), *to = calloc((size_t)g->n, 1);
  if (!from || !to) {
    free(from);
    free(to);
    return;
  }
  for (int k = 0; k < n; k++) {
    const IrNode *x = &g->nodes[order[k]];
    if (x->phase != IR_PHASE_FWD) continue;
    if (x->op == IR_PARAM && x->role == IR_ROLE_PARAM && x->trainable) from[order[k]] = 1;
    for (int i = 0; i < x->nin; i++)
      if (from[x->in[i]]) from[order[k]] = 1;
  }
  to[g->loss] = 1;
  for (int k = n - 1; k >= 0; k--) {
    const IrNode *x = &g->nodes[order[k]];
    if (!to[order[k]] || x->phase != IR_PHASE_FWD) continue;
    for (int i = 0; i < x->nin; i++) to[x->in[i]] = 1;
  }
  for (int i = 0; i < g->n; i++) need[i] = from[i] && to[i];
  free(from);
  free(to);
}

/* Is node c referenced by anything other than as the gradient of p? A
 * reader always comes after what it reads (ir_new takes existing inputs;
 * a fold appends an older gradient), so only nodes after c can read it:
 * during the rules c is new and that scan is short. finish_param asks
 * about every parameter, so it counts the readers once (ad->uses); the
 * nodes it appends read only gradients that are then shared anyway. */
static int shared_elsewhere(const Ad *ad, int c, int p) {
  const IrGraph *g = ad->g;
  int held = c < ad->ngref ? ad->gref[c] : 0;
  if (p >= 0 && p < ad->n0 && ad->grad[p] == c) held--;
  if (held > 0) return 1;
  if (ad->uses) return ad->uses[c] > 0;
  for (int i = c + 1; i < g->n; i++) {
    if (g->nodes[i].dead) continue;
    for (int k = 0; k < g->nodes[i].nin; k++)
      if (g->nodes[i].in[k] == c) return 1;
  }
  return 0;
}

static int finish_param(Ad *ad, int p) {
  IrGraph *g = ad->g;
  ad->cur = p;
  int c = ad->grad[p];
  if (c < 0) {
    /* a parameter the loss does not use: its gradient is zero */
    c = bnode(ad, IR_FILL, NULL, 0, shp(ad, p), NULL, 0.0);
  } else if (ir_ops[g->nodes[c].op].kind == OPK_VIEW || g->nodes[c].phase != IR_PHASE_BWD ||
             g->nodes[c].role == IR_ROLE_GRAD || shared_elsewhere(ad, c, p)) {
    /* the gradient must be a tensor of its own: it is persistent */
    c = bscale(ad, c, 1.0);
  }
  if (c < 0) return -1;
  IrNode *n = &g->nodes[c];
  n->role = IR_ROLE_GRAD;
  n->grad_of = p;
  if (g->nodes[p].name) {
    size_t len = strlen(g->nodes[p].name) + 8;
    char *buf = malloc(len);
    if (!buf) return -1;
    snprintf(buf, len, "grad.%s", g->nodes[p].name);
    const char *nm = ir_strdup(g, buf);
    free(buf);
    g->nodes[c].name = nm;
  }
  return 0;
}

int autodiff(IrGraph *g, Diag *d) {
  if (g->loss < 0 || g->loss >= g->n) return -1;
  int n = 0;
  int *order = sched_topo(g, &n, stderr);
  if (!order) return -1;
  int nfwd0 = g->n;
  Ad ad = {g, d, NULL, NULL, g->loss, nfwd0, 0, NULL, 0, NULL};
  ad.grad = malloc(sizeof(int) * (size_t)nfwd0);
  ad.need = calloc((size_t)nfwd0, 1);
  int rc = -1;
  if (!ad.grad || !ad.need) goto out;
  for (int i = 0; i < nfwd0; i++) ad.grad[i] = -1;
  mark_needed(g, order, n, ad.need);

  if (set_grad(&ad, g->loss, bnode(&ad, IR_FILL, NULL, 0, shp(&ad, g->loss), NULL, 1.0)) < 0 ||
      ad.grad[g->loss] < 0)
    goto out;
  for (int k = n - 1; k >= 0; k--) {
    int y = order[k];
    if (y >= nfwd0 || !ad.need[y] || ad.grad[y] < 0) continue;
    const IrNode *yn = &g->nodes[y];
    if (yn->phase != IR_PHASE_FWD || yn->op == IR_PARAM) continue;
    GradFn fn = grad_rules[yn->op];
    ad.cur = y;
    ad.rule0 = g->n;
    if (!fn) {
      diag_at(d, DIAG_ERROR, yn->span, "no gradient rule for op '%s'", ir_ops[yn->op].name);
      goto out;
    }
    if (fn(&ad, y, ad.grad[y]) < 0) goto out;
    if (g->nodes[ad.grad[y]].phase == IR_PHASE_BWD && g->nodes[ad.grad[y]].grad_of < 0)
      g->nodes[ad.grad[y]].grad_of = y;
  }
  ad.uses = calloc((size_t)g->n, sizeof(int));
  if (!ad.uses) goto out;
  for (int i = 0; i < g->n; i++)
    if (!g->nodes[i].dead)
      for (int k = 0; k < g->nodes[i].nin; k++) ad.uses[g->nodes[i].in[k]]++;
  for (int p = 0; p < nfwd0; p++) {
    const IrNode *pn = &g->nodes[p];
    if (pn->dead || pn->op != IR_PARAM || pn->role != IR_ROLE_PARAM || !pn->trainable) continue;
    if (finish_param(&ad, p) < 0) goto out;
  }
  rc = 0;
out:
  free(order);
  free(ad.grad);
  free(ad.need);
  free(ad.gref);
  free(ad.uses);
  return rc;
}

int ir_grad_of(const IrGraph *g, int param) {
  for (int i = 0; i < g->n; i++)
    if (!g->nodes[i].dead && g->nodes[i].role == IR_ROLE_GRAD && g->nodes[i].grad_of == param)
      return i;
  return -1;
}
