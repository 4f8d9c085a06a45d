/* runtime/gradcheck.c -- `./trainer gradcheck`: the backward against
 * central finite differences of the loss; and `./trainer grads`, which
 * writes the gradients of the first training batch (so two builds of a
 * recipe, e.g. with and without a pass, can be compared tensor by tensor).
 *
 * One idea: read every analytic gradient first (the plan may reuse gradient
 * memory for activations during later forwards), then perturb one weight
 * at a time: (L(w+eps) - L(w-eps)) / 2eps. An element fails when its
 * relative error exceeds --tol and its absolute error exceeds --atol (the
 * floor keeps rounding noise on zero gradients from failing). Meant for
 * float64 builds (eps 1e-6, tol 1e-5, atol 1e-8); float32 builds work with
 * looser defaults (eps 1e-3, tol 2e-2, atol 1e-3). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rt_internal.h"

static double get(const rt_run *r, int64_t off, int64_t i) {
  const void *p = rt_at(r, off);
  return r->m->dtype == RT_F64 ? ((const double *)p)[i] : (double)((const float *)p)[i];
}

static void set(rt_run *r, int64_t off, int64_t i, double v) {
  void *p = rt_at(r, off);
  if (r->m->dtype == RT_F64) ((double *)p)[i] = v;
  else ((float *)p)[i] = (float)v;
}

static double loss_at(rt_run *r) {
  r->m->forward(&r->ctx, r->arena.mem);
  return rt_loss(r);
}

int rt_cmd_gradcheck(const rt_model *m, const rt_opts *o) {
  rt_run r;
  int rc = 1;
  int64_t *idx = NULL, *first = NULL;
  double *ana = NULL;
  if (m->zero_stage >= 2) { /* its whole gradients are temporaries */
    rt_err("gradcheck reads whole gradients after the backward, which zero(stage: 2) frees "
           "as soon as they are reduce-scattered; check the recipe without zero");
    return 1;
  }
  if (rt_run_open(&r, m, o) != 0) goto done;
  if (rt_setup_weights(&r, 0) != 0) goto done;
  int f64 = m->dtype == RT_F64;
  double eps = o->eps > 0 ? o->eps : f64 ? 1e-6 : 1e-3;
  double tol = o->tol > 0 ? o->tol : f64 ? 1e-5 : 2e-2;
  double atol = o->atol > 0 ? o->atol : f64 ? 1e-8 : 1e-3;
  int64_t per = o->samples > 0 ? o->samples : 24;
  rt_rng g;
  rt_rng_seed(&g, o->train.seed ^ 0x6c62272e07bb0142ULL);
  /* A seeded random batch: no data file needed. */
  int64_t bt = (int64_t)m->data.batch * m->data.seq;
  int32_t *tok = rt_at(&r, m->tokens_off), *tgt = rt_at(&r, m->targets_off);
  for (int64_t i = 0; i < bt; i++) {
    tok[i] = (int32_t)(rt_rng_next(&g) % (uint64_t)m->data.vocab);
    tgt[i] = (int32_t)(rt_rng_next(&g) % (uint64_t)m->data.vocab);
  }
  int64_t total = 0;
  first = rt_xcalloc((size_t)m->nparams + 1, sizeof *first, "gradcheck");
  if (!first) goto done;
  for (int i = 0; i < m->nparams; i++) {
    first[i] = total;
    if (m->params[i].trainable)
      total += m->params[i].numel <= per ? m->params[i].numel : per;
  }
  first[m->nparams] = total;
  idx = rt_xmalloc(sizeof *idx * (size_t)(total ? total : 1), "gradcheck");
  ana = rt_xmalloc(sizeof *ana * (size_t)(total ? total : 1), "gradcheck");
  if (!idx || !ana) goto done;
  double l0 = loss_at(&r);
  m->backward(&r.ctx, r.arena.mem);
  for (int i = 0; i < m->nparams; i++) {
    const rt_param *p = &m->params[i];
    for (int64_t k = first[i]; k < first[i + 1]; k++) {
      int64_t j = p->numel <= per ? k - first[i]
                                  : (int64_t)(rt_rng_next(&g) % (uint64_t)p->numel);
      /* Sparse gradients (embeddings): aim half the samples at nonzeros. */
      for (int tries = 0; p->numel > per && (k - first[i]) % 2 == 0 && tries < 64 &&
                          get(&r, p->grad_off, j) == 0.0; tries++)
        j = (int64_t)(rt_rng_next(&g) % (uint64_t)p->numel);
      idx[k] = j;
      ana[k] = get(&r, p->grad_off, j);
    }
  }
  printf("gradcheck %s (%s): loss %.10g, eps %g, tol %g, atol %g\n",
         m->recipe ? m->recipe : "model", f64 ? "float64" : "float32", l0, eps, tol, atol);
  int bad = 0;
  for (int i = 0; i < m->nparams; i++) {
    const rt_param *p = &m->params[i];
    if (!p->trainable) continue;
    double max_abs = 0, max_rel = 0;
    int64_t fails = 0;
    for (int64_t k = first[i]; k < first[i + 1]; k++) {
      double w = get(&r, p->off, idx[k]);
      set(&r, p->off, idx[k], w + eps);
      double lp = loss_at(&r);
      set(&r, p->off, idx[k], w - eps);
      double lm = loss_at(&r);
      set(&r, p->off, idx[k], w);
      double num = (lp - lm) / (2 * eps), a = ana[k];
      double ae = fabs(num - a);
      double den = fmax(fabs(num), fabs(a));
      double re = den > 0 ? ae / den : 0;
      if (!(ae <= max_abs)) max_abs = ae;
      if (!(re <= max_rel)) max_rel = re;
      if (!(ae <= atol || re <= tol)) fails++;
    }
    printf("  %-40s %6lld checked  max abs %.3e  max rel %.3e  %s\n", p->name,
           (long long)(first[i + 1] - first[i]), max_abs, max_rel, fails ? "FAIL" : "ok");
    if (fails) bad++;
  }
  if (bad) printf("gradcheck: %d parameter(s) over tolerance %g\n", bad, tol);
  else printf("gradcheck: all gradients within tolerance %g\n", tol);
  rc = bad ? 1 : 0;
done:
  free(idx);
  free(ana);
  free(first);
  rt_run_close(&r);
  return rc;
}

/* `./trainer grads`: one forward and backward on the first training batch
 * from the starting weights; writes DIR/grads.safetensors (the build's
 * dtype, one tensor per trainable parameter under its name, the loss in
 * the metadata). */
int rt_cmd_grads(const rt_model *m, const rt_opts *o) {
  rt_run r;
  int rc = 1, n = 0;
  rt_st_out *t = NULL;
  char *path = NULL;
  if (rt_run_open(&r, m, o) != 0) goto done;
  if (rt_data_open(&r.data, &o->data, o->train.seed) != 0) goto done;
  r.have_data = 1;
  if (rt_setup_weights(&r, 0) != 0) goto done;
  rt_data_next(&r.data, rt_at(&r, m->tokens_off), rt_at(&r, m->targets_off));
  double loss = loss_at(&r);
  m->backward(&r.ctx, r.arena.mem);
  t = rt_xcalloc((size_t)m->nparams + 1, sizeof *t, "tensor list");
  path = rt_path_join(o->train.out_dir, "grads.safetensors");
  if (!t || !path || rt_mkdir_p(o->train.out_dir) != 0) goto done;
  for (int i = 0; i < m->nparams; i++) {
    const rt_param *p = &m->params[i];
    if (p->trainable && p->grad_off >= 0)
      t[n++] = (rt_st_out){p->name, m->dtype == RT_F64 ? ST_F64 : ST_F32, m->dtype, p->rank,
                           p->shape, rt_at(&r, p->grad_off)};
  }
  char ls[40];
  snprintf(ls, sizeof ls, "%.17g", loss);
  const char *meta[] = {"ftrt.kind", "gradients", "ftrt.loss", ls, "ftrt.recipe_hash",
                        m->hash ? m->hash : ""};
  if (rt_st_write(path, t, n, meta, 3) != 0) {
    rc = 3;
    goto done;
  }
  printf("loss %.17g; %d gradients written to %s\n", loss, n, path);
  rc = 0;
done:
  free(t);
  free(path);
  rt_run_close(&r);
  return rc;
}
