/* compiler/codegen/cg_cuda_fuse.c -- chains of elementwise ops as one
 * kernel: the intermediates stay in registers instead of going through
 * memory (e.g. attention's scale -> causal mask, a backward's chains of
 * adds and scales).
 *
 * One idea: an elementwise op is a statement on one running value `v` (its
 * input along the chain) plus loads of its other operands at the same
 * index (or i % width for a broadcast row), so a chain is those statements
 * in order between one load and one store. A node joins the chain of its
 * predecessor when it runs right after it, is its only reader, has the
 * same size and type, and the fused kernel's one store cannot overwrite
 * anything it still has to read (an operand region that overlaps the
 * output must BE the output, read at the same index first). The fused-away
 * nodes get no site; `devcheck` compares the chain's result at its last
 * node, the formulas are cg_cuda_elem.c's, so results are the same bits.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cg_cuda.h"

#define S(x) ((long long)(x))
#define MAXCHAIN 16
#define MAXOPS 16

static int fusible(IrOp op) {
  switch (op) {
  case IR_ADD:
  case IR_SUB:
  case IR_MUL:
  case IR_DIV:
  case IR_SCALE:
  case IR_GELU:
  case IR_SILU:
  case IR_GELU_BWD:
  case IR_SILU_BWD:
  case IR_CAUSAL_MASK:
    return 1;
  default:
    return 0;
  }
}

/* the chain operand of `id` given that `prev` feeds it: 0 or 1, -1 = no */
static int chain_slot(const IrGraph *g, int id, int prev) {
  const IrNode *n = &g->nodes[id];
  if (n->in[0] == prev && (n->nin < 2 || n->in[1] != prev)) return 0;
  /* v as the second operand: only a full-size first operand */
  if (n->nin == 2 && n->in[1] == prev && n->in[0] != prev &&
      (n->op == IR_ADD || n->op == IR_SUB || n->op == IR_MUL || n->op == IR_DIV) &&
      ir_numel(&g->nodes[n->in[0]].shape) == ir_numel(&n->shape))
    return 1;
  return -1;
}

static int readers(const IrGraph *g, int id) {
  int r = 0;
  for (int i = 0; i < g->n; i++)
    if (!g->nodes[i].dead)
      for (int k = 0; k < g->nodes[i].nin; k++) r += g->nodes[i].in[k] == id;
  return r;
}

static int overlaps(int64_t a, int64_t an, int64_t b, int64_t bn) {
  return a < b + bn && b < a + an;
}

/* Every operand a chain ending at `last` reads (its first node's input and
 * the others' second operands): none may overlap the output unless it is
 * exactly it (then it is read at the same index before the store). */
static int safe_store(const Cu *c, const int *chain, int len) {
  const IrGraph *g = c->g;
  const int last = chain[len - 1];
  const int64_t yo = c->p->offset[last], yb = ir_numel(&g->nodes[last].shape) * cu_esz(c);
  for (int j = 0; j < len; j++) {
    const IrNode *n = &g->nodes[chain[j]];
    for (int k = 0; k < n->nin; k++) {
      const int in = n->in[k];
      if (j > 0 && in == chain[j - 1]) continue; /* the register */
      const int64_t o = c->p->offset[in], b = ir_numel(&g->nodes[in].shape) * cu_esz(c);
      if (g->nodes[in].dtype == IR_I32) continue;
      if (overlaps(o, b, yo, yb) && !(o == yo && b == yb)) return 0;
    }
  }
  return 1;
}

int cu_plan_chains(Cu *c) {
  const IrGraph *g = c->g;
  const Plan *p = c->p;
  if (getenv("FTC_NO_FUSE_ELEMENTWISE")) return 0; /* A/B checks */
  /* an add that absorbed its product runs the product (cu_plan_epilogues) */
  unsigned char *gemm_add = calloc((size_t)g->n + 1, 1);
  if (!gemm_add) return -1;
  for (int i = 0; i < g->n; i++)
    if (c->add_of[i] >= 0) gemm_add[c->add_of[i]] = 1;
  for (int k = 1; k < p->norder; k++) {
    const int id = p->order[k], prev = p->order[k - 1];
    const IrNode *n = &g->nodes[id], *q = &g->nodes[prev];
    if (!fusible(n->op) || !fusible(q->op) || c->skip[prev] || c->skip[id] || gemm_add[prev] ||
        gemm_add[id])
      continue;
    if (q->dtype != n->dtype || ir_numel(&q->shape) != ir_numel(&n->shape)) continue;
    if (prev == g->logits || prev == g->loss || q->role == IR_ROLE_GRAD) continue;
    if (chain_slot(g, id, prev) < 0 || readers(g, prev) != 1) continue;
    /* the chain so far ending at prev, plus id */
    int chain[MAXCHAIN], len = 0;
    for (int j = prev; j >= 0 && len < MAXCHAIN - 1; j = c->chain_prev[j]) chain[len++] = j;
    if (len >= MAXCHAIN - 1) continue;
    for (int a = 0, b = len - 1; a < b; a++, b--) {
      int t = chain[a];
      chain[a] = chain[b];
      chain[b] = t;
    }
    chain[len++] = id;
    if (!safe_store(c, chain, len)) continue;
    c->chain_prev[id] = prev;
    c->skip[prev] = 1;
  }
  free(gemm_add);
  return 0;
}

/* One stage: the statement on v, its extra operand (or none). */
typedef struct Stage {
  char *stmt;
  int64_t other; /* arena offset of the other operand, -1 */
  int64_t nb;    /* its element count (broadcast width) */
} Stage;

static char *stage(Cu *c, int id, int slot, Stage *st, int k) {
  const IrNode *n = &c->g->nodes[id];
  char d1[64];
  st->other = -1;
  st->nb = 0;
  const char *op = n->op == IR_ADD ? "+" : n->op == IR_SUB ? "-" : n->op == IR_MUL ? "*" : "/";
  switch (n->op) {
  case IR_ADD:
  case IR_SUB:
  case IR_MUL:
  case IR_DIV: {
    const int o = n->in[1 - slot];
    st->other = cu_off(c, o);
    st->nb = cu_numel(c, o);
    const int64_t N = cu_numel(c, id);
    char idx[64];
    if (st->nb == N)
      snprintf(idx, sizeof idx, "i");
    else if (st->nb == 1)
      snprintf(idx, sizeof idx, "0");
    else
      snprintf(idx, sizeof idx, "i %% %lld", S(st->nb));
    char fmtd[96];
    snprintf(fmtd, sizeof fmtd, "%s", idx);
    return slot == 0 ? cu_str(c, "    v = v %s o%d[%s]; /* %s */\n", op, k, fmtd, ir_ops[n->op].name)
                     : cu_str(c, "    v = o%d[%s] %s v; /* %s */\n", k, fmtd, op, ir_ops[n->op].name);
  }
  case IR_SCALE:
    return cu_str(c, "    v = v * ($T)(%s); /* scale */\n",
                  isinf(n->fa[0]) ? (n->fa[0] < 0 ? "$NINF" : "-$NINF")
                                  : cu_dbl(n->fa[0], d1, sizeof d1));
  case IR_GELU:
    return cu_str(c,
                  "    { /* gelu */\n"
                  "      const $T k0 = ($T)0.7978845608028654, k1 = ($T)0.044715;\n"
                  "      const $T u = k0 * (v + k1 * v * v * v);\n"
                  "      v = v / (($T)1 + $EXP(($T)-2 * u));\n"
                  "    }\n");
  case IR_SILU:
    return cu_str(c, "    v = v / (($T)1 + $EXP(-v)); /* silu */\n");
  case IR_GELU_BWD:
    st->other = cu_off(c, n->in[1]);
    st->nb = cu_numel(c, id);
    return cu_str(c,
                  "    { /* gelu_bwd: v is dy */\n"
                  "      const $T k0 = ($T)0.7978845608028654, k1 = ($T)0.044715, x = o%d[i];\n"
                  "      const $T s = ($T)1 / (($T)1 + $EXP(($T)-2 * k0 * (x + k1 * x * x * x)));\n"
                  "      const $T du = k0 * (($T)1 + ($T)3 * k1 * x * x);\n"
                  "      v = v * (s + ($T)2 * x * s * (($T)1 - s) * du);\n"
                  "    }\n",
                  k);
  case IR_SILU_BWD:
    st->other = cu_off(c, n->in[1]);
    st->nb = cu_numel(c, id);
    return cu_str(c,
                  "    { /* silu_bwd: v is dy */\n"
                  "      const $T x = o%d[i], s = ($T)1 / (($T)1 + $EXP(-x));\n"
                  "      v = v * (s * (($T)1 + x * (($T)1 - s)));\n"
                  "    }\n",
                  k);
  case IR_CAUSAL_MASK: {
    const IrShape *y = &n->shape;
    const int64_t Tq = y->d[y->rank - 2], Tk = y->d[y->rank - 1];
    /* no INFINITY in NVRTC's world: the element type's -inf */
    const char *fill =
        isinf(n->fa[0]) ? (n->fa[0] < 0 ? "$NINF" : "-$NINF") : cu_dbl(n->fa[0], d1, sizeof d1);
    return cu_str(c,
                  "    { /* causal_mask */\n"
                  "      const i64 r = i / %lld, j = i %% %lld;\n"
                  "      const i64 keep = FTC_MIN(FTC_MAX(%lld + r %% %lld + 1, 0), %lld);\n"
                  "      if (j >= keep) v = ($T)(%s);\n"
                  "    }\n",
                  S(Tk), S(Tk), S(Tk - Tq), S(Tq), S(Tk), fill);
  }
  default:
    return NULL;
  }
}

static uint64_t fnv(const char *s, uint64_t h) {
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

int cu_emit_chain(Cu *c, int last) {
  const IrGraph *g = c->g;
  int chain[MAXCHAIN] = {0}, len = 0;
  for (int j = last; j >= 0 && len < MAXCHAIN; j = c->chain_prev[j]) chain[len++] = j;
  for (int a = 0, b = len - 1; a < b; a++, b--) {
    int t = chain[a];
    chain[a] = chain[b];
    chain[b] = t;
  }
  const int first = chain[0];
  const int64_t N = cu_numel(c, last);
  char *stmts = cu_str(c, "%s", ""), *params = cu_str(c, "$T *y, const $T *x"), *args = NULL;
  char name[160];
  int nop = 0;
  size_t nl = (size_t)snprintf(name, sizeof name, "chain");
  args = cu_str(c, "D(%lld), D(%lld)", S(cu_off(c, last)), S(cu_off(c, g->nodes[first].in[0])));
  for (int j = 0; j < len && stmts && params && args; j++) {
    const int id = chain[j];
    const int slot = j == 0 ? 0 : g->nodes[id].in[0] == chain[j - 1] ? 0 : 1;
    Stage st;
    char *s = stage(c, id, slot, &st, nop);
    if (!s) {
      c->err = 1;
      break;
    }
    char *ns = cu_str(c, "%s%s", stmts, s);
    free(s);
    free(stmts);
    stmts = ns;
    if (st.other >= 0) {
      char *np = cu_str(c, "%s, const $T *o%d", params, nop);
      char *na = cu_str(c, "%s, D(%lld)", args, S(st.other));
      free(params);
      free(args);
      params = np;
      args = na;
      nop++;
    }
    if (nl < sizeof name - 1)
      nl += (size_t)snprintf(name + nl, sizeof name - nl, "_%s", ir_ops[g->nodes[id].op].name);
  }
  int k = -1;
  if (stmts && params && args && !c->err) {
    char *p2 = cu_str(c, "%s, i64 n", params);
    char *body = cu_str(c, "    $T v = x[i];\n%s    y[i] = v;", stmts);
    char *a2 = cu_str(c, "%s, %lld", args, S(N));
    /* the constants and broadcast widths are in the text: name it by it */
    if (nl < sizeof name - 24)
      snprintf(name + nl, sizeof name - nl, "_%08llx_%s",
               (unsigned long long)(fnv(body ? body : "", 1469598103934665603ULL) & 0xffffffffULL),
               c->f64 ? "f64" : "f32");
    if (p2 && body && a2)
      k = cu_map(c, name, "a chain of elementwise ops, fused: the intermediates stay in v", p2,
                 body, N, a2);
    free(p2);
    free(body);
    free(a2);
  }
  free(stmts);
  free(params);
  free(args);
  return k < 0 || c->err ? -1 : 0;
}
