/* compiler/passes/builtin.h -- the built-in passes the driver also runs
 * outside a recipe's passes block (by default), and their shared numbers.
 *
 * One idea: these passes are written against the public pass API (pass.h)
 * like every other; only their direct entry points, which the driver calls
 * without a PassArgs, are declared here.
 */
#ifndef FTC_COMPILER_PASSES_BUILTIN_H
#define FTC_COMPILER_PASSES_BUILTIN_H

#include "../pass.h"

/* The dead-code pass (compiler/passes/dce.c): marks every node that
 * neither the loss, the logits nor a gradient needs. Returns nodes removed. */
int pass_dce_run(IrGraph *g);

/* compiler/passes/fuse_lm_head_ce.c, run by default before autodiff:
 * CROSS_ENTROPY(RESHAPE(MATMUL(x, w))) -> LM_HEAD_CE when nothing else
 * reads the logits (then g->logits = -1). Returns 1 fused, 0 not, -1 error. */
/* rows of logits per chunk of the fused lm-head unless the recipe says */
#define LM_HEAD_ROWS 512
int pass_fuse_lm_head_ce_run(IrGraph *g, int64_t rows);

/* compiler/passes/accumulate.c, run by default after the backward passes:
 * every gradient adds into itself on micro-batches after a step's first
 * (see the file). Returns the ACC_GRAD nodes added, or -1. */
int pass_accumulate_grads(IrGraph *g, Diag *d);

#endif
