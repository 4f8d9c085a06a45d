/* tests/unit/test_cg_cuda.c -- the CUDA generator refuses what it does not
 * know (compiler/codegen/cg_cuda.c: known_inputs, unknown_variant): an op
 * it has kernels for, extended by another pass with an input the kernels
 * would not read (segments of packed examples), attributes with a new
 * meaning (rope scaling), tensors of another dtype (mixed precision) or
 * parameters in hift's groups, makes cg_cuda() answer 1 with the op and
 * node in its reason, so ftc builds a CPU-only trainer (or fails with
 * --arch) instead of a device step that computes the old op. An extra
 * SCRATCH input (a CPU workspace) is fine. The graphs are tiny LLaMAs,
 * plain and with flash_attention, after autodiff and planning. */
#include "test_elab_util.h"
#include "test_pass_util.h"
#include "codegen/cuda_build.h"

#define LLAMA \
  "use llama\nmodel = llama.tiny(n_layers: 1)\n" \
  "data train = text(\"x.txt\", seq: 8, batch: 2)\n"

static int first(const IrGraph *g, IrOp op) {
  for (int i = 0; i < g->n; i++)
    if (!g->nodes[i].dead && g->nodes[i].op == op) return i;
  return -1;
}

/* cg_cuda's answer on g as it is now; *why gets its reason */
static int generate(const IrGraph *g, const Recipe *r, const Plan *p, char *why, size_t cap) {
  CuOut co;
  int rc = cg_cuda(g, r, p, &co);
  snprintf(why, cap, "%s", co.why);
  cu_out_free(&co);
  return rc;
}

/* elaborated, optionally flash_attention'd, differentiated and planned */
static Plan *step(Elab *e, int flash) {
  elab(e, LLAMA);
  CHECK(e->g, "llama.tiny: %s", e->diags);
  if (!e->g) return NULL;
  char *msg = NULL;
  if (flash) CHECK(run_passes(e->g, "p.ft", "flash_attention(block: 4)", &msg) == 0, "pass");
  free(msg);
  CHECK(autodiff(e->g, e->diag) == 0, "autodiff");
  pass_dce_run(e->g);
  Plan *p = plan_build(e->g, &e->r);
  CHECK(p != NULL, "plan");
  return p;
}

static void test_plain(void) {
  Elab e;
  Plan *p = step(&e, 0);
  if (!p) return;
  IrGraph *g = e.g;
  char why[1200];
  int rc = generate(g, &e.r, p, why, sizeof why);
  CHECK(rc == 0, "the plain step generates (rc %d: %s)", rc, why);

  int rope = first(g, IR_ROPE), mask = first(g, IR_CAUSAL_MASK), tok = first(g, IR_INPUT);
  CHECK(rope >= 0 && mask >= 0 && tok >= 0, "rope %d, causal_mask %d, input %d", rope, mask, tok);
  if (rope < 0 || mask < 0 || tok < 0) goto out;
  IrNode *n = &g->nodes[rope];
  n->ia[1] = 1 | (8 << 8); /* linear scaling, original context 8 */
  rc = generate(g, &e.r, p, why, sizeof why);
  CHECK(rc == 1 && strstr(why, "no CUDA kernel for op rope with scaling") && strstr(why, "rope ["),
        "rope with scaling refused, naming the node (rc %d: %s)", rc, why);
  n->ia[1] = 0;

  int mm = first(g, IR_MATMUL); /* mixed precision: a bf16 product */
  n = &g->nodes[mm];
  n->dtype = IR_BF16;
  rc = generate(g, &e.r, p, why, sizeof why);
  CHECK(rc == 1 && strstr(why, "no CUDA kernel for op matmul with bf16 tensors"),
        "a bf16 matmul refused (rc %d: %s)", rc, why);
  n->dtype = IR_F32;

  int w = first(g, IR_PARAM); /* hift: the parameter updated in its group's steps only */
  g->nodes[w].ia[0] = 2;
  rc = generate(g, &e.r, p, why, sizeof why);
  CHECK(rc == 1 && strstr(why, "no CUDA optimizer for hift's parameter groups"),
        "a parameter of a hift group refused (rc %d: %s)", rc, why);
  g->nodes[w].ia[0] = 0;

  n = &g->nodes[mask]; /* a segments input: masking by packed example */
  n->in[n->nin++] = tok;
  rc = generate(g, &e.r, p, why, sizeof why);
  CHECK(rc == 1 && strstr(why, "no CUDA kernel for op causal_mask with 2 inputs"),
        "causal_mask with a segments input refused (rc %d: %s)", rc, why);
  n->nin--;
  rc = generate(g, &e.r, p, why, sizeof why);
  CHECK(rc == 0, "restored, it generates again (rc %d: %s)", rc, why);
out:
  plan_free(p);
  elab_done(&e);
}

static void test_flash(void) {
  Elab e;
  Plan *p = step(&e, 1);
  if (!p) return;
  IrGraph *g = e.g;
  char why[1200];
  int fa = first(g, IR_FLASH_ATTENTION), tok = first(g, IR_INPUT);
  CHECK(fa >= 0 && tok >= 0, "flash_attention %d, input %d", fa, tok);
  if (fa < 0 || tok < 0) goto out;
  IrNode *f = &g->nodes[fa];
  f->in[f->nin++] = f->in[3]; /* a SCRATCH workspace more: the kernels do without */
  int rc = generate(g, &e.r, p, why, sizeof why);
  CHECK(rc == 0, "an extra SCRATCH input is a workspace (rc %d: %s)", rc, why);
  f->in[f->nin - 1] = tok; /* segments: not a workspace */
  rc = generate(g, &e.r, p, why, sizeof why);
  CHECK(rc == 1 && strstr(why, "no CUDA kernel for op flash_attention with ") &&
            strstr(why, " inputs yet (%"),
        "flash_attention with a segments input refused (rc %d: %s)", rc, why);
  f->nin--;
out:
  plan_free(p);
  elab_done(&e);
}

int main(void) {
  (void)find_node; /* test_elab_util.h's helpers this test does without */
  (void)shp;
  test_plain();
  test_flash();
  return check_exit("test_cg_cuda");
}
