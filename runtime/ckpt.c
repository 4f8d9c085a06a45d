/* runtime/ckpt.c -- weights in and out, and checkpoints.
 *
 * One idea: everything is a safetensors file keyed by Hugging Face names.
 * Weights load by name (a "transformer." prefix and extra buffers such as
 * "h.0.attn.bias" are tolerated) from F32/F64/F16/BF16; model.safetensors is
 * F32 for other tools; the checkpoint keeps the arena dtype exactly, adds
 * "optim.<slot>.<name>" tensors and puts step, data position and recipe hash
 * in __metadata__. The learning-rate schedule is a function of the step, so
 * the step is the schedule state. Every write is atomic (rt_st_write). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

#define CKPT_VERSION "1"

void rt_weights_init(rt_run *r) {
  const rt_model *m = r->m;
  for (int i = 0; i < m->nparams; i++) {
    const rt_param *p = &m->params[i];
    rt_rng g;
    /* Seeded by name, so a parameter's init never depends on the others. */
    rt_rng_seed(&g, rt_hash_str(p->name, r->o.train.seed * 0x9e3779b97f4a7c15ULL + 1));
    /* zero stage 3 keeps a slice: the same stream, only [lo, lo+cnt) kept */
    int64_t lo = 0, cnt = p->numel;
    unsigned char *dst = rt_dist_param_slice(r, i, &lo, &cnt);
    if (!dst) dst = rt_at(r, p->off);
    for (int64_t k = 0; k < lo + cnt; k++) {
      double v = 0;
      switch (p->init) {
      case RT_INIT_NONE:
      case RT_INIT_ZEROS: v = 0; break;
      case RT_INIT_ONES: v = 1; break;
      case RT_INIT_NORMAL: v = p->init_arg * rt_rng_normal(&g); break;
      case RT_INIT_UNIFORM: v = p->init_arg * (2.0 * rt_rng_uniform(&g) - 1.0); break;
      }
      if (k < lo) continue;
      if (m->dtype == RT_F64) ((double *)dst)[k - lo] = v;
      else ((float *)dst)[k - lo] = (float)v;
    }
  }
}

void rt_optstate_zero(rt_run *r) {
  const rt_model *m = r->m;
  for (int i = 0; i < m->nparams; i++)
    for (int s = 0; s < 2; s++)
      if (m->params[i].trainable && m->params[i].state_off[s] >= 0)
        memset(rt_at(r, m->params[i].state_off[s]), 0, (size_t)m->params[i].numel * r->esz);
}

static void shape_str(char *buf, size_t n, int rank, const int64_t *shape) {
  size_t k = (size_t)snprintf(buf, n, "[");
  for (int d = 0; d < rank && k < n; d++)
    k += (size_t)snprintf(buf + k, n - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
  if (k < n) snprintf(buf + k, n - k, "]");
}

/* Reads tensor `name` (or "transformer."+name when prefix) into dst. */
static int load_tensor(rt_run *r, rt_st_file *f, const char *name, const rt_param *p,
                       void *dst, int allow_prefix, const char *what) {
  const rt_st_tensor *t = rt_st_find(f, name);
  char alt[512];
  if (!t && allow_prefix) {
    snprintf(alt, sizeof alt, "transformer.%s", name);
    t = rt_st_find(f, alt);
  }
  char want[128], got[128];
  shape_str(want, sizeof want, p->rank, p->shape);
  if (!t) {
    rt_err("%s: missing tensor '%s' (%s, shape %s)", f->path, name, what, want);
    return -1;
  }
  int same = t->rank == p->rank;
  for (int d = 0; same && d < p->rank; d++) same = t->shape[d] == p->shape[d];
  if (!same) {
    shape_str(got, sizeof got, t->rank, t->shape);
    rt_err("%s: tensor '%s' has shape %s, the model expects %s", f->path, t->name, got, want);
    return -1;
  }
  int64_t lo, cnt;
  void *slice = p >= r->m->params && p < r->m->params + r->m->nparams && dst == NULL
                    ? rt_dist_param_slice(r, (int)(p - r->m->params), &lo, &cnt)
                    : NULL;
  if (!slice) return rt_st_read(f, t, r->m->dtype, dst);
  /* zero stage 3: read whole, keep this rank's slice */
  void *buf = rt_xmalloc((size_t)p->numel * r->esz + 1, "tensor");
  int rc = buf ? rt_st_read(f, t, r->m->dtype, buf) : -1;
  if (rc == 0) memcpy(slice, (char *)buf + (size_t)lo * r->esz, (size_t)cnt * r->esz);
  free(buf);
  return rc;
}

int rt_weights_load(rt_run *r, const char *path) {
  rt_st_file f;
  if (rt_st_open(&f, path) != 0) return -1;
  const rt_model *m = r->m;
  int rc = 0;
  for (int i = 0; i < m->nparams && !rc; i++) /* NULL: the parameter's own storage */
    rc = load_tensor(r, &f, m->params[i].name, &m->params[i],
                     m->params[i].off >= 0 ? rt_at(r, m->params[i].off) : NULL, 1,
                     "a model parameter");
  if (!rc && !r->o.quiet) {
    int extra = f.n;
    for (int i = 0; i < f.n; i++) {
      const char *n = f.t[i].name;
      if (!strncmp(n, "transformer.", 12)) n += 12;
      for (int j = 0; j < m->nparams; j++)
        if (!strcmp(n, m->params[j].name)) {
          extra--;
          break;
        }
    }
    fprintf(stderr, "loaded %d tensors from %s%s", m->nparams, path, extra ? "" : "\n");
    if (extra) fprintf(stderr, " (%d other tensors ignored)\n", extra);
  }
  rt_st_close(&f);
  return rc;
}

static rt_st_dtype st_of(rt_dtype d) { return d == RT_F64 ? ST_F64 : ST_F32; }

int rt_weights_save(rt_run *r, const char *path) { return rt_weights_save_from(r, path, NULL); }

int rt_weights_save_from(rt_run *r, const char *path, void *const *data) {
  const rt_model *m = r->m;
  rt_st_out *t = rt_xcalloc((size_t)m->nparams, sizeof *t, "tensor list");
  if (!t) return -1;
  for (int i = 0; i < m->nparams; i++) {
    const rt_param *p = &m->params[i];
    t[i] = (rt_st_out){p->name, ST_F32, m->dtype, p->rank, p->shape,
                       data ? data[i] : rt_at(r, p->off)};
  }
  char step[32];
  snprintf(step, sizeof step, "%" PRId64, r->step);
  const char *meta[] = {"format", "pt", "ftrt.kind", "weights", "ftrt.step", step,
                        "ftrt.recipe_hash", m->hash ? m->hash : ""};
  int rc = rt_st_write(path, t, m->nparams, meta, 4);
  free(t);
  return rc;
}

int rt_ckpt_save(rt_run *r, const char *path) { return rt_ckpt_save_meta(r, path, NULL, 0); }

int rt_ckpt_save_meta(rt_run *r, const char *path, const char *const *extra, int nextra) {
  const rt_model *m = r->m;
  int nslots = rt_optim_nslots(r->o.train.opt, r->o.train.momentum);
  int cap = m->nparams * 3, n = 0;
  rt_st_out *t = rt_xcalloc((size_t)cap, sizeof *t, "tensor list");
  char **names = rt_xcalloc((size_t)cap, sizeof *names, "tensor names");
  int rc = -1;
  if (!t || !names) goto done;
  for (int i = 0; i < m->nparams; i++) {
    const rt_param *p = &m->params[i];
    if (p->off < 0) continue; /* zero stage 3: in the per-rank shards */
    t[n++] = (rt_st_out){p->name, st_of(m->dtype), m->dtype, p->rank, p->shape,
                         rt_at(r, p->off)};
  }
  for (int s = 0; s < nslots; s++)
    for (int i = 0; i < m->nparams; i++) {
      const rt_param *p = &m->params[i];
      if (!p->trainable || p->state_off[s] < 0) continue;
      size_t len = strlen(p->name) + 32;
      names[n] = rt_xmalloc(len, "tensor name");
      if (!names[n]) goto done;
      snprintf(names[n], len, "optim.%s.%s", rt_optim_slot_name(r->o.train.opt, s), p->name);
      t[n] = (rt_st_out){names[n], st_of(m->dtype), m->dtype, p->rank, p->shape,
                         rt_at(r, p->state_off[s])};
      n++;
    }
  char step[32], drng[32], dbat[32], seed[32], lr[32], steps[32], ntok[32], thr[16], acc[24];
  char skipped[32], lmean[32], lvar[32], ln[32];
  snprintf(skipped, sizeof skipped, "%" PRId64, r->an.skipped);
  snprintf(lmean, sizeof lmean, "%.17g", r->an.mean);
  snprintf(lvar, sizeof lvar, "%.17g", r->an.var);
  snprintf(ln, sizeof ln, "%" PRId64, r->an.n);
  snprintf(acc, sizeof acc, "%lld", (long long)r->o.accum);
  snprintf(ntok, sizeof ntok, "%" PRId64, r->data.n);
  snprintf(thr, sizeof thr, "%d", rt_get_threads());
  snprintf(step, sizeof step, "%" PRId64, r->step);
  snprintf(drng, sizeof drng, "%" PRIu64, r->data.rng.s);
  snprintf(dbat, sizeof dbat, "%" PRIu64, r->data.batches);
  snprintf(seed, sizeof seed, "%" PRIu64, r->o.train.seed);
  snprintf(lr, sizeof lr, "%.17g", r->last_lr);
  snprintf(steps, sizeof steps, "%" PRId64, r->o.train.steps);
  const char *meta[] = {
      "format", "pt", "ftrt.kind", "checkpoint", "ftrt.version", CKPT_VERSION,
      "ftrt.step", step, "ftrt.data_rng", drng, "ftrt.data_batches", dbat,
      "ftrt.seed", seed, "ftrt.data_tokens", ntok, "ftrt.lr", lr, "ftrt.sched_steps", steps,
      "ftrt.threads", thr, "ftrt.accumulate", acc,
      "ftrt.dtype", m->dtype == RT_F64 ? "f64" : "f32",
      "ftrt.optimizer", r->o.train.opt == RT_OPT_SGD ? "sgd"
                        : r->o.train.opt == RT_OPT_ADAGRAD ? "adagrad" : "adamw",
      "ftrt.recipe_hash", m->hash ? m->hash : "",
      "ftrt.recipe", m->recipe ? m->recipe : "",
      /* anomaly.c: skipped steps and the loss statistics spikes are judged by */
      "ftrt.skipped", skipped, "ftrt.loss_mean", lmean, "ftrt.loss_var", lvar,
      "ftrt.loss_n", ln};
  enum { NMETA = sizeof meta / sizeof *meta, MAXEXTRA = 16 };
  const char *all[NMETA + 2 * MAXEXTRA];
  if (nextra > MAXEXTRA) nextra = MAXEXTRA;
  memcpy(all, meta, sizeof meta);
  for (int i = 0; i < 2 * nextra; i++) all[NMETA + i] = extra[i];
  rc = rt_st_write(path, t, n, all, NMETA / 2 + nextra);
done:
  if (names)
    for (int i = 0; i < cap; i++) free(names[i]);
  free(names);
  free(t);
  return rc;
}

int rt_ckpt_meta_u64(const rt_st_file *f, const char *key, uint64_t *out) {
  const char *v = rt_st_meta(f, key);
  char *end;
  if (!v || !*v) {
    rt_err("%s: checkpoint metadata lacks '%s'", f->path, key);
    return -1;
  }
  errno = 0;
  *out = strtoull(v, &end, 10);
  if (*end || errno || *v == '-') {
    rt_err("%s: checkpoint metadata '%s' = \"%s\" is not a number", f->path, key, v);
    return -1;
  }
  return 0;
}

int rt_ckpt_load(rt_run *r, const char *path) {
  const rt_model *m = r->m;
  rt_st_file f;
  if (rt_st_open(&f, path) != 0) return -1;
  int rc = -1;
  const char *kind = rt_st_meta(&f, "ftrt.kind"), *ver = rt_st_meta(&f, "ftrt.version");
  const char *hash = rt_st_meta(&f, "ftrt.recipe_hash"), *dt = rt_st_meta(&f, "ftrt.dtype");
  const char *opt = rt_st_meta(&f, "ftrt.optimizer");
  const char *want_opt = r->o.train.opt == RT_OPT_SGD ? "sgd"
                         : r->o.train.opt == RT_OPT_ADAGRAD ? "adagrad" : "adamw";
  uint64_t step, drng, dbat;
  if (!kind || strcmp(kind, "checkpoint")) {
    rt_err("%s: not a trainer checkpoint (no ftrt.kind = checkpoint in its metadata)", path);
    goto done;
  }
  if (!f.checksummed)
    rt_warn("%s has no checksums (written before they were added, or rewritten by another "
            "tool): its contents cannot be verified", path);
  if (!ver || strcmp(ver, CKPT_VERSION)) {
    rt_err("%s: checkpoint format version %s, this trainer reads version %s", path,
           ver ? ver : "?", CKPT_VERSION);
    goto done;
  }
  if (m->hash && (!hash || strcmp(hash, m->hash))) {
    rt_err("%s: checkpoint was written by a different recipe or compiler (hash %s, "
           "this trainer %s); refusing to resume. Start fresh without --resume, or "
           "load only its weights with --init %s", path, hash ? hash : "?", m->hash, path);
    goto done;
  }
  if (!dt || strcmp(dt, m->dtype == RT_F64 ? "f64" : "f32")) {
    rt_err("%s: checkpoint dtype %s does not match this trainer's", path, dt ? dt : "?");
    goto done;
  }
  if (!opt || strcmp(opt, want_opt)) {
    rt_err("%s: checkpoint optimizer %s, this run uses %s", path, opt ? opt : "?", want_opt);
    goto done;
  }
  if (rt_ckpt_meta_u64(&f, "ftrt.step", &step) || rt_ckpt_meta_u64(&f, "ftrt.data_rng", &drng) ||
      rt_ckpt_meta_u64(&f, "ftrt.data_batches", &dbat))
    goto done;
  for (int i = 0; i < m->nparams; i++)
    if (load_tensor(r, &f, m->params[i].name, &m->params[i], rt_at(r, m->params[i].off), 0,
                    "a model parameter"))
      goto done;
  int nslots = rt_optim_nslots(r->o.train.opt, r->o.train.momentum);
  for (int s = 0; s < nslots; s++)
    for (int i = 0; i < m->nparams; i++) {
      const rt_param *p = &m->params[i];
      if (!p->trainable || p->state_off[s] < 0) continue;
      char name[512];
      snprintf(name, sizeof name, "optim.%s.%s", rt_optim_slot_name(r->o.train.opt, s), p->name);
      if (load_tensor(r, &f, name, p, rt_at(r, p->state_off[s]), 0, "optimizer state"))
        goto done;
    }
  const char *nt = rt_st_meta(&f, "ftrt.data_tokens");
  if (nt && r->data.buf && strtoll(nt, NULL, 10) != r->data.n)
    rt_warn("%s: the checkpoint was trained on %s tokens, %s has %lld: the data "
            "order will differ from the original run", path, nt, r->data.path,
            (long long)r->data.n);
  /* micro-batches per update (accum.c): another count is another global
   * batch, which a data-parallel run's index records (ckpt_shard.c) */
  const char *ac = rt_st_meta(&f, "ftrt.accumulate"), *gbs = rt_st_meta(&f, "ftrt.global_batch");
  uint64_t gb = gbs ? strtoull(gbs, NULL, 10)
                    : ac ? strtoull(ac, NULL, 10) * (uint64_t)r->data.batch : 0;
  if (rt_accum_resume(r, path, gb, 1, 1) != 0 && gbs)
    rt_warn("%s: the checkpoint's steps took %s rows (its global batch), this run takes "
            "%lld: its losses differ from the original run's", path, gbs,
            (long long)r->o.accum * r->data.batch);
  else if (ac && strtoll(ac, NULL, 10) != r->o.accum)
    rt_warn("%s: the checkpoint's steps took %s micro-batches of %d rows, this run takes %lld: "
            "its global batch, and so its losses, differ from the original run's (--accumulate "
            "%s for those)", path, ac, r->data.batch, (long long)r->o.accum, ac);
  /* GEMM results depend on how a product is split over threads (kern.h) */
  const char *th = rt_st_meta(&f, "ftrt.threads");
  if (th && atoi(th) != rt_get_threads())
    rt_warn("%s was written with %s threads, this run has %d: the losses will match "
            "the uninterrupted run to rounding, not bit for bit (--threads %s for that)",
            path, th, rt_get_threads(), th);
  r->step = (int64_t)step;
  r->data.rng.s = drng;
  r->data.batches = dbat;
  /* optional (older checkpoints lack them) */
  const char *sk = rt_st_meta(&f, "ftrt.skipped"), *lm = rt_st_meta(&f, "ftrt.loss_mean"),
             *lv = rt_st_meta(&f, "ftrt.loss_var"), *lnn = rt_st_meta(&f, "ftrt.loss_n");
  if (sk) r->an.skipped = strtoll(sk, NULL, 10);
  if (lm && lv && lnn) {
    r->an.mean = strtod(lm, NULL);
    r->an.var = strtod(lv, NULL);
    r->an.n = strtoll(lnn, NULL, 10);
  }
  rc = 0;
done:
  rt_st_close(&f);
  return rc;
}

int rt_find_trained(const char *out_dir, char **path) {
  *path = NULL;
  const char *names[2] = {"model.safetensors", "ckpt.safetensors"};
  int64_t best = -1;
  for (int i = 0; i < 2; i++) {
    char *p = rt_path_join(out_dir, names[i]);
    if (!p) return -1;
    if (!rt_file_exists(p)) {
      free(p);
      continue;
    }
    rt_st_file f;
    if (rt_st_open(&f, p) != 0) {
      free(p);
      free(*path);
      *path = NULL;
      return -1;
    }
    const char *s = rt_st_meta(&f, "ftrt.step");
    int64_t step = s ? strtoll(s, NULL, 10) : 0;
    rt_st_close(&f);
    if (step > best) {
      best = step;
      free(*path);
      *path = p;
    } else {
      free(p);
    }
  }
  return 0;
}
