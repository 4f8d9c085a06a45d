/* runtime/settings_warn.c -- the trainer's side of the compiler's settings
 * warnings (compiler/elab/settings_lint.c): flags such as --steps or --lr
 * can make a sound recipe unsound, so `train` checks the resolved settings.
 *
 * One idea: the same few comparisons as the compiler, on rt_opts, printed
 * once before the first step; none of them stops the run.
 */
#include "rt_internal.h"

void rt_warn_settings(const rt_opts *o) {
  const rt_train_cfg *t = &o->train;
  if (t->warmup > 0 && t->warmup >= t->steps)
    rt_warn("warmup %lld is not shorter than the run (--steps %lld): the learning rate never "
            "reaches its peak %g", (long long)t->warmup, (long long)t->steps, t->lr);
  if (t->eval_every > t->steps)
    rt_warn("eval every %lld is longer than the run (--steps %lld): no evaluation will run",
            (long long)t->eval_every, (long long)t->steps);
  if (t->save_every > t->steps)
    rt_warn("save every %lld is longer than the run (--steps %lld): only the final "
            "checkpoint is written", (long long)t->save_every, (long long)t->steps);
  if (t->lr > 1.0 && (t->opt == RT_OPT_ADAMW || t->opt == RT_OPT_ADAGRAD))
    rt_warn("learning rate %g is above 1 for %s: training will almost surely diverge", t->lr,
            t->opt == RT_OPT_ADAMW ? "adamw" : "adagrad");
}
