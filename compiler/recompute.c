/* compiler/recompute.c -- recomputation in the backward: the mechanism
 * behind activation checkpointing (passes/checkpoint.c) and any other
 * rewrite that trades a kept forward tensor for computing it again.
 *
 * One idea: a forward tensor the backward reads is "kept" only because a
 * backward node names it as an input. Give the backward its own copy of
 * the computation instead -- a clone of the node, in the backward phase,
 * whose inputs are clones too where they are dropped and the originals
 * where they are kept -- and the original's last reader is in the forward,
 * so the planner frees it there. Clones are placed (by renumbering the
 * graph) right before the first backward node that reads them; the
 * scheduler runs a graph in id order within a phase, so each is computed
 * just in time and dies after its last backward reader. Kernels are
 * deterministic, so a clone's values equal the original's bit for bit and
 * gradients do not change.
 *
 * Scratch inputs (a workspace the op writes, read later through an AFTER
 * view: flash attention's log-sum-exp) travel with their writer: a cloned
 * writer gets a fresh scratch, and backward readers of the old one read the
 * clone's. Views are cloned when what they alias is.
 */
#include <stdlib.h>
#include <string.h>
#include "back.h"

typedef struct Rc {
  IrGraph *g;
  Diag *d;
  int n0;           /* nodes before the rewrite: the maps cover ids < n0 */
  const char *drop; /* per node: not kept for the backward */
  signed char *need;/* memo of needs(): -1 unknown, 0, 1 */
  int *copy;        /* per node: its clone in the backward, or -1 */
  int made;
} Rc;

static int is_view(const IrGraph *g, int id) { return ir_ops[g->nodes[id].op].kind == OPK_VIEW; }

/* Must a backward reader of `id` read a clone? When id is a dropped forward
 * tensor, or a view of one. Leaves and scratch are never dropped by
 * themselves. */
static int needs(Rc *r, int id) {
  if (id >= r->n0) return 0;
  if (r->need[id] >= 0) return r->need[id];
  const IrNode *n = &r->g->nodes[id];
  int v = 0;
  if (!n->dead && n->phase == IR_PHASE_FWD && ir_ops[n->op].kind != OPK_LEAF &&
      n->op != IR_SCRATCH && id != r->g->loss && id != r->g->logits) {
    v = r->drop[id] != 0;
    if (!v && is_view(r->g, id) && n->nin > 0) v = needs(r, n->in[0]);
  }
  r->need[id] = (signed char)v;
  return v;
}

static int clone(Rc *r, int y);

/* The backward's version of input s: a clone, the scratch of a cloned
 * writer, or s itself. */
static int mapped(Rc *r, int s) {
  if (s < r->n0 && r->g->nodes[s].op == IR_SCRATCH) return r->copy[s] >= 0 ? r->copy[s] : s;
  return needs(r, s) ? clone(r, s) : s;
}

static int clone(Rc *r, int y) {
  if (r->copy[y] >= 0) return r->copy[y];
  IrGraph *g = r->g;
  int in[IR_MAXIN], nin = g->nodes[y].nin;
  memcpy(in, g->nodes[y].in, sizeof in);
  /* operands first (they may be clones themselves), then the writer's
   * scratch inputs, fresh */
  for (int k = 0; k < nin; k++) {
    if (g->nodes[in[k]].op == IR_SCRATCH) continue;
    in[k] = mapped(r, in[k]);
    if (in[k] < 0) return -1;
  }
  for (int k = 0; k < nin; k++) {
    int s = in[k];
    if (g->nodes[s].op != IR_SCRATCH || s >= r->n0) continue;
    if (r->copy[s] < 0) {
      int c = ir_new(g, IR_SCRATCH, NULL, 0, g->nodes[s].span);
      IrNode keep = g->nodes[s];
      g->nodes[c] = keep;
      g->nodes[c].phase = IR_PHASE_BWD;
      r->copy[s] = c;
      r->made++;
    }
    in[k] = r->copy[s];
  }
  int c = ir_new(g, g->nodes[y].op, in, nin, g->nodes[y].span);
  IrNode n = g->nodes[y];
  memcpy(n.in, in, sizeof n.in);
  n.phase = IR_PHASE_BWD;
  n.role = IR_ROLE_ACT;
  n.grad_of = -1;
  /* scheduled next to a producer (sched.c): only next to its own clone */
  if (n.follows >= 0) n.follows = n.follows < r->n0 ? r->copy[n.follows] : -1;
  if (n.name) {
    size_t len = strlen(n.name) + 16;
    char *buf = malloc(len);
    if (!buf) return -1;
    snprintf(buf, len, "recompute.%s", n.name);
    n.name = ir_strdup(g, buf);
    free(buf);
  } else {
    n.name = "recompute";
  }
  g->nodes[c] = n;
  r->copy[y] = c;
  r->made++;
  return c;
}

/* Depth-first placement: a clone right before the first node reading it. */
static void place(const IrGraph *g, int id, char *placed, int *order, int *k) {
  if (placed[id]) return;
  placed[id] = 1;
  const IrNode *n = &g->nodes[id];
  for (int i = 0; i < n->nin; i++) place(g, n->in[i], placed, order, k);
  order[(*k)++] = id;
}

int recompute(IrGraph *g, const char *drop, Diag *d) {
  Rc r = {g, d, g->n, drop, NULL, NULL, 0};
  r.need = malloc((size_t)g->n + 1);
  r.copy = malloc(sizeof(int) * ((size_t)g->n + 1));
  int rc = -1;
  char *placed = NULL;
  int *order = NULL;
  if (!r.need || !r.copy) goto out;
  memset(r.need, -1, (size_t)g->n + 1);
  for (int i = 0; i < r.n0; i++) r.copy[i] = -1;
  /* backward readers in id order: autodiff appended the last layer's
   * backward first, so its clones are made (and numbered) first */
  for (int b = 0; b < r.n0; b++) {
    if (g->nodes[b].dead || g->nodes[b].phase != IR_PHASE_BWD) continue;
    int nin = g->nodes[b].nin;
    for (int pass = 0; pass < 2; pass++) /* operands, then scratch */
      for (int k = 0; k < nin; k++) {
        int s = g->nodes[b].in[k];
        if ((g->nodes[s].op == IR_SCRATCH) != pass) continue;
        int m = mapped(&r, s);
        if (m < 0) goto out;
        g->nodes[b].in[k] = m;
      }
  }
  if (r.made == 0) {
    rc = 0;
    goto out;
  }
  placed = calloc((size_t)g->n + 1, 1);
  order = malloc(sizeof(int) * ((size_t)g->n + 1));
  if (!placed || !order) goto out;
  int k = 0;
  for (int i = 0; i < r.n0; i++) place(g, i, placed, order, &k);
  if (k != g->n || ir_permute_nodes(g, order) != 0) {
    diag_at(d, DIAG_ERROR, g->nodes[0].span, "internal: recompute left an unplaced node");
    goto out;
  }
  rc = r.made;
out:
  free(r.need);
  free(r.copy);
  free(placed);
  free(order);
  return rc;
}

int64_t recompute_kept_bytes(const IrGraph *g) {
  char *kept = calloc((size_t)g->n + 1, 1);
  if (!kept) return -1;
  for (int b = 0; b < g->n; b++) {
    const IrNode *n = &g->nodes[b];
    if (n->dead || n->phase != IR_PHASE_BWD) continue;
    for (int k = 0; k < n->nin; k++) kept[back_view_base(g, n->in[k])] = 1;
  }
  int64_t sum = 0;
  for (int i = 0; i < g->n; i++) {
    const IrNode *n = &g->nodes[i];
    if (kept[i] && !n->dead && n->phase == IR_PHASE_FWD && ir_ops[n->op].kind != OPK_LEAF &&
        !is_view(g, i))
      sum += ir_numel(&n->shape) * ir_dtype_size(n->dtype);
  }
  free(kept);
  return sum;
}
