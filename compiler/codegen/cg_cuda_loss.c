/* compiler/codegen/cg_cuda_loss.c -- cross-entropy (forward, backward) and
 * the fused, chunked lm-head + cross-entropy on the GPU.
 *
 * One idea: the loss is a mean over rows, so every row writes its own
 * term (lse - logit[target]) into scratch and one small block sums the
 * terms in a fixed order and divides by the count of counted rows (targets
 * >= 0): no atomics, the same bits every run. The fused head walks the rows
 * in chunks of R like the CPU kernel (runtime/kernels/lm_head_tmpl.h):
 * logits of a chunk by cuBLASLt into the planned workspace, one block per
 * row turning them into its loss term and, when a backward follows, in
 * place into dlogits = (softmax - onehot) / count, then the dx and dw
 * products of that chunk; the [N, V] logits never exist.
 */
#include <stdlib.h>
#include <string.h>

#include "cg_cuda.h"

#define S(x) ((long long)(x))

static int row_threads(int64_t V) { return V >= 2048 ? 256 : V >= 256 ? 128 : 32; }

/* count of targets >= 0 over N rows into cnt[0] (double), and g[0] =
 * dscale / count (0 without counted rows); dscale = dloss[0] or 1 */
static int count_kernel(Cu *c, int64_t N, int64_t cnt_off, int64_t tgt_off, int64_t dloss_off) {
  char name[64], nstr[32], args[160];
  snprintf(name, sizeof name, "ce_count_n%lld_%s", S(N), c->f64 ? "f64" : "f32");
  snprintf(nstr, sizeof nstr, "%lld", S(N));
  const char *argv[] = {nstr};
  int k = cu_kernel_tmpl(c, name, "cnt[0] = rows with a target, cnt[1] = dloss / cnt[0]",
                         "double *cnt, const int *tgt, const $T *dloss",
                         "{\n"
                         "  __shared__ double sh[33];\n"
                         "  double n = 0;\n"
                         "  for (i64 r = threadIdx.x; r < $0; r += blockDim.x) n += tgt[r] >= 0;\n"
                         "  n = ftc_block_sum(n, sh);\n"
                         "  if (threadIdx.x == 0) {\n"
                         "    cnt[0] = n;\n"
                         "    cnt[1] = n > 0 ? (dloss ? (double)dloss[0] : 1.0) / n : 0.0;\n"
                         "  }\n"
                         "}\n",
                         argv, 1, 1, 0);
  if (dloss_off >= 0)
    snprintf(args, sizeof args, "D(%lld), D(%lld), D(%lld)", S(cnt_off), S(tgt_off), S(dloss_off));
  else
    snprintf(args, sizeof args, "D(%lld), D(%lld), NULL", S(cnt_off), S(tgt_off));
  cu_launch(c, k, 1, 1, 1, 256, args);
  return k;
}

/* loss[0] = sum of the N row terms (in a fixed order) / cnt[0] */
static int final_kernel(Cu *c, int64_t N, int64_t loss_off, int64_t terms_off, int64_t cnt_off) {
  char name[64], nstr[32], args[160];
  snprintf(name, sizeof name, "ce_mean_n%lld_%s", S(N), c->f64 ? "f64" : "f32");
  snprintf(nstr, sizeof nstr, "%lld", S(N));
  const char *argv[] = {nstr};
  int k =
      cu_kernel_tmpl(c, name, "the mean of the row terms over the counted rows",
                     "$T *loss, const double *terms, const double *cnt",
                     "{\n"
                     "  __shared__ double sh[33];\n"
                     "  double s = 0;\n"
                     "  for (i64 r = threadIdx.x; r < $0; r += blockDim.x) s += terms[r];\n"
                     "  s = ftc_block_sum(s, sh);\n"
                     "  if (threadIdx.x == 0) loss[0] = cnt[0] > 0 ? ($T)(s / cnt[0]) : ($T)0;\n"
                     "}\n",
                     argv, 1, 1, 0);
  snprintf(args, sizeof args, "D(%lld), D(%lld), D(%lld)", S(loss_off), S(terms_off), S(cnt_off));
  cu_launch(c, k, 1, 1, 1, 256, args);
  return k;
}

/* One block per row of x [rows, V] (logits): its term lse - x[t] into
 * terms[r] (0 for t < 0) and, with grads, dx = (softmax(x) - onehot) * g
 * (g = cnt[1]), written over x or into dx. */
static int rows_kernel(Cu *c, int64_t V, int grads, int64_t rows, const char *args) {
  char name[64], vstr[32];
  snprintf(name, sizeof name, "ce_rows_v%lld%s_%s", S(V), grads ? "_grad" : "",
           c->f64 ? "f64" : "f32");
  snprintf(vstr, sizeof vstr, "%lld", S(V));
  const char *argv[] = {vstr, grads ? "1" : "0"};
  int k = cu_kernel_tmpl(
      c, name,
      grads ? "per row: the loss term and dlogits = (softmax - onehot) * g"
            : "per row: the loss term lse - x[target]",
      "double *terms, $T *dx, const $T *x, const int *tgt, const double *cnt",
      "{\n"
      "  __shared__ double sh[33];\n"
      "  const i64 r = blockIdx.x;\n"
      "  const $T *xr = x + r * $0;\n"
      "  $T *dr = dx + r * $0;\n"
      "  const int t = tgt[r];\n"
      "  if (t < 0) { /* not counted: no term, a zero gradient */\n"
      "    if (threadIdx.x == 0) terms[r] = 0;\n"
      "    if ($1)\n"
      "      for (int c = threadIdx.x; c < $0; c += blockDim.x) dr[c] = ($T)0;\n"
      "    return;\n"
      "  }\n"
      "  double mx = __longlong_as_double(0xfff0000000000000LL);\n"
      "  for (int c = threadIdx.x; c < $0; c += blockDim.x) mx = fmax(mx, (double)xr[c]);\n"
      "  const $T tm = ($T)ftc_block_max(mx, sh);\n"
      "  double s = 0;\n"
      "  for (int c = threadIdx.x; c < $0; c += blockDim.x) s += (double)$EXP(xr[c] - tm);\n"
      "  s = ftc_block_sum(s, sh);\n"
      "  if (threadIdx.x == 0) terms[r] = (double)tm + log(s) - (double)xr[t];\n"
      "  if (!$1) return;\n"
      "  __syncthreads(); /* xr[t] is read before the row is overwritten */\n"
      "  const double g = cnt[1];\n"
      "  const $T f = ($T)(g / s);\n"
      "  for (int c = threadIdx.x; c < $0; c += blockDim.x) dr[c] = $EXP(xr[c] - tm) * f;\n"
      "  __syncthreads();\n"
      "  if (threadIdx.x == 0) dr[t] -= ($T)g;\n"
      "}\n",
      argv, 2, 1, 0);
  cu_launch(c, k, rows, 1, 1, row_threads(V), args);
  return k;
}

/* the fused head: see the file comment */
static int lm_head(Cu *c, int id) {
  const IrNode *n = &c->g->nodes[id];
  const int *in = n->in;
  const int64_t C = cu_lastd(c, in[0]), N = cu_numel(c, in[0]) / C, V = cu_lastd(c, in[3]);
  const int64_t R = c->g->nodes[in[3]].shape.d[0], es = cu_esz(c);
  const int wt = n->ia[0] != 0, frozen = n->ia[1] != 0;
  const int64_t cnt = cu_scratch(c, 16 + N * 8), terms = cnt + 16;
  const int64_t x = cu_off(c, in[0]), w = cu_off(c, in[1]), tgt = cu_off(c, in[2]);
  const int64_t ws = cu_off(c, in[3]), dx = cu_off(c, in[4]), dw = cu_off(c, in[5]);
  char args[256];
  count_kernel(c, N, cnt, tgt, -1);
  fprintf(c->host, "  /* chunks of %lld rows: logits into the workspace, never [%lld, %lld] */\n",
          S(R), S(N), S(V));
  for (int pass = 0; pass < 2; pass++) {
    /* pass 0: loss only (no_grads: eval, sampling); pass 1: training */
    fprintf(c->host, pass == 0 ? "  if (no_grads) {\n" : "  } else {\n");
    for (int64_t r0 = 0; r0 < N; r0 += R) {
      const int64_t rows = N - r0 < R ? N - r0 : R, xr = x + r0 * C * es;
      int g = cu_mm(c, 0, wt, rows, V, C, 1, 0, 0, 0.0);
      cu_mm_call(c, g, ws, xr, w);
      snprintf(args, sizeof args, "D(%lld), D(%lld), D(%lld), D(%lld), D(%lld)",
               S(terms + r0 * 8), S(ws), S(ws), S(tgt + r0 * 4), S(cnt));
      rows_kernel(c, V, pass, rows, args);
      if (!pass) continue;
      /* dx rows = dlogits @ op(w)^T */
      g = cu_mm(c, 0, !wt, rows, C, V, 1, 0, 0, 0.0);
      cu_mm_call(c, g, dx + r0 * C * es, ws, w);
      if (frozen) continue;
      /* dw (+)= dlogits^T @ x rows ([V,C]) or x rows^T @ dlogits ([C,V]) */
      if (wt) {
        g = cu_mm(c, 1, 0, V, C, rows, 1, 0, 0, r0 > 0 ? 1.0 : 0.0);
        cu_mm_call(c, g, dw, ws, xr);
      } else {
        g = cu_mm(c, 1, 0, C, V, rows, 1, 0, 0, r0 > 0 ? 1.0 : 0.0);
        cu_mm_call(c, g, dw, xr, ws);
      }
    }
    if (pass == 1 && N <= 0 && !frozen)
      fprintf(c->host, "  rt_dev_memset(d, D(%lld), 0, %lld);\n", S(dw), S(V * C * es));
  }
  fprintf(c->host, "  }\n");
  final_kernel(c, N, cu_off(c, id), terms, cnt);
  return c->err ? -1 : 0;
}

int cu_emit_loss(Cu *c, int id) {
  const IrNode *n = &c->g->nodes[id];
  const int *in = n->in;
  char args[256];
  switch (n->op) {
  case IR_CROSS_ENTROPY: {
    const int64_t V = cu_lastd(c, in[0]), N = cu_numel(c, in[0]) / V;
    const int64_t cnt = cu_scratch(c, 16 + N * 8), terms = cnt + 16;
    count_kernel(c, N, cnt, cu_off(c, in[1]), -1);
    /* no gradient: dx is never written (the logits stand in for it) */
    snprintf(args, sizeof args, "D(%lld), D(%lld), D(%lld), D(%lld), D(%lld)", S(terms),
             S(cu_off(c, in[0])), S(cu_off(c, in[0])), S(cu_off(c, in[1])), S(cnt));
    rows_kernel(c, V, 0, N, args);
    final_kernel(c, N, cu_off(c, id), terms, cnt);
    break;
  }
  case IR_CROSS_ENTROPY_BWD: {
    /* the forward's rows kernel with gradients, g = dloss / count; its
     * loss terms go to scratch unread */
    const int64_t V = cu_lastd(c, in[1]), N = cu_numel(c, in[1]) / V;
    const int64_t cnt = cu_scratch(c, 16 + N * 8), terms = cnt + 16;
    count_kernel(c, N, cnt, cu_off(c, in[2]), cu_off(c, in[0]));
    snprintf(args, sizeof args, "D(%lld), D(%lld), D(%lld), D(%lld), D(%lld)", S(terms),
             S(cu_off(c, id)), S(cu_off(c, in[1])), S(cu_off(c, in[2])), S(cnt));
    rows_kernel(c, V, 1, N, args);
    break;
  }
  case IR_LM_HEAD_CE:
    return lm_head(c, id);
  default:
    fprintf(stderr, "ftc: internal: no CUDA loss emitter for %s\n", ir_ops[n->op].name);
    return -1;
  }
  return c->err ? -1 : 0;
}
