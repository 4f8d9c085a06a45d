/* tests/unit/test_pass_util.h -- running a recipe's passes block in a unit
 * test: parse `passes { body }` and run its forward stage on a graph. */
#ifndef FTC_TEST_PASS_UTIL_H
#define FTC_TEST_PASS_UTIL_H

#include <stdio.h>
#include <string.h>
#include "back.h"

/* `file` names the text in diagnostics. 0 on success, -1 on a failure or any error diagnostic, -2 when the text
 * has no passes block. Diagnostics go to *out (malloc'ed, caller frees). */
static int run_passes(IrGraph *g, const char *file, const char *body, char **out) {
  size_t len = 0;
  FILE *f = open_memstream(out, &len);
  Diag *d = diag_new(f, 20);
  AstCtx *c = ast_ctx_new(d, NULL);
  char text[512];
  snprintf(text, sizeof text, "passes {\n  %s\n}\n", body);
  AstNode *root = ast_parse_string(c, file, text, strlen(text));
  const AstNode *pb = NULL;
  for (int i = 0; root && i < root->nkids; i++)
    if (root->kids[i]->kind == AST_PASSES) pb = root->kids[i];
  int rc = pb ? pass_run_stage(g, pb, IR_PHASE_FWD, d) : -2;
  if (rc == 0 && diag_errors(d) > 0) rc = -1;
  ast_ctx_free(c);
  diag_free(d);
  fclose(f);
  return rc;
}

#endif
