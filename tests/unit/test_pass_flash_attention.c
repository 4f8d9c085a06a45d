/* tests/unit/test_pass_flash_attention.c -- the flash_attention rewrite on
 * elaborated graphs (compiler/passes/flash_attention.c):
 *  - stdlib LLaMA (RoPE, grouped-query): each attention group becomes one
 *    flash_attention node reading the composite's own q, k, v inputs, plus
 *    its [B, H, T] log-sum-exp scratch; the rest of the group is dead;
 *    causal, block and 1/sqrt(D) are its attributes; the graph verifies;
 *    after autodiff there is one flash_attention_bwd per layer, and no
 *    live tensor of the step has a [T, T] tail;
 *  - a composite with an outside reader of its probabilities is left as it
 *    was, with a warning saying why;
 *  - a model without attention gets a warning, not an error. */
#include <math.h>
#include "test_elab_util.h"
#include "test_pass_util.h"

static int count_live(const IrGraph *g, IrOp op) {
  int n = 0;
  for (int i = 0; i < g->n; i++) n += !g->nodes[i].dead && g->nodes[i].op == op;
  return n;
}

/* live nodes whose last two dims are [T, T] */
static int count_tt(const IrGraph *g, int64_t T) {
  int n = 0;
  for (int i = 0; i < g->n; i++) {
    const IrShape *s = &g->nodes[i].shape;
    n += !g->nodes[i].dead && s->rank >= 2 && s->d[s->rank - 1] == T && s->d[s->rank - 2] == T;
  }
  return n;
}

#define LLAMA "use llama\nmodel = llama.tiny(n_layers: 2)\ndata train = text(\"x.txt\", seq: 16, batch: 2)\n"

static void test_llama(void) {
  Elab e;
  elab(&e, LLAMA);
  CHECK(e.g, "llama.tiny: %s", e.diags);
  if (!e.g) return;
  IrGraph *g = e.g;
  const int64_t T = 16, Hkv = 2, D = 32; /* B = 2, H = 4 */
  CHECK(count_tt(g, T) > 0, "the unfused composite has [T, T] scores");
  int q0 = find_node(g, "model.layers.0.self_attn.attention.q");
  int qin = q0 >= 0 ? g->nodes[q0].in[0] : -1;
  int e0 = find_node(g, "model.layers.0.self_attn.attention.k_expanded");
  int kin = e0 >= 0 ? g->nodes[g->nodes[e0].in[0]].in[0] : -1;
  int out0 = find_node(g, "model.layers.0.self_attn.attention.out");
  char *msg = NULL;
  int rc = run_passes(g, "p.ft", "flash_attention(block: 4)", &msg);
  CHECK(rc == 0 && msg && !*msg, "pass ran cleanly (rc %d): %s", rc, msg ? msg : "");
  free(msg);
  CHECK(count_live(g, IR_FLASH_ATTENTION) == 2, "%d fused nodes", count_live(g, IR_FLASH_ATTENTION));
  CHECK(count_live(g, IR_SOFTMAX) == 0 && count_live(g, IR_EXPAND) == 0 &&
            count_live(g, IR_CAUSAL_MASK) == 0 && count_live(g, IR_PERMUTE) == 0,
        "composite nodes left live");
  CHECK(count_tt(g, T) == 0, "a [T, T] tensor is left in the forward");
  if (out0 >= 0) {
    const IrNode *f = &g->nodes[out0];
    CHECK(f->op == IR_FLASH_ATTENTION && !f->dead, "the final permute's node became the fused one");
    CHECK(f->in[0] == qin && f->in[1] == kin, "fused node reads q %d, k %d (wants %d, %d)",
          f->in[0], f->in[1], qin, kin);
    CHECK(f->ia[0] == 1 && f->ia[1] == 4 && f->fa[0] == 1.0 / sqrt((double)D),
          "attributes causal %lld block %lld scale %g", (long long)f->ia[0], (long long)f->ia[1],
          f->fa[0]);
    const IrNode *l = &g->nodes[f->in[3]];
    CHECK(l->op == IR_SCRATCH && !strcmp(shp(g, f->in[3]), "[2,4,16]") && l->name &&
              !strcmp(l->name, "model.layers.0.self_attn.attention.lse"),
          "log-sum-exp scratch");
    const IrNode *kk = &g->nodes[f->in[1]];
    CHECK(kk->shape.d[2] == Hkv, "k keeps its %lld kv heads", (long long)kk->shape.d[2]);
  }
  CHECK(ir_verify(g, stdout) == 0, "verifies after the pass");
  /* the whole step */
  CHECK(autodiff(g, e.diag) == 0, "autodiff");
  pass_dce_run(g);
  CHECK(ir_verify(g, stdout) == 0, "verifies after autodiff");
  CHECK(count_live(g, IR_FLASH_ATTENTION_BWD) == 2, "%d fused backward nodes",
        count_live(g, IR_FLASH_ATTENTION_BWD));
  CHECK(count_tt(g, T) == 0, "a [T, T] tensor in the step");
  Plan *p = plan_build(g, &e.r);
  CHECK(p && plan_verify(g, p, stdout) == 0, "plan verifies");
  plan_free(p);
  elab_done(&e);
}

static void test_outside_reader(void) {
  Elab e;
  elab(&e, LLAMA);
  CHECK(e.g, "llama.tiny: %s", e.diags);
  if (!e.g) return;
  IrGraph *g = e.g;
  int probs = find_node(g, "model.layers.1.self_attn.attention.probs");
  CHECK(probs >= 0, "probs node");
  if (probs < 0) {
    elab_done(&e);
    return;
  }
  /* something outside the composite reads the probabilities */
  int x = ir_new(g, IR_SCALE, &probs, 1, g->nodes[probs].span);
  g->nodes[x].fa[0] = 2.0;
  CHECK(ir_infer(g, NULL, x) == 0, "extra reader");
  int n0 = g->n;
  char *msg = NULL;
  int rc = run_passes(g, "p.ft", "flash_attention", &msg);
  CHECK(rc == 0, "an unrecognized attention is not an error");
  CHECK(msg && strstr(msg, "warning: flash_attention: this attention is left unfused: something "
                           "outside the attention reads its intermediate tensors"),
        "warning: %s", msg ? msg : "");
  free(msg);
  CHECK(count_live(g, IR_FLASH_ATTENTION) == 1, "layer 0 fused, layer 1 left: %d fused",
        count_live(g, IR_FLASH_ATTENTION));
  CHECK(!g->nodes[probs].dead && g->nodes[probs].op == IR_SOFTMAX && count_live(g, IR_SOFTMAX) == 1,
        "layer 1's composite untouched");
  CHECK(g->n == n0, "the pass appends no node");
  CHECK(ir_verify(g, stdout) == 0, "verifies");
  elab_done(&e);
}

static void test_no_attention(void) {
  Elab e;
  elab(&e,
       "use nn\n"
       "model Net(vocab: int = 256, dim: int = 8) {\n"
       "  emb = nn.Embedding(vocab, dim)\n"
       "  forward(tokens: i32[B, T]) {\n"
       "    return emb(tokens) @ transpose(emb.weight)\n"
       "  }\n"
       "}\n"
       "model = Net()\n"
       "data train = text(\"x.txt\", seq: 4, batch: 2)\n");
  CHECK(e.g, "model: %s", e.diags);
  if (!e.g) return;
  char *msg = NULL;
  int rc = run_passes(e.g, "p.ft", "flash_attention", &msg);
  CHECK(rc == 0 && msg && strstr(msg, "p.ft:2:3: warning: flash_attention: the model has no "
                                      "attention to fuse"),
        "rc %d: %s", rc, msg ? msg : "");
  free(msg);
  msg = NULL;
  rc = run_passes(e.g, "p.ft", "flash_attention(block: 0)", &msg);
  CHECK(rc == -1 && msg && strstr(msg, "p.ft:2:3: error: flash_attention: block must be between "
                                       "1 and 128"),
        "block 0: rc %d: %s", rc, msg ? msg : "");
  free(msg);
  elab_done(&e);
}

int main(void) {
  test_llama();
  test_outside_reader();
  test_no_attention();
  return check_exit("test_pass_flash_attention");
}
