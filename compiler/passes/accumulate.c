/* compiler/passes/accumulate.c -- gradient accumulation over micro-batches.
 *
 * One idea: the gradient nodes become "add into" (matmul's accumulate flag,
 * an ADD for the rest) and the runtime runs n forward/backward pairs per
 * update, so a step equals one batch n times larger. Registered now; not
 * implemented yet.
 */
#include "../pass.h"

static const PassParam params[] = {
    {"steps", PP_INT, NULL, "micro-batches per optimizer update", NULL},
    {0}};
static const char *const before[] = {"zero", NULL};

const Pass pass_accumulate = {
    .name = "accumulate",
    .doc = "Gradient accumulation: sums the gradients of n micro-batches before each update, "
           "equal to a batch n times larger at the memory of one micro-batch.",
    .params = params,
    .before = before,
    .stage = IR_PHASE_BWD,
    .run = NULL,
};
