/* compiler/plan/print.c -- `ftc plan` output: the memory plan as a table
 * for people and as JSON for scripts.
 *
 * One idea: both views print the same numbers from the Plan (categories at
 * the live peak, the arena, the op at the peak, counted from 1 in both), so
 * a golden test of the JSON also pins the table. Beside them, the memory
 * of the machine ftc runs on, which the trainer checks the arena against.
 */
#include <string.h>
#include "../back.h"
#include "ftrt.h"

static const char *const cat_names[PLAN_CAT_COUNT] = {
    "params", "grads", "optimizer_state", "inputs", "activations", "temporaries"};
static const char *const cat_labels[PLAN_CAT_COUNT] = {
    "parameters", "gradients", "optimizer state", "inputs (tokens, targets)",
    "activations (kept for backward)", "temporaries"};

static const char *human(int64_t b, char *buf, size_t cap) {
  if (b >= (int64_t)1 << 30)
    snprintf(buf, cap, "%.2f GiB", (double)b / (double)((int64_t)1 << 30));
  else if (b >= (int64_t)1 << 20)
    snprintf(buf, cap, "%.2f MiB", (double)b / (double)((int64_t)1 << 20));
  else if (b >= 1024)
    snprintf(buf, cap, "%.2f KiB", (double)b / 1024.0);
  else
    snprintf(buf, cap, "%lld B", (long long)b);
  return buf;
}

static const char *opt_name(const Recipe *r) {
  switch (r->opt) {
  case OPT_ADAMW: return "adamw";
  case OPT_ADAGRAD: return "adagrad";
  case OPT_SGD: return r->momentum != 0.0 ? "sgd+momentum" : "sgd";
  }
  return "?";
}

static void count_params(const IrGraph *g, int64_t *all, int64_t *trainable) {
  *all = *trainable = 0;
  for (int i = 0; i < g->n; i++) {
    const IrNode *n = &g->nodes[i];
    if (n->dead || n->op != IR_PARAM || n->role != IR_ROLE_PARAM) continue;
    *all += ir_numel(&n->shape);
    if (n->trainable) *trainable += ir_numel(&n->shape);
  }
}

static int peak_node(const Plan *p) {
  return p->norder > 0 ? p->order[p->peak_at] : -1;
}

/* "file.ft:12" of a node, or "?" */
static void where(const IrNode *n, char *buf, size_t cap) {
  if (n->span.file && n->span.file->path) {
    const char *s = strrchr(n->span.file->path, '/');
    snprintf(buf, cap, "%s:%d", s ? s + 1 : n->span.file->path, n->span.line);
  } else {
    snprintf(buf, cap, "?");
  }
}

/* The per-rank region the runtime appends to the arena (runtime/dist.c,
 * rt_dist_region, with the same split, rt_shard_range): this rank's slice
 * of every optimizer state slot, then (zero stage >= 2) of every gradient,
 * then (stage 3) of every parameter, in parameter-table order, 64-byte
 * aligned. Returns its bytes; each part's apart. */
static int64_t zero_region(const IrGraph *g, const Recipe *r, const Plan *p, int ranks, int rank,
                           int64_t *state, int64_t *grads, int64_t *params) {
  *state = *grads = *params = 0;
  if (g->zero_stage < 1) return 0;
  int nblk = p->nslots + (g->zero_stage >= 2) + (g->zero_stage >= 3);
  int64_t top = 0, end = 0;
  for (int b = 0; b < nblk; b++)
    for (int i = 0; i < g->n; i++) {
      const IrNode *n = &g->nodes[i];
      /* the parameter block (stage 3) holds every parameter, frozen too */
      int all = b == p->nslots + 1;
      if (n->dead || n->op != IR_PARAM || n->role != IR_ROLE_PARAM || (!n->trainable && !all))
        continue;
      int64_t lo, cnt, es = back_elem_size(n, r->dtype);
      rt_shard_range(ir_numel(&n->shape), rank, ranks, &lo, &cnt);
      if (cnt > 0 && top + cnt * es > end) end = top + cnt * es;
      *(b < p->nslots ? state : b == p->nslots ? grads : params) += cnt * es;
      top = (top + cnt * es + 63) / 64 * 64;
    }
  return end;
}

/* One rank's memory: the static plan plus its shard region. Rank 0 holds
 * the largest slices (ceil split), so its figures bound every rank's. */
typedef struct RankMem {
  int64_t cat[PLAN_CAT_COUNT], arena, region;
} RankMem;

static RankMem rank_mem(const IrGraph *g, const Recipe *r, const Plan *p, int ranks) {
  RankMem m;
  int64_t st, gr, pa;
  memcpy(m.cat, p->cat_bytes, sizeof m.cat);
  m.region = zero_region(g, r, p, ranks, 0, &st, &gr, &pa);
  m.cat[PLAN_OPTSTATE] += st;
  m.cat[PLAN_GRADS] += gr;
  m.cat[PLAN_PARAMS] += pa;
  m.arena = p->arena_bytes + m.region;
  return m;
}

static void print_ranks(const IrGraph *g, const Recipe *r, const Plan *p, int ranks, FILE *out) {
  char h[32];
  RankMem m = rank_mem(g, r, p, ranks);
  fprintf(out, "\n  per rank of %d (%s; rank 0, the largest)\n", ranks,
          g->zero_stage == 0 ? "data parallel: everything replicated"
          : g->zero_stage == 1 ? "zero stage 1: optimizer state sharded"
          : g->zero_stage == 2 ? "zero stage 2: optimizer state and gradients sharded"
                               : "zero stage 3: optimizer state, gradients and parameters sharded");
  for (int c = 0; c < PLAN_CAT_COUNT; c++)
    fprintf(out, "  %-34s %14lld %12s\n", cat_labels[c], (long long)m.cat[c],
            human(m.cat[c], h, sizeof h));
  fprintf(out, "  %-34s %14lld %12s\n", "arena per rank", (long long)m.arena,
          human(m.arena, h, sizeof h));
  if (m.region)
    fprintf(out, "  (the arena above plus %lld bytes of this rank's shards after it)\n",
            (long long)m.region);
}

void plan_print(const IrGraph *g, const Recipe *r, const Plan *p, int ranks, FILE *out) {
  char h[32], w[256];
  int64_t all, tr;
  count_params(g, &all, &tr);
  fprintf(out, "plan for %s\n", r->path ? r->path : "(recipe)");
  fprintf(out, "  dtype %s, batch %d, seq %d, optimizer %s (%d state slot%s per param)\n",
          ir_dtype_name(r->dtype), r->batch, r->seq, opt_name(r), p->nslots,
          p->nslots == 1 ? "" : "s");
  fprintf(out, "  %lld parameters (%lld trainable), %d ops (%d forward, %d backward)\n\n",
          (long long)all, (long long)tr, p->norder, p->nfwd, p->norder - p->nfwd);
  fprintf(out, "  %-34s %14s %12s\n", "memory at the live peak", "bytes", "");
  for (int c = 0; c < PLAN_CAT_COUNT; c++)
    fprintf(out, "  %-34s %14lld %12s\n", cat_labels[c], (long long)p->cat_bytes[c],
            human(p->cat_bytes[c], h, sizeof h));
  fprintf(out, "  %-34s %14lld %12s\n", "live peak", (long long)p->peak_live,
          human(p->peak_live, h, sizeof h));
  fprintf(out, "  %-34s %14lld %12s\n", "arena (allocated once)", (long long)p->arena_bytes,
          human(p->arena_bytes, h, sizeof h));
  int64_t ram = rt_machine_memory();
  if (ram > 0 && p->arena_bytes > ram)
    fprintf(out, "  %-34s %14lld %12s  <- the arena does NOT fit: the trainer will refuse "
            "to start here\n", "this machine's memory", (long long)ram, human(ram, h, sizeof h));
  else if (ram > 0)
    fprintf(out, "  %-34s %14lld %12s  (the arena is %.1f%% of it)\n", "this machine's memory",
            (long long)ram, human(ram, h, sizeof h), 100.0 * (double)p->arena_bytes / (double)ram);
  int pk = peak_node(p);
  if (g->notes) { /* what each pass did (ir_note) */
    fprintf(out, "\n  passes:\n");
    for (const char *s = g->notes; *s;) {
      size_t len = strcspn(s, "\n");
      fprintf(out, "    %.*s\n", (int)len, s);
      s += len + (s[len] != 0);
    }
  }
  if (pk >= 0) {
    const IrNode *n = &g->nodes[pk];
    where(n, w, sizeof w);
    fprintf(out, "\n  peak at op %d of %d: %s %s (%s, %s)\n", p->peak_at + 1, p->norder,
            ir_ops[n->op].name, n->name ? n->name : "", n->phase == IR_PHASE_FWD ? "forward"
                                                                                 : "backward",
            w);
  }
  if (ranks > 1 || g->zero_stage) print_ranks(g, r, p, ranks, out);
}

static void json_str(FILE *out, const char *s) {
  fputc('"', out);
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
    else if (c < 0x20) fprintf(out, "\\u%04x", c);
    else fputc(c, out);
  }
  fputc('"', out);
}

void plan_print_json(const IrGraph *g, const Recipe *r, const Plan *p, int ranks, FILE *out) {
  int64_t all, tr;
  count_params(g, &all, &tr);
  fprintf(out, "{\"recipe\": ");
  json_str(out, r->path ? r->path : "");
  fprintf(out, ", \"dtype\": \"%s\", \"batch\": %d, \"seq\": %d, \"optimizer\": \"%s\",",
          ir_dtype_name(r->dtype), r->batch, r->seq, opt_name(r));
  fprintf(out, " \"state_slots\": %d, \"param_count\": %lld, \"trainable_count\": %lld,",
          p->nslots, (long long)all, (long long)tr);
  fprintf(out, " \"ops\": %d, \"forward_ops\": %d,", p->norder, p->nfwd);
  fprintf(out, " \"peak_bytes\": %lld, \"arena_bytes\": %lld, \"live_peak_bytes\": %lld,",
          (long long)p->arena_bytes, (long long)p->arena_bytes, (long long)p->peak_live);
  for (int c = 0; c < PLAN_CAT_COUNT; c++)
    fprintf(out, " \"%s\": %lld,", cat_names[c], (long long)p->cat_bytes[c]);
  if (ranks > 1 || g->zero_stage) {
    RankMem m = rank_mem(g, r, p, ranks);
    fprintf(out, " \"ranks\": %d, \"zero_stage\": %d, \"rank_arena_bytes\": %lld,", ranks,
            g->zero_stage, (long long)m.arena);
    for (int c = 0; c < PLAN_CAT_COUNT; c++)
      fprintf(out, " \"rank_%s\": %lld,", cat_names[c], (long long)m.cat[c]);
  }
  fprintf(out, " \"passes\": [");
  for (const char *s = g->notes; s && *s;) {
    size_t len = strcspn(s, "\n");
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)len, s);
    fprintf(out, "%s", s == g->notes ? "" : ", ");
    json_str(out, line);
    s += len + (s[len] != 0);
  }
  fprintf(out, "],");
  int pk = peak_node(p);
  fprintf(out, " \"machine_memory_bytes\": %lld,", (long long)rt_machine_memory());
  /* 1-based, as the text's "peak at op 67 of 185" */
  fprintf(out, " \"peak_index\": %d, \"peak_op\": ", p->norder > 0 ? p->peak_at + 1 : 0);
  if (pk >= 0) {
    char w[256];
    const IrNode *n = &g->nodes[pk];
    where(n, w, sizeof w);
    fprintf(out, "{\"op\": \"%s\", \"name\": ", ir_ops[n->op].name);
    json_str(out, n->name ? n->name : "");
    fprintf(out, ", \"phase\": \"%s\", \"at\": ", n->phase == IR_PHASE_FWD ? "forward" : "backward");
    json_str(out, w);
    fprintf(out, "}");
  } else {
    fprintf(out, "null");
  }
  fprintf(out, "}\n");
}
