/* tests/elab/elab_dump.c -- the golden tests' driver: elaborates one recipe
 * and prints the forward graph (ir_dump) and the recipe's sizes, or the
 * diagnostics. Built by run.sh against the build's libraries.
 * usage: elab_dump STDLIB_DIR RECIPE.ft   (exit 0 graph, 1 diagnostics)
 */
#include <stdio.h>

#include "ir.h"

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: elab_dump STDLIB_DIR RECIPE.ft\n");
    return 2;
  }
  Diag *d = diag_new(stdout, 20);
  AstCtx *c = ast_ctx_new(d, argv[1]);
  AstNode *root = ast_load(c, argv[2]);
  int rc = 1;
  if (root && diag_errors(d) == 0 && ast_check(c, root, NULL) == 0) {
    Recipe r;
    IrGraph *g = elaborate(c, root, d, &r);
    if (g) {
      ir_dump(g, stdout);
      printf("batch %d seq %d vocab %d ngroups %d verify %s\n", r.batch, r.seq, r.vocab, g->ngroups,
             ir_verify(g, stdout) == 0 ? "ok" : "FAILED");
      ir_graph_free(g);
      rc = 0;
    }
  }
  ast_ctx_free(c);
  diag_free(d);
  return rc;
}
