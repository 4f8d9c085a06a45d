/* compiler/passes/qlora.c -- LoRA over an NF4-quantized frozen base
 * [Dettmers et al. 2023].
 *
 * One idea: the frozen base weights are stored as 4-bit NormalFloat blocks
 * with double-quantized scales and dequantized inside the matmul kernels;
 * the adapters are lora's. Registered now; not implemented yet.
 */
#include "../pass.h"

static const PassParam params[] = {
    {"rank", PP_INT, "8", "rank of the adapters", NULL},
    {"alpha", PP_FLOAT, "16", "adapter scaling alpha / rank", NULL},
    {"dropout", PP_FLOAT, "0.0", "dropout on the adapter input", NULL},
    {"target", PP_STRING, "\"*.attn.*\"", "glob over parameter scopes to adapt", NULL},
    {"block", PP_INT, "64", "NF4 quantization block size", NULL},
    {"double_quant", PP_BOOL, "true", "quantize the per-block scales again (8-bit)", NULL},
    {0}};
static const PassFact conflicts[] = {
    {"lora", "qlora already adds the adapters over a quantized base; use one of the two"},
    {0}};
static const char *const before[] = {"mixed_precision", NULL};

const Pass pass_qlora = {
    .name = "qlora",
    .doc = "QLoRA: like lora, but the frozen base weights are stored as NF4 with "
           "double-quantized scales and dequantized inside the matmul kernels.",
    .params = params,
    .conflicts = conflicts,
    .before = before,
    .stage = IR_PHASE_FWD,
    .run = NULL,
};
