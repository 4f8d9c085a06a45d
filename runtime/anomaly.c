/* runtime/anomaly.c -- non-finite steps and loss spikes.
 *
 * One idea: a bad step is only useful to the user if it is named: the
 * step number, what went non-finite (loss or gradient norm) and, when the
 * weights are still those the step started from, the first op whose output
 * was non-finite (check_finite.c; a diagnostic re-run of the same step when
 * FTC_CHECK_FINITE was not set). Then a policy decides: stop (the default:
 * nothing is saved, the last checkpoint stays) or skip the update and go
 * on, at most --max-skips times. Spikes (a finite loss more than
 * --spike-sigma standard deviations above its running mean) are warnings:
 * the mean and variance are exponential moving averages over ~50 steps,
 * kept in the checkpoint so a resumed run warns exactly where the
 * uninterrupted one would.
 */
#include <math.h>
#include <string.h>

#include "rt_internal.h"

#define SPIKE_ALPHA 0.04 /* EMA weight: about 50 steps of memory */
#define SPIKE_WARMUP 20  /* steps of statistics before spikes are judged */

/* The first non-finite op of the current step, re-running it if needed. */
static int locate(rt_run *r, int weights_intact, char *buf, size_t cap) {
  if (rt_finite_describe(buf, cap)) return 1;
  /* not with ranks: the backward holds collectives the others would miss;
   * not on a device: its host arena is a mirror, not the step's state */
  if (rt_finite_enabled() || !weights_intact || r->dist || r->dev) return 0;
  /* the step's batch is still in the arena and the weights unchanged: the
   * same forward and backward with every output checked */
  rt_finite_force(1);
  rt_finite_reset();
  r->m->forward(&r->ctx, r->arena.mem);
  r->m->backward(&r->ctx, r->arena.mem);
  rt_finite_force(0);
  return rt_finite_describe(buf, cap);
}

int rt_nonfinite(rt_run *r, int64_t step, const char *what, double v, int weights_intact) {
  rt_anomaly *a = &r->an;
  char op[512];
  int found = locate(r, weights_intact, op, sizeof op);
  char where[600];
  if (found) snprintf(where, sizeof where, "; the first non-finite output in the step: %s", op);
  else if (!weights_intact)
    snprintf(where, sizeof where, " (found during the update, so the weights in memory are "
                                  "already changed; FTC_CHECK_FINITE=1 names the first op)");
  else if (r->dev)
    snprintf(where, sizeof where, " (on --device the step's ops are not checked one by one: "
                                  "--device cpu with FTC_CHECK_FINITE=1 names the first op)");
  else snprintf(where, sizeof where, "; no op's output was non-finite");
  a->skipped_now = 0;
  if (a->skip && weights_intact && a->skipped < a->max_skips) {
    a->skipped++;
    a->skipped_now = 1;
    rt_warn("%s is %g at step %lld%s; skipping this step's update (%lld of at most %lld "
            "skips, --max-skips)", what, v, (long long)step, where, (long long)a->skipped,
            (long long)a->max_skips);
    return 1;
  }
  rt_err("%s is %g at step %lld%s; stopping (the last checkpoint is kept)%s", what, v,
         (long long)step, where,
         a->skip && a->skipped >= a->max_skips ? ": --max-skips reached" : "");
  return -1;
}

double rt_spike(rt_anomaly *a, double loss) {
  if (!(a->sigma > 0) || !isfinite(loss)) return 0;
  double sd = sqrt(a->var);
  if (a->n >= SPIKE_WARMUP && sd > 0 && loss > a->mean + a->sigma * sd)
    return (loss - a->mean) / sd; /* a spike is not folded into the statistics */
  double d = loss - a->mean;
  if (a->n == 0) {
    a->mean = loss;
    a->var = 0;
  } else {
    a->mean += SPIKE_ALPHA * d;
    a->var = (1 - SPIKE_ALPHA) * (a->var + SPIKE_ALPHA * d * d);
  }
  a->n++;
  return 0;
}

void rt_anomaly_init(rt_anomaly *a, const rt_opts *o) {
  memset(a, 0, sizeof *a);
  a->skip = o->nonfinite_skip;
  a->max_skips = o->max_skips;
  a->sigma = o->spike_sigma;
}
