/* tests/fuzz/fuzz_parse.c -- libFuzzer target for the whole front-end on one
 * in-memory file: scan, parse, depth guard, check, dump, and -- for inputs
 * that parse cleanly -- the formatter's contract.
 *
 * One idea: besides "no crash, no leak, no hang" (the sanitizers and
 * libFuzzer's limits), every clean input must satisfy the properties the
 * formatter promises: its output parses without errors to the same tree,
 * and formatting it again changes nothing. A violation aborts, so the
 * fuzzer reports it like a crash.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"

static FILE *sink;

static char *render(void (*fn)(AstCtx *, const AstNode *, FILE *), AstCtx *c,
                    const AstNode *n, size_t *len) {
  char *s = NULL;
  FILE *m = open_memstream(&s, len);
  if (!m) abort();
  fn(c, n, m);
  fclose(m);
  return s;
}

static void fmt_fn(AstCtx *c, const AstNode *n, FILE *out) { ast_format(c, n, out); }
static void shape_fn(AstCtx *c, const AstNode *n, FILE *out) {
  (void)c;
  ast_dump_shape(n, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!sink) sink = fopen("/dev/null", "w");
  Diag *d = diag_new(sink, 20);
  AstCtx *c = ast_ctx_new(d, "/nonexistent-stdlib");
  AstNode *root = ast_parse_string(c, "fuzz.ft", (const char *)data, size);
  int parse_errors = diag_errors(d);
  ast_check(c, root, ast_default_passes());
  ast_dump(root, sink);
  if (parse_errors == 0) {
    size_t n1, n2, s1len, s2len;
    char *f1 = render(fmt_fn, c, root, &n1);
    int before = diag_errors(d);
    AstNode *again = ast_parse_string(c, "fuzz-fmt.ft", f1, n1);
    if (diag_errors(d) != before) {
      fprintf(stderr, "fmt output does not parse:\n%s\n", f1);
      abort();
    }
    char *s1 = render(shape_fn, c, root, &s1len);
    char *s2 = render(shape_fn, c, again, &s2len);
    if (s1len != s2len || memcmp(s1, s2, s1len)) {
      fprintf(stderr, "fmt changed the tree:\n%s\n----\n%s\n", s1, s2);
      abort();
    }
    char *f2 = render(fmt_fn, c, again, &n2);
    if (n1 != n2 || memcmp(f1, f2, n1)) {
      fprintf(stderr, "fmt is not idempotent:\n%s\n----\n%s\n", f1, f2);
      abort();
    }
    free(f1);
    free(f2);
    free(s1);
    free(s2);
  }
  ast_ctx_free(c);
  diag_free(d);
  return 0;
}
