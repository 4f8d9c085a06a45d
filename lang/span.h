/* lang/span.h -- source spans and diagnostics: the part of the front-end
 * every later stage (and a pass plugin, through <ftc/pass.h>) reports with.
 *
 * One idea: a Span carries its SrcFile, and the SrcFile keeps its text and
 * who included it, so any stage can point at the recipe's own text with
 * nothing but a span. Installed beside pass.h; lang/ast.h includes it.
 */
#ifndef FTC_LANG_SPAN_H
#define FTC_LANG_SPAN_H

#include <stddef.h>
#include <stdio.h>

/* A source file loaded into memory. Owned by the AstCtx. */
typedef struct SrcFile SrcFile;
struct SrcFile {
  const char *path;       /* as given or resolved (for messages) */
  const char *text;       /* NUL-terminated contents */
  size_t len;
  SrcFile *included_from; /* the file whose `use` loaded this one, or NULL */
  int include_line, include_col; /* position of that `use` */
};

/* A half-open region of a source file; lines and columns are 1-based. */
typedef struct Span {
  const SrcFile *file;
  int line, col;         /* first character */
  int end_line, end_col; /* one past the last character */
} Span;

/* ---- diagnostics ------------------------------------------------------ */

typedef enum { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE } DiagLevel;

typedef struct Diag Diag; /* the sink; see lang/diag.c */

/* Creates a sink that prints to `out` (normally stderr), stops collecting
 * after `max_errors` errors (then prints one "too many errors" line). */
Diag *diag_new(FILE *out, int max_errors);
void diag_free(Diag *d);
/* file:line:col: level: message, the source line, a caret/underline under
 * the span, then "note: included from file:line:col" for each `use` level. */
void diag_at(Diag *d, DiagLevel lvl, Span sp, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int diag_errors(const Diag *d);

/* Suggests the closest of `cands` (NULL-terminated) to `name` by edit
 * distance, or NULL when none is close enough. */
const char *diag_suggest(const char *name, const char *const *cands);

#endif
