/* compiler/passes/zero.c -- ZeRO sharding of optimizer state, gradients and
 * parameters across ranks [Rajbhandari et al. 2020].
 *
 * One idea: sharding is a placement of persistent tensors plus collectives
 * scheduled next to their producers. The pass marks the graph's stage (the
 * planner then leaves the optimizer state, at stage 2 the gradients and at
 * stage 3 the parameters out of the persistent part of the arena: the
 * runtime keeps this rank's slice of each after the arena) and appends, for
 * every trainable parameter, a GRAD_SYNC right after its gradient is
 * complete (all-reduce at stages 0-1, reduce-scatter into the rank's slice
 * at 2-3) and a COMM_WAIT: at stages 0-1 at the end of the backward (the
 * whole gradients persist anyway, so the runtime fills buckets while the
 * backward goes on), at 2-3 right after the next gradient's GRAD_SYNC: one
 * collective overlaps the next layer, and each whole gradient dies at its
 * wait, so at most two are live. At stage 3 every reader of a parameter
 * reads an all-gather of it instead (gather_params). The schedule is
 * (phase, id) order (plan/sched.c), so that order stands for "when" here.
 * Per-rank figures for GPT-2 and LLaMA shapes are in docs/distributed.md.
 */
#include <stdlib.h>
#include "../pass.h"

static const PassParam params[] = {
    {"stage", PP_INT, "1", "0 = nothing (data parallel with the all-reduces in the schedule), "
                           "1 = optimizer state, 2 = + gradients, 3 = + parameters", NULL},
    {0}};
static const PassFact conflicts[] = {
    {"hift", "hift keeps inactive groups' optimizer state on the host, zero shards it across "
             "ranks; the two placements cannot both own the state"},
    {0}};

/* (phase, id): the order the scheduler runs ready nodes in */
static long when(const IrGraph *g, int id) { return (long)g->nodes[id].phase * g->n + id; }

typedef struct Item {
  int node;
  long when;
} Item;

static int by_when(const void *a, const void *b) {
  long x = ((const Item *)a)->when, y = ((const Item *)b)->when;
  return x < y ? -1 : x > y;
}

/* Appends node `op` reading `in` in `phase`, scheduled right after `follows`. */
static int add_comm(IrGraph *g, Diag *d, IrOp op, int in, IrPhase phase, int follows, Span sp) {
  int id = ir_new(g, op, &in, 1, sp);
  g->nodes[id].phase = phase;
  g->nodes[id].role = phase == IR_PHASE_FWD ? IR_ROLE_ACT : IR_ROLE_BWD;
  g->nodes[id].follows = follows;
  return ir_infer(g, d, id) < 0 ? -1 : id;
}

static int is_param(const IrGraph *g, int id) {
  return g->nodes[id].op == IR_PARAM && g->nodes[id].role == IR_ROLE_PARAM;
}

/* Stage 3: every reader of a parameter reads it through a gather of its
 * phase instead (one PARAM_GATHER + GATHER_WAIT per parameter in the
 * forward, one in the backward), so the whole parameter is a temporary
 * from its gather to its last use in that phase. Gathers go in order of
 * first use, each started right after the previous one is waited for: the
 * next parameter's all-gather runs while the current one is used (the
 * prefetch). */
static int gather_params(IrGraph *g, Diag *d, Span sp) {
  int N0 = g->n, rc = -1, nuse[2] = {0, 0};
  long *first[2] = {malloc(sizeof(long) * ((size_t)N0 + 1)),
                    malloc(sizeof(long) * ((size_t)N0 + 1))};
  int *wait[2] = {calloc((size_t)N0 + 1, sizeof(int)), calloc((size_t)N0 + 1, sizeof(int))};
  Item *use[2] = {malloc(sizeof(Item) * ((size_t)N0 + 1)), malloc(sizeof(Item) * ((size_t)N0 + 1))};
  if (!first[0] || !first[1] || !wait[0] || !wait[1] || !use[0] || !use[1]) goto done;
  for (int i = 0; i < N0; i++) first[0][i] = first[1][i] = -1;
  IR_FOR_LIVE(g, c) {
    int ph = g->nodes[c].phase == IR_PHASE_FWD ? 0 : 1;
    for (int k = 0; k < g->nodes[c].nin; k++) {
      int p = g->nodes[c].in[k];
      if (is_param(g, p) && (first[ph][p] < 0 || when(g, c) < first[ph][p]))
        first[ph][p] = when(g, c);
    }
  }
  for (int ph = 0; ph < 2; ph++) {
    for (int p = 0; p < N0; p++)
      if (first[ph][p] >= 0) use[ph][nuse[ph]++] = (Item){p, first[ph][p]};
    qsort(use[ph], (size_t)nuse[ph], sizeof(Item), by_when);
    int prev = -1;
    IrPhase phase = ph ? IR_PHASE_BWD : IR_PHASE_FWD;
    for (int k = 0; k < nuse[ph]; k++) {
      int p = use[ph][k].node;
      int st = add_comm(g, d, IR_PARAM_GATHER, p, phase, prev, sp);
      int w = st < 0 ? -1 : add_comm(g, d, IR_GATHER_WAIT, st, phase, -1, sp);
      if (w < 0) goto done;
      wait[ph][p] = prev = w;
    }
  }
  /* readers of a parameter read its gather of their phase */
  for (int c = 0; c < N0; c++) {
    IrNode *x = &g->nodes[c];
    int ph = x->phase == IR_PHASE_FWD ? 0 : 1;
    for (int k = 0; !x->dead && k < x->nin; k++)
      if (is_param(g, x->in[k]) && wait[ph][x->in[k]] > 0) x->in[k] = wait[ph][x->in[k]];
  }
  rc = 0;
done:
  for (int ph = 0; ph < 2; ph++) {
    free(first[ph]);
    free(wait[ph]);
    free(use[ph]);
  }
  return rc;
}

static int run(IrGraph *g, const PassArgs *a, Diag *d) {
  int64_t stage = pass_int(a, "stage");
  Span sp = pass_span(a);
  if (stage < 0 || stage > 3) {
    diag_at(d, DIAG_ERROR, pass_arg_span(a, "stage"), "zero: stage must be 0, 1, 2 or 3, not %lld",
            (long long)stage);
    return -1;
  }
  IR_FOR_LIVE(g, i)
  if (g->nodes[i].op == IR_GRAD_SYNC) {
    diag_at(d, DIAG_ERROR, sp, "zero is given twice");
    return -1;
  }
  /* gradients in the order the backward completes them (one sweep:
   * ir_grad_of per parameter would be quadratic in a deep model) */
  Item *gr = malloc(sizeof(Item) * ((size_t)g->n + 1));
  int ng = 0, rc = 0;
  if (!gr) return -1;
  IR_FOR_LIVE(g, i) {
    const IrNode *n = &g->nodes[i];
    if (n->role == IR_ROLE_GRAD && n->grad_of >= 0 && is_param(g, n->grad_of) &&
        g->nodes[n->grad_of].trainable)
      gr[ng++] = (Item){i, when(g, i)};
  }
  qsort(gr, (size_t)ng, sizeof *gr, by_when);
  g->zero_stage = (int)stage;
  if (stage == 3 && gather_params(g, d, sp) < 0) rc = -1;
  int *sync = malloc(sizeof(int) * ((size_t)ng + 1));
  if (!sync) rc = -1;
  for (int k = 0; k < ng && rc == 0; k++)
    if ((sync[k] = add_comm(g, d, IR_GRAD_SYNC, gr[k].node, IR_PHASE_BWD, gr[k].node, sp)) < 0)
      rc = -1;
  for (int k = 0; k < ng && rc == 0; k++)
    if (add_comm(g, d, IR_COMM_WAIT, sync[k], IR_PHASE_BWD,
                 stage >= 2 && k + 1 < ng ? sync[k + 1] : -1, sp) < 0)
      rc = -1;
  free(sync);
  free(gr);
  return rc;
}

const Pass pass_zero = {
    .name = "zero",
    .doc = "ZeRO: shards optimizer state (stage 1), gradients (2) and parameters (3) across "
           "ranks, with the gradient collectives (all-reduce, reduce-scatter) placed in the "
           "schedule right after each gradient is complete and, at stage 3, each parameter "
           "all-gathered just before its use in the forward and again in the backward "
           "(prefetching the next one) and released after. Each rank updates its slice of "
           "every tensor. Stage 0: data parallel with the all-reduces in the schedule.",
    .params = params,
    .conflicts = conflicts,
    .stage = IR_PHASE_BWD,
    .run = run,
};
