/* compiler/passes/mixed_precision.c -- bf16/fp16 compute with fp32 master
 * weights [Micikevicius et al. 2018].
 *
 * One idea: casts are nodes too: the pass inserts low-precision copies of
 * the weights and activations before the matmuls, keeps norms, softmax and
 * the loss in fp32, and (fp16) scales the loss. Registered now; not
 * implemented yet.
 */
#include "../pass.h"

static const PassParam params[] = {
    {"dtype", PP_NAME, "bf16", "compute dtype: bf16 or fp16", "bf16|fp16"},
    {"loss_scale", PP_FLOAT, "0", "fp16 loss scale (0 = dynamic)", NULL},
    {0}};

const Pass pass_mixed_precision = {
    .name = "mixed_precision",
    .doc = "Computes matmuls in bf16 or fp16 while keeping fp32 master weights, norms and "
           "the loss in fp32; fp16 adds loss scaling.",
    .params = params,
    .stage = IR_PHASE_FWD,
    .run = NULL,
};
