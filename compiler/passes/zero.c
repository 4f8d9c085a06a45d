/* compiler/passes/zero.c -- ZeRO sharding of optimizer state, gradients and
 * parameters across ranks [Rajbhandari et al. 2020].
 *
 * One idea: sharding is a placement of persistent tensors plus collectives
 * (reduce-scatter, all-gather) scheduled next to their producers and
 * consumers. Registered now; not implemented yet.
 */
#include "../pass.h"

static const PassParam params[] = {
    {"stage", PP_INT, "1", "1 = optimizer state, 2 = + gradients, 3 = + parameters", NULL},
    {0}};
static const PassFact conflicts[] = {
    {"hift", "hift keeps inactive groups' optimizer state on the host, zero shards it across "
             "ranks; the two placements cannot both own the state"},
    {0}};

const Pass pass_zero = {
    .name = "zero",
    .doc = "ZeRO: shards optimizer state (stage 1), gradients (2) and parameters (3) across "
           "ranks with reduce-scatter and all-gather placed in the schedule.",
    .params = params,
    .conflicts = conflicts,
    .stage = IR_PHASE_BWD,
    .run = NULL,
};
