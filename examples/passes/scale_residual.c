/* examples/passes/scale_residual.c -- an example pass plugin: scale the
 * residual branches, x + f(x) -> x + s * f(x).
 *
 * Purpose: the smallest real rewrite that shows the whole pass API (match
 * by op and scope name, append a node, rewire a reader, typed parameters
 * with a range check at the recipe's span, a fact). Scaling each branch by
 * a constant is the fixed form of LayerScale and of the branch scaling deep
 * transformers use to keep the residual stream's variance in check.
 * Measured result (tests/plugins/run.sh): a tiny GPT-2 built with this
 * plugin, scale_residual(factor: 0.5), trains to the same losses, bit for
 * bit, as the same model written with `x = x + 0.5 * b.attn(...)` by hand.
 *
 * Build and use (docs/passes.md walks through it):
 *   cc -shared -fPIC -O2 -I<prefix>/include/ftc scale_residual.c -o scale_residual.so
 *   ftc build recipe.ft --plugin ./scale_residual.so     # passes { scale_residual(factor: 0.5) }
 */
#include <math.h>
#include "pass.h"

/* A residual add: two inputs of the same shape and dtype, one of them the
 * output of a module whose scope matches `target` (the branch). Returns
 * the branch's input index (0 or 1), or -1. */
static int branch_of(const IrGraph *g, int id, const char *target) {
  const IrNode *n = &g->nodes[id];
  if (n->op != IR_ADD || n->phase != IR_PHASE_FWD) return -1;
  const IrNode *a = &g->nodes[n->in[0]], *b = &g->nodes[n->in[1]];
  if (a->dtype != b->dtype || a->shape.rank != b->shape.rank) return -1;
  for (int i = 0; i < a->shape.rank; i++)
    if (a->shape.d[i] != b->shape.d[i]) return -1;
  for (int k = 1; k >= 0; k--) { /* the branch is usually the second operand */
    const IrNode *x = &g->nodes[n->in[k]];
    if (x->name && ir_layer_of(x->name) >= 0 && ir_glob(target, x->name)) return k;
  }
  return -1;
}

static int run(IrGraph *g, const PassArgs *a, Diag *d) {
  double factor = pass_float(a, "factor");
  const char *target = pass_str(a, "target");
  if (!isfinite(factor) || factor <= 0) {
    diag_at(d, DIAG_ERROR, pass_arg_span(a, "factor"),
            "scale_residual: factor must be a positive number, not %g", factor);
    return -1;
  }
  int n0 = g->n, scaled = 0;
  for (int id = 0; id < n0; id++) { /* only the nodes that were there before */
    if (g->nodes[id].dead) continue;
    int k = branch_of(g, id, target);
    if (k < 0) continue;
    int branch = g->nodes[id].in[k];
    Span sp = g->nodes[id].span;
    int s = ir_new(g, IR_SCALE, &branch, 1, sp); /* may move g->nodes */
    g->nodes[s].fa[0] = factor;
    if (ir_infer(g, d, s) < 0) return -1;
    g->nodes[id].in[k] = s; /* the add now reads ahead; the manager sorts */
    scaled++;
  }
  if (scaled == 0)
    diag_at(d, DIAG_WARNING, pass_span(a),
            "scale_residual: no residual add reads a branch matching \"%s\"", target);
  return 0;
}

static const PassParam params[] = {
    {"factor", PP_FLOAT, "0.5", "the scale s of each branch: x + s * f(x)", NULL},
    {"target", PP_STRING, "\"*.attn.c_proj|*.mlp.c_proj|*.attn.o_proj|*.mlp.down_proj\"",
     "glob over the scope names of the branch outputs ('|' = or)", NULL},
    {0}};

static const Pass scale_residual = {
    .name = "scale_residual",
    .doc = "Scales every residual branch: x + f(x) becomes x + factor * f(x) for the "
           "branches whose output scope matches `target` (GPT-2's attention and MLP "
           "projections, LLaMA's o_proj and down_proj by default). An example plugin "
           "(examples/passes/scale_residual.c).",
    .params = params,
    .stage = IR_PHASE_FWD,
    .run = run,
};

FTC_PLUGIN(&scale_residual);
