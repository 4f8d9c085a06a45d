/* runtime/device.c -- how a run uses a device: the step's forward, backward
 * and optimizer update on `--device cuda|emu`, and the few points where the
 * host's arena and the device's meet.
 *
 * One idea: the host arena stays the one copy the rest of the runtime
 * reads and writes (weights init and loading, checkpoints, sampling), and
 * the device borrows it: parameters and optimizer state go up before the first
 * step (so init, --init and --resume need no device code), each step sends
 * only its tokens up and its loss down, and the parameters and optimizer
 * state come back down only when the host is about to read them. A phase
 * of the step (forward, eval forward, backward, update, sum of squares)
 * runs its call sites directly the first time and is captured into a graph
 * the second time; from then on it is one graph launch (FTC_GRAPHS=0 keeps
 * the direct calls).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"
#include "rt_internal.h"

enum { PH_FWD, PH_FWD_EVAL, PH_BWD, PH_UPDATE, PH_SUMSQ, PH_COUNT };

struct rt_devrun {
  rt_dev *dev;
  int pushed; /* the host arena has gone up */
  int graphs; /* capture phases (FTC_GRAPHS != 0) */
  rt_prof_site *prof; /* FTC_PROFILE: a profiler site per device site */
  void *graph[PH_COUNT];
  int64_t runs[PH_COUNT];
  int reported;
};

int rt_device_open(rt_run *r) {
  const rt_model *m = r->m;
  if (r->o.device == RT_DEVICE_CPU) return 0;
  if (!m->dev) {
    rt_err("--device %s: this trainer was built without device code (ftc build --arch)",
           rt_dev_kind_name((rt_device_kind)r->o.device));
    return -1;
  }
  if (m->dev->arena_bytes != m->plan.arena_bytes) {
    rt_err("internal error: the device program plans a %lld-byte arena, the trainer %lld",
           (long long)m->dev->arena_bytes, (long long)m->plan.arena_bytes);
    return -1;
  }
  struct rt_devrun *dr = rt_xcalloc(1, sizeof *dr, "device run");
  if (!dr) return -1;
  dr->dev = rt_dev_open((rt_device_kind)r->o.device, r->o.device_ordinal, m->dev);
  if (!dr->dev) {
    free(dr);
    return -1;
  }
  const char *g = getenv("FTC_GRAPHS");
  dr->graphs = !(g && !strcmp(g, "0"));
  r->dev = dr;
  const rt_dev_program *p = m->dev;
  /* FTC_PROFILE: each site timed alone (the stream drained around it), so
   * no graphs; the table goes to rt_prof like the CPU step's */
  const char *pe = getenv("FTC_PROFILE");
  if (pe && *pe && strcmp(pe, "0") && p->nsites > 0) {
    dr->prof = rt_xcalloc((size_t)p->nsites + 2, sizeof *dr->prof, "profiler sites");
    for (int s = 0; dr->prof && s < p->nsites; s++)
      dr->prof[s] = (rt_prof_site){.node = p->sites[s].pos, .op = p->sites[s].op,
                                   .name = p->sites[s].what, .shape = ""};
    if (dr->prof && rt_prof_begin(dr->prof, p->nsites)) dr->graphs = 0;
  }
  if (p->ntensors > 0 &&
      dr->dev->ops->upload(dr->dev, p->tensors_off, p->tensors,
                           (int64_t)p->ntensors * (int64_t)sizeof *p->tensors) != 0)
    return -1;
  if (!r->o.quiet) {
    char desc[512], a[32], b[32];
    int64_t used = dr->dev->ops->memory(dr->dev, desc, sizeof desc);
    rt_fmt_bytes(a, sizeof a, (double)p->bytes);
    rt_fmt_bytes(b, sizeof b, (double)used);
    printf("device: %s\ndevice memory: planned %s (arena %lld B + workspace %lld B + scratch "
           "%lld B + tables), measured %s (%s)\n",
           dr->dev->name, a, (long long)p->arena_bytes, (long long)p->ws_bytes,
           (long long)p->scratch_bytes, b, desc);
  }
  return 0;
}

void rt_device_close(rt_run *r) {
  struct rt_devrun *dr = r->dev;
  if (!dr) return;
  for (int i = 0; i < PH_COUNT; i++)
    if (dr->graph[i]) dr->dev->ops->graph_free(dr->dev, dr->graph[i]);
  rt_dev_close(dr->dev);
  /* dr->prof stays: rt_prof prints its table at exit */
  free(dr);
  r->dev = NULL;
}

static int failed(struct rt_devrun *dr) { return dr->dev->failed ? -1 : 0; }

/* Parameters and optimizer state go up before the first device work;
 * nothing else of the host arena holds a value a step reads before writing
 * it (the tokens go up with every step). */
static int push(rt_run *r) {
  struct rt_devrun *dr = r->dev;
  if (dr->pushed) return 0;
  const rt_model *m = r->m;
  rt_dev *d = dr->dev;
  const int ns = rt_optim_nslots(r->o.train.opt, r->o.train.momentum);
  for (int i = 0; i < m->nparams; i++) {
    const rt_param *p = &m->params[i];
    const int64_t b = p->numel * (int64_t)r->esz;
    if (d->ops->upload(d, p->off, rt_at(r, p->off), b) != 0) return -1;
    for (int s = 0; s < ns && p->trainable; s++)
      if (p->state_off[s] >= 0 && d->ops->upload(d, p->state_off[s], rt_at(r, p->state_off[s]), b))
        return -1;
  }
  dr->pushed = 1;
  return 0;
}

static void run_sites(rt_dev *d, int from, int to, int no_grads, int prof) {
  const rt_dev_program *p = d->prog;
  unsigned char *B = d->base;
  for (int s = from; s < to && !d->failed; s++) {
    if (!prof) {
      p->site_fn[s](d, B, no_grads);
      continue;
    }
    d->ops->sync(d);
    const double t0 = rt_prof_now();
    p->site_fn[s](d, B, no_grads);
    d->ops->sync(d);
    rt_prof_end(s, t0);
  }
}

/* One phase: direct the first time, captured the second, replayed after. */
static int phase(struct rt_devrun *dr, int ph) {
  rt_dev *d = dr->dev;
  const rt_dev_program *p = d->prog;
  if (dr->graph[ph]) return d->ops->replay(d, dr->graph[ph]);
  const int capture = dr->graphs && dr->runs[ph] >= 1, prof = dr->prof && rt_prof_on();
  if (capture && d->ops->capture_begin(d) != 0) return -1;
  switch (ph) {
  case PH_FWD:
    run_sites(d, 0, p->nfwd, 0, prof);
    break;
  case PH_FWD_EVAL:
    run_sites(d, 0, p->nfwd, 1, prof);
    break;
  case PH_BWD:
    run_sites(d, p->nfwd, p->nsites, 0, prof);
    break;
  case PH_UPDATE:
    p->update(d, d->base, 0);
    break;
  case PH_SUMSQ:
    p->sumsq(d, d->base, 0);
    break;
  }
  dr->runs[ph]++;
  if (capture) {
    if (d->ops->capture_end(d, &dr->graph[ph]) != 0) return -1;
    return d->ops->replay(d, dr->graph[ph]);
  }
  return failed(dr);
}

int rt_step_forward(rt_run *r) {
  const rt_model *m = r->m;
  struct rt_devrun *dr = r->dev;
  if (!dr) {
    m->forward(&r->ctx, r->arena.mem);
    return 0;
  }
  rt_dev *d = dr->dev;
  const int64_t bt = (int64_t)m->data.batch * m->data.seq * 4;
  if (r->dist) { /* gradients would need NCCL (issue 17's collectives on a GPU) */
    rt_err("--device %s with several ranks is not supported yet: one rank per run",
           d->ops->name);
    return -1;
  }
  if (push(r) != 0 || d->ops->upload(d, m->tokens_off, rt_at(r, m->tokens_off), bt) != 0 ||
      d->ops->upload(d, m->targets_off, rt_at(r, m->targets_off), bt) != 0 ||
      phase(dr, r->ctx.no_grads ? PH_FWD_EVAL : PH_FWD) != 0 ||
      d->ops->download(d, rt_at(r, m->loss_off), m->loss_off, (int64_t)r->esz) != 0)
    return -1;
  return 0;
}

int rt_step_backward(rt_run *r) {
  struct rt_devrun *dr = r->dev;
  if (!dr) {
    r->m->backward(&r->ctx, r->arena.mem);
    return 0;
  }
  return phase(dr, PH_BWD);
}

/* The CPU optimizer's scalars (optim.c), computed the same way in double. */
static rt_opt_scalars scalars(const rt_train_cfg *c, double lr, double gscale, int64_t t) {
  rt_opt_scalars s = {lr, gscale, c->weight_decay, c->momentum, c->beta1, c->beta2, c->eps, 0,
                      0,  0};
  if (c->opt == RT_OPT_ADAMW) {
    const double bc1 = 1.0 - pow(c->beta1, (double)t), bc2 = 1.0 - pow(c->beta2, (double)t);
    s.step = lr / bc1;
    s.rbc2 = 1.0 / sqrt(bc2);
    s.keep = 1.0 - lr * c->weight_decay;
  }
  return s;
}

static double read_sumsq(rt_run *r) {
  rt_dev *d = r->dev->dev;
  double ss = NAN;
  if (d->ops->download(d, &ss, d->prog->sumsq_off, sizeof ss) != 0) return NAN;
  return ss;
}

double rt_device_optim_step(rt_run *r, double lr, double gscale, int64_t t) {
  rt_dev *d = r->dev->dev;
  rt_opt_scalars s = scalars(&r->o.train, lr, gscale, t);
  if (d->ops->upload(d, d->prog->scalars_off, &s, sizeof s) != 0 || phase(r->dev, PH_UPDATE) != 0)
    return NAN;
  return read_sumsq(r);
}

double rt_device_grad_norm(rt_run *r) {
  if (phase(r->dev, PH_SUMSQ) != 0) return NAN;
  return sqrt(read_sumsq(r));
}

/* Parameters and optimizer state down to the host (before it reads them). */
int rt_device_sync_host(rt_run *r) {
  struct rt_devrun *dr = r->dev;
  if (!dr || !dr->pushed) return 0; /* the host copy is the newest */
  const rt_model *m = r->m;
  rt_dev *d = dr->dev;
  int ns = rt_optim_nslots(r->o.train.opt, r->o.train.momentum);
  for (int i = 0; i < m->nparams; i++) {
    const rt_param *p = &m->params[i];
    int64_t b = p->numel * (int64_t)r->esz;
    if (d->ops->download(d, rt_at(r, p->off), p->off, b) != 0) return -1;
    for (int s = 0; s < ns && p->trainable; s++)
      if (p->state_off[s] >= 0 &&
          d->ops->download(d, rt_at(r, p->state_off[s]), p->state_off[s], b) != 0)
        return -1;
  }
  return 0;
}

int rt_device_pull(rt_run *r, int64_t off, int64_t bytes) {
  struct rt_devrun *dr = r->dev;
  if (!dr || !dr->pushed) return 0;
  return dr->dev->ops->download(dr->dev, rt_at(r, off), off, bytes);
}

/* After the first step: the device's measured arena use (emu) and guard. */
int rt_device_report(rt_run *r) {
  struct rt_devrun *dr = r->dev;
  if (!dr || dr->reported) return 0;
  dr->reported = 1;
  int guard_ok = 1;
  int64_t hw = dr->dev->ops->high_water(dr->dev, &guard_ok);
  if (hw >= 0 && !r->o.quiet) {
    char a[32], b[32];
    rt_fmt_bytes(a, sizeof a, (double)r->m->plan.arena_bytes);
    rt_fmt_bytes(b, sizeof b, (double)hw);
    printf("device arena: planned %s (%lld B), measured %s (%lld B)\n", a,
           (long long)r->m->plan.arena_bytes, b, (long long)hw);
  }
  if (dr->dev->failed) return -1;
  if (!guard_ok) {
    rt_err("internal error: a kernel wrote past the device allocation (guard region changed)");
    return -1;
  }
  return 0;
}

int rt_device_run_site(rt_run *r, int s) {
  rt_dev *d = r->dev->dev;
  if (d->ops->upload(d, 0, r->arena.mem, r->m->plan.arena_bytes) != 0) return -1;
  r->dev->pushed = 1;
  d->prog->site_fn[s](d, d->base, 0);
  return failed(r->dev);
}

int rt_device_read(rt_run *r, void *dst, int64_t off, int64_t bytes) {
  return r->dev->dev->ops->download(r->dev->dev, dst, off, bytes);
}

const char *rt_device_name(const rt_run *r) { return r->dev ? r->dev->dev->name : "cpu"; }
