/* tests/unit/test_elab_util.h -- helpers for the elaboration tests: write a
 * recipe into a fresh temp directory, load and elaborate it against the
 * source tree's stdlib, and capture the diagnostics as text.
 */
#ifndef FTC_TEST_ELAB_UTIL_H
#define FTC_TEST_ELAB_UTIL_H

#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ir.h"

#include "check.h"

typedef struct Elab {
  char dir[64];
  char path[128];
  AstCtx *ctx;
  Diag *diag;
  FILE *diag_file;
  IrGraph *g;
  Recipe r;
  char *diags; /* everything the Diag printed */
} Elab;

/* Elaborates `text` as DIR/recipe.ft; check e->g (NULL on errors) and
 * e->diags. Free with elab_done. */
static void elab(Elab *e, const char *text) {
  memset(e, 0, sizeof *e);
  strcpy(e->dir, "/tmp/ftc-elab-XXXXXX");
  if (!mkdtemp(e->dir)) {
    perror("mkdtemp");
    exit(3);
  }
  snprintf(e->path, sizeof e->path, "%s/recipe.ft", e->dir);
  FILE *f = fopen(e->path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f)) {
    perror(e->path);
    exit(3);
  }
  e->diag_file = tmpfile();
  if (!e->diag_file) {
    perror("tmpfile");
    exit(3);
  }
  e->diag = diag_new(e->diag_file, 50);
  e->ctx = ast_ctx_new(e->diag, FTC_SRCDIR "/stdlib");
  AstNode *root = ast_load(e->ctx, e->path);
  if (root && diag_errors(e->diag) == 0) e->g = elaborate(e->ctx, root, e->diag, &e->r);
  fflush(e->diag_file);
  long n = ftell(e->diag_file);
  rewind(e->diag_file);
  e->diags = calloc(1, (size_t)n + 1);
  if (!e->diags || fread(e->diags, 1, (size_t)n, e->diag_file) != (size_t)n) {
    perror("reading diagnostics");
    exit(3);
  }
}

static void elab_done(Elab *e) {
  ir_graph_free(e->g);
  ast_ctx_free(e->ctx);
  diag_free(e->diag);
  fclose(e->diag_file);
  free(e->diags);
  unlink(e->path);
  rmdir(e->dir);
}

/* The first node named `name`, or -1. */
static int find_node(const IrGraph *g, const char *name) {
  for (int i = 0; i < g->n; i++)
    if (g->nodes[i].name && !strcmp(g->nodes[i].name, name)) return i;
  return -1;
}

static const char *shp(const IrGraph *g, int id) {
  static char b[4][128];
  static int k;
  k = (k + 1) % 4;
  if (id < 0) return "(none)";
  return ir_shape_str(&g->nodes[id].shape, b[k], sizeof b[k]);
}

#endif
