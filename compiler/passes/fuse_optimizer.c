/* compiler/passes/fuse_optimizer.c -- fused gradient + update (LOMO,
 * AdaLomo) [Lv et al. 2023].
 *
 * One idea: the update of a parameter is placed in the schedule right after
 * its gradient is complete and the gradient dies there, so at most one
 * layer's gradients are ever live. Registered now; not implemented yet.
 */
#include "../pass.h"

static const PassParam params[] = {
    {"variant", PP_NAME, "sgd", "update rule: sgd, adamw or adalomo", "sgd|adamw|adalomo"},
    {"two_pass_norm", PP_BOOL, "false",
     "compute the global gradient norm in a first backward so clipping still works", NULL},
    {0}};
static const PassFact conflicts[] = {
    {"accumulate", "the fused update frees each gradient as soon as it is produced, so there "
                   "is nothing left to sum over micro-batches; drop fuse_optimizer or use "
                   "a larger batch instead of accumulate"},
    {"zero", "zero(stage >= 2) reduce-scatters whole gradients after the backward, which the "
             "fused update has already consumed"},
    {0}};

const Pass pass_fuse_optimizer = {
    .name = "fuse_optimizer",
    .doc = "LOMO-style fused update: each parameter is updated inside the backward as soon "
           "as its gradient is complete and the gradient is freed at once (SGD, AdamW, or "
           "AdaLomo's factored second moment with grouped update normalization).",
    .params = params,
    .conflicts = conflicts,
    .stage = IR_PHASE_BWD,
    .run = NULL,
};
