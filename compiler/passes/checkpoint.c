/* compiler/passes/checkpoint.c -- activation checkpointing: recompute
 * instead of keep [Chen et al. 2016; HF gradient checkpointing].
 *
 * One idea: a repeat layer is what one iteration of `for b in h { ... }`
 * computes (elaboration tags those nodes with IrNode.layer), so its only
 * tensors the rest of the step needs are the ones a node outside it reads:
 * its output, the next layer's input. Checkpointing a segment of layers
 * drops everything else it would keep for the backward, and the backward
 * recomputes the segment from its kept input just before its own gradient
 * (recompute.c), one segment at a time. At GPT-2 124M (B4 T256, every: 1)
 * the tensors kept for the backward drop from 873 to 189 MiB (147 MiB of
 * it the fused lm-head's weight gradient, 36 MiB the twelve layer inputs)
 * and the arena from 2.77 to 2.10 GiB, for one more forward per step.
 *
 * every: k makes segments of k consecutive layers of each repeat (only the
 * first layer of a segment keeps its input). budget: BYTES checkpoints
 * single layers, the earliest first, until the bytes the step keeps for
 * its backward fit; when even every layer checkpointed does not fit, the
 * diagnostic names the smallest budget that does. Runs after autodiff.
 */
#include <stdlib.h>
#include <string.h>
#include "../pass.h"

/* The layers in order of first appearance; returns how many (<= max). */
static int list_layers(const IrGraph *g, const char **out, int max) {
  int n = 0;
  for (int i = 0; i < g->n; i++) {
    const char *l = g->nodes[i].layer;
    if (!l || g->nodes[i].dead || g->nodes[i].phase != IR_PHASE_FWD) continue;
    int seen = 0;
    for (int k = n - 1; k >= 0 && !seen; k--) seen = out[k] == l;
    if (!seen && n < max) out[n++] = l;
  }
  return n;
}

/* "h.3" and "h.4" are items of one repeat; "h.3" and "blocks.0" are not. */
static int same_repeat(const char *a, const char *b) {
  const char *da = strrchr(a, '.'), *db = strrchr(b, '.');
  size_t la = da ? (size_t)(da - a) : 0, lb = db ? (size_t)(db - b) : 0;
  return la == lb && !strncmp(a, b, la);
}

/* Drops, for the backward, every tensor of a checkpointed segment that no
 * node outside its segment reads; seg[k] is layer k's segment or -1. Then
 * rewrites the graph (recompute.c). Returns nodes added or -1. */
static int apply(IrGraph *g, const char **layers, int nl, const int *seg, Diag *d) {
  int n = g->n, rc = -1;
  int *sg = malloc(sizeof(int) * ((size_t)n + 1));
  char *outside = calloc((size_t)n + 1, 1), *drop = calloc((size_t)n + 1, 1);
  if (!sg || !outside || !drop) goto out;
  for (int i = 0; i < n; i++) {
    sg[i] = -1;
    for (int k = 0; k < nl && g->nodes[i].layer; k++)
      if (g->nodes[i].layer == layers[k]) sg[i] = seg[k];
  }
  for (int r = 0; r < n; r++) {
    const IrNode *rn = &g->nodes[r];
    if (rn->dead || rn->phase != IR_PHASE_FWD) continue;
    for (int k = 0; k < rn->nin; k++)
      if (sg[rn->in[k]] >= 0 && sg[rn->in[k]] != sg[r]) outside[rn->in[k]] = 1;
  }
  /* reading a view reads what it aliases */
  for (int v = n - 1; v >= 0; v--)
    if (outside[v] && ir_ops[g->nodes[v].op].kind == OPK_VIEW && g->nodes[v].nin > 0)
      outside[g->nodes[v].in[0]] = 1;
  for (int i = 0; i < n; i++) {
    const IrNode *x = &g->nodes[i];
    drop[i] = sg[i] >= 0 && !outside[i] && !x->dead && x->phase == IR_PHASE_FWD &&
              ir_ops[x->op].kind != OPK_LEAF && ir_ops[x->op].kind != OPK_VIEW &&
              x->op != IR_SCRATCH;
  }
  rc = recompute(g, drop, d);
out:
  free(sg);
  free(outside);
  free(drop);
  return rc;
}

/* A throw-away copy for trying a choice (its strings may point into g's). */
static IrGraph *copy_graph(const IrGraph *g) {
  IrGraph *c = ir_graph_new();
  c->nodes = malloc(sizeof(IrNode) * ((size_t)g->n + 1));
  if (!c->nodes) {
    ir_graph_free(c);
    return NULL;
  }
  memcpy(c->nodes, g->nodes, sizeof(IrNode) * (size_t)g->n);
  c->n = c->cap = g->n;
  c->tokens = g->tokens;
  c->targets = g->targets;
  c->logits = g->logits;
  c->loss = g->loss;
  c->ngroups = g->ngroups;
  return c;
}

/* Kept bytes with the first j layers checkpointed one by one. */
static int64_t kept_with(const IrGraph *g, const char **layers, int nl, int j, Diag *d) {
  int *seg = malloc(sizeof(int) * ((size_t)nl + 1));
  IrGraph *c = seg ? copy_graph(g) : NULL;
  int64_t kept = -1;
  if (c) {
    for (int k = 0; k < nl; k++) seg[k] = k < j ? k : -1;
    if (apply(c, layers, nl, seg, d) >= 0) kept = recompute_kept_bytes(c);
  }
  ir_graph_free(c);
  free(seg);
  return kept;
}

static const char *human(int64_t b, char *buf, size_t cap) {
  if (b >= (int64_t)1 << 30) snprintf(buf, cap, "%.2f GiB", (double)b / (1 << 30));
  else if (b >= (int64_t)1 << 20) snprintf(buf, cap, "%.2f MiB", (double)b / (1 << 20));
  else snprintf(buf, cap, "%.2f KiB", (double)b / 1024);
  return buf;
}

#define MAXLAYERS 4096

static int run(IrGraph *g, const PassArgs *a, Diag *d) {
  int64_t every = pass_int(a, "every"), budget = pass_int(a, "budget");
  if (every < 1) {
    diag_at(d, DIAG_ERROR, pass_arg_span(a, "every"), "checkpoint: every must be at least 1, not %lld",
            (long long)every);
    return -1;
  }
  if (budget < 0) {
    diag_at(d, DIAG_ERROR, pass_arg_span(a, "budget"),
            "checkpoint: budget must be a number of bytes, not %lld",
            (long long)budget);
    return -1;
  }
  if (budget > 0 && every != 1) {
    diag_at(d, DIAG_ERROR, pass_span(a),
            "checkpoint: give either every or budget (budget chooses the layers itself)");
    return -1;
  }
  const char **layers = malloc(sizeof *layers * MAXLAYERS);
  int *seg = malloc(sizeof(int) * MAXLAYERS);
  int rc = -1;
  if (!layers || !seg) goto out;
  int nl = list_layers(g, layers, MAXLAYERS);
  if (nl == 0) {
    diag_at(d, DIAG_WARNING, pass_span(a),
            "checkpoint: the model has no repeat layers (`for x in repeat`) to checkpoint");
    rc = 0;
    goto out;
  }
  int j = nl; /* layers checkpointed, the earliest first */
  if (budget > 0) {
    char h1[32], h2[32];
    int64_t all = kept_with(g, layers, nl, nl, d);
    if (all < 0) goto out;
    if (all > budget) {
      diag_at(d, DIAG_ERROR, pass_span(a),
              "checkpoint: no choice of layers keeps the activations within the budget of "
              "%lld bytes (%s): with every layer checkpointed the step keeps %lld bytes (%s) "
              "for its backward; the smallest budget that fits is budget: %lld",
              (long long)budget, human(budget, h1, sizeof h1), (long long)all,
              human(all, h2, sizeof h2), (long long)all);
      goto out;
    }
    /* fewest layers that fit: kept bytes fall as more layers are dropped */
    int lo = 0, hi = nl;
    while (lo < hi) {
      int mid = (lo + hi) / 2;
      int64_t k = kept_with(g, layers, nl, mid, d);
      if (k < 0) goto out;
      if (k <= budget) hi = mid;
      else lo = mid + 1;
    }
    j = lo;
  }
  /* segments: runs of `every` consecutive layers of the same repeat */
  int s = -1, in_seg = 0;
  for (int k = 0; k < nl; k++) {
    if (k >= j) {
      seg[k] = -1;
      continue;
    }
    if (k == 0 || !same_repeat(layers[k - 1], layers[k]) || in_seg == every) {
      s++;
      in_seg = 0;
    }
    seg[k] = s;
    in_seg++;
  }
  int64_t before = recompute_kept_bytes(g);
  int added = j > 0 ? apply(g, layers, nl, seg, d) : 0;
  if (added < 0) goto out;
  char h1[32], h2[32];
  ir_note(g, "checkpoint: %d of %d layers recomputed in the backward, in %d segment%s "
          "(+%d ops); kept for backward %s -> %s", j, nl, s + 1, s == 0 ? "" : "s", added,
          human(before, h1, sizeof h1), human(recompute_kept_bytes(g), h2, sizeof h2));
  rc = 0;
out:
  free(layers);
  free(seg);
  return rc;
}

static const PassParam params[] = {
    {"every", PP_INT, "1", "segments of k consecutive repeat layers; each keeps only its input",
     NULL},
    {"budget", PP_INT, "0",
     "bytes the step may keep for its backward: checkpoint the fewest layers that fit "
     "(0 = use every)", NULL},
    {0}};
static const PassFact conflicts[] = {{0}};
static const char *const before[] = {"fuse_optimizer", "zero", NULL};

const Pass pass_checkpoint = {
    .name = "checkpoint",
    .doc = "Activation recomputation: keeps only the input of each segment of `every` repeat "
           "layers (or checkpoints the fewest single layers whose kept activations fit a byte "
           "`budget`) and recomputes the segment in the backward, right before its gradient: "
           "about one more forward per step for activation memory. Gradients are unchanged.",
    .params = params,
    .conflicts = conflicts,
    .before = before,
    .stage = IR_PHASE_BWD,
    .run = run,
};
