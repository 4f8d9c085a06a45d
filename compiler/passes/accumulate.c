/* compiler/passes/accumulate.c -- gradient accumulation over micro-batches.
 *
 * One idea: a step's gradient is the mean of its micro-batches' gradients,
 * so every persistent gradient only has to ADD what the backward computes
 * on every micro-batch but the first, where it writes (the runtime's
 * rt_ctx.micro says which). The producers that can add into their output
 * for free do so (matmul: BLAS beta 1; the scatter-adds of embedding and
 * slice), every other gradient is computed into a temporary and handed to
 * an ACC_GRAD node (copy or add): a parameter's tensor-sized temporary
 * only where the producer is small (biases and norm weights, a [C] sum).
 * The runtime runs any number n of forward/backward pairs per update, on
 * rows i*B..(i+1)*B of the step's global batch (runtime/accum.c), and
 * folds 1/n into the update's gradient scale, so n micro-batches of B rows
 * equal one batch of n*B at the activation memory of B.
 *
 * From zero stage 2 on the whole gradients are temporaries and nothing
 * is rewritten: each micro-batch's reduce-scatter adds into the rank's
 * slice (runtime/dist.c); at stages 0-1 the collectives run after the last
 * micro-batch only.
 *
 * The rewrite runs by default in every build (the driver, after the
 * recipe's backward passes), so any trainer can accumulate: `--accumulate
 * N` sets n at run time (data-parallel resumes on fewer ranks raise it).
 * The pass, and the train setting `accumulate N`, only choose n's default.
 */
#include <stdlib.h>
#include "../pass.h"
#include "builtin.h"

/* Producers that add into their output natively (codegen, runtime). */
static int adds_natively(IrOp op) {
  return op == IR_MATMUL || op == IR_EMBEDDING_BWD || op == IR_SLICE_BWD || op == IR_ACC_GRAD ||
         op == IR_FILL; /* zeros: adding them is writing them */
}

int pass_accumulate_grads(IrGraph *g, Diag *d) {
  int n0 = g->n, added = 0;
  if (g->zero_stage >= 2) return 0; /* temporaries: the reduce-scatter adds (dist.c) */
  int *acc = malloc(sizeof(int) * ((size_t)n0 + 1)); /* per node: its ACC_GRAD, or -1 */
  if (!acc) return -1;
  for (int i = 0; i < n0; i++) {
    acc[i] = -1;
    IrNode *x = &g->nodes[i];
    if (x->dead || x->role != IR_ROLE_GRAD || adds_natively(x->op)) continue;
    if (x->op == IR_SCALE && x->fa[0] == 1.0) { /* autodiff's copy into a gradient */
      x->op = IR_ACC_GRAD;
      continue;
    }
    /* the producer becomes a temporary; a new node owns the gradient */
    int c = ir_new(g, IR_ACC_GRAD, &i, 1, g->nodes[i].span);
    IrNode *p = &g->nodes[i], *a = &g->nodes[c];
    a->role = IR_ROLE_GRAD;
    a->phase = p->phase;
    a->grad_of = p->grad_of;
    a->name = p->name;
    a->layer = p->layer;
    if (ir_infer(g, d, c) < 0) {
      free(acc);
      return -1;
    }
    p = &g->nodes[i];
    p->role = IR_ROLE_BWD;
    p->name = "grad_part";
    acc[i] = c;
    added++;
  }
  /* whatever read a gradient (a collective: passes/zero.c) reads the sum */
  for (int k = 0; k < g->n; k++) {
    IrNode *x = &g->nodes[k];
    for (int j = 0; j < x->nin && !x->dead; j++)
      if (x->in[j] < n0 && acc[x->in[j]] >= 0 && acc[x->in[j]] != k) x->in[j] = acc[x->in[j]];
  }
  /* each sum right after its producer: the temporary dies at once, and the
   * gradients complete in the order the planner lays them out (by id), so
   * zero's all-reduces still fill buckets of neighbours (runtime/dist.c) */
  int rc = added;
  if (added) {
    int *order = malloc(sizeof(int) * ((size_t)g->n + 1)), k = 0;
    if (!order) rc = -1;
    for (int i = 0; order && i < n0; i++) {
      order[k++] = i;
      if (acc[i] >= 0) order[k++] = acc[i];
    }
    if (order && (k != g->n || ir_permute_nodes(g, order) < 0)) rc = -1;
    free(order);
  }
  free(acc);
  return rc;
}

static int run(IrGraph *g, const PassArgs *a, Diag *d) {
  int64_t n = pass_int(a, "steps");
  if (n < 1 || n > 1 << 20) {
    diag_at(d, DIAG_ERROR, pass_arg_span(a, "steps"),
            "accumulate: steps must be between 1 and %d, not %lld", 1 << 20, (long long)n);
    return -1;
  }
  Recipe *r = g->recipe;
  if (r && r->accum_span.file && r->accum != n) {
    diag_at(d, DIAG_ERROR, pass_arg_span(a, "steps"),
            "accumulate: steps: %lld disagrees with the train block's `accumulate %d`", (long long)n,
            r->accum);
    diag_at(d, DIAG_NOTE, r->accum_span, "set here");
    return -1;
  }
  if (r) r->accum = (int)n;
  ir_note(g, "accumulate: %lld micro-batches per update (gradients add in place; the "
          "activations are one micro-batch's)", (long long)n);
  return 0;
}

static const PassParam params[] = {
    {"steps", PP_INT, NULL, "micro-batches per optimizer update (the trainer's --accumulate "
                            "overrides it)", NULL},
    {0}};
static const char *const before[] = {"zero", NULL};

const Pass pass_accumulate = {
    .name = "accumulate",
    .doc = "Gradient accumulation: each update sums the gradients of n micro-batches (rows "
           "i*B..(i+1)*B of one global batch) in place and scales by 1/n, equal to a batch n "
           "times larger at the activation memory of one micro-batch. The same as the train "
           "setting `accumulate n`; `./trainer --accumulate N` changes n at run time.",
    .params = params,
    .before = before,
    .stage = IR_PHASE_BWD,
    .run = run,
};
