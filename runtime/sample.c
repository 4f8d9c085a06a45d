/* runtime/sample.c -- `./trainer sample`: text from the trained model.
 *
 * One idea: reuse the training forward as is. The context goes in row 0 of
 * the compiled [batch, seq] token block (the last seq tokens when longer),
 * and the next token is read from the logits at the last context position;
 * the model is causal, so whatever follows that position (zeros) cannot
 * change it (a fused lm-head stores no logits: that one row is computed
 * from the head's input and weight). Temperature 0 is greedy; otherwise softmax(logits / T) over the
 * top-k, drawn with a seeded RNG. Byte vocabularies decode to raw bytes. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

typedef struct { double v; int i; } cand;

static int cand_desc(const void *a, const void *b) {
  const cand *x = a, *y = b;
  if (x->v != y->v) return x->v < y->v ? 1 : -1;
  return x->i - y->i; /* ties: lower id first, deterministic */
}

/* Fused lm-head (logits_off < 0): the logits of one row, x[row] @ op(w),
 * into out[V] (the training step never stores them). */
static void head_row(const rt_run *r, int64_t row, void *out) {
  const rt_model *m = r->m;
  const int64_t V = m->data.vocab, C = m->head_c;
  const int f64 = m->dtype == RT_F64;
  const unsigned char *xb = (const unsigned char *)rt_at(r, m->head_x_off) + row * C * r->esz;
  const unsigned char *wb = rt_at(r, m->head_w_off);
#define AT(p, i) (f64 ? ((const double *)(p))[i] : (double)((const float *)(p))[i])
  for (int64_t v = 0; v < V; v++) {
    double s = 0;
    for (int64_t c = 0; c < C; c++)
      s += AT(xb, c) * (m->head_wt ? AT(wb, v * C + c) : AT(wb, c * V + v));
    if (f64) ((double *)out)[v] = s;
    else ((float *)out)[v] = (float)s;
  }
#undef AT
}

static int pick(const rt_run *r, const void *logits, int V, cand *c, rt_rng *g) {
  for (int i = 0; i < V; i++)
    c[i] = (cand){r->m->dtype == RT_F64 ? ((const double *)logits)[i]
                                        : (double)((const float *)logits)[i], i};
  if (r->o.temperature <= 0) {
    int best = 0;
    for (int i = 1; i < V; i++)
      if (c[i].v > c[best].v) best = i;
    return best;
  }
  qsort(c, (size_t)V, sizeof *c, cand_desc);
  int k = r->o.top_k > 0 && r->o.top_k < V ? r->o.top_k : V;
  double sum = 0;
  for (int i = 0; i < k; i++) sum += c[i].v = exp((c[i].v - c[0].v) / r->o.temperature);
  double u = rt_rng_uniform(g) * sum;
  for (int i = 0; i < k; i++) {
    u -= c[i].v;
    if (u < 0) return c[i].i;
  }
  return c[k - 1].i;
}

/* Byte tokens print as the byte; ids past the bytes as <id>. */
static void emit(int tok) {
  if (tok < 256) putchar(tok);
  else printf("<%d>", tok);
}

int rt_cmd_sample(const rt_model *m, const rt_opts *o) {
  rt_run r;
  int rc = 1;
  int32_t *ctx = NULL;
  cand *c = NULL;
  void *row = NULL;
  if (rt_dist_run_open(&r, m, o) != 0) goto done;
  if (rt_setup_weights(&r, 1) != 0) goto done;
  const int V = m->data.vocab, T = m->data.seq, B = m->data.batch;
  if (V < 256) {
    rt_err("sample: the model's vocabulary (%d) is not byte-level; prompts are bytes", V);
    goto done;
  }
  const char *prompt = o->prompt && *o->prompt ? o->prompt : "\n";
  int64_t plen = (int64_t)strlen(prompt), cap = plen + (o->ntokens > 0 ? o->ntokens : 0);
  ctx = rt_xmalloc((size_t)cap * sizeof *ctx, "sample context");
  c = rt_xmalloc((size_t)V * sizeof *c, "sample candidates");
  row = rt_xmalloc((size_t)V * sizeof(double), "sample logits row");
  if (!ctx || !c || !row) goto done;
  for (int64_t i = 0; i < plen; i++) ctx[i] = (unsigned char)prompt[i];
  rt_rng g;
  rt_rng_seed(&g, o->sample_seed);
  int32_t *tokens = rt_at(&r, m->tokens_off), *targets = rt_at(&r, m->targets_off);
  memset(tokens, 0, sizeof(int32_t) * (size_t)B * (size_t)T);
  memset(targets, 0, sizeof(int32_t) * (size_t)B * (size_t)T);
  r.ctx.no_grads = 1; /* forward only */
  fputs(o->prompt ? o->prompt : "", stdout);
  int64_t n = plen;
  for (int64_t k = 0; k < o->ntokens; k++) {
    int64_t start = n > T ? n - T : 0, w = n - start;
    memcpy(tokens, ctx + start, sizeof(int32_t) * (size_t)w);
    memset(tokens + w, 0, sizeof(int32_t) * (size_t)(T - w));
    if (rt_step_forward(&r) != 0) goto done;
    const unsigned char *lg;
    if (m->logits_off >= 0) {
      const int64_t at = m->logits_off + (w - 1) * V * (int64_t)r.esz;
      if (rt_device_pull(&r, at, V * (int64_t)r.esz) != 0) goto done;
      lg = (const unsigned char *)rt_at(&r, at);
    } else {
      if (rt_device_pull(&r, m->head_x_off + (w - 1) * m->head_c * (int64_t)r.esz,
                         m->head_c * (int64_t)r.esz) != 0)
        goto done;
      head_row(&r, w - 1, row);
      lg = row;
    }
    int tok = pick(&r, lg, V, c, &g);
    ctx[n++] = tok;
    emit(tok);
    fflush(stdout);
  }
  putchar('\n');
  rc = 0;
done:
  free(ctx);
  free(c);
  free(row);
  rt_run_close(&r);
  return rc;
}
