/* compiler/passes/dce.c -- dead-code elimination.
 *
 * One idea: a node is alive only if the step needs it: the loss, the logits
 * (the runtime reads them for sampling), every parameter gradient, and
 * whatever those read, transitively. Parameters and inputs are storage,
 * never removed. Everything else is marked dead and skipped by the
 * scheduler and the planner. The driver runs it after the last stage.
 */
#include <stdlib.h>
#include "builtin.h"

int pass_dce_run(IrGraph *g) {
  char *live = calloc((size_t)g->n + 1, 1);
  int *stack = malloc(sizeof(int) * ((size_t)g->n + 1));
  int sp = 0, removed = 0;
  if (!live || !stack) {
    free(live);
    free(stack);
    return -1;
  }
  for (int i = 0; i < g->n; i++) {
    const IrNode *n = &g->nodes[i];
    if (n->dead) continue;
    int root = i == g->loss || i == g->logits || n->role == IR_ROLE_GRAD ||
               n->op == IR_PARAM || n->op == IR_INPUT || n->op == IR_COMM_WAIT;
    if (root && !live[i]) {
      live[i] = 1;
      stack[sp++] = i;
    }
  }
  while (sp > 0) {
    const IrNode *n = &g->nodes[stack[--sp]];
    for (int k = 0; k < n->nin; k++) {
      int s = n->in[k];
      if (s >= 0 && s < g->n && !live[s]) {
        live[s] = 1;
        stack[sp++] = s;
      }
    }
  }
  for (int i = 0; i < g->n; i++)
    if (!g->nodes[i].dead && !live[i]) {
      g->nodes[i].dead = 1;
      removed++;
    }
  free(live);
  free(stack);
  return removed;
}

static int run(IrGraph *g, const PassArgs *a, Diag *d) {
  (void)a;
  (void)d;
  return pass_dce_run(g) < 0 ? -1 : 0;
}

static const PassParam params[] = {{0}};

const Pass pass_dce = {
    .name = "dce",
    .doc = "Dead-code elimination: removes every node that neither the loss, the logits nor a "
           "parameter gradient needs. Always runs last; naming it in a recipe is harmless.",
    .params = params,
    .stage = IR_PHASE_BWD,
    .run = run,
};
