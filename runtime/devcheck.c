/* runtime/devcheck.c -- `./trainer devcheck --device emu|cuda`: every call
 * site of the CUDA step, run alone from the CPU backend's inputs and
 * compared with the CPU backend's outputs, op by op.
 *
 * One idea: both backends run the SAME schedule over the SAME arena
 * offsets, so they can run in lockstep. The CPU step runs on a second
 * thread and stops after each of its calls (rt_prof_hook); before each
 * device site the host arena, which then holds exactly the CPU's state
 * before that site, goes up to the device whole, the site runs there, the
 * CPU catches up to the same schedule position, and the regions the site
 * writes are compared. Each op is so checked on its own inputs: an error
 * never hides behind, or is blamed on, an earlier one. The error of a
 * region is max |device - cpu| / max |cpu| (relative to the tensor's
 * scale, so tiny entries of a large tensor do not dominate); the
 * tolerance is 1e-5 for f32 builds and 1e-12 for f64 (--tol overrides).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"
#include "rt_internal.h"

typedef struct Lock {
  rt_run *r;
  sem_t go, done;
  int pos; /* the CPU's last finished schedule position */
  int finished;
} Lock;

static void cpu_hook(int site, void *ctx) {
  Lock *l = ctx;
  l->pos = site;
  sem_post(&l->done);
  sem_wait(&l->go);
}

static void *cpu_main(void *arg) {
  Lock *l = arg;
  sem_wait(&l->go);
  rt_run *r = l->r;
  r->m->forward(&r->ctx, r->arena.mem);
  r->m->backward(&r->ctx, r->arena.mem);
  l->finished = 1;
  l->pos = 1 << 30;
  sem_post(&l->done);
  return NULL;
}

typedef struct OpStat {
  const char *op;
  int n, bad;
  double worst;
  const char *where;
} OpStat;

static double value(const void *p, int64_t i, rt_dt t) {
  switch (t) {
  case RT_DT_F64:
    return ((const double *)p)[i];
  case RT_DT_BF16:
    return rt_bf16_to_f32(((const uint16_t *)p)[i]);
  case RT_DT_F16:
    return rt_f16_to_f32(((const uint16_t *)p)[i]);
  default:
    return ((const float *)p)[i];
  }
}

/* max |a - b| / max |b| over a region (inf when a has a NaN b has not) */
static double region_err(const void *dev, const void *cpu, int64_t bytes, rt_dt t) {
  int64_t es = t == RT_DT_F64 ? 8 : t == RT_DT_F32 ? 4 : 2, n = bytes / es;
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < n; i++) {
    double a = value(dev, i, t), b = value(cpu, i, t);
    if (isnan(a) != isnan(b) || isinf(a) != isinf(b)) return INFINITY;
    if (isnan(b) || a == b) continue; /* equal, infinities included */
    if (isinf(b)) return INFINITY;    /* opposite infinities */
    double d = fabs(a - b);
    if (d > diff) diff = d;
    if (fabs(b) > scale) scale = fabs(b);
  }
  if (diff == 0) return 0;
  return scale > 0 ? diff / scale : INFINITY;
}

int rt_cmd_devcheck(const rt_model *m, const rt_opts *o) {
  rt_run r;
  int rc = 1, started = 0;
  unsigned char *buf = NULL;
  OpStat *st = NULL;
  Lock l = {0};
  pthread_t th;
  if (rt_run_open(&r, m, o) != 0) goto done;
  if (rt_data_open(&r.data, &o->data, o->train.seed) != 0) goto done;
  r.have_data = 1;
  if (rt_setup_weights(&r, 0) != 0) goto done;
  rt_optstate_zero(&r);
  rt_data_next(&r.data, rt_at(&r, m->tokens_off), rt_at(&r, m->targets_off));
  const rt_dev_program *p = m->dev;
  const double tol = o->tol > 0 ? o->tol : m->dtype == RT_F64 ? 1e-12 : 1e-5;
  int64_t most = 0;
  for (int s = 0; s < p->nsites; s++)
    for (int k = 0; k < 3; k++)
      if (p->sites[s].out_bytes[k] > most) most = p->sites[s].out_bytes[k];
  buf = rt_xmalloc((size_t)(most > 0 ? most : 1), "devcheck buffer");
  st = rt_xcalloc((size_t)p->nsites + 1, sizeof *st, "devcheck table");
  if (!buf || !st) goto done;
  l.r = &r;
  sem_init(&l.go, 0, 0);
  sem_init(&l.done, 0, 0);
  rt_prof_hook(cpu_hook, &l);
  if (pthread_create(&th, NULL, cpu_main, &l) != 0) {
    rt_err("devcheck: cannot start the CPU thread");
    goto done;
  }
  started = 1;
  int nops = 0, bad = 0, checked = 0;
  l.pos = -1;
  for (int s = 0; s < p->nsites; s++) {
    const rt_dev_site *site = &p->sites[s];
    /* the host arena holds the CPU's state before this site: send it up */
    if (rt_device_run_site(&r, s) != 0) goto stop;
    while (l.pos < site->pos && !l.finished) {
      sem_post(&l.go);
      sem_wait(&l.done);
    }
    if (l.pos != site->pos) {
      rt_err("devcheck: device site %d (%s) ends at schedule position %d, which the CPU step "
             "never reported",
             s, site->what, site->pos);
      goto stop;
    }
    double worst = 0;
    for (int k = 0; k < 3; k++) {
      if (site->out_off[k] < 0 || site->out_bytes[k] <= 0) continue;
      if (rt_device_read(&r, buf, site->out_off[k], site->out_bytes[k]) != 0) goto stop;
      double e = region_err(buf, rt_at(&r, site->out_off[k]), site->out_bytes[k], site->dtype);
      if (e > worst || isnan(e)) worst = e;
    }
    int i = 0;
    while (i < nops && strcmp(st[i].op, site->op)) i++;
    if (i == nops) st[nops++] = (OpStat){site->op, 0, 0, 0, NULL};
    st[i].n++;
    checked++;
    if (!(worst <= tol)) {
      st[i].bad++;
      bad++;
      if (!o->quiet) printf("over: %-70s error %.3g\n", site->what, worst);
    }
    if (worst > st[i].worst || (!st[i].where)) {
      st[i].worst = worst;
      st[i].where = site->what;
    }
  }
  printf("devcheck on %s: %d sites of the step (forward %d, backward %d), tolerance %.0e "
         "relative to each tensor's largest value\n",
         rt_device_name(&r), checked, p->nfwd, p->nsites - p->nfwd, tol);
  printf("%-22s %6s %11s  %s\n", "op", "sites", "max error", "at");
  for (int i = 0; i < nops; i++)
    printf("%-22s %6d %11.3g  %s%s\n", st[i].op, st[i].n, st[i].worst, st[i].where,
           st[i].bad ? "  OVER" : "");
  printf("%d passed, %d failed\n", checked - bad, bad);
  rc = bad ? 1 : 0;
stop:
  while (!l.finished) { /* let the CPU thread run to its end */
    sem_post(&l.go);
    sem_wait(&l.done);
  }
done:
  if (started) pthread_join(th, NULL);
  rt_prof_hook(NULL, NULL);
  if (started) {
    sem_destroy(&l.go);
    sem_destroy(&l.done);
  }
  free(buf);
  free(st);
  rt_run_close(&r);
  return rc;
}
