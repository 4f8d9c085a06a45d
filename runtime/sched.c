/* runtime/sched.c -- the learning-rate schedule as a pure function of the
 * step, so resuming needs no schedule state beyond the step itself.
 *
 * Steps are 1-based update numbers. Warmup rises linearly to lr over
 * `warmup` steps; afterwards constant stays at lr, linear and cosine decay
 * from lr to min_lr at the last step. */
#include <math.h>

#include "rt_internal.h"

double rt_sched_lr(const rt_train_cfg *c, int64_t step) {
  if (c->warmup > 0 && step <= c->warmup)
    return c->lr * (double)step / (double)c->warmup;
  if (c->sched == RT_SCHED_CONSTANT) return c->lr;
  int64_t span = c->steps - c->warmup;
  double p = span > 0 ? (double)(step - c->warmup) / (double)span : 1.0;
  if (p < 0) p = 0;
  if (p > 1) p = 1;
  double f = c->sched == RT_SCHED_LINEAR ? 1.0 - p : 0.5 * (1.0 + cos(3.14159265358979323846 * p));
  return c->min_lr + (c->lr - c->min_lr) * f;
}
