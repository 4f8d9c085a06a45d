/* compiler/plan/plan.c -- the static memory plan: one arena, an offset for every
 * tensor of the training step.
 *
 * One idea: shapes are static, so every tensor's lifetime is an interval of
 * schedule positions known at compile time. Persistent tensors (params,
 * grads, optimizer state, inputs) are laid out first, back to back; the rest
 * are placed by a deterministic best-fit allocator (fit.c) walking the schedule,
 * allocating a tensor when it is defined and returning its block after its
 * last use (a view's uses count as uses of what it aliases). An elementwise
 * op whose first input dies at that op writes over that input (in place).
 * The arena is as large as the highest byte ever placed.
 */
#include <stdlib.h>
#include <string.h>
#include "../back.h"
#include "fit.h"

#define ALIGN 64
static int64_t align_up(int64_t x) { return (x + ALIGN - 1) / ALIGN * ALIGN; }

int plan_state_slots(const Recipe *r) {
  switch (r->opt) {
  case OPT_ADAMW: return 2;
  case OPT_ADAGRAD: return 1;
  case OPT_SGD: return r->momentum != 0.0 ? 1 : 0;
  }
  return 0;
}

/* zero(stage: 2) makes gradients temporaries: each dies once its
 * reduce-scatter is waited for; stage 3 keeps parameters only as the
 * runtime's slices, read through gathered temporaries (passes/zero.c) */
static int is_persistent(const IrGraph *g, const IrNode *n) {
  if ((n->op == IR_PARAM || n->role == IR_ROLE_PARAM) && g->zero_stage >= 3) return 0;
  return n->op == IR_PARAM || n->op == IR_INPUT || n->role == IR_ROLE_PARAM ||
         (n->role == IR_ROLE_GRAD && g->zero_stage < 2) || n->role == IR_ROLE_INPUT ||
         n->role == IR_ROLE_OPTSTATE;
}

/* ---- the plan ----------------------------------------------------------- */

void plan_free(Plan *p) {
  if (!p) return;
  free(p->order);
  free(p->offset);
  free(p->bytes);
  free(p->state_off);
  free(p->first);
  free(p->last);
  free(p->inplace_of);
  free(p);
}

/* The input an op may overwrite (kernels.h: "in place ok"), or -1. An
 * accumulating op (ir_op_accumulates) adds into its last input in place. */
static int inplace_input(const IrNode *n) {
  IrOp op = n->op;
  if (ir_op_accumulates(op) && n->nin == ir_ops[op].arity + 1) return n->nin - 1;
  switch (op) {
  case IR_ADD: case IR_SUB: case IR_MUL: case IR_DIV: case IR_SCALE:
  case IR_CAUSAL_MASK: case IR_GELU: case IR_SILU: case IR_SOFTMAX: case IR_ROPE:
  case IR_GELU_BWD: case IR_SILU_BWD: case IR_SOFTMAX_BWD:
    return 0;
  case IR_CROSS_ENTROPY_BWD:
    return 1; /* dlogits over logits */
  default:
    return -1;
  }
}

static PlanCat category(const IrGraph *g, const Plan *p, int id) {
  const IrNode *n = &g->nodes[id];
  if (n->role == IR_ROLE_GRAD) return PLAN_GRADS;
  if (n->op == IR_PARAM_GATHER) return PLAN_PARAMS;
  if (n->op == IR_PARAM || n->role == IR_ROLE_PARAM) return PLAN_PARAMS;
  if (n->op == IR_INPUT || n->role == IR_ROLE_INPUT) return PLAN_INPUTS;
  if (n->role == IR_ROLE_OPTSTATE) return PLAN_OPTSTATE;
  if (n->phase == IR_PHASE_FWD && p->last[id] >= p->nfwd) return PLAN_ACTIVATIONS;
  return PLAN_TEMPS;
}

/* Re-places the walk's temporaries with plan_pack; a tensor written in
 * place over its input shares that input's item (the chain's lifetime is
 * the union). Keeps the new offsets only when the arena gets smaller.
 * Returns the arena top in use, or -1 (out of memory). */
#define PACK_MAX 8192
static int64_t repack(const IrGraph *g, Plan *p, int64_t walk_top, int64_t base) {
  int N = g->n, n = 0;
  int *item = malloc(sizeof(int) * ((size_t)N + 1));
  PackItem *it = malloc(sizeof(PackItem) * ((size_t)N + 1));
  if (!item || !it) {
    free(item);
    free(it);
    return -1;
  }
  for (int k = 0; k < p->norder; k++) { /* definitions in schedule order */
    int id = p->order[k];
    item[id] = -1;
    if (p->offset[id] < 0 || is_persistent(g, &g->nodes[id]) ||
        ir_ops[g->nodes[id].op].kind == OPK_VIEW)
      continue;
    int s = p->inplace_of[id];
    int i = s >= 0 ? item[s] : n++;
    if (s < 0) it[i] = (PackItem){align_up(p->bytes[id] > 0 ? p->bytes[id] : 1), p->first[id],
                                  p->last[id], 0};
    if (p->last[id] > it[i].last) it[i].last = p->last[id];
    item[id] = i;
  }
  /* the packing is quadratic in the items: beyond PACK_MAX (deep graphs
   * without checkpointing, where the walk is close anyway) it is skipped */
  int64_t top = n <= PACK_MAX ? plan_pack(it, n, base) : walk_top;
  if (top >= 0 && top < walk_top) {
    for (int k = 0; k < p->norder; k++) {
      int id = p->order[k];
      if (item[id] >= 0) p->offset[id] = it[item[id]].off;
    }
  } else if (top >= 0) {
    top = walk_top;
  }
  free(item);
  free(it);
  return top;
}

Plan *plan_build(const IrGraph *g, const Recipe *r) {
  int N = g->n, nall = 0;
  int *all = sched_topo(g, &nall, stderr);
  if (!all) return NULL;
  Plan *p = calloc(1, sizeof *p);
  int *die_head = NULL, *die_next = NULL, *transferred = NULL;
  Fit fl = FIT_INIT(0);
  if (!p) goto fail;
  p->order = malloc(sizeof(int) * ((size_t)nall + 1));
  p->offset = malloc(sizeof(int64_t) * ((size_t)N + 1));
  p->bytes = calloc((size_t)N + 1, sizeof(int64_t));
  p->state_off = malloc(sizeof(int64_t) * 2 * ((size_t)N + 1));
  p->first = malloc(sizeof(int) * ((size_t)N + 1));
  p->last = malloc(sizeof(int) * ((size_t)N + 1));
  p->inplace_of = malloc(sizeof(int) * ((size_t)N + 1));
  transferred = calloc((size_t)N + 1, sizeof(int));
  if (!p->order || !p->offset || !p->bytes || !p->state_off || !p->first || !p->last ||
      !p->inplace_of || !transferred)
    goto fail;
  for (int i = 0; i < N; i++) {
    p->offset[i] = -1;
    p->first[i] = p->last[i] = -1;
    p->inplace_of[i] = -1;
    p->state_off[2 * i] = p->state_off[2 * i + 1] = -1;
  }
  /* the executed part of the schedule: everything but leaves */
  for (int k = 0; k < nall; k++)
    if (ir_ops[g->nodes[all[k]].op].kind != OPK_LEAF) p->order[p->norder++] = all[k];
  p->nfwd = 0;
  while (p->nfwd < p->norder && g->nodes[p->order[p->nfwd]].phase == IR_PHASE_FWD) p->nfwd++;
  p->nslots = plan_state_slots(r);
  int last_pos = p->norder > 0 ? p->norder - 1 : 0;

  for (int i = 0; i < N; i++)
    if (!g->nodes[i].dead)
      p->bytes[i] = ir_numel(&g->nodes[i].shape) * back_elem_size(&g->nodes[i], r->dtype);

  /* persistent tensors, by category then id: they never move */
  int64_t top = 0;
  for (int cat = 0; cat < 4; cat++) {
    for (int i = 0; i < N; i++) {
      const IrNode *n = &g->nodes[i];
      if (n->dead || !is_persistent(g, n)) continue;
      PlanCat c = n->role == IR_ROLE_GRAD ? PLAN_GRADS
                  : (n->op == IR_INPUT || n->role == IR_ROLE_INPUT) ? PLAN_INPUTS
                  : n->role == IR_ROLE_OPTSTATE ? PLAN_OPTSTATE : PLAN_PARAMS;
      int want = cat == 0 ? PLAN_PARAMS : cat == 1 ? PLAN_GRADS : cat == 2 ? PLAN_OPTSTATE
                                                                           : PLAN_INPUTS;
      /* zero(stage >= 1): the runtime keeps each rank's slice of the state
       * after the arena (plan/print.c: zero_region) */
      if (cat == 2 && n->op == IR_PARAM && n->role == IR_ROLE_PARAM && n->trainable &&
          g->zero_stage < 1) {
        for (int s = 0; s < p->nslots; s++) {
          p->state_off[2 * i + s] = top;
          top += align_up(p->bytes[i]);
        }
      }
      if ((int)c != want) continue;
      p->offset[i] = top;
      p->first[i] = 0;
      p->last[i] = last_pos;
      top += align_up(p->bytes[i]);
    }
  }

  /* lifetimes of the rest: from definition to the last use of it or of
   * any view of it */
  for (int k = 0; k < p->norder; k++) {
    int id = p->order[k];
    const IrNode *n = &g->nodes[id];
    if (!is_persistent(g, n)) {
      p->first[id] = k;
      if (p->last[id] < k) p->last[id] = k;
    }
    for (int i = 0; i < n->nin; i++) {
      int s = n->in[i], b = back_view_base(g, s);
      if (!is_persistent(g, &g->nodes[s]) && p->last[s] < k) p->last[s] = k;
      if (!is_persistent(g, &g->nodes[b]) && p->last[b] < k) p->last[b] = k;
    }
  }
  /* the runtime reads the loss after the step and the logits after the
   * forward (sampling) */
  if (g->loss >= 0 && !is_persistent(g, &g->nodes[g->loss])) {
    int b = back_view_base(g, g->loss);
    p->last[g->loss] = p->last[b] = last_pos;
  }
  /* fused head (passes/fuse_lm_head_ce.c): the sampler reads the head's
   * input x in place of the logits */
  if (g->logits < 0 && g->loss >= 0 && g->nodes[g->loss].op == IR_LM_HEAD_CE) {
    int end = p->nfwd > 0 ? p->nfwd - 1 : 0;
    /* x, and w when zero stage 3 gathered it into a temporary */
    for (int k = 0; k < 2; k++) {
      int x = g->nodes[g->loss].in[k], b = back_view_base(g, x);
      if (!is_persistent(g, &g->nodes[b]) && p->last[b] < end) p->last[b] = end;
      if (!is_persistent(g, &g->nodes[x]) && p->last[x] < end) p->last[x] = end;
    }
  }
  if (g->logits >= 0 && !is_persistent(g, &g->nodes[g->logits])) {
    int b = back_view_base(g, g->logits);
    int end = p->nfwd > 0 ? p->nfwd - 1 : 0;
    if (p->last[b] < end) p->last[b] = end;
    if (p->last[g->logits] < end) p->last[g->logits] = end;
  }

  /* walk the schedule: place each tensor at its definition, return blocks
   * after their last use */
  die_head = malloc(sizeof(int) * ((size_t)p->norder + 1));
  die_next = malloc(sizeof(int) * ((size_t)N + 1));
  if (!die_head || !die_next) goto fail;
  for (int k = 0; k <= p->norder; k++) die_head[k] = -1;
  for (int k = p->norder - 1; k >= 0; k--) {
    int id = p->order[k];
    if (is_persistent(g, &g->nodes[id]) || ir_ops[g->nodes[id].op].kind == OPK_VIEW) continue;
    die_next[id] = die_head[p->last[id]];
    die_head[p->last[id]] = id;
  }
  fl.top = align_up(top);
  for (int k = 0; k < p->norder; k++) {
    int id = p->order[k];
    const IrNode *n = &g->nodes[id];
    if (!is_persistent(g, n) && ir_ops[n->op].kind != OPK_VIEW) {
      int64_t need = align_up(p->bytes[id] > 0 ? p->bytes[id] : 1);
      int ii = inplace_input(n);
      int s = ii >= 0 && ii < n->nin ? n->in[ii] : -1;
      if (s >= 0 && !is_persistent(g, &g->nodes[s]) &&
          ir_ops[g->nodes[s].op].kind != OPK_VIEW && p->last[s] == k &&
          p->bytes[s] == p->bytes[id] && p->offset[s] >= 0 && !transferred[s] &&
          s != g->loss && s != g->logits) {
        p->offset[id] = p->offset[s];
        p->inplace_of[id] = s;
        transferred[s] = 1;
      } else {
        p->offset[id] = fit_alloc(&fl, need);
        if (p->offset[id] < 0) goto fail;
      }
    }
    /* also after a view or persistent node: a tensor whose last reader is
     * a view (AFTER, COMM_WAIT) dies there too (skipping these left the
     * whole gradients of zero stage 2 allocated: LLaMA 7B +17 GiB) */
    for (int d = die_head[k]; d >= 0; d = die_next[d])
      if (!transferred[d] && p->offset[d] >= 0 &&
          fit_release(&fl, p->offset[d], align_up(p->bytes[d] > 0 ? p->bytes[d] : 1)) < 0)
        goto fail;
  }
  /* the same lifetimes packed offline (pack.c): kept when smaller */
  int64_t used = repack(g, p, fl.top, align_up(top));
  if (used < 0) goto fail;
  /* views alias their base */
  for (int i = 0; i < N; i++)
    if (!g->nodes[i].dead && ir_ops[g->nodes[i].op].kind == OPK_VIEW)
      p->offset[i] = p->offset[back_view_base(g, i)];

  p->arena_bytes = align_up(used > top ? used : top);

  /* the live peak and what is live there */
  int64_t persist[PLAN_CAT_COUNT] = {0};
  for (int i = 0; i < N; i++) {
    const IrNode *n = &g->nodes[i];
    if (n->dead) continue;
    if (is_persistent(g, n)) persist[category(g, p, i)] += p->bytes[i];
    if (n->op == IR_PARAM && n->role == IR_ROLE_PARAM && n->trainable && g->zero_stage < 1)
      persist[PLAN_OPTSTATE] += (int64_t)p->nslots * p->bytes[i];
  }
  int64_t base = 0;
  for (int c = 0; c < PLAN_CAT_COUNT; c++) base += persist[c];
  /* bytes live at each position: +bytes where a lifetime starts, -bytes
   * after it ends, then a running sum (linear in graph size) */
  int64_t *live = calloc((size_t)p->norder + 2, sizeof(int64_t));
  if (!live) goto fail;
  for (int i = 0; i < N; i++) {
    const IrNode *n = &g->nodes[i];
    if (n->dead || is_persistent(g, n) || ir_ops[n->op].kind == OPK_VIEW || p->first[i] < 0)
      continue;
    int end = transferred[i] ? p->last[i] - 1 : p->last[i];
    if (end < p->first[i]) continue;
    live[p->first[i]] += p->bytes[i];
    live[end + 1] -= p->bytes[i];
  }
  for (int k = 1; k <= p->norder; k++) live[k] += live[k - 1];
  p->peak_at = 0;
  for (int k = 0; k < p->norder; k++)
    if (live[k] > live[p->peak_at]) p->peak_at = k;
  p->peak_live = base + (p->norder > 0 ? live[p->peak_at] : 0);
  free(live);
  memcpy(p->cat_bytes, persist, sizeof persist);
  for (int i = 0; i < N; i++) {
    const IrNode *n = &g->nodes[i];
    if (n->dead || is_persistent(g, n) || ir_ops[n->op].kind == OPK_VIEW || p->first[i] < 0)
      continue;
    int end = transferred[i] ? p->last[i] - 1 : p->last[i];
    if (p->first[i] <= p->peak_at && p->peak_at <= end)
      p->cat_bytes[category(g, p, i)] += p->bytes[i];
  }
  free(all);
  free(die_head);
  free(die_next);
  free(transferred);
  fit_free(&fl);
  return p;
fail:
  fprintf(stderr, "ftc: out of memory while planning\n");
  free(all);
  free(die_head);
  free(die_next);
  free(transferred);
  fit_free(&fl);
  plan_free(p);
  return NULL;
}

/* O(n^2) but only for tests and --verify: every pair of planned tensors
 * whose live ranges intersect must occupy disjoint bytes. */
int plan_verify(const IrGraph *g, const Plan *p, FILE *err) {
  int bad = 0, N = g->n;
  for (int i = 0; i < N; i++) {
    const IrNode *a = &g->nodes[i];
    if (a->dead || p->offset[i] < 0 || ir_ops[a->op].kind == OPK_VIEW) continue;
    if (p->offset[i] % ALIGN != 0 || p->offset[i] + p->bytes[i] > p->arena_bytes) {
      if (err) fprintf(err, "plan: node %d misplaced at %lld\n", i, (long long)p->offset[i]);
      bad++;
    }
    for (int j = i + 1; j < N; j++) {
      const IrNode *b = &g->nodes[j];
      if (b->dead || p->offset[j] < 0 || ir_ops[b->op].kind == OPK_VIEW) continue;
      if (p->inplace_of[j] == i || p->inplace_of[i] == j) continue;
      int t0 = p->first[i] > p->first[j] ? p->first[i] : p->first[j];
      int t1 = p->last[i] < p->last[j] ? p->last[i] : p->last[j];
      if (t0 > t1) continue;
      int64_t b0 = p->offset[i] > p->offset[j] ? p->offset[i] : p->offset[j];
      int64_t ea = p->offset[i] + p->bytes[i], eb = p->offset[j] + p->bytes[j];
      if (b0 < (ea < eb ? ea : eb)) {
        if (err)
          fprintf(err, "plan: nodes %d and %d overlap in bytes and lifetime [%d,%d]\n", i, j,
                  t0, t1);
        bad++;
      }
    }
  }
  /* optimizer state slots against everything persistent */
  for (int i = 0; i < N; i++)
    for (int s = 0; s < 2; s++) {
      int64_t o = p->state_off[2 * i + s];
      if (o < 0) continue;
      for (int j = 0; j < N; j++) {
        if (g->nodes[j].dead || p->offset[j] < 0 || ir_ops[g->nodes[j].op].kind == OPK_VIEW)
          continue;
        if (o < p->offset[j] + p->bytes[j] && p->offset[j] < o + p->bytes[i]) {
          if (err) fprintf(err, "plan: state of node %d overlaps node %d\n", i, j);
          bad++;
        }
      }
    }
  return bad;
}
