/* tests/unit/test_plan.c -- the scheduler, the memory planner and the code
 * generator's determinism, on hand-built graphs.
 *
 * What must hold: no two tensors live at the same time overlap (the
 * verifier, which must also catch a corrupted plan); memory is reused
 * (arena well under the sum of all tensors); elementwise ops whose input
 * dies there run in place; views alias their base and keep it alive;
 * optimizer state has 2/1/1/0 slots for AdamW/AdaGrad/SGD+momentum/SGD;
 * the categories at the peak add up to the peak; the same graph gives the
 * same offsets and byte-identical C.
 */
#include <math.h>
#include "config.h"
#include "test_autodiff_util.h"

static int64_t params_bytes(const Recipe *r) {
  int64_t b = 0;
  for (int i = 0; i < G->n; i++)
    if (G->nodes[i].op == IR_PARAM && G->nodes[i].trainable)
      b += ir_numel(&G->nodes[i].shape) * (r->dtype == IR_F64 ? 8 : 4);
  return b;
}

/* a deep MLP: many same-size temporaries to reuse */
static void build_mlp(int layers) {
  int B = 4, T = 8, V = 32, C = 16, wte;
  int x = t_start(B, T, V, C, &wte);
  for (int l = 0; l < layers; l++) {
    char nm[32];
    snprintf(nm, sizeof nm, "h.%d.weight", l);
    int w = t_param(nm, t_shape(2, C, C), 1, INIT_NORMAL);
    int h = T1(IR_GELU, T2(IR_MATMUL, x, w));
    x = T2(IR_ADD, x, h);
  }
  t_finish(x, wte, B, T, V, -1);
  if (autodiff(G, D) != 0) abort();
  pass_dce_run(G);
}

static void test_mlp_plan(void) {
  G = ir_graph_new();
  build_mlp(6);
  Recipe r;
  t_recipe(&r, IR_F32, 4, 8, 32);
  Plan *p = plan_build(G, &r);
  CHECK(p != NULL, "plan failed");
  if (!p) return;
  CHECK(plan_verify(G, p, stdout) == 0, "verifier found overlaps");
  /* schedule: a dependency order, forward first */
  int *pos = calloc((size_t)G->n, sizeof(int));
  for (int k = 0; k < p->norder; k++) pos[p->order[k]] = k + 1;
  for (int k = 0; k < p->norder; k++) {
    const IrNode *n = &G->nodes[p->order[k]];
    for (int i = 0; i < n->nin; i++)
      CHECK(ir_ops[G->nodes[n->in[i]].op].kind == OPK_LEAF || pos[n->in[i]] <= k,
            "node %d scheduled before its input %d", p->order[k], n->in[i]);
    CHECK((k < p->nfwd) == (n->phase == IR_PHASE_FWD), "phase order broken at %d", k);
  }
  free(pos);
  /* reuse: the arena is far below the sum of every tensor */
  int64_t sum = 0;
  for (int i = 0; i < G->n; i++)
    if (!G->nodes[i].dead && ir_ops[G->nodes[i].op].kind != OPK_VIEW) sum += p->bytes[i];
  sum += p->cat_bytes[PLAN_OPTSTATE];
  CHECK(p->arena_bytes < sum * 3 / 4, "no reuse: arena %lld of %lld", (long long)p->arena_bytes,
        (long long)sum);
  /* in place: the residual adds overwrite their dying input */
  int inplace = 0;
  for (int i = 0; i < G->n; i++)
    if (p->inplace_of[i] >= 0) {
      inplace++;
      CHECK(p->offset[i] == p->offset[p->inplace_of[i]], "in-place node %d moved", i);
    }
  CHECK(inplace > 0, "no op ran in place");
  /* categories */
  CHECK(p->nslots == 2, "adamw has %d slots", p->nslots);
  CHECK(p->cat_bytes[PLAN_OPTSTATE] == 2 * params_bytes(&r), "adamw state %lld",
        (long long)p->cat_bytes[PLAN_OPTSTATE]);
  CHECK(p->cat_bytes[PLAN_PARAMS] == params_bytes(&r), "params %lld",
        (long long)p->cat_bytes[PLAN_PARAMS]);
  CHECK(p->cat_bytes[PLAN_GRADS] == params_bytes(&r), "grads %lld",
        (long long)p->cat_bytes[PLAN_GRADS]);
  CHECK(p->cat_bytes[PLAN_INPUTS] == 2 * 4 * 8 * 4, "inputs %lld",
        (long long)p->cat_bytes[PLAN_INPUTS]);
  int64_t total = 0;
  for (int c = 0; c < PLAN_CAT_COUNT; c++) total += p->cat_bytes[c];
  CHECK(total == p->peak_live, "categories %lld != peak %lld", (long long)total,
        (long long)p->peak_live);
  CHECK(p->peak_live <= p->arena_bytes, "peak above arena");
  CHECK(p->cat_bytes[PLAN_ACTIVATIONS] > 0, "no activation is kept for the backward");
  for (int i = 0; i < G->n; i++) {
    if (G->nodes[i].dead) continue;
    if (ir_ops[G->nodes[i].op].kind == OPK_VIEW)
      CHECK(p->offset[i] == p->offset[back_view_base(G, i)], "view %d not at its base", i);
    else
      CHECK(p->offset[i] % 64 == 0, "node %d misaligned", i);
  }
  /* a view's late use keeps its base alive: logits (a view) live to the end
   * of the forward */
  int lb = back_view_base(G, G->logits);
  CHECK(p->last[lb] >= p->nfwd - 1, "logits' base dies inside the forward");
  /* the verifier catches a corrupted plan: put two co-live tensors together */
  int a = -1, b = -1;
  for (int i = 0; i < G->n && b < 0; i++)
    for (int j = i + 1; j < G->n && b < 0; j++) {
      if (G->nodes[i].dead || G->nodes[j].dead || p->first[i] < 0 || p->first[j] < 0) continue;
      if (ir_ops[G->nodes[i].op].kind == OPK_VIEW || ir_ops[G->nodes[j].op].kind == OPK_VIEW)
        continue;
      if (p->inplace_of[i] == j || p->inplace_of[j] == i) continue;
      if (p->first[i] <= p->last[j] && p->first[j] <= p->last[i] && p->offset[i] != p->offset[j]) {
        a = i;
        b = j;
      }
    }
  CHECK(b >= 0, "no co-live pair found");
  if (b >= 0) {
    int64_t keep = p->offset[b];
    p->offset[b] = p->offset[a];
    CHECK(plan_verify(G, p, NULL) > 0, "verifier missed an overlap");
    p->offset[b] = keep;
  }
  /* determinism: the same graph plans the same way and generates the same C */
  Plan *q = plan_build(G, &r);
  CHECK(q && q->arena_bytes == p->arena_bytes &&
            !memcmp(q->offset, p->offset, sizeof(int64_t) * (size_t)G->n),
        "planning is not deterministic");
  char *t1 = NULL, *t2 = NULL;
  size_t l1 = 0, l2 = 0;
  FILE *f1 = open_memstream(&t1, &l1), *f2 = open_memstream(&t2, &l2);
  CHECK(cg_c_trainer(G, &r, p, f1) == 0 && cg_c_trainer(G, &r, q, f2) == 0, "codegen failed");
  fclose(f1);
  fclose(f2);
  CHECK(l1 == l2 && !memcmp(t1, t2, l1), "generated C differs between runs");
  CHECK(strstr(t1, "#define FTC_PROGRAM_HASH \"fnv1a64:") != NULL, "no program hash");
  CHECK(strstr(t1, "rt_matmul_f32(") && strstr(t1, "int main(int argc"), "C looks wrong");
  free(t1);
  free(t2);
  plan_free(q);
  plan_free(p);
  ir_graph_free(G);
}

static void test_state_slots(void) {
  G = ir_graph_new();
  build_mlp(2);
  Recipe r;
  t_recipe(&r, IR_F64, 4, 8, 32);
  struct { OptKind k; double mom; int slots; } cases[] = {
      {OPT_ADAMW, 0, 2}, {OPT_ADAGRAD, 0, 1}, {OPT_SGD, 0.9, 1}, {OPT_SGD, 0, 0}};
  for (int c = 0; c < 4; c++) {
    r.opt = cases[c].k;
    r.momentum = cases[c].mom;
    Plan *p = plan_build(G, &r);
    CHECK(p && p->nslots == cases[c].slots, "case %d: %d slots", c, p ? p->nslots : -1);
    if (!p) continue;
    CHECK(p->cat_bytes[PLAN_OPTSTATE] == cases[c].slots * params_bytes(&r),
          "case %d: state bytes %lld", c, (long long)p->cat_bytes[PLAN_OPTSTATE]);
    CHECK(plan_verify(G, p, stdout) == 0, "case %d overlaps", c);
    for (int i = 0; i < G->n; i++)
      if (G->nodes[i].op == IR_PARAM && G->nodes[i].trainable)
        for (int s = 0; s < 2; s++)
          CHECK((p->state_off[2 * i + s] >= 0) == (s < cases[c].slots),
                "case %d: slot %d of %d", c, s, i);
    plan_free(p);
  }
  ir_graph_free(G);
}

int main(void) {
  D = diag_new(stdout, 20);
  test_mlp_plan();
  test_state_slots();
  diag_free(D);
  return check_exit("test_plan");
}
