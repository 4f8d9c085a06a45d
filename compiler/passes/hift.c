/* compiler/passes/hift.c -- hierarchical full-parameter fine-tuning
 * [Liu et al. 2024, HiFT].
 *
 * One idea: the layers are split into groups and each step updates one
 * group; the others are frozen for that step and their optimizer state is
 * parked in host memory. Registered now; not implemented yet.
 */
#include "../pass.h"

static const PassParam params[] = {
    {"groups", PP_INT, NULL, "number of layer groups (one is updated per step)", NULL},
    {"order", PP_STRING, "\"bottom-up\"", "group order: bottom-up, top-down or random", "bottom-up|top-down|random"},
    {0}};
static const PassFact conflicts[] = {
    {"zero", "hift keeps inactive groups' optimizer state on the host, zero shards it across "
             "ranks; the two placements cannot both own the state"},
    {0}};

const Pass pass_hift = {
    .name = "hift",
    .doc = "HiFT: each step updates one group of layers; the other groups are frozen and "
           "their optimizer state lives on the host, moved in and out as the group changes.",
    .params = params,
    .conflicts = conflicts,
    .stage = IR_PHASE_BWD,
    .run = NULL,
};
