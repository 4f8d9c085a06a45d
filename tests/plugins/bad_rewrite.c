/* tests/plugins/bad_rewrite.c -- a plugin whose rewrite the verifier must
 * reject: it widens the first layer norm's output to twice its size
 * without re-inferring its readers (bad_rewrite(how: shape)), or kills a
 * node that live nodes still read (how: dead). ftc must stop with an
 * error that names the plugin and what the verifier found. */
#include <string.h>
#include "pass.h"

static int run(IrGraph *g, const PassArgs *a, Diag *d) {
  const char *how = pass_str(a, "how");
  IR_FOR_LIVE(g, id) {
    IrNode *n = &g->nodes[id];
    if (n->op != IR_LAYER_NORM) continue;
    if (!strcmp(how, "shape")) n->shape.d[n->shape.rank - 1] *= 2;
    else ir_kill(g, id);
    return 0;
  }
  return 0;
}
static const PassParam params[] = {
    {"how", PP_NAME, "shape", "what to break", "shape|dead"}, {0}};
static const Pass bad = {.name = "bad_rewrite", .doc = "breaks the graph", .params = params,
                         .stage = IR_PHASE_FWD, .run = run};
FTC_PLUGIN(&bad);
