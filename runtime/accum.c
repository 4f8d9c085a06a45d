/* runtime/accum.c -- one update's gradients, over its micro-batches.
 *
 * One idea: a step's global batch is ranks * n * B consecutive rows of the
 * data loader (data.c's global-batch rule); micro-batch i of rank r reads
 * rows (r*n + i)*B .. +B into the model's [B, T] inputs and runs forward
 * and backward with rt_ctx.micro = i, so the generated gradients write on
 * the first micro-batch and add on the others (compiler/passes/
 * accumulate.c). The update then scales them by 1/(ranks * n) (train.c,
 * dist.c): the same step as one batch of ranks * n * B rows, at the
 * activation memory of B. n is a run-time number (the recipe's
 * `accumulate`, or --accumulate), so any trainer can run any: a checkpoint
 * resumed on fewer ranks keeps its global batch with more micro-batches.
 */
#include "dev.h"
#include "dist.h"
#include "rt_internal.h"

int rt_step_grads(rt_run *r, double *loss) {
  const rt_model *m = r->m;
  int64_t n = r->o.accum > 0 ? r->o.accum : 1, B = m->data.batch;
  int64_t rank = r->dist ? r->dist->rank : 0, world = r->dist ? r->dist->world : 1;
  int32_t *tok = rt_at(r, m->tokens_off), *tgt = rt_at(r, m->targets_off);
  double sum = 0;
  if (r->dev && n > 1) { /* the device step writes its gradients, never adds */
    rt_err("--device %s: %lld micro-batches per update (accumulate) are not supported on a "
           "device yet; use --accumulate 1 with a larger batch, or --device cpu",
           rt_dev_kind_name((rt_device_kind)r->o.device), (long long)n);
    return -1;
  }
  r->ctx.nmicro = (int)n;
  for (int64_t i = 0; i < n; i++) {
    rt_data_rows(&r->data, (rank * n + i) * B, (int)B, tok, tgt);
    r->ctx.micro = (int)i;
    if (rt_step_forward(r) != 0) return -1; /* the CPU's step or the device's (device.c) */
    sum += rt_loss(r);
    if (rt_step_backward(r) != 0) return -1;
  }
  r->ctx.micro = 0;
  rt_data_advance(&r->data, world * n * B);
  *loss = sum / (double)n;
  return 0;
}

int rt_accum_resume(rt_run *r, const char *path, uint64_t gb, int world, int lead) {
  uint64_t per = (uint64_t)world * (uint64_t)r->data.batch; /* rows of one micro-batch each */
  if (gb == 0 || gb == per * (uint64_t)r->o.accum) return 0;
  if (r->o.accum_given || gb % per != 0 || gb / per > 1 << 20) return -1;
  int64_t was = r->o.accum;
  r->o.accum = (int64_t)(gb / per);
  if (lead && !r->o.quiet)
    printf("%s: its steps took %llu rows (the global batch); %d rank%s x batch %d take them "
           "in %lld micro-batches (was %lld; --accumulate chooses)\n",
           path, (unsigned long long)gb, world, world == 1 ? "" : "s", r->data.batch,
           (long long)r->o.accum, (long long)was);
  return 0;
}
