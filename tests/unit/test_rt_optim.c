/* tests/unit/test_rt_optim.c -- schedules and optimizers against values
 * computed by hand from the formulas (PyTorch's definitions). */
#include "test_rt_util.h"
#include <math.h>
#include "rt_internal.h"

static int near(double a, double b, double tol) { return fabs(a - b) <= tol * (1 + fabs(b)); }

int main(void) {
  /* schedules */
  rt_train_cfg c = {.steps = 110, .lr = 1.0, .warmup = 10, .min_lr = 0.1,
                    .sched = RT_SCHED_COSINE};
  CHECK(near(rt_sched_lr(&c, 1), 0.1, 1e-12), "warmup step 1");
  CHECK(near(rt_sched_lr(&c, 5), 0.5, 1e-12), "warmup step 5");
  CHECK(near(rt_sched_lr(&c, 10), 1.0, 1e-12), "end of warmup");
  CHECK(near(rt_sched_lr(&c, 60), 0.55, 1e-12), "cosine midpoint %g", rt_sched_lr(&c, 60));
  CHECK(near(rt_sched_lr(&c, 35), 0.1 + 0.9 * 0.5 * (1 + cos(3.14159265358979323846 * 0.25)), 1e-12), "cosine 1/4");
  CHECK(near(rt_sched_lr(&c, 110), 0.1, 1e-12), "cosine end");
  CHECK(near(rt_sched_lr(&c, 500), 0.1, 1e-12), "past the end");
  c.sched = RT_SCHED_LINEAR;
  CHECK(near(rt_sched_lr(&c, 60), 0.55, 1e-12), "linear midpoint");
  CHECK(near(rt_sched_lr(&c, 85), 0.325, 1e-12), "linear 3/4");
  c.sched = RT_SCHED_CONSTANT;
  CHECK(near(rt_sched_lr(&c, 5), 0.5, 1e-12) && near(rt_sched_lr(&c, 100), 1.0, 1e-12),
        "constant with warmup");
  c.warmup = 0;
  CHECK(near(rt_sched_lr(&c, 1), 1.0, 1e-12), "no warmup");

  /* AdamW, two steps by formula, with decay and a clip factor */
  rt_train_cfg a = {.opt = RT_OPT_ADAMW, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                    .weight_decay = 0.1};
  double w[2] = {1.0, -2.0}, g[2] = {0.5, -0.25}, m[2] = {0}, v[2] = {0};
  double ew[2] = {1.0, -2.0}, em[2] = {0}, ev[2] = {0};
  double lr = 0.01, gs = 0.5;
  for (int t = 1; t <= 2; t++) {
    rt_optim_update_f64(&a, w, g, m, v, 2, lr, gs, t, 1);
    for (int i = 0; i < 2; i++) {
      double gi = g[i] * gs;
      ew[i] -= lr * 0.1 * ew[i];
      em[i] = 0.9 * em[i] + 0.1 * gi;
      ev[i] = 0.999 * ev[i] + 0.001 * gi * gi;
      double mh = em[i] / (1 - pow(0.9, t)), vh = ev[i] / (1 - pow(0.999, t));
      ew[i] -= lr * mh / (sqrt(vh) + 1e-8);
    }
    for (int i = 0; i < 2; i++)
      CHECK(near(w[i], ew[i], 1e-12) && near(m[i], em[i], 1e-12) && near(v[i], ev[i], 1e-12),
            "adamw step %d elem %d: %.15g vs %.15g", t, i, w[i], ew[i]);
  }
  /* first AdamW step moves each weight by ~lr (sign of g), decay aside */
  double w1 = 3, g1 = 7, m1 = 0, v1 = 0;
  rt_optim_update_f64(&a, &w1, &g1, &m1, &v1, 1, 0.01, 1, 1, 0);
  CHECK(near(w1, 2.99, 1e-6), "adamw first step = lr * sign: %g", w1);
  /* float32 matches float64 closely */
  float wf[2] = {1.0f, -2.0f}, gf[2] = {0.5f, -0.25f}, mf[2] = {0}, vf[2] = {0};
  rt_optim_update_f32(&a, wf, gf, mf, vf, 2, lr, gs, 1, 1);
  double wd2[2] = {1.0, -2.0}, md2[2] = {0}, vd2[2] = {0};
  rt_optim_update_f64(&a, wd2, g, md2, vd2, 2, lr, gs, 1, 1);
  CHECK(near(wf[0], wd2[0], 1e-6) && near(wf[1], wd2[1], 1e-6), "f32 adamw");

  /* SGD momentum (dampening 0, coupled weight decay) */
  rt_train_cfg s = {.opt = RT_OPT_SGD, .momentum = 0.9, .weight_decay = 0.01};
  double sw = 1.0, sg = 0.5, buf = 0;
  rt_optim_update_f64(&s, &sw, &sg, &buf, NULL, 1, 0.1, 1, 1, 1);
  double b1 = 0.5 + 0.01 * 1.0, w1e = 1.0 - 0.1 * b1;
  CHECK(near(buf, b1, 1e-15) && near(sw, w1e, 1e-15), "sgd step 1");
  rt_optim_update_f64(&s, &sw, &sg, &buf, NULL, 1, 0.1, 1, 2, 1);
  double b2 = 0.9 * b1 + 0.5 + 0.01 * w1e;
  CHECK(near(buf, b2, 1e-15) && near(sw, w1e - 0.1 * b2, 1e-15), "sgd step 2");
  s.momentum = 0;
  s.weight_decay = 0;
  sw = 1.0;
  rt_optim_update_f64(&s, &sw, &sg, NULL, NULL, 1, 0.1, 2.0, 1, 0);
  CHECK(near(sw, 1.0 - 0.1 * 1.0, 1e-15), "plain sgd with grad scale");
  CHECK(rt_optim_nslots(RT_OPT_SGD, 0) == 0 && rt_optim_nslots(RT_OPT_SGD, 0.9) == 1 &&
            rt_optim_nslots(RT_OPT_ADAGRAD, 0) == 1 && rt_optim_nslots(RT_OPT_ADAMW, 0) == 2,
        "state slots");

  /* AdaGrad */
  rt_train_cfg ag = {.opt = RT_OPT_ADAGRAD, .eps = 1e-10};
  double aw = 1.0, agr = 0.5, sum = 0;
  rt_optim_update_f64(&ag, &aw, &agr, &sum, NULL, 1, 0.1, 1, 1, 0);
  CHECK(near(sum, 0.25, 1e-15) && near(aw, 1.0 - 0.1 * 0.5 / (0.5 + 1e-10), 1e-15), "adagrad 1");
  rt_optim_update_f64(&ag, &aw, &agr, &sum, NULL, 1, 0.1, 1, 2, 0);
  double aw1 = 1.0 - 0.1 * 0.5 / (0.5 + 1e-10);
  CHECK(near(sum, 0.5, 1e-15) && near(aw, aw1 - 0.1 * 0.5 / (sqrt(0.5) + 1e-10), 1e-14),
        "adagrad 2");

  /* RNG: deterministic, uniform in [0,1), normal has mean 0 / var 1 */
  rt_rng r1, r2;
  rt_rng_seed(&r1, 5);
  rt_rng_seed(&r2, 5);
  int same = 1;
  double mean = 0, var = 0, umin = 1, umax = 0;
  for (int i = 0; i < 20000; i++) {
    double x = rt_rng_normal(&r1);
    same &= x == rt_rng_normal(&r2);
    mean += x;
    var += x * x;
    double u = rt_rng_uniform(&r1);
    rt_rng_uniform(&r2);
    umin = fmin(umin, u);
    umax = fmax(umax, u);
  }
  mean /= 20000;
  var = var / 20000 - mean * mean;
  CHECK(same, "rng deterministic");
  CHECK(fabs(mean) < 0.03 && fabs(var - 1) < 0.05, "normal mean %g var %g", mean, var);
  CHECK(umin >= 0 && umax < 1 && umin < 0.01 && umax > 0.99, "uniform range");

  return check_exit("test_rt_optim");
}
