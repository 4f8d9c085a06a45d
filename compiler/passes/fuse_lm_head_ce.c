/* compiler/passes/fuse_lm_head_ce.c -- fuse the lm-head GEMM with the
 * trainer's cross-entropy so the [B*T, V] logits never exist in training.
 *
 * One idea: the loss needs each row's logits only for a moment (its
 * log-sum-exp and its target's logit), and the gradient only needs
 * softmax - onehot of the same rows. So the pattern the elaborator builds,
 * CROSS_ENTROPY(RESHAPE(MATMUL(x, w)), targets), becomes one LM_HEAD_CE node
 * that computes R rows of logits at a time into a planned workspace
 * (SCRATCH [R, V]), adds their loss terms and, when a backward follows,
 * turns the chunk into dlogits in place and feeds the dx and dw GEMMs at
 * once (the loss is the step's output, so its seed gradient is 1: the
 * gradient is known in the forward). Backward reads dx and dw through
 * AFTER views (autodiff.c); nothing is recomputed, so the step keeps the
 * unfused three GEMMs. At GPT-2 124M (N = 1024, V = 50257) a 206 MB
 * activation and its gradient pass become a 51 MB workspace.
 *
 * It runs by default, after the recipe's forward passes and before
 * autodiff (driver.c), only when the logits have no other reader; then the
 * graph has no logits node (g->logits = -1) and the generated trainer tells
 * the sampler where the head's input and weight are instead (rt_model
 * head_* fields). Naming it in a `passes { }` block is harmless. The
 * environment variable FTC_NO_FUSE_LM_HEAD=1 at compile time skips the
 * default run (to build the unfused step for A/B comparisons).
 */
#include "builtin.h"
#include "../../runtime/kernels.h" /* RT_LM_HEAD_MAXROWS: the kernel's chunk limit */

/* A forward workspace node (no code; planned like any temporary). */
static int scratch(IrGraph *g, Span sp, IrShape shape, IrDtype dt, const char *name) {
  int id = ir_new(g, IR_SCRATCH, NULL, 0, sp);
  if (id < 0) return -1;
  g->nodes[id].shape = shape;
  g->nodes[id].dtype = dt;
  g->nodes[id].name = ir_strdup(g, name);
  return ir_infer(g, NULL, id) < 0 ? -1 : id;
}

static int is_fp(IrDtype t) { return t == IR_F32 || t == IR_F64; }

int pass_fuse_lm_head_ce_run(IrGraph *g, int64_t rows) {
  if (g->loss < 0 || g->nodes[g->loss].op != IR_CROSS_ENTROPY) return 0;
  const IrNode *ce = &g->nodes[g->loss];
  int lf = ce->in[0], tg = ce->in[1];
  if (g->nodes[lf].op != IR_RESHAPE) return 0;
  int mm = g->nodes[lf].in[0];
  const IrNode *m = &g->nodes[mm];
  if (m->op != IR_MATMUL || m->nin != 2 || m->ia[0] != 0) return 0;
  int x = m->in[0], w = m->in[1];
  const IrNode *xn = &g->nodes[x], *wn = &g->nodes[w];
  if (wn->shape.rank != 2 || xn->shape.rank < 2 || !is_fp(m->dtype) ||
      xn->dtype != m->dtype || wn->dtype != m->dtype)
    return 0;
  /* the logits must have no reader but the loss (the runtime's sampling
   * read is served from x and w instead) */
  if (ir_users(g, mm, NULL, 0) != 1 || ir_users(g, lf, NULL, 0) != 1 || (g->logits >= 0 && g->logits != mm))
    return 0;
  int64_t V = m->shape.d[m->shape.rank - 1];
  int64_t N = ir_numel(&xn->shape) / xn->shape.d[xn->shape.rank - 1];
  /* Rows per chunk (LM_HEAD_ROWS by default): every chunk streams all of w
   * through the forward and dx GEMMs, so fewer, larger chunks read w less
   * often (bench/kernels/bench_lm_head.c: 512 rows is ~8% faster than 256
   * at GPT-2's vocab) while the workspace stays a fraction of the logits;
   * tiny shapes still get three chunks so the seams are exercised. */
  int64_t R = (N + 2) / 3;
  if (R > rows) R = rows;
  if (R < 1) R = 1;
  /* ir_new may move g->nodes: copy what is needed from the pointers */
  Span sp = ce->span;
  IrDtype dt = m->dtype;
  int wt = m->ia[1] != 0;
  int frozen = wn->op == IR_PARAM && !wn->trainable;
  IrShape xs = xn->shape, wsh = frozen ? (IrShape){1, {1}} : wn->shape;
  int ws = scratch(g, sp, (IrShape){2, {R, V}}, dt, "lm_head.workspace");
  int dx = ws < 0 ? -1 : scratch(g, sp, xs, dt, "lm_head.dx");
  int dw = dx < 0 ? -1 : scratch(g, sp, wsh, dt, "lm_head.dw");
  if (dw < 0) return -1;
  int in[6] = {x, w, tg, ws, dx, dw};
  int f = ir_new(g, IR_LM_HEAD_CE, in, 6, sp);
  if (f < 0) return -1;
  g->nodes[f].ia[0] = wt;
  g->nodes[f].ia[1] = frozen;
  if (ir_infer(g, NULL, f) < 0) return -1;
  g->nodes[f].name = ir_strdup(g, "loss");
  ir_kill(g, g->loss);
  ir_kill(g, lf);
  ir_kill(g, mm);
  g->loss = f;
  g->logits = -1;
  return 1;
}

static int run(IrGraph *g, const PassArgs *a, Diag *d) {
  int64_t rows = pass_int(a, "rows");
  if (rows < 1 || rows > RT_LM_HEAD_MAXROWS) {
    diag_at(d, DIAG_ERROR, pass_span(a), "fuse_lm_head_ce: rows must be 1..%d, not %lld",
            RT_LM_HEAD_MAXROWS, (long long)rows);
    return -1;
  }
  return pass_fuse_lm_head_ce_run(g, rows) < 0 ? -1 : 0;
}

#define ROWS_TEXT_(n) #n
#define ROWS_TEXT(n) ROWS_TEXT_(n) /* the default as the registry's text */
static const PassParam params[] = {
    {"rows", PP_INT, ROWS_TEXT(LM_HEAD_ROWS),
     "logit rows per chunk: the workspace is rows x vocab; larger chunks read the weight less often", NULL},
    {0}};

const Pass pass_fuse_lm_head_ce = {
    .name = "fuse_lm_head_ce",
    .doc = "Fuses the lm-head matmul with the trainer's cross-entropy: logits are computed `rows` "
           "at a time in a planned workspace and never stored whole; the gradients are formed "
           "from each chunk in the same sweep. Runs by default before autodiff when nothing else reads the "
           "logits; naming it is harmless.",
    .params = params,
    .stage = IR_PHASE_FWD,
    .run = run,
};
