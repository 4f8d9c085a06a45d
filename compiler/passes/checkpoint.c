/* compiler/passes/checkpoint.c -- activation checkpointing (recompute
 * instead of keep) [Chen et al. 2016; HF gradient checkpointing].
 *
 * One idea: after autodiff the planner knows which forward tensors live into
 * the backward; this pass will drop those of checkpointed layers and insert
 * recomputation nodes just before the backward of each segment. Registered
 * with its parameters and facts now; the rewrite is not implemented yet.
 */
#include "../pass.h"

static const PassParam params[] = {
    {"every", PP_INT, "1", "checkpoint every k-th layer (repeat instance)", NULL},
    {"budget", PP_INT, "0", "memory budget in bytes for kept activations (0 = use `every`)", NULL},
    {0}};
static const PassFact conflicts[] = {{0}};
static const char *const before[] = {"fuse_optimizer", "zero", NULL};

const Pass pass_checkpoint = {
    .name = "checkpoint",
    .doc = "Activation recomputation: keeps only the inputs of every k-th layer (or as many "
           "as fit a byte budget) and recomputes the rest during the backward, trading about "
           "one extra forward for activation memory.",
    .params = params,
    .conflicts = conflicts,
    .before = before,
    .stage = IR_PHASE_BWD,
    .run = NULL,
};
