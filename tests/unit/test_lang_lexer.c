/* tests/unit/test_lang_lexer.c -- literals, units and spans as the parser
 * sees them: each case parses `x = LITERAL` and checks the LET's value node
 * (kind, value, exact span), plus spans of nested expressions and a
 * diagnostic's position. One line per failure; exit 0 = pass. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"

#include "check.h"

/* Parses `text`; returns the value of its first item (LET) or NULL. */
static AstNode *value_of(AstCtx *c, const char *text) {
  AstNode *f = ast_parse_string(c, "t.ft", text, strlen(text));
  return f->nkids > 0 && f->kids[0]->kind == AST_LET ? f->kids[0]->kids[0] : NULL;
}

static void test_numbers(void) {
  static const struct { const char *src; AstKind kind; long long ival; double fval; } cases[] = {
      {"x = 12", AST_INT, 12, 0},
      {"x = 3e-4", AST_FLOAT, 0, 3e-4},
      {"x = 0.95", AST_FLOAT, 0, 0.95},
      {"x = 24GiB", AST_INT, 24LL << 30, 0},
      {"x = 512MiB", AST_INT, 512LL << 20, 0},
      {"x = 4KB", AST_INT, 4000, 0},
      {"x = 1.5KiB", AST_INT, 1536, 0},
      {"x = 9223372036854775807", AST_INT, 9223372036854775807LL, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    FILE *err = tmpfile();
    Diag *d = diag_new(err, 20);
    AstCtx *c = ast_ctx_new(d, NULL);
    AstNode *v = value_of(c, cases[i].src);
    CHECK(diag_errors(d) == 0, "%s: unexpected diagnostics", cases[i].src);
    CHECK(v && v->kind == cases[i].kind, "%s: kind", cases[i].src);
    if (v && v->kind == AST_INT)
      CHECK(v->ival == cases[i].ival, "%s: ival %lld, want %lld", cases[i].src,
             (long long)v->ival, cases[i].ival);
    if (v && v->kind == AST_FLOAT)
      CHECK(fabs(v->fval - cases[i].fval) < 1e-15, "%s: fval %g", cases[i].src, v->fval);
    if (v) /* the literal's span: from column 5 to the end */
      CHECK(v->span.line == 1 && v->span.col == 5 &&
                 v->span.end_col == (int)strlen(cases[i].src) + 1,
             "%s: span %d:%d-%d:%d", cases[i].src, v->span.line, v->span.col,
             v->span.end_line, v->span.end_col);
    ast_ctx_free(c);
    diag_free(d);
    fclose(err);
  }
}

static void test_bad_literals(void) {
  static const struct { const char *src; int col; const char *msg; } cases[] = {
      {"x = 12abc", 5, "unknown unit 'abc'"},
      {"x = 1.2.3", 5, "malformed number '1.2.3'"},
      {"x = 3e", 5, "malformed number '3e'"},
      {"x = 99999999999999999999", 5, "does not fit in 64 bits"},
      {"x = \"abc", 5, "unterminated string"},
      {"x = \"a\\qb\"", 7, "unknown escape '\\q'"},
      {"x = 1 $", 7, "unexpected character '$'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *buf = NULL;
    size_t len = 0;
    FILE *err = open_memstream(&buf, &len);
    Diag *d = diag_new(err, 20);
    AstCtx *c = ast_ctx_new(d, NULL);
    value_of(c, cases[i].src);
    fclose(err);
    char want[64];
    snprintf(want, sizeof want, "t.ft:1:%d: error: ", cases[i].col);
    CHECK(diag_errors(d) == 1, "%s: %d diagnostics, want 1:\n%s", cases[i].src,
           diag_errors(d), buf);
    CHECK(buf && strncmp(buf, want, strlen(want)) == 0, "%s: got '%s'", cases[i].src, buf);
    CHECK(buf && strstr(buf, cases[i].msg), "%s: message lacks '%s': %s", cases[i].src,
           cases[i].msg, buf);
    ast_ctx_free(c);
    diag_free(d);
    free(buf);
  }
}

static void test_strings_and_spans(void) {
  Diag *d = diag_new(stderr, 20);
  AstCtx *c = ast_ctx_new(d, NULL);
  AstNode *v = value_of(c, "x = \"a\\tb\\n\\\\\\\"\"");
  CHECK(v && v->kind == AST_STRING && !strcmp(v->str, "a\tb\n\\\""), "escapes");
  /* precedence: unary - > @ > * / > + - */
  v = value_of(c, "x = a + -b @ c * d");
  CHECK(v && v->kind == AST_BINOP && !strcmp(v->name, "+"), "top is +");
  AstNode *mul = v ? v->kids[1] : NULL;
  CHECK(mul && !strcmp(mul->name, "*"), "then *");
  AstNode *mm = mul ? mul->kids[0] : NULL;
  CHECK(mm && !strcmp(mm->name, "@") && mm->kids[0]->kind == AST_UNOP, "(-b) @ c");
  CHECK(mul && mul->span.col == 9 && mul->span.end_col == 19, "span of -b @ c * d: %d-%d",
         mul ? mul->span.col : 0, mul ? mul->span.end_col : 0);
  /* multi-line span */
  v = value_of(c, "x = f(1,\n      2)");
  CHECK(v && v->span.line == 1 && v->span.col == 5 && v->span.end_line == 2 &&
             v->span.end_col == 9, "call span");
  CHECK(diag_errors(d) == 0, "no errors expected");
  ast_ctx_free(c);
  diag_free(d);
}

int main(void) {
  test_numbers();
  test_bad_literals();
  test_strings_and_spans();
  return check_exit("test_lang_lexer");
}
