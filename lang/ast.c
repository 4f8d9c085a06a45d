/* lang/ast.c -- the AST's arena, the context, the node constructors the
 * grammar calls, and the parse entry points.
 *
 * One idea: everything a parse creates (nodes, kid arrays, strings, source
 * text) comes from one bump arena owned by the AstCtx, so error recovery can
 * drop half-built subtrees freely and ast_ctx_free releases it all at once.
 * Kid arrays grow without a capacity field: their capacity is always the
 * next power of two (minimum 4) of nkids, so a push that reaches a power of
 * two reallocates -- amortized O(1), and the struct stays as in ast.h.
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <stdlib.h>
#include <string.h>

#include "ps.h"
#include "parser.h"
#include "lexer.h"

const char *const ast_kind_names[AST_KIND_COUNT] = {
#define X(k) #k,
    AST_KINDS(X)
#undef X
};

/* ---- arena ------------------------------------------------------------ */

struct ArenaChunk {
  ArenaChunk *next;
  size_t used, size;
  max_align_t data[];
};

static void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (!p) {
    fprintf(stderr, "ftc: out of memory (%zu bytes)\n", n);
    exit(3);
  }
  return p;
}

void *ast_alloc(AstCtx *c, size_t n) {
  n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
  if (n == 0) n = sizeof(max_align_t);
  ArenaChunk *a = c->arena;
  if (!a || a->size - a->used < n) {
    size_t size = n > 65536 ? n : 65536;
    ArenaChunk *fresh = xmalloc(sizeof *fresh + size);
    fresh->size = size;
    fresh->used = 0;
    if (a && n > 65536) { /* a big block: keep filling the current chunk */
      fresh->next = a->next;
      a->next = fresh;
    } else {
      fresh->next = a;
      c->arena = fresh;
    }
    a = fresh;
  }
  void *p = (char *)a->data + a->used;
  a->used += n;
  memset(p, 0, n);
  return p;
}

const char *ast_strdup(AstCtx *c, const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s);
  char *d = ast_alloc(c, n + 1);
  memcpy(d, s, n + 1);
  return d;
}

AstCtx *ast_ctx_new(Diag *d, const char *stdlib_dir) {
  AstCtx *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->diag = d;
  if (stdlib_dir) {
    c->stdlib_dir = strdup(stdlib_dir);
    if (!c->stdlib_dir) {
      free(c);
      return NULL;
    }
  }
  return c;
}

void ast_ctx_free(AstCtx *c) {
  if (!c) return;
  for (int i = 0; i < c->nfiles; i++) free(c->files[i]->comments);
  free(c->files);
  free(c->stdlib_dir);
  for (ArenaChunk *a = c->arena, *next; a; a = next) {
    next = a->next;
    free(a);
  }
  free(c);
}

/* ---- files ------------------------------------------------------------ */

AstFileRec *ps_new_file(AstCtx *c, const char *path, const char *text, size_t len) {
  SrcFile *f = ast_alloc(c, sizeof *f);
  char *t = ast_alloc(c, len + 1);
  memcpy(t, text, len);
  f->path = ast_strdup(c, path);
  f->text = t;
  f->len = len;
  AstFileRec *r = ast_alloc(c, sizeof *r);
  r->src = f;
  if (c->nfiles == c->capfiles) {
    int cap = c->capfiles ? 2 * c->capfiles : 8;
    AstFileRec **nf = realloc(c->files, (size_t)cap * sizeof *nf);
    if (!nf) xmalloc((size_t)-1);
    c->files = nf;
    c->capfiles = cap;
  }
  c->files[c->nfiles++] = r;
  return r;
}

AstFileRec *ps_file_rec(AstCtx *c, const SrcFile *f) {
  for (int i = 0; i < c->nfiles; i++)
    if (c->files[i]->src == f) return c->files[i];
  return NULL;
}

const AstComment *ast_comments(AstCtx *c, const SrcFile *f, int *n) {
  AstFileRec *r = ps_file_rec(c, f);
  *n = r ? r->ncomments : 0;
  return r ? r->comments : NULL;
}

void ps_comment(PsState *P, Span sp, const char *text, size_t len) {
  AstFileRec *r = P->rec;
  if (r->ncomments == r->capcomments) {
    int cap = r->capcomments ? 2 * r->capcomments : 16;
    AstComment *nc = realloc(r->comments, (size_t)cap * sizeof *nc);
    if (!nc) xmalloc((size_t)-1);
    r->comments = nc;
    r->capcomments = cap;
  }
  char *t = ast_alloc(P->ctx, len + 1);
  memcpy(t, text, len);
  /* Trailing whitespace is not part of a comment (fmt must be stable). */
  while (len > 0 && (t[len - 1] == ' ' || t[len - 1] == '\t' || t[len - 1] == '\r'))
    t[--len] = 0;
  AstComment *cm = &r->comments[r->ncomments++];
  cm->span = sp;
  cm->text = t;
  cm->own_line = sp.line != P->last_tok_line;
}

/* ---- constructors ------------------------------------------------------ */

AstNode *ps_node(PsState *P, AstKind k, Span sp) {
  AstNode *n = ast_alloc(P->ctx, sizeof *n);
  n->kind = k;
  n->span = sp;
  return n;
}

AstNode *ps_named(PsState *P, AstKind k, Span sp, const AstNode *name) {
  AstNode *n = ps_node(P, k, sp);
  n->name = name ? name->name : NULL;
  return n;
}

static int is_pow2(int x) { return x > 0 && (x & (x - 1)) == 0; }

static void push_kid(AstCtx *c, AstNode *p, AstNode *kid) {
  if (p->nkids == 0 || (p->nkids >= 4 && is_pow2(p->nkids))) {
    int cap = p->nkids == 0 ? 4 : 2 * p->nkids;
    AstNode **k = ast_alloc(c, (size_t)cap * sizeof *k);
    if (p->nkids) memcpy(k, p->kids, (size_t)p->nkids * sizeof *k);
    p->kids = k;
  }
  p->kids[p->nkids++] = kid;
}

AstNode *ps_add(PsState *P, AstNode *parent, AstNode *kid) {
  push_kid(P->ctx, parent, kid);
  return parent;
}

AstNode *ps_take(PsState *P, AstNode *dst, const AstNode *list) {
  for (int i = 0; list && i < list->nkids; i++) push_kid(P->ctx, dst, list->kids[i]);
  return dst;
}

AstNode *ps_node1(PsState *P, AstKind k, Span sp, const AstNode *name, AstNode *a) {
  AstNode *n = ps_named(P, k, sp, name);
  push_kid(P->ctx, n, a);
  if (k == AST_UNOP) n->name = "-";
  return n;
}

AstNode *ps_node2(PsState *P, AstKind k, Span sp, const AstNode *name, AstNode *a,
                  AstNode *b) {
  AstNode *n = ps_node1(P, k, sp, name, a);
  push_kid(P->ctx, n, b);
  return n;
}

AstNode *ps_wrap(PsState *P, AstKind k, Span sp, const AstNode *name, AstNode *first,
                 const AstNode *list) {
  return ps_take(P, ps_node1(P, k, sp, name, first), list);
}

AstNode *ps_binop(PsState *P, Span sp, const char *op, AstNode *a, AstNode *b) {
  AstNode *n = ps_node2(P, AST_BINOP, sp, NULL, a, b);
  n->name = op;
  return n;
}

/* A submodule must be a call (`attn = Attention(dim)`); anything else is
 * reported here, where the span is exact, and kept as an ERROR node. */
AstNode *ps_submodule(PsState *P, Span sp, const AstNode *name, AstNode *value) {
  if (value->kind != AST_CALL) {
    diag_at(P->ctx->diag, DIAG_ERROR, value->span,
            "a model member '%s = ...' must be a call of a model, e.g. nn.Linear(dim, dim)",
            name->name);
    AstNode *e = ps_node(P, AST_ERROR, value->span);
    return ps_node1(P, AST_SUBMODULE, sp, name, e);
  }
  return ps_node1(P, AST_SUBMODULE, sp, name, value);
}

AstNode *ps_shape(PsState *P, Span sp, const AstNode *list) {
  return ps_take(P, ps_node(P, AST_SHAPE, sp), list);
}

AstNode *ps_setting(PsState *P, Span sp, const AstNode *name, AstNode *value,
                    const AstNode *clauses) {
  return ps_take(P, ps_node1(P, AST_SETTING, sp, name, value), clauses);
}

AstNode *ps_tuple(PsState *P, Span sp, AstNode *first, const AstNode *list) {
  return ps_take(P, ps_node1(P, AST_TUPLE, sp, NULL, first), list);
}

AstNode *ps_use_path(PsState *P, Span sp, const AstNode *str) {
  AstNode *n = ps_node(P, AST_USE, sp);
  n->name = str->str;
  n->str = str->str;
  return n;
}

/* Replaces every subtree deeper than PS_MAX_DEPTH by an ERROR node (one
 * diagnostic per file). Iterative, so the guard itself cannot overflow. */
static void limit_depth(PsState *P, AstNode *root) {
  typedef struct { AstNode *n; int next; } Frame;
  Frame *st = xmalloc((PS_MAX_DEPTH + 2) * sizeof *st);
  int top = 0, reported = 0;
  st[0].n = root;
  st[0].next = 0;
  while (top >= 0) {
    Frame *f = &st[top];
    if (f->next >= f->n->nkids) {
      top--;
      continue;
    }
    AstNode **slot = &f->n->kids[f->next++];
    if (!*slot) continue;
    if (top + 1 >= PS_MAX_DEPTH) {
      if (!reported)
        diag_at(P->ctx->diag, DIAG_ERROR, (*slot)->span,
                "expression nested too deeply (more than %d levels)", PS_MAX_DEPTH);
      reported = 1;
      *slot = ps_node(P, AST_ERROR, (*slot)->span);
      continue;
    }
    top++;
    st[top].n = *slot;
    st[top].next = 0;
  }
  free(st);
}

AstNode *ps_file_done(PsState *P, AstNode *file) {
  limit_depth(P, file);
  return file;
}

/* ---- parsing ------------------------------------------------------------ */

AstNode *ps_parse(AstCtx *c, AstFileRec *rec) {
  PsState P = {0};
  P.ctx = c;
  P.rec = rec;
  P.line = 1;
  P.col = 1;
  P.unterminated_tok = -2;
  P.last_tok.file = rec->src;
  P.last_tok.line = P.last_tok.end_line = 1;
  P.last_tok.col = P.last_tok.end_col = 1;
  yyscan_t sc;
  if (yylex_init_extra(&P, &sc)) {
    fprintf(stderr, "ftc: cannot start the scanner\n");
    exit(3);
  }
  YY_BUFFER_STATE buf = yy_scan_bytes(rec->src->text, (int)rec->src->len, sc);
  yyparse(sc, &P);
  yy_delete_buffer(buf, sc);
  yylex_destroy(sc);
  AstNode *root = P.root;
  if (!root) { /* the parser gave up (stack exhausted): keep the contract */
    Span sp = {rec->src, 1, 1, 1, 1};
    root = ps_node(&P, AST_FILE, sp);
  }
  Span whole = {rec->src, 1, 1, P.line, P.col};
  root->span = whole;
  rec->root = root;
  return root;
}

AstNode *ast_parse_string(AstCtx *c, const char *name, const char *text, size_t len) {
  if (len > (size_t)1 << 30) len = (size_t)1 << 30; /* flex takes an int */
  return ps_parse(c, ps_new_file(c, name, text, len));
}
