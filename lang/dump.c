/* lang/dump.c -- `ftc ast`: the tree, one node per line, indented by depth,
 * as KIND [name] [literal] line:col-line:col.
 *
 * One idea: the dump shows exactly what the contract in ast.h promises
 * (kinds, names, literals, spans, NULL kid slots as "-"), so it doubles as
 * the form in which two trees are compared (fmt round-trip tests dump both
 * without spans).
 */
#include <string.h>

#include "ps.h"

static void put_escaped(FILE *out, const char *s) {
  fputc('"', out);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(out, "\\%c", ch);
    else if (ch == '\n')
      fputs("\\n", out);
    else if (ch == '\t')
      fputs("\\t", out);
    else if (ch < 0x20 || ch == 0x7f)
      fprintf(out, "\\x%02x", ch);
    else
      fputc(ch, out);
  }
  fputc('"', out);
}

static void dump(const AstNode *n, FILE *out, int depth, int spans) {
  fprintf(out, "%*s", 2 * depth, "");
  if (!n) {
    fputs("-\n", out);
    return;
  }
  fputs(ast_kind_names[n->kind], out);
  if (n->name) fprintf(out, " %s", n->name);
  switch (n->kind) {
  case AST_INT: fprintf(out, " %lld", (long long)n->ival); break;
  case AST_FLOAT: fprintf(out, " %.17g", n->fval); break;
  case AST_BOOL: fputs(n->ival ? " true" : " false", out); break;
  case AST_STRING: fputc(' ', out); put_escaped(out, n->str ? n->str : ""); break;
  case AST_USE: if (n->str) fputs(" (path)", out); break;
  default: break;
  }
  if (spans)
    fprintf(out, " %d:%d-%d:%d", n->span.line, n->span.col, n->span.end_line, n->span.end_col);
  fputc('\n', out);
  for (int i = 0; i < n->nkids; i++) dump(n->kids[i], out, depth + 1, spans);
}

void ast_dump(const AstNode *n, FILE *out) { dump(n, out, 0, 1); }

/* The same without spans: equal for trees that differ only in layout. */
void ast_dump_shape(const AstNode *n, FILE *out) { dump(n, out, 0, 0); }
