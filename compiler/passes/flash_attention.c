/* compiler/passes/flash_attention.c -- tiled online-softmax attention
 * [Dao 2023, FlashAttention-2].
 *
 * One idea: elaboration tags the nodes of every attention (composite
 * "attention", one group id each); this pass replaces a whole group by one
 * fused node whose forward and backward never materialize the T x T
 * scores. Registered now; not implemented yet.
 */
#include "../back.h"

static const PassParam params[] = {
    {"block", PP_INT, "64", "query/key tile size"},
    {0}};

const Pass pass_flash_attention = {
    .name = "flash_attention",
    .doc = "Replaces each attention subgraph with one tiled, online-softmax kernel for the "
           "forward and the backward; no T x T matrix is kept in memory.",
    .params = params,
    .stage = IR_PHASE_FWD,
    .run = NULL,
};
