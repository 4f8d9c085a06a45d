/* compiler/passes/lora.c -- low-rank adapters [Hu et al. 2021].
 *
 * One idea: a matched linear x@W becomes x@W + (x@A)@B * (alpha/rank) with W
 * frozen and only A (random) and B (zero) trainable, so autodiff, the
 * planner and the optimizer see adapters only. Registered with its
 * parameters and facts now; the rewrite is not implemented yet.
 */
#include "../pass.h"

static const PassParam params[] = {
    {"rank", PP_INT, "8", "rank r of the adapters A [in, r] and B [r, out]", NULL},
    {"alpha", PP_FLOAT, "16", "scaling: the update is (alpha / rank) * x A B", NULL},
    {"dropout", PP_FLOAT, "0.0", "dropout on the adapter input", NULL},
    {"target", PP_STRING, "\"*.attn.*\"", "glob over parameter scopes to adapt ('|' = or)", NULL},
    {0}};
static const PassFact conflicts[] = {
    {"qlora", "qlora already adds the adapters over a quantized base; use one of the two"},
    {0}};
static const char *const before[] = {"mixed_precision", NULL};

const Pass pass_lora = {
    .name = "lora",
    .doc = "Low-rank adaptation: freezes the matched weights and adds trainable low-rank "
           "adapters A (random) and B (zero); only adapters get gradients and optimizer state. "
           "Export merges them or writes a PEFT adapter.",
    .params = params,
    .conflicts = conflicts,
    .before = before,
    .stage = IR_PHASE_FWD,
    .run = NULL,
};
