/* runtime/optim.c -- SGD with momentum, AdaGrad and AdamW (decoupled weight
 * decay, bias correction), plus gradient clipping by global norm.
 *
 * One idea: clipping never rewrites the gradients; the clip factor is folded
 * into each update as `gscale`, so the step reads every gradient once. The
 * formulas follow PyTorch's (torch.optim.SGD/Adagrad/AdamW) so results can
 * be compared with it. Work is split over threads by tensors; every loop is
 * deterministic whatever the thread count. */
#include <math.h>

#include "rt_internal.h"

int rt_optim_nslots(rt_opt o, double momentum) {
  switch (o) {
  case RT_OPT_SGD: return momentum != 0.0 ? 1 : 0;
  case RT_OPT_ADAGRAD: return 1;
  case RT_OPT_ADAMW: return 2;
  }
  return 0;
}

const char *rt_optim_slot_name(rt_opt o, int slot) {
  switch (o) {
  case RT_OPT_SGD: return "momentum";
  case RT_OPT_ADAGRAD: return "sum";
  case RT_OPT_ADAMW: return slot == 0 ? "m" : "v";
  }
  return "?";
}

/* Each update also returns sum(g^2) of the raw gradient it read, so a run
 * without clipping gets its logged gradient norm from this one pass instead
 * of a second read of every gradient. A tensor is updated by one thread
 * (rt_optim_step splits the work by tensors), serially, and the sum has a
 * fixed simd order: the same bits whatever the thread count. */
#define RT_OPTIM_UPDATE(T, S, SQRT)                                            \
  double rt_optim_update_##S(const rt_train_cfg *c, T *w, const T *g, T *s0,   \
                             T *s1, int64_t n, double lr, double gscale,       \
                             int64_t t, int decay) {                           \
    const T gs = (T)gscale, lrt = (T)lr;                                       \
    const T wd = decay ? (T)c->weight_decay : (T)0;                            \
    double ss = 0;                                                             \
    if (c->opt == RT_OPT_SGD) {                                                \
      const T mom = (T)c->momentum;                                            \
      _Pragma("omp simd reduction(+ : ss)")                                    \
      for (int64_t i = 0; i < n; i++) {                                        \
        ss += (double)g[i] * g[i];                                             \
        T gi = g[i] * gs + wd * w[i];                                          \
        if (s0) gi = s0[i] = mom * s0[i] + gi;                                 \
        w[i] -= lrt * gi;                                                      \
      }                                                                        \
    } else if (c->opt == RT_OPT_ADAGRAD) {                                     \
      const T eps = (T)c->eps;                                                 \
      _Pragma("omp simd reduction(+ : ss)")                                    \
      for (int64_t i = 0; i < n; i++) {                                        \
        ss += (double)g[i] * g[i];                                             \
        T gi = g[i] * gs + wd * w[i];                                          \
        s0[i] += gi * gi;                                                      \
        w[i] -= lrt * gi / (SQRT(s0[i]) + eps);                                \
      }                                                                        \
    } else {                                                                   \
      const double bc1 = 1.0 - pow(c->beta1, (double)t);                       \
      const double bc2 = 1.0 - pow(c->beta2, (double)t);                       \
      const T b1 = (T)c->beta1, b2 = (T)c->beta2, eps = (T)c->eps;             \
      const T step = (T)(lr / bc1), rbc2 = (T)(1.0 / sqrt(bc2));               \
      const T keep = (T)(1.0 - lr * (decay ? c->weight_decay : 0.0));          \
      _Pragma("omp simd reduction(+ : ss)")                                    \
      for (int64_t i = 0; i < n; i++) {                                        \
        ss += (double)g[i] * g[i];                                             \
        T gi = g[i] * gs;                                                      \
        T m = s0[i] = b1 * s0[i] + ((T)1 - b1) * gi;                           \
        T v = s1[i] = b2 * s1[i] + ((T)1 - b2) * gi * gi;                      \
        w[i] = w[i] * keep - step * m / (SQRT(v) * rbc2 + eps);                \
      }                                                                        \
    }                                                                          \
    return ss;                                                                 \
  }

RT_OPTIM_UPDATE(float, f32, sqrtf)
RT_OPTIM_UPDATE(double, f64, sqrt)

/* One parallel region for all parameters (dynamic: the embedding is a third
 * of GPT-2's weights), each tensor's work serial inside it: a region per
 * tensor cost ~150 fork/joins a step, and on a busy machine every join
 * waits for the slowest thread. Per-tensor sums are added in parameter
 * order, and rt_sumsq's own chunking fixes its result, so the norm does
 * not depend on the thread count. */
#define RT_NORM_BATCH 256

double rt_grad_norm(const rt_run *r) {
  if (r->dev) return rt_device_grad_norm((rt_run *)r);
  const rt_model *m = r->m;
  const double t0 = rt_prof_now();
  double ss = 0, part[RT_NORM_BATCH];
  for (int b0 = 0; b0 < m->nparams; b0 += RT_NORM_BATCH) {
    const int nb = m->nparams - b0 < RT_NORM_BATCH ? m->nparams - b0 : RT_NORM_BATCH;
#pragma omp parallel for schedule(dynamic, 1)
    for (int k = 0; k < nb; k++) {
      const rt_param *p = &m->params[b0 + k];
      part[k] = 0;
      if (!p->trainable || p->grad_off < 0) continue;
      part[k] = m->dtype == RT_F64 ? rt_sumsq_f64(rt_at(r, p->grad_off), p->numel)
                                   : rt_sumsq_f32(rt_at(r, p->grad_off), p->numel);
    }
    for (int k = 0; k < nb; k++) ss += part[k];
  }
  rt_prof_extra("grad_norm (runtime)", t0);
  return sqrt(ss);
}

/* Parameters in batches of RT_NORM_BATCH, largest first so the dynamic
 * schedule ends balanced (a tied embedding is a third of GPT-2); the
 * per-tensor sums of squares are added in parameter order. Returns the sum
 * of squares of every gradient read. */
double rt_optim_step(rt_run *r, double lr, double gscale, int64_t t) {
  if (r->dev) return rt_device_optim_step(r, lr, gscale, t);
  const rt_model *m = r->m;
  const rt_train_cfg *c = &r->o.train;
  const double t0 = rt_prof_now();
  double ss = 0, part[RT_NORM_BATCH];
  int order[RT_NORM_BATCH];
  for (int b0 = 0; b0 < m->nparams; b0 += RT_NORM_BATCH) {
    const int nb = m->nparams - b0 < RT_NORM_BATCH ? m->nparams - b0 : RT_NORM_BATCH;
    for (int k = 0; k < nb; k++) { /* insertion sort by size, descending */
      int j = k;
      while (j > 0 && m->params[b0 + order[j - 1]].numel < m->params[b0 + k].numel) {
        order[j] = order[j - 1];
        j--;
      }
      order[j] = k;
    }
#pragma omp parallel for schedule(dynamic, 1)
    for (int q = 0; q < nb; q++) {
      const int k = order[q];
      const rt_param *p = &m->params[b0 + k];
      part[k] = 0;
      if (!p->trainable || p->grad_off < 0) continue;
      int decay = c->weight_decay != 0.0 && !p->no_decay;
      void *s0 = p->state_off[0] >= 0 ? rt_at(r, p->state_off[0]) : NULL;
      void *s1 = p->state_off[1] >= 0 ? rt_at(r, p->state_off[1]) : NULL;
      if (m->dtype == RT_F64)
        part[k] = rt_optim_update_f64(c, rt_at(r, p->off), rt_at(r, p->grad_off), s0, s1,
                                      p->numel, lr, gscale, t, decay);
      else
        part[k] = rt_optim_update_f32(c, rt_at(r, p->off), rt_at(r, p->grad_off), s0, s1,
                                      p->numel, lr, gscale, t, decay);
    }
    for (int k = 0; k < nb; k++) ss += part[k];
  }
  rt_prof_extra("optimizer (runtime)", t0);
  return ss;
}
