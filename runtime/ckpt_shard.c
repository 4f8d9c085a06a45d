/* runtime/ckpt_shard.c -- sharded checkpoints: one file per rank plus an
 * index, loadable at any world size.
 *
 * One idea: the index is the ordinary checkpoint file (ckpt.safetensors:
 * the weights, which every rank of ZeRO stages 1-2 holds whole, and the
 * step, data position and schedule in its metadata) plus two keys naming
 * the world size and the per-rank files. A rank's file holds its slice of
 * every optimizer state tensor, flat, and at stage 3 of every weight
 * ("param.NAME"; the index then holds none). Slices follow rt_shard_range, so a
 * run at another world size finds the old slices that overlap its own and
 * copies those pieces: no rank ever gathers a whole state. Files carry the
 * step in their names and the index is written last (atomically, after a
 * barrier), so a run killed mid-save still has the previous index and the
 * files it names.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist.h"

#define SHARD_FMT "ckpt.step%08lld.rank%d-of-%d.safetensors"

/* What must match to continue a run: parameters, optimizer, data shape,
 * dtype. Not the per-rank batch or the passes (they change the trainer's
 * program hash but not what the checkpoint means). */
static uint64_t model_id(const rt_model *m, const rt_train_cfg *c) {
  char buf[256];
  uint64_t h = 1469598103934665603ULL;
  for (int i = 0; i < m->nparams; i++) {
    const rt_param *p = &m->params[i];
    h = rt_hash_str(p->name, h);
    for (int d = 0; d < p->rank; d++) {
      snprintf(buf, sizeof buf, "%lld,", (long long)p->shape[d]);
      h = rt_hash_str(buf, h);
    }
    h = rt_hash_str(p->trainable ? "t" : "f", h);
  }
  snprintf(buf, sizeof buf, "%d %d %d %d %.17g %.17g %.17g %.17g %.17g", (int)m->dtype,
           m->data.seq, m->data.vocab, (int)c->opt, c->momentum, c->beta1, c->beta2, c->eps,
           c->weight_decay);
  return rt_hash_str(buf, h);
}

static int barrier(rt_run *r, const char *what) {
  return r->dist && r->dist->comm ? rt_comm_barrier(r->dist->comm, what) : 0;
}

static char *shard_path(const char *dir, int64_t step, int rank, int world) {
  char name[128];
  snprintf(name, sizeof name, SHARD_FMT, (long long)step, rank, world);
  return rt_path_join(dir, name);
}

/* the directory of path (owned) */
static char *dir_of(const char *path) {
  const char *s = strrchr(path, '/');
  if (!s) return strdup(".");
  char *d = strndup(path, (size_t)(s - path));
  return d;
}

static int save_shard(rt_run *r, const char *file, const char *id) {
  const rt_model *m = r->m;
  rt_dist *d = r->dist;
  int cap = 3 * m->nparams + 1, n = 0, rc = -1;
  rt_st_out *t = rt_xcalloc((size_t)cap, sizeof *t, "tensor list");
  char **names = rt_xcalloc((size_t)cap, sizeof *names, "tensor names");
  int64_t *shapes = rt_xcalloc((size_t)cap, sizeof(int64_t), "shapes");
  if (!t || !names || !shapes) goto done;
  for (int s = 0; s < d->nslots; s++)
    for (int i = 0; i < m->nparams; i++) {
      if (d->s_off[s][i] < 0 || d->cnt[i] == 0) continue;
      size_t len = strlen(m->params[i].name) + 32;
      if (!(names[n] = rt_xmalloc(len, "tensor name"))) goto done;
      snprintf(names[n], len, "optim.%s.%s", rt_optim_slot_name(r->o.train.opt, s),
               m->params[i].name);
      shapes[n] = d->cnt[i];
      t[n] = (rt_st_out){names[n], m->dtype == RT_F64 ? ST_F64 : ST_F32, m->dtype, 1,
                         &shapes[n], rt_at(r, d->s_off[s][i])};
      n++;
    }
  for (int i = 0; i < m->nparams; i++) { /* stage 3: the weights' slices too */
    if (d->p_off[i] < 0 || d->cnt[i] == 0) continue;
    size_t len = strlen(m->params[i].name) + 16;
    if (!(names[n] = rt_xmalloc(len, "tensor name"))) goto done;
    snprintf(names[n], len, "param.%s", m->params[i].name);
    shapes[n] = d->cnt[i];
    t[n] = (rt_st_out){names[n], m->dtype == RT_F64 ? ST_F64 : ST_F32, m->dtype, 1, &shapes[n],
                       rt_at(r, d->p_off[i])};
    n++;
  }
  char rk[16], wd[16], step[32];
  snprintf(rk, sizeof rk, "%d", d->rank);
  snprintf(wd, sizeof wd, "%d", d->world);
  snprintf(step, sizeof step, "%" PRId64, r->step);
  const char *meta[] = {"format", "pt", "ftrt.kind", "checkpoint-shard", "ftrt.shard_rank", rk,
                        "ftrt.shard_world", wd, "ftrt.step", step, "ftrt.model_id", id};
  rc = rt_st_write(file, t, n, meta, 6);
done:
  for (int i = 0; names && i < cap; i++) free(names[i]);
  free(names);
  free(shapes);
  free(t);
  return rc;
}

/* Removes shard files of other steps (the index no longer names them). */
static void remove_stale(const char *dir, int64_t step) {
  DIR *dp = opendir(dir);
  if (!dp) return;
  struct dirent *e;
  char keep[32];
  snprintf(keep, sizeof keep, "ckpt.step%08lld.", (long long)step);
  while ((e = readdir(dp)) != NULL) {
    if (strncmp(e->d_name, "ckpt.step", 9) || !strstr(e->d_name, ".rank") ||
        !strncmp(e->d_name, keep, strlen(keep)))
      continue;
    char *p = rt_path_join(dir, e->d_name);
    if (p && unlink(p) != 0) rt_warn("%s: cannot remove the stale shard", p);
    free(p);
  }
  closedir(dp);
}

int rt_dist_ckpt_save(rt_run *r, const char *path) {
  rt_dist *d = r->dist;
  char id[32], gb[32], wd[16];
  snprintf(id, sizeof id, "%016" PRIx64, model_id(r->m, &r->o.train));
  snprintf(gb, sizeof gb, "%lld", (long long)d->world * r->o.accum * r->data.batch);
  snprintf(wd, sizeof wd, "%d", d->world);
  int rc = 0;
  char *dir = dir_of(path);
  if (!dir) return -1;
  if (d->stage >= 1) { /* every rank's slice of the optimizer state */
    char *file = shard_path(dir, r->step, d->rank, d->world);
    rc = file ? save_shard(r, file, id) : -1;
    free(file);
  }
  /* the index only once every shard is on disk; a rank that failed ends the
   * job (the old index and its files stay) */
  if (rc != 0) rt_comm_abort(d->comm, 3);
  if (barrier(r, "checkpoint shards") != 0) rc = -1;
  if (rc == 0 && d->rank == 0) {
    const char *extra[] = {"ftrt.model_id", id, "ftrt.global_batch", gb,
                           "ftrt.shards", d->stage >= 1 ? wd : "0"};
    rc = rt_ckpt_save_meta(r, path, extra, 3);
    if (rc == 0 && d->stage >= 1) remove_stale(dir, r->step);
  }
  if (barrier(r, "checkpoint index") != 0) rc = -1;
  free(dir);
  return rc;
}

/* ---- load ---------------------------------------------------------------- */

/* Fills this run's slice [lo, lo+cnt) of tensor `name` (a state slot or,
 * "param."-prefixed, a weight) of param i from the old world's slices, or
 * from the whole tensor `whole` of the index (old_world 0). */
static int load_slice(rt_run *r, rt_st_file *idx, rt_st_file *shards, int old_world,
                      const char *name, const char *whole, int i, void *dst, int64_t lo,
                      int64_t cnt) {
  const rt_param *p = &r->m->params[i];
  for (int q = 0; q < (old_world > 0 ? old_world : 1); q++) {
    int64_t qlo = 0, qn = p->numel;
    if (old_world > 0) rt_shard_range(p->numel, q, old_world, &qlo, &qn);
    int64_t a = qlo > lo ? qlo : lo, b = qlo + qn < lo + cnt ? qlo + qn : lo + cnt;
    if (a >= b) continue;
    rt_st_file *f = old_world > 0 ? &shards[q] : idx;
    const rt_st_tensor *t = rt_st_find(f, old_world > 0 ? name : whole);
    if (!t || t->numel != qn) {
      rt_err("%s: %s '%s' (%lld elements expected)", f->path, t ? "wrong size of" : "missing",
             name, (long long)qn);
      return -1;
    }
    void *buf = rt_xmalloc((size_t)qn * r->esz, "checkpoint slice");
    if (!buf || rt_st_read(f, t, r->m->dtype, buf) != 0) {
      free(buf);
      return -1;
    }
    memcpy((char *)dst + (size_t)(a - lo) * r->esz, (char *)buf + (size_t)(a - qlo) * r->esz,
           (size_t)(b - a) * r->esz);
    free(buf);
  }
  return 0;
}

int rt_dist_ckpt_load(rt_run *r, const char *path) {
  const rt_model *m = r->m;
  rt_dist *d = r->dist;
  int world = d ? d->world : 1, rank = d ? d->rank : 0, stage = d ? d->stage : 0;
  rt_st_file f, *sh = NULL;
  if (rt_st_open(&f, path) != 0) return -1;
  int rc = -1, old_world = 0;
  uint64_t step, drng, dbat, gb = 0, shards = 0;
  const char *kind = rt_st_meta(&f, "ftrt.kind"), *hash = rt_st_meta(&f, "ftrt.recipe_hash");
  const char *id = rt_st_meta(&f, "ftrt.model_id"), *dt = rt_st_meta(&f, "ftrt.dtype");
  char want[32];
  snprintf(want, sizeof want, "%016" PRIx64, model_id(m, &r->o.train));
  if (!kind || strcmp(kind, "checkpoint")) {
    rt_err("%s: not a trainer checkpoint (no ftrt.kind = checkpoint in its metadata)", path);
    goto done;
  }
  if (!dt || strcmp(dt, m->dtype == RT_F64 ? "f64" : "f32")) {
    rt_err("%s: checkpoint dtype %s does not match this trainer's", path, dt ? dt : "?");
    goto done;
  }
  if (m->hash && (!hash || strcmp(hash, m->hash))) {
    if (!id || strcmp(id, want)) {
      if (rank == 0)
        rt_err("%s: checkpoint was written by a different recipe or compiler (hash %s, this "
             "trainer %s) whose parameters or optimizer differ; refusing to resume. Start "
             "fresh without --resume, or load only its weights with --init %s", path,
             hash ? hash : "?", m->hash, path);
      goto done;
    }
    if (rank == 0)
      fprintf(stderr, "%s: note: %s was written by another build of this model (another "
                      "per-rank batch, passes or rank count); parameters and optimizer match\n",
              rt_progname, path);
  }
  if (rt_ckpt_meta_u64(&f, "ftrt.step", &step) || rt_ckpt_meta_u64(&f, "ftrt.data_rng", &drng) ||
      rt_ckpt_meta_u64(&f, "ftrt.data_batches", &dbat))
    goto done;
  if (rt_st_meta(&f, "ftrt.global_batch") && rt_ckpt_meta_u64(&f, "ftrt.global_batch", &gb))
    goto done;
  if (rt_st_meta(&f, "ftrt.shards") && rt_ckpt_meta_u64(&f, "ftrt.shards", &shards)) goto done;
  int64_t mine = (int64_t)world * r->o.accum * r->data.batch; /* accum.c's rows */
  if (rt_accum_resume(r, path, gb, world, rank == 0) != 0) {
    char how[200] = "", per[64] = "";
    int B = r->data.batch;
    if (gb % (uint64_t)B == 0)
      snprintf(how, sizeof how, "; resume on %llu ranks", (unsigned long long)gb / (uint64_t)B);
    if (gb % (uint64_t)world == 0)
      snprintf(how + strlen(how), sizeof how - strlen(how), "%s build the recipe with batch %llu",
               *how ? ", or" : "; or", (unsigned long long)gb / (uint64_t)world);
    if (gb % ((uint64_t)world * (uint64_t)B) == 0) /* micro-batches: accum.c */
      snprintf(how + strlen(how), sizeof how - strlen(how), "%s run with --accumulate %llu",
               *how ? ", or" : "; or", (unsigned long long)(gb / ((uint64_t)world * (uint64_t)B)));
    if (r->o.accum > 1) snprintf(per, sizeof per, " x %lld micro-batches", (long long)r->o.accum);
    if (rank == 0) /* every rank finds the same: one message */
      rt_err("%s: the checkpoint's run took %llu rows per step (its global batch) and this run "
           "takes %lld (%d rank%s%s x batch %d), so the losses would not continue%s", path,
           (unsigned long long)gb, (long long)mine, world, world == 1 ? "" : "s", per, B, how);
    goto done;
  }
  old_world = (int)shards;
  if (old_world > 0) {
    char *dir = dir_of(path);
    sh = rt_xcalloc((size_t)old_world, sizeof *sh, "checkpoint shards");
    if (!dir || !sh) {
      free(dir);
      goto done;
    }
    for (int q = 0; q < old_world; q++) {
      char *p = shard_path(dir, (int64_t)step, q, old_world);
      int bad = !p || rt_st_open(&sh[q], p) != 0;
      if (!bad && (!rt_st_meta(&sh[q], "ftrt.model_id") ||
                   strcmp(rt_st_meta(&sh[q], "ftrt.model_id"), id ? id : ""))) {
        rt_err("%s: this shard belongs to another run than its index %s", p, path);
        rt_st_close(&sh[q]);
        bad = 1;
      }
      free(p);
      if (bad) {
        old_world = q; /* close what is open */
        free(dir);
        goto done;
      }
    }
    free(dir);
  }
  /* weights: whole in the index (stages 0-2), or slices in the shards (3) */
  if (m->nparams > 0 && rt_st_find(&f, m->params[0].name)) {
    int quiet = r->o.quiet;
    r->o.quiet = 1;
    int wrc = rt_weights_load(r, path);
    r->o.quiet = quiet;
    if (wrc != 0) goto done;
  } else {
    if (old_world == 0) {
      rt_err("%s: the checkpoint holds no weights (and names no shards)", path);
      goto done;
    }
    for (int i = 0; i < m->nparams; i++) {
      const rt_param *p = &m->params[i];
      int64_t lo = 0, cnt = p->numel;
      void *dst = rt_dist_param_slice(r, i, &lo, &cnt);
      if (!dst) dst = rt_at(r, p->off);
      char name[512];
      snprintf(name, sizeof name, "param.%s", p->name);
      if (cnt > 0 && load_slice(r, &f, sh, old_world, name, p->name, i, dst, lo, cnt) != 0)
        goto done;
    }
  }
  int nslots = rt_optim_nslots(r->o.train.opt, r->o.train.momentum);
  for (int s = 0; s < nslots; s++)
    for (int i = 0; i < m->nparams; i++) {
      const rt_param *p = &m->params[i];
      if (!p->trainable) continue;
      int64_t lo = 0, cnt = p->numel, off = p->state_off[s];
      if (stage >= 1) {
        lo = d->lo[i];
        cnt = d->cnt[i];
        off = d->s_off[s][i];
      }
      if (off < 0 || cnt == 0) continue;
      char name[512];
      snprintf(name, sizeof name, "optim.%s.%s", rt_optim_slot_name(r->o.train.opt, s), p->name);
      if (load_slice(r, &f, sh, old_world, name, name, i, rt_at(r, off), lo, cnt) != 0)
        goto done;
    }
  r->step = (int64_t)step;
  r->data.rng.s = drng;
  r->data.batches = dbat;
  if (rank == 0 && (old_world ? old_world : 1) != world && !r->o.quiet)
    printf("resharded the optimizer state from %d to %d rank%s\n", old_world ? old_world : 1,
           world, world == 1 ? "" : "s");
  rc = 0;
done:
  for (int q = 0; sh && q < old_world; q++) rt_st_close(&sh[q]);
  free(sh);
  rt_st_close(&f);
  return rc;
}

int rt_dist_ckpt_sharded(const char *path) {
  /* a look at the header only, without messages: the loader that follows
   * checks (and reports on) the whole file */
  FILE *f = fopen(path, "rb");
  unsigned char len8[8];
  if (!f) return 0;
  uint64_t n = 0;
  if (fread(len8, 1, 8, f) == 8)
    for (int i = 7; i >= 0; i--) n = n << 8 | len8[i];
  int sharded = 0;
  if (n > 0 && n < (1u << 26)) {
    char *h = malloc((size_t)n + 1);
    if (h && fread(h, 1, (size_t)n, f) == (size_t)n) {
      h[n] = 0;
      const char *k = strstr(h, "\"ftrt.shards\"");
      /* "ftrt.shards":"4" (0 = a plain checkpoint written by rank 0) */
      k = k ? strchr(k + 13, '"') : NULL;
      sharded = k && k[1] >= '1' && k[1] <= '9';
    }
    free(h);
  }
  fclose(f);
  return sharded;
}
