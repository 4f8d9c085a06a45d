/* runtime/dist.c -- data parallelism and ZeRO stages 1-2 in the trainer:
 * the rank's rows of the global batch, gradient collectives, the update on
 * this rank's shards and the gather of the updated weights.
 *
 * One idea: optimizer updates are elementwise, so updating a slice of a
 * tensor gives the same numbers as updating it whole; sharding is only a
 * choice of which slice each rank updates and where its state lives (a
 * region after the planned arena, laid out by rt_dist_region, which
 * `ftc plan --ranks N` computes the same way). Stage 1 keeps full gradients
 * (all-reduced) and shards the state; stage 2 reduce-scatters each gradient
 * into a shard as soon as the backward completes it (the zero pass puts
 * that collective in the schedule), so the full gradient dies there.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"
#include "dist.h"
#include "kernels.h" /* rt_add_*: a micro-batch adds into the gradient slice */

#define ALIGN 64
static int64_t align_up(int64_t x) { return (x + ALIGN - 1) / ALIGN * ALIGN; }

int64_t rt_dist_region(const rt_model *m, int nslots, int rank, int world, int64_t *offs) {
  if (m->zero_stage < 1) return 0;
  int nblk = nslots + (m->zero_stage >= 2) + (m->zero_stage >= 3);
  int64_t es = (int64_t)rt_dtype_size(m->dtype), top = 0, end = 0;
  for (int b = 0; b < nblk; b++)
    for (int i = 0; i < m->nparams; i++) {
      const rt_param *p = &m->params[i];
      int64_t lo, cnt, off = -1;
      if (p->trainable || b == nslots + 1) { /* the parameter block: all of them */
        rt_shard_range(p->numel, rank, world, &lo, &cnt);
        off = top;
        top = align_up(top + cnt * es);
        if (cnt > 0 && off + cnt * es > end) end = off + cnt * es;
      }
      if (offs) offs[(size_t)b * (size_t)m->nparams + (size_t)i] = off;
    }
  return end;
}

static int parse_kill(rt_dist *d) {
  const char *k = getenv("FTC_FAULT_KILL");
  d->kill_rank = -1;
  if (!k || !*k) return 0;
  long long st = 0;
  if (sscanf(k, "%d:%lld", &d->kill_rank, &st) != 2 || st < 1) {
    rt_err("FTC_FAULT_KILL=\"%s\": expected RANK:STEP", k);
    return -1;
  }
  d->kill_step = st;
  return 0;
}

void rt_dist_close(rt_dist *d) {
  if (!d) return;
  rt_comm_close(d->comm);
  free(d->lo);
  free(d->cnt);
  free(d->counts);
  free(d->displs);
  free(d->s_off[0]);
  free(d->s_off[1]);
  free(d->g_off);
  free(d->p_off);
  free(d->greq);
  free(d->req);
  free(d->owner);
  free(d->by_off);
  free(d->part);
  free(d);
}

int rt_dist_open(rt_dist **out, const rt_model *m, rt_opts *o, int alone) {
  *out = NULL;
  rt_launch l;
  if (alone) { /* eval, sample: one process; stage 3 still keeps slices */
    memset(&l, 0, sizeof l);
    l.world = 1;
    l.timeout = 300;
    if (m->zero_stage < 3) return 0;
  } else if (rt_launch_detect(&l) != 0) {
    return -1;
  }
  if (l.world == 1 && m->zero_stage == 0) return 0;
  if (o->device != RT_DEVICE_CPU) { /* the device step has no collectives yet */
    rt_err("rank %d of %d: --device %s: ranks on a device are not supported yet (the "
           "gradients would not be reduced); run the ranks with --device cpu", l.rank, l.world,
           rt_dev_kind_name((rt_device_kind)o->device));
    return -1;
  }
  rt_dist *d = rt_xcalloc(1, sizeof *d, "ranks");
  if (!d) return -1;
  d->l = l;
  d->rank = l.rank;
  d->world = l.world;
  d->stage = m->zero_stage;
  d->nparams = m->nparams;
  d->nslots = rt_optim_nslots(o->train.opt, o->train.momentum);
  if (parse_kill(d) != 0) goto fail;
  if (l.world > 1) {
    static char name[96];
    snprintf(name, sizeof name, "%s[rank %d]", rt_progname, l.rank);
    rt_progname = name;
    if (l.how == RT_LAUNCH_TORCHRUN) {
      rt_err("rank %d of %d: CPU ranks communicate through MPI; start them with mpirun or "
             "srun (RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT set up NCCL for GPU ranks)",
             l.rank, l.world);
      goto fail;
    }
    d->comm = rt_comm_open(&l, RT_COMM_MPI);
    if (!d->comm) goto fail;
  }
  size_t np = (size_t)(m->nparams > 0 ? m->nparams : 1), w = (size_t)l.world;
  d->lo = rt_xcalloc(np, sizeof(int64_t), "shards");
  d->cnt = rt_xcalloc(np, sizeof(int64_t), "shards");
  d->counts = rt_xcalloc(np * w, sizeof(int64_t), "shards");
  d->displs = rt_xcalloc(np * w, sizeof(int64_t), "shards");
  d->req = rt_xcalloc(np, sizeof(rt_comm_req), "requests");
  d->owner = rt_xcalloc(np, sizeof(int), "buckets");
  d->by_off = rt_xcalloc(np, sizeof(int), "buckets");
  d->greq = rt_xcalloc(np, sizeof(rt_comm_req), "requests");
  d->p_off = rt_xcalloc(np, sizeof(int64_t), "shards");
  d->part = rt_xcalloc(np, sizeof(double), "shards");
  int64_t *offs = rt_xcalloc(np * 4, sizeof(int64_t), "shards");
  d->s_off[0] = rt_xcalloc(np, sizeof(int64_t), "shards");
  d->s_off[1] = rt_xcalloc(np, sizeof(int64_t), "shards");
  d->g_off = rt_xcalloc(np, sizeof(int64_t), "shards");
  if (!d->lo || !d->cnt || !d->counts || !d->displs || !d->req || !d->part || !offs ||
      !d->owner || !d->by_off ||
      !d->greq || !d->p_off || !d->s_off[0] ||
      !d->s_off[1] || !d->g_off) {
    free(offs);
    goto fail;
  }
  for (int i = 0; i < m->nparams; i++) {
    const rt_param *p = &m->params[i];
    for (int r = 0; r < l.world; r++)
      rt_shard_range(p->numel, r, l.world, &d->displs[(size_t)i * w + (size_t)r],
                     &d->counts[(size_t)i * w + (size_t)r]);
    rt_shard_range(p->numel, l.rank, l.world, &d->lo[i], &d->cnt[i]);
    d->req[i].name = d->greq[i].name = p->name;
    d->greq[i].what = "all-gather";
  }
  d->region_bytes = rt_dist_region(m, d->nslots, l.rank, l.world, offs);
  d->region_off = align_up(m->plan.arena_bytes);
  for (int i = 0; i < m->nparams; i++) {
    int tr = m->params[i].trainable && d->stage >= 1;
    for (int s = 0; s < 2; s++)
      d->s_off[s][i] = tr && s < d->nslots ? d->region_off + offs[(size_t)s * np + (size_t)i] : -1;
    d->g_off[i] = tr && d->stage >= 2 ? d->region_off + offs[(size_t)d->nslots * np + (size_t)i]
                                      : -1;
    d->p_off[i] = d->stage >= 3 ? d->region_off + offs[(size_t)(d->nslots + 1) * np + (size_t)i]
                                : -1;
  }
  free(offs);
  d->pend = -1;
  d->bucket_cap = (int64_t)25 << 20;
  const char *mb = getenv("FTC_BUCKET_MB");
  if (mb && *mb) {
    char *end;
    double v = strtod(mb, &end);
    if (*end || !(v >= 0)) {
      rt_err("environment FTC_BUCKET_MB=\"%s\" is not a size in MiB", mb);
      goto fail;
    }
    d->bucket_cap = (int64_t)(v * (1 << 20));
  }
  for (int i = 0; i < m->nparams; i++) { /* insertion sort by gradient address */
    int j = i;
    while (j > 0 && m->params[d->by_off[j - 1]].grad_off > m->params[i].grad_off) {
      d->by_off[j] = d->by_off[j - 1];
      j--;
    }
    d->by_off[j] = i;
  }
  o->arena_extra = d->region_bytes ? d->region_off - m->plan.arena_bytes + d->region_bytes : 0;
  if (o->keep > 0 && d->stage >= 1 && l.rank == 0)
    rt_warn("--keep %d: a sharded (zero) run keeps only its newest checkpoint (the next "
            "save replaces the shard files an older index names)", o->keep);
  if (l.rank > 0) o->quiet = 1;
  *out = d;
  return 0;
fail:
  rt_dist_close(d);
  return -1;
}

int rt_dist_run_open(rt_run *r, const rt_model *m, const rt_opts *o) {
  rt_opts x = *o;
  rt_dist *d;
  memset(r, 0, sizeof *r);
  if (rt_dist_open(&d, m, &x, 1) != 0) return -1;
  if (rt_run_open(r, m, &x) != 0) {
    rt_dist_close(d);
    return -1;
  }
  if (d) rt_dist_attach(d, r);
  return 0;
}

void rt_dist_attach(rt_dist *d, rt_run *r) {
  r->dist = d;
  r->ctx.dist = d;
  d->m = r->m;
  d->arena = r->arena.mem;
}

int64_t rt_dist_planned(const rt_run *r) { return r->m->plan.arena_bytes + r->o.arena_extra; }

void rt_dist_zero_state(rt_run *r) {
  rt_dist *d = r->dist;
  for (int i = 0; d && i < d->nparams; i++)
    for (int s = 0; s < 2; s++)
      if (d->s_off[s][i] >= 0) memset(rt_at(r, d->s_off[s][i]), 0, (size_t)d->cnt[i] * r->esz);
}

/* ---- the step ------------------------------------------------------------ */

static void fatal(rt_dist *d) { rt_comm_abort(d->comm, 1); }

/* Stages 0-1 all-reduce whole gradients in place. Gradients completed one
 * after the other that lie back to back in the arena (the planner lays the
 * persistent gradients out in the order the backward completes them)
 * share one all-reduce of up to FTC_BUCKET_MB (25) MiB: fewer, larger
 * messages. The open bucket starts when the next gradient does not fit or
 * is not adjacent, or when one of its gradients is waited for. */
static void flush(rt_dist *d) {
  if (d->pend < 0) return;
  rt_comm_req *q = &d->req[d->pend];
  size_t es = rt_dtype_size(d->m->dtype);
  q->what = "all-reduce";
  if (d->comm && d->comm->ops->allreduce(d->comm, d->arena + d->pend_lo,
                                         (d->pend_hi - d->pend_lo) / (int64_t)es, d->m->dtype,
                                         q) != 0)
    fatal(d);
  d->pend = -1;
  d->nflush++;
}

static void start_grad(rt_dist *d, const rt_model *m, unsigned char *arena, int i, void *grad) {
  const rt_param *p = &m->params[i];
  rt_comm_req *q = &d->req[i];
  size_t w = (size_t)d->world;
  if (d->stage < 2) {
    int64_t lo = (unsigned char *)grad - arena;
    int64_t hi = lo + p->numel * (int64_t)rt_dtype_size(m->dtype);
    if (d->pend >= 0 && lo == align_up(d->pend_hi) && hi - d->pend_lo <= d->bucket_cap) {
      d->pend_hi = hi;
      d->owner[i] = d->pend;
      return;
    }
    flush(d);
    d->pend = d->owner[i] = i;
    d->pend_lo = lo;
    d->pend_hi = hi;
    return;
  }
  void *shard = arena + d->g_off[i]; /* stage >= 2: into this rank's slice */
  q->what = "reduce-scatter";
  if (!d->comm) {
    memcpy(shard, grad, (size_t)p->numel * rt_dtype_size(m->dtype));
    return;
  }
  if (d->comm->ops->reduce_scatter(d->comm, grad, shard, &d->counts[(size_t)i * w],
                                   &d->displs[(size_t)i * w], m->dtype, q) != 0)
    fatal(d);
}

static void wait_req(rt_dist *d, int i) {
  if (d->stage < 2) {
    if (d->owner[i] == d->pend) flush(d);
    i = d->owner[i];
  }
  if (d->comm && rt_comm_wait(d->comm, &d->req[i]) != 0) fatal(d);
}

/* Micro-batches (accum.c): at stages 0-1 the whole gradients add up in
 * place, so their collectives run after the last micro-batch only. */
static int before_last(const rt_ctx *c) {
  return c->dist->stage < 2 && c->micro + 1 < c->nmicro;
}

/* At stages 2-3 each micro-batch's whole gradient is new, and its
 * reduce-scatter must add into the slice: this rank adds the slice into
 * its own part of the gradient first, so the collective's sum includes it
 * (no buffer beyond the gradient itself). */
static void add_slice(rt_dist *d, const rt_model *m, unsigned char *arena, int i, void *grad) {
  size_t es = rt_dtype_size(m->dtype);
  void *part = (unsigned char *)grad + (size_t)d->lo[i] * es, *shard = arena + d->g_off[i];
  if (m->dtype == RT_F64) rt_add_f64(part, part, shard, d->cnt[i], d->cnt[i]);
  else rt_add_f32(part, part, shard, d->cnt[i], d->cnt[i]);
}

void rt_dist_grad_sync(rt_ctx *c, int param, void *grad) {
  rt_dist *d = c->dist;
  if (!d || c->no_grads || before_last(c)) return;
  if (d->stage >= 2 && c->micro > 0 && d->cnt[param] > 0) add_slice(d, c->m, c->arena, param, grad);
  start_grad(d, c->m, c->arena, param, grad);
}

void rt_dist_grad_wait(rt_ctx *c, int param) {
  rt_dist *d = c->dist;
  if (!d || c->no_grads || before_last(c)) return;
  wait_req(d, param);
}

void rt_dist_param_gather(rt_ctx *c, int param, void *out) {
  rt_dist *d = c->dist;
  const rt_model *m = c->m;
  size_t es = rt_dtype_size(m->dtype), w = (size_t)(d ? d->world : 1);
  if (!d || d->p_off[param] < 0) return; /* not sharded: nothing to gather */
  memcpy((char *)out + (size_t)d->lo[param] * es, c->arena + d->p_off[param],
         (size_t)d->cnt[param] * es);
  if (d->comm && d->comm->ops->allgather(d->comm, out, &d->counts[(size_t)param * w],
                                         &d->displs[(size_t)param * w], m->dtype,
                                         &d->greq[param]) != 0)
    fatal(d);
}

void rt_dist_param_wait(rt_ctx *c, int param) {
  rt_dist *d = c->dist;
  if (d && d->comm && rt_comm_wait(d->comm, &d->greq[param]) != 0) fatal(d);
}

void *rt_dist_param_slice(const rt_run *r, int i, int64_t *lo, int64_t *cnt) {
  const rt_dist *d = r->dist;
  if (!d || d->p_off[i] < 0) return NULL;
  *lo = d->lo[i];
  *cnt = d->cnt[i];
  return rt_at(r, d->p_off[i]);
}

int rt_dist_full_weights(rt_run *r, void ***out) {
  const rt_model *m = r->m;
  rt_dist *d = r->dist;
  *out = NULL;
  if (!d || d->stage < 3) return 0;
  void **w = rt_xcalloc((size_t)m->nparams + 1, sizeof *w, "weights");
  if (!w) return -1;
  size_t np = (size_t)d->world;
  for (int i = 0; i < m->nparams; i++) {
    w[i] = rt_xmalloc((size_t)m->params[i].numel * r->esz + 1, "weights");
    if (!w[i]) goto fail;
    memcpy((char *)w[i] + (size_t)d->lo[i] * r->esz, rt_at(r, d->p_off[i]),
           (size_t)d->cnt[i] * r->esz);
    if (d->comm && (d->comm->ops->allgather(d->comm, w[i], &d->counts[(size_t)i * np],
                                            &d->displs[(size_t)i * np], m->dtype,
                                            &d->greq[i]) != 0 ||
                    rt_comm_wait(d->comm, &d->greq[i]) != 0))
      goto fail;
  }
  *out = w;
  return 0;
fail:
  for (int i = 0; i < m->nparams; i++) free(w[i]);
  free(w);
  return -1;
}

int rt_dist_after_backward(rt_run *r, double *loss, int *stop) {
  rt_dist *d = r->dist;
  const rt_model *m = r->m;
  if (d->kill_rank == d->rank && r->step + 1 == d->kill_step) {
    fprintf(stderr, "%s: FTC_FAULT_KILL: rank %d kills itself in step %lld\n", rt_progname,
            d->rank, (long long)d->kill_step);
    fflush(stderr);
    raise(SIGKILL);
  }
  if (!m->grad_sync_nodes) { /* plain data parallel: every gradient now, by address */
    for (int k = 0; k < m->nparams; k++) {
      int i = d->by_off[k];
      if (m->params[i].trainable) start_grad(d, m, r->arena.mem, i, rt_at(r, m->params[i].grad_off));
    }
    for (int i = 0; i < m->nparams; i++)
      if (m->params[i].trainable) wait_req(d, i);
  }
  if (r->step == 0 && d->rank == 0 && d->stage < 2 && !r->o.quiet) {
    int ng = 0;
    for (int i = 0; i < m->nparams; i++) ng += m->params[i].trainable;
    printf("gradients: %d tensors in %d all-reduce%s (buckets of up to %.0f MiB, "
           "FTC_BUCKET_MB)\n", ng, d->nflush, d->nflush == 1 ? "" : "s",
           (double)d->bucket_cap / (1 << 20));
  }
  d->nflush = 0;
  if (!d->comm) return 0;
  double v[2] = {*loss, *stop ? 1.0 : 0.0};
  if (rt_comm_allreduce(d->comm, v, 2, RT_F64, "loss") != 0) return -1;
  *loss = v[0] / d->world;
  *stop = v[1] > 0;
  return 0;
}

/* this rank's slice of param i's gradient */
static void *grad_slice(rt_run *r, int i) {
  const rt_dist *d = r->dist;
  if (d->stage >= 2) return rt_at(r, d->g_off[i]);
  return (unsigned char *)rt_at(r, r->m->params[i].grad_off) + (size_t)d->lo[i] * r->esz;
}

static double sumsq(const rt_run *r, const void *g, int64_t n) {
  return r->m->dtype == RT_F64 ? rt_sumsq_f64(g, n) : rt_sumsq_f32(g, n);
}

int rt_dist_update(rt_run *r, double lr, int64_t t, double *norm) {
  rt_dist *d = r->dist;
  const rt_model *m = r->m;
  const rt_train_cfg *c = &r->o.train;
  /* the sum over ranks and micro-batches (accum.c) becomes their mean */
  double avg = 1.0 / ((double)d->world * (double)r->o.accum), ss = 0;
  if (d->stage == 0) { /* replicated state: the single-process update */
    if (c->clip > 0) {
      double n = rt_grad_norm(r) * avg;
      rt_optim_step(r, lr, avg * (n > c->clip ? c->clip / (n + 1e-6) : 1.0), t);
      *norm = n;
    } else {
      *norm = sqrt(rt_optim_step(r, lr, avg, t)) * avg;
    }
    return 0;
  }
  double gscale = avg;
  if (c->clip > 0) {
    for (int i = 0; i < m->nparams; i++)
      if (m->params[i].trainable) ss += sumsq(r, grad_slice(r, i), d->cnt[i]);
    if (d->comm && rt_comm_allreduce(d->comm, &ss, 1, RT_F64, "gradient norm") != 0) return -1;
    *norm = sqrt(ss) * avg;
    if (*norm > c->clip) gscale *= c->clip / (*norm + 1e-6);
  }
  /* per-tensor sums added in parameter order: the same bits whatever the
   * thread count */
#pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < m->nparams; i++) {
    const rt_param *p = &m->params[i];
    d->part[i] = 0;
    if (!p->trainable || d->cnt[i] == 0) continue;
    int decay = c->weight_decay != 0.0 && !p->no_decay;
    void *w = d->p_off[i] >= 0 ? rt_at(r, d->p_off[i])
                               : (unsigned char *)rt_at(r, p->off) + (size_t)d->lo[i] * r->esz;
    void *s0 = d->s_off[0][i] >= 0 ? rt_at(r, d->s_off[0][i]) : NULL;
    void *s1 = d->s_off[1][i] >= 0 ? rt_at(r, d->s_off[1][i]) : NULL;
    if (m->dtype == RT_F64)
      d->part[i] = rt_optim_update_f64(c, w, grad_slice(r, i), s0, s1, d->cnt[i], lr, gscale, t, decay);
    else
      d->part[i] = rt_optim_update_f32(c, w, grad_slice(r, i), s0, s1, d->cnt[i], lr, gscale, t, decay);
  }
  if (c->clip <= 0) {
    for (int i = 0; i < m->nparams; i++) ss += d->part[i];
    if (d->comm && rt_comm_allreduce(d->comm, &ss, 1, RT_F64, "gradient norm") != 0) return -1;
    *norm = sqrt(ss) * avg;
  }
  if (!d->comm || d->stage >= 3) return 0; /* stage 3: the next forward gathers */
  size_t w = (size_t)d->world;
  for (int i = 0; i < m->nparams; i++) { /* every rank's updated slice to everyone */
    const rt_param *p = &m->params[i];
    if (!p->trainable) continue;
    d->req[i].what = "all-gather";
    if (d->comm->ops->allgather(d->comm, rt_at(r, p->off), &d->counts[(size_t)i * w],
                                &d->displs[(size_t)i * w], m->dtype, &d->req[i]) != 0)
      return -1;
  }
  for (int i = 0; i < m->nparams; i++)
    if (m->params[i].trainable && rt_comm_wait(d->comm, &d->req[i]) != 0) return -1;
  return 0;
}
