/* tests/runtime/bigram.h -- a hand-written "generated trainer": a bigram
 * language model (logits = wte[token] + bias) laid out in one arena the way
 * ftc's planner would, with forward/backward written against the kernels.
 * Used by tests/unit/test_rt_train.c and tests/runtime/bigram_trainer.c to
 * test libftrt before (and independently of) the compiler.
 *
 * bigram_setup(dtype, data_path, out_dir) fills the static model `bg_model`.
 * bg_break_backward = 1 makes the bias gradient wrong (gradcheck must fail). */
#ifndef FTC_TESTS_BIGRAM_H
#define FTC_TESTS_BIGRAM_H

#include <string.h>
#include "ftrt.h"

enum { BG_V = 256, BG_B = 4, BG_T = 16 };

static rt_param bg_params[2];
static rt_model bg_model;
static int bg_break_backward;
static int64_t bg_dlogits_off, bg_dloss_off;

#define BG_STEP(T, S)                                                          \
  static void bg_forward_##S(rt_ctx *c, unsigned char *a) {                    \
    const rt_model *m = c->m;                                                  \
    T *logits = (T *)(a + m->logits_off);                                      \
    int64_t n = (int64_t)BG_B * BG_T;                                          \
    rt_embedding_##S(logits, (T *)(a + bg_params[0].off),                      \
                     (int32_t *)(a + m->tokens_off), n, BG_V);                 \
    rt_add_##S(logits, logits, (T *)(a + bg_params[1].off), n * BG_V, BG_V);  \
    rt_cross_entropy_##S((T *)(a + m->loss_off), logits,                       \
                         (int32_t *)(a + m->targets_off), n, BG_V);            \
  }                                                                            \
  static void bg_backward_##S(rt_ctx *c, unsigned char *a) {                   \
    const rt_model *m = c->m;                                                  \
    int64_t n = (int64_t)BG_B * BG_T;                                          \
    T *dl = (T *)(a + bg_dlogits_off), *dloss = (T *)(a + bg_dloss_off);       \
    rt_fill_##S(dloss, 1, 1.0);                                                \
    rt_cross_entropy_bwd_##S(dl, dloss, (T *)(a + m->logits_off),              \
                             (int32_t *)(a + m->targets_off), n, BG_V);        \
    rt_embedding_bwd_##S((T *)(a + bg_params[0].grad_off), dl,                 \
                         (int32_t *)(a + m->tokens_off), n, BG_V, BG_V);       \
    rt_sum_to_##S((T *)(a + bg_params[1].grad_off), dl, n * BG_V, BG_V);       \
    if (bg_break_backward)                                                     \
      rt_scale_##S((T *)(a + bg_params[1].grad_off),                           \
                   (T *)(a + bg_params[1].grad_off), BG_V, 1.5);               \
  }

BG_STEP(float, f32)
BG_STEP(double, f64)

static void bigram_setup(rt_dtype dt, const char *data_path, const char *out_dir) {
  int64_t es = dt == RT_F64 ? 8 : 4, off = 0;
  const int64_t bt = (int64_t)BG_B * BG_T;
#define BG_ALLOC(bytes) (off += ((bytes) + 63) / 64 * 64, off - ((bytes) + 63) / 64 * 64)
  memset(bg_params, 0, sizeof bg_params);
  bg_params[0] = (rt_param){"wte.weight", 2, {BG_V, BG_V}, BG_V * BG_V, 0, 0, {0, 0},
                            1, 0, RT_INIT_NORMAL, 0.02};
  bg_params[1] = (rt_param){"lm_head.bias", 1, {BG_V}, BG_V, 0, 0, {0, 0}, 1, 1,
                            RT_INIT_ZEROS, 0};
  for (int i = 0; i < 2; i++) bg_params[i].off = BG_ALLOC(bg_params[i].numel * es);
  for (int i = 0; i < 2; i++) bg_params[i].grad_off = BG_ALLOC(bg_params[i].numel * es);
  for (int s = 0; s < 2; s++)
    for (int i = 0; i < 2; i++) bg_params[i].state_off[s] = BG_ALLOC(bg_params[i].numel * es);
  rt_model *m = &bg_model;
  memset(m, 0, sizeof *m);
  m->recipe = "tests/runtime/bigram.h";
  m->hash = dt == RT_F64 ? "bigram-f64-v1" : "bigram-f32-v1";
  m->dtype = dt;
  m->params = bg_params;
  m->nparams = 2;
  m->tokens_off = BG_ALLOC(bt * 4);
  m->targets_off = BG_ALLOC(bt * 4);
  m->logits_off = BG_ALLOC(bt * BG_V * es);
  m->loss_off = BG_ALLOC(es);
  bg_dlogits_off = BG_ALLOC(bt * BG_V * es);
  bg_dloss_off = BG_ALLOC(es);
#undef BG_ALLOC
  m->plan.arena_bytes = off;
  m->plan.params = (BG_V * BG_V + BG_V) * es;
  m->plan.grads = m->plan.params;
  m->plan.optstate = 2 * m->plan.params;
  m->plan.peak_op = "cross_entropy_bwd";
  m->forward = dt == RT_F64 ? bg_forward_f64 : bg_forward_f32;
  m->backward = dt == RT_F64 ? bg_backward_f64 : bg_backward_f32;
  m->train = (rt_train_cfg){.steps = 40, .opt = RT_OPT_ADAMW, .lr = 0.1, .beta1 = 0.9,
                            .beta2 = 0.95, .eps = 1e-8, .weight_decay = 0.01,
                            .sched = RT_SCHED_COSINE, .warmup = 5, .min_lr = 0.01,
                            .clip = 1.0, .eval_every = 10, .eval_batches = 4,
                            .save_every = 0, .log_every = 10, .out_dir = out_dir,
                            .seed = 1234};
  m->data = (rt_data_cfg){RT_DATA_TEXT, data_path, BG_B, BG_T, BG_V, 0.9};
}

#endif
