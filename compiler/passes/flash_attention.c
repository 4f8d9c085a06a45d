/* compiler/passes/flash_attention.c -- tiled online-softmax attention
 * [Dao 2023, FlashAttention-2].
 *
 * One idea: elaboration tags the nodes of every attention (composite
 * "attention", one group id each), so the pass can find the whole
 * subgraph
 *   out = permute(matmul(softmax([causal_mask](scale(matmul(
 *           permute(q), [expand](permute(k)))^T))), [expand](permute(v))))
 * and replace it by ONE node, FLASH_ATTENTION(q, k, v, lse, ws), that reads q,
 * k and v in their [B, T, heads, D] layout and writes `out`'s [B, T, H, D]
 * directly: no permutes, no expanded kv heads, and no [B, H, T, T] scores
 * or probabilities, in the forward or (autodiff.c, FLASH_ATTENTION_BWD) in
 * the backward. The only thing saved for the backward besides q, k, v and
 * out is each row's log-sum-exp, a [B, H, T] scratch the kernel fills. The
 * kernel's tiles live in a planned workspace (ws, a scratch sized by
 * rt_attn_ws_layout for `threads` threads), never on a thread's stack.
 *
 * The rewrite is in place: the final permute's node becomes the fused node
 * (so its id, name and readers stay), the q permute's node, which comes
 * earlier, becomes the log-sum-exp scratch and the k permute's the
 * workspace; the rest of the group is marked dead. Node ids thus stay in
 * dependency order. A group whose shape is not
 * exactly the composite's (another pass changed it, or something outside
 * reads the scores or probabilities) is left unfused with a warning at the
 * attention's span; the result is the same either way.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../pass.h"
#include "../../runtime/kernels.h" /* the kernel's limits and workspace layout */

typedef struct Att {
  int q, k, v;   /* the composite's inputs, [B, T, heads, D] */
  int out;       /* its final permute: becomes the fused node */
  int slot;      /* the q permute: becomes the log-sum-exp scratch */
  int wslot;     /* the k permute: becomes the workspace */
  int causal;
  double scale;
  int dead[10];  /* the other nodes of the composite */
  int ndead;
  const char *why; /* why a group did not match */
} Att;

static int in_group(const IrGraph *g, int id, int grp) {
  const IrNode *n = &g->nodes[id];
  return !n->dead && n->group == grp && n->composite && !strcmp(n->composite, "attention");
}

/* [B, H, T, D] <-> [B, T, H, D] */
static int is_swap12(const IrNode *n) {
  return n->op == IR_PERMUTE && n->shape.rank == 4 && n->perm[0] == 0 && n->perm[1] == 2 &&
         n->perm[2] == 1 && n->perm[3] == 3;
}

/* An interior node of group grp: live, tagged, read by exactly one node. */
static int interior(const IrGraph *g, const int *users, int id, int grp, IrOp op, Att *a) {
  if (!in_group(g, id, grp) || g->nodes[id].op != op) return 0;
  if (users[id] != 1 || id == g->loss || id == g->logits) {
    a->why = "something outside the attention reads its intermediate tensors";
    return 0;
  }
  if (a->ndead < (int)(sizeof a->dead / sizeof a->dead[0])) a->dead[a->ndead++] = id;
  return 1;
}

/* permute(x) or expand(permute(x)) along heads: x, the repeats and the
 * permute's id. */
static int kv_input(const IrGraph *g, const int *users, int id, int grp, Att *a, int64_t *reps,
                    int *perm) {
  *reps = 1;
  if (in_group(g, id, grp) && g->nodes[id].op == IR_EXPAND) {
    const IrNode *e = &g->nodes[id];
    if (e->ia[0] != 1 || !interior(g, users, id, grp, IR_EXPAND, a)) return -1;
    *reps = e->ia[1];
    id = e->in[0];
  }
  if (!interior(g, users, id, grp, IR_PERMUTE, a) || !is_swap12(&g->nodes[id])) return -1;
  *perm = id;
  return g->nodes[id].in[0];
}

static int is_fp(IrDtype t) { return t == IR_F32 || t == IR_F64; }

/* Matches the composite whose final node is `out`; 1 on success. */
static int match(const IrGraph *g, const int *users, int out, Att *a) {
  const IrNode *n = &g->nodes[out];
  int grp = n->group;
  memset(a, 0, sizeof *a);
  a->out = out;
  a->why = "its nodes are not the attention composite's";
  if (!is_swap12(n)) return 0;
  int ctx = n->in[0];
  if (!interior(g, users, ctx, grp, IR_MATMUL, a)) return 0;
  const IrNode *cm = &g->nodes[ctx];
  if (cm->nin != 2 || cm->ia[0] || cm->ia[1] || (cm->ia[2] && cm->ia[2] != IR_TRI_A)) return 0;
  int x = cm->in[0];
  if (!interior(g, users, x, grp, IR_SOFTMAX, a)) return 0;
  x = g->nodes[x].in[0];
  if (in_group(g, x, grp) && g->nodes[x].op == IR_CAUSAL_MASK) {
    double fill = g->nodes[x].fa[0];
    if (!isinf(fill) || fill > 0 || !interior(g, users, x, grp, IR_CAUSAL_MASK, a)) return 0;
    a->causal = 1;
    x = g->nodes[x].in[0];
  }
  if (!interior(g, users, x, grp, IR_SCALE, a)) return 0;
  a->scale = g->nodes[x].fa[0];
  int sc = g->nodes[x].in[0];
  if (!interior(g, users, sc, grp, IR_MATMUL, a)) return 0;
  const IrNode *sm = &g->nodes[sc];
  if (sm->nin != 2 || sm->ia[0] || !sm->ia[1] || (sm->ia[2] && sm->ia[2] != IR_TRI_OUT)) return 0;
  /* the causal structure flags are exact only under the causal mask */
  if ((sm->ia[2] || cm->ia[2]) && !a->causal) return 0;
  int qq = sm->in[0];
  if (!interior(g, users, qq, grp, IR_PERMUTE, a) || !is_swap12(&g->nodes[qq])) return 0;
  a->ndead--; /* qq is kept: it becomes the scratch */
  a->slot = qq;
  a->q = g->nodes[qq].in[0];
  int64_t rk, rv;
  int vperm;
  a->k = kv_input(g, users, sm->in[1], grp, a, &rk, &a->wslot);
  a->v = a->k < 0 ? -1 : kv_input(g, users, cm->in[1], grp, a, &rv, &vperm);
  if (a->v < 0 || rk != rv) return 0;
  for (int i = 0; i < a->ndead; i++) /* the k permute is kept: it becomes the workspace */
    if (a->dead[i] == a->wslot) a->dead[i] = a->dead[--a->ndead];
  const IrNode *qn = &g->nodes[a->q], *kn = &g->nodes[a->k], *vn = &g->nodes[a->v];
  if (qn->shape.rank != 4 || kn->shape.rank != 4 || kn->shape.d[2] * rk != qn->shape.d[2] ||
      !is_fp(qn->dtype) || kn->dtype != qn->dtype || vn->dtype != qn->dtype ||
      n->dtype != qn->dtype)
    return 0;
  return 1;
}

/* Node id becomes a SCRATCH of `shape`, named like `out` with its last
 * part replaced ("h.0.attn.attention.out" -> "h.0.attn.attention.lse"). */
static int make_scratch(IrGraph *g, Diag *d, int id, IrShape shape, IrDtype t, int out,
                        const char *part) {
  IrNode *s = &g->nodes[id];
  const char *name = g->nodes[out].name;
  s->op = IR_SCRATCH;
  s->nin = 0;
  s->shape = shape;
  s->dtype = t;
  for (int i = 0; i < IR_MAXRANK; i++) s->perm[i] = i;
  if (name) {
    const char *dot = strrchr(name, '.');
    size_t len = dot ? (size_t)(dot - name) + 1 : 0, plen = strlen(part) + 1;
    char *buf = malloc(len + plen);
    if (!buf) return -1;
    memcpy(buf, name, len);
    memcpy(buf + len, part, plen);
    s->name = ir_strdup(g, buf);
    free(buf);
  }
  return ir_infer(g, d, id);
}

/* The rewrite (see the file comment). Returns 0, or -1 after an error. */
static int fuse(IrGraph *g, Diag *d, const Att *a, int64_t block, int64_t threads) {
  const IrShape qs = g->nodes[a->q].shape, ks = g->nodes[a->k].shape;
  const IrDtype t = g->nodes[a->q].dtype;
  const rt_attn_ws w =
      rt_attn_ws_layout(qs.d[0], qs.d[1], ks.d[1], ks.d[2], qs.d[3], block, threads, 0);
  if (make_scratch(g, d, a->slot, (IrShape){3, {qs.d[0], qs.d[2], qs.d[1]}}, t, a->out, "lse") < 0 ||
      make_scratch(g, d, a->wslot, (IrShape){1, {w.total}}, t, a->out, "ws") < 0)
    return -1;
  for (int i = 0; i < a->ndead; i++) ir_kill(g, a->dead[i]);
  IrNode *o = &g->nodes[a->out];
  o->op = IR_FLASH_ATTENTION;
  o->nin = 5;
  o->in[0] = a->q;
  o->in[1] = a->k;
  o->in[2] = a->v;
  o->in[3] = a->slot;
  o->in[4] = a->wslot;
  memset(o->ia, 0, sizeof o->ia);
  o->ia[0] = a->causal;
  o->ia[1] = block;
  o->ia[2] = threads;
  o->fa[0] = a->scale;
  for (int i = 0; i < IR_MAXRANK; i++) o->perm[i] = i;
  return ir_infer(g, d, a->out);
}

/* Fuses every attention group it recognizes; returns how many, or -1. */
static int fuse_all(IrGraph *g, Diag *d, int64_t block, int64_t threads, Span where) {
  int *users = calloc((size_t)g->n + 1, sizeof(int));
  if (!users) return -1;
  for (int i = 0; i < g->n; i++) {
    if (g->nodes[i].dead) continue;
    for (int j = 0; j < g->nodes[i].nin; j++) users[g->nodes[i].in[j]]++;
  }
  /* a group's sink is the one tagged node no other node of its group
   * reads: one walk marks the read ones and counts each group's sinks (the
   * last one found is the sink when there is only one) */
  int *sink = malloc(sizeof(int) * ((size_t)g->ngroups + 1)),
      *nsinks = calloc((size_t)g->ngroups + 1, sizeof(int));
  char *read = calloc((size_t)g->n + 1, 1);
  if (!sink || !nsinks || !read) {
    free(users), free(sink), free(nsinks), free(read);
    return -1;
  }
  for (int j = 0; j < g->n; j++) {
    int grp = g->nodes[j].group;
    if (grp < 0 || !in_group(g, j, grp)) continue;
    for (int k = 0; k < g->nodes[j].nin; k++)
      if (in_group(g, g->nodes[j].in[k], grp)) read[g->nodes[j].in[k]] = 1;
  }
  for (int i = 0; i < g->n; i++) {
    int grp = g->nodes[i].group;
    if (grp < 0 || !in_group(g, i, grp) || read[i]) continue;
    sink[grp] = i;
    nsinks[grp]++;
  }
  int fused = 0, seen = 0, rc = 0;
  for (int grp = 0; grp < g->ngroups && rc == 0; grp++) {
    int out = nsinks[grp] ? sink[grp] : -1, nsink = nsinks[grp];
    if (out < 0) continue; /* not an attention group */
    seen++;
    Att a;
    if (nsink != 1 || !match(g, users, out, &a)) {
      diag_at(d, DIAG_WARNING, g->nodes[out].span,
              "flash_attention: this attention is left unfused: %s",
              nsink != 1 ? "its nodes are not the attention composite's" : a.why);
      continue;
    }
    if (fuse(g, d, &a, block, threads) < 0) rc = -1;
    else fused++;
  }
  free(users), free(sink), free(nsinks), free(read);
  if (rc == 0 && seen == 0)
    diag_at(d, DIAG_WARNING, where, "flash_attention: the model has no attention to fuse");
  return rc < 0 ? -1 : fused;
}

static int run(IrGraph *g, const PassArgs *a, Diag *d) {
  int64_t block = pass_int(a, "block"), threads = pass_int(a, "threads");
  if (block < 1 || block > RT_ATTN_MAXBLK) {
    diag_at(d, DIAG_ERROR, pass_span(a),
            "flash_attention: block must be between 1 and %d, not %lld", RT_ATTN_MAXBLK,
            (long long)block);
    return -1;
  }
  if (threads < 1 || threads > RT_ATTN_MAXTHREADS) {
    diag_at(d, DIAG_ERROR, pass_span(a),
            "flash_attention: threads must be between 1 and %d, not %lld", RT_ATTN_MAXTHREADS,
            (long long)threads);
    return -1;
  }
  return fuse_all(g, d, block, threads, pass_span(a)) < 0 ? -1 : 0;
}

static const PassParam params[] = {
    {"block", PP_INT, "64", "tile edge: queries and keys per tile (1..128)", NULL},
    {"threads", PP_INT, "8",
     "threads that get their own tiles in the planned workspace (1..1024); a trainer run with "
     "more threads runs attention on this many",
     NULL},
    {0}};

const Pass pass_flash_attention = {
    .name = "flash_attention",
    .doc = "Replaces each attention subgraph (permutes, grouped-query expand, scores, scale, "
           "causal mask, softmax, context) with one fused node: a tiled, online-softmax kernel "
           "that reads q, k, v in their [B, T, heads, D] layout, and a FlashAttention-2 backward "
           "that recomputes the probabilities from each row's saved log-sum-exp. No T x T "
           "matrix is kept in memory, and the tiles live in a planned workspace; the loss is "
           "the same up to rounding.",
    .params = params,
    .stage = IR_PHASE_FWD,
    .run = run,
};
