/* tests/unit/test_pass_api.c -- the rewrite half of the public pass API
 * (compiler/pass.h, compiler/rewrite.c): globs and layer numbers, users,
 * rewiring a reader to a node appended after it and ir_sort putting the
 * array back into dependency order (every reference renumbered), ir_reinfer
 * after a shape change, the verifier's shape check, and a pass's `choices`
 * enforced by the manager at the argument's span.
 */
#include <stdlib.h>
#include <string.h>

#include "back.h"

#include "check.h"
#include "test_pass_util.h"

static SrcFile src = {"t.ft", "x\n", 2, NULL, 0, 0};
static Span SP = {&src, 1, 1, 1, 2};

static int fill(IrGraph *g, int64_t a, int64_t b) {
  int id = ir_new(g, IR_FILL, NULL, 0, SP);
  g->nodes[id].shape = (IrShape){2, {a, b}};
  return ir_infer(g, NULL, id) < 0 ? -1 : id;
}

static void test_glob(void) {
  CHECK(ir_glob("*.attn.*", "h.0.attn.c_attn"), "star matches dots");
  CHECK(!ir_glob("*.attn.*", "h.0.mlp.c_fc"), "no match");
  CHECK(ir_glob("*.mlp.*|*.attn.*", "h.11.attn.c_proj"), "second alternative");
  CHECK(ir_glob("h.?.ln_1", "h.3.ln_1") && !ir_glob("h.?.ln_1", "h.13.ln_1"), "? is one char");
  CHECK(ir_glob("*", "") && !ir_glob("a", ""), "empty name");
  CHECK(ir_layer_of("h.11.attn.c_proj") == 11, "layer of h.11");
  CHECK(ir_layer_of("model.layers.3.mlp") == 3, "layer of model.layers.3");
  CHECK(ir_layer_of("wte.weight") == -1 && ir_layer_of(NULL) == -1, "no layer");
}

/* a -> b -> c; then d = scale(a) appended, and c made to read d instead
 * of b: c now reads ahead of itself until ir_sort. */
static void test_sort(void) {
  IrGraph *g = ir_graph_new();
  int a = fill(g, 1, 1); /* the loss is a scalar */
  int b = ir_new(g, IR_GELU, &a, 1, SP);
  ir_infer(g, NULL, b);
  int c = ir_new(g, IR_SCALE, &b, 1, SP);
  g->nodes[c].fa[0] = 3.0;
  ir_infer(g, NULL, c);
  g->loss = c;
  int d = ir_new(g, IR_SCALE, &a, 1, SP);
  g->nodes[d].fa[0] = 2.0;
  ir_infer(g, NULL, d);
  CHECK(ir_users(g, b, NULL, 0) == 1, "b has one reader");
  CHECK(ir_replace_uses(g, b, d, -1) == 1, "one input rewired");
  CHECK(ir_users(g, b, NULL, 0) == 0 && ir_users(g, d, NULL, 0) == 1, "readers moved");
  ir_kill(g, b);
  CHECK(ir_verify(g, NULL) < 0, "reading ahead is not yet a valid graph");
  CHECK(ir_sort(g, stderr) == 0, "sorts");
  CHECK(ir_verify(g, stderr) == 0, "valid after the sort");
  /* the scale by 3 (c) is the loss and reads the scale by 2 (d) */
  int loss = g->loss;
  CHECK(ir_is(g, loss, IR_SCALE) && g->nodes[loss].fa[0] == 3.0, "loss followed its node");
  int in = ir_in(g, loss, 0, IR_SCALE);
  CHECK(in >= 0 && in < loss && g->nodes[in].fa[0] == 2.0, "its input renumbered, before it");
  CHECK(ir_in(g, in, 0, IR_FILL) >= 0, "which reads the fill");
  CHECK(ir_in(g, loss, 0, IR_GELU) == -1 && ir_in(g, -1, 0, IR_OP_COUNT) == -1, "ir_in misses");
  ir_graph_free(g);
}

/* widen a leaf: the verifier sees its reader's stale shape; ir_reinfer fixes it */
static void test_reinfer(void) {
  IrGraph *g = ir_graph_new();
  int a = fill(g, 2, 3);
  int b = ir_new(g, IR_GELU, &a, 1, SP);
  ir_infer(g, NULL, b);
  g->nodes[a].shape.d[1] = 5;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  CHECK(ir_verify(g, f) < 0, "stale shape caught");
  fclose(f);
  CHECK(text && strstr(text, "shape: it says f32[2,3] but its inputs give f32[2,5]"),
        "the verifier says what it found: %s", text ? text : "");
  free(text);
  CHECK(ir_reinfer(g, NULL) == 0 && g->nodes[b].shape.d[1] == 5, "re-inferred");
  CHECK(ir_verify(g, stderr) == 0, "valid again");
  int p = ir_param_new(g, NULL, SP, "w", (IrShape){1, {4}}, IR_F32, 1, INIT_ZEROS, 0);
  CHECK(p >= 0 && ir_find_param(g, "w") == p && g->nodes[p].trainable, "new param");
  ir_graph_free(g);
}

/* a test pass with a `choices` parameter */
static char seen[32]; /* a copy: the recipe's text dies with the test's parse */
static int run_mode(IrGraph *g, const PassArgs *a, Diag *d) {
  snprintf(seen, sizeof seen, "%s", pass_str(a, "mode"));
  return 0;
}
static const PassParam mode_params[] = {
    {"mode", PP_NAME, "fast", "how", "fast|exact"}, {0}};
static const Pass mode_pass = {.name = "test_mode", .doc = "test", .params = mode_params,
                               .stage = IR_PHASE_FWD, .run = run_mode};

static void test_choices(void) {
  CHECK(pass_register(&mode_pass) == 0 && pass_find("test_mode") == &mode_pass, "registered");
  CHECK(pass_register(&mode_pass) < 0, "a name is registered once");
  IrGraph *g = ir_graph_new();
  char *out = NULL;
  CHECK(run_passes(g, "c.ft", "test_mode(mode: exact)", &out) == 0 && !strcmp(seen, "exact"), "a listed value: %s", out);
  free(out);
  CHECK(run_passes(g, "c.ft", "test_mode", &out) == 0 && !strcmp(seen, "fast"), "the default");
  free(out);
  out = NULL;
  CHECK(run_passes(g, "c.ft", "test_mode(mode: exakt)", &out) < 0 && out &&
            strstr(out, "c.ft:2:13: error: pass 'test_mode': mode must be one of fast|exact, "
                        "not 'exakt' (did you mean 'exact'?)"),
        "refused at the argument: %s", out ? out : "");
  free(out);
  ir_graph_free(g);
}

int main(void) {
  test_glob();
  test_sort();
  test_reinfer();
  test_choices();
  return check_exit("test_pass_api");
}
