/* lang/ps.h -- private to lang/: the context behind AstCtx, the state the
 * scanner and parser share, and the node constructors the grammar calls.
 *
 * One idea: the scanner and the parser share one PsState (flex's yyextra and
 * bison's parse-param), and every semantic value is an AstNode allocated in
 * the context's arena -- so an abandoned value during error recovery is not a
 * leak (the arena frees it) and the grammar needs no %destructor.
 */
#ifndef FTC_LANG_PS_H
#define FTC_LANG_PS_H

#include "ast.h"

/* Nodes nested deeper than this are replaced by ERROR nodes after parsing, so
 * every recursive walker (check, fmt, dump, the compiler) has bounded depth. */
#define PS_MAX_DEPTH 200

typedef struct ArenaChunk ArenaChunk;

/* One loaded file and what belongs to it. */
typedef struct AstFileRec {
  SrcFile *src;
  AstNode *root;        /* FILE node, NULL while its parse is running */
  const char *modname;  /* name it was `use`d under; NULL for a root file */
  const char *key;      /* canonical path: each file is loaded once */
  AstComment *comments; /* malloc'd, freed with the ctx */
  int ncomments, capcomments;
  int loading;          /* on the current chain of `use`s (cycle check) */
} AstFileRec;

struct AstCtx {
  Diag *diag;
  char *stdlib_dir;     /* malloc'd */
  ArenaChunk *arena;
  AstFileRec **files;   /* malloc'd array of arena records */
  int nfiles, capfiles;
};

/* Shared by scanner (yyextra) and parser (parse-param). */
typedef struct PsState {
  AstCtx *ctx;
  AstFileRec *rec;
  int line, col;        /* position of the next unread character */
  int last_tok_line;    /* line of the last real token (own-line comments) */
  Span last_tok;        /* span of the last real token (errors at EOF) */
  int ntok;             /* tokens handed to the parser so far */
  int unterminated_tok; /* ntok of the last unterminated string, or -2 */
  AstNode *root;
} PsState;

AstFileRec *ps_file_rec(AstCtx *c, const SrcFile *f);
AstFileRec *ps_new_file(AstCtx *c, const char *path, const char *text, size_t len);
AstNode *ps_parse(AstCtx *c, AstFileRec *rec);

/* ---- constructors (lang/ast.c) ------------------------------------------
 * `sp` is the node's exact span; `name` arguments are NAME nodes from the
 * scanner (their text becomes the node's name); `list` arguments are
 * temporary AST_LIST nodes whose kids are appended. */
AstNode *ps_node(PsState *P, AstKind k, Span sp);
AstNode *ps_named(PsState *P, AstKind k, Span sp, const AstNode *name);
AstNode *ps_add(PsState *P, AstNode *parent, AstNode *kid);
AstNode *ps_take(PsState *P, AstNode *dst, const AstNode *list);
/* Exactly one / two kids (which may be NULL where ast.h says so). */
AstNode *ps_node1(PsState *P, AstKind k, Span sp, const AstNode *name, AstNode *a);
AstNode *ps_node2(PsState *P, AstKind k, Span sp, const AstNode *name, AstNode *a,
                  AstNode *b);
/* kids[0] = first, then the kids of `list`. */
AstNode *ps_wrap(PsState *P, AstKind k, Span sp, const AstNode *name, AstNode *first,
                 const AstNode *list);
AstNode *ps_binop(PsState *P, Span sp, const char *op, AstNode *a, AstNode *b);
AstNode *ps_submodule(PsState *P, Span sp, const AstNode *name, AstNode *value);
AstNode *ps_shape(PsState *P, Span sp, const AstNode *list);
AstNode *ps_setting(PsState *P, Span sp, const AstNode *name, AstNode *value,
                    const AstNode *clauses);
AstNode *ps_tuple(PsState *P, Span sp, AstNode *first, const AstNode *list);
AstNode *ps_use_path(PsState *P, Span sp, const AstNode *str);
void ps_comment(PsState *P, Span sp, const char *text, size_t len);
AstNode *ps_file_done(PsState *P, AstNode *file);

/* ---- spans (lang/diag.c) ------------------------------------------------ */
Span ps_span_join(Span a, Span b);
Span ps_after(Span s); /* a one-column span just after s */
/* Copies the span's text (first line only, truncated with "...") to buf. */
void ps_span_text(Span s, char *buf, size_t size);

#endif
