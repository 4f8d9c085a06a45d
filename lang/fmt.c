/* lang/fmt.c -- `ftc fmt`: canonical layout of a parsed file, every comment
 * kept.
 *
 * One idea: the layout is a function of the AST alone (two-space indent, one
 * construct per line, canonical spacing, parentheses only where precedence
 * needs them, calls wrapped at 80 columns with continuation aligned after
 * the parenthesis), and comments are re-attached by source position: own-line
 * comments print before the first construct that starts after them; a
 * comment at the end of a line prints after the construct that ended last
 * before it (`steps 10 optimizer sgd(lr: 0.1)  # fast` stays with the
 * optimizer, `repeat h[2] { ... }  # x` with the repeat); comments inside a
 * construct that is being joined onto one line print after it. The source contributes only one
 * more bit per gap -- "was there a blank line here" -- so fmt(fmt(x)) ==
 * fmt(x) and the tree is unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "ps.h"

#define WIDTH 80

typedef struct Buf {
  char *s;
  size_t len, cap;
} Buf;

static void bput(Buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 128;
    while (cap < b->len + n + 1) cap *= 2;
    char *ns = realloc(b->s, cap);
    if (!ns) {
      fprintf(stderr, "ftc: out of memory\n");
      exit(3);
    }
    b->s = ns;
    b->cap = cap;
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = 0;
}
static void bstr(Buf *b, const char *s) { bput(b, s, strlen(s)); }

typedef struct Fm {
  FILE *out;
  const AstComment *cm;
  int ncm, next;
  int last_line; /* last source line accounted for (blank-line decisions) */
  int depth;     /* indentation level */
  int fresh;     /* nothing printed yet in this block: no blank line */
  Span *ends;    /* where every construct ends (trailing-comment owners) */
  int nends, capends;
} Fm;

/* ---- expressions ------------------------------------------------------------ */

static int prec(const AstNode *e) {
  if (e->kind == AST_BINOP) {
    switch (e->name[0]) {
    case '+': case '-': return 1;
    case '*': case '/': return 2;
    default: return 3; /* @ */
    }
  }
  return e->kind == AST_UNOP ? 4 : 5;
}

static void expr(Buf *b, const AstNode *e);

static void sub(Buf *b, const AstNode *e, int paren) {
  if (paren) bstr(b, "(");
  expr(b, e);
  if (paren) bstr(b, ")");
}

static void string_lit(Buf *b, const char *s) {
  bstr(b, "\"");
  for (; *s; s++) {
    switch (*s) {
    case '"': bstr(b, "\\\""); break;
    case '\\': bstr(b, "\\\\"); break;
    case '\n': bstr(b, "\\n"); break;
    case '\t': bstr(b, "\\t"); break;
    default: bput(b, s, 1);
    }
  }
  bstr(b, "\"");
}

static void list(Buf *b, AstNode *const *kids, int n) {
  for (int i = 0; i < n; i++) {
    if (i) bstr(b, ", ");
    expr(b, kids[i]);
  }
}

static void arg(Buf *b, const AstNode *a) {
  if (a->kind != AST_ARG) {
    expr(b, a);
    return;
  }
  if (a->name) {
    bstr(b, a->name);
    bstr(b, ": ");
  }
  expr(b, a->kids[0]);
}

static void expr(Buf *b, const AstNode *e) {
  char num[64];
  if (!e) return;
  switch (e->kind) {
  case AST_BINOP: {
    int p = prec(e);
    sub(b, e->kids[0], prec(e->kids[0]) < p);
    bstr(b, " ");
    bstr(b, e->name);
    bstr(b, " ");
    sub(b, e->kids[1], prec(e->kids[1]) <= p);
    break;
  }
  case AST_UNOP:
    bstr(b, "-");
    sub(b, e->kids[0], prec(e->kids[0]) < 4);
    break;
  case AST_CALL:
    sub(b, e->kids[0], prec(e->kids[0]) < 5);
    bstr(b, "(");
    for (int i = 1; i < e->nkids; i++) {
      if (i > 1) bstr(b, ", ");
      arg(b, e->kids[i]);
    }
    bstr(b, ")");
    break;
  case AST_MEMBER:
    sub(b, e->kids[0], prec(e->kids[0]) < 5);
    bstr(b, ".");
    bstr(b, e->name);
    break;
  case AST_INDEX:
    sub(b, e->kids[0], prec(e->kids[0]) < 5);
    bstr(b, "[");
    list(b, e->kids + 1, e->nkids - 1);
    bstr(b, "]");
    break;
  case AST_SLICE:
    expr(b, e->kids[0]);
    bstr(b, ":");
    expr(b, e->kids[1]);
    break;
  case AST_NAME: bstr(b, e->name); break;
  case AST_INT:
  case AST_FLOAT:
    if (e->str) {
      bstr(b, e->str);
    } else {
      if (e->kind == AST_INT) snprintf(num, sizeof num, "%lld", (long long)e->ival);
      else snprintf(num, sizeof num, "%.17g", e->fval);
      bstr(b, num);
    }
    break;
  case AST_STRING: string_lit(b, e->str ? e->str : ""); break;
  case AST_BOOL: bstr(b, e->ival ? "true" : "false"); break;
  case AST_LIST:
    bstr(b, "[");
    list(b, e->kids, e->nkids);
    bstr(b, "]");
    break;
  case AST_TUPLE:
    bstr(b, "(");
    list(b, e->kids, e->nkids);
    bstr(b, e->nkids == 1 ? ",)" : ")");
    break;
  default: bstr(b, "?"); break;
  }
}

static void formal(Buf *b, const AstNode *f) {
  bstr(b, f->name);
  const AstNode *ty = f->kids[0];
  if (ty) {
    bstr(b, ": ");
    bstr(b, ty->name);
    if (ty->kind == AST_TENSOR_TYPE) {
      bstr(b, "[");
      list(b, ty->kids, ty->nkids);
      bstr(b, "]");
    }
  }
  if (f->kids[1]) {
    bstr(b, " = ");
    expr(b, f->kids[1]);
  }
}

/* ---- lines, comments, blank lines ----------------------------------------- */

static void indent(Fm *f) {
  for (int i = 0; i < f->depth; i++) fputs("  ", f->out);
}

static int before(Span s, int line, int col) {
  return s.line < line || (s.line == line && s.col < col);
}

/* One blank line when the source had a gap before `line`. */
static void gap(Fm *f, int line) {
  if (!f->fresh && line > f->last_line + 1) fputc('\n', f->out);
  f->fresh = 0;
}

static void own_line_comment(Fm *f, const AstComment *c) {
  gap(f, c->span.line);
  indent(f);
  fprintf(f->out, "#%s\n", c->text);
  if (c->span.line > f->last_line) f->last_line = c->span.line;
}

static void flush_before(Fm *f, int line, int col) {
  while (f->next < f->ncm && before(f->cm[f->next].span, line, col))
    own_line_comment(f, &f->cm[f->next++]);
}

/* Does another construct end after (line, col) and before comment c on
 * the same line? Then the comment trails that one, not this. */
static int ends_between(const Fm *f, int line, int col, const AstComment *c) {
  for (int i = 0; i < f->nends; i++) {
    Span e = f->ends[i];
    if (e.end_line == line && e.end_col > col && e.end_col <= c->span.col) return 1;
  }
  return 0;
}

/* Comments inside [.., end) or trailing on line `end_line`, then newline. */
static void finish_line(Fm *f, int end_line, int end_col) {
  int first = 1;
  while (f->next < f->ncm) {
    const AstComment *c = &f->cm[f->next];
    if (!(before(c->span, end_line, end_col) || (c->span.line == end_line && !c->own_line &&
                                                  !ends_between(f, end_line, end_col, c))))
      break;
    if (first) {
      fprintf(f->out, "  #%s", c->text);
    } else {
      fputc('\n', f->out);
      indent(f);
      fprintf(f->out, "#%s", c->text);
    }
    first = 0;
    f->next++;
  }
  fputc('\n', f->out);
  if (end_line > f->last_line) f->last_line = end_line;
}

static void start(Fm *f, const AstNode *n) {
  flush_before(f, n->span.line, n->span.col);
  gap(f, n->span.line);
  indent(f);
}

/* Prints head + pieces joined by ", " + tail, wrapping at WIDTH with the
 * continuation aligned after head. */
static void wrapped(Fm *f, const char *head, Buf *pieces, int n, const char *tail) {
  int col = 2 * f->depth + (int)strlen(head);
  int total = col + (int)strlen(tail);
  for (int i = 0; i < n; i++) total += (int)pieces[i].len + (i ? 2 : 0);
  fputs(head, f->out);
  int align = col, first = 1;
  for (int i = 0; i < n; i++) {
    int len = (int)pieces[i].len + (i == n - 1 ? (int)strlen(tail) : 1);
    if (!first && total > WIDTH && col + 1 + len > WIDTH) {
      fprintf(f->out, "\n%*s", align, "");
      col = align;
    } else if (!first) {
      fputc(' ', f->out);
      col++;
    }
    fputs(pieces[i].s ? pieces[i].s : "", f->out);
    col += (int)pieces[i].len;
    if (i < n - 1) {
      fputc(',', f->out);
      col++;
    }
    first = 0;
  }
  fputs(tail, f->out);
}

/* `prefix` then an expression; a call at the top is wrapped. */
static void expr_line(Fm *f, const char *prefix, const AstNode *e, const char *suffix) {
  Buf head = {0};
  bstr(&head, prefix);
  if (e && e->kind == AST_CALL) {
    sub(&head, e->kids[0], prec(e->kids[0]) < 5);
    bstr(&head, "(");
    int n = e->nkids - 1;
    Buf *pieces = calloc((size_t)(n > 0 ? n : 1), sizeof *pieces);
    for (int i = 0; i < n; i++) arg(&pieces[i], e->kids[i + 1]);
    Buf tail = {0};
    bstr(&tail, ")");
    bstr(&tail, suffix);
    wrapped(f, head.s, pieces, n, tail.s);
    for (int i = 0; i < n; i++) free(pieces[i].s);
    free(pieces);
    free(tail.s);
  } else {
    expr(&head, e);
    bstr(&head, suffix);
    fputs(head.s, f->out);
  }
  free(head.s);
}

static void formals_line(Fm *f, const char *head, const AstNode *params, const char *tail) {
  int n = params->nkids;
  Buf *pieces = calloc((size_t)(n > 0 ? n : 1), sizeof *pieces);
  for (int i = 0; i < n; i++) formal(&pieces[i], params->kids[i]);
  wrapped(f, head, pieces, n, tail);
  for (int i = 0; i < n; i++) free(pieces[i].s);
  free(pieces);
}

/* ---- constructs -------------------------------------------------------------- */

static void construct(Fm *f, const AstNode *n);

/* After "... {": the comments trailing the header (before the first inner
 * construct, not on a line of their own), the body, then "}". */
static void body(Fm *f, const AstNode *owner, AstNode *const *kids, int nk) {
  Span lim = nk > 0 && kids[0] ? kids[0]->span : owner->span;
  if (!(nk > 0 && kids[0])) {
    lim.line = lim.end_line;
    lim.col = lim.end_col - 1;
  }
  int first = 1;
  while (f->next < f->ncm && !f->cm[f->next].own_line &&
         before(f->cm[f->next].span, lim.line, lim.col)) {
    fprintf(f->out, first ? "  #%s" : "\n#%s", f->cm[f->next].text);
    if (f->cm[f->next].span.line > f->last_line) f->last_line = f->cm[f->next].span.line;
    first = 0;
    f->next++;
  }
  fputc('\n', f->out);
  f->depth++;
  f->fresh = 1;
  for (int i = 0; i < nk; i++) construct(f, kids[i]);
  flush_before(f, owner->span.end_line, owner->span.end_col - 1);
  f->depth--;
  indent(f);
  fputc('}', f->out);
  f->fresh = 0;
}

static void construct(Fm *f, const AstNode *n) {
  if (!n) return;
  start(f, n);
  Buf b = {0};
  switch (n->kind) {
  case AST_USE:
    fputs("use ", f->out);
    if (n->str) {
      string_lit(&b, n->str);
      fputs(b.s, f->out);
    } else {
      fputs(n->name, f->out);
    }
    break;
  case AST_LET:
  case AST_ASSIGN:
  case AST_SUBMODULE:
    bstr(&b, n->name);
    bstr(&b, " = ");
    expr_line(f, b.s, n->kids[0], "");
    break;
  case AST_DATA:
    bstr(&b, "data ");
    bstr(&b, n->name);
    bstr(&b, " = ");
    expr_line(f, b.s, n->kids[0], "");
    break;
  case AST_RETURN: expr_line(f, "return ", n->kids[0], ""); break;
  case AST_MODEL:
    bstr(&b, "model ");
    bstr(&b, n->name);
    bstr(&b, "(");
    formals_line(f, b.s, n->kids[0], ") {");
    body(f, n, n->kids + 1, n->nkids - 1);
    break;
  case AST_FORWARD:
    formals_line(f, "forward(", n->kids[0], ") {");
    body(f, n, n->kids[1]->kids, n->kids[1]->nkids);
    break;
  case AST_REPEAT:
    bstr(&b, "repeat ");
    bstr(&b, n->name);
    bstr(&b, "[");
    expr(&b, n->kids[0]);
    bstr(&b, "] {");
    fputs(b.s, f->out);
    body(f, n, n->kids + 1, n->nkids - 1);
    break;
  case AST_FOR:
    bstr(&b, "for ");
    bstr(&b, n->name);
    bstr(&b, " in ");
    expr(&b, n->kids[0]);
    bstr(&b, " {");
    fputs(b.s, f->out);
    body(f, n, n->kids[1]->kids, n->kids[1]->nkids);
    break;
  case AST_TRAIN:
  case AST_PASSES:
    fputs(n->kind == AST_TRAIN ? "train {" : "passes {", f->out);
    body(f, n, n->kids, n->nkids);
    break;
  case AST_PARAM:
    bstr(&b, "param ");
    bstr(&b, n->name);
    bstr(&b, "[");
    list(&b, n->kids[0]->kids, n->kids[0]->nkids);
    bstr(&b, "]");
    if (n->kids[1]) {
      bstr(&b, " = ");
      expr(&b, n->kids[1]);
    }
    fputs(b.s, f->out);
    break;
  case AST_SETTING: {
    bstr(&b, n->name);
    Buf rest = {0};
    for (int i = 1; i < n->nkids; i++) {
      bstr(&rest, " ");
      bstr(&rest, n->kids[i]->name);
      bstr(&rest, " ");
      expr(&rest, n->kids[i]->kids[0]);
    }
    if (n->kids[0]) {
      bstr(&b, " ");
      expr_line(f, b.s, n->kids[0], rest.s ? rest.s : "");
    } else {
      fputs(b.s, f->out);
      if (rest.s) fputs(rest.s, f->out);
    }
    free(rest.s);
    break;
  }
  default: /* pass entries and anything else: an expression */
    expr_line(f, "", n, "");
    break;
  }
  free(b.s);
  finish_line(f, n->span.end_line, n->span.end_col);
}

/* The constructs construct() prints, in the same walk. */
static void collect_ends(Fm *f, AstNode *const *kids, int nk) {
  for (int i = 0; i < nk; i++) {
    const AstNode *n = kids[i];
    if (!n) continue;
    if (f->nends == f->capends) {
      f->capends = f->capends ? 2 * f->capends : 64;
      Span *ne = realloc(f->ends, (size_t)f->capends * sizeof *ne);
      if (!ne) {
        fprintf(stderr, "ftc: out of memory\n");
        exit(3);
      }
      f->ends = ne;
    }
    f->ends[f->nends++] = n->span;
    switch (n->kind) {
    case AST_MODEL:
    case AST_REPEAT: collect_ends(f, n->kids + 1, n->nkids - 1); break;
    case AST_FORWARD:
    case AST_FOR: collect_ends(f, n->kids[1]->kids, n->kids[1]->nkids); break;
    case AST_TRAIN:
    case AST_PASSES: collect_ends(f, n->kids, n->nkids); break;
    default: break;
    }
  }
}

void ast_format(AstCtx *c, const AstNode *file, FILE *out) {
  Fm f = {0};
  f.out = out;
  f.cm = ast_comments(c, file->span.file, &f.ncm);
  f.fresh = 1;
  collect_ends(&f, file->kids, file->nkids);
  for (int i = 0; i < file->nkids; i++) construct(&f, file->kids[i]);
  flush_before(&f, 1 << 30, 0);
  free(f.ends);
}
