/* tests/unit/test_autodiff.c -- reverse-mode autodiff on hand-built graphs.
 *
 * Structure: one GRAD node per trainable parameter with the parameter's
 * shape, none for frozen ones, a zero FILL for unused ones, the shared 2-D
 * weight of a batched matmul differentiated as ONE flattened product.
 * Numbers: a graph that uses every differentiable op (each through its own
 * parameter) is planned, compiled to a float64 trainer with the real code
 * generator and runtime, and `trainer gradcheck` compares every gradient
 * with central finite differences.
 */
#include <math.h>
#include <unistd.h>
#include "config.h"
#include "driver.h"
#include "test_autodiff_util.h"

static int count_grads(int p) {
  int c = 0;
  for (int i = 0; i < G->n; i++)
    if (!G->nodes[i].dead && G->nodes[i].role == IR_ROLE_GRAD && G->nodes[i].grad_of == p) c++;
  return c;
}

static void test_structure(void) {
  G = ir_graph_new();
  int B = 2, T = 3, V = 11, C = 4, wte;
  int x = t_start(B, T, V, C, &wte);
  int pos = t_param("wpe.weight", t_shape(2, T, C), 0, INIT_NORMAL); /* frozen */
  int unused = t_param("unused.weight", t_shape(1, 5), 1, INIT_ZEROS);
  int w = t_param("fc.weight", t_shape(2, C, C), 1, INIT_NORMAL);
  x = T2(IR_ADD, x, pos);
  int h = T2(IR_MATMUL, x, w);
  h = T2(IR_ADD, h, x); /* x used twice: contributions are summed */
  t_finish(h, wte, B, T, V, -1);
  int nfwd = G->n;
  CHECK(autodiff(G, D) == 0, "autodiff failed");
  CHECK(ir_verify(G, stdout) == 0, "graph invalid after autodiff");
  CHECK(count_grads(wte) == 1, "wte has %d grads", count_grads(wte));
  CHECK(count_grads(w) == 1, "fc has %d grads", count_grads(w));
  CHECK(count_grads(pos) == 0, "frozen param got a gradient");
  CHECK(count_grads(unused) == 1, "unused param has no gradient");
  int gu = ir_grad_of(G, unused);
  CHECK(gu >= 0 && G->nodes[gu].op == IR_FILL && G->nodes[gu].fa[0] == 0.0,
        "unused param's gradient is not a zero fill");
  int gw = ir_grad_of(G, w);
  CHECK(gw >= 0 && G->nodes[gw].shape.rank == 2 && G->nodes[gw].shape.d[0] == C,
        "fc grad shape wrong");
  /* the shared 2-D weight: one product over the flattened batch */
  CHECK(gw >= 0 && G->nodes[gw].op == IR_MATMUL, "fc grad is %s, not a matmul",
        gw >= 0 ? ir_ops[G->nodes[gw].op].name : "-");
  if (gw >= 0 && G->nodes[gw].op == IR_MATMUL)
    for (int k = 0; k < 2; k++) {
      const IrNode *in = &G->nodes[G->nodes[gw].in[k]];
      CHECK(in->shape.rank == 2 && in->shape.d[0] == B * T,
            "fc grad operand %d is not the flattened [B*T, .] (rank %d)", k, in->shape.rank);
    }
  for (int i = nfwd; i < G->n; i++)
    CHECK(G->nodes[i].phase == IR_PHASE_BWD, "node %d appended by autodiff is not BWD", i);
  /* dce keeps everything the gradients need; the frozen param stays */
  int before = 0;
  for (int i = 0; i < G->n; i++) before += !G->nodes[i].dead;
  CHECK(pass_dce_run(G) >= 0, "dce failed");
  CHECK(!G->nodes[pos].dead && !G->nodes[gw].dead, "dce removed needed nodes");
  ir_graph_free(G);
}

/* A node the loss does not need is not differentiated. */
static void test_not_needed(void) {
  G = ir_graph_new();
  int B = 1, T = 2, V = 5, C = 3, wte;
  int x = t_start(B, T, V, C, &wte);
  int side = T1(IR_GELU, x); /* never reaches the loss */
  t_finish(x, wte, B, T, V, -1);
  CHECK(autodiff(G, D) == 0, "autodiff failed");
  for (int i = 0; i < G->n; i++)
    CHECK(!(G->nodes[i].phase == IR_PHASE_BWD && G->nodes[i].op == IR_GELU_BWD),
          "the unused gelu was differentiated");
  pass_dce_run(G);
  CHECK(G->nodes[side].dead, "dce kept an unused node");
  ir_graph_free(G);
}

/* Every differentiable op, each with a parameter of its own in its path. */
static void build_zoo(int B, int T, int V) {
  int C = 8, H = 2, Dh = 4, wte;
  int perm0213[4] = {0, 2, 1, 3}, perm021[3] = {0, 2, 1};
  int x = t_start(B, T, V, C, &wte);
  int pos = t_param("pos", t_shape(2, T, C), 1, INIT_NORMAL);
  x = T2(IR_ADD, x, pos);
  int lw = t_param("ln.weight", t_shape(1, C), 1, INIT_ONES);
  int lb = t_param("ln.bias", t_shape(1, C), 1, INIT_NORMAL);
  int y = t_op(IR_LAYER_NORM, x, lw, lb, 0, 0, 0, 1e-5);
  int w1 = t_param("fc.weight", t_shape(2, C, 2 * C), 1, INIT_NORMAL);
  int b1 = t_param("fc.bias", t_shape(1, 2 * C), 1, INIT_NORMAL);
  int h = T2(IR_ADD, T2(IR_MATMUL, y, w1), b1);
  h = T1(IR_GELU, h);
  int w2 = t_param("proj.weight", t_shape(2, C, 2 * C), 1, INIT_NORMAL); /* [out, in] */
  h = t_op(IR_MATMUL, h, w2, -1, 0, 1, 0, 0);
  h = T1(IR_SILU, h);
  int gm = t_param("gate", t_shape(1, C), 1, INIT_NORMAL);
  h = T2(IR_MUL, h, gm);
  int dv = t_param("div", t_shape(1, C), 1, INIT_ONES);
  h = T2(IR_DIV, h, dv);
  h = T2(IR_SUB, h, x);
  h = t_op(IR_SCALE, h, -1, -1, 0, 0, 0, 0.5);
  int rw = t_param("rms.weight", t_shape(1, C), 1, INIT_ONES);
  y = t_op(IR_RMS_NORM, h, rw, -1, 0, 0, 0, 1e-6);
  /* attention: rope'd queries, grouped keys/values (expand), causal softmax */
  int wq = t_param("q.weight", t_shape(2, C, C), 1, INIT_NORMAL);
  int wk = t_param("k.weight", t_shape(2, C, Dh), 1, INIT_NORMAL);
  int wv = t_param("v.weight", t_shape(2, C, Dh), 1, INIT_NORMAL);
  int q = t_reshape(T2(IR_MATMUL, y, wq), t_shape(4, B, T, H, Dh));
  q = t_op(IR_ROPE, q, -1, -1, 1, 0, 0, 10000.0);
  int k = t_reshape(T2(IR_MATMUL, y, wk), t_shape(4, B, T, 1, Dh));
  k = t_op(IR_ROPE, k, -1, -1, 1, 0, 0, 10000.0);
  k = t_op(IR_EXPAND, k, -1, -1, 2, H, 0, 0);
  int v = t_reshape(T2(IR_MATMUL, y, wv), t_shape(4, B, T, 1, Dh));
  v = t_op(IR_EXPAND, v, -1, -1, 2, H, 0, 0);
  q = t_permute(q, 4, perm0213);
  k = t_permute(k, 4, perm0213);
  v = t_permute(v, 4, perm0213);
  int s = t_op(IR_MATMUL, q, k, -1, 0, 1, 0, 0);
  s = t_op(IR_SCALE, s, -1, -1, 0, 0, 0, 0.5);
  s = t_op(IR_CAUSAL_MASK, s, -1, -1, 0, 0, 0, -INFINITY);
  s = T1(IR_SOFTMAX, s);
  int a = T2(IR_MATMUL, s, v);
  a = t_reshape(t_permute(a, 4, perm0213), t_shape(3, B, T, C));
  h = T2(IR_ADD, h, a);
  /* slices swapped and concatenated back */
  int lo = t_op(IR_SLICE, h, -1, -1, 2, 0, C / 2, 0);
  int hi = t_op(IR_SLICE, h, -1, -1, 2, C / 2, C / 2, 0);
  h = t_op(IR_CONCAT, hi, lo, -1, 2, 0, 0, 0);
  /* a shared weight applied to a transposed-stored operand (ta = 1) */
  int wt = t_param("t.weight", t_shape(2, C, C), 1, INIT_NORMAL);
  int ht = t_permute(h, 3, perm021);
  h = T2(IR_ADD, h, t_op(IR_MATMUL, ht, wt, -1, 1, 0, 0, 0));
  /* reductions: a sum over the batch broadcast back, a mean into the loss */
  int sc = t_param("sum.scale", t_shape(2, T, C), 1, INIT_NORMAL);
  int sm = t_op(IR_SUM, h, -1, -1, 0, 0, 0, 0);
  h = T2(IR_ADD, h, T2(IR_MUL, sm, sc));
  int ms = t_param("mean.in", t_shape(2, T, C), 1, INIT_NORMAL);
  int mn = t_op(IR_MEAN, T2(IR_MUL, h, ms), -1, -1, -1, 0, 0, 0);
  t_finish(h, wte, B, T, V, mn);
}

static void test_gradcheck_zoo(void) {
  const char *bd = getenv("BUILD");
  char lib[4096];
  snprintf(lib, sizeof lib, "%s/libftrt.a", bd ? bd : FTC_BUILDDIR);
  if (access(lib, R_OK) != 0) {
    printf("FAIL: %s missing: cannot run the gradient check\n", lib);
    check_failures++;
    return;
  }
  if (bd) setenv("FTC_BUILDDIR", bd, 1);
  G = ir_graph_new();
  int B = 2, T = 4, V = 16;
  build_zoo(B, T, V);
  Drv d;
  memset(&d, 0, sizeof d);
  t_recipe(&d.r, IR_F64, B, T, V);
  CHECK(autodiff(G, D) == 0, "autodiff of the zoo failed");
  CHECK(ir_verify(G, stdout) == 0, "zoo graph invalid");
  pass_dce_run(G);
  d.g = G;
  d.plan = plan_build(G, &d.r);
  CHECK(d.plan != NULL, "plan failed");
  if (!d.plan || check_failures) {
    ir_graph_free(G);
    return;
  }
  CHECK(plan_verify(G, d.plan, stdout) == 0, "zoo plan overlaps");
  char dir[] = "/tmp/ftc-test-ad-XXXXXX", exe[64], cmd[256];
  if (!mkdtemp(dir)) {
    printf("FAIL: mkdtemp\n");
    check_failures++;
  } else {
    snprintf(exe, sizeof exe, "%s/zoo", dir);
    BuildOpts bo = {NULL, NULL, "none", 0};
    CHECK(build_trainer(&d, exe, &bo) == 0, "building the zoo trainer failed");
    snprintf(cmd, sizeof cmd, "%s gradcheck --samples 64 --threads 1 > %s/out.txt 2>&1", exe,
             dir);
    int rc = system(cmd);
    snprintf(cmd, sizeof cmd, "cat %s/out.txt", dir);
    if (rc != 0) {
      printf("FAIL: zoo gradcheck exit %d:\n", rc);
      check_failures++;
    }
    if ((rc != 0 || getenv("VERBOSE")) && system(cmd) != 0) printf("(no output)\n");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("warning: cannot remove %s\n", dir);
  }
  plan_free(d.plan);
  ir_graph_free(G);
}

int main(void) {
  D = diag_new(stdout, 20);
  test_structure();
  test_not_needed();
  test_gradcheck_zoo();
  diag_free(D);
  return check_exit("test_autodiff");
}
