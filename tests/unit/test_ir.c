/* tests/unit/test_ir.c -- the IR core: op table, dtypes, shape inference of
 * every forward op (results and error messages), the verifier and the
 * printers. Graphs are built by hand, so this needs no parser.
 */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

#include "check.h"

static SrcFile src = {"t.ft", "x = a @ b + c\n", 14, NULL, 0, 0};
static Span SP = {&src, 1, 5, 1, 10};

static char diag_text[4096];
static FILE *diag_file;
static Diag *D;

/* Returns what the Diag printed since the last call. */
static long diag_mark;
static const char *diag_out(void) {
  fflush(diag_file);
  long end = ftell(diag_file);
  size_t n = (size_t)(end - diag_mark);
  if (n > sizeof diag_text - 1) n = sizeof diag_text - 1;
  fseek(diag_file, diag_mark, SEEK_SET);
  size_t got = fread(diag_text, 1, n, diag_file);
  diag_text[got] = 0;
  fseek(diag_file, end, SEEK_SET);
  diag_mark = end;
  return diag_text;
}

static int leaf(IrGraph *g, IrOp op, IrDtype t, int rank, const int64_t *d) {
  int id = ir_new(g, op, NULL, 0, SP);
  IrNode *n = &g->nodes[id];
  n->shape.rank = rank;
  for (int i = 0; i < rank; i++) n->shape.d[i] = d[i];
  n->dtype = t;
  if (op == IR_PARAM) {
    n->role = IR_ROLE_PARAM;
    n->name = ir_strdup(g, op == IR_PARAM ? "p" : "x");
  }
  if (op == IR_INPUT) n->role = IR_ROLE_INPUT;
  return ir_infer(g, D, id) ? -1 : id;
}
#define T(g, ...) leaf(g, IR_FILL, IR_F32, (int)(sizeof((int64_t[]){__VA_ARGS__}) / 8), (int64_t[]){__VA_ARGS__})

static int shape_is(const IrGraph *g, int id, const char *want) {
  char b[128];
  if (id < 0) return 0;
  ir_shape_str(&g->nodes[id].shape, b, sizeof b);
  if (strcmp(b, want)) printf("  shape %s, want %s\n", b, want);
  return !strcmp(b, want);
}

static int op2(IrGraph *g, IrOp op, int a, int b, int64_t ia0, int64_t ia1) {
  int in[2] = {a, b};
  int id = ir_new(g, op, in, 2, SP);
  g->nodes[id].ia[0] = ia0;
  g->nodes[id].ia[1] = ia1;
  if (ir_infer(g, D, id)) {
    g->n--; /* drop the rejected node, as ir_add does */
    return -1;
  }
  return id;
}

static int op1(IrGraph *g, IrOp op, int a, int64_t ia0, int64_t ia1, int64_t ia2) {
  int id = ir_new(g, op, &a, 1, SP);
  g->nodes[id].ia[0] = ia0;
  g->nodes[id].ia[1] = ia1;
  g->nodes[id].ia[2] = ia2;
  if (ir_infer(g, D, id)) {
    g->n--;
    return -1;
  }
  return id;
}

static void test_table(void) {
  for (int i = 0; i < IR_OP_COUNT; i++) {
    CHECK(ir_ops[i].name && ir_ops[i].name[0], "op %d has no name", i);
    CHECK(ir_has_shape_rule((IrOp)i), "op %s has no shape rule", ir_ops[i].name);
    for (int j = 0; j < i; j++) CHECK(strcmp(ir_ops[i].name, ir_ops[j].name), "duplicate %s", ir_ops[i].name);
  }
  CHECK(!strcmp(ir_ops[IR_MATMUL].name, "matmul") && ir_ops[IR_MATMUL].arity == 2, "matmul entry");
  CHECK(ir_ops[IR_RESHAPE].kind == OPK_VIEW, "reshape is a view");
  CHECK(ir_dtype_size(IR_F32) == 4 && ir_dtype_size(IR_F64) == 8 && ir_dtype_size(IR_BF16) == 2 &&
            ir_dtype_size(IR_I32) == 4, "dtype sizes");
  CHECK(!strcmp(ir_dtype_name(IR_BF16), "bf16"), "dtype name");
  IrShape s = {3, {2, 3, 4}};
  CHECK(ir_numel(&s) == 24, "numel");
}

static void test_shapes(void) {
  IrGraph *g = ir_graph_new();
  int x = T(g, 4, 128, 128), w = T(g, 128, 512), wt = T(g, 512, 128);
  CHECK(shape_is(g, op2(g, IR_MATMUL, x, w, 0, 0), "[4,128,512]"), "batched x @ 2-D w");
  CHECK(shape_is(g, op2(g, IR_MATMUL, x, wt, 0, 1), "[4,128,512]"), "x @ wt^T");
  int bad = T(g, 256, 512);
  CHECK(op2(g, IR_MATMUL, x, bad, 0, 0) < 0, "inner mismatch rejected");
  CHECK(strstr(diag_out(), "t.ft:1:5: error: matmul: inner dimensions differ: [4,128,128] @ [256,512]"),
        "matmul message: %s", diag_text);
  int q = T(g, 2, 4, 16, 8), k = T(g, 2, 4, 16, 8);
  CHECK(shape_is(g, op2(g, IR_MATMUL, q, k, 0, 1), "[2,4,16,16]"), "batched q k^T");
  int k3 = T(g, 3, 4, 16, 8);
  CHECK(op2(g, IR_MATMUL, q, k3, 0, 1) < 0 && strstr(diag_out(), "batch dimensions differ"), "batch mismatch");
  /* broadcasting */
  int a = T(g, 2, 3, 4), b = T(g, 3, 4), c = T(g, 4, 4);
  CHECK(shape_is(g, op2(g, IR_ADD, a, b, 0, 0), "[2,3,4]"), "suffix broadcast");
  CHECK(op2(g, IR_ADD, b, a, 0, 0) < 0 && strstr(diag_out(), "add: shapes do not broadcast: [3,4] and [2,3,4]"),
        "prefix is not broadcast: %s", diag_text);
  CHECK(op2(g, IR_MUL, a, c, 0, 0) < 0, "mismatch rejected");
  diag_out();
  /* views and layout */
  int r = ir_new(g, IR_RESHAPE, &a, 1, SP);
  g->nodes[r].shape = (IrShape){2, {-1, 4}};
  CHECK(ir_infer(g, D, r) == 0 && shape_is(g, r, "[6,4]"), "reshape -1 resolved");
  r = ir_new(g, IR_RESHAPE, &a, 1, SP);
  g->nodes[r].shape = (IrShape){2, {5, 5}};
  CHECK(ir_infer(g, D, r) < 0 && strstr(diag_out(), "cannot reshape [2,3,4] (24 elements) to [5,5]"), "reshape numel");
  g->n--;
  int p = ir_new(g, IR_PERMUTE, &q, 1, SP);
  int perm[IR_MAXRANK] = {0, 2, 1, 3, 4, 5};
  memcpy(g->nodes[p].perm, perm, sizeof perm);
  CHECK(ir_infer(g, D, p) == 0 && shape_is(g, p, "[2,16,4,8]"), "permute");
  CHECK(shape_is(g, op1(g, IR_SLICE, a, 2, 1, 2), "[2,3,2]"), "slice");
  CHECK(op1(g, IR_SLICE, a, 2, 3, 2) < 0 && strstr(diag_out(), "slice: 3:5 is out of range for dim 2 of [2,3,4]"),
        "slice bounds: %s", diag_text);
  CHECK(shape_is(g, op2(g, IR_CONCAT, a, a, 1, 0), "[2,6,4]"), "concat");
  CHECK(shape_is(g, op1(g, IR_SUM, a, -1, 0, 0), "[1]"), "sum all");
  CHECK(shape_is(g, op1(g, IR_MEAN, a, 1, 0, 0), "[2,4]"), "mean axis 1");
  CHECK(shape_is(g, op1(g, IR_MEAN, a, 1, 1, 0), "[2,1,4]"), "mean keepdim");
  CHECK(shape_is(g, op1(g, IR_EXPAND, q, 1, 3, 0), "[2,12,16,8]"), "expand");
  CHECK(shape_is(g, op1(g, IR_EXPAND_BWD, op1(g, IR_EXPAND, q, 1, 3, 0), 1, 3, 0), "[2,4,16,8]"), "expand_bwd");
  /* embedding, norms, loss */
  int tab = T(g, 256, 64);
  int64_t bt[2] = {4, 16};
  int idx = leaf(g, IR_INPUT, IR_I32, 2, bt);
  CHECK(shape_is(g, op2(g, IR_EMBEDDING, tab, idx, 0, 0), "[4,16,64]"), "embedding");
  CHECK(op2(g, IR_EMBEDDING, tab, tab, 0, 0) < 0 && strstr(diag_out(), "indices must be i32"), "embedding idx dtype");
  int xw = T(g, 4, 16, 64), ln_w = T(g, 64), bad_w = T(g, 32);
  int in3[3] = {xw, ln_w, ln_w};
  CHECK(shape_is(g, ir_add(g, D, SP, IR_LAYER_NORM, in3, 3), "[4,16,64]"), "layer_norm");
  in3[2] = bad_w;
  CHECK(ir_add(g, D, SP, IR_LAYER_NORM, in3, 3) < 0 && strstr(diag_out(), "bias [32] must be [64]"), "ln bias");
  int lg = T(g, 64, 256);
  int64_t n64[1] = {64};
  int tg = leaf(g, IR_INPUT, IR_I32, 1, n64);
  CHECK(shape_is(g, op2(g, IR_CROSS_ENTROPY, lg, tg, 0, 0), "[1]"), "cross_entropy");
  CHECK(op2(g, IR_CROSS_ENTROPY, xw, tg, 0, 0) < 0, "cross_entropy rank");
  diag_out();
  int mask_in = T(g, 2, 4, 16, 16);
  CHECK(shape_is(g, op1(g, IR_CAUSAL_MASK, mask_in, 0, 0, 0), "[2,4,16,16]"), "causal mask");
  CHECK(op1(g, IR_ROPE, xw, 1, 0, 0) < 0 && strstr(diag_out(), "rope: needs [B, T, heads, head_dim]"), "rope rank");
  /* arity errors are diagnostics too */
  CHECK(ir_add(g, D, SP, IR_GELU, in3, 2) < 0 && strstr(diag_out(), "gelu: takes 1 input, got 2"), "arity");
  int n_before = g->n;
  CHECK(ir_add(g, D, SP, IR_ADD, (int[]){a, c}, 2) < 0 && g->n == n_before, "failed ir_add leaves no node");
  diag_out();
  CHECK(ir_verify(g, stderr) == 0, "hand-built graph verifies");
  ir_graph_free(g);
}

static void test_verify_and_print(void) {
  IrGraph *g = ir_graph_new();
  int64_t d2[2] = {2, 3};
  int p = leaf(g, IR_PARAM, IR_F32, 2, d2);
  g->nodes[p].trainable = 1;
  g->nodes[p].init = INIT_NORMAL;
  g->nodes[p].init_arg = 0.02;
  int s = op1(g, IR_SCALE, p, 0, 0, 0);
  g->nodes[s].fa[0] = 0.5;
  g->nodes[s].name = ir_strdup(g, "half");
  CHECK(ir_verify(g, NULL) == 0, "valid graph");
  char *buf = NULL;
  size_t len = 0;
  FILE *m = tmpfile();
  ir_dump(g, m);
  len = (size_t)ftell(m);
  rewind(m);
  buf = calloc(1, len + 1);
  CHECK(fread(buf, 1, len, m) == len, "read dump");
  fclose(m);
  CHECK(strstr(buf, "%0 = param() : f32[2,3] param \"p\" trainable init=normal(0.02) @t.ft:1:5\n"), "dump param: %s", buf);
  CHECK(strstr(buf, "%1 = scale(%0) s=0.5 : f32[2,3] \"half\" @t.ft:1:5\n"), "dump scale: %s", buf);
  free(buf);
  m = tmpfile();
  ir_dot(g, m);
  len = (size_t)ftell(m);
  rewind(m);
  buf = calloc(1, len + 1);
  CHECK(fread(buf, 1, len, m) == len, "read dot");
  fclose(m);
  CHECK(strncmp(buf, "digraph ftc {", 13) == 0 && strstr(buf, "n0 -> n1;"), "dot: %s", buf);
  free(buf);
  /* corrupt it: forward reference, bad perm, duplicate param name */
  g->nodes[s].in[0] = 5;
  CHECK(ir_verify(g, NULL) != 0, "forward reference caught");
  g->nodes[s].in[0] = p;
  int p2 = leaf(g, IR_PARAM, IR_F32, 2, d2);
  CHECK(ir_verify(g, NULL) != 0, "duplicate param name caught");
  g->nodes[p2].name = ir_strdup(g, "q");
  g->nodes[s].group = 3;
  CHECK(ir_verify(g, NULL) != 0, "bad group caught");
  ir_graph_free(g);
}

int main(void) {
  diag_file = tmpfile();
  if (!diag_file) {
    perror("tmpfile");
    return 3;
  }
  D = diag_new(diag_file, 100);
  test_table();
  test_shapes();
  test_verify_and_print();
  diag_free(D);
  fclose(diag_file);
  return check_exit("test_ir");
}
