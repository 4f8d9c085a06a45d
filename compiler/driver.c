/* compiler/driver.c -- the compile pipeline behind plan, build and graph.
 *
 * One idea: stages hand over only when the previous one reported no error
 * (the Diag counts them), so later stages may assume a well-formed input and
 * the user sees the first real problem, at the recipe span, not a cascade.
 */
#include <stdlib.h>
#include <string.h>
#include "back.h"
#include "cmd.h"
#include "driver.h"

void drv_free(Drv *d) {
  if (!d) return;
  plan_free(d->plan);
  ir_graph_free(d->g);
  if (d->ast) ast_ctx_free(d->ast);
  if (d->diag) diag_free(d->diag);
  memset(d, 0, sizeof *d);
}

static const AstNode *passes_block(const AstNode *root) {
  for (int i = 0; root && i < root->nkids; i++)
    if (root->kids[i] && root->kids[i]->kind == AST_PASSES) return root->kids[i];
  return NULL;
}

/* A recipe (something to train) rather than a library of models? */
static int is_recipe(const AstNode *root) {
  for (int i = 0; root && i < root->nkids; i++) {
    const AstNode *it = root->kids[i];
    if (it && (it->kind == AST_DATA || it->kind == AST_TRAIN || it->kind == AST_PASSES ||
               (it->kind == AST_LET && it->name &&
                (!strcmp(it->name, "model") || !strcmp(it->name, "weights")))))
      return 1;
  }
  return 0;
}

static int verify(const Drv *d, const DrvOpts *o, const char *after) {
  if (!o->verify) return 0;
  if (ir_verify(d->g, stderr) != 0) {
    fprintf(stderr, "ftc: internal: the graph is invalid after %s\n", after);
    return -1;
  }
  return 0;
}

/* Does the pipeline stop here for `ftc graph --after`? */
static int stop_at(const DrvOpts *o, const char *stage) {
  return o->after && !strcmp(o->after, stage);
}

int drv_compile(const DrvOpts *o, Drv *d) {
  memset(d, 0, sizeof *d);
  d->diag = diag_new(stderr, o->max_errors > 0 ? o->max_errors : 20);
  if (!d->diag) return EXIT_IO;
  d->ast = ast_ctx_new(d->diag, NULL);
  if (!d->ast) return EXIT_IO;
  d->root = ast_load(d->ast, o->path);
  if (!d->root) return EXIT_IO;
  /* name checks run on a tree with syntax errors too (their ERROR nodes
   * are skipped), so one run reports both kinds */
  if (ast_check(d->ast, d->root, ftc_pass_sigs()) > 0 || diag_errors(d->diag) > 0)
    return EXIT_INPUT;
  if (o->stop == DRV_CHECK && !is_recipe(d->root)) return EXIT_OK; /* a module */
  d->g = elaborate(d->ast, d->root, d->diag, &d->r);
  if (!d->g || diag_errors(d->diag) > 0) return EXIT_INPUT;
  el_lint_settings(d->root, &d->r, d->diag, o->stop == DRV_CHECK);
  if (!d->r.path) d->r.path = o->path;
  if (o->dtype_override >= 0) d->r.dtype = (IrDtype)o->dtype_override;
  if (verify(d, o, "elaboration") < 0) return EXIT_IO;

  const AstNode *pb = passes_block(d->root);
  int stopped = 0;
  if (pass_run_stage_until(d->g, pb, IR_PHASE_FWD, d->diag, o->after, &stopped) < 0 ||
      diag_errors(d->diag) > 0)
    return EXIT_INPUT;
  if (stopped) return EXIT_OK;
  if (verify(d, o, "the forward passes") < 0) return EXIT_IO;
  if (o->stop == DRV_FORWARD) return EXIT_OK;

  /* default fusion (passes/fuse_lm_head_ce.c): no [B*T, V] logits in
   * training; FTC_NO_FUSE_LM_HEAD=1 builds the unfused step (A/B checks) */
  const char *nf = getenv("FTC_NO_FUSE_LM_HEAD");
  if ((!nf || !*nf || !strcmp(nf, "0")) && pass_fuse_lm_head_ce_run(d->g, LM_HEAD_ROWS) < 0) return EXIT_IO;
  if (stop_at(o, "fuse_lm_head_ce")) return EXIT_OK;
  if (autodiff(d->g, d->diag) < 0 || diag_errors(d->diag) > 0)
    return diag_errors(d->diag) > 0 ? EXIT_INPUT : EXIT_IO;
  if (verify(d, o, "autodiff") < 0) return EXIT_IO;
  if (stop_at(o, "autodiff")) return EXIT_OK;
  if (pass_run_stage_until(d->g, pb, IR_PHASE_BWD, d->diag, o->after, &stopped) < 0 ||
      diag_errors(d->diag) > 0)
    return EXIT_INPUT;
  if (stopped) return EXIT_OK;
  /* every trainer can accumulate micro-batches (passes/accumulate.c) */
  if (pass_accumulate_grads(d->g, d->diag) < 0) return EXIT_IO;
  if (pass_dce_run(d->g) < 0) return EXIT_IO;
  if (verify(d, o, "the backward passes") < 0) return EXIT_IO;
  if (o->after && !stop_at(o, "dce")) {
    fprintf(stderr,
            "ftc: no pass '%s' runs for %s: --after takes a pass of its passes block or "
            "one of fuse_lm_head_ce, autodiff, dce\n",
            o->after, o->path);
    return EXIT_INPUT;
  }
  if (o->stop == DRV_BACKWARD) return EXIT_OK;

  d->plan = plan_build(d->g, &d->r);
  if (!d->plan) return EXIT_IO;
  if (o->verify && plan_verify(d->g, d->plan, stderr) != 0) {
    fprintf(stderr, "ftc: internal: the memory plan overlaps live tensors\n");
    return EXIT_IO;
  }
  return EXIT_OK;
}
