/* runtime/train.c -- the run (arena + model + data) and the training loop,
 * plus `eval`.
 *
 * One idea: a step is data -> forward -> backward -> clip -> schedule ->
 * update, all on memory allocated before the loop, and every piece of
 * state that decides the next step (weights, optimizer state, step, data
 * RNG) is in the checkpoint, so a resumed run replays the same numbers. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "rt_internal.h"

static int check_range(const rt_model *m, const char *what, int64_t off, int64_t bytes) {
  if (off < 0 || bytes < 0 || off + bytes > m->plan.arena_bytes) {
    rt_err("internal error: %s [%lld, +%lld) lies outside the %lld-byte arena "
           "(bad generated trainer)", what, (long long)off, (long long)bytes,
           (long long)m->plan.arena_bytes);
    return -1;
  }
  return 0;
}

static int check_model(const rt_model *m) {
  size_t es = rt_dtype_size(m->dtype);
  int64_t bt = (int64_t)m->data.batch * m->data.seq;
  if (m->data.batch <= 0 || m->data.seq <= 0 || m->data.vocab <= 0) {
    rt_err("internal error: bad batch/seq/vocab in the model table");
    return -1;
  }
  if (check_range(m, "tokens", m->tokens_off, bt * 4) ||
      check_range(m, "targets", m->targets_off, bt * 4) ||
      check_range(m, "loss", m->loss_off, (int64_t)es))
    return -1;
  /* the logits, or (fused head) what the sampler computes them from */
  if (m->logits_off >= 0
          ? check_range(m, "logits", m->logits_off, bt * m->data.vocab * (int64_t)es)
          : m->head_c <= 0 ||
                check_range(m, "head input", m->head_x_off, bt * m->head_c * (int64_t)es) ||
                check_range(m, "head weight", m->head_w_off,
                            m->head_c * m->data.vocab * (int64_t)es))
    return -1;
  for (int i = 0; i < m->nparams; i++) {
    const rt_param *p = &m->params[i];
    int64_t b = p->numel * (int64_t)es;
    if (m->zero_stage < 3 && check_range(m, p->name, p->off, b)) return -1;
    if (p->trainable && check_range(m, p->name, p->grad_off, b)) return -1;
    /* zero keeps the state after the arena (runtime/dist.c) */
    for (int s = 0; s < rt_optim_nslots(m->train.opt, m->train.momentum); s++)
      if (p->trainable && m->zero_stage == 0 && check_range(m, p->name, p->state_off[s], b))
        return -1;
  }
  return 0;
}

int rt_run_open(rt_run *r, const rt_model *m, const rt_opts *o) {
  memset(r, 0, sizeof *r);
  r->m = m;
  r->o = *o;
  r->esz = rt_dtype_size(m->dtype);
  if (check_model(m) != 0) return -1;
  if (o->device) { /* the device's arena is the real one (device.c) */
    if (rt_arena_open_mirror(&r->arena, m->plan.arena_bytes + o->arena_extra) != 0) return -1;
  } else {
    if (rt_arena_open(&r->arena, m->plan.arena_bytes + o->arena_extra) != 0) return -1;
    rt_arena_fill_canary(&r->arena);
  }
  r->ctx = (rt_ctx){.m = m, .arena = r->arena.mem, .threads = o->threads, .nmicro = 1};
  rt_finite_setup(r->arena.mem, m->dtype); /* FTC_CHECK_FINITE */
  rt_anomaly_init(&r->an, o);
  return rt_device_open(r);
}

void rt_run_close(rt_run *r) {
  if (r->have_data) rt_data_close(&r->data);
  r->have_data = 0;
  rt_device_close(r);
  rt_arena_close(&r->arena);
  rt_dist_close(r->dist);
  r->dist = NULL;
}

double rt_loss(const rt_run *r) {
  const void *p = rt_at(r, r->m->loss_off);
  return r->m->dtype == RT_F64 ? *(const double *)p : (double)*(const float *)p;
}

int rt_setup_weights(rt_run *r, int want_trained) {
  if (r->o.init_path) return rt_weights_load(r, r->o.init_path);
  if (want_trained) {
    char *path;
    if (rt_find_trained(r->o.train.out_dir, &path) != 0) return -1;
    if (path) {
      int rc = rt_weights_load(r, path);
      free(path);
      return rc;
    }
  }
  if (r->m->init_path) return rt_weights_load(r, r->m->init_path);
  if (want_trained)
    rt_warn("no trained weights in %s (and no --init): using freshly initialized weights",
            r->o.train.out_dir);
  rt_weights_init(r);
  return 0;
}

double rt_eval_loss(rt_run *r) {
  int64_t nb = rt_data_val_batches(&r->data);
  int64_t want = r->o.train.eval_batches > 0 ? r->o.train.eval_batches : 8;
  if (nb > want) nb = want;
  if (nb == 0) return NAN;
  double sum = 0;
  r->ctx.no_grads = 1; /* loss only: fused kernels skip the gradients */
  for (int64_t b = 0; b < nb; b++) {
    rt_data_val(&r->data, b, rt_at(r, r->m->tokens_off), rt_at(r, r->m->targets_off));
    if (rt_step_forward(r) != 0) {
      sum = NAN;
      break;
    }
    sum += rt_loss(r);
    if (b == 0) rt_fault_eval(); /* FTC_FAULT=kill@eval:N (tests) */
  }
  r->ctx.no_grads = 0;
  return sum / (double)nb;
}

/* Plan vs measurement after the first step; -1 if the guard was hit. */
static int report_memory(rt_run *r) {
  if (r->dev) return rt_device_report(r); /* the host copy is no measure */
  int64_t hw = rt_arena_high_water(&r->arena), planned = rt_dist_planned(r);
  char a[32], b[32], c[32], who[48] = "";
  rt_fmt_bytes(a, sizeof a, (double)planned);
  rt_fmt_bytes(b, sizeof b, (double)hw);
  rt_fmt_bytes(c, sizeof c, (double)rt_proc_kib("VmHWM") * 1024);
  if (r->dist) snprintf(who, sizeof who, " (rank %d of %d)", r->dist->rank, r->dist->world);
  if (!r->o.quiet || r->dist) /* every rank reports its own */
    printf("memory%s: arena planned %s (%lld B), measured %s (%lld B); peak RSS %s\n", who, a,
           (long long)planned, b, (long long)hw, c);
  if (!rt_arena_guard_ok(&r->arena)) {
    rt_err("internal error: a kernel wrote past the planned arena (guard region changed)");
    return -1;
  }
  return 0;
}

static int save_ckpt(rt_run *r, const char *ckpt_path) {
  if (rt_device_sync_host(r) != 0 ||
      (r->dist ? rt_dist_ckpt_save(r, ckpt_path) != 0 : rt_ckpt_save(r, ckpt_path) != 0))
    return -1;
  if (!r->o.quiet) printf("saved checkpoint %s (step %lld)\n", ckpt_path, (long long)r->step);
  /* --keep K (a failure there is a warning); a sharded checkpoint keeps
   * only the newest (its index names files the next save replaces) */
  if (!r->dist) rt_ckpt_keep(r, ckpt_path);
  return 0;
}

static int train_loop(rt_run *r, const char *ckpt_path) {
  const rt_model *m = r->m;
  const rt_train_cfg *c = &r->o.train;
  rt_metrics mt = {.quiet = 1}; /* ranks > 0 log nothing */
  int lead = !r->dist || r->dist->rank == 0;
  if (lead && rt_metrics_open(&mt, c->out_dir, r->o.resume, r->o.quiet, r->step) != 0) return 1;
  mt.peak = rt_peak_flops(rt_get_threads(), m->dtype, &mt.peak_how);
  int measured = 0, rc = 0, warned_val = 0;
  int64_t log_every = c->log_every > 0 ? c->log_every : 1;
  rt_signals_install();
  while (r->step < c->steps) {
    double t0 = rt_now();
    int64_t t = r->step + 1;
    rt_finite_reset();
    double loss;
    if (rt_step_grads(r, &loss) != 0) { /* every micro-batch's (accum.c) */
      rc = 3;
      break;
    }
    rt_fault_step(r, t, &loss);
    int stop = rt_signals_stop() || (r->o.stop_at > 0 && t >= r->o.stop_at);
    if (r->dist && rt_dist_after_backward(r, &loss, &stop) != 0) {
      rc = 1;
      break;
    }
    /* a non-finite loss or norm is named, then stopped or skipped
     * (anomaly.c; with ranks the loss is the average, the same on every
     * rank, so all skip or stop together); clipping and the skip policy
     * need the norm before the update, otherwise the update's own read of
     * the gradients gives it */
    double lr = rt_sched_lr(c, t), norm = NAN, inv = 1.0 / (double)r->o.accum; /* sum -> mean */
    int skip = 0;
    r->an.skipped_now = 0;
    if (!isfinite(loss)) skip = rt_nonfinite(r, t, "loss", loss, 1);
    else if (!r->dist && (c->clip > 0 || r->an.skip)) {
      norm = rt_grad_norm(r) * inv;
      if (!isfinite(norm)) skip = rt_nonfinite(r, t, "gradient norm", norm, 1);
    }
    if (skip < 0) {
      rc = 1;
      break;
    }
    if (skip) {
      /* no update */
    } else if (r->dist) {
      if (rt_dist_update(r, lr, t, &norm) != 0) {
        rc = 1;
        break;
      }
    } else if (c->clip > 0) {
      rt_optim_step(r, lr, inv * (norm > c->clip ? c->clip / (norm + 1e-6) : 1.0), t);
    } else if (r->an.skip) {
      rt_optim_step(r, lr, inv, t);
    } else {
      norm = sqrt(rt_optim_step(r, lr, inv, t)) * inv;
    }
    if (!skip && !isfinite(norm)) { /* found by the update, which already used them */
      rt_nonfinite(r, t, "gradient norm", norm, 0);
      rc = 1;
      break;
    }
    r->an.spike = skip ? 0 : rt_spike(&r->an, loss);
    r->step = t;
    r->last_lr = lr;
    r->last_norm = norm;
    double ms = (rt_now() - t0) * 1000.0;
    if (!measured) {
      measured = 1;
      if (report_memory(r) != 0) {
        rc = 3;
        break;
      }
    }
    rt_metrics_step(&mt, r, t, loss, lr, ms, t % log_every == 0 || t == 1 || t == c->steps);
    /* stage 3's forward gathers: every rank evaluates, rank 0 logs */
    int evals = lead || (r->dist && r->dist->stage >= 3);
    if (evals && c->eval_every > 0 && t % c->eval_every == 0) {
      double vl = rt_eval_loss(r);
      if (isnan(vl)) {
        if (!warned_val) rt_warn("%s: no validation windows (split too large); eval skipped",
                                 r->data.path);
        warned_val = 1;
      } else {
        rt_metrics_eval(&mt, t, vl);
      }
    }
    if ((c->save_every > 0 && t % c->save_every == 0 && t < c->steps) || stop)
      if (save_ckpt(r, ckpt_path) != 0) {
        rc = 3;
        break;
      }
    if (stop) {
      if (!r->o.quiet)
        printf("%s at step %lld; continue with --resume\n",
               rt_signals_stop() ? "interrupted" : "stopped", (long long)t);
      break;
    }
  }
  rt_signals_restore();
  rt_metrics_close(&mt);
  if (rc == 0 && r->step >= c->steps) {
    char *model_path = rt_path_join(c->out_dir, "model.safetensors");
    void **whole = NULL; /* zero stage 3: gathered (collective) */
    if (!model_path || save_ckpt(r, ckpt_path) != 0 || rt_dist_full_weights(r, &whole) != 0 ||
        (lead && rt_weights_save_from(r, model_path, whole) != 0))
      rc = 3;
    else if (!r->o.quiet)
      printf("saved weights %s\n", model_path);
    for (int i = 0; whole && i < m->nparams; i++) free(whole[i]);
    free(whole);
    free(model_path);
  }
  return rc;
}

int rt_cmd_train(const rt_model *m, const rt_opts *o_in) {
  rt_run r;
  rt_opts ranked = *o_in, *o = &ranked;
  rt_dist *dist;
  if (rt_dist_open(&dist, m, &ranked, 0) != 0) return 1;
  if (rt_run_open(&r, m, o) != 0) {
    rt_run_close(&r);
    rt_dist_close(dist);
    return 1;
  }
  if (dist) rt_dist_attach(dist, &r);
  int rc = 1;
  char *ckpt_path = NULL;
  if (rt_mkdir_p(o->train.out_dir) != 0) {
    rc = 3;
    goto done;
  }
  ckpt_path = rt_path_join(o->train.out_dir, "ckpt.safetensors");
  if (!ckpt_path || rt_data_open(&r.data, &o->data, o->train.seed) != 0) goto done;
  r.have_data = 1;
  if (o->resume) {
    /* sharded (zero) checkpoints load through dist's loader at any world
     * size; the others through rt_ckpt_resume, which falls back to --keep's */
    if (dist || rt_dist_ckpt_sharded(ckpt_path) == 1) {
      if (!rt_file_exists(ckpt_path)) {
        rt_err("%s: no checkpoint to resume from", ckpt_path);
        goto done;
      }
      if (rt_dist_ckpt_load(&r, ckpt_path) != 0) goto done;
      if (!o->quiet) printf("resumed from %s at step %lld\n", ckpt_path, (long long)r.step);
    } else if (rt_ckpt_resume(&r, ckpt_path) != 0) {
      goto done; /* falls back to --keep's */
    }
  } else {
    if (rt_file_exists(ckpt_path) && !o->quiet)
      rt_warn("%s exists and will be replaced at the next save (--resume continues it)",
              ckpt_path);
    if (rt_setup_weights(&r, 0) != 0) goto done;
    rt_optstate_zero(&r);
    rt_dist_zero_state(&r);
  }
  if (!o->quiet) {
    int64_t np = 0;
    for (int i = 0; i < m->nparams; i++) np += m->params[i].numel;
    char a[32];
    rt_fmt_bytes(a, sizeof a, (double)(m->plan.arena_bytes + o->arena_extra));
    char ranks[160] = "";
    if (r.o.accum > 1) /* a resume may have raised it (accum.c) */
      snprintf(ranks, sizeof ranks, " x %lld micro-batches", (long long)r.o.accum);
    if (dist && dist->world > 1)
      snprintf(ranks + strlen(ranks), sizeof ranks - strlen(ranks), " x %d ranks (%s)",
               dist->world, rt_launcher_name(dist->l.how));
    if (dist && dist->stage)
      snprintf(ranks + strlen(ranks), sizeof ranks - strlen(ranks), ", ZeRO stage %d",
               dist->stage);
    printf("training %s: %lld parameters, batch %d%s x seq %d, %lld steps, arena %s, data %s "
           "(%lld train / %lld val tokens), out %s\n",
           m->recipe ? m->recipe : "model", (long long)np, m->data.batch, ranks, m->data.seq,
           (long long)o->train.steps, a, o->data.path, (long long)r.data.ntrain,
           (long long)(r.data.n - r.data.ntrain), o->train.out_dir);
  }
  rt_warn_settings(o);
  if (r.step >= o->train.steps) {
    if (!o->quiet)
      printf("already at step %lld of %lld; nothing to do\n", (long long)r.step,
             (long long)o->train.steps);
    rc = 0;
    goto done;
  }
  rc = train_loop(&r, ckpt_path);
done:
  /* a rank that fails alone would leave the others waiting in a collective */
  if (rc != 0 && dist && dist->comm) rt_comm_abort(dist->comm, rc);
  free(ckpt_path);
  rt_run_close(&r); /* closes dist too */
  return rc;
}

int rt_cmd_eval(const rt_model *m, const rt_opts *o) {
  rt_run r;
  int rc = 1;
  if (rt_dist_run_open(&r, m, o) != 0) goto done;
  if (rt_data_open(&r.data, &o->data, o->train.seed) != 0) goto done;
  r.have_data = 1;
  if (rt_setup_weights(&r, 1) != 0) goto done;
  double vl = rt_eval_loss(&r);
  if (isnan(vl)) {
    rt_err("%s: no validation windows (split %.3g leaves %lld tokens)", o->data.path,
           o->data.split, (long long)(r.data.n - r.data.ntrain));
    goto done;
  }
  printf("val_loss %.6f\n", vl);
  rc = 0;
done:
  rt_run_close(&r);
  return rc;
}
