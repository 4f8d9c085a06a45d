/* compiler/codegen/cg_cuda_optim.c -- the optimizer on the GPU: one
 * multi-tensor launch updates every trainable parameter (SGD with
 * momentum, AdaGrad or AdamW, as the recipe says) and sums g^2 for the
 * logged gradient norm; a second entry sums g^2 alone (clipping needs the
 * norm before the update).
 *
 * One idea: the parameters are a table in device memory (offsets of
 * weight, gradient and state, length, decay flag, first chunk), and a
 * block is one chunk of one tensor, found by binary search over the
 * table's first chunks: a single launch covers hundreds of tensors of any
 * size without one launch per tensor. The per-step scalars (learning rate,
 * clip scale, bias corrections) are read from device memory, written by
 * the host before the launch, so a captured graph replays with the new
 * values. Each update is the CPU's (runtime/optim.c) term by term, in the
 * element type, with its constants computed in double on the host the same
 * way; each block's sum of squares goes to its own slot and one block adds
 * the slots in order -- the same bits every run.
 */
#include <stdlib.h>
#include <string.h>

#include "cg_cuda.h"

#define S(x) ((long long)(x))
#define CHUNK 4096 /* elements per block */

static const char *update_text(OptKind k) {
  switch (k) {
  case OPT_SGD:
    return "      $T gi = g[i] * gs + wd * w[i];\n"
           "      if (s0) gi = s0[i] = mom * s0[i] + gi;\n"
           "      w[i] -= lrt * gi;\n";
  case OPT_ADAGRAD:
    return "      const $T gi = g[i] * gs + wd * w[i];\n"
           "      s0[i] += gi * gi;\n"
           "      w[i] -= lrt * gi / ($SQRT(s0[i]) + eps);\n";
  case OPT_ADAMW:
    break;
  }
  return "      const $T gi = g[i] * gs;\n"
         "      const $T m = s0[i] = b1 * s0[i] + (($T)1 - b1) * gi;\n"
         "      const $T v = s1[i] = b2 * s1[i] + (($T)1 - b2) * gi * gi;\n"
         "      w[i] = w[i] * keep - step * m / ($SQRT(v) * rbc2 + eps);\n";
}

int64_t cu_emit_optim(Cu *c, FILE *o, int64_t *ntensors) {
  const IrGraph *g = c->g;
  const Plan *p = c->p;
  int64_t nch = 0, nt = 0;
  fprintf(o,
          "/* trainable tensors: weight, gradient, state 0, state 1, elements, decay,\n"
          " * first chunk (%d elements a chunk) -- uploaded to FTC_TENSORS_OFF once */\n"
          "static const rt_dev_tensor tensors[] = {\n",
          CHUNK);
  for (int i = 0; i < g->n; i++) {
    const IrNode *n = &g->nodes[i];
    if (n->dead || n->op != IR_PARAM || n->role != IR_ROLE_PARAM || !n->trainable) continue;
    int gr = ir_grad_of(g, i);
    if (gr < 0) continue;
    const int64_t ne = ir_numel(&n->shape);
    const int decay = c->r->weight_decay != 0.0 && !n->no_decay;
    fprintf(o, "  {%lld, %lld, %lld, %lld, %lld, %d, %lld}, /* %s */\n", S(p->offset[i]),
            S(p->offset[gr]), S(p->state_off[2 * i]), S(p->state_off[2 * i + 1]), S(ne), decay,
            S(nch), n->name ? n->name : "?");
    nch += (ne + CHUNK - 1) / CHUNK;
    nt++;
  }
  if (nt == 0) fprintf(o, "  {0, 0, -1, -1, 0, 0, 0}\n");
  fprintf(o, "};\n\n");
  *ntensors = nt;
  const char *kind = c->r->opt == OPT_ADAMW     ? "adamw"
                     : c->r->opt == OPT_ADAGRAD ? "adagrad"
                                                : "sgd";
  char name[64], args[256], chunk[32];
  snprintf(name, sizeof name, "optim_%s_%s", kind, c->f64 ? "f64" : "f32");
  snprintf(chunk, sizeof chunk, "%d", CHUNK);
  const char *argv[] = {chunk};
  char *t =
      cu_str(c,
             "{\n"
             "  __shared__ double sh[33];\n"
             "  /* this block's tensor: the last whose first chunk <= ours */\n"
             "  const i64 ch = blockIdx.x;\n"
             "  i64 lo = 0, hi = ntab - 1;\n"
             "  while (lo < hi) {\n"
             "    const i64 mid = (lo + hi + 1) / 2;\n"
             "    if (tab[mid * 7 + 6] <= ch) lo = mid;\n"
             "    else hi = mid - 1;\n"
             "  }\n"
             "  const i64 *e = tab + lo * 7;\n"
             "  const i64 i0 = (ch - e[6]) * $0, i1 = FTC_MIN(i0 + $0, e[4]);\n"
             "  $T *w = ($T *)(base + e[0]);\n"
             "  const $T *g = (const $T *)(base + e[1]);\n"
             "  $T *s0 = e[2] >= 0 ? ($T *)(base + e[2]) : ($T *)0;\n"
             "  $T *s1 = e[3] >= 0 ? ($T *)(base + e[3]) : ($T *)0;\n"
             "  const int decay = e[5] != 0;\n"
             "  /* the CPU's scalars (runtime/optim.c), cast to the element type */\n"
             "  const $T lrt = ($T)sc[0], gs = ($T)sc[1], wd = decay ? ($T)sc[2] : ($T)0;\n"
             "  const $T mom = ($T)sc[3], b1 = ($T)sc[4], b2 = ($T)sc[5], eps = ($T)sc[6];\n"
             "  const $T step = ($T)sc[7], rbc2 = ($T)sc[8], keep = decay ? ($T)sc[9] : ($T)1;\n"
             "  (void)lrt; (void)wd; (void)mom; (void)b1; (void)b2; (void)eps; (void)step;\n"
             "  (void)rbc2; (void)keep; (void)s1;\n"
             "  double ss = 0;\n"
             "  for (i64 i = i0 + threadIdx.x; i < i1; i += blockDim.x) {\n"
             "    ss += (double)g[i] * (double)g[i];\n"
             "    if (update) {\n"
             "%s"
             "    }\n"
             "  }\n"
             "  ss = ftc_block_sum(ss, sh);\n"
             "  if (threadIdx.x == 0) part[ch] = ss;\n"
             "}\n",
             update_text(c->r->opt));
  char *body = t ? cu_tmpl(c, t, name, argv, 1) : NULL;
  char *params = cu_tmpl(c,
                         "unsigned char *base, const i64 *tab, i64 ntab, const double *sc, "
                         "double *part, i64 update",
                         name, NULL, 0);
  snprintf(c->what, sizeof c->what, "the %s update of %lld tensors", kind, S(nt));
  int ko = cu_kernel(c, name, "one chunk of one tensor: sum g^2 and (update = 1) the update",
                     params, body, 1, 0);
  free(t);
  free(body);
  free(params);
  const int64_t part = cu_scratch(c, (nch > 0 ? nch : 1) * 8);
  snprintf(name, sizeof name, "sumsq_parts_n%lld", S(nch));
  snprintf(chunk, sizeof chunk, "%lld", S(nch));
  body = cu_tmpl(c,
                 "{\n"
                 "  __shared__ double sh[33];\n"
                 "  double s = 0;\n"
                 "  for (i64 k = threadIdx.x; k < $0; k += blockDim.x) s += part[k];\n"
                 "  s = ftc_block_sum(s, sh);\n"
                 "  if (threadIdx.x == 0) out[0] = s;\n"
                 "}\n",
                 name, argv, 1);
  int kf = cu_kernel(c, name, "out = the sum of the blocks' partial sums (fixed order)",
                     "double *out, const double *part", body, 1, 0);
  free(body);
  for (int upd = 1; upd >= 0; upd--) {
    FILE *keep = c->host;
    c->host = o;
    fprintf(o,
            "/* %s */\nstatic void %s(rt_dev *d, unsigned char *B, int no_grads) {\n  "
            "(void)no_grads;\n",
            upd ? "the optimizer update (and sum of g^2 to FTC_SUMSQ_OFF)"
                : "the sum of g^2 alone (clipping)",
            upd ? "site_update" : "site_sumsq");
    if (nch > 0) {
      snprintf(args, sizeof args,
               "B, (const i64 *)D(FTC_TENSORS_OFF), %lld, (const double *)D(FTC_SCALARS_OFF), "
               "(double *)D(%lld), %d",
               S(nt), S(part), upd);
      cu_launch(c, ko, nch, 1, 1, 256, args);
      snprintf(args, sizeof args, "(double *)D(FTC_SUMSQ_OFF), (const double *)D(%lld)", S(part));
      cu_launch(c, kf, 1, 1, 1, 256, args);
    } else {
      fprintf(o, "  rt_dev_memset(d, D(FTC_SUMSQ_OFF), 0, 8);\n");
    }
    fprintf(o, "}\n\n");
    c->host = keep;
  }
  return c->err ? -1 : nch;
}
